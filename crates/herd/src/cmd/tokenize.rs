//! `herd tokenize` and `herd render`: text and conversations to token ids.

use super::{open_model, text_arg};
use anyhow::{Context, Result};
use clap::Args;
use herd_engine::prompt::Formatter;
use herd_llama::chat::ChatTemplate;
use herd_llama::dialog::{self, ApiMessage, ToolOffer};
use herd_llama::tokenizer::Tokenizer;
use herd_llama::toolcall::ToolFormat;
use std::path::Path;

#[derive(Args, Debug)]
pub struct TokenizeArgs {
    /// A model (GGUF file, HF folder, catalogue name) or a tokenizer file
    /// (tokenizer.model, tokenizer.json).
    pub source: String,
    /// The text; `-` reads standard input.
    pub text: String,
    /// Recognize special-token text (e.g. <|eot_id|>) as control tokens.
    #[arg(long)]
    pub special: bool,
    /// Prepend BOS.
    #[arg(long)]
    pub bos: bool,
    /// Print {"ids": [...]}.
    #[arg(long)]
    pub json: bool,
}

/// A tokenizer file (tokenizer.model, .tiktoken, tokenizer.json) or a model's tokenizer.
pub fn load_tokenizer(source: &str) -> Result<Tokenizer> {
    let p = Path::new(source);
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if p.is_file() && (name.ends_with(".model") || name.ends_with(".tiktoken")) {
        return Ok(Tokenizer::from_tiktoken_file(p)?);
    }
    if p.is_file() && name.ends_with(".json") {
        let bytes = std::fs::read(p).with_context(|| source.to_string())?;
        let cfg = p.with_file_name("tokenizer_config.json");
        let cfg = std::fs::read(cfg).ok();
        return Ok(Tokenizer::from_hf_json(&bytes, cfg.as_deref())?);
    }
    Ok(open_model(Some(source))?.tokenizer)
}

pub fn tokenize(a: TokenizeArgs) -> Result<()> {
    let tok = load_tokenizer(&a.source)?;
    let text = text_arg(&a.text)?;
    let mut ids = Vec::new();
    if a.bos {
        ids.extend(tok.bos_id());
    }
    ids.extend(tok.encode(&text, a.special));
    if a.json {
        println!("{}", serde_json::json!({ "ids": ids }));
    } else {
        for id in ids {
            let piece = String::from_utf8_lossy(tok.token_bytes(id));
            println!("{id:>7} {piece:?}");
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// A model (GGUF file, Hugging Face folder, catalogue name), or a Llama 3
    /// tokenizer.model (then the native Llama 3.1 format is used).
    pub source: String,
    /// An OpenAI-style JSON list of messages (roles system, user, assistant, tool;
    /// assistant `tool_calls`); `-` reads standard input.
    pub messages: String,
    /// Tools offered to the model: an OpenAI-style JSON list (function tools, and
    /// built-ins written as {"type": "brave_search"}, ...).
    #[arg(long, value_name = "FILE")]
    pub tools: Option<String>,
    /// How custom tools are offered to a Llama 3.1 model: json or function_tag.
    #[arg(long, default_value = "json", value_parser = super::tools::parse_format)]
    pub tool_format: ToolFormat,
    /// The "Today Date" of the system prompt (default: today).
    #[arg(long)]
    pub date: Option<String>,
    /// Print {"text": ..., "ids": [...]}.
    #[arg(long)]
    pub json: bool,
}

pub fn render(a: RenderArgs) -> Result<()> {
    let p = Path::new(&a.source);
    let (tok, template) = if p.is_file() && !a.source.ends_with(".gguf") {
        (load_tokenizer(&a.source)?, None)
    } else {
        let files = open_model(Some(&a.source))?;
        let tpl = match &files.chat_template {
            Some(src) => Some(ChatTemplate::new(src, &files.bos_token, &files.eos_token)?),
            None => None,
        };
        (files.tokenizer, tpl)
    };
    let raw = super::read_file_arg(&a.messages)?;
    let api: Vec<ApiMessage> = serde_json::from_str(&raw)
        .with_context(|| format!("{}: expected a JSON list of messages ({{\"role\", \"content\"}})", a.messages))?;
    let msgs = dialog::from_api(&api)?;
    let mut offer =
        ToolOffer { format: a.tool_format, today: a.date.unwrap_or_else(super::tools::today), ..Default::default() };
    if let Some(f) = &a.tools {
        offer.add_api_tools(&super::tools::read_tools(f)?)?;
    }
    let p = Formatter::new(&tok, template)?.render(&tok, &msgs, &offer)?;
    if a.json {
        println!("{}", serde_json::json!({ "text": p.text, "ids": p.ids }));
    } else {
        print!("{}", p.text);
        if !p.text.ends_with('\n') {
            println!();
        }
        eprintln!("herd: {} tokens: {:?}", p.ids.len(), p.ids);
    }
    Ok(())
}
