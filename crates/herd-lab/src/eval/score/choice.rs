//! Multiple-choice letter extraction: Meta's `best answer is X` and simple-evals' `Answer: X`.
//!
//! - [`ChoiceStyle::BestAnswerIs`]: the regex `best answer is ([A-Z])`, last match, as the
//!   Llama 3 evals (LR meta_eval) parse MMLU-Pro, GPQA and the generative MMLU / ARC; lm-eval
//!   0.4.13 runs the same pattern through `RegexFilter(group_select=-1)` in
//!   `tasks/llama3/instruct/mmlu_cot`.
//! - [`ChoiceStyle::SimpleEvals`]: simple-evals GPQA, `re.search(ANSWER_PATTERN_MULTICHOICE)`,
//!   the first match of `(?i)Answer[ \t]*:[ \t]*([A-D])` (the letter as written: `a` stays `a`).
//! - [`ChoiceStyle::SimpleEvalsMultilingual`]: simple-evals MMLU (nvidia-simple-evals 26.3):
//!   `normalize_response`, then for each of `MULTILINGUAL_ANSWER_REGEXES` in order the first
//!   match of `MULTILINGUAL_ANSWER_PATTERN_TEMPLATE`, mapped by `normalize_extracted_answer`
//!   (Arabic, Bengali and full-width letters to A-D).

use super::{PY_SPACE_CLASS, compile, py_strip};
use regex::Regex;
use std::sync::LazyLock;

/// Which convention reads the chosen letter out of a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChoiceStyle {
    /// `best answer is ([A-Z])`, last match (Meta).
    BestAnswerIs,
    /// `(?i)Answer[ \t]*:[ \t]*([A-D])`, first match (simple-evals GPQA).
    SimpleEvals,
    /// simple-evals MMLU's multilingual answer words and letters.
    SimpleEvalsMultilingual,
}

/// Meta's pattern.
pub const META_BEST_ANSWER_PATTERN: &str = r"best answer is ([A-Z])";
/// simple-evals `ANSWER_PATTERN_MULTICHOICE`.
pub const SIMPLE_EVALS_ANSWER_PATTERN: &str = r"(?i)Answer[ \t]*:[ \t]*([A-D])";

/// simple-evals `MULTILINGUAL_ANSWER_PATTERN_TEMPLATE`, Python source text (`{}` takes one of
/// [`MULTILINGUAL_ANSWER_REGEXES`]).
pub const MULTILINGUAL_ANSWER_PATTERN_TEMPLATE: &str = "(?i){}\\s*([A-D]|[أ-د]|[অ]|[ব]|[ড]|[ঢ]|[Ａ]|[Ｂ]|[Ｃ]|[Ｄ]|[অআইঈউঊ]|[अ-ड]|[А-Да-д]|[Α-Δα-δ]|[א-ד]|[ㄱ-ㄷ가-다]|[①②③④]|[Ⅰ-Ⅳⅰ-ⅳ]|[٠-٣۰-۳]|[1-4a-d])";

/// simple-evals `MULTILINGUAL_ANSWER_REGEXES` (nvidia-simple-evals 26.3, with NVIDIA's
/// additions after `Àṣàyàn`), Python source text, in the order they are tried.
pub const MULTILINGUAL_ANSWER_REGEXES: [&str; 69] = [
    "Answer\\s*:",
    "Answer\\s*:\u{200b}\u{200b}\u{200b}\u{200b}\u{200b}\u{200b}",
    "উত্তর\\s*:",
    "उत्तर\\s*:",
    "উত্তরঃ",
    "উত্তর\\s*:",
    "Antwort\\s*:",
    "답변\\s*:",
    "정답\\s*:",
    "답\\s*:",
    "答案\\s*：",
    "答案\\s*:",
    "答\\s*：",
    "答\\s*:",
    "答复\\s*：",
    "答曰\\s*：",
    "الإجابة:",
    "الجواب:",
    "إجابة:",
    "الإجابة النهائية:",
    "الإجابة الصحيحة:",
    "الإجابة الصحيحة هي:",
    "الإجابة هي:",
    "Respuesta\\s*:",
    "Risposta\\s*:",
    "答え\\s*:",
    "答え\\s*：",
    "回答\\s*:",
    "回答\\s*：",
    "解答\\s*:",
    "Jawaban\\s*:",
    "Réponse\\s*:",
    "Resposta\\s*:",
    "Jibu\\s*:",
    "Idahun\\s*:",
    "Ìdáhùn\\s*:",
    "Idáhùn\\s*:",
    "Àmọ̀nà\\s*:",
    "Àdáhùn\\s*:",
    "Ànúgọ\\s*:",
    "Àṣàyàn\\s*:",
    "መልስ\\s*:",
    "উঃ\\s*:",
    "Odpověď\\s*:",
    "Απάντηση\\s*:",
    "پاسخ\\s*:",
    "جواب\\s*:",
    "Sagot\\s*:",
    "Amsa\\s*:",
    "תשובה\\s*:",
    "Azịza\\s*:",
    "Жооп\\s*:",
    "Atsakymas\\s*:",
    "Valiny\\s*:",
    "Jawapan\\s*:",
    "Antwoord\\s*:",
    "Yankho\\s*:",
    "Odpowiedź\\s*:",
    "Răspuns\\s*:",
    "Ответ\\s*:",
    "පිළිතුර\\s*:",
    "Mhinduro\\s*:",
    "Jawaab\\s*:",
    "Odgovor\\s*:",
    "Svar\\s*:",
    "సమాధానం\\s*:",
    "Cevap\\s*:",
    "Відповідь\\s*:",
    "Câu trả lời\\s*:",
];

/// The letter `output` chooses under `style`, `None` when the style's pattern finds nothing.
pub fn choice_letter(output: &str, style: ChoiceStyle) -> Option<char> {
    match style {
        ChoiceStyle::BestAnswerIs => meta_best_answer(output),
        ChoiceStyle::SimpleEvals => simple_evals_answer(output),
        ChoiceStyle::SimpleEvalsMultilingual => simple_evals_multilingual(output),
    }
}

/// Meta: the last `best answer is X` (case-sensitive, as the regex).
fn meta_best_answer(output: &str) -> Option<char> {
    static RE: LazyLock<Regex> = LazyLock::new(|| compile(META_BEST_ANSWER_PATTERN));
    let caps = RE.captures_iter(output).last()?;
    caps.get(1)?.as_str().chars().next()
}

/// simple-evals GPQA: the first `Answer: X`.
fn simple_evals_answer(output: &str) -> Option<char> {
    static RE: LazyLock<Regex> = LazyLock::new(|| compile(SIMPLE_EVALS_ANSWER_PATTERN));
    RE.captures(output)?.get(1)?.as_str().chars().next()
}

/// simple-evals MMLU: the first answer word (in list order, not text order) that matches.
fn simple_evals_multilingual(output: &str) -> Option<char> {
    static RES: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        MULTILINGUAL_ANSWER_REGEXES
            .iter()
            .map(|word| compile(&python_to_rust(&MULTILINGUAL_ANSWER_PATTERN_TEMPLATE.replacen("{}", word, 1))))
            .collect()
    });
    let text = normalize_response(output);
    let letter = RES.iter().find_map(|re| re.captures(&text))?.get(1)?.as_str().to_string();
    normalize_extracted_answer(&letter).chars().next()
}

/// These patterns' only construct that Rust reads differently is `\s` (see [`PY_SPACE_CLASS`]).
fn python_to_rust(pattern: &str) -> String {
    pattern.replace(r"\s", PY_SPACE_CLASS)
}

/// simple-evals `normalize_response`: markdown bold and LaTeX wrappers removed, in this order.
fn normalize_response(response: &str) -> String {
    const REMOVE: [&str; 13] = [
        "**",
        "$\\boxed{",
        "}$",
        "\\$",
        "$\\text{",
        "$",
        "\\mathrm{",
        "\\{",
        "\\text",
        "\\(",
        "\\mathbf{",
        "{",
        "\\boxed",
    ];
    REMOVE.iter().fold(response.to_string(), |s, r| s.replace(r, ""))
}

/// simple-evals `normalize_extracted_answer`: Arabic, Bengali and full-width letters to
/// " A".." D", then `.strip()`.
fn normalize_extracted_answer(answer: &str) -> String {
    const MAP: [(&str, &str); 12] = [
        ("أ", " A"),
        ("ب", " B"),
        ("ج", " C"),
        ("د", " D"),
        ("অ", " A"),
        ("ব", " B"),
        ("ড", " C"),
        ("ঢ", " D"),
        ("Ａ", " A"),
        ("Ｂ", " B"),
        ("Ｃ", " C"),
        ("Ｄ", " D"),
    ];
    let s = MAP.iter().fold(answer.to_string(), |s, (from, to)| s.replace(from, to));
    py_strip(&s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_styles() {
        let out = "The best answer is A. Hmm, no: the best answer is C.\nAnswer: b";
        assert_eq!(choice_letter(out, ChoiceStyle::BestAnswerIs), Some('C'));
        assert_eq!(choice_letter(out, ChoiceStyle::SimpleEvals), Some('b'));
        assert_eq!(choice_letter("**Answer:** B", ChoiceStyle::SimpleEvalsMultilingual), Some('B'));
        assert_eq!(choice_letter("উত্তর: ব", ChoiceStyle::SimpleEvalsMultilingual), Some('B'));
        assert_eq!(choice_letter("no letter", ChoiceStyle::SimpleEvals), None);
    }
}
