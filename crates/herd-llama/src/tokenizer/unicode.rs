//! Character classes the pre-tokenizers need (\p{L}, \p{N}, \p{P}, \s) and the GPT-2 byte <-> unicode map.
//!
//! The letter/number/punctuation tables come from `regex-syntax`, the same tables
//! `fancy-regex` (and therefore tiktoken) match `\p{L}` with, so the hand-written splitters
//! agree with the regex engines on every code point.

use std::sync::OnceLock;

pub(crate) const LETTER: u8 = 1;
pub(crate) const NUMBER: u8 = 2;
pub(crate) const WHITESPACE: u8 = 4;
pub(crate) const PUNCT: u8 = 8;

/// Flags for every code point: a direct table for the BMP, sorted ranges above it.
struct Table {
    bmp: Vec<u8>,
    astral: Vec<(u32, u32, u8)>,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(build_table)
}

fn class_ranges(pattern: &str) -> Option<Vec<(u32, u32)>> {
    use regex_syntax::hir::{Class, HirKind};
    let hir = regex_syntax::ParserBuilder::new().build().parse(pattern).ok()?;
    match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => {
            Some(class.ranges().iter().map(|r| (u32::from(r.start()), u32::from(r.end()))).collect())
        }
        _ => None,
    }
}

/// Ranges of the code points `pred` holds for; the fallback when a class cannot be parsed.
fn ranges_of(pred: impl Fn(char) -> bool) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        if pred(c) {
            let cp = u32::from(c);
            match out.last_mut() {
                Some(last) if last.1 + 1 == cp => last.1 = cp,
                _ => out.push((cp, cp)),
            }
        }
    }
    out
}

fn build_table() -> Table {
    // regex-syntax always knows these classes; the std fallbacks only keep this total.
    let classes = [
        (LETTER, class_ranges(r"\p{L}").unwrap_or_else(|| ranges_of(char::is_alphabetic))),
        (NUMBER, class_ranges(r"\p{N}").unwrap_or_else(|| ranges_of(char::is_numeric))),
        (PUNCT, class_ranges(r"\p{P}").unwrap_or_else(|| ranges_of(|c| c.is_ascii_punctuation()))),
        (WHITESPACE, class_ranges(r"\p{White_Space}").unwrap_or_else(|| ranges_of(char::is_whitespace))),
    ];
    let mut bmp = vec![0u8; 0x10000];
    let mut astral = Vec::new();
    for (flag, ranges) in &classes {
        for &(lo, hi) in ranges {
            for cp in lo..=hi.min(0xFFFF) {
                bmp[cp as usize] |= flag;
            }
            if hi > 0xFFFF {
                astral.push((lo.max(0x10000), hi, *flag));
            }
        }
    }
    astral.sort_unstable();
    Table { bmp, astral }
}

/// The class flags of `c` (a union of LETTER, NUMBER, WHITESPACE, PUNCT).
#[inline]
pub(crate) fn flags(c: char) -> u8 {
    let cp = u32::from(c);
    let t = table();
    if cp < 0x10000 {
        return t.bmp[cp as usize];
    }
    // The general categories are disjoint, so at most one astral range holds `cp`.
    let i = t.astral.partition_point(|r| r.1 < cp);
    match t.astral.get(i) {
        Some(&(lo, hi, f)) if lo <= cp && cp <= hi => f,
        _ => 0,
    }
}

/// [`flags`] of the 128 ASCII characters, for scanners that classify ASCII by one load.
pub(crate) fn ascii_flags() -> [u8; 128] {
    let mut out = [0u8; 128];
    out.copy_from_slice(&table().bmp[..128]);
    out
}

/// Letters, numbers and punctuation new in Unicode 16.0 (as `regex-syntax` 0.8 knows them),
/// which llama.cpp's tables (generated from Unicode 15.1) leave undefined. Probed
/// against llama.cpp itself: every one of them splits as an undefined symbol there.
const NEWER_THAN_LLAMA_CPP: &[(u32, u32)] = &[
    (0x01B4E, 0x01B4F),
    (0x01B7F, 0x01B7F),
    (0x01C89, 0x01C8A),
    (0x0A7CB, 0x0A7CD),
    (0x0A7DA, 0x0A7DC),
    (0x105C0, 0x105F3),
    (0x10D40, 0x10D65),
    (0x10D6E, 0x10D85),
    (0x10EC2, 0x10EC4),
    (0x11380, 0x11389),
    (0x1138B, 0x1138B),
    (0x1138E, 0x1138E),
    (0x11390, 0x113B5),
    (0x113B7, 0x113B7),
    (0x113D1, 0x113D1),
    (0x113D3, 0x113D5),
    (0x113D7, 0x113D8),
    (0x116D0, 0x116E3),
    (0x11BC0, 0x11BE1),
    (0x11BF0, 0x11BF9),
    (0x13460, 0x143FA),
    (0x16100, 0x1611D),
    (0x16130, 0x16139),
    (0x16D40, 0x16D79),
    (0x18CFF, 0x18CFF),
    (0x1CCF0, 0x1CCF9),
    (0x1E5D0, 0x1E5ED),
    (0x1E5F0, 0x1E5FA),
    (0x1E5FF, 0x1E5FF),
];

/// [`flags`] as llama.cpp's Unicode 15.1 tables see them (GGUF vocabularies).
#[inline]
pub(crate) fn flags_llama_cpp(c: char) -> u8 {
    let cp = u32::from(c);
    if cp >= NEWER_THAN_LLAMA_CPP[0].0 {
        let i = NEWER_THAN_LLAMA_CPP.partition_point(|r| r.1 < cp);
        if NEWER_THAN_LLAMA_CPP.get(i).is_some_and(|&(lo, _)| lo <= cp) {
            return 0;
        }
    }
    flags(c)
}

/// Python's `str.isspace()`: White_Space plus the four ASCII information separators.
/// llama-models splits long runs with it, so its exact set decides where chunks end.
#[inline]
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68
/// bytes to U+0100.. in byte order.
pub(crate) fn byte_to_char(b: u8) -> char {
    byte_map().0[b as usize]
}

/// The inverse of [`byte_to_char`]; `None` for characters outside the 256 images.
pub(crate) fn char_to_byte(c: char) -> Option<u8> {
    let cp = u32::from(c);
    if cp < 0x200 {
        let b = byte_map().1[cp as usize];
        if b >= 0 {
            return u8::try_from(b).ok();
        }
    }
    None
}

fn byte_map() -> &'static ([char; 256], [i16; 0x200]) {
    static MAP: OnceLock<([char; 256], [i16; 0x200])> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut to_char = ['\0'; 256];
        let mut to_byte = [-1i16; 0x200];
        let mut extra = 0u32;
        for b in 0..=255u8 {
            let printable = matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF);
            let cp = if printable {
                u32::from(b)
            } else {
                extra += 1;
                255 + extra
            };
            let c = char::from_u32(cp).unwrap_or('\0');
            to_char[b as usize] = c;
            to_byte[cp as usize] = i16::from(b);
        }
        (to_char, to_byte)
    })
}

/// Decodes a byte-level token string to the bytes it stands for. Characters outside
/// the byte map (only in malformed vocabularies) keep their own UTF-8 bytes.
pub(crate) fn decode_byte_level(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out
}

/// Whether every character of `text` is one of the 256 byte images, i.e. whether the
/// text can be the byte-level form of some input.
pub(crate) fn is_byte_level(text: &str) -> bool {
    text.chars().all(|c| char_to_byte(c).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_gpt2() {
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(byte_to_char(b'a'), 'a');
        assert_eq!(byte_to_char(0), 'Ā');
        assert_eq!(byte_to_char(0xAD), 'Ń');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(byte_to_char(b)), Some(b));
        }
        assert_eq!(char_to_byte(' '), None);
        assert_eq!(decode_byte_level("ĠhelloĊ"), b" hello\n");
    }

    #[test]
    fn classes() {
        assert_eq!(flags('a'), LETTER);
        assert_eq!(flags('中'), LETTER);
        assert_eq!(flags('7'), NUMBER);
        assert_eq!(flags('½'), NUMBER);
        assert_eq!(flags(' '), WHITESPACE);
        assert_eq!(flags('\u{3000}'), WHITESPACE);
        assert_eq!(flags('!'), PUNCT);
        assert_eq!(flags('$'), 0);
        assert_eq!(flags('\u{1D400}'), LETTER); // MATHEMATICAL BOLD CAPITAL A
        assert_eq!(flags('\u{1F600}'), 0); // emoji: a symbol
        assert_eq!(flags('\u{10107}'), NUMBER); // AEGEAN NUMBER ONE
        assert!(py_isspace('\u{1f}') && !py_isspace('a'));
        // U+1C89 CYRILLIC CAPITAL LETTER TJE is new in Unicode 16.0.
        assert_eq!(flags('\u{1C89}'), LETTER);
        assert_eq!(flags_llama_cpp('\u{1C89}'), 0);
        assert_eq!(flags_llama_cpp('\u{2EBF0}'), LETTER); // CJK Ext. I, Unicode 15.1
        assert_eq!(flags_llama_cpp('a'), LETTER);
    }

    #[test]
    fn newer_ranges_are_sorted_and_assigned() {
        for w in NEWER_THAN_LLAMA_CPP.windows(2) {
            assert!(w[0].1 < w[1].0);
        }
        for &(lo, hi) in NEWER_THAN_LLAMA_CPP {
            assert!(lo <= hi);
            for cp in lo..=hi {
                let c = char::from_u32(cp).expect("scalar value");
                assert_ne!(flags(c), 0, "U+{cp:04X} should be a letter, number or punctuation");
            }
        }
    }
}
