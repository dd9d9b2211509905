//! Where evaluation requests go: the in-process engine, or any OpenAI-compatible server.
//! Both take the same two kinds of request, so a task runs unchanged on either, and on
//! herd both give the same numbers (the same prompt ids, greedy decoding that does not
//! depend on the batch, the same prompt log-probabilities).

use crate::LabError;
use herd_engine::prompt::{Formatter, raw_prompt};
use herd_engine::scheduler::{EngineHandle, EventSink, SeqEvent, SeqRequest};
use herd_engine::{FinishReason, SamplingParams};
use herd_llama::dialog::ToolOffer;
use herd_llama::llama31::Llama31Message;
use herd_llama::tokenizer::Tokenizer;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

/// A chat message of a task's prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Msg {
    pub role: String,
    pub content: String,
}

impl Msg {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Msg { role: role.into(), content: content.into() }
    }
}

/// Greedy generation from a chat prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GenRequest {
    pub messages: Vec<Msg>,
    pub max_tokens: usize,
    pub stop: Vec<String>,
}

/// Sampling instead of greedy decoding, for pass@k with several samples per problem
/// (`--samples`, `--temperature`); sample `i` of a run seeded `s` uses seed `s + i`, so
/// a sampled run is reproducible on a backend that honours seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sampling {
    pub temperature: f64,
    pub top_p: f64,
    pub seed: u64,
}

/// The log-probability of `continuation` after `context` (raw text, no chat format).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoglikRequest {
    pub context: String,
    pub continuation: String,
}

/// What a backend returns for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Response {
    Text { text: String, finish_reason: String },
    Loglik { logprob: f64, tokens: usize },
}

/// What long-context tasks need to fit a document into the model: its tokenizer and
/// context length (the benchmarks cut documents by tokens, not characters).
pub trait ModelLimits: Sync {
    /// The ids of `text` as plain text (no BOS, special-token text not special).
    fn encode(&self, text: &str) -> Result<Vec<u32>, LabError>;
    /// The text of `ids` (bytes cut inside a character become U+FFFD, as Hugging Face's
    /// and tiktoken's `decode` make them).
    fn decode(&self, ids: &[u32]) -> Result<String, LabError>;
    /// Tokens the model attends to, prompt and generation together.
    fn context_len(&self) -> usize;
    /// Ids of [`ModelLimits::encode`] per real token: 1 for a tokenizer, more for an
    /// estimate whose ids are characters.
    fn ids_per_token(&self) -> usize {
        1
    }
}

/// Something that answers evaluation requests. `id` names it in the response cache, so
/// a cached answer is only reused for the same model behind the same kind of backend.
pub trait Backend: Sync {
    fn id(&self) -> String;
    /// Greedy when `sampling` is `None`.
    fn generate(&self, r: &GenRequest, sampling: Option<&Sampling>) -> Result<Response, LabError>;
    fn loglikelihood(&self, r: &LoglikRequest) -> Result<Response, LabError>;
    /// The model's tokenizer and context, where the backend can lend them.
    fn limits(&self) -> Option<&dyn ModelLimits> {
        None
    }
}

fn err(msg: impl Into<String>) -> LabError {
    LabError::Backend(msg.into())
}

/// Sums the log-probabilities of the prompt's last tokens that spell `continuation`
/// (walking back from the end until their bytes cover it): the split does not depend
/// on where a BOS or the context's last token ends, only on the continuation's length.
fn continuation_logprob(pieces: &[(Vec<u8>, Option<f64>)], continuation: &str) -> Result<(f64, usize), LabError> {
    let (mut bytes, mut sum, mut n) = (0, 0.0, 0);
    for (piece, lp) in pieces.iter().rev() {
        if bytes >= continuation.len() {
            break;
        }
        bytes += piece.len();
        sum +=
            lp.ok_or_else(|| err("the continuation reaches the first prompt token, which has no log-probability"))?;
        n += 1;
    }
    if n == 0 {
        return Err(err("empty continuation"));
    }
    Ok((sum, n))
}

// ---------------------------------------------------------------------------------------
// In process

/// The engine in this process (herd's batching scheduler), fed by the runner's threads.
#[derive(Debug)]
pub struct InProcess {
    pub engine: EngineHandle,
    pub tokenizer: Tokenizer,
    pub formatter: Formatter,
    pub model_id: String,
}

impl ModelLimits for InProcess {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LabError> {
        Ok(self.tokenizer.encode(text, false))
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LabError> {
        Ok(self.tokenizer.decode(ids))
    }
    fn context_len(&self) -> usize {
        self.engine.config().n_ctx
    }
}

struct Sink(Sender<SeqEvent>);

impl EventSink for Sink {
    fn send(&mut self, ev: SeqEvent) -> bool {
        self.0.send(ev).is_ok()
    }
    fn is_closed(&self) -> bool {
        false
    }
}

impl InProcess {
    fn run(&self, req: SeqRequest) -> Result<(String, Vec<Option<f64>>, FinishReason), LabError> {
        let (tx, rx) = channel();
        self.engine.submit(req, Box::new(Sink(tx))).map_err(|e| err(e.to_string()))?;
        let (mut text, mut lps) = (String::new(), Vec::new());
        loop {
            match rx.recv().map_err(|_| err("the engine stopped"))? {
                SeqEvent::Token { text: t, .. } => text.push_str(&t),
                SeqEvent::PromptLogprobs(v) => lps = v.into_iter().map(|x| x.map(|t| f64::from(t.logprob))).collect(),
                SeqEvent::Done(s) => return Ok((text, lps, s.finish_reason)),
                SeqEvent::Error(e) => return Err(err(e)),
                SeqEvent::Started { .. } | SeqEvent::Embedding(_) => {}
            }
        }
    }

    fn greedy(prompt: Vec<u32>) -> SeqRequest {
        SeqRequest::new(prompt, SamplingParams { temperature: 0.0, ..Default::default() })
    }
}

impl Backend for InProcess {
    fn id(&self) -> String {
        format!("herd:{}", self.model_id)
    }

    fn limits(&self) -> Option<&dyn ModelLimits> {
        Some(self)
    }

    fn generate(&self, r: &GenRequest, sampling: Option<&Sampling>) -> Result<Response, LabError> {
        let msgs: Vec<Llama31Message> = r
            .messages
            .iter()
            .map(|m| Llama31Message {
                role: m.role.clone(),
                content: m.content.clone(),
                context: None,
                tool_calls: Vec::new(),
                stop_reason: (m.role == "assistant").then(|| "end_of_turn".into()),
            })
            .collect();
        let offer = ToolOffer::default();
        let prompt = self.formatter.render(&self.tokenizer, &msgs, &offer).map_err(|e| err(e.to_string()))?;
        let mut req = match sampling {
            None => Self::greedy(prompt.ids),
            Some(s) => SeqRequest::new(
                prompt.ids,
                SamplingParams {
                    temperature: s.temperature as f32,
                    top_p: s.top_p as f32,
                    seed: s.seed,
                    ..Default::default()
                },
            ),
        };
        req.max_tokens = Some(r.max_tokens);
        req.stop_strings = r.stop.clone();
        req.stop_tokens = self.tokenizer.stop_ids();
        let (text, _, fin) = self.run(req)?;
        Ok(Response::Text { text, finish_reason: finish(fin).into() })
    }

    fn loglikelihood(&self, r: &LoglikRequest) -> Result<Response, LabError> {
        let ids = raw_prompt(&self.tokenizer, &format!("{}{}", r.context, r.continuation)).ids;
        let mut req = Self::greedy(ids.clone());
        req.max_tokens = Some(0);
        req.prompt_logprobs = Some(0);
        let (_, lps, _) = self.run(req)?;
        let pieces: Vec<(Vec<u8>, Option<f64>)> = ids
            .iter()
            .zip(lps.iter().copied().chain(std::iter::repeat(None)))
            .map(|(&id, lp)| (self.tokenizer.token_bytes(id).to_vec(), lp))
            .collect();
        let (logprob, tokens) = continuation_logprob(&pieces, &r.continuation)?;
        Ok(Response::Loglik { logprob, tokens })
    }
}

fn finish(f: FinishReason) -> &'static str {
    match f {
        FinishReason::Stop => "stop",
        _ => "length",
    }
}

// ---------------------------------------------------------------------------------------
// Over HTTP

/// Any OpenAI-compatible server: chat completions for generation, completions with
/// `echo` and `logprobs` for log-likelihoods (as lm-eval's API models do).
#[derive(Debug)]
pub struct Endpoint {
    /// The OpenAI base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    /// The model to name; the server's first model when `None`.
    pub model: String,
    agent: ureq::Agent,
    /// The server's context length, when it offers vLLM's and herd's `/tokenize` (with
    /// `max_model_len`) and `/detokenize` beside `/v1`; then long-context tasks cut
    /// documents with the server's own tokenizer.
    context: Option<usize>,
}

impl Endpoint {
    /// Connects and asks `/models` for the model id when none is given.
    pub fn new(base_url: &str, api_key: Option<String>, model: Option<String>) -> Result<Self, LabError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(1800)))
            .http_status_as_error(false)
            .build()
            .into();
        let mut e = Endpoint {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            model: String::new(),
            agent,
            context: None,
        };
        e.model = match model {
            Some(m) => m,
            None => {
                let v = e.call("GET", "models", None)?;
                v.pointer("/data/0/id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| err(format!("{}/models lists no model; pass --served-model", e.base_url)))?
                    .to_string()
            }
        };
        e.context =
            e.tokenize("a").ok().and_then(|v| v.get("max_model_len").and_then(Value::as_u64)).map(|n| n as usize);
        Ok(e)
    }

    /// The server root: `/tokenize` sits beside `/v1`, not under it.
    fn root(&self) -> &str {
        self.base_url.strip_suffix("/v1").unwrap_or(&self.base_url)
    }

    fn tokenize(&self, text: &str) -> Result<Value, LabError> {
        // herd reads `add_special`, vLLM `add_special_tokens`: plain text, no BOS.
        let body = json!({"model": self.model, "prompt": text, "add_special": false, "add_special_tokens": false});
        self.call_url("POST", &format!("{}/tokenize", self.root()), Some(&body))
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, LabError> {
        self.call_url(method, &format!("{}/{path}", self.base_url), body)
    }

    fn call_url(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Value, LabError> {
        let url = url.to_string();
        let auth = self.api_key.as_ref().map(|k| format!("Bearer {k}"));
        // Retry busy servers (429/503) with a backoff; other errors are final.
        let mut wait = Duration::from_millis(200);
        for attempt in 0.. {
            let resp = match (method, body) {
                ("GET", _) => {
                    let mut r = self.agent.get(&url);
                    if let Some(a) = &auth {
                        r = r.header("authorization", a);
                    }
                    r.call()
                }
                (_, b) => {
                    let mut r = self.agent.post(&url).header("content-type", "application/json");
                    if let Some(a) = &auth {
                        r = r.header("authorization", a);
                    }
                    r.send(b.map(|v| v.to_string()).unwrap_or_default().as_bytes())
                }
            };
            let mut resp = resp.map_err(|e| err(format!("{url}: {e}")))?;
            let status = resp.status().as_u16();
            let text = resp.body_mut().read_to_string().map_err(|e| err(format!("{url}: reading the answer: {e}")))?;
            if (status == 429 || status == 503) && attempt < 20 {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(10));
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(err(format!("{url}: HTTP {status}: {}", text.chars().take(500).collect::<String>())));
            }
            return serde_json::from_str(&text).map_err(|e| err(format!("{url}: the answer is not JSON: {e}")));
        }
        Err(err(format!("{url}: still busy after 20 retries")))
    }
}

impl ModelLimits for Endpoint {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LabError> {
        let v = self.tokenize(text)?;
        let ids = v.get("tokens").and_then(Value::as_array).ok_or_else(|| err("/tokenize answered no tokens"))?;
        ids.iter()
            .map(|t| t.as_u64().map(|t| t as u32).ok_or_else(|| err("/tokenize answered a token that is not an id")))
            .collect()
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LabError> {
        let v = self.call_url(
            "POST",
            &format!("{}/detokenize", self.root()),
            Some(&json!({"model": self.model, "tokens": ids})),
        )?;
        // vLLM answers `prompt`, llama.cpp `content` (herd both).
        v.get("prompt")
            .or_else(|| v.get("content"))
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| err("/detokenize answered no text"))
    }
    fn context_len(&self) -> usize {
        self.context.unwrap_or(0)
    }
}

impl Backend for Endpoint {
    fn id(&self) -> String {
        format!("endpoint:{}", self.model)
    }

    fn limits(&self) -> Option<&dyn ModelLimits> {
        self.context.is_some().then_some(self as &dyn ModelLimits)
    }

    fn generate(&self, r: &GenRequest, sampling: Option<&Sampling>) -> Result<Response, LabError> {
        let mut body = json!({
            "model": self.model, "messages": r.messages, "max_tokens": r.max_tokens,
            "temperature": 0.0, "seed": 0,
        });
        if let Some(s) = sampling {
            body["temperature"] = json!(s.temperature);
            body["top_p"] = json!(s.top_p);
            body["seed"] = json!(s.seed);
        }
        // OpenAI allows at most 4 stop strings.
        if !r.stop.is_empty() {
            body["stop"] = json!(r.stop.iter().take(4).collect::<Vec<_>>());
        }
        let v = self.call("POST", "chat/completions", Some(&body))?;
        let text = v.pointer("/choices/0/message/content").and_then(Value::as_str).unwrap_or_default().to_string();
        let finish_reason = v.pointer("/choices/0/finish_reason").and_then(Value::as_str).unwrap_or("stop").to_string();
        Ok(Response::Text { text, finish_reason })
    }

    fn loglikelihood(&self, r: &LoglikRequest) -> Result<Response, LabError> {
        // max_tokens 1 (not 0) because some servers refuse 0; the one generated token
        // is dropped by counting prompt tokens from the usage.
        let body = json!({
            "model": self.model, "prompt": format!("{}{}", r.context, r.continuation),
            "max_tokens": 1, "echo": true, "logprobs": 0, "temperature": 0.0,
        });
        let v = self.call("POST", "completions", Some(&body))?;
        let bad = || {
            err(format!(
                "{}/completions: no echo logprobs in the answer (does the server support echo?)",
                self.base_url
            ))
        };
        let tokens = v.pointer("/choices/0/logprobs/tokens").and_then(Value::as_array).ok_or_else(bad)?;
        let lps = v.pointer("/choices/0/logprobs/token_logprobs").and_then(Value::as_array).ok_or_else(bad)?;
        let n_prompt = v.pointer("/usage/prompt_tokens").and_then(Value::as_u64).map_or(tokens.len(), |n| n as usize);
        let pieces: Vec<(Vec<u8>, Option<f64>)> = tokens
            .iter()
            .zip(lps)
            .take(n_prompt)
            // Servers compute f32 log-probabilities; rounding the JSON's decimal back to
            // f32 gives the engine's exact values, so both backends sum the same numbers.
            .map(|(t, lp)| {
                (t.as_str().unwrap_or_default().as_bytes().to_vec(), lp.as_f64().map(|x| f64::from(x as f32)))
            })
            .collect();
        let (logprob, tokens) = continuation_logprob(&pieces, &r.continuation)?;
        Ok(Response::Loglik { logprob, tokens })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_continuation_is_found_from_the_end() {
        let p = |s: &str, lp: Option<f64>| (s.as_bytes().to_vec(), lp);
        let pieces = [p("<s>", None), p("Answer", Some(-1.0)), p(":", Some(-2.0)), p(" B", Some(-0.5))];
        assert_eq!(continuation_logprob(&pieces, " B").ok(), Some((-0.5, 1)));
        assert_eq!(continuation_logprob(&pieces, ": B").ok(), Some((-2.5, 2)));
        assert!(continuation_logprob(&pieces, "<s>Answer: B").is_err());
    }
}
