//! Loading tiktoken `tokenizer.model` files (`base64(bytes) rank` per line) with llama-models' Llama 3.1 special tokens.

use base64::Engine as _;

use super::bpe::{BpeModel, ByteMap, MergeRule};
use super::pretok::{PreTokenizer, Step};
use super::special::{MatchMode, SpecialMatcher, SpecialToken, StripSpace};
use super::table::TokenTable;
use super::{Parts, Source, err};
use crate::error::Result;

/// llama-models 0.3.0 `Tokenizer.num_reserved_special_tokens`.
pub(crate) const NUM_SPECIAL: usize = 256;

/// The named special tokens of llama-models 0.3.0 (`llama3/tokenizer.py`), in id order
/// from the first id after the base vocabulary.
const NAMED_SPECIAL: [&str; 12] = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|step_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
    "<|image|>",
];

/// All 256 special token names: the named ones, then `<|reserved_special_token_{2+i}|>`.
pub(crate) fn llama3_special_names() -> Vec<String> {
    let mut names: Vec<String> = NAMED_SPECIAL.iter().map(|s| s.to_string()).collect();
    for i in 0..NUM_SPECIAL - NAMED_SPECIAL.len() {
        names.push(format!("<|reserved_special_token_{}|>", 2 + i));
    }
    names
}

/// Parses the rank file into bytes-per-rank, rejecting anything tiktoken would choke on.
fn parse_ranks(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut entries: Vec<(Vec<u8>, u64, usize)> = Vec::new();
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
        let (Some(tok), Some(rank), None) = (fields.next(), fields.next(), fields.next()) else {
            return Err(err(format!("tiktoken line {line_no}: expected `<base64 token> <rank>`")));
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(tok)
            .map_err(|e| err(format!("tiktoken line {line_no}: bad base64 token: {e}")))?;
        if bytes.is_empty() {
            return Err(err(format!("tiktoken line {line_no}: empty token")));
        }
        let rank = std::str::from_utf8(rank)
            .ok()
            .and_then(|r| r.parse::<u64>().ok())
            .ok_or_else(|| err(format!("tiktoken line {line_no}: rank is not an integer")))?;
        entries.push((bytes, rank, line_no));
    }
    if entries.is_empty() {
        return Err(err("tiktoken file has no tokens"));
    }
    // Ranks must be a permutation of 0..n: ids index dense tables, and a sparse rank
    // would let a tiny file demand gigabytes.
    let n = entries.len();
    let mut by_rank: Vec<Option<(Vec<u8>, usize)>> = vec![None; n];
    for (bytes, rank, line_no) in entries {
        let slot = usize::try_from(rank).ok().and_then(|r| by_rank.get_mut(r)).ok_or_else(|| {
            err(format!("tiktoken line {line_no}: rank {rank} is out of range for {n} tokens (ranks must be 0..{n})"))
        })?;
        if let Some((_, first)) = slot {
            return Err(err(format!("tiktoken line {line_no}: rank {rank} already used on line {first}")));
        }
        *slot = Some((bytes, line_no));
    }
    Ok(by_rank.into_iter().map(|e| e.map(|(b, _)| b).unwrap_or_default()).collect())
}

pub(crate) fn load(data: &[u8]) -> Result<Parts> {
    let ranks = parse_ranks(data)?;
    let n_base = ranks.len();
    let n_total = n_base + NUM_SPECIAL;
    if u32::try_from(n_total).is_err() {
        return Err(err(format!("tiktoken file has {n_base} tokens, too many for u32 ids")));
    }
    let mut whole = ByteMap::default();
    whole.reserve(n_base);
    for (id, bytes) in ranks.iter().enumerate() {
        if let Some(prev) = whole.insert(bytes.clone().into_boxed_slice(), id as u32) {
            return Err(err(format!(
                "tiktoken: ranks {prev} and {id} are the same token {:?}",
                String::from_utf8_lossy(bytes)
            )));
        }
    }
    // tiktoken starts every piece from single bytes, so a vocabulary without all 256
    // cannot encode arbitrary text (tiktoken itself panics on one).
    let mut byte_sym = [0u32; 256];
    let mut missing = Vec::new();
    for b in 0..=255u8 {
        match whole.get(&[b][..]) {
            Some(&id) => byte_sym[b as usize] = id,
            None => missing.push(b),
        }
    }
    if !missing.is_empty() {
        return Err(err(format!(
            "tiktoken: {} single-byte tokens are missing (first: 0x{:02x}); every byte must be a token",
            missing.len(),
            missing[0]
        )));
    }
    let names = llama3_special_names();
    let special_id = |name: &str| names.iter().position(|n| n == name).map(|i| (n_base + i) as u32);
    let specials: Vec<SpecialToken> = names
        .iter()
        .enumerate()
        .map(|(i, name)| SpecialToken {
            text: name.clone(),
            id: (n_base + i) as u32,
            always: false,
            lstrip: false,
            rstrip: false,
            single_word: false,
        })
        .collect();
    let mut token_bytes = ranks;
    token_bytes.extend(names.iter().map(|n| n.as_bytes().to_vec()));
    let mut is_special = vec![false; n_base];
    is_special.resize(n_total, true);
    let eos = special_id("<|end_of_text|>");
    let eot = special_id("<|eot_id|>");
    let eom = special_id("<|eom_id|>");
    Ok(Parts {
        source: Source::Tiktoken,
        token_bytes,
        is_special,
        model: BpeModel {
            byte_sym,
            whole: TokenTable::new(&whole),
            rule: MergeRule::Ranks,
            ignore_merges: true,
            n_real: n_total as u32,
            virtual_emit: Vec::new(),
        },
        pre: PreTokenizer {
            steps: vec![Step::Llama3 { fold_long_s: true }],
            prefix_space: false,
            llama_cpp_unicode: false,
        },
        llama_models_guard: true,
        specials: SpecialMatcher::new(MatchMode::LeftmostLongest, StripSpace::Unicode, specials),
        bos: special_id("<|begin_of_text|>"),
        eos,
        stop_ids: [eos, eot, eom].into_iter().flatten().collect(),
        add_bos: true,
    })
}
