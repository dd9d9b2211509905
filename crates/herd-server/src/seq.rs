//! From API sampling fields to engine sequences and back: the event sink over a tokio
//! channel, the checks every generation endpoint shares, and submitting `n` sequences
//! whose events arrive tagged with their choice index.

use crate::error::ApiError;
use crate::{AppState, Loaded};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use herd_engine::SamplingParams;
use herd_engine::scheduler::{EventSink, OutputConstraint, SeqEvent, SeqRequest, SubmitError};
use serde::Deserialize;
use std::collections::HashMap;
use std::convert::Infallible;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// Delivers a sequence's events, tagged with its choice index, to the handler; the
/// handler dropping its receiver (client gone) cancels the sequence.
struct ChanSink {
    index: usize,
    tx: UnboundedSender<(usize, SeqEvent)>,
}

impl EventSink for ChanSink {
    fn send(&mut self, ev: SeqEvent) -> bool {
        self.tx.send((self.index, ev)).is_ok()
    }
    fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// `stop`: a string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StopField {
    One(String),
    Many(Vec<String>),
}

/// The sampling fields the OpenAI endpoints share, plus llama.cpp's `top_k`, `min_p`
/// and `repeat_penalty`. Omitted values take herd's defaults (llama.cpp's).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SamplingFields {
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<usize>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub seed: Option<u64>,
    pub stop: Option<StopField>,
    pub logit_bias: Option<HashMap<String, f32>>,
    pub n: Option<usize>,
    /// Keep generating past end-of-sequence (llama.cpp's and vLLM's extension, for
    /// benchmarks that need equal work per request).
    pub ignore_eos: Option<bool>,
}

/// Most choices one request may ask for.
pub const MAX_N: usize = 16;

impl SamplingFields {
    pub fn params(&self) -> Result<SamplingParams, ApiError> {
        let mut p = SamplingParams::default();
        let range = |name: &str, v: Option<f32>, lo: f32, hi: f32| -> Result<Option<f32>, ApiError> {
            match v {
                Some(x) if !(x.is_finite() && (lo..=hi).contains(&x)) => {
                    Err(ApiError::param(name, format!("{name} must be between {lo} and {hi}, got {x}")))
                }
                _ => Ok(v),
            }
        };
        if let Some(t) = range("temperature", self.temperature, 0.0, 2.0)? {
            p.temperature = t;
        }
        if let Some(t) = range("top_p", self.top_p, 0.0, 1.0)? {
            p.top_p = t;
        }
        if let Some(t) = range("min_p", self.min_p, 0.0, 1.0)? {
            p.min_p = t;
        }
        if let Some(t) = range("presence_penalty", self.presence_penalty, -2.0, 2.0)? {
            p.presence_penalty = t;
        }
        if let Some(t) = range("frequency_penalty", self.frequency_penalty, -2.0, 2.0)? {
            p.frequency_penalty = t;
        }
        if let Some(t) = range("repeat_penalty", self.repeat_penalty, 0.01, 10.0)? {
            p.repeat_penalty = t;
        }
        if let Some(k) = self.top_k {
            p.top_k = k;
        }
        p.seed = self.seed.unwrap_or_else(rand::random);
        Ok(p)
    }

    /// The ids that end generation, none with `ignore_eos`.
    pub fn stop_tokens(&self, l: &Loaded) -> Vec<u32> {
        if self.ignore_eos == Some(true) { Vec::new() } else { l.stop_ids.clone() }
    }

    pub fn n(&self) -> Result<usize, ApiError> {
        match self.n.unwrap_or(1) {
            n @ 1..=MAX_N => Ok(n),
            n => Err(ApiError::param("n", format!("n must be between 1 and {MAX_N}, got {n}"))),
        }
    }

    pub fn stops(&self) -> Result<Vec<String>, ApiError> {
        let v = match &self.stop {
            None => Vec::new(),
            Some(StopField::One(s)) => vec![s.clone()],
            Some(StopField::Many(v)) => v.clone(),
        };
        if v.len() > 4 {
            return Err(ApiError::param("stop", format!("at most 4 stop sequences, got {}", v.len())));
        }
        Ok(v.into_iter().filter(|s| !s.is_empty()).collect())
    }

    pub fn bias(&self, vocab: usize) -> Result<Vec<(u32, f32)>, ApiError> {
        let Some(map) = &self.logit_bias else { return Ok(Vec::new()) };
        map.iter()
            .map(|(k, v)| {
                let id: u32 = k
                    .parse()
                    .map_err(|_| ApiError::param("logit_bias", format!("logit_bias key {k:?} is not a token id")))?;
                if id as usize >= vocab {
                    return Err(ApiError::param(
                        "logit_bias",
                        format!("token id {id} is outside the vocabulary of {vocab}"),
                    ));
                }
                if !(v.is_finite() && (-100.0..=100.0).contains(v)) {
                    return Err(ApiError::param("logit_bias", format!("bias {v} must be between -100 and 100")));
                }
                Ok((id, *v))
            })
            .collect()
    }
}

/// `max_tokens` (or `max_completion_tokens`) checked against the context.
pub fn max_tokens(v: Option<i64>, default: Option<usize>, allow_zero: bool) -> Result<Option<usize>, ApiError> {
    match v {
        None => Ok(default),
        Some(m) if m < 0 || (m == 0 && !allow_zero) => {
            Err(ApiError::param("max_tokens", format!("max_tokens must be at least 1, got {m}")))
        }
        Some(m) => Ok(Some(m as usize)),
    }
}

/// What every choice of a request shares; `make` builds the sequence of choice `i`.
pub struct Plan {
    pub prompt: Vec<u32>,
    pub sampling: SamplingParams,
    pub max_tokens: Option<usize>,
    pub stop_strings: Vec<String>,
    pub stop_tokens: Vec<u32>,
    pub logprobs: Option<usize>,
    pub prompt_logprobs: Option<usize>,
    pub logit_bias: Vec<(u32, f32)>,
    pub constraint: Option<Box<dyn Fn() -> Box<dyn OutputConstraint> + Send + Sync>>,
}

impl Plan {
    fn request(&self, i: usize) -> SeqRequest {
        SeqRequest {
            prompt: self.prompt.clone(),
            // Each choice draws its own stream, reproducibly from the request's seed.
            sampling: SamplingParams { seed: self.sampling.seed.wrapping_add(i as u64), ..self.sampling },
            max_tokens: self.max_tokens,
            stop_strings: self.stop_strings.clone(),
            stop_tokens: self.stop_tokens.clone(),
            logprobs: self.logprobs,
            prompt_logprobs: self.prompt_logprobs,
            logit_bias: self.logit_bias.clone(),
            constraint: self.constraint.as_ref().map(|f| f()),
            embed: false,
        }
    }
}

fn refused(e: SubmitError) -> ApiError {
    match e {
        SubmitError::QueueFull(w) => ApiError::queue_full(w),
        SubmitError::Stopped => ApiError::unavailable("the server is shutting down"),
        SubmitError::Invalid(m) => ApiError::invalid(m),
    }
}

/// Submits plan `p` for choices `first..first+n`; their events arrive on the receiver.
/// Fails as a whole (nothing left queued) if any part is refused.
pub fn submit(
    st: &AppState,
    l: &Loaded,
    plans: &[(Plan, usize)],
) -> Result<UnboundedReceiver<(usize, SeqEvent)>, ApiError> {
    let (tx, rx) = unbounded_channel();
    let mut index = 0;
    for (plan, n) in plans {
        if plan.prompt.len() >= l.n_ctx {
            return Err(ApiError::too_long(plan.prompt.len(), l.n_ctx));
        }
        for i in 0..*n {
            let sink = Box::new(ChanSink { index, tx: tx.clone() });
            l.engine.submit(plan.request(i), sink).map_err(refused)?;
            index += 1;
        }
    }
    st.metrics.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(rx)
}

/// The L2-normalized mean final hidden state of `ids` (see `/v1/embeddings`).
pub async fn embed(st: &AppState, l: &Loaded, ids: Vec<u32>) -> Result<Vec<f32>, ApiError> {
    if ids.len() >= l.n_ctx {
        return Err(ApiError::too_long(ids.len(), l.n_ctx));
    }
    if let Some(bad) = ids.iter().find(|&&i| i as usize >= l.vocab_size) {
        return Err(ApiError::param("input", format!("token id {bad} is outside the vocabulary of {}", l.vocab_size)));
    }
    let req = SeqRequest { max_tokens: Some(0), embed: true, ..SeqRequest::new(ids, SamplingParams::default()) };
    let (tx, mut rx) = unbounded_channel();
    l.engine.submit(req, Box::new(ChanSink { index: 0, tx })).map_err(refused)?;
    st.metrics.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    while let Some((_, ev)) = rx.recv().await {
        match ev {
            SeqEvent::Embedding(mut v) => {
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= norm);
                return Ok(v);
            }
            SeqEvent::Error(e) => return Err(ApiError::internal(e)),
            SeqEvent::Done(_) => break,
            _ => {}
        }
    }
    Err(ApiError::unavailable("the engine stopped before the embedding was computed"))
}

/// Where a streaming handler's task writes its SSE events; sending fails once the
/// client is gone.
pub type Out = tokio::sync::mpsc::Sender<Result<Event, Infallible>>;

/// An SSE response fed by `task`, which runs on its own and writes into the channel it
/// is given. Dropping the response (the client left) closes the channel, which ends the
/// task and, through its engine receiver, cancels the sequences.
pub fn sse<F>(task: impl FnOnce(Out) -> F) -> Response
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, out) = tokio::sync::mpsc::channel(64);
    tokio::spawn(task(tx));
    Sse::new(tokio_stream::wrappers::ReceiverStream::new(out)).into_response()
}
