//! The `tokenizer.*` metadata of a written GGUF: from tokenizer.json as llama.cpp's converter writes it, from a Llama 3 tokenizer.model, or a byte-level stand-in.
//!
//! The pre-tokenizer name (`tokenizer.ggml.pre`) is chosen the way llama.cpp's converter
//! chooses it, by behaviour rather than by reading the JSON: the candidate GGUF
//! vocabulary is built with herd's own GGUF tokenizer (which mirrors llama.cpp) and must
//! tokenize llama.cpp's check text exactly as the source tokenizer does. So whatever the
//! file says, the written model tokenizes like its source, or conversion fails.

use crate::error::{LlamaError, Result};
use crate::gguf::Value;
use crate::tokenizer::{GgufVocab, Tokenizer};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::path::Path;

/// llama.cpp's `token_type` values.
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;
const UNUSED: i32 = 5;

/// convert_hf_to_gguf.py's `chktxt`: whitespace runs, emoji, digits, CJK, Khmer,
/// Cyrillic, quotes and contractions, where the pre-tokenizers differ.
const CHECK_TEXT: &str = "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u{200d}🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL";

/// Pre-tokenizer names tried in order; the first that tokenizes like the source wins
/// (so Llama 3 is `llama-bpe` and SmolLM2 `smollm`, the names llama.cpp's converter
/// gives them, rather than an alias with the same behaviour).
const PRE_CANDIDATES: &[&str] = &["llama-bpe", "smollm", "gpt-2", "dbrx", "default"];

/// Special-token kinds of tokenizer_config.json and the GGUF keys of their ids (the
/// gguf package's spelling, `seperator` included).
const SPECIAL_KINDS: &[(&str, &str)] = &[
    ("bos", "tokenizer.ggml.bos_token_id"),
    ("eos", "tokenizer.ggml.eos_token_id"),
    ("unk", "tokenizer.ggml.unknown_token_id"),
    ("sep", "tokenizer.ggml.seperator_token_id"),
    ("pad", "tokenizer.ggml.padding_token_id"),
    ("cls", "tokenizer.ggml.cls_token_id"),
    ("mask", "tokenizer.ggml.mask_token_id"),
];

fn err(msg: impl Into<String>) -> LlamaError {
    LlamaError::Tokenizer(msg.into())
}

/// GPT-2's byte-to-character map: printable Latin-1 bytes stand for themselves, the
/// other 68 bytes for the characters from U+0100 on, in byte order.
fn byte_chars() -> [char; 256] {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let mut out = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let cp = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        out[b as usize] = char::from_u32(cp).unwrap_or('\u{FFFD}');
    }
    out
}

fn byte_level(bytes: &[u8], map: &[char; 256]) -> String {
    bytes.iter().map(|b| map[*b as usize]).collect()
}

/// The vocabulary part of the metadata: tokens, types, merges and special ids.
struct Vocab {
    tokens: Vec<String>,
    types: Vec<i32>,
    merges: Vec<String>,
    pre: String,
    ids: Vec<(&'static str, u32)>,
    add_bos: Option<bool>,
    add_eos: Option<bool>,
    add_sep: Option<bool>,
    chat_template: Option<String>,
}

impl Vocab {
    fn into_kv(self) -> Vec<(String, Value)> {
        let mut kv = vec![
            ("tokenizer.ggml.model".to_string(), Value::String("gpt2".into())),
            ("tokenizer.ggml.pre".to_string(), Value::String(self.pre)),
            ("tokenizer.ggml.tokens".to_string(), Value::Array(self.tokens.into_iter().map(Value::String).collect())),
            ("tokenizer.ggml.token_type".to_string(), Value::Array(self.types.into_iter().map(Value::I32).collect())),
        ];
        if !self.merges.is_empty() {
            kv.push((
                "tokenizer.ggml.merges".into(),
                Value::Array(self.merges.into_iter().map(Value::String).collect()),
            ));
        }
        kv.extend(self.ids.into_iter().map(|(k, id)| (k.to_string(), Value::U32(id))));
        if let Some(b) = self.add_bos {
            kv.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(b)));
        }
        if let Some(b) = self.add_eos {
            kv.push(("tokenizer.ggml.add_eos_token".into(), Value::Bool(b)));
        }
        if let Some(b) = self.add_sep {
            kv.push(("tokenizer.ggml.add_sep_token".into(), Value::Bool(b)));
        }
        if let Some(t) = self.chat_template {
            kv.push(("tokenizer.chat_template".into(), Value::String(t)));
        }
        kv
    }
}

/// The tokenizer metadata for a tokenizer file: a `tokenizer.json` (with the
/// `tokenizer_config.json`, `config.json` and chat template files beside it, as
/// llama.cpp's converter reads them) or a Llama 3 `tokenizer.model`. `vocab_size` is
/// the model's; ids the tokenizer does not define become unused `[PAD{id}]` tokens.
pub fn from_file(path: &Path, vocab_size: usize) -> Result<Vec<(String, Value)>> {
    let is_json = path.extension().is_some_and(|e| e == "json");
    let v = if is_json { from_hf_json(path, vocab_size)? } else { from_tiktoken(path, vocab_size)? };
    Ok(v.into_kv())
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| LlamaError::io(path, e))
}

fn read_json_opt(path: &Path) -> Result<Option<Json>> {
    match std::fs::read(path) {
        Ok(b) => {
            serde_json::from_slice(&b).map(Some).map_err(|e| err(format!("{}: not valid JSON: {e}", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LlamaError::io(path, e)),
    }
}

/// convert_hf_to_gguf.py's `does_token_look_special` for added tokens not marked special.
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<｜") && t.ends_with("｜>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

/// Tokens and types as `get_vocab_base` lists them.
fn hf_tokens(root: &Json, vocab_size: usize, path: &Path) -> Result<(Vec<String>, Vec<i32>)> {
    let mut tokens: Vec<Option<(String, i32)>> = vec![None; vocab_size];
    let too_big =
        |id: u64| err(format!("{}: token id {id} is not below the model's vocab_size {vocab_size}", path.display()));
    let vocab = root["model"]["vocab"].as_object().ok_or_else(|| err(format!("{}: no model.vocab", path.display())))?;
    for (text, id) in vocab {
        let id =
            id.as_u64().ok_or_else(|| err(format!("{}: vocab id of {text:?} is not an integer", path.display())))?;
        let slot = tokens.get_mut(id as usize).ok_or_else(|| too_big(id))?;
        *slot = Some((text.clone(), NORMAL));
    }
    for a in root["added_tokens"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let (Some(id), Some(content)) = (a["id"].as_u64(), a["content"].as_str()) else {
            return Err(err(format!("{}: an added token lacks id or content", path.display())));
        };
        let special = a["special"].as_bool().unwrap_or(false) || looks_special(content);
        // The converter pre-normalizes user-defined tokens' SentencePiece spaces.
        let entry =
            if special { (content.to_string(), CONTROL) } else { (content.replace('\u{2581}', " "), USER_DEFINED) };
        *tokens.get_mut(id as usize).ok_or_else(|| too_big(id))? = Some(entry);
    }
    Ok(tokens.into_iter().enumerate().map(|(i, t)| t.unwrap_or_else(|| (format!("[PAD{i}]"), UNUSED))).unzip())
}

/// `model.merges` as `"a b"` strings; the newer pair form has spaces inside tokens
/// written as U+0120, as the gguf package does.
fn hf_merges(root: &Json) -> Result<Vec<String>> {
    let Some(list) = root["model"]["merges"].as_array() else { return Ok(Vec::new()) };
    list.iter()
        .map(|m| match m {
            Json::String(s) => Ok(s.clone()),
            Json::Array(p) if p.len() == 2 => {
                let part = |v: &Json| v.as_str().map(|s| s.replace(' ', "\u{120}"));
                match (part(&p[0]), part(&p[1])) {
                    (Some(a), Some(b)) => Ok(format!("{a} {b}")),
                    _ => Err(err("tokenizer.json: a merge pair holds a non-string")),
                }
            }
            _ => Err(err("tokenizer.json: unknown merges format")),
        })
        .collect()
}

/// A special token in tokenizer_config.json: a string or `{"content": ...}`.
fn config_token(config: &Json, kind: &str) -> Option<String> {
    let v = &config[format!("{kind}_token")];
    v.as_str().or_else(|| v["content"].as_str()).map(str::to_string)
}

/// bos/eos/... ids and add_bos/add_eos as the gguf package's `SpecialVocab` finds
/// them: tokenizer_config.json names (looked up among the added tokens), then
/// config.json's `*_token_id`; add flags from the post-processor template, overridden
/// by tokenizer_config.json.
fn hf_specials(root: &Json, config: Option<&Json>, model_config: Option<&Json>, v: &mut Vocab) {
    let added: Vec<(&str, u64)> = root["added_tokens"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| Some((t["content"].as_str()?, t["id"].as_u64()?))).collect())
        .unwrap_or_default();
    let n = v.tokens.len() as u64;
    for (kind, key) in SPECIAL_KINDS {
        let from_config = config
            .and_then(|c| config_token(c, kind))
            .and_then(|text| added.iter().find(|(c, _)| *c == text).map(|(_, id)| *id));
        let from_model = model_config.and_then(|m| m[format!("{kind}_token_id")].as_u64());
        if let Some(id) = from_config.or(from_model).filter(|id| *id < n) {
            v.ids.push((key, id as u32));
        }
    }
    if let Some(single) = template_single(&root["post_processor"])
        && single.len() > 1
        && let Some(first) = single[0]["SpecialToken"]["id"].as_str()
    {
        // Without a tokenizer_config.json the template's first token is the BOS.
        let named = |kind| config.and_then(|c| config_token(c, kind)).is_some_and(|t| t == first);
        v.add_bos = Some(config.is_none() || named("bos") || named("cls"));
    }
    v.add_sep = pair_adds_sep(&root["post_processor"], config);
    if let Some(c) = config {
        v.add_bos = c["add_bos_token"].as_bool().or(v.add_bos);
        v.add_eos = c["add_eos_token"].as_bool().or(v.add_eos);
    }
}

/// `SpecialVocab`'s reading of the pair template `[first] A middle B [last]`: a
/// separator is added when the middle holds the SEP or EOS token; `None` without a
/// middle (the key is then not written).
fn pair_adds_sep(post: &Json, config: Option<&Json>) -> Option<bool> {
    let p = template_of(post)?;
    let special = |e: &Json| e["SpecialToken"]["id"].as_str().map(str::to_string);
    let single = p["single"].as_array().filter(|s| s.len() > 1);
    let first = single.and_then(|s| s.first()).and_then(special);
    let last = single.and_then(|s| s.last()).and_then(special);
    let mut pair: &[Json] = p["pair"].as_array()?;
    if first.is_some() && pair.first().and_then(special) == first {
        pair = &pair[1..];
    }
    if last.is_some() && pair.last().and_then(special) == last {
        pair = &pair[..pair.len() - 1];
    }
    let seq = |e: Option<&Json>| e.and_then(|e| e["Sequence"]["id"].as_str()).map(str::to_string);
    if pair.len() < 3 || seq(pair.first()).as_deref() != Some("A") || seq(pair.last()).as_deref() != Some("B") {
        return None;
    }
    let middle = &pair[1..pair.len() - 1];
    let named = |kind| config.and_then(|c| config_token(c, kind));
    let is_sep =
        |e: &Json| special(e).is_some_and(|t| Some(&t) == named("sep").as_ref() || Some(&t) == named("eos").as_ref());
    let mut add = is_sep(&middle[0]) && last.is_none();
    if middle.len() == 2 && is_sep(&middle[1]) {
        add = true;
    }
    Some(add)
}

/// The TemplateProcessing post-processor, alone or in a Sequence.
fn template_of(p: &Json) -> Option<&Json> {
    match p["type"].as_str()? {
        "TemplateProcessing" => Some(p),
        "Sequence" => p["processors"].as_array()?.iter().find_map(template_of),
        _ => None,
    }
}

/// The `single` template of the post-processor.
fn template_single(p: &Json) -> Option<&Vec<Json>> {
    template_of(p)?["single"].as_array()
}

/// The chat template: tokenizer_config.json's (a string, or the `default` of a list),
/// else chat_template.jinja, else chat_template.json beside it.
fn hf_chat_template(dir: &Path, config: Option<&Json>) -> Result<Option<String>> {
    match config.map(|c| &c["chat_template"]) {
        Some(Json::String(s)) => return Ok(Some(s.clone())),
        Some(Json::Array(list)) => {
            let named = |n: &str| list.iter().find(|t| t["name"].as_str() == Some(n));
            let t = named("default").or_else(|| list.first()).and_then(|t| t["template"].as_str());
            return Ok(t.map(str::to_string));
        }
        _ => {}
    }
    let jinja = dir.join("chat_template.jinja");
    if jinja.is_file() {
        return Ok(Some(String::from_utf8_lossy(&read(&jinja)?).into_owned()));
    }
    Ok(read_json_opt(&dir.join("chat_template.json"))?.and_then(|j| j["chat_template"].as_str().map(str::to_string)))
}

fn from_hf_json(path: &Path, vocab_size: usize) -> Result<Vocab> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let bytes = read(path)?;
    let root: Json =
        serde_json::from_slice(&bytes).map_err(|e| err(format!("{}: not valid JSON: {e}", path.display())))?;
    let config_path = dir.join("tokenizer_config.json");
    let config = read_json_opt(&config_path)?;
    let model_config = read_json_opt(&dir.join("config.json"))?;
    let (tokens, types) = hf_tokens(&root, vocab_size, path)?;
    let mut v = Vocab {
        tokens,
        types,
        merges: hf_merges(&root)?,
        pre: String::new(),
        ids: Vec::new(),
        add_bos: None,
        add_eos: None,
        add_sep: None,
        chat_template: hf_chat_template(dir, config.as_ref())?,
    };
    hf_specials(&root, config.as_ref(), model_config.as_ref(), &mut v);
    let config_bytes = match &config {
        Some(_) => Some(read(&config_path)?),
        None => None,
    };
    let source = Tokenizer::from_hf_json(&bytes, config_bytes.as_deref())?;
    v.pre = detect_pre(&v, &source, path)?;
    Ok(v)
}

/// The first candidate `tokenizer.ggml.pre` whose GGUF tokenizer encodes the check
/// text to the same ids as `source`.
fn detect_pre(v: &Vocab, source: &Tokenizer, path: &Path) -> Result<String> {
    let want = source.encode(CHECK_TEXT, false);
    for pre in PRE_CANDIDATES {
        let id = |key: &str| v.ids.iter().find(|(k, _)| *k == key).map(|(_, id)| *id);
        let candidate = GgufVocab {
            model: "gpt2".into(),
            pre: pre.to_string(),
            tokens: v.tokens.clone(),
            token_types: v.types.clone(),
            merges: v.merges.clone(),
            bos: id("tokenizer.ggml.bos_token_id"),
            eos: id("tokenizer.ggml.eos_token_id"),
            ..GgufVocab::default()
        };
        if Tokenizer::from_gguf_vocab(candidate)?.encode(CHECK_TEXT, false) == want {
            return Ok(pre.to_string());
        }
    }
    Err(err(format!(
        "{}: no GGUF pre-tokenizer herd knows ({}) tokenizes like this tokenizer; llama.cpp would not either",
        path.display(),
        PRE_CANDIDATES.join(", ")
    )))
}

/// A Llama 3 `tokenizer.model` (tiktoken ranks plus the 256 special tokens): tokens as
/// byte-level strings, merges rebuilt from the ranks as transformers does it.
fn from_tiktoken(path: &Path, vocab_size: usize) -> Result<Vocab> {
    let tok = Tokenizer::from_tiktoken_file(path)?;
    let n = tok.vocab_size();
    if n > vocab_size {
        return Err(err(format!("{}: {n} tokens, but the model's vocab_size is {vocab_size}", path.display())));
    }
    let map = byte_chars();
    let mut tokens = Vec::with_capacity(vocab_size);
    let mut types = Vec::with_capacity(vocab_size);
    let mut ranks: HashMap<&[u8], u32> = HashMap::with_capacity(n);
    for id in 0..n as u32 {
        if tok.is_special(id) {
            tokens.push(String::from_utf8_lossy(tok.token_bytes(id)).into_owned());
            types.push(CONTROL);
        } else {
            tokens.push(byte_level(tok.token_bytes(id), &map));
            types.push(NORMAL);
            ranks.insert(tok.token_bytes(id), id);
        }
    }
    for i in n..vocab_size {
        tokens.push(format!("[PAD{i}]"));
        types.push(UNUSED);
    }
    let mut merges = Vec::new();
    for id in 0..n as u32 {
        if !tok.is_special(id) {
            for (l, r) in splits(&ranks, tok.token_bytes(id)) {
                merges.push(format!("{} {}", byte_level(l, &map), byte_level(r, &map)));
            }
        }
    }
    let mut ids = Vec::new();
    if let Some(b) = tok.bos_id() {
        ids.push(("tokenizer.ggml.bos_token_id", b));
    }
    if let Some(e) = tok.eos_id() {
        ids.push(("tokenizer.ggml.eos_token_id", e));
    }
    Ok(Vocab {
        tokens,
        types,
        merges,
        pre: "llama-bpe".into(),
        ids,
        add_bos: Some(tok.add_bos()),
        add_eos: None,
        add_sep: None,
        chat_template: None,
    })
}

/// The merges of one token as transformers' `TikTokenConverter` lists them (the
/// tokenizer.json Meta publishes, hence llama.cpp's GGUF vocabulary): every split into
/// two tokens, ordered by the ranks of the left then the right part.
fn splits<'a>(ranks: &HashMap<&[u8], u32>, token: &'a [u8]) -> Vec<(&'a [u8], &'a [u8])> {
    let mut out: Vec<(u32, u32, usize)> =
        (1..token.len()).filter_map(|i| Some((*ranks.get(&token[..i])?, *ranks.get(&token[i..])?, i))).collect();
    out.sort_unstable();
    out.into_iter().map(|(_, _, i)| (&token[..i], &token[i..])).collect()
}

/// A byte-level vocabulary for models made without a tokenizer: the 256 byte tokens,
/// `<|begin_of_text|>` and `<|end_of_text|>` as BOS/EOS, one merge (two spaces) so
/// the merges table exists, and unused padding up to `vocab_size`.
pub fn stand_in(vocab_size: usize) -> Result<Vec<(String, Value)>> {
    if vocab_size < 259 {
        return Err(err(format!(
            "vocab_size {vocab_size} is too small for the byte-level stand-in vocabulary (259); pass --tokenizer"
        )));
    }
    let map = byte_chars();
    let mut tokens: Vec<String> = (0..=255u8).map(|b| map[b as usize].to_string()).collect();
    let mut types = vec![NORMAL; 256];
    for (t, ty) in [("<|begin_of_text|>", CONTROL), ("<|end_of_text|>", CONTROL), ("ĠĠ", NORMAL)] {
        tokens.push(t.to_string());
        types.push(ty);
    }
    for i in tokens.len()..vocab_size {
        tokens.push(format!("[PAD{i}]"));
        types.push(UNUSED);
    }
    let v = Vocab {
        tokens,
        types,
        merges: vec!["Ġ Ġ".into()],
        pre: "gpt-2".into(),
        ids: vec![("tokenizer.ggml.bos_token_id", 256), ("tokenizer.ggml.eos_token_id", 257)],
        add_bos: Some(true),
        add_eos: None,
        add_sep: None,
        chat_template: None,
    };
    Ok(v.into_kv())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_chars_are_gpt2s() {
        let m = byte_chars();
        assert_eq!((m[b' ' as usize], m[b'\n' as usize], m[b'a' as usize], m[0], m[0xAD]), ('Ġ', 'Ċ', 'a', 'Ā', 'Ń'));
    }

    #[test]
    fn splits_list_every_two_token_split_by_rank() {
        let ranks: HashMap<&[u8], u32> =
            [(&b"a"[..], 0), (b"b", 1), (b"c", 2), (b"ab", 3), (b"bc", 4), (b"abc", 5)].into_iter().collect();
        assert_eq!(splits(&ranks, b"abc"), [(&b"a"[..], &b"bc"[..]), (&b"ab"[..], &b"c"[..])]);
        assert_eq!(splits(&ranks, b"ab"), [(&b"a"[..], &b"b"[..])]);
    }
}
