//! `POST /v1/chat/completions`: messages (and tools) through the model's formatter to
//! prompt ids, `n` sequences on the engine, and their events back as one response or
//! as SSE chunks. Tool calls are decoded from the finished text as Meta's reference
//! does; while streaming, text that may be a call is held back until it is decided.

use crate::error::ApiError;
use crate::seq::{Plan, SamplingFields, max_tokens, submit};
use crate::{Loaded, Shared};
use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use herd_engine::FinishReason;
use herd_engine::TokenLogprob;
use herd_engine::generate::TopLogprob;
use herd_engine::grammar::JsonConstraint;
use herd_engine::scheduler::{OutputConstraint, SeqEvent, SeqSummary};
use herd_llama::dialog::{self, ApiMessage, ApiTool, ToolOffer};
use herd_llama::tokenizer::Tokenizer;
use herd_llama::toolcall::{BUILTIN_TOOLS, StopReason, ToolCall, ToolFormat, decode_assistant};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub messages: Vec<ApiMessage>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub tools: Option<Vec<ApiTool>>,
    #[serde(default)]
    pub tool_choice: Option<Value>,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    #[serde(default)]
    pub logprobs: Option<bool>,
    #[serde(default)]
    pub top_logprobs: Option<usize>,
    #[serde(default)]
    pub response_format: Option<Value>,
    #[serde(flatten)]
    pub sampling: SamplingFields,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// A JSON body with OpenAI's error envelope for bodies that do not parse.
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("the request body is not valid: {e}")))
}

/// How the request's tools shape generation.
pub(crate) enum ToolMode {
    /// No tools offered: plain text.
    None,
    /// Tools offered; the model decides (calls are decoded from its text).
    Auto,
    /// A call is required (`required` or a named function): the output is constrained
    /// to `{"name": ..., "parameters": ...}` for the allowed functions.
    Forced,
}

pub async fn handler(State(st): State<Shared>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let req: ChatRequest = parse_body(&body)?;
    st.check_model(req.model.as_deref())?;
    let l = st.loaded()?;
    let (plan, mode) = plan(&l, &req)?;
    let n = req.sampling.n()?;
    let prompt_tokens = plan.prompt.len();
    let rx = submit(&st, &l, &[(plan, n)])?;
    let ctx = Ctx::new(&st, &l, mode, n, prompt_tokens, req.logprobs.unwrap_or(false));
    if req.stream {
        let usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        Ok(crate::seq::sse(move |tx| stream(ctx, rx, tx, usage)))
    } else {
        Ok(axum::Json(collect(ctx, rx).await?).into_response())
    }
}

/// Today's date as Meta's system prompt writes it.
fn today() -> String {
    herd_llama::chat::format_utc_now("%d %B %Y")
}

pub(crate) fn plan(l: &Loaded, req: &ChatRequest) -> Result<(Plan, ToolMode), ApiError> {
    if req.messages.is_empty() {
        return Err(ApiError::param("messages", "messages must hold at least one message"));
    }
    let messages = dialog::from_api(&req.messages).map_err(|e| ApiError::param("messages", e.to_string()))?;
    let llama31 = matches!(l.formatter, herd_engine::prompt::Formatter::Llama31);
    let mut offer = ToolOffer {
        format: if llama31 { ToolFormat::Json } else { ToolFormat::FunctionTag },
        today: today(),
        ..Default::default()
    };
    let tools = req.tools.as_deref().unwrap_or_default();
    offer.add_api_tools(tools).map_err(|e| ApiError::param("tools", e.to_string()))?;
    let (mode, allowed) = tool_choice(req.tool_choice.as_ref(), &offer)?;
    if matches!(mode, ToolMode::None) {
        offer = ToolOffer { today: offer.today, format: offer.format, ..Default::default() };
    }
    let prompt = l.formatter.render(&l.tokenizer, &messages, &offer)?;
    let top = req.top_logprobs.unwrap_or(0);
    if top > 20 {
        return Err(ApiError::param("top_logprobs", format!("top_logprobs must be between 0 and 20, got {top}")));
    }
    if top > 0 && req.logprobs != Some(true) {
        return Err(ApiError::param("top_logprobs", "top_logprobs needs logprobs: true"));
    }
    let constraint = match (&mode, &req.response_format) {
        (ToolMode::Forced, _) => Some(call_schema(&offer, &allowed)?),
        (_, Some(rf)) => response_format(rf)?,
        _ => None,
    };
    let max = max_tokens(req.max_completion_tokens.or(req.max_tokens), None, false)?;
    let plan = Plan {
        prompt: prompt.ids,
        sampling: req.sampling.params()?,
        max_tokens: max,
        stop_strings: req.sampling.stops()?,
        stop_tokens: req.sampling.stop_tokens(l),
        logprobs: (req.logprobs == Some(true)).then_some(top),
        prompt_logprobs: None,
        logit_bias: req.sampling.bias(l.vocab_size)?,
        constraint: constraint.map(|c| {
            Box::new(move || Box::new(c.start()) as Box<dyn OutputConstraint>)
                as Box<dyn Fn() -> Box<dyn OutputConstraint> + Send + Sync>
        }),
    };
    Ok((plan, mode))
}

/// `tool_choice`: "none", "auto", "required", or `{"type": "function", "function":
/// {"name": ...}}`; the mode and the functions a forced call may name.
fn tool_choice(v: Option<&Value>, offer: &ToolOffer) -> Result<(ToolMode, Vec<String>), ApiError> {
    let names: Vec<String> =
        offer.custom.iter().map(|f| f.name.clone()).chain(offer.builtins.iter().cloned()).collect();
    let bad = |m: String| ApiError::param("tool_choice", m);
    let mode = match v {
        None | Some(Value::Null) => {
            if offer.is_empty() {
                ToolMode::None
            } else {
                ToolMode::Auto
            }
        }
        Some(Value::String(s)) => match s.as_str() {
            "none" => ToolMode::None,
            "auto" if offer.is_empty() => ToolMode::None,
            "auto" => ToolMode::Auto,
            "required" if offer.is_empty() => return Err(bad("tool_choice \"required\" needs tools".into())),
            "required" => ToolMode::Forced,
            other => return Err(bad(format!("tool_choice {other:?} is not none, auto or required"))),
        },
        Some(Value::Object(o)) => {
            let name = o.get("function").and_then(|f| f.get("name")).and_then(Value::as_str).ok_or_else(|| {
                bad("tool_choice must be {\"type\": \"function\", \"function\": {\"name\": ...}}".into())
            })?;
            if !names.iter().any(|n| n == name) {
                return Err(bad(format!("tool_choice names {name:?}, which is not among the tools")));
            }
            return Ok((ToolMode::Forced, vec![name.to_string()]));
        }
        Some(_) => return Err(bad("tool_choice must be a string or an object".into())),
    };
    Ok((mode, names))
}

/// The schema of a forced call: `{"name": NAME, "parameters": PARAMS}` for one of the
/// allowed functions (Llama 3.1's JSON call format, which `decode_assistant` reads).
fn call_schema(offer: &ToolOffer, allowed: &[String]) -> Result<JsonConstraint, ApiError> {
    let mut alts = Vec::new();
    for f in &offer.custom {
        if allowed.contains(&f.name) {
            let params = if f.parameters.is_object() { f.parameters.clone() } else { json!({"type": "object"}) };
            alts.push(json!({
                "type": "object",
                "properties": {"name": {"const": f.name}, "parameters": params},
                "required": ["name", "parameters"],
                "additionalProperties": false
            }));
        }
    }
    for b in &offer.builtins {
        if allowed.contains(b) {
            let spec = dialog::builtin_spec(b);
            alts.push(json!({
                "type": "object",
                "properties": {"name": {"const": b}, "parameters": spec.parameters},
                "required": ["name", "parameters"],
                "additionalProperties": false
            }));
        }
    }
    JsonConstraint::from_schema(&json!({"anyOf": alts}))
        .map_err(|e| ApiError::param("tools", format!("a tool's parameters cannot be enforced: {e}")))
}

/// `response_format`: text, json_object, or json_schema (`{"json_schema": {"schema": ...}}`).
pub fn response_format(v: &Value) -> Result<Option<JsonConstraint>, ApiError> {
    let bad = |m: String| ApiError::param("response_format", m);
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(JsonConstraint::any_object())),
        Some("json_schema") => {
            let schema = v
                .get("json_schema")
                .and_then(|j| j.get("schema"))
                .ok_or_else(|| bad("json_schema needs {\"json_schema\": {\"name\": ..., \"schema\": {...}}}".into()))?;
            JsonConstraint::from_schema(schema).map(Some).map_err(bad)
        }
        _ => Err(bad("response_format type must be text, json_object or json_schema".into())),
    }
}

/// Per-request values the response builders need.
pub(crate) struct Ctx {
    pub(crate) st: Shared,
    pub(crate) l: Arc<Loaded>,
    pub(crate) id: String,
    pub(crate) created: u64,
    pub(crate) model: String,
    pub(crate) mode: ToolMode,
    pub(crate) n: usize,
    pub(crate) prompt_tokens: usize,
    pub(crate) logprobs: bool,
    pub(crate) started: Instant,
}

impl Ctx {
    pub(crate) fn new(
        st: &Shared,
        l: &Arc<Loaded>,
        mode: ToolMode,
        n: usize,
        prompt_tokens: usize,
        logprobs: bool,
    ) -> Self {
        Ctx {
            st: st.clone(),
            l: l.clone(),
            id: format!("chatcmpl-{}", random_id()),
            created: now(),
            model: st.model_id.clone(),
            mode,
            n,
            prompt_tokens,
            logprobs,
            started: Instant::now(),
        }
    }
}

/// One choice as its events arrive.
#[derive(Default)]
pub(crate) struct Choice {
    pub(crate) text: String,
    /// Bytes of `text` already streamed as content.
    pub(crate) sent: usize,
    /// The text is known not to be a tool call (stream it as it comes).
    pub(crate) plain: bool,
    pub(crate) logprobs: Vec<TokenLogprob>,
    pub(crate) summary: Option<SeqSummary>,
    pub(crate) last_token_at: Option<Instant>,
}

/// Prefixes with which a tool call starts in the formats `decode_assistant` reads.
fn call_prefixes() -> impl Iterator<Item = String> {
    ["{", "[", "<function=", "<|python_tag|>"]
        .into_iter()
        .map(String::from)
        .chain(BUILTIN_TOOLS.iter().map(|b| format!("{b}.call(")))
}

/// Whether streamed text can no longer be a tool call (so it may be sent now).
pub(crate) fn surely_plain(text: &str) -> Option<bool> {
    let t = text.trim_start();
    if t.is_empty() {
        return None;
    }
    let mut undecided = false;
    for p in call_prefixes() {
        if t.starts_with(&p) {
            return Some(false);
        }
        if p.starts_with(t) {
            undecided = true;
        }
    }
    if undecided { None } else { Some(true) }
}

fn finish_reason(s: &SeqSummary, called: bool) -> &'static str {
    match (called, s.finish_reason) {
        (true, _) => "tool_calls",
        (_, FinishReason::Stop) => "stop",
        (_, FinishReason::Length) => "length",
        // Cancelled by shutdown: the text so far, marked as cut short.
        (_, FinishReason::Interrupted) => "length",
    }
}

/// The assistant's text decoded into content and tool calls (when tools are on).
pub(crate) fn decode(ctx: &Ctx, c: &Choice) -> (Option<String>, Vec<ToolCall>) {
    if matches!(ctx.mode, ToolMode::None) {
        return (Some(c.text.clone()), Vec::new());
    }
    let stop = match c.summary.and_then(|s| s.stop_token) {
        Some(t) if Some(t) == ctx.l.tokenizer.token_id("<|eom_id|>") => StopReason::EndOfMessage,
        Some(_) => StopReason::EndOfTurn,
        None => StopReason::OutOfTokens,
    };
    let d = decode_assistant(&c.text, stop);
    if d.tool_calls.is_empty() { (Some(d.content), Vec::new()) } else { (None, d.tool_calls) }
}

fn tool_calls_json(calls: &[ToolCall], with_index: bool) -> Vec<Value> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut v = json!({
                "id": format!("call_{}", random_id()),
                "type": "function",
                "function": {"name": c.tool_name, "arguments": Value::Object(c.arguments.clone()).to_string()},
            });
            if with_index {
                v["index"] = json!(i);
            }
            v
        })
        .collect()
}

fn logprobs_json(tok: &Tokenizer, lps: &[TokenLogprob]) -> Value {
    let entry = |id: u32, lp: f32| {
        let bytes = tok.token_bytes(id);
        json!({"token": String::from_utf8_lossy(bytes), "logprob": lp, "bytes": bytes})
    };
    let content: Vec<Value> = lps
        .iter()
        .map(|t| {
            let mut e = entry(t.id, t.logprob);
            e["top_logprobs"] = t.top.iter().map(|TopLogprob { id, logprob }| entry(*id, *logprob)).collect();
            e
        })
        .collect();
    json!({"content": content})
}

fn usage(ctx: &Ctx, choices: &[Choice]) -> Value {
    let completion: usize = choices.iter().filter_map(|c| c.summary).map(|s| s.completion_tokens).sum();
    let cached = choices.iter().filter_map(|c| c.summary).map(|s| s.cached_tokens).min().unwrap_or(0);
    json!({
        "prompt_tokens": ctx.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": ctx.prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

/// Applies one engine event to its choice; `Err` for a failed sequence.
pub(crate) fn apply(ctx: &Ctx, c: &mut Choice, ev: SeqEvent) -> Result<(), ApiError> {
    match ev {
        SeqEvent::Token { text, logprob, .. } => {
            let now = Instant::now();
            match c.last_token_at {
                None => ctx.st.metrics.ttft.observe(now - ctx.started),
                Some(t) => ctx.st.metrics.itl.observe(now - t),
            }
            c.last_token_at = Some(now);
            c.text.push_str(&text);
            c.logprobs.extend(logprob);
        }
        SeqEvent::Done(s) => c.summary = Some(s),
        SeqEvent::Error(e) => return Err(ApiError::internal(e)),
        SeqEvent::Started { .. } | SeqEvent::PromptLogprobs(_) | SeqEvent::Embedding(_) => {}
    }
    Ok(())
}

pub(crate) fn record(ctx: &Ctx, choices: &[Choice], ok: bool) {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &ctx.st.metrics;
    if !ok {
        m.requests_failed.fetch_add(1, Relaxed);
    }
    m.prompt_tokens.fetch_add(ctx.prompt_tokens as u64, Relaxed);
    let completion: usize = choices.iter().filter_map(|c| c.summary).map(|s| s.completion_tokens).sum();
    m.completion_tokens.fetch_add(completion as u64, Relaxed);
    m.e2e.observe(ctx.started.elapsed());
}

async fn collect(ctx: Ctx, mut rx: UnboundedReceiver<(usize, SeqEvent)>) -> Result<Value, ApiError> {
    let mut choices: Vec<Choice> = (0..ctx.n).map(|_| Choice::default()).collect();
    while let Some((i, ev)) = rx.recv().await {
        if let Err(e) = apply(&ctx, &mut choices[i], ev) {
            record(&ctx, &choices, false);
            return Err(e);
        }
        if choices.iter().all(|c| c.summary.is_some()) {
            break;
        }
    }
    record(&ctx, &choices, true);
    let out: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (content, calls) = decode(&ctx, c);
            let mut message = json!({"role": "assistant", "content": content});
            if !calls.is_empty() {
                message["tool_calls"] = json!(tool_calls_json(&calls, false));
            }
            let summary = c.summary.unwrap_or(SeqSummary {
                finish_reason: FinishReason::Interrupted,
                prompt_tokens: ctx.prompt_tokens,
                completion_tokens: 0,
                cached_tokens: 0,
                stop_token: None,
            });
            json!({
                "index": i,
                "message": message,
                "logprobs": if ctx.logprobs { logprobs_json(&ctx.l.tokenizer, &c.logprobs) } else { Value::Null },
                "finish_reason": finish_reason(&summary, !calls.is_empty()),
            })
        })
        .collect();
    Ok(json!({
        "id": ctx.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "system_fingerprint": fingerprint(),
        "choices": out,
        "usage": usage(&ctx, &choices),
    }))
}

pub fn fingerprint() -> String {
    format!("herd-{}", env!("CARGO_PKG_VERSION"))
}

use crate::seq::Out;

/// Sends one SSE data line; `false` once the client is gone.
pub async fn send(tx: &Out, v: &Value) -> bool {
    tx.send(Ok(Event::default().data(v.to_string()))).await.is_ok()
}

async fn stream(ctx: Ctx, mut rx: UnboundedReceiver<(usize, SeqEvent)>, tx: Out, with_usage: bool) {
    let mut choices: Vec<Choice> = (0..ctx.n).map(|_| Choice::default()).collect();
    let chunk = |i: usize, delta: Value, finish: Option<&str>, lp: Option<Value>| {
        let mut v = json!({
            "id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
            "system_fingerprint": fingerprint(),
            "choices": [{"index": i, "delta": delta, "logprobs": lp, "finish_reason": finish}],
        });
        if with_usage {
            v["usage"] = Value::Null;
        }
        v
    };
    for i in 0..ctx.n {
        if !send(&tx, &chunk(i, json!({"role": "assistant", "content": ""}), None, None)).await {
            return;
        }
    }
    let forced = matches!(ctx.mode, ToolMode::Forced);
    let mut open = ctx.n;
    while let Some((i, ev)) = rx.recv().await {
        let c = &mut choices[i];
        let lp_before = c.logprobs.len();
        if let Err(e) = apply(&ctx, c, ev) {
            record(&ctx, &choices, false);
            let _ = send(&tx, &e.body()).await;
            return;
        }
        let c = &mut choices[i];
        if !c.plain && !forced {
            c.plain = matches!(ctx.mode, ToolMode::None) || surely_plain(&c.text) == Some(true);
        }
        if c.plain && c.sent < c.text.len() {
            let piece = c.text[c.sent..].to_string();
            c.sent = c.text.len();
            let lp = ctx.logprobs.then(|| logprobs_json(&ctx.l.tokenizer, &c.logprobs[lp_before..]));
            if !send(&tx, &chunk(i, json!({"content": piece}), None, lp)).await {
                return;
            }
        }
        let Some(summary) = c.summary else { continue };
        // The end of a choice: what was held back goes out as content or tool calls.
        let (content, calls) = if c.plain { (None, Vec::new()) } else { decode(&ctx, c) };
        if let Some(text) = content.filter(|t| !t.is_empty()) {
            let lp = ctx.logprobs.then(|| logprobs_json(&ctx.l.tokenizer, &c.logprobs));
            if !send(&tx, &chunk(i, json!({"content": text}), None, lp)).await {
                return;
            }
        }
        if !calls.is_empty()
            && !send(&tx, &chunk(i, json!({"tool_calls": tool_calls_json(&calls, true)}), None, None)).await
        {
            return;
        }
        if !send(&tx, &chunk(i, json!({}), Some(finish_reason(&summary, !calls.is_empty())), None)).await {
            return;
        }
        open -= 1;
        if open == 0 {
            break;
        }
    }
    record(&ctx, &choices, true);
    if with_usage {
        let v = json!({
            "id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
            "system_fingerprint": fingerprint(), "choices": [], "usage": usage(&ctx, &choices),
        });
        if !send(&tx, &v).await {
            return;
        }
    }
    let _ = tx.send(Ok(Event::default().data("[DONE]"))).await;
}

pub fn random_id() -> String {
    format!("{:016x}{:08x}", rand::random::<u64>(), rand::random::<u32>())
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
