//! The generation loop for one sequence: prefill in chunks, then decode token by
//! token through the sampler, stop rules and the streaming detokenizer. The KV cache
//! keeps the previous prompt, so a chat turn only prefills what is new.

use crate::EngineError;
use crate::sampler::{Sampler, SamplingParams};
use crate::stop::TextOut;
use herd_llama::loader::ModelFiles;
use herd_llama::model::{Batch, KvCache, Model, Scratch};
use herd_llama::tokenizer::Tokenizer;
use herd_tensor::ops::log_softmax;
use serde::Serialize;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

/// Rows per prefill forward.
pub const PREFILL_CHUNK: usize = 256;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: Vec<u32>,
    pub sampling: SamplingParams,
    /// Stop after this many generated tokens (`None`: until the context is full).
    pub max_tokens: Option<usize>,
    pub stop_strings: Vec<String>,
    /// Token ids that end generation (not emitted as text).
    pub stop_tokens: Vec<u32>,
    /// How many top log-probabilities to report per generated token (0: none).
    pub logprobs: usize,
}

/// A log-probability entry of the full distribution (log-softmax of the logits,
/// before any sampling transform).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopLogprob {
    pub id: u32,
    pub logprob: f32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f32,
    pub top: Vec<TopLogprob>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// A stop token or stop string.
    Stop,
    /// max_tokens or the context size.
    Length,
    /// The caller asked to stop (Ctrl-C).
    Interrupted,
}

/// Streamed to the caller as tokens arrive.
#[derive(Debug)]
pub enum GenEvent<'a> {
    Token { id: u32, text: &'a str },
}

/// The result of one `generate` call.
#[derive(Debug, Clone)]
pub struct Generation {
    pub ids: Vec<u32>,
    pub text: String,
    pub logprobs: Vec<TokenLogprob>,
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    pub reused_tokens: usize,
    pub prefill_time: Duration,
    pub decode_time: Duration,
}

/// One model, one KV sequence, and the buffers to run them.
#[derive(Debug)]
pub struct Generator {
    pub model: Model,
    pub tokenizer: Tokenizer,
    kv: KvCache,
    scratch: Scratch,
    /// Buffers for `score`, whose batches want logits on every row; made on first
    /// use (they hold `PREFILL_CHUNK` rows of vocabulary-sized logits) and kept.
    score_scratch: Option<Scratch>,
    batch: Batch,
    /// Tokens whose K/V are in the cache, in order from position 0.
    cached: Vec<u32>,
    logits: Vec<f32>,
}

pub(crate) fn top_n(lp: &[f32], n: usize) -> Vec<TopLogprob> {
    let mut idx: Vec<u32> = (0..lp.len() as u32).collect();
    let n = n.min(idx.len());
    if n == 0 {
        return Vec::new();
    }
    let cmp = |a: &u32, b: &u32| lp[*b as usize].total_cmp(&lp[*a as usize]).then(a.cmp(b));
    idx.select_nth_unstable_by(n - 1, cmp);
    idx.truncate(n);
    idx.sort_by(cmp);
    idx.into_iter().map(|id| TopLogprob { id, logprob: lp[id as usize] }).collect()
}

impl Generator {
    /// `n_ctx`: the context size to allocate the KV cache for.
    pub fn new(files: &ModelFiles, n_ctx: usize, threads: usize) -> Result<Self, EngineError> {
        let model = Model::from_files(files, threads);
        if n_ctx == 0 {
            return Err(EngineError::Request("context size must be at least 1".into()));
        }
        let kv = KvCache::new(&model.config, n_ctx, 1)?;
        let scratch = Scratch::new(&model.config, PREFILL_CHUNK, 1);
        Ok(Generator {
            tokenizer: files.tokenizer.clone(),
            logits: vec![0.0; model.config.vocab_size],
            model,
            kv,
            scratch,
            score_scratch: None,
            batch: Batch::default(),
            cached: Vec::new(),
        })
    }

    pub fn n_ctx(&self) -> usize {
        self.kv.n_ctx()
    }

    /// Forgets the cached prefix (the next prompt is prefilled from scratch).
    pub fn reset(&mut self) {
        self.cached.clear();
    }

    /// `herd bench`'s prompt test: `tokens` prefilled in chunks, logits for the last row
    /// (as llama-bench's pp test), after `depth` is fed untimed into an empty cache.
    pub fn time_prefill(&mut self, depth: &[u32], tokens: &[u32]) -> Result<Duration, EngineError> {
        self.reset();
        self.feed(depth)?;
        let t = Instant::now();
        self.feed(tokens)?;
        Ok(t.elapsed())
    }

    /// `herd bench`'s generation test: `tokens` decoded one forward pass each, every one
    /// computing the full logits row (as llama-bench's tg test, which feeds tokens it
    /// picks rather than sampled ones), after `depth` is fed untimed into an empty cache.
    pub fn time_decode(&mut self, depth: &[u32], tokens: &[u32]) -> Result<Duration, EngineError> {
        self.reset();
        self.feed(depth)?;
        let t = Instant::now();
        for &tok in tokens {
            self.feed(std::slice::from_ref(&tok))?;
        }
        Ok(t.elapsed())
    }

    /// Feeds `tokens` after the cached prefix; leaves the last row's logits in
    /// `self.logits`.
    fn feed(&mut self, tokens: &[u32]) -> Result<(), EngineError> {
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            self.batch.clear();
            let start = self.cached.len();
            for (i, &t) in chunk.iter().enumerate() {
                self.batch.push(t, start + i, 0, i + 1 == chunk.len());
            }
            let out = self.model.forward(&self.batch, &mut self.kv, &mut self.scratch)?;
            self.logits.copy_from_slice(out);
            self.cached.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Generates from `req.prompt`, calling `on_event` for every token; return
    /// `ControlFlow::Break` from it to stop (finish reason `Interrupted`).
    pub fn generate(
        &mut self,
        req: &GenerateRequest,
        mut on_event: impl FnMut(GenEvent<'_>) -> ControlFlow<()>,
    ) -> Result<Generation, EngineError> {
        req.sampling.validate().map_err(EngineError::Request)?;
        let n_ctx = self.n_ctx();
        if req.prompt.is_empty() {
            return Err(EngineError::Request("the prompt is empty (no tokens to start from)".into()));
        }
        if req.prompt.len() >= n_ctx {
            return Err(EngineError::Request(format!(
                "the prompt has {} tokens but the context holds {n_ctx}; shorten it or raise --ctx",
                req.prompt.len()
            )));
        }
        let t0 = Instant::now();
        // Reuse the cached prefix, but always recompute at least the last prompt
        // token so that fresh logits exist.
        let common = self.cached.iter().zip(&req.prompt).take_while(|(a, b)| a == b).count();
        let reuse = common.min(req.prompt.len() - 1);
        self.cached.truncate(reuse);
        self.feed(&req.prompt[reuse..])?;
        let prefill_time = t0.elapsed();
        let t1 = Instant::now();
        let mut sampler = Sampler::new(req.sampling);
        let mut history = req.prompt.clone();
        let mut text = TextOut::new(req.stop_strings.clone());
        let mut out = Generation {
            ids: Vec::new(),
            text: String::new(),
            logprobs: Vec::new(),
            finish_reason: FinishReason::Length,
            prompt_tokens: req.prompt.len(),
            reused_tokens: reuse,
            prefill_time,
            decode_time: Duration::ZERO,
        };
        let max = req.max_tokens.unwrap_or(usize::MAX);
        while out.ids.len() < max {
            let lp = (req.logprobs > 0).then(|| log_softmax(&self.logits));
            let id = sampler.sample(&mut self.logits, &history);
            if let Some(lp) = lp {
                out.logprobs.push(TokenLogprob { id, logprob: lp[id as usize], top: top_n(&lp, req.logprobs) });
            }
            out.ids.push(id);
            history.push(id);
            if req.stop_tokens.contains(&id) {
                out.finish_reason = FinishReason::Stop;
                break;
            }
            let (emit, stop) = text.push(self.tokenizer.token_bytes(id));
            out.text.push_str(&emit);
            let flow = on_event(GenEvent::Token { id, text: &emit });
            if stop {
                out.finish_reason = FinishReason::Stop;
                break;
            }
            if flow.is_break() {
                out.finish_reason = FinishReason::Interrupted;
                break;
            }
            if out.ids.len() >= max || self.cached.len() + 1 >= n_ctx {
                break;
            }
            self.feed(&[id])?;
        }
        if out.finish_reason != FinishReason::Stop {
            let rest = text.finish();
            if !rest.is_empty() {
                out.text.push_str(&rest);
                let _ = on_event(GenEvent::Token { id: u32::MAX, text: &rest });
            }
        }
        out.decode_time = t1.elapsed();
        Ok(out)
    }

    /// Log-likelihood scoring for perplexity: runs `tokens` from position 0 in a fresh
    /// cache and calls `on_logits(i, logits_i)` for every position `i >= first`.
    pub fn score(
        &mut self,
        tokens: &[u32],
        first: usize,
        mut on_logits: impl FnMut(usize, &[f32]),
    ) -> Result<(), EngineError> {
        if tokens.len() > self.n_ctx() {
            return Err(EngineError::Request(format!(
                "{} tokens do not fit the context of {}",
                tokens.len(),
                self.n_ctx()
            )));
        }
        let vocab = self.model.config.vocab_size;
        let config = &self.model.config;
        let scratch = self.score_scratch.get_or_insert_with(|| Scratch::new(config, PREFILL_CHUNK, PREFILL_CHUNK));
        self.cached.clear();
        for (c, chunk) in tokens.chunks(PREFILL_CHUNK).enumerate() {
            self.batch.clear();
            let start = c * PREFILL_CHUNK;
            for (i, &t) in chunk.iter().enumerate() {
                self.batch.push(t, start + i, 0, start + i >= first);
            }
            let out = self.model.forward(&self.batch, &mut self.kv, scratch)?;
            let mut m = 0;
            for i in 0..chunk.len() {
                if start + i >= first {
                    on_logits(start + i, &out[m * vocab..(m + 1) * vocab]);
                    m += 1;
                }
            }
        }
        self.cached.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herd_llama::loader::load;

    /// `herd bench -d`: the depth is in the cache before the timed tokens run, so the
    /// last row's logits are those of the whole sequence fed at once (a batch never
    /// changes a row's bits), and a decode test ends with depth and tokens cached.
    #[test]
    fn bench_depth_is_fed_before_the_timed_tokens() {
        let files = load(&herd_llama::testdata::require("tiny_llama31/model.gguf")).expect("the tiny model loads");
        let mut g = Generator::new(&files, 64, 1).expect("generator");
        let (depth, tokens) = ([5u32, 6, 7, 8], [9u32, 10, 11]);
        let all = [depth.as_slice(), &tokens].concat();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        g.time_prefill(&depth, &tokens).expect("prefill after the depth");
        assert_eq!(g.cached, all);
        let after_depth = bits(&g.logits);
        g.time_prefill(&[], &all).expect("prefill of the whole sequence");
        assert_eq!(after_depth, bits(&g.logits));
        g.time_prefill(&[], &tokens).expect("prefill without the depth");
        assert_ne!(after_depth, bits(&g.logits), "the depth changes the context");
        g.time_decode(&depth, &tokens).expect("decode after the depth");
        assert_eq!(g.cached, all);
    }
}
