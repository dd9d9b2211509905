//! Building a tokenizer from GGUF `tokenizer.ggml.*` metadata exactly as llama.cpp's `llama_vocab::load` does for `gpt2` vocabularies.

use std::collections::HashMap;

use super::bpe::{BpeModel, ByteMap, FxBuild, MergeRule, PairMap, pair_key};
use super::pretok::{PreTokenizer, Step};
use super::special::{MatchMode, SpecialMatcher, SpecialToken, StripSpace};
use super::table::TokenTable;
use super::unicode::{byte_to_char, decode_byte_level, is_byte_level};
use super::{EOG_TEXTS, GgufVocab, Parts, Source, err};
use crate::error::Result;

// llama.cpp `llama_token_attr` bits.
const ATTR_UNDEFINED: u32 = 0;
const ATTR_UNKNOWN: u32 = 1 << 0;
const ATTR_UNUSED: u32 = 1 << 1;
const ATTR_NORMAL: u32 = 1 << 2;
const ATTR_CONTROL: u32 = 1 << 3;
const ATTR_USER_DEFINED: u32 = 1 << 4;
const ATTR_BYTE: u32 = 1 << 5;

/// Ids index dense tables; a vocabulary may not be larger than this.
const MAX_TOKENS: usize = 1 << 24;

/// Pre-tokenizers with the Llama 3 pattern whose vocabularies also set `ignore_merges`
/// and default `add_bos` to true.
const LLAMA3_FAMILY: &[&str] =
    &["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"];
/// The Llama 3 pattern without `ignore_merges`.
const LLAMA3_PLAIN: &[&str] = &["dbrx", "smaug-bpe"];
/// `\p{N}` isolated, then the GPT-2 pattern.
const SMOLLM_FAMILY: &[&str] =
    &["smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"];
/// The GPT-2 pattern alone. `gpt2` is our alias; llama.cpp spells it `gpt-2`.
const GPT2_FAMILY: &[&str] = &[
    "gpt-2",
    "gpt2",
    "phi-2",
    "jina-es",
    "jina-de",
    "gigachat",
    "jina-v2-es",
    "jina-v2-de",
    "a.x-4.0",
    "mellum",
    "modern-bert",
    "mpt",
    "olmo",
    "jais",
    "trillion",
    "exaone4",
    "granite-docling",
    "jina-v1-en",
    "jina-v2-code",
    "roberta-bpe",
];

/// End-of-turn texts llama.cpp looks for when `tokenizer.ggml.eot_token_id` is absent,
/// in the order we prefer them (llama.cpp takes whichever its hash map yields first).
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
/// Fill-in-the-middle texts llama.cpp forces to CONTROL (pre, suf, mid, pad, rep, sep).
const FIM_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
/// FIM pad / repo / file-separator texts: llama.cpp also ends generation on these.
const FIM_EOG_TEXTS: &[&str] = &[
    "<|fim_pad|>",
    "<fim-pad>",
    "<fim_pad>",
    "<PAD>",
    "[PAD]",
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
    "<|file_sep|>",
];

pub(crate) fn default_add_bos(pre: &str) -> bool {
    LLAMA3_FAMILY.contains(&pre)
}

/// The splitting steps and `ignore_merges` llama.cpp uses for a `tokenizer.ggml.pre`.
fn pre_for(pre: &str) -> Result<(Vec<Step>, bool)> {
    let llama3 = || Step::Llama3 { fold_long_s: false };
    if LLAMA3_FAMILY.contains(&pre) {
        Ok((vec![llama3()], true))
    } else if LLAMA3_PLAIN.contains(&pre) {
        Ok((vec![llama3()], false))
    } else if SMOLLM_FAMILY.contains(&pre) {
        Ok((vec![Step::DigitsIsolated, Step::Gpt2], false))
    } else if GPT2_FAMILY.contains(&pre) {
        Ok((vec![Step::Gpt2], false))
    } else if pre.is_empty() || pre == "default" {
        // llama.cpp's LLAMA_VOCAB_PRE_TYPE_DEFAULT: four regexes applied in sequence.
        Ok((vec![Step::PunctRuns, Step::Gpt2, Step::DigitRuns, Step::AsciiTriples], false))
    } else {
        Err(err(format!(
            "gguf: tokenizer.ggml.pre {pre:?} is not supported (supported: {}, {}, {}, {}, default)",
            LLAMA3_FAMILY.join(", "),
            LLAMA3_PLAIN.join(", "),
            SMOLLM_FAMILY.join(", "),
            GPT2_FAMILY.join(", ")
        )))
    }
}

fn attr_of_type(t: i32) -> u32 {
    match t {
        1 => ATTR_NORMAL,
        2 => ATTR_UNKNOWN,
        3 => ATTR_CONTROL,
        4 => ATTR_USER_DEFINED,
        5 => ATTR_UNUSED,
        6 => ATTR_BYTE,
        _ => ATTR_UNDEFINED,
    }
}

/// llama.cpp's text-based fix-ups: end-of-generation and FIM tokens become CONTROL,
/// gpt-oss channel markers become USER_DEFINED.
fn fix_attrs(texts: &[String], attrs: &mut [u32]) {
    for (text, attr) in texts.iter().zip(attrs.iter_mut()) {
        let t = text.as_str();
        if EOG_TEXTS.contains(&t) || FIM_TEXTS.contains(&t) || FIM_EOG_TEXTS.contains(&t) {
            *attr |= ATTR_CONTROL;
        }
        if matches!(t, "<|channel|>" | "<|message|>" | "<|start|>" | "<|constrain|>") {
            *attr = ATTR_USER_DEFINED;
        }
    }
}

/// What llama.cpp's `token_to_piece(special = true)` gives for a token.
fn display_bytes(text: &str, attr: u32) -> Vec<u8> {
    if attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED) != 0 {
        text.as_bytes().to_vec()
    } else if attr & ATTR_NORMAL != 0 {
        decode_byte_level(text)
    } else if attr & ATTR_BYTE != 0 {
        // `<0xXX>`
        text.strip_prefix("<0x")
            .and_then(|h| h.strip_suffix('>'))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .map(|b| vec![b])
            .unwrap_or_default()
    } else {
        // UNUSED / UNDEFINED render as nothing in llama.cpp.
        Vec::new()
    }
}

/// Symbols for texts BPE can produce that are not tokens (merge results missing from
/// the vocabulary, or bytes without a token). llama.cpp keeps merging them by text and,
/// if one survives, emits the single-byte tokens of its text's bytes that exist.
type TextToId<'a> = HashMap<&'a str, u32, FxBuild>;

struct Symbols<'a> {
    text_to_id: &'a TextToId<'a>,
    n_real: u32,
    virtual_ids: HashMap<String, u32, FxBuild>,
    virtual_texts: Vec<String>,
}

impl Symbols<'_> {
    fn get(&self, text: &str) -> Option<u32> {
        self.text_to_id.get(text).or_else(|| self.virtual_ids.get(text)).copied()
    }
    fn get_or_add(&mut self, text: &str) -> u32 {
        if let Some(id) = self.get(text) {
            return id;
        }
        let id = self.n_real + self.virtual_texts.len() as u32;
        self.virtual_ids.insert(text.to_string(), id);
        self.virtual_texts.push(text.to_string());
        id
    }
    fn fallback(&self) -> Vec<Vec<u32>> {
        self.virtual_texts
            .iter()
            .map(|t| {
                t.bytes()
                    .filter(u8::is_ascii)
                    .filter_map(|b| self.text_to_id.get(char::from(b).to_string().as_str()).copied())
                    .collect()
            })
            .collect()
    }
}

/// llama.cpp splits a merge at the first space after its first byte.
fn split_merge(m: &str) -> Option<(&str, &str)> {
    // Bytes, as C++ `find(' ', 1)`: the space is ASCII, so both halves stay valid UTF-8.
    let pos = m.as_bytes().iter().skip(1).position(|&b| b == b' ')? + 1;
    Some((&m[..pos], &m[pos + 1..]))
}

fn build_merges(v: &GgufVocab, syms: &mut Symbols<'_>) -> PairMap {
    let parsed: Vec<Option<(&str, &str)>> = v.merges.iter().map(|m| split_merge(m)).collect();
    // Every merge result is a reachable symbol, token or not.
    let mut joined = String::new();
    let mut merged_ids = Vec::with_capacity(parsed.len());
    for m in &parsed {
        merged_ids.push(m.map(|(a, b)| {
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            syms.get_or_add(&joined)
        }));
    }
    let mut pairs = PairMap::default();
    pairs.reserve(parsed.len());
    for (rank, (m, merged)) in parsed.iter().zip(merged_ids).enumerate() {
        let (Some((a, b)), Some(im)) = (m, merged) else {
            continue;
        };
        if let (Some(ia), Some(ib)) = (syms.get(a), syms.get(b)) {
            // `bpe_ranks.emplace` keeps the first rank of a repeated pair.
            pairs.entry(pair_key(ia, ib)).or_insert((rank as u32, im));
        }
    }
    pairs
}

pub(crate) fn load(mut v: GgufVocab) -> Result<Parts> {
    if v.model != "gpt2" {
        return Err(err(format!(
            "gguf: tokenizer.ggml.model {:?} is not supported (only \"gpt2\" byte-level BPE)",
            v.model
        )));
    }
    let (steps, ignore_merges) = pre_for(&v.pre)?;
    let n = v.tokens.len();
    if n == 0 || n > MAX_TOKENS {
        return Err(err(format!("gguf: tokenizer.ggml.tokens has {n} tokens")));
    }
    if !v.token_types.is_empty() && v.token_types.len() < n {
        return Err(err(format!("gguf: tokenizer.ggml.token_type has {} entries for {n} tokens", v.token_types.len())));
    }
    // llama.cpp renames empty tokens so they cannot match anything. The strings are
    // moved, not copied: 128K of them are megabytes of the load's peak memory.
    let texts: Vec<String> = std::mem::take(&mut v.tokens)
        .into_iter()
        .enumerate()
        .map(|(i, t)| if t.is_empty() { format!("[EMPTY_{i}]") } else { t })
        .collect();
    let mut text_to_id = TextToId::default();
    text_to_id.reserve(n);
    for (i, t) in texts.iter().enumerate() {
        if let Some(first) = text_to_id.insert(t.as_str(), i as u32) {
            return Err(err(format!("gguf: duplicate token {t:?} at ids {first} and {i}")));
        }
    }
    let mut attrs: Vec<u32> = (0..n).map(|i| v.token_types.get(i).map_or(ATTR_NORMAL, |&t| attr_of_type(t))).collect();
    fix_attrs(&texts, &mut attrs);

    let mut syms = Symbols {
        text_to_id: &text_to_id,
        n_real: n as u32,
        virtual_ids: HashMap::default(),
        virtual_texts: Vec::new(),
    };
    let mut byte_sym = [0u32; 256];
    for b in 0..=255u8 {
        byte_sym[b as usize] = syms.get_or_add(&byte_to_char(b).to_string());
    }
    let pairs = build_merges(&v, &mut syms);
    let virtual_emit = syms.fallback();
    let (bos, eos, stop_ids) = special_ids(&v, &texts, &text_to_id);
    drop(syms);
    drop(text_to_id);

    // Whole-word lookups compare llama.cpp's byte-level text; only texts made of byte
    // images can equal an encoded word, and those decode one-to-one.
    // Only its table is kept, built before the other per-token tables are (peak memory).
    let whole = {
        let mut whole = ByteMap::default();
        whole.reserve(n);
        for (i, t) in texts.iter().enumerate() {
            if is_byte_level(t) {
                whole.insert(decode_byte_level(t).into_boxed_slice(), i as u32);
            }
        }
        TokenTable::new(&whole)
    };
    let specials = texts
        .iter()
        .zip(&attrs)
        .enumerate()
        .filter(|(_, (_, a))| *a & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN) != 0)
        .map(|(i, (t, a))| SpecialToken {
            text: t.clone(),
            id: i as u32,
            always: a & (ATTR_CONTROL | ATTR_UNKNOWN) == 0,
            lstrip: false,
            rstrip: false,
            single_word: false,
        })
        .collect();
    Ok(Parts {
        source: Source::Gguf,
        token_bytes: texts.iter().zip(&attrs).map(|(t, &a)| display_bytes(t, a)).collect(),
        is_special: attrs.iter().map(|a| a & (ATTR_CONTROL | ATTR_UNKNOWN) != 0).collect(),
        model: BpeModel {
            byte_sym,
            whole,
            rule: MergeRule::Pairs(pairs),
            ignore_merges,
            n_real: n as u32,
            virtual_emit,
        },
        pre: PreTokenizer { steps, prefix_space: false, llama_cpp_unicode: true },
        llama_models_guard: false,
        specials: SpecialMatcher::new(MatchMode::LongestTokenFirst, StripSpace::Ascii, specials),
        bos,
        eos,
        stop_ids,
        add_bos: v.add_bos,
    })
}

/// BOS, EOS and the end-of-generation set (llama.cpp `special_eog_ids`).
fn special_ids(v: &GgufVocab, texts: &[String], text_to_id: &TextToId<'_>) -> (Option<u32>, Option<u32>, Vec<u32>) {
    let n = texts.len() as u32;
    // llama.cpp ignores out-of-range ids from the file.
    let valid = |id: Option<u32>| id.filter(|&i| i < n);
    let find = |list: &[&str]| list.iter().find_map(|t| text_to_id.get(t).copied());
    let eos = valid(v.eos);
    let eot = valid(v.eot).or_else(|| find(EOT_TEXTS));
    let eom = valid(v.eom).or_else(|| find(&["<|eom_id|>"]));
    let mut rest: Vec<u32> = texts
        .iter()
        .enumerate()
        .filter(|(_, t)| EOG_TEXTS.contains(&t.as_str()) || FIM_EOG_TEXTS.contains(&t.as_str()))
        .map(|(i, _)| i as u32)
        .collect();
    rest.sort_unstable();
    let stop = [eos, eot, eom].into_iter().flatten().chain(rest).collect();
    (valid(v.bos), eos, stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_split_matches_llama_cpp() {
        assert_eq!(split_merge("Ġ t"), Some(("Ġ", "t")));
        assert_eq!(split_merge("  a"), Some((" ", "a")));
        assert_eq!(split_merge("ab"), None);
        assert_eq!(split_merge(""), None);
        assert_eq!(split_merge("é b"), Some(("é", "b")));
    }
}
