//! Contamination analysis as in the Llama 3 paper (§5.1.4): which tokens of each
//! benchmark example lie in a token n-gram (n = 8) that occurs in a training corpus.
//!
//! The benchmark side is small and held in memory: its examples, tokenized without
//! BOS, and the table of their distinct n-grams ([`bench`]). The corpus is streamed
//! once ([`corpus`], [`scan`]): every document is tokenized on its own (an n-gram never
//! spans two documents, nor two benchmark examples) and its n-grams are looked up in
//! the table; a byte-level [`prefilter`] skips documents that cannot contain any
//! benchmark n-gram. A corpus can instead be turned once into a persistent [`index`] of
//! its n-gram hashes and checked against any benchmark later. [`report`] turns the
//! per-token marks into per-example fractions, per-benchmark shares and, with a results
//! log, the clean/contaminated score split and the estimated performance gain;
//! [`plot`] draws the threshold sweep.

pub mod bench;
pub mod corpus;
pub mod hash;
pub mod index;
mod parquet_src;
pub mod plot;
pub mod prefilter;
pub mod report;
pub mod scan;

pub use bench::{Benchmark, Example, GramTable, HitSet, read_bench_file};
pub use corpus::{CorpusSpec, Format};
pub use index::{CorpusIndex, IndexHeader, IndexWriter};
pub use report::{ExampleReport, Scores, SplitRow};
pub use scan::ScanStats;

use crate::error::LabError;
use herd_llama::tokenizer::Tokenizer;
use std::path::PathBuf;

/// Where the corpus n-grams come from.
#[derive(Debug, Clone)]
pub enum CorpusSource {
    /// Read and tokenize the corpus.
    Stream(CorpusSpec),
    /// Look the benchmark n-grams up in saved indexes (a hit in any counts).
    Indexes(Vec<PathBuf>),
}

/// How to run an analysis.
pub struct Options<'a> {
    pub tokenizer: &'a Tokenizer,
    /// A description of the tokenizer, stored in saved indexes.
    pub tokenizer_name: String,
    pub n: usize,
    pub threads: usize,
    /// Use the byte prefilter when it is sound for these benchmarks.
    pub prefilter: bool,
    /// Write the corpus's n-gram index here (streaming only).
    pub save_index: Option<PathBuf>,
    /// Memory for index building, in bytes.
    pub index_memory: usize,
    /// Report the contaminated token ranges of each example.
    pub spans: bool,
    /// Input bytes read so far, and the total when known.
    pub progress: &'a (dyn Fn(u64, Option<u64>) + Sync),
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options").field("n", &self.n).field("threads", &self.threads).finish_non_exhaustive()
    }
}

/// The outcome of one analysis.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Analysis {
    pub examples: Vec<ExampleReport>,
    /// Distinct benchmark n-grams, and how many the corpus has.
    pub grams: usize,
    pub grams_found: usize,
    /// The corpus pass (None when indexes were used).
    pub corpus: Option<ScanStats>,
    /// "on", or "off: why".
    pub prefilter: String,
    /// Headers of the indexes used or written.
    pub indexes: Vec<IndexHeader>,
}

/// Tokenizes the benchmarks, finds their n-grams in the corpus and marks their tokens.
pub fn analyze(benches: &mut [Benchmark], source: &CorpusSource, o: &Options) -> Result<Analysis, LabError> {
    bench::tokenize(benches, o.tokenizer);
    let table = GramTable::build(benches, o.n)?;
    let mut a = Analysis {
        examples: Vec::new(),
        grams: table.len(),
        grams_found: 0,
        corpus: None,
        prefilter: "off: not streaming".into(),
        indexes: Vec::new(),
    };
    let hits = match source {
        CorpusSource::Stream(spec) => stream(benches, &table, spec, o, &mut a)?,
        CorpusSource::Indexes(paths) => from_indexes(&table, paths, o, &mut a)?,
    };
    a.grams_found = hits.count();
    let names: Vec<&str> = benches.iter().map(|b| b.name.as_str()).collect();
    for (k, e) in benches.iter().flat_map(|b| &b.examples).enumerate() {
        let marks = table.marks(k, e.ids.len(), &hits);
        let name = names.get(e.bench).copied().unwrap_or("");
        a.examples.push(ExampleReport::from_marks(name, &e.id, &marks, o.spans));
    }
    Ok(a)
}

fn stream(
    benches: &[Benchmark],
    table: &GramTable,
    spec: &CorpusSpec,
    o: &Options,
    a: &mut Analysis,
) -> Result<HitSet, LabError> {
    let inputs = corpus::list_inputs(spec)?;
    let total = corpus::total_bytes(&inputs);
    let pf = if !o.prefilter {
        a.prefilter = "off: --no-prefilter".into();
        None
    } else if o.save_index.is_some() {
        a.prefilter = "off: an index needs every document".into();
        None
    } else {
        let examples = benches.iter().flat_map(|b| &b.examples).map(|e| (e.id.as_str(), e.text.as_str(), &e.ids[..]));
        match prefilter::Prefilter::build(o.tokenizer, table, examples) {
            Ok(p) => {
                a.prefilter = "on".into();
                Some(p)
            }
            Err(why) => {
                a.prefilter = format!("off: {why}");
                None
            }
        }
    };
    if o.save_index.is_some() && o.n > index::MAX_N {
        return Err(LabError::Invalid(format!("an index holds n-grams of at most {} tokens", index::MAX_N)));
    }
    let writer = match &o.save_index {
        Some(p) => Some(IndexWriter::new(p, o.index_memory, o.threads)?),
        None => None,
    };
    let progress = |done: u64| (o.progress)(done, total);
    let opts = scan::ScanOptions {
        tokenizer: o.tokenizer,
        n: o.n,
        threads: o.threads,
        table: Some(table),
        prefilter: pf.as_ref(),
        index: writer.as_ref(),
        progress: &progress,
    };
    let (hits, stats, rest) = scan::scan(spec, &inputs, &opts)?;
    if let Some(p) = &pf {
        a.prefilter = p.outcome();
    }
    if let (Some(w), Some(out)) = (writer, &o.save_index) {
        let paths: Vec<String> = spec.paths.iter().map(|p| p.display().to_string()).collect();
        let header = IndexHeader {
            n: o.n as u32,
            hash_id: hash::NGRAM_HASH_ID,
            tokenizer: index::tokenizer_fingerprint(o.tokenizer),
            documents: stats.documents,
            tokens: stats.tokens,
            text_bytes: stats.text_bytes,
            count: 0,
            description: format!("tokenizer {}; corpus {}", o.tokenizer_name, paths.join(" ")),
        };
        a.indexes.push(w.finish(rest, header, out)?);
    }
    a.corpus = Some(stats);
    Ok(hits)
}

fn from_indexes(table: &GramTable, paths: &[PathBuf], o: &Options, a: &mut Analysis) -> Result<HitSet, LabError> {
    let mut hits = HitSet::new(table.len());
    let fingerprint = index::tokenizer_fingerprint(o.tokenizer);
    for p in paths {
        let ix = CorpusIndex::open(p)?;
        let shown = p.display();
        if ix.header.n as usize != o.n {
            return Err(LabError::Invalid(format!(
                "{shown}: the index holds {}-grams, not {}-grams",
                ix.header.n, o.n
            )));
        }
        if ix.header.tokenizer != fingerprint {
            return Err(LabError::Invalid(format!(
                "{shown}: the index was built with another tokenizer ({})",
                ix.header.description
            )));
        }
        for (g, &h) in table.hashes().iter().enumerate() {
            if ix.contains(h) {
                hits.set(g as u32);
            }
        }
        a.indexes.push(ix.header.clone());
    }
    Ok(hits)
}

/// The threshold used without `--threshold` and without a significant gain to choose
/// one by: Llama 2's "dirty" cut of 80% contaminated tokens.
pub const DEFAULT_THRESHOLD: f64 = 0.8;

/// How a benchmark's threshold was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdRule {
    Given,
    LargestSignificantGain,
    Default,
}

/// A benchmark's contamination at its threshold, with the score split when scored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchSummary {
    pub name: String,
    pub examples: usize,
    pub threshold: f64,
    pub threshold_rule: ThresholdRule,
    pub contaminated: usize,
    pub contaminated_pct: f64,
    pub mean_fraction: f64,
    /// Examples by contaminated fraction at every threshold of the sweep (no results
    /// needed): `(threshold, contaminated %)`.
    pub share_sweep: Vec<(f64, f64)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub results: Option<ResultsSummary>,
}

/// The clean/contaminated score split of one benchmark.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ResultsSummary {
    pub task: String,
    /// Examples with a score, and without.
    pub scored: usize,
    pub unscored: usize,
    pub at_threshold: SplitRow,
    pub sweep: Vec<SplitRow>,
}

/// What `summarize` needs besides the examples.
#[derive(Debug, Clone)]
pub struct SummaryOptions<'a> {
    pub threshold: Option<f64>,
    pub scores: Option<&'a Scores>,
    /// `--task`: the results log's task for this benchmark.
    pub task: Option<&'a str>,
    pub min_subset: usize,
    pub grid: Vec<f64>,
}

/// Summarizes one benchmark's examples (all of `examples` belong to it).
pub fn summarize(name: &str, examples: &[&ExampleReport], o: &SummaryOptions) -> Result<BenchSummary, LabError> {
    let fractions: Vec<f64> = examples.iter().map(|e| e.contaminated_fraction).collect();
    let share = |t: f64| {
        let k = fractions.iter().filter(|f| report::is_contaminated(**f, t)).count();
        (k, if fractions.is_empty() { 0.0 } else { 100.0 * k as f64 / fractions.len() as f64 })
    };
    let mut results = None;
    let (mut threshold, mut rule) = match o.threshold {
        Some(t) => (t, ThresholdRule::Given),
        None => (DEFAULT_THRESHOLD, ThresholdRule::Default),
    };
    if let Some(scores) = o.scores {
        let task = scores.task_for(name, o.task)?;
        let pairs: Vec<(f64, f64)> =
            examples.iter().filter_map(|e| scores.get(&task, &e.id).map(|s| (e.contaminated_fraction, s))).collect();
        let sweep = report::sweep(&pairs, &o.grid, o.min_subset);
        if o.threshold.is_none()
            && let Some(t) = report::choose_threshold(&sweep)
        {
            (threshold, rule) = (t, ThresholdRule::LargestSignificantGain);
        }
        results = Some(ResultsSummary {
            task,
            scored: pairs.len(),
            unscored: examples.len() - pairs.len(),
            at_threshold: report::split(&pairs, threshold, o.min_subset),
            sweep,
        });
    }
    let (contaminated, contaminated_pct) = share(threshold);
    Ok(BenchSummary {
        name: name.to_string(),
        examples: examples.len(),
        threshold,
        threshold_rule: rule,
        contaminated,
        contaminated_pct,
        mean_fraction: if fractions.is_empty() { 0.0 } else { fractions.iter().sum::<f64>() / fractions.len() as f64 },
        share_sweep: o.grid.iter().map(|&t| (t, share(t).1)).collect(),
        results,
    })
}
