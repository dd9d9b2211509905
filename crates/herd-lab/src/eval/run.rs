//! Running a task: documents to requests, requests to the backend through a response
//! cache (so a re-run or a re-score costs nothing, and an interrupted run resumes), then
//! scores, a sample log, and the result with the paper's 95% interval.

use super::backend::{Backend, Response};
use super::tasks::{Request, Scored, Task};
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

/// The cache key: the backend's identity and the whole request (prompt and settings).
fn key(backend: &dyn Backend, req: &Request) -> String {
    let mut h = Sha256::new();
    h.update(backend.id().as_bytes());
    h.update([0]);
    h.update(serde_json::to_string(req).unwrap_or_default().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn ask(backend: &dyn Backend, cache: &Cache, req: &Request) -> Result<(Response, bool), LabError> {
    let k = key(backend, req);
    if let Some(r) = cache.get(&k) {
        return Ok((r, true));
    }
    let r = match req {
        Request::Gen(g) => backend.generate(g)?,
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

/// Runs `task` on its documents: `concurrency` worker threads take documents in
/// order, ask the backend (through the cache) and score; `progress(done, total)` is
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
    let n = opts.limit.map_or(docs.len(), |l| l.min(docs.len()));
    let shots = opts.shots.unwrap_or(info.shots);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let cached = AtomicUsize::new(0);
    let scores: Mutex<Vec<Option<f64>>> = Mutex::new(vec![None; n]);
    let first_error: Mutex<Option<LabError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.concurrency.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        break;
                    }
                    let doc = &docs[i];
                    let result = (|| -> Result<(), LabError> {
                        let mut reqs = task.requests(doc, shots)?;
                        if let Some(cap) = opts.max_tokens {
                            for r in &mut reqs {
                                if let Request::Gen(g) = r {
                                    g.max_tokens = g.max_tokens.min(cap);
                                }
                            }
                        }
                        let mut responses = Vec::with_capacity(reqs.len());
                        for r in &reqs {
                            let (resp, hit) = ask(backend, cache, r)?;
                            cached.fetch_add(usize::from(hit), Ordering::Relaxed);
                            responses.push(resp);
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
                            sc[i] = Some(scored.score);
                        }
                        Ok(())
                    })();
                    if let Err(e) = result {
                        if let Ok(mut fe) = first_error.lock() {
                            fe.get_or_insert(LabError::Backend(format!("{} document {i}: {e}", info.name)));
                        }
                        break;
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, n);
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let scores: Vec<f64> = scores.into_inner().unwrap_or_default().into_iter().flatten().collect();
    let mean = if scores.is_empty() { 0.0 } else { scores.iter().sum::<f64>() / scores.len() as f64 };
    Ok(TaskResult {
        metric: info.metric.to_string(),
        score: mean,
        n: scores.len(),
        ci95: ci95(mean, scores.len()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_interval() {
        // evaluation.md: HumanEval, N = 164, S = 0.726 gives ±6.8 points.
        assert!((100.0 * ci95(0.726, 164) - 6.8).abs() < 0.05);
        assert_eq!(ci95(1.0, 10), 0.0);
    }
}
