//! Unit tests of the three loaders on small synthetic vocabularies (the real files are in tests/it/tokenizer.rs).

use base64::Engine as _;

use super::unicode::byte_to_char;
use super::*;

/// A tiktoken file: the 256 bytes (ranks 0..256 in byte order) then `extra` tokens.
fn tiktoken_file(extra: &[&str]) -> Vec<u8> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut s = String::new();
    for b in 0..=255u8 {
        s.push_str(&format!("{} {b}\n", b64(&[b])));
    }
    for (i, t) in extra.iter().enumerate() {
        s.push_str(&format!("{} {}\n", b64(t.as_bytes()), 256 + i));
    }
    s.into_bytes()
}

fn small_tiktoken() -> Tokenizer {
    Tokenizer::from_tiktoken_bytes(&tiktoken_file(&["he", "ll", "llo", "hello", " w", "or", " wor", " world"]))
        .expect("loads")
}

#[test]
fn tokenizer_is_shareable() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<Tokenizer>();
}

#[test]
fn tiktoken_basics() {
    let t = small_tiktoken();
    assert_eq!(t.vocab_size(), 264 + 256);
    assert_eq!(t.encode("hello world", false), [259, 263]);
    assert_eq!(t.bos_id(), Some(264));
    assert_eq!(t.eos_id(), Some(265));
    assert_eq!(t.stop_ids(), [265, 264 + 9, 264 + 8]);
    assert!(t.add_bos());
    assert_eq!(t.token_id("<|eot_id|>"), Some(264 + 9));
    assert_eq!(t.token_id("<|image|>"), Some(264 + 11));
    assert_eq!(t.token_id("<|reserved_special_token_245|>"), Some(264 + 255));
    assert_eq!(t.token_id(" world"), Some(263));
    assert!(t.is_special(264) && !t.is_special(263) && !t.is_special(100_000));
    assert_eq!(t.token_bytes(264), b"<|begin_of_text|>");
    assert_eq!(t.token_bytes(9_999_999), b"");
    assert_eq!(t.decode(&[264, 259, 263, 9_999_999]), "<|begin_of_text|>hello world");
}

#[test]
fn special_text_is_plain_unless_asked() {
    let t = small_tiktoken();
    let plain = t.encode("a<|eot_id|>b", false);
    assert!(!plain.contains(&(264 + 9)));
    assert_eq!(t.decode(&plain), "a<|eot_id|>b");
    assert_eq!(t.encode("a<|eot_id|>b", true), [u32::from(b'a'), 264 + 9, u32::from(b'b')]);
}

#[test]
fn round_trip_arbitrary_text() {
    let t = small_tiktoken();
    for s in ["", "hello", " \n\t ", "héllo wörld 中文 🎉", "\u{0}\u{7f}\u{10FFFF}", "'s 'S 'ſ 123456"] {
        assert_eq!(t.decode(&t.encode(s, false)), s);
    }
}

#[test]
fn hostile_tiktoken_files() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "no tokens"),
        (b"!!!notbase64 0\n".to_vec(), "base64"),
        (b"YQ== x\n".to_vec(), "rank"),
        (b"YQ==\n".to_vec(), "expected"),
        (b"YQ== 0 1\n".to_vec(), "expected"),
        (b"YQ== 5\n".to_vec(), "out of range"),
        (b"YQ== 0\nYg== 0\n".to_vec(), "already used"),
        (b"YQ== 0\nYQ== 1\n".to_vec(), "same token"),
        (b"YQ== 0\n".to_vec(), "single-byte"),
        (b"YQ== 18446744073709551615\n".to_vec(), "out of range"),
        (b"YQ== 99999999999999999999999\n".to_vec(), "rank"),
        (b"= 0\n".to_vec(), "base64"),
    ];
    for (data, needle) in cases {
        let e = Tokenizer::from_tiktoken_bytes(&data).expect_err("must fail");
        let msg = e.to_string();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
        assert!(matches!(e, LlamaError::Tokenizer(_)));
    }
    let e =
        Tokenizer::from_tiktoken_file(std::path::Path::new("/nonexistent/tokenizer.model")).expect_err("missing file");
    assert!(e.to_string().contains("/nonexistent/tokenizer.model"));
}

/// A byte-level vocabulary: the 256 byte images, then `extra` (byte-level text).
fn byte_vocab(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = (0..=255u8).map(|b| byte_to_char(b).to_string()).collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn hf_json(extra: &[&str], merges: &[&str], added: &str, pre: &str, post: &str) -> Vec<u8> {
    let vocab: serde_json::Map<String, serde_json::Value> =
        byte_vocab(extra).into_iter().enumerate().map(|(i, t)| (t, serde_json::json!(i))).collect();
    format!(
        r#"{{"version":"1.0","added_tokens":[{added}],"normalizer":null,"pre_tokenizer":{pre},
        "post_processor":{post},"decoder":null,"model":{{"type":"BPE","dropout":null,"unk_token":null,
        "ignore_merges":false,"vocab":{},"merges":{}}}}}"#,
        serde_json::Value::Object(vocab),
        serde_json::json!(merges)
    )
    .into_bytes()
}

const BYTE_LEVEL: &str = r#"{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}"#;

#[test]
fn hf_json_basics() {
    let added = r#"{"id":260,"content":"<s>","special":true},{"id":261,"content":"<tool>","special":false}"#;
    let post = r#"{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}]}"#;
    let json = hf_json(&["he", "ll", "hell", "Ġw"], &["h e", "l l", "he ll", "Ġ w"], added, BYTE_LEVEL, post);
    let t = Tokenizer::from_hf_json(&json, None).expect("loads");
    assert_eq!(t.vocab_size(), 262);
    assert_eq!(t.encode("hello w", false), [258, u32::from(b'o'), 259]);
    assert_eq!(t.bos_id(), Some(260));
    assert!(t.add_bos());
    // A non-special added token is matched even without `special`; a special one is not.
    assert_eq!(t.encode("<tool>", false), [261]);
    assert_ne!(t.encode("<s>", false), [260]);
    assert_eq!(t.encode("<s>", true), [260]);
    assert!(t.is_special(260) && !t.is_special(261));
    let config = br#"{"add_bos_token": false, "eos_token": {"content": "<tool>"}}"#;
    let t = Tokenizer::from_hf_json(&json, Some(config)).expect("loads");
    assert!(!t.add_bos());
    assert_eq!(t.eos_id(), Some(261));
}

#[test]
fn hostile_hf_json() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{".to_vec(), "not valid JSON"),
        (b"{}".to_vec(), "no model"),
        (br#"{"model":{"type":"WordPiece"}}"#.to_vec(), "WordPiece"),
        (br#"{"model":{"type":"BPE"}}"#.to_vec(), "vocab"),
        (br#"{"model":{"vocab":{"a":-1}}}"#.to_vec(), "not an integer"),
        (br#"{"model":{"vocab":{"a":4000000000}}}"#.to_vec(), "not an integer"),
        (br#"{"model":{"vocab":{"a":100000}}}"#.to_vec(), "far beyond"),
        (br#"{"model":{"vocab":{"a":0},"merges":["a b"]}}"#.to_vec(), "not in the vocabulary"),
        (br#"{"model":{"vocab":{"a":0},"merges":["a b c"]}}"#.to_vec(), "merges[0]"),
        (br#"{"model":{"vocab":{"a":0},"merges":[3]}}"#.to_vec(), "merges[0]"),
        (br#"{"model":{"vocab":{"a":0}},"added_tokens":[{"id":1}]}"#.to_vec(), "no content"),
        (br#"{"model":{"vocab":{"a":0}},"normalizer":{"type":"NFC"}}"#.to_vec(), "NFC"),
        (br#"{"model":{"vocab":{"a":0}},"pre_tokenizer":{"type":"Metaspace"}}"#.to_vec(), "Metaspace"),
        (
            br#"{"model":{"vocab":{"a":0}},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"("},"behavior":"Isolated"}}"#.to_vec(),
            "does not compile",
        ),
        (
            br#"{"model":{"vocab":{"a":0}},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"a"},"behavior":"Removed"}}"#.to_vec(),
            "Removed",
        ),
        (br#"{"model":{"vocab":{"a":0},"dropout":0.1}}"#.to_vec(), "dropout"),
    ];
    for (data, needle) in cases {
        let e = Tokenizer::from_hf_json(&data, None).expect_err("must fail");
        let msg = e.to_string();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    }
    let ok = hf_json(&[], &[], "", "null", "null");
    assert!(Tokenizer::from_hf_json(&ok, Some(b"nope")).is_err());
}

#[test]
fn hf_json_missing_bytes_do_not_panic() {
    let json = br#"{"model":{"vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}"#;
    let t = Tokenizer::from_hf_json(json, None).expect("loads");
    assert_eq!(t.encode("abzab", false), [2, 2]);
}

fn gguf(pre: &str, extra: &[&str], merges: &[&str]) -> GgufVocab {
    let mut tokens = vec!["<|endoftext|>".to_string(), "<|im_start|>".to_string(), "<|im_end|>".to_string()];
    tokens.push("<tool>".to_string());
    tokens.extend(byte_vocab(extra));
    let mut token_types = vec![3, 3, 3, 4];
    token_types.resize(tokens.len(), 1);
    GgufVocab {
        model: "gpt2".into(),
        pre: pre.into(),
        tokens,
        token_types,
        merges: merges.iter().map(|s| s.to_string()).collect(),
        bos: Some(1),
        eos: Some(2),
        eot: None,
        eom: None,
        add_bos: GgufVocab::default_add_bos(pre),
    }
}

#[test]
fn gguf_basics() {
    let v = gguf("smollm", &["Ġ1", "ab", "abc"], &["a b", "ab c", "Ġ 1"]);
    let t = Tokenizer::from_gguf_vocab(v).expect("loads");
    assert_eq!(t.vocab_size(), 4 + 256 + 3);
    assert!(!t.add_bos());
    // smollm isolates digits before the GPT-2 split, so " 1" never forms.
    let one = t.token_id("1").expect("byte token");
    let space = t.token_id(" ").expect("byte token");
    assert_eq!(t.encode(" 1", false), [space, one]);
    assert_eq!(t.encode("abc", false), [4 + 256 + 2]);
    // Control tokens need `special`; USER_DEFINED ones are matched regardless.
    assert_eq!(t.encode("<|im_end|>", true), [2]);
    assert_ne!(t.encode("<|im_end|>", false), [2]);
    assert_eq!(t.encode("x<tool>", false), [t.token_id("x").expect("x"), 3]);
    assert_eq!(t.stop_ids(), [2, 0]);
    assert!(t.is_special(2) && !t.is_special(3));
    assert_eq!(t.token_bytes(4 + 256), " 1".as_bytes());
}

#[test]
fn gguf_pre_families() {
    let t = Tokenizer::from_gguf_vocab(gguf("llama-bpe", &[], &[])).expect("loads");
    assert!(t.add_bos());
    let e = Tokenizer::from_gguf_vocab(gguf("qwen9", &[], &[])).expect_err("unknown pre");
    assert!(e.to_string().contains("\"qwen9\""), "{e}");
    let mut v = gguf("gpt-2", &[], &[]);
    v.model = "llama".into();
    assert!(Tokenizer::from_gguf_vocab(v).expect_err("spm").to_string().contains("llama"));
    for pre in ["", "default", "gpt2", "dbrx"] {
        let t = Tokenizer::from_gguf_vocab(gguf(pre, &[], &[])).expect("loads");
        let s = "Hello, wörld!! 12345 $+<=>^~| \n\n  x";
        assert_eq!(t.decode(&t.encode(s, false)), s);
    }
}

#[test]
fn hostile_gguf_vocabularies() {
    let mut v = gguf("gpt-2", &[], &[]);
    v.tokens.push("a".into());
    v.token_types.push(1);
    assert!(Tokenizer::from_gguf_vocab(v).expect_err("dup").to_string().contains("duplicate"));
    let mut v = gguf("gpt-2", &[], &[]);
    v.token_types.truncate(3);
    assert!(Tokenizer::from_gguf_vocab(v).is_err());
    let v = GgufVocab { model: "gpt2".into(), ..GgufVocab::default() };
    assert!(Tokenizer::from_gguf_vocab(v).is_err());
    // Merges naming unknown symbols, results missing from the vocabulary, garbage
    // strings, out-of-range special ids and missing bytes must all load and encode.
    let v = GgufVocab {
        model: "gpt2".into(),
        pre: "gpt-2".into(),
        tokens: vec!["a".into(), "b".into(), "".into(), "<s>".into()],
        token_types: vec![1, 1, 1, 99],
        merges: vec!["a b".into(), "ab a".into(), "zz".into(), "".into(), " ".into(), "x y".into()],
        bos: Some(1000),
        eos: Some(3),
        eot: Some(u32::MAX),
        eom: None,
        add_bos: true,
    };
    let t = Tokenizer::from_gguf_vocab(v).expect("loads");
    assert_eq!(t.bos_id(), None);
    assert!(!t.add_bos());
    // "ab" is not a token: llama.cpp falls back to the single-character tokens.
    assert_eq!(t.encode("ab", false), [0, 1]);
    assert_eq!(t.encode("aba c", false), [0, 1, 0]);
    assert_eq!(t.token_bytes(2), b"[EMPTY_2]");
    assert_eq!(t.token_bytes(3), b"");
}
