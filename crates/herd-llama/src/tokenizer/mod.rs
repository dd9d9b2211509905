//! Text <-> token ids for byte-level BPE vocabularies: Llama 3 `tokenizer.model` (tiktoken), Hugging Face `tokenizer.json`, GGUF-embedded `gpt2` vocabularies.
//!
//! Every source keeps its reference's exact behaviour:
//! - tiktoken files encode as llama-models' `Tokenizer.encode` (tiktoken with Meta's
//!   pattern, its 256 special tokens and its 400k-window / 25k-run input guard);
//! - `tokenizer.json` encodes as Hugging Face `tokenizers` (`ignore_merges`, added tokens
//!   matched leftmost-longest, BOS from the post-processor template or the config);
//! - GGUF vocabularies encode as llama.cpp (`tokenizer.ggml.pre` picks the splitter,
//!   `tokenizer_st_partition` semantics for special tokens, USER_DEFINED tokens matched
//!   even when special tokens are not parsed).
//!
//! Encoding is linear in the input apart from BPE's O(n log n) per word, so megabytes of
//! hostile text cost seconds at most; nothing recurses on input length.

mod bpe;
mod gguf_vocab;
mod hf;
mod llama3_split;
mod pretok;
mod special;
mod table;
mod tiktoken;
mod unicode;

use std::sync::Arc;

use crate::error::{LlamaError, Result};
use bpe::{BpeModel, BpeScratch};
use pretok::PreTokenizer;
use special::{Frag, SpecialMatcher};

/// The largest tokenizer file [`Tokenizer::from_tiktoken_file`] reads (Llama 3's is 2 MB).
const MAX_TOKENIZER_FILE_BYTES: u64 = 256 << 20;

/// Token texts that end generation, as llama.cpp's `special_eog_ids` text list; the
/// stop set of GGUF and tokenizer.json vocabularies.
pub(crate) const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// What a GGUF file says about its tokenizer (the `tokenizer.ggml.*` keys).
#[derive(Debug, Clone, Default)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`; only `"gpt2"` (byte-level BPE) is supported.
    pub model: String,
    /// `tokenizer.ggml.pre`, e.g. `"llama-bpe"`, `"smollm"`, `"gpt-2"`; empty when the
    /// key is missing (llama.cpp then uses its `"default"` splitter).
    pub pre: String,
    /// `tokenizer.ggml.tokens`: GPT-2 byte-level strings (control tokens as plain text).
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.token_type` (1 normal, 2 unknown, 3 control, 4 user-defined,
    /// 5 unused, 6 byte); empty means all normal.
    pub token_types: Vec<i32>,
    /// `tokenizer.ggml.merges`: `"left right"`, rank = position.
    pub merges: Vec<String>,
    /// `tokenizer.ggml.bos_token_id` (llama.cpp falls back to id 11 for `gpt2` when the
    /// key is missing; we do not guess, so a missing BOS means no BOS).
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.eot_token_id`; when absent the token is found by its text
    /// (`<|eot_id|>`, `<|im_end|>`, ...) as llama.cpp does.
    pub eot: Option<u32>,
    /// `tokenizer.ggml.eom_token_id`; when absent, `<|eom_id|>` if present.
    pub eom: Option<u32>,
    /// `tokenizer.ggml.add_bos_token` when present, else [`GgufVocab::default_add_bos`]
    /// (the loader must apply the default: this struct cannot tell absent from false).
    pub add_bos: bool,
}

impl GgufVocab {
    /// llama.cpp's default for `add_bos` when `tokenizer.ggml.add_bos_token` is absent:
    /// true for the Llama 3 family of pre-tokenizers, false for other `gpt2` vocabularies.
    pub fn default_add_bos(pre: &str) -> bool {
        gguf_vocab::default_add_bos(pre)
    }
}

/// Where a tokenizer came from; decides nothing after loading, shown by `Debug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Tiktoken,
    HfJson,
    Gguf,
}

/// What a loader hands to [`Tokenizer::from_parts`].
struct Parts {
    source: Source,
    /// The bytes each id stands for (special tokens: their text).
    token_bytes: Vec<Vec<u8>>,
    /// Control tokens.
    is_special: Vec<bool>,
    model: BpeModel,
    pre: PreTokenizer,
    /// Apply llama-models' 400k-window / 25k-run input guard.
    llama_models_guard: bool,
    specials: SpecialMatcher,
    bos: Option<u32>,
    eos: Option<u32>,
    stop_ids: Vec<u32>,
    add_bos: bool,
}

struct Inner {
    source: Source,
    /// All token bytes back to back; token `i` is `data[ends[i-1]..ends[i]]`.
    data: Vec<u8>,
    ends: Vec<usize>,
    is_special: Vec<bool>,
    model: BpeModel,
    pre: PreTokenizer,
    llama_models_guard: bool,
    specials: SpecialMatcher,
    bos: Option<u32>,
    eos: Option<u32>,
    stop_ids: Vec<u32>,
    add_bos: bool,
}

/// A loaded tokenizer. Cheap to clone (shared, immutable tables).
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("Tokenizer")
            .field("source", &i.source)
            .field("vocab_size", &self.vocab_size())
            .field("special_tokens", &i.specials.tokens().len())
            .field("bos", &i.bos)
            .field("eos", &i.eos)
            .field("stop_ids", &i.stop_ids)
            .field("add_bos", &i.add_bos)
            .finish()
    }
}

fn err(msg: impl Into<String>) -> LlamaError {
    LlamaError::Tokenizer(msg.into())
}

impl Tokenizer {
    /// Loads a Llama 3 `tokenizer.model` (tiktoken format).
    pub fn from_tiktoken_file(path: &std::path::Path) -> Result<Self> {
        let len = std::fs::metadata(path).map_err(|e| LlamaError::io(path, e))?.len();
        if len > MAX_TOKENIZER_FILE_BYTES {
            return Err(err(format!(
                "{}: {len} bytes is too large for a tokenizer file (limit {MAX_TOKENIZER_FILE_BYTES})",
                path.display()
            )));
        }
        let data = std::fs::read(path).map_err(|e| LlamaError::io(path, e))?;
        Self::from_tiktoken_bytes(&data).map_err(|e| err(format!("{}: {}", path.display(), strip_prefix(e))))
    }

    /// Parses tiktoken-format bytes (`base64(token) rank` per line) and appends the 256
    /// Llama 3.1 special tokens with llama-models 0.3.0's names; BOS is prepended.
    pub fn from_tiktoken_bytes(data: &[u8]) -> Result<Self> {
        tiktoken::load(data).map(Self::from_parts)
    }

    /// Loads a Hugging Face byte-level BPE `tokenizer.json`, with the optional
    /// `tokenizer_config.json` for `add_bos_token`, `bos_token` and `eos_token`.
    pub fn from_hf_json(tokenizer_json: &[u8], tokenizer_config: Option<&[u8]>) -> Result<Self> {
        hf::load(tokenizer_json, tokenizer_config).map(Self::from_parts)
    }

    /// Builds the tokenizer a GGUF file describes, as llama.cpp would.
    pub fn from_gguf_vocab(v: GgufVocab) -> Result<Self> {
        gguf_vocab::load(v).map(Self::from_parts)
    }

    fn from_parts(p: Parts) -> Self {
        let n = p.token_bytes.len();
        let mut data = Vec::with_capacity(p.token_bytes.iter().map(Vec::len).sum());
        let mut ends = Vec::with_capacity(n);
        for t in &p.token_bytes {
            data.extend_from_slice(t);
            ends.push(data.len());
        }
        let valid = |id: &u32| (*id as usize) < n;
        let mut stop_ids: Vec<u32> = Vec::new();
        for id in p.stop_ids.into_iter().filter(valid) {
            if !stop_ids.contains(&id) {
                stop_ids.push(id);
            }
        }
        let mut is_special = p.is_special;
        is_special.resize(n, false);
        Tokenizer {
            inner: Arc::new(Inner {
                source: p.source,
                data,
                ends,
                is_special,
                model: p.model,
                pre: p.pre,
                llama_models_guard: p.llama_models_guard,
                specials: p.specials,
                bos: p.bos.filter(valid),
                eos: p.eos.filter(valid),
                stop_ids,
                add_bos: p.add_bos,
            }),
        }
    }

    /// Encodes `text` without BOS. With `special == true`, special-token text in `text`
    /// becomes the special token's id (llama.cpp `parse_special`, tiktoken
    /// `allowed_special="all"`); with `false` it is encoded as plain text (only
    /// user-defined / non-special added tokens are still matched, as in llama.cpp and
    /// Hugging Face). This is also the entry point for very long texts: splitting is
    /// linear, merging O(n log n) per word, nothing recurses, so megabytes of untrusted
    /// text encode in well under a second.
    pub fn encode(&self, text: &str, special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 1);
        let mut scratch = Scratch::default();
        if self.inner.llama_models_guard {
            for chunk in pretok::llama_models_chunks(text) {
                self.encode_segment(chunk, special, &mut scratch, &mut out);
            }
        } else {
            self.encode_segment(text, special, &mut scratch, &mut out);
        }
        out
    }

    fn encode_segment(&self, text: &str, special: bool, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let mut frags = Vec::new();
        self.inner.specials.split(text, special, &mut frags);
        for f in frags {
            match f {
                Frag::Token(id) => out.push(id),
                Frag::Text(s) => self.encode_ordinary(s, scratch, out),
            }
        }
    }

    fn encode_ordinary(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let inner = &*self.inner;
        let prefixed;
        let text = if inner.pre.prefix_space && !text.starts_with(' ') {
            prefixed = format!(" {text}");
            prefixed.as_str()
        } else {
            text
        };
        inner.pre.split(text, &mut scratch.pieces);
        let bytes = text.as_bytes();
        for r in &scratch.pieces {
            inner.model.encode_piece(&bytes[r.clone()], &mut scratch.bpe, out);
        }
    }

    /// Whether the tokenizer's owner says BOS is prepended (and a BOS id exists).
    pub fn add_bos(&self) -> bool {
        self.inner.add_bos && self.inner.bos.is_some()
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.inner.bos
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.inner.eos
    }

    /// Ids that end generation: EOS, end-of-turn (`<|eot_id|>`, `<|im_end|>`, ...) and
    /// end-of-message where they exist, EOS first. GGUF and tokenizer.json vocabularies
    /// add every token llama.cpp treats as end-of-generation by its text.
    pub fn stop_ids(&self) -> Vec<u32> {
        self.inner.stop_ids.clone()
    }

    /// The id of the token whose text (special tokens) or bytes (others) equal `text`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        let inner = &*self.inner;
        if let Some(t) = inner.specials.tokens().iter().find(|t| t.text == text) {
            return Some(t.id);
        }
        if let Some(id) = inner.model.whole.get(text.as_bytes())
            && id < inner.model.n_real
        {
            return Some(id);
        }
        (0..self.vocab_size() as u32).find(|&id| self.token_bytes(id) == text.as_bytes())
    }

    /// Whether `id` is a control token: the 256 Llama 3 specials, tokenizer.json added
    /// tokens with `special: true`, GGUF CONTROL/UNKNOWN tokens.
    pub fn is_special(&self, id: u32) -> bool {
        self.inner.is_special.get(id as usize).copied().unwrap_or(false)
    }

    /// The raw bytes a token stands for (special tokens: their text); empty for ids
    /// outside the vocabulary.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let inner = &*self.inner;
        let i = id as usize;
        let Some(&end) = inner.ends.get(i) else {
            return &[];
        };
        let start = if i == 0 { 0 } else { inner.ends[i - 1] };
        &inner.data[start..end]
    }

    /// The concatenated bytes of `ids` as lossy UTF-8; special tokens appear as their text.
    pub fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            bytes.extend_from_slice(self.token_bytes(id));
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Number of ids, special tokens included (128,256 for Llama 3).
    pub fn vocab_size(&self) -> usize {
        self.inner.ends.len()
    }
}

/// Per-call buffers, reused across the pieces of one `encode`.
#[derive(Default)]
struct Scratch {
    pieces: Vec<std::ops::Range<usize>>,
    bpe: BpeScratch,
}

/// A nested loader error without its repeated "tokenizer: " prefix.
fn strip_prefix(e: LlamaError) -> String {
    match e {
        LlamaError::Tokenizer(m) => m,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
