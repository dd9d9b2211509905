//! `herd contamination`: 8-gram overlap of benchmark examples with a training corpus, as in the Llama 3 paper (§5.1.4).

use anyhow::{Context, Result, bail};
use clap::Args;
use herd_lab::contamination::{
    self, Analysis, BenchSummary, Benchmark, CorpusSource, CorpusSpec, Format, Options, Scores, SummaryOptions, report,
};
use herd_llama::tokenizer::Tokenizer;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
#[command(after_long_help = AFTER_HELP)]
pub struct ContaminationArgs {
    /// Training corpus: files, folders (walked recursively in sorted order, names
    /// starting with `.` skipped) or `-` for standard input. JSONL (.jsonl, .json,
    /// .ndjson: one document per line, the string field --text-field, or a bare JSON
    /// string), Parquet (.parquet: the string column --text-field, one document per
    /// row) or plain text (any other name: one whole file is one document); gzip and
    /// zstd compression are recognized by their magic bytes.
    #[arg(long, num_args = 1.., value_name = "PATH", required_unless_present = "index")]
    pub corpus: Vec<PathBuf>,
    /// Saved n-gram indexes (see --save-index) to check instead of reading a corpus.
    #[arg(long, num_args = 1.., value_name = "FILE", conflicts_with_all = ["corpus", "save_index"])]
    pub index: Vec<PathBuf>,
    /// Benchmarks: JSONL files with an `id` (string or number) and a `text` field per
    /// line; several are checked in one corpus pass. (Task names of `herd eval` will
    /// work once its tasks exist.)
    #[arg(long, num_args = 1.., value_name = "TASK|FILE", required_unless_present = "save_index")]
    pub bench: Vec<String>,
    /// n-gram length in tokens.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    /// tokenizer.model or tokenizer.json file, or a model (GGUF, Hugging Face folder,
    /// catalogue name). Default: Llama 3's tokenizer.model in herd's test data
    /// (${HERD_HOME:-~/.cache/herd}/testdata/llama3/, fetched by scripts/setup-test-data.sh).
    #[arg(long, value_name = "T")]
    pub tokenizer: Option<String>,
    /// Contamination threshold T: an example is contaminated when at least this
    /// fraction of its tokens is marked. Default: with --results, the paper's rule
    /// (the threshold of the largest significant estimated gain), else 0.8.
    #[arg(long, value_name = "X", value_parser = unit_interval)]
    pub threshold: Option<f64>,
    /// A `herd eval` sample log (JSONL, one {"task", "id", "score"} per line, score in
    /// [0, 1]): report the scores of the clean and contaminated subsets and the
    /// estimated performance gain score(full) − score(clean) over a threshold sweep.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// The results log's task for the benchmark (default: the log's only task, or the
    /// task named like the benchmark file's stem).
    #[arg(long)]
    pub task: Option<String>,
    /// A gain is significant only when both subsets have at least this many examples.
    #[arg(long, default_value_t = 10)]
    pub min_subset: usize,
    /// Write the threshold sweep as an SVG figure.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Print one JSON object: {"examples": [{"id", "contaminated_fraction", "tokens",
    /// ...}], "benchmarks": [...], "corpus": {...}}.
    #[arg(long)]
    pub json: bool,
    /// Include each example's contaminated token ranges ([start, end), token offsets
    /// without BOS) in --json.
    #[arg(long)]
    pub spans: bool,
    /// Also write the corpus's n-gram index to FILE, to check other benchmarks later
    /// with --index without reading the corpus again (8 bytes per distinct n-gram).
    #[arg(long, value_name = "FILE")]
    pub save_index: Option<PathBuf>,
    /// Memory for building an index, in MiB (sorted runs spill to disk beyond it).
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub index_memory: usize,
    /// The JSONL field or Parquet column that holds a document's text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Corpus format: auto (by extension; standard input by its first byte), jsonl,
    /// text, parquet.
    #[arg(long, default_value = "auto")]
    pub format: Format,
    /// Worker threads (0: one per core).
    #[arg(long, short = 't', default_value_t = 0)]
    pub threads: usize,
    /// Tokenize every document, instead of skipping those that cannot contain a
    /// benchmark n-gram (the result is the same; this measures tokenization speed).
    #[arg(long)]
    pub no_prefilter: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

const AFTER_HELP: &str = "\
Method (Llama 3 paper §5.1.4, after Singh et al. 2024): each benchmark example and each corpus
document is tokenized on its own, without BOS; a token of an example is contaminated when it
lies in an n-gram (n = 8) that occurs at least once in the corpus. An n-gram never spans two
corpus documents or two benchmark examples. An example is contaminated at threshold T when at
least a fraction T of its tokens is contaminated. The estimated performance gain at T is the
score on the full set minus the score on the clean set; its 95% interval is
1.96 · share · sqrt(var_c/n_c + var_k/n_k), and a gain counts as significant when both subsets
have --min-subset examples and the gain exceeds the interval.

Memory is bounded by the benchmarks, not the corpus: the corpus is streamed in 1 MiB batches.
Plain-text files larger than 8 MiB are read in pieces cut after a newline followed by a visible
ASCII character (a pre-token boundary of byte-level BPE), with 16 KiB of overlap so that
n-grams across a cut are still found (Llama 3's 400,000-character encode windows then start at
each piece). Documents with none of the benchmark n-grams' bytes are skipped without
tokenizing: exact for byte-level BPE tokenizers (checked on the benchmark examples; every
tokenized document is checked too). When it skips less than a quarter of the first 8 MB it
turns itself off; --no-prefilter turns it off from the start.

Index files hold the 64-bit hashes of a corpus's distinct n-grams with the tokenizer's
fingerprint and n; a benchmark n-gram counts as found when its hash is there (about B·C/2^64
false hits for B benchmark and C corpus n-grams). A streamed analysis compares token ids and is
exact.";

fn unit_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&v) { Ok(v) } else { Err(format!("{v} is not in [0, 1]")) }
}

fn default_tokenizer() -> Result<PathBuf> {
    let p = herd_llama::testdata::dir().join("llama3/tokenizer.model");
    if p.is_file() {
        return Ok(p);
    }
    bail!(
        "no tokenizer given and Llama 3's tokenizer.model is not at {}: pass --tokenizer (a tokenizer.model or \
         tokenizer.json file, or a model), or run scripts/setup-test-data.sh to fetch it",
        p.display()
    )
}

fn load_benches(specs: &[String]) -> Result<Vec<Benchmark>> {
    let mut out = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let p = Path::new(s);
        if !p.exists() && !s.contains(['/', '\\', '.']) {
            bail!(
                "benchmark {s:?}: herd eval's named tasks are not built yet; pass a JSONL file with `id` and `text` \
                 fields per line"
            );
        }
        out.push(contamination::read_bench_file(p, i)?);
    }
    Ok(out)
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(0);
    b.set_style(
        ProgressStyle::with_template("corpus [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    b
}

pub fn contamination(a: ContaminationArgs) -> Result<()> {
    let tok_path = match &a.tokenizer {
        Some(t) => t.clone(),
        None => default_tokenizer()?.display().to_string(),
    };
    let tok: Tokenizer = super::tokenize::load_tokenizer(&tok_path)?;
    let mut benches = load_benches(&a.bench)?;
    let scores = a.results.as_deref().map(Scores::read).transpose()?;
    let threads = if a.threads > 0 { a.threads } else { std::thread::available_parallelism().map_or(1, |n| n.get()) };
    let source = if a.index.is_empty() {
        CorpusSource::Stream(CorpusSpec { paths: a.corpus.clone(), format: a.format, text_field: a.text_field.clone() })
    } else {
        CorpusSource::Indexes(a.index.clone())
    };
    let bar = progress_bar(a.quiet || !a.index.is_empty());
    let progress = |done: u64, total: Option<u64>| {
        if let Some(t) = total {
            bar.set_length(t);
        }
        bar.set_position(done);
    };
    let opts = Options {
        tokenizer: &tok,
        tokenizer_name: tok_path.clone(),
        n: a.n,
        threads,
        prefilter: !a.no_prefilter,
        save_index: a.save_index.clone(),
        index_memory: a.index_memory.saturating_mul(1 << 20),
        spans: a.spans,
        progress: &progress,
    };
    let analysis = contamination::analyze(&mut benches, &source, &opts)?;
    bar.finish_and_clear();
    let sopts = SummaryOptions {
        threshold: a.threshold,
        scores: scores.as_ref(),
        task: a.task.as_deref(),
        min_subset: a.min_subset,
        grid: report::default_thresholds(),
    };
    let mut summaries = Vec::new();
    for b in &benches {
        let mine: Vec<_> = analysis.examples.iter().filter(|e| e.bench == b.name).collect();
        summaries.push(contamination::summarize(&b.name, &mine, &sopts)?);
    }
    if let Some(p) = &a.plot {
        let title = format!("contamination: {}-gram overlap with the corpus", a.n);
        std::fs::write(p, contamination::plot::sweep_svg(&summaries, &title))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    report_corpus(&analysis, &a);
    if a.json {
        let v = json!({
            "examples": analysis.examples,
            "benchmarks": summaries,
            "n": a.n,
            "tokenizer": tok_path,
            "grams": analysis.grams,
            "grams_found": analysis.grams_found,
            "prefilter": analysis.prefilter,
            "corpus": analysis.corpus,
            "indexes": analysis.indexes,
        });
        println!("{v}");
    } else {
        print_summaries(&analysis, &summaries, a.n);
    }
    Ok(())
}

/// The corpus pass and index lines, on stderr (stdout carries the results).
fn report_corpus(an: &Analysis, a: &ContaminationArgs) {
    if a.quiet {
        return;
    }
    if let Some(s) = &an.corpus {
        let t = s.seconds.max(1e-9);
        let mb = s.text_bytes as f64 / 1e6;
        let tok_mb = s.tokenized_bytes as f64 / 1e6;
        let per = s.threads.max(1) as f64;
        eprintln!(
            "herd: corpus: {} documents, {mb:.1} MB of text in {t:.2} s ({:.1} MB/s); tokenized {tok_mb:.1} MB \
             ({:.1}%) into {} tokens ({:.2} MB/s and {:.0}k tokens/s per thread, {} threads); prefilter {}",
            s.documents,
            mb / t,
            100.0 * tok_mb / mb.max(1e-12),
            s.tokens,
            tok_mb / t / per,
            s.tokens as f64 / t / per / 1e3,
            s.threads,
            an.prefilter
        );
        if s.unfaithful_documents > 0 {
            eprintln!(
                "herd: warning: {} tokenized documents are not spelled byte for byte by their tokens; the prefilter \
                 may have skipped n-grams: rerun with --no-prefilter",
                s.unfaithful_documents
            );
        }
    }
    if let Some(p) = &a.save_index
        && let Some(h) = an.indexes.first()
    {
        eprintln!("herd: index {}: {} distinct {}-grams of {} tokens", p.display(), h.count, h.n, h.tokens);
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{:.1}", 100.0 * x))
}

fn print_summaries(an: &Analysis, summaries: &[BenchSummary], n: usize) {
    for s in summaries {
        println!(
            "{}: {} examples; contaminated at T = {:.2} ({}): {} ({:.1}%); mean contaminated fraction {:.3}",
            s.name,
            s.examples,
            s.threshold,
            serde_json::to_value(s.threshold_rule)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            s.contaminated,
            s.contaminated_pct,
            s.mean_fraction
        );
        let Some(r) = &s.results else { continue };
        println!("  task {}: {} examples scored, {} without a score", r.task, r.scored, r.unscored);
        println!(
            "  {:>5} {:>8} {:>6} {:>6} {:>6} {:>7} {:>7} {:>6}",
            "T", "examples", "%", "full", "clean", "contam.", "gain", "±95%"
        );
        for row in &r.sweep {
            println!(
                "  {:>5.2} {:>8} {:>6.1} {:>6} {:>6} {:>7} {:>7} {:>6}{}",
                row.threshold,
                row.contaminated,
                row.contaminated_pct,
                pct(Some(row.score_full)),
                pct(row.score_clean),
                pct(row.score_contaminated),
                pct(row.gain),
                pct(row.gain_ci95),
                if row.significant { " *" } else { "" }
            );
        }
        println!(
            "  (examples and %: contaminated at T; scores and gain in points; * significant; \
             gain = score(full) - score(clean))"
        );
    }
    if !summaries.is_empty() {
        println!("{} distinct benchmark {n}-grams, {} found in the corpus", an.grams, an.grams_found);
    }
}
