//! IFEval's 25 verifiable instructions, as lm-evaluation-harness 0.4.13 checks them
//! (`lm_eval/tasks/ifeval/instructions.py`, `instructions_util.py`, `utils.py`, which
//! vendor Google's `instruction_following_eval` with lm-eval's own fixes: bold `**x**`
//! counts as a highlight, the nltk Punkt tables are `punkt_tab`).
//!
//! An instruction is built from its id and the dataset's `kwargs` object for it, then
//! checked against a response:
//!
//! * **strict**: the response as it is;
//! * **loose**: any of 8 variants passes (the response, without its first line, without
//!   its last line, without both, and each of those with every `*` deleted).
//!
//! A variant (or the strict response) that is empty after Python's `str.strip()` fails
//! every instruction, as in lm-eval's `test_instruction_following_*`.
//!
//! Where the reference draws a random value for a missing or out-of-range argument
//! (`build_description` picks a random keyword, count or relation), no verdict is
//! reproducible: herd refuses such kwargs with an error, and [`evaluate`] counts the
//! instruction as not followed.
//!
//! Patterns the dataset supplies (keywords, section and postscript markers) are Python
//! regular expressions in the reference; they are compiled with the `regex` crate, which
//! agrees on the plain words and markers IFEval uses. Python `\s`, `\w`, `str.strip()`,
//! `str.isupper()`/`islower()` and `str.lower()` are reproduced where the reference uses
//! them (see the helpers in [`super`]).
//!
//! Three checkers need statistical models, herd's ports of the reference's: sentence
//! counting and nltk's `word_tokenize` use Punkt English ([`super::punkt`]), and
//! `response_language`, `english_capital` and `english_lowercase` use langdetect seeded
//! with 0 ([`super::langdetect`]; lm-eval leaves it unseeded). Their data is fetched from
//! PyPI on first use; where it cannot be loaded, the check is an error, not a verdict.

mod pyjson;
mod words;

use super::{PY_SPACE_CLASS, PY_WORD_CLASS, compile, langdetect, punkt, py_is_space, py_is_word, py_strip};
use crate::LabError;
use regex::{Regex, RegexBuilder};
use serde_json::Value;
use std::sync::LazyLock;

pub use words::word_tokenize;

/// The comparison of a counting instruction (`relation`, `let_relation`,
/// `capital_relation`): "less than" is `<`, "at least" is `>=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    LessThan,
    AtLeast,
}

impl Relation {
    fn parse(s: &str) -> Result<Self, LabError> {
        match s {
            "less than" => Ok(Relation::LessThan),
            "at least" => Ok(Relation::AtLeast),
            _ => {
                Err(LabError::Invalid(format!("IFEval: the relation must be \"less than\" or \"at least\", not {s:?}")))
            }
        }
    }
    fn holds(self, count: usize, threshold: i64) -> bool {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        match self {
            Relation::LessThan => count < threshold,
            Relation::AtLeast => count >= threshold,
        }
    }
}

/// One built instruction: its checker and the arguments it was given.
#[derive(Debug, Clone)]
pub enum Instruction {
    /// `keywords:existence`: every keyword (a pattern) occurs, case-insensitively.
    KeywordExistence(Vec<Regex>),
    /// `keywords:frequency`: the keyword (a pattern) occurs `relation` `frequency` times.
    KeywordFrequency { keyword: Regex, frequency: i64, relation: Relation },
    /// `keywords:forbidden_words`: none occurs as a whole word, case-insensitively.
    ForbiddenWords(Vec<Regex>),
    /// `keywords:letter_frequency`: the letter (lowercased text) `relation` `frequency` times.
    LetterFrequency { letter: char, frequency: i64, relation: Relation },
    /// `language:response_language`: langdetect's code for the response.
    ResponseLanguage(String),
    /// `length_constraints:number_sentences` (nltk Punkt English).
    NumberSentences { num: i64, relation: Relation },
    /// `length_constraints:number_paragraphs`: paragraphs divided by `***`.
    NumberParagraphs(i64),
    /// `length_constraints:number_words`: runs of Python `\w`.
    NumberWords { num: i64, relation: Relation },
    /// `length_constraints:nth_paragraph_first_word`: paragraphs divided by blank lines.
    NthParagraphFirstWord { num_paragraphs: i64, nth: i64, first_word: String },
    /// `detectable_content:number_placeholders`: `[...]` on one line, at least this many.
    NumberPlaceholders(i64),
    /// `detectable_content:postscript`: the marker's pattern (lowercased).
    Postscript(Regex),
    /// `detectable_format:number_bullet_lists`: exactly this many `*` / `-` lines.
    NumberBulletLists(i64),
    /// `detectable_format:constrained_response`: "My answer is yes./no./maybe.".
    ConstrainedResponse,
    /// `detectable_format:number_highlighted_sections`: `*x*` or `**x**`, at least this many.
    NumberHighlightedSections(i64),
    /// `detectable_format:multiple_sections`: the splitter pattern then a number.
    MultipleSections { splitter: Regex, num: i64 },
    /// `detectable_format:json_format`: the whole response (fences removed) is JSON.
    JsonFormat,
    /// `detectable_format:title`: a `<<title>>`.
    Title,
    /// `combination:two_responses`: two different responses around `******`.
    TwoResponses,
    /// `combination:repeat_prompt`: the response starts with the request.
    RepeatPrompt(String),
    /// `startend:end_checker`: the response ends with the phrase.
    EndChecker(String),
    /// `change_case:capital_word_frequency`: nltk words in capitals.
    CapitalWordFrequency { frequency: i64, relation: Relation },
    /// `change_case:english_capital`: all capitals, and langdetect says "en".
    EnglishCapital,
    /// `change_case:english_lowercase`: all lowercase, and langdetect says "en".
    EnglishLowercase,
    /// `punctuation:no_comma`.
    NoComma,
    /// `startend:quotation`: wrapped in double quotes.
    Quotation,
}

/// The 25 instruction ids lm-eval's `INSTRUCTION_DICT` registers.
pub const INSTRUCTION_IDS: [&str; 25] = [
    "keywords:existence",
    "keywords:frequency",
    "keywords:forbidden_words",
    "keywords:letter_frequency",
    "language:response_language",
    "length_constraints:number_sentences",
    "length_constraints:number_paragraphs",
    "length_constraints:number_words",
    "length_constraints:nth_paragraph_first_word",
    "detectable_content:number_placeholders",
    "detectable_content:postscript",
    "detectable_format:number_bullet_lists",
    "detectable_format:constrained_response",
    "detectable_format:number_highlighted_sections",
    "detectable_format:multiple_sections",
    "detectable_format:json_format",
    "detectable_format:title",
    "combination:two_responses",
    "combination:repeat_prompt",
    "startend:end_checker",
    "change_case:capital_word_frequency",
    "change_case:english_capital",
    "change_case:english_lowercase",
    "punctuation:no_comma",
    "startend:quotation",
];

/// The ISO 639-1 codes IFEval's `LANGUAGE_CODES` allows for `response_language`.
const LANGUAGE_CODES: [&str; 30] = [
    "en", "es", "pt", "ar", "hi", "fr", "ru", "de", "ja", "it", "bn", "uk", "th", "ur", "ta", "te", "bg", "ko", "pl",
    "he", "fa", "vi", "ne", "sw", "kn", "mr", "gu", "pa", "ml", "fi",
];

fn invalid(id: &str, msg: impl std::fmt::Display) -> LabError {
    LabError::Invalid(format!("IFEval {id}: {msg}"))
}

/// The kwargs as the reference passes them: `{k: v for k, v in kwargs.items() if v}`, so
/// null, 0, false, "" and empty lists count as absent.
struct Kwargs<'a> {
    id: &'a str,
    map: Option<&'a serde_json::Map<String, Value>>,
}

impl<'a> Kwargs<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        let v = self.map?.get(name)?;
        let truthy = match v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
        };
        truthy.then_some(v)
    }
    fn str(&self, name: &str) -> Result<&'a str, LabError> {
        match self.get(name) {
            Some(Value::String(s)) => Ok(s),
            Some(v) => Err(invalid(self.id, format!("{name} is not a string: {v}"))),
            None => Err(invalid(self.id, format!("{name} is missing (the reference would draw a random one)"))),
        }
    }
    /// A count; the reference draws a random one for a missing or negative value.
    fn count(&self, name: &str) -> Result<i64, LabError> {
        let v = self
            .get(name)
            .ok_or_else(|| invalid(self.id, format!("{name} is missing (the reference would draw a random one)")))?;
        let n = v
            .as_i64()
            .or_else(|| v.as_f64().filter(|x| x.fract() == 0.0 && x.abs() < 9e15).map(|x| x as i64))
            .ok_or_else(|| invalid(self.id, format!("{name} is not an integer: {v}")))?;
        if n < 0 {
            return Err(invalid(self.id, format!("{name} is negative (the reference would draw a random one)")));
        }
        Ok(n)
    }
    fn relation(&self, name: &str) -> Result<Relation, LabError> {
        Relation::parse(self.str(name)?)
    }
    fn strs(&self, name: &str) -> Result<Vec<&'a str>, LabError> {
        match self.get(name) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().ok_or_else(|| invalid(self.id, format!("{name} holds a non-string: {x}"))))
                .collect(),
            Some(v) => Err(invalid(self.id, format!("{name} is not a list: {v}"))),
            None => Err(invalid(self.id, format!("{name} is missing (the reference would draw random words)"))),
        }
    }
}

/// A dataset pattern, case-insensitive as `re.IGNORECASE`.
fn pattern(id: &str, p: &str, ignore_case: bool) -> Result<Regex, LabError> {
    RegexBuilder::new(p)
        .case_insensitive(ignore_case)
        .build()
        .map_err(|e| invalid(id, format!("pattern {p:?} is not supported: {e}")))
}

impl Instruction {
    /// Builds an instruction from its id and its kwargs object (the dataset's entry, with
    /// null for the fields it does not use).
    pub fn new(id: &str, kwargs: &Value) -> Result<Self, LabError> {
        let kw = Kwargs { id, map: kwargs.as_object() };
        if !(kwargs.is_object() || kwargs.is_null()) {
            return Err(invalid(id, format!("kwargs is not an object: {kwargs}")));
        }
        Ok(match id {
            "keywords:existence" => Instruction::KeywordExistence(
                kw.strs("keywords")?.into_iter().map(|k| pattern(id, k, true)).collect::<Result<_, _>>()?,
            ),
            "keywords:frequency" => Instruction::KeywordFrequency {
                // `keyword.strip()`, then used as a pattern.
                keyword: pattern(id, py_strip(kw.str("keyword")?), true)?,
                frequency: kw.count("frequency")?,
                relation: kw.relation("relation")?,
            },
            "keywords:forbidden_words" => Instruction::ForbiddenWords(
                kw.strs("forbidden_words")?.into_iter().map(|w| pattern(id, w, true)).collect::<Result<_, _>>()?,
            ),
            "keywords:letter_frequency" => {
                let letter = kw.str("letter")?;
                let mut chars = letter.chars();
                let (Some(c), None) = (chars.next(), chars.next()) else {
                    return Err(invalid(id, format!("letter {letter:?} is not one character")));
                };
                // The reference accepts a letter whose lowercase is a..z.
                let lower: String = c.to_lowercase().collect();
                let l = match lower.as_str() {
                    s if s.len() == 1 && s.as_bytes()[0].is_ascii_lowercase() => char::from(s.as_bytes()[0]),
                    _ => return Err(invalid(id, format!("letter {letter:?} is not an ASCII letter"))),
                };
                Instruction::LetterFrequency {
                    letter: l,
                    frequency: kw.count("let_frequency")?,
                    relation: kw.relation("let_relation")?,
                }
            }
            "language:response_language" => {
                let lang = kw.str("language")?;
                if !LANGUAGE_CODES.contains(&lang) {
                    return Err(invalid(id, format!("language {lang:?} is not one of IFEval's codes")));
                }
                Instruction::ResponseLanguage(lang.to_string())
            }
            "length_constraints:number_sentences" => {
                Instruction::NumberSentences { num: kw.count("num_sentences")?, relation: kw.relation("relation")? }
            }
            "length_constraints:number_paragraphs" => Instruction::NumberParagraphs(kw.count("num_paragraphs")?),
            "length_constraints:number_words" => {
                Instruction::NumberWords { num: kw.count("num_words")?, relation: kw.relation("relation")? }
            }
            "length_constraints:nth_paragraph_first_word" => {
                let num_paragraphs = kw.count("num_paragraphs")?;
                let nth = kw.count("nth_paragraph")?;
                if nth > num_paragraphs {
                    return Err(invalid(id, "nth_paragraph is past num_paragraphs (the reference would draw one)"));
                }
                // Lowercased with Python's `str.lower()`, as the reference does.
                let first_word = kw.str("first_word")?.to_lowercase();
                Instruction::NthParagraphFirstWord { num_paragraphs, nth, first_word }
            }
            "detectable_content:number_placeholders" => Instruction::NumberPlaceholders(kw.count("num_placeholders")?),
            "detectable_content:postscript" => {
                let marker = py_strip(kw.str("postscript_marker")?);
                // The two usual markers have their own patterns (spaces allowed between
                // the letters); any other is used as a pattern on the lowercased text.
                let p = match marker {
                    "P.P.S" => format!(r"p\.{PY_SPACE_CLASS}?p\.{PY_SPACE_CLASS}?s"),
                    "P.S." => format!(r"p\.{PY_SPACE_CLASS}?s\."),
                    m => m.to_lowercase(),
                };
                Instruction::Postscript(pattern(id, &p, false)?)
            }
            "detectable_format:number_bullet_lists" => Instruction::NumberBulletLists(kw.count("num_bullets")?),
            "detectable_format:constrained_response" => Instruction::ConstrainedResponse,
            "detectable_format:number_highlighted_sections" => {
                Instruction::NumberHighlightedSections(kw.count("num_highlights")?)
            }
            "detectable_format:multiple_sections" => {
                let splitter = py_strip(kw.str("section_spliter")?);
                // Pasted into the pattern unescaped and ungrouped, as the reference does.
                let p = format!(r"{PY_SPACE_CLASS}?{splitter}{PY_SPACE_CLASS}?\d+{PY_SPACE_CLASS}?");
                Instruction::MultipleSections { splitter: pattern(id, &p, false)?, num: kw.count("num_sections")? }
            }
            "detectable_format:json_format" => Instruction::JsonFormat,
            "detectable_format:title" => Instruction::Title,
            "combination:two_responses" => Instruction::TwoResponses,
            "combination:repeat_prompt" => Instruction::RepeatPrompt(kw.str("prompt_to_repeat")?.to_string()),
            "startend:end_checker" => Instruction::EndChecker(py_strip(kw.str("end_phrase")?).to_string()),
            "change_case:capital_word_frequency" => Instruction::CapitalWordFrequency {
                frequency: kw.count("capital_frequency")?,
                relation: kw.relation("capital_relation")?,
            },
            "change_case:english_capital" => Instruction::EnglishCapital,
            "change_case:english_lowercase" => Instruction::EnglishLowercase,
            "punctuation:no_comma" => Instruction::NoComma,
            "startend:quotation" => Instruction::Quotation,
            _ => return Err(invalid(id, "unknown instruction id")),
        })
    }

    /// Whether `response` follows the instruction (the reference's `check_following`).
    /// Errors only where a statistical model (Punkt, langdetect) cannot be loaded.
    pub fn check(&self, response: &str) -> Result<bool, LabError> {
        static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| compile(r"\[.*?\]"));
        static BULLET_STAR: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"(?m)^{PY_SPACE_CLASS}*\*[^*].*$")));
        static BULLET_DASH: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"(?m)^{PY_SPACE_CLASS}*-.*$")));
        static HIGHLIGHT: LazyLock<Regex> = LazyLock::new(|| compile(r"\*[^\n*]*\*"));
        static BOLD: LazyLock<Regex> = LazyLock::new(|| compile(r"\*\*[^\n*]*\*\*"));
        static DIVIDER: LazyLock<Regex> =
            LazyLock::new(|| compile(&format!(r"{PY_SPACE_CLASS}?\*\*\*{PY_SPACE_CLASS}?")));
        static TITLE: LazyLock<Regex> = LazyLock::new(|| compile(r"<<[^\n]+>>"));
        static WORD: LazyLock<Regex> = LazyLock::new(|| compile(&format!("{PY_WORD_CLASS}+")));
        const CONSTRAINED: [&str; 3] = ["My answer is yes.", "My answer is no.", "My answer is maybe."];

        Ok(match self {
            Instruction::KeywordExistence(kws) => kws.iter().all(|k| k.is_match(response)),
            Instruction::KeywordFrequency { keyword, frequency, relation } => {
                relation.holds(keyword.find_iter(response).count(), *frequency)
            }
            Instruction::ForbiddenWords(words) => !words.iter().any(|w| whole_word_match(w, response)),
            Instruction::LetterFrequency { letter, frequency, relation } => {
                // `collections.Counter(value.lower())[letter]`.
                let n = response.chars().flat_map(char::to_lowercase).filter(|c| c == letter).count();
                relation.holds(n, *frequency)
            }
            Instruction::ResponseLanguage(lang) => {
                // langdetect's exception counts as followed.
                langdetect::detect(response)?.is_none_or(|l| &l == lang)
            }
            Instruction::NumberSentences { num, relation } => relation.holds(punkt::count_sentences(response)?, *num),
            Instruction::NumberParagraphs(want) => {
                let parts: Vec<&str> = DIVIDER.split(response).collect();
                let mut n = parts.len() as i64;
                for (i, p) in parts.iter().enumerate() {
                    if py_strip(p).is_empty() {
                        // An empty first or last part is not a paragraph; an empty one
                        // between dividers fails the instruction.
                        if i == 0 || i == parts.len() - 1 {
                            n -= 1;
                        } else {
                            return Ok(false);
                        }
                    }
                }
                n == *want
            }
            Instruction::NumberWords { num, relation } => relation.holds(WORD.find_iter(response).count(), *num),
            Instruction::NthParagraphFirstWord { num_paragraphs, nth, first_word } => {
                nth_paragraph_first_word(response, *num_paragraphs, *nth, first_word)
            }
            Instruction::NumberPlaceholders(n) => PLACEHOLDER.find_iter(response).count() as i64 >= *n,
            Instruction::Postscript(p) => p.is_match(&response.to_lowercase()),
            Instruction::NumberBulletLists(n) => {
                (BULLET_STAR.find_iter(response).count() + BULLET_DASH.find_iter(response).count()) as i64 == *n
            }
            Instruction::ConstrainedResponse => {
                let v = py_strip(response);
                CONSTRAINED.iter().any(|c| v.contains(c))
            }
            Instruction::NumberHighlightedSections(n) => {
                let single =
                    HIGHLIGHT.find_iter(response).filter(|m| !py_strip(m.as_str().trim_matches('*')).is_empty());
                let double = BOLD.find_iter(response).filter(|m| {
                    let s = m.as_str();
                    !py_strip(&s[2..s.len() - 2]).is_empty()
                });
                (single.count() + double.count()) as i64 >= *n
            }
            Instruction::MultipleSections { splitter, num } => splitter.find_iter(response).count() as i64 >= *num,
            Instruction::JsonFormat => {
                let mut v = py_strip(response);
                for prefix in ["```json", "```Json", "```JSON", "```"] {
                    v = v.strip_prefix(prefix).unwrap_or(v);
                }
                v = v.strip_suffix("```").unwrap_or(v);
                pyjson::loads_ok(py_strip(v))
            }
            Instruction::Title => TITLE
                .find_iter(response)
                .any(|m| !py_strip(m.as_str().trim_start_matches('<').trim_end_matches('>')).is_empty()),
            Instruction::TwoResponses => two_responses(response),
            Instruction::RepeatPrompt(prompt) => {
                py_strip(response).to_lowercase().starts_with(&py_strip(prompt).to_lowercase())
            }
            Instruction::EndChecker(phrase) => {
                py_strip(response).trim_matches('"').to_lowercase().ends_with(&py_strip(phrase).to_lowercase())
            }
            Instruction::CapitalWordFrequency { frequency, relation } => {
                // nltk's word_tokenize: Punkt sentences, each tokenized.
                let mut n = 0;
                for sentence in punkt::split_sentences(response)? {
                    n += word_tokenize(&sentence).iter().filter(|w| py_isupper(w)).count();
                }
                relation.holds(n, *frequency)
            }
            // `isupper() and detect(...) == "en"`: langdetect runs only on cased text, and
            // its exception counts as followed.
            Instruction::EnglishCapital => {
                py_isupper(response) && langdetect::detect(response)?.is_none_or(|l| l == "en")
            }
            Instruction::EnglishLowercase => {
                py_islower(response) && langdetect::detect(response)?.is_none_or(|l| l == "en")
            }
            Instruction::NoComma => !response.contains(','),
            Instruction::Quotation => {
                let v = py_strip(response);
                v.chars().count() > 1 && v.starts_with('"') && v.ends_with('"')
            }
        })
    }
}

/// `re.search(r"\b" + word + r"\b", value, re.IGNORECASE)` with Python's `\b` (a change
/// between `str.isalnum()`-or-`_` and anything else): every match of the word at every
/// start is tried, as Python's backtracking search would.
fn whole_word_match(word: &Regex, text: &str) -> bool {
    let boundary = |at: usize| {
        let before = text[..at].chars().next_back().is_some_and(py_is_word);
        let after = text[at..].chars().next().is_some_and(py_is_word);
        before != after
    };
    let mut from = 0;
    while from <= text.len() {
        let Some(m) = word.find_at(text, from) else { return false };
        if boundary(m.start()) && boundary(m.end()) {
            return true;
        }
        // Try the next start: the next character after this match's start.
        from = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

fn nth_paragraph_first_word(response: &str, num_paragraphs: i64, nth: i64, first_word: &str) -> bool {
    let paragraphs: Vec<&str> = response.split("\n\n").collect();
    let n = paragraphs.iter().filter(|p| !py_strip(p).is_empty()).count() as i64;
    // The reference counts only the non-empty paragraphs but then indexes the list that
    // still holds the empty ones (google-research PR #3428 names this bug); kept.
    if nth > n || nth < 1 {
        return false;
    }
    let Some(p) = paragraphs.get(nth as usize - 1).map(|p| py_strip(p)) else { return false };
    let Some(word) = p.split(py_is_space).find(|w| !w.is_empty()) else { return false };
    // `word.lstrip("'").lstrip('"')`, then letters up to the first of . , ? ! ' ".
    let word = word.trim_start_matches('\'').trim_start_matches('"');
    let got: String = word
        .chars()
        .take_while(|c| !matches!(c, '.' | ',' | '?' | '!' | '\'' | '"'))
        .flat_map(char::to_lowercase)
        .collect();
    n == num_paragraphs && got == first_word
}

fn two_responses(response: &str) -> bool {
    let parts: Vec<&str> = response.split("******").collect();
    let mut valid = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if py_strip(p).is_empty() {
            if i != 0 && i != parts.len() - 1 {
                return false;
            }
        } else {
            valid.push(*p);
        }
    }
    valid.len() == 2 && py_strip(valid[0]) != py_strip(valid[1])
}

/// Unicode category Lt (titlecase letters such as `ǅ`), which Python's `isupper` and
/// `islower` treat as neither upper nor lower but as spoiling both.
fn is_title(c: char) -> bool {
    static LT: LazyLock<Regex> = LazyLock::new(|| compile(r"^\p{Lt}$"));
    let mut buf = [0u8; 4];
    LT.is_match(c.encode_utf8(&mut buf))
}

/// Python's `str.isupper()`: some character has the Uppercase property, none has
/// Lowercase or is titlecase.
pub fn py_isupper(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() || is_title(c) {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

/// Python's `str.islower()`: some character has the Lowercase property, none has
/// Uppercase or is titlecase.
pub fn py_islower(s: &str) -> bool {
    let mut cased = false;
    for c in s.chars() {
        if c.is_uppercase() || is_title(c) {
            return false;
        }
        cased |= c.is_lowercase();
    }
    cased
}

/// The 8 responses the loose check tries, in the reference's order: the response, it
/// with `*` deleted, without its first line, without its last line, without both (each
/// of the last three `str.strip()`ped), and those three with `*` deleted.
pub fn loose_variants(response: &str) -> [String; 8] {
    let lines: Vec<&str> = response.split('\n').collect();
    let join = |ls: &[&str]| py_strip(&ls.join("\n")).to_string();
    let first = join(lines.get(1..).unwrap_or_default());
    let last = join(&lines[..lines.len().saturating_sub(1)]);
    let both = join(if lines.len() >= 2 { &lines[1..lines.len() - 1] } else { &[] });
    let unstar = |s: &str| s.replace('*', "");
    [
        response.to_string(),
        unstar(response),
        first.clone(),
        last.clone(),
        both.clone(),
        unstar(&first),
        unstar(&last),
        unstar(&both),
    ]
}

/// The strict check: a response empty after `str.strip()` follows nothing.
pub fn follows_strict(inst: &Instruction, response: &str) -> Result<bool, LabError> {
    Ok(!py_strip(response).is_empty() && inst.check(response)?)
}

/// The loose check: any nonempty variant of [`loose_variants`] follows (tried in order,
/// stopping at the first that does, as the reference).
pub fn follows_loose(inst: &Instruction, response: &str) -> Result<bool, LabError> {
    for r in loose_variants(response) {
        if follows_strict(inst, &r)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The verdicts on one prompt's instructions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdicts {
    pub strict: Vec<bool>,
    pub loose: Vec<bool>,
    /// Instructions whose kwargs could not be built (counted as not followed), with why.
    pub errors: Vec<String>,
}

/// Checks a response against a prompt's instructions (`instruction_id_list` and the
/// `kwargs` list, paired by position). An instruction that cannot be built, or whose model
/// (Punkt, langdetect) cannot be loaded, fails both checks and is named in `errors`.
pub fn evaluate(ids: &[&str], kwargs: &[Value], response: &str) -> Verdicts {
    let mut v = Verdicts::default();
    for (i, id) in ids.iter().enumerate() {
        let checked = Instruction::new(id, kwargs.get(i).unwrap_or(&Value::Null))
            .and_then(|inst| Ok((follows_strict(&inst, response)?, follows_loose(&inst, response)?)));
        match checked {
            Ok((strict, loose)) => {
                v.strict.push(strict);
                v.loose.push(loose);
            }
            Err(e) => {
                v.strict.push(false);
                v.loose.push(false);
                v.errors.push(e.to_string());
            }
        }
    }
    v
}

/// IFEval's four accuracies over prompts, as lm-eval aggregates them: the prompt-level
/// ones are means over prompts (all instructions followed), the instruction-level ones
/// are over all instructions of all prompts (`agg_inst_level_acc`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    pub prompt_level_strict_acc: f64,
    pub inst_level_strict_acc: f64,
    pub prompt_level_loose_acc: f64,
    pub inst_level_loose_acc: f64,
}

impl Metrics {
    pub fn of<'a>(prompts: impl IntoIterator<Item = &'a Verdicts>) -> Self {
        let (mut n, mut ps, mut pl, mut ni, mut is, mut il) = (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
        for v in prompts {
            n += 1;
            ps += usize::from(v.strict.iter().all(|&b| b));
            pl += usize::from(v.loose.iter().all(|&b| b));
            ni += v.strict.len();
            is += v.strict.iter().filter(|&&b| b).count();
            il += v.loose.iter().filter(|&&b| b).count();
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        Metrics {
            prompt_level_strict_acc: ratio(ps, n),
            inst_level_strict_acc: ratio(is, ni),
            prompt_level_loose_acc: ratio(pl, n),
            inst_level_loose_acc: ratio(il, ni),
        }
    }

    /// The number Llama 3.1 reports: the mean of the four.
    pub fn mean(&self) -> f64 {
        (self.prompt_level_strict_acc
            + self.inst_level_strict_acc
            + self.prompt_level_loose_acc
            + self.inst_level_loose_acc)
            / 4.0
    }
}
