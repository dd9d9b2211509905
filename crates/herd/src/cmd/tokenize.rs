//! `herd tokenize` and `herd render`: text and conversations to token ids.

use super::{load_model, text_arg};
use anyhow::{Context, Result};
use clap::Args;
use herd_engine::prompt::chat_prompt;
use herd_llama::chat::{ChatTemplate, Message};
use herd_llama::tokenizer::Tokenizer;
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

fn load_tokenizer(source: &str) -> Result<Tokenizer> {
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
    Ok(load_model(Some(source))?.tokenizer)
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
    /// A GGUF file, a Hugging Face folder or a catalogue name.
    pub model_path: String,
    /// A JSON file with [{"role": ..., "content": ...}, ...]; `-` reads standard input.
    pub messages: String,
    /// Print {"prompt": ..., "ids": [...]}.
    #[arg(long)]
    pub json: bool,
}

pub fn render(a: RenderArgs) -> Result<()> {
    let files = load_model(Some(&a.model_path))?;
    let raw = if a.messages == "-" {
        text_arg("-")?
    } else {
        std::fs::read_to_string(&a.messages).with_context(|| a.messages.clone())?
    };
    let msgs: Vec<Message> =
        serde_json::from_str(&raw).context("messages must be a JSON list of {\"role\", \"content\"}")?;
    let src = files.chat_template.as_deref().context("the model has no chat template")?;
    let tpl = ChatTemplate::new(src, &files.bos_token, &files.eos_token)?;
    let p = chat_prompt(&files.tokenizer, &tpl, &msgs)?;
    if a.json {
        println!("{}", serde_json::json!({ "prompt": p.text, "ids": p.ids }));
    } else {
        print!("{}", p.text);
    }
    Ok(())
}
