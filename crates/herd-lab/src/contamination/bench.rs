//! The benchmark side: examples read from JSONL, tokenized, and the table of their distinct n-grams.

use super::hash::ngram_hash;
use crate::error::LabError;
use herd_llama::tokenizer::Tokenizer;
use rayon::prelude::*;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

/// A benchmark example: its id and its tokens (no BOS).
#[derive(Debug, Clone)]
pub struct Example {
    /// Index of the benchmark it belongs to (the order of `--bench`).
    pub bench: usize,
    pub id: String,
    pub text: String,
    /// [tokens]
    pub ids: Vec<u32>,
}

/// A benchmark: a name (the file stem) and its examples.
#[derive(Debug, Clone)]
pub struct Benchmark {
    pub name: String,
    pub examples: Vec<Example>,
}

/// Reads a benchmark file: JSONL, one object per line with a string `text` and an
/// `id` (string or number; ids must be unique). Blank lines are skipped.
pub fn read_bench_file(path: &Path, bench: usize) -> Result<Benchmark, LabError> {
    let data = std::fs::read(path).map_err(|e| LabError::Io { path: path.to_path_buf(), err: e })?;
    let shown = path.display().to_string();
    let bad = |line: usize, msg: String| LabError::Data { path: shown.clone(), line, msg };
    let mut examples = Vec::new();
    let mut seen = HashMap::new();
    for (i, line) in data.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_slice(line).map_err(|e| bad(i + 1, format!("not a JSON object: {e}")))?;
        let text = match v.get("text") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ => return Err(bad(i + 1, "expected a string field \"text\"".into())),
        };
        let id = match v.get("id") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(bad(i + 1, "expected a field \"id\" (a string or a number)".into())),
        };
        if let Some(first) = seen.insert(id.clone(), i + 1) {
            return Err(bad(i + 1, format!("id {id:?} already used on line {first}")));
        }
        examples.push(Example { bench, id, text, ids: Vec::new() });
    }
    let name = path.file_stem().map_or_else(|| shown.clone(), |s| s.to_string_lossy().into_owned());
    Ok(Benchmark { name, examples })
}

/// Tokenizes every example (plain text: special-token text is not a control token).
pub fn tokenize(benches: &mut [Benchmark], tok: &Tokenizer) {
    for b in benches {
        b.examples.par_iter_mut().for_each(|e| e.ids = tok.encode(&e.text, false));
    }
}

/// A hasher for keys that already are uniform 64-bit hashes.
#[derive(Debug, Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are used; fold anything else so the hasher stays total.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

const NONE: u32 = u32::MAX;

/// The distinct n-grams of all benchmark examples, and for every example the n-gram
/// that starts at each of its positions.
#[derive(Debug)]
pub struct GramTable {
    pub n: usize,
    /// [grams × n] token ids of each distinct n-gram.
    tokens: Vec<u32>,
    /// [grams] hash of each n-gram.
    hashes: Vec<u64>,
    /// hash → first gram with that hash.
    first: IdMap<u32>,
    /// [grams] next gram with the same hash (`NONE` ends the chain); exact lookups
    /// survive 64-bit collisions between benchmark n-grams.
    next: Vec<u32>,
    /// Per example (in the order of `examples()`), the gram id at each start position.
    starts: Vec<Vec<u32>>,
}

impl GramTable {
    /// Builds the table from the examples of all benchmarks, in order. An n-gram lies
    /// inside one example: none spans two.
    pub fn build(benches: &[Benchmark], n: usize) -> Result<Self, LabError> {
        if n == 0 {
            return Err(LabError::Invalid("n-gram length must be at least 1".into()));
        }
        let mut t = GramTable {
            n,
            tokens: Vec::new(),
            hashes: Vec::new(),
            first: IdMap::default(),
            next: Vec::new(),
            starts: Vec::new(),
        };
        for e in benches.iter().flat_map(|b| &b.examples) {
            let mut starts = Vec::with_capacity(e.ids.len().saturating_sub(n - 1));
            for w in e.ids.windows(n) {
                starts.push(t.intern(w)?);
            }
            t.starts.push(starts);
        }
        Ok(t)
    }

    fn intern(&mut self, w: &[u32]) -> Result<u32, LabError> {
        let h = ngram_hash(w);
        if let Some(g) = self.find(h, w) {
            return Ok(g);
        }
        let g = u32::try_from(self.hashes.len())
            .ok()
            .filter(|&g| g != NONE)
            .ok_or_else(|| LabError::Invalid("more than 2^32 - 1 distinct benchmark n-grams".into()))?;
        let prev = self.first.insert(h, g).unwrap_or(NONE);
        self.next.push(prev);
        self.hashes.push(h);
        self.tokens.extend_from_slice(w);
        Ok(g)
    }

    /// The gram with hash `h` and ids `w`, if the benchmarks have it.
    #[inline]
    pub fn find(&self, h: u64, w: &[u32]) -> Option<u32> {
        let mut g = *self.first.get(&h)?;
        while g != NONE {
            if self.gram(g) == w {
                return Some(g);
            }
            g = self.next.get(g as usize).copied().unwrap_or(NONE);
        }
        None
    }

    /// The ids of gram `g` (empty when out of range).
    pub fn gram(&self, g: u32) -> &[u32] {
        let at = g as usize * self.n;
        self.tokens.get(at..at + self.n).unwrap_or(&[])
    }

    /// Number of distinct n-grams.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Hash of every distinct n-gram, by gram id.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// Per-token marks of example `k` (in table order): a token is marked when it lies
    /// in an n-gram whose bit is set in `hits`.
    pub fn marks(&self, k: usize, n_tokens: usize, hits: &HitSet) -> Vec<bool> {
        let mut m = vec![false; n_tokens];
        if let Some(starts) = self.starts.get(k) {
            for (p, &g) in starts.iter().enumerate() {
                if hits.get(g) {
                    for x in m.iter_mut().skip(p).take(self.n) {
                        *x = true;
                    }
                }
            }
        }
        m
    }
}

/// One bit per benchmark n-gram: whether the corpus has it.
#[derive(Debug, Clone)]
pub struct HitSet {
    bits: Vec<u64>,
}

impl HitSet {
    pub fn new(grams: usize) -> Self {
        HitSet { bits: vec![0; grams.div_ceil(64)] }
    }

    #[inline]
    pub fn set(&mut self, g: u32) {
        if let Some(w) = self.bits.get_mut(g as usize / 64) {
            *w |= 1 << (g % 64);
        }
    }

    #[inline]
    pub fn get(&self, g: u32) -> bool {
        self.bits.get(g as usize / 64).is_some_and(|w| w & (1 << (g % 64)) != 0)
    }

    /// Adds the hits of `other` (same table).
    pub fn union(&mut self, other: &HitSet) {
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
    }

    pub fn count(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }
}
