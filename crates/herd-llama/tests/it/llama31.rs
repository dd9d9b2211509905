//! The Llama 3.1 prompt format and tool-call codec against llama-models 0.3.0
//! (tests/fixtures/llama31/format.json, from scripts/golden/llama31_format.py).

use herd_llama::dialog::{self, ApiMessage, FunctionSpec, ToolOffer};
use herd_llama::llama31::{Llama31Message, encode_dialog};
use herd_llama::tokenizer::Tokenizer;
use herd_llama::toolcall::{StopReason, ToolCall, ToolFormat, decode_assistant, tool_call_text};
use serde_json::{Value, json};
use std::sync::OnceLock;

fn golden() -> &'static Value {
    static G: OnceLock<Value> = OnceLock::new();
    G.get_or_init(|| {
        let p = herd_llama::testdata::fixtures().join("llama31/format.json");
        serde_json::from_str(&std::fs::read_to_string(&p).expect("llama31/format.json")).expect("json")
    })
}

fn llama3() -> &'static Tokenizer {
    static T: OnceLock<Tokenizer> = OnceLock::new();
    T.get_or_init(|| {
        Tokenizer::from_tiktoken_file(&herd_llama::testdata::require("llama3/tokenizer.model")).expect("loads")
    })
}

fn api_messages(v: &Value) -> Vec<Llama31Message> {
    let api: Vec<ApiMessage> = serde_json::from_value(v.clone()).expect("OpenAI-style messages");
    dialog::from_api(&api).expect("converts")
}

/// Every dialog of llama-models' tests and prompt_format.md (and the edge cases beside
/// them) renders to `ChatFormat.encode_dialog_prompt`'s ids.
#[test]
fn dialogs_match_encode_dialog_prompt() {
    let dialogs = golden()["dialogs"].as_array().expect("dialogs");
    assert!(dialogs.len() >= 20, "{} dialogs", dialogs.len());
    for d in dialogs {
        let fmt: ToolFormat = d["tool_format"].as_str().expect("format").parse().expect("known format");
        let msgs = api_messages(&d["messages"]);
        let want: Vec<u32> = serde_json::from_value(d["ids"].clone()).expect("ids");
        let got = encode_dialog(llama3(), &msgs, fmt).expect("encodes");
        assert_eq!(got, want, "{}", d["name"]);
        assert_eq!(llama3().decode(&got), d["text"].as_str().expect("text"), "{}", d["name"]);
    }
}

fn decoded_json(text: &str, stop: StopReason) -> Value {
    let d = decode_assistant(text, stop);
    json!({
        "content": d.content,
        "stop_reason": d.stop_reason,
        "tool_calls": d.tool_calls,
    })
}

/// Every assistant output decodes to what `decode_assistant_message_from_content`
/// gives; where the reference raises, herd warns (or, for well-formed nested
/// arguments the reference's type refuses, decodes the call) and never panics.
#[test]
fn outputs_decode_as_the_reference_does() {
    let cases = golden()["decode"].as_array().expect("decode");
    assert!(cases.len() >= 150);
    let (mut exact, mut raised) = (0, 0);
    for c in cases {
        let text = c["text"].as_str().expect("text");
        let stop = if c["stop"] == "eom" { StopReason::EndOfMessage } else { StopReason::EndOfTurn };
        if c.get("error").is_some() {
            let d = decode_assistant(text, stop);
            assert!(d.warning.is_some() || !d.tool_calls.is_empty(), "{text:?}: the reference raises, herd is silent");
            raised += 1;
            continue;
        }
        let want = json!({"content": c["content"], "stop_reason": c["stop_reason"], "tool_calls": c["tool_calls"]});
        assert_eq!(decoded_json(text, stop), want, "{text:?} ({})", c["source"]);
        exact += 1;
    }
    assert!(exact >= 140 && raised >= 10, "{exact} exact, {raised} raising");
}

fn songs_tool(order: &[&str]) -> FunctionSpec {
    let mut props = serde_json::Map::new();
    for p in order {
        let v = match *p {
            "n" => json!({"type": "integer", "description": "The number of songs to return"}),
            _ => json!({"type": "string", "description": "The genre of the songs to return"}),
        };
        props.insert(p.to_string(), v);
    }
    FunctionSpec {
        name: "trending_songs".into(),
        description: "Returns the trending songs on a Music site".into(),
        parameters: json!({"type": "object", "properties": props, "required": ["n"]}),
    }
}

fn md_prompt(title: &str) -> &'static Value {
    golden()["md_prompts"].as_array().expect("md_prompts").iter().find(|p| p["title"] == title).expect(title)
}

/// herd's tool lines and tool offers reproduce prompt_format.md's prompts byte for
/// byte: built-in tools on, custom tools offered as JSON and as `<function=…>`.
#[test]
fn tool_offers_reproduce_prompt_format_md() {
    let today = "21 September 2024".to_string();
    let cases = [
        (
            "Builtin Tool Calling",
            ToolOffer {
                builtins: vec!["wolfram_alpha".into(), "brave_search".into()],
                today: today.clone(),
                ..Default::default()
            },
            "Search the web for the latest price of 1oz gold?",
        ),
        (
            "JSON based tool calling",
            ToolOffer { custom: vec![songs_tool(&["n", "genre"])], today: today.clone(), ..Default::default() },
            "Use tools to get latest trending songs",
        ),
        (
            "`<function>` based tool calling",
            ToolOffer {
                custom: vec![songs_tool(&["genre", "n"])],
                format: ToolFormat::FunctionTag,
                today: today.clone(),
                ..Default::default()
            },
            "Use tools to get latest trending songs",
        ),
    ];
    for (title, offer, question) in cases {
        let md = md_prompt(title);
        let msg = |role: &str, content: &str| Llama31Message {
            role: role.into(),
            content: content.into(),
            context: None,
            tool_calls: vec![],
            stop_reason: None,
        };
        let msgs = vec![msg("system", "You are a helpful assistant."), msg("user", question)];
        let with = dialog::with_tools(msgs, &offer).expect("offer");
        let ids = encode_dialog(llama3(), &with, offer.format).expect("encodes");
        assert_eq!(llama3().decode(&ids), md["prompt"].as_str().expect("prompt"), "{title}");
    }
}

fn call(name: &str, args: Value) -> ToolCall {
    ToolCall { tool_name: name.into(), arguments: args.as_object().expect("object").clone() }
}

/// A small deterministic generator (no extra crate): xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn ident(&mut self) -> String {
        let first = b"abcdefghijklmnopqrstuvwxyz_";
        let rest = b"abcdefghijklmnopqrstuvwxyz_0123456789";
        let mut s = String::from(first[self.below(first.len())] as char);
        for _ in 0..self.below(12) {
            s.push(rest[self.below(rest.len())] as char);
        }
        // Python keywords cannot name a call or an argument in the python-list form.
        const KEYWORDS: &[&str] = &["as", "def", "del", "for", "if", "in", "is", "or", "and", "not", "try", "with"];
        if KEYWORDS.contains(&s.as_str()) {
            s.push('_');
        }
        s
    }
    /// Text from an alphabet with the characters every format must carry: spaces,
    /// punctuation, non-ASCII, and (where `hostile`) quotes, braces and newlines.
    fn text(&mut self, hostile: bool) -> String {
        let safe = ["a", "Z", "0", " ", ".", ",", "-", "é", "日本", "😀", ":", "/", "(", ")", "="];
        let bad = ["\"", "'", "{", "}", "\n", "\\", "<", ">", "[", "]"];
        (0..self.below(16))
            .map(
                |_| {
                    if hostile && self.below(3) == 0 {
                        bad[self.below(bad.len())]
                    } else {
                        safe[self.below(safe.len())]
                    }
                },
            )
            .collect()
    }
    fn scalar(&mut self, hostile: bool) -> Value {
        match self.below(5) {
            0 => Value::String(self.text(hostile)),
            1 => json!(self.next() as i64 >> self.below(60)),
            2 => json!((self.next() % 100_000) as f64 / 64.0),
            3 => json!(self.below(2) == 0),
            _ => Value::Null,
        }
    }
}

/// format(call) then decode gives the call back, for random calls in every format, on
/// the inputs each format can carry at all. The reference's formats have blind spots
/// herd keeps for exactness: `<function=…>` arguments end at the first `}` and have
/// their `'` turned into `"`, built-in queries end at the first `"`, and the python
/// list form writes strings without escaping.
#[test]
fn round_trip_format_then_decode() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..3000 {
        let fmt = [ToolFormat::Json, ToolFormat::FunctionTag, ToolFormat::PythonList][i % 3];
        let mut name = rng.ident();
        while herd_llama::toolcall::BUILTIN_TOOLS.contains(&name.as_str()) {
            name.push('x');
        }
        let mut args = serde_json::Map::new();
        for _ in 0..rng.below(5) {
            let hostile = fmt == ToolFormat::Json;
            let mut v = rng.scalar(hostile);
            if fmt == ToolFormat::Json && rng.below(4) == 0 {
                v = json!([rng.scalar(true), {"k": rng.scalar(true)}]);
            }
            args.insert(rng.ident(), v);
        }
        let c = ToolCall { tool_name: name, arguments: args };
        let text = tool_call_text(&c, fmt);
        let d = decode_assistant(&text, StopReason::EndOfTurn);
        assert_eq!(d.tool_calls, vec![c.clone()], "{fmt:?}: {text:?}");
        let eom = decode_assistant(&format!("<|python_tag|>{text}<|eom_id|>"), StopReason::EndOfTurn);
        assert_eq!((eom.tool_calls, eom.stop_reason), (vec![c], StopReason::EndOfMessage), "{text:?}");
    }
    for _ in 0..500 {
        let q = rng.text(false);
        for tool in ["brave_search", "wolfram_alpha"] {
            let c = call(tool, json!({"query": q}));
            let d = decode_assistant(
                &format!("<|python_tag|>{}<|eom_id|>", tool_call_text(&c, ToolFormat::Json)),
                StopReason::EndOfTurn,
            );
            assert_eq!(d.tool_calls, vec![c]);
        }
        let code = format!("print({:?})\n{}", rng.text(true), rng.text(false));
        let c = call("code_interpreter", json!({"code": code}));
        let d = decode_assistant(
            &format!("<|python_tag|>{}<|eom_id|>", tool_call_text(&c, ToolFormat::Json)),
            StopReason::EndOfTurn,
        );
        assert_eq!(d.tool_calls, vec![c], "{code:?}");
    }
}

/// Hostile output never panics and always decodes to something consistent: a call
/// leaves the content empty, and text without a call keeps it.
#[test]
fn hostile_output_never_panics() {
    let mut rng = Rng(42);
    let pieces = [
        "<function=",
        ">",
        "{",
        "}",
        "\"",
        "'",
        "[",
        "]",
        "(",
        ")",
        "=",
        ",",
        ".call(query=\"",
        "brave_search",
        "f",
        "a",
        "1",
        "-",
        "True",
        "\n",
        " ",
        "<|python_tag|>",
        "<|eom_id|>",
        "<|eot_id|>",
        "\\",
        "u00",
        "\"\"\"",
        "#",
        "é",
        "0x",
        "1e5",
        "name",
        "parameters",
        ":",
        "\"name\"",
        "\"parameters\"",
    ];
    for _ in 0..20_000 {
        let s: String = (0..rng.below(24)).map(|_| pieces[rng.below(pieces.len())]).collect();
        let d = decode_assistant(&s, StopReason::EndOfTurn);
        if !d.tool_calls.is_empty() {
            assert!(d.content.is_empty(), "{s:?}");
        }
    }
}
