//! OpenAI-style messages and tool definitions to a Llama 3.1 dialog: message shapes, the
//! system-prompt lines that switch tools on, and the texts that offer custom tools in the
//! JSON and `<function=…>` formats, worded as Meta's Llama 3.1 prompt-format guide does.

use crate::error::{LlamaError, Result};
use crate::llama31::Llama31Message;
use crate::toolcall::{BUILTIN_TOOLS, ToolCall, ToolFormat, py_json};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A chat message as OpenAI's API writes it. herd reads two more fields where that
/// shape has no place for what Llama 3.1 can say: `context` (RAG text appended to a
/// user message) and `stop_reason` (`end_of_message` or `end_of_turn`, for an assistant
/// message).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<ApiContent>,
    /// `null` reads as none: clients send back a response message as they got it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tool_calls: Vec<ApiToolCall>,
    #[serde(default)]
    pub tool_call_id: Option<String>,
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub stop_reason: Option<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A message's content: a string, or a list of parts of which the text parts count.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ApiContent {
    Text(String),
    Parts(Vec<ApiPart>),
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiToolCall {
    #[serde(default)]
    pub id: Option<String>,
    pub function: ApiFunction,
}

/// `arguments` is a JSON string in OpenAI's API; an object is accepted too.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiFunction {
    pub name: String,
    #[serde(default)]
    pub arguments: Option<Value>,
}

impl ApiMessage {
    pub fn text(&self) -> Result<String> {
        match &self.content {
            None => Ok(String::new()),
            Some(ApiContent::Text(s)) => Ok(s.clone()),
            Some(ApiContent::Parts(parts)) => parts
                .iter()
                .map(|p| match (p.kind.as_str(), &p.text) {
                    ("text", Some(t)) => Ok(t.as_str()),
                    (k, _) => {
                        Err(LlamaError::Template(format!("message part of type {k:?} is not supported (text only)")))
                    }
                })
                .collect(),
        }
    }
}

impl ApiToolCall {
    pub fn to_call(&self) -> Result<ToolCall> {
        let name = &self.function.name;
        let bad = |why: String| LlamaError::Template(format!("tool call {name}: {why}"));
        let arguments = match &self.function.arguments {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err(bad("arguments must be a JSON object".into())),
                Err(e) => return Err(bad(format!("arguments are not JSON ({e}): {s:?}"))),
            },
            Some(_) => return Err(bad("arguments must be a JSON string or object".into())),
        };
        Ok(ToolCall { tool_name: name.clone(), arguments })
    }
}

/// OpenAI messages to Llama 3.1 messages. An assistant message with tool calls ends in
/// `<|eom_id|>` unless it says otherwise: the model stops after a call to wait for the
/// result.
pub fn from_api(messages: &[ApiMessage]) -> Result<Vec<Llama31Message>> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let role = match m.role.as_str() {
                "system" | "user" | "assistant" => m.role.clone(),
                "tool" | "ipython" => "ipython".to_string(),
                "developer" => "system".to_string(),
                r => {
                    return Err(LlamaError::Template(format!(
                        "message {i}: role {r:?} is not one of system, user, assistant, tool"
                    )));
                }
            };
            let tool_calls = m.tool_calls.iter().map(ApiToolCall::to_call).collect::<Result<Vec<_>>>()?;
            let stop_reason = m.stop_reason.clone().or_else(|| {
                (role == "assistant")
                    .then(|| if tool_calls.is_empty() { "end_of_turn" } else { "end_of_message" }.into())
            });
            Ok(Llama31Message { role, content: m.text()?, context: m.context.clone(), tool_calls, stop_reason })
        })
        .collect()
}

/// A custom tool as OpenAI's API describes it; herd also reads `command` (the program
/// `herd chat` runs for it, with the arguments as JSON on standard input).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiTool {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub function: Option<FunctionSpec>,
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A JSON Schema object: `properties` (name -> {type, description}) and `required`.
    #[serde(default)]
    pub parameters: Value,
}

/// The tools offered to the model.
#[derive(Debug, Clone, Default)]
pub struct ToolOffer {
    /// Built-ins by name: brave_search, wolfram_alpha, code_interpreter.
    pub builtins: Vec<String>,
    pub custom: Vec<FunctionSpec>,
    pub format: ToolFormat,
    /// "21 September 2024": `%d %B %Y`, as Meta's system prompt writes it.
    pub today: String,
}

impl ToolOffer {
    /// Reads a tools file: OpenAI `{"type": "function", "function": {...}}` entries and
    /// built-ins written as `{"type": "brave_search"}`.
    pub fn add_api_tools(&mut self, tools: &[ApiTool]) -> Result<()> {
        for t in tools {
            match (t.kind.as_str(), &t.function) {
                ("function", Some(f)) => self.custom.push(f.clone()),
                ("function", None) => return Err(LlamaError::Template("a function tool without \"function\"".into())),
                (b, _) if BUILTIN_TOOLS.contains(&b) && b != "photogen" => self.add_builtin(b),
                (k, _) => {
                    return Err(LlamaError::Template(format!(
                        "tool type {k:?}: expected function, brave_search, wolfram_alpha or code_interpreter"
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn add_builtin(&mut self, name: &str) {
        if !self.builtins.iter().any(|b| b == name) {
            self.builtins.push(name.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.builtins.is_empty() && self.custom.is_empty()
    }
}

/// The system prompt with tools on: `Environment: ipython`, the `Tools:` line (the
/// code interpreter is never listed: the environment line implies it), the knowledge
/// cutoff and today's date, then the user's own system prompt after a blank line.
pub fn system_prompt(offer: &ToolOffer, user_system: Option<&str>) -> String {
    let mut s = String::from("Environment: ipython\n");
    // Meta's fixed order, whatever order the user named them in.
    let listed: Vec<&str> =
        ["brave_search", "wolfram_alpha"].into_iter().filter(|b| offer.builtins.iter().any(|x| x == b)).collect();
    if !listed.is_empty() {
        s.push_str("Tools: ");
        s.push_str(&listed.join(", "));
    }
    s.push('\n');
    s.push_str("Cutting Knowledge Date: December 2023\n");
    s.push_str(&format!("Today Date: {}\n", offer.today));
    if let Some(u) = user_system {
        s.push('\n');
        s.push_str(u);
        s.push('\n');
    }
    s
}

fn properties(f: &FunctionSpec) -> Vec<(&str, &Value)> {
    match f.parameters.get("properties") {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        _ => Vec::new(),
    }
}

fn required(f: &FunctionSpec) -> Vec<&str> {
    match f.parameters.get("required") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn description(v: &Value) -> &str {
    v.get("description").and_then(Value::as_str).unwrap_or_default()
}

/// The user message that offers custom tools, in `format`.
pub fn custom_tools_prompt(tools: &[FunctionSpec], format: ToolFormat) -> Result<String> {
    match format {
        ToolFormat::Json => Ok(json_tools_prompt(tools)),
        ToolFormat::FunctionTag => Ok(function_tag_tools_prompt(tools)),
        ToolFormat::PythonList => {
            Err(LlamaError::Template("custom tools are offered in the json or function_tag format".into()))
        }
    }
}

/// Meta's JSON offer. Its layout is the reference's own (properties as a list of
/// one-entry objects, each typed "object", `required` on one line); herd keeps it
/// byte for byte because that is the text Llama 3.1 was tuned on.
fn json_tools_prompt(tools: &[FunctionSpec]) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut s = String::from(
        "Answer the user's question by making use of the following functions if needed.\n\
         If none of the function can be used, please say so.\n\
         Here is a list of functions in JSON format:\n",
    );
    for f in tools {
        let props: Vec<String> = properties(f)
            .iter()
            .map(|(name, p)| {
                format!(
                    "                {{\n                    {}: {{\n                        \"type\": \"object\",\n                        \"description\": {}\n                    }}\n                }}",
                    q(name),
                    q(description(p))
                )
            })
            .collect();
        let req: Vec<Value> = required(f).into_iter().map(|r| Value::String(r.into())).collect();
        s.push_str(&format!(
            "{{\n    \"type\": \"function\",\n    \"function\": {{\n        \"name\": {},\n        \"description\": {},\n        \"parameters\": {{\n            \"type\": \"object\",\n            \"properties\": [\n{}\n            ],\n            \"required\": {}\n        }}\n    }}\n}}\n",
            q(&f.name),
            q(&f.description),
            props.join(",\n"),
            py_json(&Value::Array(req))
        ));
    }
    s.push_str("\nReturn function calls in JSON format.");
    s
}

/// JSON Schema type names as the `param_type` of Meta's tool definitions.
fn param_type(p: &Value) -> &str {
    match p.get("type").and_then(Value::as_str) {
        Some("integer") => "int",
        Some("number") => "float",
        Some("boolean") => "bool",
        Some("array") => "list",
        Some("object") => "dict",
        _ => "str",
    }
}

fn function_tag_tools_prompt(tools: &[FunctionSpec]) -> String {
    let mut s = String::from("You have access to the following functions:\n\n");
    for f in tools {
        let req = required(f);
        let params: Map<String, Value> = properties(f)
            .into_iter()
            .map(|(name, p)| {
                let def = Map::from_iter([
                    ("description".to_string(), Value::String(description(p).into())),
                    ("param_type".to_string(), Value::String(param_type(p).into())),
                    ("required".to_string(), Value::Bool(req.contains(&name))),
                ]);
                (name.to_string(), Value::Object(def))
            })
            .collect();
        let spec = Value::Object(Map::from_iter([
            ("name".to_string(), Value::String(f.name.clone())),
            ("description".to_string(), Value::String(f.description.clone())),
            ("parameters".to_string(), Value::Object(params)),
        ]));
        s.push_str(&format!("Use the function '{}' to '{}':\n{}\n\n", f.name, f.description, py_json(&spec)));
    }
    s.push_str(
        "Think very carefully before calling functions.\n\
         If you choose to call a function ONLY reply in the following format with no prefix or suffix:\n\n\
         <function=example_function_name>{\"example_name\": \"example_value\"}</function>\n\n\
         Reminder:\n\
         - If looking for real time information use relevant functions before falling back to brave_search\n\
         - Function calls MUST follow the specified format, start with <function= and end with </function>\n\
         - Required parameters MUST be specified\n\
         - Only call one function at a time\n\
         - Put the entire function call reply on one line",
    );
    s
}

/// The dialog with tools offered: the system message gets the tool lines (one is added
/// when there is none), and custom tools are offered in a user message right after it,
/// as in Meta's examples. Without tools the dialog is returned as it is.
pub fn with_tools(messages: Vec<Llama31Message>, offer: &ToolOffer) -> Result<Vec<Llama31Message>> {
    if offer.is_empty() {
        return Ok(messages);
    }
    let mut rest = messages.into_iter().peekable();
    let user_system = rest.next_if(|m| m.role == "system").map(|m| m.content);
    let msg = |role: &str, content: String| Llama31Message {
        role: role.into(),
        content,
        context: None,
        tool_calls: Vec::new(),
        stop_reason: None,
    };
    let mut out = vec![msg("system", system_prompt(offer, user_system.as_deref()))];
    if !offer.custom.is_empty() {
        out.push(msg("user", custom_tools_prompt(&offer.custom, offer.format)?));
    }
    out.extend(rest);
    Ok(out)
}

/// A built-in tool described as a function, for models without Llama 3.1's native
/// tool lines.
pub fn builtin_spec(name: &str) -> FunctionSpec {
    let (description, arg, arg_description) = match name {
        "brave_search" => ("Search the web", "query", "The search query"),
        "wolfram_alpha" => ("Ask Wolfram Alpha (math, science, units)", "query", "The question or expression"),
        _ => ("Run Python code and see its output", "code", "The Python program to run"),
    };
    FunctionSpec {
        name: name.to_string(),
        description: description.to_string(),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {arg: {"type": "string", "description": arg_description}},
            "required": [arg],
        }),
    }
}
