//! `herd run` and `herd chat`: generation flags to a request, tokens to the terminal.

use super::{context_size, load_model, text_arg};
use crate::ModelOpts;
use anyhow::{Context, Result, bail};
use clap::Args;
use herd_engine::agent::{AgentEvent, TurnConfig, run_turn};
use herd_engine::prompt::{Formatter, Prompt, raw_prompt};
use herd_engine::{GenEvent, GenerateRequest, Generator, SamplingParams};
use herd_llama::chat::ChatTemplate;
use herd_llama::dialog::ToolOffer;
use herd_llama::llama31::Llama31Message;
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
    /// Answer this one message and exit instead of chatting interactively (`-` reads
    /// standard input).
    #[arg(long, short = 'p')]
    pub prompt: Option<String>,
    /// With --prompt: print the turn as JSON ({"messages": [...], "content": ...,
    /// "tool_calls": N}) instead of streaming text.
    #[arg(long)]
    pub json: bool,
    /// Start from this conversation: an OpenAI-style JSON list of messages (with
    /// --prompt, the prompt is the next user message).
    #[arg(long, value_name = "FILE")]
    pub messages: Option<String>,
    #[command(flatten)]
    pub tools: super::tools::ToolOpts,
    #[command(flatten)]
    pub opts: GenOpts,
    #[command(flatten)]
    pub model: ModelOpts,
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
        let mut msgs: Vec<Llama31Message> = a.opts.system.iter().map(|s| message("system", s)).collect();
        msgs.push(message("user", &text));
        formatter(&files)?.render(&files.tokenizer, &msgs, &ToolOffer::default())?
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

/// The prompt formatter of a model: Llama 3.1's own for Llama 3 models, else the
/// model's chat template.
pub(crate) fn formatter(files: &ModelFiles) -> Result<Formatter> {
    let tpl = match &files.chat_template {
        Some(src) => Some(ChatTemplate::new(src, &files.bos_token, &files.eos_token)?),
        None => None,
    };
    Formatter::new(&files.tokenizer, tpl)
        .with_context(|| format!("{} cannot chat; use --raw to send text as is", files.path.display()))
}

fn turn_config(files: &ModelFiles, g: &GenOpts, max_tool_calls: usize) -> TurnConfig {
    TurnConfig {
        sampling: g.sampling(),
        max_tokens: g.max_tokens,
        stop_strings: g.stop.clone(),
        stop_tokens: files.tokenizer.stop_ids(),
        max_tool_calls,
    }
}

/// Shows a turn's events on the terminal: text on stdout, tool traffic on stderr.
fn show_event(ev: AgentEvent<'_>, json: bool, stop: &AtomicBool) -> ControlFlow<()> {
    match ev {
        AgentEvent::Text(t) if !json => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(t.as_bytes());
            let _ = out.flush();
        }
        AgentEvent::Text(_) => {}
        AgentEvent::Call(c) => {
            eprintln!("\n[herd: calling {} {}]", c.tool_name, serde_json::Value::Object(c.arguments.clone()))
        }
        AgentEvent::Result(c, out) => {
            let status = if out.ok { "ok" } else { "failed" };
            eprintln!("[herd: {} {status}: {}]", c.tool_name, out.text.chars().take(400).collect::<String>())
        }
        AgentEvent::Warning(w) => eprintln!("\n[herd: warning: {w}]"),
    }
    if stop.swap(false, Ordering::SeqCst) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
}

/// One message in, one answer out (with any tool calls in between), then exit.
fn chat_once(a: &ChatArgs, files: &ModelFiles, prompt: &str) -> Result<()> {
    let (offer, toolbox) = a.tools.build()?;
    let fmt = formatter(files)?;
    let n_ctx = context_size(a.model.ctx, files.config.max_ctx);
    let mut generator = Generator::new(files, n_ctx, a.model.threads)?;
    let stop = interrupt_flag()?;
    let mut history: Vec<Llama31Message> = a.opts.system.iter().map(|s| message("system", s)).collect();
    history.extend(start_messages(a)?);
    history.push(message("user", prompt));
    let first_new = history.len();
    let cfg = turn_config(files, &a.opts, a.tools.max_tool_calls);
    let out = run_turn(&mut generator, &fmt, &offer, &toolbox, &mut history, &cfg, |ev| show_event(ev, a.json, &stop))?;
    if a.json {
        let msgs: Vec<serde_json::Value> = history[first_new..].iter().map(api_json).collect();
        let v = serde_json::json!({"messages": msgs, "content": out.content, "tool_calls": out.tool_calls, "finish_reason": out.finish_reason});
        println!("{v}");
    } else {
        println!();
    }
    Ok(())
}

/// The conversation --messages starts from.
fn start_messages(a: &ChatArgs) -> Result<Vec<Llama31Message>> {
    let Some(path) = &a.messages else { return Ok(Vec::new()) };
    let raw = super::read_file_arg(path)?;
    let api: Vec<herd_llama::dialog::ApiMessage> =
        serde_json::from_str(&raw).with_context(|| format!("{path}: expected a JSON list of messages"))?;
    Ok(herd_llama::dialog::from_api(&api)?)
}

fn message(role: &str, content: &str) -> Llama31Message {
    Llama31Message {
        role: role.into(),
        content: content.into(),
        context: None,
        tool_calls: Vec::new(),
        stop_reason: None,
    }
}

/// A message of the transcript, OpenAI-style (tool results as role "tool").
fn api_json(m: &Llama31Message) -> serde_json::Value {
    let role = if m.role == "ipython" { "tool" } else { m.role.as_str() };
    let mut v = serde_json::json!({"role": role, "content": m.content});
    if !m.tool_calls.is_empty() {
        v["tool_calls"] = m
            .tool_calls
            .iter()
            .map(|c| serde_json::json!({"type": "function", "function": {"name": c.tool_name, "arguments": serde_json::Value::Object(c.arguments.clone()).to_string()}}))
            .collect();
    }
    v
}

pub fn chat(a: ChatArgs) -> Result<()> {
    let files = load_model(a.model_path.as_deref())?;
    if let Some(p) = &a.prompt {
        return chat_once(&a, &files, &text_arg(p)?);
    }
    if a.json {
        bail!("--json needs --prompt (a single turn)");
    }
    let (offer, toolbox) = a.tools.build()?;
    let fmt = formatter(&files)?;
    let n_ctx = context_size(a.model.ctx, files.config.max_ctx);
    let mut generator = Generator::new(&files, n_ctx, a.model.threads)?;
    let stop = interrupt_flag()?;
    let cfg = turn_config(&files, &a.opts, a.tools.max_tool_calls);
    let mut system = a.opts.system.clone();
    let mut history: Vec<Llama31Message> = start_messages(&a)?;
    let tools = if offer.is_empty() { String::new() } else { format!(", tools: {}", toolbox.available().join(", ")) };
    eprintln!(
        "herd chat with {} (ctx {n_ctx}{tools}). /reset, /system TEXT, /exit; Ctrl-C stops an answer, Ctrl-D leaves.",
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
        let mut msgs: Vec<Llama31Message> = system.iter().map(|s| message("system", s)).collect();
        msgs.append(&mut history);
        msgs.push(message("user", input));
        let kept = msgs.len();
        let res = run_turn(&mut generator, &fmt, &offer, &toolbox, &mut msgs, &cfg, |ev| show_event(ev, false, &stop));
        println!();
        match res {
            Ok(r) => {
                if r.finish_reason == herd_engine::FinishReason::Interrupted {
                    eprintln!("(stopped)");
                }
            }
            Err(e) => {
                // Keep the session: the user can /reset or shorten the conversation.
                msgs.truncate(kept - 1);
                eprintln!("herd: error: {e}");
            }
        }
        history = msgs.split_off(usize::from(system.is_some()));
    }
}
