//! MMLU, MMLU-Pro, GPQA, MATH, MGSM and MBPP as Meta evaluates Llama 3.1 Instruct
//! (shared/spec/llama3.md §9.2, evaluation.md §2.3–2.8).
//!
//! The user turns are Meta's where they are public: the `input_final_prompts` of the
//! `meta-llama/Llama-3.1-*-Instruct-evals` details, as lm-eval's `llama3/instruct` tasks
//! and llama-recipes' `meta_eval` reproduce them (MMLU, MMLU-Pro, GPQA, MATH);
//! simple-evals' native prompts (MGSM); EvalPlus' instruction prompt (MBPP). Where herd
//! cannot do what Meta does, the task's `setting` says so.
//!
//! The data are the upstream files under `--data DIR`: Hugging Face exports (Parquet or
//! JSONL) read through `eval::data`, GPQA's CSV and MGSM's TSVs read here.

use super::{
    Aggregate, DataSource, Request, Scored, Style, Task, TaskInfo, field, gen_text, pass_at_k_aggregate, pass_scored,
    run_check, short, text,
};
use crate::LabError;
use crate::eval::backend::{GenRequest, Msg, Response};
use crate::eval::data::{find_split, load_split, read_rows};
use crate::eval::score::{self, ChoiceStyle, MGSM_LANGS, compile, py_strip};
use regex::Regex;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{LazyLock, RwLock};

pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![
        Box::new(Mmlu::default()),
        Box::new(MmluCot),
        Box::new(MmluPro::default()),
        Box::new(Gpqa),
        Box::new(Math),
        Box::new(Mgsm),
        Box::new(Mbpp),
    ]
}

// ---------------------------------------------------------------------------------------
// Shared helpers

fn invalid(msg: impl Into<String>) -> LabError {
    LabError::Invalid(msg.into())
}

/// `A`, `B`, … for option `i`.
fn letter(i: usize) -> char {
    char::from(b'A' + (i % 26) as u8)
}

/// A list field of strings (a number in it is written as JSON).
fn str_list(doc: &Value, name: &str) -> Result<Vec<String>, LabError> {
    field(doc, name)?
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), String::from)).collect())
        .ok_or_else(|| invalid(format!("field {name:?} is not a list: {}", short(doc))))
}

/// A field written as a string, a string or a number.
fn id_field(doc: &Value, name: &str) -> Option<String> {
    match doc.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn gen_request(messages: Vec<Msg>, max_tokens: usize) -> Vec<Request> {
    vec![Request::Gen(GenRequest { messages, max_tokens, stop: Vec::new() })]
}

fn scored(ok: bool, extracted: String, target: String) -> Scored {
    Scored::hit(ok, extracted, target)
}

/// Meta's multiple-choice scoring: the last `best answer is ([A-Z])` against the gold letter.
fn letter_scored(output: &str, gold: Option<char>) -> Scored {
    let target = gold.map(String::from).unwrap_or_default();
    let extracted =
        score::choice_letter(output, ChoiceStyle::BestAnswerIs).map_or_else(|| "[invalid]".to_string(), String::from);
    scored(!target.is_empty() && extracted == target, extracted, target)
}

/// The rows of `split` from the folder `root/dataset/` (below `subset/` when given): these
/// tasks read two splits of one export, so a flat `root/dataset.jsonl`, which holds one
/// split only, is refused. `expect` names the files for the error message.
fn folder_split(
    root: &Path,
    dataset: &str,
    subset: Option<&str>,
    split: &str,
    expect: &str,
) -> Result<Vec<Value>, LabError> {
    let base = root.join(dataset);
    let missing = || invalid(format!("no {split} split of {dataset} under {}: expected {expect}", root.display()));
    if !base.is_dir() {
        return Err(missing());
    }
    let files = find_split(root, dataset, subset, split).map_err(|_| missing())?;
    if let Some(flat) = files.iter().find(|f| !f.starts_with(&base)) {
        return Err(invalid(format!(
            "{}: {dataset} reads its test and few-shot splits from the folder {}, and a flat file holds one split only; move it away",
            flat.display(),
            base.display()
        )));
    }
    let mut rows = Vec::new();
    for f in files {
        rows.extend(read_rows(&f)?);
    }
    Ok(rows)
}

/// Few-shot examples by subject (MMLU) or category (MMLU-Pro), filled by `load`.
#[derive(Default)]
struct ShotPool(RwLock<HashMap<String, Vec<Value>>>);

impl ShotPool {
    fn fill(&self, rows: Vec<Value>, key: &str) -> Result<(), LabError> {
        let mut pool: HashMap<String, Vec<Value>> = HashMap::new();
        for r in rows {
            pool.entry(text(&r, key)?.to_string()).or_default().push(r);
        }
        *self.0.write().map_err(|_| invalid("the few-shot pool is poisoned"))? = pool;
        Ok(())
    }

    /// The first `n` examples of `group` (all there are when fewer).
    fn take(&self, task: &str, group: &str, n: usize) -> Result<Vec<Value>, LabError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let pool = self.0.read().map_err(|_| invalid("the few-shot pool is poisoned"))?;
        let rows = pool.get(group).filter(|r| !r.is_empty()).ok_or_else(|| {
            invalid(format!(
                "{task}: no few-shot examples of {group:?} are loaded (load the task first, or run 0-shot)"
            ))
        })?;
        Ok(rows.iter().take(n).cloned().collect())
    }
}

// ---------------------------------------------------------------------------------------
// MMLU

/// MMLU as Meta evaluates Llama 3.1 Instruct: 5-shot, the subject's dev questions as
/// earlier chat turns answered "The best answer is X.", the model writes the letter, 10
/// tokens. Meta's prompt also opens the last answer with "The best answer is" (a prefill
/// herd's chat requests cannot make), and Meta reports the macro average over subjects.
#[derive(Default)]
struct Mmlu {
    dev: ShotPool,
}

const MMLU_FILES: &str = "mmlu/all/test-00000-of-00001.parquet and mmlu/all/dev-00000-of-00001.parquet (the cais/mmlu export; fields question, subject, choices, answer)";

fn mmlu_choices(doc: &Value) -> Result<Vec<String>, LabError> {
    let c = str_list(doc, "choices")?;
    if c.len() != 4 {
        return Err(invalid(format!("an MMLU question needs 4 choices, this one has {}: {}", c.len(), short(doc))));
    }
    Ok(c)
}

fn mmlu_gold(doc: &Value) -> Result<usize, LabError> {
    field(doc, "answer")?
        .as_u64()
        .filter(|&a| a < 4)
        .map(|a| a as usize)
        .ok_or_else(|| invalid(format!("answer is not a choice index 0..=3: {}", short(doc))))
}

/// `subject/index`, the id both MMLU settings log.
fn mmlu_doc_id(doc: &Value, index: usize) -> String {
    format!("{}/{index}", doc.get("subject").and_then(Value::as_str).unwrap_or_default())
}

/// Both MMLU settings score the last "best answer is X" against the gold letter.
fn mmlu_scored(doc: &Value, r: &[Response]) -> Scored {
    letter_scored(gen_text(r), mmlu_gold(doc).ok().map(letter))
}

fn mmlu_question(doc: &Value) -> Result<String, LabError> {
    let c = mmlu_choices(doc)?;
    Ok(format!(
        "Given the following question and four candidate answers (A, B, C and D), choose the best answer.\nQuestion: {}\nA. {}\nB. {}\nC. {}\nD. {}\nYour response should end with \"The best answer is [the_answer_letter]\" where the [the_answer_letter] is one of A, B, C or D.",
        text(doc, "question")?,
        c[0],
        c[1],
        c[2],
        c[3]
    ))
}

impl Task for Mmlu {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "mmlu",
            style: Style::Generate,
            setting: "5-shot (the subject's dev questions as chat turns answered \"The best answer is X.\"), the model generates the letter, `best answer is ([A-Z])` (last match), greedy, max 10 tokens; macro average over subjects as Meta reports it (the micro average is in the breakdown), no \"The best answer is\" prefill of the answer turn",
            metric: "exact_match_macro",
            shots: 5,
            max_tokens: 10,
            data: "--data DIR: mmlu/all/test-*.parquet and mmlu/all/dev-*.parquet (cais/mmlu; fields question, subject, choices, answer)",
            paper: Some([69.4, 83.6, 87.3]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let dir = src.dir("mmlu")?;
        let docs = folder_split(dir, "mmlu", Some("all"), "test", MMLU_FILES)?;
        self.dev.fill(folder_split(dir, "mmlu", Some("all"), "dev", MMLU_FILES)?, "subject")?;
        Ok(docs)
    }
    fn doc_id(&self, doc: &Value, index: usize) -> String {
        mmlu_doc_id(doc, index)
    }
    fn requests(&self, doc: &Value, shots: usize) -> Result<Vec<Request>, LabError> {
        let mut messages = Vec::new();
        for s in self.dev.take("mmlu", text(doc, "subject")?, shots)? {
            messages.push(Msg::new("user", mmlu_question(&s)?));
            messages.push(Msg::new("assistant", format!("The best answer is {}.", letter(mmlu_gold(&s)?))));
        }
        messages.push(Msg::new("user", mmlu_question(doc)?));
        Ok(gen_request(messages, 10))
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        mmlu_scored(doc, r)
    }
    fn aggregate(&self, docs: &[&Value], scored: &[&Scored]) -> Aggregate {
        Aggregate::macro_over(docs, scored, "subject")
    }
}

/// MMLU 0-shot CoT as Meta evaluates Llama 3.1 Instruct: Meta's step-by-step prompt
/// (lm-eval 0.4.13's `mmlu_cot_llama`, from Meta's evaluation details), the model reasons
/// and ends "The best answer is X.", `best answer is ([A-Z])` (last match), greedy, 1024
/// tokens, macro average over subjects.
struct MmluCot;

fn mmlu_cot_question(doc: &Value) -> Result<String, LabError> {
    let c = mmlu_choices(doc)?;
    Ok(format!(
        "Given the following question and four candidate answers (A, B, C and D), choose the best answer.\n\nQuestion: {}\nA. {}\nB. {}\nC. {}\nD. {}\n\n- For simple problems:\nDirectly provide the answer with minimal explanation.\n\n- For complex problems:\nUse this step-by-step format:\n## Step 1: [Concise description]\n[Brief explanation]\n## Step 2: [Concise description]\n[Brief explanation]\n\nRegardless of the approach, always conclude with:\nThe best answer is [the_answer_letter].\nwhere the [the_answer_letter] is one of A, B, C or D.\n\nLet's think step by step.",
        py_strip(text(doc, "question")?),
        c[0],
        c[1],
        c[2],
        c[3]
    ))
}

impl Task for MmluCot {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "mmlu_cot",
            style: Style::Generate,
            setting: "0-shot CoT (Meta's step-by-step prompt, lm-eval mmlu_cot_llama), `best answer is ([A-Z])` (last match), greedy, max 1024 tokens; macro average over subjects as Meta reports it (the micro average is in the breakdown)",
            metric: "exact_match_macro",
            shots: 0,
            max_tokens: 1024,
            data: "--data DIR: mmlu/all/test-*.parquet (cais/mmlu; fields question, subject, choices, answer)",
            paper: Some([73.0, 86.0, 88.6]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        folder_split(src.dir("mmlu_cot")?, "mmlu", Some("all"), "test", MMLU_FILES)
    }
    fn doc_id(&self, doc: &Value, index: usize) -> String {
        mmlu_doc_id(doc, index)
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        Ok(gen_request(vec![Msg::new("user", mmlu_cot_question(doc)?)], 1024))
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        mmlu_scored(doc, r)
    }
    fn aggregate(&self, docs: &[&Value], scored: &[&Scored]) -> Aggregate {
        Aggregate::macro_over(docs, scored, "subject")
    }
}

// ---------------------------------------------------------------------------------------
// MMLU-Pro

/// MMLU-Pro as Meta evaluates Llama 3.1 Instruct: 5-shot CoT, the category's first five
/// validation questions as earlier chat turns answered with their chain of thought
/// (TIGER-Lab's `cot_content`, its "The answer is (X)." written as Meta's "The best answer
/// is X."), up to 10 options, `best answer is ([A-Z])`, 1024 tokens.
#[derive(Default)]
struct MmluPro {
    validation: ShotPool,
}

const MMLU_PRO_FILES: &str = "mmlu_pro/data/test-00000-of-00001.parquet and mmlu_pro/data/validation-00000-of-00001.parquet (the TIGER-Lab/MMLU-Pro export; fields question, options, answer, category, cot_content)";

fn mmlu_pro_question(doc: &Value) -> Result<String, LabError> {
    let mut p = format!(
        "Given the following question and candidate answers, choose the best answer.\nQuestion: {}",
        text(doc, "question")?
    );
    for (i, o) in str_list(doc, "options")?.iter().enumerate() {
        p.push_str(&format!("\n{}. {o}", letter(i)));
    }
    p.push_str(
        "\n\nYour response should end with \"The best answer is [the_answer_letter].\" where the [the_answer_letter] is a letter from the provided choices.\n\nLet's think step by step.",
    );
    Ok(p)
}

/// A validation question's chain of thought as Meta's shot answer: without TIGER-Lab's
/// "A: Let's think step by step." opening, ending "The best answer is X." instead of
/// "The answer is (X).".
fn mmlu_pro_shot_answer(cot: &str) -> String {
    static ANSWER: LazyLock<Regex> = LazyLock::new(|| compile(r"The answer is \(([A-Z])\)"));
    let cot = cot.trim();
    let cot = cot.strip_prefix("A: Let's think step by step.").unwrap_or(cot).trim();
    ANSWER.replace_all(cot, "The best answer is $1").into_owned()
}

fn mmlu_pro_gold(doc: &Value) -> Option<char> {
    match doc.get("answer") {
        Some(Value::String(a)) if a.len() == 1 => a.chars().next(),
        _ => doc.get("answer_index").and_then(Value::as_u64).map(|i| letter(i as usize)),
    }
}

impl Task for MmluPro {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "mmlu_pro",
            style: Style::Generate,
            setting: "5-shot CoT (the category's first 5 validation questions with their chain of thought as chat turns), up to 10 options, `best answer is ([A-Z])` (last match), greedy, max 1024 tokens; macro average over the 14 categories as Meta reports it (the micro average is in the breakdown)",
            metric: "exact_match_macro",
            shots: 5,
            max_tokens: 1024,
            data: "--data DIR: mmlu_pro/data/test-*.parquet and mmlu_pro/data/validation-*.parquet (TIGER-Lab/MMLU-Pro; fields question, options, answer, category, cot_content)",
            paper: Some([48.3, 66.4, 73.3]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let dir = src.dir("mmlu_pro")?;
        let docs = folder_split(dir, "mmlu_pro", None, "test", MMLU_PRO_FILES)?;
        self.validation.fill(folder_split(dir, "mmlu_pro", None, "validation", MMLU_PRO_FILES)?, "category")?;
        Ok(docs)
    }
    fn doc_id(&self, doc: &Value, index: usize) -> String {
        id_field(doc, "question_id").unwrap_or_else(|| index.to_string())
    }
    fn requests(&self, doc: &Value, shots: usize) -> Result<Vec<Request>, LabError> {
        let mut messages = Vec::new();
        for s in self.validation.take("mmlu_pro", text(doc, "category")?, shots)? {
            messages.push(Msg::new("user", mmlu_pro_question(&s)?));
            messages.push(Msg::new("assistant", mmlu_pro_shot_answer(text(&s, "cot_content")?)));
        }
        messages.push(Msg::new("user", mmlu_pro_question(doc)?));
        Ok(gen_request(messages, 1024))
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        letter_scored(gen_text(r), mmlu_pro_gold(doc))
    }
    fn aggregate(&self, docs: &[&Value], scored: &[&Scored]) -> Aggregate {
        Aggregate::macro_over(docs, scored, "category")
    }
}

// ---------------------------------------------------------------------------------------
// GPQA

/// GPQA (main set) as Meta evaluates Llama 3.1 Instruct with CoT: 0-shot, Meta's
/// step-by-step prompt, `best answer is ([A-Z])`, 2048 tokens. The four answers are
/// cleaned as lm-eval's `llama3/instruct/gpqa` cleans them and shuffled per question by
/// a seed from the question's SHA-256 (Meta's own order is not published).
struct Gpqa;

/// lm-eval's `preprocess`: strip, " [title]" to ". ", drop `[...]`, double spaces to one.
fn gpqa_clean(s: &str) -> String {
    static BRACKETS: LazyLock<Regex> = LazyLock::new(|| compile(r"\[.*?\]"));
    let s = py_strip(s).replace(" [title]", ". ");
    BRACKETS.replace_all(&s, "").replace("  ", " ")
}

/// SplitMix64: a fixed generator, so the shuffle does not change with a crate version.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The four options in this question's order and the index of the correct one.
fn gpqa_options(doc: &Value) -> Result<(Vec<String>, usize), LabError> {
    let raw = [
        text(doc, "Correct Answer")?,
        text(doc, "Incorrect Answer 1")?,
        text(doc, "Incorrect Answer 2")?,
        text(doc, "Incorrect Answer 3")?,
    ];
    let digest = Sha256::digest(text(doc, "Question")?.as_bytes());
    let mut seed = digest.iter().take(8).fold(0u64, |s, &b| (s << 8) | u64::from(b));
    // Fisher-Yates over the positions; position 0 holds the correct answer.
    let mut order = [0usize, 1, 2, 3];
    for i in (1..order.len()).rev() {
        let j = (splitmix64(&mut seed) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let gold = order.iter().position(|&k| k == 0).unwrap_or(0);
    Ok((order.iter().map(|&k| gpqa_clean(raw[k])).collect(), gold))
}

/// A CSV record: its 1-based starting line and its fields.
type CsvRecord = (usize, Vec<String>);

/// RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes. An error is
/// the line where the unclosed record starts and what is wrong.
fn parse_csv(s: &str) -> Result<Vec<CsvRecord>, (usize, String)> {
    let (mut records, mut record, mut cell) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut line, mut start) = (false, 1, 1);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    cell.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => {
                    line += usize::from(c == '\n');
                    cell.push(c);
                }
            }
            continue;
        }
        match c {
            '"' if cell.is_empty() => quoted = true,
            ',' => record.push(std::mem::take(&mut cell)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut cell));
                records.push((start, std::mem::take(&mut record)));
                line += 1;
                start = line;
            }
            _ => cell.push(c),
        }
    }
    if quoted {
        return Err((start, "a quoted field is never closed".into()));
    }
    if !cell.is_empty() || !record.is_empty() {
        record.push(cell);
        records.push((start, record));
    }
    Ok(records)
}

/// A CSV file with a header row, as JSON objects of strings keyed by the header.
fn read_csv(path: &Path) -> Result<Vec<Value>, LabError> {
    let bad = |line, msg: String| LabError::Data { path: path.display().to_string(), line, msg };
    let text = std::fs::read_to_string(path).map_err(|e| LabError::Io { path: path.to_path_buf(), err: e })?;
    let mut records = parse_csv(text.strip_prefix('\u{feff}').unwrap_or(&text)).map_err(|(l, m)| bad(l, m))?;
    records.retain(|(_, r)| !(r.len() == 1 && r[0].is_empty()));
    let mut it = records.into_iter();
    let (_, header) = it.next().ok_or_else(|| bad(0, "empty file: expected a header row".into()))?;
    it.map(|(line, r)| {
        if r.len() != header.len() {
            return Err(bad(line, format!("{} fields, but the header has {}", r.len(), header.len())));
        }
        Ok(Value::Object(header.iter().cloned().zip(r.into_iter().map(Value::String)).collect::<Map<_, _>>()))
    })
    .collect()
}

impl Task for Gpqa {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "gpqa",
            style: Style::Generate,
            setting: "0-shot CoT on the main set (448 questions), Meta's step-by-step prompt, options shuffled per question (seeded by the question's SHA-256; Meta's order is unpublished), `best answer is ([A-Z])` (last match), greedy, max 2048 tokens",
            metric: "exact_match",
            shots: 0,
            max_tokens: 2048,
            data: "--data DIR: gpqa/gpqa_main.csv (Idavidrein/gpqa as upstream) or gpqa/gpqa_main.{jsonl,parquet} with its columns (Question, Correct Answer, Incorrect Answer 1..3)",
            paper: Some([32.8, 46.7, 51.1]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let dir = src.dir("gpqa")?.join("gpqa");
        let csv = dir.join("gpqa_main.csv");
        if csv.is_file() {
            return read_csv(&csv);
        }
        let files = find_split(&dir, "gpqa_main", None, "").map_err(|_| {
            invalid(format!(
                "no GPQA main set under {}: expected gpqa_main.csv (Idavidrein/gpqa; columns Question, Correct Answer, Incorrect Answer 1, 2, 3), or gpqa_main.jsonl / gpqa_main.parquet with those columns",
                dir.display()
            ))
        })?;
        let mut rows = Vec::new();
        for f in files {
            rows.extend(read_rows(&f)?);
        }
        Ok(rows)
    }
    fn doc_id(&self, doc: &Value, index: usize) -> String {
        id_field(doc, "Record ID").unwrap_or_else(|| index.to_string())
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        let (o, _) = gpqa_options(doc)?;
        let p = format!(
            "Given the following question and four candidate answers (A, B, C and D), choose the best answer.\n\nQuestion: {}\nA. {}\nB. {}\nC. {}\nD. {}\n\n- For simple problems:\nDirectly provide the answer with minimal explanation.\n\n- For complex problems:\nUse this step-by-step format:\n## Step 1: [Concise description]\n[Brief explanation]\n## Step 2: [Concise description]\n[Brief explanation]\n\nRegardless of the approach, always conclude with:\nThe best answer is [the_answer_letter].\nwhere the [the_answer_letter] is one of A, B, C or D.\n\nLet's think step by step.",
            text(doc, "Question")?,
            o[0],
            o[1],
            o[2],
            o[3]
        );
        Ok(gen_request(vec![Msg::new("user", p)], 2048))
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        letter_scored(gen_text(r), gpqa_options(doc).ok().map(|(_, g)| letter(g)))
    }
}

// ---------------------------------------------------------------------------------------
// MATH

/// MATH as Meta evaluates Llama 3.1 Instruct: 0-shot CoT with Meta's prompt, which asks
/// to end with "Therefore, the final answer is: $\boxed{answer}$. I hope it is correct.";
/// the last `\boxed{}` of the answer against the last of the gold solution, equal after
/// Minerva's normalization. Meta also accepts sympy-equivalent answers and asks an LLM
/// judge about the rest; herd does neither, so it can score a little lower.
struct Math;

const MATH_PROMPT: &str = "Solve the following math problem efficiently and clearly:\n\n- For simple problems (2 steps or fewer):\nProvide a concise solution with minimal explanation.\n\n- For complex problems (3 steps or more):\nUse this step-by-step format:\n\n## Step 1: [Concise description]\n[Brief explanation and calculations]\n\n## Step 2: [Concise description]\n[Brief explanation and calculations]\n\n...\n\nRegardless of the approach, always conclude with:\n\nTherefore, the final answer is: $\\boxed{answer}$. I hope it is correct.\n\nWhere [answer] is just the final number or expression that solves the problem.\n\nProblem: ";

/// The gold answer: the solution's last `\boxed{}`, else an `answer` field (MATH-500).
fn math_gold(doc: &Value) -> Option<String> {
    doc.get("solution").and_then(Value::as_str).and_then(score::boxed_answer).or_else(|| id_field(doc, "answer"))
}

impl Task for Math {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "math",
            style: Style::Generate,
            setting: "0-shot CoT, Meta's prompt ending \"Therefore, the final answer is: $\\boxed{answer}$. I hope it is correct.\", the last \\boxed{} against the solution's, equal after Minerva normalization; no sympy equivalence and no LLM judge (Meta has both), greedy, max 5120 tokens",
            metric: "exact_match",
            shots: 0,
            max_tokens: 5120,
            data: "--data DIR: math/**/test-*.parquet or math.jsonl (hendrycks MATH, e.g. EleutherAI/hendrycks_math; fields problem, solution)",
            paper: Some([51.9, 68.0, 73.8]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let dir = src.dir("math")?;
        load_split(dir, "math", None, "test").map_err(|_| {
            invalid(format!(
                "no MATH test split under {}: expected math/<subject>/test-00000-of-00001.parquet (EleutherAI/hendrycks_math), math/test-*.parquet or math.jsonl, with fields problem and solution",
                dir.display()
            ))
        })
    }
    fn doc_id(&self, doc: &Value, index: usize) -> String {
        id_field(doc, "unique_id").unwrap_or_else(|| index.to_string())
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        let p = format!("{MATH_PROMPT}{}\n", text(doc, "problem")?);
        Ok(gen_request(vec![Msg::new("user", p)], 5120))
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let target = math_gold(doc).unwrap_or_default();
        let pred = score::boxed_answer(gen_text(r));
        let ok = pred.as_deref().is_some_and(|p| !target.is_empty() && score::math_equal(p, &target));
        scored(ok, pred.unwrap_or_else(|| "[invalidanswer]".into()), target)
    }
}

// ---------------------------------------------------------------------------------------
// MGSM

/// MGSM as Meta evaluates Llama 3.1 Instruct: 0-shot CoT with simple-evals' native
/// instruction of each language, all 11 languages, simple-evals' answer parsing and
/// exact match, 2048 tokens.
struct Mgsm;

/// simple-evals' `get_lang_examples`: each line stripped, then `question<TAB>answer`.
fn read_mgsm_tsv(path: &Path, lang: &str) -> Result<Vec<Value>, LabError> {
    let bad = |line, msg: &str| LabError::Data { path: path.display().to_string(), line, msg: msg.into() };
    let text = std::fs::read_to_string(path).map_err(|e| LabError::Io { path: path.to_path_buf(), err: e })?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = py_strip(line);
        if line.is_empty() {
            continue;
        }
        let Some((question, answer)) = line.split_once('\t').filter(|(_, a)| !a.contains('\t')) else {
            return Err(bad(i + 1, "expected two tab-separated columns: question, answer"));
        };
        if answer.contains('.') {
            return Err(bad(i + 1, "the answer has a decimal point (MGSM answers are integers)"));
        }
        rows.push(
            json!({"id": format!("{lang}/{}", rows.len()), "lang": lang, "question": question, "answer": answer}),
        );
    }
    Ok(rows)
}

impl Task for Mgsm {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "mgsm",
            style: Style::Generate,
            setting: "0-shot CoT with simple-evals' native prompts, all 11 languages (bn de en es fr ja ru sw te th zh), simple-evals' parsing after the language's answer word, exact match, greedy, max 2048 tokens",
            metric: "exact_match",
            shots: 0,
            max_tokens: 2048,
            data: "--data DIR: mgsm/mgsm_<lang>.tsv for the 11 languages (simple-evals' TSVs, as in juletxara/mgsm: question<TAB>answer, no header)",
            paper: Some([68.9, 86.9, 91.6]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let dir = src.dir("mgsm")?.join("mgsm");
        let mut docs = Vec::new();
        for l in &MGSM_LANGS {
            let path = dir.join(format!("mgsm_{}.tsv", l.code));
            if !path.is_file() {
                return Err(invalid(format!(
                    "no {} MGSM data: expected {} (simple-evals' mgsm_<lang>.tsv for all 11 languages: {})",
                    l.code,
                    path.display(),
                    MGSM_LANGS.iter().map(|l| l.code).collect::<Vec<_>>().join(" ")
                )));
            }
            docs.extend(read_mgsm_tsv(&path, l.code)?);
        }
        Ok(docs)
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        let code = text(doc, "lang")?;
        let lang = score::mgsm_lang(code).ok_or_else(|| invalid(format!("unknown MGSM language {code:?}")))?;
        Ok(gen_request(vec![Msg::new("user", lang.prompt(text(doc, "question")?))], 2048))
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let target = doc.get("answer").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(lang) = doc.get("lang").and_then(Value::as_str).and_then(score::mgsm_lang) else {
            return scored(false, String::new(), target);
        };
        let pred = score::mgsm_parse(gen_text(r), lang);
        scored(score::mgsm_correct(&pred, &target), pred, target)
    }
}

// ---------------------------------------------------------------------------------------
// MBPP

/// MBPP as Meta reports it for Llama 3.1 Instruct ("EvalPlus base", 0-shot, pass@1, 1024
/// tokens): EvalPlus' instruction with the problem text and its first test, the answer's
/// code run in herd's sandbox with the problem's setup code and its `test_list` asserts
/// (the base tests). EvalPlus also opens the answer turn with a response prefix, which
/// herd's chat requests cannot.
struct Mbpp;

/// The problem statement: `text` (full MBPP) or `prompt` (sanitized MBPP, MBPP+).
fn mbpp_text(doc: &Value) -> Result<&str, LabError> {
    text(doc, "text").or_else(|_| text(doc, "prompt"))
}

/// What runs before the candidate: `test_setup_code` (full) or `test_imports` (sanitized).
fn mbpp_setup(doc: &Value) -> String {
    match (doc.get("test_setup_code"), doc.get("test_imports")) {
        (Some(Value::String(s)), _) => s.clone(),
        (_, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

/// The function the tests call, as EvalPlus finds it: a function of the reference code
/// named in the first test.
fn mbpp_entry_point(doc: &Value, tests: &[String]) -> String {
    static DEF: LazyLock<Regex> = LazyLock::new(|| compile(r"(?m)^def[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]*\("));
    let code = doc.get("code").and_then(Value::as_str).unwrap_or_default();
    let first = tests.first().map(String::as_str).unwrap_or_default();
    let names: Vec<&str> = DEF.captures_iter(code).filter_map(|c| c.get(1)).map(|m| m.as_str()).collect();
    names
        .iter()
        .find(|n| first.contains(&format!("{n}(")))
        .or_else(|| names.iter().find(|n| first.contains(**n)))
        .or(names.first())
        .map_or_else(String::new, |n| n.to_string())
}

impl Task for Mbpp {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "mbpp",
            style: Style::Code,
            setting: "0-shot, EvalPlus' instruction prompt (problem text and first test), greedy, pass@1; the answer's code with the problem's test_list asserts (base tests) in herd's sandbox, 3 s; Meta's \"EvalPlus base\" scores the 378 MBPP+ problems (give evalplus/mbppplus's export for that set), no response prefix",
            metric: "pass@1",
            shots: 0,
            max_tokens: 1024,
            data: "--data DIR: mbpp/full/test-*.parquet, mbpp/sanitized/test-*.parquet or mbpp.jsonl (google-research-datasets/mbpp; fields task_id, text, code, test_list, test_setup_code); MBPP+ exports (prompt, test_imports) are read too",
            paper: Some([72.8, 86.0, 88.6]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let dir = src.dir("mbpp")?;
        for subset in [Some("full"), Some("sanitized"), None] {
            if let Ok(rows) = load_split(dir, "mbpp", subset, "test") {
                return Ok(rows);
            }
        }
        Err(invalid(format!(
            "no MBPP test split under {}: expected mbpp/full/test-00000-of-00001.parquet (google-research-datasets/mbpp; fields task_id, text, code, test_list, test_setup_code), mbpp/sanitized/test-*.parquet or mbpp.jsonl",
            dir.display()
        )))
    }
    fn doc_id(&self, doc: &Value, index: usize) -> String {
        id_field(doc, "task_id").unwrap_or_else(|| index.to_string())
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        let tests = str_list(doc, "test_list")?;
        let first = tests.first().ok_or_else(|| invalid(format!("test_list is empty: {}", short(doc))))?;
        let problem = format!("\"\"\"\n{}\n{first}\n\"\"\"", mbpp_text(doc)?.trim());
        let p = format!(
            "Please provide a self-contained Python script that solves the following problem in a markdown code block:\n```\n{problem}\n```\n"
        );
        Ok(gen_request(vec![Msg::new("user", p)], 1024))
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let tests = str_list(doc, "test_list").unwrap_or_default();
        let entry = mbpp_entry_point(doc, &tests);
        pass_scored(r, &tests.join("\n"), |answer| {
            let code = score::extract_code(answer, "", &entry);
            let passed = !tests.is_empty() && run_check(&score::mbpp_program(&mbpp_setup(doc), &code, &tests));
            (code, passed)
        })
    }
    fn aggregate(&self, _docs: &[&Value], scored: &[&Scored]) -> Aggregate {
        pass_at_k_aggregate(scored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_commas_and_newlines() {
        let rows = parse_csv("a,b\r\n\"x, \"\"y\"\"\",\"two\nlines\"\n1,\n").expect("parses");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], (2, vec!["x, \"y\"".to_string(), "two\nlines".to_string()]));
        assert_eq!(rows[2], (4, vec!["1".to_string(), String::new()]));
        assert!(parse_csv("a\n\"open").is_err());
    }

    #[test]
    fn gpqa_cleaning_and_shuffle() {
        assert_eq!(gpqa_clean("  Paris [title] France  [1] "), "Paris. France ");
        let doc = json!({"Question": "Q?", "Correct Answer": "right", "Incorrect Answer 1": "w1",
            "Incorrect Answer 2": "w2", "Incorrect Answer 3": "w3"});
        let (opts, gold) = gpqa_options(&doc).expect("options");
        assert_eq!(opts[gold], "right");
        let mut sorted = opts.clone();
        sorted.sort();
        assert_eq!(sorted, ["right", "w1", "w2", "w3"]);
        assert_eq!(gpqa_options(&doc).expect("again"), (opts, gold));
    }

    #[test]
    fn mmlu_pro_shot_answers_end_like_meta() {
        assert_eq!(
            mmlu_pro_shot_answer("A: Let's think step by step. Two and two make four. The answer is (D)."),
            "Two and two make four. The best answer is D."
        );
    }
}
