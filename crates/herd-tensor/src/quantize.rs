//! f32 rows to ggml blocks, byte for byte as llama.cpp's reference quantizers.
//!
//! These are the `quantize_row_*_ref` algorithms of ggml-quants.c, the path
//! `llama-quantize` takes when no importance matrix is given: absmax scaling for the
//! 32-value types, and for the k-quants a small search per sub-block for the scale (and
//! minimum) that minimises a weighted squared error, then 6- or 8-bit codes for those
//! scales relative to one f16 scale per 256 values.
//!
//! Every float operation happens in f32 in the reference's order: a different
//! association (or a fused multiply-add) changes which side of a rounding boundary a
//! value lands on, and with it the bytes. `nearest_int` is ggml's magic-number rounding,
//! i.e. round half to even. `tests/fixtures/quantize.json` (llama.cpp's own output)
//! checks all of it bit for bit.

use crate::TensorError;
use crate::dtype::{DType, QK_K};
use crate::quant::scale_min_k4;
use half::f16;

/// ggml's threshold below which a group counts as all zero (`GROUP_MAX_EPS`).
const GROUP_MAX_EPS: f32 = 1e-15;

/// Quantizes `x` to a new row of `dtype`; `None` when `x` is not a whole number of
/// blocks.
pub fn quantize_row(dtype: DType, x: &[f32]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(dtype.row_bytes(x.len())?);
    quantize_row_into(dtype, x, &mut out).ok()?;
    Some(out)
}

/// Appends the row of `dtype` for `x` to `out` (a writer reuses one buffer per row).
pub fn quantize_row_into(dtype: DType, x: &[f32], out: &mut Vec<u8>) -> Result<(), TensorError> {
    let block = dtype.block_len();
    if !x.len().is_multiple_of(block) {
        return Err(TensorError::RaggedRow { dtype, cols: x.len(), block });
    }
    out.reserve(x.len() / block * dtype.block_bytes());
    match dtype {
        DType::F32 => x.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        DType::F16 => x.iter().for_each(|v| out.extend_from_slice(&f16_bits(*v).to_le_bytes())),
        DType::BF16 => x.iter().for_each(|v| out.extend_from_slice(&bf16_bits(*v).to_le_bytes())),
        DType::Q8_0 => x.chunks_exact(32).for_each(|b| q8_0_block(b, out)),
        DType::Q4_0 => x.chunks_exact(32).for_each(|b| q4_0_block(b, out)),
        DType::Q4_1 => x.chunks_exact(32).for_each(|b| q4_1_block(b, out)),
        DType::Q5_0 => x.chunks_exact(32).for_each(|b| q5_0_block(b, out)),
        DType::Q4K => x.chunks_exact(QK_K).for_each(|b| out.extend_from_slice(&q4k_block(b))),
        DType::Q5K => x.chunks_exact(QK_K).for_each(|b| out.extend_from_slice(&q5k_block(b))),
        DType::Q6K => x.chunks_exact(QK_K).for_each(|b| out.extend_from_slice(&q6k_block(b))),
    }
    Ok(())
}

/// ggml's `nearest_int`: adding 1.5·2²³ makes the FPU round to an integer (half to
/// even), which then sits in the low mantissa bits. Same result as `round_ties_even`,
/// but that is a libm call on baseline x86-64 (no SSE4.1 `roundss`) and made the
/// k-quant searches 2x slower. ggml asserts |v| <= 2²²-1, which the quantizers never
/// exceed; beyond it (or for NaN) a saturating truncation keeps this panic-free.
/// (Not `round_ties_even` there: LLVM would compute the libm call on every path and
/// select, undoing the point.)
#[inline]
pub(crate) fn nearest_int(v: f32) -> i32 {
    if v.abs() <= 4_194_303.0 { ((v + 12_582_912.0).to_bits() & 0x007F_FFFF) as i32 - 0x0040_0000 } else { v as i32 }
}

/// IEEE half, round to nearest even; NaN becomes the quiet NaN `0x7E00` with the sign,
/// as ggml's software conversion (`ggml_compute_fp32_to_fp16`) writes it.
fn f16_bits(v: f32) -> u16 {
    if v.is_nan() {
        return ((v.to_bits() >> 16) as u16 & 0x8000) | 0x7E00;
    }
    f16::from_f32(v).to_bits()
}

/// `GGML_FP32_TO_BF16`: the top half of the f32 rounded to nearest even; a NaN keeps its
/// top bits with the quiet bit forced.
fn bf16_bits(v: f32) -> u16 {
    let u = v.to_bits();
    if u & 0x7FFF_FFFF > 0x7F80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    (u.wrapping_add(0x7FFF + ((u >> 16) & 1)) >> 16) as u16
}

fn push_f16(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&f16_bits(v).to_le_bytes());
}

/// The value of largest magnitude, sign kept (the first one on ties).
fn signed_absmax(x: &[f32]) -> f32 {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

/// Q8_0: d = absmax/127, values rounded half away from zero (C `roundf`).
fn q8_0_block(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    push_f16(out, d);
    out.extend(x.iter().map(|v| (v * id).round() as i8 as u8));
}

/// Q4_0: the value of largest magnitude maps to -8 (so d may be negative), codes are
/// `trunc(x/d + 8.5)` capped at 15.
fn q4_0_block(x: &[f32], out: &mut Vec<u8>) {
    let d = signed_absmax(x) / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    push_f16(out, d);
    let code = |v: f32| ((v * id + 8.5) as i32).min(15) as u8;
    for j in 0..16 {
        out.push(code(x[j]) | (code(x[j + 16]) << 4));
    }
}

/// Q4_1: min and (max-min)/15, codes `trunc((x-min)/d + 0.5)` capped at 15.
fn q4_1_block(x: &[f32], out: &mut Vec<u8>) {
    let min = x.iter().fold(f32::MAX, |a, &v| if v < a { v } else { a });
    let max = x.iter().fold(-f32::MAX, |a, &v| if v > a { v } else { a });
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    push_f16(out, d);
    push_f16(out, min);
    let code = |v: f32| (((v - min) * id + 0.5) as i32).min(15) as u8;
    for j in 0..16 {
        out.push(code(x[j]) | (code(x[j + 16]) << 4));
    }
}

/// Q5_0: Q4_0 with 5-bit codes around 16; the fifth bits go to a 32-bit mask.
fn q5_0_block(x: &[f32], out: &mut Vec<u8>) {
    let d = signed_absmax(x) / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    push_f16(out, d);
    let code = |v: f32| ((v * id + 16.5) as i32).min(31) as u32;
    let mut qh = 0u32;
    let mut qs = [0u8; 16];
    for j in 0..16 {
        let (c0, c1) = (code(x[j]), code(x[j + 16]));
        qs[j] = ((c0 & 0x0F) | ((c1 & 0x0F) << 4)) as u8;
        qh |= ((c0 >> 4) & 1) << j;
        qh |= ((c1 >> 4) & 1) << (j + 16);
    }
    out.extend_from_slice(&qh.to_le_bytes());
    out.extend_from_slice(&qs);
}

/// The search parameters of `make_qkx2_quants`: candidate inverse scales
/// `(nmax + rmin + rdelta*i) / (max - min)` for `i` in `0..=nstep`.
struct Search {
    nmax: i32,
    rmin: f32,
    rdelta: f32,
    nstep: i32,
}

/// Q4_K's search (`make_qkx2_quants(32, 15, …, -1, 0.1, 20)`).
const Q4K_SEARCH: Search = Search { nmax: 15, rmin: -1.0, rdelta: 0.1, nstep: 20 };
/// Q5_K's search (`make_qkx2_quants(32, 31, …, -0.5, 0.1, 15)`).
const Q5K_SEARCH: Search = Search { nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15 };

/// Weighted squared error of `scale * l + min` against `x`.
fn weighted_error(x: &[f32], w: &[f32], l: &[u8], scale: f32, min: f32) -> f32 {
    let mut err = 0f32;
    for i in 0..x.len() {
        let diff = scale * l[i] as f32 + min - x[i];
        err += w[i] * (diff * diff);
    }
    err
}

/// `make_qkx2_quants` for one sub-block of 32: the affine map `x ≈ scale * l - m`
/// (`l` in `0..=nmax`, `m >= 0`) with the least weighted squared error among the
/// plain min/max fit and `nstep + 1` candidate scales, each refined by the
/// closed-form weighted least-squares solution for its codes. Returns `(scale, m)`
/// and leaves the codes in `l`.
fn affine_search(x: &[f32; 32], w: &[f32; 32], l: &mut [u8; 32], s: &Search) -> (f32, f32) {
    let (mut min, mut max) = (x[0], x[0]);
    let (mut sum_w, mut sum_x) = (w[0], w[0] * x[0]);
    for i in 1..32 {
        min = if x[i] < min { x[i] } else { min };
        max = if x[i] > max { x[i] } else { max };
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    // Not `f32::min`: that may return either zero for ±0, and the sign shows in `-min`.
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        *l = [0; 32];
        return (0.0, -min);
    }
    let nmax = s.nmax as f32;
    let code = |iscale: f32, v: f32, min: f32| nearest_int(iscale * (v - min)).clamp(0, s.nmax) as u8;
    let iscale = nmax / (max - min);
    let mut scale = 1.0 / iscale;
    for i in 0..32 {
        l[i] = code(iscale, x[i], min);
    }
    let mut best = weighted_error(x, w, l, scale, min);
    let mut aux = [0u8; 32];
    for step in 0..=s.nstep {
        let iscale = (s.rmin + s.rdelta * step as f32 + nmax) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..32 {
            aux[i] = code(iscale, x[i], min);
            let li = aux[i] as f32;
            sum_l += w[i] * li;
            sum_l2 += w[i] * li * li;
            sum_xl += w[i] * li * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det <= 0.0 {
            continue;
        }
        let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if this_min > 0.0 {
            this_min = 0.0;
            this_scale = sum_xl / sum_l2;
        }
        let err = weighted_error(x, w, &aux, this_scale, this_min);
        if err < best {
            *l = aux;
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    (scale, -min)
}

/// The codes, 6-bit scale/min pairs and super-block scales shared by Q4_K and Q5_K:
/// returns `(d, dmin, packed scales[12], codes[256])`.
fn kquant_affine(x: &[f32], s: &Search) -> (u16, u16, [u8; 12], [u8; QK_K]) {
    let mut codes = [0u8; QK_K];
    let (mut scales, mut mins) = ([0f32; 8], [0f32; 8]);
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..8 {
        let mut xs = [0f32; 32];
        xs.copy_from_slice(&x[32 * j..32 * j + 32]);
        // Weights favour large values but never ignore small ones: rms + |x|.
        let sum_x2 = xs.iter().fold(0f32, |a, v| a + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        let w: [f32; 32] = std::array::from_fn(|i| av_x + xs[i].abs());
        let mut l = [0u8; 32];
        (scales[j], mins[j]) = affine_search(&xs, &w, &mut l, s);
        codes[32 * j..32 * j + 32].copy_from_slice(&l);
        max_scale = if scales[j] > max_scale { scales[j] } else { max_scale };
        max_min = if mins[j] > max_min { mins[j] } else { max_min };
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut packed = [0u8; 12];
    for j in 0..8 {
        // `as u8` wraps like C's conversion to uint8_t before the cap at 63.
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            packed[j] = ls;
            packed[j + 4] = lm;
        } else {
            packed[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4);
            packed[j - 4] |= (ls >> 4) << 6;
            packed[j] |= (lm >> 4) << 6;
        }
    }
    let (d, dmin) = (f16_bits(max_scale / 63.0), f16_bits(max_min / 63.0));
    // Requantize every value against the scales as stored (f16 times a 6-bit code);
    // a sub-block whose stored scale is zero keeps the codes of its search.
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &packed);
        let dj = f16::from_bits(d).to_f32() * sc as f32;
        if dj == 0.0 {
            continue;
        }
        let dm = f16::from_bits(dmin).to_f32() * m as f32;
        for i in 32 * j..32 * j + 32 {
            codes[i] = nearest_int((x[i] + dm) / dj).clamp(0, s.nmax) as u8;
        }
    }
    (d, dmin, packed, codes)
}

/// Q4_K: d, dmin, 12 bytes of 6-bit scale/min pairs, 128 bytes of nibbles (each run of
/// 64 values: the first 32 in low nibbles, the next 32 in high nibbles).
fn q4k_block(x: &[f32]) -> [u8; 144] {
    let (d, dmin, scales, codes) = kquant_affine(x, &Q4K_SEARCH);
    let mut b = [0u8; 144];
    b[0..2].copy_from_slice(&d.to_le_bytes());
    b[2..4].copy_from_slice(&dmin.to_le_bytes());
    b[4..16].copy_from_slice(&scales);
    for c in 0..4 {
        for l in 0..32 {
            b[16 + 32 * c + l] = codes[64 * c + l] | (codes[64 * c + 32 + l] << 4);
        }
    }
    b
}

/// Q5_K: as Q4_K with 5-bit codes; the fifth bits of run `c` go to bits `2c` and `2c+1`
/// of `qh[l]`.
fn q5k_block(x: &[f32]) -> [u8; 176] {
    let (d, dmin, scales, codes) = kquant_affine(x, &Q5K_SEARCH);
    let mut b = [0u8; 176];
    b[0..2].copy_from_slice(&d.to_le_bytes());
    b[2..4].copy_from_slice(&dmin.to_le_bytes());
    b[4..16].copy_from_slice(&scales);
    for c in 0..4 {
        for l in 0..32 {
            let (c1, c2) = (codes[64 * c + l], codes[64 * c + 32 + l]);
            b[16 + l] |= ((c1 >> 4) << (2 * c)) | ((c2 >> 4) << (2 * c + 1));
            b[48 + 32 * c + l] = (c1 & 0x0F) | ((c2 & 0x0F) << 4);
        }
    }
    b
}

/// `make_qx_quants(16, 32, x, L, rmse_type = 1)`: a symmetric scale for 16 values
/// (codes `l` in `-32..32`, stored as `l + 32`), chosen among 19 candidates around
/// `-32/max` by the least-squares fit weighted by `x²`. Returns the scale.
fn symmetric_search(x: &[f32], l: &mut [u8]) -> f32 {
    const NMAX: i32 = 32;
    let max = signed_absmax(x);
    if max.abs() < GROUP_MAX_EPS {
        l.fill(0);
        return 0.0;
    }
    let code = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-NMAX, NMAX - 1);
    let fit = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for &v in x {
            let li = code(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * li;
            suml2 += w * li * li;
        }
        (sumlx, suml2)
    };
    let iscale = -(NMAX as f32) / max;
    for (o, &v) in l.iter_mut().zip(x) {
        *o = (code(iscale, v) + NMAX) as u8;
    }
    let (sumlx, suml2) = fit(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for step in (-9..=9).filter(|s| *s != 0) {
        let iscale = -(NMAX as f32 + 0.1 * step as f32) / max;
        let (sumlx, suml2) = fit(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (o, &v) in l.iter_mut().zip(x) {
                *o = (code(iscale, v) + NMAX) as u8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Q6_K: ql[128] low nibbles, qh[64] high 2-bit pairs, 16 signed 8-bit scales, d f16.
fn q6k_block(x: &[f32]) -> [u8; 210] {
    let mut codes = [0u8; QK_K];
    let mut scales = [0f32; 16];
    let (mut max_scale, mut max_abs) = (0f32, 0f32);
    for g in 0..16 {
        scales[g] = symmetric_search(&x[16 * g..16 * g + 16], &mut codes[16 * g..16 * g + 16]);
        if scales[g].abs() > max_abs {
            max_abs = scales[g].abs();
            max_scale = scales[g];
        }
    }
    let mut b = [0u8; 210];
    if max_abs < GROUP_MAX_EPS {
        return b;
    }
    let iscale = -128.0 / max_scale;
    let d = f16_bits(1.0 / iscale);
    b[208..210].copy_from_slice(&d.to_le_bytes());
    for g in 0..16 {
        let q = nearest_int(iscale * scales[g]).min(127) as i8;
        b[192 + g] = q as u8;
        let dg = f16::from_bits(d).to_f32() * q as f32;
        if dg == 0.0 {
            continue;
        }
        for i in 16 * g..16 * g + 16 {
            codes[i] = (nearest_int(x[i] / dg).clamp(-32, 31) + 32) as u8;
        }
    }
    for h in 0..2 {
        let (c, ql, qh) = (&codes[128 * h..128 * h + 128], 64 * h, 128 + 32 * h);
        for l in 0..32 {
            b[ql + l] = (c[l] & 0x0F) | ((c[l + 64] & 0x0F) << 4);
            b[ql + 32 + l] = (c[l + 32] & 0x0F) | ((c[l + 96] & 0x0F) << 4);
            b[qh + l] = (c[l] >> 4) | ((c[l + 32] >> 4) << 2) | ((c[l + 64] >> 4) << 4) | ((c[l + 96] >> 4) << 6);
        }
    }
    b
}
