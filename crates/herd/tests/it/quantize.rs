//! `herd quantize` as users drive it: a random model written, described by `herd info`,
//! and the errors for a wrong TYPE or wrong arguments.

use std::process::{Command, Output};

fn herd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_herd")).args(args).output().expect("herd runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const CONFIG: &str = r#"{"model_type": "llama", "hidden_size": 256, "intermediate_size": 512,
"num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 512,
"rms_norm_eps": 1e-05, "rope_theta": 10000.0, "max_position_embeddings": 2048, "tie_word_embeddings": true}"#;

#[test]
fn quantize_random_init_writes_a_model_herd_info_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    std::fs::write(&cfg, CONFIG).expect("write");
    let out = dir.path().join("r.gguf");
    let (cfg, out_s) = (cfg.to_str().expect("utf8"), out.to_str().expect("utf8"));
    let o = herd(&["quantize", "--random-init", cfg, out_s, "q4_k_m", "--seed", "3", "--json", "-t", "2"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&text(&o.stdout)).expect("json summary");
    assert_eq!(v["type"], "Q4_K_M");
    // The tied embedding gets the output's Q6_K; of 2 layers only layer 1 "uses more
    // bits" (i >= 7n/8), so its attn_v and ffn_down are Q6_K and the other 12 Q4_K.
    assert_eq!(v["tensor_types"]["Q6_K"]["count"], 3, "{v}");
    assert_eq!(v["tensor_types"]["Q4_K"]["count"], 12, "{v}");
    let bpw = v["bpw_out"].as_f64().expect("bpw");
    assert!(bpw > 4.5 && bpw < 6.6, "{bpw}");
    assert_eq!(v["file_bytes"].as_u64(), Some(std::fs::metadata(&out).expect("out exists").len()));
    assert!(!dir.path().join("r.gguf.partial").exists());

    let o = herd(&["info", out_s, "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&text(&o.stdout)).expect("json");
    assert_eq!((v["config"]["dim"].as_u64(), v["config"]["n_layers"].as_u64()), (Some(256), Some(2)));
    assert_eq!(v["config"]["tied_embeddings"], true);
}

#[test]
fn quantize_refuses_unknown_types_and_wrong_arity() {
    let o = herd(&["quantize", "in.gguf", "out.gguf", "Q3_K_S"]);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(e.contains("Q3_K_S") && e.contains("Q4_K_M"), "{e}");
    let o = herd(&["quantize", "--random-init", "llama3.2-1b", "in.gguf", "out.gguf", "Q8_0"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("no IN"), "{}", text(&o.stderr));
    let o = herd(&["quantize", "--random-init", "no-such-preset", "out.gguf", "Q8_0"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("llama3.1-8b"), "{}", text(&o.stderr));
}
