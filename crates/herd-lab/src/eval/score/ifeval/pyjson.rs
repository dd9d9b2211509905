//! Whether Python's `json.loads` accepts a string (CPython's C scanner with the default
//! `strict=True`), for IFEval's `json_format`. It differs from `serde_json`: `NaN`,
//! `Infinity` and `-Infinity` are values, `1e400` is a float (infinity), lone surrogate
//! escapes are allowed, and an integer of more than 4300 digits is refused (Python's
//! `int` string-conversion limit raises `ValueError`).

/// Deeper nesting than this is refused; CPython raises `RecursionError` (no verdict at all)
/// around here.
const MAX_DEPTH: usize = 900;
/// `sys.int_info.default_max_str_digits`.
const MAX_INT_DIGITS: usize = 4300;

/// `json.loads(s)` succeeds.
pub(crate) fn loads_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut p = Parser { b, i: 0 };
    p.ws();
    p.value(0).is_some() && {
        p.ws();
        p.i == b.len()
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    /// JSON whitespace only: `[ \t\n\r]*`.
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, lit: &[u8]) -> bool {
        let ok = self.b[self.i..].starts_with(lit);
        if ok {
            self.i += lit.len();
        }
        ok
    }
    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match *self.b.get(self.i)? {
            b'"' => self.string(),
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'n' => self.eat(b"null").then_some(()),
            b't' => self.eat(b"true").then_some(()),
            b'f' => self.eat(b"false").then_some(()),
            b'N' => self.eat(b"NaN").then_some(()),
            b'I' => self.eat(b"Infinity").then_some(()),
            b'-' if self.b[self.i..].starts_with(b"-Infinity") => {
                self.i += 9;
                Some(())
            }
            _ => self.number(),
        }
    }
    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let int_end = self.i;
        let mut is_float = false;
        // A fraction or exponent without digits is not taken (the scanner stops before
        // it, and what follows is then an error anyway).
        if self.b.get(self.i) == Some(&b'.') && self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
            self.digits();
            is_float = true;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            let save = self.i;
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                self.i = save;
            } else {
                is_float = true;
            }
        }
        let int_digits = int_end - start - usize::from(self.b[start] == b'-');
        (is_float || int_digits <= MAX_INT_DIGITS).then_some(())
    }
    fn string(&mut self) -> Option<()> {
        self.i += 1; // the opening quote
        loop {
            let c = *self.b.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return Some(()),
                // strict=True: no raw control characters in a string.
                0..=0x1f => return None,
                b'\\' => {
                    let e = *self.b.get(self.i)?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            let hex = self.b.get(self.i..self.i + 4)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 4;
                        }
                        _ => return None,
                    }
                }
                _ => {}
            }
        }
    }
    fn object(&mut self, depth: usize) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.eat(b"}") {
            return Some(());
        }
        loop {
            if self.b.get(self.i) != Some(&b'"') {
                return None;
            }
            self.string()?;
            self.ws();
            if !self.eat(b":") {
                return None;
            }
            self.ws();
            self.value(depth + 1)?;
            self.ws();
            if self.eat(b"}") {
                return Some(());
            }
            if !self.eat(b",") {
                return None;
            }
            self.ws();
        }
    }
    fn array(&mut self, depth: usize) -> Option<()> {
        self.i += 1;
        self.ws();
        if self.eat(b"]") {
            return Some(());
        }
        loop {
            self.value(depth + 1)?;
            self.ws();
            if self.eat(b"]") {
                return Some(());
            }
            if !self.eat(b",") {
                return None;
            }
            self.ws();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::loads_ok;

    #[test]
    fn python_json_acceptance() {
        for ok in [
            "{}",
            "[]",
            "1",
            "-0.5e+3",
            "NaN",
            "[-Infinity, Infinity]",
            "\"\\ud800\"",
            "{\"a\": [1, {\"b\": null}]}",
            "1e400",
        ] {
            assert!(loads_ok(ok), "{ok}");
        }
        for bad in ["", "{", "[1,]", "{\"a\":1,}", "01", "1.", "'a'", "\"a\nb\"", "nan", "{a: 1}", "[1] x", "\"\\x\""] {
            assert!(!loads_ok(bad), "{bad}");
        }
        assert!(!loads_ok(&"9".repeat(4301)) && loads_ok(&"9".repeat(4300)));
    }
}
