//! The long-context tasks (ZeroSCROLLS QuALITY, InfiniteBench En.MC) on the hand-written
//! fixtures of `tests/fixtures/eval/data` (not benchmark data): they are listed with the
//! paper's settings, load through `--data`, build the benchmarks' chat prompts, cut a
//! document that does not fit as each benchmark cuts it (counting characters exactly, and
//! real Llama 3 tokens), keep the question and the options, and score hand-made answers
//! with each benchmark's own matching rules, tricky forms included.
//!
//! Golden parity with the reference scorers: neither ZeroSCROLLS' metric nor
//! InfiniteBench's `compute_scores.py` is on PyPI, so the cases below are derived by hand
//! from their code.

use herd_lab::LabError;
use herd_lab::eval::backend::{GenRequest, Response};
use herd_lab::eval::score::longctx::{infinitebench_label, longbook_choice_correct, quality_correct, quality_letter};
use herd_lab::eval::tasks::longctx::{
    self, CharEstimate, InfiniteBenchEnMc, ModelLimits, TokenizerLimits, ZeroScrollsQuality, prompt_budget,
    truncate_middle,
};
use herd_lab::eval::tasks::{self, DataSource, Request, Scored, Style, Task};
use herd_llama::tokenizer::Tokenizer;
use serde_json::{Value, json};
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    herd_llama::testdata::fixtures().join("eval/data")
}

fn source(dir: PathBuf) -> DataSource {
    DataSource { dir: Some(dir), fetched: Vec::new() }
}

fn loaded(name: &str) -> (Box<dyn Task>, Vec<Value>) {
    let t = tasks::find(name).unwrap_or_else(|| panic!("task {name} is registered"));
    let docs = t.load(&source(data_dir())).unwrap_or_else(|e| panic!("{name} loads its fixture: {e}"));
    (t, docs)
}

fn only_gen(reqs: Vec<Request>) -> GenRequest {
    assert_eq!(reqs.len(), 1, "one request per document");
    match reqs.into_iter().next() {
        Some(Request::Gen(g)) => g,
        other => panic!("expected a generation request, got {other:?}"),
    }
}

/// The single user message of a request.
fn user(g: &GenRequest) -> &str {
    assert_eq!(g.messages.len(), 1, "one message");
    assert_eq!(g.messages[0].role, "user");
    &g.messages[0].content
}

fn answer(t: &dyn Task, doc: &Value, text: &str) -> Scored {
    t.score(doc, &[Response::Text { text: text.into(), finish_reason: "stop".into() }])
}

fn s<'a>(doc: &'a Value, k: &str) -> &'a str {
    doc[k].as_str().unwrap_or_else(|| panic!("{k} is a string in {doc}"))
}

/// A tokenizer whose tokens are characters, so every cut can be checked exactly.
struct PerChar(usize);

impl ModelLimits for PerChar {
    fn encode(&self, text: &str) -> Result<Vec<u32>, LabError> {
        Ok(text.chars().map(u32::from).collect())
    }
    fn decode(&self, ids: &[u32]) -> Result<String, LabError> {
        Ok(ids.iter().filter_map(|&c| char::from_u32(c)).collect())
    }
    fn context_len(&self) -> usize {
        self.0
    }
}

/// A context whose user-message budget is `budget` tokens for a task generating `gen`.
fn context_for(budget: usize, gen_tokens: usize) -> usize {
    budget + gen_tokens + longctx::TEMPLATE_TOKENS
}

fn llama3() -> Tokenizer {
    Tokenizer::from_tiktoken_file(&herd_llama::testdata::require("llama3/tokenizer.model")).expect("loads")
}

/// ZeroSCROLLS' chat input of a QuALITY document: the format request after the
/// instruction, nothing after the query.
fn chat_input(doc: &Value) -> String {
    let input = s(doc, "input").replacen(
        "(either A, B, C, or D).\n\n",
        "(either A, B, C, or D). Do not provide any explanation.\n\n",
        1,
    );
    input.strip_suffix("\n\nAnswer:").expect("the input ends with the answer prefix").to_string()
}

/// The query of a QuALITY document (question and options), from its character index.
fn query(doc: &Value) -> String {
    let qs = doc["query_start_index"].as_u64().expect("index") as usize;
    let qe = doc["query_end_index"].as_u64().expect("index") as usize;
    s(doc, "input").chars().skip(qs).take(qe - qs).collect()
}

#[test]
fn the_tasks_are_listed_with_the_papers_settings() {
    let names: Vec<&str> = tasks::all().iter().map(|t| t.info().name).collect();
    for (name, max_tokens, metric, paper) in [
        ("zeroscrolls_quality", 64, "exact_match", [81.0, 90.5, 95.2]),
        ("infinitebench_en_mc", 20, "acc", [65.1, 78.2, 83.4]),
    ] {
        assert!(names.contains(&name), "{name} in --list");
        let i = tasks::find(name).expect("registered").info();
        assert_eq!((i.shots, i.max_tokens, i.metric, i.paper), (0, max_tokens, metric, Some(paper)), "{name}");
        assert_eq!(i.style, Style::Generate, "{name}");
    }
}

#[test]
fn the_fixtures_load_with_their_ids() {
    let (t, docs) = loaded("zeroscrolls_quality");
    let ids: Vec<String> = docs.iter().enumerate().map(|(i, d)| t.doc_id(d, i)).collect();
    assert_eq!(ids, ["hand0001_LIGHTHOUSE_1", "hand0002_FERRY_1", "hand0003_FERRY_2"]);
    let (t, docs) = loaded("infinitebench_en_mc");
    let ids: Vec<String> = docs.iter().enumerate().map(|(i, d)| t.doc_id(d, i)).collect();
    assert_eq!(ids, ["0", "1", "2"], "InfiniteBench's integer ids");
}

#[test]
fn missing_data_names_the_expected_files() {
    let empty = tempfile::tempdir().expect("temp dir");
    for (name, file) in [
        ("zeroscrolls_quality", "zero_scrolls/quality/validation.jsonl"),
        ("infinitebench_en_mc", "InfiniteBench/longbook_choice_eng.jsonl"),
    ] {
        let t = tasks::find(name).expect("registered");
        let err = t.load(&source(empty.path().to_path_buf())).expect_err("no data").to_string();
        assert!(err.contains(file), "{name}: {err}");
        let err = t.load(&DataSource { dir: None, fetched: Vec::new() }).expect_err("no --data").to_string();
        assert!(err.contains("--data"), "{name}: {err}");
    }
}

#[test]
fn the_upstream_download_layouts_load_too() {
    // quality.zip unpacks to quality/validation.jsonl; InfiniteBench's files sit at the
    // top of its repo.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("quality")).expect("mkdir");
    std::fs::copy(
        data_dir().join("zero_scrolls/quality/validation.jsonl"),
        dir.path().join("quality/validation.jsonl"),
    )
    .expect("copy");
    std::fs::copy(
        data_dir().join("infinitebench/longbook_choice_eng.jsonl"),
        dir.path().join("longbook_choice_eng.jsonl"),
    )
    .expect("copy");
    for name in ["zeroscrolls_quality", "infinitebench_en_mc"] {
        let docs = tasks::find(name).expect("registered").load(&source(dir.path().to_path_buf())).expect("loads");
        assert_eq!(docs.len(), 3, "{name}");
    }
}

// ---------------------------------------------------------------------------------------
// ZeroSCROLLS QuALITY: requests

#[test]
fn quality_sends_zeroscrolls_chat_input_as_one_user_message() {
    let (t, docs) = loaded("zeroscrolls_quality");
    for doc in &docs {
        let g = only_gen(t.requests(doc, 0).expect("requests"));
        assert_eq!(g.max_tokens, 64);
        let p = user(&g);
        assert_eq!(p, chat_input(doc), "the whole story fits 128K");
        assert!(p.ends_with(&query(doc)), "the query ends the prompt");
        assert!(!p.contains("Answer:"), "no answer prefix for a chat model");
    }
    // Character indices, not bytes: the first story's "’" and "—" come before the query.
    assert!(s(&docs[0], "input").len() > s(&docs[0], "input").chars().count());
    assert!(user(&only_gen(t.requests(&docs[0], 0).expect("requests"))).ends_with(" (D) She let the lamp go dark"));
}

#[test]
fn quality_cuts_the_story_end_as_zeroscrolls_does() {
    let (_, docs) = loaded("zeroscrolls_quality");
    let doc = &docs[1];
    let budget = 1500;
    let limits = PerChar(context_for(budget, 64));
    let g = only_gen(ZeroScrollsQuality.fit(doc, &limits).expect("requests"));
    let p = user(&g);
    // The first budget − |separator + query| tokens of the chat input, the separator, the
    // query: exactly the budget.
    let sep = s(doc, "truncation_seperator");
    let suffix = format!("{sep}{}", query(doc));
    let head: String = chat_input(doc).chars().take(budget - suffix.chars().count()).collect();
    assert_eq!(p, format!("{head}{suffix}"));
    assert_eq!(p.chars().count(), budget);
    assert!(p.starts_with("You are provided a story") && p.contains("Do not provide any explanation."));
    assert!(p.contains("... [The rest of the story is omitted]\n\nQuestion and Possible Answers:\nWho ran the ferry"));
    assert_eq!(p.matches("Who ran the ferry after Tomas?").count(), 1, "the question is kept once");
    assert!(p.ends_with(" (D) A trader from the far bank"));
    // One token more and the whole chat input fits: nothing is cut.
    let whole = chat_input(doc).chars().count();
    let fits = only_gen(ZeroScrollsQuality.fit(doc, &PerChar(context_for(whole, 64))).expect("requests"));
    assert_eq!(user(&fits), chat_input(doc));
    let cut = only_gen(ZeroScrollsQuality.fit(doc, &PerChar(context_for(whole - 1, 64))).expect("requests"));
    assert!(user(&cut).contains("[The rest of the story is omitted]"));
}

#[test]
fn quality_counts_llama3_tokens() {
    let (_, docs) = loaded("zeroscrolls_quality");
    let tok = llama3();
    let doc = &docs[1];
    let limits = TokenizerLimits { tokenizer: &tok, context: context_for(400, 64) };
    assert_eq!(prompt_budget(&limits, 64), 400);
    assert!(tok.encode(&chat_input(doc), false).len() > 400, "the fixture's story needs cutting at 400 tokens");
    let p = user(&only_gen(ZeroScrollsQuality.fit(doc, &limits).expect("requests"))).to_string();
    let (head, q) = p.split_once(s(doc, "truncation_seperator")).expect("the separator is there");
    assert!(chat_input(doc).starts_with(head), "the head is the chat input's beginning");
    assert_eq!(q, query(doc));
    // The head is the first budget − tokens(separator + query) tokens, decoded.
    let suffix = tok.encode(&format!("{}{q}", s(doc, "truncation_seperator")), false).len();
    let ids = tok.encode(&chat_input(doc), false);
    assert_eq!(head, tok.decode(&ids[..400 - suffix]));
    // Re-encoding may merge one token across the seam, never more.
    assert!(tok.encode(&p, false).len() <= 400, "{} tokens", tok.encode(&p, false).len());
    // The short story fits as it is.
    let short = user(&only_gen(ZeroScrollsQuality.fit(&docs[0], &limits).expect("requests"))).to_string();
    assert_eq!(short, chat_input(&docs[0]));
}

// ---------------------------------------------------------------------------------------
// InfiniteBench En.MC: requests

fn en_mc_prompt(doc: &Value) -> String {
    let o: Vec<&str> = doc["options"].as_array().expect("options").iter().map(|v| v.as_str().expect("str")).collect();
    format!(
        "Read the book and answer the question.\n\n{}\n\nQuestion: {}\n\nOnly one of the following options is correct, tell me the answer using one single letter (A, B, C, or D). Don't say anything else.\nA. {}\nB. {}\nC. {}\nD. {}",
        s(doc, "context"),
        s(doc, "input"),
        o[0],
        o[1],
        o[2],
        o[3]
    )
}

#[test]
fn en_mc_sends_infinitebenchs_chat_prompt() {
    let (t, docs) = loaded("infinitebench_en_mc");
    for doc in &docs {
        let g = only_gen(t.requests(doc, 0).expect("requests"));
        assert_eq!(g.max_tokens, 20);
        assert_eq!(user(&g), en_mc_prompt(doc));
    }
}

#[test]
fn en_mc_keeps_the_first_and_last_halves() {
    let (_, docs) = loaded("infinitebench_en_mc");
    let doc = &docs[1];
    let full: Vec<char> = en_mc_prompt(doc).chars().collect();
    for budget in [1000, 1001] {
        let p = user(&only_gen(InfiniteBenchEnMc.fit(doc, &PerChar(context_for(budget, 20))).expect("requests")))
            .to_string();
        // Python's ids[:n // 2] + ids[-n // 2:]: for odd n the end gets the extra one.
        let want: String = full[..budget / 2].iter().chain(&full[full.len() - (budget - budget / 2)..]).collect();
        assert_eq!(p, want, "budget {budget}");
        assert!(p.starts_with("Read the book and answer the question."));
        assert!(p.contains("Question: Where was the parcel for Captain R. Pike stamped?"));
        assert!(p.ends_with("C. At a harbour no one in Kellam had seen\nD. At the salt works"));
    }
    assert_eq!(truncate_middle(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 5), [0, 1, 7, 8, 9]);
    assert_eq!(truncate_middle(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4), [0, 1, 8, 9]);
    assert_eq!(truncate_middle(&[0, 1, 2], 3), [0, 1, 2]);
}

#[test]
fn en_mc_counts_llama3_tokens() {
    let (_, docs) = loaded("infinitebench_en_mc");
    let tok = llama3();
    let doc = &docs[1];
    let limits = TokenizerLimits { tokenizer: &tok, context: context_for(300, 20) };
    let ids = tok.encode(&en_mc_prompt(doc), false);
    assert!(ids.len() > 300, "the fixture's book needs cutting at 300 tokens");
    let p = user(&only_gen(InfiniteBenchEnMc.fit(doc, &limits).expect("requests"))).to_string();
    let want = tok.decode(&[&ids[..150], &ids[ids.len() - 150..]].concat());
    assert_eq!(p, want);
    assert!(p.starts_with("Read the book") && p.ends_with("D. At the salt works"));
    assert!(p.contains("Question: Where was the parcel"));
    assert!(tok.encode(&p, false).len() <= 301, "one token may merge across the cut");
    let short = user(&only_gen(InfiniteBenchEnMc.fit(&docs[0], &limits).expect("requests"))).to_string();
    assert_eq!(short, en_mc_prompt(&docs[0]));
}

#[test]
fn without_a_tokenizer_four_characters_count_as_a_token() {
    let est = CharEstimate { context: 1000 };
    assert_eq!(prompt_budget(&est, 64), (1000 - 64 - 64) * 4);
    assert_eq!(prompt_budget(&CharEstimate { context: 1 << 20 }, 20), (131_072 - 20 - 64) * 4, "capped at 128K");
    let (_, docs) = loaded("infinitebench_en_mc");
    let p = user(&only_gen(InfiniteBenchEnMc.fit(&docs[1], &CharEstimate { context: 500 }).expect("ok"))).to_string();
    assert_eq!(p.chars().count(), (500 - 20 - 64) * 4);
}

// ---------------------------------------------------------------------------------------
// Scoring

#[test]
fn quality_scores_the_first_standalone_letter() {
    let (t, docs) = loaded("zeroscrolls_quality");
    let doc = &docs[0]; // gold C
    for right in
        ["C", "(C)", "C.", "C) She rationed the lamp oil", "Answer: C", "The answer is C", "I think (C)", " \nC\n"]
    {
        let sc = answer(t.as_ref(), doc, right);
        assert_eq!((sc.score, sc.extracted.as_str(), sc.target.as_str()), (1.0, "C", "C"), "{right:?}");
    }
    for wrong in ["c", "", "B", "B, not C", "CD", "C2", "_C", "Answer", "The correct option is (A)"] {
        assert_eq!(answer(t.as_ref(), doc, wrong).score, 0.0, "{wrong:?}");
    }
    assert_eq!(answer(t.as_ref(), doc, "none").extracted, "[invalid]");
    // A gold written "(D) text" is its letter.
    assert_eq!(answer(t.as_ref(), &docs[2], "D").score, 1.0);
    assert_eq!(answer(t.as_ref(), &docs[2], "The council ran out of money").score, 0.0, "only letters count");
    assert_eq!(quality_letter("(D) The council"), Some('D'));
    assert!(quality_correct("B", "B") && !quality_correct("B", "no letter"));
}

#[test]
fn en_mc_scores_as_infinitebench_matches_options() {
    let (t, docs) = loaded("infinitebench_en_mc");
    let doc = &docs[0]; // Owen Lark, B
    for right in [
        "B",
        " B\n",
        "B. Owen Lark",
        "Owen Lark",
        "The answer is B",
        "The answer is B.",
        "The answer is Owen Lark.",
        "answer: B",
        "I believe it is B",
        "Based on the text, D", // rule 2: the first letter is B
    ] {
        let sc = answer(t.as_ref(), doc, right);
        assert_eq!((sc.score, sc.target.as_str()), (1.0, "B"), "{right:?}");
    }
    for wrong in [
        "",
        "  ",
        "A",
        "(B)",                // no rule reads a letter in parentheses
        "Answer: B",          // rule 2: it starts with A
        "The answer is: (B)", // rule 4: "(B)" starts with neither "B" nor the text
        "answer:B",           // rule 4 skips the character after the prefix
        "I think BC",         // rule 5: "BC" is in "ABCD" but is not the letter
        "Owen",
        "owen lark",
        "Hester Vale",
    ] {
        assert_eq!(answer(t.as_ref(), doc, wrong).score, 0.0, "{wrong:?}");
    }
    let honey = &docs[2]; // Honey, D
    assert_eq!(answer(t.as_ref(), honey, "Honey").score, 1.0);
    assert_eq!(answer(t.as_ref(), honey, "D. Honey").score, 1.0);
    assert_eq!(answer(t.as_ref(), honey, "Based on the text, D").score, 0.0, "rule 2 reads the B of Based");
    assert_eq!(answer(t.as_ref(), honey, "honey").score, 0.0, "case-sensitive");
    let label = ["Owen Lark".to_string(), "B".to_string()];
    assert!(longbook_choice_correct("The option is B", &label));
}

#[test]
fn infinitebench_labels_take_every_answer_form() {
    let opts: Vec<String> = ["Wool", "Lamp oil", "Salt", "Honey"].map(String::from).to_vec();
    let want = ["Honey".to_string(), "D".to_string()];
    assert_eq!(infinitebench_label(&json!("Honey"), &opts), Ok(want.clone()));
    assert_eq!(infinitebench_label(&json!(["Honey"]), &opts), Ok(want.clone()));
    assert_eq!(infinitebench_label(&json!(["Honey", "D"]), &opts), Ok(want));
    for bad in [json!(["Honey", "E"]), json!([]), json!(5), json!("Tea"), json!(["Wool", "Salt", "Honey"])] {
        assert!(infinitebench_label(&bad, &opts).is_err(), "{bad}");
    }
    let five: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
    assert!(infinitebench_label(&json!(["e"]), &five).is_err(), "only A–D exist");
}

// ---------------------------------------------------------------------------------------
// Bad documents are errors, not panics

#[test]
fn bad_documents_are_errors() {
    let (q, docs) = loaded("zeroscrolls_quality");
    let good = docs[0].clone();
    let len = s(&good, "input").chars().count();
    let with = |k: &str, v: Value| {
        let mut d = good.clone();
        d[k] = v;
        d
    };
    for bad in [
        with("query_end_index", json!(len + 1)),
        with("query_start_index", json!(10)),
        with("document_end_index", json!(-1)),
        with("truncation_seperator", Value::Null),
        with("input", json!("no blank line anywhere")),
        with("query_end_index", json!("853")),
    ] {
        assert!(q.requests(&bad, 0).is_err(), "{}", &bad.to_string()[..80]);
        // Scoring reads only the output, so it still works.
        assert_eq!(answer(q.as_ref(), &bad, "C").score, 1.0);
    }
    let (m, docs) = loaded("infinitebench_en_mc");
    let good = docs[0].clone();
    let with = |k: &str, v: Value| {
        let mut d = good.clone();
        d[k] = v;
        d
    };
    for bad in [
        with("answer", json!(["Nobody"])),
        with("options", json!(["Hester Vale", "Owen Lark", "The miller"])),
        with("options", json!("Owen Lark")),
        with("context", json!(3)),
    ] {
        assert!(m.requests(&bad, 0).is_err(), "{bad}");
    }
    assert_eq!(answer(m.as_ref(), &with("answer", json!(["Nobody"])), "B").score, 0.0);

    // A bad document in the data stops the load with its reason.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("zero_scrolls/quality/validation.jsonl");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    let mut no_letter = q.load(&source(data_dir())).expect("loads")[0].clone();
    no_letter["output"] = json!("the lighthouse");
    std::fs::write(&file, format!("{no_letter}\n")).expect("write");
    let err = q.load(&source(dir.path().to_path_buf())).expect_err("refused").to_string();
    assert!(err.contains("no letter"), "{err}");
}
