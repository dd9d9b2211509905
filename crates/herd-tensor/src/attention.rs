//! One query head attending over its KV-cache positions, with llama.cpp's rounding:
//! Q rounded to f16 against the f16 K cache, scores summed in tinyBLAS order for
//! multi-row batches and in vec_dot order for single rows, softmax with an f64 sum,
//! probabilities rounded to f16 against the f16 V cache in vec_dot order.
//!
//! The portable body (`attend_body`) is the reference and the fallback; `mul_add` is a
//! fused multiply-add there too (a slow, but exact, library call without FMA). The fast
//! kernels, AVX2 and AVX-512 (two of the AVX2 kernel's 8-lane vectors a register), do
//! the same operations lane for lane, so all give the same bits.

use crate::ops::softmax_f64_sum;
use crate::simd::{dot_ggml_f16_order, dot_portable, ggml_f16_lane, reduce_ggml_f16_lanes};
use half::f16;
use half::slice::HalfFloatSliceExt;

/// One head's view of a paged KV cache. Blocks of `1 << block_shift` positions, the
/// same geometry for K and V: block `b` of the layer holds `stride << block_shift`
/// values of each, from `base + b * block_size`.
/// - K block: position-major, `[position][stride channels]`, so a position's K vector
///   (the head's `hd` channels from `channel`) is contiguous for the score dot.
/// - V block: channel-major, `[stride channels][positions]`, as llama.cpp keeps its V
///   cache transposed: a channel's values for the block's positions are contiguous,
///   so the probabilities·V product runs along positions, eight at a time, in exactly
///   the lanes of ggml's f16 dot (lane = position mod 32), with no gathering.
#[derive(Debug, Clone, Copy)]
pub struct HeadView<'a> {
    pub k: &'a [f16],
    pub v: &'a [f16],
    /// Offset of the layer's block 0 in `k` and `v`.
    pub base: usize,
    /// The head's first channel among a position's `stride` channels.
    pub channel: usize,
    /// Channels of one position (every KV head's).
    pub stride: usize,
    /// Values from one block's start to the next's, at least `stride << block_shift`.
    /// A padding of a cache line matters: V is read one channel at a time across the
    /// blocks, and with blocks a multiple of 4 KiB apart those reads all fall in one
    /// set of the L1 cache, which holds 8 of them.
    pub block_size: usize,
    /// The cache blocks holding positions `0..len` in order: position `t` is entry
    /// `t % block_len` of block `blocks[t / block_len]`, `block_len = 1 << block_shift`,
    /// a multiple of 32 (ggml's f16 lanes then line up with the blocks).
    pub blocks: &'a [u32],
    pub block_shift: u32,
    /// Positions 0..len are attended (causal: len = position + 1).
    pub len: usize,
    pub scale: f32,
    /// The batch has more than one row (llama.cpp then sums scores in another order).
    pub multi_row: bool,
}

impl<'a> HeadView<'a> {
    /// Offset of block `blocks[t >> block_shift]` (its first value, K or V).
    #[inline(always)]
    fn block_start(&self, t: usize) -> usize {
        self.base + self.blocks[t >> self.block_shift] as usize * self.block_size
    }

    /// Where position `t`'s K vector starts in `k`.
    #[inline(always)]
    pub fn k_index(&self, t: usize) -> usize {
        self.block_start(t) + (t & ((1 << self.block_shift) - 1)) * self.stride + self.channel
    }

    /// Where channel `d` of the head at position `t` lies in `v`; positions of one block
    /// follow each other.
    #[inline(always)]
    pub fn v_index(&self, t: usize, d: usize) -> usize {
        self.block_start(t) + ((self.channel + d) << self.block_shift) + (t & ((1 << self.block_shift) - 1))
    }

    /// Whether the view is well formed for a head of `width` channels and every value
    /// of positions `0..len` lies inside `k` and `v` (each block used is checked
    /// whole, so a kernel may read a partial block's last 32 positions).
    fn in_bounds(&self, width: usize) -> bool {
        let sh = self.block_shift;
        if !(5..usize::BITS / 2).contains(&sh) || self.channel + width > self.stride {
            return false;
        }
        let n_blocks = self.len.div_ceil(1 << sh);
        if n_blocks > self.blocks.len() {
            return false;
        }
        let Some(block) = self.stride.checked_mul(1 << sh).filter(|b| *b <= self.block_size) else { return false };
        self.blocks[..n_blocks].iter().all(|&b| {
            let end =
                (b as usize).checked_mul(self.block_size).and_then(|x| x.checked_add(block)?.checked_add(self.base));
            end.is_some_and(|e| e <= self.k.len() && e <= self.v.len())
        })
    }
}

/// Per-thread buffers, reused across heads, layers and decode steps (they grow to
/// the longest context seen, then stay), so attention allocates nothing per token.
#[derive(Debug, Default, Clone)]
struct AttnScratch {
    scores: Vec<f32>,
    qh: Vec<f32>,
    /// `qh` with each 8-value slice twice (the AVX-512 prompt scores).
    #[cfg(target_arch = "x86_64")]
    qdup: Vec<f32>,
    buf: Vec<f32>,
    vacc: Vec<f32>,
    /// Per group of 32 positions, the offset of its first position's V values for
    /// channel 0 of the cache.
    #[cfg(target_arch = "x86_64")]
    groups: Vec<usize>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<AttnScratch> = std::cell::RefCell::new(AttnScratch::default());
}

/// `out = softmax(q·Kᵀ·scale)·V` for one head.
pub fn attend_head(q: &[f32], h: &HeadView<'_>, out: &mut [f32]) {
    attend_heads(q, q.len(), h, out)
}

/// [`attend_head`] for the query heads that share one KV head (grouped-query attention):
/// `q` and `out` hold `q.len() / head_dim` heads one after another, all attending over
/// `h`. Each head's result is the bits `attend_head` gives it alone; the fast kernels
/// convert each cached K and V row once for up to three heads instead of once a head.
pub fn attend_heads(q: &[f32], head_dim: usize, h: &HeadView<'_>, out: &mut [f32]) {
    assert!(head_dim > 0 && q.len().is_multiple_of(head_dim), "attention: q is not whole heads");
    assert_eq!(q.len(), out.len(), "attention: q and out differ in length");
    assert!(h.in_bounds(head_dim), "attention: the view is malformed or runs past the cache");
    SCRATCH.with_borrow_mut(|s| {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx2_fma() && head_dim.is_multiple_of(8) {
            // The 16-lane kernel holds two of ggml's 8-lane accumulators a register, so
            // it needs the head in whole groups of four vectors (every Llama head size).
            let wide = crate::simd::has_avx512() && head_dim.is_multiple_of(32);
            // SAFETY: the CPU supports AVX2, FMA and F16C, and AVX-512 F/BW/VL where
            // `wide` (checked at run time); the head size is whole vectors of either.
            unsafe { attend_simd(q, head_dim, h, s, out, wide) };
            return;
        }
        #[cfg(target_arch = "aarch64")]
        if head_dim.is_multiple_of(8) {
            for (qh, o) in q.chunks_exact(head_dim).zip(out.chunks_exact_mut(head_dim)) {
                // SAFETY: NEON is part of AArch64; the view is in bounds (asserted above)
                // and the head size a multiple of 8.
                unsafe { neon::attend(qh, h, s, o) }
            }
            return;
        }
        for (qh, o) in q.chunks_exact(head_dim).zip(out.chunks_exact_mut(head_dim)) {
            attend_body(qh, h, s, o)
        }
    })
}

/// `attend_body` in NEON vectors for AArch64, one head at a time: the scores' dots in
/// the decode row's order (ggml's 32 f16-dot lanes as eight 4-lane vectors, element
/// `32c + 4k + m` in vector `k`, lane `m`) or the prompt row's (eight lanes as two
/// vectors), each K run converted from f16 by `fcvtl`; softmax as the portable code;
/// then for each channel the block's 32 positions of V, contiguous in the cache, against
/// the rounded probabilities in the same lanes (position `32g + 4k + m`: vector `k`,
/// lane `m`). Every product and sum is `attend_body`'s, in its order: the same bits
/// (tested).
#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{AttnScratch, HeadView};
    use crate::ops::softmax_f64_sum;
    use crate::simd::neon::{f16x4, load_f32, load_u16x4, reduce_ggml_f16, reduce8, round_f16x4};
    use half::slice::HalfFloatSliceExt;
    use std::arch::aarch64::*;

    /// # Safety
    /// The view is in bounds for `q.len()` channels (`HeadView::in_bounds`), a multiple
    /// of 8.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn attend(q: &[f32], h: &HeadView<'_>, s: &mut AttnScratch, out: &mut [f32]) {
        let hd = q.len();
        let (k, v) = (h.k.reinterpret_cast(), h.v.reinterpret_cast());
        // The query and (below) the probabilities rounded through f16 four at a time
        // (hd and the padded scores are whole vectors).
        s.qh.clear();
        s.qh.resize(hd, 0.0);
        for (o, x) in s.qh.chunks_exact_mut(4).zip(q.chunks_exact(4)) {
            // SAFETY: `o` is 4 writable f32.
            unsafe { vst1q_f32(o.as_mut_ptr(), round_f16x4(load_f32(x))) };
        }
        let len = h.len;
        // Zero past `len` to whole groups of 32, which the V pass reads.
        s.scores.clear();
        s.scores.resize(len.next_multiple_of(32), 0.0);
        let zero = vdupq_n_f32(0.0);
        for t in 0..len {
            let kt = &k[h.k_index(t)..][..hd];
            let d = if h.multi_row {
                // `simd::dot_portable`: lane i % 8, then `reduce8` (no tail: hd % 8 == 0).
                let (mut lo, mut hi) = (zero, zero);
                for c in (0..hd).step_by(8) {
                    lo = vfmaq_f32(lo, f16x4(load_u16x4(&kt[c..])), load_f32(&s.qh[c..]));
                    hi = vfmaq_f32(hi, f16x4(load_u16x4(&kt[c + 4..])), load_f32(&s.qh[c + 4..]));
                }
                reduce8(lo, hi)
            } else {
                // `simd::dot_ggml_f16_order`: element i into ggml lane ((i / 8) % 4) * 8 +
                // i % 8, which for i = 32c + 4j + m is lane m of vector j.
                let mut acc = [zero; 8];
                for c in (0..hd).step_by(4) {
                    let j = (c / 4) % 8;
                    acc[j] = vfmaq_f32(acc[j], f16x4(load_u16x4(&kt[c..])), load_f32(&s.qh[c..]));
                }
                reduce_ggml_f16(&acc)
            };
            s.scores[t] = d * h.scale;
        }
        softmax_f64_sum(&mut s.scores[..len]);
        // The padding stays 0 (rounding 0 gives 0).
        for p in s.scores.chunks_exact_mut(4) {
            // SAFETY: `p` is 4 writable f32.
            unsafe { vst1q_f32(p.as_mut_ptr(), round_f16x4(load_f32(p))) };
        }
        let groups = len.div_ceil(32);
        for (d, o) in out.iter_mut().enumerate() {
            let mut acc = [zero; 8];
            for g in 0..groups {
                let at = h.v_index(32 * g, d);
                let tail = (len - 32 * g).min(32);
                for (j, a) in acc.iter_mut().enumerate() {
                    if 4 * j >= tail {
                        break;
                    }
                    let mut x = f16x4(load_u16x4(&v[at + 4 * j..]));
                    if 4 * j + 4 > tail {
                        // Slots past `len` hold other positions (stale, or unwritten):
                        // zeroed, as their probabilities are, so that an infinity there
                        // cannot make a NaN. Adding 0 leaves an accumulator's bits as
                        // they are (it is never -0), as the lanes the portable code
                        // does not touch.
                        let keep = [0usize, 1, 2, 3].map(|m| if 4 * j + m < tail { u32::MAX } else { 0 });
                        // SAFETY: `keep` is 4 readable u32.
                        let keep = unsafe { vld1q_u32(keep.as_ptr()) };
                        x = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(x), keep));
                    }
                    *a = vfmaq_f32(*a, x, load_f32(&s.scores[32 * g + 4 * j..]));
                }
            }
            *o = reduce_ggml_f16(&acc);
        }
    }
}

/// Three heads at a time: their accumulators fit the vector registers with the shared
/// K vector.
///
/// # Safety
/// The CPU supports AVX2, FMA and F16C, and the AVX-512 kernels' features if `wide`;
/// `hd` is a multiple of 8 (of 32 if `wide`); the view is in bounds for `hd` channels.
#[cfg(target_arch = "x86_64")]
unsafe fn attend_simd(q: &[f32], hd: usize, h: &HeadView<'_>, s: &mut AttnScratch, out: &mut [f32], wide: bool) {
    for (qg, og) in q.chunks(3 * hd).zip(out.chunks_mut(3 * hd)) {
        // SAFETY: the caller's contract; qg and og hold the named number of heads.
        unsafe {
            match (qg.len() / hd, wide) {
                (3, false) => avx2::attend::<3>(qg, h, s, og),
                (2, false) => avx2::attend::<2>(qg, h, s, og),
                (_, false) => avx2::attend::<1>(qg, h, s, og),
                (3, true) => avx512::attend::<3>(qg, h, s, og),
                (2, true) => avx512::attend::<2>(qg, h, s, og),
                (_, true) => avx512::attend::<1>(qg, h, s, og),
            }
        }
    }
}

/// `attend_body` for up to three heads of one KV head: K and V converted from f16 in
/// registers (F16C) once for all the heads, eight positions' score reductions done in
/// shared vectors, and V's channels taken one at a time along the positions (the cache
/// keeps them contiguous), ggml's four 8-lane accumulators per head in registers.
/// Every product and every sum is the same operation in the same order as in
/// `attend_body`, so results are bit-identical (tested below).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{AttnScratch, HeadView};
    use crate::ops::softmax_f64_sum;
    use crate::simd::avx2::{combine_ggml_f16, reduce_ggml_f16_x0};
    use std::arch::x86_64::*;

    /// f32 -> f16 -> f32, round to nearest even (as `half`'s conversion).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn round_f16(v: f32) -> f32 {
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(v))))
    }

    /// Eight f16 values at `p` as f32.
    ///
    /// # Safety
    /// `p` points to 8 readable f16 values.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_f16x8(p: *const half::f16) -> __m256 {
        // SAFETY: guaranteed by the caller.
        _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p as *const __m128i) })
    }

    /// `reduce8` in registers: the same additions in the same order (halves, then the
    /// pairs of the 4-lane sum), so the same bits, without a trip through memory (it runs
    /// once per cached position of every head).
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn reduce8_vec(acc: __m256) -> f32 {
        // q = [a0+a4, a1+a5, a2+a6, a3+a7]
        let q = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
        // h = [q0+q2, q1+q3, ..]
        let h = _mm_add_ps(q, _mm_movehl_ps(q, q));
        _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)))
    }

    /// `P` positions' scores before their reduction in tinyBLAS order (one accumulator
    /// each), for `G` heads at once (their queries `G` rows of `hd` from `qp`): each K
    /// vector converted once for all the heads. A position's sum is a single chain of
    /// dependent FMAs, so a prompt runs four positions together: twelve chains (three
    /// heads) keep both FMA units busy.
    ///
    /// # Safety
    /// Each `kp` points to `hd` readable values and `qp` to `G * hd`; `hd` is a multiple
    /// of 8.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn score_lanes_tinyblas<const G: usize, const P: usize>(
        kp: [*const half::f16; P],
        qp: *const f32,
        hd: usize,
    ) -> [[__m256; G]; P] {
        let mut acc = [[_mm256_setzero_ps(); G]; P];
        for c in (0..hd).step_by(8) {
            for (kp, a) in kp.iter().zip(acc.iter_mut()) {
                // SAFETY: c + 8 <= hd, inside the K vector and each query (the contract).
                let k = unsafe { load_f16x8(kp.add(c)) };
                for (g, a) in a.iter_mut().enumerate() {
                    // SAFETY: as above.
                    *a = _mm256_fmadd_ps(k, unsafe { _mm256_loadu_ps(qp.add(g * hd + c)) }, *a);
                }
            }
        }
        acc
    }

    /// One position's score before its reduction, for `G` heads at once (their queries
    /// `G` rows of `hd` from `qp`), each K vector converted once for all of them: in
    /// ggml's f16 order the four round-robin accumulators combined
    /// (`combine_ggml_f16`), in tinyBLAS order the one accumulator. Whole groups of four
    /// vectors first, then the rest, which continues the round-robin at accumulator 0.
    ///
    /// # Safety
    /// `kp` points to `hd` readable values and `qp` to `G * hd`; `hd` is a multiple of 8.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn score_lanes<const G: usize>(
        kp: *const half::f16,
        qp: *const f32,
        hd: usize,
        multi_row: bool,
    ) -> [__m256; G] {
        if multi_row {
            // SAFETY: the same contract.
            let [x] = unsafe { score_lanes_tinyblas::<G, 1>([kp], qp, hd) };
            return x;
        }
        let mut acc = [[_mm256_setzero_ps(); 4]; G];
        // Whole groups of four vectors with constant accumulator indices (registers),
        // then the rest.
        let whole = hd / 32 * 32;
        for c in (0..whole).step_by(32) {
            for r in 0..4 {
                // SAFETY: c + 8 r + 8 <= hd, inside the K row and each query (the contract).
                let k = unsafe { load_f16x8(kp.add(c + 8 * r)) };
                for (g, a) in acc.iter_mut().enumerate() {
                    // SAFETY: as above.
                    a[r] = _mm256_fmadd_ps(k, unsafe { _mm256_loadu_ps(qp.add(g * hd + c + 8 * r)) }, a[r]);
                }
            }
        }
        for (r, c) in (whole..hd).step_by(8).enumerate() {
            // SAFETY: c + 8 <= hd, as above.
            let k = unsafe { load_f16x8(kp.add(c)) };
            for (g, a) in acc.iter_mut().enumerate() {
                // SAFETY: as above.
                a[r] = _mm256_fmadd_ps(k, unsafe { _mm256_loadu_ps(qp.add(g * hd + c)) }, a[r]);
            }
        }
        let mut x = [_mm256_setzero_ps(); G];
        for (x, a) in x.iter_mut().zip(acc) {
            *x = combine_ggml_f16(a);
        }
        x
    }

    /// `reduce8_vec` (tinyBLAS) or `reduce_ggml_f16_x0` of eight positions' (or V
    /// channels') lanes at once, as the same additions in the same order, so the same
    /// bits: each position's halves are added (`[x0+x4, x1+x5, x2+x6, x3+x7]`, two
    /// positions a vector), then pairs: tinyBLAS adds lanes (0, 2) and (1, 3) before the last sum, ggml (0, 1) and
    /// (2, 3). The sums come out as positions [0, 2, 4, 6, 1, 3, 5, 7] and are put back
    /// in order.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    fn reduce_lanes_x8(x: &[__m256; 8], multi_row: bool) -> __m256 {
        let mut t = [_mm256_setzero_ps(); 4];
        for (i, t) in t.iter_mut().enumerate() {
            // [halves of position 2i | halves of position 2i + 1]
            let (a, b) = (x[2 * i], x[2 * i + 1]);
            *t = _mm256_add_ps(_mm256_permute2f128_ps::<0x20>(a, b), _mm256_permute2f128_ps::<0x31>(a, b));
        }
        // Per position, two pair sums: [p, p, p + 2, p + 2 | p + 1, p + 1, p + 3, p + 3].
        let mut pairs = [_mm256_setzero_ps(); 2];
        for (i, p) in pairs.iter_mut().enumerate() {
            let (a, b) = (t[2 * i], t[2 * i + 1]);
            *p = if multi_row {
                // (q0 + q2), (q1 + q3) of each position
                _mm256_add_ps(_mm256_shuffle_ps::<0b01_00_01_00>(a, b), _mm256_shuffle_ps::<0b11_10_11_10>(a, b))
            } else {
                // (q0 + q1), (q2 + q3)
                _mm256_hadd_ps(a, b)
            };
        }
        let sums = _mm256_hadd_ps(pairs[0], pairs[1]);
        _mm256_permutevar8x32_ps(sums, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
    }

    /// What the AVX2 and AVX-512 kernels give the shared frame ([`frame`]) to compute
    /// eight positions' scores from: the head's query rounded to f16 (`G` rows of `hd`),
    /// the same with each 8-value slice twice (for two positions a 16-lane register;
    /// empty unless the frame's `DUP` asks for it on a prompt row), and where each group
    /// of 32 positions starts in V.
    pub(super) struct Query<'a> {
        pub qh: *const f32,
        pub qdup: *const f32,
        pub groups: &'a [usize],
    }

    /// What the frame gives a kernel's probabilities·V pass: `G` rows of probabilities
    /// (`lp` apart, zero past `len`), the whole groups of 32 positions and the partial
    /// last one (its first V offset, and how many of its positions are real).
    pub(super) struct Probs<'a> {
        pub pp: *const f32,
        pub lp: usize,
        pub whole: &'a [usize],
        pub last: Option<usize>,
        pub tail: usize,
    }

    /// `G` heads (`q` and `out` hold `G * hd` values) over one view: the steps both
    /// vector widths share (query rounding, a decode row's prefetches, the last few
    /// positions' scores, softmax, the probabilities' rounding, the final reductions),
    /// around the passes the kernel brings: `prompt8(k, ..)`, a prompt row's lanes of
    /// eight positions (their K vectors `stride` apart from `k`) before their
    /// reduction, one 8-lane vector a head and position; `decode1(k, ..)`, a decode
    /// row's lanes of the one position at `k`, one vector a head; and `pv8(d, ..)`,
    /// channels `d..d + 8`'s probabilities·V lanes after ggml's first combining step.
    /// With `DUP`, `prompt8` is given the doubled query (`Query::qdup`).
    ///
    /// # Safety
    /// The caller runs with AVX2, FMA and F16C; `hd = q.len() / G` is a multiple of 8;
    /// the view is in bounds for `hd` channels (`HeadView::in_bounds`).
    #[inline(always)]
    pub(super) unsafe fn frame<const G: usize, const DUP: bool>(
        q: &[f32],
        h: &HeadView<'_>,
        s: &mut AttnScratch,
        out: &mut [f32],
        prompt8: impl Fn(*const half::f16, &Query<'_>) -> [[__m256; 8]; G],
        decode1: impl Fn(*const half::f16, &Query<'_>) -> [__m256; G],
        pv8: impl Fn(usize, &Probs<'_>) -> [[__m256; 8]; G],
    ) {
        let hd = q.len() / G;
        let len = h.len;
        // SAFETY (every block below): the caller runs with AVX2, FMA and F16C.
        s.qh.clear();
        s.qh.extend(q.iter().map(|v| unsafe { round_f16(*v) }));
        s.qdup.clear();
        if DUP && h.multi_row {
            for c in s.qh.chunks_exact(8) {
                s.qdup.extend_from_slice(c);
                s.qdup.extend_from_slice(c);
            }
        }
        // scores[g * lp + t], head by head, each padded with zeros to whole groups of
        // 32 positions (the V pass reads probabilities a group at a time).
        let lp = len.next_multiple_of(32);
        s.scores.resize(G * lp, 0.0);
        // Where each group of 32 positions starts in V, for channel 0 of the head; a
        // channel's run is `1 << block_shift` values further per channel.
        s.groups.clear();
        s.groups.extend((0..len.div_ceil(32)).map(|i| h.v_index(32 * i, 0)));
        let query = Query { qh: s.qh.as_ptr(), qdup: s.qdup.as_ptr(), groups: &s.groups };
        // Eight positions at a time, so that their reductions share vectors; the last
        // few one by one.
        let whole = len / 8 * 8;
        let scale = unsafe { _mm256_set1_ps(h.scale) };
        for t in (0..whole).step_by(8) {
            // Positions t..t + 8 share a block: position t + i's K vector is `i` strides
            // on from position t's.
            let k8 = h.k[h.k_index(t)..].as_ptr();
            // Only a decode row prefetches: it streams the cache from memory once; a
            // prompt chunk's rows find it in L2 after the first (the same blocks for
            // every row), where prefetches only cost instructions (without them a
            // prompt-chunk row took a quarter less time, pp512 +4% and a 64-token prompt
            // after 1152 cached positions +10%).
            let x = if h.multi_row {
                prompt8(k8, &query)
            } else {
                super::prefetch_ahead(h, query.groups, t, hd);
                // SAFETY: the caller runs with AVX2.
                let mut x = unsafe { [[_mm256_setzero_ps(); 8]; G] };
                for i in 0..8 {
                    for (x, l) in x.iter_mut().zip(decode1(k8.wrapping_add(i * h.stride), &query)) {
                        x[i] = l;
                    }
                }
                x
            };
            for (g, x) in x.iter().enumerate() {
                // SAFETY: t + 8 <= len <= lp, inside head g's scores.
                unsafe {
                    let d = _mm256_mul_ps(reduce_lanes_x8(x, h.multi_row), scale);
                    _mm256_storeu_ps(s.scores.as_mut_ptr().add(g * lp + t), d);
                }
            }
        }
        for t in whole..len {
            // SAFETY: position t has a K vector of hd values inside the cache (the view
            // is in bounds); qh holds G heads.
            let lanes = unsafe { score_lanes::<G>(h.k[h.k_index(t)..].as_ptr(), query.qh, hd, h.multi_row) };
            for (g, x) in lanes.into_iter().enumerate() {
                let d = unsafe { if h.multi_row { reduce8_vec(x) } else { reduce_ggml_f16_x0(x) } };
                s.scores[g * lp + t] = d * h.scale;
            }
        }
        for p in s.scores.chunks_exact_mut(lp) {
            let (p, pad) = p.split_at_mut(len);
            pad.fill(0.0);
            softmax_f64_sum(p);
            // The probabilities rounded through f16, eight at a time (the same rounding).
            let mut c = p.chunks_exact_mut(8);
            for p8 in &mut c {
                // SAFETY: `p8` holds 8 f32.
                unsafe {
                    let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm256_loadu_ps(p8.as_ptr()));
                    _mm256_storeu_ps(p8.as_mut_ptr(), _mm256_cvtph_ps(h));
                }
            }
            for p in c.into_remainder() {
                *p = unsafe { round_f16(*p) };
            }
        }
        // The last group's positions past `len` are other positions' slots (stale, or
        // not yet written): their probabilities are the zero padding, and the kernels
        // mask their V values to zero as well, so an infinity there cannot make a NaN.
        // Adding 0 leaves an accumulator's bits as they are (it is never -0), so this
        // is the sum over positions `0..len` alone.
        let tail = len % 32;
        let (whole, last) = s.groups.split_at(s.groups.len() - usize::from(tail != 0));
        let probs = Probs { pp: s.scores.as_ptr(), lp, whole, last: last.first().copied(), tail };
        for d in (0..hd).step_by(8) {
            // Each channel's last steps (`reduce_ggml_f16`) run eight channels at once:
            // the same additions in the same order.
            for (g, x) in pv8(d, &probs).iter().enumerate() {
                // SAFETY: d + 8 <= hd, inside head g's output.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(g * hd + d), reduce_lanes_x8(x, false)) };
            }
        }
    }

    /// `G` heads (`q` and `out` hold `G * hd` values) over one view.
    ///
    /// # Safety
    /// AVX2, FMA and F16C are available; `hd = q.len() / G` is a multiple of 8; the view
    /// is in bounds for `hd` channels (`HeadView::in_bounds`, asserted by the caller).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn attend<const G: usize>(q: &[f32], h: &HeadView<'_>, s: &mut AttnScratch, out: &mut [f32]) {
        let hd = q.len() / G;
        let chan = 1usize << h.block_shift;
        let prompt8 = |k8: *const half::f16, query: &Query<'_>| {
            let mut x = [[_mm256_setzero_ps(); 8]; G];
            for i in (0..8).step_by(4) {
                let kp = std::array::from_fn(|j| k8.wrapping_add((i + j) * h.stride));
                // SAFETY: the eight positions have K vectors of hd values inside the
                // cache (the view is in bounds); qh holds G heads.
                let lanes = unsafe { score_lanes_tinyblas::<G, 4>(kp, query.qh, hd) };
                for (j, l) in lanes.into_iter().enumerate() {
                    for (x, l) in x.iter_mut().zip(l) {
                        x[i + j] = l;
                    }
                }
            }
            x
        };
        // SAFETY: as above, one position.
        let decode1 = |kp: *const half::f16, query: &Query<'_>| unsafe { score_lanes::<G>(kp, query.qh, hd, false) };
        let vp = h.v.as_ptr();
        let pv8 = |d0: usize, p: &Probs<'_>| {
            let mut x = [[_mm256_setzero_ps(); 8]; G];
            let mask =
                _mm256_cmpgt_epi32(_mm256_set1_epi32((p.tail % 8) as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            for d in d0..d0 + 8 {
                // The accumulators are indexed by constants only (the loops over j
                // unroll), so that they stay in registers.
                let mut acc = [[_mm256_setzero_ps(); 4]; G];
                for (i, &g0) in p.whole.iter().enumerate() {
                    let at = g0 + d * chan;
                    for j in 0..4 {
                        // SAFETY: the group's 32 positions of channel d lie inside its
                        // block (the view is in bounds); 32 i + 8 j + 8 <= lp for each
                        // head's probabilities.
                        unsafe {
                            let v = load_f16x8(vp.add(at + 8 * j));
                            for (g, acc) in acc.iter_mut().enumerate() {
                                acc[j] =
                                    _mm256_fmadd_ps(v, _mm256_loadu_ps(p.pp.add(g * p.lp + 32 * i + 8 * j)), acc[j]);
                            }
                        }
                    }
                }
                if let Some(g0) = p.last {
                    let (i, at) = (p.whole.len(), g0 + d * chan);
                    for j in 0..4 {
                        if 8 * j >= p.tail {
                            break;
                        }
                        // SAFETY: as above (lanes past `tail` are read, then zeroed).
                        unsafe {
                            let mut v = load_f16x8(vp.add(at + 8 * j));
                            if 8 * j + 8 > p.tail {
                                v = _mm256_and_ps(v, _mm256_castsi256_ps(mask));
                            }
                            for (g, acc) in acc.iter_mut().enumerate() {
                                acc[j] =
                                    _mm256_fmadd_ps(v, _mm256_loadu_ps(p.pp.add(g * p.lp + 32 * i + 8 * j)), acc[j]);
                            }
                        }
                    }
                }
                for (g, a) in acc.into_iter().enumerate() {
                    x[g][d - d0] = combine_ggml_f16(a);
                }
            }
            x
        };
        // SAFETY: the contract above is the frame's.
        unsafe { frame::<G, false>(q, h, s, out, prompt8, decode1, pv8) }
    }
}

/// The AVX-512 kernel: the AVX2 kernel's operations lane for lane, two of its 8-lane
/// vectors in each 16-lane register, so the same bits with half the instructions.
/// - Decode scores (ggml order): a 16-lane accumulator holds ggml's accumulators 0 and
///   1 (channels `c..c + 16` of each group of 32), another 2 and 3; their sum is
///   `[acc0 + acc2 | acc1 + acc3]`, whose halves added are ggml's combined vector.
/// - Prompt scores (tinyBLAS order, one 8-lane chain over the channels): two positions
///   a register, each against the query slice stored twice.
/// - Probabilities·V: a channel's 16 consecutive positions of a group are lanes
///   `0..16` (accumulators 0 and 1) of ggml's dot, the next 16 accumulators 2 and 3.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::avx2::{Probs, Query, frame};
    use super::{AttnScratch, HeadView};
    use std::arch::x86_64::*;

    /// Sixteen f16 values at `p` as f32.
    ///
    /// # Safety
    /// `p` points to 16 readable f16 values.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    unsafe fn load_f16x16(p: *const half::f16) -> __m512 {
        // SAFETY: guaranteed by the caller.
        _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(p as *const __m256i) })
    }

    /// The low and high eight lanes, added: ggml's combining of accumulator pairs.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    fn fold(x: __m512) -> __m256 {
        _mm256_add_ps(low(x), high(x))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    fn low(x: __m512) -> __m256 {
        _mm512_castps512_ps256(x)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    fn high(x: __m512) -> __m256 {
        _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x)))
    }

    /// `G` heads (`q` and `out` hold `G * hd` values) over one view.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL, AVX2, FMA and F16C are available; `hd = q.len() / G` is a
    /// multiple of 32; the view is in bounds for `hd` channels.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma,f16c")]
    pub unsafe fn attend<const G: usize>(q: &[f32], h: &HeadView<'_>, s: &mut AttnScratch, out: &mut [f32]) {
        let hd = q.len() / G;
        let chan = 1usize << h.block_shift;
        let prompt8 = |k8: *const half::f16, query: &Query<'_>| {
            let mut x = [[_mm256_setzero_ps(); 8]; G];
            // Positions 2j (low lanes) and 2j + 1 (high lanes) in pair j: twelve
            // independent chains for three heads.
            let kp: [*const half::f16; 8] = std::array::from_fn(|i| k8.wrapping_add(i * h.stride));
            let mut acc = [[_mm512_setzero_ps(); G]; 4];
            for c in (0..hd).step_by(8) {
                for (j, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: c + 8 <= hd, inside both positions' K vectors (the view is
                    // in bounds) and each head's doubled query (2 hd values).
                    unsafe {
                        let pair = _mm256_inserti128_si256::<1>(
                            _mm256_castsi128_si256(_mm_loadu_si128(kp[2 * j].add(c) as *const __m128i)),
                            _mm_loadu_si128(kp[2 * j + 1].add(c) as *const __m128i),
                        );
                        let k = _mm512_cvtph_ps(pair);
                        for (g, a) in acc.iter_mut().enumerate() {
                            *a = _mm512_fmadd_ps(k, _mm512_loadu_ps(query.qdup.add(g * 2 * hd + 2 * c)), *a);
                        }
                    }
                }
            }
            for (j, acc) in acc.iter().enumerate() {
                for (x, a) in x.iter_mut().zip(acc) {
                    x[2 * j] = low(*a);
                    x[2 * j + 1] = high(*a);
                }
            }
            x
        };
        let decode1 = |kp: *const half::f16, query: &Query<'_>| {
            let mut acc = [[_mm512_setzero_ps(); 2]; G];
            for c in (0..hd).step_by(32) {
                // SAFETY: c + 32 <= hd, inside the position's K vector (the view is in
                // bounds) and each head's query.
                unsafe {
                    let (k01, k23) = (load_f16x16(kp.add(c)), load_f16x16(kp.add(c + 16)));
                    for (g, a) in acc.iter_mut().enumerate() {
                        a[0] = _mm512_fmadd_ps(k01, _mm512_loadu_ps(query.qh.add(g * hd + c)), a[0]);
                        a[1] = _mm512_fmadd_ps(k23, _mm512_loadu_ps(query.qh.add(g * hd + c + 16)), a[1]);
                    }
                }
            }
            acc.map(|a| fold(_mm512_add_ps(a[0], a[1])))
        };
        let vp = h.v.as_ptr();
        let pv8 = |d0: usize, p: &Probs<'_>| {
            let mut x = [[_mm256_setzero_ps(); 8]; G];
            // Lanes of the last group's halves that hold real positions.
            let m_lo: __mmask16 = if p.tail >= 16 { !0 } else { (1u16 << p.tail) - 1 };
            let m_hi: __mmask16 = if p.tail > 16 { (1u16 << (p.tail - 16)) - 1 } else { 0 };
            // Four channels at a time: 24 independent chains for three heads, and each
            // group's four channel runs are 256 contiguous bytes (two channels: 6%
            // slower, eight: more accumulators than registers).
            for d in (d0..d0 + 8).step_by(4) {
                let mut acc = [[[_mm512_setzero_ps(); 2]; G]; 4];
                for (i, &g0) in p.whole.iter().enumerate() {
                    for (c, acc) in acc.iter_mut().enumerate() {
                        let at = g0 + (d + c) * chan;
                        // SAFETY: the group's 32 positions of the channel lie inside its
                        // block (the view is in bounds); 32 i + 32 <= lp for each head's
                        // probabilities.
                        unsafe {
                            let (v01, v23) = (load_f16x16(vp.add(at)), load_f16x16(vp.add(at + 16)));
                            for (g, a) in acc.iter_mut().enumerate() {
                                let pg = p.pp.add(g * p.lp + 32 * i);
                                a[0] = _mm512_fmadd_ps(v01, _mm512_loadu_ps(pg), a[0]);
                                a[1] = _mm512_fmadd_ps(v23, _mm512_loadu_ps(pg.add(16)), a[1]);
                            }
                        }
                    }
                }
                if let Some(g0) = p.last {
                    let i = p.whole.len();
                    for (c, acc) in acc.iter_mut().enumerate() {
                        let at = g0 + (d + c) * chan;
                        // SAFETY: as above: the block holds the group's 32 slots, read
                        // whole; lanes past `tail` are zeroed (their probabilities are
                        // the zero padding). The high half is skipped where it holds no
                        // real position, as the 8-lane kernel skips those accumulators.
                        unsafe {
                            let pg = p.pp.add(32 * i);
                            let v01 = _mm512_maskz_mov_ps(m_lo, load_f16x16(vp.add(at)));
                            for (g, a) in acc.iter_mut().enumerate() {
                                a[0] = _mm512_fmadd_ps(v01, _mm512_loadu_ps(pg.add(g * p.lp)), a[0]);
                            }
                            if m_hi != 0 {
                                let v23 = _mm512_maskz_mov_ps(m_hi, load_f16x16(vp.add(at + 16)));
                                for (g, a) in acc.iter_mut().enumerate() {
                                    a[1] = _mm512_fmadd_ps(v23, _mm512_loadu_ps(pg.add(g * p.lp + 16)), a[1]);
                                }
                            }
                        }
                    }
                }
                for (c, acc) in acc.iter().enumerate() {
                    for (x, a) in x.iter_mut().zip(acc) {
                        x[d - d0 + c] = fold(_mm512_add_ps(a[0], a[1]));
                    }
                }
            }
            x
        };
        // SAFETY: the contract above covers the frame's (AVX2, FMA, F16C; hd a multiple
        // of 8; the view in bounds).
        unsafe { frame::<G, true>(q, h, s, out, prompt8, decode1, pv8) }
    }
}

/// A decode row's prefetches for the eight positions from `t` (a multiple of 8): their
/// V values of this head (the V pass reads each channel's 64-byte run of a group of 32
/// positions once; asking for them while K streams by has them in cache by then, and
/// their addresses are a block apart, which the hardware prefetchers do not follow),
/// `hd / 32` channels per position; and the K vectors a block ahead (a head's K is two
/// lines of every position's six, a stride the hardware prefetchers follow too slowly:
/// asking explicitly took a decode row over a cache 25% less time). The eight positions
/// share a block, and so do the eight a block ahead, so each address is one step from
/// the last (looking every position's block up cost a decode row in L2 a fifth of its
/// time).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_ahead(h: &HeadView<'_>, groups: &[usize], t: usize, hd: usize) {
    use crate::simd::prefetch_lines;
    const K_AHEAD: usize = 32;
    let chan = 1usize << h.block_shift;
    // A prefetch never faults, so the addresses need no bounds check.
    let v = h.v.as_ptr().wrapping_add(groups[t / 32]);
    let o = t % 32;
    for d in (o * hd / 32)..((o + 8) * hd / 32) {
        prefetch_lines(v.wrapping_add(d * chan).cast(), 1);
    }
    if t + K_AHEAD < h.len {
        let k = h.k.as_ptr().wrapping_add(h.k_index(t + K_AHEAD));
        for i in 0..8 {
            prefetch_lines(k.wrapping_add(i * h.stride).cast(), 2 * hd);
        }
    }
}

#[inline(always)]
fn attend_body(q: &[f32], h: &HeadView<'_>, s: &mut AttnScratch, out: &mut [f32]) {
    let hd = q.len();
    s.qh.clear();
    s.qh.extend(q.iter().map(|v| f16::from_f32(*v).to_f32()));
    s.buf.resize(hd, 0.0);
    s.scores.clear();
    for t in 0..h.len {
        let o = h.k_index(t);
        h.k[o..o + hd].convert_to_f32_slice(&mut s.buf);
        let d = if h.multi_row { dot_portable(&s.buf, &s.qh) } else { dot_ggml_f16_order(&s.buf, &s.qh) };
        s.scores.push(d * h.scale);
    }
    softmax_f64_sum(&mut s.scores);
    // For every output channel, 4 x 8 lane accumulators chosen by position, as
    // llama.cpp's f16 dot of the transposed V cache with the probabilities.
    s.vacc.clear();
    s.vacc.resize(hd * 32, 0.0);
    for (t, p) in s.scores.iter().enumerate() {
        let p = f16::from_f32(*p).to_f32();
        let lane = ggml_f16_lane(t);
        for d in 0..hd {
            let a = &mut s.vacc[d * 32 + lane];
            *a = h.v[h.v_index(t, d)].to_f32().mul_add(p, *a);
        }
    }
    for (d, y) in out.iter_mut().enumerate() {
        *y = reduce_ggml_f16_lanes(&s.vacc[d * 32..d * 32 + 32]);
    }
}

/// Interleaved RoPE over all heads of one row (see `ops::rope_interleaved`), with
/// the fused multiply-adds compiled to instructions where the CPU has them.
pub fn rope_heads(x: &mut [f32], head_dim: usize, cos_sin: &[(f32, f32)]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2, FMA and F16C (checked at run time).
        unsafe { rope_fma(x, head_dim, cos_sin) };
        return;
    }
    rope_body(x, head_dim, cos_sin)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn rope_fma(x: &mut [f32], head_dim: usize, cos_sin: &[(f32, f32)]) {
    rope_body(x, head_dim, cos_sin)
}

#[inline(always)]
fn rope_body(x: &mut [f32], head_dim: usize, cos_sin: &[(f32, f32)]) {
    x.chunks_exact_mut(head_dim).for_each(|h| crate::ops::rope_interleaved(h, cos_sin));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer of a paged cache written from `value(t, c)` (position, channel) in the
    /// layout `HeadView` documents, spelled out here on its own: block `b` starts at
    /// `base + b * (32 * stride + PAD)`; K at `[t % 32][c]`, V at `[c][t % 32]`. Slots
    /// without a position hold `fill`.
    struct Cache {
        k: Vec<f16>,
        v: Vec<f16>,
    }

    const PAD: usize = 24;

    fn cache(blocks: &[u32], n_blocks: usize, base: usize, stride: usize, len: usize, fill: f16) -> Cache {
        let n = base + n_blocks * (32 * stride + PAD);
        let (mut k, mut v) = (vec![fill; n], vec![fill; n]);
        for t in 0..len {
            let start = base + blocks[t / 32] as usize * (32 * stride + PAD);
            for c in 0..stride {
                k[start + (t % 32) * stride + c] = f16::from_f32((((t * stride + c) * 7919) % 113) as f32 / 30.0 - 1.7);
                v[start + c * 32 + t % 32] = f16::from_f32((((t * stride + c) * 104729) % 97) as f32 / 40.0 - 1.2);
            }
        }
        Cache { k, v }
    }

    fn view<'a>(
        c: &'a Cache,
        blocks: &'a [u32],
        base: usize,
        channel: usize,
        stride: usize,
        len: usize,
        multi_row: bool,
    ) -> HeadView<'a> {
        let block_size = 32 * stride + PAD;
        HeadView {
            k: &c.k,
            v: &c.v,
            base,
            channel,
            stride,
            block_size,
            blocks,
            block_shift: 5,
            len,
            scale: 0.125,
            multi_row,
        }
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    fn in_order(len: usize) -> Vec<u32> {
        (0..len.div_ceil(32) as u32).collect()
    }

    #[test]
    fn portable_and_dispatched_agree_across_shapes() {
        // 8, 40 and 80 leave one, one and two vectors after the groups of four; 12 is
        // not whole vectors (the portable code serves it).
        for (hd, len, stride, channel, base) in [
            (64, 1, 64, 0, 0),
            (64, 300, 192, 64, 7),
            (128, 33, 128, 0, 0),
            (8, 5, 24, 8, 0),
            (12, 9, 12, 0, 0),
            (40, 17, 120, 40, 3),
            (80, 50, 80, 0, 0),
            (64, 64, 64, 0, 0),
            (64, 71, 64, 0, 0),
            // A last group of more than 16 positions.
            (64, 90, 192, 128, 5),
            (128, 50, 256, 128, 0),
        ] {
            let blocks = in_order(len);
            let c = cache(&blocks, blocks.len(), base, stride, len, f16::ZERO);
            let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            for multi_row in [false, true] {
                let h = view(&c, &blocks, base, channel, stride, len, multi_row);
                let (mut a, mut b) = (vec![0f32; hd], vec![0f32; hd]);
                attend_head(&q, &h, &mut a);
                attend_body(&q, &h, &mut AttnScratch::default(), &mut b);
                assert_eq!(bits(&a), bits(&b), "hd {hd} len {len} multi_row {multi_row}");
            }
        }
    }

    /// The dispatched kernel against `attend_body` on values whose sums round: K, V and
    /// q of magnitudes from 2^-9 to 2^5 (the smooth values of `cache` give exact sums,
    /// where any order agrees), so that a lane or an addition out of order shows.
    #[test]
    fn dispatched_equals_portable_where_order_matters() {
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(0x9E37_79B9);
        // A sign, ten mantissa bits and an exponent from -9 to 6.
        let mut next = move || {
            let sign = if rng.random_bool(0.5) { -1.0 } else { 1.0 };
            sign * (1.0 + rng.random_range(0..1024) as f32 / 1024.0) * 2f32.powi(rng.random_range(-9..7))
        };
        for (hd, len, stride, channel) in [(64, 300, 192, 64), (128, 245, 256, 128), (40, 150, 120, 0), (64, 1, 64, 0)]
        {
            let blocks = in_order(len);
            let n = blocks.len() * (32 * stride + PAD);
            let k: Vec<f16> = (0..n).map(|_| f16::from_f32(next())).collect();
            let v: Vec<f16> = (0..n).map(|_| f16::from_f32(next())).collect();
            let mut c = Cache { k, v };
            // Every score ~1024 plus a few units: channel 0 of each K is 128 and of q 64
            // (times the scale, 1/8). The common part cancels in the softmax, but the
            // scores' last bits are then 2^-13 apart, which moves probabilities across
            // their f16 rounding often enough to show a sum out of order.
            let at: Vec<usize> = {
                let h = view(&c, &blocks, 0, channel, stride, len, false);
                (0..len).map(|t| h.k_index(t)).collect()
            };
            for i in at {
                c.k[i] = f16::from_f32(128.0);
            }
            let mut q: Vec<f32> = (0..hd).map(|_| next() / 1024.0).collect();
            q[0] = 64.0;
            for multi_row in [false, true] {
                let h = view(&c, &blocks, 0, channel, stride, len, multi_row);
                let (mut a, mut b) = (vec![0f32; hd], vec![0f32; hd]);
                attend_head(&q, &h, &mut a);
                attend_body(&q, &h, &mut AttnScratch::default(), &mut b);
                assert_eq!(bits(&a), bits(&b), "hd {hd} len {len} multi_row {multi_row}");
            }
        }
    }

    /// Both kernels against a plain f64 computation that reads the cache through the
    /// layout written out in `cache`, loosely.
    #[test]
    fn attention_matches_f64_reference() {
        let (hd, len, stride, channel) = (64usize, 70usize, 128usize, 64usize);
        let blocks = [2u32, 0, 1];
        let c = cache(&blocks, 3, 0, stride, len, f16::ZERO);
        let at = |t: usize| blocks[t / 32] as usize * (32 * stride + PAD);
        let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.37).sin()).collect();
        for multi_row in [false, true] {
            let h = view(&c, &blocks, 0, channel, stride, len, multi_row);
            let (mut a, mut b) = (vec![0f32; hd], vec![0f32; hd]);
            attend_head(&q, &h, &mut a);
            attend_body(&q, &h, &mut AttnScratch::default(), &mut b);
            assert_eq!(bits(&a), bits(&b));
            let mut sc: Vec<f64> = (0..len)
                .map(|t| {
                    (0..hd).map(|d| c.k[at(t) + (t % 32) * stride + channel + d].to_f64() * q[d] as f64).sum::<f64>()
                        * 0.125
                })
                .collect();
            let m = sc.iter().cloned().fold(f64::MIN, f64::max);
            sc.iter_mut().for_each(|x| *x = (*x - m).exp());
            let z: f64 = sc.iter().sum();
            for d in 0..hd {
                let want: f64 = (0..len).map(|t| sc[t] / z * c.v[at(t) + (channel + d) * 32 + t % 32].to_f64()).sum();
                assert!((a[d] as f64 - want).abs() < 2e-3, "d {d}: {} vs {want}", a[d]);
            }
        }
    }

    /// Query heads sharing a KV head, in one call, give each head's bits alone: group
    /// sizes 1 to 5 (the kernel takes three at a time, so 4 and 5 leave one and two), in
    /// both summation orders, head sizes with and without whole groups of 32, lengths
    /// with and without whole groups of 8 positions, over a paged view.
    #[test]
    fn grouped_heads_equal_one_head_at_a_time() {
        let kv_dim = 256usize;
        for (hd, len) in [(64usize, 1usize), (64, 77), (128, 40), (40, 19), (8, 9)] {
            let blocks: Vec<u32> = (0..len.div_ceil(32) as u32).rev().collect();
            let c = cache(&blocks, blocks.len(), 0, kv_dim, len, f16::ZERO);
            for group in 1..=5usize {
                let q: Vec<f32> = (0..group * hd).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
                for multi_row in [false, true] {
                    let h = view(&c, &blocks, 0, hd, kv_dim, len, multi_row);
                    let mut together = vec![0f32; group * hd];
                    attend_heads(&q, hd, &h, &mut together);
                    for g in 0..group {
                        let mut alone = vec![0f32; hd];
                        attend_body(&q[g * hd..][..hd], &h, &mut AttnScratch::default(), &mut alone);
                        assert_eq!(
                            bits(&together[g * hd..][..hd]),
                            bits(&alone),
                            "hd {hd} len {len} group {group} head {g} multi_row {multi_row}"
                        );
                    }
                }
            }
        }
    }

    /// Positions spread over blocks in any order of the cache give the bits of the same
    /// positions in blocks in order, in both summation orders and both kernels; and
    /// whatever the unused slots of the last block hold (here infinities and NaN, which
    /// a product with a zero probability would turn into NaN) is not read into the
    /// result.
    #[test]
    fn paged_view_equals_blocks_in_order_bit_for_bit() {
        let (hd, kv_dim) = (64usize, 192usize);
        for len in [1usize, 15, 16, 17, 31, 32, 33, 70, 200] {
            let n_blocks = len.div_ceil(32);
            // Block i of the sequence lives in cache block perm[i]: reversed, with a
            // spare block (full of NaN) around each, so a wrong index reads NaN.
            let perm: Vec<u32> = (0..n_blocks).map(|i| (2 * (n_blocks - 1 - i) + 1) as u32).collect();
            let paged = cache(&perm, 2 * n_blocks + 1, 0, kv_dim, len, f16::NAN);
            let flat_blocks = in_order(len);
            let flat = cache(&flat_blocks, n_blocks, 0, kv_dim, len, f16::ZERO);
            let inf = cache(&flat_blocks, n_blocks, 0, kv_dim, len, f16::INFINITY);
            let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            for multi_row in [false, true] {
                let head = 64; // the second KV head of the row
                let p = view(&paged, &perm, 0, head, kv_dim, len, multi_row);
                let f = view(&flat, &flat_blocks, 0, head, kv_dim, len, multi_row);
                let i = view(&inf, &flat_blocks, 0, head, kv_dim, len, multi_row);
                let mut r = [vec![0f32; hd], vec![0f32; hd], vec![0f32; hd], vec![0f32; hd]];
                attend_head(&q, &p, &mut r[0]);
                attend_head(&q, &f, &mut r[1]);
                attend_head(&q, &i, &mut r[2]);
                attend_body(&q, &p, &mut AttnScratch::default(), &mut r[3]);
                assert!(r[1].iter().all(|x| x.is_finite()), "len {len}");
                for (n, what) in [(0, "paged"), (2, "stale infinities"), (3, "portable, paged")] {
                    assert_eq!(bits(&r[n]), bits(&r[1]), "len {len} multi_row {multi_row}: {what}");
                }
            }
        }
    }

    /// A view reaching past the cache, or with blocks shorter than ggml's 32 lanes, is
    /// refused before anything is read.
    #[test]
    fn malformed_views_are_refused() {
        let blocks = [0u32, 1];
        let c = cache(&blocks, 2, 0, 64, 40, f16::ZERO);
        let q = vec![0.5f32; 64];
        let mut out = vec![0f32; 64];
        let ok = view(&c, &blocks, 0, 0, 64, 40, true);
        attend_head(&q, &ok, &mut out);
        let bad = [
            HeadView { len: 65, ..ok },
            HeadView { blocks: &[0, 2], ..ok },
            HeadView { channel: 8, ..ok },
            HeadView { block_shift: 4, ..ok },
            HeadView { base: PAD + 1, ..ok },
            HeadView { block_size: 32 * 64 - 1, ..ok },
        ];
        for (i, h) in bad.iter().enumerate() {
            let r = std::panic::catch_unwind(|| attend_head(&q, h, &mut out.clone()));
            assert!(r.is_err(), "view {i} was accepted");
        }
    }
}
