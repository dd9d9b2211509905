//! Pre-tokenization: cutting text into the pieces BPE runs on (regex-equivalent splitters in linear time).
//!
//! The Llama 3 and GPT-2 patterns are matched by hand-written scanners: they mirror
//! llama.cpp's `unicode_regex_split_custom_*` step by step, and the unit tests check them
//! against `fancy-regex` (the engine tiktoken uses) on random text. Hand-written scanners
//! run in linear time with no backtracking limit and no recursion, so megabytes of
//! pathological text (long whitespace runs, one giant word) cannot blow up.
//! Unknown Hugging Face patterns fall back to `fancy-regex`.

use super::llama3_split;
use super::unicode::{self, LETTER, NUMBER, PUNCT, WHITESPACE};

/// The Llama 3 pre-tokenizer pattern (llama-models `pat_str`, tokenizer.json `Split`).
pub(crate) const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's rewrite of [`LLAMA3_PATTERN`] with ASCII-only case folding.
pub(crate) const LLAMA3_PATTERN_ASCII: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The GPT-2 pattern (Hugging Face `ByteLevel { use_regex: true }`).
pub(crate) const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// llama.cpp's spelling of the GPT-2 pattern (its splitter adds the final `\s+` itself).
pub(crate) const GPT2_PATTERN_LLAMA_CPP: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

/// llama-models cuts input into windows of this many characters before tiktoken.
const LLAMA_MODELS_WINDOW_CHARS: usize = 400_000;
/// llama-models splits runs of whitespace / non-whitespace longer than this.
const LLAMA_MODELS_MAX_RUN_CHARS: usize = 25_000;

/// One code point with its class flags.
#[derive(Clone, Copy)]
pub(crate) struct Cp {
    pub(crate) ch: char,
    pub(crate) flags: u8,
}

impl Cp {
    pub(crate) fn letter(self) -> bool {
        self.flags & LETTER != 0
    }
    pub(crate) fn number(self) -> bool {
        self.flags & NUMBER != 0
    }
    pub(crate) fn space(self) -> bool {
        self.flags & WHITESPACE != 0
    }
    /// `[^\s\p{L}\p{N}]`
    pub(crate) fn other(self) -> bool {
        self.flags & (LETTER | NUMBER | WHITESPACE) == 0
    }
    pub(crate) fn newline(self) -> bool {
        self.ch == '\r' || self.ch == '\n'
    }
}

/// One splitting stage; every stage keeps both the matches and the text between them
/// (Hugging Face `Isolated`, llama.cpp `unicode_regex_split`).
#[derive(Debug)]
pub(crate) enum Step {
    /// [`LLAMA3_PATTERN`]; `fold_long_s` makes `(?i:'s)` also match `'ſ` as the regex
    /// engines' Unicode case folding does (llama.cpp folds ASCII only).
    Llama3 { fold_long_s: bool },
    /// [`GPT2_PATTERN`].
    Gpt2,
    /// `\p{N}`: every number character alone.
    DigitsIsolated,
    /// `\p{N}+`.
    DigitRuns,
    /// `[\p{P}\$\+<=>\^~\|]+` (llama.cpp's default pre-tokenizer).
    PunctRuns,
    /// `[0-9][0-9][0-9]` (llama.cpp's default pre-tokenizer).
    AsciiTriples,
    /// Any other Hugging Face `Split` regex.
    Regex(Box<fancy_regex::Regex>),
    /// A Hugging Face `Split` on a literal string.
    Literal(String),
}

/// A sequence of steps, plus Hugging Face's optional prefix space.
#[derive(Debug, Default)]
pub(crate) struct PreTokenizer {
    pub steps: Vec<Step>,
    /// Hugging Face `ByteLevel { add_prefix_space: true }`.
    pub prefix_space: bool,
    /// Classify characters with llama.cpp's (Unicode 15.1) tables instead of
    /// `regex-syntax`'s (Unicode 16), so GGUF vocabularies split exactly as llama.cpp.
    pub llama_cpp_unicode: bool,
}

impl PreTokenizer {
    /// Splits `text` into pieces, pushed to `out` as byte ranges in order.
    pub fn split(&self, text: &str, out: &mut Vec<std::ops::Range<usize>>) {
        out.clear();
        if text.is_empty() {
            return;
        }
        if self.steps.is_empty() {
            out.push(0..text.len());
            return;
        }
        if let [Step::Llama3 { fold_long_s }] = self.steps[..] {
            llama3_split::split(text, fold_long_s, self.llama_cpp_unicode, out);
            return;
        }
        let mut cps = Vec::with_capacity(text.len());
        let mut offs = Vec::with_capacity(text.len() + 1);
        let classify = if self.llama_cpp_unicode { unicode::flags_llama_cpp } else { unicode::flags };
        for (i, ch) in text.char_indices() {
            cps.push(Cp { ch, flags: classify(ch) });
            offs.push(i);
        }
        offs.push(text.len());
        // Piece ends, in code points.
        let mut ends = vec![cps.len()];
        let mut next = Vec::with_capacity(cps.len() / 2);
        for step in &self.steps {
            next.clear();
            let mut start = 0;
            for &end in &ends {
                step.split(text, &cps, &offs, start, end, &mut next);
                start = end;
            }
            std::mem::swap(&mut ends, &mut next);
        }
        let mut start = 0;
        for &end in &ends {
            if end > start {
                out.push(offs[start]..offs[end]);
            }
            start = end;
        }
    }
}

impl Step {
    /// Splits code points `a..b` and pushes the end of every non-empty piece.
    fn split(&self, text: &str, cps: &[Cp], offs: &[usize], a: usize, b: usize, out: &mut Vec<usize>) {
        if a >= b {
            return;
        }
        let s = &cps[a..b];
        let base = out.len();
        match self {
            Step::Llama3 { fold_long_s } => split_llama3(s, *fold_long_s, out),
            Step::Gpt2 => split_gpt2(s, out),
            Step::DigitsIsolated => split_runs(s, Cp::number, true, out),
            Step::DigitRuns => split_runs(s, Cp::number, false, out),
            Step::PunctRuns => split_runs(s, is_default_punct, false, out),
            Step::AsciiTriples => split_ascii_triples(s, out),
            Step::Regex(re) => split_regex(re, &text[offs[a]..offs[b]], &offs[a..=b], out),
            Step::Literal(lit) => split_literal(lit, &text[offs[a]..offs[b]], &offs[a..=b], out),
        }
        // The scanners work on the slice; shift their ends back to whole-text indices.
        for e in &mut out[base..] {
            *e += a;
        }
        if out.last() != Some(&b) {
            out.push(b);
        }
    }
}

fn is_default_punct(c: Cp) -> bool {
    c.flags & PUNCT != 0 || matches!(c.ch, '$' | '+' | '<' | '=' | '>' | '^' | '~' | '|')
}

/// Pushes `end` as a piece end unless it would make an empty piece.
#[inline]
fn push_end(out: &mut Vec<usize>, base: usize, end: usize) {
    let prev = if out.len() > base { out[out.len() - 1] } else { 0 };
    if end > prev {
        out.push(end);
    }
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `pos`; returns the match length.
fn contraction(s: &[Cp], pos: usize, fold_ascii_only: bool, case_insensitive: bool) -> usize {
    if s[pos].ch != '\'' {
        return 0;
    }
    let lower = |c: char| -> char {
        if !case_insensitive {
            c
        } else if !fold_ascii_only && c == 'ſ' {
            's'
        } else {
            c.to_ascii_lowercase()
        }
    };
    let Some(n1) = s.get(pos + 1).map(|c| lower(c.ch)) else {
        return 0;
    };
    if matches!(n1, 's' | 't' | 'm' | 'd') {
        return 2;
    }
    match (n1, s.get(pos + 2).map(|c| lower(c.ch))) {
        ('r', Some('e')) | ('v', Some('e')) | ('l', Some('l')) => 3,
        _ => 0,
    }
}

/// Whitespace alternatives shared by both patterns: `\s*[\r\n]+` (Llama 3 only),
/// `\s+(?!\S)`, `\s+`. Returns the match length (0: no whitespace at `pos`).
fn whitespace_run(s: &[Cp], pos: usize, newline_alt: bool) -> usize {
    let mut n = 0;
    let mut last_newline_end = 0;
    while pos + n < s.len() && s[pos + n].space() {
        if newline_alt && s[pos + n].newline() {
            last_newline_end = n + 1;
        }
        n += 1;
    }
    if last_newline_end > 0 {
        last_newline_end
    } else if n > 1 && pos + n < s.len() {
        // `\s+(?!\S)` backs off one so the last space can lead the next word.
        n - 1
    } else {
        n
    }
}

/// [`LLAMA3_PATTERN`] over one piece (llama.cpp `unicode_regex_split_custom_llama3`).
fn split_llama3(s: &[Cp], fold_long_s: bool, out: &mut Vec<usize>) {
    let base = out.len();
    let n = s.len();
    let mut pos = 0;
    while pos < n {
        let c = s[pos];
        let len = contraction(s, pos, !fold_long_s, true);
        if len > 0 {
            pos += len;
            push_end(out, base, pos);
            continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !(c.newline() || c.number()) && (c.letter() || s.get(pos + 1).is_some_and(|c| c.letter())) {
            pos += 1;
            while pos < n && s[pos].letter() {
                pos += 1;
            }
            push_end(out, base, pos);
            continue;
        }
        // \p{N}{1,3}
        if c.number() {
            let start = pos;
            while pos < n && pos - start < 3 && s[pos].number() {
                pos += 1;
            }
            push_end(out, base, pos);
            continue;
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let lead = if c.ch == ' ' { s.get(pos + 1).copied() } else { Some(c) };
        if lead.is_some_and(Cp::other) {
            pos += usize::from(c.ch == ' ');
            while pos < n && s[pos].other() {
                pos += 1;
            }
            while pos < n && s[pos].newline() {
                pos += 1;
            }
            push_end(out, base, pos);
            continue;
        }
        let len = whitespace_run(s, pos, true);
        pos += len.max(1);
        push_end(out, base, pos);
    }
}

/// [`GPT2_PATTERN`] over one piece (llama.cpp `unicode_regex_split_custom_gpt2`).
fn split_gpt2(s: &[Cp], out: &mut Vec<usize>) {
    let base = out.len();
    let n = s.len();
    let mut pos = 0;
    while pos < n {
        let c = s[pos];
        let len = contraction(s, pos, true, false);
        if len > 0 {
            pos += len;
            push_end(out, base, pos);
            continue;
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
        let lead = if c.ch == ' ' { s.get(pos + 1).copied() } else { Some(c) };
        if let Some(lead) = lead {
            let class: Option<fn(Cp) -> bool> = if lead.letter() {
                Some(Cp::letter)
            } else if lead.number() {
                Some(Cp::number)
            } else if lead.other() {
                Some(Cp::other)
            } else {
                None
            };
            if let Some(class) = class {
                pos += usize::from(c.ch == ' ');
                while pos < n && class(s[pos]) {
                    pos += 1;
                }
                push_end(out, base, pos);
                continue;
            }
        }
        let len = whitespace_run(s, pos, false);
        pos += len.max(1);
        push_end(out, base, pos);
    }
}

/// Runs of characters in a class (or each such character alone when `isolate`),
/// keeping the text between runs as pieces.
fn split_runs(s: &[Cp], class: fn(Cp) -> bool, isolate: bool, out: &mut Vec<usize>) {
    let base = out.len();
    let mut pos = 0;
    while pos < s.len() {
        if class(s[pos]) {
            pos += 1;
            while !isolate && pos < s.len() && class(s[pos]) {
                pos += 1;
            }
        } else {
            while pos < s.len() && !class(s[pos]) {
                pos += 1;
            }
        }
        push_end(out, base, pos);
    }
}

fn split_ascii_triples(s: &[Cp], out: &mut Vec<usize>) {
    let base = out.len();
    let digit = |i: usize| s.get(i).is_some_and(|c| c.ch.is_ascii_digit());
    let mut pos = 0;
    while pos < s.len() {
        if digit(pos) && digit(pos + 1) && digit(pos + 2) {
            push_end(out, base, pos);
            pos += 3;
            push_end(out, base, pos);
        } else {
            pos += 1;
        }
    }
    push_end(out, base, s.len());
}

/// Converts a byte offset inside the piece to a code point index (offsets are sorted).
fn cp_index(offs: &[usize], byte: usize) -> usize {
    let base = offs[0];
    offs.partition_point(|&o| o - base < byte)
}

fn split_regex(re: &fancy_regex::Regex, piece: &str, offs: &[usize], out: &mut Vec<usize>) {
    let base = out.len();
    for m in re.find_iter(piece) {
        // A regex that gives up (backtrack limit) leaves the rest as one piece rather
        // than failing the whole encode.
        let Ok(m) = m else { break };
        if m.start() == m.end() {
            continue;
        }
        push_end(out, base, cp_index(offs, m.start()));
        push_end(out, base, cp_index(offs, m.end()));
    }
}

fn split_literal(lit: &str, piece: &str, offs: &[usize], out: &mut Vec<usize>) {
    let base = out.len();
    if lit.is_empty() {
        return;
    }
    for (start, m) in piece.match_indices(lit) {
        push_end(out, base, cp_index(offs, start));
        push_end(out, base, cp_index(offs, start + m.len()));
    }
}

/// llama-models' input guard (`Tokenizer.encode`): 400,000-character windows, each cut so
/// that no run of whitespace or of non-whitespace exceeds 25,000 characters. Every chunk
/// is then encoded on its own, which changes ids only at the cuts.
pub(crate) fn llama_models_chunks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    // A text of n bytes has at most n characters, so short texts need no counting.
    if text.len() <= LLAMA_MODELS_MAX_RUN_CHARS {
        out.extend((!text.is_empty()).then_some(text));
        return out;
    }
    if text.len() <= LLAMA_MODELS_WINDOW_CHARS {
        split_long_runs(text, LLAMA_MODELS_MAX_RUN_CHARS, &mut out);
        return out;
    }
    let mut window_start = 0;
    let mut chars = 0;
    for (i, _) in text.char_indices() {
        if chars == LLAMA_MODELS_WINDOW_CHARS {
            split_long_runs(&text[window_start..i], LLAMA_MODELS_MAX_RUN_CHARS, &mut out);
            window_start = i;
            chars = 0;
        }
        chars += 1;
    }
    if window_start < text.len() {
        split_long_runs(&text[window_start..], LLAMA_MODELS_MAX_RUN_CHARS, &mut out);
    }
    out
}

/// llama-models `_split_whitespaces_or_nonwhitespaces`, with Python's `isspace`.
fn split_long_runs<'a>(s: &'a str, max_run: usize, out: &mut Vec<&'a str>) {
    let mut run_len = 0;
    let mut run_is_space = s.chars().next().is_some_and(unicode::py_isspace);
    let mut slice_start = 0;
    let bytes = s.as_bytes();
    let mut next = 0;
    while next < bytes.len() {
        let i = next;
        // ASCII (most text) without decoding: `isspace` is \t..\r and \x1c..' '.
        let is_space = match bytes[i] {
            b @ 0..0x80 => {
                next += 1;
                matches!(b, 0x09..=0x0d | 0x1c..=0x20)
            }
            _ => {
                let Some(c) = s[i..].chars().next() else { break };
                next += c.len_utf8();
                unicode::py_isspace(c)
            }
        };
        if run_is_space != is_space {
            run_len = 1;
            run_is_space = is_space;
        } else {
            run_len += 1;
            if run_len > max_run {
                out.push(&s[slice_start..i]);
                slice_start = i;
                run_len = 1;
            }
        }
    }
    out.push(&s[slice_start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(pre: &PreTokenizer, text: &str) -> Vec<String> {
        let mut ranges = Vec::new();
        pre.split(text, &mut ranges);
        ranges.into_iter().map(|r| text[r].to_string()).collect()
    }

    fn regex_pieces(re: &fancy_regex::Regex, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut last = 0;
        for m in re.find_iter(text) {
            let m = m.expect("regex runs");
            if m.start() > last {
                out.push(text[last..m.start()].to_string());
            }
            out.push(m.as_str().to_string());
            last = m.end();
        }
        if last < text.len() {
            out.push(text[last..].to_string());
        }
        out
    }

    fn one(step: Step) -> PreTokenizer {
        PreTokenizer { steps: vec![step], prefix_space: false, llama_cpp_unicode: false }
    }

    #[test]
    fn llama3_examples() {
        let pre = one(Step::Llama3 { fold_long_s: true });
        assert_eq!(pieces(&pre, "Hello, world! 12345"), ["Hello", ",", " world", "!", " ", "123", "45"]);
        assert_eq!(pieces(&pre, "I'M here\n\n  x"), ["I", "'M", " here", "\n\n", " ", " x"]);
        assert_eq!(pieces(&pre, "a   "), ["a", "   "]);
        assert_eq!(pieces(&pre, "  \t\n  b"), ["  \t\n", " ", " b"]);
    }

    /// Random strings over an alphabet of the characters the patterns care about.
    fn random_texts(seed: u64, count: usize) -> Vec<String> {
        let alphabet: Vec<char> =
            "aZé中ſ'sStTrReEvVlLmMdD0123٣½ \t\n\r\u{a0}\u{3000}\u{1c}!?.,$+<=>^~|_-@\u{1F600}\u{301}\u{10FFFD}\u{E000}"
                .chars()
                .collect();
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = (next() % 40) as usize;
                (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
            })
            .collect()
    }

    #[test]
    fn llama3_matches_fancy_regex() {
        let re = fancy_regex::Regex::new(LLAMA3_PATTERN).expect("pattern compiles");
        let pre = one(Step::Llama3 { fold_long_s: true });
        for text in random_texts(0x9E37_79B9_7F4A_7C15, 20_000) {
            assert_eq!(pieces(&pre, &text), regex_pieces(&re, &text), "text {text:?}");
        }
    }

    #[test]
    fn llama3_ascii_matches_llama_cpp_pattern() {
        let re = fancy_regex::Regex::new(LLAMA3_PATTERN_ASCII).expect("pattern compiles");
        let pre = one(Step::Llama3 { fold_long_s: false });
        for text in random_texts(0x1234_5678_9ABC_DEF1, 20_000) {
            assert_eq!(pieces(&pre, &text), regex_pieces(&re, &text), "text {text:?}");
        }
        assert_eq!(pieces(&pre, "'ſa"), ["'ſa"]);
        assert_eq!(pieces(&one(Step::Llama3 { fold_long_s: true }), "'ſa"), ["'ſ", "a"]);
    }

    /// The byte scanner (`llama3_split`, used when Llama 3 is the only step) and the
    /// code-point splitter (used inside longer pipelines) must agree everywhere.
    #[test]
    fn llama3_fast_path_matches_general_splitter() {
        for fold_long_s in [true, false] {
            for llama_cpp_unicode in [true, false] {
                let fast =
                    PreTokenizer { steps: vec![Step::Llama3 { fold_long_s }], prefix_space: false, llama_cpp_unicode };
                // An empty literal splits nothing but takes the general path.
                let general = PreTokenizer {
                    steps: vec![Step::Llama3 { fold_long_s }, Step::Literal(String::new())],
                    prefix_space: false,
                    llama_cpp_unicode,
                };
                for text in random_texts(0x5EED_0000_0000_0003, 10_000)
                    .iter()
                    .chain(&["\u{1C89}a 'ſ\u{3000}\u{3000}x".to_string()])
                {
                    assert_eq!(pieces(&fast, text), pieces(&general, text), "text {text:?}");
                }
            }
        }
    }

    #[test]
    fn gpt2_matches_fancy_regex() {
        let re = fancy_regex::Regex::new(GPT2_PATTERN).expect("pattern compiles");
        let pre = one(Step::Gpt2);
        for text in random_texts(0x0F0F_1234_ABCD_0001, 20_000) {
            assert_eq!(pieces(&pre, &text), regex_pieces(&re, &text), "text {text:?}");
        }
    }

    #[test]
    fn simple_steps_match_fancy_regex() {
        let cases: Vec<(Step, &str)> = vec![
            (Step::DigitsIsolated, r"\p{N}"),
            (Step::DigitRuns, r"\p{N}+"),
            (Step::PunctRuns, r"[\p{P}\$\+<=>\^~\|]+"),
            (Step::AsciiTriples, r"[0-9][0-9][0-9]"),
        ];
        for (step, pattern) in cases {
            let re = fancy_regex::Regex::new(pattern).expect("pattern compiles");
            let pre = one(step);
            for text in random_texts(0xDEAD_BEEF_0000_0001, 5_000) {
                assert_eq!(pieces(&pre, &text), regex_pieces(&re, &text), "{pattern} on {text:?}");
            }
        }
    }

    #[test]
    fn smollm_sequence_isolates_digits_first() {
        let pre = PreTokenizer {
            steps: vec![Step::DigitsIsolated, Step::Gpt2],
            prefix_space: false,
            llama_cpp_unicode: true,
        };
        assert_eq!(pieces(&pre, "a 12b"), ["a", " ", "1", "2", "b"]);
    }

    #[test]
    fn generic_regex_and_literal_steps() {
        let re = fancy_regex::Regex::new(r"\d+").expect("compiles");
        let pre = one(Step::Regex(Box::new(re)));
        assert_eq!(pieces(&pre, "ab12cé3"), ["ab", "12", "cé", "3"]);
        let pre = one(Step::Literal("--".into()));
        assert_eq!(pieces(&pre, "é--b----"), ["é", "--", "b", "--", "--"]);
    }

    #[test]
    fn long_inputs_are_linear() {
        let pre = one(Step::Llama3 { fold_long_s: true });
        let text = " ".repeat(1_000_000) + "x" + &"y".repeat(1_000_000) + &"\n ".repeat(300_000);
        let n = pieces(&pre, &text).len();
        assert!(n > 3);
    }

    #[test]
    fn llama_models_guard_splits_runs() {
        let text = "a".repeat(60_000) + "  " + &"b".repeat(10);
        let chunks = llama_models_chunks(&text);
        let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(lens, [25_000, 25_000, 10_000 + 2 + 10]);
        assert_eq!(chunks.concat(), text);
        assert!(llama_models_chunks("").is_empty());
        let text = "é".repeat(400_001);
        let chunks = llama_models_chunks(&text);
        assert_eq!(chunks.concat(), text);
        assert_eq!(chunks.len(), 17); // 16 runs of 25k in the first window, then 1 char
    }
}
