//! A load generator for OpenAI-compatible servers, in the manner of vLLM's
//! benchmark_serving: `concurrency` clients each send streamed chat requests until
//! `requests` are done; it reports output throughput, time to first token and
//! inter-token latency percentiles. Any server works (herd serve, llama-server, vLLM),
//! so peers are measured by the same client in the same run.

use serde::Serialize;
use std::io::{BufRead, BufReader};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The OpenAI base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: Option<String>,
    pub prompt: String,
    pub max_tokens: usize,
    /// Ask the server to ignore end-of-sequence (llama.cpp's and vLLM's `ignore_eos`),
    /// so every request generates exactly `max_tokens` and servers do equal work.
    pub ignore_eos: bool,
    pub timeout: Duration,
}

/// One request's timings.
#[derive(Debug, Clone, Default)]
struct Sample {
    ttft: Duration,
    itl: Vec<Duration>,
    tokens: usize,
    ok: bool,
}

/// Results at one concurrency.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub concurrency: usize,
    pub requests: usize,
    pub failed: usize,
    pub wall_s: f64,
    pub output_tokens: usize,
    /// Generated tokens per second over the whole run (all streams together).
    pub output_tok_s: f64,
    pub requests_per_s: f64,
    pub ttft_ms: Percentiles,
    pub itl_ms: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub struct Percentiles {
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
}

fn percentiles(mut v: Vec<f64>) -> Percentiles {
    if v.is_empty() {
        return Percentiles { mean: f64::NAN, p50: f64::NAN, p90: f64::NAN, p99: f64::NAN };
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    Percentiles { mean: v.iter().sum::<f64>() / v.len() as f64, p50: at(0.5), p90: at(0.9), p99: at(0.99) }
}

/// Runs `requests` requests with `concurrency` clients.
pub fn run(cfg: &LoadConfig, concurrency: usize, requests: usize) -> LoadReport {
    let next = AtomicUsize::new(0);
    let samples = Mutex::new(Vec::with_capacity(requests));
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(cfg.timeout)).http_status_as_error(false).build().into();
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..concurrency.max(1) {
            s.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    let sample = one(&agent, cfg);
                    if let Ok(mut v) = samples.lock() {
                        v.push(sample);
                    }
                }
            });
        }
    });
    let wall = t0.elapsed().as_secs_f64();
    let samples = samples.into_inner().unwrap_or_default();
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.ok).collect();
    let output_tokens: usize = ok.iter().map(|s| s.tokens).sum();
    LoadReport {
        concurrency,
        requests,
        failed: samples.len() - ok.len(),
        wall_s: wall,
        output_tokens,
        output_tok_s: output_tokens as f64 / wall,
        requests_per_s: ok.len() as f64 / wall,
        ttft_ms: percentiles(ok.iter().map(|s| s.ttft.as_secs_f64() * 1e3).collect()),
        itl_ms: percentiles(ok.iter().flat_map(|s| s.itl.iter().map(|d| d.as_secs_f64() * 1e3)).collect()),
    }
}

/// One streamed request: time to the first content delta, the gaps between deltas,
/// and the completion tokens from the usage chunk (or the number of deltas).
fn one(agent: &ureq::Agent, cfg: &LoadConfig) -> Sample {
    let mut body = serde_json::json!({
        "messages": [{"role": "user", "content": cfg.prompt}],
        "max_tokens": cfg.max_tokens,
        "temperature": 0.0,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(m) = &cfg.model {
        body["model"] = serde_json::json!(m);
    }
    if cfg.ignore_eos {
        body["ignore_eos"] = serde_json::json!(true);
    }
    let url = format!("{}/chat/completions", cfg.base_url.trim_end_matches('/'));
    let mut req = agent.post(&url).header("content-type", "application/json");
    if let Some(k) = &cfg.api_key {
        req = req.header("authorization", &format!("Bearer {k}"));
    }
    let t0 = Instant::now();
    let resp = match req.send(body.to_string().as_bytes()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("herd bench serve: {url}: {e}");
            return Sample::default();
        }
    };
    if !resp.status().is_success() {
        eprintln!("herd bench serve: {url}: HTTP {}", resp.status());
        return Sample::default();
    }
    let mut s = Sample::default();
    let mut last: Option<Instant> = None;
    let mut deltas = 0;
    let mut usage_tokens = None;
    let reader = BufReader::new(resp.into_body().into_reader());
    for line in reader.lines() {
        let Ok(line) = line else { return Sample::default() };
        let Some(data) = line.strip_prefix("data: ") else { continue };
        if data == "[DONE]" {
            s.ok = true;
            break;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else { continue };
        if let Some(n) = v.pointer("/usage/completion_tokens").and_then(|n| n.as_u64()) {
            usage_tokens = Some(n as usize);
        }
        let has_text = v.pointer("/choices/0/delta/content").and_then(|c| c.as_str()).is_some_and(|c| !c.is_empty());
        if has_text {
            let now = Instant::now();
            match last {
                None => s.ttft = now - t0,
                Some(t) => s.itl.push(now - t),
            }
            last = Some(now);
            deltas += 1;
        }
    }
    s.tokens = usage_tokens.unwrap_or(deltas);
    s
}

/// The report as a table, one row per concurrency.
pub fn table(reports: &[LoadReport]) -> String {
    let mut out = String::from(
        "| concurrency | requests | failed | output tok/s | req/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.0} | {:.0} | {:.1} | {:.1} |\n",
            r.concurrency,
            r.requests,
            r.failed,
            r.output_tok_s,
            r.requests_per_s,
            r.ttft_ms.p50,
            r.ttft_ms.p99,
            r.itl_ms.p50,
            r.itl_ms.p99
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_hundred() {
        let p = percentiles((1..=100).map(f64::from).collect());
        assert_eq!((p.p50, p.p90, p.p99), (51.0, 90.0, 99.0));
        assert!((p.mean - 50.5).abs() < 1e-9);
    }
}
