//! The knowledge and reasoning tasks (MMLU, MMLU-Pro, GPQA, MATH, MGSM, MBPP) on the
//! hand-written fixtures of `tests/fixtures/eval/data` (not benchmark data): each loads
//! through its task, builds Meta's request (shots, generation length, answer format),
//! and scores hand-made answers: a right one 1, a wrong or unparseable one 0. MBPP runs
//! its programs in herd's sandbox with `python3`.

use herd_lab::eval::backend::{GenRequest, Response};
use herd_lab::eval::score::MGSM_LANGS;
use herd_lab::eval::tasks::{self, DataSource, Request, Scored, Style, Task};
use serde_json::Value;
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    herd_llama::testdata::fixtures().join("eval/data")
}

fn task(name: &str) -> Box<dyn Task> {
    tasks::find(name).unwrap_or_else(|| panic!("task {name} is registered"))
}

/// The task and its fixture documents, loaded as `herd eval --data` loads them.
fn loaded(name: &str) -> (Box<dyn Task>, Vec<Value>) {
    let t = task(name);
    let docs = t
        .load(&DataSource { dir: Some(data_dir()), fetched: Vec::new() })
        .unwrap_or_else(|e| panic!("{name} loads its fixture: {e}"));
    (t, docs)
}

/// The one generation request of a document, with the task's default shots.
fn request(t: &dyn Task, doc: &Value) -> GenRequest {
    let reqs = t.requests(doc, t.info().shots).expect("requests");
    assert_eq!(reqs.len(), 1, "one request per document");
    match reqs.into_iter().next() {
        Some(Request::Gen(g)) => g,
        other => panic!("expected a generation request, got {other:?}"),
    }
}

fn answer(t: &dyn Task, doc: &Value, text: &str) -> Scored {
    t.score(doc, &[Response::Text { text: text.into(), finish_reason: "stop".into() }])
}

fn last_user(g: &GenRequest) -> &str {
    let m = g.messages.last().expect("a message");
    assert_eq!(m.role, "user");
    &m.content
}

fn s<'a>(doc: &'a Value, k: &str) -> &'a str {
    doc[k].as_str().unwrap_or_else(|| panic!("{k} is a string in {doc}"))
}

#[test]
fn the_tasks_are_listed_with_metas_settings() {
    let want = [
        ("mmlu", 5, 10, [69.4, 83.6, 87.3]),
        ("mmlu_pro", 5, 1024, [48.3, 66.4, 73.3]),
        ("gpqa", 0, 2048, [32.8, 46.7, 51.1]),
        ("mmlu_cot", 0, 1024, [73.0, 86.0, 88.6]),
        ("math", 0, 5120, [51.9, 68.0, 73.8]),
        ("mgsm", 0, 2048, [68.9, 86.9, 91.6]),
        ("mbpp", 0, 1024, [72.8, 86.0, 88.6]),
    ];
    let names: Vec<&str> = tasks::all().iter().map(|t| t.info().name).collect();
    for (name, shots, max_tokens, paper) in want {
        assert!(names.contains(&name), "{name} in --list");
        let i = task(name).info();
        assert_eq!((i.shots, i.max_tokens, i.paper), (shots, max_tokens, Some(paper)), "{name}");
        let style = if name == "mbpp" { Style::Code } else { Style::Generate };
        assert_eq!(i.style, style, "{name}");
    }
}

#[test]
fn missing_data_names_the_expected_files() {
    let empty = tempfile::tempdir().expect("temp dir");
    let src = DataSource { dir: Some(empty.path().to_path_buf()), fetched: Vec::new() };
    for (name, file) in [
        ("mmlu", "mmlu/all/test-"),
        ("mmlu_cot", "mmlu/all/test-"),
        ("mmlu_pro", "mmlu_pro/data/test-"),
        ("gpqa", "gpqa_main.csv"),
        ("math", "math/<subject>/test-"),
        ("mgsm", "mgsm_bn.tsv"),
        ("mbpp", "mbpp/full/test-"),
    ] {
        let e = task(name).load(&src).expect_err("no data").to_string();
        assert!(e.contains(file), "{name}: {e}");
        let none = DataSource { dir: None, fetched: Vec::new() };
        assert!(task(name).load(&none).expect_err("no --data").to_string().contains("--data"), "{name}");
    }
}

#[test]
fn mmlu_cot_asks_metas_step_by_step_question_and_macro_averages() {
    let (t, docs) = loaded("mmlu_cot");
    let g = request(t.as_ref(), &docs[0]);
    assert_eq!((g.messages.len(), g.max_tokens), (1, 1024));
    let q = last_user(&g);
    assert!(q.starts_with("Given the following question and four candidate answers (A, B, C and D), choose the best answer.\n\nQuestion: "), "{q}");
    assert!(q.ends_with("where the [the_answer_letter] is one of A, B, C or D.\n\nLet's think step by step."), "{q}");
    let gold = ["A", "B", "C", "D"][docs[0]["answer"].as_u64().expect("answer") as usize];
    let right = answer(
        t.as_ref(),
        &docs[0],
        &format!("## Step 1: think\nThe best answer is B. No: the best answer is {gold}."),
    );
    assert_eq!(right.score, 1.0, "{right:?}");
    assert_eq!(answer(t.as_ref(), &docs[0], "I am not sure.").score, 0.0);
    // Macro: right on the first subject's questions only. Every subject weighs the same
    // whatever its size, so the score is 1 / subjects; the micro average is in the breakdown.
    let first = s(&docs[0], "subject");
    let letter = |d: &Value| ["A", "B", "C", "D"][d["answer"].as_u64().expect("answer") as usize];
    let scored: Vec<Scored> = docs
        .iter()
        .map(|d| {
            let text =
                if s(d, "subject") == first { format!("The best answer is {}.", letter(d)) } else { "none".into() };
            answer(t.as_ref(), d, &text)
        })
        .collect();
    let mut subjects: Vec<&str> = docs.iter().map(|d| s(d, "subject")).collect();
    let n_first = subjects.iter().filter(|&&x| x == first).count();
    subjects.sort();
    subjects.dedup();
    assert!(subjects.len() > 1, "the fixture has several subjects");
    let refs: Vec<&Value> = docs.iter().collect();
    let agg = t.aggregate(&refs, &scored.iter().collect::<Vec<_>>());
    assert!((agg.score - 1.0 / subjects.len() as f64).abs() < 1e-12, "{agg:?}");
    let micro = agg.breakdown.iter().find(|(k, _)| k == "micro").map(|(_, v)| *v);
    assert_eq!(micro, Some(n_first as f64 / docs.len() as f64));
}

#[test]
fn mmlu_five_shots_of_the_same_subject() {
    let (t, docs) = loaded("mmlu");
    assert_eq!(docs.len(), 4);
    assert_eq!(t.doc_id(&docs[1], 1), "high_school_geography/1");

    let g = request(t.as_ref(), &docs[0]);
    assert_eq!(g.max_tokens, 10);
    assert_eq!(g.messages.len(), 2 * 5 + 1, "5 dev shots of elementary_mathematics");
    assert!(g.messages[0].content.contains("Question: What is 7 + 8?\nA. 13\nB. 14\nC. 15\nD. 16\n"));
    assert_eq!(g.messages[1].role, "assistant");
    assert_eq!(g.messages[1].content, "The best answer is C.");
    assert_eq!(g.messages[9].content, "The best answer is B.", "the fifth shot is 'What is half of 50?'");
    assert!(g.messages.iter().all(|m| !m.content.contains("Sahara") && !m.content.contains("ocean")));
    let q = last_user(&g);
    assert!(q.starts_with("Given the following question and four candidate answers (A, B, C and D), choose the best answer.\nQuestion: A box holds 4 rows of 6 eggs."), "{q}");
    assert!(q.ends_with("\nD. 28\nYour response should end with \"The best answer is [the_answer_letter]\" where the [the_answer_letter] is one of A, B, C or D."), "{q}");

    // The geography subject has 3 dev questions: all of them, none of mathematics.
    let g = request(t.as_ref(), &docs[1]);
    assert_eq!(g.messages.len(), 2 * 3 + 1);
    assert!(g.messages[0].content.contains("Equator") && g.messages[5].content == "The best answer is D.");
    assert_eq!(t.requests(&docs[1], 0).expect("0-shot").len(), 1);
    let zero = match &t.requests(&docs[1], 0).expect("0-shot")[0] {
        Request::Gen(g) => g.messages.len(),
        _ => 0,
    };
    assert_eq!(zero, 1);

    let r = answer(t.as_ref(), &docs[0], "The best answer is C.");
    assert_eq!((r.score, r.extracted.as_str(), r.target.as_str()), (1.0, "C", "C"));
    assert_eq!(answer(t.as_ref(), &docs[0], "The best answer is B.").score, 0.0);
    let r = answer(t.as_ref(), &docs[0], "C, because 4 times 6 is 24");
    assert_eq!((r.score, r.extracted.as_str()), (0.0, "[invalid]"));
    assert_eq!(answer(t.as_ref(), &docs[1], "The best answer is B").score, 1.0);
}

#[test]
fn mmlu_pro_five_chain_of_thought_shots() {
    let (t, docs) = loaded("mmlu_pro");
    assert_eq!(docs.len(), 3);
    assert_eq!(t.doc_id(&docs[0], 0), "101");

    let g = request(t.as_ref(), &docs[0]);
    assert_eq!(g.max_tokens, 1024);
    assert_eq!(g.messages.len(), 2 * 5 + 1);
    // The first five math validation questions, in order; the sixth ("1 + 1") is left out.
    assert!(g.messages[0].content.contains("Question: What is 12 times 12?\nA. 124\n"));
    assert!(g.messages[8].content.contains("remainder when 17"));
    assert!(g.messages.iter().all(|m| !m.content.contains("What is 1 + 1?") && !m.content.contains("organelle")));
    assert_eq!(
        g.messages[1].content,
        "12 times 12 is 12 times 10 plus 12 times 2, that is 120 + 24 = 144. The best answer is C."
    );
    for shot in g.messages.iter().filter(|m| m.role == "assistant") {
        assert!(!shot.content.contains("Let's think") && !shot.content.contains("The answer is ("), "{}", shot.content);
    }
    let q = last_user(&g);
    assert!(q.starts_with("Given the following question and candidate answers, choose the best answer.\nQuestion: What is the sum of the interior angles of a triangle, in degrees?\nA. 90\nB. 180\n"));
    assert!(q.contains("\nJ. 60\n\nYour response should end with \"The best answer is [the_answer_letter].\" where the [the_answer_letter] is a letter from the provided choices.\n\nLet's think step by step."), "{q}");

    // Four options: letters A-D only; the biology pool has 2 examples.
    let g = request(t.as_ref(), &docs[2]);
    assert_eq!(g.messages.len(), 2 * 2 + 1);
    assert!(last_user(&g).contains("\nD. plasma cells\n\n") && !last_user(&g).contains("\nE. "));

    let cot = "The angles of a triangle add up to 180 degrees. The best answer is B.";
    assert_eq!(answer(t.as_ref(), &docs[0], cot).score, 1.0);
    assert_eq!(answer(t.as_ref(), &docs[0], "The best answer is A. No wait, the best answer is B.").score, 1.0);
    assert_eq!(answer(t.as_ref(), &docs[0], "The best answer is D.").score, 0.0);
    assert_eq!(answer(t.as_ref(), &docs[0], "The answer is (B).").score, 0.0, "TIGER-Lab's format is not Meta's");
    assert_eq!(answer(t.as_ref(), &docs[1], "3x = 15, x = 5. The best answer is C.").target, "C");
}

#[test]
fn gpqa_zero_shot_cot_with_shuffled_options() {
    let (t, docs) = loaded("gpqa");
    assert_eq!(docs.len(), 4);
    assert_eq!(t.doc_id(&docs[2], 2), "recHW0003");
    assert!(s(&docs[1], "Question").contains("\n2 H2 + O2 -> 2 H2O\n"), "a quoted multi-line CSV field");
    assert!(s(&docs[2], "Question").contains("the \"Watson-Crick\" rules"), "doubled quotes");

    let mut golds = Vec::new();
    for doc in &docs {
        let g = request(t.as_ref(), doc);
        assert_eq!((g.max_tokens, g.messages.len()), (2048, 1));
        let p = last_user(&g);
        assert!(p.starts_with(&format!(
            "Given the following question and four candidate answers (A, B, C and D), choose the best answer.\n\nQuestion: {}\nA. ",
            s(doc, "Question")
        )));
        assert!(p.ends_with("Regardless of the approach, always conclude with:\nThe best answer is [the_answer_letter].\nwhere the [the_answer_letter] is one of A, B, C or D.\n\nLet's think step by step."));
        // Each answer once, cleaned; the gold letter is where the correct one went.
        let options: Vec<&str> = ["A", "B", "C", "D"]
            .iter()
            .map(|l| p.split(&format!("\n{l}. ")).nth(1).and_then(|x| x.split('\n').next()).expect("option line"))
            .collect();
        let mut sorted = options.clone();
        sorted.sort();
        let mut want: Vec<&str> = ["Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"]
            .iter()
            .map(|k| s(doc, k).trim())
            .collect();
        want.sort();
        assert_eq!(sorted, want);
        let gold = options.iter().position(|o| *o == s(doc, "Correct Answer")).expect("the correct answer is listed");
        let letter = ["A", "B", "C", "D"][gold];
        let r = answer(t.as_ref(), doc, &format!("## Step 1: think\nThe best answer is {letter}."));
        assert_eq!((r.score, r.target.as_str()), (1.0, letter));
        let wrong = ["A", "B", "C", "D"][(gold + 1) % 4];
        assert_eq!(answer(t.as_ref(), doc, &format!("The best answer is {wrong}.")).score, 0.0);
        assert_eq!(answer(t.as_ref(), doc, &format!("Answer: {letter}")).score, 0.0);
        // The same order every time.
        assert_eq!(request(t.as_ref(), doc), g);
        golds.push(gold);
    }
    assert!(golds.iter().any(|&g| g != 0), "the correct answer is not always A: {golds:?}");
}

#[test]
fn math_zero_shot_boxed_answers() {
    let (t, docs) = loaded("math");
    assert_eq!(docs.len(), 4, "both subject folders");
    let g = request(t.as_ref(), &docs[2]);
    assert_eq!((g.max_tokens, g.messages.len()), (5120, 1));
    let p = last_user(&g);
    assert!(p.starts_with("Solve the following math problem efficiently and clearly:\n\n"));
    assert!(p.contains("Regardless of the approach, always conclude with:\n\nTherefore, the final answer is: $\\boxed{answer}$. I hope it is correct.\n\n"));
    assert!(p.ends_with("Problem: What is $\\frac{1}{4} + \\frac{1}{4}$?\n"), "{p}");

    let right = "## Step 1: Add\n$\\frac{2}{4} = \\frac12$.\n\nTherefore, the final answer is: $\\boxed{\\frac{1}{2}}$. I hope it is correct.";
    let r = answer(t.as_ref(), &docs[2], right);
    assert_eq!((r.score, r.extracted.as_str(), r.target.as_str()), (1.0, "\\frac{1}{2}", "\\frac{1}{2}"));
    assert_eq!(answer(t.as_ref(), &docs[2], "Therefore, the final answer is: $\\boxed{\\frac12}$.").score, 1.0);
    assert_eq!(answer(t.as_ref(), &docs[2], "Therefore, the final answer is: $\\boxed{\\frac{1}{4}}$.").score, 0.0);
    let r = answer(t.as_ref(), &docs[2], "The final answer is 1/2.");
    assert_eq!((r.score, r.extracted.as_str()), (0.0, "[invalidanswer]"));
    assert_eq!(answer(t.as_ref(), &docs[3], "So $\\boxed{150 \\text{ minutes}}$.").score, 1.0, "units are normalized");
    assert_eq!(answer(t.as_ref(), &docs[0], "$\\boxed{3}$ then $\\boxed{4}$").score, 1.0, "the last box counts");
}

#[test]
fn mgsm_native_prompts_in_all_languages() {
    let (t, docs) = loaded("mgsm");
    assert_eq!(docs.len(), 12);
    let langs: Vec<&str> = docs.iter().map(|d| s(d, "lang")).collect();
    let mut want: Vec<&str> = MGSM_LANGS.iter().map(|l| l.code).collect();
    want.insert(3, "en");
    assert_eq!(langs, want, "simple-evals' language order, every language");
    assert_eq!(t.doc_id(&docs[3], 3), "en/1");

    for (doc, lang) in docs.iter().zip(&langs) {
        let g = request(t.as_ref(), doc);
        assert_eq!((g.max_tokens, g.messages.len()), (2048, 1));
        let l = MGSM_LANGS.iter().find(|l| l.code == *lang).expect("a language");
        assert_eq!(last_user(&g), l.prompt(s(doc, "question")));
        let r = answer(t.as_ref(), doc, &format!("…\n{}: {}", l.prefix, s(doc, "answer")));
        assert_eq!(r.score, 1.0, "{lang}: {r:?}");
        assert_eq!(answer(t.as_ref(), doc, &format!("{}: 999", l.prefix)).score, 0.0, "{lang}");
    }
    let en = &docs[2];
    assert!(last_user(&request(t.as_ref(), en)).starts_with("Solve this math problem."));
    assert_eq!(answer(t.as_ref(), en, "5 + 7 = 12\nAnswer: 12.00").score, 1.0);
    assert_eq!(answer(t.as_ref(), en, "5 + 7 = 12").score, 0.0, "no answer line");
    assert_eq!(answer(t.as_ref(), &docs[1], "Answer: 7").score, 0.0, "German answers after \"Antwort\"");
}

#[test]
fn mbpp_runs_the_answer_against_the_tests() {
    let (t, docs) = loaded("mbpp");
    assert_eq!(docs.len(), 3);
    assert_eq!(t.doc_id(&docs[0], 0), "9001");
    let g = request(t.as_ref(), &docs[0]);
    assert_eq!((g.max_tokens, g.messages.len()), (1024, 1));
    assert_eq!(
        last_user(&g),
        "Please provide a self-contained Python script that solves the following problem in a markdown code block:\n```\n\"\"\"\nWrite a function to return the sum of the squares of a list of integers.\nassert sum_of_squares([1, 2, 3]) == 14\n\"\"\"\n```\n"
    );

    let good = "Here it is:\n```python\ndef sum_of_squares(nums):\n    return sum(x * x for x in nums)\n```\nIt squares and adds.";
    let r = answer(t.as_ref(), &docs[0], good);
    assert_eq!(r.score, 1.0, "{r:?}");
    assert!(r.target.contains("assert sum_of_squares([-2]) == 4"));
    let wrong = "```python\ndef sum_of_squares(nums):\n    return sum(nums) ** 2\n```";
    assert_eq!(answer(t.as_ref(), &docs[0], wrong).score, 0.0);
    assert_eq!(answer(t.as_ref(), &docs[0], "I cannot help with that.").score, 0.0);

    // The setup code (`import math`) runs first; a usage example in another block is not
    // taken for the solution.
    let dist = "```python\nprint(distance((0, 0), (3, 4)))\n```\n```python\ndef distance(p, q):\n    return math.dist(p, q)\n```";
    assert_eq!(answer(t.as_ref(), &docs[2], dist).score, 1.0);
    let pal = "```python\ndef is_palindrome(s):\n    return s == s[::-1]\n```";
    assert_eq!(answer(t.as_ref(), &docs[1], pal).score, 0.0, "ignores case in the tests");
}
