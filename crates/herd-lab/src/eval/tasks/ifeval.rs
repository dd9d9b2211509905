//! IFEval (google/IFEval, 541 prompts of verifiable instructions) as Llama 3.1 reports
//! it: the mean of lm-eval's four accuracies (prompt- and instruction-level, strict and
//! loose; shared/spec/llama3.md §9, evaluation.md §2.6).
//!
//! The request is lm-eval 0.4.13's `ifeval.yaml`: 0-shot, the prompt as it is (here the
//! one user message of a chat), greedy, no stop sequence, at most 1280 new tokens.

use super::{Aggregate, DataSource, Request, Scored, Style, Task, TaskInfo, field, gen_text, short, text};
use crate::LabError;
use crate::eval::backend::{GenRequest, Msg, Response};
use crate::eval::score::ifeval::{Metrics, Verdicts, evaluate};
use serde_json::{Value, json};

/// `max_gen_toks` of lm-eval's `ifeval.yaml`.
const MAX_TOKENS: usize = 1280;

pub(super) struct IfEval;

/// The instruction ids and the kwargs objects of a document.
fn instructions(doc: &Value) -> Result<(Vec<&str>, Vec<Value>), LabError> {
    let ids = field(doc, "instruction_id_list")?
        .as_array()
        .ok_or_else(|| LabError::Invalid(format!("instruction_id_list is not a list: {}", short(doc))))?;
    let ids: Vec<&str> = ids
        .iter()
        .map(|v| {
            v.as_str().ok_or_else(|| LabError::Invalid(format!("an instruction id is not a string: {}", short(doc))))
        })
        .collect::<Result<_, _>>()?;
    let kwargs = field(doc, "kwargs")?
        .as_array()
        .ok_or_else(|| LabError::Invalid(format!("kwargs is not a list: {}", short(doc))))?
        .clone();
    if kwargs.len() != ids.len() {
        return Err(LabError::Invalid(format!(
            "{} instruction ids but {} kwargs: {}",
            ids.len(),
            kwargs.len(),
            short(doc)
        )));
    }
    Ok((ids, kwargs))
}

/// The verdicts a scored document carries in `detail` (see [`IfEval::score`]).
fn verdicts(s: &Scored) -> Verdicts {
    let bools = |k: &str| -> Vec<bool> {
        s.detail
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|b| b.as_bool() == Some(true)).collect())
            .unwrap_or_default()
    };
    Verdicts { strict: bools("strict"), loose: bools("loose"), errors: Vec::new() }
}

impl Task for IfEval {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: "ifeval",
            style: Style::Generate,
            setting: "0-shot, the prompt as one user message, greedy, max 1280 tokens (lm-eval ifeval.yaml); mean of prompt/instruction-level strict/loose accuracy",
            metric: "mean(prompt_strict, inst_strict, prompt_loose, inst_loose)",
            shots: 0,
            max_tokens: MAX_TOKENS,
            data: "--data DIR: ifeval/input_data.jsonl, ifeval.jsonl or ifeval/**/train-*.parquet (google/IFEval; fields key, prompt, instruction_id_list, kwargs)",
            paper: Some([80.4, 87.5, 88.6]),
        }
    }

    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        let dir = src.dir("ifeval")?;
        // Google's repository names the file input_data.jsonl, the Hugging Face dataset
        // ifeval_input_data.jsonl (and its Parquet export train-*.parquet).
        for name in ["input_data.jsonl", "ifeval_input_data.jsonl"] {
            for sub in ["ifeval", "IFEval"] {
                let p = dir.join(sub).join(name);
                if p.is_file() {
                    return crate::eval::data::read_rows(&p);
                }
            }
        }
        crate::eval::data::load_split(dir, "ifeval", None, "train").map_err(|e| {
            LabError::Invalid(format!(
                "no IFEval prompts under {}: put google/IFEval's input_data.jsonl at ifeval/input_data.jsonl (or its Parquet export under ifeval/) ({e})",
                dir.display()
            ))
        })
    }

    fn doc_id(&self, doc: &Value, index: usize) -> String {
        doc.get("key").map_or(index.to_string(), |k| k.as_str().map_or_else(|| k.to_string(), String::from))
    }

    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        instructions(doc)?;
        Ok(vec![Request::Gen(GenRequest {
            messages: vec![Msg::new("user", text(doc, "prompt")?)],
            max_tokens: MAX_TOKENS,
            stop: Vec::new(),
        })])
    }

    /// `score` is this document's share of the reported mean as far as one document can
    /// say (prompt-level verdicts, and its own instruction-level fractions); the exact
    /// number, whose instruction-level parts pool all instructions, is [`Self::aggregate`]'s
    /// from the verdicts in `detail`.
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        let (ids, kwargs) = match instructions(doc) {
            Ok(x) => x,
            Err(e) => return Scored::new(0.0, format!("[invalid document] {e}"), String::new()),
        };
        let v = evaluate(&ids, &kwargs, gen_text(r));
        let m = Metrics::of([&v]);
        let yes = |b: &[bool]| b.iter().filter(|&&x| x).count();
        let extracted =
            format!("strict {}/{} loose {}/{}", yes(&v.strict), v.strict.len(), yes(&v.loose), v.loose.len());
        let mut s = Scored::new(m.mean(), extracted, ids.join(","));
        s.detail = json!({ "strict": v.strict, "loose": v.loose, "errors": v.errors });
        s
    }

    fn aggregate(&self, _docs: &[&Value], scored: &[&Scored]) -> Aggregate {
        let v: Vec<Verdicts> = scored.iter().map(|s| verdicts(s)).collect();
        let m = Metrics::of(&v);
        Aggregate {
            score: m.mean(),
            breakdown: vec![
                ("prompt_level_strict_acc".into(), m.prompt_level_strict_acc),
                ("inst_level_strict_acc".into(), m.inst_level_strict_acc),
                ("prompt_level_loose_acc".into(), m.prompt_level_loose_acc),
                ("inst_level_loose_acc".into(), m.inst_level_loose_acc),
            ],
        }
    }
}
