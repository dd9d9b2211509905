//! A byte-level prefilter: documents that cannot hold any benchmark n-gram are not tokenized.
//!
//! When a tokenizer is byte-faithful (the bytes of a text's tokens, concatenated, are
//! the text; true of byte-level BPE such as Llama 3's), a document whose tokens contain
//! an n-gram also contains the n-gram's bytes as a substring. The prefilter keeps, for
//! every benchmark n-gram, one anchor: 8, 16 or 32 bytes (the longest that fits) from
//! the middle of the n-gram's bytes, and scans each document for them: one 8-byte load,
//! multiply and bitmap probe per byte position. Documents without an anchor are
//! skipped: they contain no benchmark n-gram, so the result is the same as tokenizing
//! them. Anchor hash collisions only cost a needless tokenization.
//!
//! When nearly every document holds an anchor (a code benchmark against a code corpus,
//! where common lines are benchmark n-grams), scanning only adds work: after
//! `TRIAL_BYTES` of text the prefilter turns itself off unless it skipped at least
//! `MIN_SKIP` of them.

use super::bench::{GramTable, IdMap};
use super::hash::{anchor_hash, word, word_mix};
use herd_llama::tokenizer::Tokenizer;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Text scanned before the prefilter judges whether it pays.
const TRIAL_BYTES: u64 = 8 << 20;
/// Share of the scanned text it must skip to stay on.
const MIN_SKIP: f64 = 0.25;

/// Anchor lengths, longest first.
const CLASSES: [usize; 3] = [32, 16, 8];

/// Why the prefilter cannot be used for a benchmark set.
#[derive(Debug, Clone, PartialEq)]
pub enum Unusable {
    /// An n-gram's bytes are shorter than 8 (possible with `--n` below 8).
    ShortGram,
    /// A benchmark example's tokens do not spell its text byte for byte.
    NotFaithful { id: String },
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::ShortGram => write!(f, "an n-gram spans fewer than 8 bytes"),
            Unusable::NotFaithful { id } => {
                write!(f, "the tokenizer does not reproduce example {id:?} byte for byte")
            }
        }
    }
}

#[derive(Debug)]
pub struct Prefilter {
    /// First-stage bitmap over `word_mix` of an anchor's first 8 bytes.
    bitmap: Vec<u64>,
    mask: u64,
    /// Full anchor hashes (the value is unused).
    anchors: IdMap<()>,
    /// Which of `CLASSES` occur.
    classes: [bool; 3],
    /// Text bytes scanned and skipped, across workers.
    scanned: AtomicU64,
    skipped: AtomicU64,
    active: AtomicBool,
}

/// Whether the concatenated bytes of `ids` are exactly `text`.
pub fn faithful(tok: &Tokenizer, ids: &[u32], text: &[u8]) -> bool {
    let mut at = 0;
    for &id in ids {
        let b = tok.token_bytes(id);
        if text.get(at..at + b.len()) != Some(b) {
            return false;
        }
        at += b.len();
    }
    at == text.len()
}

impl Prefilter {
    /// Anchors for every n-gram of `table`. `examples` (id, text, ids) must all be
    /// byte-faithful, the evidence that the tokenizer is.
    pub fn build<'a>(
        tok: &Tokenizer,
        table: &GramTable,
        examples: impl Iterator<Item = (&'a str, &'a str, &'a [u32])>,
    ) -> Result<Prefilter, Unusable> {
        for (id, text, ids) in examples {
            if !faithful(tok, ids, text.as_bytes()) {
                return Err(Unusable::NotFaithful { id: id.to_string() });
            }
        }
        let bits = (table.len().max(1) * 16).next_power_of_two().clamp(1 << 16, 1 << 26);
        let mut p = Prefilter {
            bitmap: vec![0; bits / 64],
            mask: bits as u64 - 1,
            anchors: IdMap::default(),
            classes: [false; 3],
            scanned: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            active: AtomicBool::new(true),
        };
        let mut bytes = Vec::new();
        for g in 0..table.len() as u32 {
            bytes.clear();
            for &id in table.gram(g) {
                bytes.extend_from_slice(tok.token_bytes(id));
            }
            let (c, k) = CLASSES.iter().enumerate().find(|(_, k)| **k <= bytes.len()).ok_or(Unusable::ShortGram)?;
            let start = (bytes.len() - k) / 2;
            let anchor = &bytes[start..start + k];
            p.classes[c] = true;
            let bit = word_mix(word(anchor, 0)) & p.mask;
            p.bitmap[(bit / 64) as usize] |= 1 << (bit % 64);
            p.anchors.insert(anchor_hash(anchor), ());
        }
        Ok(p)
    }

    /// Whether the prefilter still skips documents (it turns itself off when it does not pay).
    pub fn is_active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Whether `doc` must be tokenized: it holds an anchor, or the prefilter is off.
    pub fn needs_tokens(&self, doc: &[u8]) -> bool {
        if !self.active.load(Ordering::Relaxed) {
            return true;
        }
        let hit = self.hit(doc);
        let len = doc.len() as u64;
        let scanned = self.scanned.fetch_add(len, Ordering::Relaxed) + len;
        let skipped = if hit {
            self.skipped.load(Ordering::Relaxed)
        } else {
            self.skipped.fetch_add(len, Ordering::Relaxed) + len
        };
        if scanned >= TRIAL_BYTES && (skipped as f64) < MIN_SKIP * scanned as f64 {
            self.active.store(false, Ordering::Relaxed);
        }
        hit
    }

    /// What the prefilter did: the share of text it skipped, or that it stopped.
    pub fn outcome(&self) -> String {
        let (scanned, skipped) = (self.scanned.load(Ordering::Relaxed), self.skipped.load(Ordering::Relaxed));
        let pct = 100.0 * skipped as f64 / scanned.max(1) as f64;
        if self.active.load(Ordering::Relaxed) {
            format!("on: skipped {pct:.1}% of the text")
        } else {
            format!("stopped after {:.1} MB: it skipped only {pct:.1}% of them", scanned as f64 / 1e6)
        }
    }

    /// Whether `doc` contains any anchor (then it must be tokenized).
    pub fn hit(&self, doc: &[u8]) -> bool {
        if doc.len() < 8 {
            return false;
        }
        for i in 0..=doc.len() - 8 {
            let bit = word_mix(word(doc, i)) & self.mask;
            if self.bitmap[(bit / 64) as usize] & (1 << (bit % 64)) == 0 {
                continue;
            }
            for (c, &k) in CLASSES.iter().enumerate() {
                if self.classes[c] && i + k <= doc.len() && self.anchors.contains_key(&anchor_hash(&doc[i..i + k])) {
                    return true;
                }
            }
        }
        false
    }
}
