//! `POST /v1/messages`, the Anthropic Messages API: its request becomes a chat request
//! (content blocks to messages, `tool_use`/`tool_result` to tool calls and tool
//! messages, `input_schema` tools to functions) and runs through the same planning and
//! engine path; the answer comes back as content blocks, or as Anthropic's SSE events.
//! Errors use Anthropic's envelope `{"type": "error", "error": {"type", "message"}}`.

use crate::Shared;
use crate::chat::{self, ChatRequest, Choice, Ctx, ToolMode, apply, decode, parse_body, random_id, record};
use crate::error::ApiError;
use crate::seq::{SamplingFields, StopField, submit};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use herd_engine::FinishReason;
use herd_engine::scheduler::{SeqEvent, SeqSummary};
use herd_llama::dialog::{ApiContent, ApiFunction, ApiMessage, ApiTool, ApiToolCall, FunctionSpec};
use herd_llama::toolcall::ToolCall;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Debug, Deserialize)]
struct MessagesRequest {
    #[serde(default)]
    model: Option<String>,
    max_tokens: i64,
    messages: Vec<InMessage>,
    #[serde(default)]
    system: Option<Content>,
    #[serde(default)]
    stop_sequences: Option<Vec<String>>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    top_k: Option<usize>,
    #[serde(default)]
    tools: Option<Vec<InTool>>,
    #[serde(default)]
    tool_choice: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct InMessage {
    role: String,
    content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Value>),
}

#[derive(Debug, Deserialize)]
struct InTool {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    input_schema: Value,
}

/// An error in Anthropic's envelope, with the status OpenAI's would have.
pub struct AnthropicError(ApiError);

impl IntoResponse for AnthropicError {
    fn into_response(self) -> Response {
        let kind = match self.0.status {
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::NOT_FOUND => "not_found_error",
            StatusCode::PAYLOAD_TOO_LARGE => "request_too_large",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            StatusCode::SERVICE_UNAVAILABLE => "overloaded_error",
            s if s.is_server_error() => "api_error",
            _ => "invalid_request_error",
        };
        let body = json!({"type": "error", "error": {"type": kind, "message": self.0.message}});
        (self.0.status, axum::Json(body)).into_response()
    }
}

impl From<ApiError> for AnthropicError {
    fn from(e: ApiError) -> Self {
        AnthropicError(e)
    }
}

/// Text of a block list (text blocks only; a tool_result's content may be either).
fn blocks_text(c: &Content, what: &str) -> Result<String, ApiError> {
    match c {
        Content::Text(t) => Ok(t.clone()),
        Content::Blocks(bs) => bs
            .iter()
            .map(|b| match (b.get("type").and_then(Value::as_str), b.get("text").and_then(Value::as_str)) {
                (Some("text"), Some(t)) => Ok(t),
                (k, _) => {
                    Err(ApiError::param(what, format!("{what}: block type {k:?} is not supported here (text only)")))
                }
            })
            .collect(),
    }
}

fn message(role: &str, text: String) -> ApiMessage {
    ApiMessage {
        role: role.into(),
        content: Some(ApiContent::Text(text)),
        tool_calls: Vec::new(),
        tool_call_id: None,
        context: None,
        stop_reason: None,
    }
}

/// Anthropic messages to OpenAI-shaped ones.
fn to_chat_messages(req: &MessagesRequest) -> Result<Vec<ApiMessage>, ApiError> {
    if req.messages.is_empty() {
        return Err(ApiError::param("messages", "messages must hold at least one message"));
    }
    let mut out = Vec::new();
    if let Some(s) = &req.system {
        out.push(message("system", blocks_text(s, "system")?));
    }
    for (i, m) in req.messages.iter().enumerate() {
        if m.role != "user" && m.role != "assistant" {
            return Err(ApiError::param(
                "messages",
                format!("messages.{i}.role must be user or assistant, not {:?}", m.role),
            ));
        }
        let blocks = match &m.content {
            Content::Text(t) => {
                out.push(message(&m.role, t.clone()));
                continue;
            }
            Content::Blocks(b) => b,
        };
        let mut text = String::new();
        let mut calls = Vec::new();
        for b in blocks {
            match b.get("type").and_then(Value::as_str) {
                Some("text") => match b.get("text").and_then(Value::as_str) {
                    Some(t) => text.push_str(t),
                    None => {
                        return Err(ApiError::param(
                            "messages",
                            format!("messages.{i}: a text block's text must be a string"),
                        ));
                    }
                },
                Some("tool_use") if m.role == "assistant" => calls.push(ApiToolCall {
                    id: b.get("id").and_then(Value::as_str).map(String::from),
                    function: ApiFunction {
                        name: b.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                        arguments: Some(b.get("input").cloned().unwrap_or(json!({}))),
                    },
                }),
                Some("tool_result") if m.role == "user" => {
                    let content = match b.get("content") {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => s.clone(),
                        Some(v) => blocks_text(
                            &serde_json::from_value(v.clone())
                                .map_err(|e| ApiError::param("messages", e.to_string()))?,
                            "tool_result",
                        )?,
                    };
                    let mut tm = message("tool", content);
                    tm.tool_call_id = b.get("tool_use_id").and_then(Value::as_str).map(String::from);
                    out.push(tm);
                }
                Some(k @ ("tool_use" | "tool_result")) => {
                    let belongs = if k == "tool_use" { "assistant" } else { "user" };
                    return Err(ApiError::param(
                        "messages",
                        format!("messages.{i}: a {k} block belongs in a message of role {belongs}"),
                    ));
                }
                k => {
                    let k = k.map_or("(missing)".to_string(), |k| format!("{k:?}"));
                    return Err(ApiError::param(
                        "messages",
                        format!("messages.{i}: content block type {k} is not supported (text, tool_use, tool_result)"),
                    ));
                }
            }
        }
        if !text.is_empty() || !calls.is_empty() {
            let mut am = message(&m.role, text);
            am.tool_calls = calls;
            out.push(am);
        }
    }
    Ok(out)
}

/// Anthropic's tool_choice (`auto`, `any`, `tool` + name, `none`) in OpenAI's terms.
fn tool_choice(v: &Option<Value>) -> Result<Option<Value>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    Ok(Some(match v.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::param("tool_choice", "tool_choice of type tool needs a name"))?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => return Err(ApiError::param("tool_choice", "tool_choice type must be auto, any, tool or none")),
    }))
}

fn to_chat(req: &MessagesRequest) -> Result<ChatRequest, ApiError> {
    if req.max_tokens < 1 {
        return Err(ApiError::param("max_tokens", format!("max_tokens must be at least 1, got {}", req.max_tokens)));
    }
    let tools = req.tools.as_ref().map(|ts| {
        ts.iter()
            .map(|t| ApiTool {
                kind: "function".into(),
                function: Some(FunctionSpec {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters: t.input_schema.clone(),
                }),
                command: None,
            })
            .collect()
    });
    Ok(ChatRequest {
        model: req.model.clone(),
        messages: to_chat_messages(req)?,
        stream: req.stream,
        stream_options: None,
        tools,
        tool_choice: tool_choice(&req.tool_choice)?,
        max_tokens: Some(req.max_tokens),
        max_completion_tokens: None,
        logprobs: None,
        top_logprobs: None,
        response_format: None,
        sampling: SamplingFields {
            temperature: req.temperature,
            top_p: req.top_p,
            top_k: req.top_k,
            stop: req.stop_sequences.clone().map(StopField::Many),
            ..Default::default()
        },
    })
}

pub async fn handler(State(st): State<Shared>, body: axum::body::Bytes) -> Result<Response, AnthropicError> {
    let req: MessagesRequest = parse_body(&body)?;
    st.check_model(req.model.as_deref())?;
    let l = st.loaded()?;
    let chat_req = to_chat(&req)?;
    let (plan, mode) = chat::plan(&l, &chat_req)?;
    let prompt_tokens = plan.prompt.len();
    let stops = chat_req.sampling.stops()?;
    let rx = submit(&st, &l, &[(plan, 1)])?;
    let mut ctx = Ctx::new(&st, &l, mode, 1, prompt_tokens, false);
    ctx.id = format!("msg_{}", random_id());
    if req.stream {
        Ok(crate::seq::sse(move |tx| stream(ctx, rx, tx, stops)))
    } else {
        Ok(axum::Json(collect(ctx, rx, &stops).await?).into_response())
    }
}

fn stop_reason(s: &SeqSummary, called: bool, stops: &[String]) -> (&'static str, Value) {
    if called {
        return ("tool_use", Value::Null);
    }
    match s.finish_reason {
        // A stop string, not a stop token, ended it; which one is known when there
        // is only one (the engine does not report it).
        FinishReason::Stop if s.stop_token.is_none() => {
            ("stop_sequence", if stops.len() == 1 { json!(stops[0]) } else { Value::Null })
        }
        FinishReason::Stop => ("end_turn", Value::Null),
        _ => ("max_tokens", Value::Null),
    }
}

fn tool_block(c: &ToolCall) -> Value {
    json!({"type": "tool_use", "id": format!("toolu_{}", random_id()), "name": c.tool_name, "input": Value::Object(c.arguments.clone())})
}

async fn collect(ctx: Ctx, mut rx: UnboundedReceiver<(usize, SeqEvent)>, stops: &[String]) -> Result<Value, ApiError> {
    let mut c = Choice::default();
    while let Some((_, ev)) = rx.recv().await {
        if let Err(e) = apply(&ctx, &mut c, ev) {
            record(&ctx, std::slice::from_ref(&c), false);
            return Err(e);
        }
        if c.summary.is_some() {
            break;
        }
    }
    record(&ctx, std::slice::from_ref(&c), true);
    let summary = c.summary.ok_or_else(|| ApiError::unavailable("the engine stopped"))?;
    let (content, calls) = decode(&ctx, &c);
    let mut blocks: Vec<Value> =
        content.iter().filter(|t| !t.is_empty()).map(|t| json!({"type": "text", "text": t})).collect();
    blocks.extend(calls.iter().map(tool_block));
    let (reason, seq) = stop_reason(&summary, !calls.is_empty(), stops);
    Ok(json!({
        "id": ctx.id, "type": "message", "role": "assistant", "model": ctx.model,
        "content": blocks, "stop_reason": reason, "stop_sequence": seq,
        "usage": {"input_tokens": ctx.prompt_tokens, "output_tokens": summary.completion_tokens},
    }))
}

use crate::seq::Out;

async fn event(tx: &Out, name: &str, v: Value) -> bool {
    tx.send(Ok(Event::default().event(name).data(v.to_string()))).await.is_ok()
}

/// Anthropic's event sequence: message_start, then per block content_block_start /
/// deltas / content_block_stop, then message_delta (stop reason, usage) and
/// message_stop. Text that may be a tool call is held back as in the chat stream.
async fn stream(ctx: Ctx, mut rx: UnboundedReceiver<(usize, SeqEvent)>, tx: Out, stops: Vec<String>) {
    let start = json!({"type": "message_start", "message": {
        "id": ctx.id, "type": "message", "role": "assistant", "model": ctx.model, "content": [],
        "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": ctx.prompt_tokens, "output_tokens": 0},
    }});
    if !event(&tx, "message_start", start).await {
        return;
    }
    let mut c = Choice::default();
    let mut text_open = false;
    let mut index = 0;
    let tools_on = !matches!(ctx.mode, ToolMode::None);
    let forced = matches!(ctx.mode, ToolMode::Forced);
    while let Some((_, ev)) = rx.recv().await {
        if let Err(e) = apply(&ctx, &mut c, ev) {
            record(&ctx, std::slice::from_ref(&c), false);
            let _ = event(&tx, "error", json!({"type": "error", "error": {"type": "api_error", "message": e.message}}))
                .await;
            return;
        }
        if !c.plain && !forced {
            c.plain = !tools_on || chat::surely_plain(&c.text) == Some(true);
        }
        if c.plain && c.sent < c.text.len() {
            if !text_open {
                text_open = true;
                let b = json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}});
                if !event(&tx, "content_block_start", b).await {
                    return;
                }
            }
            let piece = c.text[c.sent..].to_string();
            c.sent = c.text.len();
            let d =
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}});
            if !event(&tx, "content_block_delta", d).await {
                return;
            }
        }
        if c.summary.is_some() {
            break;
        }
    }
    record(&ctx, std::slice::from_ref(&c), true);
    let Some(summary) = c.summary else { return };
    let (content, calls) = if c.plain { (None, Vec::new()) } else { decode(&ctx, &c) };
    if let Some(t) = content.filter(|t| !t.is_empty()) {
        text_open = true;
        let b = json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}});
        let d = json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": t}});
        if !event(&tx, "content_block_start", b).await || !event(&tx, "content_block_delta", d).await {
            return;
        }
    }
    if text_open {
        if !event(&tx, "content_block_stop", json!({"type": "content_block_stop", "index": index})).await {
            return;
        }
        index += 1;
    }
    for call in &calls {
        let mut block = tool_block(call);
        let input = block["input"].to_string();
        block["input"] = json!({});
        let s = json!({"type": "content_block_start", "index": index, "content_block": block});
        let d = json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": input}});
        let e = json!({"type": "content_block_stop", "index": index});
        if !event(&tx, "content_block_start", s).await
            || !event(&tx, "content_block_delta", d).await
            || !event(&tx, "content_block_stop", e).await
        {
            return;
        }
        index += 1;
    }
    let (reason, seq) = stop_reason(&summary, !calls.is_empty(), &stops);
    let md = json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": seq},
        "usage": {"output_tokens": summary.completion_tokens}});
    if event(&tx, "message_delta", md).await {
        let _ = event(&tx, "message_stop", json!({"type": "message_stop"})).await;
    }
}
