//! `out = x · Wᵀ` for a weight matrix of any dtype, on a pool of threads.
//!
//! The activations of every token are first quantized to the weight's vec_dot_type
//! (see `qdot`), as llama.cpp does; then rows of W are split among threads and each
//! row is dotted with every token's quantized activations, so a weight row is read
//! from memory once per call however many tokens the batch holds (prefill).

use crate::TensorError;
use crate::dtype::DType;
use crate::pool::Pool;
use crate::qdot::{QuantActs, act_format, quantize_acts, vec_dot, vec_dot4};
use crate::quant::dequantize_row;
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
    /// Quantized activations, one entry per token, reused across calls.
    acts: Mutex<Vec<QuantActs>>,
}

impl std::fmt::Debug for MatMul {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MatMul({} threads)", self.pool.threads())
    }
}

/// A raw output pointer shared by the row tasks, each of which writes a disjoint set
/// of elements (its own rows, for every token).
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks write disjoint indices (distinct rows), so sharing the pointer across
// threads cannot race; the buffer outlives the scoped parallel loop.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// # Safety
    /// `i` is in bounds of the output buffer and no other task writes index `i`.
    #[inline]
    unsafe fn write(&self, i: usize, v: f32) {
        // SAFETY: guaranteed by the caller.
        unsafe { *self.0.add(i) = v };
    }
}

impl MatMul {
    /// `threads == 0`: one per available core.
    pub fn new(threads: usize) -> Self {
        MatMul { pool: Pool::new(threads), acts: Mutex::new(Vec::new()) }
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
        assert_eq!(x.len(), n_tok * w.cols, "matmul: x has the wrong length");
        assert_eq!(out.len(), n_tok * w.rows, "matmul: out has the wrong length");
        let rows = w.rows;
        let mut acts = self.acts.lock().unwrap_or_else(|p| p.into_inner());
        if acts.len() < n_tok {
            acts.resize_with(n_tok, QuantActs::default);
        }
        let fmt = act_format(w.dtype);
        for (t, a) in acts.iter_mut().take(n_tok).enumerate() {
            quantize_acts(fmt, &x[t * w.cols..(t + 1) * w.cols], a);
        }
        let acts = &acts[..n_tok];
        let chunk = (rows / (self.threads() * 8)).clamp(4, 256);
        let ptr = OutPtr(out.as_mut_ptr());
        self.pool.run(rows.div_ceil(chunk), &|c| {
            for r in c * chunk..((c + 1) * chunk).min(rows) {
                let row = w.row(r);
                let mut t = 0;
                while t + 4 <= n_tok {
                    let mut v = [0f32; 4];
                    vec_dot4(w.dtype, row, [&acts[t], &acts[t + 1], &acts[t + 2], &acts[t + 3]], &mut v);
                    for (j, x) in v.iter().enumerate() {
                        // SAFETY: (t+j)*rows + r < n_tok*rows == out.len()
                        // (asserted above), and only this task writes row r.
                        unsafe { ptr.write((t + j) * rows + r, *x) };
                    }
                    t += 4;
                }
                for (t, a) in acts.iter().enumerate().skip(t) {
                    let v = vec_dot(w.dtype, row, a);
                    // SAFETY: as above.
                    unsafe { ptr.write(t * rows + r, v) };
                }
            }
        });
    }
}

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
