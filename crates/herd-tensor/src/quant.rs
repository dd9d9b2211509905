//! Scalar reference dequantization of every supported dtype, block by block.
//!
//! Block layouts follow ggml (ggml-common.h): all multi-byte fields little-endian,
//! scales as IEEE half floats. These functions are the ground truth the fast kernels
//! are tested against, so they favour the plainest possible form over speed.

use crate::dtype::{DType, QK_K};
use half::{bf16, f16};

#[inline]
fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantize one row. `row` holds exactly `dtype.row_bytes(out.len())` bytes.
///
/// Panics when the lengths disagree: callers validate shapes when a tensor is loaded
/// (see `WeightRef::new`), so a mismatch here is a bug in herd, not bad input.
pub fn dequantize_row(dtype: DType, row: &[u8], out: &mut [f32]) {
    let want = dtype.row_bytes(out.len());
    assert_eq!(want, Some(row.len()), "dequantize_row: {dtype:?} row length");
    let bl = dtype.block_len();
    let bb = dtype.block_bytes();
    for (blk, y) in row.chunks_exact(bb).zip(out.chunks_exact_mut(bl)) {
        dequantize_block(dtype, blk, y);
    }
}

/// Dequantize one block of `dtype` into `y` (`dtype.block_len()` values).
pub fn dequantize_block(dtype: DType, b: &[u8], y: &mut [f32]) {
    match dtype {
        DType::F32 => y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        DType::F16 => y[0] = f16_at(b, 0),
        DType::BF16 => y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        DType::Q4_0 => {
            // d: f16, qs[16]: low nibbles are values 0..16, high nibbles 16..32; offset 8.
            let d = f16_at(b, 0);
            let qs = &b[2..18];
            for j in 0..16 {
                y[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
                y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
            }
        }
        DType::Q4_1 => {
            // d: f16, m: f16, qs[16]; value = q*d + m.
            let d = f16_at(b, 0);
            let m = f16_at(b, 2);
            let qs = &b[4..20];
            for j in 0..16 {
                y[j] = (qs[j] & 0x0F) as f32 * d + m;
                y[j + 16] = (qs[j] >> 4) as f32 * d + m;
            }
        }
        DType::Q5_0 => {
            // d: f16, qh: u32 (bit j is the fifth bit of value j), qs[16] as Q4_0; offset 16.
            let d = f16_at(b, 0);
            let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
            let qs = &b[6..22];
            for j in 0..16 {
                let h0 = ((qh >> j) & 1) as u8;
                let h1 = ((qh >> (j + 16)) & 1) as u8;
                y[j] = (((qs[j] & 0x0F) | (h0 << 4)) as i32 - 16) as f32 * d;
                y[j + 16] = (((qs[j] >> 4) | (h1 << 4)) as i32 - 16) as f32 * d;
            }
        }
        DType::Q8_0 => {
            let d = f16_at(b, 0);
            for j in 0..32 {
                y[j] = (b[2 + j] as i8) as f32 * d;
            }
        }
        DType::Q4K => dequant_q4k(b, y),
        DType::Q5K => dequant_q5k(b, y),
        DType::Q6K => dequant_q6k(b, y),
    }
}

/// The 6-bit (scale, min) pair `j` of the 12 packed scale bytes of Q4_K / Q5_K.
#[inline]
pub fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Q4_K: d f16, dmin f16, scales[12], qs[128]; 8 sub-blocks of 32 with 6-bit scale/min.
fn dequant_q4k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qs = &b[16..144];
    for (chunk, out) in y[..QK_K].chunks_exact_mut(64).enumerate() {
        let q = &qs[chunk * 32..chunk * 32 + 32];
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, mm1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, mm2) = (d * sc2 as f32, dmin * m2 as f32);
        for l in 0..32 {
            out[l] = d1 * (q[l] & 0x0F) as f32 - mm1;
            out[l + 32] = d2 * (q[l] >> 4) as f32 - mm2;
        }
    }
}

/// Q5_K: d, dmin, scales[12], qh[32] (fifth bits), qs[128] (low nibbles).
fn dequant_q5k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    for (chunk, out) in y[..QK_K].chunks_exact_mut(64).enumerate() {
        let q = &qs[chunk * 32..chunk * 32 + 32];
        let u1 = 1u8 << (2 * chunk);
        let u2 = 2u8 << (2 * chunk);
        let (sc1, m1) = scale_min_k4(2 * chunk, scales);
        let (sc2, m2) = scale_min_k4(2 * chunk + 1, scales);
        let (d1, mm1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, mm2) = (d * sc2 as f32, dmin * m2 as f32);
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            out[l] = d1 * ((q[l] & 0x0F) + h1) as f32 - mm1;
            out[l + 32] = d2 * ((q[l] >> 4) + h2) as f32 - mm2;
        }
    }
}

/// Q6_K: ql[128] (low nibbles), qh[64] (2 high bits each), scales[16] (i8), d f16.
fn dequant_q6k(b: &[u8], y: &mut [f32]) {
    let ql_all = &b[0..128];
    let qh_all = &b[128..192];
    let sc_all = &b[192..208];
    let d = f16_at(b, 208);
    for half in 0..2 {
        let ql = &ql_all[half * 64..half * 64 + 64];
        let qh = &qh_all[half * 32..half * 32 + 32];
        let sc = &sc_all[half * 8..half * 8 + 8];
        let out = &mut y[half * 128..half * 128 + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            out[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            out[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            out[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            out[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}

/// f32 values to a row of `dtype`; see [`crate::quantize`] (kept here for callers
/// that think of quantization as the inverse of this module).
pub use crate::quantize::quantize_row;
