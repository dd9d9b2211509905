//! The full Llama 3.1 configuration without real weights: a generated random-weight
//! model (llama3 RoPE scaling factor 8, theta 500000, GQA 4:1, untied embeddings, the
//! 128,256-token vocabulary) written by scripts/golden/tiny_llama31.py both as a
//! Hugging Face folder (sharded safetensors, rotate-half Q/K rows) and as GGUF
//! (interleaved Q/K rows, rope_freqs). Both loaders must agree with each other and
//! with llama.cpp's logits on a 384-token prompt.

use herd_llama::loader::load;
use herd_llama::model::{Batch, KvCache, Model, Scratch};
use herd_llama::testdata::{fixtures, nmse, require};
use sha2::{Digest, Sha256};

fn sha256(path: &std::path::Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn all_logits(path: &std::path::Path, ids: &[u32]) -> (Vec<f32>, usize) {
    let files = load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let c = &files.config;
    assert_eq!((c.vocab_size, c.n_heads / c.n_kv_heads, c.rope_theta), (128256, 4, 500000.0));
    assert!(!c.tied_embeddings);
    let model = Model::from_files(&files, 0);
    let mut kv = KvCache::new(&model.config, ids.len(), 1).expect("kv");
    let mut s = Scratch::new(&model.config, ids.len(), ids.len());
    let mut b = Batch::default();
    for (i, t) in ids.iter().enumerate() {
        b.push(*t, i, 0, true);
    }
    (model.forward(&b, &mut kv, &mut s).expect("forward").to_vec(), c.vocab_size)
}

#[test]
fn hf_folder_and_gguf_agree_with_each_other_and_llama_cpp() {
    let fx = fixtures().join("tiny_llama31");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fx.join("logits.json")).expect("logits.json")).expect("json");
    let gguf = require("tiny_llama31/model.gguf");
    let hf = require("tiny_llama31/hf");
    // The generated files must be the ones the golden logits were computed on.
    for (name, want) in meta["sha256"].as_object().expect("hashes") {
        let p = if name == "model.gguf" { gguf.clone() } else { hf.parent().expect("dir").join(name) };
        assert_eq!(
            sha256(&p),
            want.as_str().expect("hash"),
            "{name} differs from the golden model; rerun scripts/setup-test-data.sh"
        );
    }
    let ids: Vec<u32> = meta["ids"].as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as u32).collect();
    assert!(ids.len() >= 300);
    let positions: Vec<usize> =
        meta["positions"].as_array().expect("positions").iter().map(|v| v.as_u64().expect("pos") as usize).collect();
    let bin = std::fs::read(fx.join("logits.bin")).expect("logits.bin");
    let reference: Vec<f32> = bin.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();

    let (from_gguf, v) = all_logits(&gguf, &ids);
    let (from_hf, _) = all_logits(&hf, &ids);
    let e = nmse(&from_hf, &from_gguf);
    eprintln!("tiny llama3.1: HF vs GGUF nmse {e:e} over {} positions", ids.len());
    assert!(e < 1e-5, "HF folder and GGUF disagree: nmse {e:e}");
    for (k, &p) in positions.iter().enumerate() {
        let want = &reference[k * v..(k + 1) * v];
        for (name, got) in [("gguf", &from_gguf), ("hf", &from_hf)] {
            let e = nmse(&got[p * v..(p + 1) * v], want);
            eprintln!("tiny llama3.1: {name} vs llama.cpp at position {p}: nmse {e:e}");
            assert!(e < 1e-5, "{name} vs llama.cpp at position {p}: nmse {e:e}");
        }
    }
}

#[test]
fn hf_folder_tokenizer_gives_the_gguf_ids() {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("tiny_llama31/logits.json")).expect("logits.json"),
    )
    .expect("json");
    let prompt = meta["prompt"].as_str().expect("prompt");
    let want: Vec<u32> = meta["ids"].as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as u32).collect();
    for path in [require("tiny_llama31/hf"), require("tiny_llama31/model.gguf")] {
        let files = load(&path).expect("loads");
        let mut ids: Vec<u32> = files.tokenizer.bos_id().into_iter().filter(|_| files.tokenizer.add_bos()).collect();
        ids.extend(files.tokenizer.encode(prompt, false));
        assert_eq!(ids, want, "{}", path.display());
    }
}
