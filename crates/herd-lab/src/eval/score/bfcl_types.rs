//! BFCL's Java and JavaScript type converters (`bfcl-eval==2026.3.23`,
//! `bfcl_eval/eval_checker/ast_eval/type_convertor/{java,js}_type_converter.py`), ported in
//! behaviour. In BFCL's Java and JavaScript categories every parameter is offered to the
//! model as a string ("This is Java long type parameter in string representation."), and
//! the checker turns the string the model wrote (`"5L"`, `"new ArrayList<>(Arrays.asList(1,
//! 2))"`, `"{'a': 1}"`) back into a Python value of the declared type before the usual AST
//! checks; a string that does not parse stays a string, which then fails (or passes as a
//! "variable") there.
//!
//! The converters are regular expressions with Python's `re` semantics; the same patterns
//! run here on the `regex` crate, whose leftmost-first matching picks the match a
//! backtracking engine does (the one lookahead runs on `fancy-regex`). Python's `$` also
//! matches before a final newline, which [`full`] reproduces. Values are `json.loads`-style
//! JSON as in [`super::bfcl`]: a Python `int` is a JSON integer, a `float` a JSON number
//! with a fraction.
//!
//! Known differences, all on inputs no model writes for these data: digits are ASCII here
//! (Python's `\d` and `int()` also take other scripts' digits), and a float that is not
//! finite or an integer beyond 64 bits has no JSON form, so it is reported as
//! [`Conv::Unrepresentable`] rather than compared.

use regex::Regex;
use serde_json::{Map, Number, Value};
use std::sync::LazyLock;

/// Why a string could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conv {
    /// The reference raises (an unsupported or unimplemented type, `int("5n")`).
    Raises(String),
    /// Python would hold a value JSON cannot (a NaN, an infinity, a 65-bit integer).
    Unrepresentable(String),
}

type Converted = Result<Value, Conv>;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid pattern")
}

/// `re.match(r"^PATTERN$", s)` for an anchored pattern compiled as `\A(?:PATTERN)\z`:
/// Python's `$` also matches just before one final newline.
fn full(re: &Regex, s: &str) -> bool {
    re.is_match(s) || s.strip_suffix('\n').is_some_and(|t| re.is_match(t))
}

macro_rules! pattern {
    ($name:ident, $p:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| re($p));
    };
}

pattern!(INT, r"\A-?[0-9]+\z");
pattern!(JAVA_FLOAT, r"\A-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?[fF]\z");
pattern!(JAVA_DOUBLE, r"\A-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\z");
pattern!(JAVA_LONG, r"\A-?[0-9]+[lL]\z");
pattern!(JS_FLOAT, r"\A-?[0-9]+(\.[0-9]+)?\z");
pattern!(JS_BIGINT, r"\A-?[0-9]+n\z");
pattern!(ARRAYLIST_ASLIST, r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)");
pattern!(ARRAYLIST_ADDS, r"(?s)new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}");
pattern!(ADD_CALL, r"add\((.+?)\)");
pattern!(ARRAYLIST_EMPTY, r"new\s+ArrayList<\w*>\(\)");
pattern!(JAVA_ARRAY, r"new\s+\w+\[\]\s*\{(.*?)\}");
pattern!(HASHMAP, r"(?s)new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}");
pattern!(PUT_CALL, r#"put\("(.*?)",\s*(.*?)\)"#);
pattern!(HASHMAP_EMPTY, r"new\s+HashMap<.*?>\s*\(\)");
pattern!(JS_ARRAY_2D, r"\A(?:\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\))");
pattern!(JS_INNER_ARRAY, r"\[(.*?)\]");
pattern!(JS_ARRAY, r"\A(?:\[(.*?)\]|\bnew\s+Array\((.*?)\))");
pattern!(JS_DICT, r"\A\{(.*?)\}");
pattern!(PY_INT, r"\A[+-]?[0-9](?:_?[0-9])*\z");
pattern!(
    PY_FLOAT,
    r"(?i)\A[+-]?(?:inf|infinity|nan|(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)(?:e[+-]?[0-9](?:_?[0-9])*)?)\z"
);
/// `([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)`: a key, then its value up to the comma that
/// starts the next key (the lookahead needs fancy-regex). Its input never holds a newline
/// (it comes from a `.*?`), so Python's `$` is the plain end.
static JS_PAIR: LazyLock<fancy_regex::Regex> =
    LazyLock::new(|| fancy_regex::Regex::new(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)").expect("a valid pattern"));

/// Python's `s[1:-1]`.
fn inner(s: &str) -> String {
    let n = s.chars().count();
    s.chars().skip(1).take(n.saturating_sub(2)).collect()
}

/// Python's `str.strip(chars)`.
fn strip_chars<'a>(s: &'a str, chars: &[char]) -> &'a str {
    s.trim_matches(|c| chars.contains(&c))
}

/// Python's `int(s)` for base 10: surrounding whitespace, a sign, digits with single
/// underscores between them; `None` where Python raises `ValueError`.
fn py_int(s: &str) -> Option<Converted> {
    let t = s.trim();
    if !PY_INT.is_match(t) {
        return None;
    }
    let digits: String = t.chars().filter(|c| *c != '_').collect();
    Some(match digits.parse::<i64>() {
        Ok(i) => Ok(Value::from(i)),
        Err(_) => match digits.parse::<u64>() {
            Ok(u) => Ok(Value::from(u)),
            Err(_) => Err(Conv::Unrepresentable(format!("the integer {t}"))),
        },
    })
}

/// Python's `float(s)`: whitespace, a sign, `inf`/`infinity`/`nan` in any case, or a
/// decimal with optional fraction and exponent (underscores between digits); `None` where
/// Python raises `ValueError`.
fn py_float(s: &str) -> Option<Converted> {
    let t = s.trim();
    if !PY_FLOAT.is_match(t) {
        return None;
    }
    let plain: String = t.chars().filter(|c| *c != '_').collect();
    let f: f64 = plain.parse().ok()?;
    Some(Number::from_f64(f).map(Value::Number).ok_or_else(|| Conv::Unrepresentable(format!("the float {t}"))))
}

/// `float(s)` where the reference's own pattern has already matched, so Python cannot raise.
fn float_of(s: &str) -> Converted {
    py_float(s).unwrap_or_else(|| Err(Conv::Raises(format!("float({s:?})"))))
}

/// `int(s)` where Python raises on what the pattern let through (`int("5n")` after a final
/// newline) as well as where it cannot.
fn int_of(s: &str) -> Converted {
    py_int(s).unwrap_or_else(|| Err(Conv::Raises(format!("int({s:?})"))))
}

fn string(s: &str) -> Converted {
    Ok(Value::String(s.to_string()))
}

/// The conversion where the reference's anchored pattern matches; else the string as is.
fn parsed(re: &Regex, value: &str, conv: impl FnOnce(&str) -> Converted) -> Converted {
    if full(re, value) { conv(value) } else { string(value) }
}

/// `re.sub(r"[xX]$", "", value)` for a one-letter suffix the pattern has matched: the
/// letter goes, before a final newline if there is one (which int() and float() strip).
fn without_suffix(value: &str) -> &str {
    let t = value.strip_suffix('\n').unwrap_or(value);
    &t[..t.len() - 1]
}

/// Java's and JavaScript's boolean literals, exactly.
fn boolean(value: &str) -> Converted {
    match value {
        "true" => Ok(Value::Bool(true)),
        "false" => Ok(Value::Bool(false)),
        _ => string(value),
    }
}

// ---------------------------------------------------------------------------------------
// Java

/// `java_type_converter(value, expected_type, nested_type)`.
pub fn java_convert(value: &str, ty: &str, nested: Option<&str>) -> Converted {
    match ty {
        "byte" | "short" | "integer" => parsed(&INT, value, int_of),
        "float" => parsed(&JAVA_FLOAT, value, |v| float_of(without_suffix(v))),
        "double" => parsed(&JAVA_DOUBLE, value, float_of),
        "long" => parsed(&JAVA_LONG, value, |v| int_of(without_suffix(v))),
        "boolean" => boolean(value),
        // The reference's char pattern (`^\'.$\'`) cannot match, so a char stays as written.
        "char" | "String" | "any" => string(value),
        "Array" => java_array(value, nested),
        "ArrayList" => java_arraylist(value, nested),
        "HashMap" => java_hashmap(value),
        "Set" | "Hashtable" | "Queue" | "Stack" => Err(Conv::Raises(format!("{ty} conversion is not implemented"))),
        _ => Err(Conv::Raises(format!("Unsupported type: {ty}"))),
    }
}

/// An ArrayList element: chars and Strings lose their quotes (any first and last
/// character), other types convert as their type, untyped ones as literals.
fn java_element(s: &str, nested: Option<&str>) -> Converted {
    match nested {
        Some("char" | "String") => Ok(Value::String(inner(s))),
        Some(t) => java_convert(s, t, None),
        None => Ok(java_value(s)),
    }
}

fn java_arraylist(input: &str, nested: Option<&str>) -> Converted {
    if let Some(c) = ARRAYLIST_ASLIST.captures(input) {
        return c[1].split(',').map(|e| java_element(e.trim(), nested)).collect::<Result<_, _>>().map(Value::Array);
    }
    if let Some(c) = ARRAYLIST_ADDS.captures(input) {
        return ADD_CALL
            .captures_iter(&c[1])
            .map(|m| java_element(m[1].trim(), nested))
            .collect::<Result<_, _>>()
            .map(Value::Array);
    }
    if ARRAYLIST_EMPTY.is_match(input) {
        return Ok(Value::Array(Vec::new()));
    }
    string(input)
}

fn java_array(input: &str, nested: Option<&str>) -> Converted {
    let Some(c) = JAVA_ARRAY.captures(input) else {
        return string(input);
    };
    c[1].split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| match nested {
            Some(t) => java_convert(x, t, None),
            None => Ok(java_value(x)),
        })
        .collect::<Result<_, _>>()
        .map(Value::Array)
}

fn java_hashmap(input: &str) -> Converted {
    if let Some(c) = HASHMAP.captures(input) {
        let mut map = Map::new();
        if !c[1].trim().is_empty() {
            for m in PUT_CALL.captures_iter(&c[1]) {
                map.insert(m[1].to_string(), java_value(m[2].trim()));
            }
        }
        return Ok(Value::Object(map));
    }
    if HASHMAP_EMPTY.is_match(input) {
        return Ok(Value::Object(Map::new()));
    }
    string(input)
}

/// `parse_java_value`: a literal without a declared type (its callers strip it).
fn java_value(s: &str) -> Value {
    let v = match s {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ if s.starts_with('"') && s.ends_with('"') => return Value::String(inner(s)),
        _ if JAVA_LONG.is_match(s) => py_int(&s[..s.len() - 1]),
        _ if JAVA_FLOAT.is_match(s) => py_float(&s[..s.len() - 1]),
        _ => py_int(s).or_else(|| py_float(s)),
    };
    // Unrepresentable numbers stay as written (see the module note).
    v.and_then(Result::ok).unwrap_or_else(|| Value::String(s.to_string()))
}

// ---------------------------------------------------------------------------------------
// JavaScript

/// `js_type_converter(value, expected_type, nested_type)`.
pub fn js_convert(value: &str, ty: &str, nested: Option<&str>) -> Converted {
    match ty {
        "String" => {
            let quoted = |q| value.starts_with(q) && value.ends_with(q);
            if quoted('"') || quoted('\'') { Ok(Value::String(inner(value))) } else { string(value) }
        }
        "integer" => parsed(&INT, value, int_of),
        "float" => parsed(&JS_FLOAT, value, float_of),
        // `int(value[:-1])`: after a final newline that leaves the "n", and Python raises.
        "Bigint" => parsed(&JS_BIGINT, value, |v| int_of(&v[..v.len() - 1])),
        "Boolean" => boolean(value),
        "dict" => Ok(js_dict(value)),
        "array" => js_array(value, nested),
        "any" => string(value),
        _ => Err(Conv::Raises(format!("Unsupported type: {ty}"))),
    }
}

/// `parse_js_collection(code, "array", nested_type)`. The reference catches any exception
/// here and returns the text, so a nested conversion that raises yields the string.
fn js_array(code: &str, nested: Option<&str>) -> Converted {
    let code = code.trim();
    if let Some(m) = JS_ARRAY_2D.find(code) {
        let mut rows = Vec::new();
        for (i, c) in JS_INNER_ARRAY.captures_iter(m.as_str()).enumerate() {
            let mut s = c[1].trim();
            if i == 0 {
                s = s.strip_prefix('[').unwrap_or(s);
            }
            rows.push(Value::Array(s.split(',').map(|e| js_value(e.trim())).collect()));
        }
        return Ok(Value::Array(rows));
    }
    let Some(c) = JS_ARRAY.captures(code) else {
        return string(code);
    };
    let body = c.get(1).or_else(|| c.get(2)).map_or("", |g| g.as_str().trim());
    let elements: Vec<&str> = if body.is_empty() { Vec::new() } else { body.split(',').collect() };
    let mut out = Vec::new();
    for e in elements {
        let e = e.trim();
        out.push(match nested {
            Some(t) => match js_convert(e, t, if e.starts_with(['\'', '"']) { Some("String") } else { None }) {
                Ok(v) => v,
                Err(Conv::Raises(_)) => return string(code),
                Err(u) => return Err(u),
            },
            None => js_value(e),
        });
    }
    Ok(Value::Array(out))
}

/// `parse_js_collection(code, "dict")`: `{key: value, ...}` up to the first `}`, keys
/// unquoted, values parsed as arrays, objects or literals.
fn js_dict(code: &str) -> Value {
    let code = code.trim();
    if code == "{}" {
        return Value::Object(Map::new());
    }
    let Some(c) = JS_DICT.captures(code) else {
        return Value::String(code.to_string());
    };
    let mut map = Map::new();
    for m in JS_PAIR.captures_iter(&c[1]) {
        // The pattern has no construct whose matching can fail at run time on this input.
        let Ok(m) = m else { return Value::String(code.to_string()) };
        let key = strip_chars(m[1].trim(), &['\'', '"']).to_string();
        let value = m[2].trim();
        let v = if value.starts_with('[') && value.ends_with(']') {
            js_array(value, None).unwrap_or_else(|_| Value::String(value.to_string()))
        } else if value.starts_with('{') && value.ends_with('}') {
            js_dict(value)
        } else {
            js_value(strip_chars(value, &['\'', '"']))
        };
        map.insert(key, v);
    }
    Value::Object(map)
}

/// `parse_js_value`: a literal without a declared type.
fn js_value(s: &str) -> Value {
    let s = s.trim();
    match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ if (s.starts_with('"') && s.ends_with('"')) || (s.starts_with('\'') && s.ends_with('\'')) => {
            Value::String(inner(s))
        }
        _ => py_int(s).or_else(|| py_float(s)).and_then(Result::ok).unwrap_or_else(|| Value::String(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_references_own_examples_convert_as_it_asserts() {
        assert_eq!(java_convert("-123L", "long", None), Ok(json!(-123)));
        assert_eq!(java_convert("3e-3F", "float", None), Ok(json!(3e-3)));
        assert_eq!(java_convert("3.14f", "double", None), Ok(json!("3.14f")));
        assert_eq!(java_convert("new int[] { 1, 2, 3 }", "Array", None), Ok(json!([1, 2, 3])));
        assert_eq!(java_convert("new long[]{1L, 2, 3L}", "Array", Some("long")), Ok(json!([1, "2", 3])));
        assert_eq!(
            java_convert("new ArrayList<Character>() {{ add('a'); add('b'); }}", "ArrayList", Some("char")),
            Ok(json!(["a", "b"]))
        );
        assert_eq!(
            java_convert(r#"new HashMap<String, Object>() {{ put("k1", 1); put("k2", "v"); }}"#, "HashMap", None),
            Ok(json!({"k1": 1, "k2": "v"}))
        );
        assert_eq!(java_convert("new HashMap<>() {{ }}", "HashMap", None), Ok(json!({})));
        assert!(matches!(java_convert("x", "Set", None), Err(Conv::Raises(_))));
        assert_eq!(js_convert("123n", "Bigint", None), Ok(json!(123)));
        assert_eq!(js_convert("new Array(1, 2, 3)", "array", None), Ok(json!([1, 2, 3])));
        assert_eq!(js_convert("[1, 'two', true]", "array", None), Ok(json!([1, "two", true])));
        assert_eq!(
            js_convert("{'key1': 123, 'key2': 'value', 'key3': false}", "dict", None),
            Ok(json!({"key1": 123, "key2": "value", "key3": false}))
        );
        assert_eq!(js_convert("123.45", "integer", None), Ok(json!("123.45")));
    }

    #[test]
    fn python_dollar_and_number_parsing() {
        // `$` before a final newline; int() and float() strip it.
        assert_eq!(java_convert("12\n", "integer", None), Ok(json!(12)));
        assert_eq!(java_convert("12\n\n", "integer", None), Ok(json!("12\n\n")));
        assert_eq!(java_convert("3f\n", "float", None), Ok(json!(3.0)));
        // int("5n") raises in the reference.
        assert!(matches!(js_convert("5n\n", "Bigint", None), Err(Conv::Raises(_))));
        assert_eq!(java_value("1_000"), json!(1000));
        assert_eq!(java_value("+.5e1"), json!(5.0));
        assert_eq!(java_value("1__0"), json!("1__0"));
        assert_eq!(java_value("\""), json!(""));
    }
}
