//! Function calling: herd's BFCL AST checker and Llama 3.1 decoding against
//! `tests/fixtures/eval/bfcl.json` (BFCL's own checker and `LlamaHandler_3_1` on outputs crafted
//! around BFCL's test entries; written by `scripts/golden/eval_bfcl.py`), the `bfcl` task on
//! BFCL's wheel layout, and the `nexus` task on the hand-written fixture of
//! `tests/fixtures/eval/data/nexus` (not benchmark data).

use herd_lab::eval::backend::{GenRequest, Response};
use herd_lab::eval::score::bfcl::{ast_check, decode_llama31, py_eq};
use herd_lab::eval::score::bfcl_types::{Conv, java_convert, js_convert};
use herd_lab::eval::tasks::{self, DataSource, Request, Scored, Task};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

const CATEGORIES: [&str; 6] =
    ["simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple"];

fn fixture() -> &'static Vec<Value> {
    static F: OnceLock<Vec<Value>> = OnceLock::new();
    F.get_or_init(|| {
        let p = herd_llama::testdata::fixtures().join("eval/bfcl.json");
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    })
}

fn entries() -> &'static Map<String, Value> {
    fixture()[0]["entries"].as_object().expect("the fixture's header lists the entries")
}

fn rows(kind: &str) -> impl Iterator<Item = &'static Value> {
    fixture().iter().filter_map(move |r| r.get(kind))
}

fn slice(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn check(id: &str, decoded: &Value) -> (bool, String) {
    let e = &entries()[id];
    let v = ast_check(slice(&e["function"]), decoded, slice(&e["ground_truth"]), e["category"].as_str().unwrap_or(""));
    (v.valid, v.error_type)
}

#[test]
fn herd_agrees_with_bfcls_ast_checker_on_every_case() {
    let mut per_category: BTreeMap<String, usize> = BTreeMap::new();
    let mut wrong = Vec::new();
    for c in rows("case") {
        let id = c["id"].as_str().unwrap_or_default();
        *per_category.entry(entries()[id]["category"].as_str().unwrap_or_default().to_string()).or_default() += 1;
        let got = check(id, &c["decoded"]);
        let want = (c["valid"].as_bool().unwrap_or(false), c["error_type"].as_str().unwrap_or_default().to_string());
        if got != want {
            wrong.push(format!("{id} {}: herd {got:?}, BFCL {want:?}", c["kind"]));
        }
    }
    for cat in CATEGORIES {
        assert!(per_category.get(cat).copied().unwrap_or(0) >= 50, "too few {cat} cases: {per_category:?}");
    }
    assert!(wrong.is_empty(), "{} of {} cases differ:\n{}", wrong.len(), rows("case").count(), wrong.join("\n"));
}

/// The same Python value: equal (`py_eq`) and of the same types all the way down, so an
/// int is not taken for a float or a bool.
fn same_value(a: &Value, b: &Value) -> bool {
    let kind = |v: &Value| match v {
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
        Value::Null => "none",
    };
    kind(a) == kind(b)
        && py_eq(a, b)
        && match (a, b) {
            (Value::Array(x), Value::Array(y)) => x.iter().zip(y).all(|(p, q)| same_value(p, q)),
            (Value::Object(x), Value::Object(y)) => x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w))),
            _ => true,
        }
}

/// BFCL's Java and JavaScript type converters on the fixture's strings (their regular
/// expressions' corners: a final newline, lazy matches, int() and float() spellings,
/// nesting): herd's port gives the same value, or raises where the reference raises.
#[test]
fn java_and_javascript_values_convert_as_bfcls_converters_do() {
    let mut wrong = Vec::new();
    let mut n = 0;
    for c in rows("convert") {
        n += 1;
        let (ty, input) = (c["type"].as_str().unwrap_or_default(), c["input"].as_str().unwrap_or_default());
        let nested = c["nested"].as_str();
        let got =
            if c["lang"] == json!("java") { java_convert(input, ty, nested) } else { js_convert(input, ty, nested) };
        let ok = match (&got, c.get("output")) {
            (Ok(v), Some(want)) => same_value(v, want),
            (Err(Conv::Raises(_)), None) => c.get("raises").is_some(),
            _ => false,
        };
        if !ok {
            wrong.push(format!("{} {ty} {nested:?} {input:?}: herd {got:?}, BFCL {c}", c["lang"]));
        }
    }
    assert!(n >= 150, "only {n} converter cases");
    assert!(wrong.is_empty(), "{} of {n} conversions differ:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn llama_output_decodes_as_bfcls_llama31_handler_decodes_it() {
    let mut wrong = Vec::new();
    let mut n = 0;
    for t in rows("text") {
        n += 1;
        let (id, text, kind) =
            (t["id"].as_str().unwrap_or_default(), t["text"].as_str().unwrap_or_default(), &t["kind"]);
        let herd = decode_llama31(text);
        match (&t["decoded"], &herd) {
            // The reference's eval raises on JSON's true/false/null; herd reads them.
            (Value::Null, Ok(_)) if t["json_literals"] == json!(true) => continue,
            (Value::Null, Err(_)) => continue,
            (Value::Null, Ok(d)) => wrong.push(format!("{id} {kind}: herd decoded {d}, BFCL failed")),
            (r, Err(e)) => wrong.push(format!("{id} {kind}: herd failed ({e}), BFCL decoded {r}")),
            (r, Ok(d)) if !py_eq(r, d) => wrong.push(format!("{id} {kind}: herd {d}, BFCL {r}")),
            (_, Ok(d)) => {
                let got = check(id, d);
                let want =
                    (t["valid"].as_bool().unwrap_or(false), t["error_type"].as_str().unwrap_or_default().to_string());
                if got != want {
                    wrong.push(format!("{id} {kind}: herd {got:?}, BFCL {want:?}"));
                }
            }
        }
    }
    assert!(n >= 100, "only {n} text cases");
    assert!(wrong.is_empty(), "{} of {n} texts differ:\n{}", wrong.len(), wrong.join("\n"));
}

fn bfcl() -> Box<dyn Task> {
    tasks::find("bfcl").expect("the bfcl task is registered")
}

fn gen_req(reqs: &[Request]) -> &GenRequest {
    match reqs {
        [Request::Gen(g)] => g,
        _ => panic!("expected one generation request, got {reqs:?}"),
    }
}

/// The Llama 3.1 framing of plain chat messages (shared/spec/llama3.md §3.1), as the
/// in-process backend renders a request without tools.
fn llama31_text(g: &GenRequest) -> String {
    let mut s = String::from("<|begin_of_text|>");
    for m in &g.messages {
        s.push_str(&format!("<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>", m.role, m.content));
    }
    s + "<|start_header_id|>assistant<|end_header_id|>\n\n"
}

#[test]
fn the_bfcl_prompt_is_the_llama31_fc_handlers() {
    let mut n = 0;
    for p in rows("prompt") {
        let id = p["id"].as_str().unwrap_or_default();
        let mut doc = entries()[id].clone();
        doc["id"] = json!(id);
        doc["question"] = p["question"].clone();
        let reqs = bfcl().requests(&doc, 0).expect("a request");
        assert_eq!(llama31_text(gen_req(&reqs)), p["prompt"].as_str().unwrap_or_default(), "{id}");
        n += 1;
    }
    assert!(n >= 8);
}

/// A wheel-shaped zip holding `files` under `bfcl_eval/data/`.
fn write_wheel(path: &Path, files: &[(String, String)]) {
    let f = std::fs::File::create(path).expect("create the zip");
    let mut z = zip::ZipWriter::new(f);
    for (name, text) in files {
        z.start_file(format!("bfcl_eval/data/{name}"), zip::write::SimpleFileOptions::default()).expect("zip entry");
        z.write_all(text.as_bytes()).expect("zip write");
    }
    z.finish().expect("zip finish");
}

/// A right answer for a document as Llama 3.1 writes calls (`;`-separated JSON objects): a
/// decoded output BFCL's checker accepted for it, if any did (a few Java entries cannot be
/// passed: an `any` list item converts to a string, and their answers hold numbers).
fn right_answer(doc: &Value) -> Option<String> {
    let case = rows("case").find(|c| c["id"] == doc["id"] && c["valid"] == json!(true))?;
    let calls: Vec<String> = slice(&case["decoded"])
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|m| m.iter())
        .map(|(name, args)| json!({"name": name, "parameters": args}).to_string())
        .collect();
    Some(calls.join("; "))
}

fn answer(text: &str) -> Vec<Response> {
    vec![Response::Text { text: text.into(), finish_reason: "stop".into() }]
}

#[test]
fn the_bfcl_task_reads_the_wheel_and_scores_answers() {
    // The fixture's entries laid out as bfcl-eval's wheel lays out its data.
    let mut files = Vec::new();
    for cat in CATEGORIES {
        let (mut q, mut a) = (String::new(), String::new());
        for (id, e) in entries().iter().filter(|(_, e)| e["category"] == json!(cat)) {
            let question = rows("prompt").find(|p| p["id"] == json!(id)).map(|p| p["question"].clone());
            let question =
                question.unwrap_or_else(|| json!([[{"role": "user", "content": "Please call the function."}]]));
            q.push_str(&format!("{}\n", json!({"id": id, "question": question, "function": e["function"]})));
            a.push_str(&format!("{}\n", json!({"id": id, "ground_truth": e["ground_truth"]})));
        }
        files.push((format!("BFCL_v4_{cat}.json"), q));
        files.push((format!("possible_answer/BFCL_v4_{cat}.json"), a));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let wheel = dir.path().join("bfcl_eval-2026.3.23-py3-none-any.whl");
    write_wheel(&wheel, &files);
    let task = bfcl();
    let docs = task.load(&DataSource { dir: None, fetched: vec![("bfcl", wheel)] }).expect("the wheel loads");
    assert_eq!(docs.len(), entries().len());
    let mut scored: Vec<Scored> = Vec::new();
    let mut unpassable = 0;
    for (i, d) in docs.iter().enumerate() {
        let reqs = task.requests(d, 0).expect("a request");
        let g = gen_req(&reqs);
        assert_eq!((g.messages.len(), g.messages[0].role.as_str(), g.max_tokens), (2, "system", 4096));
        let hint = match d["category"].as_str() {
            Some("simple_java") => "Note that the provided function is in Java 8 SDK syntax.",
            Some("simple_javascript") => "Note that the provided function is in JavaScript syntax.",
            _ => "Note that the provided function is in Python 3 syntax.",
        };
        assert!(g.messages[1].content.contains(hint), "{}", d["id"]);
        let wrong = task.score(d, &answer("I cannot call any of these functions."));
        assert_eq!(wrong.score, 0.0);
        assert!(wrong.extracted.starts_with("[ast_decoder:decoder_failed]"), "{}", wrong.extracted);
        let Some(text) = right_answer(d) else {
            unpassable += 1;
            scored.push(wrong);
            continue;
        };
        let right = task.score(d, &answer(&text));
        assert_eq!(right.score, 1.0, "{}: {text} -> {}", d["id"], right.extracted);
        // Every second document right: each category at 50% or so.
        scored.push(if i % 2 == 0 { right } else { wrong });
    }
    let refs: Vec<&Value> = docs.iter().collect();
    let s: Vec<&Scored> = scored.iter().collect();
    let agg = task.aggregate(&refs, &s);
    assert_eq!(agg.breakdown.iter().filter(|(k, _)| CATEGORIES.contains(&k.as_str())).count(), 6);
    // BFCL's summary: simple is the mean of its three languages, then the mean of four.
    let part = |k: &str| agg.breakdown.iter().find(|(c, _)| c == k).map(|(_, v)| *v).expect("a category");
    let simple = (part("simple_python") + part("simple_java") + part("simple_javascript")) / 3.0;
    assert!((part("simple") - simple).abs() < 1e-12);
    let mean4 = (simple + part("multiple") + part("parallel") + part("parallel_multiple")) / 4.0;
    assert!((agg.score - mean4).abs() < 1e-12, "{} vs {mean4}", agg.score);
    // Each category's number is its share of right (even-indexed) documents, counted
    // here from the documents rather than from the aggregate.
    assert!(unpassable <= 2, "{unpassable} entries without a passing case");
    for cat in CATEGORIES {
        let of_cat: Vec<usize> = (0..docs.len()).filter(|&i| docs[i]["category"] == json!(cat)).collect();
        let want = of_cat.iter().filter(|&&i| scored[i].score == 1.0).count() as f64 / of_cat.len() as f64;
        assert!(
            of_cat
                .iter()
                .all(|&i| scored[i].score == f64::from(u8::from(i % 2 == 0 && right_answer(&docs[i]).is_some())))
        );
        let got = agg.breakdown.iter().find(|(k, _)| k == cat).map(|(_, v)| *v);
        assert_eq!(got, Some(want), "{cat}");
    }
}

/// The real wheel, fetched as `herd eval bfcl` fetches it (pip, once; then the cache):
/// all 1150 entries of the six categories load and make requests.
#[test]
fn the_real_bfcl_wheel_loads() {
    let wheel = herd_engine::catalog::fetch_wheel(&herd_engine::catalog::BFCL, |_| {})
        .expect("bfcl-eval 2026.3.23 from PyPI (needs pip and network once)");
    let docs = bfcl().load(&DataSource { dir: None, fetched: vec![("bfcl", wheel)] }).expect("the wheel loads");
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &docs {
        *n.entry(d["category"].as_str().unwrap_or_default()).or_default() += 1;
        bfcl().requests(d, 0).expect("every entry makes a request");
    }
    let want: BTreeMap<&str, usize> = [
        ("multiple", 200),
        ("parallel", 200),
        ("parallel_multiple", 200),
        ("simple_java", 100),
        ("simple_javascript", 50),
        ("simple_python", 400),
    ]
    .into();
    assert_eq!(n, want);
    // Interleaved, so that `--limit 12` samples every category twice.
    let first: Vec<&str> = docs[..12].iter().map(|d| d["category"].as_str().unwrap_or_default()).collect();
    assert_eq!(first, [CATEGORIES, CATEGORIES].concat());
    assert_eq!(docs[0]["id"], "simple_python_0");
    assert_eq!(docs[6]["id"], "simple_python_1");
}

// ---------------------------------------------------------------------------------------
// Nexus

fn nexus() -> (Box<dyn Task>, Vec<Value>) {
    let task = tasks::find("nexus").expect("the nexus task is registered");
    let dir = herd_llama::testdata::fixtures().join("eval/data");
    let docs = task.load(&DataSource { dir: Some(dir), fetched: Vec::new() }).expect("the fixture loads");
    (task, docs)
}

#[test]
fn nexus_loads_its_fixture_and_offers_the_functions_in_ravens_prompt() {
    let (task, docs) = nexus();
    assert_eq!(docs.len(), 5);
    let g = task.requests(&docs[0], 0).expect("a request");
    let p = &gen_req(&g).messages[0].content;
    assert!(p.starts_with("\n<human>:\n\nOPTION:\n<func_start>def get_forecast(city: str, days: int = 3, units: str = 'metric')<func_end>\n<docstring_start>\n\"\"\"\nGet the daily weather forecast"), "{p}");
    assert!(p.contains("<func_start>def get_alerts(region: str)<func_end>"));
    assert!(p.ends_with("User Query: Question: What is the 5-day forecast for Oslo?\n\nPlease pick a function from the above options that best answers the user query and fill in the appropriate arguments.<human_end>"));
    // Required parameters come first in the signature, as NexusRaven sorts them.
    let g = task.requests(&docs[3], 0).expect("a request");
    assert!(gen_req(&g).messages[0].content.contains("def create_note(title: str, body: str, tags: list = [])"));
}

#[test]
fn nexus_scores_calls_as_ravens_evaluator() {
    let (task, docs) = nexus();
    let score = |i: usize, text: &str| task.score(&docs[i], &answer(text)).score;
    let cases: [(usize, &str, f64); 19] = [
        (0, "get_forecast(city=\"Oslo\", days=5)", 1.0),
        (0, "Call: get_forecast(city='Oslo', days=5, units='metric')", 1.0),
        (0, r#"{"name": "get_forecast", "parameters": {"city": "Oslo", "days": 5}}"#, 1.0),
        (0, "<|python_tag|>[get_forecast(days=5, city=\"Oslo\")]", 1.0),
        (0, "<|python_tag|>get_forecast(city='Oslo', days=5)<|eom_id|>", 1.0),
        // NexusRaven turns keyword floats into ints (int(), toward zero).
        (0, "get_forecast(city='Oslo', days=5.0)", 1.0),
        (0, "get_forecast(city='Oslo', days=5.9)", 1.0),
        (0, "get_forecast(city='Oslo')", 0.0),
        (0, "get_forecast(city='oslo', days=5)", 0.0),
        (0, "get_forecast(city='Oslo', days=5, country='NO')", 0.0),
        (0, "get_forecast(days=5)", 0.0),
        (0, "get_alerts(region='Oslo')", 0.0),
        (0, "The forecast for Oslo is sunny.", 0.0),
        (1, "get_alerts(region='Bavaria')", 1.0),
        (2, "get_forecast(city='Lima', units='imperial')", 1.0),
        (2, "get_forecast(city='Lima', days=3, units='imperial')", 1.0),
        (3, "create_note(title='Groceries', body='buy milk', tags=[])", 1.0),
        (3, "create_note(title='Groceries', body='buy milk', tags=['food'])", 0.0),
        (4, "search_notes(query='taxes', limit=3)", 1.0),
    ];
    for (i, text, want) in cases {
        assert_eq!(score(i, text), want, "document {i}: {text}");
    }
    // macro_avg/acc: toy_weather 1 of 3 right, toy_notes 2 of 2.
    let scored: Vec<Scored> = [
        "get_forecast(city='Oslo', days=5)",
        "no idea",
        "get_alerts(region='Lima')",
        "create_note(title='Groceries', body='buy milk')",
        "search_notes(query='taxes', limit=3)",
    ]
    .iter()
    .zip(&docs)
    .map(|(t, d)| task.score(d, &answer(t)))
    .collect();
    let refs: Vec<&Value> = docs.iter().collect();
    let agg = task.aggregate(&refs, &scored.iter().collect::<Vec<_>>());
    assert!((agg.score - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12, "{agg:?}");
}

#[test]
fn missing_function_calling_data_names_what_to_provide() {
    let empty = tempfile::tempdir().expect("temp dir");
    let src = DataSource { dir: Some(empty.path().to_path_buf()), fetched: Vec::new() };
    let e = tasks::find("nexus").expect("nexus").load(&src).expect_err("no data").to_string();
    assert!(e.contains("nexus/standardized_queries/train-"), "{e}");
    let e = bfcl().load(&src).expect_err("no data").to_string();
    assert!(e.contains("BFCL_v4_simple_python.json"), "{e}");
    let none = DataSource { dir: None, fetched: Vec::new() };
    for t in ["nexus", "bfcl"] {
        let e = tasks::find(t).expect("registered").load(&none).expect_err("no data").to_string();
        assert!(e.contains("--data"), "{t}: {e}");
    }
}
