//! Prompt matmuls of k-quant weights (Q4_K, Q5_K, Q6_K) on AVX-512 VNNI, for CPUs
//! without AMX (Ice Lake, Zen 4, and virtual machines that hide AMX from the guest).
//!
//! Why a second kernel beside `qdot`'s: those put one token's values in the lanes of a
//! vector, so every 32 values of a sub-block need their own scale step (a pack and a
//! `vpdpwssd` per two products) and every super-block a horizontal sum per token and
//! row; at eight tokens that was as many instructions again as the products. Here the
//! lanes are sixteen tokens (the activations in AMX's packed layout, `amx::Packed`:
//! four values of each of 16 tokens side by side, 64 bytes), and a weight row's four
//! values are broadcast to every lane, so one `vpdpbusd` adds four products for each of
//! 16 tokens and no lane is ever summed across. A sub-block's sums are then scaled by
//! one `vpmulld` per row (its 6-bit or 8-bit scale) and the super-block's float
//! expression runs on 16 tokens at once. The sums are the same integers as the
//! portable code's (exact: the largest, 16 Q6_K sub-blocks of 63 * 127 * 16 times 128,
//! stays below 2^31) and the float expression per super-block and token is the
//! portable one, so the results are bit-identical to `qdot::dot_kquant_portable`, for
//! any batch.
//!
//! Weights are decoded once per task of 16 rows (`Raw`: the values as bytes, row after
//! row, the scales as i32) and then reused by every token tile: a prompt of 512 tokens
//! multiplies each decoded value 512 times.
//!
//! Q6_K's values are stored unsigned (0..=63, not -32..=31, since `vpdpbusd` takes its
//! first operand unsigned); the `-32` comes back as 32 times the scaled activation sums
//! per 16 (`Packed::b16`), subtracted from the integer total.
//!
//! Q8_0, Q4_0 and Q4_1 prompts (`dot_q8_rows`) take the same shape of kernel over AMX's
//! 8-bit layout (`amx::PackedQ8`) and give `amx::dot_q8_rows`' bits: each block's exact
//! sum scaled into the token's f32 sum, which is not ggml's order, so only prompt rows
//! take it (`MatMul::prompt_path_differs`); Q5_0 too, which has no AMX kernel. Q8_0's
//! values are stored plus 128, Q5_0's plus 16 and Q4_0's as their nibbles (0..=15, not
//! -8..=7): the offset comes back as 128, 16 or 8 times the token's integer sum.

use crate::amx::{Packed, PackedQ8, TILE_ROWS, TILE_TOKENS, check_rows};
use crate::dtype::{DType, QK_K};
use crate::qdot::Isa;

/// Whether `matmul` should take `dtype` through these kernels here: a k-quant, on a CPU
/// whose best kernel set is AVX-512 VNNI (so `HERD_NO_AVX512=1` turns it off).
pub fn runs(dtype: DType) -> bool {
    matches!(dtype, DType::Q4K | DType::Q5K | DType::Q6K) && Isa::best() == Isa::Avx512Vnni
}

/// One super-block of 16 weight rows, decoded: `q[r * 256 + v]` is value v of row r
/// (Q4_K 0..=15, Q5_K 0..=31, Q6_K 0..=63), `sc[j * 16 + r]` the scale of sub-block j
/// (8 of 32 values; Q6_K 16 of 16), `pairs[jj * 16 + r]` two i16 for `vpdpwssd`: Q4_K
/// and Q5_K's mins of sub-blocks 2jj and 2jj+1 (jj < 4), Q6_K's scales of its 16s 2jj
/// and 2jj+1 (jj < 8); the f16 super-block scales as f32.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Raw {
    q: [u8; QK_K * TILE_ROWS],
    sc: [i32; 16 * TILE_ROWS],
    pairs: [i32; 8 * TILE_ROWS],
    d: [f32; TILE_ROWS],
    dmin: [f32; TILE_ROWS],
}

impl Default for Raw {
    fn default() -> Self {
        Raw {
            q: [0; QK_K * TILE_ROWS],
            sc: [0; 16 * TILE_ROWS],
            pairs: [0; 8 * TILE_ROWS],
            d: [0.0; TILE_ROWS],
            dmin: [0.0; TILE_ROWS],
        }
    }
}

/// Two i16 as one i32 lane (`lo` in the low half), as `vpdpwssd` pairs them.
fn pair(lo: i16, hi: i16) -> i32 {
    (lo as u16 as u32 | (hi as u16 as u32) << 16) as i32
}

/// Decodes super-block `i` of up to 16 weight rows into `u` (missing rows zero): the
/// scalars here, the values in vectors (`x86::unpack_values`).
fn unpack(dtype: DType, rows: &[&[u8]], i: usize, u: &mut Raw) {
    if rows.len() < TILE_ROWS {
        *u = Raw::default();
    }
    let bb = dtype.row_bytes(QK_K).expect("a k-quant super-block");
    for (r, row) in rows.iter().enumerate() {
        let b = &row[i * bb..(i + 1) * bb];
        // The same super-block sixteen rows on (the next task's) is asked for while this
        // one is decoded, as `amx::unpack` does: the hardware prefetchers do not follow
        // sixteen rows read a super-block at a time.
        #[cfg(target_arch = "x86_64")]
        crate::simd::prefetch_lines(b.as_ptr().wrapping_add(TILE_ROWS * row.len()), bb);
        let k = crate::amx::KScalars::of(dtype, b);
        for (j, s) in k.sc.iter().enumerate() {
            u.sc[j * TILE_ROWS + r] = *s as i32;
        }
        // Q6_K pairs its scales with the activation sums per 16, the others their mins
        // with the sums per 32.
        for (jj, p) in u.pairs.chunks_exact_mut(TILE_ROWS).enumerate() {
            p[r] = if dtype == DType::Q6K {
                pair(k.sc[2 * jj], k.sc[2 * jj + 1])
            } else {
                k.mins.get(jj).copied().unwrap_or(0)
            };
        }
        (u.d[r], u.dmin[r]) = (k.d, k.dmin);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: only reached through `dot_rows`, after `runs` checked AVX-512 VNNI
        // (with AVX2); `b` is one whole super-block of `dtype` and row r's 256 bytes of
        // `u.q` are in bounds (r < 16).
        unsafe {
            x86::unpack_values(dtype, b, &mut u.q[r * QK_K..(r + 1) * QK_K])
        };
    }
}

thread_local! {
    /// Each worker's decoded weight rows, reused from call to call.
    static SCRATCH: std::cell::RefCell<Vec<Raw>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `put(t, v)` with `v[r] = dot(rows[r], token t)` for up to 16 weight rows of `dtype`
/// (whole super-blocks; `v` is zero past them) and every token of `packed`
/// (`amx::packed_tiles(n_tok)` token tiles from `amx::pack_tile`, one `Packed` per
/// super-block each, tile-major), stopping at `n_tok` tokens. Bit-identical to
/// `qdot::dot_kquant_portable` of each row and token.
///
/// # Panics
/// If `runs(dtype)` is false, or the sizes disagree.
pub fn dot_rows(
    dtype: DType,
    rows: &[&[u8]],
    packed: &[Packed],
    n_tok: usize,
    mut put: impl FnMut(usize, &[f32; TILE_ROWS]),
) {
    let unit = dtype.row_bytes(QK_K).expect("a k-quant");
    let (blocks, _) = check_rows("vnni::dot_rows", runs(dtype), dtype, rows, unit, packed.len(), 1, n_tok);
    SCRATCH.with_borrow_mut(|w| {
        if w.len() < blocks {
            w.resize(blocks, Raw::default());
        }
        for (i, u) in w[..blocks].iter_mut().enumerate() {
            unpack(dtype, rows, i, u);
        }
        let w = &w[..blocks];
        by_tiles(packed, blocks, rows.len(), n_tok, &mut put, |p, r0, m| {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `runs` checked AVX-512 F/BW/VL/VNNI; `w` and `p` hold one entry per
            // super-block; rows r0..r0 + 8 are within the 16 of `Raw`.
            unsafe {
                x86::rows8(dtype, w, p, r0, m)
            };
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (w, p, r0, m);
        });
    });
}

/// For each token tile of `packed` (`blocks` entries a tile) that holds tokens below
/// `n_tok`: `eight(its entries, r0, m)` for rows `r0..r0 + 8` of the `n_rows`, eight
/// at a time (`m[r][t]`: row r0 + r, token t of the tile), then `put` for each token.
fn by_tiles<P>(
    packed: &[P],
    blocks: usize,
    n_rows: usize,
    n_tok: usize,
    put: &mut impl FnMut(usize, &[f32; TILE_ROWS]),
    eight: impl Fn(&[P], usize, &mut [[f32; TILE_TOKENS]; 8]),
) {
    for (tile, p) in packed.chunks_exact(blocks).take(n_tok.div_ceil(TILE_TOKENS)).enumerate() {
        let mut m = [[0f32; TILE_TOKENS]; TILE_ROWS];
        for (half, m) in m.chunks_exact_mut(8).enumerate().take(n_rows.div_ceil(8)) {
            eight(p, 8 * half, m.try_into().expect("8 rows"));
        }
        for t in 0..TILE_TOKENS.min(n_tok - tile * TILE_TOKENS) {
            put(tile * TILE_TOKENS + t, &std::array::from_fn(|r| m[r][t]));
        }
    }
}

/// Whether `MatMul::matmul_prompt` takes weights of `dtype` (Q8_0, Q4_0, Q4_1, Q5_0)
/// through `dot_q8_rows` here: AVX-512 VNNI as the best kernel set, and no AMX-INT8
/// kernel for the type (`amx::dot_q8_rows` gives the same bits faster).
pub fn runs_q8(dtype: DType) -> bool {
    let kind = match dtype {
        DType::Q8_0 | DType::Q4_0 | DType::Q4_1 => !crate::amx::runs_q8(dtype),
        // No AMX kernel takes Q5_0 (the 135M model's Q4_K_M mix, whose 576-wide rows
        // hold no 256-value super-block, is mostly Q5_0).
        DType::Q5_0 => true,
        _ => false,
    };
    kind && Isa::best() == Isa::Avx512Vnni
}

/// One block of 32 values of 16 weight rows: the values as unsigned bytes, row after
/// row (Q8_0's plus 128, Q5_0's plus 16, Q4_0's and Q4_1's nibbles as stored), the
/// rows' scales and (Q4_1) minimums.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct RawQ8 {
    q: [u8; 32 * TILE_ROWS],
    d: [f32; TILE_ROWS],
    m: [f32; TILE_ROWS],
}

impl Default for RawQ8 {
    fn default() -> Self {
        RawQ8 { q: [0; 32 * TILE_ROWS], d: [0.0; TILE_ROWS], m: [0.0; TILE_ROWS] }
    }
}

/// Block `b` of `dtype` as row `r` of `u`: values 0-15 of a 4-bit block are its low
/// nibbles, 16-31 its high ones.
fn unpack_q8(dtype: DType, b: &[u8], r: usize, u: &mut RawQ8) {
    let f16 = |o: usize| half::f16::from_le_bytes([b[o], b[o + 1]]).to_f32();
    u.d[r] = f16(0);
    let q = &mut u.q[32 * r..32 * r + 32];
    let nibbles = |q: &mut [u8], bytes: &[u8]| {
        let (lo, hi) = q.split_at_mut(16);
        for ((l, h), v) in lo.iter_mut().zip(hi).zip(bytes) {
            (*l, *h) = (v & 0x0F, v >> 4);
        }
    };
    match dtype {
        DType::Q8_0 => q.iter_mut().zip(&b[2..34]).for_each(|(q, v)| *q = (*v as i8 as i16 + 128) as u8),
        DType::Q4_0 => nibbles(q, &b[2..18]),
        DType::Q5_0 => {
            let v = crate::qdot::q5_0_values(b);
            q.iter_mut().zip(v).for_each(|(q, v)| *q = (v + 16) as u8);
        }
        DType::Q4_1 => {
            u.m[r] = f16(2);
            nibbles(q, &b[4..20]);
        }
        _ => unreachable!("runs_q8 admits Q8_0, Q4_0, Q4_1 and Q5_0 only"),
    }
}

thread_local! {
    /// Each worker's decoded 8-bit-path weight rows, reused from call to call.
    static Q8_SCRATCH: std::cell::RefCell<Vec<RawQ8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `amx::dot_q8_rows` on AVX-512 VNNI, with the same bits: `put(t, v)` with `v[r] =
/// dot(rows[r], token t)` for up to 16 weight rows of `dtype` (Q8_0, Q4_0, Q4_1; `v`
/// is zero past them) and every token of `packed` (`amx::packed_tiles(n_tok)` tiles
/// of one `PackedQ8` per block, from `amx::pack_q8_tile`), stopping at `n_tok` tokens.
///
/// # Panics
/// If `runs_q8(dtype)` is false, or the sizes disagree.
pub fn dot_q8_rows(
    dtype: DType,
    rows: &[&[u8]],
    packed: &[PackedQ8],
    n_tok: usize,
    mut put: impl FnMut(usize, &[f32; TILE_ROWS]),
) {
    let bb = dtype.block_bytes();
    let (blocks, _) = check_rows("vnni::dot_q8_rows", runs_q8(dtype), dtype, rows, bb, packed.len(), 1, n_tok);
    Q8_SCRATCH.with_borrow_mut(|w| {
        w.clear();
        w.resize(blocks, RawQ8::default());
        for (r, row) in rows.iter().enumerate() {
            for (u, b) in w.iter_mut().zip(row.chunks_exact(bb)) {
                unpack_q8(dtype, b, r, u);
            }
        }
        let w = &w[..];
        by_tiles(packed, blocks, rows.len(), n_tok, &mut put, |p, r0, m| {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `runs_q8` checked AVX-512 F/BW/VL/VNNI; `w` and `p` hold one entry
            // per block; rows r0..r0 + 8 are within the 16 of `RawQ8`.
            unsafe {
                x86::q8_rows8(dtype, w, p, r0, m)
            };
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (w, p, r0, m);
        });
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Raw, RawQ8, TILE_ROWS, TILE_TOKENS};
    use crate::amx::{Packed, PackedQ8};
    use crate::dtype::{DType, QK_K};
    use crate::qdot::avx2::{q6k_values, q45k_values};
    use std::arch::x86_64::*;

    /// The 256 values of super-block `b` (decoded by `qdot::avx2`'s `q45k_values` /
    /// `q6k_values`, in the portable code's value order, Q6_K's without its -32) into
    /// `out`.
    ///
    /// # Safety
    /// AVX2 must be present; `b` is one super-block of `dtype`, `out` 256 bytes.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn unpack_values(dtype: DType, b: &[u8], out: &mut [u8]) {
        assert_eq!(out.len(), QK_K, "unpack_values: one super-block");
        let mut put = |at: usize, v: __m256i| {
            // SAFETY: at + 32 <= 256 == out.len() for every call below.
            unsafe { _mm256_storeu_si256(out[at..at + 32].as_mut_ptr() as *mut __m256i, v) }
        };
        if dtype == DType::Q6K {
            for h in 0..2 {
                let v = q6k_values(&b[h * 64..h * 64 + 64], &b[128 + h * 32..128 + h * 32 + 32]);
                for (k, v) in v.into_iter().enumerate() {
                    put(h * 128 + 32 * k, v);
                }
            }
            return;
        }
        let q5 = dtype == DType::Q5K;
        let (qh, qs) = if q5 { (&b[16..48], &b[48..176]) } else { (&b[0..0], &b[16..144]) };
        // SAFETY: Q5_K's 32 high-bit bytes (only read for Q5_K).
        let hbits =
            if q5 { unsafe { _mm256_loadu_si256(qh.as_ptr() as *const __m256i) } } else { _mm256_setzero_si256() };
        for c in 0..4 {
            let (lo, hi) = if q5 { q45k_values::<true>(qs, hbits, c) } else { q45k_values::<false>(qs, hbits, c) };
            put(64 * c, lo);
            put(64 * c + 32, hi);
        }
    }

    /// Rows `r0..r0 + 8` of the decoded super-blocks `w` against one token tile `p`
    /// (one `Packed` per super-block): `m[r][t]`, the dot of row r0 + r with token t.
    ///
    /// # Safety
    /// AVX-512 F, BW, VL and VNNI must be present; `w` and `p` have the same length,
    /// `r0 + 8 <= 16`, `dtype` a k-quant.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn rows8(dtype: DType, w: &[Raw], p: &[Packed], r0: usize, m: &mut [[f32; TILE_TOKENS]; 8]) {
        // SAFETY: forwarded from the caller.
        let sum = unsafe {
            match dtype {
                DType::Q6K => rows8_typed::<true>(w, p, r0),
                _ => rows8_typed::<false>(w, p, r0),
            }
        };
        for (m, s) in m.iter_mut().zip(sum) {
            // SAFETY: 16 writable f32.
            unsafe { _mm512_storeu_ps(m.as_mut_ptr(), s) };
        }
    }

    /// `rows8` for Q6_K (`Q6`: 16 sub-blocks of 16, signed 8-bit scales, no mins) or
    /// Q4_K/Q5_K (8 sub-blocks of 32, 6-bit scales and mins): the f32 sums, a vector of
    /// 16 tokens per row. Eight rows keep 24 vectors in registers (their sums, their
    /// super-block's integer totals, their sub-block's products), so each 64-byte load
    /// of activations feeds eight `vpdpbusd`.
    ///
    /// # Safety
    /// As `rows8`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn rows8_typed<const Q6: bool>(w: &[Raw], p: &[Packed], r0: usize) -> [__m512; 8] {
        assert!(w.len() == p.len() && r0 + 8 <= TILE_ROWS, "rows8: {} blocks, {} packed, row {r0}", w.len(), p.len());
        // Groups of four values per sub-block.
        let steps = if Q6 { 4 } else { 8 };
        let mut sum = [_mm512_setzero_ps(); 8];
        for (u, p) in w.iter().zip(p) {
            let mut sumi = [_mm512_setzero_si512(); 8];
            for j in 0..QK_K / 4 / steps {
                let mut acc = [_mm512_setzero_si512(); 8];
                for k4 in j * steps..(j + 1) * steps {
                    // SAFETY: 64 bytes at 64 * k4 < 64 * 64 of `qs` (AMX's `qs[k4][t][4]`).
                    let y = unsafe { _mm512_loadu_si512(p.qs.as_ptr().add(64 * k4) as *const __m512i) };
                    for (r, a) in acc.iter_mut().enumerate() {
                        // SAFETY: 4 bytes at (r0 + r) * 256 + 4 * k4, inside `q` (r0 + r < 16,
                        // k4 < 64).
                        let q = unsafe { (u.q.as_ptr().add((r0 + r) * QK_K + 4 * k4) as *const i32).read_unaligned() };
                        *a = _mm512_dpbusd_epi32(*a, _mm512_set1_epi32(q), y);
                    }
                }
                for (r, (s, a)) in sumi.iter_mut().zip(acc).enumerate() {
                    *s = _mm512_add_epi32(*s, _mm512_mullo_epi32(a, _mm512_set1_epi32(u.sc[j * TILE_ROWS + r0 + r])));
                }
            }
            // SAFETY: 16 readable f32.
            let yd = unsafe { _mm512_loadu_ps(p.d.as_ptr()) };
            // Activation i16 pairs: per 32 (`bp`, four) for the mins, per 16 (`b16`,
            // eight) for Q6_K's -32.
            let pairs = |at: *const i16| {
                // SAFETY: `at` is the start of 32 i16 inside `bp` or `b16` (below).
                unsafe { _mm512_loadu_si512(at as *const __m512i) }
            };
            for (r, s) in sum.iter_mut().enumerate() {
                let rr = r0 + r;
                let x = if Q6 {
                    let mut c = _mm512_setzero_si512();
                    for g in 0..8 {
                        let b = pairs(p.b16[g * 32..].as_ptr());
                        c = _mm512_dpwssd_epi32(c, b, _mm512_set1_epi32(u.pairs[g * TILE_ROWS + rr]));
                    }
                    // |32 * c| <= 32 * 16 * 128 * 2032: no overflow.
                    let tot = _mm512_sub_epi32(sumi[r], _mm512_slli_epi32::<5>(c));
                    // `d * y.d * total as f32`, in that order, as the portable code.
                    _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(u.d[rr]), yd), _mm512_cvtepi32_ps(tot))
                } else {
                    let x = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(u.d[rr]), yd), _mm512_cvtepi32_ps(sumi[r]));
                    let mut mins = _mm512_setzero_si512();
                    for jj in 0..4 {
                        let b = pairs(p.bp[jj * 32..].as_ptr());
                        mins = _mm512_dpwssd_epi32(mins, b, _mm512_set1_epi32(u.pairs[jj * TILE_ROWS + rr]));
                    }
                    let dm = _mm512_mul_ps(_mm512_set1_ps(u.dmin[rr]), yd);
                    _mm512_sub_ps(x, _mm512_mul_ps(dm, _mm512_cvtepi32_ps(mins)))
                };
                *s = _mm512_add_ps(*s, x);
            }
        }
        sum
    }

    /// Rows `r0..r0 + 8` of the decoded blocks `w` (Q8_0, Q4_0 or Q4_1) against one
    /// token tile `p`: `m[r][t]`, the dot of row r0 + r with token t.
    ///
    /// # Safety
    /// AVX-512 F, BW, VL and VNNI must be present; `w` and `p` have the same length,
    /// `r0 + 8 <= 16`, `dtype` one of the three.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub unsafe fn q8_rows8(dtype: DType, w: &[RawQ8], p: &[PackedQ8], r0: usize, m: &mut [[f32; TILE_TOKENS]; 8]) {
        // SAFETY: forwarded from the caller.
        let sum = unsafe {
            match dtype {
                DType::Q8_0 => q8_rows8_typed::<7, false>(w, p, r0),
                DType::Q4_0 => q8_rows8_typed::<3, false>(w, p, r0),
                DType::Q5_0 => q8_rows8_typed::<4, false>(w, p, r0),
                _ => q8_rows8_typed::<0, true>(w, p, r0),
            }
        };
        for (m, s) in m.iter_mut().zip(sum) {
            // SAFETY: 16 writable f32.
            unsafe { _mm512_storeu_ps(m.as_mut_ptr(), s) };
        }
    }

    /// `q8_rows8` with the stored values' offset `2^SHIFT` (Q8_0 128, Q5_0 16, Q4_0 8,
    /// Q4_1 none)
    /// and Q4_1's minimum terms (`MIN`): per block, its eight runs of four values of 16
    /// tokens each feed eight rows' `vpdpbusd`; then `fma(isum, dw * dx, sum)`, and
    /// `fma(m, s, msum)` added last, as `amx::dot_q8_rows` does.
    ///
    /// # Safety
    /// As `q8_rows8`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    unsafe fn q8_rows8_typed<const SHIFT: u32, const MIN: bool>(w: &[RawQ8], p: &[PackedQ8], r0: usize) -> [__m512; 8] {
        assert!(
            w.len() == p.len() && r0 + 8 <= TILE_ROWS,
            "q8_rows8: {} blocks, {} packed, row {r0}",
            w.len(),
            p.len()
        );
        let mut sum = [_mm512_setzero_ps(); 8];
        let mut msum = [_mm512_setzero_ps(); 8];
        for (u, p) in w.iter().zip(p) {
            let mut acc = [_mm512_setzero_si512(); 8];
            for (k, y) in p.qs.iter().enumerate() {
                // SAFETY: 64 readable bytes.
                let y = unsafe { _mm512_loadu_si512(y.as_ptr() as *const __m512i) };
                for (r, a) in acc.iter_mut().enumerate() {
                    // SAFETY: 4 bytes at (r0 + r) * 32 + 4k, inside `q` (r0 + r < 16, k < 8).
                    let q = unsafe { (u.q.as_ptr().add((r0 + r) * 32 + 4 * k) as *const i32).read_unaligned() };
                    *a = _mm512_dpbusd_epi32(*a, _mm512_set1_epi32(q), y);
                }
            }
            // SAFETY (both): 16 readable f32 / i32.
            let xd = unsafe { _mm512_loadu_ps(p.d.as_ptr()) };
            // The offset's share: 2^SHIFT times the token's sum (|.| <= 128 * 32 * 127).
            let off = _mm512_slli_epi32::<SHIFT>(unsafe { _mm512_loadu_si512(p.isum.as_ptr() as *const __m512i) });
            for (r, (s, a)) in sum.iter_mut().zip(acc).enumerate() {
                let isum = if SHIFT > 0 { _mm512_sub_epi32(a, off) } else { a };
                // `dw * dx` rounded once, as ggml's scale of a block pair.
                let d = _mm512_mul_ps(_mm512_set1_ps(u.d[r0 + r]), xd);
                *s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), d, *s);
            }
            if MIN {
                // SAFETY: 16 readable f32.
                let xs = unsafe { _mm512_loadu_ps(p.s.as_ptr()) };
                for (r, m) in msum.iter_mut().enumerate() {
                    *m = _mm512_fmadd_ps(_mm512_set1_ps(u.m[r0 + r]), xs, *m);
                }
            }
        }
        if MIN {
            for (s, m) in sum.iter_mut().zip(&msum) {
                *s = _mm512_add_ps(*s, *m);
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amx::{pack_tile, packed_tiles};
    use crate::qdot::{dot_kquant_portable, q8k_block};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Random k-quant rows with sane f16 scales (small positive, so no NaN/inf).
    fn rows(rng: &mut StdRng, dtype: DType, n: usize, blocks: usize) -> Vec<Vec<u8>> {
        let bb = dtype.row_bytes(QK_K).expect("a k-quant");
        (0..n)
            .map(|_| {
                let mut v: Vec<u8> = (0..bb * blocks).map(|_| rng.random()).collect();
                for b in v.chunks_exact_mut(bb) {
                    let at: &[usize] = if dtype == DType::Q6K { &[208] } else { &[0, 2] };
                    for &o in at {
                        let d = half::f16::from_f32(0.001 + b[o] as f32 / 4096.0);
                        b[o..o + 2].copy_from_slice(&d.to_le_bytes());
                    }
                }
                v
            })
            .collect()
    }

    #[test]
    fn vnni_dots_equal_the_portable_kquant_dots_bit_for_bit() {
        if !runs(DType::Q4K) {
            eprintln!("skipped: no AVX-512 VNNI here");
            return;
        }
        let mut rng = StdRng::seed_from_u64(11);
        let blocks = 3;
        for dtype in [DType::Q4K, DType::Q5K, DType::Q6K] {
            for (n_rows, n_tok) in [(16, 16usize), (5, 37), (16, 1), (9, 48)] {
                let w = rows(&mut rng, dtype, n_rows, blocks);
                let cols = QK_K * blocks;
                // Activations up to full scale, so that the Q8_K values reach ±127 and
                // the sums their extremes.
                let x: Vec<f32> = (0..n_tok * cols).map(|_| rng.random_range(-4.0f32..4.0)).collect();
                let tiles = packed_tiles(n_tok);
                let mut packed = vec![Packed::default(); tiles * blocks];
                for (tile, out) in packed.chunks_exact_mut(blocks).enumerate() {
                    let tokens = (tile * TILE_TOKENS).min(n_tok)..((tile + 1) * TILE_TOKENS).min(n_tok);
                    pack_tile(&x[tokens.start * cols..tokens.end * cols], cols, out);
                }
                let acts: Vec<Vec<_>> =
                    x.chunks_exact(cols).map(|x| x.chunks_exact(QK_K).map(q8k_block).collect()).collect();
                let refs: Vec<&[u8]> = w.iter().map(|r| &r[..]).collect();
                let mut seen = 0;
                dot_rows(dtype, &refs, &packed, n_tok, |t, v| {
                    for (r, v) in v.iter().enumerate() {
                        if r >= n_rows {
                            assert_eq!(*v, 0.0, "{dtype:?}: a missing row {r} gave {v}");
                            continue;
                        }
                        let want = dot_kquant_portable(dtype, &w[r], &acts[t]);
                        assert_eq!(v.to_bits(), want.to_bits(), "{dtype:?} row {r} token {t}: {v} vs {want}");
                        seen += 1;
                    }
                });
                assert_eq!(seen, n_rows * n_tok, "{dtype:?}: every (token, row) once");
            }
        }
    }

    #[test]
    fn vnni_q8_dots_equal_the_amx_order_bit_for_bit() {
        for dtype in [DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0] {
            if !runs_q8(dtype) {
                eprintln!("skipped: no AVX-512 VNNI here, or AMX-INT8 takes these");
                return;
            }
            crate::amx::tests::block_dots_in_kernel_order(dtype, &|rows, packed, n_tok, put| {
                dot_q8_rows(dtype, rows, packed, n_tok, put)
            });
        }
    }
}
