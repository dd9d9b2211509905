//! `herd perplexity`: llama-perplexity's number for a text file.

use super::load_model;
use crate::ModelOpts;
use anyhow::{Context, Result};
use clap::Args;
use herd_engine::Generator;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args, Debug)]
pub struct PerplexityArgs {
    /// A GGUF file, a Hugging Face folder or a catalogue name.
    pub model_path: String,
    /// The text file to score.
    pub file: String,
    /// End with one JSON line {"ppl", "tokens", "chunks"}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelOpts,
}

pub fn perplexity(a: PerplexityArgs) -> Result<()> {
    let files = load_model(Some(&a.model_path))?;
    let text = std::fs::read_to_string(&a.file).with_context(|| a.file.clone())?;
    let n_ctx = if a.model.ctx > 0 { a.model.ctx } else { 512 };
    let mut g = Generator::new(&files, n_ctx, a.model.threads)?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("perplexity [{bar:40}] {pos}/{len} chunks {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let r = herd_engine::perplexity::perplexity(&mut g, &text, n_ctx, |i, n, ppl| {
        bar.set_length(n as u64);
        bar.set_position(i as u64 + 1);
        bar.set_message(format!("ppl {ppl:.4}"));
    })?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::json!({ "ppl": r.ppl, "tokens": r.tokens, "chunks": r.chunks }));
    } else {
        println!("Final estimate: PPL = {:.4} ({} chunks of {n_ctx}, {} tokens)", r.ppl, r.chunks, r.tokens);
    }
    Ok(())
}
