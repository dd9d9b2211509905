//! Prompt matmuls of half weights (F16, BF16) on AVX-512 CPUs without AMX-BF16.
//!
//! Why: the one-token kernels keep ggml's order of f16 sums (32 lanes per row and
//! token, so a decode row matches llama.cpp's bits), and to fit their registers every
//! 16 weights are converted from half for each six tokens: the conversions take the
//! same two ports as the multiply-adds, and a prompt ran at about half the
//! multiply-add peak. Here a task's weight rows (up to `MAX_ROWS`) are converted to
//! f32 once and every token tile of the prompt reuses them: per value, one load of 16
//! tokens' values (`pack_tile` stores them value-major) and one multiply-add per row
//! with the row's weight broadcast from memory, no conversion at all in the loop,
//! eight rows by two tiles of 16 tokens in registers. The values go by in runs of 256
//! (`RUN`), so that the run's weights and activations stay in cache while every row
//! and tile takes them; the sums wait in memory between runs.
//!
//! The products are those of the activations rounded to the weight's half type, as
//! every half path takes them, but each (row, token) sum runs through the values in
//! order in one f32 lane, not ggml's: so `MatMul::prompt_path_differs` is true here and
//! decode rows keep the one-token kernels. The order depends on nothing but the row
//! and the token, so a prompt's bits do not depend on its chunking or batch.

use crate::amx::{TILE_TOKENS, packed_tiles};
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

/// The most weight rows one `dot_rows` call takes (a task of `MatMul::matmul_prompt`):
/// every token's activations are read once per call, from the L3 cache or memory for
/// a long prompt, so more rows a call means fewer bytes a multiply-add (16 rows read
/// 4 bytes per 16; the 1B model's 8192-wide FFN input ran a fifth slower than its
/// narrow rows).
pub const MAX_ROWS: usize = 64;

/// Values per run of `dot_rows`' cache blocking: the run's 256 values of up to 64 rows
/// (64 KiB) stay in cache while every token tile's 256 values (32 KiB a pair) go by
/// them, eight rows at a time.
#[cfg(target_arch = "x86_64")]
const RUN: usize = 256;

thread_local! {
    /// Each worker's weight rows in f32 (`x86::widen_row`'s layout) and the sums of
    /// every token tile (`[tile][row][token]`), reused from call to call.
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// `put(t, v)` with `v[r] = dot(rows[r], token t)` for up to `MAX_ROWS` weight rows of
/// `dtype` (`v` holds one value per row) and every token of `packed`
/// (`amx::packed_tiles(n_tok)` tiles from `pack_tile`, each `tile_len(cols)` values),
/// stopping at `n_tok` tokens.
///
/// # Panics
/// If `runs(dtype)` is false, or the sizes disagree.
pub fn dot_rows(dtype: DType, rows: &[&[u8]], packed: &[f32], n_tok: usize, mut put: impl FnMut(usize, &[f32])) {
    assert!(runs(dtype), "half_prompt::dot_rows: no kernel for {dtype:?} here");
    assert!(!rows.is_empty() && rows.len() <= MAX_ROWS, "half_prompt::dot_rows: {} rows", rows.len());
    let cols = rows[0].len() / 2;
    assert!(
        cols.is_multiple_of(16) && rows.iter().all(|r| r.len() == 2 * cols),
        "half_prompt::dot_rows: rows of other lengths, or not whole runs of 16 values"
    );
    let len = tile_len(cols);
    assert_eq!(packed.len(), packed_tiles(n_tok) * len, "half_prompt::dot_rows: packed activations for another shape");
    let tiles = n_tok.div_ceil(TILE_TOKENS);
    // Rows computed: eight at a time (missing ones are zero weights).
    let nr = rows.len().next_multiple_of(8);
    SCRATCH.with_borrow_mut(|(w, m)| {
        // Every value is written before it is read (`x86::sums`): growing without
        // clearing, as `MatMul`'s buffers do, saves two passes over each (5% of a 135M
        // F16 prompt was these buffers' memset).
        let tile_sums = nr * TILE_TOKENS;
        if w.len() < cols * nr {
            w.resize(cols * nr, 0.0);
        }
        if m.len() < tiles * tile_sums {
            m.resize(tiles * tile_sums, 0.0);
        }
        let m = &mut m[..tiles * tile_sums];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `runs` checked AVX-512 F (with F16C); the sizes are checked above and
        // `w` and `m` sized for them.
        unsafe {
            x86::sums(dtype == DType::BF16, rows, packed, n_tok, nr, &mut w[..cols * nr], m)
        };
        let mut v = [0f32; MAX_ROWS];
        for (tile, sums) in m.chunks_exact(tile_sums).enumerate() {
            for t in 0..TILE_TOKENS.min(n_tok - tile * TILE_TOKENS) {
                for (r, v) in v.iter_mut().enumerate().take(rows.len()) {
                    *v = sums[r * TILE_TOKENS + t];
                }
                put(tile * TILE_TOKENS + t, &v[..rows.len()]);
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::TILE_TOKENS;
    use std::arch::x86_64::*;

    /// `dot_rows`' work: the rows widened into `w` (`nr` of them, the missing ones zero),
    /// then the sums of every token tile (`m`: `[tile][row][token]`, whatever it held
    /// before) run by run.
    ///
    /// # Safety
    /// AVX-512 F and F16C must be present; `rows` are `rows.len() <= nr` rows of the same
    /// `cols` half values (a multiple of 16), `nr` a multiple of 8, `packed` the tiles of
    /// `n_tok` tokens, `w` `cols * nr` values and `m` `16 * nr` a tile.
    #[target_feature(enable = "avx512f,f16c")]
    pub unsafe fn sums(
        bf: bool,
        rows: &[&[u8]],
        packed: &[f32],
        n_tok: usize,
        nr: usize,
        w: &mut [f32],
        m: &mut [f32],
    ) {
        let cols = rows[0].len() / 2;
        let (len, tiles, tile_sums) = (super::tile_len(cols), n_tok.div_ceil(TILE_TOKENS), nr * TILE_TOKENS);
        for (r, row) in rows.iter().enumerate() {
            // SAFETY: `row` holds `cols` half values and `w` `nr` per column (r < nr).
            unsafe { widen_row(bf, row, r, nr, w) };
        }
        // The rows past the weights' (up to seven, to make eights): zero weights.
        for run in w.chunks_exact_mut(16 * nr) {
            run[16 * rows.len()..].fill(0.0);
        }
        for k in (0..cols).step_by(super::RUN) {
            let end = (k + super::RUN).min(cols);
            let wr = &w[k * nr..end * nr];
            let x = |tile: usize| &packed[tile * len + k * TILE_TOKENS..tile * len + end * TILE_TOKENS];
            for (pair, sums) in m.chunks_mut(2 * tile_sums).enumerate() {
                let first = 2 * pair;
                for r0 in (0..nr).step_by(8) {
                    let (s0, s1) = sums.split_at_mut(tile_sums.min(sums.len()));
                    let at = r0 * TILE_TOKENS..(r0 + 8) * TILE_TOKENS;
                    // SAFETY: `wr` is the run's values of `nr` rows, each tile's slice the
                    // same values of 16 tokens; `at` holds the sums of rows r0..r0 + 8 of a
                    // tile.
                    unsafe {
                        if first + 1 < tiles {
                            rows8::<2>(
                                wr,
                                nr,
                                r0,
                                [x(first), x(first + 1)],
                                [&mut s0[at.clone()], &mut s1[at]],
                                k == 0,
                            );
                        } else {
                            rows8::<1>(wr, nr, r0, [x(first)], [&mut s0[at]], k == 0);
                        }
                    }
                }
            }
        }
    }

    /// Row `r` of `nr` (`cols` half values, F16 or `bf`16, a multiple of 16) into `w` as
    /// f32, by runs of 16 values: run c of row r at `(c * nr + r) * 16`, so that the
    /// kernel finds value `16c + i` of every row at fixed offsets from one pointer.
    ///
    /// # Safety
    /// AVX-512 F and F16C must be present; `row.len() / 2 * nr <= w.len()`, `r < nr`.
    #[target_feature(enable = "avx512f,f16c")]
    pub unsafe fn widen_row(bf: bool, row: &[u8], r: usize, nr: usize, w: &mut [f32]) {
        let cols = row.len() / 2;
        assert!(cols.is_multiple_of(16) && cols * nr <= w.len() && r < nr, "widen_row: {cols}, row {r} of {nr}");
        for (c, h) in row.chunks_exact(32).enumerate() {
            // The rows stream from memory once a call; the hardware prefetchers stop at
            // each 4 KiB page (135M F16 pp512: 17% of the time waited on these loads).
            if c % 2 == 0 {
                crate::simd::prefetch_ahead(h);
            }
            let at = (c * nr + r) * 16;
            // SAFETY: 32 readable bytes in `h`; 16 writable f32 at `at` (c < cols / 16,
            // r < nr, so at + 16 <= cols * nr).
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

    /// Adds to the sums `m[k]` (`[row][token]`, rows r0..r0 + 8; from zero for the
    /// `first` run, whatever `m` held) of token tile `x[k]` the products of a run of
    /// values: `w` holds the run's 16-value groups of `nr` rows
    /// (`widen_row`'s layout), each `x[k]` the same values of 16 tokens (`pack_tile`'s).
    /// Per value, one load of each tile's 16 tokens and one multiply-add per row and
    /// tile with the row's weight broadcast: at two tiles each broadcast feeds two
    /// multiply-adds (ten loads for sixteen). Each lane adds its products in order of
    /// the values, so splitting the values into runs gives the same sums.
    ///
    /// # Safety
    /// AVX-512 F must be present; `w.len() == nr * x[k].len() / 16`, a multiple of
    /// `16 * nr`; `r0 + 8 <= nr`; each `m[k]` 128 values.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn rows8<const K: usize>(
        w: &[f32],
        nr: usize,
        r0: usize,
        x: [&[f32]; K],
        m: [&mut [f32]; K],
        first: bool,
    ) {
        let group = 16 * nr;
        assert!(
            x.iter().all(|x| x.len() / 16 * nr == w.len()) && w.len().is_multiple_of(group) && r0 + 8 <= nr,
            "half_prompt::rows8: {} weights of {nr} rows, row {r0}",
            w.len()
        );
        assert!(m.iter().all(|m| m.len() == 8 * TILE_TOKENS), "half_prompt::rows8: sums of 8 rows");
        // SAFETY (the loads and stores of `m`): 16 f32 at 16r, r < 8.
        let mut acc: [[__m512; K]; 8] = std::array::from_fn(|r| {
            std::array::from_fn(|k| {
                if first { _mm512_setzero_ps() } else { unsafe { _mm512_loadu_ps(m[k].as_ptr().add(16 * r)) } }
            })
        });
        for (c, wc) in w.chunks_exact(group).enumerate() {
            let wc = &wc[16 * r0..16 * r0 + 128];
            for i in 0..16 {
                // SAFETY: value 16c + i of 16 tokens: 16 f32 at 256c + 16i < x[k].len().
                let xv: [__m512; K] =
                    std::array::from_fn(|k| unsafe { _mm512_loadu_ps(x[k].as_ptr().add(256 * c + 16 * i)) });
                for (r, a) in acc.iter_mut().enumerate() {
                    let wv = _mm512_set1_ps(wc[16 * r + i]);
                    for k in 0..K {
                        a[k] = _mm512_fmadd_ps(wv, xv[k], a[k]);
                    }
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            for k in 0..K {
                // SAFETY: as above.
                unsafe { _mm512_storeu_ps(m[k].as_mut_ptr().add(16 * r), a[k]) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            for (n_rows, n_tok) in [(16, 16usize), (5, 37), (16, 1), (64, 33), (43, 50)] {
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
                    assert_eq!(v.len(), n_rows, "{dtype:?}: one value a row");
                    let mut xr = vec![0f32; cols];
                    round_half_into(dtype, &x[t * cols..(t + 1) * cols], &mut xr);
                    for (r, v) in v.iter().enumerate() {
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
