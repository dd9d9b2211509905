//! The Llama 3 pre-tokenizer pattern scanned straight over UTF-8 bytes: the hot path of every Llama 3 encode.
//!
//! Same rules as `pretok::split_llama3` (llama.cpp's `unicode_regex_split_custom_llama3`),
//! but without first building arrays of code points and offsets: ASCII characters are
//! classified by one table load, and others are decoded in place. The unit tests check it
//! against `fancy-regex` and against the general splitter on random text.

use std::ops::Range;

use super::pretok::Cp;
use super::unicode;

/// One decoded character (its class predicates are `Cp`'s) and its byte length.
#[derive(Clone, Copy)]
struct Ch {
    cp: Cp,
    len: usize,
}

impl Ch {
    fn letter(self) -> bool {
        self.cp.letter()
    }
    fn number(self) -> bool {
        self.cp.number()
    }
    fn space(self) -> bool {
        self.cp.space()
    }
    fn other(self) -> bool {
        self.cp.other()
    }
    fn newline(self) -> bool {
        self.cp.newline()
    }
}

struct Scanner<'a> {
    text: &'a str,
    /// Flags of the 128 ASCII characters (the same in every Unicode version we model).
    ascii: [u8; 128],
    classify: fn(char) -> u8,
    /// `(?i:'s)` also matches `'ſ` (the regex engines' Unicode case folding).
    fold_long_s: bool,
}

impl Scanner<'_> {
    /// The character starting at byte `pos`, if any.
    #[inline]
    fn at(&self, pos: usize) -> Option<Ch> {
        let b = *self.text.as_bytes().get(pos)?;
        if b < 0x80 {
            return Some(Ch { cp: Cp { ch: char::from(b), flags: self.ascii[b as usize] }, len: 1 });
        }
        let c = self.text.get(pos..)?.chars().next()?;
        Some(Ch { cp: Cp { ch: c, flags: (self.classify)(c) }, len: c.len_utf8() })
    }

    /// End of `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `pos` (which holds `'`), if it matches.
    fn contraction(&self, pos: usize) -> Option<usize> {
        let lower = |ch: Ch| if self.fold_long_s && ch.cp.ch == 'ſ' { 's' } else { ch.cp.ch.to_ascii_lowercase() };
        let n1 = self.at(pos + 1)?;
        let end1 = pos + 1 + n1.len;
        match lower(n1) {
            's' | 't' | 'm' | 'd' => Some(end1),
            first @ ('r' | 'v' | 'l') => {
                let n2 = self.at(end1)?;
                let want = if first == 'l' { 'l' } else { 'e' };
                (lower(n2) == want).then_some(end1 + n2.len)
            }
            _ => None,
        }
    }

    /// End of the longest run from `pos` of characters in `class`.
    #[inline]
    fn run(&self, mut pos: usize, class: fn(Ch) -> bool) -> usize {
        while let Some(ch) = self.at(pos).filter(|&ch| class(ch)) {
            pos += ch.len;
        }
        pos
    }

    /// `\s*[\r\n]+|\s+(?!\S)|\s+` at `pos` (which holds whitespace): the end of the match.
    fn whitespace(&self, start: usize) -> usize {
        let mut pos = start;
        let mut count = 0;
        let mut last_start = start;
        let mut after_newline = None;
        while let Some(ch) = self.at(pos).filter(|ch| ch.space()) {
            last_start = pos;
            pos += ch.len;
            count += 1;
            if ch.newline() {
                after_newline = Some(pos);
            }
        }
        match after_newline {
            Some(end) => end,
            // `\s+(?!\S)` backs off one character so the last space can lead the next word.
            None if count > 1 && pos < self.text.len() => last_start,
            None => pos,
        }
    }

    /// The end of the piece that starts at `pos` (< text length).
    fn piece_end(&self, pos: usize, c: Ch) -> usize {
        if c.cp.ch == '\''
            && let Some(end) = self.contraction(pos)
        {
            return end;
        }
        let next = self.at(pos + c.len);
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !(c.newline() || c.number()) && (c.letter() || next.is_some_and(Ch::letter)) {
            return self.run(pos + c.len, Ch::letter);
        }
        // \p{N}{1,3}
        if c.number() {
            let mut end = pos + c.len;
            for _ in 0..2 {
                match self.at(end) {
                    Some(d) if d.number() => end += d.len,
                    _ => break,
                }
            }
            return end;
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let (lead, lead_at) = if c.cp.ch == ' ' { (next, pos + 1) } else { (Some(c), pos) };
        if lead.is_some_and(Ch::other) {
            let end = self.run(lead_at, Ch::other);
            return self.run(end, Ch::newline);
        }
        self.whitespace(pos).max(pos + c.len)
    }
}

/// Splits `text` by the Llama 3 pattern, pushing every piece's byte range to `out`.
/// `llama_cpp_unicode` classifies with llama.cpp's tables ([`unicode::flags_llama_cpp`]).
pub(crate) fn split(text: &str, fold_long_s: bool, llama_cpp_unicode: bool, out: &mut Vec<Range<usize>>) {
    let s = Scanner {
        text,
        ascii: unicode::ascii_flags(),
        classify: if llama_cpp_unicode { unicode::flags_llama_cpp } else { unicode::flags },
        fold_long_s,
    };
    let mut pos = 0;
    while let Some(c) = s.at(pos) {
        let end = s.piece_end(pos, c);
        out.push(pos..end);
        pos = end;
    }
}
