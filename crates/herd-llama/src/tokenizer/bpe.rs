//! Byte-pair merging of one pre-token: always merge the adjacent pair of lowest rank, leftmost first.
//!
//! tiktoken rescans every pair after each merge (quadratic in the piece length); here a
//! heap of candidate pairs with lazy invalidation gives the same merge order in
//! O(n log n), so a megabyte-long "word" costs milliseconds, not minutes. The order is
//! identical because ties are broken by position, as tiktoken, llama.cpp and Hugging Face do.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasher, Hasher};

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
    pub whole: ByteMap,
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

#[derive(Clone, Copy)]
struct Sym {
    start: u32,
    end: u32,
    id: u32,
    prev: u32,
    next: u32,
}

/// A candidate merge: (rank, start byte of the left symbol, left index, left id,
/// right id, merged id). Min-ordered by rank, then position.
type Candidate = Reverse<(u32, u32, u32, u32, u32, u32)>;

/// Reusable buffers for [`BpeModel::encode_piece`].
#[derive(Default)]
pub(crate) struct BpeScratch {
    syms: Vec<Sym>,
    heap: BinaryHeap<Candidate>,
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
            && let Some(&id) = self.whole.get(piece)
        {
            out.push(id);
            return;
        }
        // Pieces longer than u32 offsets cannot come from one `&str` we accept in practice;
        // split them rather than overflow.
        if piece.len() > (u32::MAX / 2) as usize {
            let (a, b) = piece.split_at(piece.len() / 2);
            self.encode_piece(a, scratch, out);
            self.encode_piece(b, scratch, out);
            return;
        }
        self.merge(piece, scratch);
        let mut i = 0;
        while i != NONE {
            let s = scratch.syms[i as usize];
            self.emit(s.id, out);
            i = s.next;
        }
    }

    fn emit(&self, id: u32, out: &mut Vec<u32>) {
        if id < self.n_real {
            out.push(id);
        } else if let Some(ids) = self.virtual_emit.get((id - self.n_real) as usize) {
            out.extend_from_slice(ids);
        }
    }

    fn lookup(&self, piece: &[u8], left: &Sym, right: &Sym) -> Option<(u32, u32)> {
        match &self.rule {
            MergeRule::Ranks => self.whole.get(&piece[left.start as usize..right.end as usize]).map(|&id| (id, id)),
            MergeRule::Pairs(map) => map.get(&pair_key(left.id, right.id)).copied(),
        }
    }

    fn push_pair(&self, piece: &[u8], scratch: &mut BpeScratch, left: u32) {
        if left == NONE {
            return;
        }
        let l = scratch.syms[left as usize];
        if l.next == NONE {
            return;
        }
        let r = scratch.syms[l.next as usize];
        if let Some((rank, merged)) = self.lookup(piece, &l, &r) {
            scratch.heap.push(Reverse((rank, l.start, left, l.id, r.id, merged)));
        }
    }

    /// Runs the merges; the surviving symbols are a linked list from index 0.
    fn merge(&self, piece: &[u8], scratch: &mut BpeScratch) {
        scratch.syms.clear();
        scratch.heap.clear();
        let n = piece.len() as u32;
        for (i, &b) in piece.iter().enumerate() {
            let i = i as u32;
            scratch.syms.push(Sym {
                start: i,
                end: i + 1,
                id: self.byte_sym[b as usize],
                prev: if i == 0 { NONE } else { i - 1 },
                next: if i + 1 == n { NONE } else { i + 1 },
            });
        }
        for i in 0..n - 1 {
            self.push_pair(piece, scratch, i);
        }
        while let Some(Reverse((_, _, left, left_id, right_id, merged))) = scratch.heap.pop() {
            let l = scratch.syms[left as usize];
            // A pair is stale once either side has changed: the left symbol only changes
            // by absorbing its right neighbour, which changes its id.
            if l.id != left_id || l.next == NONE {
                continue;
            }
            let r = scratch.syms[l.next as usize];
            if r.id != right_id {
                continue;
            }
            let right = l.next;
            scratch.syms[left as usize].id = merged;
            scratch.syms[left as usize].end = r.end;
            scratch.syms[left as usize].next = r.next;
            if r.next != NONE {
                scratch.syms[r.next as usize].prev = left;
            }
            // Mark the absorbed symbol dead so no stale pair can match its id again.
            scratch.syms[right as usize].id = NONE;
            self.push_pair(piece, scratch, l.prev);
            self.push_pair(piece, scratch, left);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny tiktoken-style model over bytes `a`, `b`, `c`.
    fn ranks_model(tokens: &[&[u8]]) -> BpeModel {
        let mut whole = ByteMap::default();
        for (i, t) in tokens.iter().enumerate() {
            whole.insert((*t).into(), i as u32);
        }
        let mut byte_sym = [u32::MAX; 256];
        for b in 0..=255u8 {
            if let Some(&id) = whole.get(&[b][..]) {
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
        if let Some(&id) = model.whole.get(piece) {
            return vec![id];
        }
        let mut parts: Vec<Vec<u8>> = piece.iter().map(|&b| vec![b]).collect();
        loop {
            let mut best: Option<(u32, usize)> = None;
            for i in 0..parts.len().saturating_sub(1) {
                let cat = [parts[i].clone(), parts[i + 1].clone()].concat();
                if let Some(&r) = model.whole.get(&cat[..])
                    && best.is_none_or(|(br, _)| r < br)
                {
                    best = Some((r, i));
                }
            }
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].extend(right);
        }
        parts.iter().map(|p| model.whole[&p[..]]).collect()
    }

    #[test]
    fn heap_order_matches_rescanning() {
        let tokens: Vec<&[u8]> = vec![
            b"a", b"b", b"c", b"ab", b"bc", b"aa", b"ca", b"abc", b"aab", b"bca", b"cab", b"aaa", b"bb", b"abab",
            b"cc", b"bcc", b"aaaa",
        ];
        let model = ranks_model(&tokens);
        let mut scratch = BpeScratch::default();
        let mut state = 7u64;
        for _ in 0..20_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let len = 2 + (state >> 60) as usize;
            let piece: Vec<u8> = (0..len).map(|k| b"abc"[((state >> (k * 3 % 57)) % 3) as usize]).collect();
            let mut got = Vec::new();
            model.encode_piece(&piece, &mut scratch, &mut got);
            assert_eq!(got, reference(&model, &piece), "piece {:?}", String::from_utf8_lossy(&piece));
        }
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
