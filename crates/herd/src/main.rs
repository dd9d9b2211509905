//! The `herd` command line: flags to configs, and one place that reports errors.

mod cmd;

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "herd",
    version,
    about = "Run, chat with and inspect Llama-architecture models (GGUF files and Hugging Face folders)",
    long_about = "herd runs Llama-architecture models exactly and fast on your own machine.\n\n\
MODEL is a GGUF file, a Hugging Face checkpoint folder (config.json, tokenizer.json, *.safetensors), \
or a catalogue name (see `herd pull --list`). With no MODEL, herd uses its default model, \
SmolLM2-135M-Instruct, and fetches it on first use.\n\n\
Models are cached under $HERD_HOME (default: $XDG_CACHE_HOME/herd or ~/.cache/herd)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate one answer to PROMPT, streamed to the terminal.
    ///
    /// `herd run "Why is the sky blue?"` uses the default model; `herd run model.gguf
    /// "..."` a model of yours. The prompt goes through the model's chat template
    /// unless --raw. PROMPT `-` reads standard input.
    Run(cmd::run::RunArgs),
    /// Chat interactively: /reset clears the history, /system TEXT sets the system
    /// prompt, /exit or Ctrl-D leaves; Ctrl-C stops the current answer.
    Chat(cmd::run::ChatArgs),
    /// Serve a model over HTTP: the OpenAI API (/v1/chat/completions, /v1/completions,
    /// /v1/messages, /v1/embeddings, /v1/models), /tokenize, /detokenize, /health,
    /// /metrics, and a chat page at /. Sequences are batched continuously.
    Serve(cmd::serve::ServeArgs),
    /// Evaluate a model (in process) or an OpenAI-compatible endpoint on the Llama 3
    /// paper's benchmarks with the paper's settings: results with 95% intervals beside
    /// the published Llama 3.1 scores, a per-sample log, a response cache.
    Eval(cmd::eval::EvalArgs),
    /// Fetch a catalogue model into the cache (with a sha256 check).
    Pull(cmd::pull::PullArgs),
    /// Show a model's architecture, hyper-parameters, RoPE scaling, tensors and
    /// chat template.
    Info(cmd::info::InfoArgs),
    /// Tokenize TEXT with a model's tokenizer or a tokenizer file
    /// (tokenizer.model, tokenizer.json).
    Tokenize(cmd::tokenize::TokenizeArgs),
    /// Show the exact prompt text and token ids herd would feed the model for a
    /// conversation (OpenAI-style messages, optional tools), like llama.cpp's
    /// --verbose-prompt. Llama 3 models use Meta's Llama 3.1 format, others their
    /// chat template.
    Render(cmd::tokenize::RenderArgs),
    /// Decode one assistant output into content or a tool call, as Meta's reference
    /// decoder does (built-in calls, python_tag code, <function=...>, JSON, python list).
    Toolcall(cmd::tools::ToolcallArgs),
    /// Perplexity of a text file, computed as llama.cpp's llama-perplexity does.
    Perplexity(cmd::perplexity::PerplexityArgs),
    /// Prompt-processing and generation speed, measured and printed as llama-bench
    /// does (random tokens, empty cache each repetition, mean ± sd tokens/s).
    Bench(cmd::bench::BenchArgs),
    /// Convert a GGUF file or Hugging Face folder to a GGUF file of a llama.cpp type
    /// (F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K_M, ...), or write a random model of a given
    /// shape (--random-init) for benchmarks and tests.
    Quantize(cmd::quantize::QuantizeArgs),
    /// Compute-optimal scaling laws as in the Llama 3 paper: fit IsoFLOP runs to
    /// N*(C) = A·C^alpha (fit), apply a law at a budget (predict), and forecast
    /// benchmark accuracy from compute in two steps (forecast).
    Scaling(cmd::scaling::ScalingArgs),
    /// Benchmark contamination by 8-gram overlap with a training corpus, as in the
    /// Llama 3 paper: per-example contaminated fractions, contaminated shares and, with
    /// a results log, the estimated performance gain over a threshold sweep.
    Contamination(cmd::contamination::ContaminationArgs),
}

/// Flags shared by commands that load a model.
#[derive(Args, Debug, Clone)]
pub struct ModelOpts {
    /// Threads for the matrix kernels (0: one per core).
    #[arg(long, short = 't', default_value_t = 0)]
    pub threads: usize,
    /// Context size in tokens (0: the model's, capped at 4096).
    #[arg(long, short = 'c', default_value_t = 0)]
    pub ctx: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Command::Run(a) => cmd::run::run(a),
        Command::Chat(a) => cmd::run::chat(a),
        Command::Serve(a) => cmd::serve::serve(a),
        Command::Eval(a) => cmd::eval::eval(a),
        Command::Pull(a) => cmd::pull::pull(a),
        Command::Info(a) => cmd::info::info(a),
        Command::Tokenize(a) => cmd::tokenize::tokenize(a),
        Command::Render(a) => cmd::tokenize::render(a),
        Command::Toolcall(a) => cmd::tools::toolcall(a),
        Command::Perplexity(a) => cmd::perplexity::perplexity(a),
        Command::Bench(a) => cmd::bench::bench(a),
        Command::Quantize(a) => cmd::quantize::quantize(a),
        Command::Scaling(a) => cmd::scaling::scaling(a),
        Command::Contamination(a) => cmd::contamination::contamination(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("herd: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
