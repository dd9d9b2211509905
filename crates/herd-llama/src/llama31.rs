//! The Llama 3.1 prompt format at the token level, as Meta's `ChatFormat` writes it:
//! special tokens are inserted by id, and every piece of text (contents, tool calls,
//! RAG context) is tokenized as plain text, so nothing a user types can become a
//! control token.

use crate::error::{LlamaError, Result};
use crate::tokenizer::Tokenizer;
use serde::Deserialize;

pub use crate::toolcall::{ToolCall, ToolFormat, py_json, tool_call_text};

/// One message of a Llama 3.1 dialog. `role` is system, user, assistant, ipython or
/// tool (the API's name for ipython).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Llama31Message {
    pub role: String,
    #[serde(default)]
    pub content: String,
    /// RAG context appended to a user message after a blank line.
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// `end_of_message` ends an assistant message with `<|eom_id|>` (it waits for a
    /// tool result); anything else with `<|eot_id|>`.
    #[serde(default)]
    pub stop_reason: Option<String>,
}

/// Llama 3.1's special tokens, by id: names differ between releases (128008 is
/// `<|eom_id|>` in 3.1 but a reserved token in 3.0 exports), ids do not (spec §2.2).
struct Ids {
    start_header: u32,
    end_header: u32,
    eot: u32,
    eom: u32,
    python_tag: u32,
    bos: u32,
}

const LLAMA3_IDS: Ids =
    Ids { bos: 128_000, start_header: 128_006, end_header: 128_007, eom: 128_008, eot: 128_009, python_tag: 128_010 };

/// Whether `tok` is the Llama 3 vocabulary (128,256 tokens, Meta's special tokens at
/// their ids): then the native formatter applies, whatever template a file carries.
pub fn is_llama3(tok: &Tokenizer) -> bool {
    tok.vocab_size() == 128_256
        && tok.token_bytes(LLAMA3_IDS.bos) == b"<|begin_of_text|>"
        && tok.token_bytes(LLAMA3_IDS.eot) == b"<|eot_id|>"
}

/// The ids, once the tokenizer is known to be a Llama 3 vocabulary.
fn ids(tok: &Tokenizer) -> Result<&'static Ids> {
    if !is_llama3(tok) {
        return Err(LlamaError::Tokenizer(
            "the Llama 3.1 prompt format needs the Llama 3 vocabulary (128,256 tokens)".into(),
        ));
    }
    Ok(&LLAMA3_IDS)
}

/// `<|eom_id|>`: the model stopped to wait for a tool result.
pub const EOM_ID: u32 = LLAMA3_IDS.eom;

fn header(tok: &Tokenizer, ids: &Ids, role: &str, out: &mut Vec<u32>) {
    out.push(ids.start_header);
    out.extend(tok.encode(if role == "tool" { "ipython" } else { role }, false));
    out.push(ids.end_header);
    out.extend(tok.encode("\n\n", false));
}

/// Token ids of a whole dialog, ending with an open assistant header, as
/// `ChatFormat.encode_dialog_prompt`.
pub fn encode_dialog(tok: &Tokenizer, messages: &[Llama31Message], fmt: ToolFormat) -> Result<Vec<u32>> {
    let ids = ids(tok)?;
    let mut out = vec![ids.bos];
    for m in messages {
        if !matches!(m.role.as_str(), "system" | "user" | "assistant" | "ipython" | "tool") {
            return Err(LlamaError::Template(format!("role {:?} is not a Llama 3.1 role", m.role)));
        }
        header(tok, ids, &m.role, &mut out);
        let assistant = m.role == "assistant";
        if assistant && m.tool_calls.first().is_some_and(|t| t.tool_name == "code_interpreter") {
            out.push(ids.python_tag);
        }
        out.extend(tok.encode(&m.content, false));
        if let (true, Some(ctx)) = (m.role == "user", &m.context) {
            out.extend(tok.encode("\n\n", false));
            out.extend(tok.encode(ctx, false));
        }
        if assistant {
            for t in &m.tool_calls {
                out.extend(tok.encode(&tool_call_text(t, fmt), false));
            }
        }
        let eom = assistant && m.stop_reason.as_deref() == Some("end_of_message");
        out.push(if eom { ids.eom } else { ids.eot });
    }
    header(tok, ids, "assistant", &mut out);
    Ok(out)
}
