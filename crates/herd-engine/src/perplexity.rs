//! Perplexity exactly as llama.cpp's `llama-perplexity` computes it: the text is
//! tokenized once (BOS when the vocabulary adds one), cut into `n_ctx`-token windows
//! without overlap, each window is evaluated from position 0 with its first token
//! replaced by BOS when the vocabulary adds one, and only the second half of each
//! window is scored (positions `n_ctx/2 .. n_ctx-2` predicting the next token).

use crate::EngineError;
use crate::generate::Generator;
use herd_tensor::ops::log_sum_exp;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Perplexity {
    pub ppl: f64,
    /// Tokens of the whole text (BOS included when added).
    pub tokens: usize,
    pub chunks: usize,
    /// Running perplexity after each chunk, as llama-perplexity prints it.
    #[serde(skip)]
    pub per_chunk: Vec<f64>,
}

/// `on_chunk(i, n_chunks, running_ppl)` is called after every window.
pub fn perplexity(
    g: &mut Generator,
    text: &str,
    n_ctx: usize,
    mut on_chunk: impl FnMut(usize, usize, f64),
) -> Result<Perplexity, EngineError> {
    if n_ctx < 4 {
        return Err(EngineError::Request(format!("--ctx {n_ctx} is too small for perplexity (use 64 or more)")));
    }
    let tok = g.tokenizer.clone();
    let add_bos = tok.add_bos();
    let mut tokens = Vec::new();
    if add_bos {
        tokens.extend(tok.bos_id());
    }
    tokens.extend(tok.encode(text, false));
    if tokens.len() < 2 * n_ctx {
        return Err(EngineError::Request(format!(
            "the text has {} tokens; perplexity with --ctx {n_ctx} needs at least {} (a longer text or a smaller --ctx)",
            tokens.len(),
            2 * n_ctx
        )));
    }
    if n_ctx > g.n_ctx() {
        return Err(EngineError::Request(format!("--ctx {n_ctx} exceeds the allocated context {}", g.n_ctx())));
    }
    let n_chunks = tokens.len() / n_ctx;
    let first = n_ctx / 2;
    let mut nll = 0f64;
    let mut count = 0usize;
    let mut per_chunk = Vec::with_capacity(n_chunks);
    let mut window = vec![0u32; n_ctx];
    for c in 0..n_chunks {
        window.copy_from_slice(&tokens[c * n_ctx..(c + 1) * n_ctx]);
        if add_bos && let Some(b) = tok.bos_id() {
            window[0] = b;
        }
        let targets = &tokens[c * n_ctx..(c + 1) * n_ctx];
        g.score(&window, first, |i, logits| {
            if i + 1 < n_ctx {
                nll -= logits[targets[i + 1] as usize] as f64 - log_sum_exp(logits);
                count += 1;
            }
        })?;
        let ppl = (nll / count as f64).exp();
        per_chunk.push(ppl);
        on_chunk(c, n_chunks, ppl);
    }
    // The running value after the last window is the result.
    let ppl = per_chunk.last().copied().unwrap_or(f64::NAN);
    Ok(Perplexity { ppl, tokens: tokens.len(), chunks: n_chunks, per_chunk })
}
