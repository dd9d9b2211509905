//! Function calling: BFCL's non-live AST categories and the NexusRaven API evaluation
//! (shared/spec/llama3.md §9, evaluation.md §2.7).
//!
//! `bfcl`: the non-live AST categories of `bfcl-eval==2026.3.23` (simple_python 400,
//! simple_java 100, simple_javascript 50, multiple 200, parallel 200, parallel_multiple 200),
//! read from the package's wheel (fetched from PyPI
//! with a pinned sha256) or from `--data DIR/bfcl/` holding the same files. The prompt is the
//! one BFCL's `LlamaHandler_3_1` (Llama 3.1 "FC") builds, as plain chat messages: its system
//! lines, then the functions as indented JSON in the first user message with the Hugging Face
//! template's instruction (for Java and JavaScript, each parameter offered as a string of
//! that language's source, as BFCL rewrites the function docs); greedy. The answer is decoded by
//! [`score::bfcl::decode_llama31`](crate::eval::score::bfcl::decode_llama31) and checked by
//! BFCL's AST checker ([`score::bfcl::ast_check`](crate::eval::score::bfcl::ast_check)).
//! BFCL's "Non-Live AST" summary is the unweighted mean of four accuracies: simple (the mean
//! of the Python, Java and JavaScript simple categories), multiple, parallel and
//! parallel_multiple; each document carries its `category` for that macro average.
//!
//! `nexus`: Nexusflow/NexusRaven_API_evaluation under `--data DIR` (its `standardized_queries`
//! and `standardized_api_list` configs), prompted with NexusRaven's open-source prompt and
//! scored as its evaluator does: the predicted call is bound to the function's signature
//! (defaults filled, unknown or missing required arguments fail) and must equal the reference
//! call bound the same way. Meta's metric, `macro_avg/acc`, averages over the sub-datasets
//! (`dataset`: cve_cpe, emailrep, virustotal, toolalpaca, ...), which each document carries.

use super::{Aggregate, DataSource, Request, Scored, Style, Task, TaskInfo, field, gen_text, short, text};
use crate::LabError;
use crate::eval::backend::{GenRequest, Msg, Response};
use crate::eval::data::load_split;
use crate::eval::score::bfcl::{Language, ast_check, decode_llama31, py_eq};
use herd_llama::toolcall::{StopReason, decode_assistant, py_json, py_json_indent};
use serde_json::{Map, Value, json};
use std::io::Read;
use std::path::Path;

pub fn tasks() -> Vec<Box<dyn Task>> {
    vec![Box::new(Bfcl), Box::new(Nexus)]
}

fn invalid(msg: impl Into<String>) -> LabError {
    LabError::Invalid(msg.into())
}

// ---------------------------------------------------------------------------------------
// BFCL

pub const BFCL: &str = "bfcl";
/// The non-live AST categories herd runs, in BFCL's order, and their file stems.
pub const BFCL_CATEGORIES: [&str; 6] =
    ["simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple"];
/// The categories BFCL averages into its "simple" score before the summary.
const BFCL_SIMPLE: [&str; 3] = ["simple_python", "simple_java", "simple_javascript"];
/// The data files' prefix in bfcl-eval 2026.3.23 (BFCL v4, a superset of v1's categories).
pub const BFCL_PREFIX: &str = "BFCL_v4_";
/// Where the data lie inside the wheel.
pub const BFCL_WHEEL_DIR: &str = "bfcl_eval/data/";
/// BFCL's OSS handlers ask for at most 4096 new tokens.
const BFCL_MAX_TOKENS: usize = 4096;

/// `LlamaHandler_3_1._format_prompt`'s system turn (Meta's date in the HF template).
const BFCL_SYSTEM: &str = "Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";
/// The start of its first user turn (the HF template's `tools_in_user_message` wording).
const BFCL_OFFER: &str = "Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\nRespond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n";
/// `_get_language_specific_hint`, appended to each function's description.
fn language_hint(lang: Language) -> &'static str {
    match lang {
        Language::Python => " Note that the provided function is in Python 3 syntax.",
        Language::Java => " Note that the provided function is in Java 8 SDK syntax.",
        Language::JavaScript => " Note that the provided function is in JavaScript syntax.",
    }
}

/// `_func_doc_language_specific_pre_processing`: the hint on the description, and for Java
/// and JavaScript every parameter offered as a string whose description names its type
/// (list items' type and a dict's schema moved into the description too), as the model is
/// to write Java or JavaScript source for each value.
fn bfcl_function_doc(f: &Value, lang: Language) -> Value {
    let mut f = f.clone();
    if let Some(Value::String(d)) = f.get_mut("description") {
        d.push_str(language_hint(lang));
    }
    let (name, list_type) = match lang {
        Language::Python => return f,
        Language::Java => ("Java", ["ArrayList", "Array"]),
        Language::JavaScript => ("JavaScript", ["array", "array"]),
    };
    let Some(props) = f.pointer_mut("/parameters/properties").and_then(Value::as_object_mut) else {
        return f;
    };
    for p in props.values_mut() {
        let Some(p) = p.as_object_mut() else { continue };
        let ty = p.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut extra = if ty == "any" {
            format!(" This parameter can be of any type of {name} object in string representation.")
        } else {
            format!(" This is {name} {ty} type parameter in string representation.")
        };
        if list_type.contains(&ty.as_str()) {
            let item = p.get("items").and_then(|i| i.get("type")).and_then(Value::as_str).unwrap_or_default();
            extra.push_str(&format!(" The list elements are of type {item}; they are not in string representation."));
            p.shift_remove("items");
        }
        // (`shift_remove`: Python's `del` keeps the other keys' order, which the JSON shows.)
        if lang == Language::JavaScript
            && ty == "dict"
            && let Some(schema) = p.shift_remove("properties")
        {
            extra.push_str(&format!(
                " The dictionary entries have the following schema; they are not in string representation. {}",
                py_json(&schema)
            ));
        }
        if let Some(Value::String(d)) = p.get_mut("description") {
            d.push_str(&extra);
        }
        p.insert("type".into(), json!("string"));
    }
    f
}

/// One BFCL data file (JSON lines) by its path below `bfcl_eval/data/`, from a wheel or a
/// folder.
fn bfcl_file(src: &Path, rel: &str) -> Result<Vec<Value>, LabError> {
    let bad = |msg: String| LabError::Data { path: format!("{}:{rel}", src.display()), line: 0, msg };
    let text = if src.is_dir() {
        let p = src.join(rel);
        std::fs::read_to_string(&p).map_err(|err| LabError::Io { path: p, err })?
    } else {
        let f = std::fs::File::open(src).map_err(|err| LabError::Io { path: src.to_path_buf(), err })?;
        let mut z = zip::ZipArchive::new(f).map_err(|e| bad(format!("not a wheel (zip): {e}")))?;
        let name = format!("{BFCL_WHEEL_DIR}{rel}");
        let mut m = z.by_name(&name).map_err(|_| bad(format!("the wheel has no {name}")))?;
        let mut t = String::new();
        m.read_to_string(&mut t).map_err(|e| bad(e.to_string()))?;
        t
    };
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(line).map_err(|e| LabError::Data {
            path: format!("{}:{rel}", src.display()),
            line: i + 1,
            msg: format!("not a JSON line: {e}"),
        })?;
        rows.push(v);
    }
    Ok(rows)
}

/// The documents of the four categories from the bfcl-eval wheel or a folder with its
/// `data/` layout: each test entry with its `ground_truth` and `category`.
pub fn load_bfcl(src: &Path) -> Result<Vec<Value>, LabError> {
    let mut by_cat = Vec::new();
    for cat in BFCL_CATEGORIES {
        let mut docs = Vec::new();
        let file = format!("{BFCL_PREFIX}{cat}.json");
        let entries = bfcl_file(src, &file)?;
        let answers = bfcl_file(src, &format!("possible_answer/{file}"))?;
        if entries.len() != answers.len() {
            return Err(invalid(format!("{file}: {} entries but {} possible answers", entries.len(), answers.len())));
        }
        for (mut e, a) in entries.into_iter().zip(answers) {
            if e.get("id") != a.get("id") {
                return Err(invalid(format!(
                    "{file}: entry {} has the possible answer of {}",
                    short(&e["id"]),
                    short(&a["id"])
                )));
            }
            e["ground_truth"] = a.get("ground_truth").cloned().unwrap_or(Value::Null);
            e["category"] = json!(cat);
            docs.push(e);
        }
        by_cat.push(docs.into_iter());
    }
    // The categories interleaved, each in its file's order: `--limit N` then samples
    // every category (not N simple ones), and a full run scores the same documents.
    let mut docs = Vec::new();
    loop {
        let before = docs.len();
        docs.extend(by_cat.iter_mut().filter_map(Iterator::next));
        if docs.len() == before {
            return Ok(docs);
        }
    }
}

/// The chat messages BFCL's Llama 3.1 FC handler sends for a test entry: its system turn
/// (a system message of the entry is added after it), then the first user turn holding the
/// functions (with the Python hint, each `json.dumps(f, indent=4)`) and the question, then
/// any further turns.
pub fn bfcl_messages(doc: &Value) -> Result<Vec<Msg>, LabError> {
    let turns = field(doc, "question")?
        .get(0)
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(format!("question is not a list of turns: {}", short(doc))))?;
    let functions =
        field(doc, "function")?.as_array().ok_or_else(|| invalid(format!("function is not a list: {}", short(doc))))?;
    let lang = Language::of(doc.get("category").and_then(Value::as_str).unwrap_or_default());
    let mut offer = String::from(BFCL_OFFER);
    for f in functions {
        offer.push_str(&py_json_indent(&bfcl_function_doc(f, lang), 4));
        offer.push_str("\n\n");
    }
    let content = |m: &Value| m.get("content").and_then(Value::as_str).unwrap_or_default().trim().to_string();
    let role = |m: &Value| m.get("role").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut rest = turns.as_slice();
    let mut system = BFCL_SYSTEM.to_string();
    if let Some((first, tail)) = rest.split_first().filter(|(m, _)| role(m) == "system") {
        system.push_str(&content(first));
        rest = tail;
    }
    let mut messages = vec![Msg::new("system", system)];
    let mut offered = false;
    for m in rest {
        match role(m).as_str() {
            "user" if !offered => {
                offered = true;
                messages.push(Msg::new("user", format!("{offer}{}", content(m))));
            }
            r => messages.push(Msg::new(r, content(m))),
        }
    }
    if !offered {
        return Err(invalid(format!("a BFCL entry without a user turn: {}", short(doc))));
    }
    Ok(messages)
}

/// BFCL's verdict on an answer text for a document: the decoded calls (or why there are
/// none) and the AST check.
pub fn bfcl_score(doc: &Value, answer: &str) -> Scored {
    let functions = doc.get("function").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let truth = doc.get("ground_truth").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let category = doc.get("category").and_then(Value::as_str).unwrap_or_default();
    let target = py_json(&Value::Array(truth.to_vec()));
    match decode_llama31(answer) {
        Err(why) => Scored::new(0.0, format!("[ast_decoder:decoder_failed] {why}"), target),
        Ok(decoded) => {
            let v = ast_check(functions, &decoded, truth, category);
            let mut extracted = py_json(&decoded);
            if !v.valid {
                extracted = format!("[{}] {extracted}", v.error_type);
            }
            Scored::hit(v.valid, extracted, target)
        }
    }
}

struct Bfcl;

impl Task for Bfcl {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: BFCL,
            style: Style::Generate,
            setting: "BFCL non-live AST (simple_python 400, simple_java 100, simple_javascript 50, multiple 200, parallel 200, parallel_multiple 200; bfcl-eval 2026.3.23 = BFCL v4 data, not the July-2024 commit Meta ran); BFCL's Llama 3.1 FC prompt (functions as JSON in the first user turn, Java/JavaScript parameters as source strings), greedy, max 4096 tokens; BFCL's AST checker with its Java/JavaScript type converters; summary = unweighted mean of simple (mean of Python, Java, JavaScript), multiple, parallel, parallel_multiple",
            metric: "ast_accuracy (macro over categories)",
            shots: 0,
            max_tokens: BFCL_MAX_TOKENS,
            data: "fetched: bfcl-eval==2026.3.23 from PyPI (its data/BFCL_v4_*.json and possible_answer/; wheel sha256-checked), or --data DIR with bfcl/BFCL_v4_<category>.json and bfcl/possible_answer/",
            paper: Some([76.1, 84.8, 88.5]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        match src.fetched.iter().find(|(t, _)| *t == BFCL) {
            Some((_, p)) => load_bfcl(p),
            None => {
                let dir = src.dir(BFCL)?.join(BFCL);
                if !dir.is_dir() {
                    return Err(invalid(format!(
                        "no BFCL data at {}: expected {BFCL_PREFIX}simple_python.json (and simple_java, simple_javascript, multiple, parallel, parallel_multiple) with possible_answer/ beside them, as bfcl-eval's bfcl_eval/data/ holds them; without --data herd fetches bfcl-eval==2026.3.23",
                        dir.display()
                    )));
                }
                load_bfcl(&dir)
            }
        }
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        Ok(vec![Request::Gen(GenRequest {
            messages: bfcl_messages(doc)?,
            max_tokens: BFCL_MAX_TOKENS,
            stop: Vec::new(),
        })])
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        bfcl_score(doc, gen_text(r))
    }
    /// BFCL's "Non-Live AST" summary: the unweighted mean of simple (itself the mean of
    /// the Python, Java and JavaScript simple categories), multiple, parallel and
    /// parallel_multiple, over the categories the run holds.
    fn aggregate(&self, docs: &[&Value], scored: &[&Scored]) -> Aggregate {
        let mut a = Aggregate::macro_over(docs, scored, "category");
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        let of = |pick: &dyn Fn(&str) -> bool| -> Vec<f64> {
            a.breakdown.iter().filter(|(c, _)| pick(c)).map(|(_, v)| *v).collect()
        };
        let simple = of(&|c| BFCL_SIMPLE.contains(&c));
        let mut parts = of(&|c| c != "micro" && !BFCL_SIMPLE.contains(&c));
        if !simple.is_empty() {
            let s = mean(&simple);
            parts.push(s);
            a.breakdown.push(("simple".into(), s));
        }
        if !parts.is_empty() {
            a.score = mean(&parts);
        }
        a
    }
}

// ---------------------------------------------------------------------------------------
// Nexus (NexusRaven API evaluation)

pub const NEXUS: &str = "nexus";
const NEXUS_MAX_TOKENS: usize = 400;
const NEXUS_FILES: &str = "nexus/standardized_queries/train-*.parquet and nexus/standardized_api_list/train-*.parquet (the Nexusflow/NexusRaven_API_evaluation export; queries: dataset, prompt, python_function_name, python_args_dict, context_functions; functions: dataset, name, description, args_dicts)";

/// The rows of one config of the export (`nexus/<config>/train*`, or below a folder named
/// like the dataset).
fn nexus_config(dir: &Path, config: &str) -> Result<Vec<Value>, LabError> {
    load_split(dir, NEXUS, Some(config), "train")
        .or_else(|_| load_split(dir, "NexusRaven_API_evaluation", Some(config), "train"))
        .map_err(|_| invalid(format!("no {config} rows under {}: expected {NEXUS_FILES}", dir.display())))
}

/// A field that the export stores as a list (Parquet) or a JSON string of one.
fn list_field(doc: &Value, name: &str) -> Vec<Value> {
    match doc.get(name) {
        Some(Value::Array(a)) => a.clone(),
        Some(Value::String(s)) => serde_json::from_str::<Vec<Value>>(s).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The queries, each with `functions`: the definitions of its `context_functions` from the
/// same sub-dataset, in that order.
pub fn load_nexus(dir: &Path) -> Result<Vec<Value>, LabError> {
    let queries = nexus_config(dir, "standardized_queries")?;
    let apis = nexus_config(dir, "standardized_api_list")?;
    let mut docs = Vec::with_capacity(queries.len());
    for (i, mut q) in queries.into_iter().enumerate() {
        let dataset = text(&q, "dataset")?.to_string();
        let mut functions = Vec::new();
        for name in list_field(&q, "context_functions") {
            let f = apis
                .iter()
                .find(|a| a.get("dataset").and_then(Value::as_str) == Some(&dataset) && a.get("name") == Some(&name))
                .ok_or_else(|| invalid(format!("{dataset}: no definition of context function {name}")))?;
            functions.push(f.clone());
        }
        q["functions"] = Value::Array(functions);
        q["id"] = json!(format!("{dataset}-{i}"));
        docs.push(q);
    }
    Ok(docs)
}

/// A default as NexusRaven writes it into the function's source (`def f(x = DEFAULT)`):
/// `JSON:`-prefixed values are JSON; the rest are Python literals (`None`, `True`, numbers,
/// quoted strings, JSON-like lists).
fn python_default(d: &Value) -> Value {
    let Value::String(s) = d else { return d.clone() };
    if let Some(j) = s.strip_prefix("JSON:") {
        return serde_json::from_str(j).unwrap_or(Value::Null);
    }
    match s.trim() {
        "None" => Value::Null,
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        t => serde_json::from_str(t)
            .ok()
            .or_else(|| {
                // A single-quoted string literal.
                let inner = t.strip_prefix('\'')?.strip_suffix('\'')?;
                Some(Value::String(inner.to_string()))
            })
            .unwrap_or_else(|| Value::String(t.to_string())),
    }
}

/// The function's parameters in NexusRaven's signature order (required first, then the
/// rest, each group in the dataset's order): name, required, default.
fn nexus_params(function: &Value) -> Vec<(String, bool, Value)> {
    let mut ps: Vec<(String, bool, Value)> = list_field(function, "args_dicts")
        .iter()
        .map(|a| {
            let name = a.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let required = a.get("required").and_then(Value::as_bool).unwrap_or(false);
            (name, required, python_default(a.get("default").unwrap_or(&Value::Null)))
        })
        .collect();
    // Python's sort is stable, as is Rust's.
    ps.sort_by_key(|p| !p.1);
    ps
}

/// Python's `repr` of a default in a signature.
fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => {
            format!("{{{}}}", m.iter().map(|(k, v)| format!("'{k}': {}", py_repr(v))).collect::<Vec<_>>().join(", "))
        }
        Value::Number(n) => n.to_string(),
    }
}

/// The signature LangChain shows for a NexusRaven function, `name(a: str, b: int = 3)`.
fn nexus_signature(function: &Value) -> String {
    let name = function.get("name").and_then(Value::as_str).unwrap_or_default();
    let types: Vec<(String, String)> = list_field(function, "args_dicts")
        .iter()
        .map(|a| {
            let n = a.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            (n, a.get("type").and_then(Value::as_str).unwrap_or("None").to_string())
        })
        .collect();
    let args: Vec<String> = nexus_params(function)
        .iter()
        .map(|(n, required, default)| {
            let ty = types.iter().find(|(t, _)| t == n).map(|(_, t)| t.as_str()).unwrap_or("None");
            let ann = if ty == "None" { String::new() } else { format!(": {ty}") };
            if *required { format!("{n}{ann}") } else { format!("{n}{ann} = {}", py_repr(default)) }
        })
        .collect();
    format!("{name}({})", args.join(", "))
}

/// NexusRaven's open-source prompt (`RAVEN_PROMPT` with `RavenPromptTemplate`'s options).
pub fn nexus_prompt(doc: &Value) -> Result<String, LabError> {
    let mut tools = String::from("<human>:\n");
    for f in field(doc, "functions")?.as_array().map(Vec::as_slice).unwrap_or_default() {
        let doc_text = f.get("description").and_then(Value::as_str).unwrap_or_default().trim();
        tools.push_str(&format!(
            "\nOPTION:\n<func_start>def {}<func_end>\n<docstring_start>\n\"\"\"\n{doc_text}\n\"\"\"\n<docstring_end>\n",
            nexus_signature(f)
        ));
    }
    let p = format!(
        "\n{tools}\nUser Query: Question: {}\n\nPlease pick a function from the above options that best answers the user query and fill in the appropriate arguments.<human_end>",
        text(doc, "prompt")?
    );
    Ok(p.replace("{{", "{").replace("}}", "}"))
}

/// The first call in an answer: herd's Llama 3.1 decoder on the whole text (JSON,
/// `<function=…>`, python list), else the first `name(…)` of an offered function in it,
/// read as a Python call with keyword arguments.
pub fn nexus_decode(answer: &str, names: &[&str]) -> Option<(String, Map<String, Value>)> {
    let d = decode_assistant(answer.trim(), StopReason::EndOfTurn);
    // Only a call of an offered function counts here: after a python tag the decoder reads
    // any other text as code for the interpreter.
    if let Some(c) = d.tool_calls.into_iter().next().filter(|c| names.contains(&c.tool_name.as_str())) {
        return Some((c.tool_name, c.arguments));
    }
    let (start, _) = names
        .iter()
        .filter_map(|n| {
            let at = answer.match_indices(&format!("{n}(")).find(|(i, _)| {
                !answer[..*i].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
            })?;
            Some((at.0, *n))
        })
        .min()?;
    let end = call_end(&answer[start..])? + start;
    let d = decode_assistant(&format!("[{}]", &answer[start..end]), StopReason::EndOfTurn);
    d.tool_calls.into_iter().next().map(|c| (c.tool_name, c.arguments))
}

/// The end (exclusive) of the call that starts `s`: just after the `)` that closes its
/// first `(`, outside string literals.
fn call_end(s: &str) -> Option<usize> {
    let (mut depth, mut strings) = (0i32, crate::eval::score::bfcl::PyStrings::default());
    for (i, c) in s.char_indices() {
        if !strings.code(c) {
            continue;
        }
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// The arguments a NexusRaven function sees for a call (`locals()` of the generated
/// `def`): every parameter, defaults filled in; `None` where Python raises (an unknown
/// argument, a missing required one).
pub fn nexus_bind(function: &Value, args: &Map<String, Value>) -> Option<Map<String, Value>> {
    let params = nexus_params(function);
    if args.keys().any(|k| !params.iter().any(|(n, _, _)| n == k)) {
        return None;
    }
    let mut bound = Map::new();
    for (name, required, default) in params {
        match args.get(&name) {
            Some(v) => {
                bound.insert(name, v.clone());
            }
            None if required => return None,
            None => {
                bound.insert(name, default);
            }
        }
    }
    Some(bound)
}

/// `parse_function_call_to_name_and_args`: keyword floats become ints (`int(v)`, toward
/// zero), "since floats are tricky to evaluate".
fn ints_for_floats(args: Map<String, Value>) -> Map<String, Value> {
    args.into_iter()
        .map(|(k, v)| match v.as_f64().filter(|_| v.as_number().is_some_and(serde_json::Number::is_f64)) {
            Some(f) if f.is_finite() => (k, json!(f.trunc() as i64)),
            _ => (k, v),
        })
        .collect()
}

/// NexusRaven's verdict on an answer: the call's function is the reference's, and both
/// bind to the same arguments.
pub fn nexus_score(doc: &Value, answer: &str) -> Scored {
    let functions = doc.get("functions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let names: Vec<&str> = functions.iter().filter_map(|f| f.get("name").and_then(Value::as_str)).collect();
    let ref_name = doc.get("python_function_name").and_then(Value::as_str).unwrap_or_default();
    let ref_args: Map<String, Value> = match doc.get("python_args_dict") {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_default(),
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let find = |n: &str| functions.iter().find(|f| f.get("name").and_then(Value::as_str) == Some(n));
    let reference = find(ref_name).and_then(|f| nexus_bind(f, &ref_args));
    let target = format!("{ref_name}({})", py_json(&Value::Object(ref_args.clone())));
    let Some((name, args)) = nexus_decode(answer, &names) else {
        return Scored::new(0.0, "[no call]", target);
    };
    let args = ints_for_floats(args);
    let extracted = format!("{name}({})", py_json(&Value::Object(args.clone())));
    let predicted = find(&name).and_then(|f| nexus_bind(f, &args));
    let ok = name == ref_name
        && matches!((&predicted, &reference), (Some(p), Some(r)) if py_eq(&Value::Object(p.clone()), &Value::Object(r.clone())));
    Scored::hit(ok, extracted, target)
}

struct Nexus;

impl Task for Nexus {
    fn info(&self) -> TaskInfo {
        TaskInfo {
            name: NEXUS,
            style: Style::Generate,
            setting: "0-shot, NexusRaven's open-source prompt (the offered functions as Python signatures and docstrings), greedy, max 400 tokens; the first call (herd's Llama 3.1 decoder, else `name(key=value)` in the text; keyword arguments only) bound to the signature with defaults and compared with the reference call (NexusRaven's evaluator); Meta's macro_avg/acc averages the sub-datasets",
            metric: "macro_avg/acc",
            shots: 0,
            max_tokens: NEXUS_MAX_TOKENS,
            data: "--data DIR: nexus/standardized_queries/train-*.parquet and nexus/standardized_api_list/train-*.parquet (Nexusflow/NexusRaven_API_evaluation)",
            paper: Some([38.5, 56.7, 58.7]),
        }
    }
    fn load(&self, src: &DataSource) -> Result<Vec<Value>, LabError> {
        load_nexus(src.dir(NEXUS)?)
    }
    fn requests(&self, doc: &Value, _shots: usize) -> Result<Vec<Request>, LabError> {
        Ok(vec![Request::Gen(GenRequest {
            messages: vec![Msg::new("user", nexus_prompt(doc)?)],
            max_tokens: NEXUS_MAX_TOKENS,
            stop: vec!["\nReflection:".into()],
        })])
    }
    fn score(&self, doc: &Value, r: &[Response]) -> Scored {
        nexus_score(doc, gen_text(r))
    }
    /// `macro_avg/acc`: the unweighted mean of the sub-datasets' accuracies.
    fn aggregate(&self, docs: &[&Value], scored: &[&Scored]) -> Aggregate {
        Aggregate::macro_over(docs, scored, "dataset")
    }
}
