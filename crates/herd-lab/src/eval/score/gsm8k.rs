//! GSM8K gold answers, answer extraction and exact match, as lm-eval's `gsm8k_cot_llama` task.
//!
//! That task (lm-eval 0.4.13, `tasks/gsm8k/gsm8k-cot-llama.yaml`) copies Meta's instruct setting:
//! the model ends with "The final answer is N". Its two filters run lm-eval's `RegexFilter`
//! (`re.findall`, `group_select: -1` = the last match, the first non-empty group of that match,
//! `.strip()`, fallback `[invalid]`) and its metric is `exact_match` with `ignore_case` and
//! `regexes_to_ignore: [",", "\$", "(?s).*#### ", "\.$"]` applied to prediction and gold.

use super::{compile, py_strip};
use regex::Regex;
use std::sync::LazyLock;

/// `RegexFilter`'s fallback when the pattern finds nothing (the `None` of the extractors); as
/// a prediction it never equals a number.
pub const GSM8K_INVALID: &str = "[invalid]";

/// The `strict-match` filter's pattern.
pub const GSM8K_STRICT_PATTERN: &str = r"The final answer is ((-?[$0-9.,]{2,})|(-?[0-9]+))";
/// The `flexible-extract` filter's pattern: any number-like run.
pub const GSM8K_FLEXIBLE_PATTERN: &str = r"(-?[$0-9.,]{2,})|(-?[0-9]+)";

/// The task's gold: `doc_to_target` = `answer.split('####')[-1].strip()`, with the commas
/// removed (as `exact_match`'s first ignored regex does, so the score is unchanged).
pub fn gsm8k_gold(answer: &str) -> String {
    let tail = answer.rsplit("####").next().unwrap_or(answer);
    py_strip(tail).replace(',', "")
}

/// The `strict-match` answer: the last "The final answer is N" in `output`; `None` is the
/// filter's `[invalid]`.
pub fn gsm8k_extract(output: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| compile(GSM8K_STRICT_PATTERN));
    regex_filter_last(&RE, output)
}

/// The `flexible-extract` answer: the last number-like run anywhere in `output`.
pub fn gsm8k_extract_flexible(output: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| compile(GSM8K_FLEXIBLE_PATTERN));
    regex_filter_last(&RE, output)
}

/// lm-eval `RegexFilter` with `group_select: -1`: the last match, its first non-empty group
/// (the whole match when the pattern has no group), stripped. `None` where it falls back.
fn regex_filter_last(re: &Regex, text: &str) -> Option<String> {
    let caps = re.captures_iter(text).last()?;
    let m = if caps.len() == 1 { caps.get(0) } else { caps.iter().skip(1).flatten().find(|m| !m.as_str().is_empty()) };
    m.map(|m| py_strip(m.as_str()).to_string())
}

/// `exact_match(ignore_case=True, regexes_to_ignore=[",", "\$", "(?s).*#### ", "\.$"])` of one
/// extracted prediction against the gold (a `None` from the extractors is [`GSM8K_INVALID`],
/// which is never correct).
pub fn gsm8k_correct(pred: &str, gold: &str) -> bool {
    exact_match_normalize(pred) == exact_match_normalize(gold)
}

/// The ignored regexes in order, each `re.sub(r, "", s)`, then `str.lower()`.
fn exact_match_normalize(s: &str) -> String {
    // `,` then `\$`: one pass deleting both is the same.
    let s = s.replace([',', '$'], "");
    // `(?s).*#### `: the greedy `.*` reaches the last "#### ", so everything up to it goes.
    let s = match s.rsplit_once("#### ") {
        Some((_, tail)) => tail.to_string(),
        None => s,
    };
    strip_final_period(&s).to_lowercase()
}

/// `re.sub(r"\.$", "", s)`: Python's `$` also matches before a final `\n`, so the period goes
/// whether it ends the string or precedes its last newline.
fn strip_final_period(s: &str) -> String {
    if let Some(head) = s.strip_suffix(".\n") {
        format!("{head}\n")
    } else {
        s.strip_suffix('.').unwrap_or(s).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_takes_the_last_final_answer() {
        let out = "The final answer is 3. Wait. The final answer is $1,234.50.";
        assert_eq!(gsm8k_extract(out).as_deref(), Some("$1,234.50."));
        assert!(gsm8k_correct(&gsm8k_extract(out).unwrap_or_default(), "1234.50"));
        assert_eq!(gsm8k_extract("no answer here"), None);
        assert!(!gsm8k_correct(GSM8K_INVALID, "5"));
    }

    #[test]
    fn gold_is_after_the_last_marker() {
        assert_eq!(gsm8k_gold("so 2+2=4\n#### 1,000 "), "1000");
    }
}
