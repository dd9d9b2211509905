//! nltk's `word_tokenize` (nltk 3.9+: `NLTKWordTokenizer`, the improved Treebank
//! tokenizer), which IFEval's `capital_word_frequency` counts words with.
//!
//! The rules are applied in nltk's order, each a substitution over the whole text
//! (Python `re.sub`: leftmost, non-overlapping), then the text is split on whitespace.
//! Rules with look-around, which the `regex` crate lacks, are done by hand.
//!
//! nltk first splits the text into sentences with Punkt and tokenizes each; this is the
//! per-sentence part (`NLTKWordTokenizer.tokenize`), the caller splits.

use super::super::{PY_SPACE_CLASS, compile, py_is_space, py_is_word};
use regex::Regex;
use std::sync::LazyLock;

struct Rule(Regex, &'static str);

fn rules(list: &[(&str, &'static str)]) -> Vec<Rule> {
    list.iter().map(|(p, r)| Rule(compile(&p.replace("\\s", PY_SPACE_CLASS)), r)).collect()
}

fn apply(text: String, rules: &[Rule]) -> String {
    rules.iter().fold(text, |t, Rule(re, rep)| re.replace_all(&t, *rep).into_owned())
}

/// nltk's `STARTING_QUOTES`, less the look-around rule ([`split_opening_apostrophes`]).
static STARTING_QUOTES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    rules(&[
        ("([«“‘„]|[`]+)", " $1 "),
        // Python's `^` without MULTILINE: the start of the text.
        (r#"\A""#, "``"),
        ("(``)", " $1 "),
        (r#"([ (\[{<])("|'{2})"#, "$1 `` "),
    ])
});

/// nltk's `PUNCTUATION`, then the brackets and double dashes. Python's `$` without
/// MULTILINE also matches before a final newline; where the pattern ends in `\s*$` the
/// greedy `\s*` has taken that newline, and `([:,])$` keeps it as its own group.
static PUNCTUATION: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    rules(&[
        (r#"([^.])(\.)([\])}>"'»”’ ]*)\s*\z"#, "$1 $2 $3 "),
        (r"([:,])([^\d])", " $1 $2"),
        ("([:,])(\n?)\\z", " $1 $2"),
        (r"\.{2,}", " $0 "),
        (r"[;@#$%&]", " $0 "),
        ("[\u{2012}-\u{2015}]", " $0 "),
        (r#"([^.])(\.)([\])}>"']*)\s*\z"#, "$1 $2$3 "),
        (r"[?!]", " $0 "),
        (r"([^'])' ", "$1 ' "),
        (r"[*]", " $0 "),
        (r"[\]\[(){}<>]", " $0 "),
        ("--", " -- "),
    ])
});

/// nltk's `ENDING_QUOTES` (applied after the text is padded with a space each side).
static ENDING_QUOTES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    rules(&[
        ("([»”’])", " $1 "),
        ("''", " '' "),
        ("\"", " '' "),
        (r"\s+", " "),
        ("([^' ])('[sS]|'[mM]|'[dD]|') ", "$1 $2 "),
        ("([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", "$1 $2 "),
    ])
});

/// nltk's `CONTRACTIONS2` and `CONTRACTIONS3` (MacIntyre's), less `wanna`
/// ([`split_wanna`]). `\b` is the `regex` crate's Unicode one here.
static CONTRACTIONS: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    rules(&[
        (r"(?i)\b(can)(not)\b", " $1 $2 "),
        (r"(?i)\b(d)('ye)\b", " $1 $2 "),
        (r"(?i)\b(gim)(me)\b", " $1 $2 "),
        (r"(?i)\b(gon)(na)\b", " $1 $2 "),
        (r"(?i)\b(got)(ta)\b", " $1 $2 "),
        (r"(?i)\b(lem)(me)\b", " $1 $2 "),
        (r"(?i)\b(more)('n)\b", " $1 $2 "),
    ])
});
static CONTRACTIONS3: LazyLock<Vec<Rule>> =
    LazyLock::new(|| rules(&[(r"(?i) ('t)(is)\b", " $1 $2 "), (r"(?i) ('t)(was)\b", " $1 $2 ")]));

/// nltk's `(?i)(?<!\w)(\')(?!(?:re|ve|ll|m|t|s|d|n)\b)(?=\w)` → `"\1 "`: an apostrophe
/// that opens a word (not after a word character, before one) is split off, unless a
/// contraction ending follows it.
fn split_opening_apostrophes(text: &str) -> String {
    const ENDINGS: [&str; 8] = ["re", "ve", "ll", "m", "t", "s", "d", "n"];
    let mut out = String::with_capacity(text.len());
    let mut prev: Option<char> = None;
    for (i, c) in text.char_indices() {
        out.push(c);
        if c == '\'' && !prev.is_some_and(py_is_word) {
            let rest = &text[i + 1..];
            let next_is_word = rest.chars().next().is_some_and(py_is_word);
            let contraction = ENDINGS.iter().any(|e| {
                rest.get(..e.len()).is_some_and(|h| h.eq_ignore_ascii_case(e))
                    && !rest[e.len()..].chars().next().is_some_and(py_is_word)
            });
            if next_is_word && !contraction {
                out.push(' ');
            }
        }
        prev = Some(c);
    }
    out
}

/// nltk's `(?i)\b(wan)(na)(?=\s)` → `" \1 \2 "`.
fn split_wanna(text: &str) -> String {
    static WANNA: LazyLock<Regex> = LazyLock::new(|| compile(r"(?i)\b(wan)(na)"));
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for c in WANNA.captures_iter(text) {
        let (Some(m), Some(a), Some(b)) = (c.get(0), c.get(1), c.get(2)) else { continue };
        if !text[m.end()..].chars().next().is_some_and(py_is_space) {
            continue;
        }
        out.push_str(&text[last..m.start()]);
        out.push_str(&format!(" {} {} ", a.as_str(), b.as_str()));
        last = m.end();
    }
    out.push_str(&text[last..]);
    out
}

/// The tokens of one sentence as nltk's `NLTKWordTokenizer().tokenize` gives them.
pub fn word_tokenize(text: &str) -> Vec<String> {
    let t = apply(text.to_string(), &STARTING_QUOTES);
    let t = split_opening_apostrophes(&t);
    let t = apply(t, &PUNCTUATION);
    let t = apply(format!(" {t} "), &ENDING_QUOTES);
    let t = apply(t, &CONTRACTIONS);
    let t = split_wanna(&t);
    let t = apply(t, &CONTRACTIONS3);
    t.split(py_is_space).filter(|w| !w.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::word_tokenize;

    #[test]
    fn treebank_splits() {
        let t = |s: &str| word_tokenize(s).join("|");
        assert_eq!(t("I CANNOT go, DON'T you see?"), "I|CAN|NOT|go|,|DO|N'T|you|see|?");
        assert_eq!(t("\"HELLO\" said 'TIS AT&T."), "``|HELLO|''|said|'|TIS|AT|&|T|.");
        assert_eq!(t("We wanna go (NOW)..."), "We|wan|na|go|(|NOW|)|...");
    }
}
