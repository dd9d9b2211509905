//! Byte-pair merging of one pre-token: always merge the adjacent pair of lowest rank, leftmost first.
//!
//! tiktoken rescans every pair after each merge (quadratic in the piece length). Pieces
//! up to [`SMALL_PIECE`] bytes (nearly all words) do the same here, because a linear scan
//! of a few entries beats any heap; longer pieces use a heap of candidate pairs with lazy
//! invalidation, which gives the same merge order in O(n log n), so a megabyte-long
//! "word" costs milliseconds, not minutes. The order is identical because ties are broken
//! by position, as tiktoken, llama.cpp and Hugging Face do.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hasher};

use super::table::TokenTable;

/// Pieces up to this many bytes merge by rescanning (see the module comment).
const SMALL_PIECE: usize = 128;

/// A small multiplicative hasher (FxHash): the keys are token bytes and id pairs, and
/// SipHash would double the cost of encoding.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct FxBuild;

pub(crate) struct Fx(u64);

impl Fx {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    #[inline]
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply only carries entropy upwards; hashbrown indexes by the low bits,
        // so rotate the well-mixed high bits down (as rustc-hash 2 does).
        self.0.rotate_left(26)
    }
}

impl BuildHasher for FxBuild {
    type Hasher = Fx;
    fn build_hasher(&self) -> Fx {
        Fx(0)
    }
}

/// Token bytes -> id.
pub(crate) type ByteMap = HashMap<Box<[u8]>, u32, FxBuild>;
/// (left symbol, right symbol) packed in a u64 -> (rank, merged symbol).
pub(crate) type PairMap = HashMap<u64, (u32, u32), FxBuild>;

#[inline]
pub(crate) fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

/// How two adjacent symbols merge.
#[derive(Debug)]
pub(crate) enum MergeRule {
    /// tiktoken: any pair whose concatenated bytes are a token merges, rank = that token's id.
    Ranks,
    /// A merges list (Hugging Face, GGUF): rank = position in the list.
    Pairs(PairMap),
}

/// Everything needed to turn one pre-token into ids.
#[derive(Debug)]
pub(crate) struct BpeModel {
    /// The symbol each single byte starts as (a real id, or a virtual one >= `n_real`).
    pub byte_sym: [u32; 256],
    /// Whole-token lookup: tiktoken's "piece is already a token" shortcut,
    /// `ignore_merges`, and the rank table of [`MergeRule::Ranks`].
    pub whole: TokenTable,
    pub rule: MergeRule,
    /// Look the whole piece up before merging (tiktoken always; HF/llama.cpp `ignore_merges`).
    pub ignore_merges: bool,
    /// Ids below this are vocabulary tokens; above are virtual symbols (merge results or
    /// bytes missing from a malformed vocabulary).
    pub n_real: u32,
    /// What each virtual symbol emits if it survives merging, indexed by `id - n_real`.
    pub virtual_emit: Vec<Vec<u32>>,
}

const NONE: u32 = u32::MAX;

/// One symbol of the piece being merged, stored at the index of its first byte (so its
/// end is `next`): its id, the merge with its right neighbour (`rank == NONE`: none,
/// also for symbols merged away), and its neighbours' indices. Index `n` is a sentinel.
#[derive(Clone, Copy)]
struct Part {
    id: u32,
    rank: u32,
    merged: u32,
    prev: u32,
    next: u32,
}

/// Reusable buffers for [`BpeModel::encode_piece`].
#[derive(Default)]
pub(crate) struct BpeScratch {
    parts: Vec<Part>,
    /// Candidate merges `rank << 32 | index`, lowest first (ties: leftmost first).
    heap: BinaryHeap<Reverse<u64>>,
}

impl BpeModel {
    /// Appends the ids of one pre-token to `out`.
    pub fn encode_piece(&self, piece: &[u8], scratch: &mut BpeScratch, out: &mut Vec<u32>) {
        if piece.is_empty() {
            return;
        }
        if piece.len() == 1 {
            self.emit(self.byte_sym[piece[0] as usize], out);
            return;
        }
        if self.ignore_merges
            && let Some(id) = self.whole.get(piece)
        {
            out.push(id);
            return;
        }
        // Indices are u32; pieces that long cannot come from one `&str` we accept in
        // practice, so split them rather than overflow.
        if piece.len() > (u32::MAX / 2) as usize {
            let (a, b) = piece.split_at(piece.len() / 2);
            self.encode_piece(a, scratch, out);
            self.encode_piece(b, scratch, out);
            return;
        }
        if piece.len() <= SMALL_PIECE {
            self.merge_small(piece, &mut scratch.parts);
        } else {
            self.merge_heap(piece, scratch);
        }
        let parts = &scratch.parts;
        let mut i = 0;
        while (i as usize) < piece.len() {
            self.emit(parts[i as usize].id, out);
            i = parts[i as usize].next;
        }
    }

    fn emit(&self, id: u32, out: &mut Vec<u32>) {
        if id < self.n_real {
            out.push(id);
        } else if let Some(ids) = self.virtual_emit.get((id - self.n_real) as usize) {
            out.extend_from_slice(ids);
        }
    }

    /// One symbol per byte, each ranked with its right neighbour.
    #[inline]
    fn init_parts(&self, piece: &[u8], parts: &mut Vec<Part>) {
        parts.clear();
        let n = piece.len() as u32;
        for (i, &b) in (0..n).zip(piece) {
            let id = self.byte_sym[b as usize];
            parts.push(Part { id, rank: NONE, merged: NONE, prev: i.wrapping_sub(1), next: i + 1 });
        }
        parts.push(Part { id: NONE, rank: NONE, merged: NONE, prev: n - 1, next: NONE });
        if let MergeRule::Ranks = self.rule {
            // The first pairs are byte pairs: one direct table load each.
            for (p, w) in parts.iter_mut().zip(piece.windows(2)) {
                if let Some(id) = self.whole.get_two(w[0], w[1]) {
                    (p.rank, p.merged) = (id, id);
                }
            }
        } else {
            for i in 0..n - 1 {
                self.rank_part(piece, parts, i);
            }
        }
    }

    /// Sets the merge candidate of symbol `i` with its right neighbour.
    #[inline]
    fn rank_part(&self, piece: &[u8], parts: &mut [Part], i: u32) {
        let l = parts[i as usize];
        let r = parts[l.next as usize];
        let (rank, merged) = if r.next == NONE {
            (NONE, NONE)
        } else {
            let candidate = match &self.rule {
                MergeRule::Ranks => self.whole.get_range(piece, i as usize, r.next as usize).map(|id| (id, id)),
                MergeRule::Pairs(map) => map.get(&pair_key(l.id, r.id)).copied(),
            };
            candidate.unwrap_or((NONE, NONE))
        };
        parts[i as usize].rank = rank;
        parts[i as usize].merged = merged;
    }

    /// Merges symbol `at` with its right neighbour and re-ranks the pairs that changed;
    /// returns the left neighbour (`NONE` if none).
    #[inline]
    fn merge_at(&self, piece: &[u8], parts: &mut [Part], at: u32) -> u32 {
        let right = parts[at as usize].next;
        let after = parts[right as usize].next;
        parts[right as usize].rank = NONE;
        parts[after as usize].prev = at;
        let p = &mut parts[at as usize];
        (p.id, p.next) = (p.merged, after);
        let prev = p.prev;
        self.rank_part(piece, parts, at);
        if prev != NONE {
            self.rank_part(piece, parts, prev);
        }
        prev
    }

    /// tiktoken's `_byte_pair_merge`: find the lowest-ranked pair (leftmost on ties) by
    /// scanning, merge it, repeat. Merged-away symbols stay in place with no rank
    /// (unlinking beats shifting the array).
    #[inline]
    fn merge_small(&self, piece: &[u8], parts: &mut Vec<Part>) {
        self.init_parts(piece, parts);
        loop {
            // Lowest rank, then lowest index: one branch-free minimum over (rank, index).
            let best = (0..).zip(parts.iter()).map(|(i, p)| (u64::from(p.rank) << 32) | i).min().unwrap_or(u64::MAX);
            if (best >> 32) as u32 == NONE {
                break;
            }
            self.merge_at(piece, parts, best as u32);
        }
    }

    /// The same merges in O(n log n): candidates wait in a heap and are dropped when
    /// popped if their symbol's rank has changed since (a pair's rank names the pair).
    fn merge_heap(&self, piece: &[u8], scratch: &mut BpeScratch) {
        let BpeScratch { parts, heap } = scratch;
        self.init_parts(piece, parts);
        heap.clear();
        let key = |p: &Part, i: u32| Reverse((u64::from(p.rank) << 32) | u64::from(i));
        heap.extend((0..).zip(parts.iter()).filter(|(_, p)| p.rank != NONE).map(|(i, p)| key(p, i)));
        while let Some(Reverse(k)) = heap.pop() {
            let at = k as u32;
            if parts[at as usize].rank != (k >> 32) as u32 {
                continue;
            }
            let prev = self.merge_at(piece, parts, at);
            for i in [at, prev] {
                if let Some(p) = parts.get(i as usize).filter(|p| p.rank != NONE) {
                    heap.push(key(p, i));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny tiktoken-style model over bytes `a`, `b`, `c`.
    fn ranks_model(tokens: &[&[u8]]) -> BpeModel {
        let mut map = ByteMap::default();
        for (i, t) in tokens.iter().enumerate() {
            map.insert((*t).into(), i as u32);
        }
        let whole = TokenTable::new(&map);
        let mut byte_sym = [u32::MAX; 256];
        for b in 0..=255u8 {
            if let Some(id) = whole.get(&[b][..]) {
                byte_sym[b as usize] = id;
            }
        }
        BpeModel {
            byte_sym,
            whole,
            rule: MergeRule::Ranks,
            ignore_merges: true,
            n_real: tokens.len() as u32,
            virtual_emit: Vec::new(),
        }
    }

    /// tiktoken's `_byte_pair_merge`, quadratic and obviously right.
    fn reference(model: &BpeModel, piece: &[u8]) -> Vec<u32> {
        if let Some(id) = model.whole.get(piece) {
            return vec![id];
        }
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
        loop {
            let mut best: Option<(u32, usize)> = None;
            for i in 0..parts.len().saturating_sub(1) {
                let cat = [parts[i].clone(), parts[i + 1].clone()].concat();
                if let Some(r) = model.whole.get(&cat[..])
                    && best.is_none_or(|(br, _)| r < br)
                {
                    best = Some((r, i));
                }
            }
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend(right);
        }
        parts.iter().map(|p| model.whole.get(p).expect("a token")).collect()
    }

    #[test]
    fn heap_order_matches_rescanning() {
        let tokens: Vec<&[u8]> = vec![
            b"a", b"b", b"c", b"ab", b"bc", b"aa", b"ca", b"abc", b"aab", b"bca", b"cab", b"aaa", b"bb", b"abab",
            b"cc", b"bcc", b"aaaa",
        ];
        let ranks = ranks_model(&tokens);
        let pairs = pairs_model(&tokens);
        let mut scratch = BpeScratch::default();
        let mut state = 7u64;
        for _ in 0..20_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = 2 + (state >> 60) as usize;
            let piece: Vec<u8> = (0..len).map(|k| b"abc"[((state >> (k * 3 % 57)) % 3) as usize]).collect();
            let want = reference(&ranks, &piece);
            let show = String::from_utf8_lossy(&piece);
            for (name, model) in [("ranks", &ranks), ("pairs", &pairs)] {
                let mut got = Vec::new();
                model.encode_piece(&piece, &mut scratch, &mut got);
                assert_eq!(got, want, "{name} encode_piece {show:?}");
                if model.whole.get(&piece).is_some() {
                    continue; // both merge paths below assume the whole-piece check failed
                }
                model.merge_small(&piece, &mut scratch.parts);
                assert_eq!(survivors(model, &scratch.parts), want, "{name} merge_small {show:?}");
                model.merge_heap(&piece, &mut scratch);
                assert_eq!(survivors(model, &scratch.parts), want, "{name} merge_heap {show:?}");
            }
        }
    }

    /// The ids left after merging, in order.
    fn survivors(model: &BpeModel, parts: &[Part]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = 0;
        while i + 1 < parts.len() {
            model.emit(parts[i].id, &mut out);
            i = parts[i].next as usize;
        }
        out
    }

    /// The same merges as [`ranks_model`], spelled as a merges list (Hugging Face, GGUF):
    /// every split of a token into two tokens is a pair with the token's rank.
    fn pairs_model(tokens: &[&[u8]]) -> BpeModel {
        let mut model = ranks_model(tokens);
        let mut map = PairMap::default();
        for (id, t) in tokens.iter().enumerate() {
            for k in 1..t.len() {
                if let (Some(a), Some(b)) = (model.whole.get(&t[..k]), model.whole.get(&t[k..])) {
                    map.insert(pair_key(a, b), (id as u32, id as u32));
                }
            }
        }
        model.rule = MergeRule::Pairs(map);
        model
    }

    #[test]
    fn long_piece_is_fast_and_complete() {
        let model = ranks_model(&[b"a", b"aa", b"aaaa"]);
        let mut scratch = BpeScratch::default();
        let mut out = Vec::new();
        model.encode_piece(&vec![b'a'; 1_000_001], &mut scratch, &mut out);
        assert_eq!(out.len(), 250_001);
        assert_eq!(out.last(), Some(&0));
    }
}
