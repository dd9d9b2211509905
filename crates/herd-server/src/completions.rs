//! `POST /v1/completions`: raw prompts (a string, token ids, or a list of either) with
//! `echo` and the legacy `logprobs` object (tokens, token_logprobs, top_logprobs,
//! text_offset), which log-likelihood evaluation reads.

use crate::chat::{fingerprint, now, parse_body, random_id, response_format, send};
use crate::error::ApiError;
use crate::seq::{Plan, SamplingFields, max_tokens, submit};
use crate::{Loaded, Shared};
use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use herd_engine::FinishReason;
use herd_engine::TokenLogprob;
use herd_engine::scheduler::{OutputConstraint, SeqEvent, SeqSummary};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    Text(String),
    Ids(Vec<u32>),
    Texts(Vec<String>),
    IdLists(Vec<Vec<u32>>),
}

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    #[serde(default)]
    pub model: Option<String>,
    pub prompt: PromptField,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub stream_options: Option<crate::chat::StreamOptions>,
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub echo: bool,
    #[serde(default)]
    pub logprobs: Option<usize>,
    #[serde(default)]
    pub suffix: Option<String>,
    #[serde(default)]
    pub response_format: Option<Value>,
    #[serde(flatten)]
    pub sampling: SamplingFields,
}

/// OpenAI's default for completions.
const DEFAULT_MAX_TOKENS: usize = 16;

fn prompts(l: &Loaded, p: &PromptField) -> Result<Vec<Vec<u32>>, ApiError> {
    let encode = |t: &str| herd_engine::prompt::raw_prompt(&l.tokenizer, t).ids;
    let check = |ids: &Vec<u32>| {
        if ids.is_empty() {
            return Err(ApiError::param("prompt", "the prompt is empty"));
        }
        match ids.iter().find(|&&i| i as usize >= l.vocab_size) {
            Some(i) => {
                Err(ApiError::param("prompt", format!("token id {i} is outside the vocabulary of {}", l.vocab_size)))
            }
            None => Ok(()),
        }
    };
    let out: Vec<Vec<u32>> = match p {
        PromptField::Text(t) => vec![encode(t)],
        PromptField::Ids(ids) => vec![ids.clone()],
        PromptField::Texts(ts) => ts.iter().map(|t| encode(t)).collect(),
        PromptField::IdLists(v) => v.clone(),
    };
    if out.is_empty() || out.len() > crate::seq::MAX_N {
        return Err(ApiError::param("prompt", format!("between 1 and {} prompts per request", crate::seq::MAX_N)));
    }
    out.iter().try_for_each(check)?;
    Ok(out)
}

pub async fn handler(State(st): State<Shared>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let req: CompletionRequest = parse_body(&body)?;
    st.check_model(req.model.as_deref())?;
    if req.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::param("suffix", "suffix (fill-in-the-middle) is not supported by this server"));
    }
    let l = st.loaded()?;
    let n = req.sampling.n()?;
    let top = req.logprobs.unwrap_or(0);
    if top > 20 {
        return Err(ApiError::param("logprobs", format!("logprobs must be between 0 and 20, got {top}")));
    }
    let sampling = req.sampling.params()?;
    let constraint = match &req.response_format {
        Some(rf) => response_format(rf)?,
        None => None,
    };
    let mut plans = Vec::new();
    for ids in prompts(&l, &req.prompt)? {
        let c = constraint.clone();
        plans.push((
            Plan {
                prompt: ids,
                sampling,
                max_tokens: max_tokens(req.max_tokens, Some(DEFAULT_MAX_TOKENS), true)?,
                stop_strings: req.sampling.stops()?,
                stop_tokens: req.sampling.stop_tokens(&l),
                logprobs: req.logprobs,
                prompt_logprobs: if req.echo { req.logprobs } else { None },
                logit_bias: req.sampling.bias(l.vocab_size)?,
                constraint: c.map(|c| {
                    Box::new(move || Box::new(c.start()) as Box<dyn OutputConstraint>)
                        as Box<dyn Fn() -> Box<dyn OutputConstraint> + Send + Sync>
                }),
            },
            n,
        ));
    }
    let prompts: Vec<Vec<u32>> = plans.iter().map(|(p, _)| p.prompt.clone()).collect();
    let echo = if req.echo { prompts.iter().map(|p| l.tokenizer.decode(p)).collect() } else { Vec::new() };
    let rx = submit(&st, &l, &plans).map_err(|mut e| {
        if e.code == Some("context_length_exceeded") {
            e.param = Some("prompt".into());
        }
        e
    })?;
    let ctx = Ctx {
        l: l.clone(),
        st: st.clone(),
        id: format!("cmpl-{}", random_id()),
        n,
        prompts,
        echo,
        logprobs: req.logprobs,
    };
    if req.stream {
        let usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);
        Ok(crate::seq::sse(move |tx| stream(ctx, rx, tx, usage)))
    } else {
        Ok(axum::Json(collect(ctx, rx).await?).into_response())
    }
}

struct Ctx {
    st: Shared,
    l: Arc<Loaded>,
    id: String,
    /// Choices per prompt.
    n: usize,
    prompts: Vec<Vec<u32>>,
    /// The prompts' text for `echo`, decoded once (empty without echo).
    echo: Vec<String>,
    logprobs: Option<usize>,
}

#[derive(Default)]
struct Choice {
    text: String,
    ids: Vec<u32>,
    lps: Vec<TokenLogprob>,
    prompt_lps: Vec<Option<TokenLogprob>>,
    summary: Option<SeqSummary>,
}

/// The legacy logprobs object over (token id, its logprob entry) pairs; offsets count
/// bytes of the returned text from `start`.
fn logprobs_object(l: &Loaded, items: &[(u32, Option<&TokenLogprob>)], start: usize) -> Value {
    let piece = |id: u32| String::from_utf8_lossy(l.tokenizer.token_bytes(id)).into_owned();
    let (mut tokens, mut lps, mut tops, mut offsets) = (vec![], vec![], vec![], vec![]);
    let mut at = start;
    for (id, lp) in items {
        let t = piece(*id);
        offsets.push(at);
        at += t.len();
        tokens.push(t);
        lps.push(lp.map(|x| json!(x.logprob)).unwrap_or(Value::Null));
        tops.push(match lp {
            Some(x) => {
                let mut m = Map::new();
                for t in &x.top {
                    m.insert(piece(t.id), json!(t.logprob));
                }
                Value::Object(m)
            }
            None => Value::Null,
        });
    }
    json!({"tokens": tokens, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offsets})
}

fn finish(s: Option<SeqSummary>) -> &'static str {
    match s.map(|s| s.finish_reason) {
        Some(FinishReason::Stop) => "stop",
        _ => "length",
    }
}

fn apply(c: &mut Choice, ev: SeqEvent) -> Result<(), ApiError> {
    match ev {
        SeqEvent::Token { id, text, logprob } => {
            c.text.push_str(&text);
            if id != u32::MAX {
                c.ids.push(id);
            }
            c.lps.extend(logprob);
        }
        SeqEvent::PromptLogprobs(lp) => c.prompt_lps = lp,
        SeqEvent::Done(s) => c.summary = Some(s),
        SeqEvent::Error(e) => return Err(ApiError::internal(e)),
        SeqEvent::Started { .. } | SeqEvent::Embedding(_) => {}
    }
    Ok(())
}

fn usage(ctx: &Ctx, choices: &[Choice]) -> Value {
    let prompt: usize = ctx.prompts.iter().map(Vec::len).sum();
    let completion: usize = choices.iter().filter_map(|c| c.summary).map(|s| s.completion_tokens).sum();
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}

fn record(ctx: &Ctx, choices: &[Choice]) {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &ctx.st.metrics;
    m.prompt_tokens.fetch_add(ctx.prompts.iter().map(Vec::len).sum::<usize>() as u64, Relaxed);
    let completion: usize = choices.iter().filter_map(|c| c.summary).map(|s| s.completion_tokens).sum();
    m.completion_tokens.fetch_add(completion as u64, Relaxed);
}

async fn collect(ctx: Ctx, mut rx: UnboundedReceiver<(usize, SeqEvent)>) -> Result<Value, ApiError> {
    let total = ctx.prompts.len() * ctx.n;
    let mut choices: Vec<Choice> = (0..total).map(|_| Choice::default()).collect();
    while let Some((i, ev)) = rx.recv().await {
        if let Err(e) = apply(&mut choices[i], ev) {
            ctx.st.metrics.requests_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(e);
        }
        if choices.iter().all(|c| c.summary.is_some()) {
            break;
        }
    }
    record(&ctx, &choices);
    let out: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let prompt = &ctx.prompts[i / ctx.n];
            let mut text = String::new();
            let mut items: Vec<(u32, Option<&TokenLogprob>)> = Vec::new();
            if let Some(e) = ctx.echo.get(i / ctx.n) {
                text = e.clone();
                items.extend(
                    prompt.iter().enumerate().map(|(k, &id)| (id, c.prompt_lps.get(k).and_then(Option::as_ref))),
                );
            }
            text.push_str(&c.text);
            items.extend(c.ids.iter().zip(&c.lps).map(|(&id, lp)| (id, Some(lp))));
            json!({
                "index": i,
                "text": text,
                "logprobs": if ctx.logprobs.is_some() { logprobs_object(&ctx.l, &items, 0) } else { Value::Null },
                "finish_reason": finish(c.summary),
            })
        })
        .collect();
    Ok(json!({
        "id": ctx.id, "object": "text_completion", "created": now(), "model": ctx.st.model_id,
        "system_fingerprint": fingerprint(), "choices": out, "usage": usage(&ctx, &choices),
    }))
}

use crate::seq::Out;

async fn stream(ctx: Ctx, mut rx: UnboundedReceiver<(usize, SeqEvent)>, tx: Out, with_usage: bool) {
    let total = ctx.prompts.len() * ctx.n;
    let mut choices: Vec<Choice> = (0..total).map(|_| Choice::default()).collect();
    let created = now();
    let chunk = |i: usize, text: String, lp: Value, finish: Option<&str>| {
        json!({
            "id": ctx.id, "object": "text_completion", "created": created, "model": ctx.st.model_id,
            "system_fingerprint": fingerprint(),
            "choices": [{"index": i, "text": text, "logprobs": lp, "finish_reason": finish}],
        })
    };
    let mut open = total;
    while let Some((i, ev)) = rx.recv().await {
        let before = (choices[i].text.len(), choices[i].ids.len());
        // The echoed prompt goes out once its log-probabilities are known (when asked
        // for), else as soon as the sequence starts.
        let echo_now = !ctx.echo.is_empty()
            && match ev {
                SeqEvent::Started { .. } => ctx.logprobs.is_none(),
                SeqEvent::PromptLogprobs(_) => true,
                _ => false,
            };
        if let Err(e) = apply(&mut choices[i], ev) {
            let _ = send(&tx, &e.body()).await;
            return;
        }
        let c = &choices[i];
        let prompt = &ctx.prompts[i / ctx.n];
        let echo_len = ctx.echo.get(i / ctx.n).map_or(0, String::len);
        if echo_now {
            let lp = if ctx.logprobs.is_some() {
                let items: Vec<(u32, Option<&TokenLogprob>)> = prompt
                    .iter()
                    .enumerate()
                    .map(|(k, &id)| (id, c.prompt_lps.get(k).and_then(Option::as_ref)))
                    .collect();
                logprobs_object(&ctx.l, &items, 0)
            } else {
                Value::Null
            };
            if !send(&tx, &chunk(i, ctx.echo[i / ctx.n].clone(), lp, None)).await {
                return;
            }
        }
        if c.text.len() > before.0 {
            let items: Vec<(u32, Option<&TokenLogprob>)> = c.ids[before.1..]
                .iter()
                .zip(&c.lps[before.1.min(c.lps.len())..])
                .map(|(&id, lp)| (id, Some(lp)))
                .collect();
            // Offsets count from the start of the whole text, the echoed prompt included.
            let lp =
                if ctx.logprobs.is_some() { logprobs_object(&ctx.l, &items, echo_len + before.0) } else { Value::Null };
            if !send(&tx, &chunk(i, c.text[before.0..].to_string(), lp, None)).await {
                return;
            }
        }
        if c.summary.is_some() {
            if !send(&tx, &chunk(i, String::new(), Value::Null, Some(finish(c.summary)))).await {
                return;
            }
            open -= 1;
            if open == 0 {
                break;
            }
        }
    }
    record(&ctx, &choices);
    if with_usage {
        let v = json!({
            "id": ctx.id, "object": "text_completion", "created": created, "model": ctx.st.model_id,
            "choices": [], "usage": usage(&ctx, &choices),
        });
        if !send(&tx, &v).await {
            return;
        }
    }
    let _ = tx.send(Ok(Event::default().data("[DONE]"))).await;
}
