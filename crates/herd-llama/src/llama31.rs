//! The Llama 3.1 prompt format at the token level, as Meta's `ChatFormat` writes it:
//! special tokens are inserted by id, and every piece of text (contents, tool calls,
//! RAG context) is tokenized as plain text, so nothing a user types can become a
//! control token.

use crate::error::{LlamaError, Result};
use crate::tokenizer::Tokenizer;
use serde::Deserialize;

/// A tool call made by the assistant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ToolCall {
    #[serde(alias = "name")]
    pub tool_name: String,
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// One message of a Llama 3.1 dialog. `role` is system, user, assistant, ipython or
/// tool (the API's name for ipython).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Llama31Message {
    pub role: String,
    #[serde(default)]
    pub content: String,
    /// RAG context appended to a user message after a blank line.
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// `end_of_message` ends an assistant message with `<|eom_id|>` (it waits for a
    /// tool result); anything else with `<|eot_id|>`.
    #[serde(default)]
    pub stop_reason: Option<String>,
}

/// How custom (non built-in) tool calls are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFormat {
    /// `{"type": "function", "name": ..., "parameters": {...}}`
    Json,
    /// `<function=NAME>{...}</function>`
    FunctionTag,
}

/// Llama 3.1's special tokens, by id: names differ between releases (128008 is
/// `<|eom_id|>` in 3.1 but a reserved token in 3.0 exports), ids do not (spec §2.2).
struct Ids {
    start_header: u32,
    end_header: u32,
    eot: u32,
    eom: u32,
    python_tag: u32,
    bos: u32,
}

const LLAMA3_IDS: Ids =
    Ids { bos: 128_000, start_header: 128_006, end_header: 128_007, eom: 128_008, eot: 128_009, python_tag: 128_010 };

/// The ids, once the tokenizer is known to be a Llama 3 vocabulary.
fn ids(tok: &Tokenizer) -> Result<&'static Ids> {
    let is_llama3 = tok.vocab_size() == 128_256
        && tok.token_bytes(LLAMA3_IDS.bos) == b"<|begin_of_text|>"
        && tok.token_bytes(LLAMA3_IDS.eot) == b"<|eot_id|>";
    if !is_llama3 {
        return Err(LlamaError::Tokenizer(
            "the Llama 3.1 prompt format needs the Llama 3 vocabulary (128,256 tokens)".into(),
        ));
    }
    Ok(&LLAMA3_IDS)
}

fn header(tok: &Tokenizer, ids: &Ids, role: &str, out: &mut Vec<u32>) {
    out.push(ids.start_header);
    out.extend(tok.encode(if role == "tool" { "ipython" } else { role }, false));
    out.push(ids.end_header);
    out.extend(tok.encode("\n\n", false));
}

/// Python's `json.dumps` with its defaults (", " and ": " separators, non-ASCII
/// escaped as \uXXXX), which Meta's formatter uses for JSON tool calls.
pub fn py_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => if *b { "true" } else { "false" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut o = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => o.push_str("\\\""),
                    '\\' => o.push_str("\\\\"),
                    '\n' => o.push_str("\\n"),
                    '\r' => o.push_str("\\r"),
                    '\t' => o.push_str("\\t"),
                    '\u{8}' => o.push_str("\\b"),
                    '\u{c}' => o.push_str("\\f"),
                    c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                        let mut buf = [0u16; 2];
                        for u in c.encode_utf16(&mut buf) {
                            o.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                    c => o.push(c),
                }
            }
            o.push('"');
            o
        }
        Value::Array(a) => format!("[{}]", a.iter().map(py_json).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", py_json(&Value::String(k.clone())), py_json(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The text of a tool call as Meta's `ToolUtils.encode_tool_call` writes it.
pub fn tool_call_text(t: &ToolCall, fmt: ToolFormat) -> String {
    let arg = |k: &str| t.arguments.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    match t.tool_name.as_str() {
        "brave_search" | "wolfram_alpha" | "photogen" => format!("{}.call(query=\"{}\")", t.tool_name, arg("query")),
        "code_interpreter" => arg("code"),
        name => match fmt {
            ToolFormat::Json => {
                let mut m = serde_json::Map::new();
                m.insert("type".into(), "function".into());
                m.insert("name".into(), name.into());
                m.insert("parameters".into(), serde_json::Value::Object(t.arguments.clone()));
                py_json(&serde_json::Value::Object(m))
            }
            ToolFormat::FunctionTag => {
                format!("<function={name}>{}</function>", py_json(&serde_json::Value::Object(t.arguments.clone())))
            }
        },
    }
}

/// Token ids of a whole dialog, ending with an open assistant header, as
/// `ChatFormat.encode_dialog_prompt`.
pub fn encode_dialog(tok: &Tokenizer, messages: &[Llama31Message], fmt: ToolFormat) -> Result<Vec<u32>> {
    let ids = ids(tok)?;
    let mut out = vec![ids.bos];
    for m in messages {
        if !matches!(m.role.as_str(), "system" | "user" | "assistant" | "ipython" | "tool") {
            return Err(LlamaError::Template(format!("role {:?} is not a Llama 3.1 role", m.role)));
        }
        header(tok, ids, &m.role, &mut out);
        let assistant = m.role == "assistant";
        if assistant && m.tool_calls.first().is_some_and(|t| t.tool_name == "code_interpreter") {
            out.push(ids.python_tag);
        }
        out.extend(tok.encode(&m.content, false));
        if let (true, Some(ctx)) = (m.role == "user", &m.context) {
            out.extend(tok.encode("\n\n", false));
            out.extend(tok.encode(ctx, false));
        }
        if assistant {
            for t in &m.tool_calls {
                out.extend(tok.encode(&tool_call_text(t, fmt), false));
            }
        }
        let eom = assistant && m.stop_reason.as_deref() == Some("end_of_message");
        out.push(if eom { ids.eom } else { ids.eot });
    }
    header(tok, ids, "assistant", &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_python_defaults() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"a": [1, 2.5, "é\n"], "b": {"c": null, "d": true}}"#).expect("json");
        assert_eq!(py_json(&v), r#"{"a": [1, 2.5, "\u00e9\n"], "b": {"c": null, "d": true}}"#);
        assert_eq!(py_json(&serde_json::json!("😀")), r#""\ud83d\ude00""#);
    }
}
