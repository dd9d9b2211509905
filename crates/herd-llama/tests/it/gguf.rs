//! Hostile GGUF files: every malformation is a clean error naming the problem, never
//! a panic or a huge allocation.

use herd_llama::gguf::{GgufHeader, GgufWriter, Value};
use herd_tensor::DType;

fn small_file() -> Vec<u8> {
    let mut w = GgufWriter::default();
    w.kv("general.architecture", Value::String("llama".into()))
        .kv("llama.block_count", Value::U32(1))
        .kv("tokenizer.ggml.tokens", Value::Array(vec![Value::String("a".into()), Value::String("b".into())]))
        .tensor("t.weight", &[32, 2], DType::F32, vec![0u8; 256]);
    w.to_bytes()
}

fn parse_err(b: &[u8]) -> String {
    match GgufHeader::parse(b) {
        Ok(_) => panic!("hostile file was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn well_formed_file_round_trips() {
    let h = GgufHeader::parse(&small_file()).expect("parses");
    assert_eq!(h.version, 3);
    assert_eq!(h.tensors.len(), 1);
    assert_eq!(h.tensors[0].dims, vec![32, 2]);
    assert_eq!(h.tensors[0].size, 256);
    assert_eq!(h.metadata["llama.block_count"], Value::U32(1));
}

#[test]
fn every_truncation_is_a_clean_error() {
    let b = small_file();
    for n in 0..b.len() {
        let e = parse_err(&b[..n]);
        assert!(e.starts_with("gguf:"), "cut at {n}: {e}");
    }
}

#[test]
fn bad_magic_and_versions() {
    let mut b = small_file();
    b[0] = b'X';
    assert!(parse_err(&b).contains("not a GGUF file"));
    let mut b = small_file();
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(parse_err(&b).contains("unsupported GGUF version 1"));
    let mut b = small_file();
    b[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(parse_err(&b).contains("big-endian"));
}

#[test]
fn absurd_counts_do_not_allocate() {
    let mut b = small_file();
    b[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(parse_err(&b).contains("tensor count"));
    let mut b = small_file();
    b[16..24].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(parse_err(&b).contains("metadata count"));
}

#[test]
fn absurd_string_length_is_rejected() {
    let mut b = small_file();
    // The first key's length field follows the 24-byte header.
    b[24..32].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
    assert!(parse_err(&b).contains("string length") || parse_err(&b).contains("metadata key"));
}

#[test]
fn tensor_past_end_of_file_is_named() {
    let mut w = GgufWriter::default();
    w.tensor("big.weight", &[32, 1000], DType::F32, vec![0u8; 128]);
    let e = parse_err(&w.to_bytes());
    assert!(e.contains("big.weight") && e.contains("past the file"), "{e}");
}

#[test]
fn unknown_tensor_type_is_named() {
    let mut b = small_file();
    let at = b.windows(8).position(|w| w == b"t.weight").expect("name") + 8 + 4 + 16;
    b[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
    let e = parse_err(&b);
    assert!(e.contains("t.weight") && e.contains("ggml type 99"), "{e}");
}

#[test]
fn ragged_quantized_rows_are_rejected() {
    let mut w = GgufWriter::default();
    w.tensor("q.weight", &[33, 1], DType::Q4_0, vec![0u8; 64]);
    assert!(parse_err(&w.to_bytes()).contains("not a multiple"));
}

#[test]
fn random_mutations_never_panic() {
    let base = small_file();
    let mut state = 0x9E3779B97F4A7C15u64;
    for _ in 0..20_000 {
        let mut b = base.clone();
        for _ in 0..3 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state as usize) % b.len();
            b[i] = (state >> 32) as u8;
        }
        let _ = GgufHeader::parse(&b);
    }
}

#[test]
fn missing_tensor_is_a_model_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = GgufWriter::default();
    w.kv("general.architecture", Value::String("llama".into()))
        .kv("llama.embedding_length", Value::U32(32))
        .kv("llama.block_count", Value::U32(1))
        .kv("llama.feed_forward_length", Value::U32(64))
        .kv("llama.attention.head_count", Value::U32(2))
        .kv("llama.context_length", Value::U32(64))
        .tensor("token_embd.weight", &[32, 8], DType::F32, vec![0u8; 32 * 8 * 4]);
    let p = dir.path().join("m.gguf");
    std::fs::write(&p, w.to_bytes()).expect("write");
    let e = herd_llama::loader::load(&p).expect_err("incomplete model").to_string();
    assert!(e.contains("blk.0.attn_norm.weight") && e.contains("missing"), "{e}");
}

#[test]
fn wrong_architecture_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = GgufWriter::default();
    w.kv("general.architecture", Value::String("gpt2".into()));
    let p = dir.path().join("m.gguf");
    std::fs::write(&p, w.to_bytes()).expect("write");
    let e = herd_llama::loader::load(&p).expect_err("not llama").to_string();
    assert!(e.contains("gpt2"), "{e}");
}
