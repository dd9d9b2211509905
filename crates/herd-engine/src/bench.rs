//! `herd bench`: prompt-processing and generation throughput measured as llama-bench
//! measures it (random tokens, an empty cache per repetition, one warm-up run), so the
//! two tools' numbers compare directly.

use crate::EngineError;
use crate::generate::{Generator, PREFILL_CHUNK};
use herd_llama::loader::ModelFiles;
use herd_llama::model::{Batch, KvCache, Model, Scratch};
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// One test: a prompt of `n_prompt` tokens (pp) or `n_gen` generated tokens (tg), after
/// `n_depth` tokens already in the cache (llama-bench's `-d`: the cost of a long context).
/// A tg test with `n_parallel` > 1 decodes that many streams together, one row each per
/// forward pass, as a server's decode step for that many clients (llama.cpp's
/// `llama-batched-bench`; the depth is one prefix the streams share, its `-pps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchTest {
    pub n_prompt: usize,
    pub n_gen: usize,
    pub n_depth: usize,
    pub n_threads: usize,
    pub n_parallel: usize,
}

/// A test's result, in llama-bench's JSON shape (the fields other tools read).
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub model_filename: String,
    pub model_type: String,
    pub model_size: u64,
    /// Weight bytes a generated token reads (`Weights::decode_bytes`): times tg
    /// tokens/s, the read bandwidth generation needs, for a roofline.
    pub decode_bytes: u64,
    pub model_n_params: u64,
    pub n_threads: usize,
    pub n_prompt: usize,
    pub n_gen: usize,
    pub n_depth: usize,
    /// Streams decoded together (tg tests; 1 otherwise); tokens/s count all of them.
    pub n_parallel: usize,
    pub avg_ns: u64,
    pub stddev_ns: u64,
    pub avg_ts: f64,
    pub stddev_ts: f64,
    pub samples_ns: Vec<u64>,
    pub samples_ts: Vec<f64>,
    /// The CPU's model name, as llama-bench's `cpu_info`.
    pub cpu_info: String,
    /// herd's kernel sets on this CPU (`kernel_set`): with or without AMX, a prompt's
    /// speed differs severalfold, so a result without it cannot be compared.
    pub kernels: String,
}

fn mean_sd(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n.max(1.0);
    let var = if x.len() > 1 { x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// Runs `test` `reps` times (after one warm-up) on a generator made for it.
pub fn run(files: &ModelFiles, test: BenchTest, reps: usize, model_type: &str) -> Result<BenchResult, EngineError> {
    let n_ctx = (test.n_depth + test.n_prompt + test.n_gen).max(1);
    let max = files.config.max_ctx;
    if n_ctx > max {
        return Err(EngineError::Request(format!(
            "the test needs {n_ctx} positions (depth {} + prompt {} + generation {}), more than the model's context of {max}; use smaller -d/-p/-n",
            test.n_depth, test.n_prompt, test.n_gen
        )));
    }
    let vocab = files.config.vocab_size as u32;
    // llama-bench draws tokens with rand(); any fixed random draw is equivalent.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut draw = |n: usize| -> Vec<u32> { (0..n).map(|_| rng.random_range(0..vocab)).collect() };
    let streams = if test.n_prompt > 0 { 1 } else { test.n_parallel.max(1) };
    // As llama-bench: each repetition starts from an empty cache, fills the depth
    // untimed, then times the test on top of it.
    let mut runner = if streams == 1 {
        Runner::One(Box::new(Generator::new(files, n_ctx, test.n_threads)?))
    } else {
        Runner::Many(Box::new(Parallel::new(files, n_ctx, streams, test.n_threads)?))
    };
    let mut once = |r: &mut Runner| -> Result<std::time::Duration, EngineError> {
        let depth = draw(test.n_depth);
        match r {
            Runner::One(g) if test.n_prompt > 0 => g.time_prefill(&depth, &draw(test.n_prompt)),
            Runner::One(g) => g.time_decode(&depth, &draw(test.n_gen)),
            Runner::Many(p) => p.time_decode(&depth, &draw(streams * test.n_gen)),
        }
    };
    once(&mut runner)?;
    let mut samples_ns = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        samples_ns.push(once(&mut runner)?.as_nanos() as u64);
    }
    let n_tokens = (test.n_prompt + streams * test.n_gen) as f64;
    let samples_ts: Vec<f64> = samples_ns.iter().map(|&ns| n_tokens * 1e9 / ns.max(1) as f64).collect();
    let (avg_ns, sd_ns) = mean_sd(&samples_ns.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let (avg_ts, stddev_ts) = mean_sd(&samples_ts);
    Ok(BenchResult {
        model_filename: files.path.display().to_string(),
        model_type: model_type.to_string(),
        model_size: files.weights.bytes() as u64,
        decode_bytes: files.weights.decode_bytes() as u64,
        model_n_params: files.weights.n_params() as u64,
        n_threads: test.n_threads,
        n_prompt: test.n_prompt,
        n_gen: test.n_gen,
        n_depth: test.n_depth,
        n_parallel: streams,
        avg_ns: avg_ns as u64,
        stddev_ns: sd_ns as u64,
        avg_ts,
        stddev_ts,
        samples_ns,
        samples_ts,
        cpu_info: cpu_info(),
        kernels: kernel_set(),
    })
}

/// The CPU's model name from `/proc/cpuinfo` (x86's `model name`; AArch64 kernels
/// name none, so its implementer and part), or "unknown".
pub fn cpu_info() -> String {
    // Read once: every result of a run carries it.
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(read_cpu_name).clone()
}

fn read_cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    field("model name")
        .or_else(|| Some(format!("CPU implementer {} part {}", field("CPU implementer")?, field("CPU part")?)))
        .unwrap_or_else(|| "unknown".into())
}

/// The kernel sets this CPU runs, and how to compare against the next one down.
pub fn kernel_set() -> String {
    use herd_tensor::qdot::{Isa, half_pairs_in_order};
    let isa = Isa::best();
    match isa {
        Isa::Portable => return "portable (no AVX2 or NEON on this CPU)".into(),
        Isa::Neon => return "NEON (quantized and half-weight dots, attention)".into(),
        _ => {}
    }
    let amx = herd_tensor::amx::available();
    let f32_tiles = herd_tensor::half_prompt::runs(herd_tensor::DType::F16);
    let parts = [
        (amx, "AMX tiles for k-quant, Q8_0, Q4_0 and Q4_1 prompts"),
        (herd_tensor::amx::runs_half(herd_tensor::DType::F16), "AMX-BF16 tiles for half-weight prompts"),
        (
            isa == Isa::Avx512Vnni,
            if amx {
                "AVX-512 VNNI for quantized dots"
            } else {
                "AVX-512 VNNI for quantized dots and 16-token prompt tiles"
            },
        ),
        (
            half_pairs_in_order(),
            if f32_tiles { "AVX-512 for half weights (prompts in f32 tiles)" } else { "AVX-512 for half weights" },
        ),
    ];
    let wide: Vec<&str> = parts.iter().filter(|(on, _)| *on).map(|(_, what)| *what).collect();
    if wide.is_empty() {
        return "AVX2 + FMA + F16C".into();
    }
    // Without AMX, quantized prompts run on the VNNI tile kernels (`herd_tensor::vnni`),
    // half-weight ones on `herd_tensor::half_prompt`.
    let (no_amx, none) = if amx { ("HERD_NO_AMX=1: no AMX; ", "") } else { ("", "no AMX; ") };
    format!("{none}{}, AVX2 + FMA + F16C for the rest ({no_amx}HERD_NO_AVX512=1: AVX2 only)", wide.join(", "))
}

/// What a test runs on: one sequence (pp, and tg of one stream), or several streams.
enum Runner {
    One(Box<Generator>),
    Many(Box<Parallel>),
}

/// `streams` sequences decoding together: the model, a cache of that many sequences,
/// and a batch of one row per sequence, with every row's logits computed (as a
/// server's decode step, and as llama-bench's tg test for one stream).
struct Parallel {
    model: Model,
    kv: KvCache,
    scratch: Scratch,
    batch: Batch,
    streams: usize,
}

impl Parallel {
    fn new(files: &ModelFiles, n_ctx: usize, streams: usize, threads: usize) -> Result<Self, EngineError> {
        let model = Model::from_files(files, threads);
        let kv = KvCache::new(&model.config, n_ctx, streams)?;
        let scratch = Scratch::new(&model.config, PREFILL_CHUNK.max(streams), streams);
        Ok(Parallel { model, kv, scratch, batch: Batch::default(), streams })
    }

    /// Fills `depth` into stream 0 untimed and shares it with the others (their
    /// common prefix, as a server shares a cached prompt), then times the steps that
    /// feed `tokens`, `streams` at a time, one to each stream.
    fn time_decode(&mut self, depth: &[u32], tokens: &[u32]) -> Result<std::time::Duration, EngineError> {
        for s in 0..self.streams {
            self.kv.truncate(s, 0);
        }
        for (c, chunk) in depth.chunks(PREFILL_CHUNK).enumerate() {
            self.batch.clear();
            for (i, &t) in chunk.iter().enumerate() {
                self.batch.push(t, c * PREFILL_CHUNK + i, 0, i + 1 == chunk.len());
            }
            self.model.forward(&self.batch, &mut self.kv, &mut self.scratch)?;
        }
        for s in 1..self.streams {
            self.kv.share_prefix(0, s, depth.len())?;
        }
        let t = std::time::Instant::now();
        for (step, row) in tokens.chunks(self.streams).enumerate() {
            self.batch.clear();
            for (s, &tok) in row.iter().enumerate() {
                self.batch.push(tok, depth.len() + step, s, true);
            }
            self.model.forward(&self.batch, &mut self.kv, &mut self.scratch)?;
        }
        Ok(t.elapsed())
    }
}

/// The machine's streaming-read bandwidth in bytes/s with `threads` threads (0: one
/// per core), the denominator of a generation roofline: a buffer of `bytes` (make it
/// far larger than the last-level cache) summed as 64-bit words in 64 contiguous
/// parts handed out to the threads, the fastest of `reps` passes after a warm-up.
/// Weights stream through the decode kernels the same way, row after row, and the
/// buffer is read as they are: in huge pages, each line prefetched as far ahead
/// (`simd::stream_sum`). A plain loop over 4 KiB pages measured 25-30% less on a KVM
/// guest (9-11 against 12-14 GB/s at one thread), less than the 8B decode pulled.
pub fn read_bandwidth(threads: usize, bytes: usize, reps: usize) -> std::io::Result<f64> {
    use std::sync::atomic::{AtomicU64, Ordering};
    const PARTS: usize = 64;
    let words = (bytes / 8).max(PARTS);
    // In huge pages where the kernel gives them, as the weights are mapped (see
    // `HugeWords`); written once, so every page is really backed before the timing.
    let mut huge = herd_tensor::mmap::HugeWords::new(words)?;
    huge.as_mut_slice().iter_mut().enumerate().for_each(|(i, w)| *w = i as u64);
    let buf = huge.as_slice();
    let pool = herd_tensor::pool::Pool::new(threads);
    let chunk = words.div_ceil(PARTS);
    let sink = AtomicU64::new(0);
    let pass = || {
        let t = std::time::Instant::now();
        pool.run(PARTS, &|k| {
            let part = &buf[(k * chunk).min(words)..((k + 1) * chunk).min(words)];
            sink.fetch_add(herd_tensor::simd::stream_sum(part), Ordering::Relaxed);
        });
        t.elapsed().as_secs_f64()
    };
    pass();
    let best = (0..reps.max(1)).map(|_| pass()).fold(f64::INFINITY, f64::min);
    std::hint::black_box(sink.load(Ordering::Relaxed));
    Ok((words * 8) as f64 / best)
}
