//! The python-list tool-call form, `[name(key=literal, ...), ...]`: the subset of Python
//! that the reference accepts (`ast.parse` of one list of calls with keyword arguments
//! only, then `ast.literal_eval` of each argument), read by hand so that model output
//! never reaches a Python interpreter.

use super::NamedArgs;
use serde_json::{Map, Number, Value};

/// What a text is, as a python-list call.
#[derive(Debug, PartialEq)]
pub(super) enum Parsed {
    /// Not a non-empty list of keyword-only calls (the reference moves on).
    NotAList,
    /// A well-formed list; at least one call.
    Calls(Vec<NamedArgs>),
    /// The shape of a call list whose arguments are not literals (the reference raises).
    Malformed(String),
}

/// Nesting deeper than this is refused rather than recursed into.
const MAX_DEPTH: usize = 32;

const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

enum Fail {
    /// Python would not parse this (or it is not a list of calls).
    Syntax,
    /// Valid Python whose argument is not a literal.
    NotLiteral(String),
}

struct P<'a> {
    s: &'a str,
    i: usize,
    depth: usize,
}

pub(super) fn parse_call_list(s: &str) -> Parsed {
    let mut p = P { s, i: 0, depth: 0 };
    p.skip_blank_lines();
    match p.call_list() {
        Ok(calls) if p.at_end_of_statement() => Parsed::Calls(calls),
        Ok(_) | Err(Fail::Syntax) => Parsed::NotAList,
        Err(Fail::NotLiteral(why)) => Parsed::Malformed(why),
    }
}

impl P<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += c.len_utf8();
        Some(c)
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> Result<(), Fail> {
        if self.eat(c) { Ok(()) } else { Err(Fail::Syntax) }
    }

    /// Blank and comment-only lines before the statement; the statement itself must
    /// start in column 0 (an indented one is Python's IndentationError).
    fn skip_blank_lines(&mut self) {
        loop {
            let rest = &self.s[self.i..];
            let line_end = rest.find('\n');
            let line = &rest[..line_end.unwrap_or(rest.len())];
            let t = line.trim_start_matches([' ', '\t', '\x0c']);
            match line_end {
                Some(e) if t.is_empty() || t.starts_with('#') => self.i += e + 1,
                _ => return,
            }
        }
    }

    /// Whitespace inside brackets: newlines, comments and line continuations included.
    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\n' | '\r' | '\x0c' => self.i += 1,
                '#' => self.i += self.s[self.i..].find('\n').unwrap_or(self.s.len() - self.i),
                '\\' if self.s[self.i + 1..].starts_with('\n') => self.i += 2,
                _ => return,
            }
        }
    }

    /// After the list: spaces, a comment, one optional `;`, blank lines.
    fn at_end_of_statement(&mut self) -> bool {
        let rest = self.s[self.i..].trim_start_matches([' ', '\t', '\x0c']);
        let rest = rest.strip_prefix(';').unwrap_or(rest);
        rest.lines().all(|l| {
            let t = l.trim_start_matches([' ', '\t', '\x0c', '\r']);
            t.is_empty() || t.starts_with('#')
        })
    }

    fn ident(&mut self) -> Option<&str> {
        let start = self.i;
        let first = self.peek()?;
        if !(first.is_alphabetic() || first == '_') {
            return None;
        }
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.bump();
        }
        Some(&self.s[start..self.i])
    }

    fn call_list(&mut self) -> Result<Vec<NamedArgs>, Fail> {
        self.expect('[')?;
        let mut calls = Vec::new();
        loop {
            self.ws();
            if self.eat(']') {
                break;
            }
            calls.push(self.call()?);
            self.ws();
            if !self.eat(',') {
                self.expect(']')?;
                break;
            }
        }
        if calls.is_empty() { Err(Fail::Syntax) } else { Ok(calls) }
    }

    fn call(&mut self) -> Result<NamedArgs, Fail> {
        let name = self.ident().ok_or(Fail::Syntax)?.to_string();
        if KEYWORDS.contains(&name.as_str()) {
            return Err(Fail::Syntax);
        }
        self.ws();
        self.expect('(')?;
        let mut args = Map::new();
        loop {
            self.ws();
            if self.eat(')') {
                break;
            }
            let key = self.ident().ok_or(Fail::Syntax)?.to_string();
            self.ws();
            if KEYWORDS.contains(&key.as_str()) || !self.eat('=') || self.peek() == Some('=') {
                return Err(Fail::Syntax);
            }
            self.ws();
            let v = self.value().map_err(|f| match f {
                Fail::NotLiteral(why) => Fail::NotLiteral(format!("argument {key} of {name}: {why}")),
                f => f,
            })?;
            self.after_value(&key)?;
            args.insert(key, v);
            if !self.eat(',') {
                self.expect(')')?;
                break;
            }
        }
        Ok((name, args))
    }

    /// An operator after a literal makes an expression, which `literal_eval` refuses.
    fn after_value(&mut self, what: &str) -> Result<(), Fail> {
        self.ws();
        match self.peek() {
            Some(c) if "+-*/%@&|^<>=!.([~".contains(c) => {
                Err(Fail::NotLiteral(format!("{what} is an expression, not a literal")))
            }
            _ => Ok(()),
        }
    }

    fn value(&mut self) -> Result<Value, Fail> {
        if self.depth >= MAX_DEPTH {
            return Err(Fail::NotLiteral(format!("nested deeper than {MAX_DEPTH}")));
        }
        self.depth += 1;
        let v = self.value_inner();
        self.depth -= 1;
        v
    }

    fn value_inner(&mut self) -> Result<Value, Fail> {
        match self.peek().ok_or(Fail::Syntax)? {
            '[' => {
                self.bump();
                self.sequence(']')
            }
            '(' => {
                self.bump();
                self.paren()
            }
            '{' => {
                self.bump();
                self.dict()
            }
            '-' | '+' => {
                let neg = self.bump() == Some('-');
                self.ws();
                if !self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
                    return Err(Fail::NotLiteral("a sign on something that is not a number".into()));
                }
                let n = self.number()?;
                Ok(if neg { negate(n)? } else { n })
            }
            c if c.is_ascii_digit() || c == '.' => self.number(),
            _ => {
                if let Some(s) = self.strings()? {
                    return Ok(Value::String(s));
                }
                match self.ident().ok_or(Fail::Syntax)? {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::Null),
                    name => Err(Fail::NotLiteral(format!("{name} is a name, not a literal"))),
                }
            }
        }
    }

    /// The items of a list (after `[`) or a tuple (after `(` and a first `,`), which
    /// JSON writes as arrays.
    fn sequence(&mut self, close: char) -> Result<Value, Fail> {
        let mut items = Vec::new();
        loop {
            self.ws();
            if self.eat(close) {
                return Ok(Value::Array(items));
            }
            items.push(self.value()?);
            self.after_value("an item")?;
            if !self.eat(',') {
                self.expect(close)?;
                return Ok(Value::Array(items));
            }
        }
    }

    /// `()`, `(x)` (just x) or a tuple.
    fn paren(&mut self) -> Result<Value, Fail> {
        self.ws();
        if self.eat(')') {
            return Ok(Value::Array(Vec::new()));
        }
        let first = self.value()?;
        self.after_value("an item")?;
        if self.eat(')') {
            return Ok(first);
        }
        self.expect(',')?;
        match self.sequence(')')? {
            Value::Array(mut rest) => {
                rest.insert(0, first);
                Ok(Value::Array(rest))
            }
            _ => Err(Fail::Syntax),
        }
    }

    fn dict(&mut self) -> Result<Value, Fail> {
        let mut m = Map::new();
        loop {
            self.ws();
            if self.eat('}') {
                return Ok(Value::Object(m));
            }
            let key = self.value()?;
            self.ws();
            if !self.eat(':') {
                return Err(Fail::NotLiteral("a set, which JSON cannot hold".into()));
            }
            let Value::String(key) = key else {
                return Err(Fail::NotLiteral("a dict key that is not a string".into()));
            };
            self.ws();
            let v = self.value()?;
            self.after_value("a dict value")?;
            m.insert(key, v);
            if !self.eat(',') {
                self.expect('}')?;
                return Ok(Value::Object(m));
            }
        }
    }

    fn number(&mut self) -> Result<Value, Fail> {
        let start = self.i;
        let b = self.s.as_bytes();
        while let Some(&c) = b.get(self.i) {
            let exp_sign = (c == b'+' || c == b'-')
                && matches!(b.get(self.i - 1), Some(b'e' | b'E'))
                && !self.s[start..].starts_with("0x")
                && !self.s[start..].starts_with("0X");
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exp_sign {
                self.i += 1;
            } else {
                break;
            }
        }
        parse_number(&self.s[start..self.i])
    }

    /// One or more adjacent string literals (Python joins them), or None when no
    /// string starts here.
    fn strings(&mut self) -> Result<Option<String>, Fail> {
        let mut out: Option<String> = None;
        loop {
            let save = self.i;
            match self.string_literal()? {
                Some(s) => out.get_or_insert_with(String::new).push_str(&s),
                None => {
                    self.i = save;
                    return Ok(out);
                }
            }
            let save = self.i;
            self.ws();
            if !matches!(self.peek(), Some('"' | '\'' | 'r' | 'R' | 'u' | 'U' | 'b' | 'B' | 'f' | 'F')) {
                self.i = save;
                return Ok(out);
            }
        }
    }

    fn string_literal(&mut self) -> Result<Option<String>, Fail> {
        let rest = &self.s[self.i..];
        let prefix_len = rest.find(['"', '\'']).filter(|&n| n <= 2).unwrap_or(usize::MAX);
        if prefix_len == usize::MAX {
            return Ok(None);
        }
        let prefix = rest[..prefix_len].to_ascii_lowercase();
        if !matches!(prefix.as_str(), "" | "r" | "u" | "b" | "f" | "br" | "rb" | "fr" | "rf") {
            return Ok(None);
        }
        if prefix.contains('b') || prefix.contains('f') {
            return Err(Fail::NotLiteral("bytes and f-strings are not supported".into()));
        }
        self.i += prefix_len;
        let q = self.bump().ok_or(Fail::Syntax)?;
        let triple = self.s[self.i..].starts_with(&format!("{q}{q}"));
        if triple {
            self.i += 2;
        }
        read_string_body(self, q, triple, prefix.contains('r')).map(Some)
    }
}

fn read_string_body(p: &mut P, q: char, triple: bool, raw: bool) -> Result<String, Fail> {
    let mut out = String::new();
    loop {
        let c = p.bump().ok_or(Fail::Syntax)?;
        if c == q && (!triple || p.s[p.i..].starts_with(&format!("{q}{q}"))) {
            if triple {
                p.i += 2;
            }
            return Ok(out);
        }
        match c {
            '\n' if !triple => return Err(Fail::Syntax),
            '\\' if raw => {
                // A raw string keeps the backslash; it still stops the next quote from
                // closing the string.
                out.push('\\');
                out.push(p.bump().ok_or(Fail::Syntax)?);
            }
            '\\' => escape(p, &mut out)?,
            c => out.push(c),
        }
    }
}

fn escape(p: &mut P, out: &mut String) -> Result<(), Fail> {
    let c = p.bump().ok_or(Fail::Syntax)?;
    let simple = match c {
        '\n' => Some(None),
        '\\' | '\'' | '"' => Some(Some(c)),
        'a' => Some(Some('\u{7}')),
        'b' => Some(Some('\u{8}')),
        'f' => Some(Some('\u{c}')),
        'n' => Some(Some('\n')),
        'r' => Some(Some('\r')),
        't' => Some(Some('\t')),
        'v' => Some(Some('\u{b}')),
        _ => None,
    };
    if let Some(ch) = simple {
        out.extend(ch);
        return Ok(());
    }
    let hex = |p: &mut P, n: usize| -> Result<u32, Fail> {
        let digits = p.s.get(p.i..p.i + n).ok_or(Fail::Syntax)?;
        let v = u32::from_str_radix(digits, 16).map_err(|_| Fail::Syntax)?;
        p.i += n;
        Ok(v)
    };
    let code = match c {
        'x' => hex(p, 2)?,
        'u' => hex(p, 4)?,
        'U' => hex(p, 8)?,
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match p.peek().and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        p.bump();
                    }
                    None => break,
                }
            }
            v
        }
        'N' => return Err(Fail::NotLiteral("\\N{...} escapes are not supported".into())),
        other => {
            // Python keeps an unknown escape as written (with a warning).
            out.push('\\');
            out.push(other);
            return Ok(());
        }
    };
    let ch = char::from_u32(code).ok_or_else(|| Fail::NotLiteral(format!("escape \\{c} is a lone surrogate")))?;
    out.push(ch);
    Ok(())
}

fn parse_number(tok: &str) -> Result<Value, Fail> {
    let lower = tok.to_ascii_lowercase();
    if lower.ends_with('j') {
        return Err(Fail::NotLiteral("complex numbers are not supported".into()));
    }
    if tok.contains("__") || tok.ends_with('_') || tok.starts_with('_') {
        return Err(Fail::Syntax);
    }
    let digits = lower.replace('_', "");
    let big = || Fail::NotLiteral(format!("integer {tok} does not fit 64 bits"));
    for (p, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(d) = digits.strip_prefix(p) {
            let d = d.strip_prefix('_').unwrap_or(d);
            return u64::from_str_radix(d, radix)
                .map(|v| Value::Number(v.into()))
                .map_err(|_| if d.chars().all(|c| c.is_digit(radix)) && !d.is_empty() { big() } else { Fail::Syntax });
        }
    }
    if digits.contains(['.', 'e']) {
        let f: f64 = digits.parse().map_err(|_| Fail::Syntax)?;
        return Number::from_f64(f)
            .filter(|_| f.is_finite())
            .map(Value::Number)
            .ok_or_else(|| Fail::NotLiteral(format!("{tok} is not a finite float")));
    }
    if !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0') && digits.bytes().any(|b| b != b'0'))
    {
        return Err(Fail::Syntax);
    }
    digits.parse::<u64>().map(|v| Value::Number(v.into())).map_err(|_| big())
}

fn negate(v: Value) -> Result<Value, Fail> {
    let Value::Number(n) = v else { return Err(Fail::NotLiteral("a sign on a non-number".into())) };
    if let Some(u) = n.as_u64() {
        if u == 0 {
            return Ok(Value::Number(0u64.into()));
        }
        return i64::try_from(u)
            .map(|i| Value::Number((-i).into()))
            .or_else(|_| if u == 1 << 63 { Ok(Value::Number(i64::MIN.into())) } else { Err(()) })
            .map_err(|_| Fail::NotLiteral(format!("integer -{u} does not fit 64 bits")));
    }
    let f = n.as_f64().unwrap_or(0.0);
    Number::from_f64(-f).map(Value::Number).ok_or(Fail::Syntax)
}

/// A value as the reference's python_list encoder writes it: strings in double quotes
/// as they are (it does not escape), dicts as `{key=value}`.
pub(super) fn py_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("\"{s}\""),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Null => "None".into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::Array(a) => format!("[{}]", a.iter().map(py_value).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("{k}={}", py_value(v))).collect::<Vec<_>>().join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(s: &str) -> Vec<(String, Value)> {
        match parse_call_list(s) {
            Parsed::Calls(c) => c.into_iter().map(|(n, a)| (n, Value::Object(a))).collect(),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn literals() {
        let c = calls(r#"[f(a=-1, b=+2.5, c=1e3, d=0x1F, e=(1,), f=(2), g={"k": [None]}, h='x' "y")]"#);
        assert_eq!(
            c[0].1,
            serde_json::json!({"a": -1, "b": 2.5, "c": 1000.0, "d": 31, "e": [1], "f": 2, "g": {"k": [null]}, "h": "xy"})
        );
        assert_eq!(calls(r#"[f(a="\x41\101\u00e9\U0001F600\q")]"#)[0].1, serde_json::json!({"a": "AAé😀\\q"}));
        assert_eq!(calls(r#"[f(a=r"\n\"")]"#)[0].1, serde_json::json!({"a": "\\n\\\""}));
        assert_eq!(calls("[f(a=-9223372036854775808)]")[0].1, serde_json::json!({"a": i64::MIN}));
    }

    #[test]
    fn not_lists_and_malformed() {
        for s in
            ["[]", "[f(1)]", "[f(a=1)", " [f()]", "[a.b(c=1)]", "[f(a=1)] x", "[f(a==1)]", "[if(a=1)]", "[f(a='x\n')]"]
        {
            assert_eq!(parse_call_list(s), Parsed::NotAList, "{s}");
        }
        for s in ["[f(a=x)]", "[f(a=1+2)]", "[f(a=-True)]", "[f(a={1, 2})]", "[f(a=1j)]", "[f(a=b'x')]"] {
            assert!(matches!(parse_call_list(s), Parsed::Malformed(_)), "{s}");
        }
        let deep = format!("[f(a={}1{})]", "[".repeat(100), "]".repeat(100));
        assert!(matches!(parse_call_list(&deep), Parsed::Malformed(_)));
    }
}
