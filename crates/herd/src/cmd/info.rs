//! `herd info`: what a model file is, without running it.

use super::resolve_model;
use anyhow::{Context, Result};
use clap::Args;
use herd_llama::config::RopeScaling;
use std::collections::BTreeMap;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// A GGUF file, a Hugging Face folder or a catalogue name.
    pub model_path: String,
    /// List every tensor.
    #[arg(long)]
    pub tensors: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn info(a: InfoArgs) -> Result<()> {
    let path = resolve_model(Some(&a.model_path))?;
    let f = herd_llama::loader::load(&path).with_context(|| format!("{}", path.display()))?;
    let c = &f.config;
    let weights = f.weights.named();
    let mut by_type: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (_, w) in &weights {
        let e = by_type.entry(w.dtype.name()).or_default();
        e.0 += 1;
        e.1 += w.bytes.as_slice().len();
    }
    let params = f.weights.n_params();
    let rope = match &c.rope_scaling {
        RopeScaling::None => "none".to_string(),
        RopeScaling::Linear(s) => format!("linear, factor {s}"),
        RopeScaling::Factors(v) => format!(
            "per-frequency factors (rope_freqs, {} entries, max {:.3})",
            v.len(),
            v.iter().cloned().fold(0f32, f32::max)
        ),
        RopeScaling::Llama3(s) => format!(
            "llama3: factor {}, low_freq_factor {}, high_freq_factor {}, original context {}",
            s.factor, s.low_freq_factor, s.high_freq_factor, s.original_max_position_embeddings
        ),
    };
    if a.json {
        let v = serde_json::json!({
            "path": path.display().to_string(),
            "format": f.format,
            "architecture": "llama",
            "config": c,
            "parameters": params,
            "tensor_types": by_type.iter().map(|(k, (n, b))| (k.to_string(), serde_json::json!({"count": n, "bytes": b}))).collect::<BTreeMap<_, _>>(),
            "vocab_size": f.tokenizer.vocab_size(),
            "add_bos": f.tokenizer.add_bos(),
            "chat_template": f.chat_template.is_some(),
        });
        println!("{v}");
        return Ok(());
    }
    println!("model           {}", path.display());
    println!("format          {}", f.format);
    println!("architecture    llama");
    println!("parameters      {:.1} M", params as f64 / 1e6);
    println!("layers          {}", c.n_layers);
    println!("dim             {}", c.dim);
    println!("ffn dim         {}", c.ffn_dim);
    println!(
        "heads           {} query, {} KV (GQA {}:1), head dim {}",
        c.n_heads,
        c.n_kv_heads,
        c.n_heads / c.n_kv_heads,
        c.head_dim
    );
    println!(
        "vocab           {} (tokenizer: {} tokens, BOS added: {})",
        c.vocab_size,
        f.tokenizer.vocab_size(),
        f.tokenizer.add_bos()
    );
    println!("context length  {}", c.max_ctx);
    println!("rms norm eps    {:e}", c.norm_eps);
    println!("rope theta      {}", c.rope_theta);
    println!("rope scaling    {rope}");
    println!("embeddings      {}", if c.tied_embeddings { "tied (output = token_embd)" } else { "untied" });
    println!("chat template   {}", if f.chat_template.is_some() { "present" } else { "absent" });
    println!("tensor types");
    for (k, (n, b)) in &by_type {
        println!("  {k:<6} {n:>5} tensors  {:>10.1} MiB", *b as f64 / (1 << 20) as f64);
    }
    if a.tensors {
        for (n, w) in &weights {
            println!("  {n:<24} {:<5} [{}, {}]", w.dtype.name(), w.rows, w.cols);
        }
    }
    Ok(())
}
