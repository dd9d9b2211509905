//! herd-server: the OpenAI-compatible HTTP server over the continuous-batching engine.
//!
//! `serve` binds first and loads the model in the background, so `/health` answers at
//! once (503 until the model is ready, then 200). Every `/v1` route checks the API key
//! when one is set. Handlers turn requests into engine sequences (`chat`, `completions`,
//! `anthropic`), stream their events back as SSE or collect them into one response, and
//! report every failure through `ApiError`, the one place errors get their envelope.

pub mod anthropic;
pub mod chat;
pub mod completions;
pub mod error;
pub mod metrics;
pub mod misc;
pub mod page;
pub mod seq;

use crate::error::ApiError;
use crate::metrics::{Gauges, Metrics};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use herd_engine::prompt::Formatter;
use herd_engine::scheduler::{EngineConfig, EngineHandle};
use herd_llama::chat::ChatTemplate;
use herd_llama::loader::ModelFiles;
use herd_llama::model::Model;
use herd_llama::tokenizer::Tokenizer;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Largest request body accepted (a long prompt is far below this).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: String,
    pub port: u16,
    pub api_key: Option<String>,
    /// The id `/v1/models` lists and requests may name.
    pub model_id: String,
    pub engine: EngineConfig,
    pub threads: usize,
    /// How long shutdown waits for running requests before cancelling them.
    pub shutdown_grace: Duration,
}

/// Everything that exists once the model is loaded.
#[derive(Debug)]
pub struct Loaded {
    pub engine: EngineHandle,
    pub tokenizer: Tokenizer,
    pub formatter: Formatter,
    pub n_ctx: usize,
    pub vocab_size: usize,
    /// Ids that end a generation (EOS, end of turn, end of message).
    pub stop_ids: Vec<u32>,
    pub dim: usize,
}

/// Shared by every handler.
#[derive(Debug)]
pub struct AppState {
    pub model_id: String,
    pub api_key: Option<String>,
    pub created: u64,
    pub metrics: Metrics,
    loaded: OnceLock<Arc<Loaded>>,
    load_error: Mutex<Option<String>>,
    pub shutting_down: AtomicBool,
}

pub type Shared = Arc<AppState>;

impl AppState {
    pub fn new(model_id: String, api_key: Option<String>) -> Self {
        let created =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        AppState {
            model_id,
            api_key: api_key.filter(|k| !k.is_empty()),
            created,
            metrics: Metrics::default(),
            loaded: OnceLock::new(),
            load_error: Mutex::new(None),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// The loaded model, or 503 while it loads (or when loading failed).
    pub fn loaded(&self) -> Result<Arc<Loaded>, ApiError> {
        if self.shutting_down.load(Ordering::Acquire) {
            return Err(ApiError::unavailable("the server is shutting down"));
        }
        if let Some(l) = self.loaded.get() {
            return Ok(l.clone());
        }
        match self.load_error.lock().ok().and_then(|e| e.clone()) {
            Some(e) => Err(ApiError::unavailable(format!("the model failed to load: {e}"))),
            None => Err(ApiError::loading()),
        }
    }

    pub fn is_loaded(&self) -> bool {
        self.loaded.get().is_some()
    }

    /// Checks a request's `model` field against the served id.
    pub fn check_model(&self, asked: Option<&str>) -> Result<(), ApiError> {
        match asked {
            Some(m) if !m.is_empty() && m != self.model_id => Err(ApiError::unknown_model(m, &self.model_id)),
            _ => Ok(()),
        }
    }

    pub fn gauges(&self) -> Gauges {
        let Some(l) = self.loaded.get() else { return Gauges::default() };
        let s = l.engine.stats();
        Gauges {
            queued: s.queued.load(Ordering::Relaxed),
            running: s.running.load(Ordering::Relaxed),
            kv_used: s.kv_used.load(Ordering::Relaxed),
            kv_cached: s.kv_cached.load(Ordering::Relaxed),
            kv_capacity: l.engine.kv_capacity(),
            prefill_tokens: s.prefill_tokens.load(Ordering::Relaxed),
            steps: s.steps.load(Ordering::Relaxed),
            draft_tokens: s.draft_tokens.load(Ordering::Relaxed),
            draft_accepted: s.draft_accepted.load(Ordering::Relaxed),
            loaded: true,
        }
    }

    /// Builds the engine over loaded model files and makes the server ready.
    pub fn install(&self, files: ModelFiles, cfg: EngineConfig, threads: usize) -> Result<(), String> {
        let template = match &files.chat_template {
            Some(src) => Some(ChatTemplate::new(src, &files.bos_token, &files.eos_token).map_err(|e| e.to_string())?),
            None => None,
        };
        let formatter = Formatter::new(&files.tokenizer, template).map_err(|e| e.to_string())?;
        let model = Model::from_files(&files, threads);
        let (vocab_size, dim) = (model.config.vocab_size, model.config.dim);
        let tokenizer = files.tokenizer.clone();
        let (engine, _join) =
            herd_engine::scheduler::spawn(model, tokenizer.clone(), cfg).map_err(|e| e.to_string())?;
        let loaded =
            Loaded { engine, stop_ids: tokenizer.stop_ids(), tokenizer, formatter, n_ctx: cfg.n_ctx, vocab_size, dim };
        let _ = self.loaded.set(Arc::new(loaded));
        Ok(())
    }

    pub fn fail_load(&self, e: String) {
        if let Ok(mut g) = self.load_error.lock() {
            *g = Some(e);
        }
    }
}

/// The router: OpenAI and Anthropic routes under `/v1` (behind the key check), the
/// server's own routes, and the chat page.
pub fn app(state: Shared) -> Router {
    let v1 = Router::new()
        .route("/chat/completions", post(chat::handler))
        .route("/completions", post(completions::handler))
        .route("/messages", post(anthropic::handler))
        .route("/embeddings", post(misc::embeddings))
        .route("/models", get(misc::models))
        .route("/models/{id}", get(misc::model))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    let own = Router::new()
        .route("/tokenize", post(misc::tokenize))
        .route("/detokenize", post(misc::detokenize))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    Router::new()
        .nest("/v1", v1)
        .merge(own)
        .route("/health", get(misc::health))
        .route("/metrics", get(misc::metrics))
        .route("/openapi.json", get(page::openapi))
        .route("/", get(page::index))
        .route("/app.js", get(page::app_js))
        .route("/style.css", get(page::style_css))
        .fallback(misc::fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(misc::envelope))
        .with_state(state)
}

/// `Authorization: Bearer KEY` (or Anthropic's `x-api-key: KEY`) when a key is set.
async fn require_key(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let Some(key) = &st.api_key else { return next.run(req).await };
    let h = req.headers();
    let bearer = h.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let x_key = h.get("x-api-key").and_then(|v| v.to_str().ok());
    let ok = [bearer, x_key].into_iter().flatten().any(|k| constant_time_eq(k.trim().as_bytes(), key.as_bytes()));
    if ok {
        next.run(req).await
    } else if is_anthropic(&req) {
        anthropic::AnthropicError::from(ApiError::unauthorized()).into_response()
    } else {
        ApiError::unauthorized().into_response()
    }
}

/// Whether `req` is for Anthropic's route, whose clients parse Anthropic's error envelope.
/// Inside the `/v1` nest the path has lost its prefix; the original URI keeps it.
pub(crate) fn is_anthropic(req: &Request) -> bool {
    let original = req.extensions().get::<axum::extract::OriginalUri>().map(|u| u.path());
    original.unwrap_or(req.uri().path()).starts_with("/v1/messages")
}

/// Compares without an early exit, so response time does not leak the key's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Binds, loads the model with `load` on a blocking thread, and serves until Ctrl-C or
/// SIGTERM; then stops accepting, lets running requests finish for the grace period,
/// cancels the rest, and returns.
pub async fn serve(
    cfg: ServerConfig,
    load: impl FnOnce() -> Result<ModelFiles, String> + Send + 'static,
) -> Result<(), String> {
    let addr: SocketAddr = format!("{}:{}", cfg.host, cfg.port)
        .parse()
        .or_else(|_| {
            std::net::ToSocketAddrs::to_socket_addrs(&(cfg.host.as_str(), cfg.port))
                .ok()
                .and_then(|mut a| a.next())
                .ok_or(())
        })
        .map_err(|_| format!("--host {} is not an address or a host name that resolves", cfg.host))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e} (is another server on that port? try --port)"))?;
    let state = Arc::new(AppState::new(cfg.model_id.clone(), cfg.api_key.clone()));
    let st = state.clone();
    let (engine_cfg, threads) = (cfg.engine, cfg.threads);
    tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        match load().and_then(|files| st.install(files, engine_cfg, threads)) {
            Ok(()) => tracing::info!("model loaded in {:.1} s; ready", t.elapsed().as_secs_f64()),
            Err(e) => {
                tracing::error!("model failed to load: {e}");
                st.fail_load(e);
            }
        }
    });
    eprintln!("herd: listening on http://{addr} (chat page at /, OpenAI API at /v1)");
    let st = state.clone();
    let grace = cfg.shutdown_grace;
    axum::serve(listener, app(state.clone()))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            eprintln!("herd: shutting down (waiting up to {} s for running requests)", grace.as_secs());
            drain(&st, grace).await;
        })
        .await
        .map_err(|e| format!("server error: {e}"))?;
    Ok(())
}

/// Refuses new work, waits for running sequences, then stops the engine (which ends
/// whatever is left with finish reason `Interrupted`, so streams close cleanly).
async fn drain(st: &AppState, grace: Duration) {
    st.shutting_down.store(true, Ordering::Release);
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline {
        let g = st.gauges();
        if g.running == 0 && g.queued == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(l) = st.loaded.get() {
        l.engine.shutdown();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// One HTTP/1.1 exchange on a fresh connection: (status, body).
    async fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        call_with(addr, method, path, "", body).await
    }

    async fn call_with(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{headers}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let out = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
            s.write_all(req.as_bytes()).expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).expect("read");
            out
        })
        .await
        .expect("join");
        let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let json = out.split_once("\r\n\r\n").and_then(|(_, b)| serde_json::from_str(b).ok()).unwrap_or_default();
        (status, json)
    }

    /// While the model loads (and after it failed to), every route that needs it answers
    /// 503 in its API's envelope, and /health says why; nothing waits or hangs.
    #[tokio::test]
    async fn the_loading_phase_answers_503_with_the_envelope() {
        let state = Arc::new(AppState::new("m".into(), None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(axum::serve(listener, app(state.clone())).into_future());

        let (status, body) = call(addr, "GET", "/health", "").await;
        assert_eq!(status, 503, "{body}");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains("loading"), "{body}");
        let chat = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
        for (method, path, body) in [
            ("POST", "/v1/chat/completions", chat),
            ("POST", "/v1/completions", r#"{"prompt":"hi"}"#),
            ("POST", "/v1/embeddings", r#"{"input":"hi"}"#),
            ("POST", "/tokenize", r#"{"content":"hi"}"#),
        ] {
            let (status, v) = call(addr, method, path, body).await;
            assert_eq!(status, 503, "{path}: {v}");
            assert_eq!(v["error"]["type"], "service_unavailable", "{path}: {v}");
            assert!(v["error"]["message"].as_str().unwrap_or_default().contains("loading"), "{path}: {v}");
        }
        let msgs = r#"{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}"#;
        let (status, v) = call(addr, "POST", "/v1/messages", msgs).await;
        assert_eq!((status, v["type"].as_str()), (503, Some("error")), "{v}");
        assert_eq!(v["error"]["type"], "overloaded_error", "{v}");

        state.fail_load("truncated file".into());
        let (status, v) = call(addr, "POST", "/v1/chat/completions", chat).await;
        assert_eq!(status, 503, "{v}");
        assert!(v["error"]["message"].as_str().unwrap_or_default().contains("failed to load: truncated file"), "{v}");
        let (status, v) = call(addr, "GET", "/health", "").await;
        assert_eq!(status, 503, "{v}");
    }

    /// With --api-key, a missing or wrong key is a 401 in the route's own envelope
    /// (Anthropic's on /v1/messages, which also takes the key as `x-api-key`).
    #[tokio::test]
    async fn a_wrong_key_is_refused_in_each_apis_envelope() {
        let state = Arc::new(AppState::new("m".into(), Some("sekret".into())));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(axum::serve(listener, app(state)).into_future());
        let msgs = r#"{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}"#;

        let (status, v) = call_with(addr, "POST", "/v1/messages", "x-api-key: nope\r\n", msgs).await;
        assert_eq!((status, v["type"].as_str()), (401, Some("error")), "{v}");
        assert_eq!(v["error"]["type"], "authentication_error", "{v}");
        let (status, v) = call(addr, "POST", "/v1/chat/completions", r#"{"messages":[]}"#).await;
        assert_eq!(status, 401, "{v}");
        assert_eq!(v["error"]["type"], "authentication_error", "{v}");
        assert!(v.get("type").is_none(), "OpenAI's envelope: {v}");
        // The right key passes the check (and meets the loading model).
        let (status, v) = call_with(addr, "POST", "/v1/messages", "x-api-key: sekret\r\n", msgs).await;
        assert_eq!((status, v["error"]["type"].as_str()), (503, Some("overloaded_error")), "{v}");
    }
}
