//! Finding special-token text in input before BPE, with each source's own matching rule.
//!
//! tiktoken and Hugging Face take the leftmost match (longest at that position);
//! llama.cpp (`tokenizer_st_partition`) takes the longest token first, every occurrence
//! of it, then the next longest in what is left. The two differ only when special
//! tokens overlap, but GGUF must match llama.cpp exactly, so both are kept.

/// A piece of input after special-token matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frag<'a> {
    Text(&'a str),
    Token(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchMode {
    LeftmostLongest,
    LongestTokenFirst,
}

/// Which characters `lstrip` / `rstrip` swallow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StripSpace {
    /// C `isspace` over bytes (llama.cpp).
    Ascii,
    /// Unicode White_Space (Hugging Face).
    Unicode,
}

#[derive(Debug, Clone)]
pub(crate) struct SpecialToken {
    pub text: String,
    pub id: u32,
    /// Matched even when the caller did not ask for special tokens (llama.cpp
    /// USER_DEFINED, Hugging Face added tokens with `special: false`).
    pub always: bool,
    pub lstrip: bool,
    pub rstrip: bool,
    /// Hugging Face `single_word`: only when not inside a word.
    pub single_word: bool,
}

#[derive(Debug)]
pub(crate) struct SpecialMatcher {
    mode: MatchMode,
    strip: StripSpace,
    /// Longest first; ties by id (llama.cpp's sort leaves ties unspecified).
    tokens: Vec<SpecialToken>,
    /// Token indices by first byte, longest first.
    by_first: Vec<Vec<u32>>,
    any_always: bool,
}

impl SpecialMatcher {
    pub fn new(mode: MatchMode, strip: StripSpace, mut tokens: Vec<SpecialToken>) -> Self {
        // An empty special token would match everywhere (llama.cpp loops forever on one).
        tokens.retain(|t| !t.text.is_empty());
        tokens.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.id.cmp(&b.id)));
        let mut by_first = vec![Vec::new(); 256];
        for (i, t) in tokens.iter().enumerate() {
            by_first[t.text.as_bytes()[0] as usize].push(i as u32);
        }
        let any_always = tokens.iter().any(|t| t.always);
        SpecialMatcher { mode, strip, tokens, by_first, any_always }
    }

    pub fn tokens(&self) -> &[SpecialToken] {
        &self.tokens
    }

    /// Splits `text` into plain text and special tokens. With `special == false` only
    /// the `always` tokens are recognized.
    pub fn split<'a>(&self, text: &'a str, special: bool, out: &mut Vec<Frag<'a>>) {
        out.clear();
        if text.is_empty() {
            return;
        }
        if !special && !self.any_always {
            out.push(Frag::Text(text));
            return;
        }
        match self.mode {
            MatchMode::LeftmostLongest => self.split_leftmost(text, special, out),
            MatchMode::LongestTokenFirst => self.split_longest_first(text, special, out),
        }
    }

    fn eligible(&self, t: &SpecialToken, special: bool) -> bool {
        special || t.always
    }

    fn is_space(&self, c: char) -> bool {
        match self.strip {
            StripSpace::Ascii => matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r'),
            StripSpace::Unicode => c.is_whitespace(),
        }
    }

    /// The longest eligible token starting at byte `i`.
    fn match_at(&self, text: &str, i: usize, special: bool) -> Option<&SpecialToken> {
        let bytes = text.as_bytes();
        self.by_first[bytes[i] as usize].iter().map(|&k| &self.tokens[k as usize]).find(|t| {
            self.eligible(t, special)
                && bytes[i..].starts_with(t.text.as_bytes())
                && (!t.single_word || single_word_ok(text, i, i + t.text.len()))
        })
    }

    fn split_leftmost<'a>(&self, text: &'a str, special: bool, out: &mut Vec<Frag<'a>>) {
        let bytes = text.as_bytes();
        let mut last = 0;
        let mut i = 0;
        while i < bytes.len() {
            if self.by_first[bytes[i] as usize].is_empty() {
                i += 1;
                continue;
            }
            let Some(tok) = self.match_at(text, i, special) else {
                i += 1;
                continue;
            };
            // Token texts are whole UTF-8 strings, so a match starts and ends on char
            // boundaries and the slicing below cannot split a character.
            let mut start = i;
            let mut end = i + tok.text.len();
            if tok.lstrip {
                start = last + text[last..start].trim_end_matches(|c| self.is_space(c)).len();
            }
            if tok.rstrip {
                end = text.len() - text[end..].trim_start_matches(|c| self.is_space(c)).len();
            }
            if start > last {
                out.push(Frag::Text(&text[last..start]));
            }
            out.push(Frag::Token(tok.id));
            last = end;
            i = end;
        }
        if last < text.len() {
            out.push(Frag::Text(&text[last..]));
        }
    }

    /// llama.cpp's `tokenizer_st_partition`.
    fn split_longest_first<'a>(&self, text: &'a str, special: bool, out: &mut Vec<Frag<'a>>) {
        // Only tokens that occur somewhere can split anything; finding them in one pass
        // keeps hundreds of control tokens from costing hundreds of scans.
        let mut present = vec![false; self.tokens.len()];
        let bytes = text.as_bytes();
        for i in 0..bytes.len() {
            for &k in &self.by_first[bytes[i] as usize] {
                let t = &self.tokens[k as usize];
                if !present[k as usize] && self.eligible(t, special) && bytes[i..].starts_with(t.text.as_bytes()) {
                    present[k as usize] = true;
                }
            }
        }
        let mut frags: Vec<Frag<'a>> = vec![Frag::Text(text)];
        let mut next = Vec::new();
        for (k, tok) in self.tokens.iter().enumerate() {
            if !present[k] {
                continue;
            }
            next.clear();
            for &f in &frags {
                match f {
                    Frag::Text(s) => self.partition_one(s, tok, &mut next),
                    Frag::Token(_) => next.push(f),
                }
            }
            std::mem::swap(&mut frags, &mut next);
        }
        out.extend(frags);
    }

    fn partition_one<'a>(&self, s: &'a str, tok: &SpecialToken, out: &mut Vec<Frag<'a>>) {
        let mut rest = s;
        while let Some(pos) = rest.find(tok.text.as_str()) {
            let mut left = &rest[..pos];
            if tok.lstrip {
                left = left.trim_end_matches(|c| self.is_space(c));
            }
            if !left.is_empty() {
                out.push(Frag::Text(left));
            }
            out.push(Frag::Token(tok.id));
            rest = &rest[pos + tok.text.len()..];
            if tok.rstrip {
                rest = rest.trim_start_matches(|c| self.is_space(c));
            }
        }
        if !rest.is_empty() {
            out.push(Frag::Text(rest));
        }
    }
}

/// Hugging Face `single_word`: the match must not touch a word character on either side.
fn single_word_ok(text: &str, start: usize, end: usize) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let before = text[..start].chars().next_back().is_none_or(|c| !word(c));
    let after = text[end..].chars().next().is_none_or(|c| !word(c));
    before && after
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(text: &str, id: u32, always: bool) -> SpecialToken {
        SpecialToken { text: text.into(), id, always, lstrip: false, rstrip: false, single_word: false }
    }

    #[test]
    fn leftmost_longest() {
        let m = SpecialMatcher::new(
            MatchMode::LeftmostLongest,
            StripSpace::Unicode,
            vec![tok("<a>", 1, false), tok("<a><b>", 2, false), tok("x", 3, true)],
        );
        let mut out = Vec::new();
        m.split("1<a><b>2<a>x", true, &mut out);
        assert_eq!(out, [Frag::Text("1"), Frag::Token(2), Frag::Text("2"), Frag::Token(1), Frag::Token(3)]);
        m.split("1<a>x", false, &mut out);
        assert_eq!(out, [Frag::Text("1<a>"), Frag::Token(3)]);
    }

    #[test]
    fn longest_token_first_differs_on_overlap() {
        let toks = vec![tok("xab", 1, false), tok("abcd", 2, false)];
        let mut out = Vec::new();
        SpecialMatcher::new(MatchMode::LongestTokenFirst, StripSpace::Ascii, toks.clone())
            .split("xabcd", true, &mut out);
        assert_eq!(out, [Frag::Text("x"), Frag::Token(2)]);
        SpecialMatcher::new(MatchMode::LeftmostLongest, StripSpace::Ascii, toks).split("xabcd", true, &mut out);
        assert_eq!(out, [Frag::Token(1), Frag::Text("cd")]);
    }

    #[test]
    fn strip_flags() {
        let mut t = tok("<m>", 5, false);
        t.lstrip = true;
        t.rstrip = true;
        for mode in [MatchMode::LeftmostLongest, MatchMode::LongestTokenFirst] {
            let m = SpecialMatcher::new(mode, StripSpace::Ascii, vec![t.clone()]);
            let mut out = Vec::new();
            m.split("a  <m>\t b", true, &mut out);
            assert_eq!(out, [Frag::Text("a"), Frag::Token(5), Frag::Text("b")]);
        }
    }

    #[test]
    fn empty_tokens_are_ignored() {
        let m = SpecialMatcher::new(MatchMode::LongestTokenFirst, StripSpace::Ascii, vec![tok("", 1, true)]);
        let mut out = Vec::new();
        m.split("abc", true, &mut out);
        assert_eq!(out, [Frag::Text("abc")]);
    }
}
