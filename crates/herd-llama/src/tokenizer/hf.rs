//! Loading Hugging Face `tokenizer.json` byte-level BPE (plus `tokenizer_config.json`) with the `tokenizers` crate's semantics.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::bpe::{BpeModel, ByteMap, FxBuild, MergeRule, PairMap, pair_key};
use super::pretok::{self, PreTokenizer, Step};
use super::special::{MatchMode, SpecialMatcher, SpecialToken, StripSpace};
use super::table::TokenTable;
use super::unicode::{byte_to_char, decode_byte_level, is_byte_level};
use super::{EOG_TEXTS, Parts, Source, err};
use crate::error::Result;

/// Ids are indices into dense tables; a file may not claim more than this.
const MAX_VOCAB: u64 = 1 << 24;

/// Fallback EOS texts when no `tokenizer_config.json` names one.
const EOS_TEXTS: &[&str] = &["<|end_of_text|>", "</s>", "<|endoftext|>"];

/// The parts of tokenizer.json we read. Typed so the 128k-entry vocabulary lands in a
/// hash map directly instead of a `serde_json` tree (3x faster to load).
#[derive(Deserialize)]
struct RawRoot {
    model: Option<RawModel>,
    #[serde(default)]
    added_tokens: Option<Value>,
    #[serde(default)]
    normalizer: Option<Value>,
    #[serde(default)]
    pre_tokenizer: Option<Value>,
    #[serde(default)]
    post_processor: Option<Value>,
}

#[derive(Deserialize)]
struct RawModel {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    vocab: Option<HashMap<String, Value, FxBuild>>,
    #[serde(default)]
    merges: Option<Vec<Value>>,
    #[serde(default)]
    ignore_merges: Option<bool>,
    #[serde(default)]
    dropout: Option<f64>,
    #[serde(default)]
    continuing_subword_prefix: Option<String>,
    #[serde(default)]
    end_of_word_suffix: Option<String>,
}

type TextToId<'a> = HashMap<&'a str, u32, FxBuild>;

struct AddedToken {
    id: u32,
    content: String,
    special: bool,
    lstrip: bool,
    rstrip: bool,
    single_word: bool,
}

fn get_bool(v: &Value, key: &str, default: bool) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(default)
}

/// `what` names the field for the error message; it is only built on failure.
fn parse_id(v: &Value, what: impl FnOnce() -> String) -> Result<u32> {
    v.as_u64()
        .filter(|&id| id < MAX_VOCAB)
        .map(|id| id as u32)
        .ok_or_else(|| err(format!("tokenizer.json: {}: id {v} is not an integer below {MAX_VOCAB}", what())))
}

fn parse_vocab(model: &RawModel) -> Result<Vec<(&str, u32)>> {
    let vocab = model.vocab.as_ref().ok_or_else(|| err("tokenizer.json: model.vocab is missing"))?;
    let mut out: Vec<(&str, u32)> = vocab
        .iter()
        .map(|(text, id)| Ok((text.as_str(), parse_id(id, || format!("model.vocab[{text:?}]"))?)))
        .collect::<Result<_>>()?;
    // Hash order is arbitrary; sort so duplicate ids resolve the same way every run.
    out.sort_unstable_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(b.0)));
    Ok(out)
}

fn parse_added(list: Option<&Value>) -> Result<Vec<AddedToken>> {
    let Some(list) = list.filter(|l| !l.is_null()) else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| err("tokenizer.json: added_tokens is not an array"))?;
    list.iter()
        .enumerate()
        .map(|(i, t)| {
            let content = t
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| err(format!("tokenizer.json: added_tokens[{i}] has no content")))?;
            let id = t.get("id").ok_or_else(|| err(format!("tokenizer.json: added_tokens[{i}] has no id")))?;
            Ok(AddedToken {
                id: parse_id(id, || format!("added_tokens[{i}]"))?,
                content: content.to_string(),
                special: get_bool(t, "special", false),
                lstrip: get_bool(t, "lstrip", false),
                rstrip: get_bool(t, "rstrip", false),
                single_word: get_bool(t, "single_word", false),
            })
        })
        .collect()
}

/// One merge: `"a b"` (exactly one space, as `tokenizers` requires) or `["a", "b"]`.
fn parse_merge(v: &Value, rank: usize) -> Result<(&str, &str)> {
    let bad = || err(format!("tokenizer.json: model.merges[{rank}] is not \"a b\" or [\"a\", \"b\"]"));
    if let Some(s) = v.as_str() {
        let mut parts = s.split(' ');
        return match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) => Ok((a, b)),
            _ => Err(bad()),
        };
    }
    match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok((a.as_str().ok_or_else(bad)?, b.as_str().ok_or_else(bad)?)),
        _ => Err(bad()),
    }
}

fn parse_merges(model: &RawModel, vocab: &TextToId<'_>) -> Result<PairMap> {
    let Some(merges) = &model.merges else {
        return Ok(PairMap::default());
    };
    let mut joined = String::new();
    let mut pairs = PairMap::default();
    pairs.reserve(merges.len());
    let id_of = |t: &str, rank: usize| {
        vocab
            .get(t)
            .copied()
            .ok_or_else(|| err(format!("tokenizer.json: model.merges[{rank}]: {t:?} is not in the vocabulary")))
    };
    for (rank, m) in merges.iter().enumerate() {
        let (a, b) = parse_merge(m, rank)?;
        joined.clear();
        joined.push_str(a);
        joined.push_str(b);
        let merged = id_of(&joined, rank)?;
        // `tokenizers` collects merges into a map, so a repeated pair keeps its last rank.
        pairs.insert(pair_key(id_of(a, rank)?, id_of(b, rank)?), (rank as u32, merged));
    }
    Ok(pairs)
}

fn check_model_options(model: &RawModel) -> Result<()> {
    if let Some(t) = &model.kind
        && t != "BPE"
    {
        return Err(err(format!("tokenizer.json: model type {t:?} is not supported (only BPE)")));
    }
    if model.dropout.is_some_and(|p| p > 0.0) {
        return Err(err("tokenizer.json: BPE dropout makes encoding random; not supported"));
    }
    for (key, v) in [
        ("continuing_subword_prefix", &model.continuing_subword_prefix),
        ("end_of_word_suffix", &model.end_of_word_suffix),
    ] {
        if v.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(err(format!("tokenizer.json: model.{key} is not supported")));
        }
    }
    Ok(())
}

fn check_normalizer(normalizer: Option<&Value>) -> Result<()> {
    match normalizer {
        None | Some(Value::Null) => Ok(()),
        Some(n)
            if n.get("type").and_then(Value::as_str) == Some("Sequence")
                && n.get("normalizers").and_then(Value::as_array).is_some_and(Vec::is_empty) =>
        {
            Ok(())
        }
        Some(n) => Err(err(format!(
            "tokenizer.json: normalizer {} is not supported",
            n.get("type").and_then(Value::as_str).unwrap_or("?")
        ))),
    }
}

/// Translates one `pre_tokenizer` node (recursing into `Sequence`) into steps.
fn pre_steps(v: &Value, pre: &mut PreTokenizer) -> Result<()> {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("?");
    match kind {
        "Sequence" => {
            let list = v
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or_else(|| err("tokenizer.json: pre_tokenizer Sequence has no list"))?;
            for p in list {
                pre_steps(p, pre)?;
            }
        }
        "Split" => pre.steps.push(split_step(v)?),
        "ByteLevel" => {
            // `tokenizers` defaults both flags to true when absent.
            if get_bool(v, "add_prefix_space", true) {
                if !pre.steps.is_empty() {
                    return Err(err(
                        "tokenizer.json: ByteLevel add_prefix_space after another pre-tokenizer is not supported",
                    ));
                }
                pre.prefix_space = true;
            }
            if get_bool(v, "use_regex", true) {
                pre.steps.push(Step::Gpt2);
            }
        }
        "Digits" => {
            pre.steps.push(if get_bool(v, "individual_digits", false) { Step::DigitsIsolated } else { Step::DigitRuns })
        }
        other => {
            return Err(err(format!("tokenizer.json: pre_tokenizer {other:?} is not supported")));
        }
    }
    Ok(())
}

fn split_step(v: &Value) -> Result<Step> {
    let behavior = v.get("behavior").and_then(Value::as_str).unwrap_or("?");
    if behavior != "Isolated" || get_bool(v, "invert", false) {
        return Err(err(format!(
            "tokenizer.json: Split behavior {behavior:?} (invert {}) is not supported, only Isolated",
            get_bool(v, "invert", false)
        )));
    }
    let pattern = v.get("pattern");
    if let Some(lit) = pattern.and_then(|p| p.get("String")).and_then(Value::as_str) {
        return Ok(Step::Literal(lit.to_string()));
    }
    let re = pattern
        .and_then(|p| p.get("Regex"))
        .and_then(Value::as_str)
        .ok_or_else(|| err("tokenizer.json: Split has no Regex or String pattern"))?;
    Ok(match re {
        pretok::LLAMA3_PATTERN => Step::Llama3 { fold_long_s: true },
        pretok::LLAMA3_PATTERN_ASCII => Step::Llama3 { fold_long_s: false },
        // Without the final `\s+` the gaps it would match stay pieces anyway.
        pretok::GPT2_PATTERN | pretok::GPT2_PATTERN_LLAMA_CPP => Step::Gpt2,
        other => Step::Regex(Box::new(
            fancy_regex::Regex::new(other)
                .map_err(|e| err(format!("tokenizer.json: Split regex {other:?} does not compile: {e}")))?,
        )),
    })
}

/// The first special token of the post-processor's single-sequence template, if any.
fn template_bos(v: &Value) -> Option<String> {
    match v.get("type").and_then(Value::as_str)? {
        "Sequence" => v.get("processors")?.as_array()?.iter().find_map(template_bos),
        "TemplateProcessing" => {
            let first = v.get("single")?.as_array()?.first()?;
            let name = first.get("SpecialToken")?.get("id")?.as_str()?;
            Some(name.to_string())
        }
        _ => None,
    }
}

/// `bos_token` / `eos_token` in tokenizer_config.json: a string or `{"content": ...}`.
fn config_token(config: &Value, key: &str) -> Option<String> {
    let v = config.get(key)?;
    v.as_str().or_else(|| v.get("content").and_then(Value::as_str)).map(str::to_string)
}

pub(crate) fn load(json: &[u8], config: Option<&[u8]>) -> Result<Parts> {
    let root: RawRoot = serde_json::from_slice(json)
        .map_err(|e| err(format!("tokenizer.json is not valid JSON for a tokenizer: {e}")))?;
    let config: Option<Value> = config
        .map(|c| serde_json::from_slice(c).map_err(|e| err(format!("tokenizer_config.json is not valid JSON: {e}"))))
        .transpose()?;
    let model = root.model.as_ref().ok_or_else(|| err("tokenizer.json has no model"))?;
    check_model_options(model)?;
    check_normalizer(root.normalizer.as_ref())?;
    let vocab = parse_vocab(model)?;
    let added = parse_added(root.added_tokens.as_ref())?;
    let vocab_size = vocab.iter().map(|v| v.1).chain(added.iter().map(|a| a.id)).max().map_or(0, |m| m as usize + 1);
    if vocab_size == 0 {
        return Err(err("tokenizer.json: the vocabulary is empty"));
    }
    // Sparse ids would let a small file demand a huge table.
    if vocab_size > 4 * (vocab.len() + added.len()) + 1024 {
        return Err(err(format!(
            "tokenizer.json: largest id {} is far beyond the {} tokens listed",
            vocab_size - 1,
            vocab.len() + added.len()
        )));
    }
    let text_to_id: TextToId<'_> = vocab.iter().map(|&(t, id)| (t, id)).collect();
    let pairs = parse_merges(model, &text_to_id)?;
    let mut parts = build_parts(&vocab, &added, &text_to_id, vocab_size, pairs)?;
    parts.model.ignore_merges = model.ignore_merges.unwrap_or(false);
    if let Some(p) = root.pre_tokenizer.as_ref().filter(|p| !p.is_null()) {
        pre_steps(p, &mut parts.pre)?;
    }
    let template = root.post_processor.as_ref().and_then(template_bos);
    set_special_ids(&mut parts, template, config.as_ref(), &added, &text_to_id);
    Ok(parts)
}

fn build_parts(
    vocab: &[(&str, u32)],
    added: &[AddedToken],
    text_to_id: &TextToId<'_>,
    vocab_size: usize,
    pairs: PairMap,
) -> Result<Parts> {
    let mut token_bytes = vec![Vec::new(); vocab_size];
    let mut whole = ByteMap::default();
    whole.reserve(vocab.len());
    for &(text, id) in vocab {
        let bytes = decode_byte_level(text);
        if is_byte_level(text) {
            whole.entry(bytes.clone().into_boxed_slice()).or_insert(id);
        }
        token_bytes[id as usize] = bytes;
    }
    let mut is_special = vec![false; vocab_size];
    for a in added {
        token_bytes[a.id as usize] = a.content.as_bytes().to_vec();
        is_special[a.id as usize] = a.special;
    }
    // A byte missing from the vocabulary becomes a virtual symbol that never merges and
    // emits nothing: `tokenizers` drops characters it has no id for (there is no unk in
    // byte-level vocabularies).
    let n_real = vocab_size as u32;
    let mut byte_sym = [0u32; 256];
    let mut virtual_emit = Vec::new();
    for b in 0..=255u8 {
        byte_sym[b as usize] = match text_to_id.get(byte_to_char(b).to_string().as_str()) {
            Some(&id) => id,
            None => {
                virtual_emit.push(Vec::new());
                n_real + virtual_emit.len() as u32 - 1
            }
        };
    }
    let specials = added
        .iter()
        .map(|a| SpecialToken {
            text: a.content.clone(),
            id: a.id,
            always: !a.special,
            lstrip: a.lstrip,
            rstrip: a.rstrip,
            single_word: a.single_word,
        })
        .collect();
    Ok(Parts {
        source: Source::HfJson,
        token_bytes,
        is_special,
        model: BpeModel {
            byte_sym,
            whole: TokenTable::new(&whole),
            rule: MergeRule::Pairs(pairs),
            ignore_merges: false,
            n_real,
            virtual_emit,
        },
        pre: PreTokenizer::default(),
        llama_models_guard: false,
        specials: SpecialMatcher::new(MatchMode::LeftmostLongest, StripSpace::Unicode, specials),
        bos: None,
        eos: None,
        stop_ids: Vec::new(),
        add_bos: false,
    })
}

/// BOS/EOS/stop ids and `add_bos`: the config wins, then the post-processor template,
/// then well-known token texts.
fn set_special_ids(
    parts: &mut Parts,
    template: Option<String>,
    config: Option<&Value>,
    added: &[AddedToken],
    text_to_id: &TextToId<'_>,
) {
    let id_of =
        |text: &str| added.iter().find(|a| a.content == text).map(|a| a.id).or_else(|| text_to_id.get(text).copied());
    let cfg_bos = config.and_then(|c| config_token(c, "bos_token"));
    parts.bos = cfg_bos.or_else(|| template.clone()).and_then(|t| id_of(&t));
    parts.add_bos = config.and_then(|c| c.get("add_bos_token")).and_then(Value::as_bool).unwrap_or(template.is_some());
    parts.eos = config
        .and_then(|c| config_token(c, "eos_token"))
        .and_then(|t| id_of(&t))
        .or_else(|| EOS_TEXTS.iter().find_map(|t| id_of(t)));
    let mut stop: Vec<u32> = parts.eos.into_iter().collect();
    let mut by_text: Vec<u32> = EOG_TEXTS.iter().filter_map(|t| id_of(t)).collect();
    by_text.sort_unstable();
    stop.extend(by_text);
    parts.stop_ids = stop;
}
