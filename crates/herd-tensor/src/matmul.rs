//! `out = x · Wᵀ` for a weight matrix of any dtype, on a pool of threads.
//!
//! The activations of every token are first quantized to the weight's vec_dot_type
//! (see `qdot`), as llama.cpp does; then rows of W are split among threads and each
//! row is dotted with every token's quantized activations, so a weight row is read
//! from memory once per call however many tokens the batch holds (prefill, and the
//! server's batched decode). For the 32-value block types, tokens go four at a time
//! through a kernel that decodes each weight block once for eight tokens (sixteen with
//! AVX-512: `quad_groups_per_pass`), over tiles of 32 tokens that stay in cache; half
//! weights (F16, BF16) go two rows by up to six tokens at a time; k-quant weights, on a
//! CPU with AMX, go sixteen rows by 32 tokens through its tile multiplies (`amx`). The sums are the one-token kernel's, bit for
//! bit, so a token's logits never depend on the batch it ran in. The one exception is
//! `matmul_prompt`, for a prompt's rows: half weights there go through AMX-BF16 tiles and
//! Q8_0, Q4_0 and Q4_1 through AMX-INT8 tiles, whose f32 sums take another order (each
//! row's the same whatever the batch).

use crate::TensorError;
use crate::amx::{self, Packed, PackedQ8, TILE_ROWS, TILE_TOKENS};
use crate::dtype::DType;
use crate::half_prompt;
use crate::pool::{Disjoint, Pool};
use crate::qdot::{
    Isa, Q8Quad, QuantActs, TOKEN_TILE, act_format, dot_q32_rows_with, group_half_acts, half_pairs_in_order,
    has_quad_kernel, quad_groups_per_pass, quantize_acts, quantize_into_quads, round_half_into, token_tile,
    two_rows_per_token, vec_dot_half, vec_dot_half_pair, vec_dot_half_pair_in_order, vec_dot_quads, vec_dot_tokens,
};
use crate::quant::dequantize_row;
use crate::vnni;
use std::sync::Mutex;

/// A borrowed 2-D weight: `rows` rows of `cols` values each, stored row-major in `dtype`.
#[derive(Clone, Copy, Debug)]
pub struct WeightRef<'a> {
    pub dtype: DType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
}

impl<'a> WeightRef<'a> {
    /// Checks that `data` holds exactly `rows` whole rows of `cols` values.
    pub fn new(dtype: DType, rows: usize, cols: usize, data: &'a [u8]) -> Result<Self, TensorError> {
        let row = dtype.row_bytes(cols).ok_or(TensorError::RaggedRow { dtype, cols, block: dtype.block_len() })?;
        let want = row.saturating_mul(rows);
        if want != data.len() {
            return Err(TensorError::WrongLength { dtype, rows, cols, want, have: data.len() });
        }
        Ok(WeightRef { dtype, rows, cols, data })
    }

    pub fn row_bytes(&self) -> usize {
        self.data.len() / self.rows.max(1)
    }

    /// The bytes of row `r`.
    pub fn row(&self, r: usize) -> &'a [u8] {
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }

    /// Row `r` as f32 (an embedding lookup).
    pub fn dequantize_row_into(&self, r: usize, out: &mut [f32]) {
        dequantize_row(self.dtype, self.row(r), &mut out[..self.cols]);
    }
}

/// The matmul engine: owns the thread pool so that `--threads` is honoured everywhere.
pub struct MatMul {
    pool: Pool,
    /// Quantized activations, reused across calls.
    acts: Mutex<Acts>,
}

/// Quantized activations: tokens in whole groups of four (for the batched 32-value
/// block kernel) as quads, `quads[g * blocks + i]` holding block `i` of tokens
/// `4g..4g+4`; the other tokens as one `QuantActs` each, at their token index.
///
/// Half weights (F16, BF16) take every token's activations rounded to the half type,
/// in `halves`: token t at `half_at(t)`, each row 64-byte aligned so that no 512-bit
/// load splits a cache line (three in four did from a `Vec<f32>`). For four tokens or
/// more on a CPU without AVX-512, `grouped` holds them as half bits in
/// `group_half_acts`' order too (token t at `t * cols`), for `vec_dot_half_pair`.
#[derive(Default)]
struct Acts {
    rows: Vec<QuantActs>,
    quads: Vec<Q8Quad>,
    halves: Vec<f32>,
    grouped: Vec<u16>,
    packed: Vec<Packed>,
    /// Half activations in AMX's layout (`amx::pack_half_tile`), for `matmul_prompt`.
    half_packed: Vec<u16>,
    /// Half activations as f32 by token tile, value-major (`half_prompt::pack_tile`),
    /// for `matmul_prompt` on AVX-512 without AMX-BF16.
    half_tiles: Vec<f32>,
    /// 8-bit activations (for Q8_0, Q4_0, Q4_1 weights) in AMX's layout
    /// (`amx::pack_q8_tile`), for `matmul_prompt`.
    q8_packed: Vec<PackedQ8>,
}

impl std::fmt::Debug for MatMul {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MatMul({} threads)", self.pool.threads())
    }
}

/// Groups of four tokens whose quads one task of the row loop keeps in cache while it
/// runs down its rows: 8 groups are 32 tokens, 45 KiB of quads at 576 columns.
const TILE_GROUPS: usize = 8;

/// Batches of at least this many tokens take the AMX kernels, or the k-quant tile
/// kernels of `vnni`, where they run (below it a sixteen-token tile would be mostly
/// padding).
const TILE_MIN_TOKENS: usize = 16;

/// The most weight rows a task of the tile paths takes (`half_prompt::MAX_ROWS`).
const MAX_TASK_ROWS: usize = half_prompt::MAX_ROWS;

/// The most weights `matmul_many` takes at once (Q, K and V).
pub const MAX_SHARED: usize = 3;

/// One weight of a `matmul_many` loop: where its dots go, its rows per task, and the
/// loop's first task for it.
#[derive(Clone, Copy)]
struct Part<'a> {
    w: WeightRef<'a>,
    out: Disjoint<f32>,
    chunk: usize,
    first: usize,
}

impl MatMul {
    /// `threads == 0`: one per available core.
    pub fn new(threads: usize) -> Self {
        MatMul { pool: Pool::new(threads), acts: Mutex::new(Acts::default()) }
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// The pool, for callers' own parallel loops (attention).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// `out[t*rows + r] = dot(x[t*cols..], W[r])` for `n_tok` tokens.
    pub fn matmul(&self, w: WeightRef<'_>, x: &[f32], n_tok: usize, out: &mut [f32]) {
        self.matmul_many(&mut [(w, out)], x, n_tok);
    }

    /// `matmul` of up to `MAX_SHARED` weights over the same activations (a layer's Q, K
    /// and V; its gate and up), each into its own output. Weights of one type and width
    /// share one quantization of the activations and one loop on the pool over all their
    /// rows: a decode step of the 135M model quantized a row's activations three times
    /// for Q, K and V on the calling thread alone, and handed out three loops more a
    /// layer, each with its wait for the slowest thread. The sums are `matmul`'s.
    pub fn matmul_many(&self, jobs: &mut [(WeightRef<'_>, &mut [f32])], x: &[f32], n_tok: usize) {
        assert!(jobs.len() <= MAX_SHARED, "matmul: {} weights share one input (at most {MAX_SHARED})", jobs.len());
        let Some(&(w, _)) = jobs.first() else { return };
        for (wj, out) in jobs.iter() {
            assert_eq!(x.len(), n_tok * wj.cols, "matmul: x has the wrong length");
            assert_eq!(out.len(), n_tok * wj.rows, "matmul: out has the wrong length");
        }
        if jobs.iter().any(|(wj, _)| wj.dtype != w.dtype || wj.cols != w.cols) {
            for (wj, out) in jobs.iter_mut() {
                self.matmul(*wj, x, n_tok, out);
            }
            return;
        }
        let mut guard = self.acts.lock().unwrap_or_else(|p| p.into_inner());
        let Acts { rows: acts, quads, halves, grouped, packed, .. } = &mut *guard;
        if n_tok >= TILE_MIN_TOKENS && (amx::runs(w.dtype) || vnni::runs(w.dtype)) {
            for (wj, out) in jobs.iter_mut() {
                self.matmul_kquant_tiles(*wj, x, n_tok, out, packed);
            }
            return;
        }
        let cols = w.cols;
        let half = matches!(w.dtype, DType::F16 | DType::BF16);
        if !half && acts.len() < n_tok {
            acts.resize_with(n_tok, QuantActs::default);
        }
        let fmt = act_format(w.dtype);
        // Tokens in groups of four go through the quad kernel where one exists; two or
        // three left over too, in a last group padded with zero activations whose dots
        // are dropped (a group costs about what one token alone does twice: a 3-row
        // decode step of the 135M model took a fifth longer one by one than a 4-row
        // one). A single token left over (all of them for a single decode row) goes
        // alone.
        let groups = if has_quad_kernel(w.dtype) { (n_tok + 2) / 4 } else { 0 };
        let singles = n_tok.saturating_sub(4 * groups);
        let blocks = cols / w.dtype.block_len();
        quads.clear();
        quads.resize(groups * blocks, Q8Quad::default());
        // Half weights go two rows at a time for four tokens or more, so that each
        // activation load feeds two rows: with AVX-512 on the activations in order
        // (`vec_dot_half_pair_in_order`), otherwise grouped (`vec_dot_half_pair`).
        let pairs = half && n_tok >= 4;
        let grouping = pairs && !half_pairs_in_order();
        // Every value read is written below: growing without clearing zeroes only what
        // grows (zeroing whole buffers every call showed as memset in F16 prompts).
        let stride = cols.next_multiple_of(16);
        if half && halves.len() < n_tok * stride + 16 {
            halves.resize(n_tok * stride + 16, 0.0);
        }
        let base = halves.as_ptr().align_offset(64);
        assert!(base < 16, "matmul: cannot align the half activations");
        let half_at = |t: usize| base + t * stride;
        if grouping && grouped.len() < n_tok * cols {
            grouped.resize(n_tok * cols, 0);
        }
        // Quantizing is a pass over all activations: on the pool too, a group of
        // four tokens (written straight into its quads) or a leftover token per task.
        let (acts_at, quads_at) = (Disjoint(acts.as_mut_ptr()), Disjoint(quads.as_mut_ptr()));
        let (halves_at, grouped_at) = (Disjoint(halves.as_mut_ptr()), Disjoint(grouped.as_mut_ptr()));
        self.pool.run(groups + singles, &|k| {
            if k >= groups {
                let t = 3 * groups + k;
                let xt = &x[t * cols..(t + 1) * cols];
                if !half {
                    // SAFETY: t < n_tok <= acts.len(), and token t belongs to this task only.
                    quantize_acts(fmt, xt, unsafe { acts_at.at(t) });
                    return;
                }
                // SAFETY: token t's `cols` values end at half_at(t) + cols <= base +
                // n_tok * stride <= halves.len() (base < 16), and are this task's only.
                let dst = unsafe { halves_at.slice(half_at(t), cols) };
                round_half_into(w.dtype, xt, dst);
                if grouping {
                    // SAFETY: token t's `cols` values end at (t + 1) * cols <= n_tok *
                    // cols <= grouped.len(), and are this task's only.
                    let dst = unsafe { grouped_at.slice(t * cols, cols) };
                    group_half_acts(w.dtype, xt, dst);
                }
                return;
            }
            // SAFETY: (k + 1) * blocks <= groups * blocks == quads.len(), and the quads of
            // group k are this task's only.
            let group = unsafe { quads_at.slice(k * blocks, blocks) };
            // A padded group's missing tokens keep the zeros `quads` was filled with.
            for j in 0..4.min(n_tok - 4 * k) {
                quantize_into_quads(&x[(4 * k + j) * cols..(4 * k + j + 1) * cols], group, j);
            }
        });
        let acts = &acts[..];
        let quads = &quads[..];
        let group = |g: usize| &quads[g * blocks..(g + 1) * blocks];
        let (halves, grouped) = (&halves[..], &grouped[..]);
        // Two tasks per thread, in whole runs of 16 rows. Each task pays to start (the
        // hand-out, a new stream through the weights that the prefetchers have to pick
        // up), and tasks whose rows share a 64-byte line of `out` bounce it between
        // cores: on the 135M model at 2 threads, eight tasks per thread of 12-36 rows
        // decoded 5-10% slower (one row and four; prompts and 1B rows the same).
        // Whole runs of 16 are also even, so half-weight pairs never straddle tasks.
        let chunk = |rows: usize| (rows / (self.threads() * 2)).clamp(16, 256).next_multiple_of(16);
        let mut tasks = 0;
        let parts: [Option<Part<'_>>; MAX_SHARED] = std::array::from_fn(|j| {
            let (w, out) = jobs.get_mut(j)?;
            let (chunk, first) = (chunk(w.rows), tasks);
            tasks += w.rows.div_ceil(chunk);
            Some(Part { w: *w, out: Disjoint(out.as_mut_ptr()), chunk, first })
        });
        let most = quad_groups_per_pass();
        self.pool.run(tasks, &|c| {
            let last = parts.iter().flatten().rfind(|p| p.first <= c);
            let Part { w, out: out_at, chunk, first } = *last.expect("every task belongs to a weight");
            let (rows, c) = (w.rows, c - first);
            let my_rows = c * chunk..((c + 1) * chunk).min(rows);
            // SAFETY (every write below): token t < n_tok, so t*rows + r <
            // n_tok*rows == out.len() (asserted above), and only this task writes
            // the rows of its chunk.
            let put = |t: usize, r: usize, v: f32| unsafe { *out_at.at(t * rows + r) = v };
            for tile in (0..groups).step_by(TILE_GROUPS) {
                let end = (tile + TILE_GROUPS).min(groups);
                for r in my_rows.clone() {
                    let row = w.row(r);
                    let mut g = tile;
                    // `$G` groups from `g` on (the kernel takes their number as a const).
                    macro_rules! quads {
                        ($G:literal) => {{
                            let mut v = [[0f32; 4]; $G];
                            // The first pass over the row streams it from memory; the
                            // others find it in cache.
                            let qs = std::array::from_fn(|k| group(g + k));
                            vec_dot_quads::<$G>(w.dtype, row, qs, &mut v, g == 0);
                            let real = v.iter().flatten().take(n_tok - 4 * g);
                            real.enumerate().for_each(|(k, x)| put(4 * g + k, r, *x));
                            g += $G;
                        }};
                    }
                    while most >= 4 && g + 4 <= end {
                        quads!(4);
                    }
                    while g + 2 <= end {
                        quads!(2);
                    }
                    while g < end {
                        quads!(1);
                    }
                }
            }
            // The tokens not in quads (all of them for types without a quad kernel),
            // over tiles that stay in cache while the task runs down its rows.
            let tile_len = token_tile(w.dtype);
            for tile in (4 * groups..n_tok).step_by(tile_len) {
                let n = (tile + tile_len).min(n_tok) - tile;
                let mut v = [[0f32; TOKEN_TILE]; 2];
                if !half {
                    let mut r = my_rows.start;
                    // One token of a 4- or 5-bit block type: two rows at a time (see
                    // `two_rows_per_token`).
                    if n == 1 && two_rows_per_token(w.dtype) {
                        let isa = Isa::best();
                        while r + 2 <= my_rows.end {
                            let two = dot_q32_rows_with(isa, w.dtype, [w.row(r), w.row(r + 1)], &acts[tile].q8);
                            put(tile, r, two[0]);
                            put(tile, r + 1, two[1]);
                            r += 2;
                        }
                    }
                    for r in r..my_rows.end {
                        vec_dot_tokens(w.dtype, w.row(r), &acts[tile..tile + n], &mut v[0][..n]);
                        v[0][..n].iter().enumerate().for_each(|(k, x)| put(tile + k, r, *x));
                    }
                    continue;
                }
                let fs: [&[f32]; TOKEN_TILE] =
                    std::array::from_fn(|k| if k < n { &halves[half_at(tile + k)..][..cols] } else { &[] });
                let mut r = my_rows.start;
                if pairs {
                    let xs: [&[u16]; TOKEN_TILE] = std::array::from_fn(|k| {
                        if grouping && k < n { &grouped[(tile + k) * cols..][..cols] } else { &[] }
                    });
                    while r + 2 <= my_rows.end {
                        let [v0, v1] = &mut v;
                        let out = [&mut v0[..n], &mut v1[..n]];
                        let two = [w.row(r), w.row(r + 1)];
                        if grouping {
                            vec_dot_half_pair(w.dtype, two, &xs[..n], out);
                        } else {
                            vec_dot_half_pair_in_order(w.dtype, two, &fs[..n], out);
                        }
                        for (k, (a, b)) in v0.iter().zip(v1.iter()).take(n).enumerate() {
                            put(tile + k, r, *a);
                            put(tile + k, r + 1, *b);
                        }
                        r += 2;
                    }
                }
                // All rows for fewer than four tokens; else an odd last row of the matrix.
                for r in r..my_rows.end {
                    vec_dot_half(w.dtype, w.row(r), &fs[..n], &mut v[0][..n]);
                    v[0][..n].iter().enumerate().for_each(|(k, x)| put(tile + k, r, *x));
                }
            }
        });
    }

    /// Whether `matmul_prompt` gives other bits than `matmul` for weights of `dtype`
    /// here (half weights on AMX-BF16 or AVX-512; Q8_0, Q4_0, Q4_1 on AMX-INT8 or
    /// AVX-512 VNNI), so that a caller keeps prompt and decode rows apart for it.
    pub fn prompt_path_differs(&self, dtype: DType) -> bool {
        amx::runs_half(dtype) || amx::runs_q8(dtype) || half_prompt::runs(dtype) || vnni::runs_q8(dtype)
    }

    /// `matmul` for the rows of prompt chunks (several rows of one sequence; a caller
    /// gives decode rows to `matmul`): half weights (F16, BF16) go through AMX-BF16 tile
    /// multiplies where the CPU has them, sixteen rows by 32 tokens, each product exact
    /// and the sums in f32 in the tile unit's order, not the one-token kernel's (so
    /// the last bits differ from `matmul`'s, the same whatever the number of rows), or
    /// on AVX-512 without AMX-BF16 through `half_prompt` (weights converted to f32 once
    /// per 16 rows, each sum in order of the values; also not `matmul`'s bits);
    /// Q8_0, Q4_0 and Q4_1 weights go through AMX-INT8 tile multiplies (or without AMX
    /// the same sums on AVX-512 VNNI, `vnni::dot_q8_rows`), each block's 32 products
    /// summed exactly, then scaled into the token's f32 sum (ggml adds eight partial
    /// sums of a block as floats); every other case is `matmul`. llama.cpp, too,
    /// sums a prompt's half-weight products in another order (its tiled sgemm) than a
    /// single token's.
    pub fn matmul_prompt(&self, w: WeightRef<'_>, x: &[f32], n_tok: usize, out: &mut [f32]) {
        if !self.prompt_path_differs(w.dtype) || !w.cols.is_multiple_of(32) {
            return self.matmul(w, x, n_tok, out);
        }
        assert_eq!(x.len(), n_tok * w.cols, "matmul: x has the wrong length");
        assert_eq!(out.len(), n_tok * w.rows, "matmul: out has the wrong length");
        let mut guard = self.acts.lock().unwrap_or_else(|p| p.into_inner());
        let dtype = w.dtype;
        if amx::runs_q8(dtype) || vnni::runs_q8(dtype) {
            let on_amx = amx::runs_q8(dtype);
            return self.amx_tiles(
                w,
                x,
                n_tok,
                out,
                &mut guard.q8_packed,
                w.cols / 32,
                &amx::pack_q8_tile,
                &|rows, packed, out| {
                    let put = |t: usize, v: &[f32; TILE_ROWS]| out.put(t, v);
                    if on_amx {
                        amx::dot_q8_rows(dtype, rows, packed, n_tok, put)
                    } else {
                        vnni::dot_q8_rows(dtype, rows, packed, n_tok, put)
                    }
                },
                TILE_ROWS,
            );
        }
        if half_prompt::runs(dtype) {
            let len = half_prompt::tile_len(w.cols);
            return self.amx_tiles(
                w,
                x,
                n_tok,
                out,
                &mut guard.half_tiles,
                len,
                &|x, cols, dst| half_prompt::pack_tile(dtype, x, cols, dst),
                &|rows, packed, out| half_prompt::dot_rows(dtype, rows, packed, n_tok, |t, v| out.put(t, v)),
                (w.rows / (self.threads() * 8)).clamp(TILE_ROWS, half_prompt::MAX_ROWS) / TILE_ROWS * TILE_ROWS,
            );
        }
        let len = amx::half_tile_len(dtype, w.cols);
        self.amx_tiles(
            w,
            x,
            n_tok,
            out,
            &mut guard.half_packed,
            len,
            &|x, cols, dst| amx::pack_half_tile(dtype, x, cols, dst),
            &|rows, packed, out| amx::dot_half_rows(dtype, rows, packed, n_tok, |t, v| out.put(t, v)),
            TILE_ROWS,
        );
    }

    /// `matmul` for k-quant weights on AMX, or without it on AVX-512 VNNI (`vnni`, the
    /// same layout of activations, sixteen tokens in a vector's lanes): each tile of
    /// sixteen tokens quantized straight into AMX's layout (`packed`, reused across
    /// calls; a last tile of a pair may be all padding), then sixteen weight rows per
    /// task against every tile. Both give `matmul`'s bits.
    fn matmul_kquant_tiles(
        &self,
        w: WeightRef<'_>,
        x: &[f32],
        n_tok: usize,
        out: &mut [f32],
        packed: &mut Vec<Packed>,
    ) {
        let dtype = w.dtype;
        let blocks = w.cols / dtype.block_len();
        let on_amx = amx::runs(dtype);
        let dot = |rows: &[&[u8]], packed: &[Packed], out: &TaskOut| {
            let put = |t: usize, v: &[f32; TILE_ROWS]| out.put(t, v);
            if on_amx {
                amx::dot_rows(dtype, rows, packed, n_tok, put)
            } else {
                vnni::dot_rows(dtype, rows, packed, n_tok, put)
            }
        };
        self.amx_tiles(w, x, n_tok, out, packed, blocks, &amx::pack_tile, &dot, TILE_ROWS);
    }

    /// The tile paths' frame: each tile of sixteen tokens packed by `pack` (its tokens'
    /// activations, the columns, its `per_tile` entries of `packed`, which is reused
    /// across calls; a last tile of a pair may be all padding), then `task_rows` weight
    /// rows (16 for the AMX kernels) per task through `dot` (rows, every packed tile,
    /// and where their dots go).
    #[allow(clippy::too_many_arguments)]
    fn amx_tiles<P: Clone + Default + Send + Sync>(
        &self,
        w: WeightRef<'_>,
        x: &[f32],
        n_tok: usize,
        out: &mut [f32],
        packed: &mut Vec<P>,
        per_tile: usize,
        pack: &PackTile<'_, P>,
        dot: &DotTiles<'_, P>,
        task_rows: usize,
    ) {
        let (rows, cols) = (w.rows, w.cols);
        packed.resize(amx::packed_tiles(n_tok) * per_tile, P::default());
        self.pool.for_each_chunk_mut(packed, per_tile, &|tile, dst| {
            let tokens = (tile * TILE_TOKENS).min(n_tok)..((tile + 1) * TILE_TOKENS).min(n_tok);
            pack(&x[tokens.start * cols..tokens.end * cols], cols, dst);
        });
        let packed = &packed[..];
        let at = Disjoint(out.as_mut_ptr());
        assert!(task_rows <= MAX_TASK_ROWS, "matmul: {task_rows} rows a task");
        self.pool.run(rows.div_ceil(task_rows), &|c| {
            let first = c * task_rows;
            let n = task_rows.min(rows - first);
            let rs: [&[u8]; MAX_TASK_ROWS] = std::array::from_fn(|k| if k < n { w.row(first + k) } else { &[] });
            dot(&rs[..n], packed, &TaskOut { at, n_tok, rows, first, n });
        });
    }
}

/// Where an AMX task's dots go: rows `first..first + n` (this task's only) of an
/// output of `rows` values per token.
struct TaskOut {
    at: Disjoint<f32>,
    n_tok: usize,
    rows: usize,
    first: usize,
    n: usize,
}

impl TaskOut {
    /// Token t's dots with the task's rows (`v`, at least `n` values; zero past them).
    #[inline]
    fn put(&self, t: usize, v: &[f32]) {
        assert!(t < self.n_tok, "matmul: a tile kernel gave token {t} of {}", self.n_tok);
        // SAFETY: t < n_tok (asserted) and first + n <= rows, so the n values lie in the
        // output (whose length `matmul`/`matmul_prompt` asserted as n_tok * rows), and
        // only this task writes rows first..first + n.
        let dst = unsafe { self.at.slice(t * self.rows + self.first, self.n) };
        dst.copy_from_slice(&v[..self.n]);
        // The same rows of the token a tile on, which this task writes next: each
        // token's values sit `rows` apart from the last one's, in lines that are
        // seldom in cache, and without this each write waited for its line (a 1B
        // Q4_K_M prompt without AMX spent 12% of its time in these copies, 5% after).
        #[cfg(target_arch = "x86_64")]
        crate::simd::prefetch_for_write(dst.as_ptr().wrapping_add(TILE_TOKENS * self.rows) as *const u8, 4 * self.n);
    }
}

/// A tile path's packing of one token tile: its tokens' activations, the columns, the
/// tile's entries.
type PackTile<'a, P> = dyn Fn(&[f32], usize, &mut [P]) + Sync + 'a;
/// A tile path's dots of a task's weight rows with every packed tile, into those rows
/// of the output.
type DotTiles<'a, P> = dyn Fn(&[&[u8]], &[P], &TaskOut) + Sync + 'a;

/// Scalar reference matmul: dequantize all of W, then plain f64-accumulated dots.
pub fn matmul_reference(w: WeightRef<'_>, x: &[f32], n_tok: usize) -> Vec<f32> {
    let mut out = vec![0f32; n_tok * w.rows];
    let mut row = vec![0f32; w.cols];
    for r in 0..w.rows {
        dequantize_row(w.dtype, w.row(r), &mut row);
        for t in 0..n_tok {
            let xs = &x[t * w.cols..(t + 1) * w.cols];
            out[t * w.rows + r] = row.iter().zip(xs).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() as f32;
        }
    }
    out
}
