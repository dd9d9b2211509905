//! The 64-bit hashes of contamination analysis: token n-grams (stored in index files) and byte anchors.
//!
//! `ngram_hash` is part of the index file format (hash id 1): changing it means a new
//! hash id. It is wyhash-style folding (the 128-bit product of two 64-bit words, its
//! halves xored), four token ids per fold, with the length mixed in. Analyses on a
//! streamed corpus compare the ids of every hash hit and are exact; an index stores
//! only hashes, so a benchmark n-gram is reported as present when its hash is. For B
//! distinct benchmark n-grams and C distinct corpus n-grams the expected number of
//! false hits is about B·C / 2^64: 1e6 benchmark n-grams against 1e12 corpus n-grams
//! give 0.05 wrongly marked n-grams.

// wyhash's default secrets (odd, with balanced bits).
const S0: u64 = 0xa076_1d64_78bd_642f;
const S1: u64 = 0xe703_7ed1_a0b4_28db;
const S2: u64 = 0x8ebc_6af0_9c88_c6e3;
const S3: u64 = 0x5899_65cc_7537_4cc3;

/// The id of `ngram_hash` in index file headers.
pub const NGRAM_HASH_ID: u32 = 1;

#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline]
fn pair(a: u32, b: u32) -> u64 {
    a as u64 | (b as u64) << 32
}

/// The hash of one n-gram of token ids (index file hash id 1).
///
/// A trailing group of fewer than four ids is padded with `u32::MAX`, which no
/// tokenizer id reaches (vocabularies are capped at 2^24), and the length is mixed in
/// first and last, so n-grams of different lengths never share a padded form.
#[inline]
pub fn ngram_hash(ids: &[u32]) -> u64 {
    let len = ids.len() as u64;
    let mut h = S0 ^ len;
    let mut quads = ids.chunks_exact(4);
    for q in &mut quads {
        h = mum(pair(q[0], q[1]) ^ S1, pair(q[2], q[3]) ^ h ^ S2);
    }
    let rest = quads.remainder();
    if !rest.is_empty() {
        let at = |i: usize| rest.get(i).copied().unwrap_or(u32::MAX);
        h = mum(pair(at(0), at(1)) ^ S1, pair(at(2), at(3)) ^ h ^ S2);
    }
    mum(h ^ S3, len ^ S1)
}

/// Reads 8 bytes little-endian at `at` (the caller guarantees `at + 8 <= b.len()`;
/// out of range reads give 0 rather than a panic).
#[inline]
pub(crate) fn word(b: &[u8], at: usize) -> u64 {
    match b.get(at..at + 8) {
        Some(s) => {
            let mut w = [0u8; 8];
            w.copy_from_slice(s);
            u64::from_le_bytes(w)
        }
        None => 0,
    }
}

/// A cheap mix of one 8-byte word, for the prefilter's first-stage bitmap.
#[inline]
pub(crate) fn word_mix(w: u64) -> u64 {
    mum(w ^ S1, S2)
}

/// The hash of a byte anchor (`bytes.len()` a multiple of 8, at most 32).
#[inline]
pub(crate) fn anchor_hash(bytes: &[u8]) -> u64 {
    let mut h = S0 ^ bytes.len() as u64;
    let mut at = 0;
    while at + 16 <= bytes.len() {
        h = mum(word(bytes, at) ^ S1, word(bytes, at + 8) ^ h ^ S2);
        at += 16;
    }
    if at < bytes.len() {
        h = mum(word(bytes, at) ^ S1, h ^ S3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_hash_is_pinned() {
        // Index files store these values: a change here is a new index format.
        assert_eq!(ngram_hash(&[1, 2, 3, 4, 5, 6, 7, 8]), PINNED_8);
        assert_eq!(ngram_hash(&[128000, 9906, 1917]), PINNED_3);
    }

    const PINNED_8: u64 = 12748469081633695324;
    const PINNED_3: u64 = 6252178652845382471;

    #[test]
    fn ngram_hash_separates_lengths_padding_and_order() {
        let a = ngram_hash(&[1, 2, 3]);
        assert_ne!(a, ngram_hash(&[1, 2, 3, u32::MAX]));
        assert_ne!(a, ngram_hash(&[3, 2, 1]));
        assert_ne!(ngram_hash(&[]), ngram_hash(&[0]));
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000u32 {
            assert!(seen.insert(ngram_hash(&[i, i / 7, 5, 6, 7, 8, 9, i % 13])));
        }
    }

    #[test]
    fn anchor_hash_depends_on_every_byte() {
        let base = [7u8; 32];
        let h = anchor_hash(&base);
        for i in 0..32 {
            let mut b = base;
            b[i] ^= 1;
            assert_ne!(anchor_hash(&b), h, "byte {i}");
        }
        assert_ne!(anchor_hash(&base[..8]), anchor_hash(&base[..16]));
    }
}
