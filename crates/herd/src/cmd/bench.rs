//! `herd bench`: prompt-processing (pp) and generation (tg) throughput, printed as
//! llama-bench prints it (a markdown table, or its JSON shape with --json).

use super::load_model;
use anyhow::{Context, Result};
use clap::Args;
use herd_engine::bench::{self, BenchResult, BenchTest};
use std::collections::BTreeMap;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub cmd: Option<BenchCmd>,
    /// A GGUF file, a Hugging Face folder or a catalogue name (default model if omitted).
    pub model_path: Option<String>,
    /// Prompt lengths to time (comma-separated; 0 skips the prompt tests).
    #[arg(short = 'p', long = "n-prompt", value_delimiter = ',', default_value = "512")]
    pub n_prompt: Vec<usize>,
    /// Generation lengths to time (comma-separated; 0 skips the generation tests).
    #[arg(short = 'n', long = "n-gen", value_delimiter = ',', default_value = "128")]
    pub n_gen: Vec<usize>,
    /// Tokens already in the cache before each test, untimed (comma-separated), as
    /// llama-bench's -d: how prompt and generation speed fall with a long context.
    #[arg(short = 'd', long = "n-depth", value_delimiter = ',', default_value = "0")]
    pub n_depth: Vec<usize>,
    /// Streams decoded together in the generation tests (comma-separated), as
    /// llama.cpp's llama-batched-bench -npl: one row per stream in every forward pass,
    /// the depth a prefix they share; t/s counts every stream's tokens.
    #[arg(long = "parallel", value_delimiter = ',', default_value = "1")]
    pub parallel: Vec<usize>,
    /// Thread counts (comma-separated; default: one per core).
    #[arg(short = 't', long = "threads", value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Repetitions of each test (after one warm-up run).
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub reps: usize,
    /// Print llama-bench's JSON shape: an array with n_prompt, n_gen, n_depth,
    /// n_threads, avg_ts, stddev_ts, samples_ts, ... per test.
    #[arg(long)]
    pub json: bool,
}

/// "llama 135M Q4_1": the family, the size, and the type holding most of the bytes.
fn model_type(files: &herd_llama::loader::ModelFiles) -> String {
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, w) in files.weights.named() {
        *by_type.entry(w.dtype.name()).or_default() += w.bytes.as_slice().len();
    }
    let dtype = by_type.iter().max_by_key(|(_, b)| **b).map(|(t, _)| *t).unwrap_or("?");
    let p = files.weights.n_params() as f64;
    let size = if p >= 1e9 { format!("{:.0}B", p / 1e9) } else { format!("{:.0}M", p / 1e6) };
    format!("llama {size} {dtype}")
}

#[derive(clap::Subcommand, Debug)]
pub enum BenchCmd {
    /// Load-test an OpenAI-compatible server (herd serve, llama-server, vLLM) as vLLM's
    /// benchmark_serving does: streamed chat requests from N concurrent clients;
    /// output tokens/s, time to first token and inter-token latency percentiles.
    Serve(ServeBenchArgs),
    /// This machine's streaming-read memory bandwidth (GB/s) per thread count: the
    /// ceiling of generation speed, which reads every weight once per token (the
    /// roofline: `decode_bytes` from `herd bench --json` times tokens/s, over this).
    Memory(MemoryBenchArgs),
}

#[derive(Args, Debug)]
pub struct MemoryBenchArgs {
    /// Thread counts (comma-separated; default: one per core).
    #[arg(short = 't', long = "threads", value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Size of the buffer read, in MiB (keep it far above the last-level cache).
    #[arg(long, default_value_t = 1024)]
    pub mib: usize,
    /// Passes timed (the fastest counts), after one warm-up.
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub reps: usize,
    /// Print `[{"n_threads": T, "read_gbps": G}, ...]`.
    #[arg(long)]
    pub json: bool,
}

/// The `-t` list, or one per core when it is empty.
fn thread_counts(t: &[usize]) -> Vec<usize> {
    if t.is_empty() { vec![std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)] } else { t.to_vec() }
}

fn bench_memory(a: MemoryBenchArgs) -> Result<()> {
    let threads = thread_counts(&a.threads);
    anyhow::ensure!(a.mib > 0, "--mib must be at least 1");
    let rows = threads
        .iter()
        .map(|&t| {
            let gbps = bench::read_bandwidth(t, a.mib << 20, a.reps)
                .with_context(|| format!("mapping a {} MiB buffer to read", a.mib))?
                / 1e9;
            Ok(serde_json::json!({"n_threads": t, "read_gbps": gbps, "mib": a.mib}))
        })
        .collect::<Result<Vec<serde_json::Value>>>()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("| threads | read GB/s |\n| ---: | ---: |");
        for r in &rows {
            println!("| {} | {:.1} |", r["n_threads"], r["read_gbps"].as_f64().unwrap_or(0.0));
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct ServeBenchArgs {
    /// The OpenAI base URL, e.g. http://127.0.0.1:8080/v1.
    pub url: String,
    /// Concurrent clients to test (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub concurrency: Vec<usize>,
    /// Requests per concurrency level.
    #[arg(long, default_value_t = 32)]
    pub requests: usize,
    /// Tokens generated per request.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Send ignore_eos so every request generates exactly --max-tokens (both herd and
    /// llama-server honour it); off: requests end where the model stops.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub ignore_eos: bool,
    #[arg(long, default_value = "Write a short story about a lighthouse keeper.")]
    pub prompt: String,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, env = "HERD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
}

fn bench_serve(a: ServeBenchArgs) -> Result<()> {
    use herd_lab::serve_bench::{LoadConfig, run, table};
    let cfg = LoadConfig {
        base_url: a.url,
        api_key: a.api_key,
        model: a.model,
        prompt: a.prompt,
        max_tokens: a.max_tokens,
        ignore_eos: a.ignore_eos,
        timeout: std::time::Duration::from_secs(600),
    };
    let mut reports = Vec::new();
    for &c in &a.concurrency {
        eprintln!("herd bench serve: concurrency {c}, {} requests ...", a.requests);
        reports.push(run(&cfg, c, a.requests));
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print!("{}", table(&reports));
    }
    anyhow::ensure!(reports.iter().all(|r| r.failed == 0), "some requests failed (see the failed column)");
    Ok(())
}

pub fn bench(a: BenchArgs) -> Result<()> {
    match a.cmd {
        Some(BenchCmd::Serve(s)) => return bench_serve(s),
        Some(BenchCmd::Memory(m)) => return bench_memory(m),
        None => {}
    }
    let files = load_model(a.model_path.as_deref())?;
    let threads = thread_counts(&a.threads);
    let mtype = model_type(&files);
    let mut tests = Vec::new();
    for &t in &threads {
        for &d in &a.n_depth {
            let test =
                |n_prompt, n_gen, n_parallel| BenchTest { n_prompt, n_gen, n_depth: d, n_threads: t, n_parallel };
            tests.extend(a.n_prompt.iter().filter(|&&p| p > 0).map(|&p| test(p, 0, 1)));
            for &np in &a.parallel {
                tests.extend(a.n_gen.iter().filter(|&&n| n > 0).map(|&n| test(0, n, np)));
            }
        }
    }
    let mut results: Vec<BenchResult> = Vec::new();
    if !a.json {
        println!("| model | size | params | backend | threads | test | t/s |");
        println!("| --- | ---: | ---: | --- | ---: | ---: | ---: |");
    }
    for t in tests {
        let r = bench::run(&files, t, a.reps, &mtype)?;
        if !a.json {
            let mut test = if r.n_prompt > 0 { format!("pp{}", r.n_prompt) } else { format!("tg{}", r.n_gen) };
            if r.n_parallel > 1 {
                test.push_str(&format!(" x{}", r.n_parallel));
            }
            if r.n_depth > 0 {
                test.push_str(&format!(" @ d{}", r.n_depth));
            }
            println!(
                "| {} | {:.2} MiB | {:.2} M | CPU | {} | {test} | {:.2} ± {:.2} |",
                r.model_type,
                r.model_size as f64 / (1 << 20) as f64,
                r.model_n_params as f64 / 1e6,
                r.n_threads,
                r.avg_ts,
                r.stddev_ts
            );
        }
        results.push(r);
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        // As llama-bench's closing build line: which kernels ran.
        println!("\nkernels: {}\ncpu: {}", bench::kernel_set(), bench::cpu_info());
    }
    Ok(())
}
