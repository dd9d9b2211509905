//! Per-example contamination, per-benchmark shares, and the clean/contaminated score split of a results log.
//!
//! The results log is the per-sample JSONL that `herd eval` writes, one object per
//! line: `{"task": "...", "id": "...", "score": S}` with S in [0, 1] (other fields are
//! ignored; several lines for one id are averaged). The estimated performance gain is
//! the paper's (Llama 3 §5.1.4, after Singh et al. 2024): the score on the full set
//! minus the score on the clean set, EPG = score(full) − score(clean), at a threshold
//! T where an example is contaminated when at least a fraction T of its tokens lie in
//! an n-gram found in the corpus.

use crate::error::LabError;
use std::collections::HashMap;
use std::path::Path;

/// The contamination of one example.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExampleReport {
    pub bench: String,
    pub id: String,
    /// Tokens of the example (no BOS).
    pub tokens: usize,
    pub contaminated_tokens: usize,
    /// `contaminated_tokens / tokens` (0 for an empty example).
    pub contaminated_fraction: f64,
    /// Longest run of contaminated tokens (ConTAM's longest-match view).
    pub longest_span: usize,
    /// Contaminated token ranges `[start, end)`, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spans: Option<Vec<(usize, usize)>>,
}

impl ExampleReport {
    /// The report of one example from its per-token marks.
    pub fn from_marks(bench: &str, id: &str, marks: &[bool], with_spans: bool) -> Self {
        let spans = spans_of(marks);
        let contaminated_tokens = marks.iter().filter(|&&m| m).count();
        let tokens = marks.len();
        ExampleReport {
            bench: bench.to_string(),
            id: id.to_string(),
            tokens,
            contaminated_tokens,
            contaminated_fraction: if tokens == 0 { 0.0 } else { contaminated_tokens as f64 / tokens as f64 },
            longest_span: spans.iter().map(|(a, b)| b - a).max().unwrap_or(0),
            spans: with_spans.then_some(spans),
        }
    }
}

/// Runs of marked tokens as `[start, end)` ranges.
pub fn spans_of(marks: &[bool]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &m) in marks.iter().chain(std::iter::once(&false)).enumerate() {
        match (m, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// Whether an example counts as contaminated at threshold `t`.
pub fn is_contaminated(fraction: f64, t: f64) -> bool {
    fraction >= t && fraction > 0.0
}

/// The default threshold grid of the sweep: 0.05, 0.10, ..., 1.00.
pub fn default_thresholds() -> Vec<f64> {
    (1..=20).map(|k| k as f64 / 20.0).collect()
}

/// Mean score per (task, id) of a results log.
#[derive(Debug, Clone, Default)]
pub struct Scores {
    /// task → id → (sum, count)
    by_task: HashMap<String, HashMap<String, (f64, u32)>>,
}

impl Scores {
    /// Reads a results log (see the module docs).
    pub fn read(path: &Path) -> Result<Self, LabError> {
        let data = std::fs::read(path).map_err(|e| LabError::Io { path: path.to_path_buf(), err: e })?;
        let shown = path.display().to_string();
        let mut s = Scores::default();
        for (i, line) in data.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let (task, id, score) =
                parse_result(line).map_err(|msg| LabError::Data { path: shown.clone(), line: i + 1, msg })?;
            let e = s.by_task.entry(task).or_default().entry(id).or_insert((0.0, 0));
            e.0 += score;
            e.1 += 1;
        }
        Ok(s)
    }

    /// Adds one sample (tests and callers that hold results in memory).
    pub fn add(&mut self, task: &str, id: &str, score: f64) {
        let e = self.by_task.entry(task.to_string()).or_default().entry(id.to_string()).or_insert((0.0, 0));
        e.0 += score;
        e.1 += 1;
    }

    /// Task names, sorted.
    pub fn tasks(&self) -> Vec<&str> {
        let mut t: Vec<&str> = self.by_task.keys().map(String::as_str).collect();
        t.sort_unstable();
        t
    }

    /// The task whose scores go with benchmark `bench`: `wanted` if given, else the
    /// only task of the log, else the task named like the benchmark.
    pub fn task_for(&self, bench: &str, wanted: Option<&str>) -> Result<String, LabError> {
        let tasks = self.tasks();
        let pick = match wanted {
            Some(w) => tasks.iter().find(|t| **t == w),
            None if tasks.len() == 1 => tasks.first(),
            None => tasks.iter().find(|t| **t == bench),
        };
        pick.map(|t| t.to_string()).ok_or_else(|| {
            LabError::Invalid(format!(
                "the results log has no task {:?} (tasks: {}); choose one with --task",
                wanted.unwrap_or(bench),
                tasks.join(", ")
            ))
        })
    }

    /// Mean score of `id` in `task`.
    pub fn get(&self, task: &str, id: &str) -> Option<f64> {
        let (sum, n) = self.by_task.get(task)?.get(id)?;
        Some(sum / *n as f64)
    }
}

fn parse_result(line: &[u8]) -> Result<(String, String, f64), String> {
    let v: serde_json::Value = serde_json::from_slice(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let task = v.get("task").and_then(|t| t.as_str()).ok_or("expected a string field \"task\"")?;
    let id = match v.get("id") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err("expected a field \"id\" (a string or a number)".into()),
    };
    let score = v.get("score").and_then(serde_json::Value::as_f64).ok_or("expected a number field \"score\"")?;
    if !(0.0..=1.0).contains(&score) {
        return Err(format!("score {score} is outside [0, 1]"));
    }
    Ok((task.to_string(), id, score))
}

/// The clean/contaminated split at one threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SplitRow {
    pub threshold: f64,
    /// Examples with a score.
    pub examples: usize,
    pub contaminated: usize,
    /// Percent of `examples` that are contaminated.
    pub contaminated_pct: f64,
    pub score_full: f64,
    /// None when the subset is empty.
    pub score_clean: Option<f64>,
    pub score_contaminated: Option<f64>,
    /// EPG = score(full) − score(clean), in score units (×100 for points).
    pub gain: Option<f64>,
    /// Half width of the 95% interval of `gain`: 1.96 · share · sqrt(var_c/n_c + var_k/n_k).
    pub gain_ci95: Option<f64>,
    /// Both subsets have at least `min_subset` examples and |gain| exceeds its interval.
    pub significant: bool,
}

/// Mean and sample variance.
fn moments(xs: &[f64]) -> Option<(f64, f64)> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() < 2 { 0.0 } else { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) };
    Some((mean, var))
}

/// The split of `(fraction, score)` pairs at every threshold of `grid`.
pub fn sweep(pairs: &[(f64, f64)], grid: &[f64], min_subset: usize) -> Vec<SplitRow> {
    grid.iter().map(|&t| split(pairs, t, min_subset)).collect()
}

/// The split at threshold `t`.
pub fn split(pairs: &[(f64, f64)], t: f64, min_subset: usize) -> SplitRow {
    let (mut dirty, mut clean) = (Vec::new(), Vec::new());
    for &(f, score) in pairs {
        if is_contaminated(f, t) { dirty.push(score) } else { clean.push(score) }
    }
    let all: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let full = moments(&all).map_or(0.0, |m| m.0);
    let (c, k) = (moments(&dirty), moments(&clean));
    let share = if pairs.is_empty() { 0.0 } else { dirty.len() as f64 / pairs.len() as f64 };
    let gain = k.map(|(km, _)| full - km);
    let ci = match (c, k) {
        (Some((_, cv)), Some((_, kv))) => {
            Some(1.96 * share * (cv / dirty.len() as f64 + kv / clean.len() as f64).sqrt())
        }
        _ => None,
    };
    let big = dirty.len() >= min_subset.max(1) && clean.len() >= min_subset.max(1);
    SplitRow {
        threshold: t,
        examples: pairs.len(),
        contaminated: dirty.len(),
        contaminated_pct: 100.0 * share,
        score_full: full,
        score_clean: k.map(|m| m.0),
        score_contaminated: c.map(|m| m.0),
        gain,
        gain_ci95: ci,
        significant: big && matches!((gain, ci), (Some(g), Some(w)) if g.abs() > w),
    }
}

/// The paper's choice of T_D: the threshold with the largest significant gain (None
/// when no threshold's gain is significant).
pub fn choose_threshold(rows: &[SplitRow]) -> Option<f64> {
    rows.iter()
        .filter(|r| r.significant)
        .filter_map(|r| r.gain.map(|g| (g, r.threshold)))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_cover_runs() {
        let m = [true, true, false, true, false, false, true];
        assert_eq!(spans_of(&m), vec![(0, 2), (3, 4), (6, 7)]);
        let r = ExampleReport::from_marks("b", "x", &m, true);
        assert_eq!((r.tokens, r.contaminated_tokens, r.longest_span), (7, 4, 2));
        assert_eq!(spans_of(&[]), vec![]);
    }

    #[test]
    fn zero_fraction_is_never_contaminated() {
        assert!(!is_contaminated(0.0, 0.0));
        assert!(is_contaminated(0.5, 0.5));
        assert!(!is_contaminated(0.49, 0.5));
    }
}
