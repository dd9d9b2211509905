//! herd-engine: requests in, events out. Sampling (greedy, temperature, top-k,
//! top-p, min-p, penalties; seeded and deterministic), stop rules (stop strings and
//! stop tokens), incremental detokenization that never emits broken UTF-8, and the
//! generation loop that owns the model, its KV cache and its scratch buffers.

pub mod agent;
pub mod bench;
pub mod catalog;
pub mod detok;
pub mod generate;
pub mod grammar;
pub mod perplexity;
pub mod prompt;
pub mod sampler;
pub mod scheduler;
pub mod stop;
pub mod tools;

pub use generate::{FinishReason, GenEvent, GenerateRequest, Generation, Generator, TokenLogprob};
pub use sampler::{Sampler, SamplingParams};

/// Errors of the engine: bad requests and model failures, each saying what to change.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Request(String),
    #[error(transparent)]
    Model(#[from] herd_llama::LlamaError),
}
