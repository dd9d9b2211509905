//! Continuous batching: one thread owns the model and its KV cache, and every step runs
//! one forward pass over all running sequences.
//!
//! A step holds one decode row for every sequence that is generating, then fills the
//! rest of the batch (up to `PREFILL_CHUNK` rows) with prompt rows of the sequences
//! still prefilling, oldest first, so a long prompt is prefilled in chunks while the
//! running streams keep flowing (vLLM's and llama-server's policy: decode first).
//!
//! A sequence runs in one of `--parallel` slots of up to `--ctx` positions, as in
//! llama-server; its K/V lives in blocks of the cache's shared pool (see `KvCache`).
//! Each slot remembers which tokens its blocks hold; a new request takes the free slot
//! whose cache shares the longest prefix with its prompt, and when another slot holds a
//! longer one, that prefix's blocks are shared instead of recomputed, so a repeated
//! system prompt is held once and costs no prefill.
//!
//! Speculative decoding by prompt lookup (vLLM's n-gram drafter, llama.cpp's lookup
//! decoding): a greedy sequence whose last few tokens occurred earlier in its prompt or
//! output drafts the tokens that followed them there, and one step checks them all:
//! each drafted token gets a row after the sequence's decode row, every row computed
//! as a lone decode row would be (`Batch::push_decode`), so row `j`'s logits are the
//! bits a plain step would give once the tokens before it are accepted. Rows are read
//! in order; a row's token is sampled as usual and the next row counts only if its
//! draft is that token. The output is therefore the plain decoder's, token for token,
//! while a sequence that copies from its context (quoting, code edits, a looping
//! answer) takes several tokens a step.
//!
//! Requests arrive on a channel; events go back through an `EventSink` that the caller
//! implements (the server wraps a tokio channel). A sink that reports itself closed (the
//! client went away) cancels its sequence at the next step and frees its slot.

use crate::EngineError;
use crate::generate::{FinishReason, PREFILL_CHUNK, TokenLogprob, top_n};
use crate::sampler::{Sampler, SamplingParams};
use crate::stop::TextOut;
use herd_llama::model::{Batch, KvCache, Model, Scratch};
use herd_llama::tokenizer::Tokenizer;
use herd_tensor::ops::log_softmax;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

/// Most rows per step that want logits for prompt log-probabilities (`echo`), on top of
/// one row per slot: it bounds the logits buffer (rows x vocabulary floats).
const PROMPT_LOGIT_ROWS: usize = 64;

/// A constraint on the output bytes (a JSON schema's grammar): the sampler only picks
/// tokens whose bytes it accepts, and end-of-generation only once it is complete.
pub trait OutputConstraint: Send {
    fn accepts(&self, bytes: &[u8]) -> bool;
    fn advance(&mut self, bytes: &[u8]) -> bool;
    fn is_complete(&self) -> bool;
    fn must_end(&self) -> bool;
}

/// A JSON schema's matcher constrains output as it is.
impl OutputConstraint for crate::grammar::Matcher {
    fn accepts(&self, bytes: &[u8]) -> bool {
        crate::grammar::Matcher::accepts(self, bytes)
    }
    fn advance(&mut self, bytes: &[u8]) -> bool {
        crate::grammar::Matcher::advance(self, bytes)
    }
    fn is_complete(&self) -> bool {
        crate::grammar::Matcher::is_complete(self)
    }
    fn must_end(&self) -> bool {
        crate::grammar::Matcher::must_end(self)
    }
}

/// One sequence to generate.
pub struct SeqRequest {
    pub prompt: Vec<u32>,
    pub sampling: SamplingParams,
    /// Generated tokens at most (`None`: until the context is full).
    pub max_tokens: Option<usize>,
    pub stop_strings: Vec<String>,
    /// Ids that end generation; the first is the one forced when a constraint ends.
    pub stop_tokens: Vec<u32>,
    /// `Some(k)`: report each generated token's log-probability and the top `k`.
    pub logprobs: Option<usize>,
    /// `Some(k)`: also report every prompt token's (the first has none), as for
    /// `echo` with `logprobs` in the completions API. The prompt is then computed in
    /// full, without prefix reuse.
    pub prompt_logprobs: Option<usize>,
    /// Added to the logits before sampling (OpenAI's `logit_bias`).
    pub logit_bias: Vec<(u32, f32)>,
    pub constraint: Option<Box<dyn OutputConstraint>>,
    /// Report the mean of the final-normed hidden states of the prompt (an embedding);
    /// the prompt is computed in full, without prefix reuse.
    pub embed: bool,
}

impl SeqRequest {
    /// `prompt` with `sampling`, until the context is full, no stop rules, no
    /// log-probabilities, bias or constraint: callers set what they need on top.
    pub fn new(prompt: Vec<u32>, sampling: SamplingParams) -> Self {
        SeqRequest {
            prompt,
            sampling,
            max_tokens: None,
            stop_strings: Vec::new(),
            stop_tokens: Vec::new(),
            logprobs: None,
            prompt_logprobs: None,
            logit_bias: Vec::new(),
            constraint: None,
            embed: false,
        }
    }
}

impl std::fmt::Debug for SeqRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeqRequest({} prompt tokens, max {:?})", self.prompt.len(), self.max_tokens)
    }
}

/// What a sequence reports, in order: `Started` once prefill begins, `PromptLogprobs`
/// if asked, a `Token` per generated token, then exactly one `Done` or `Error`.
#[derive(Debug, Clone)]
pub enum SeqEvent {
    Started {
        cached_tokens: usize,
    },
    PromptLogprobs(Vec<Option<TokenLogprob>>),
    /// The mean final hidden state over the prompt, for `embed` requests.
    Embedding(Vec<f32>),
    Token {
        id: u32,
        text: String,
        logprob: Option<TokenLogprob>,
    },
    Done(SeqSummary),
    Error(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqSummary {
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// Prompt tokens whose K/V came from the cache instead of a forward pass.
    pub cached_tokens: usize,
    /// The stop token that ended generation, if one did.
    pub stop_token: Option<u32>,
}

/// Where a sequence's events go.
pub trait EventSink: Send {
    /// Delivers an event; `false` when the receiver is gone (the sequence is cancelled).
    fn send(&mut self, ev: SeqEvent) -> bool;
    /// Whether the receiver is gone, checked every step.
    fn is_closed(&self) -> bool;
}

/// Why a request was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the queue is full ({0} sequences waiting); retry later")]
    QueueFull(usize),
    #[error("the engine has stopped")]
    Stopped,
    #[error("{0}")]
    Invalid(String),
}

/// Settings of the batching engine.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Sequences that run at once (KV slots).
    pub parallel: usize,
    /// Context size of each slot.
    pub n_ctx: usize,
    /// Requests that may wait for a slot before new ones are refused.
    pub max_queue: usize,
    /// Most drafted tokens a greedy sequence checks per step (prompt lookup; see the
    /// module docs); 0 turns drafting off.
    pub draft: usize,
}

/// Counters the engine keeps up to date for `/metrics` and `/health`.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Requests waiting for a slot.
    pub queued: AtomicUsize,
    /// Sequences holding a slot.
    pub running: AtomicUsize,
    /// KV positions in blocks held by running sequences (a shared block counts once).
    pub kv_used: AtomicUsize,
    /// KV positions in blocks held only by finished sequences' cached prefixes
    /// (reusable).
    pub kv_cached: AtomicUsize,
    pub prompt_tokens: AtomicU64,
    /// Prompt tokens that were computed (not reused).
    pub prefill_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
    /// Drafted tokens checked, and those accepted (prompt lookup).
    pub draft_tokens: AtomicU64,
    pub draft_accepted: AtomicU64,
    pub steps: AtomicU64,
    pub cancelled: AtomicU64,
}

enum Command {
    Submit(Box<Pending>),
    Shutdown,
}

struct Pending {
    req: SeqRequest,
    sink: Box<dyn EventSink>,
}

/// The caller's side: submit requests, read stats, stop the engine.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: Sender<Command>,
    stats: Arc<EngineStats>,
    config: EngineConfig,
    stopped: Arc<AtomicBool>,
}

impl EngineHandle {
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }
    pub fn config(&self) -> EngineConfig {
        self.config
    }
    /// KV positions in the block pool (room for every slot's full context).
    pub fn kv_capacity(&self) -> usize {
        self.config.parallel * self.config.n_ctx.div_ceil(herd_llama::model::KV_BLOCK) * herd_llama::model::KV_BLOCK
    }

    /// Queues a sequence. Its events (or an `Error` event) go to `sink`.
    pub fn submit(&self, req: SeqRequest, sink: Box<dyn EventSink>) -> Result<(), SubmitError> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(SubmitError::Stopped);
        }
        check_request(&req, self.config.n_ctx).map_err(SubmitError::Invalid)?;
        // A request may wait while the engine has not admitted it yet even though a
        // slot is free (a request's `n` sequences arrive together): free slots count as
        // room on top of the queue.
        let free = self.config.parallel.saturating_sub(self.stats.running.load(Ordering::Acquire));
        let q = self.stats.queued.fetch_add(1, Ordering::AcqRel);
        if q >= self.config.max_queue + free {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(SubmitError::QueueFull(q));
        }
        self.tx.send(Command::Submit(Box::new(Pending { req, sink }))).map_err(|_| {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            SubmitError::Stopped
        })
    }

    /// Stops the engine: running and waiting sequences end with `Interrupted`.
    pub fn shutdown(&self) {
        self.stopped.store(true, Ordering::Release);
        let _ = self.tx.send(Command::Shutdown);
    }
}

fn check_request(req: &SeqRequest, n_ctx: usize) -> Result<(), String> {
    req.sampling.validate()?;
    if req.prompt.is_empty() {
        return Err("the prompt is empty (no tokens to start from)".into());
    }
    if req.prompt.len() >= n_ctx {
        return Err(format!(
            "the prompt has {} tokens but the context holds {n_ctx}; shorten it or raise --ctx",
            req.prompt.len()
        ));
    }
    Ok(())
}

/// Starts the engine thread over `model`.
pub fn spawn(
    model: Model,
    tokenizer: Tokenizer,
    config: EngineConfig,
) -> Result<(EngineHandle, JoinHandle<()>), EngineError> {
    if config.parallel == 0 || config.n_ctx < 2 {
        return Err(EngineError::Request("--parallel must be at least 1 and --ctx at least 2".into()));
    }
    let kv = KvCache::new(&model.config, config.n_ctx, config.parallel)?;
    let scratch = Scratch::new(&model.config, PREFILL_CHUNK, config.parallel + PROMPT_LOGIT_ROWS);
    let (tx, rx) = channel();
    let stats = Arc::new(EngineStats::default());
    let handle = EngineHandle { tx, stats: stats.clone(), config, stopped: Arc::new(AtomicBool::new(false)) };
    let vocab = model.config.vocab_size;
    let mut engine = Engine {
        slots: (0..config.parallel).map(|_| Slot::default()).collect(),
        model,
        tokenizer,
        kv,
        scratch,
        batch: Batch::default(),
        rows: Vec::new(),
        work: vec![0.0; vocab],
        waiting: VecDeque::new(),
        running: Vec::new(),
        stats,
        config,
        clock: 0,
    };
    let join = std::thread::Builder::new()
        .name("herd-engine".into())
        .spawn(move || engine.run(rx))
        .map_err(|e| EngineError::Request(format!("cannot start the engine thread: {e}")))?;
    Ok((handle, join))
}

#[derive(Debug, Default)]
struct Slot {
    /// Tokens whose K/V this slot holds, from position 0.
    cached: Vec<u32>,
    busy: bool,
    last_used: u64,
}

struct Seq {
    req: SeqRequest,
    sink: Box<dyn EventSink>,
    slot: usize,
    /// Prompt tokens whose K/V are in the slot.
    done_prompt: usize,
    cached_tokens: usize,
    generated: Vec<u32>,
    /// Prompt then generated ids, for the penalties.
    history: Vec<u32>,
    sampler: Sampler,
    text: TextOut,
    prompt_lp: Vec<Option<TokenLogprob>>,
    /// Sum of the prompt's final hidden states, for `embed`.
    hidden_sum: Vec<f32>,
    /// This step's drafted tokens (positions after its decode row's), and how many of
    /// them have been accepted so far.
    drafts: Vec<u32>,
    accepted: usize,
    /// How many tokens the next draft may hold (it grows while drafts are accepted
    /// whole), and steps to wait before drafting again after a draft was refused
    /// outright.
    draft_k: usize,
    draft_wait: usize,
    finished: Option<FinishReason>,
}

/// What a logits row of the last batch belongs to.
#[derive(Clone, Copy)]
enum Row {
    /// Sample the next token of running sequence `i`.
    Next(usize),
    /// Log-probability of prompt token `pos + 1` of sequence `i`.
    Prompt(usize, usize),
    /// Drafted token `j` (from 1) of sequence `i`: its row gives the next token if
    /// the rows before it were accepted and the last of them gave this token.
    Draft(usize, usize),
}

struct Engine {
    model: Model,
    tokenizer: Tokenizer,
    kv: KvCache,
    scratch: Scratch,
    batch: Batch,
    rows: Vec<Row>,
    /// One logits row, modified by bias, penalties and masks.
    work: Vec<f32>,
    slots: Vec<Slot>,
    waiting: VecDeque<Pending>,
    running: Vec<Seq>,
    stats: Arc<EngineStats>,
    config: EngineConfig,
    clock: u64,
}

impl Engine {
    fn run(&mut self, rx: Receiver<Command>) {
        loop {
            let idle = self.running.is_empty() && self.waiting.is_empty();
            let cmd = if idle { rx.recv().ok() } else { rx.try_recv().ok() };
            match cmd {
                Some(Command::Submit(p)) => {
                    self.waiting.push_back(*p);
                    continue;
                }
                Some(Command::Shutdown) => break,
                None if idle => break, // every handle is gone
                None => {}
            }
            self.step();
        }
        for mut p in self.waiting.drain(..) {
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            let summary = SeqSummary {
                finish_reason: FinishReason::Interrupted,
                prompt_tokens: p.req.prompt.len(),
                completion_tokens: 0,
                cached_tokens: 0,
                stop_token: None,
            };
            p.sink.send(SeqEvent::Done(summary));
        }
        for i in 0..self.running.len() {
            self.running[i].finished.get_or_insert(FinishReason::Interrupted);
        }
        self.retire();
    }

    fn step(&mut self) {
        self.clock += 1;
        self.admit();
        self.drop_cancelled();
        if self.running.is_empty() {
            return;
        }
        self.build_batch();
        if self.batch.is_empty() {
            self.retire();
            return;
        }
        let result = self.model.forward(&self.batch, &mut self.kv, &mut self.scratch);
        self.stats.steps.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(_) => self.after_forward(),
            Err(e) => {
                // A model error (bad id, position past the cache) fails every sequence
                // of the batch rather than taking the server down.
                let msg = e.to_string();
                for s in &mut self.running {
                    s.sink.send(SeqEvent::Error(msg.clone()));
                    s.finished = Some(FinishReason::Interrupted);
                    self.slots[s.slot].cached.clear();
                    self.kv.truncate(s.slot, 0);
                }
            }
        }
        self.retire();
        self.update_kv_stats();
    }

    /// Moves waiting requests into free slots, reusing cached prefixes.
    fn admit(&mut self) {
        while !self.waiting.is_empty() {
            let Some(p) = self.waiting.pop_front() else { break };
            let Some(slot) = self.pick_slot(&p.req.prompt) else {
                self.waiting.push_front(p);
                break;
            };
            self.stats.queued.fetch_sub(1, Ordering::AcqRel);
            self.stats.running.fetch_add(1, Ordering::AcqRel);
            self.start(p, slot);
        }
    }

    /// The free slot whose cache shares the longest prefix with `prompt`, the least
    /// recently used among equals.
    fn pick_slot(&self, prompt: &[u32]) -> Option<usize> {
        (0..self.slots.len())
            .filter(|&i| !self.slots[i].busy)
            .max_by_key(|&i| (common_prefix(&self.slots[i].cached, prompt), u64::MAX - self.slots[i].last_used))
    }

    fn start(&mut self, p: Pending, slot: usize) {
        let Pending { req, mut sink } = p;
        // At least the last prompt token is computed again, so that fresh logits exist.
        let every_row = req.prompt_logprobs.is_some() || req.embed;
        // At least the last two prompt tokens are computed again: fresh logits are
        // needed, and a chunk of two or more rows rounds exactly as the chunk the
        // prefix first ran in (see `prompt_take`).
        let limit = if every_row { 0 } else { req.prompt.len().saturating_sub(2) };
        let mut reuse = common_prefix(&self.slots[slot].cached, &req.prompt).min(limit);
        // A longer prefix elsewhere (busy slots only ever append, so their early
        // positions are stable) is shared block by block rather than recomputed.
        if let Some((src, n)) = (0..self.slots.len())
            .filter(|&i| i != slot)
            .map(|i| (i, common_prefix(&self.slots[i].cached, &req.prompt).min(limit)))
            .max_by_key(|x| x.1)
            .filter(|x| x.1 > reuse)
            && self.kv.share_prefix(src, slot, n).is_ok()
        {
            reuse = n;
        }
        // Blocks past the reused prefix go back to the pool.
        self.kv.truncate(slot, reuse);
        // The slot now holds the prompt's first `reuse` positions, whether they were its
        // own or shared from another slot: its token list must say so, not keep the old
        // tokens of replaced positions (a later request matching those would reuse K/V
        // computed for other tokens).
        let s = &mut self.slots[slot];
        s.cached.clear();
        s.cached.extend_from_slice(&req.prompt[..reuse]);
        s.busy = true;
        s.last_used = self.clock;
        self.stats.prompt_tokens.fetch_add(req.prompt.len() as u64, Ordering::Relaxed);
        sink.send(SeqEvent::Started { cached_tokens: reuse });
        let seq = Seq {
            slot,
            done_prompt: reuse,
            cached_tokens: reuse,
            generated: Vec::new(),
            history: req.prompt.clone(),
            sampler: Sampler::new(req.sampling),
            text: TextOut::new(req.stop_strings.clone()),
            prompt_lp: if req.prompt_logprobs.is_some() { vec![None] } else { Vec::new() },
            hidden_sum: if req.embed { vec![0.0; self.model.config.dim] } else { Vec::new() },
            drafts: Vec::new(),
            accepted: 0,
            draft_k: 1,
            draft_wait: 0,
            finished: None,
            req,
            sink,
        };
        self.running.push(seq);
    }

    fn drop_cancelled(&mut self) {
        for s in &mut self.running {
            if s.finished.is_none() && s.sink.is_closed() {
                s.finished = Some(FinishReason::Interrupted);
            }
        }
        self.retire();
    }

    /// Decode rows (each followed by its drafts) first, then prompt rows up to the
    /// chunk size.
    fn build_batch(&mut self) {
        self.batch.clear();
        self.rows.clear();
        let decoding = |s: &Seq| s.finished.is_none() && s.done_prompt >= s.req.prompt.len() && !s.generated.is_empty();
        // Drafts fill a step up to `DRAFT_STEP_ROWS` rows (see there), within the
        // logits rows kept for prompt log-probabilities.
        let draft_rows =
            PROMPT_LOGIT_ROWS.min(DRAFT_STEP_ROWS.saturating_sub(self.running.iter().filter(|s| decoding(s)).count()));
        let mut drafted = 0;
        // `slots[..].cached` grows by the rows batched here: once the forward pass has
        // run, it lists exactly the positions whose K/V are written (drafts join it in
        // `after_forward`, once accepted).
        for (i, s) in self.running.iter_mut().enumerate() {
            s.drafts.clear();
            s.accepted = 0;
            if !decoding(s) {
                continue;
            }
            let Some(&last) = s.generated.last() else { continue };
            let pos = s.req.prompt.len() + s.generated.len() - 1;
            if pos >= self.config.n_ctx {
                s.finished = Some(FinishReason::Length);
                continue;
            }
            self.batch.push_decode(last, pos, s.slot);
            self.rows.push(Row::Next(i));
            self.slots[s.slot].cached.push(last);
            if s.draft_wait > 0 {
                s.draft_wait -= 1;
            } else if s.req.sampling.temperature <= 0.0 && drafted < draft_rows {
                // Row j gives output token `generated.len() + 1 + j`, at position `pos + j`.
                let left = s.req.max_tokens.map_or(usize::MAX, |m| m.saturating_sub(s.generated.len() + 1));
                let k = s
                    .draft_k
                    .min(self.config.draft)
                    .min(left)
                    .min(self.config.n_ctx - 1 - pos)
                    .min(draft_rows - drafted);
                propose_drafts(&s.history, k, &mut s.drafts);
                for (j, &d) in s.drafts.iter().enumerate() {
                    self.batch.push_decode(d, pos + 1 + j, s.slot);
                    self.rows.push(Row::Draft(i, j + 1));
                }
                drafted += s.drafts.len();
                self.stats.draft_tokens.fetch_add(s.drafts.len() as u64, Ordering::Relaxed);
            }
        }
        let mut prompt_logit_rows = drafted;
        for (i, s) in self.running.iter_mut().enumerate() {
            let budget = PREFILL_CHUNK - self.batch.len();
            if budget == 0 {
                break;
            }
            let n_prompt = s.req.prompt.len();
            if s.finished.is_some() || s.done_prompt >= n_prompt {
                continue;
            }
            let every_row = s.req.prompt_logprobs.is_some() || s.req.embed;
            let mut room = budget;
            if every_row {
                room = room.min(PROMPT_LOGIT_ROWS - prompt_logit_rows);
            }
            let take = prompt_take(n_prompt - s.done_prompt, room);
            if take == 0 {
                continue;
            }
            for pos in s.done_prompt..s.done_prompt + take {
                let last = pos + 1 == n_prompt;
                let want = last || every_row;
                self.batch.push(s.req.prompt[pos], pos, s.slot, want);
                if last {
                    self.rows.push(Row::Next(i));
                } else if want {
                    self.rows.push(Row::Prompt(i, pos));
                    prompt_logit_rows += 1;
                }
            }
            // A prompt row that is also the last one feeds both the sampler and the
            // prompt log-probabilities; `Next` handles both.
            s.done_prompt += take;
            self.stats.prefill_tokens.fetch_add(take as u64, Ordering::Relaxed);
            let slot = &mut self.slots[s.slot];
            slot.cached.extend_from_slice(&s.req.prompt[s.done_prompt - take..s.done_prompt]);
        }
    }

    fn after_forward(&mut self) {
        let (vocab, dim) = (self.model.config.vocab_size, self.model.config.dim);
        for r in 0..self.rows.len() {
            let logits = &self.scratch.logits()[r * vocab..(r + 1) * vocab];
            let (Row::Prompt(i, _) | Row::Next(i) | Row::Draft(i, _)) = self.rows[r];
            let s = &mut self.running[i];
            if s.req.embed && s.generated.is_empty() {
                let h = &self.scratch.hidden()[r * dim..(r + 1) * dim];
                s.hidden_sum.iter_mut().zip(h).for_each(|(a, b)| *a += b);
            }
            match self.rows[r] {
                Row::Draft(i, j) => {
                    let s = &mut self.running[i];
                    let d = s.drafts[j - 1];
                    if s.finished.is_some() || s.accepted != j - 1 || s.generated.last() != Some(&d) {
                        continue;
                    }
                    s.accepted = j;
                    self.slots[s.slot].cached.push(d);
                    self.stats.draft_accepted.fetch_add(1, Ordering::Relaxed);
                    self.work.copy_from_slice(logits);
                    self.next_token(i);
                }
                Row::Prompt(i, pos) => {
                    let s = &mut self.running[i];
                    if let Some(k) = s.req.prompt_logprobs {
                        let lp = log_softmax(logits);
                        s.prompt_lp.push(Some(token_logprob(&lp, s.req.prompt[pos + 1], k)));
                    }
                }
                Row::Next(i) => {
                    self.work.copy_from_slice(logits);
                    self.next_token(i);
                }
            }
        }
        // A draft taken whole may grow (a sequence copying its context), one refused
        // outright pauses drafting: a row that is not accepted costs a decode row's
        // work for nothing.
        for s in &mut self.running {
            if s.drafts.is_empty() {
                continue;
            }
            if s.accepted == s.drafts.len() {
                s.draft_k = (2 * s.draft_k).min(self.config.draft.max(1));
            } else {
                s.draft_k = s.accepted.max(1);
                if s.accepted == 0 {
                    s.draft_wait = DRAFT_PAUSE;
                }
                // Rejected drafts wrote K/V past what their slot holds: nothing reads
                // those positions before they are written again, but their blocks go
                // back to the pool.
                self.kv.truncate(s.slot, self.slots[s.slot].cached.len());
            }
        }
    }

    /// Samples, checks and emits the next token of running sequence `i`.
    fn next_token(&mut self, i: usize) {
        let s = &mut self.running[i];
        if s.generated.is_empty() && s.req.prompt_logprobs.is_some() {
            let lp = std::mem::take(&mut s.prompt_lp);
            if !s.sink.send(SeqEvent::PromptLogprobs(lp)) {
                s.finished = Some(FinishReason::Interrupted);
                return;
            }
        }
        if s.generated.is_empty() && s.req.embed {
            let n = s.req.prompt.len() as f32;
            let mean = s.hidden_sum.iter().map(|v| v / n).collect();
            if !s.sink.send(SeqEvent::Embedding(mean)) {
                s.finished = Some(FinishReason::Interrupted);
                return;
            }
        }
        if s.req.max_tokens == Some(0) {
            s.finished = Some(FinishReason::Length);
            return;
        }
        for &(id, b) in &s.req.logit_bias {
            if let Some(l) = self.work.get_mut(id as usize) {
                *l += b;
            }
        }
        let lp = s.req.logprobs.map(|_| log_softmax(&self.work));
        let id = pick(s, &mut self.work, &self.tokenizer);
        let logprob = lp.map(|lp| token_logprob(&lp, id, s.req.logprobs.unwrap_or(0)));
        s.generated.push(id);
        s.history.push(id);
        self.stats.generated_tokens.fetch_add(1, Ordering::Relaxed);
        let pos_after = s.req.prompt.len() + s.generated.len();
        if s.req.stop_tokens.contains(&id) {
            // Counted in the usage (it was generated) but not shown as text.
            s.finished = Some(FinishReason::Stop);
            return;
        }
        if let Some(c) = &mut s.req.constraint {
            c.advance(self.tokenizer.token_bytes(id));
        }
        let (text, stop) = s.text.push(self.tokenizer.token_bytes(id));
        if !s.sink.send(SeqEvent::Token { id, text, logprob }) {
            s.finished = Some(FinishReason::Interrupted);
            return;
        }
        if stop {
            s.finished = Some(FinishReason::Stop);
        } else if s.req.max_tokens.is_some_and(|m| s.generated.len() >= m) || pos_after >= self.config.n_ctx {
            s.finished = Some(FinishReason::Length);
        }
    }

    /// Frees the slots of finished sequences, then sends their `Done` (so that a
    /// caller who sees `Done` also sees the slot free in the stats).
    fn retire(&mut self) {
        let mut done = Vec::new();
        let mut i = 0;
        while i < self.running.len() {
            if self.running[i].finished.is_none() {
                i += 1;
                continue;
            }
            let s = self.running.swap_remove(i);
            // The slot's `cached` lists exactly the positions whose K/V were written
            // (a token joins it when its row is batched), so it stays as it is.
            let slot = &mut self.slots[s.slot];
            slot.busy = false;
            slot.last_used = self.clock;
            self.stats.running.fetch_sub(1, Ordering::AcqRel);
            if s.sink.is_closed() {
                // A client that went away frees its blocks at once, prefix included.
                slot.cached.clear();
                self.kv.truncate(s.slot, 0);
                self.stats.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            done.push(s);
        }
        if done.is_empty() {
            return;
        }
        self.update_kv_stats();
        for mut s in done {
            let reason = s.finished.unwrap_or(FinishReason::Interrupted);
            if reason != FinishReason::Stop {
                let rest = s.text.finish();
                if !rest.is_empty() {
                    s.sink.send(SeqEvent::Token { id: u32::MAX, text: rest, logprob: None });
                }
            }
            let summary = SeqSummary {
                finish_reason: reason,
                prompt_tokens: s.req.prompt.len(),
                completion_tokens: s.generated.len(),
                cached_tokens: s.cached_tokens,
                stop_token: s.generated.last().copied().filter(|t| s.req.stop_tokens.contains(t)),
            };
            s.sink.send(SeqEvent::Done(summary));
        }
    }

    fn update_kv_stats(&mut self) {
        let slots = &self.slots;
        let (used, cached) = self.kv.usage(|seq| slots[seq].busy);
        self.stats.kv_used.store(used, Ordering::Relaxed);
        self.stats.kv_cached.store(cached, Ordering::Relaxed);
    }
}

/// Samples a token, honouring the sequence's constraint: the sampled token is checked
/// first (cheap when the model is on track); if the constraint refuses it, every token
/// it refuses is masked and sampling runs again. End-of-generation is allowed only once
/// the constraint is complete, and forced once nothing else can follow.
fn pick(s: &mut Seq, work: &mut [f32], tok: &Tokenizer) -> u32 {
    let Some(c) = &s.req.constraint else {
        return s.sampler.sample(work, &s.history);
    };
    let end = s.req.stop_tokens.first().copied();
    if c.must_end()
        && let Some(e) = end
    {
        return e;
    }
    let ok = |id: u32| {
        if s.req.stop_tokens.contains(&id) {
            c.is_complete()
        } else if tok.is_special(id) {
            false
        } else {
            let b = tok.token_bytes(id);
            !b.is_empty() && c.accepts(b)
        }
    };
    let saved: Vec<f32> = work.to_vec();
    let first = s.sampler.sample(work, &s.history);
    if ok(first) {
        return first;
    }
    work.copy_from_slice(&saved);
    let mut any = false;
    for (id, l) in work.iter_mut().enumerate() {
        if ok(id as u32) {
            any = true;
        } else {
            *l = f32::NEG_INFINITY;
        }
    }
    if !any {
        // Nothing can follow (should not happen with a well-formed constraint): end.
        return end.unwrap_or(first);
    }
    s.sampler.sample(work, &s.history)
}

/// Prompt rows to batch this step out of `remaining`, with `room` free rows. Attention
/// rounds a sequence's lone row differently from rows of a chunk (llama.cpp's two
/// summation orders), so a prompt is only ever cut into chunks of two or more rows
/// (unless it is one token long): then every prompt token gets the same bits however
/// the batch was shared, and a cached prefix equals a recomputed one. Waiting a step
/// for room costs little; the decode rows that took it are running.
fn prompt_take(remaining: usize, room: usize) -> usize {
    if remaining <= 1 {
        return remaining.min(room);
    }
    let mut take = room.min(remaining);
    if remaining - take == 1 {
        take -= 1;
    }
    if take < 2 { 0 } else { take }
}

/// Prompt lookup: the tokens that followed the most recent earlier occurrence of the
/// last `n` tokens of `history` (the longest `n` from `DRAFT_NGRAM_MAX` down to
/// `DRAFT_NGRAM_MIN` that occurred), at most `k` of them, into `out`. A single token
/// repeats too often by chance to be worth a row.
fn propose_drafts(history: &[u32], k: usize, out: &mut Vec<u32>) {
    out.clear();
    if k == 0 {
        return;
    }
    for n in (DRAFT_NGRAM_MIN..=DRAFT_NGRAM_MAX).rev() {
        if history.len() <= n {
            continue;
        }
        let tail = &history[history.len() - n..];
        // Occurrences starting at `start` with at least one token after them, latest
        // first (the latest is the likeliest to continue the same way).
        if let Some(start) = (0..history.len() - n).rev().find(|&i| &history[i..i + n] == tail) {
            let from = start + n;
            out.extend_from_slice(&history[from..(from + k).min(history.len())]);
            return;
        }
    }
}

/// `EngineConfig::draft` unless set: drafts of four tokens.
pub const DEFAULT_DRAFT: usize = 4;

/// Rows a step may reach with drafts. A step of a few rows costs less than as many
/// steps (the weights are read once, the arithmetic is spread over both passes), so a
/// lone stream's accepted drafts pay; in a full batch a refused draft row is a decode
/// row's work wasted and an accepted one only moves work that a later step would have
/// done. Measured on the default model (135M Q4_1, 2 threads, GSM8K 8-shot, 40
/// problems through `herd serve`): at depth ~2,000 a lone decode row took 9.1 ms and
/// one with four drafts 23.2 ms; drafting in every step, 8 concurrent requests, took
/// 22.1 s against 18.4 without (35% of drafts accepted); with this cap 15.9 s (90%
/// accepted). At 4 concurrent, caps of 4, 6, 8 and 12 rows: 17.3-17.5, 17.3-17.5,
/// 16.6 and 17.1-17.2 s (19.7 without drafts).
const DRAFT_STEP_ROWS: usize = 8;

/// Steps a sequence waits after a draft was refused outright.
const DRAFT_PAUSE: usize = 8;

/// The n-gram sizes prompt lookup tries.
const DRAFT_NGRAM_MIN: usize = 2;
const DRAFT_NGRAM_MAX: usize = 4;

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// `id`'s log-probability under `lp` and the `k` most likely tokens.
pub fn token_logprob(lp: &[f32], id: u32, k: usize) -> TokenLogprob {
    TokenLogprob { id, logprob: lp.get(id as usize).copied().unwrap_or(f32::NEG_INFINITY), top: top_n(lp, k) }
}

#[cfg(test)]
mod tests {
    use super::{prompt_take, propose_drafts};

    #[test]
    fn prompt_lookup_continues_the_latest_longest_match() {
        let mut out = Vec::new();
        // The last 4 tokens (3 4 5 6) occurred at 2; the 2-gram (5 6) later, at 8.
        let h = [1, 2, 3, 4, 5, 6, 7, 8, 5, 6, 9, 3, 4, 5, 6];
        propose_drafts(&h, 3, &mut out);
        assert_eq!(out, [7, 8, 5], "the 4-gram's continuation, cut at k");
        // Only the 2-gram (8 9) matches: its latest occurrence wins.
        propose_drafts(&[8, 9, 1, 8, 9, 2, 7, 8, 9], 4, &mut out);
        assert_eq!(out, [2, 7, 8, 9]);
        // A continuation ends where the history does.
        propose_drafts(&[1, 2, 1, 2, 1, 2], 8, &mut out);
        assert_eq!(out, [1, 2], "the 4-gram (1 2 1 2) at 0 is followed by two tokens");
        // No repeated 2-gram, k = 0, or too short a history: nothing.
        propose_drafts(&[1, 2, 3, 4, 2, 5], 4, &mut out);
        assert!(out.is_empty());
        propose_drafts(&h, 0, &mut out);
        assert!(out.is_empty());
        propose_drafts(&[7, 7], 4, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn prompt_chunks_never_leave_a_lone_row() {
        assert_eq!(prompt_take(1, 5), 1);
        assert_eq!(prompt_take(10, 256), 10);
        assert_eq!(prompt_take(10, 9), 8, "leaves 2, not 1");
        assert_eq!(prompt_take(10, 1), 0, "waits rather than run one row");
        assert_eq!(prompt_take(3, 2), 0, "2 would leave 1; 1 alone is refused");
        for remaining in 1..40 {
            for room in 0..40 {
                let t = prompt_take(remaining, room);
                assert!(t <= room && t <= remaining);
                if remaining > 1 {
                    assert!(t == 0 || (t >= 2 && remaining - t != 1), "{remaining} {room} -> {t}");
                }
            }
        }
    }
}
