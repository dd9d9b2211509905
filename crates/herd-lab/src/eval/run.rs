//! Running a task: documents to requests, requests to the backend through a response
//! cache (so a re-run or a re-score costs nothing, and an interrupted run resumes), then
//! scores, a sample log, and the result with the paper's 95% interval.

use super::backend::{Backend, GenRequest, Response, Sampling};
use super::tasks::{Aggregate, Request, Scored, Style, Task, TaskInfo};
use crate::LabError;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Responses by request, kept in an append-only JSONL file: a line is written as soon
/// as a response arrives, so an interrupted run loses nothing it already paid for.
#[derive(Debug)]
pub struct Cache {
    path: PathBuf,
    map: Mutex<HashMap<String, Response>>,
    file: Mutex<Option<std::fs::File>>,
}

impl Cache {
    pub fn open(path: &Path) -> Result<Self, LabError> {
        let io = |e| LabError::Io { path: path.to_path_buf(), err: e };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| LabError::Io { path: dir.to_path_buf(), err: e })?;
        }
        let mut map = HashMap::new();
        if path.exists() {
            let f = std::fs::File::open(path).map_err(io)?;
            for line in std::io::BufReader::new(f).lines() {
                // A line cut short by an interrupted write is skipped, not fatal.
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let (Some(k), Some(r)) = (v.get("key").and_then(Value::as_str), v.get("response"))
                    && let Ok(r) = serde_json::from_value::<Response>(r.clone())
                {
                    map.insert(k.to_string(), r);
                }
            }
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        Ok(Cache { path: path.to_path_buf(), map: Mutex::new(map), file: Mutex::new(Some(file)) })
    }

    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, key: &str) -> Option<Response> {
        self.map.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: String, r: &Response) -> Result<(), LabError> {
        let line = json!({"key": key, "response": r}).to_string();
        if let Ok(mut f) = self.file.lock()
            && let Some(f) = f.as_mut()
        {
            writeln!(f, "{line}").map_err(|e| LabError::Io { path: self.path.clone(), err: e })?;
        }
        if let Ok(mut m) = self.map.lock() {
            m.insert(key, r.clone());
        }
        Ok(())
    }
}

/// The cache key: the backend's identity and the whole request (prompt and settings;
/// a greedy request's key has no sampling part, so greedy caches stay valid).
fn key(backend: &dyn Backend, req: &Request, sampling: Option<&Sampling>) -> String {
    let mut h = Sha256::new();
    h.update(backend.id().as_bytes());
    h.update([0]);
    h.update(serde_json::to_string(req).unwrap_or_default().as_bytes());
    if let Some(s) = sampling {
        h.update([0]);
        h.update(serde_json::to_string(s).unwrap_or_default().as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn ask(
    backend: &dyn Backend,
    cache: &Cache,
    req: &Request,
    sampling: Option<&Sampling>,
) -> Result<(Response, bool), LabError> {
    let k = key(backend, req, sampling);
    if let Some(r) = cache.get(&k) {
        return Ok((r, true));
    }
    let r = match req {
        Request::Gen(g) => backend.generate(g, sampling)?,
        Request::Loglik(l) => backend.loglikelihood(l)?,
    };
    cache.put(k, &r)?;
    Ok((r, false))
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub limit: Option<usize>,
    pub shots: Option<usize>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Caps every task's generation length (quick smoke runs; results then differ from
    /// the paper's setting).
    pub max_tokens: Option<usize>,
    /// Generations per request (code tasks: pass@k from n samples); 1 is greedy unless
    /// `temperature` is set.
    pub samples: usize,
    /// Sample at this temperature instead of decoding greedily.
    pub temperature: Option<f64>,
    pub top_p: f64,
    /// Seed of the first sample (sample i uses seed + i).
    pub seed: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            limit: None,
            shots: None,
            concurrency: 1,
            max_tokens: None,
            samples: 1,
            temperature: None,
            top_p: 1.0,
            seed: 0,
        }
    }
}

impl RunOptions {
    /// The sampling of each of a request's generations: one greedy, or `samples` seeded
    /// ones. Several greedy generations would all be the same, so `samples > 1` needs a
    /// temperature, and only the code tasks (pass@k) know what to do with several.
    fn generations(&self, task: &TaskInfo) -> Result<Vec<Option<Sampling>>, LabError> {
        let samples = self.samples.max(1);
        if samples > 1 && task.style != Style::Code {
            return Err(LabError::Invalid(format!(
                "--samples {samples}: {} scores one answer per question; several samples are for the code tasks' pass@k",
                task.name
            )));
        }
        match self.temperature {
            None if samples > 1 => Err(LabError::Invalid(format!(
                "--samples {samples} needs --temperature (greedy samples are all the same; the pass@k papers use 0.8)"
            ))),
            None => Ok(vec![None]),
            Some(t) if !(t.is_finite() && t >= 0.0) => {
                Err(LabError::Invalid(format!("--temperature {t} must be a finite number ≥ 0")))
            }
            Some(t) => Ok((0..samples as u64)
                .map(|i| Some(Sampling { temperature: t, top_p: self.top_p, seed: self.seed.wrapping_add(i) }))
                .collect()),
        }
    }
}

/// A task's result, as `results.json` records it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskResult {
    pub metric: String,
    /// Mean score in 0..=1.
    pub score: f64,
    pub n: usize,
    /// Half-width of the 95% interval, the paper's `1.96·sqrt(S(1−S)/N)`.
    pub ci95: f64,
    /// The parts of the score (a macro average's groups, IFEval's four accuracies).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub breakdown: serde_json::Map<String, Value>,
    /// Requests answered from the cache.
    pub cached: usize,
    /// Llama 3.1 8B / 70B / 405B as published (percent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paper: Option<[f64; 3]>,
}

pub fn ci95(score: f64, n: usize) -> f64 {
    if n == 0 { 0.0 } else { 1.96 * (score * (1.0 - score) / n as f64).sqrt() }
}

/// One line of the sample log.
#[derive(Debug, Serialize)]
struct SampleLine<'a> {
    task: &'a str,
    doc: String,
    requests: &'a [Request],
    responses: &'a [Response],
    #[serde(flatten)]
    scored: &'a Scored,
}

/// Runs `task` on its documents: the first prompt once alone (a one-token warm-up of the
/// server's prefix cache; a log-likelihood document runs whole), then `concurrency`
/// worker threads take the documents in order, ask the backend (through the cache) and
/// score; `progress(done, total)` is
/// called as documents finish; each sample goes to `log` as a JSON line.
pub fn run_task(
    task: &dyn Task,
    docs: &[Value],
    backend: &dyn Backend,
    cache: &Cache,
    opts: &RunOptions,
    log: Option<&Mutex<Box<dyn Write + Send>>>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<TaskResult, LabError> {
    let info = task.info();
    let generations = opts.generations(&info)?;
    let n = opts.limit.map_or(docs.len(), |l| l.min(docs.len()));
    let shots = opts.shots.unwrap_or(info.shots);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let cached = AtomicUsize::new(0);
    let scores: Mutex<Vec<Option<Scored>>> = Mutex::new(vec![None; n]);
    let first_error: Mutex<Option<LabError>> = Mutex::new(None);
    // A document's requests, as the backend can take them.
    let requests = |doc: &Value| -> Result<Vec<Request>, LabError> {
        let mut reqs = match backend.limits() {
            Some(l) => task.requests_fitted(doc, shots, l)?,
            None => task.requests(doc, shots)?,
        };
        if let Some(cap) = opts.max_tokens {
            for r in &mut reqs {
                if let Request::Gen(g) = r {
                    g.max_tokens = g.max_tokens.min(cap);
                }
            }
        }
        Ok(reqs)
    };
    // One document: its requests through the cache, its score and log line. False when
    // the run is to stop (this or another document failed).
    let one = |i: usize| -> bool {
        if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
            return false;
        }
        let doc = &docs[i];
        let result = (|| -> Result<(), LabError> {
            let reqs = requests(doc)?;
            let mut responses = Vec::with_capacity(reqs.len());
            // A generation request's samples answer in a row: a task with one request
            // sees its `samples` answers as `responses`.
            for r in &reqs {
                let runs: &[Option<Sampling>] = if matches!(r, Request::Gen(_)) { &generations } else { &[None] };
                for s in runs {
                    let (resp, hit) = ask(backend, cache, r, s.as_ref())?;
                    cached.fetch_add(usize::from(hit), Ordering::Relaxed);
                    responses.push(resp);
                }
            }
            let scored = task.score(doc, &responses);
            if let Some(log) = log {
                let line = SampleLine {
                    task: info.name,
                    doc: task.doc_id(doc, i),
                    requests: &reqs,
                    responses: &responses,
                    scored: &scored,
                };
                if let Ok(mut w) = log.lock() {
                    let _ = writeln!(w, "{}", serde_json::to_string(&line).unwrap_or_default());
                }
            }
            if let Ok(mut sc) = scores.lock() {
                sc[i] = Some(scored);
            }
            Ok(())
        })();
        if let Err(e) = result {
            if let Ok(mut fe) = first_error.lock() {
                fe.get_or_insert(LabError::Backend(format!("{} document {i}: {e}", info.name)));
            }
            return false;
        }
        progress(done.fetch_add(1, Ordering::Relaxed) + 1, n);
        true
    };
    // The first prompt's long shared part (few-shot examples, instructions) goes to the
    // backend once before the others, so that it is in the server's prefix cache
    // (herd's, vLLM's) when they arrive, instead of computed once per request in flight.
    // A generation is asked for one token only (a warm-up whose answer is dropped), so
    // that the first document's whole answer does not hold the others back; a
    // log-likelihood, one forward pass, runs its document alone.
    let first = if opts.concurrency > 1 && n > 1 {
        match requests(&docs[0]).ok().and_then(|r| r.into_iter().next()) {
            Some(Request::Gen(g)) => {
                if cache.get(&key(backend, &Request::Gen(g.clone()), generations[0].as_ref())).is_none() {
                    // An error here is the first document's own, reported when it runs.
                    let _ = backend.generate(&GenRequest { max_tokens: 1, ..g }, None);
                }
                0
            }
            _ => 1,
        }
    } else {
        0
    };
    if first == 0 || one(0) {
        next.store(first, Ordering::Relaxed);
        std::thread::scope(|s| {
            for _ in 0..opts.concurrency.max(1) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n || !one(i) {
                            break;
                        }
                    }
                });
            }
        });
    }
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let scores = scores.into_inner().unwrap_or_default();
    let (docs, scored): (Vec<&Value>, Vec<&Scored>) =
        docs.iter().zip(&scores).filter_map(|(d, s)| Some((d, s.as_ref()?))).unzip();
    let Aggregate { score, breakdown } = task.aggregate(&docs, &scored);
    Ok(TaskResult {
        metric: info.metric.to_string(),
        score,
        n: scored.len(),
        ci95: ci95(score, scored.len()),
        breakdown: breakdown.into_iter().map(|(k, v)| (k, json!(v))).collect(),
        cached: cached.into_inner(),
        paper: info.paper,
    })
}

/// The results table: score ± interval beside the paper's 8B / 70B / 405B.
pub fn table(results: &[(String, TaskResult)]) -> String {
    let mut out = String::from(
        "| task | metric | n | score | ±95% | Llama 3.1 8B | 70B | 405B |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (name, r) in results {
        let p = |i: usize| r.paper.map_or("–".to_string(), |p| format!("{:.1}", p[i]));
        out.push_str(&format!(
            "| {name} | {} | {} | {:.1} | {:.1} | {} | {} | {} |\n",
            r.metric,
            r.n,
            100.0 * r.score,
            100.0 * r.ci95,
            p(0),
            p(1),
            p(2)
        ));
    }
    out
}

/// The parts behind each score that has them (macro groups, pass@k, IFEval's four), one
/// line a task: `task: part 12.3, part 45.6`.
pub fn breakdown(results: &[(String, TaskResult)]) -> String {
    let mut out = String::new();
    for (name, r) in results.iter().filter(|(_, r)| !r.breakdown.is_empty()) {
        let parts: Vec<String> =
            r.breakdown.iter().map(|(k, v)| format!("{k} {:.1}", 100.0 * v.as_f64().unwrap_or(f64::NAN))).collect();
        out.push_str(&format!("{name}: {}\n", parts.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::eval::backend::{GenRequest, LoglikRequest, Msg};
    use crate::eval::tasks::{DataSource, TaskInfo};

    /// Answers "yes" when the sampling seed is even, "no" when odd, "greedy" without one.
    struct Seeds;
    impl Backend for Seeds {
        fn id(&self) -> String {
            "seeds".into()
        }
        fn generate(&self, _: &GenRequest, s: Option<&Sampling>) -> Result<Response, LabError> {
            let text = match s {
                None => "greedy",
                Some(s) if s.seed % 2 == 0 => "yes",
                Some(_) => "no",
            };
            Ok(Response::Text { text: text.into(), finish_reason: "stop".into() })
        }
        fn loglikelihood(&self, _: &LoglikRequest) -> Result<Response, LabError> {
            Err(LabError::Backend("no".into()))
        }
    }

    /// A code task whose "program" passes when the answer is "yes".
    struct YesTask(Style);
    impl Task for YesTask {
        fn info(&self) -> TaskInfo {
            TaskInfo {
                name: "yes",
                style: self.0,
                setting: "",
                metric: "pass@1",
                shots: 0,
                max_tokens: 1,
                data: "",
                paper: None,
            }
        }
        fn load(&self, _: &DataSource) -> Result<Vec<Value>, LabError> {
            Ok(Vec::new())
        }
        fn requests(&self, _: &Value, _: usize) -> Result<Vec<Request>, LabError> {
            Ok(vec![Request::Gen(GenRequest { messages: vec![Msg::new("user", "?")], max_tokens: 1, stop: vec![] })])
        }
        fn score(&self, _: &Value, r: &[Response]) -> Scored {
            super::super::tasks::pass_scored(r, "", |a| (a.to_string(), a == "yes"))
        }
        fn aggregate(&self, _: &[&Value], scored: &[&Scored]) -> Aggregate {
            super::super::tasks::pass_at_k_aggregate(scored)
        }
    }

    fn run(task: &dyn Task, opts: &RunOptions) -> Result<TaskResult, LabError> {
        let dir = std::env::temp_dir().join(format!("herd-run-test-{}-{}", std::process::id(), opts.seed));
        let cache = Cache::open(&dir.join("c.jsonl"))?;
        let docs = vec![json!({}); 3];
        let r = run_task(task, &docs, &Seeds, &cache, opts, None, &|_, _| {});
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn samples_are_seeded_in_a_row_and_give_pass_at_k() {
        let code = YesTask(Style::Code);
        // Greedy: one generation, "greedy" fails.
        let r = run(&code, &RunOptions::default()).expect("greedy run");
        assert_eq!((r.score, r.n), (0.0, 3));
        assert!(r.breakdown.is_empty());
        // 10 samples from seed 1: seeds 1..=10, the five even ones pass.
        let opts = RunOptions { samples: 10, temperature: Some(0.8), seed: 1, ..RunOptions::default() };
        let r = run(&code, &opts).expect("sampled run");
        assert_eq!(r.score, 0.5);
        assert_eq!(r.breakdown["pass@1"], json!(0.5));
        assert_eq!(r.breakdown["pass@10"], json!(1.0));
        // Several greedy samples, or samples for a task that scores one answer, are refused.
        let greedy_samples = RunOptions { samples: 2, ..RunOptions::default() };
        assert!(run(&code, &greedy_samples).is_err());
        assert!(run(&YesTask(Style::Generate), &opts).is_err());
    }

    /// Records when each prompt's request starts and ends, and how many are in flight.
    #[derive(Default)]
    struct Timeline {
        /// (start or end, prompt, max_tokens) of every request.
        events: Mutex<Vec<(bool, String, usize)>>,
        in_flight: AtomicUsize,
        most: AtomicUsize,
    }
    impl Backend for Timeline {
        fn id(&self) -> String {
            "timeline".into()
        }
        fn generate(&self, r: &GenRequest, _: Option<&Sampling>) -> Result<Response, LabError> {
            let prompt = r.messages[0].content.clone();
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.events.lock().expect("events").push((true, prompt.clone(), r.max_tokens));
            std::thread::sleep(std::time::Duration::from_millis(30));
            self.events.lock().expect("events").push((false, prompt, r.max_tokens));
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(Response::Text { text: "yes".into(), finish_reason: "stop".into() })
        }
        fn loglikelihood(&self, _: &LoglikRequest) -> Result<Response, LabError> {
            Err(LabError::Backend("no".into()))
        }
    }

    /// A task whose prompt is the document's `q`.
    struct Echo;
    impl Task for Echo {
        fn info(&self) -> TaskInfo {
            YesTask(Style::Generate).info()
        }
        fn load(&self, _: &DataSource) -> Result<Vec<Value>, LabError> {
            Ok(Vec::new())
        }
        fn requests(&self, doc: &Value, _: usize) -> Result<Vec<Request>, LabError> {
            let q = doc["q"].as_str().unwrap_or_default();
            Ok(vec![Request::Gen(GenRequest { messages: vec![Msg::new("user", q)], max_tokens: 64, stop: vec![] })])
        }
        fn score(&self, _: &Value, r: &[Response]) -> Scored {
            super::super::tasks::pass_scored(r, "", |a| (a.to_string(), a == "yes"))
        }
        fn aggregate(&self, _: &[&Value], scored: &[&Scored]) -> Aggregate {
            Aggregate::mean(scored)
        }
    }

    /// With several requests in flight, the first document's prompt is sent alone first
    /// with a one-token budget (so a server caches its shared prefix before the rest
    /// arrive), then every document runs concurrently; a re-run with every answer cached
    /// sends nothing, the warm-up included.
    #[test]
    fn the_first_prompt_warms_the_cache_then_all_run_concurrently() {
        let dir = std::env::temp_dir().join(format!("herd-run-first-{}", std::process::id()));
        let cache = Cache::open(&dir.join("c.jsonl")).expect("cache");
        let docs: Vec<Value> = (0..9).map(|i| json!({"q": format!("doc {i}")})).collect();
        let backend = Timeline::default();
        let opts = RunOptions { concurrency: 4, ..RunOptions::default() };
        let r = run_task(&Echo, &docs, &backend, &cache, &opts, None, &|_, _| {}).expect("run");
        assert_eq!((r.score, r.n), (1.0, 9));
        let events = std::mem::take(&mut *backend.events.lock().expect("events"));
        assert_eq!(events.len(), 20);
        assert_eq!(events[..2], [(true, "doc 0".to_string(), 1), (false, "doc 0".to_string(), 1)]);
        assert!(events[2..].iter().all(|e| e.2 == 64), "only the warm-up is cut short");
        assert!(events[2..].iter().any(|e| e.1 == "doc 0"), "the first document still gets its answer");
        assert!(backend.most.load(Ordering::SeqCst) > 1, "the documents ran one at a time");
        let again = run_task(&Echo, &docs, &backend, &cache, &opts, None, &|_, _| {}).expect("re-run");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!((again.n, again.cached), (9, 9));
        assert!(backend.events.into_inner().expect("events").is_empty(), "a cached re-run asked the backend");
    }

    #[test]
    fn a_macro_average_weighs_groups_equally() {
        let s = |x: f64| Scored::new(x, "", "");
        let (a, b, c) = (s(1.0), s(1.0), s(0.0));
        let agg = Aggregate::macro_mean([("x".to_string(), &a), ("x".to_string(), &b), ("y".to_string(), &c)]);
        assert_eq!(agg.score, 0.5);
        assert_eq!(agg.breakdown, vec![("x".to_string(), 1.0), ("y".to_string(), 0.0)]);
        assert!((Aggregate::mean(&[&a, &b, &c]).score - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn the_papers_interval() {
        // evaluation.md: HumanEval, N = 164, S = 0.726 gives ±6.8 points.
        assert!((100.0 * ci95(0.726, 164) - 6.8).abs() < 0.05);
        assert_eq!(ci95(1.0, 10), 0.0);
    }
}
