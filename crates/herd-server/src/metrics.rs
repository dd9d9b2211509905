//! Prometheus counters and histograms for `GET /metrics`, kept with atomics so the hot
//! path never takes a lock.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A histogram with fixed bucket bounds, in seconds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    /// Sum in microseconds.
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if s <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_us.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", c.load(Ordering::Relaxed));
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {n}");
    }
}

const TTFT: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
const ITL: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
const E2E: &[f64] = &[0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// The server's own counters (the engine's live gauges are read at scrape time).
#[derive(Debug)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub requests_failed: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    pub ttft: Histogram,
    pub itl: Histogram,
    pub e2e: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: AtomicU64::new(0),
            requests_failed: AtomicU64::new(0),
            prompt_tokens: AtomicU64::new(0),
            completion_tokens: AtomicU64::new(0),
            ttft: Histogram::new(TTFT),
            itl: Histogram::new(ITL),
            e2e: Histogram::new(E2E),
        }
    }
}

/// Live values from the engine, read when `/metrics` is scraped.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    pub queued: usize,
    pub running: usize,
    pub kv_used: usize,
    pub kv_cached: usize,
    pub kv_capacity: usize,
    /// Prompt tokens the engine computed, not reused from a cached prefix.
    pub prefill_tokens: u64,
    /// Forward passes the engine ran.
    pub steps: u64,
    /// Tokens drafted by prompt lookup and checked, and those accepted.
    pub draft_tokens: u64,
    pub draft_accepted: u64,
    pub loaded: bool,
}

impl Metrics {
    pub fn render(&self, g: Gauges) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let gauge = |out: &mut String, name: &str, help: &str, v: f64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(&mut out, "herd_requests_total", "Generation requests received.", load(&self.requests));
        counter(
            &mut out,
            "herd_requests_failed_total",
            "Generation requests that ended in an error.",
            load(&self.requests_failed),
        );
        counter(&mut out, "herd_prompt_tokens_total", "Prompt tokens of finished requests.", load(&self.prompt_tokens));
        counter(
            &mut out,
            "herd_generation_tokens_total",
            "Generated tokens of finished requests.",
            load(&self.completion_tokens),
        );
        counter(
            &mut out,
            "herd_prefill_tokens_total",
            "Prompt tokens computed, not reused from a cached prefix.",
            g.prefill_tokens,
        );
        counter(&mut out, "herd_engine_steps_total", "Forward passes of the batch.", g.steps);
        counter(
            &mut out,
            "herd_draft_tokens_total",
            "Tokens drafted by prompt lookup (speculative decoding) and checked.",
            g.draft_tokens,
        );
        counter(&mut out, "herd_draft_accepted_tokens_total", "Drafted tokens accepted.", g.draft_accepted);
        gauge(&mut out, "herd_model_loaded", "1 once the model is loaded.", if g.loaded { 1.0 } else { 0.0 });
        gauge(&mut out, "herd_queue_depth", "Requests waiting for a slot.", g.queued as f64);
        gauge(&mut out, "herd_running_sequences", "Sequences holding a slot.", g.running as f64);
        let ratio = |n: usize| if g.kv_capacity == 0 { 0.0 } else { n as f64 / g.kv_capacity as f64 };
        gauge(&mut out, "herd_kv_cache_usage_ratio", "KV cache positions held by running sequences.", ratio(g.kv_used));
        gauge(
            &mut out,
            "herd_kv_cache_cached_ratio",
            "KV cache positions kept as reusable prefixes.",
            ratio(g.kv_cached),
        );
        gauge(&mut out, "herd_kv_cache_capacity_tokens", "KV cache positions in all slots.", g.kv_capacity as f64);
        self.ttft.write(&mut out, "herd_time_to_first_token_seconds", "Time from request to first generated token.");
        self.itl.write(&mut out, "herd_inter_token_latency_seconds", "Time between generated tokens of a stream.");
        self.e2e.write(&mut out, "herd_request_duration_seconds", "Time from request to last token.");
        out
    }
}
