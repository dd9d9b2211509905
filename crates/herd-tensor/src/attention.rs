//! One query head attending over its KV-cache positions, with llama.cpp's rounding:
//! Q rounded to f16 against the f16 K cache, scores summed in tinyBLAS order for
//! multi-row batches and in vec_dot order for single rows, softmax with an f64 sum,
//! probabilities rounded to f16 against the f16 V cache in vec_dot order.
//!
//! The body is written once and compiled twice: inside an AVX2+FMA+F16C function
//! (chosen at run time) where `mul_add` is one instruction, and plainly as the
//! portable fallback, where it is a (slow, but equally exact) library call. Both give
//! bit-identical results.

use crate::ops::softmax_f64_sum;
use crate::simd::{dot_ggml_f16_order, dot_portable, ggml_f16_lane, reduce_ggml_f16_lanes};
use half::f16;
use half::slice::HalfFloatSliceExt;

/// One head's view of the cache: position `t`'s K (or V) vector starts at
/// `base + t * stride` and is `q.len()` long.
#[derive(Debug, Clone, Copy)]
pub struct HeadView<'a> {
    pub k: &'a [f16],
    pub v: &'a [f16],
    /// Offset of position 0's row in block 0 (the layer's and the head's offset).
    pub base: usize,
    /// Elements between consecutive positions of a block.
    pub stride: usize,
    /// The cache blocks holding positions `0..len` in order: position `t` is row
    /// `t % block_len` of block `blocks[t / block_len]`, `block_len = 1 << block_shift`.
    pub blocks: &'a [u32],
    pub block_shift: u32,
    /// Positions 0..len are attended (causal: len = position + 1).
    pub len: usize,
    pub scale: f32,
    /// The batch has more than one row (llama.cpp then sums scores in another order).
    pub multi_row: bool,
}

impl<'a> HeadView<'a> {
    /// A view of one contiguous run of positions (a single block as long as the cache).
    pub fn contiguous(
        k: &'a [f16],
        v: &'a [f16],
        base: usize,
        stride: usize,
        len: usize,
        scale: f32,
        multi_row: bool,
    ) -> Self {
        HeadView { k, v, base, stride, blocks: &[0], block_shift: usize::BITS - 1, len, scale, multi_row }
    }

    /// Where position `t`'s row starts in `k` and `v`.
    #[inline(always)]
    pub fn row(&self, t: usize) -> usize {
        let sh = self.block_shift;
        let block = self.blocks[t >> sh] as usize;
        self.base + ((block << sh) | (t & ((1usize << sh) - 1))) * self.stride
    }

    /// The view as runs of consecutive positions, one per block in position order:
    /// (offset of the run's first row, number of positions). The kernels walk runs, so
    /// paging costs a table lookup per block, not per position.
    #[inline]
    pub fn runs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let sh = self.block_shift;
        let n_blocks = if self.len == 0 { 0 } else { ((self.len - 1) >> sh) + 1 };
        self.blocks[..n_blocks].iter().enumerate().map(move |(i, &b)| {
            let first = i << sh;
            let n = (self.len - first).min(if sh >= usize::BITS - 1 { usize::MAX } else { 1 << sh });
            (self.base + ((b as usize) << sh) * self.stride, n)
        })
    }

    /// Whether every row of positions `0..len`, `width` values long, lies inside `k`
    /// and `v` (rows only grow within a block, so each block's last row is checked).
    fn in_bounds(&self, width: usize) -> bool {
        let bl = 1usize << self.block_shift.min(usize::BITS - 2);
        let mut t = 0;
        while t < self.len {
            let last = (t | (bl - 1)).min(self.len - 1);
            if t >> self.block_shift >= self.blocks.len() {
                return false;
            }
            let end = self.row(last) + width;
            if end > self.k.len() || end > self.v.len() {
                return false;
            }
            t = last + 1;
        }
        true
    }
}

/// Per-thread buffers, reused across heads, layers and decode steps (they grow to
/// the longest context seen, then stay), so attention allocates nothing per token.
#[derive(Debug, Default, Clone)]
struct AttnScratch {
    scores: Vec<f32>,
    qh: Vec<f32>,
    buf: Vec<f32>,
    vacc: Vec<f32>,
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
/// `h`. Each head's result is the bits `attend_head` gives it alone; the fast kernel
/// converts each cached K and V row once for up to three heads instead of once a head.
pub fn attend_heads(q: &[f32], head_dim: usize, h: &HeadView<'_>, out: &mut [f32]) {
    assert!(head_dim > 0 && q.len().is_multiple_of(head_dim), "attention: q is not whole heads");
    assert_eq!(q.len(), out.len(), "attention: q and out differ in length");
    SCRATCH.with_borrow_mut(|s| {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::has_avx2_fma() && head_dim.is_multiple_of(8) {
            // SAFETY: the CPU supports AVX2, FMA and F16C (checked at run time), and the
            // head size is whole vectors.
            unsafe { attend_fma(q, head_dim, h, s, out) };
            return;
        }
        for (qh, o) in q.chunks_exact(head_dim).zip(out.chunks_exact_mut(head_dim)) {
            attend_body(qh, h, s, o)
        }
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn attend_fma(q: &[f32], hd: usize, h: &HeadView<'_>, s: &mut AttnScratch, out: &mut [f32]) {
    // Three heads at a time: their ggml-order accumulators (4 each) fit the 16 vector
    // registers with the shared K vector.
    let mut qs = q.chunks(3 * hd).zip(out.chunks_mut(3 * hd));
    for (qg, og) in &mut qs {
        // SAFETY: the caller checked AVX2, FMA and F16C; hd is whole vectors; qg and og
        // hold the named number of heads.
        unsafe {
            match qg.len() / hd {
                3 => avx2::attend::<3>(qg, h, s, og),
                2 => avx2::attend::<2>(qg, h, s, og),
                _ => avx2::attend::<1>(qg, h, s, og),
            }
        }
    }
}

/// `attend_body` for up to three heads of one KV head: K and V rows converted from f16
/// in registers (F16C) once for all the heads, eight positions' score reductions done in
/// shared vectors, and each of V's 32 position lanes accumulated in registers over its
/// positions (a lane's chain runs over positions 32 apart; keeping it in registers
/// instead of a memory row per lane removed a load and a store per FMA). Every product
/// and every sum is the same operation in the same order as in `attend_body`, so
/// results are bit-identical (tested below).
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
        let mut acc = [[_mm256_setzero_ps(); 4]; G];
        if multi_row {
            for c in (0..hd).step_by(8) {
                // SAFETY: c + 8 <= hd, inside the K row and each query (the contract).
                let k = unsafe { load_f16x8(kp.add(c)) };
                for (g, a) in acc.iter_mut().enumerate() {
                    // SAFETY: as above.
                    a[0] = _mm256_fmadd_ps(k, unsafe { _mm256_loadu_ps(qp.add(g * hd + c)) }, a[0]);
                }
            }
            let mut x = [_mm256_setzero_ps(); G];
            for (x, a) in x.iter_mut().zip(acc) {
                *x = a[0];
            }
            return x;
        }
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

    /// `reduce8_vec` (tinyBLAS) or `reduce_ggml_f16_x0` of eight positions' lanes at
    /// once, as the same additions in the same order, so the same bits: each position's
    /// halves are added (`[x0+x4, x1+x5, x2+x6, x3+x7]`, two positions a vector), then
    /// pairs: tinyBLAS adds lanes (0, 2) and (1, 3) before the last sum, ggml (0, 1) and
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

    /// The V rows of one lane's positions (`t ≡ lane mod 32`), `W` vectors of channels
    /// from `c0`, accumulated in registers over the positions in order for `G` heads
    /// (each row converted once for all): the chains `attend_body` runs for these
    /// channels and this lane. Head g's probabilities are `probs[g * len..]`, its
    /// accumulators go to `vacc[(g * 32 + lane) * hd + c0..]`.
    ///
    /// # Safety
    /// The view's rows lie inside `h.v` (`in_bounds`); `c0 + 8 W <= hd`.
    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn v_lane<const G: usize, const W: usize>(
        h: &HeadView<'_>,
        probs: &[f32],
        lane: usize,
        c0: usize,
        hd: usize,
        vacc: &mut [f32],
    ) {
        let mut acc = [[_mm256_setzero_ps(); W]; G];
        let mut t = lane;
        while t < h.len {
            let vp = h.v[h.row(t) + c0..].as_ptr();
            let mut v = [_mm256_setzero_ps(); W];
            for (j, v) in v.iter_mut().enumerate() {
                // SAFETY: c0 + 8 j + 8 <= hd, inside row t (the contract).
                *v = unsafe { load_f16x8(vp.add(8 * j)) };
            }
            for (g, a) in acc.iter_mut().enumerate() {
                let pv = _mm256_set1_ps(probs[g * h.len + t]);
                for (a, v) in a.iter_mut().zip(&v) {
                    *a = _mm256_fmadd_ps(*v, pv, *a);
                }
            }
            t += 32;
        }
        for (g, a) in acc.iter().enumerate() {
            let o = &mut vacc[(g * 32 + lane) * hd + c0..][..8 * W];
            for (j, a) in a.iter().enumerate() {
                // SAFETY: 8 j + 8 <= 8 W = o.len().
                unsafe { _mm256_storeu_ps(o.as_mut_ptr().add(8 * j), *a) };
            }
        }
    }

    /// `G` heads (`q` and `out` hold `G * hd` values) over one view.
    ///
    /// # Safety
    /// AVX2, FMA and F16C are available; `hd = q.len() / G` is a multiple of 8; the
    /// view's rows lie inside `h.k` and `h.v` (asserted; `attend_body` would panic).
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn attend<const G: usize>(q: &[f32], h: &HeadView<'_>, s: &mut AttnScratch, out: &mut [f32]) {
        let hd = q.len() / G;
        assert!(h.in_bounds(hd), "attention: the view runs past the cache");
        let len = h.len;
        s.qh.clear();
        s.qh.extend(q.iter().map(|v| round_f16(*v)));
        let qp = s.qh.as_ptr();
        // scores[g * len + t], head by head; every one is written below.
        s.scores.resize(G * len, 0.0);
        // Eight positions at a time, so that their reductions share vectors; the last
        // few one by one.
        let whole = len / 8 * 8;
        let scale = _mm256_set1_ps(h.scale);
        let mut x = [[_mm256_setzero_ps(); 8]; G];
        for t in (0..whole).step_by(8) {
            for i in 0..8 {
                let row = h.row(t + i);
                // The V pass reads each lane's rows 32 positions apart, a stride the
                // hardware prefetchers do not follow; asking for each V row while its K
                // row streams by has the head's V rows in cache by then.
                for c in (0..hd).step_by(32) {
                    _mm_prefetch::<_MM_HINT_T0>(h.v[row + c..].as_ptr() as *const i8);
                }
                // SAFETY: row t + i spans hd values inside the cache (asserted above); qh
                // holds G heads.
                let lanes = unsafe { score_lanes::<G>(h.k[row..].as_ptr(), qp, hd, h.multi_row) };
                for (x, l) in x.iter_mut().zip(lanes) {
                    x[i] = l;
                }
            }
            for (g, x) in x.iter().enumerate() {
                let d = _mm256_mul_ps(reduce_lanes_x8(x, h.multi_row), scale);
                // SAFETY: t + 8 <= len, inside head g's scores.
                unsafe { _mm256_storeu_ps(s.scores.as_mut_ptr().add(g * len + t), d) };
            }
        }
        for t in whole..len {
            // SAFETY: as above.
            let lanes = unsafe { score_lanes::<G>(h.k[h.row(t)..].as_ptr(), qp, hd, h.multi_row) };
            for (g, x) in lanes.into_iter().enumerate() {
                let d = if h.multi_row { reduce8_vec(x) } else { reduce_ggml_f16_x0(x) };
                s.scores[g * len + t] = d * h.scale;
            }
        }
        for p in s.scores.chunks_exact_mut(len.max(1)) {
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
                *p = round_f16(*p);
            }
        }
        // vacc[(g * 32 + lane) * hd + d]: lane = the position's ggml f16 lane (t mod 32),
        // as in `attend_body`. Each lane's chain runs in registers over its positions, a
        // few vectors of channels at a time: the G x W accumulators, the row's W vectors
        // and the G broadcast probabilities must fit the 16 vector registers (a spilled
        // accumulator puts a store and a reload in every step of its chain).
        // Lanes below `len` are all stored by `v_lane`; only the unused ones (a context
        // under 32 positions) must read as zero, so the buffer is not cleared per call.
        s.vacc.resize(G * 32 * hd, 0.0);
        for g in 0..G {
            s.vacc[(g * 32 + len.min(32)) * hd..(g + 1) * 32 * hd].fill(0.0);
        }
        let w = if G <= 2 && hd.is_multiple_of(32) {
            4
        } else if hd.is_multiple_of(16) {
            2
        } else {
            1
        };
        for lane in 0..len.min(32) {
            for c0 in (0..hd).step_by(8 * w) {
                // SAFETY: rows lie inside the cache (asserted above); c0 + 8 w <= hd.
                unsafe {
                    match w {
                        4 => v_lane::<G, 4>(h, &s.scores, lane, c0, hd, &mut s.vacc),
                        2 => v_lane::<G, 2>(h, &s.scores, lane, c0, hd, &mut s.vacc),
                        _ => v_lane::<G, 1>(h, &s.scores, lane, c0, hd, &mut s.vacc),
                    }
                }
            }
        }
        // Each channel's 32 lanes reduced as `reduce_ggml_f16_lanes` does, eight channels
        // at a time: the same additions in the same order, lane by lane across channels
        // (a channel's lanes lie `hd` apart; gathering them one channel at a time cost as
        // many loads as a fifth of the V pass at a few hundred positions).
        for (g, out) in out.chunks_exact_mut(hd).enumerate() {
            let vacc = &s.vacc[g * 32 * hd..][..32 * hd];
            for d in (0..hd).step_by(8) {
                // SAFETY: d + 8 <= hd, so lane l's 8 values at l * hd + d lie inside
                // `vacc` (32 lanes of hd).
                let v = |l: usize| unsafe { _mm256_loadu_ps(vacc.as_ptr().add(l * hd + d)) };
                let x: [__m256; 8] = std::array::from_fn(|l| {
                    _mm256_add_ps(_mm256_add_ps(v(l), v(16 + l)), _mm256_add_ps(v(8 + l), v(24 + l)))
                });
                let t: [__m256; 4] = std::array::from_fn(|k| _mm256_add_ps(x[k], x[k + 4]));
                let r = _mm256_add_ps(_mm256_add_ps(t[0], t[1]), _mm256_add_ps(t[2], t[3]));
                // SAFETY: d + 8 <= hd == out.len().
                unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(d), r) };
            }
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
        let o = h.row(t);
        h.k[o..o + hd].convert_to_f32_slice(&mut s.buf);
        let d = if h.multi_row { dot_portable(&s.buf, &s.qh) } else { dot_ggml_f16_order(&s.buf, &s.qh) };
        s.scores.push(d * h.scale);
    }
    softmax_f64_sum(&mut s.scores);
    // For every output channel, 4 x 8 lane accumulators chosen by position, as
    // llama.cpp's f16 dot of the transposed V cache with the probabilities; V is
    // streamed row by row.
    s.vacc.clear();
    s.vacc.resize(hd * 32, 0.0);
    for (t, p) in s.scores.iter().enumerate() {
        let p = f16::from_f32(*p).to_f32();
        let o = h.row(t);
        h.v[o..o + hd].convert_to_f32_slice(&mut s.buf);
        let lane = ggml_f16_lane(t);
        for (d, v) in s.buf.iter().enumerate() {
            let a = &mut s.vacc[d * 32 + lane];
            *a = v.mul_add(p, *a);
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

    #[test]
    fn portable_and_dispatched_agree_across_shapes() {
        for (hd, len, stride, base) in
            // 8, 40 and 80 leave one, one and two vectors after the groups of four.
            [
                (64, 1, 64, 0),
                (64, 300, 192, 64),
                (128, 33, 128, 0),
                (8, 5, 24, 8),
                (12, 9, 12, 0),
                (40, 17, 120, 40),
                (80, 50, 80, 0),
            ]
        {
            let n = base + len * stride + hd;
            let k: Vec<f16> = (0..n).map(|i| f16::from_f32(((i * 7919) % 113) as f32 / 30.0 - 1.7)).collect();
            let v: Vec<f16> = (0..n).map(|i| f16::from_f32(((i * 104729) % 97) as f32 / 40.0 - 1.2)).collect();
            let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            for multi_row in [false, true] {
                let h = HeadView::contiguous(&k, &v, base, stride, len, 0.125, multi_row);
                let (mut a, mut b) = (vec![0f32; hd], vec![0f32; hd]);
                attend_head(&q, &h, &mut a);
                attend_body(&q, &h, &mut AttnScratch::default(), &mut b);
                let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "hd {hd} len {len} multi_row {multi_row}");
            }
        }
    }

    #[test]
    fn portable_and_dispatched_agree_bit_for_bit() {
        let hd = 64;
        let len = 70;
        let k: Vec<f16> = (0..len * hd).map(|i| f16::from_f32(((i * 7919) % 113) as f32 / 50.0 - 1.0)).collect();
        let v: Vec<f16> = (0..len * hd).map(|i| f16::from_f32(((i * 104729) % 97) as f32 / 40.0 - 1.0)).collect();
        let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.37).sin()).collect();
        for multi_row in [false, true] {
            let h = HeadView::contiguous(&k, &v, 0, hd, len, 0.125, multi_row);
            let (mut a, mut b) = (vec![0f32; hd], vec![0f32; hd]);
            attend_head(&q, &h, &mut a);
            attend_body(&q, &h, &mut AttnScratch::default(), &mut b);
            assert_eq!(
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
            // And against a plain f64 computation, loosely.
            let mut sc: Vec<f64> =
                (0..len).map(|t| (0..hd).map(|d| k[t * hd + d].to_f64() * q[d] as f64).sum::<f64>() * 0.125).collect();
            let m = sc.iter().cloned().fold(f64::MIN, f64::max);
            sc.iter_mut().for_each(|x| *x = (*x - m).exp());
            let z: f64 = sc.iter().sum();
            for d in 0..hd {
                let want: f64 = (0..len).map(|t| sc[t] / z * v[t * hd + d].to_f64()).sum();
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
        let (kv_dim, shift) = (256usize, 5u32);
        for (hd, len) in [(64usize, 1usize), (64, 77), (128, 40), (40, 19), (8, 9)] {
            let n_blocks = len.div_ceil(1 << shift);
            let blocks: Vec<u32> = (0..n_blocks as u32).rev().collect();
            let cells = n_blocks << shift;
            let k: Vec<f16> =
                (0..cells * kv_dim).map(|i| f16::from_f32(((i * 7919) % 113) as f32 / 30.0 - 1.7)).collect();
            let v: Vec<f16> =
                (0..cells * kv_dim).map(|i| f16::from_f32(((i * 104729) % 97) as f32 / 40.0 - 1.2)).collect();
            for group in 1..=5usize {
                let q: Vec<f32> = (0..group * hd).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
                for multi_row in [false, true] {
                    let h = HeadView {
                        k: &k,
                        v: &v,
                        base: hd,
                        stride: kv_dim,
                        blocks: &blocks,
                        block_shift: shift,
                        len,
                        scale: 0.125,
                        multi_row,
                    };
                    let mut together = vec![0f32; group * hd];
                    attend_heads(&q, hd, &h, &mut together);
                    for g in 0..group {
                        let mut alone = vec![0f32; hd];
                        attend_body(&q[g * hd..][..hd], &h, &mut AttnScratch::default(), &mut alone);
                        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
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

    /// Positions spread over blocks in any order of the cache give the bits of the
    /// same positions stored in one run, in both summation orders and both kernels.
    #[test]
    fn paged_view_equals_contiguous_bit_for_bit() {
        let (hd, kv_dim, shift) = (64usize, 192usize, 4u32);
        let bl = 1usize << shift;
        for len in [1usize, 15, 16, 17, 70, 200] {
            let n_blocks = len.div_ceil(bl);
            // Block i of the sequence lives in cache block perm[i] (a shuffle with a spare
            // block between, so a wrong index reads other data).
            let perm: Vec<u32> = (0..n_blocks).map(|i| ((i * 7 + 3) % (2 * n_blocks + 1)) as u32).collect();
            let cells = (2 * n_blocks + 1) * bl * kv_dim;
            let mut kp = vec![f16::ZERO; cells];
            let mut vp = vec![f16::ZERO; cells];
            let mut kc = vec![f16::ZERO; len * kv_dim];
            let mut vc = vec![f16::ZERO; len * kv_dim];
            for t in 0..len {
                for c in 0..kv_dim {
                    let (kx, vx) = (
                        f16::from_f32((((t * kv_dim + c) * 7919) % 113) as f32 / 30.0 - 1.7),
                        f16::from_f32((((t * kv_dim + c) * 104729) % 97) as f32 / 40.0 - 1.2),
                    );
                    let at = ((perm[t / bl] as usize * bl) + t % bl) * kv_dim + c;
                    (kp[at], vp[at], kc[t * kv_dim + c], vc[t * kv_dim + c]) = (kx, vx, kx, vx);
                }
            }
            let q: Vec<f32> = (0..hd).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
            for multi_row in [false, true] {
                let head = 64; // the second KV head of the row
                let paged = HeadView {
                    k: &kp,
                    v: &vp,
                    base: head,
                    stride: kv_dim,
                    blocks: &perm,
                    block_shift: shift,
                    len,
                    scale: 0.125,
                    multi_row,
                };
                let flat = HeadView::contiguous(&kc, &vc, head, kv_dim, len, 0.125, multi_row);
                let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                let (mut a, mut b, mut c) = (vec![0f32; hd], vec![0f32; hd], vec![0f32; hd]);
                attend_head(&q, &paged, &mut a);
                attend_head(&q, &flat, &mut b);
                attend_body(&q, &paged, &mut AttnScratch::default(), &mut c);
                assert_eq!(bits(&a), bits(&b), "len {len} multi_row {multi_row}: paged vs contiguous");
                assert_eq!(bits(&a), bits(&c), "len {len} multi_row {multi_row}: fast vs portable");
            }
        }
    }
}
