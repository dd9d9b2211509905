//! Tool calls in assistant output, decoded as Meta's `decode_assistant_message_from_content`
//! (llama-models 0.3.0) decodes them, and written as its `encode_tool_call` writes them.
//!
//! Model output is untrusted text: every path here is bounds-checked and never panics.
//! Where the reference raises on a malformed call (a JSON call without `parameters`, a
//! Python-list call with a non-literal argument), herd returns the text as content with a
//! warning instead; where the reference rejects well-formed nested arguments (its
//! pydantic type allows one level), herd accepts them.

mod pylist;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A tool call made by the assistant.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ToolCall {
    #[serde(alias = "name", rename(serialize = "name"))]
    pub tool_name: String,
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

/// The built-in tools of Llama 3.1 (`BuiltinTool`); `photogen` exists only in code.
pub const BUILTIN_TOOLS: [&str; 4] = ["brave_search", "wolfram_alpha", "photogen", "code_interpreter"];

/// Why the assistant stopped: `<|eot_id|>` ends its turn, `<|eom_id|>` waits for a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EndOfTurn,
    EndOfMessage,
    OutOfTokens,
}

/// An assistant message after decoding: either content, or a tool call with empty content.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub content: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop_reason: StopReason,
    /// Set when the text looked like a tool call but could not be read as one.
    pub warning: Option<String>,
}

/// A call's name and arguments, before it is checked against the built-ins.
type NamedArgs = (String, Map<String, Value>);

const ASSISTANT_HEADER: &str = "<|start_header_id|>assistant<|end_header_id|>\n\n";
const PYTHON_TAG: &str = "<|python_tag|>";

/// Decodes an assistant message whose special tokens are written as text (as
/// `Tokenizer.decode` renders them), in the reference's order: strip spaces, the
/// assistant header, `<|python_tag|>` and a final eot/eom; then a custom call
/// (`<function=…>`, a JSON object, a Python list of calls), then a built-in
/// `NAME.call(query="…")`, then, after a python tag, the whole text as code.
pub fn decode_assistant(text: &str, stop: StopReason) -> Decoded {
    let mut s = text.trim_matches(' ');
    s = s.strip_prefix(ASSISTANT_HEADER).unwrap_or(s);
    let ipython = s.starts_with(PYTHON_TAG);
    s = s.strip_prefix(PYTHON_TAG).unwrap_or(s);
    let mut stop_reason = stop;
    if let Some(r) = s.strip_suffix("<|eot_id|>") {
        s = r;
        stop_reason = StopReason::EndOfTurn;
    } else if let Some(r) = s.strip_suffix("<|eom_id|>") {
        s = r;
        stop_reason = StopReason::EndOfMessage;
    }
    let text_only =
        |warning: Option<String>| Decoded { content: s.to_string(), tool_calls: Vec::new(), stop_reason, warning };
    let call = match custom_call(s) {
        Ok(Some((name, args))) => match remap_builtin(name, args) {
            Ok(c) => Some(c),
            Err(w) => return text_only(Some(w)),
        },
        Ok(None) => builtin_call(s).or_else(|| {
            ipython.then(|| ToolCall {
                tool_name: "code_interpreter".into(),
                arguments: Map::from_iter([("code".to_string(), Value::String(s.to_string()))]),
            })
        }),
        Err(w) => return text_only(Some(w)),
    };
    match call {
        Some(c) => Decoded { content: String::new(), tool_calls: vec![c], stop_reason, warning: None },
        None => text_only(None),
    }
}

/// A custom-format call naming a built-in tool is remapped to it with its first argument
/// as the query, as the reference does (models sometimes call built-ins that way).
fn remap_builtin(name: String, args: Map<String, Value>) -> Result<ToolCall, String> {
    if !BUILTIN_TOOLS.contains(&name.as_str()) {
        return Ok(ToolCall { tool_name: name, arguments: args });
    }
    let first = args.into_iter().next().map(|(_, v)| v);
    match first {
        Some(q) => Ok(ToolCall { tool_name: name, arguments: Map::from_iter([("query".to_string(), q)]) }),
        None => Err(format!("tool call to {name} has no arguments")),
    }
}

/// `ToolUtils.maybe_extract_custom_tool_call`. `Ok(None)`: no custom call here (the
/// caller goes on to the built-in forms); `Err`: a call the reference would raise on.
fn custom_call(s: &str) -> Result<Option<NamedArgs>, String> {
    if let Some((name, args)) = function_tag(s) {
        // The reference turns every ' into " before parsing, and gives up (no custom
        // call, no error) when that is not JSON.
        return Ok(match serde_json::from_str::<Value>(&args.replace('\'', "\"")) {
            Ok(Value::Object(m)) => Some((name.to_string(), m)),
            _ => None,
        });
    }
    if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(s) {
        if obj.get("type").and_then(Value::as_str) != Some("function") && !obj.contains_key("name") {
            return Ok(None);
        }
        let name = match obj.get("name") {
            Some(Value::String(n)) => n.clone(),
            Some(_) => return Err("JSON tool call: \"name\" is not a string".into()),
            None => return Err("JSON tool call without a \"name\"".into()),
        };
        return match obj.get("parameters") {
            Some(Value::Object(p)) => Ok(Some((name, p.clone()))),
            // `"parameters": null` is no call at all in the reference.
            Some(Value::Null) => Ok(None),
            Some(_) => Err(format!("JSON tool call to {name}: \"parameters\" is not an object")),
            None => Err(format!("JSON tool call to {name} without \"parameters\"")),
        };
    }
    match pylist::parse_call_list(s) {
        pylist::Parsed::NotAList => Ok(None),
        pylist::Parsed::Calls(mut calls) => Ok(Some(calls.swap_remove(0))),
        pylist::Parsed::Malformed(why) => Err(format!("Python-list tool call: {why}")),
    }
}

/// The first match of `<function=(?P<name>[^}]+)>(?P<args>{.*?})`. The name runs
/// greedily up to the first `}`, so it ends at the last `>{` before that brace, and the
/// lazy `{.*?}` then ends at that same brace unless a newline comes first.
fn function_tag(s: &str) -> Option<(&str, &str)> {
    const OPEN: &str = "<function=";
    let mut from = 0;
    while let Some(at) = s[from..].find(OPEN) {
        let start = from + at + OPEN.len();
        from += at + 1;
        let Some(close) = s[start..].find('}').map(|i| start + i) else { continue };
        let Some(gt) = s[start..close].rfind(">{").map(|i| start + i) else { continue };
        if gt == start || s[gt + 1..close].contains('\n') {
            continue;
        }
        return Some((&s[start..gt], &s[gt + 1..=close]));
    }
    None
}

/// Python's `\w` for str patterns: alphanumerics and the underscore. (Rust's
/// alphanumeric set follows a newer Unicode than some Pythons; the two differ only on
/// recently added scripts.)
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first match of `\b(?P<tool_name>\w+)\.call\(query="(?P<query>[^"]*)"\)`.
fn builtin_call(s: &str) -> Option<ToolCall> {
    const MID: &str = ".call(query=\"";
    let mut from = 0;
    while let Some(at) = s[from..].find(MID) {
        let dot = from + at;
        from = dot + 1;
        let name_start = s[..dot].char_indices().rev().take_while(|&(_, c)| is_word(c)).last().map(|(i, _)| i);
        let Some(name_start) = name_start else { continue };
        let q_start = dot + MID.len();
        let Some(q_len) = s[q_start..].find('"') else { continue };
        if !s[q_start + q_len + 1..].starts_with(')') {
            continue;
        }
        return Some(ToolCall {
            tool_name: s[name_start..dot].to_string(),
            arguments: Map::from_iter([("query".to_string(), Value::String(s[q_start..q_start + q_len].to_string()))]),
        });
    }
    None
}

/// How custom (non built-in) tool calls are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolFormat {
    /// `{"type": "function", "name": ..., "parameters": {...}}`
    #[default]
    Json,
    /// `<function=NAME>{...}</function>`
    FunctionTag,
    /// `[NAME(key=value, ...)]`
    PythonList,
}

impl std::str::FromStr for ToolFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "function_tag" | "function-tag" => Ok(Self::FunctionTag),
            "python_list" | "python-list" => Ok(Self::PythonList),
            _ => Err(format!("unknown tool format {s:?} (json, function_tag, python_list)")),
        }
    }
}

/// The text of a tool call as Meta's `ToolUtils.encode_tool_call` writes it.
pub fn tool_call_text(t: &ToolCall, fmt: ToolFormat) -> String {
    let arg = |k: &str| match t.arguments.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    let args = || Value::Object(t.arguments.clone());
    match t.tool_name.as_str() {
        "brave_search" | "wolfram_alpha" | "photogen" => format!("{}.call(query=\"{}\")", t.tool_name, arg("query")),
        "code_interpreter" => arg("code"),
        name => match fmt {
            ToolFormat::Json => {
                let v = Value::Object(Map::from_iter([
                    ("type".to_string(), Value::String("function".into())),
                    ("name".to_string(), Value::String(name.into())),
                    ("parameters".to_string(), args()),
                ]));
                py_json(&v)
            }
            ToolFormat::FunctionTag => function_tag_text(name, &t.arguments),
            ToolFormat::PythonList => {
                let kv: Vec<String> = t.arguments.iter().map(|(k, v)| format!("{k}={}", pylist::py_value(v))).collect();
                format!("[{name}({})]", kv.join(", "))
            }
        },
    }
}

/// `<function=NAME>{json arguments}</function>`, the function-tag form of a call.
pub fn function_tag_text(name: &str, arguments: &Map<String, Value>) -> String {
    format!("<function={name}>{}</function>", py_json(&Value::Object(arguments.clone())))
}

/// Python's `json.dumps` with its defaults (", " and ": " separators, non-ASCII
/// escaped as \uXXXX), which Meta's formatter uses for JSON tool calls.
pub fn py_json(v: &Value) -> String {
    let mut out = String::new();
    write_py_json(v, None, 0, &mut out);
    out
}

/// `json.dumps(v, indent=n)`: one item per line, the separators `,` and `: `.
pub fn py_json_indent(v: &Value, indent: usize) -> String {
    let mut out = String::new();
    write_py_json(v, Some(indent), 0, &mut out);
    out
}

fn write_py_json(v: &Value, indent: Option<usize>, depth: usize, o: &mut String) {
    let newline = |o: &mut String, d: usize| {
        if let Some(n) = indent {
            o.push('\n');
            o.extend(std::iter::repeat_n(' ', n * d));
        }
    };
    let sep = if indent.is_some() { "," } else { ", " };
    match v {
        Value::Array(a) if !a.is_empty() => {
            o.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    o.push_str(sep);
                }
                newline(o, depth + 1);
                write_py_json(x, indent, depth + 1, o);
            }
            newline(o, depth);
            o.push(']');
        }
        Value::Object(m) if !m.is_empty() => {
            o.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    o.push_str(sep);
                }
                newline(o, depth + 1);
                write_py_str(k, o);
                o.push_str(": ");
                write_py_json(x, indent, depth + 1, o);
            }
            newline(o, depth);
            o.push('}');
        }
        Value::Array(_) => o.push_str("[]"),
        Value::Object(_) => o.push_str("{}"),
        Value::String(s) => write_py_str(s, o),
        Value::Null => o.push_str("null"),
        Value::Bool(b) => o.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => o.push_str(&n.to_string()),
    }
}

fn write_py_str(s: &str, o: &mut String) {
    o.push('"');
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_python_defaults() {
        let v: Value = serde_json::from_str(r#"{"a": [1, 2.5, "é\n"], "b": {"c": null, "d": true}}"#).expect("json");
        assert_eq!(py_json(&v), r#"{"a": [1, 2.5, "\u00e9\n"], "b": {"c": null, "d": true}}"#);
        assert_eq!(py_json(&serde_json::json!("😀")), r#""\ud83d\ude00""#);
        assert_eq!(
            py_json_indent(&v, 2),
            "{\n  \"a\": [\n    1,\n    2.5,\n    \"\\u00e9\\n\"\n  ],\n  \"b\": {\n    \"c\": null,\n    \"d\": true\n  }\n}"
        );
        assert_eq!(py_json_indent(&serde_json::json!({"a": [], "b": {}}), 4), "{\n    \"a\": [],\n    \"b\": {}\n}");
    }

    #[test]
    fn function_tag_follows_the_regex() {
        assert_eq!(function_tag(r#"<function=f>{"a": 1}</function>"#), Some(("f", r#"{"a": 1}"#)));
        assert_eq!(function_tag(r#"<function=a>b>{"x": 1}"#), Some(("a>b", r#"{"x": 1}"#)));
        assert_eq!(function_tag(r#"<function=f>{"a": {"b": 1}}"#), Some(("f", r#"{"a": {"b": 1}"#)));
        assert_eq!(function_tag("<function=f>{\"a\": 1,\n}"), None);
        assert_eq!(function_tag(r#"<function=>{"a": 1}"#), None);
        assert_eq!(function_tag(r#"<function=}>{"a": 1}"#), None);
        assert_eq!(function_tag("<function=x"), None);
    }

    #[test]
    fn builtin_needs_a_word_before_the_dot() {
        let c = builtin_call(r#"x).call(query="a") foo.call(query="b")"#).expect("call");
        assert_eq!(c.tool_name, "foo");
        assert!(builtin_call(r#"brave_search.call(query="a""#).is_none());
    }
}
