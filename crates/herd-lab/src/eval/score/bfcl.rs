//! BFCL's AST checker (`bfcl-eval==2026.3.23`, `bfcl_eval/eval_checker/ast_eval/ast_checker.py`)
//! for the Python, Java and JavaScript categories, ported in behaviour (the Java and
//! JavaScript values go through [`super::bfcl_types`] first): which calls are valid, and the reference's
//! `error_type` for the first failure it meets. Also the decoding of Llama 3.1 output into
//! BFCL's decoded form `[{name: {arg: value}}]`.
//!
//! The checker compares Python objects. JSON values stand in for them here: an integer
//! literal is Python's `int`, a number with a fraction or exponent is `float` (as
//! `json.loads` reads them), `true`/`false` are `bool`, which Python's exact `type(x) == T`
//! checks keep apart from `int`, while its `==` (and so `in`) does not (`True == 1 == 1.0`);
//! [`py_eq`] reproduces that equality.
//!
//! Where the reference would raise (a function description missing for an expected name, a
//! possible answer that is not a list), herd returns an invalid verdict with error type
//! `herd:reference_would_raise`; the shipped data never gets there.

use super::bfcl_types::{Conv, java_convert, js_convert};
use serde_json::{Map, Value};

/// Whether one decoded model output passes, and the reference's error type when it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub valid: bool,
    /// The reference's `error_type` (`simple_function_checker:missing_required`, ...);
    /// empty when valid.
    pub error_type: String,
    /// A human-readable reason (not compared with the reference's wording).
    pub error: String,
}

impl Verdict {
    fn ok() -> Self {
        Verdict { valid: true, error_type: String::new(), error: String::new() }
    }
    fn fail(error_type: &str, error: impl Into<String>) -> Self {
        Verdict { valid: false, error_type: error_type.into(), error: error.into() }
    }
}

const RAISES: &str = "herd:reference_would_raise";
/// A converted Java/JavaScript value Python holds and JSON cannot (see `bfcl_types`).
const UNREPRESENTABLE: &str = "herd:unrepresentable_value";

// ---------------------------------------------------------------------------------------
// Python object semantics on JSON values

/// Python's type of a JSON value as `json.loads` builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PyType {
    NoneType,
    Bool,
    Int,
    Float,
    Str,
    List,
    Dict,
    /// Only ever expected (Java's `Set`, whose conversion the reference does not implement).
    Set,
}

fn py_type(v: &Value) -> PyType {
    match v {
        Value::Null => PyType::NoneType,
        Value::Bool(_) => PyType::Bool,
        Value::Number(n) if n.is_f64() => PyType::Float,
        Value::Number(_) => PyType::Int,
        Value::String(_) => PyType::Str,
        Value::Array(_) => PyType::List,
        Value::Object(_) => PyType::Dict,
    }
}

/// `PYTHON_TYPE_MAPPING`: the Python type a parameter's JSON-schema type name asks for
/// ("tuple" is a list because JSON has no tuples; "any" is a string).
fn schema_type(name: &str) -> Option<PyType> {
    Some(match name {
        "string" | "any" => PyType::Str,
        "integer" => PyType::Int,
        "float" => PyType::Float,
        "boolean" => PyType::Bool,
        "array" | "tuple" => PyType::List,
        "dict" => PyType::Dict,
        _ => return None,
    })
}

/// The language of a category, as BFCL's `is_java` / `is_js` tell it from the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Python,
    Java,
    JavaScript,
}

impl Language {
    pub fn of(category: &str) -> Self {
        if category.contains("javascript") {
            Language::JavaScript
        } else if category.contains("java") {
            Language::Java
        } else {
            Language::Python
        }
    }

    /// The Python type a parameter's declared type asks for: `PYTHON_TYPE_MAPPING`,
    /// `JAVA_TYPE_CONVERSION` or `JS_TYPE_CONVERSION`.
    fn type_of(self, name: &str) -> Option<PyType> {
        match self {
            Language::Python => schema_type(name),
            Language::Java => Some(match name {
                "byte" | "short" | "integer" | "long" => PyType::Int,
                "float" | "double" => PyType::Float,
                "boolean" => PyType::Bool,
                "char" | "String" | "any" => PyType::Str,
                "Array" | "ArrayList" | "Queue" | "Stack" => PyType::List,
                "Set" => PyType::Set,
                "HashMap" | "Hashtable" => PyType::Dict,
                _ => return None,
            }),
            Language::JavaScript => Some(match name {
                "String" | "any" => PyType::Str,
                "integer" | "Bigint" => PyType::Int,
                "float" => PyType::Float,
                "Boolean" => PyType::Bool,
                "dict" => PyType::Dict,
                "array" => PyType::List,
                _ => return None,
            }),
        }
    }
}

/// A number as Python's numeric tower sees it (bool is 0 or 1).
enum Num {
    I(i128),
    F(f64),
}

fn as_num(v: &Value) -> Option<Num> {
    match v {
        Value::Bool(b) => Some(Num::I(i128::from(*b))),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Num::I(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Some(Num::I(i128::from(u)))
            } else {
                n.as_f64().map(Num::F)
            }
        }
        _ => None,
    }
}

/// Python's `==` on the objects `json.loads` makes: numbers and bools compare by value
/// across types, lists by item, dicts by key set and values, everything else by type and
/// value.
pub fn py_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Null, Value::Null) => true,
        _ => match (as_num(a), as_num(b)) {
            (Some(Num::I(x)), Some(Num::I(y))) => x == y,
            // Python compares an int with a float exactly; i128 → f64 is exact for the
            // integers JSON data holds (below 2^53).
            (Some(Num::I(x)), Some(Num::F(y))) | (Some(Num::F(y)), Some(Num::I(x))) => (x as f64) == y,
            (Some(Num::F(x)), Some(Num::F(y))) => x == y,
            _ => false,
        },
    }
}

/// Python's `x in list`.
fn py_in(x: &Value, list: &[Value]) -> bool {
    list.iter().any(|y| py_eq(x, y))
}

/// The items Python's `for x in v` / `range(len(v))` walk over: a list's items, a
/// string's characters; `None` where Python would raise.
fn py_items(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) => Some(a.clone()),
        Value::String(s) => Some(s.chars().map(|c| Value::String(c.to_string())).collect()),
        Value::Object(m) => Some(m.keys().map(|k| Value::String(k.clone())).collect()),
        _ => None,
    }
}

fn is_empty_str(v: &Value) -> bool {
    v.as_str() == Some("")
}

/// `"" in values`: the parameter may be omitted.
fn allows_omission(values: &Value) -> bool {
    py_items(values).is_some_and(|items| items.iter().any(is_empty_str))
}

/// `standardize_string`: drops spaces and `,./-_*^`, lowercases, and turns `'` into `"`, so
/// "April 1, 2024" and "april 1 2024" compare equal.
pub fn standardize_string(s: &str) -> String {
    let kept: String = s.chars().filter(|c| !matches!(c, ' ' | ',' | '.' | '/' | '-' | '_' | '*' | '^')).collect();
    kept.to_lowercase().replace('\'', "\"")
}

/// A string standardized, anything else as it is.
fn standardize_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(standardize_string(s)),
        v => v.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// The checkers

/// The type of the first possible answer that is not `""` (the optional marker).
fn possible_answer_type(answers: &[Value]) -> Option<PyType> {
    answers.iter().find(|a| !is_empty_str(a)).map(py_type)
}

struct TypeCheck {
    valid: bool,
    is_variable: bool,
    error_type: &'static str,
}

/// `type_checker`: the value has the schema's type (one level of list items checked
/// against each list-valued possible answer), or the type of the possible answers (a
/// "variable": the answer is written as a name in a string).
fn type_checker(value: &Value, answers: &[Value], expected: PyType, nested: Option<PyType>) -> TypeCheck {
    let pa_type = possible_answer_type(answers);
    let is_variable = pa_type.is_some_and(|t| t != expected);
    let mut error_type = "type_error:simple";
    if py_type(value) == expected {
        let Some(nested) = nested else {
            return TypeCheck { valid: true, is_variable, error_type };
        };
        let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
        for answer in answers {
            // Each possible answer that is a list must accept every item; one that is not
            // a list (the optional marker "") accepts the value outright.
            let flag = match answer {
                Value::Array(inner) => items.iter().all(|item| type_checker(item, inner, nested, None).valid),
                _ => true,
            };
            if flag {
                return TypeCheck { valid: true, is_variable, error_type };
            }
        }
        error_type = "type_error:nested";
    }
    // The reference returns here with the nested failure still marked invalid.
    if pa_type.is_some_and(|t| t == py_type(value)) {
        let valid = error_type == "type_error:simple";
        return TypeCheck { valid, is_variable: true, error_type };
    }
    TypeCheck { valid: false, is_variable: false, error_type: "type_error:simple" }
}

fn string_checker(value: &str, answers: &[Value]) -> Verdict {
    let got = standardize_string(value);
    let ok = answers.iter().filter_map(Value::as_str).any(|a| standardize_string(a) == got);
    if ok { Verdict::ok() } else { Verdict::fail("value_error:string", format!("invalid value {value:?}")) }
}

fn list_checker(value: &[Value], answers: &[Value]) -> Verdict {
    let got = Value::Array(value.iter().map(standardize_value).collect());
    let ok = answers.iter().any(|a| {
        py_items(a).is_some_and(|items| py_eq(&got, &Value::Array(items.iter().map(standardize_value).collect())))
    });
    if ok { Verdict::ok() } else { Verdict::fail("value_error:list/tuple", format!("invalid list {got}")) }
}

/// `dict_checker`: the dict matches one possible answer (a dict of key → possible values)
/// key by key, string values standardized. The reference keeps the error of the last
/// answer tried, and its missing-key pass runs even after a value failed, overwriting
/// the error type.
fn dict_checker(value: &Value, answers: &[Value]) -> Verdict {
    let mut result = Verdict::fail("dict_checker:unclear", "no possible answer");
    let Some(model) = value.as_object() else {
        return Verdict::fail(RAISES, "a dict item is not a dict");
    };
    for answer in answers {
        if is_empty_str(answer) {
            continue;
        }
        result = Verdict::fail("dict_checker:unclear", "");
        let Some(answer) = answer.as_object() else {
            return Verdict::fail(RAISES, "a possible dict answer is not a dict");
        };
        let mut flag = true;
        for (key, v) in model {
            let Some(choices) = answer.get(key) else {
                result = Verdict::fail("value_error:dict_key", format!("unexpected dict key {key:?}"));
                flag = false;
                break;
            };
            let choices: Vec<Value> = py_items(choices).unwrap_or_default().iter().map(standardize_value).collect();
            if !py_in(&standardize_value(v), &choices) {
                result = Verdict::fail("value_error:dict_value", format!("invalid value for dict key {key:?}"));
                flag = false;
                break;
            }
        }
        for (key, choices) in answer {
            if !model.contains_key(key) && !allows_omission(choices) {
                result = Verdict::fail("value_error:dict_key", format!("missing dict key {key:?}"));
                flag = false;
                break;
            }
        }
        if flag {
            return Verdict::ok();
        }
    }
    result
}

/// `list_dict_checker`: a list of dicts against each possible list, dict by dict in order.
fn list_dict_checker(value: &[Value], answers: &[Value]) -> Verdict {
    let mut result = Verdict::fail("list_dict_checker:unclear", "no possible answer");
    for answer in answers {
        let items = py_items(answer).unwrap_or_default();
        if items.len() != value.len() {
            result = Verdict::fail("value_error:list_dict_count", "wrong number of dictionaries in the list");
            continue;
        }
        let mut flag = true;
        for (v, a) in value.iter().zip(&items) {
            result = dict_checker(v, std::slice::from_ref(a));
            if !result.valid {
                flag = false;
                break;
            }
        }
        if flag {
            return Verdict::ok();
        }
    }
    result
}

/// The description of `name` among the offered functions.
fn find_description<'a>(functions: &'a [Value], name: &str) -> Option<&'a Value> {
    functions.iter().find(|f| f.get("name").and_then(Value::as_str) == Some(name))
}

/// `simple_function_checker`: one call (`{name: {arg: value}}`) against one possible answer
/// (`{name: {arg: [possible values]}}`) for the function `description`.
fn simple_function_checker(description: &Value, call: &Map<String, Value>, answer: &Value, lang: Language) -> Verdict {
    let Some(answer) = answer.as_object().and_then(|m| m.values().next()).and_then(Value::as_object) else {
        return Verdict::fail(RAISES, "a possible answer is not {name: {param: [values]}}");
    };
    let name = description.get("name").and_then(Value::as_str).unwrap_or_default();
    let params = description.pointer("/parameters/properties").and_then(Value::as_object);
    let required: Vec<&str> = description
        .pointer("/parameters/required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // Llama's handler keeps dots in names (`underscore_to_dot` is false for it).
    let Some(model_params) = call.get(name).and_then(Value::as_object) else {
        return Verdict::fail("simple_function_checker:wrong_func_name", format!("function {name:?} not called"));
    };
    for r in &required {
        if !model_params.contains_key(*r) {
            return Verdict::fail("simple_function_checker:missing_required", format!("missing required {r:?}"));
        }
    }
    for (param, value) in model_params {
        let (Some(details), Some(choices)) = (params.and_then(|p| p.get(param)), answer.get(param)) else {
            return Verdict::fail(
                "simple_function_checker:unexpected_param",
                format!("unexpected parameter {param:?}"),
            );
        };
        let Some(choices) = choices.as_array() else {
            return Verdict::fail(RAISES, format!("the possible values of {param:?} are not a list"));
        };
        let type_name = details.get("type").and_then(Value::as_str).unwrap_or_default();
        let Some(expected) = lang.type_of(type_name) else {
            return Verdict::fail(RAISES, format!("unknown parameter type {type_name:?}"));
        };
        // The reference checks that a Java/JavaScript value is a string before it looks
        // up the items' type.
        let source = match (lang, value) {
            (Language::Python, _) => None,
            (_, Value::String(s)) => Some(s.as_str()),
            (Language::Java, _) => {
                return Verdict::fail("type_error:java", format!("{param:?} is not a string: {value}"));
            }
            (Language::JavaScript, _) => {
                return Verdict::fail("type_error:js", format!("{param:?} is not a string: {value}"));
            }
        };
        // Which declared types have their items' type checked too.
        let listed = match lang {
            Language::Python => matches!(type_name, "array" | "tuple"),
            _ => matches!(type_name, "Array" | "ArrayList" | "array"),
        };
        let item = details.pointer("/items/type").and_then(Value::as_str);
        let nested = if listed {
            match item.and_then(|i| lang.type_of(i)) {
                Some(t) => Some(t),
                None => return Verdict::fail(RAISES, format!("unknown item type {item:?}")),
            }
        } else {
            None
        };
        let value = match source {
            // Python's own int → float promotion, which the reference allows for floats.
            None => match value {
                Value::Number(n) if type_name == "float" && !n.is_f64() => {
                    serde_json::Number::from_f64(n.as_f64().unwrap_or_default()).map_or(value.clone(), Value::Number)
                }
                v => v.clone(),
            },
            // Java and JavaScript values are written as strings and converted to the
            // declared type (a string that does not parse stays a string).
            Some(s) => {
                let item = if listed { item } else { None };
                let convert = if lang == Language::Java { java_convert } else { js_convert };
                match convert(s, type_name, item) {
                    Ok(v) => v,
                    Err(Conv::Raises(why)) => return Verdict::fail(RAISES, why),
                    Err(Conv::Unrepresentable(what)) => return Verdict::fail(UNREPRESENTABLE, what),
                }
            }
        };
        let tc = type_checker(&value, choices, expected, nested);
        if !tc.valid {
            return Verdict::fail(tc.error_type, format!("wrong type for {param:?}: {value}"));
        }
        if !tc.is_variable {
            let special = match (&value, expected, nested) {
                (_, PyType::Dict, _) => Some(dict_checker(&value, choices)),
                (Value::Array(items), PyType::List, Some(PyType::Dict)) => Some(list_dict_checker(items, choices)),
                (Value::String(s), PyType::Str, _) => Some(string_checker(s, choices)),
                (Value::Array(items), PyType::List, _) => Some(list_checker(items, choices)),
                _ => None,
            };
            if let Some(v) = special {
                if !v.valid {
                    return v;
                }
                continue;
            }
        }
        if !py_in(&value, choices) {
            return Verdict::fail("value_error:others", format!("invalid value for {param:?}: {value}"));
        }
    }
    for (param, choices) in answer {
        if !model_params.contains_key(param) && !allows_omission(choices) {
            return Verdict::fail(
                "simple_function_checker:missing_optional",
                format!("optional parameter {param:?} not provided and not marked as optional"),
            );
        }
    }
    Verdict::ok()
}

/// `parallel_function_checker_no_order`: every expected call, in order, takes the first
/// unmatched model call that passes for it.
fn parallel_no_order(functions: &[Value], calls: &[&Map<String, Value>], answers: &[Value], lang: Language) -> Verdict {
    if calls.len() != answers.len() {
        return Verdict::fail("parallel_function_checker_no_order:wrong_count", "wrong number of functions");
    }
    let mut matched = vec![false; calls.len()];
    for answer in answers {
        let name = answer.as_object().and_then(|m| m.keys().next()).map(String::as_str).unwrap_or_default();
        let Some(description) = find_description(functions, name) else {
            return Verdict::fail(RAISES, format!("no description of {name:?}"));
        };
        let found = (0..calls.len())
            .find(|&i| !matched[i] && simple_function_checker(description, calls[i], answer, lang).valid);
        match found {
            Some(i) => matched[i] = true,
            None => {
                return Verdict::fail(
                    "parallel_function_checker_no_order:cannot_find_match",
                    format!("no model call matches the expected call to {name:?}"),
                );
            }
        }
    }
    Verdict::ok()
}

/// `multiple_function_checker`: one call, to the one expected function among several.
fn multiple(functions: &[Value], calls: &[&Map<String, Value>], answers: &[Value], lang: Language) -> Verdict {
    if calls.len() != answers.len() {
        return Verdict::fail("multiple_function_checker:wrong_count", "wrong number of functions");
    }
    let name = answers.first().and_then(Value::as_object).and_then(|m| m.keys().next()).cloned().unwrap_or_default();
    match (find_description(functions, &name), calls.first(), answers.first()) {
        (Some(d), Some(c), Some(a)) => simple_function_checker(d, c, a, lang),
        _ => Verdict::fail(RAISES, format!("no description of {name:?}")),
    }
}

/// The calls of a decoded output when it has BFCL's form (`is_function_calling_format_output`:
/// a list of one-key dicts whose value is a dict; the empty list counts).
fn calls_of(decoded: &Value) -> Option<Vec<&Map<String, Value>>> {
    decoded
        .as_array()?
        .iter()
        .map(|item| item.as_object().filter(|m| m.len() == 1 && m.values().all(Value::is_object)))
        .collect()
}

/// BFCL's AST check of one decoded model output: the format check of the runner, then
/// `ast_checker` as it dispatches on the category name (a name with "parallel" is checked
/// without order, one with "multiple" as a choice among functions, anything else as one
/// simple call). `functions` is the entry's `function` list, `answers` its `ground_truth`.
pub fn ast_check(functions: &[Value], decoded: &Value, answers: &[Value], category: &str) -> Verdict {
    let Some(calls) = calls_of(decoded) else {
        return Verdict::fail("ast_decoder:decoder_wrong_output_format", "not a list of {name: {arg: value}}");
    };
    let lang = Language::of(category);
    if category.contains("parallel") {
        return parallel_no_order(functions, &calls, answers, lang);
    }
    if category.contains("multiple") {
        return multiple(functions, &calls, answers, lang);
    }
    if calls.len() != 1 {
        return Verdict::fail("simple_function_checker:wrong_count", "wrong number of functions");
    }
    match (functions.first(), answers.first()) {
        (Some(d), Some(a)) => simple_function_checker(d, calls[0], a, lang),
        _ => Verdict::fail(RAISES, "no function or no possible answer"),
    }
}

// ---------------------------------------------------------------------------------------
// Decoding Llama 3.1 output

const PYTHON_TAG: &str = "<|python_tag|>";

/// Tells which characters of Python source lie outside string literals (`'…'` or `"…"`,
/// backslash escapes), fed one character at a time.
#[derive(Debug, Default)]
pub(crate) struct PyStrings {
    quote: Option<char>,
    escaped: bool,
}

impl PyStrings {
    /// Whether `c` is code: outside a literal and not one of its quotes.
    pub(crate) fn code(&mut self, c: char) -> bool {
        match self.quote {
            Some(q) => {
                if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == q {
                    self.quote = None;
                }
                false
            }
            None if c == '"' || c == '\'' => {
                self.quote = Some(c);
                false
            }
            None => true,
        }
    }
    pub(crate) fn in_string(&self) -> bool {
        self.quote.is_some()
    }
}

/// Splits `s` at top-level `sep` (outside strings and brackets); `None` when the brackets
/// or quotes do not balance.
fn split_top_level(s: &str, sep: char) -> Option<Vec<&str>> {
    let (mut depth, mut strings, mut start) = (0i32, PyStrings::default(), 0);
    let mut parts = Vec::new();
    for (i, c) in s.char_indices() {
        if !strings.code(c) {
            continue;
        }
        match c {
            '[' | '{' | '(' => depth += 1,
            ']' | '}' | ')' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            c if c == sep && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    (depth == 0 && !strings.in_string()).then(|| {
        parts.push(&s[start..]);
        parts
    })
}

/// One call in either Llama 3.1 form, through herd's decoder: a JSON object
/// `{"name": …, "parameters": {…}}`, or a Python call `name(key=literal, …)`.
fn decode_one(item: &str) -> Result<(String, Map<String, Value>), String> {
    use herd_llama::toolcall::{StopReason, decode_assistant};
    let item = item.trim();
    let text = if item.starts_with('{') { item.to_string() } else { format!("[{item}]") };
    let d = decode_assistant(&text, StopReason::EndOfTurn);
    if let Some(w) = d.warning {
        return Err(w);
    }
    match d.tool_calls.as_slice() {
        [c] => Ok((c.tool_name.clone(), c.arguments.clone())),
        _ => Err(format!("not a function call: {:?}", item.chars().take(80).collect::<String>())),
    }
}

/// Llama 3.1 output to BFCL's decoded form `[{name: {arg: value}}, …]`, accepting the
/// shapes BFCL's `LlamaHandler_3_1.decode_ast` accepts (python tags removed; calls
/// separated by `;`; a list of calls; one call) with each call read by herd's Llama 3.1
/// tool-call decoder (`herd_llama::toolcall`) instead of Python's `eval`. Two knowing
/// differences from the reference: JSON's `true`/`false`/`null` are read (Python's `eval`
/// raises on them), and a `;` inside a string does not split calls. Text that is not a
/// call is an `Err`, a failed sample.
pub fn decode_llama31(text: &str) -> Result<Value, String> {
    let mut s = text.replace(PYTHON_TAG, "");
    for end in ["<|eot_id|>", "<|eom_id|>"] {
        if let Some(r) = s.trim_end().strip_suffix(end) {
            s = r.to_string();
        }
    }
    let s = s.trim();
    if s.is_empty() {
        return Err("empty output".into());
    }
    let items: Vec<&str> = if s.contains(';') {
        split_top_level(s, ';').ok_or("unbalanced brackets or quotes")?
    } else if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items = split_top_level(inner, ',').ok_or("unbalanced brackets or quotes")?;
        // `[]` is an empty list of calls, as Python's eval reads it.
        if items.len() == 1 && items[0].trim().is_empty() { Vec::new() } else { items }
    } else {
        vec![s]
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let (name, args) = decode_one(item)?;
        out.push(Value::Object(Map::from_iter([(name, Value::Object(args))])));
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_equality_and_standardization() {
        assert!(py_eq(&json!(1), &json!(1.0)) && py_eq(&json!(true), &json!(1)) && !py_eq(&json!("1"), &json!(1)));
        assert!(py_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert_eq!(standardize_string("April 1, 2024"), standardize_string("april 1 2024"));
        assert_eq!(standardize_string("it's"), "it\"s");
    }

    #[test]
    fn decodes_the_llama_forms() {
        let one = decode_llama31(r#"<|python_tag|>{"name": "f", "parameters": {"x": 1}}"#);
        assert_eq!(one, Ok(json!([{"f": {"x": 1}}])));
        let two = decode_llama31(r#"{"name": "f", "parameters": {"x": "a;b"}}; {"name": "g", "parameters": {}}"#);
        assert_eq!(two, Ok(json!([{"f": {"x": "a;b"}}, {"g": {}}])));
        let list = decode_llama31(r#"[{"name": "f", "parameters": {"x": [1, 2]}}, {"name": "g", "parameters": {}}]"#);
        assert_eq!(list, Ok(json!([{"f": {"x": [1, 2]}}, {"g": {}}])));
        assert_eq!(decode_llama31("[f(x=1.5), g(y='a')]"), Ok(json!([{"f": {"x": 1.5}}, {"g": {"y": "a"}}])));
        assert!(decode_llama31("I cannot help with that.").is_err());
        assert!(decode_llama31(r#"{"name": "f"}"#).is_err());
        assert!(decode_llama31("").is_err());
    }

    #[test]
    fn simple_checks() {
        let f = json!([{"name": "area", "parameters": {"type": "dict", "properties": {
            "base": {"type": "integer"}, "h": {"type": "float"}, "unit": {"type": "string"}}, "required": ["base"]}}]);
        let a = json!([{"area": {"base": [10], "h": [5.0], "unit": ["cm", ""]}}]);
        let fs = f.as_array().map(Vec::as_slice).unwrap_or_default();
        let an = a.as_array().map(Vec::as_slice).unwrap_or_default();
        let check = |d: Value| ast_check(fs, &d, an, "simple_python");
        assert!(check(json!([{"area": {"base": 10, "h": 5}}])).valid);
        assert!(check(json!([{"area": {"base": 10, "h": 5.0, "unit": "C.M."}}])).valid);
        assert_eq!(check(json!([{"area": {"h": 5.0}}])).error_type, "simple_function_checker:missing_required");
        assert_eq!(check(json!([{"area": {"base": 10}}])).error_type, "simple_function_checker:missing_optional");
        assert_eq!(check(json!([{"area": {"base": "10", "h": 5.0}}])).error_type, "type_error:simple");
        assert_eq!(check(json!([{"area": {"base": true, "h": 5.0}}])).error_type, "type_error:simple");
        assert_eq!(check(json!([{"area": {"base": 11, "h": 5.0}}])).error_type, "value_error:others");
        assert_eq!(check(json!([{"volume": {"base": 10}}])).error_type, "simple_function_checker:wrong_func_name");
        assert_eq!(check(json!([])).error_type, "simple_function_checker:wrong_count");
        assert_eq!(check(json!("text")).error_type, "ast_decoder:decoder_wrong_output_format");
    }
}
