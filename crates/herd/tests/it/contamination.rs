//! `herd contamination`: the --json interface other checks rely on, against the golden
//! fixture of scripts/golden/contamination_ref.py, and its other ways in (stdin, index,
//! results log, plot).

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn herd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd")).args(args).output().expect("herd runs")
}

fn fixture(name: &str) -> String {
    herd_llama::testdata::fixtures().join("contamination").join(name).display().to_string()
}

fn tokenizer() -> String {
    herd_llama::testdata::require("llama3/tokenizer.model").display().to_string()
}

fn json_of(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

/// Per-example (id, tokens, contaminated fraction) of a --json answer or of expected.json.
fn fractions(v: &serde_json::Value) -> Vec<(String, u64, f64)> {
    v["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .map(|e| {
            let id = e["id"].as_str().expect("id").to_string();
            (id, e["tokens"].as_u64().expect("tokens"), e["contaminated_fraction"].as_f64().expect("fraction"))
        })
        .collect()
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fixture("expected.json")).expect("expected.json")).expect("json")
}

#[test]
fn contamination_json_interface_matches_the_reference() {
    let (corpus, bench, tok) = (fixture("corpus.jsonl"), fixture("bench.jsonl"), tokenizer());
    let args = ["contamination", "--corpus", &corpus, "--bench", &bench, "--n", "8", "--tokenizer", &tok, "--json"];
    let v = json_of(&herd(&args));
    assert_eq!(fractions(&v), fractions(&expected()));
}

#[test]
fn contamination_reads_stdin_and_answers_again_from_an_index() {
    let (bench, tok) = (fixture("bench.jsonl"), tokenizer());
    let dir = tempfile::tempdir().expect("tempdir");
    let ix = dir.path().join("c.ngx").display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["contamination", "--corpus", "-", "--bench", &bench, "--tokenizer", &tok, "--json", "-q"])
        .args(["--save-index", &ix])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let corpus = std::fs::read(fixture("corpus.jsonl")).expect("corpus");
    child.stdin.take().expect("stdin").write_all(&corpus).expect("write");
    let v = json_of(&child.wait_with_output().expect("wait"));
    assert_eq!(fractions(&v), fractions(&expected()));
    let v = json_of(&herd(&["contamination", "--index", &ix, "--bench", &bench, "--tokenizer", &tok, "--json"]));
    assert_eq!(fractions(&v), fractions(&expected()));
    assert_eq!(v["indexes"][0]["n"], 8);
}

#[test]
fn contamination_splits_scores_and_plots_the_sweep() {
    let (corpus, bench, tok) = (fixture("corpus.jsonl"), fixture("bench.jsonl"), tokenizer());
    let dir = tempfile::tempdir().expect("tempdir");
    // A results log: contaminated examples (fraction >= 0.5 in the reference) score 1,
    // clean ones alternate 1 and 0.
    let mut log = String::new();
    let mut clean = 0;
    for (id, _, f) in fractions(&expected()) {
        let s = if f >= 0.5 {
            1
        } else {
            clean += 1;
            clean % 2
        };
        log.push_str(&format!("{{\"task\": \"bench\", \"id\": \"{id}\", \"score\": {s}}}\n"));
    }
    let results = dir.path().join("eval.jsonl");
    std::fs::write(&results, log).expect("write");
    let svg = dir.path().join("sweep.svg");
    let (r, p) = (results.display().to_string(), svg.display().to_string());
    let args = ["contamination", "--corpus", &corpus, "--bench", &bench, "--tokenizer", &tok, "-q"];
    let v = json_of(&herd(&[&args[..], &["--results", &r, "--threshold", "0.5", "--plot", &p, "--json"]].concat()));
    let b = &v["benchmarks"][0];
    let at = &b["results"]["at_threshold"];
    let dirty = fractions(&expected()).iter().filter(|e| e.2 >= 0.5).count() as f64;
    let n = fractions(&expected()).len() as f64;
    let clean_ones = ((n - dirty) / 2.0).ceil();
    let full = (dirty + clean_ones) / n;
    let gain = full - clean_ones / (n - dirty);
    assert_eq!(at["contaminated"].as_f64(), Some(dirty));
    assert!((at["gain"].as_f64().expect("gain") - gain).abs() < 1e-9, "{at}");
    assert_eq!(b["results"]["sweep"].as_array().map(Vec::len), Some(20));
    let figure = std::fs::read_to_string(&svg).expect("svg written");
    assert!(figure.starts_with("<svg") && figure.contains("estimated performance gain"), "{}", &figure[..200]);
    // The table form.
    let o = herd(&[&args[..], &["--results", &r]].concat());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && out.contains("gain = score(full) - score(clean)"), "{out}");
}

#[test]
fn contamination_task_names_wait_for_herd_eval() {
    let o =
        herd(&["contamination", "--corpus", &fixture("corpus.jsonl"), "--bench", "mmlu", "--tokenizer", &tokenizer()]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("herd eval") && e.contains("not built yet"), "{e}");
}
