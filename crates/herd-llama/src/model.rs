//! The one Llama model: `forward(&Batch, &mut KvCache, &mut Scratch) -> logits`.
//!
//! Pre-norm blocks, `h = x + Attn(RMSNorm(x))`, `out = h + FFN(RMSNorm(h))`, GQA with
//! query head `h` reading KV head `h / (n_heads / n_kv_heads)` (Meta's
//! `repeat_interleave`), RoPE with the interleaved pair convention (the loader put
//! every Q/K row in that layout), SwiGLU FFN, final RMSNorm and the output projection
//! (tied to the embeddings when the file has no `output.weight`).

use crate::config::Config;
use crate::error::{LlamaError, Result};
use crate::loader::{ModelFiles, Weights};
use half::f16;
use half::slice::HalfFloatSliceExt;
use herd_tensor::attention::{HeadView, attend_heads, rope_heads};
use herd_tensor::ops::{rmsnorm, silu_mul};
use herd_tensor::{MatMul, WeightRef};

/// A flat, ragged batch: one row per token, each with its position, its sequence and
/// whether the caller wants its logits.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub tokens: Vec<u32>,
    pub positions: Vec<usize>,
    pub seqs: Vec<usize>,
    pub wants_logits: Vec<bool>,
    /// Rows computed as a decode step's lone row of their sequence even where it has
    /// several rows here (`push_decode`).
    pub decode_order: Vec<bool>,
}

impl Batch {
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.positions.clear();
        self.seqs.clear();
        self.wants_logits.clear();
        self.decode_order.clear();
    }
    pub fn push(&mut self, token: u32, pos: usize, seq: usize, wants_logits: bool) {
        self.push_row(token, pos, seq, wants_logits, false);
    }
    /// A row that wants logits and rounds as a lone decode row of its sequence, with
    /// the decode kernels and summation orders, even beside other rows of it: a
    /// speculative decoding step checks drafted tokens this way, so that each row's
    /// logits are the bits a step of that one token would give.
    pub fn push_decode(&mut self, token: u32, pos: usize, seq: usize) {
        self.push_row(token, pos, seq, true, true);
    }
    fn push_row(&mut self, token: u32, pos: usize, seq: usize, wants_logits: bool, decode_order: bool) {
        self.tokens.push(token);
        self.positions.push(pos);
        self.seqs.push(seq);
        self.wants_logits.push(wants_logits);
        self.decode_order.push(decode_order);
    }
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    /// Whether row `r` belongs to a sequence with several rows in the batch (a prompt
    /// chunk; a sequence's rows are adjacent), llama.cpp's "batch of more than one
    /// token", and was not pushed by `push_decode`. Decided per sequence, not per
    /// batch, so that a decode row computes the same whichever other sequences share
    /// its step.
    pub fn multi_row(&self, r: usize) -> bool {
        let s = &self.seqs;
        !self.decode_order[r] && ((r > 0 && s[r - 1] == s[r]) || (r + 1 < s.len() && s[r + 1] == s[r]))
    }
}

/// Positions per KV block (a power of two: the attention kernel finds a position's
/// row with a shift and a mask; 32, so that a block's V channel is exactly ggml's 32
/// f16-dot lanes).
pub const KV_BLOCK_SHIFT: u32 = 5;
pub const KV_BLOCK: usize = 1 << KV_BLOCK_SHIFT;
/// Unused values after each block (one 64-byte cache line): attention reads V one
/// channel at a time across a sequence's blocks, and blocks a multiple of 4 KiB apart
/// (SmolLM2's are 12 KiB) would all map those reads to one set of the L1 cache.
const KV_PAD: usize = 32;

/// Batches of at least this many rows run their per-row loops (norms, RoPE, SwiGLU,
/// residual adds) on the thread pool.
const PARALLEL_ROWS: usize = 32;

/// The KV cache: a pool of blocks of `KV_BLOCK` positions shared by all sequences
/// (vLLM's paged layout). Each sequence has a table of the blocks holding its
/// positions in order; a block can be in several tables at once, which is how a
/// common prompt prefix is kept once however many sequences use it. A sequence
/// writes only blocks no other table holds: writing into a shared block first gives
/// it a private copy (copy on write). Stored as f16, as llama.cpp does by default,
/// which halves its size.
///
/// The pool has room for `n_seqs` full tables of `n_ctx` positions, so a sequence
/// never waits for blocks; what blocks buy is sharing (a repeated system prompt is
/// neither recomputed nor copied) and blocks that go back to the pool the moment a
/// table lets go of them.
#[derive(Debug)]
pub struct KvCache {
    n_layers: usize,
    n_seqs: usize,
    n_ctx: usize,
    kv_dim: usize,
    n_blocks: usize,
    k: Vec<f16>, // [n_layers, n_blocks, KV_BLOCK * kv_dim + KV_PAD]: [position][channel]
    v: Vec<f16>, // [n_layers, n_blocks, KV_BLOCK * kv_dim + KV_PAD]: [channel][position]
    /// Per sequence, the blocks of its positions `0..KV_BLOCK * len` in order.
    tables: Vec<Vec<u32>>,
    /// Per block, how many tables hold it.
    refs: Vec<u32>,
    /// Blocks no table holds.
    free: Vec<u32>,
    /// Scratch for `usage`, a flag per block.
    mark: Vec<bool>,
}

impl KvCache {
    pub fn new(cfg: &Config, n_ctx: usize, n_seqs: usize) -> Result<Self> {
        let kv_dim = cfg.n_kv_heads * cfg.head_dim;
        let per_seq = n_ctx.div_ceil(KV_BLOCK);
        let too_large = || LlamaError::Model(format!("KV cache for {n_seqs} x {n_ctx} positions is too large"));
        let n_blocks = n_seqs.checked_mul(per_seq).filter(|n| *n <= u32::MAX as usize).ok_or_else(too_large)?;
        let n = cfg
            .n_layers
            .checked_mul(n_blocks)
            .and_then(|x| x.checked_mul(KV_BLOCK * kv_dim + KV_PAD))
            .filter(|n| *n <= 1 << 40)
            .ok_or_else(too_large)?;
        Ok(KvCache {
            n_layers: cfg.n_layers,
            n_seqs,
            n_ctx,
            kv_dim,
            n_blocks,
            k: vec![f16::ZERO; n],
            v: vec![f16::ZERO; n],
            // Full capacity up front: growing a table never allocates in a decode step.
            tables: (0..n_seqs).map(|_| Vec::with_capacity(per_seq)).collect(),
            refs: vec![0; n_blocks],
            free: (0..n_blocks as u32).rev().collect(),
            mark: vec![false; n_blocks],
        })
    }
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }
    pub fn n_seqs(&self) -> usize {
        self.n_seqs
    }
    /// Bytes held by the cache.
    pub fn bytes(&self) -> usize {
        (self.k.len() + self.v.len()) * 2
    }
    /// Blocks in the pool.
    pub fn n_blocks(&self) -> usize {
        self.n_blocks
    }
    /// Blocks some table holds.
    pub fn blocks_in_use(&self) -> usize {
        self.n_blocks - self.free.len()
    }
    /// Blocks held by the tables of sequences for which `busy` is true, and blocks
    /// held only by the others (cached prefixes), in positions (`KV_BLOCK` each). A
    /// block shared by several tables counts once.
    pub fn usage(&mut self, busy: impl Fn(usize) -> bool) -> (usize, usize) {
        self.mark.iter_mut().for_each(|m| *m = false);
        let mut used = 0;
        for (seq, t) in self.tables.iter().enumerate() {
            if busy(seq) {
                for &b in t {
                    if !std::mem::replace(&mut self.mark[b as usize], true) {
                        used += 1;
                    }
                }
            }
        }
        (used * KV_BLOCK, (self.blocks_in_use() - used) * KV_BLOCK)
    }
    /// Positions the pool holds.
    pub fn capacity(&self) -> usize {
        self.n_blocks * KV_BLOCK
    }
    /// The blocks of sequence `seq`, in position order.
    pub fn table(&self, seq: usize) -> &[u32] {
        &self.tables[seq]
    }

    /// Makes sequence `dst` hold positions `0..n` of sequence `src` by sharing its
    /// blocks (no copy): a prompt prefix computed once is not computed again. `dst`
    /// lets go of its own blocks first. The block holding position `n` (if `n` is not
    /// a block boundary) is shared too; `dst`'s first write into it copies it.
    pub fn share_prefix(&mut self, src: usize, dst: usize, n: usize) -> Result<()> {
        let blocks = n.div_ceil(KV_BLOCK);
        if src >= self.n_seqs || dst >= self.n_seqs || n > self.n_ctx || blocks > self.tables[src].len() {
            return Err(LlamaError::Model(format!(
                "KV share of {n} positions from sequence {src} to {dst} is outside the cache ({} x {})",
                self.n_seqs, self.n_ctx
            )));
        }
        if src == dst {
            return Ok(());
        }
        self.truncate(dst, 0);
        for i in 0..blocks {
            let b = self.tables[src][i];
            self.refs[b as usize] += 1;
            self.tables[dst].push(b);
        }
        Ok(())
    }

    /// Keeps positions `0..len` of sequence `seq` and gives back the blocks past them.
    pub fn truncate(&mut self, seq: usize, len: usize) {
        let keep = len.div_ceil(KV_BLOCK);
        while self.tables[seq].len() > keep {
            let Some(b) = self.tables[seq].pop() else { break };
            self.release(b);
        }
    }

    fn release(&mut self, b: u32) {
        let r = &mut self.refs[b as usize];
        *r -= 1;
        if *r == 0 {
            self.free.push(b);
        }
    }

    /// The block that position `pos` of `seq` is written to: the table grows to cover
    /// it, and a block another table also holds is first copied (copy on write).
    fn writable_block(&mut self, seq: usize, pos: usize) -> Result<u32> {
        let i = pos / KV_BLOCK;
        let full = || LlamaError::Model("KV cache has no free block (every sequence at its context size)".into());
        while self.tables[seq].len() <= i {
            let b = self.free.pop().ok_or_else(full)?;
            self.refs[b as usize] = 1;
            self.tables[seq].push(b);
        }
        let b = self.tables[seq][i];
        if self.refs[b as usize] == 1 {
            return Ok(b);
        }
        let fresh = self.free.pop().ok_or_else(full)?;
        self.refs[fresh as usize] = 1;
        self.release(b);
        let len = KV_BLOCK * self.kv_dim;
        for l in 0..self.n_layers {
            let (from, to) = (self.block_at(l, b), self.block_at(l, fresh));
            self.k.copy_within(from..from + len, to);
            self.v.copy_within(from..from + len, to);
        }
        self.tables[seq][i] = fresh;
        Ok(fresh)
    }

    /// Values from one block's start to the next's.
    fn block_size(&self) -> usize {
        KV_BLOCK * self.kv_dim + KV_PAD
    }

    /// Element offset of block `block` of layer `layer`, in K and V alike. Within it,
    /// K's position `p` starts at `p * kv_dim` and V's channel `c` at `c * KV_BLOCK`.
    fn block_at(&self, layer: usize, block: u32) -> usize {
        (layer * self.n_blocks + block as usize) * self.block_size()
    }
}

/// A trace hook: tensor name (llama.cpp's) and the batch's rows of it.
pub type TraceFn = Box<dyn FnMut(&str, &[f32]) + Send>;

/// Working buffers for up to `cap` batch rows, allocated once.
pub struct Scratch {
    cap: usize,
    x: Vec<f32>,           // [cap, dim] residual stream
    xb: Vec<f32>,          // [cap, dim] normed input of a sub-block
    q: Vec<f32>,           // [cap, n_heads*head_dim]
    k: Vec<f32>,           // [cap, kv_dim]
    v: Vec<f32>,           // [cap, kv_dim]
    att: Vec<f32>,         // [cap, n_heads*head_dim] attention output before wo
    proj: Vec<f32>,        // [cap, dim] output of wo / w_down
    gate: Vec<f32>,        // [cap, ffn_dim]
    up: Vec<f32>,          // [cap, ffn_dim]
    rope: Vec<(f32, f32)>, // [cap, head_dim/2] (cos, sin) per row
    kv_block: Vec<u32>,    // [cap] the KV block each row's K/V is written to
    normed: Vec<f32>,      // [cap, dim] final-normed rows that want logits
    logits: Vec<f32>,      // [logit_rows, vocab]
    /// The batch's rows as runs (start, end, prompt rows?), and the rows that want
    /// logits likewise, for `Model::matmul`.
    row_runs: Vec<RowRun>,
    logit_runs: Vec<RowRun>,
    logit_rows: usize,
    /// Called with llama.cpp's tensor names (`attn_norm-0`, `Vcur-0`, `kqv_out-0`,
    /// `ffn_out-0`, `l_out-0`, `result_norm`, ...) and the rows of the batch, so a
    /// mismatch can be diffed op by op against llama.cpp's eval callback.
    pub trace: Option<TraceFn>,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch(cap {}, logit rows {})", self.cap, self.logit_rows)
    }
}

impl Scratch {
    fn emit(&mut self, name: &str, layer: Option<usize>, which: fn(&Scratch) -> &[f32], n: usize, width: usize) {
        if let Some(mut t) = self.trace.take() {
            let full = match layer {
                Some(l) => format!("{name}-{l}"),
                None => name.to_string(),
            };
            t(&full, &which(self)[..n * width]);
            self.trace = Some(t);
        }
    }
}

impl Scratch {
    /// Room for `cap` rows per forward, of which at most `logit_rows` want logits.
    pub fn new(cfg: &Config, cap: usize, logit_rows: usize) -> Self {
        let qd = cfg.n_heads * cfg.head_dim;
        let kvd = cfg.n_kv_heads * cfg.head_dim;
        Scratch {
            cap,
            x: vec![0.0; cap * cfg.dim],
            xb: vec![0.0; cap * cfg.dim],
            q: vec![0.0; cap * qd],
            k: vec![0.0; cap * kvd],
            v: vec![0.0; cap * kvd],
            att: vec![0.0; cap * qd],
            proj: vec![0.0; cap * cfg.dim],
            gate: vec![0.0; cap * cfg.ffn_dim],
            up: vec![0.0; cap * cfg.ffn_dim],
            rope: vec![(1.0, 0.0); cap * cfg.head_dim / 2],
            kv_block: vec![0; cap],
            normed: vec![0.0; cap * cfg.dim],
            logits: vec![0.0; logit_rows.min(cap) * cfg.vocab_size],
            logit_rows: logit_rows.min(cap),
            row_runs: Vec::with_capacity(cap),
            logit_runs: Vec::with_capacity(cap),
            trace: None,
        }
    }
    /// The logits buffer: the rows of the last `forward` that wanted logits, in batch
    /// order, then stale rows.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }
    /// The final-normed hidden states of the rows of the last `forward` that wanted
    /// logits, in batch order (`dim` floats each), then stale rows.
    pub fn hidden(&self) -> &[f32] {
        &self.normed
    }
    pub fn capacity(&self) -> usize {
        self.cap
    }
}

/// Rows `start..end` of a batch, all of prompt chunks (`prompt`) or all not.
#[derive(Debug, Clone, Copy)]
struct RowRun {
    start: usize,
    end: usize,
    prompt: bool,
}

/// Appends row `r` (of kind `prompt`) to `runs`, extending the last run where it can.
fn push_row(runs: &mut Vec<RowRun>, r: usize, prompt: bool) {
    match runs.last_mut() {
        Some(last) if last.end == r && last.prompt == prompt => last.end = r + 1,
        _ => runs.push(RowRun { start: r, end: r + 1, prompt }),
    }
}

/// A loaded Llama model ready to run.
#[derive(Debug)]
pub struct Model {
    pub config: Config,
    pub weights: Weights,
    rope_divisors: Vec<f32>, // [head_dim/2]
    mm: MatMul,
}

impl Model {
    pub fn new(config: Config, weights: Weights, threads: usize) -> Self {
        let rope_divisors = config.rope_divisors();
        Model { config, weights, rope_divisors, mm: MatMul::new(threads) }
    }

    pub fn from_files(files: &ModelFiles, threads: usize) -> Self {
        Model::new(files.config.clone(), files.weights.clone(), threads)
    }

    pub fn threads(&self) -> usize {
        self.mm.threads()
    }

    /// `f(r, row r of out)` for the `width`-long rows of `out`: on the pool for a prompt
    /// chunk (at two threads the norms, SwiGLU and residual adds of a 512-token prompt
    /// left the other thread waiting for a tenth of its time), in place for a few
    /// decode rows, which would not pay for waking it. Each row's result is the same
    /// either way.
    fn rows(&self, out: &mut [f32], width: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        let n = out.len() / width;
        let pool = self.mm.pool();
        if n < PARALLEL_ROWS || pool.threads() == 1 {
            out.chunks_exact_mut(width).enumerate().for_each(|(r, o)| f(r, o));
            return;
        }
        let per = n.div_ceil(4 * pool.threads());
        pool.for_each_chunk_mut(out, per * width, &|i, chunk| {
            chunk.chunks_exact_mut(width).enumerate().for_each(|(j, o)| f(i * per + j, o))
        });
    }

    /// `xb = rmsnorm(x) * weight` for the batch's `n` rows.
    fn norm_rows(&self, weight: &[f32], n: usize, s: &mut Scratch) {
        let (dim, eps) = (self.config.dim, self.config.norm_eps);
        let x = &s.x;
        self.rows(&mut s.xb[..n * dim], dim, &|r, o| rmsnorm(&x[r * dim..(r + 1) * dim], weight, eps, o));
    }

    /// `x += proj`: a block's output joins the residual stream.
    fn add_proj(&self, n: usize, s: &mut Scratch) {
        let dim = self.config.dim;
        let proj = &s.proj;
        self.rows(&mut s.x[..n * dim], dim, &|r, x| x.iter_mut().zip(&proj[r * dim..]).for_each(|(x, p)| *x += p));
    }

    fn output(&self) -> WeightRef<'_> {
        self.weights.output.as_ref().unwrap_or(&self.weights.token_embd).view()
    }

    fn check(&self, b: &Batch, kv: &KvCache, s: &Scratch) -> Result<()> {
        let n = b.len();
        if n == 0 || n > s.cap {
            return Err(LlamaError::Model(format!("batch of {n} rows (scratch holds 1..={})", s.cap)));
        }
        let want = b.wants_logits.iter().filter(|w| **w).count();
        if want > s.logit_rows {
            return Err(LlamaError::Model(format!("{want} rows want logits, scratch holds {}", s.logit_rows)));
        }
        if b.positions.len() != n || b.seqs.len() != n || b.wants_logits.len() != n || b.decode_order.len() != n {
            return Err(LlamaError::Model("batch columns have different lengths".into()));
        }
        if kv.n_layers != self.config.n_layers || kv.kv_dim != self.config.n_kv_heads * self.config.head_dim {
            return Err(LlamaError::Model("KV cache was made for another model".into()));
        }
        for i in 0..n {
            if b.tokens[i] as usize >= self.config.vocab_size {
                return Err(LlamaError::Model(format!(
                    "token id {} is outside the vocabulary of {}",
                    b.tokens[i], self.config.vocab_size
                )));
            }
            if b.positions[i] >= kv.n_ctx {
                return Err(LlamaError::Model(format!(
                    "position {} is past the context size {} (raise --ctx)",
                    b.positions[i], kv.n_ctx
                )));
            }
            if b.seqs[i] >= kv.n_seqs {
                return Err(LlamaError::Model(format!("sequence {} has no KV slot", b.seqs[i])));
            }
        }
        Ok(())
    }

    /// Runs the batch, writes its K/V into the cache, and returns the logits of the
    /// rows that want them, in batch order, each `vocab_size` long.
    pub fn forward<'s>(&self, b: &Batch, kv: &mut KvCache, s: &'s mut Scratch) -> Result<&'s [f32]> {
        self.check(b, kv, s)?;
        let c = &self.config;
        let n = b.len();
        for r in 0..n {
            s.kv_block[r] = kv.writable_block(b.seqs[r], b.positions[r])?;
        }
        let (dim, hd) = (c.dim, c.head_dim);
        let half = hd / 2;
        s.row_runs.clear();
        for r in 0..n {
            push_row(&mut s.row_runs, r, b.multi_row(r));
        }
        for (r, &tok) in b.tokens.iter().enumerate() {
            self.weights.token_embd.view().dequantize_row_into(tok as usize, &mut s.x[r * dim..(r + 1) * dim]);
            self.rope_angles(b.positions[r], &mut s.rope[r * half..(r + 1) * half]);
        }
        for l in 0..c.n_layers {
            self.attention_block(l, b, kv, s);
            self.ffn_block(l, n, s);
        }
        let mut m = 0;
        s.logit_runs.clear();
        for r in 0..n {
            if b.wants_logits[r] {
                push_row(&mut s.logit_runs, m, b.multi_row(r));
                let (src, dst) = (&s.x[r * dim..(r + 1) * dim], &mut s.normed[m * dim..(m + 1) * dim]);
                rmsnorm(src, &self.weights.output_norm, c.norm_eps, dst);
                m += 1;
            }
        }
        s.emit("result_norm", None, |s| &s.normed, m, dim);
        let vocab = c.vocab_size;
        if m > 0 {
            self.matmul(self.output(), &s.normed[..m * dim], &mut s.logits[..m * vocab], &s.logit_runs);
        }
        Ok(&s.logits[..m * vocab])
    }

    /// (cos, sin) of every pair's angle at `pos`, computed as ggml's rope cache does
    /// (f32 angle multiplied by `theta^(-2/d)` pair after pair, then divided by the
    /// pair's frequency factor) so that angles agree with llama.cpp to the bit.
    fn rope_angles(&self, pos: usize, out: &mut [(f32, f32)]) {
        let c = &self.config;
        let theta_scale = (c.rope_theta as f32).powf(-2.0 / c.head_dim as f32);
        let freq_scale = c.rope_freq_scale();
        let mut theta = pos as f32;
        for (cs, div) in out.iter_mut().zip(&self.rope_divisors) {
            let t = freq_scale * (theta / div);
            *cs = (t.cos(), t.sin());
            theta *= theta_scale;
        }
    }

    /// `out = x · Wᵀ` for the rows of `runs`: where `MatMul::matmul_prompt` sums a
    /// weight type's products in another order than `matmul` (half, Q8_0, Q4_0 and Q4_1
    /// weights on AMX), prompt rows go through the first and decode rows through the
    /// second, run by run, so that a decode row's bits never depend on the prompts
    /// sharing its step; otherwise all rows in one call, which reads the weight once.
    fn matmul(&self, w: WeightRef<'_>, x: &[f32], out: &mut [f32], runs: &[RowRun]) {
        self.matmuls([w], x, [out], runs);
    }

    /// `matmul` for weights that read the same input (Q, K and V; gate and up), each
    /// into its own output: one `MatMul::matmul_many` call where they can share it.
    fn matmuls<const N: usize>(&self, ws: [WeightRef<'_>; N], x: &[f32], mut outs: [&mut [f32]; N], runs: &[RowRun]) {
        // Where no weight's prompt path differs, all rows are one run.
        let all = [RowRun { start: 0, end: runs.last().map_or(0, |r| r.end), prompt: false }];
        let runs = if ws.iter().any(|w| self.mm.prompt_path_differs(w.dtype)) { runs } else { &all };
        let cols = ws[0].cols;
        for run in runs {
            let (x, m) = (&x[run.start * cols..run.end * cols], run.end - run.start);
            let mut it = outs.iter_mut();
            let mut jobs: [(WeightRef<'_>, &mut [f32]); N] =
                ws.map(|w| (w, &mut it.next().expect("one output a weight")[run.start * w.rows..run.end * w.rows]));
            if run.prompt {
                for (w, out) in &mut jobs {
                    self.mm.matmul_prompt(*w, x, m, out);
                }
            } else {
                self.mm.matmul_many(&mut jobs, x, m);
            }
        }
    }

    fn attention_block(&self, l: usize, b: &Batch, kv: &mut KvCache, s: &mut Scratch) {
        let c = &self.config;
        let lw = &self.weights.layers[l];
        let n = b.len();
        let (dim, hd) = (c.dim, c.head_dim);
        let (qd, kvd) = (c.n_heads * hd, c.n_kv_heads * hd);
        let half = hd / 2;
        self.norm_rows(&lw.attn_norm, n, s);
        s.emit("attn_norm", Some(l), |s| &s.xb, n, dim);
        let xb = &s.xb[..n * dim];
        let qkv = [lw.wq.view(), lw.wk.view(), lw.wv.view()];
        self.matmuls(qkv, xb, [&mut s.q[..n * qd], &mut s.k[..n * kvd], &mut s.v[..n * kvd]], &s.row_runs);
        s.emit("Vcur", Some(l), |s| &s.v, n, kvd);
        let rope = &s.rope;
        self.rows(&mut s.q[..n * qd], qd, &|r, q| rope_heads(q, hd, &rope[r * half..(r + 1) * half]));
        for r in 0..n {
            let cs = &s.rope[r * half..(r + 1) * half];
            rope_heads(&mut s.k[r * kvd..(r + 1) * kvd], hd, cs);
            let (blk, p) = (kv.block_at(l, s.kv_block[r]), b.positions[r] % KV_BLOCK);
            let at = blk + p * kvd;
            kv.k[at..at + kvd].convert_from_f32_slice(&s.k[r * kvd..(r + 1) * kvd]);
            // V is kept channel-major within a block (see `HeadView`).
            for (c, x) in s.v[r * kvd..(r + 1) * kvd].iter().enumerate() {
                kv.v[blk + p + c * KV_BLOCK] = f16::from_f32(*x);
            }
        }
        s.emit("Qcur", Some(l), |s| &s.q, n, qd);
        s.emit("Kcur", Some(l), |s| &s.k, n, kvd);
        let group = c.n_heads / c.n_kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let kvr: &KvCache = kv;
        let q = &s.q;
        // The query heads of one KV head go to the kernel together, which then converts
        // each cached row once for all of them (the bits are those of one head at a
        // time). A step with fewer KV heads than threads is split by head instead, so
        // that every thread has work.
        let per_chunk = if n * c.n_kv_heads >= self.mm.pool().threads() { group } else { 1 };
        self.mm.pool().for_each_chunk_mut(&mut s.att[..n * qd], per_chunk * hd, &|idx, out| {
            let (r, h) = (idx * per_chunk / c.n_heads, idx * per_chunk % c.n_heads);
            let view = HeadView {
                k: &kvr.k,
                v: &kvr.v,
                base: kvr.block_at(l, 0),
                channel: (h / group) * hd,
                stride: kvr.kv_dim,
                block_size: kvr.block_size(),
                blocks: kvr.table(b.seqs[r]),
                block_shift: KV_BLOCK_SHIFT,
                len: b.positions[r] + 1,
                scale,
                // llama.cpp sums scores in another order for multi-row batches;
                // matching it keeps last-bit differences, which the next 8-bit
                // quantization can amplify, out of herd's results (decided per
                // sequence: see `Batch::multi_row`).
                multi_row: b.multi_row(r),
            };
            attend_heads(&q[r * qd + h * hd..][..per_chunk * hd], hd, &view, out);
        });
        s.emit("kqv_out", Some(l), |s| &s.att, n, qd);
        self.matmul(lw.wo.view(), &s.att[..n * qd], &mut s.proj[..n * dim], &s.row_runs);
        s.emit("attn_out", Some(l), |s| &s.proj, n, dim);
        self.add_proj(n, s);
        s.emit("ffn_inp", Some(l), |s| &s.x, n, dim);
    }

    fn ffn_block(&self, l: usize, n: usize, s: &mut Scratch) {
        let c = &self.config;
        let lw = &self.weights.layers[l];
        let (dim, f) = (c.dim, c.ffn_dim);
        self.norm_rows(&lw.ffn_norm, n, s);
        let gate_up = [lw.w_gate.view(), lw.w_up.view()];
        self.matmuls(gate_up, &s.xb[..n * dim], [&mut s.gate[..n * f], &mut s.up[..n * f]], &s.row_runs);
        let up = &s.up;
        self.rows(&mut s.gate[..n * f], f, &|r, g| silu_mul(g, &up[r * f..(r + 1) * f]));
        s.emit("ffn_norm", Some(l), |s| &s.xb, n, dim);
        s.emit("ffn_swiglu", Some(l), |s| &s.gate, n, f);
        self.matmul(lw.w_down.view(), &s.gate[..n * f], &mut s.proj[..n * dim], &s.row_runs);
        s.emit("ffn_out", Some(l), |s| &s.proj, n, dim);
        self.add_proj(n, s);
        s.emit("l_out", Some(l), |s| &s.x, n, dim);
    }
}
