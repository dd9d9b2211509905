//! From messages or raw text to prompt token ids.
//!
//! The chat template is rendered as text, but message contents are tokenized as plain
//! text: only the template's own special-token text becomes control tokens, so a user
//! who types `<|im_start|>` or `<|eot_id|>` cannot forge a turn.

use herd_llama::chat::{ChatTemplate, Message};
use herd_llama::dialog::{self, FunctionSpec, ToolOffer};
use herd_llama::llama31::{self, Llama31Message};
use herd_llama::tokenizer::Tokenizer;
use herd_llama::toolcall::{ToolFormat, function_tag_text};
use std::ops::Range;

/// The rendered prompt and its ids.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub text: String,
    pub ids: Vec<u32>,
}

/// Byte ranges of `text` that hold message contents (searched in order, allowing the
/// template to have trimmed them).
fn content_spans(text: &str, messages: &[Message]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    for m in messages {
        let c = m.content.trim();
        if c.is_empty() {
            continue;
        }
        if let Some(at) = text[from..].find(c) {
            spans.push(from + at..from + at + c.len());
            from += at + c.len();
        }
    }
    spans
}

/// Tokenizes `text`, turning special-token text into control tokens only outside
/// `protected` byte ranges.
pub fn encode_protected(tok: &Tokenizer, text: &str, protected: &[Range<usize>]) -> Vec<u32> {
    let mut ids = Vec::new();
    let mut pos = 0;
    for r in protected {
        ids.extend(encode_segment(tok, &text[pos..r.start], &text[r.start..r.end]));
        pos = r.end;
    }
    ids.extend(tok.encode(&text[pos..], true));
    ids
}

/// Template text (special tokens parsed) followed by content (plain). Where the two
/// touch without a special token between them, they are tokenized together with the
/// special tokens of the template part split out, so merges across the seam match
/// what tokenizing the whole string would give.
fn encode_segment(tok: &Tokenizer, template: &str, content: &str) -> Vec<u32> {
    let t_ids = tok.encode(template, true);
    // Find the text after the last special token of the template part: it joins the
    // content into one plain-text fragment.
    let mut tail_start = 0;
    let mut acc = 0;
    let mut last_special = None;
    for (i, &id) in t_ids.iter().enumerate() {
        acc += tok.token_bytes(id).len();
        if tok.is_special(id) {
            tail_start = acc;
            last_special = Some(i);
        }
    }
    let mut ids: Vec<u32> = match last_special {
        Some(i) => t_ids[..=i].to_vec(),
        None => Vec::new(),
    };
    let tail = template.get(tail_start..).unwrap_or("");
    let mut plain = String::with_capacity(tail.len() + content.len());
    plain.push_str(tail);
    plain.push_str(content);
    ids.extend(tok.encode(&plain, false));
    ids
}

/// Renders `messages` with `template` and tokenizes the result, adding BOS when the
/// tokenizer asks for it and the template did not already write it.
pub fn chat_prompt(
    tok: &Tokenizer,
    template: &ChatTemplate,
    messages: &[Message],
) -> Result<Prompt, herd_llama::LlamaError> {
    let text = template.render(messages, true)?;
    let spans = content_spans(&text, messages);
    let mut ids = encode_protected(tok, &text, &spans);
    add_bos(tok, &mut ids);
    Ok(Prompt { text, ids })
}

/// Raw text, special-token text recognized (as llama.cpp does for a raw prompt).
pub fn raw_prompt(tok: &Tokenizer, text: &str) -> Prompt {
    let mut ids = tok.encode(text, true);
    add_bos(tok, &mut ids);
    Prompt { text: text.to_string(), ids }
}

fn add_bos(tok: &Tokenizer, ids: &mut Vec<u32>) {
    if let (true, Some(b)) = (tok.add_bos(), tok.bos_id())
        && ids.first() != Some(&b)
    {
        ids.insert(0, b);
    }
}

/// How a model's dialogs become tokens: Meta's Llama 3.1 format for the Llama 3
/// vocabulary (whatever template the file carries, so tool calling works the same
/// for every Llama 3.x model), else the model's own chat template.
#[derive(Debug)]
pub enum Formatter {
    Llama31,
    Template(Box<ChatTemplate>),
}

impl Formatter {
    /// The formatter for a tokenizer and the chat template its model file carries.
    pub fn new(tok: &Tokenizer, template: Option<ChatTemplate>) -> Result<Self, herd_llama::LlamaError> {
        if herd_llama::llama31::is_llama3(tok) {
            return Ok(Self::Llama31);
        }
        template.map(|t| Self::Template(Box::new(t))).ok_or_else(|| {
            herd_llama::LlamaError::Template(
                "this model has no chat template and is not a Llama 3 model; send text with --raw".into(),
            )
        })
    }

    /// Renders a dialog with `offer`'s tools, ending with an open assistant turn.
    pub fn render(
        &self,
        tok: &Tokenizer,
        messages: &[Llama31Message],
        offer: &ToolOffer,
    ) -> Result<Prompt, herd_llama::LlamaError> {
        match self {
            Self::Llama31 => {
                let msgs = dialog::with_tools(messages.to_vec(), offer)?;
                let ids = llama31::encode_dialog(tok, &msgs, offer.format)?;
                Ok(Prompt { text: tok.decode(&ids), ids })
            }
            Self::Template(t) => chat_prompt(tok, t, &template_messages(messages, offer)?),
        }
    }
}

/// A dialog with tools for a model that has only a chat template (no Llama 3.1 tool
/// format): every tool, built-ins included, is offered in the `<function=…>` format in
/// the system message, calls are written back in that format, and tool results go in
/// messages of role `tool`.
fn template_messages(messages: &[Llama31Message], offer: &ToolOffer) -> Result<Vec<Message>, herd_llama::LlamaError> {
    let mut out = Vec::new();
    let mut rest = messages;
    if !offer.is_empty() {
        let mut tools: Vec<FunctionSpec> = offer.builtins.iter().map(|b| dialog::builtin_spec(b)).collect();
        tools.extend(offer.custom.iter().cloned());
        let mut system = dialog::custom_tools_prompt(&tools, ToolFormat::FunctionTag)?;
        if let Some((first, tail)) = messages.split_first().filter(|(m, _)| m.role == "system") {
            system = format!("{}\n\n{system}", first.content);
            rest = tail;
        }
        out.push(Message::new("system", &system));
    }
    for m in rest {
        let mut content = m.content.clone();
        if let (true, Some(ctx)) = (m.role == "user", &m.context) {
            content = format!("{content}\n\n{ctx}");
        }
        for c in &m.tool_calls {
            content.push_str(&function_tag_text(&c.tool_name, &c.arguments));
        }
        let role = if m.role == "ipython" { "tool" } else { m.role.as_str() };
        out.push(Message::new(role, &content));
    }
    Ok(out)
}
