//! `convert` (herd quantize) end to end on the tiny Llama 3.1 test model: the HF folder
//! becomes the GGUF llama.cpp's converter wrote, every file type loads back in herd and
//! computes the source's logits within a budget, and random models load and run.

use herd_llama::convert::{self, FileType, Options, Summary, random};
use herd_llama::gguf::{GgufFile, Value};
use herd_llama::loader::{ModelFiles, load};
use herd_llama::model::{Batch, KvCache, Model, Scratch};
use herd_llama::testdata::{nmse, require};
use herd_tensor::{DType, MatMul};
use std::path::Path;

fn convert_file(src: &ModelFiles, out: &Path, ft: FileType) -> Summary {
    let pool = MatMul::new(2);
    let opts = Options { file_type: ft, pool: &pool, seed: 0 };
    convert::quantize_model(src, out, opts, &mut |_| {}).unwrap_or_else(|e| panic!("{}: {e}", out.display()))
}

/// Logits of every position of `ids`, in one batch.
fn logits(files: &ModelFiles, ids: &[u32]) -> Vec<f32> {
    let model = Model::from_files(files, 2);
    let mut kv = KvCache::new(&model.config, ids.len(), 1).expect("kv");
    let mut s = Scratch::new(&model.config, ids.len(), ids.len());
    let mut b = Batch::default();
    for (i, t) in ids.iter().enumerate() {
        b.push(*t, i, 0, true);
    }
    model.forward(&b, &mut kv, &mut s).expect("forward").to_vec()
}

fn tensor_bytes(g: &GgufFile) -> Vec<(String, DType, Vec<u8>)> {
    let mut v: Vec<_> =
        g.header.tensors.iter().map(|t| (t.name.clone(), t.dtype, g.tensor_bytes(t).to_vec())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The tiny model's HF folder, converted to F16, is the file scripts/golden/tiny_llama31.py
/// wrote with the gguf package the way convert_hf_to_gguf.py does: the same tensors
/// byte for byte (Q/K rows back in GGUF's interleaved layout, rope_freqs computed in f32
/// as the converter does) and the same metadata (vocabulary, merges, special ids,
/// pre-tokenizer, chat template), apart from the model's name and the quantization
/// version llama.cpp's converter adds.
#[test]
fn hf_folder_converts_to_the_gguf_llama_cpps_converter_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("tiny.F16.gguf");
    let src = load(&require("tiny_llama31/hf")).expect("hf loads");
    convert_file(&src, &out, FileType::F16);
    let (ours, theirs) =
        (GgufFile::open(&out).expect("ours"), GgufFile::open(&require("tiny_llama31/model.gguf")).expect("theirs"));
    let (a, b) = (tensor_bytes(&ours), tensor_bytes(&theirs));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, x.1), (&y.0, y.1), "tensor names and types");
        assert!(x.2 == y.2, "{}: bytes differ", x.0);
    }
    let skip = ["general.name", "general.quantization_version"];
    for (k, v) in &theirs.header.metadata {
        if !skip.contains(&k.as_str()) {
            assert_eq!(ours.get(k), Some(v), "metadata {k}");
        }
    }
    for k in ours.header.metadata.keys() {
        assert!(theirs.get(k).is_some() || skip.contains(&k.as_str()), "extra key {k}");
    }
    assert_eq!(ours.get("general.quantization_version"), Some(&Value::U32(2)));
    assert_eq!(ours.get("general.file_type"), Some(&Value::U32(1)));
}

/// Every file type from the F16 GGUF: loads back in herd with the types llama.cpp's mix
/// gives (the tiny model's 128-wide rows are not whole 256-blocks, so Q4_K falls back to
/// Q5_0 and the output's Q6_K to Q8_0, as llama-quantize does), and the logits of a
/// short prompt stay within a budget of the source's, ordered by bits per weight.
#[test]
fn every_file_type_loads_back_and_matches_the_source_logits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = load(&require("tiny_llama31/model.gguf")).expect("gguf loads");
    let text = "The llama (Lama glama) is a domesticated South American camelid, widely used as a meat and \
                pack animal by Andean cultures since the pre-Columbian era. Llamas are social animals.";
    let ids: Vec<u32> = src.tokenizer.bos_id().into_iter().chain(src.tokenizer.encode(text, false)).collect();
    let want = logits(&src, &ids);
    for (ft, budget, kinds) in [
        // Random weights have no structure for 4 bits to keep, so the 4-bit budgets are
        // large; a layout mistake (rows scrambled, Q/K permuted) shows as an NMSE near 1.
        (FileType::F32, 2e-6, &["F32"][..]),
        (FileType::F16, 0.0, &["F16", "F32"][..]),
        (FileType::BF16, 2e-4, &["BF16", "F32"][..]),
        (FileType::Q8_0, 2e-3, &["Q8_0", "F32"][..]),
        (FileType::Q4KM, 5e-2, &["Q5_0", "Q8_0", "F32"][..]),
        (FileType::Q4_1, 0.12, &["Q4_1", "Q8_0", "F32"][..]),
        (FileType::Q4_0, 0.15, &["Q4_0", "Q8_0", "F32"][..]),
    ] {
        let out = dir.path().join(format!("tiny.{}.gguf", ft.name()));
        let s = convert_file(&src, &out, ft);
        let types: Vec<&str> = s.types.keys().copied().collect();
        let mut kinds = kinds.to_vec();
        kinds.sort_unstable();
        assert_eq!(types, kinds, "{}: tensor types", ft.name());
        let back = load(&out).unwrap_or_else(|e| panic!("{}: {e}", ft.name()));
        assert_eq!(
            back.tokenizer.encode("The llama is a camelid.", false),
            src.tokenizer.encode("The llama is a camelid.", false)
        );
        let e = nmse(&logits(&back, &ids), &want);
        eprintln!("{}: {:.2} bits per weight, logits nmse {e:.3e}", ft.name(), s.bpw_out());
        assert!(e <= budget, "{}: logits nmse {e:e} > {budget:e}", ft.name());
        std::fs::remove_file(&out).expect("rm");
    }
}

/// A random model of a small Llama-like shape (GQA, llama3 RoPE scaling, 256-wide rows
/// so Q4_K is used for real) without a tokenizer: the byte-level stand-in vocabulary
/// loads, the model runs to finite logits of modest size, and the same seed writes the
/// same bytes.
#[test]
fn random_init_model_loads_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    std::fs::write(
        &cfg,
        r#"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
        "intermediate_size": 512, "num_attention_heads": 8, "num_key_value_heads": 2,
        "num_hidden_layers": 3, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "max_position_embeddings": 4096, "tie_word_embeddings": false, "vocab_size": 1024}"#,
    )
    .expect("write config");
    let spec = random::spec(cfg.to_str().expect("utf8")).expect("spec");
    let pool = MatMul::new(2);
    let write = |name: &str, seed| {
        let out = dir.path().join(name);
        let opts = Options { file_type: FileType::Q4KM, pool: &pool, seed };
        let s = convert::random_model(&spec, None, &out, opts, &mut |_| {}).expect("random model");
        (out, s)
    };
    let (a, s) = write("a.gguf", 5);
    // Of 3 layers only layer 2 "uses more bits" (i >= 7n/8): its attn_v and ffn_down,
    // plus the output projection, are Q6_K.
    assert_eq!(s.types.get("Q6_K").map(|t| t.0), Some(3), "{:?}", s.types);
    assert!(s.fallbacks.is_empty(), "{:?}", s.fallbacks);
    let (b, _) = write("b.gguf", 5);
    let (c, _) = write("c.gguf", 6);
    let read = |p: &Path| std::fs::read(p).expect("read");
    assert!(read(&a) == read(&b), "same seed, different bytes");
    assert!(read(&a) != read(&c), "different seeds, same bytes");
    let files = load(&a).expect("random model loads");
    let ids = files.tokenizer.encode("hello, random llama", false);
    assert_eq!(ids.len(), "hello, random llama".len(), "byte-level stand-in: one token per byte");
    let out = logits(&files, &ids);
    let rms = (out.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / out.len() as f64).sqrt();
    assert!(out.iter().all(|v| v.is_finite()) && rms > 0.01 && rms < 10.0, "logit rms {rms}");
}

/// The Llama 3 vocabulary embedded from tokenizer.model (merges rebuilt from the ranks)
/// equals the one from Meta's tokenizer.json (Llama 3.1), apart from the names of the
/// special tokens, which the two releases spell differently.
#[test]
fn tiktoken_and_tokenizer_json_give_the_same_vocabulary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.json");
    std::fs::write(
        &cfg,
        r#"{"model_type": "llama", "hidden_size": 64, "intermediate_size": 64, "num_attention_heads": 2,
        "num_key_value_heads": 1, "num_hidden_layers": 1, "vocab_size": 128256, "tie_word_embeddings": true}"#,
    )
    .expect("write config");
    let spec = random::spec(cfg.to_str().expect("utf8")).expect("spec");
    let pool = MatMul::new(2);
    let gguf_for = |tok: &str, name: &str| {
        let out = dir.path().join(name);
        let opts = Options { file_type: FileType::Q8_0, pool: &pool, seed: 0 };
        convert::random_model(&spec, Some(&require(tok)), &out, opts, &mut |_| {}).expect("random model");
        GgufFile::open(&out).expect("gguf")
    };
    let tt = gguf_for("llama3/tokenizer.model", "tt.gguf");
    let hf = gguf_for("llama3_1/tokenizer.json", "hf.gguf");
    for key in
        ["tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.pre", "tokenizer.ggml.bos_token_id"]
    {
        assert_eq!(tt.get(key), hf.get(key), "{key}");
    }
    let tokens = |g: &GgufFile| g.get("tokenizer.ggml.tokens").and_then(Value::as_array).map(|a| a[..128000].to_vec());
    assert_eq!(tokens(&tt), tokens(&hf));
    assert_eq!(hf.get("tokenizer.ggml.pre").and_then(Value::as_str), Some("llama-bpe"));
}
