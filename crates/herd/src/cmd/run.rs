//! `herd run` and `herd chat`: generation flags to a request, tokens to the terminal.

use super::{context_size, load_model, text_arg};
use crate::ModelOpts;
use anyhow::{Context, Result, bail};
use clap::Args;
use herd_engine::prompt::{Prompt, chat_prompt, raw_prompt};
use herd_engine::{GenEvent, GenerateRequest, Generator, SamplingParams};
use herd_llama::chat::{ChatTemplate, Message};
use herd_llama::loader::ModelFiles;
use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Sampling and stopping flags (defaults as llama.cpp's).
#[derive(Args, Debug, Clone)]
pub struct GenOpts {
    /// Temperature; 0 is greedy.
    #[arg(long = "temp", default_value_t = 0.8)]
    pub temp: f32,
    /// Keep the K most likely tokens (0: all).
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    /// Nucleus sampling: keep the smallest set of tokens with this much mass (1: off).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens less likely than this fraction of the top token (0: off).
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Penalize tokens repeated within the last 64 (1: off).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    #[arg(long, default_value_t = 0.0)]
    pub frequency_penalty: f32,
    #[arg(long, default_value_t = 0.0)]
    pub presence_penalty: f32,
    /// Random seed (same seed, same flags, same output).
    #[arg(long, default_value_t = 0xC0FFEE)]
    pub seed: u64,
    /// Stop after N generated tokens (default: until an end token or the context is full).
    #[arg(long = "max-tokens", short = 'n')]
    pub max_tokens: Option<usize>,
    /// Stop when this text appears (repeatable); the stop text is not printed.
    #[arg(long)]
    pub stop: Vec<String>,
    /// System prompt.
    #[arg(long)]
    pub system: Option<String>,
}

impl GenOpts {
    fn sampling(&self) -> SamplingParams {
        SamplingParams {
            temperature: self.temp,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            penalty_last_n: 64,
            seed: self.seed,
        }
    }
}

#[derive(Args, Debug)]
#[command(override_usage = "herd run [OPTIONS] [MODEL] <PROMPT>")]
pub struct RunArgs {
    /// MODEL then PROMPT, or just PROMPT (default model).
    #[arg(required = true, num_args = 1..=2, value_names = ["MODEL", "PROMPT"])]
    pub args: Vec<String>,
    /// Feed PROMPT as is: no chat template; special-token text in it is recognized.
    #[arg(long)]
    pub raw: bool,
    /// Report the top-N log-probabilities of every generated token (with --json).
    #[arg(long, default_value_t = 0)]
    pub logprobs: usize,
    /// Print one JSON object instead of streaming text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub opts: GenOpts,
    #[command(flatten)]
    pub model: ModelOpts,
}

#[derive(Args, Debug)]
pub struct ChatArgs {
    /// A GGUF file, a Hugging Face folder or a catalogue name (default model if omitted).
    pub model_path: Option<String>,
    #[command(flatten)]
    pub opts: GenOpts,
    #[command(flatten)]
    pub model: ModelOpts,
}

fn template(files: &ModelFiles) -> Result<ChatTemplate> {
    let src = files
        .chat_template
        .as_deref()
        .with_context(|| format!("{} has no chat template; use --raw to send text as is", files.path.display()))?;
    Ok(ChatTemplate::new(src, &files.bos_token, &files.eos_token)?)
}

fn request(prompt: Prompt, files: &ModelFiles, g: &GenOpts, logprobs: usize) -> GenerateRequest {
    GenerateRequest {
        prompt: prompt.ids,
        sampling: g.sampling(),
        max_tokens: g.max_tokens,
        stop_strings: g.stop.clone(),
        stop_tokens: files.tokenizer.stop_ids(),
        logprobs,
    }
}

pub fn run(a: RunArgs) -> Result<()> {
    let (model, prompt_arg) = match a.args.as_slice() {
        [p] => (None, p.as_str()),
        [m, p] => (Some(m.as_str()), p.as_str()),
        _ => bail!("usage: herd run [MODEL] PROMPT"),
    };
    let text = text_arg(prompt_arg)?;
    let files = load_model(model)?;
    let prompt = if a.raw {
        raw_prompt(&files.tokenizer, &text)
    } else {
        let mut msgs = Vec::new();
        if let Some(s) = &a.opts.system {
            msgs.push(Message::new("system", s));
        }
        msgs.push(Message::new("user", &text));
        chat_prompt(&files.tokenizer, &template(&files)?, &msgs)?
    };
    let n_ctx = context_size(a.model.ctx, files.config.max_ctx);
    let mut generator = Generator::new(&files, n_ctx, a.model.threads)?;
    let prompt_ids = prompt.ids.clone();
    let req = request(prompt, &files, &a.opts, a.logprobs);
    let stop = interrupt_flag()?;
    let json = a.json;
    let mut out = std::io::stdout().lock();
    let result = generator.generate(&req, |GenEvent::Token { text, .. }| {
        if !json {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        if stop.swap(false, Ordering::SeqCst) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    })?;
    if json {
        let v = serde_json::json!({
            "prompt_ids": prompt_ids,
            "ids": result.ids,
            "text": result.text,
            "logprobs": result.logprobs,
            "finish_reason": result.finish_reason,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(out)?;
        let secs = result.decode_time.as_secs_f64().max(1e-9);
        eprintln!(
            "herd: {} prompt tokens, {} generated ({:.1} tok/s), finish: {:?}",
            result.prompt_tokens,
            result.ids.len(),
            result.ids.len() as f64 / secs,
            result.finish_reason
        );
    }
    Ok(())
}

/// Ctrl-C sets the flag instead of killing herd, so an answer can be stopped.
fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    // A second registration (only in tests running several commands) is harmless.
    let _ = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst));
    Ok(flag)
}

pub fn chat(a: ChatArgs) -> Result<()> {
    let files = load_model(a.model_path.as_deref())?;
    let tpl = template(&files)?;
    let n_ctx = context_size(a.model.ctx, files.config.max_ctx);
    let mut generator = Generator::new(&files, n_ctx, a.model.threads)?;
    let stop = interrupt_flag()?;
    let mut system = a.opts.system.clone();
    let mut history: Vec<Message> = Vec::new();
    eprintln!(
        "herd chat with {} (ctx {n_ctx}). /reset, /system TEXT, /exit; Ctrl-C stops an answer, Ctrl-D leaves.",
        files.path.display()
    );
    let stdin = std::io::stdin();
    let mut line = String::new();
    loop {
        eprint!("> ");
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            eprintln!();
            return Ok(());
        }
        stop.store(false, Ordering::SeqCst);
        let input = line.trim_end_matches(['\n', '\r']);
        match input.trim() {
            "" => continue,
            "/exit" | "/quit" => return Ok(()),
            "/reset" => {
                history.clear();
                generator.reset();
                eprintln!("(history cleared)");
                continue;
            }
            s if s.starts_with("/system") => {
                let t = s.trim_start_matches("/system").trim();
                system = (!t.is_empty()).then(|| t.to_string());
                history.clear();
                eprintln!("(system prompt {}; history cleared)", if system.is_some() { "set" } else { "removed" });
                continue;
            }
            _ => {}
        }
        history.push(Message::new("user", input));
        let mut msgs: Vec<Message> = system.iter().map(|s| Message::new("system", s)).collect();
        msgs.extend(history.iter().cloned());
        let prompt = chat_prompt(&files.tokenizer, &tpl, &msgs)?;
        let req = request(prompt, &files, &a.opts, 0);
        let mut out = std::io::stdout().lock();
        let res = generator.generate(&req, |GenEvent::Token { text, .. }| {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            if stop.swap(false, Ordering::SeqCst) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        });
        writeln!(out)?;
        match res {
            Ok(r) => {
                if r.finish_reason == herd_engine::FinishReason::Interrupted {
                    eprintln!("(stopped)");
                }
                history.push(Message::new("assistant", &r.text));
            }
            Err(e) => {
                // Keep the session: the user can /reset or shorten the conversation.
                history.pop();
                eprintln!("herd: error: {e}");
            }
        }
    }
}
