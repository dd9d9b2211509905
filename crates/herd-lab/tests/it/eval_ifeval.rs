//! IFEval against `tests/fixtures/eval/ifeval.json`, the verdicts of lm-eval 0.4.13's own
//! IFEval code (written by `scripts/golden/eval_ifeval.py`): herd must agree on every case,
//! strict and loose, and on the four accuracies of whole prompts. Then the `ifeval` task on
//! its hand-written data fixture.

use herd_lab::eval::backend::{GenRequest, Response};
use herd_lab::eval::score::ifeval::{INSTRUCTION_IDS, Instruction, Metrics, evaluate, follows_loose, follows_strict};
use herd_lab::eval::tasks::{self, DataSource, Request, Scored, Task};
use serde::Deserialize;
use serde_json::{Value, json};

/// Instructions whose golden cases are skipped (none: the checkers that need nltk's Punkt
/// or langdetect use herd's ports, score/punkt.rs and score/langdetect.rs, which fetch their
/// pinned data from PyPI on first use).
const PENDING_MODEL_CHECKERS: [&str; 0] = [];

#[derive(Deserialize)]
struct Fixture {
    instruction_ids: Vec<String>,
    cases: Vec<Case>,
    prompts: Vec<PromptCase>,
    metrics: Value,
    fuzz: Fuzz,
}

/// Random responses from edge-case fragments, each with lm-eval's verdicts on every
/// configuration ("1"/"0" per configuration, in order).
#[derive(Deserialize)]
struct Fuzz {
    configs: Vec<(String, Value)>,
    responses: Vec<FuzzResponse>,
}

#[derive(Deserialize)]
struct FuzzResponse {
    response: String,
    strict: String,
    loose: String,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    instruction_id: String,
    what: String,
    kwargs: Value,
    response: String,
    strict: bool,
    loose: bool,
}

#[derive(Deserialize)]
struct PromptCase {
    doc: Value,
    response: String,
    prompt_level_strict_acc: bool,
    inst_level_strict_acc: Vec<bool>,
    prompt_level_loose_acc: bool,
    inst_level_loose_acc: Vec<bool>,
}

fn fixture() -> Fixture {
    let path = herd_llama::testdata::fixtures().join("eval/ifeval.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("ifeval.json parses")
}

fn ids(doc: &Value) -> Vec<&str> {
    doc["instruction_id_list"].as_array().expect("ids").iter().map(|v| v.as_str().expect("id")).collect()
}

#[test]
fn the_25_instructions_are_lm_evals() {
    let f = fixture();
    let mut ours: Vec<&str> = INSTRUCTION_IDS.to_vec();
    ours.sort_unstable();
    assert_eq!(ours, f.instruction_ids.iter().map(String::as_str).collect::<Vec<_>>());
    for id in &f.instruction_ids {
        let n = f.cases.iter().filter(|c| &c.instruction_id == id).count();
        assert!(n >= 5, "{id} has {n} golden cases");
    }
}

#[test]
fn every_case_matches_lm_eval_strict_and_loose() {
    let f = fixture();
    let (mut checked, mut bad) = (0, Vec::new());
    for c in &f.cases {
        if PENDING_MODEL_CHECKERS.contains(&c.instruction_id.as_str()) {
            continue;
        }
        let inst = Instruction::new(&c.instruction_id, &c.kwargs)
            .unwrap_or_else(|e| panic!("{} ({}): kwargs {} do not build: {e}", c.id, c.what, c.kwargs));
        let (s, l) = (
            follows_strict(&inst, &c.response).expect("models load"),
            follows_loose(&inst, &c.response).expect("models load"),
        );
        if (s, l) != (c.strict, c.loose) {
            bad.push(format!(
                "{} ({}): herd strict {s} loose {l}, lm-eval strict {} loose {}; response {:?}",
                c.id, c.what, c.strict, c.loose, c.response
            ));
        }
        checked += 1;
    }
    assert!(bad.is_empty(), "{} of {checked} cases differ:\n{}", bad.len(), bad.join("\n"));
    assert!(f.cases.len() >= 150 && checked >= 150, "{checked} of {} cases checked", f.cases.len());
}

#[test]
fn random_responses_match_lm_eval_on_every_instruction() {
    let f = fixture();
    let insts: Vec<(&str, Instruction)> = f
        .fuzz
        .configs
        .iter()
        .map(|(id, kw)| (id.as_str(), Instruction::new(id, kw).unwrap_or_else(|e| panic!("{id} {kw}: {e}"))))
        .collect();
    let mut bad = Vec::new();
    for r in &f.fuzz.responses {
        let bits = |s: &str| s.chars().map(|c| c == '1').collect::<Vec<_>>();
        let (want_s, want_l) = (bits(&r.strict), bits(&r.loose));
        assert_eq!(want_s.len(), insts.len());
        for (i, (id, inst)) in insts.iter().enumerate() {
            if PENDING_MODEL_CHECKERS.contains(id) {
                continue;
            }
            let s = follows_strict(inst, &r.response).expect("models load");
            let l = follows_loose(inst, &r.response).expect("models load");
            if (s, l) != (want_s[i], want_l[i]) {
                bad.push(format!(
                    "{id} {}: herd strict {s} loose {l}, lm-eval strict {} loose {}; response {:?}",
                    f.fuzz.configs[i].1, want_s[i], want_l[i], r.response
                ));
            }
        }
    }
    assert!(bad.is_empty(), "{} verdicts differ:\n{}", bad.len(), bad.join("\n"));
    assert!(f.fuzz.responses.len() * insts.len() >= 5000);
}

#[test]
fn whole_prompts_and_the_four_accuracies_match_lm_eval() {
    let f = fixture();
    let mut all = Vec::new();
    for p in &f.prompts {
        let kwargs = p.doc["kwargs"].as_array().expect("kwargs").clone();
        let v = evaluate(&ids(&p.doc), &kwargs, &p.response);
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        assert_eq!(v.strict, p.inst_level_strict_acc, "{}", p.doc["key"]);
        assert_eq!(v.loose, p.inst_level_loose_acc, "{}", p.doc["key"]);
        assert_eq!(v.strict.iter().all(|&b| b), p.prompt_level_strict_acc);
        assert_eq!(v.loose.iter().all(|&b| b), p.prompt_level_loose_acc);
        all.push(v);
    }
    let m = Metrics::of(&all);
    let want = |k: &str| f.metrics[k].as_f64().expect("metric");
    for (k, got) in [
        ("prompt_level_strict_acc", m.prompt_level_strict_acc),
        ("inst_level_strict_acc", m.inst_level_strict_acc),
        ("prompt_level_loose_acc", m.prompt_level_loose_acc),
        ("inst_level_loose_acc", m.inst_level_loose_acc),
    ] {
        assert!((got - want(k)).abs() < 1e-12, "{k}: herd {got}, lm-eval {}", want(k));
    }
}

#[test]
fn malformed_kwargs_are_errors_not_panics() {
    let bad = [
        ("keywords:frequency", json!({"keyword": "x", "frequency": 2, "relation": "more than"})),
        ("keywords:frequency", json!({"keyword": "x", "relation": "at least"})),
        ("keywords:letter_frequency", json!({"letter": "ab", "let_frequency": 2, "let_relation": "at least"})),
        ("keywords:letter_frequency", json!({"letter": "é", "let_frequency": 2, "let_relation": "at least"})),
        ("length_constraints:number_words", json!({"num_words": -3, "relation": "at least"})),
        ("length_constraints:number_words", json!({"num_words": "ten", "relation": "at least"})),
        (
            "length_constraints:nth_paragraph_first_word",
            json!({"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "a"}),
        ),
        ("keywords:existence", json!({"keywords": "not a list"})),
        ("keywords:existence", json!({"keywords": ["(unclosed"]})),
        ("language:response_language", json!({"language": "xx"})),
        ("combination:repeat_prompt", json!({})),
        ("no:such_instruction", json!({})),
        ("punctuation:no_comma", json!([1, 2])),
    ];
    for (id, kw) in bad {
        assert!(Instruction::new(id, &kw).is_err(), "{id} {kw} should be refused");
    }
    // Within a prompt, such an instruction is not followed and is reported.
    let v = evaluate(&["punctuation:no_comma", "keywords:frequency"], &[json!({}), json!({"keyword": "x"})], "fine");
    assert_eq!((v.strict, v.loose, v.errors.len()), (vec![true, false], vec![true, false], 1));
}

fn ifeval() -> Box<dyn Task> {
    tasks::find("ifeval").expect("ifeval is registered")
}

fn reply(text: &str) -> Vec<Response> {
    vec![Response::Text { text: text.into(), finish_reason: "stop".into() }]
}

#[test]
fn the_task_loads_its_fixture_and_asks_for_the_prompt_alone() {
    let t = ifeval();
    let info = t.info();
    assert_eq!((info.name, info.shots, info.max_tokens, info.paper), ("ifeval", 0, 1280, Some([80.4, 87.5, 88.6])));
    let dir = herd_llama::testdata::fixtures().join("eval/data");
    let docs = t.load(&DataSource { dir: Some(dir), fetched: Vec::new() }).expect("ifeval loads its fixture");
    assert_eq!(docs.len(), 3);
    assert_eq!(t.doc_id(&docs[1], 1), "2");
    for d in &docs {
        let reqs = t.requests(d, 0).expect("requests");
        let [Request::Gen(GenRequest { messages, max_tokens, stop })] = reqs.as_slice() else {
            panic!("one generation request: {reqs:?}")
        };
        assert_eq!((messages.len(), messages[0].role.as_str()), (1, "user"));
        assert_eq!(messages[0].content, d["prompt"].as_str().expect("prompt"));
        assert_eq!((*max_tokens, stop.len()), (1280, 0));
    }
    let none = DataSource { dir: None, fetched: Vec::new() };
    assert!(t.load(&none).expect_err("no --data").to_string().contains("--data"));
    let empty = tempfile::tempdir().expect("temp dir");
    let e = t.load(&DataSource { dir: Some(empty.path().to_path_buf()), fetched: Vec::new() }).expect_err("no data");
    assert!(e.to_string().contains("ifeval/input_data.jsonl"), "{e}");
}

#[test]
fn the_task_scores_a_document_and_pools_instructions_across_documents() {
    let t = ifeval();
    let doc = json!({
        "key": 7,
        "prompt": "Write about tea without commas, in at least 2 bullet points, and end with 'Cheers.'",
        "instruction_id_list": ["punctuation:no_comma", "detectable_format:number_bullet_lists", "startend:end_checker"],
        "kwargs": [{}, {"num_bullets": 2, "keyword": null}, {"end_phrase": "Cheers."}],
    });
    // Strictly the comma (first line) and the sign-off after the phrase (last line) fail;
    // loosely, dropping the first or the last line passes each.
    let text = "Sure, here it is:\n* green tea\n* black tea\nCheers.\nBye";
    let s: Scored = t.score(&doc, &reply(text));
    assert_eq!(s.detail["strict"], json!([false, true, false]));
    assert_eq!(s.detail["loose"], json!([true, true, true]));
    // One document: (0 + 1/3 + 1 + 1) / 4.
    assert!((s.score - (0.0 + 1.0 / 3.0 + 1.0 + 1.0) / 4.0).abs() < 1e-12, "{}", s.score);
    assert_eq!(s.extracted, "strict 1/3 loose 3/3");

    // A second document with one instruction that passes: instruction-level accuracy
    // pools the 4 instructions (strict 2/4), unlike a mean of per-document fractions.
    let doc2 = json!({"key": 8, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]});
    let s2 = t.score(&doc2, &reply("no commas"));
    let agg = t.aggregate(&[&doc, &doc2], &[&s, &s2]);
    let parts: std::collections::BTreeMap<&str, f64> = agg.breakdown.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(parts["prompt_level_strict_acc"], 0.5);
    assert_eq!(parts["inst_level_strict_acc"], 0.5);
    assert_eq!(parts["prompt_level_loose_acc"], 1.0);
    assert_eq!(parts["inst_level_loose_acc"], 1.0);
    assert!((agg.score - 0.75).abs() < 1e-12);
}
