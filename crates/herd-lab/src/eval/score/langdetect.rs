//! Language identification for IFEval: a port of the `langdetect` package 1.0.9
//! (`langdetect.detect`, itself a port of Shuyo Nakatani's language-detection), bit for bit.
//!
//! lm-eval 0.4.13's IFEval checkers (`tasks/ifeval/instructions.py`) call
//! `langdetect.detect(value)` and treat `LangDetectException` as "instruction followed".
//! They never seed `DetectorFactory`, so upstream draws its random n-gram samples from an
//! OS-seeded generator and can answer differently from run to run on ambiguous text; herd
//! fixes the seed to 0 ([`SEED`]), langdetect's own documented way to make results
//! reproducible, and matches `DetectorFactory.seed = 0` exactly.
//!
//! Exactness conventions, each Python's:
//! - the random stream is CPython's `random.Random(seed)`: MT19937 seeded by
//!   `init_by_array` with the seed's 32-bit words, `random()` from two draws (27 + 26 bits),
//!   `gauss()` as Box-Muller with the second value cached, `choice()` by rejection sampling
//!   over `getrandbits(n.bit_length())`;
//! - probabilities are f64 computed in langdetect's order, and `sum()` is CPython 3.12+'s
//!   compensated (Neumaier) float sum, which decides the normalisation;
//! - profiles are indexed in sorted file-name order (upstream uses `os.listdir` order, which
//!   depends on the filesystem; the golden fixture is generated with it sorted).
//!
//! The 55 language profiles and the normalisation tables (`messages.properties`) are data of
//! the langdetect sdist (Apache-2.0). herd does not ship them: [`LangDetect::load`] reads them
//! from the pinned sdist, fetched from PyPI into herd's cache once
//! ([`herd_engine::catalog::LANGDETECT`]).

use crate::LabError;
use regex::Regex;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::{LazyLock, Mutex, OnceLock};

/// The seed herd uses for langdetect's sampling (`DetectorFactory.seed = 0`).
pub const SEED: u64 = 0;

// langdetect's `Detector` constants.
const ALPHA_DEFAULT: f64 = 0.5;
const ALPHA_WIDTH: f64 = 0.05;
const ITERATION_LIMIT: usize = 1000;
const PROB_THRESHOLD: f64 = 0.1;
const CONV_THRESHOLD: f64 = 0.99999;
const BASE_FREQ: f64 = 10000.0;
const N_TRIAL: usize = 7;
const MAX_TEXT_LENGTH: usize = 10000;

/// `langdetect.detect(text)` with [`SEED`]: the language code (`"en"`, `"zh-cn"`, ... or
/// `"unknown"` when no language passes 0.1), or `None` where langdetect raises
/// `LangDetectException` (no n-gram of the text is in any profile). The profiles are
/// fetched on first use; their absence is an error.
pub fn detect(text: &str) -> Result<Option<String>, LabError> {
    Ok(LangDetect::load()?.detect(text))
}

/// The loaded profiles and normalisation tables (langdetect's `DetectorFactory`).
#[derive(Debug)]
pub struct LangDetect {
    langs: Vec<String>,
    /// n-gram -> (language index, probability) for the languages that have it; the others'
    /// probability is 0.0, and `weight + 0.0 == weight`, so a sparse row multiplies the same.
    word_probs: HashMap<String, Vec<(usize, f64)>>,
    latin1_excluded: Vec<char>,
    cjk_map: HashMap<char, char>,
    vi_letters: Vec<char>,
    vi_marks: Vec<char>,
    vi_composed: Vec<Vec<char>>,
    vi_re: Regex,
}

/// The `NGram.KANJI_*` keys of `messages.properties` in the order of `NGram.CJK_CLASS`
/// (a later class wins for a character listed twice).
const KANJI_CLASSES: &[(u8, &[u8])] = &[
    (1, &[0, 2, 4, 8, 11, 12, 13, 14, 16, 18, 22, 27, 29, 31, 35]),
    (2, &[0, 1, 4, 9, 10, 11, 12, 13, 15, 16, 18, 21, 22, 23, 28, 29, 30, 31, 32, 35, 36, 37, 38]),
    (3, &[1, 2, 3, 4, 5, 8, 9, 11, 12, 13, 15, 16, 18, 19, 22, 23, 27, 29, 30, 31, 32, 35, 36, 37, 38]),
    (4, &[0, 9, 10, 16, 17, 18, 22, 24, 28, 34, 39]),
    (5, &[10, 11, 12, 13, 14, 18, 26, 29, 34, 39]),
    (6, &[0, 3, 9, 10, 11, 12, 16, 18, 20, 21, 22, 23, 25, 28, 29, 30, 32, 34, 35, 37, 39]),
    (7, &[0, 3, 6, 7, 9, 11, 12, 13, 16, 18, 19, 20, 21, 23, 25, 28, 29, 32, 33, 35, 37]),
];

static URL_RE: LazyLock<Regex> = LazyLock::new(|| super::compile(r"https?://[-_.?&~;+=/#0-9A-Za-z]{1,2076}"));
static MAIL_RE: LazyLock<Regex> =
    LazyLock::new(|| super::compile(r"[-_.0-9A-Za-z]{1,64}@[-_0-9A-Za-z]{1,255}[-_.0-9A-Za-z]{1,255}"));

impl LangDetect {
    /// The profiles of [`herd_engine::catalog::LANGDETECT`], loaded once per process; the first call
    /// fetches the sdist from PyPI (pip, network) when the cache has no verified copy.
    pub fn load() -> Result<&'static LangDetect, LabError> {
        static MODEL: OnceLock<LangDetect> = OnceLock::new();
        static LOADING: Mutex<()> = Mutex::new(());
        super::load_once(&MODEL, &LOADING, || {
            let e = &herd_engine::catalog::LANGDETECT;
            let sdist = herd_engine::catalog::fetch_wheel(e, |_| {}).map_err(|err| LabError::Data {
                path: e.pip_requirement.to_string(),
                line: 0,
                msg: err.to_string(),
            })?;
            LangDetect::from_sdist(&sdist, e.member)
        })
    }

    /// Reads the profiles (`<root>profiles/*`) and `<root>utils/messages.properties` from a
    /// langdetect sdist (`.tar.gz`).
    pub fn from_sdist(path: &Path, root: &str) -> Result<LangDetect, LabError> {
        let bad = |msg: String| LabError::Data { path: path.display().to_string(), line: 0, msg };
        let f = std::fs::File::open(path).map_err(|err| LabError::Io { path: path.to_path_buf(), err })?;
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(f).read_to_end(&mut bytes).map_err(|e| bad(format!("not a .tar.gz: {e}")))?;
        let members = tar_members(&bytes).map_err(bad)?;
        let profile_dir = format!("{root}profiles/");
        let mut profiles = Vec::new();
        let mut messages = None;
        for (name, data) in members {
            let text = || String::from_utf8(data.to_vec()).map_err(|_| bad(format!("{name} is not UTF-8")));
            if let Some(file) = name.strip_prefix(&profile_dir) {
                if !file.is_empty() && !file.contains('/') && !file.starts_with('.') {
                    profiles.push((file.to_string(), text()?));
                }
            } else if name == format!("{root}utils/messages.properties") {
                messages = Some(text()?);
            }
        }
        let messages = messages.ok_or_else(|| bad(format!("has no {root}utils/messages.properties")))?;
        LangDetect::from_parts(profiles, &messages).map_err(bad)
    }

    /// A detector from `(file name, JSON)` profiles and the text of `messages.properties`.
    pub fn from_parts(mut profiles: Vec<(String, String)>, messages: &str) -> Result<LangDetect, String> {
        if profiles.len() < 2 {
            return Err(format!("{} language profiles found; langdetect needs its 55", profiles.len()));
        }
        profiles.sort();
        let n = profiles.len();
        let mut langs = Vec::with_capacity(n);
        let mut word_probs: HashMap<String, Vec<(usize, f64)>> = HashMap::new();
        for (index, (file, json)) in profiles.iter().enumerate() {
            let v: serde_json::Value =
                serde_json::from_str(json).map_err(|e| format!("profile {file}: not JSON: {e}"))?;
            let name = v.get("name").and_then(|x| x.as_str()).ok_or(format!("profile {file}: no name"))?;
            let n_words: Vec<u64> = v
                .get("n_words")
                .and_then(|x| x.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
                .unwrap_or_default();
            let freq = v.get("freq").and_then(|x| x.as_object()).ok_or(format!("profile {file}: no freq"))?;
            if n_words.len() != 3 {
                return Err(format!("profile {file}: n_words is not 3 integers"));
            }
            if langs.iter().any(|l| l == name) {
                return Err(format!("profile {file}: language {name} twice"));
            }
            langs.push(name.to_string());
            for (word, count) in freq {
                let count = count.as_u64().ok_or(format!("profile {file}: frequency of {word:?} is not an integer"))?;
                let row = word_probs.entry(word.clone()).or_default();
                let len = word.chars().count();
                if (1..=3).contains(&len) {
                    // `1.0 * freq / n_words[len - 1]`: both exact in f64, one rounding.
                    row.push((index, count as f64 / n_words[len - 1] as f64));
                }
            }
        }
        let props = parse_properties(messages);
        let get = |k: &str| props.get(k).cloned().ok_or(format!("messages.properties has no {k}"));
        let mut cjk_map = HashMap::new();
        for &(group, indices) in KANJI_CLASSES {
            for i in indices {
                let class = get(&format!("NGram.KANJI_{group}_{i}"))?;
                if let Some(&first) = class.first() {
                    for &c in &class {
                        cjk_map.insert(c, first);
                    }
                }
            }
        }
        let vi_letters = get("TO_NORMALIZE_VI_CHARS")?;
        let vi_marks = get("DMARK_CLASS")?;
        let vi_composed = ["0300", "0301", "0303", "0309", "0323"]
            .iter()
            .map(|m| get(&format!("NORMALIZED_VI_CHARS_{m}")))
            .collect::<Result<Vec<_>, _>>()?;
        let class = |cs: &[char]| cs.iter().map(|c| regex::escape(&c.to_string())).collect::<String>();
        let vi_re = Regex::new(&format!("([{}])([{}])", class(&vi_letters), class(&vi_marks)))
            .map_err(|e| format!("messages.properties: Vietnamese classes: {e}"))?;
        Ok(LangDetect {
            langs,
            word_probs,
            latin1_excluded: get("NGram.LATIN1_EXCLUDE")?,
            cjk_map,
            vi_letters,
            vi_marks,
            vi_composed,
            vi_re,
        })
    }

    /// The language codes, in the order of the probability vectors.
    pub fn languages(&self) -> &[String] {
        &self.langs
    }

    /// `detect(text)` with [`SEED`].
    pub fn detect(&self, text: &str) -> Option<String> {
        self.detect_seeded(text, SEED)
    }

    /// `detect(text)` with `DetectorFactory.seed = seed`.
    pub fn detect_seeded(&self, text: &str, seed: u64) -> Option<String> {
        let probs = self.probabilities(text, seed)?;
        // `_sort_probability`: languages over the threshold, by probability, ties in
        // profile order (Python's sort is stable, also with `reverse=True`).
        let mut best: Option<(usize, f64)> = None;
        for (i, &p) in probs.iter().enumerate() {
            if p > PROB_THRESHOLD && best.is_none_or(|(_, b)| p > b) {
                best = Some((i, p));
            }
        }
        Some(best.map_or_else(|| "unknown".to_string(), |(i, _)| self.langs[i].clone()))
    }

    /// `get_probabilities` before sorting: each language's probability, or `None` for
    /// "No features in text".
    pub fn probabilities(&self, text: &str, seed: u64) -> Option<Vec<f64>> {
        let text = self.clean(text);
        let ngrams = self.extract_ngrams(&text);
        if ngrams.is_empty() {
            return None;
        }
        let n = self.langs.len();
        let mut langprob = vec![0.0f64; n];
        let mut rng = PyRandom::new(seed);
        let mut factor = vec![0.0f64; n];
        for _ in 0..N_TRIAL {
            let mut prob = vec![1.0 / n as f64; n];
            let alpha = ALPHA_DEFAULT + rng.gauss() * ALPHA_WIDTH;
            let weight = alpha / BASE_FREQ;
            let mut i = 0usize;
            loop {
                let row = ngrams[rng.randbelow(ngrams.len())];
                factor.fill(weight);
                for &(lang, p) in row {
                    factor[lang] = weight + p;
                }
                for (x, f) in prob.iter_mut().zip(&factor) {
                    *x *= f;
                }
                if i.is_multiple_of(5) && (normalize(&mut prob) > CONV_THRESHOLD || i >= ITERATION_LIMIT) {
                    break;
                }
                i += 1;
            }
            for (l, p) in langprob.iter_mut().zip(&prob) {
                *l += p / N_TRIAL as f64;
            }
        }
        Some(langprob)
    }

    /// `Detector.append` then `cleaning_text`: URLs and mail addresses out, Vietnamese
    /// normalised, at most 10000 characters with runs of spaces collapsed, and Latin letters
    /// dropped from mostly non-Latin text.
    fn clean(&self, text: &str) -> Vec<char> {
        let text = URL_RE.replace_all(text, " ");
        let text = MAIL_RE.replace_all(&text, " ");
        let text = self.normalize_vi(&text);
        let mut out = Vec::new();
        let mut pre = None;
        for ch in text.chars().take(MAX_TEXT_LENGTH) {
            if ch != ' ' || pre != Some(' ') {
                out.push(ch);
            }
            pre = Some(ch);
        }
        let latin = out.iter().filter(|&&c| ('A'..='z').contains(&c)).count();
        // Upstream also tests the character's block against the *name* 'Latin Extended
        // Additional' while `unicode_block` returns a number, so that test never excludes
        // anything: every character from U+0300 up counts as non-Latin.
        let non_latin = out.iter().filter(|&&c| !('A'..='z').contains(&c) && c >= '\u{300}').count();
        if latin * 2 < non_latin {
            out.retain(|&c| !('A'..='z').contains(&c));
        }
        out
    }

    /// `NGram.normalize_vi`: a letter followed by a combining mark becomes the precomposed
    /// letter.
    fn normalize_vi(&self, text: &str) -> String {
        self.vi_re
            .replace_all(text, |c: &regex::Captures| {
                let letter = c[1].chars().next().and_then(|l| self.vi_letters.iter().position(|&x| x == l));
                let mark = c[2].chars().next().and_then(|m| self.vi_marks.iter().position(|&x| x == m));
                match (letter, mark) {
                    (Some(l), Some(m)) => self.vi_composed.get(m).and_then(|row| row.get(l)).map(|ch| ch.to_string()),
                    _ => None,
                }
                .unwrap_or_else(|| c[0].to_string())
            })
            .into_owned()
    }

    /// `NGram.normalize` of one character.
    fn normalize(&self, ch: char) -> char {
        match ch as u32 {
            0..=0x7f => {
                if ch.is_ascii_alphabetic() {
                    ch
                } else {
                    ' '
                }
            }
            0x80..=0xff => {
                if self.latin1_excluded.contains(&ch) {
                    ' '
                } else {
                    ch
                }
            }
            // Romanian: comma below -> cedilla.
            0x180..=0x24f => match ch {
                '\u{219}' => '\u{15f}',
                '\u{21b}' => '\u{163}',
                _ => ch,
            },
            0x2000..=0x206f => ' ',
            // Farsi yeh -> Arabic yeh.
            0x600..=0x6ff => {
                if ch == '\u{6cc}' {
                    '\u{64a}'
                } else {
                    ch
                }
            }
            0x1e00..=0x1eff => {
                if ch >= '\u{1ea0}' {
                    '\u{1ec3}'
                } else {
                    ch
                }
            }
            0x3040..=0x309f => '\u{3042}',
            0x30a0..=0x30ff => '\u{30a2}',
            0x3100..=0x312f | 0x31a0..=0x31bf => '\u{3105}',
            0x4e00..=0x9fff => self.cjk_map.get(&ch).copied().unwrap_or(ch),
            0xac00..=0xd7af => '\u{ac00}',
            _ => ch,
        }
    }

    /// `_extract_ngrams`: the 1-, 2- and 3-grams ending at each character that a profile
    /// knows, skipping words in capitals.
    fn extract_ngrams(&self, text: &[char]) -> Vec<&[(usize, f64)]> {
        let mut out = Vec::new();
        let mut grams: Vec<char> = vec![' '];
        let mut capital = false;
        let mut w = String::new();
        for &c in text {
            let ch = self.normalize(c);
            let last = grams[grams.len() - 1];
            if last == ' ' {
                grams.clear();
                grams.push(' ');
                capital = false;
                if ch == ' ' {
                    continue;
                }
            } else if grams.len() >= 3 {
                grams.remove(0);
            }
            grams.push(ch);
            if ch.is_uppercase() {
                if last.is_uppercase() {
                    capital = true;
                }
            } else {
                capital = false;
            }
            if capital {
                continue;
            }
            for n in 1..=3 {
                if grams.len() < n {
                    break;
                }
                let g = &grams[grams.len() - n..];
                if g == [' '] {
                    continue;
                }
                w.clear();
                w.extend(g);
                if let Some(row) = self.word_probs.get(&w) {
                    out.push(row.as_slice());
                }
            }
        }
        out
    }
}

/// `_normalize_prob`: divide by the sum, return the largest.
fn normalize(prob: &mut [f64]) -> f64 {
    let sum = py_sum(prob);
    let mut maxp = 0.0;
    for p in prob.iter_mut() {
        *p /= sum;
        if maxp < *p {
            maxp = *p;
        }
    }
    maxp
}

/// CPython 3.12+'s `sum()` of floats: Neumaier's compensated sum, the compensation added
/// once at the end when it is non-zero and finite.
fn py_sum(xs: &[f64]) -> f64 {
    let mut s = 0.0f64;
    let mut c = 0.0f64;
    for &x in xs {
        let t = s + x;
        if s.abs() >= x.abs() {
            c += (s - t) + x;
        } else {
            c += (x - t) + s;
        }
        s = t;
    }
    if c != 0.0 && c.is_finite() { s + c } else { s }
}

/// `messages.properties` as langdetect's `Messages` reads it: `key=value` per stripped
/// line, the value's `\uXXXX` escapes decoded (`unicode_escape`).
fn parse_properties(text: &str) -> HashMap<String, Vec<char>> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = super::py_strip(line);
        let (key, value) = line.split_once('=').unwrap_or((line, ""));
        out.insert(key.to_string(), unescape(value));
    }
    out
}

fn unescape(s: &str) -> Vec<char> {
    let cs: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        if cs[i] == '\\' && cs.get(i + 1) == Some(&'u') && i + 6 <= cs.len() {
            let hex: String = cs[i + 2..i + 6].iter().collect();
            if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                out.push(c);
                i += 6;
                continue;
            }
        }
        out.push(cs[i]);
        i += 1;
    }
    out
}

/// The members of a tar archive (ustar and GNU headers, GNU long names): (path, bytes).
fn tar_members(bytes: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut long_name: Option<String> = None;
    while pos + 512 <= bytes.len() {
        let h = &bytes[pos..pos + 512];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let field = |a: usize, b: usize| {
            let f = &h[a..b];
            let end = f.iter().position(|&x| x == 0).unwrap_or(f.len());
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let size = u64::from_str_radix(field(124, 136).trim(), 8).map_err(|_| format!("bad tar header at {pos}"))?;
        let size = usize::try_from(size).map_err(|_| "tar member too large".to_string())?;
        let start = pos + 512;
        let end = start.checked_add(size).filter(|&e| e <= bytes.len()).ok_or("truncated tar archive")?;
        let data = &bytes[start..end];
        let kind = h[156];
        let mut name = field(0, 100);
        if &h[257..263] == b"ustar\0" {
            let prefix = field(345, 500);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        match kind {
            b'L' => long_name = Some(String::from_utf8_lossy(data).trim_end_matches('\0').to_string()),
            b'0' | 0 => out.push((long_name.take().unwrap_or(name), data)),
            _ => long_name = None,
        }
        pos = start + size.div_ceil(512) * 512;
    }
    Ok(out)
}

/// CPython's `random.Random`: MT19937 with `init_by_array` seeding (`_randommodule.c`).
struct PyRandom {
    mt: [u32; 624],
    index: usize,
    gauss_next: Option<f64>,
}

impl PyRandom {
    /// `random.Random(seed)` for a non-negative int: the key is its 32-bit words, least
    /// significant first (one zero word for 0).
    fn new(seed: u64) -> PyRandom {
        let mut key = vec![seed as u32];
        if seed >> 32 != 0 {
            key.push((seed >> 32) as u32);
        }
        let mut r = PyRandom { mt: [0; 624], index: 624, gauss_next: None };
        r.init_genrand(19_650_218);
        let (n, len) = (624usize, key.len());
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..n.max(len) {
            let prev = r.mt[i - 1] ^ (r.mt[i - 1] >> 30);
            r.mt[i] = (r.mt[i] ^ prev.wrapping_mul(1_664_525)).wrapping_add(key[j]).wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= n {
                r.mt[0] = r.mt[n - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..n - 1 {
            let prev = r.mt[i - 1] ^ (r.mt[i - 1] >> 30);
            r.mt[i] = (r.mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= n {
                r.mt[0] = r.mt[n - 1];
                i = 1;
            }
        }
        r.mt[0] = 0x8000_0000;
        r
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..624 {
            let prev = self.mt[i - 1] ^ (self.mt[i - 1] >> 30);
            self.mt[i] = 1_812_433_253u32.wrapping_mul(prev).wrapping_add(i as u32);
        }
        self.index = 624;
    }

    fn next_u32(&mut self) -> u32 {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        if self.index >= 624 {
            for k in 0..624 {
                let y = (self.mt[k] & UPPER) | (self.mt[(k + 1) % 624] & LOWER);
                let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
                self.mt[k] = self.mt[(k + 397) % 624] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `random()`: 53 bits from two draws.
    fn random(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `gauss(0.0, 1.0)`: Box-Muller; the second value of a pair is kept for the next call.
    fn gauss(&mut self) -> f64 {
        if let Some(z) = self.gauss_next.take() {
            return z;
        }
        let x2pi = self.random() * (2.0 * std::f64::consts::PI);
        let g2rad = (-2.0 * (1.0 - self.random()).ln()).sqrt();
        self.gauss_next = Some(x2pi.sin() * g2rad);
        // `mu + z * sigma` with mu 0 and sigma 1 is z itself.
        x2pi.cos() * g2rad
    }

    /// `_randbelow(n)` for 0 < n < 2**32: `getrandbits(n.bit_length())` until below n.
    fn randbelow(&mut self, n: usize) -> usize {
        let k = usize::BITS - n.leading_zeros();
        loop {
            let r = (self.next_u32() >> (32 - k)) as usize;
            if r < n {
                return r;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mersenne_twister_matches_cpython() {
        // random.Random(0): random() twice, then getrandbits(8) (python3 -c).
        let mut r = PyRandom::new(0);
        assert_eq!(r.random(), 0.8444218515250481);
        assert_eq!(r.random(), 0.7579544029403025);
        let mut r = PyRandom::new(0);
        let g = r.gauss();
        assert_eq!(g, 0.9417154046806644);
        assert_eq!(r.gauss(), -1.3965781047011498);
        let mut r = PyRandom::new(12_345_678_901);
        assert_eq!(r.random(), 0.9460118159397316);
        let mut r = PyRandom::new(0);
        assert_eq!([0; 5].map(|_| r.randbelow(1000)), [864, 394, 776, 911, 430]);
    }

    #[test]
    fn compensated_sum() {
        assert_eq!(py_sum(&[1e100, 1.0, -1e100]), 1.0);
        assert_eq!(py_sum(&[0.1, 0.2, 0.3]), 0.6);
    }

    #[test]
    fn properties_and_tar() {
        let p = parse_properties("A=\\u0041b\\u00e9\n  B.C=x=y  \n");
        assert_eq!(p["A"], ['A', 'b', 'é']);
        assert_eq!(p["B.C"], ['x', '=', 'y']);
        assert!(tar_members(&[0u8; 1024]).expect("empty archive").is_empty());
    }
}
