//! The command line as users and other checks drive it.

use herd_llama::testdata::default_model;
use std::process::{Command, Output};

fn herd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd")).args(args).output().expect("herd runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn info_on_a_bad_file_is_one_line_and_nonzero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("bad.gguf");
    std::fs::write(&p, b"GGUF\x03\x00\x00\x00\xff\xff").expect("write");
    let o = herd(&["info", p.to_str().expect("utf8")]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains("truncated"), "{e}");
}

#[test]
fn info_describes_the_default_model() {
    let m = default_model();
    let o = herd(&["info", m.to_str().expect("utf8"), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    assert_eq!(v["config"]["n_layers"], 30);
    assert_eq!(v["config"]["n_heads"], 9);
    assert_eq!(v["config"]["n_kv_heads"], 3);
    assert_eq!(v["config"]["vocab_size"], 49152);
    assert_eq!(v["config"]["tied_embeddings"], true);
    assert_eq!(v["chat_template"], true);
    assert_eq!(v["tensor_types"]["Q4_1"]["count"], 210);
}

#[test]
fn tokenize_json_reads_stdin_with_nul_bytes() {
    let m = default_model();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herd"))
        .args(["tokenize", m.to_str().expect("utf8"), "-", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(b"a\0b").expect("write");
    let o = child.wait_with_output().expect("wait");
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let ids = v["ids"].as_array().expect("ids");
    assert!(ids.len() >= 3, "{v}");
}

#[test]
fn run_raw_json_interface() {
    let m = default_model();
    let o = herd(&[
        "run",
        m.to_str().expect("utf8"),
        "--raw",
        "The capital of France is",
        "--temp",
        "0",
        "-n",
        "8",
        "--logprobs",
        "5",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON object");
    let ids = v["ids"].as_array().expect("ids");
    let lps = v["logprobs"].as_array().expect("logprobs");
    assert_eq!(ids.len(), lps.len());
    assert!(!ids.is_empty() && ids.len() <= 8);
    for (id, lp) in ids.iter().zip(lps) {
        assert_eq!(&lp["id"], id);
        let top = lp["top"].as_array().expect("top");
        assert_eq!(top.len(), 5);
        // Greedy: the chosen token is the most likely one.
        assert_eq!(&top[0]["id"], id);
        assert!(lp["logprob"].as_f64().expect("lp") <= 0.0);
    }
    assert!(v["text"].as_str().expect("text").contains("Paris"), "{v}");
    let fr = v["finish_reason"].as_str().expect("finish");
    assert!(fr == "stop" || fr == "length");
    assert!(v["prompt_ids"].as_array().expect("prompt ids").len() >= 5);
}

#[test]
fn prompt_longer_than_context_is_a_clear_error() {
    let m = default_model();
    let long = "word ".repeat(400);
    let o = herd(&["run", m.to_str().expect("utf8"), "--raw", &long, "--ctx", "64", "-n", "4"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("raise --ctx"), "{}", stderr(&o));
}

#[test]
fn unknown_model_name_says_what_is_known() {
    let o = herd(&["run", "no-such-model", "hi"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("smollm2-135m-instruct"), "{}", stderr(&o));
}

/// `herd bench --json` prints llama-bench's JSON shape: one object per test, a pp test
/// with n_gen 0 and a tg test with n_prompt 0, each with its samples, the CPU and
/// herd's kernel sets.
#[test]
fn bench_json_has_llama_bench_shape() {
    let model = herd_llama::testdata::require("tiny_llama31/model.gguf");
    let o = herd(&["bench", model.to_str().expect("path"), "-p", "16", "-n", "4", "-t", "1,2", "-r", "2", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let tests = v.as_array().expect("array");
    assert_eq!(tests.len(), 4);
    for (t, (threads, pp)) in tests.iter().zip([(1, true), (1, false), (2, true), (2, false)]) {
        assert_eq!(t["n_threads"], threads);
        assert_eq!(t["n_prompt"], if pp { 16 } else { 0 });
        assert_eq!(t["n_gen"], if pp { 0 } else { 4 });
        assert!(t["avg_ts"].as_f64().expect("avg_ts") > 0.0);
        assert!(t["stddev_ts"].as_f64().expect("stddev_ts") >= 0.0);
        assert_eq!(t["samples_ts"].as_array().expect("samples").len(), 2);
        // The tiny model has an output projection of its own, so a token reads one
        // row of the embedding table, not all of it.
        let (decode, size) =
            (t["decode_bytes"].as_u64().expect("decode_bytes"), t["model_size"].as_u64().expect("size"));
        assert!(0 < decode && decode < size, "{decode} of {size}");
        // Which machine and kernels, so that two results can be compared at all.
        assert!(!t["cpu_info"].as_str().expect("cpu_info").is_empty());
        let kernels = t["kernels"].as_str().expect("kernels");
        assert!(["AVX", "NEON", "portable"].iter().any(|k| kernels.contains(k)), "{kernels}");
    }
}

/// `herd bench -d` runs each test again after that many tokens in the cache, and says
/// so in the JSON (`n_depth`, as llama-bench); a depth past the model's context is refused.
#[test]
fn bench_depth_runs_each_test_on_a_filled_cache() {
    let model = herd_llama::testdata::require("tiny_llama31/model.gguf");
    let path = model.to_str().expect("path");
    let o = herd(&["bench", path, "-p", "8", "-n", "4", "-d", "0,40", "-t", "1", "-r", "1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let rows: Vec<(u64, u64, u64)> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|t| {
            (
                t["n_depth"].as_u64().unwrap_or(99),
                t["n_prompt"].as_u64().unwrap_or(99),
                t["n_gen"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    assert_eq!(rows, [(0, 8, 0), (0, 0, 4), (40, 8, 0), (40, 0, 4)]);
    let o = herd(&["bench", path, "-p", "8", "-n", "0", "-d", "100000000", "-t", "1", "-r", "1"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("context"), "{}", stderr(&o));
}

/// `herd bench --parallel N` decodes N streams together (one row each per pass, on a
/// shared depth), reports `n_parallel` in the JSON and counts every stream's tokens;
/// prompt tests run once, as one stream.
#[test]
fn bench_parallel_decodes_streams_together() {
    let model = herd_llama::testdata::require("tiny_llama31/model.gguf");
    let path = model.to_str().expect("path");
    let o =
        herd(&["bench", path, "-p", "8", "-n", "4", "-d", "40", "--parallel", "1,3", "-t", "2", "-r", "1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let tests = v.as_array().expect("array");
    let rows: Vec<(u64, u64, u64)> = tests
        .iter()
        .map(|t| {
            let n = |k: &str| t[k].as_u64().unwrap_or(99);
            (n("n_prompt"), n("n_gen"), n("n_parallel"))
        })
        .collect();
    assert_eq!(rows, [(8, 0, 1), (0, 4, 1), (0, 4, 3)]);
    for t in tests {
        let tokens = (t["n_prompt"].as_f64().expect("n") + t["n_gen"].as_f64().expect("n"))
            * if t["n_prompt"] == 0 { t["n_parallel"].as_f64().expect("n") } else { 1.0 };
        let ns = t["samples_ns"][0].as_f64().expect("ns");
        let ts = t["samples_ts"][0].as_f64().expect("ts");
        assert!((ts - tokens * 1e9 / ns).abs() <= 1e-6 * ts, "{t}");
    }
    let text = herd(&["bench", path, "-p", "0", "-n", "2", "--parallel", "2", "-t", "1", "-r", "1"]);
    assert!(stdout(&text).contains("tg2 x2"), "{}", stdout(&text));
}

/// `herd bench memory` measures a read bandwidth per thread count (the roofline's
/// denominator) and refuses an empty buffer.
#[test]
fn bench_memory_reports_read_bandwidth_per_thread_count() {
    let o = herd(&["bench", "memory", "-t", "1,2", "--mib", "64", "-r", "1", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("json");
    let rows = v.as_array().expect("array");
    assert_eq!(rows.iter().map(|r| r["n_threads"].as_u64()).collect::<Vec<_>>(), [Some(1), Some(2)]);
    // Any machine streams 64 MiB faster than 0.1 GB/s and slower than 10 TB/s.
    assert!(rows.iter().all(|r| (0.1..10_000.0).contains(&r["read_gbps"].as_f64().expect("gbps"))), "{v}");
    let o = herd(&["bench", "memory", "--mib", "0"]);
    assert!(!o.status.success() && stderr(&o).contains("--mib"), "{}", stderr(&o));
}
