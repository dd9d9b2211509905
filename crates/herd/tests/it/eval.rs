//! `herd eval` end to end on the default model: a log-likelihood task, a generative
//! chain-of-thought task and a code task, once in process and once against `herd serve`
//! over HTTP, give the same numbers (and the same raw outputs); HumanEval's canonical
//! solutions pass in the sandbox and hostile ones fail.
#![cfg(unix)]

use crate::serve::{Server, free_ports};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `herd eval` with `args` and returns (results.json, samples by (task, doc)).
fn eval(dir: &Path, name: &str, args: &[&str]) -> (Value, BTreeMap<(String, String), Value>) {
    let out = dir.join(format!("{name}.json"));
    let cache = dir.join(format!("{name}.cache.jsonl"));
    let data = root().join("tests/fixtures/eval/data");
    let run = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["eval", "arc_challenge,gsm8k,humaneval", "--limit", "3", "--concurrency", "2", "--max-tokens", "160"])
        .arg("--data")
        .arg(&data)
        .arg("--cache")
        .arg(&cache)
        .arg("--output")
        .arg(&out)
        .args(args)
        .env_remove("HERD_API_KEY")
        .output()
        .expect("run herd eval");
    assert!(
        run.status.success(),
        "herd eval {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let results: Value = serde_json::from_str(&std::fs::read_to_string(&out).expect("results")).expect("JSON");
    let samples = std::fs::read_to_string(out.with_extension("samples.jsonl")).expect("sample log");
    let mut by_doc = BTreeMap::new();
    for line in samples.lines() {
        let v: Value = serde_json::from_str(line).expect("a JSON sample");
        let key =
            (v["task"].as_str().unwrap_or_default().to_string(), v["doc"].as_str().unwrap_or_default().to_string());
        by_doc.insert(key, v);
    }
    (results, by_doc)
}

#[test]
fn in_process_and_over_http_give_the_same_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = herd_llama::testdata::default_model();
    let (local, local_samples) = eval(dir.path(), "local", &["--model", &model.to_string_lossy()]);
    let port = free_ports(1)[0];
    let mut server = Server::start(dir.path(), "eval", port, None, &["--parallel", "2"]);
    server.wait_ready();
    let url = format!("{}/v1", server.url());
    let (remote, remote_samples) = eval(dir.path(), "remote", &["--endpoint", &url]);
    for task in ["arc_challenge", "gsm8k", "humaneval"] {
        let (a, b) = (&local["results"][task], &remote["results"][task]);
        assert_eq!(a["n"], 3, "{task}: {a}");
        assert_eq!((&a["score"], &a["ci95"], &a["metric"]), (&b["score"], &b["ci95"], &b["metric"]), "{task}");
    }
    assert_eq!(local_samples.len(), 9);
    for (k, a) in &local_samples {
        let b = &remote_samples[k];
        assert_eq!(a["responses"], b["responses"], "{k:?}: the raw outputs differ");
        assert_eq!(a["extracted"], b["extracted"], "{k:?}");
    }
    // A second run is answered from the cache entirely.
    let (again, _) = eval(dir.path(), "remote", &["--endpoint", &url]);
    assert_eq!(again["results"]["gsm8k"]["cached"], 3);
    assert_eq!(again["results"]["arc_challenge"]["cached"], 12, "4 choices x 3 documents");
}
