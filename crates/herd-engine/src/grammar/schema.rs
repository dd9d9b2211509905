//! Compiles the JSON Schema subset that constrained decoding can enforce into `Node`s;
//! anything outside it is an error naming the keyword and where it is, never ignored.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{
    ANY, Compiled, FALSE, NULL, Node, NodeId, T_ALL, T_ARR, T_BOOL, T_INT, T_NULL, T_NUM, T_OBJ, T_STR, TRUE,
    TypeSchema,
};

/// Keywords that only describe, or hold definitions reached through `$ref`.
const IGNORED: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "$schema",
    "$id",
    "$comment",
    "strict",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$defs",
    "definitions",
];

/// Keywords that constrain a value and that this compiler enforces.
const SUPPORTED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
];

/// Schemas nested deeper than this (counting `$ref` hops) are rejected, so compiling a
/// hostile schema cannot exhaust the stack.
const MAX_NESTING: usize = 128;

/// Known properties per object: their seen-set is a `u128`.
const MAX_PROPERTIES: usize = 128;

pub(crate) fn compile(root: &Value) -> Result<Compiled, String> {
    let mut cx = Compiler { root, nodes: Compiled::base_nodes(), refs: HashMap::new(), nesting: 0 };
    // The root goes through `reference` so that `"$ref": "#"` can recurse to it.
    let id = cx.reference("", "")?;
    Compiled::new(cx.nodes, id)
}

struct Compiler<'a> {
    root: &'a Value,
    nodes: Vec<Node>,
    /// JSON pointer of each referenced schema -> its node.
    refs: HashMap<String, NodeId>,
    nesting: usize,
}

/// A path for messages ("/" for the root rather than the empty pointer).
fn shown(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

fn join(path: &str, segment: &str) -> String {
    format!("{path}/{}", segment.replace('~', "~0").replace('/', "~1"))
}

fn err(what: impl std::fmt::Display, path: &str) -> String {
    format!("json_schema: {what} at {}", shown(path))
}

/// The type bits of a JSON value (an integral number is both an integer and a number).
fn type_of(v: &Value) -> u8 {
    match v {
        Value::Null => T_NULL,
        Value::Bool(_) => T_BOOL,
        Value::Number(n) if n.is_i64() || n.is_u64() => T_INT | T_NUM,
        Value::Number(_) => T_NUM,
        Value::String(_) => T_STR,
        Value::Array(_) => T_ARR,
        Value::Object(_) => T_OBJ,
    }
}

impl Compiler<'_> {
    fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        (self.nodes.len() - 1) as NodeId
    }

    /// The node of the schema at a JSON pointer into the root, compiled once: a recursive
    /// reference gets the placeholder, which becomes a `Ref` when the target is compiled.
    fn reference(&mut self, pointer: &str, at: &str) -> Result<NodeId, String> {
        if let Some(&id) = self.refs.get(pointer) {
            return Ok(id);
        }
        let root = self.root;
        let target = root.pointer(pointer).ok_or_else(|| err(format!("$ref \"#{pointer}\" points at nothing"), at))?;
        let id = self.push(Node::Never);
        self.refs.insert(pointer.to_string(), id);
        let inner = self.schema(target, pointer)?;
        self.nodes[id as usize] = Node::Ref(inner);
        Ok(id)
    }

    fn schema(&mut self, v: &Value, path: &str) -> Result<NodeId, String> {
        self.nesting += 1;
        let result = if self.nesting > MAX_NESTING {
            Err(err(format!("schema nested deeper than {MAX_NESTING} levels"), path))
        } else {
            self.schema_inner(v, path)
        };
        self.nesting -= 1;
        result
    }

    fn schema_inner(&mut self, v: &Value, path: &str) -> Result<NodeId, String> {
        let obj = match v {
            Value::Bool(true) => return Ok(ANY),
            Value::Bool(false) => return Ok(self.push(Node::Never)),
            Value::Object(obj) => obj,
            _ => return Err(err("a schema must be an object or a boolean", path)),
        };
        let mut constraining = Vec::new();
        for key in obj.keys() {
            if SUPPORTED.contains(&key.as_str()) {
                constraining.push(key.as_str());
            } else if !IGNORED.contains(&key.as_str()) {
                return Err(err(format!("unsupported keyword \"{key}\""), path));
            }
        }
        // `$ref`, `allOf` and `anyOf` would need the intersection with their siblings,
        // which this compiler does not build: they must stand alone.
        for combinator in ["$ref", "allOf", "anyOf", "oneOf"] {
            if obj.contains_key(combinator)
                && let Some(other) = constraining.iter().find(|k| **k != combinator)
            {
                return Err(err(format!("unsupported keyword \"{other}\" alongside \"{combinator}\""), path));
            }
        }
        if let Some(r) = obj.get("$ref") {
            let pointer = match r.as_str().and_then(|s| s.strip_prefix('#')) {
                Some(p) if p.is_empty() || p.starts_with('/') => p,
                _ => return Err(err(format!("unsupported $ref {r} (only local refs such as \"#/$defs/name\")"), path)),
            };
            return self.reference(pointer, path);
        }
        if let Some(all) = obj.get("allOf") {
            return match all.as_array().map(Vec::as_slice) {
                Some([only]) => self.schema(only, &join(path, "allOf/0")),
                _ => Err(err("unsupported keyword \"allOf\" with other than one schema", path)),
            };
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(alts) = obj.get(key) {
                // oneOf is enforced as anyOf: generation only needs one alternative to match.
                let alts = match alts.as_array() {
                    Some(a) if !a.is_empty() => a,
                    _ => return Err(err(format!("\"{key}\" must be a non-empty array of schemas"), path)),
                };
                let base = join(path, key);
                let ids = alts
                    .iter()
                    .enumerate()
                    .map(|(i, a)| self.schema(a, &format!("{base}/{i}")))
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(self.push(Node::AnyOf(ids.into())));
            }
        }
        let types = self.types(obj, path)?;
        if obj.contains_key("enum") || obj.contains_key("const") {
            return self.enumeration(obj, types, path);
        }
        self.typed(obj, types, path)
    }

    fn types(&self, obj: &Map<String, Value>, path: &str) -> Result<u8, String> {
        let bit = |name: &Value| match name.as_str() {
            Some("null") => Ok(T_NULL),
            Some("boolean") => Ok(T_BOOL),
            Some("integer") => Ok(T_INT),
            Some("number") => Ok(T_NUM),
            Some("string") => Ok(T_STR),
            Some("array") => Ok(T_ARR),
            Some("object") => Ok(T_OBJ),
            _ => Err(err(format!("unknown \"type\" {name}"), path)),
        };
        match obj.get("type") {
            None => Ok(T_ALL),
            Some(Value::Array(names)) if !names.is_empty() => names.iter().try_fold(0, |acc, n| Ok(acc | bit(n)?)),
            Some(Value::Array(_)) => Err(err("\"type\" must not be an empty array", path)),
            Some(name) => bit(name),
        }
    }

    /// `enum` or `const`, with at most `type` beside it (which filters the values).
    fn enumeration(&mut self, obj: &Map<String, Value>, types: u8, path: &str) -> Result<NodeId, String> {
        if let Some(other) =
            obj.keys().find(|k| SUPPORTED.contains(&k.as_str()) && !matches!(k.as_str(), "enum" | "const" | "type"))
        {
            return Err(err(format!("unsupported keyword \"{other}\" alongside \"enum\"/\"const\""), path));
        }
        let values: Vec<&Value> = match (obj.get("enum"), obj.get("const")) {
            (Some(_), Some(_)) => return Err(err("unsupported keyword \"const\" alongside \"enum\"", path)),
            (Some(Value::Array(values)), None) => values.iter().collect(),
            (Some(_), None) => return Err(err("\"enum\" must be an array", path)),
            (None, Some(value)) => vec![value],
            (None, None) => Vec::new(),
        };
        let mut strings: Vec<Box<str>> = Vec::new();
        let mut alts = Vec::new();
        for v in values.into_iter().filter(|v| type_of(v) & types != 0) {
            match v {
                Value::String(s) => strings.push(s.as_str().into()),
                v => alts.push(self.constant(v, path)?),
            }
        }
        if !strings.is_empty() {
            strings.sort();
            strings.dedup();
            alts.push(self.push(Node::StrEnum(strings.into())));
        }
        match alts.as_slice() {
            [] => Err(err("\"enum\"/\"const\" allows no value (of the given \"type\")", path)),
            [one] => Ok(*one),
            _ => Ok(self.push(Node::AnyOf(alts.into()))),
        }
    }

    /// Exactly `v`. Numbers must be written as serde_json writes them (`1.0` is not `1`).
    fn constant(&mut self, v: &Value, path: &str) -> Result<NodeId, String> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            self.nesting -= 1;
            return Err(err(format!("\"const\"/\"enum\" value nested deeper than {MAX_NESTING} levels"), path));
        }
        let result = match v {
            Value::Null => Ok(NULL),
            Value::Bool(true) => Ok(TRUE),
            Value::Bool(false) => Ok(FALSE),
            Value::Number(n) => Ok(self.push(Node::Literal(n.to_string().into_bytes().into()))),
            Value::String(s) => Ok(self.push(Node::StrEnum(vec![s.as_str().into()].into()))),
            Value::Array(items) => {
                let mut s = TypeSchema::new(T_ARR);
                s.prefix = items.iter().map(|i| self.constant(i, path)).collect::<Result<_, _>>()?;
                s.items = None;
                s.min_items = items.len() as u32;
                s.max_items = items.len() as u32;
                Ok(self.push(Node::Schema(Box::new(s))))
            }
            Value::Object(members) => {
                let mut props = Vec::with_capacity(members.len());
                for (k, v) in members {
                    props.push((k.as_str().into(), self.constant(v, path)?));
                }
                let mut s = TypeSchema::new(T_OBJ);
                s.additional = None;
                set_properties(&mut s, props, members.keys().map(String::as_str), path)?;
                Ok(self.push(Node::Schema(Box::new(s))))
            }
        };
        self.nesting -= 1;
        result
    }

    fn typed(&mut self, obj: &Map<String, Value>, types: u8, path: &str) -> Result<NodeId, String> {
        let mut s = TypeSchema::new(types);
        s.min_len = count(obj, "minLength", 0, path)?;
        s.max_len = count(obj, "maxLength", u32::MAX, path)?;
        s.min_items = count(obj, "minItems", 0, path)?;
        s.max_items = count(obj, "maxItems", u32::MAX, path)?;
        if s.min_len > s.max_len {
            return Err(err("\"minLength\" is above \"maxLength\"", path));
        }
        if s.min_items > s.max_items {
            return Err(err("\"minItems\" is above \"maxItems\"", path));
        }

        s.additional = self.optional_schema(obj, "additionalProperties", path)?;
        let mut props: Vec<(Box<str>, NodeId)> = Vec::new();
        match obj.get("properties") {
            None => {}
            Some(Value::Object(members)) => {
                let base = join(path, "properties");
                for (k, v) in members {
                    props.push((k.as_str().into(), self.schema(v, &join(&base, k))?));
                }
            }
            Some(_) => return Err(err("\"properties\" must be an object", path)),
        }
        let required: Vec<&str> = match obj.get("required") {
            None => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| n.as_str().ok_or_else(|| err("\"required\" must be an array of strings", path)))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(err("\"required\" must be an array of strings", path)),
        };
        // A required key without its own schema is governed by additionalProperties.
        for name in &required {
            if !props.iter().any(|(k, _)| &**k == *name) {
                match s.additional {
                    Some(additional) => props.push(((*name).into(), additional)),
                    None => {
                        let what = format!("required property \"{name}\" is not allowed by \"additionalProperties\"");
                        return Err(err(what, path));
                    }
                }
            }
        }
        set_properties(&mut s, props, required.into_iter(), path)?;

        if let Some(prefix) = obj.get("prefixItems") {
            let Some(prefix) = prefix.as_array() else {
                return Err(err("\"prefixItems\" must be an array of schemas", path));
            };
            let base = join(path, "prefixItems");
            s.prefix = prefix
                .iter()
                .enumerate()
                .map(|(i, p)| self.schema(p, &format!("{base}/{i}")))
                .collect::<Result<_, _>>()?;
        }
        if obj.get("items").is_some_and(Value::is_array) {
            return Err(err("unsupported keyword \"items\" with an array (use \"prefixItems\")", path));
        }
        s.items = self.optional_schema(obj, "items", path)?;
        if s.types & T_ARR != 0 && s.items.is_none() && (s.min_items as usize) > s.prefix.len() {
            return Err(err("\"minItems\" is above the number of items allowed", path));
        }
        Ok(self.push(Node::Schema(Box::new(s))))
    }

    /// A keyword holding a schema, absent meaning any value; `None` when it is `false`.
    fn optional_schema(&mut self, obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<NodeId>, String> {
        match obj.get(key) {
            None | Some(Value::Bool(true)) => Ok(Some(ANY)),
            Some(Value::Bool(false)) => Ok(None),
            Some(v) => self.schema(v, &join(path, key)).map(Some),
        }
    }
}

/// Sorts the known properties by name bytes and marks the required ones.
fn set_properties<'a>(
    s: &mut TypeSchema,
    mut props: Vec<(Box<str>, NodeId)>,
    required: impl Iterator<Item = &'a str>,
    path: &str,
) -> Result<(), String> {
    if props.len() > MAX_PROPERTIES {
        return Err(err(format!("more than {MAX_PROPERTIES} properties in one object"), path));
    }
    props.sort_by(|a, b| a.0.cmp(&b.0));
    s.names = props.iter().map(|(k, _)| k.clone()).collect();
    s.props = props.iter().map(|(_, id)| *id).collect();
    for name in required {
        if let Ok(k) = s.names.binary_search_by(|n| (**n).cmp(name)) {
            s.required |= 1u128 << k;
        }
    }
    Ok(())
}

/// A non-negative integer keyword (saturating at u32::MAX), or `default` when absent.
fn count(obj: &Map<String, Value>, key: &str, default: u32, path: &str) -> Result<u32, String> {
    match obj.get(key) {
        None => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
            None => Err(err(format!("\"{key}\" must be a non-negative integer"), path)),
        },
    }
}
