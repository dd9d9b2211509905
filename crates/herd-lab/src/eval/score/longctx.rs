//! The answer checks of the two long-context multiple-choice tasks, each a port of its
//! benchmark's own scorer:
//!
//! - ZeroSCROLLS QuALITY: the `accuracy` metric of the `tau/zero_scrolls` metrics
//!   (`find_answer`, `accuracy_score`): the first standalone letter A–D (`\b[A-D]\b`) of
//!   the prediction must equal the first one of the gold output.
//! - InfiniteBench En.MC: `get_score_one_longbook_choice_eng` of InfiniteBench's
//!   `src/compute_scores.py`, against the label `get_answer` (`src/eval_utils.py`) builds:
//!   `[option text, option letter]`.
//!
//! Both are Python; `str.strip`, `str.split` and `\b` follow Python's Unicode rules here
//! (see the helpers in [`super`]).

use super::{py_is_space, py_is_word, py_strip};

/// ZeroSCROLLS' `find_answer`: the first A, B, C or D standing alone as a word
/// (`re.search(r'\b[A-D]\b', s)`, Python's Unicode `\b`), so "(C)" and "C." give C, while
/// the A of "Answer" and the B of "B2" or "_B" do not count.
pub fn quality_letter(s: &str) -> Option<char> {
    let chars: Vec<char> = s.chars().collect();
    (0..chars.len()).find_map(|i| {
        let c = chars[i];
        let before = i == 0 || !py_is_word(chars[i - 1]);
        let after = chars.get(i + 1).is_none_or(|&n| !py_is_word(n));
        (('A'..='D').contains(&c) && before && after).then_some(c)
    })
}

/// ZeroSCROLLS' `accuracy_score`: the prediction's first standalone letter equals the
/// gold output's. A gold without a letter is refused upstream (an assertion); here it
/// scores 0, and the task refuses such a document when it loads.
pub fn quality_correct(prediction: &str, gold: &str) -> bool {
    match quality_letter(gold) {
        Some(g) => quality_letter(prediction) == Some(g),
        None => false,
    }
}

/// InfiniteBench's option letters.
pub const CHOICE_LETTERS: [char; 4] = ['A', 'B', 'C', 'D'];

/// InfiniteBench's `get_answer` for `longbook_choice_eng`: `[answer text, its letter]`.
/// `answer` is the option's text or a one-element list of it (whose position among the
/// options gives the letter), or already `[text, letter]`.
pub fn infinitebench_label(answer: &serde_json::Value, options: &[String]) -> Result<[String; 2], String> {
    let letter_of = |text: &str| -> Result<[String; 2], String> {
        let i =
            options.iter().position(|o| o == text).ok_or_else(|| format!("the answer {text:?} is not an option"))?;
        let l =
            CHOICE_LETTERS.get(i).ok_or_else(|| format!("the answer {text:?} is option {} (only A–D exist)", i + 1))?;
        Ok([text.to_string(), l.to_string()])
    };
    match answer {
        serde_json::Value::String(t) => letter_of(t),
        serde_json::Value::Array(a) => match a.as_slice() {
            [serde_json::Value::String(t)] => letter_of(t),
            [serde_json::Value::String(t), serde_json::Value::String(l)]
                if l.len() == 1 && l.chars().all(|c| CHOICE_LETTERS.contains(&c)) =>
            {
                Ok([t.clone(), l.clone()])
            }
            _ => Err(format!("answer is neither [text] nor [text, letter]: {answer}")),
        },
        _ => Err(format!("answer is neither a string nor a list: {answer}")),
    }
}

/// The answer prefixes InfiniteBench looks for, in its order (lower case only: its
/// search is case-sensitive, so "Answer: B" is found by the last rule instead).
const ANSWER_PREFIXES: [&str; 4] = ["answer is:", "answer:", "answer is", "option is"];

/// InfiniteBench's `get_score_one_longbook_choice_eng`, in its order of rules:
/// 1. the stripped prediction is empty: wrong;
/// 2. it starts with A, B, C or D: right when that letter is the label's (so "Based on
///    the book, C" counts as B);
/// 3. it equals the option text or the letter: right;
/// 4. with `\n " ' . , ? ! { }` turned into spaces and runs of spaces collapsed, the first
///    of the answer prefixes found decides: the text one character after it must start
///    with the option text or the letter ("the answer is: (B)" is wrong);
/// 5. else the first whitespace-separated word that is a substring of "ABCD" (so "BC"
///    too) decides; "(B)" is no such word and scores 0.
pub fn longbook_choice_correct(prediction: &str, label: &[String]) -> bool {
    let pred = py_strip(prediction);
    let Some(first) = pred.chars().next() else { return false };
    if CHOICE_LETTERS.contains(&first) {
        return label.iter().any(|l| l.chars().eq([first]));
    }
    if label.iter().any(|l| l == pred) {
        return true;
    }
    let mut pred: String = pred.chars().map(|c| if "\n\"'.,?!{}".contains(c) { ' ' } else { c }).collect();
    while pred.contains("  ") {
        pred = pred.replace("  ", " ");
    }
    for prefix in ANSWER_PREFIXES {
        let Some(idx) = pred.find(prefix) else { continue };
        // Python skips one character after the prefix (meant to be the space); nothing
        // after the prefix is a wrong answer.
        let mut rest = pred[idx + prefix.len()..].chars();
        if rest.next().is_none() {
            return false;
        }
        let after = rest.as_str();
        return label.iter().any(|l| after.starts_with(l.as_str()));
    }
    pred.split(py_is_space)
        .filter(|w| !w.is_empty())
        .find(|w| "ABCD".contains(w))
        .is_some_and(|w| label.iter().any(|l| l == w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_letters_follow_pythons_word_boundaries() {
        assert_eq!(quality_letter("(C) the lighthouse"), Some('C'));
        assert_eq!(quality_letter("Answer: D"), Some('D'));
        assert_eq!(quality_letter("B2 or _B or éB, then A"), Some('A'));
        assert_eq!(quality_letter("no capital letter here"), None);
    }

    #[test]
    fn infinitebench_rules_in_order() {
        let label = ["Walter Scott".to_string(), "B".to_string()];
        assert!(longbook_choice_correct(" B\n", &label));
        assert!(longbook_choice_correct("Based on the book, C", &label));
        assert!(!longbook_choice_correct("(B)", &label));
        assert!(longbook_choice_correct("The answer is B.", &label));
        assert!(!longbook_choice_correct("The answer is: (B)", &label));
        assert!(!longbook_choice_correct("I think BC", &label));
        assert!(longbook_choice_correct("I think it is B", &label));
    }
}
