//! Prompt matmuls of half weights (F16, BF16) on AVX-512 CPUs without AMX-BF16.
//!
//! Why: the one-token kernels keep ggml's order of f16 sums (32 lanes per row and
//! token, so a decode row matches llama.cpp's bits), and to fit their registers every
//! 16 weights are converted from half for each six tokens: the conversions take the
//! same two ports as the multiply-adds, and a prompt ran at about half the
//! multiply-add peak. Here a task's 16 weight rows are converted to f32 once and every
//! token tile of the prompt reuses them: per value k, one load of 16 tokens' values
//! (`pack_tile` stores them value-major) and one multiply-add per row with the row's
//! weight broadcast from memory, no conversion at all in the loop. The 16 rows' sums
//! (a vector of 16 tokens each) stay in registers for the whole row.
//!
//! The products are those of the activations rounded to the weight's half type, as
//! every half path takes them, but each (row, token) sum runs through the values in
//! order in one f32 lane, not ggml's: so `MatMul::prompt_path_differs` is true here and
//! decode rows keep the one-token kernels. The order depends on nothing but the row
//! and the token, so a prompt's bits do not depend on its chunking or batch.

use crate::amx::{TILE_ROWS, TILE_TOKENS, check_rows};
use crate::dtype::DType;

/// Whether `MatMul::matmul_prompt` takes `dtype` through this kernel here: half
/// weights, an AVX-512 CPU (not turned off by `HERD_NO_AVX512=1`) on which AMX-BF16's
/// path (`amx::runs_half`) does not run.
pub fn runs(dtype: DType) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        matches!(dtype, DType::F16 | DType::BF16) && crate::simd::has_avx512() && !crate::amx::runs_half(dtype)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = dtype;
        false
    }
}

/// f32 values one token tile takes: 16 tokens by `cols`.
pub fn tile_len(cols: usize) -> usize {
    TILE_TOKENS * cols
}

/// One token tile of `x` (up to 16 tokens of `cols` values) rounded to `dtype`'s half
/// values, column by column: `out[k * 16 + t]` is value k of token t (zero past the
/// tile's tokens), so that the kernel broadcasts each from one base pointer.
pub fn pack_tile(dtype: DType, x: &[f32], cols: usize, out: &mut [f32]) {
    let n = x.len() / cols.max(1);
    assert!(n <= TILE_TOKENS && n * cols == x.len(), "half_prompt::pack_tile: {} values of {cols} columns", x.len());
    assert_eq!(out.len(), tile_len(cols), "half_prompt::pack_tile: a tile is 16 tokens of {cols}");
    if n < TILE_TOKENS {
        out.fill(0.0);
    }
    let mut rounded = [0f32; 64];
    for t in 0..n {
        for (c, x) in x[t * cols..(t + 1) * cols].chunks(64).enumerate() {
            crate::qdot::round_half_into(dtype, x, &mut rounded[..x.len()]);
            for (k, v) in rounded[..x.len()].iter().enumerate() {
                out[(64 * c + k) * TILE_TOKENS + t] = *v;
            }
        }
    }
}

/// f32 values of one run of `dot_rows`' cache blocking: 256 values of 16 rows (or
/// tokens).
const KRUN: usize = 256 * 16;

thread_local! {
    /// Each worker's 16 weight rows in f32, column by column, reused from call to call.
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `put(t, v)` with `v[r] = dot(rows[r], token t)` for up to 16 weight rows of `dtype`
/// (`v` zero past them) and every token of `packed` (`amx::packed_tiles(n_tok)` tiles
/// from `pack_tile`, each `tile_len(cols)` values), stopping at `n_tok` tokens.
///
/// # Panics
/// If `runs(dtype)` is false, or the sizes disagree.
pub fn dot_rows(
    dtype: DType,
    rows: &[&[u8]],
    packed: &[f32],
    n_tok: usize,
    mut put: impl FnMut(usize, &[f32; TILE_ROWS]),
) {
    let (cols, _) = check_rows("half_prompt::dot_rows", runs(dtype), dtype, rows, 2, packed.len(), TILE_TOKENS, n_tok);
    SCRATCH.with_borrow_mut(|w| {
        w.clear();
        w.resize(cols * TILE_ROWS, 0.0);
        for (r, row) in rows.iter().enumerate() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `runs` checked AVX-512 F (with F16C); `row` holds `cols` half values
            // and `w` 16 per column (r < 16).
            unsafe {
                x86::widen_row(dtype == DType::BF16, row, r, w)
            };
        }
        let w = &w[..];
        let tiles = n_tok.div_ceil(TILE_TOKENS);
        let len = tile_len(cols);
        for pair in (0..tiles).step_by(2) {
            // m[k][r][t]: row r, token 16 * (pair + k) + t.
            let mut m = [[[0f32; TILE_TOKENS]; TILE_ROWS]; 2];
            let x0 = &packed[pair * len..(pair + 1) * len];
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `runs` checked AVX-512 F; `w` and the tiles hold 16 values per
            // column; the rows are 0..8 and 8..16 of 16.
            unsafe {
                if pair + 1 < tiles {
                    let x1 = &packed[(pair + 1) * len..(pair + 2) * len];
                    // Runs of 256 values: two tiles' activations (32 KiB) and the 16
                    // rows' weights (16 KiB) stay in the L1 cache for both halves of
                    // the rows; the sums go through `m` between runs (the same sums).
                    for k in (0..w.len()).step_by(KRUN) {
                        let end = (k + KRUN).min(w.len());
                        for r0 in [0, 8] {
                            x86::tiles2(&w[k..end], [&x0[k..end], &x1[k..end]], r0, &mut m);
                        }
                    }
                } else {
                    x86::tile(w, x0, &mut m[0]);
                }
            }
            for (k, m) in m.iter().enumerate().take(tiles - pair) {
                let first = (pair + k) * TILE_TOKENS;
                for t in 0..TILE_TOKENS.min(n_tok - first) {
                    put(first + t, &std::array::from_fn(|r| m[r][t]));
                }
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{TILE_ROWS, TILE_TOKENS};
    use std::arch::x86_64::*;

    /// Row `r` of 16 (`cols` half values, F16 or `bf`16, a multiple of 16) into `w` as
    /// f32, by runs of 16 values: run c of row r at `(c * 16 + r) * 16`, so that the
    /// kernel finds value `16c + i` of every row at fixed offsets from one pointer.
    ///
    /// # Safety
    /// AVX-512 F and F16C must be present; `row.len() / 2 * 16 <= w.len()`, `r < 16`.
    #[target_feature(enable = "avx512f,f16c")]
    pub unsafe fn widen_row(bf: bool, row: &[u8], r: usize, w: &mut [f32]) {
        let cols = row.len() / 2;
        assert!(cols.is_multiple_of(16) && cols * TILE_ROWS <= w.len() && r < TILE_ROWS, "widen_row: {cols}, row {r}");
        for (c, h) in row.chunks_exact(32).enumerate() {
            let at = (c * TILE_ROWS + r) * 16;
            // SAFETY: 32 readable bytes in `h`; 16 writable f32 at `at` (c < cols / 16,
            // r < 16, so at + 16 <= cols * 16).
            unsafe {
                let h = _mm256_loadu_si256(h.as_ptr() as *const __m256i);
                let f = if bf {
                    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
                } else {
                    _mm512_cvtph_ps(h)
                };
                _mm512_storeu_ps(w.as_mut_ptr().add(at), f);
            }
        }
    }

    /// `m[r][t] = sum over k of w[r][k] * x[k][t]`, in order of k, one lane per
    /// (r, t): sixteen tokens in a vector, one per row, each row's value broadcast.
    ///
    /// # Safety
    /// AVX-512 F must be present; `w` is in `widen_row`'s runs, `x` in `pack_tile`'s
    /// layout, both 16 values per column.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile(w: &[f32], x: &[f32], m: &mut [[f32; TILE_TOKENS]; TILE_ROWS]) {
        assert!(
            w.len() == x.len() && w.len().is_multiple_of(256),
            "half_prompt: {} weights, {} values",
            w.len(),
            x.len()
        );
        let mut acc = [_mm512_setzero_ps(); TILE_ROWS];
        // A run of 16 values: 16 rows' weights (256) and 16 tokens' values (256).
        for (wc, xc) in w.chunks_exact(256).zip(x.chunks_exact(256)) {
            for i in 0..16 {
                // SAFETY: 16 readable f32 at 16i < 256.
                let xv = unsafe { _mm512_loadu_ps(xc.as_ptr().add(16 * i)) };
                for (r, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(_mm512_set1_ps(wc[16 * r + i]), xv, *a);
                }
            }
        }
        for (m, a) in m.iter_mut().zip(acc) {
            // SAFETY: 16 writable f32.
            unsafe { _mm512_storeu_ps(m.as_mut_ptr(), a) };
        }
    }

    /// `tile` for two token tiles `x` and the eight rows `r0..r0 + 8`, adding to the
    /// sums in `m` (a run of values at a time: the same sums, each in the same order). Each broadcast weight feeds two multiply-adds, so a
    /// value costs ten loads for sixteen multiply-adds instead of seventeen (16 rows
    /// by one tile: the loads, not the multiply-adds, bounded it).
    ///
    /// # Safety
    /// As `tile`, for each of `x`; `r0 + 8 <= 16`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tiles2(w: &[f32], x: [&[f32]; 2], r0: usize, m: &mut [[[f32; TILE_TOKENS]; TILE_ROWS]; 2]) {
        assert!(x.iter().all(|x| x.len() == w.len()) && w.len().is_multiple_of(256) && r0 + 8 <= TILE_ROWS);
        // SAFETY (the loads and stores of `m`): 16 f32 each.
        let mut acc: [[__m512; 2]; 8] =
            std::array::from_fn(|r| std::array::from_fn(|k| unsafe { _mm512_loadu_ps(m[k][r0 + r].as_ptr()) }));
        for ((wc, x0), x1) in w.chunks_exact(256).zip(x[0].chunks_exact(256)).zip(x[1].chunks_exact(256)) {
            for i in 0..16 {
                // SAFETY: 16 readable f32 at 16i < 256 of each.
                let xv =
                    unsafe { [_mm512_loadu_ps(x0.as_ptr().add(16 * i)), _mm512_loadu_ps(x1.as_ptr().add(16 * i))] };
                for (r, a) in acc.iter_mut().enumerate() {
                    let wv = _mm512_set1_ps(wc[16 * (r0 + r) + i]);
                    a[0] = _mm512_fmadd_ps(wv, xv[0], a[0]);
                    a[1] = _mm512_fmadd_ps(wv, xv[1], a[1]);
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            for k in 0..2 {
                // SAFETY: 16 writable f32.
                unsafe { _mm512_storeu_ps(m[k][r0 + r].as_mut_ptr(), a[k]) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amx::packed_tiles;
    use crate::qdot::round_half_into;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Each (row, token) is the chain of f32 fused multiply-adds, in order of the
    /// values, of the weight and the activation rounded to the weight's half type.
    #[test]
    fn half_prompt_dots_are_in_order_sums_of_the_rounded_products() {
        if !runs(DType::F16) {
            eprintln!("skipped: no AVX-512 here, or AMX-BF16 takes half prompts");
            return;
        }
        let mut rng = StdRng::seed_from_u64(5);
        // Two cache runs of 256 values and a part of one.
        let cols = 544;
        for dtype in [DType::F16, DType::BF16] {
            for (n_rows, n_tok) in [(16, 16usize), (5, 37), (16, 1)] {
                let vals: Vec<Vec<f32>> =
                    (0..n_rows).map(|_| (0..cols).map(|_| rng.random_range(-2.0f32..2.0)).collect()).collect();
                let w: Vec<Vec<u8>> =
                    vals.iter().map(|r| crate::quantize::quantize_row(dtype, r).expect("whole rows")).collect();
                let x: Vec<f32> = (0..n_tok * cols).map(|_| rng.random_range(-3.0f32..3.0)).collect();
                let tiles = packed_tiles(n_tok);
                let mut packed = vec![0f32; tiles * tile_len(cols)];
                for (tile, out) in packed.chunks_exact_mut(tile_len(cols)).enumerate() {
                    let tokens = (tile * TILE_TOKENS).min(n_tok)..((tile + 1) * TILE_TOKENS).min(n_tok);
                    pack_tile(dtype, &x[tokens.start * cols..tokens.end * cols], cols, out);
                }
                let refs: Vec<&[u8]> = w.iter().map(|r| &r[..]).collect();
                let mut seen = 0;
                dot_rows(dtype, &refs, &packed, n_tok, |t, v| {
                    let mut xr = vec![0f32; cols];
                    round_half_into(dtype, &x[t * cols..(t + 1) * cols], &mut xr);
                    for (r, v) in v.iter().enumerate() {
                        if r >= n_rows {
                            assert_eq!(*v, 0.0, "{dtype:?}: a missing row {r} gave {v}");
                            continue;
                        }
                        let mut wr = vec![0f32; cols];
                        crate::quant::dequantize_row(dtype, &w[r], &mut wr);
                        let want = wr.iter().zip(&xr).fold(0f32, |acc, (wv, xv)| wv.mul_add(*xv, acc));
                        assert_eq!(v.to_bits(), want.to_bits(), "{dtype:?} row {r} token {t}: {v} vs {want}");
                        seen += 1;
                    }
                });
                assert_eq!(seen, n_rows * n_tok, "{dtype:?}: every (token, row) once");
            }
        }
    }
}
