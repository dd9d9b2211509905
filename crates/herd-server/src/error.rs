//! The one place errors become HTTP responses: OpenAI's envelope
//! `{"error": {"message", "type", "param", "code"}}` with the matching status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error a handler returns; its status and envelope fields.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), kind, param: None, code: None }
    }
    /// 400: the request is malformed or a value is out of range.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }
    /// 400 naming the offending parameter.
    pub fn param(param: &str, message: impl Into<String>) -> Self {
        ApiError { param: Some(param.to_string()), ..Self::invalid(message) }
    }
    pub fn unauthorized() -> Self {
        ApiError {
            code: Some("invalid_api_key"),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing or wrong API key: send the header `Authorization: Bearer KEY` with the key the server was started with (--api-key)",
            )
        }
    }
    pub fn unknown_model(asked: &str, served: &str) -> Self {
        ApiError {
            param: Some("model".into()),
            code: Some("model_not_found"),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("the model {asked:?} does not exist; this server serves {served:?} (see GET /v1/models)"),
            )
        }
    }
    /// 400 with OpenAI's code for a prompt longer than the context.
    pub fn too_long(tokens: usize, n_ctx: usize) -> Self {
        ApiError {
            param: Some("messages".into()),
            code: Some("context_length_exceeded"),
            ..Self::invalid(format!(
                "this model's maximum context length is {n_ctx} tokens, but the prompt has {tokens} tokens; \
                 shorten the prompt or start the server with a larger --ctx"
            ))
        }
    }
    pub fn queue_full(waiting: usize) -> Self {
        ApiError {
            code: Some("rate_limit_exceeded"),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("the server is busy ({waiting} sequences already waiting for a slot); retry later"),
            )
        }
    }
    pub fn loading() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "the model is still loading; retry shortly")
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", message)
    }
    pub fn not_found(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", format!("no route {path}; see GET /openapi.json"))
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }
    /// Any status (body-size limits, unsupported media types) with OpenAI's shape.
    pub fn status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "invalid_request_error", message)
    }

    /// The envelope, also sent as an SSE event when a stream fails after it began.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

impl From<herd_llama::LlamaError> for ApiError {
    fn from(e: herd_llama::LlamaError) -> Self {
        ApiError::invalid(e.to_string())
    }
}

impl From<herd_engine::EngineError> for ApiError {
    fn from(e: herd_engine::EngineError) -> Self {
        match e {
            herd_engine::EngineError::Request(m) => ApiError::invalid(m),
            herd_engine::EngineError::Model(m) => ApiError::internal(m.to_string()),
        }
    }
}
