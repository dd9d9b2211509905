//! The small routes: models, health, metrics, tokenize/detokenize, embeddings, and the
//! 404 fallback in OpenAI's envelope.

use crate::Shared;
use crate::chat::parse_body;
use crate::error::ApiError;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

fn model_json(st: &crate::AppState) -> Value {
    json!({"id": st.model_id, "object": "model", "created": st.created, "owned_by": "herd"})
}

pub async fn models(State(st): State<Shared>) -> Json<Value> {
    Json(json!({"object": "list", "data": [model_json(&st)]}))
}

pub async fn model(State(st): State<Shared>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    st.check_model(Some(&id))?;
    Ok(Json(model_json(&st)))
}

/// 200 once the model is loaded, 503 before (and after a failed load or during
/// shutdown), with the reason.
pub async fn health(State(st): State<Shared>) -> Response {
    match st.loaded() {
        Ok(_) => {
            let g = st.gauges();
            Json(json!({"status": "ok", "model": st.model_id, "running": g.running, "queued": g.queued}))
                .into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "error": e.body()["error"]})))
            .into_response(),
    }
}

pub async fn metrics(State(st): State<Shared>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], st.metrics.render(st.gauges()))
}

/// llama.cpp's `{"content": ...}` or vLLM's `{"prompt": ...}`.
#[derive(Debug, Deserialize)]
struct TokenizeRequest {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    /// Add BOS (when the model wants it) and read special-token text as control tokens.
    #[serde(default = "yes")]
    add_special: bool,
}

fn yes() -> bool {
    true
}

pub async fn tokenize(State(st): State<Shared>, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let req: TokenizeRequest = parse_body(&body)?;
    let l = st.loaded()?;
    let text = req.content.or(req.prompt).ok_or_else(|| ApiError::param("content", "send {\"content\": TEXT}"))?;
    let ids = if req.add_special {
        herd_engine::prompt::raw_prompt(&l.tokenizer, &text).ids
    } else {
        l.tokenizer.encode(&text, false)
    };
    Ok(Json(json!({"tokens": ids, "count": ids.len(), "max_model_len": l.n_ctx})))
}

#[derive(Debug, Deserialize)]
struct DetokenizeRequest {
    tokens: Vec<u32>,
}

pub async fn detokenize(State(st): State<Shared>, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let req: DetokenizeRequest = parse_body(&body)?;
    let l = st.loaded()?;
    if let Some(bad) = req.tokens.iter().find(|&&t| t as usize >= l.tokenizer.vocab_size()) {
        return Err(ApiError::param(
            "tokens",
            format!("token id {bad} is outside the vocabulary of {}", l.tokenizer.vocab_size()),
        ));
    }
    let text = l.tokenizer.decode(&req.tokens);
    Ok(Json(json!({"content": text, "prompt": text})))
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Ids(Vec<u32>),
    IdLists(Vec<Vec<u32>>),
}

#[derive(Debug, Deserialize)]
struct EmbeddingRequest {
    #[serde(default)]
    model: Option<String>,
    input: EmbeddingInput,
    #[serde(default)]
    encoding_format: Option<String>,
}

/// Mean-pooled, L2-normalized final hidden states (after the last RMSNorm): a decoder
/// model's embedding, not a trained sentence embedding.
pub async fn embeddings(State(st): State<Shared>, body: axum::body::Bytes) -> Result<Json<Value>, ApiError> {
    let req: EmbeddingRequest = parse_body(&body)?;
    st.check_model(req.model.as_deref())?;
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(f) => {
            return Err(ApiError::param("encoding_format", format!("encoding_format {f:?} is not float or base64")));
        }
    };
    let l = st.loaded()?;
    let inputs: Vec<Vec<u32>> = match req.input {
        EmbeddingInput::One(s) => vec![herd_engine::prompt::raw_prompt(&l.tokenizer, &s).ids],
        EmbeddingInput::Many(v) => v.iter().map(|s| herd_engine::prompt::raw_prompt(&l.tokenizer, s).ids).collect(),
        EmbeddingInput::Ids(v) => vec![v],
        EmbeddingInput::IdLists(v) => v,
    };
    if inputs.is_empty() || inputs.len() > 256 {
        return Err(ApiError::param("input", "between 1 and 256 inputs per request"));
    }
    let mut data = Vec::new();
    let mut total = 0;
    for (i, ids) in inputs.into_iter().enumerate() {
        if ids.is_empty() {
            return Err(ApiError::param("input", format!("input {i} is empty")));
        }
        total += ids.len();
        let v = crate::seq::embed(&st, &l, ids).await?;
        // base64: the little-endian f32 bytes, as OpenAI sends them (its Python client
        // asks for this by default).
        let embedding = if base64 {
            use base64::Engine;
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            json!(base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            json!(v)
        };
        data.push(json!({"object": "embedding", "index": i, "embedding": embedding}));
    }
    Ok(Json(json!({
        "object": "list", "data": data, "model": st.model_id,
        "usage": {"prompt_tokens": total, "total_tokens": total},
    })))
}

pub async fn fallback(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

/// Gives error responses that axum itself writes (405 with an empty body, 413 and 415
/// as plain text) OpenAI's JSON envelope, so every error a client sees has one shape.
pub async fn envelope(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    // Anthropic clients parse Anthropic's envelope, also on the errors axum writes itself.
    let anthropic = crate::is_anthropic(&req);
    let resp = next.run(req).await;
    let status = resp.status();
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/event-stream"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return resp;
    }
    let text = axum::body::to_bytes(resp.into_body(), 64 << 10).await.unwrap_or_default();
    let mut msg = String::from_utf8_lossy(&text).trim().to_string();
    if msg.is_empty() {
        msg = match status {
            StatusCode::METHOD_NOT_ALLOWED => "this route does not take that HTTP method; see GET /openapi.json".into(),
            s => s.canonical_reason().unwrap_or("error").to_string(),
        };
    }
    let err = ApiError::status(status, msg);
    let mut resp =
        if anthropic { crate::anthropic::AnthropicError::from(err).into_response() } else { err.into_response() };
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the oversized body is never read, so the connection cannot carry
        // another request; saying so keeps clients from reusing it.
        resp.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    resp
}
