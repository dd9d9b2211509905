//! `herd serve`: flags to a server config; the server itself is herd-server.

use anyhow::{Context, Result};
use clap::Args;
use herd_engine::scheduler::EngineConfig;
use herd_server::ServerConfig;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A GGUF file, Hugging Face folder or catalogue name (default: the default model).
    pub model: Option<String>,
    /// Address to listen on (use 0.0.0.0 to accept other machines; then set --api-key).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Sequences generated at once (KV cache slots); more wait in the queue.
    #[arg(long, short = 'n', default_value_t = 4)]
    pub parallel: usize,
    /// Context size of each slot in tokens (0: the model's, capped at 4096). The KV
    /// cache holds --parallel x --ctx positions.
    #[arg(long, short = 'c', default_value_t = 0)]
    pub ctx: usize,
    /// Requests that may wait for a slot; beyond that the server answers 429.
    #[arg(long, default_value_t = 256)]
    pub queue: usize,
    /// Require `Authorization: Bearer KEY` on every /v1 route (also read from
    /// HERD_API_KEY).
    #[arg(long, env = "HERD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// The model id clients name (default: the model file's name).
    #[arg(long)]
    pub alias: Option<String>,
    /// Tokens a greedy request may draft per step by prompt lookup (speculative
    /// decoding from its own context; exact: the output is the same as without), 0 to
    /// turn drafting off.
    #[arg(long, default_value_t = herd_engine::scheduler::DEFAULT_DRAFT)]
    pub draft: usize,
    /// Threads for the matrix kernels (0: one per core).
    #[arg(long, short = 't', default_value_t = 0)]
    pub threads: usize,
    /// Seconds that shutdown (Ctrl-C, SIGTERM) waits for running requests before
    /// cancelling them.
    #[arg(long, default_value_t = 10)]
    pub shutdown_grace: u64,
}

pub fn serve(a: ServeArgs) -> Result<()> {
    let path = super::resolve_model(a.model.as_deref())?;
    // The header is read now (fast) so that the context size and the id are known
    // before binding; the weights load in the background while /health says 503.
    let files =
        herd_llama::loader::load_for_inference(&path).with_context(|| format!("cannot load {}", path.display()))?;
    let n_ctx = super::context_size(a.ctx, files.config.max_ctx);
    let model_id = a.alias.clone().unwrap_or_else(|| {
        path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
    });
    let cfg = ServerConfig {
        host: a.host,
        port: a.port,
        api_key: a.api_key,
        model_id,
        engine: EngineConfig { parallel: a.parallel, n_ctx, max_queue: a.queue, draft: a.draft },
        threads: a.threads,
        shutdown_grace: Duration::from_secs(a.shutdown_grace),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(herd_server::serve(cfg, move || Ok(files))).map_err(anyhow::Error::msg)
}
