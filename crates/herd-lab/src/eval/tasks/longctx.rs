//! Long-context multiple choice, as Meta evaluates Llama 3.1 Instruct (llama3.md §9.2):
//!
//! - `zeroscrolls_quality`: ZeroSCROLLS QuALITY, 0-shot on the validation set, exact match
//!   (ZeroSCROLLS' letter accuracy), max 64 generated tokens, max input 131072 − 64.
//! - `infinitebench_en_mc`: InfiniteBench En.MC (`longbook_choice_eng`), 0-shot accuracy,
//!   max 20 generated tokens, max input 131052 = 131072 − 20.
//!
//! Each benchmark cuts a document that does not fit its own way, counting tokens with the
//! model's tokenizer (encode, slice the ids, decode), and both keep the question and its
//! options ("relevant content is always kept in the context"):
//!
//! - ZeroSCROLLS (`experiments/api/openai_api.py`, the runner of its chat models) keeps
//!   the first tokens of the input and appends the document's `truncation_seperator` and
//!   the query (question and options), so the end of the story is what goes.
//! - InfiniteBench (`src/eval_utils.py` `truncate_input`, `manner="middle"`) keeps the
//!   first and the last halves of the whole prompt's token budget, so the middle of the
//!   book goes and the instruction, the question and the options stay.
//!
//! The budget comes through [`ModelLimits`]: the model's tokenizer and context length,
//! which the runner takes from the backend ([`Task::requests_fitted`]; the in-process
//! engine, or a server's `/tokenize` and `/detokenize`). A backend without them (an
//! OpenAI-like API with no tokenizer routes) gets [`CharEstimate`] (4 characters a
//! token, as RULER and `multi_needle` estimate) at Llama 3.1's context.

use super::{DataSource, Request, Scored, Style, Task, TaskInfo, field, gen_text, short, text};
use crate::LabError;
use crate::eval::backend::{GenRequest, Msg, Response};
use crate::eval::data::load_split;
use crate::eval::score::longctx as sc;
use crate::eval::score::py_strip;
use herd_llama::tokenizer::Tokenizer;
use serde_json::Value;

pub const QUALITY: &str = "zeroscrolls_quality";
pub const EN_MC: &str = "infinitebench_en_mc";
pub const QUALITY_MAX_TOKENS: usize = 64;
pub const EN_MC_MAX_TOKENS: usize = 20;
/// Llama 3.1's context: the paper's max inputs are this less the generation length.
pub const PAPER_CONTEXT: usize = 131_072;
/// Tokens left for the chat template (and a system prompt) around the user message, as
/// `multi_needle` leaves them; ZeroSCROLLS' chat runner leaves 9 + 1.
pub const TEMPLATE_TOKENS: usize = 64;
/// What ZeroSCROLLS adds to the instruction for chat models (`insert_format_request`).
pub const FORMAT_REQUEST: &str = "Do not provide any explanation.";

pub use crate::eval::backend::ModelLimits;

/// A local herd tokenizer and a context length.
#[derive(Debug, Clone, Copy)]
pub struct TokenizerLimits<'a> {
    pub tokenizer: &'a Tokenizer,
    pub context: usize,
}

impl ModelLimits for TokenizerLimits<'_> {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LabError> {
        Ok(self.tokenizer.encode(text, false))
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LabError> {
        Ok(self.tokenizer.decode(ids))
    }
    fn context_len(&self) -> usize {
        self.context
    }
}

/// The stand-in when no tokenizer is at hand: the ids are the characters, 4 to a token
/// (RULER's estimate, as `multi_needle` uses it; Llama 3's tokenizer averages a little
/// over 4 on English prose, so the estimate cuts a little early). Not the benchmarks'
/// rule, which counts real tokens: only for runs whose backend has no tokenizer to lend.
#[derive(Debug, Clone, Copy)]
pub struct CharEstimate {
    /// The model's context in real tokens.
    pub context: usize,
}

/// Characters per token of [`CharEstimate`].
pub const CHARS_PER_TOKEN: usize = 4;

impl ModelLimits for CharEstimate {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LabError> {
        Ok(text.chars().map(u32::from).collect())
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LabError> {
        Ok(ids.iter().map(|&c| char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER)).collect())
    }
    fn context_len(&self) -> usize {
        self.context
    }
    fn ids_per_token(&self) -> usize {
        CHARS_PER_TOKEN
    }
}

/// The ids the user message may take: the paper's max input (Llama 3.1's context less
/// the generation; the model's own context when smaller) less the chat template's share.
pub fn prompt_budget(limits: &dyn ModelLimits, max_tokens: usize) -> usize {
    let tokens = limits.context_len().min(PAPER_CONTEXT).saturating_sub(max_tokens + TEMPLATE_TOKENS);
    tokens.saturating_mul(limits.ids_per_token().max(1))
}

/// InfiniteBench's `truncate_input(ids, max, "middle")`: unchanged when it fits, else the
/// first `max // 2` and the last `max − max // 2` ids (Python's `ids[-max // 2:]` rounds
/// the negative index down, so together they are exactly `max`).
pub fn truncate_middle(ids: &[u32], max: usize) -> Vec<u32> {
    if ids.len() <= max {
        return ids.to_vec();
    }
    let head = max / 2;
    let mut out = ids[..head].to_vec();
    out.extend_from_slice(&ids[ids.len() - (max - head)..]);
    out
}

fn bad(msg: String) -> LabError {
    LabError::Invalid(msg)
}

// ---------------------------------------------------------------------------------------
// ZeroSCROLLS QuALITY

/// The byte offset of character `i` of `s` (ZeroSCROLLS' indices count Python
/// characters, i.e. code points); `None` past the end.
fn char_offset(s: &str, i: usize) -> Option<usize> {
    s.char_indices().map(|(b, _)| b).chain([s.len()]).nth(i)
}

/// A ZeroSCROLLS document's `input` and its character indices, checked: document start ≤
/// end ≤ query start ≤ query end ≤ length.
struct ScrollsDoc<'a> {
    input: &'a str,
    separator: &'a str,
    query_start: usize,
    query_end: usize,
}

fn index(doc: &Value, name: &str) -> Result<usize, LabError> {
    field(doc, name)?
        .as_u64()
        .map(|v| v as usize)
        .ok_or_else(|| bad(format!("{name} is not a non-negative integer: {}", short(doc))))
}

fn scrolls_doc(doc: &Value) -> Result<ScrollsDoc<'_>, LabError> {
    let input = text(doc, "input")?;
    let separator = text(doc, "truncation_seperator")?;
    let ds = index(doc, "document_start_index")?;
    let de = index(doc, "document_end_index")?;
    let qs = index(doc, "query_start_index")?;
    let qe = index(doc, "query_end_index")?;
    let len = input.chars().count();
    if !(ds <= de && de <= qs && qs <= qe && qe <= len) {
        return Err(bad(format!(
            "the indices are out of order or past the input's {len} characters (document {ds}..{de}, query {qs}..{qe}): {}",
            short(doc)
        )));
    }
    Ok(ScrollsDoc { input, separator, query_start: qs, query_end: qe })
}

/// ZeroSCROLLS' prompt for a chat model (`build_prompt` of its OpenAI runner):
/// "Do not provide any explanation." joins the instruction (the text before the first
/// blank line; `insert_format_request`), the input ends where the query ends (no
/// "Answer:" after it), and when that is longer than the budget, its first
/// `budget − tokens(separator + query)` tokens are followed by the truncation separator
/// and the query, so the question and the options are always kept.
pub fn zeroscrolls_prompt(doc: &Value, limits: &dyn ModelLimits) -> Result<String, LabError> {
    let d = scrolls_doc(doc)?;
    let Some(cut) = d.input.find("\n\n") else {
        return Err(bad(format!("the input has no instruction paragraph (no blank line): {}", short(doc))));
    };
    // Upstream strips the instruction and still shifts every index by the request's
    // length + 1 (a space), as here.
    let input = format!("{} {FORMAT_REQUEST}{}", py_strip(&d.input[..cut]), &d.input[cut..]);
    let shift = FORMAT_REQUEST.chars().count() + 1;
    let at = |i: usize| char_offset(&input, i + shift).unwrap_or(input.len());
    let (qs, qe) = (at(d.query_start), at(d.query_end));
    let input = &input[..qe];
    // Upstream checks the fit against the context less the generation and then leaves 10
    // more tokens for the chat format; one budget, the template's share set aside, here.
    let budget = prompt_budget(limits, QUALITY_MAX_TOKENS);
    let ids = limits.encode(input)?;
    if ids.len() <= budget {
        return Ok(input.to_string());
    }
    let suffix = format!("{}{}", d.separator, &input[qs..]);
    // A query longer than the whole budget leaves no story (upstream's negative slice
    // would keep most of it, past the budget); never so at 128K.
    let keep = budget.saturating_sub(limits.encode(&suffix)?.len());
    Ok(format!("{}{suffix}", limits.decode(&ids[..keep.min(ids.len())])?))
}

/// ZeroSCROLLS QuALITY as the paper evaluates Llama 3.1 Instruct.
#[derive(Debug, Clone, Copy, Default)]
pub struct ZeroScrollsQuality;

impl ZeroScrollsQuality {
    /// The request, with the document cut to the model's limits.
    pub fn fit(&self, doc: &Value, limits: &dyn ModelLimits) -> Result<Vec<Request>, LabError> {
        let p = zeroscrolls_prompt(doc, limits)?;
        Ok(vec![Request::Gen(GenRequest {
            messages: vec![Msg::new("user", p)],
            max_tokens: QUALITY_MAX_TOKENS,
            stop: Vec::new(),
        })])
    }
}

impl Task for ZeroScrollsQuality {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: QUALITY,
            style: Style::Generate,
            setting: "0-shot on the validation set; ZeroSCROLLS' chat prompt (its input with \"Do not provide any explanation.\", without \"Answer:\") as one user message; a story longer than 131072 − 64 tokens loses its end (truncation separator, question and options kept); greedy, max 64 tokens; the first standalone letter A–D must match",
            metric: "exact_match",
            shots: 0,
            max_tokens: QUALITY_MAX_TOKENS,
            data: "--data DIR: zero_scrolls/quality/validation.jsonl (tau/zero_scrolls quality.zip) or its Parquet export; fields id, input, output, *_index, truncation_seperator",
            paper: Some([81.0, 90.5, 95.2]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let dir = src.dir(QUALITY)?;
        let docs = load_split(dir, "zero_scrolls", Some("quality"), "validation")
            .or_else(|_| load_split(dir, "quality", None, "validation"))
            .map_err(|_| {
                bad(format!(
                    "no ZeroSCROLLS QuALITY validation data under {}: put quality.zip's quality/validation.jsonl (tau/zero_scrolls) at {}",
                    dir.display(),
                    dir.join("zero_scrolls/quality/validation.jsonl").display()
                ))
            })?;
        for d in &docs {
            scrolls_doc(d)?;
            if sc::quality_letter(text(d, "output")?).is_none() {
                return Err(bad(format!("the output names no letter A–D: {}", short(d))));
            }
        }
        Ok(docs)
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        self.fit(doc, &CharEstimate { context: PAPER_CONTEXT })
    }
    fn requests_fitted(&self, doc: &Value, _shots: usize, limits: &dyn ModelLimits) -> Result<Vec<Request>, LabError> {
        self.fit(doc, limits)
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let gold = doc.get("output").and_then(Value::as_str).unwrap_or_default();
        let target = sc::quality_letter(gold).map(String::from).unwrap_or_default();
        let pred = sc::quality_letter(gen_text(r));
        let extracted = pred.map(String::from).unwrap_or_else(|| "[invalid]".into());
        Scored::hit(sc::quality_correct(gen_text(r), gold), extracted, target)
    }
}

// ---------------------------------------------------------------------------------------
// InfiniteBench En.MC

/// The four options and the label `[text, letter]` of an En.MC document.
fn en_mc_options(doc: &Value) -> Result<(Vec<String>, [String; 2]), LabError> {
    let options: Vec<String> = field(doc, "options")?
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .ok_or_else(|| bad(format!("options is not a list: {}", short(doc))))?;
    if options.len() < 4 {
        return Err(bad(format!("En.MC needs 4 options, this document has {}: {}", options.len(), short(doc))));
    }
    let label =
        sc::infinitebench_label(field(doc, "answer")?, &options).map_err(|e| bad(format!("{e}: {}", short(doc))))?;
    Ok((options, label))
}

/// InfiniteBench's En.MC prompt for chat models (`gpt4_templates` and `claude2_templates`
/// of `src/prompt.py`; the base-model template ends "The letter of the correct answer is"
/// instead).
pub fn en_mc_template(context: &str, question: &str, options: &[String]) -> String {
    format!(
        "Read the book and answer the question.\n\n{context}\n\nQuestion: {question}\n\nOnly one of the following options is correct, tell me the answer using one single letter (A, B, C, or D). Don't say anything else.\nA. {}\nB. {}\nC. {}\nD. {}",
        options[0], options[1], options[2], options[3]
    )
}

/// The En.MC prompt cut as InfiniteBench cuts it: the whole prompt's tokens, when more
/// than the budget, lose their middle ([`truncate_middle`]), then are decoded.
pub fn infinitebench_prompt(doc: &Value, limits: &dyn ModelLimits) -> Result<String, LabError> {
    let (options, _) = en_mc_options(doc)?;
    let prompt = en_mc_template(text(doc, "context")?, text(doc, "input")?, &options);
    let ids = limits.encode(&prompt)?;
    let budget = prompt_budget(limits, EN_MC_MAX_TOKENS);
    if ids.len() <= budget {
        return Ok(prompt);
    }
    limits.decode(&truncate_middle(&ids, budget))
}

/// InfiniteBench En.MC as the paper evaluates Llama 3.1 Instruct.
#[derive(Debug, Clone, Copy, Default)]
pub struct InfiniteBenchEnMc;

impl InfiniteBenchEnMc {
    /// The request, with the book cut to the model's limits.
    pub fn fit(&self, doc: &Value, limits: &dyn ModelLimits) -> Result<Vec<Request>, LabError> {
        let p = infinitebench_prompt(doc, limits)?;
        Ok(vec![Request::Gen(GenRequest {
            messages: vec![Msg::new("user", p)],
            max_tokens: EN_MC_MAX_TOKENS,
            stop: Vec::new(),
        })])
    }
}

impl Task for InfiniteBenchEnMc {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: EN_MC,
            style: Style::Generate,
            setting: "0-shot; InfiniteBench's chat prompt for longbook_choice_eng as one user message; a prompt longer than 131072 − 20 tokens keeps its first and last halves; greedy, max 20 tokens; InfiniteBench's option matching (first letter, option text, \"answer is\", a lone letter)",
            metric: "acc",
            shots: 0,
            max_tokens: EN_MC_MAX_TOKENS,
            data: "--data DIR: InfiniteBench/longbook_choice_eng.jsonl (xinrongzhang2022/InfiniteBench); fields id, context, input, options, answer",
            paper: Some([65.1, 78.2, 83.4]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let dir = src.dir(EN_MC)?;
        // The Hugging Face repo holds one JSONL file per task (its Parquet conversion
        // fails on the mixed schemas), kept in a folder named after the benchmark.
        let find = |d: &str| load_split(dir, d, None, "longbook_choice_eng");
        let docs = find("longbook_choice_eng")
            .or_else(|_| find("InfiniteBench"))
            .or_else(|_| find("infinitebench"))
            .map_err(|_| {
                bad(format!(
                    "no InfiniteBench En.MC data under {}: put longbook_choice_eng.jsonl (xinrongzhang2022/InfiniteBench) at {}",
                    dir.display(),
                    dir.join("InfiniteBench/longbook_choice_eng.jsonl").display()
                ))
            })?;
        for d in &docs {
            en_mc_options(d)?;
            text(d, "context")?;
            text(d, "input")?;
        }
        Ok(docs)
    }
    fn doc_id(&self, doc: &Value, index: usize) -> String {
        // InfiniteBench's ids are integers.
        match doc.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => index.to_string(),
        }
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        self.fit(doc, &CharEstimate { context: PAPER_CONTEXT })
    }
    fn requests_fitted(&self, doc: &Value, _shots: usize, limits: &dyn ModelLimits) -> Result<Vec<Request>, LabError> {
        self.fit(doc, limits)
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let Ok((_, label)) = en_mc_options(doc) else {
            return Scored::new(0.0, "", "");
        };
        let pred = gen_text(r);
        let ok = sc::longbook_choice_correct(pred, &label);
        Scored::hit(ok, pred.trim(), label[1].clone())
    }
}

pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![Box::new(ZeroScrollsQuality), Box::new(InfiniteBenchEnMc)]
}
