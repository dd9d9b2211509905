//! NEON versions of the weight dots (the 32-value block types, the k-quants, F16 and
//! BF16), for AArch64 (Apple silicon, Graviton, Ampere), where NEON is part of the base
//! architecture: no run-time check.
//!
//! The same bits as the portable code, as the x86 kernels: the integer parts by
//! widening byte products (`smull`, exact: every product of a weight and an 8-bit
//! activation fits an i16) and pairwise adds, which are exact in any order, and the
//! float operations one for one in the portable code's order: for the 32-value block
//! types eight lanes (two 4-lane vectors), lane `k` fed `d * (products 4k..4k + 4)` by
//! one fused multiply-add a block and summed in `simd::reduce8`'s order; for the
//! k-quants the per-super-block expression as the portable code writes it; for the
//! half types ggml's 32 f16-dot lanes as eight vectors (`dot_half`). The
//! dot-product instructions (`sdot`, ARMv8.2) are not used: their Rust intrinsics are
//! not stable, and `smull` keeps every AArch64 CPU on one kernel. The functions carry
//! `target_feature(enable = "neon")` only so that the intrinsics are safe to call:
//! NEON is on for every AArch64 target.

use super::{Q8Block, Q8KBlock};
use crate::dtype::DType;
use crate::quant::scale_min_k4;
use crate::simd::neon::{f16x4, load_f32, reduce_ggml_f16, reduce8};
use std::arch::aarch64::*;

/// 16 bytes from the start of `s` (panics if shorter).
#[inline]
#[target_feature(enable = "neon")]
fn load_u8(s: &[u8]) -> uint8x16_t {
    let s = &s[..16];
    // SAFETY: `s` is 16 readable bytes (sliced above).
    unsafe { vld1q_u8(s.as_ptr()) }
}

/// 16 signed bytes from the start of `s` (panics if shorter).
#[inline]
#[target_feature(enable = "neon")]
fn load_i8(s: &[i8]) -> int8x16_t {
    let s = &s[..16];
    // SAFETY: as `load_u8`.
    unsafe { vld1q_s8(s.as_ptr()) }
}

/// Lane `j`: the sum of the products of bytes `4j..4j + 4` of `a` and `b`.
#[inline]
#[target_feature(enable = "neon")]
fn dot4(a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    let hi = vpaddlq_s16(vmull_high_s8(a, b));
    // [lo0 + lo1, lo2 + lo3, hi0 + hi1, hi2 + hi3]: products 0-3, 4-7, 8-11, 12-15.
    vpaddq_s32(lo, hi)
}

/// The f16 at `b[0..2]` and, with `pair`, at `b[2..4]` as f32, exactly: a block's
/// scale (and Q4_1's or a k-quant's minimum) by one `fcvtl`. `half`'s conversion checks
/// for the FP16 extension on every call and calls out of line, once per block.
#[inline]
#[target_feature(enable = "neon")]
fn f16_scales(b: &[u8], pair: bool) -> (f32, f32) {
    let bits =
        if pair { u32::from_le_bytes([b[0], b[1], b[2], b[3]]) } else { u16::from_le_bytes([b[0], b[1]]) as u32 };
    let v = f16x4(vcreate_u16(bits as u64));
    (vgetq_lane_f32::<0>(v), vgetq_lane_f32::<1>(v))
}

/// Bit `i` of each byte of `0x8040_2010_0804_0201` twice: `vtst` against a byte
/// repeated eight times picks its bits out one a lane.
const BIT_OF_LANE: [u8; 16] = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];

/// 16 lanes, `0x10` where bit `i` of the 16-bit `bits` is set (lane `i`), else 0.
#[inline]
#[target_feature(enable = "neon")]
fn fifth_bits(bits: u16) -> uint8x16_t {
    let sel = vcombine_u8(vdup_n_u8(bits as u8), vdup_n_u8((bits >> 8) as u8));
    vandq_u8(vtstq_u8(sel, load_u8(&BIT_OF_LANE)), vdupq_n_u8(0x10))
}

/// A 32-value block's weights as signed bytes: values 0-15, then 16-31.
#[inline]
#[target_feature(enable = "neon")]
fn q32_values(dtype: DType, b: &[u8]) -> (int8x16_t, int8x16_t) {
    let m4 = vdupq_n_u8(0x0F);
    match dtype {
        DType::Q4_0 | DType::Q4_1 => {
            // Low nibbles are values 0-15, high nibbles 16-31.
            let q = load_u8(&b[if dtype == DType::Q4_1 { 4 } else { 2 }..]);
            let (lo, hi) = (vreinterpretq_s8_u8(vandq_u8(q, m4)), vreinterpretq_s8_u8(vshrq_n_u8::<4>(q)));
            if dtype == DType::Q4_1 { (lo, hi) } else { (vsubq_s8(lo, vdupq_n_s8(8)), vsubq_s8(hi, vdupq_n_s8(8))) }
        }
        DType::Q5_0 => {
            // The fifth bit of value i is bit i of the 32-bit `qh`.
            let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
            let q = load_u8(&b[6..]);
            let lo = vorrq_u8(vandq_u8(q, m4), fifth_bits(qh as u16));
            let hi = vorrq_u8(vshrq_n_u8::<4>(q), fifth_bits((qh >> 16) as u16));
            let sixteen = vdupq_n_s8(16);
            (vsubq_s8(vreinterpretq_s8_u8(lo), sixteen), vsubq_s8(vreinterpretq_s8_u8(hi), sixteen))
        }
        _ => (vreinterpretq_s8_u8(load_u8(&b[2..])), vreinterpretq_s8_u8(load_u8(&b[18..]))),
    }
}

/// `super::dot_q32_portable` of `R` rows of one length against `a`, in one pass over
/// the blocks (each activation block loaded once for all of them).
#[target_feature(enable = "neon")]
pub(super) fn dot_q32_rows<const R: usize>(dtype: DType, rows: [&[u8]; R], a: &[Q8Block]) -> [f32; R] {
    q32_grid::<R, 1>(dtype, rows, [a]).map(|[x]| x)
}

/// `dot_q32_rows::<1>` of one row against `T` activation rows (a prompt's tokens),
/// each weight block decoded once for all of them.
#[target_feature(enable = "neon")]
pub(super) fn dot_q32_tokens<const T: usize>(dtype: DType, row: &[u8], ys: [&[Q8Block]; T]) -> [f32; T] {
    let [x] = q32_grid::<1, T>(dtype, [row], ys);
    x
}

/// `out[r][t] = dot(rows[r], ys[t])`: each weight block decoded once for the `T`
/// tokens, each activation block loaded once for the `R` rows; every (row, token)
/// pair's lanes and sums are its own one-token dot's. The type as a constant, so that
/// each type's loop is compiled without the others' branches (on x86 a branch on the
/// type per block was a quarter of the instructions).
#[inline]
#[target_feature(enable = "neon")]
fn q32_grid<const R: usize, const T: usize>(dtype: DType, rows: [&[u8]; R], ys: [&[Q8Block]; T]) -> [[f32; T]; R] {
    match dtype {
        DType::Q4_0 => q32_typed::<R, T, 0>(rows, ys),
        DType::Q4_1 => q32_typed::<R, T, 1>(rows, ys),
        DType::Q5_0 => q32_typed::<R, T, 2>(rows, ys),
        _ => q32_typed::<R, T, 3>(rows, ys),
    }
}

/// The 32-value block types by the constant index `q32_typed` takes.
const Q32: [DType; 4] = [DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q8_0];

/// `q32_grid` for the type `Q32[D]`.
#[inline]
#[target_feature(enable = "neon")]
fn q32_typed<const R: usize, const T: usize, const D: usize>(rows: [&[u8]; R], ys: [&[Q8Block]; T]) -> [[f32; T]; R] {
    let dtype = Q32[D];
    let bb = dtype.block_bytes();
    let n = rows[0].len() / bb;
    assert!(rows.iter().all(|r| r.len() == n * bb), "dot_q32_rows: rows of different lengths");
    assert!(ys.iter().all(|y| y.len() >= n), "dot_q32: fewer activation blocks than weight blocks");
    let q41 = dtype == DType::Q4_1;
    let zero = vdupq_n_f32(0.0);
    let mut acc = [[(zero, zero); T]; R];
    let mut summs = [[0f32; T]; R];
    for i in 0..n {
        let y: [_; T] = std::array::from_fn(|t| (load_i8(&ys[t][i].qs), load_i8(&ys[t][i].qs[16..])));
        for (r, row) in rows.iter().enumerate() {
            let b = &row[i * bb..(i + 1) * bb];
            let (dw, mw) = f16_scales(b, q41);
            let (w0, w1) = q32_values(dtype, b);
            for (t, &(y0, y1)) in y.iter().enumerate() {
                let q = &ys[t][i];
                if q41 {
                    summs[r][t] += mw * q.s;
                }
                let d = vdupq_n_f32(dw * q.d);
                // acc + s * d, fused: the portable `d.mul_add(s, acc)`.
                let a = &mut acc[r][t];
                a.0 = vfmaq_f32(a.0, vcvtq_f32_s32(dot4(w0, y0)), d);
                a.1 = vfmaq_f32(a.1, vcvtq_f32_s32(dot4(w1, y1)), d);
            }
        }
    }
    std::array::from_fn(|r| {
        std::array::from_fn(|t| {
            let s = reduce8(acc[r][t].0, acc[r][t].1);
            if q41 { s + summs[r][t] } else { s }
        })
    })
}

/// A k-quant super-block's 256 weights as signed bytes, sixteen vectors of 16
/// consecutive values, and the integer scale of each run of 16 (Q4_K and Q5_K: their
/// 32-value sub-block's 6-bit scale; Q6_K: its own signed 8-bit scale).
struct KBlock {
    v: [int8x16_t; 16],
    scale: [i32; 16],
    /// Q4_K and Q5_K: each sub-block's 6-bit minimum.
    mins: [i32; 8],
}

#[inline]
#[target_feature(enable = "neon")]
fn kblock(dtype: DType, b: &[u8]) -> KBlock {
    let zero = vdupq_n_s8(0);
    let mut k = KBlock { v: [zero; 16], scale: [0; 16], mins: [0; 8] };
    let m4 = vdupq_n_u8(0x0F);
    if dtype == DType::Q6K {
        let (ql, qh, sc) = (&b[0..128], &b[128..192], &b[192..208]);
        let (m2, thirty_two) = (vdupq_n_u8(0x30), vdupq_n_s8(32));
        let value = |x: uint8x16_t| vsubq_s8(vreinterpretq_s8_u8(x), thirty_two);
        for h in 0..2 {
            for c in 0..2 {
                // Values l (the 16 from 16c) of half h: ql's low nibbles with qh's bits
                // 0-1 above them; l + 32: the next 32 of ql, qh bits 2-3; l + 64 and
                // l + 96: the high nibbles, qh bits 4-5 and 6-7.
                let a = load_u8(&ql[64 * h + 16 * c..]);
                let bq = load_u8(&ql[64 * h + 32 + 16 * c..]);
                let hb = load_u8(&qh[32 * h + 16 * c..]);
                let g = 8 * h + c;
                k.v[g] = value(vorrq_u8(vandq_u8(a, m4), vandq_u8(vshlq_n_u8::<4>(hb), m2)));
                k.v[g + 2] = value(vorrq_u8(vandq_u8(bq, m4), vandq_u8(vshlq_n_u8::<2>(hb), m2)));
                k.v[g + 4] = value(vorrq_u8(vshrq_n_u8::<4>(a), vandq_u8(hb, m2)));
                k.v[g + 6] = value(vorrq_u8(vshrq_n_u8::<4>(bq), vandq_u8(vshrq_n_u8::<2>(hb), m2)));
            }
        }
        for (s, x) in k.scale.iter_mut().zip(sc) {
            *s = (*x as i8) as i32;
        }
        return k;
    }
    let q5 = dtype == DType::Q5K;
    let (qs, hbits) = if q5 { (&b[48..176], Some(&b[16..48])) } else { (&b[16..144], None) };
    for c in 0..4 {
        for half in 0..2 {
            // Values 64c + 16 half.. (low nibbles) and 64c + 32 + 16 half.. (high).
            let q = load_u8(&qs[32 * c + 16 * half..]);
            let (mut lo, mut hi) = (vandq_u8(q, m4), vshrq_n_u8::<4>(q));
            if let Some(hb) = hbits {
                // Q5_K: plus 16 where bit 2c (low) or 2c + 1 (high) of qh[l] is set.
                let h = load_u8(&hb[16 * half..]);
                let sixteen = vdupq_n_u8(16);
                lo = vaddq_u8(lo, vandq_u8(vtstq_u8(h, vdupq_n_u8(1 << (2 * c))), sixteen));
                hi = vaddq_u8(hi, vandq_u8(vtstq_u8(h, vdupq_n_u8(2 << (2 * c))), sixteen));
            }
            k.v[4 * c + half] = vreinterpretq_s8_u8(lo);
            k.v[4 * c + 2 + half] = vreinterpretq_s8_u8(hi);
        }
    }
    for j in 0..8 {
        let (s, m) = scale_min_k4(j, &b[4..16]);
        k.scale[2 * j] = s as i32;
        k.scale[2 * j + 1] = s as i32;
        k.mins[j] = m as i32;
    }
    k
}

/// `super::dot_kquant_portable` of one Q4_K, Q5_K or Q6_K row against `T` activation
/// rows, each super-block decoded once for all of them.
#[target_feature(enable = "neon")]
pub(super) fn dot_kquant_rows<const T: usize>(dtype: DType, row: &[u8], ys: [&[Q8KBlock]; T], out: &mut [f32; T]) {
    let mut sum = [0f32; T];
    for (i, b) in row.chunks_exact(dtype.block_bytes()).enumerate() {
        let k = kblock(dtype, b);
        let (d, dmin) = if dtype == DType::Q6K { f16_scales(&b[208..], false) } else { f16_scales(b, true) };
        for (t, s) in sum.iter_mut().enumerate() {
            let y = &ys[t][i];
            // Σ scale(g) · Σ values·activations over the 16-value runs g: exact in i32
            // (|value| <= 32, |scale| <= 127, 256 products).
            let mut tot = vdupq_n_s32(0);
            for (g, (v, sc)) in k.v.iter().zip(k.scale).enumerate() {
                let q = load_i8(&y.qs[16 * g..]);
                let p = vpadalq_s16(vpaddlq_s16(vmull_s8(vget_low_s8(*v), vget_low_s8(q))), vmull_high_s8(*v, q));
                tot = vmlaq_n_s32(tot, p, sc);
            }
            let total = vaddvq_s32(tot);
            // The portable code's float expressions, as it writes them.
            if dtype == DType::Q6K {
                *s += d * y.d * total as f32;
            } else {
                let mins: i32 = (0..8).map(|j| k.mins[j] * (y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32)).sum();
                *s += d * y.d * total as f32 - dmin * y.d * mins as f32;
            }
        }
    }
    *out = sum;
}

/// Four half weights (F16, or BF16 if `bf`) from 8 bytes, as f32 (exact).
#[inline]
#[target_feature(enable = "neon")]
fn halves(bf: bool, b: &[u8]) -> float32x4_t {
    let b = &b[..8];
    // SAFETY: `b` is 8 readable bytes (sliced above); an unaligned u16 load is allowed.
    let h = unsafe { vld1_u16(b.as_ptr() as *const u16) };
    if bf { vreinterpretq_f32_u32(vshll_n_u16::<16>(h)) } else { f16x4(h) }
}

/// `super::dot_half_portable` (ggml's f16 dot order) of a half row and `x`
/// (`row.len() == 2 * x.len()`): ggml's 32 accumulator lanes as eight vectors, value
/// `32c + 4k + m` into vector `k`, lane `m` (which is lane `4k + m` of ggml's four 8-lane
/// accumulators), a last partial 32 zero-padded as the vector code pads it, and
/// `simd::reduce_ggml_f16_lanes`'s additions in its order.
#[target_feature(enable = "neon")]
pub(super) fn dot_half(bf: bool, row: &[u8], x: &[f32]) -> f32 {
    assert_eq!(row.len(), 2 * x.len(), "dot_half: activation length differs from the row");
    let mut acc = [vdupq_n_f32(0.0); 8];
    let whole = x.len() / 32 * 32;
    for c in (0..whole).step_by(32) {
        for (k, a) in acc.iter_mut().enumerate() {
            // acc + w * x, fused: the portable `w.mul_add(x, acc)`.
            *a = vfmaq_f32(*a, halves(bf, &row[2 * (c + 4 * k)..]), load_f32(&x[c + 4 * k..]));
        }
    }
    if whole < x.len() {
        let (mut w, mut xt) = ([0u8; 64], [0f32; 32]);
        let n = x.len() - whole;
        w[..2 * n].copy_from_slice(&row[2 * whole..]);
        xt[..n].copy_from_slice(&x[whole..]);
        for (k, a) in acc.iter_mut().enumerate() {
            *a = vfmaq_f32(*a, halves(bf, &w[8 * k..]), load_f32(&xt[4 * k..]));
        }
    }
    reduce_ggml_f16(&acc)
}
