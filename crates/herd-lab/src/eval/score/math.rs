//! MATH answers: Minerva's final-answer extraction and normalization, `\boxed{}` handling,
//! and normalized-string equality, as lm-eval 0.4.13 `tasks/minerva_math/utils.py`.
//!
//! lm-eval 0.4.13's `normalize_final_answer` is Minerva's (Lewkowycz et al. 2022, App. D) with
//! lm-eval's later fixes, ported here exactly: unit words are removed only as whole words
//! not preceded by `\` before the spaces go, and afterwards only outside LaTeX command names
//! (so `\left` keeps its `ft`); `\sqrt[3]a` becomes `\sqrt[3]{a}`; commas are removed only
//! from a number with thousands groups (`100,000`, not the tuple `0,1`).
//!
//! Equivalence: herd reports exact match after this normalization. lm-eval's `is_equiv`
//! also tries `sympy.simplify(parse_latex(a) - parse_latex(b)) == 0`, and Meta adds an LLM
//! judge; herd does neither (no symbolic equivalence), so its MATH score can be slightly
//! lower than a sympy-backed one.

use super::{PY_WORD_CLASS, compile, py_is_word, py_strip};
use regex::{Captures, Regex};
use std::sync::LazyLock;

/// `get_unnormalized_answer`'s value when the output has no final-answer sentence.
pub const MINERVA_INVALID: &str = "[invalidanswer]";

/// Minerva's `SUBSTITUTIONS`, applied in order with `str.replace`.
pub const SUBSTITUTIONS: [(&str, &str); 10] = [
    ("an ", ""),
    ("a ", ""),
    (".$", "$"),
    ("\\$", ""),
    ("\\ ", ""),
    (" ", ""),
    ("mbox", "text"),
    (",\\text{and}", ","),
    ("\\text{and}", ","),
    ("\\text{m}", "\\text{}"),
];

/// Minerva's `REMOVED_EXPRESSIONS` (lm-eval 0.4.13), in order.
pub const REMOVED_EXPRESSIONS: [&str; 42] = [
    "square",
    "ways",
    "integers",
    "dollars",
    "mph",
    "inches",
    "ft",
    "hours",
    "km",
    "units",
    "\\ldots",
    "sue",
    "points",
    "feet",
    "minutes",
    "digits",
    "cents",
    "degrees",
    "cm",
    "gm",
    "pounds",
    "meters",
    "meals",
    "edges",
    "students",
    "childrentickets",
    "multiples",
    "\\text{s}",
    "\\text{.}",
    "\\text{\ns}",
    "\\text{}^2",
    "\\text{}^3",
    "\\text{\n}",
    "\\text{}",
    "\\mathrm{th}",
    "^\\circ",
    "^{\\circ}",
    "\\;",
    ",\\!",
    "{,}",
    "\"",
    "\\dots",
];

/// Python's `expr.isalpha()` for these ASCII expressions: the unit words.
fn is_word_expr(expr: &str) -> bool {
    expr.chars().all(|c| c.is_ascii_alphabetic())
}

/// `get_unnormalized_answer` (the 4-shot Minerva prompt's extraction): "I hope it is
/// correct." is appended, then the first `Final Answer: The final answer is(.*?). I hope it is
/// correct.` (unescaped dots: any character but a newline) gives its group, stripped.
pub fn minerva_extract(output: &str) -> String {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| compile(r"Final Answer: The final answer is(.*?). I hope it is correct."));
    let text = format!("{output}I hope it is correct.");
    match RE.captures(&text).and_then(|c| c.get(1)) {
        Some(m) => py_strip(m.as_str()).to_string(),
        None => MINERVA_INVALID.to_string(),
    }
}

/// `last_boxed_only_string`: the last `\boxed{...}` (or `\fbox{...}`) with balanced braces,
/// or for the `\boxed x` form the text after the last `\boxed ` up to a `$`. `None` when
/// there is none or its braces never close.
pub fn last_boxed_only_string(s: &str) -> Option<String> {
    let idx = s.rfind("\\boxed");
    if let Some((_, tail)) = s.rsplit_once("\\boxed ") {
        return Some(format!("\\boxed {}", tail.split('$').next().unwrap_or("")));
    }
    let idx = idx.or_else(|| s.rfind("\\fbox"))?;
    // The reference's brace count: it starts at the command, and only a `}` that brings it
    // back to zero ends the box.
    let mut open = 0i64;
    for (i, b) in s.bytes().enumerate().skip(idx) {
        if b == b'{' {
            open += 1;
        }
        if b == b'}' {
            open -= 1;
            if open == 0 {
                return Some(s[idx..=i].to_string());
            }
        }
    }
    None
}

/// `remove_boxed`: the content of `\boxed{...}` or of `\boxed x`. `None` where the
/// reference's assertions fail (not a boxed string, `\fbox`, no closing brace).
pub fn remove_boxed(s: &str) -> Option<String> {
    if s.contains("\\boxed ") {
        return s.strip_prefix("\\boxed ").map(str::to_string);
    }
    let inner = s.strip_prefix("\\boxed{")?;
    inner.strip_suffix('}').map(str::to_string)
}

/// The boxed answer of a generation (Meta's 0-shot CoT format ends with `$\boxed{X}$`):
/// `remove_boxed(last_boxed_only_string(text))`.
pub fn boxed_answer(text: &str) -> Option<String> {
    remove_boxed(&last_boxed_only_string(text)?)
}

/// Minerva's `normalize_final_answer`, as lm-eval 0.4.13 (see the module comment).
pub fn normalize_final_answer(final_answer: &str) -> String {
    // The text after the last `=`.
    let mut s = final_answer.rsplit('=').next().unwrap_or("").to_string();
    for expr in REMOVED_EXPRESSIONS.iter().filter(|e| is_word_expr(e)) {
        s = remove_whole_word(&s, expr);
    }
    for (before, after) in SUBSTITUTIONS {
        s = s.replace(before, after);
    }
    for expr in REMOVED_EXPRESSIONS {
        s = if is_word_expr(expr) { remove_outside_commands(&s, expr) } else { s.replace(expr, "") };
    }
    unwrap_latex(&s)
}

/// `re.sub(rf"(?<!\\)\b{word}\b", "", s)` with Python's Unicode `\b`: an occurrence counts
/// when the character before is neither a word character nor `\`, and the one after is not
/// a word character.
fn remove_whole_word(s: &str, word: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if let Some(tail) = rest.strip_prefix(word) {
            let before = s[..i].chars().next_back();
            let after = tail.chars().next();
            if before.is_none_or(|c| c != '\\' && !py_is_word(c)) && after.is_none_or(|c| !py_is_word(c)) {
                i += word.len();
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or('\0');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// `re.split(r"(\\[a-zA-Z]+)", s)` and `str.replace(word, "")` in the text between the LaTeX
/// command names only.
fn remove_outside_commands(s: &str, word: &str) -> String {
    static COMMAND: LazyLock<Regex> = LazyLock::new(|| compile(r"\\[a-zA-Z]+"));
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for m in COMMAND.find_iter(s) {
        out.push_str(&s[last..m.start()].replace(word, ""));
        out.push_str(m.as_str());
        last = m.end();
    }
    out.push_str(&s[last..].replace(word, ""));
    out
}

/// The reference's regex steps after the removals, in order: keep the content of `$...$`,
/// `\text{}`, `\textbf{}`, `\overline{}`, `\boxed{}`; expand `\fracab` and `\sqrta`; drop `$`;
/// join a thousands-grouped number.
fn unwrap_latex(s: &str) -> String {
    static DOLLARS: LazyLock<Regex> = LazyLock::new(|| compile(r"(.*?)(\$)(.*?)(\$)(.*)"));
    static TEXT: LazyLock<Regex> = LazyLock::new(|| compile(r"(\\text\{)(.*?)(\})"));
    static TEXTBF: LazyLock<Regex> = LazyLock::new(|| compile(r"(\\textbf\{)(.*?)(\})"));
    static OVERLINE: LazyLock<Regex> = LazyLock::new(|| compile(r"(\\overline\{)(.*?)(\})"));
    static BOXED: LazyLock<Regex> = LazyLock::new(|| compile(r"(\\boxed\{)(.*)(\})"));
    static FRAC: LazyLock<Regex> = LazyLock::new(|| compile(r"(frac)([^{])(.)"));
    // `(sqrt)(\[[^\]]*\])(\w)` with Python's `\w`.
    static SQRT_INDEX: LazyLock<Regex> = LazyLock::new(|| compile(&format!(r"(sqrt)(\[[^\]]*\])({PY_WORD_CLASS})")));
    // `(sqrt)(?!\[)([^{])`: the lookahead only excludes `[` from the class.
    static SQRT: LazyLock<Regex> = LazyLock::new(|| compile(r"(sqrt)([^{\[])"));
    static THOUSANDS: LazyLock<Regex> = LazyLock::new(|| compile(r"\A-?\d{1,3}(,\d{3})+\z"));

    let group = |n: usize| move |c: &Captures| c[n].to_string();
    let s = DOLLARS.replace_all(s, |c: &Captures| format!("${}$", &c[3]));
    let s = TEXT.replace_all(&s, group(2));
    let s = TEXTBF.replace_all(&s, group(2));
    let s = OVERLINE.replace_all(&s, group(2));
    let s = BOXED.replace_all(&s, group(2));
    let s = FRAC.replace_all(&s, |c: &Captures| format!("frac{{{}}}{{{}}}", &c[2], &c[3]));
    let s = SQRT_INDEX.replace_all(&s, |c: &Captures| format!("{}{}{{{}}}", &c[1], &c[2], &c[3]));
    let s = SQRT.replace_all(&s, |c: &Captures| format!("sqrt{{{}}}", &c[2]));
    let s = s.replace('$', "");
    if THOUSANDS.is_match(&s) { s.replace(',', "") } else { s }
}

/// Whether two final answers are equal after [`normalize_final_answer`]: the string test
/// of lm-eval's `is_equiv` (`x1 and x1 == x2`: an empty answer never matches). The sympy
/// fallback of `is_equiv` is not done (see the module comment).
pub fn math_equal(pred: &str, gold: &str) -> bool {
    let pred = normalize_final_answer(pred);
    !pred.is_empty() && pred == normalize_final_answer(gold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_minerva() {
        assert_eq!(normalize_final_answer("x = \\frac12"), "\\frac{1}{2}");
        assert_eq!(normalize_final_answer("\\text{(B)}"), "(B)");
        assert_eq!(normalize_final_answer("10 \\text{ cm}"), "10");
        assert_eq!(normalize_final_answer("100,000"), "100000");
        assert_eq!(normalize_final_answer("0,1"), "0,1");
        assert_eq!(normalize_final_answer("\\left( 3, \\frac{\\pi}{2} \\right)"), "\\left(3,\\frac{\\pi}{2}\\right)");
        assert!(math_equal("$\\sqrt2$", "\\sqrt{2}"));
        assert!(!math_equal("", ""));
    }

    #[test]
    fn boxed_strings() {
        assert_eq!(
            last_boxed_only_string("a \\boxed{1} b \\boxed{\\frac{1}{2}}.").as_deref(),
            Some("\\boxed{\\frac{1}{2}}")
        );
        assert_eq!(boxed_answer("so $\\boxed{x^{2}}$").as_deref(), Some("x^{2}"));
        assert_eq!(last_boxed_only_string("\\boxed{1"), None);
        assert_eq!(remove_boxed("\\fbox{2}"), None);
        assert_eq!(minerva_extract("Final Answer: The final answer is $5$. I hope it is correct."), "$5$");
        assert_eq!(minerva_extract("no sentence"), MINERVA_INVALID);
    }
}
