use super::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

fn compile(schema: Value) -> JsonConstraint {
    match JsonConstraint::from_schema(&schema) {
        Ok(c) => c,
        Err(e) => panic!("schema {schema} does not compile: {e}"),
    }
}

fn show(doc: &[u8]) -> String {
    String::from_utf8_lossy(doc).into_owned()
}

/// Feeds `doc` byte by byte, asserting every byte is accepted.
fn feed(c: &JsonConstraint, doc: &[u8]) -> Matcher {
    let mut m = c.start();
    for (i, &b) in doc.iter().enumerate() {
        assert!(m.advance(&[b]), "byte {i} ({:?}) of {:?} rejected", b as char, show(doc));
    }
    m
}

/// A valid document: every byte accepted, complete at the end and (its top-level value
/// having a closing byte) not before, and any split into chunks gives the same state.
fn accept(c: &JsonConstraint, doc: &str) {
    let doc = doc.as_bytes();
    let mut m = c.start();
    for (i, &b) in doc.iter().enumerate() {
        assert!(!m.is_complete(), "{:?} complete after {i} bytes", show(doc));
        assert!(m.advance(&[b]), "byte {i} ({:?}) of {:?} rejected", b as char, show(doc));
    }
    assert!(m.is_complete(), "{:?} not complete", show(doc));
    assert_chunks_agree(c, doc, &mut StdRng::seed_from_u64(doc.len() as u64));
}

/// `doc[..at]` is accepted byte by byte and `doc[at]` is not; feeding the whole document
/// at once fails and leaves the matcher unchanged.
fn reject_at(c: &JsonConstraint, doc: &str, at: usize) {
    let doc = doc.as_bytes();
    let mut m = feed(c, &doc[..at]);
    assert!(!m.accepts(&doc[at..=at]), "byte {at} ({:?}) of {:?} accepted", doc[at] as char, show(doc));
    let before = m.threads.clone();
    assert!(!m.advance(&doc[at..]));
    assert_eq!(m.threads, before, "a refused advance changed the state");
    let mut whole = c.start();
    assert!(!whole.advance(doc));
    assert_eq!(whole.threads, c.start().threads);
}

/// Random chunkings of `doc` reach the same state as byte-by-byte feeding.
fn assert_chunks_agree(c: &JsonConstraint, doc: &[u8], rng: &mut StdRng) {
    let reference = feed(c, doc);
    for _ in 0..4 {
        let mut m = c.start();
        let mut i = 0;
        while i < doc.len() {
            let n = rng.random_range(1..=8).min(doc.len() - i);
            assert!(m.accepts(&doc[i..i + n]));
            assert!(m.advance(&doc[i..i + n]), "chunk {i}..{} of {:?} rejected", i + n, show(doc));
            i += n;
        }
        assert_eq!(m.threads, reference.threads);
    }
}

#[test]
fn any_object_accepts_objects_only() {
    let c = JsonConstraint::any_object();
    accept(&c, "{}");
    accept(&c, r#"{"a":1,"b":[true,false,null,"x",{"c":{}}],"d":-0.5e+3}"#);
    accept(&c, "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}");
    accept(&c, " \n{ }");
    for doc in ["[]", "\"a\"", "1", "true", "null"] {
        reject_at(&c, doc, 0);
    }
    assert!(feed(&c, b"{}").must_end());
    assert!(!feed(&c, b"{").is_complete());
}

#[test]
fn numbers_follow_the_json_grammar() {
    let c = JsonConstraint::any_object();
    for n in
        ["0", "-0", "12", "-12", "0.5", "10.25", "1e5", "1E+5", "2e-05", "-0.0e0", "123456789012345678901234567890"]
    {
        accept(&c, &format!(r#"{{"a":{n}}}"#));
        accept(&c, &format!(r#"{{"a":[{n},{n}]}}"#));
    }
    reject_at(&c, r#"{"a":01}"#, 6);
    reject_at(&c, r#"{"a":-01}"#, 7);
    reject_at(&c, r#"{"a":00}"#, 6);
    reject_at(&c, r#"{"a":-}"#, 6);
    reject_at(&c, r#"{"a":1.}"#, 7);
    reject_at(&c, r#"{"a":.5}"#, 5);
    reject_at(&c, r#"{"a":+1}"#, 5);
    reject_at(&c, r#"{"a":1e}"#, 7);
    reject_at(&c, r#"{"a":1.e5}"#, 7);
    reject_at(&c, r#"{"a":1e+}"#, 8);
    reject_at(&c, r#"{"a":1.5.2}"#, 8);
    reject_at(&c, r#"{"a":1 2}"#, 7);

    // A top-level number is complete at once but can go on, except an integer zero.
    let num = compile(json!({"type": "number"}));
    let m = feed(&num, b"12");
    assert!(m.is_complete() && !m.must_end());
    assert!(!feed(&num, b"1.").is_complete());
    let int = compile(json!({"type": "integer"}));
    assert!(feed(&int, b"0").must_end());
    assert!(feed(&int, b"-0").must_end());
    assert!(!feed(&int, b"-").is_complete());
}

#[test]
fn integer_rejects_fraction_and_exponent() {
    let c = compile(json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}));
    accept(&c, r#"{"n":-42}"#);
    reject_at(&c, r#"{"n":1.0}"#, 6);
    reject_at(&c, r#"{"n":1e3}"#, 6);
    reject_at(&c, r#"{"n":0.5}"#, 6);
    let either = compile(json!({"type": ["integer", "number"]}));
    assert!(feed(&either, b"1.5").is_complete());
}

#[test]
fn trailing_commas_and_broken_structure_are_rejected() {
    let c = JsonConstraint::any_object();
    reject_at(&c, r#"{"a":1,}"#, 7);
    reject_at(&c, r#"{"a":[1,]}"#, 8);
    reject_at(&c, r#"{"a":[,1]}"#, 6);
    reject_at(&c, r#"{,}"#, 1);
    reject_at(&c, r#"{"a" 1}"#, 5);
    reject_at(&c, r#"{"a"::1}"#, 5);
    reject_at(&c, r#"{"a":1 "b":2}"#, 7);
    reject_at(&c, r#"{a:1}"#, 1);
    reject_at(&c, r#"{'a':1}"#, 1);
    reject_at(&c, r#"{"a":tru}"#, 8);
    reject_at(&c, r#"{"a":nul}"#, 8);
    reject_at(&c, r#"{"a":[}"#, 6);
    reject_at(&c, r#"{"a":{]}"#, 6);
    reject_at(&c, r#"{"a":1]"#, 6);
}

#[test]
fn strings_reject_control_chars_and_bad_escapes() {
    let c = JsonConstraint::any_object();
    accept(&c, r#"{"a":"\" \\ \/ \b \f \n \r \t \u0000 \u00e9 \uFFFF"}"#);
    accept(&c, "{\"a\":\"\u{7f} tab\\tok\"}");
    reject_at(&c, "{\"a\":\"x\ny\"}", 7);
    reject_at(&c, "{\"a\":\"x\ty\"}", 7);
    reject_at(&c, "{\"a\":\"\u{1}\"}", 6);
    reject_at(&c, "{\"a\n\":1}", 3);
    reject_at(&c, r#"{"a":"\x"}"#, 7);
    reject_at(&c, r#"{"a":"\u12G4"}"#, 10);
    reject_at(&c, r#"{"a":"\u12"}"#, 10);
    reject_at(&c, r#"{"a":"\'"}"#, 7);
}

#[test]
fn unicode_escapes_and_surrogates() {
    let c = JsonConstraint::any_object();
    accept(&c, r#"{"a":"\ud83d\ude00"}"#);
    accept(&c, r#"{"a":"\uD83D\uDE00\u20AC"}"#);
    accept(&c, r#"{"\ud83d\ude00":1}"#);
    // A lone low surrogate is refused at its second hex digit (DCxx, DDxx... are all low).
    reject_at(&c, r#"{"a":"\udc00"}"#, 9);
    // A high surrogate must be followed by \u and a low surrogate.
    reject_at(&c, r#"{"a":"\ud83dx"}"#, 12);
    reject_at(&c, r#"{"a":"\ud83d\n"}"#, 13);
    reject_at(&c, r#"{"a":"\ud83d\u0041"}"#, 14);
    reject_at(&c, r#"{"a":"\ud83d\ud83d"}"#, 15);
    reject_at(&c, r#"{"a":"\ud83d"}"#, 12);
}

#[test]
fn utf8_is_validated_across_token_boundaries() {
    let c = JsonConstraint::any_object();
    let doc = "{\"é€😀\":\"ключ 😀 é\"}";
    accept(&c, doc);
    // Every split point, including inside multi-byte characters.
    let bytes = doc.as_bytes();
    for cut in 0..bytes.len() {
        let mut m = c.start();
        assert!(m.advance(&bytes[..cut]) && m.advance(&bytes[cut..]) && m.is_complete());
    }
    let bad: [(&[u8], usize); 11] = [
        (b"{\"a\":\"\xC0\x80\"}", 6),         // overlong 2-byte
        (b"{\"a\":\"\xC1\xBF\"}", 6),         // overlong 2-byte
        (b"{\"a\":\"\xE0\x80\x80\"}", 7),     // overlong 3-byte
        (b"{\"a\":\"\xED\xA0\x80\"}", 7),     // UTF-8 encoded surrogate
        (b"{\"a\":\"\xF0\x80\x80\x80\"}", 7), // overlong 4-byte
        (b"{\"a\":\"\xF4\x90\x80\x80\"}", 7), // above U+10FFFF
        (b"{\"a\":\"\xF5\"}", 6),
        (b"{\"a\":\"\xFF\"}", 6),
        (b"{\"a\":\"\x80\"}", 6),      // stray continuation byte
        (b"{\"a\":\"\xC3\"}", 7),      // truncated before the quote
        (b"{\"a\":\"\xE2\x82x\"}", 8), // truncated before ASCII
    ];
    for (doc, at) in bad {
        let mut m = feed(&c, &doc[..at]);
        assert!(!m.advance(&doc[at..=at]), "{doc:?} accepted at {at}");
    }
    // Raw bytes outside strings are refused too.
    let mut m = c.start();
    assert!(!m.advance(b"{\xC3\xA9"));
}

#[test]
fn whitespace_runs_are_bounded() {
    let c = JsonConstraint::any_object();
    // Before the top-level value: ws_limit(0) = 8.
    assert!(c.start().accepts(&[b' '; 8]));
    assert!(!c.start().accepts(&[b' '; 9]));
    // Inside one open object: ws_limit(1) = 12, counted across tokens and kinds of space.
    let m = feed(&c, b"{");
    assert!(m.accepts(b"\n \t\r        "));
    assert!(!m.accepts(b"\n \t\r         "));
    // A run ends at any other byte; runs before and after a colon are separate.
    let m = feed(&c, b"{\"a\"            :            1            }");
    assert!(m.must_end());
    // Deeper levels get more room for indentation.
    let m = feed(&c, b"{\"a\":[[");
    assert!(m.accepts(&[b' '; 20]) && !m.accepts(&[b' '; 21]));
    // Whitespace inside strings is content, not counted.
    accept(&c, &format!("{{\"a\":\"{}\"}}", " ".repeat(100)));
}

#[test]
fn nothing_follows_the_top_level_value() {
    let c = JsonConstraint::any_object();
    let m = feed(&c, b"{\"a\":[1]}");
    assert!(m.is_complete() && m.must_end());
    for b in 0..=255u8 {
        assert!(!m.accepts(&[b]), "byte {b} accepted after the end");
    }
    let open = feed(&c, b"{\"a\":[1]");
    assert!(!open.is_complete() && !open.must_end());
}

#[test]
fn nesting_is_bounded() {
    let c = JsonConstraint::any_object();
    // The top-level object is depth 1; 63 arrays inside reach the limit of 64.
    let mut doc = String::from("{\"a\":");
    doc.push_str(&"[".repeat(63));
    let m = feed(&c, doc.as_bytes());
    assert!(!m.accepts(b"["));
    assert!(!m.accepts(b"{"));
    assert!(m.accepts(b"1"));
    doc.push_str(&"]".repeat(63));
    doc.push('}');
    accept(&c, &doc);
}

#[test]
fn required_and_closed_properties() {
    let c = compile(json!({
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "ab": {"type": "boolean"}},
        "required": ["a", "b"],
        "additionalProperties": false
    }));
    accept(&c, r#"{"a":1,"b":"x"}"#);
    accept(&c, r#"{"b":"x","ab":true,"a":1}"#);
    reject_at(&c, r#"{"a":1}"#, 6);
    reject_at(&c, r#"{}"#, 1);
    reject_at(&c, r#"{"c":1}"#, 2);
    reject_at(&c, r#"{"abc":1}"#, 4);
    reject_at(&c, r#"{"a":"x"}"#, 5);
    // "a" is taken, so after `"a` only "ab" remains: the closing quote is refused.
    reject_at(&c, r#"{"a":1,"a":2}"#, 9);
    accept(&c, r#"{"a":1,"ab":false,"b":""}"#);
    // Once every key is used, no comma can start another member.
    reject_at(&c, r#"{"a":1,"b":"x","ab":true,"#, 24);
}

#[test]
fn duplicate_keys_are_rejected() {
    let c = JsonConstraint::any_object();
    reject_at(&c, r#"{"k":1,"k":2}"#, 9);
    reject_at(&c, r#"{"k":1,"\u006b":2}"#, 14);
    accept(&c, r#"{"k":1,"kk":2,"K":{"k":3}}"#);
    let open = compile(json!({"type": "object", "properties": {"k": {"type": "integer"}}}));
    reject_at(&open, r#"{"k":1,"k":2}"#, 9);
    reject_at(&open, r#"{"x":1,"x":2}"#, 9);
}

#[test]
fn escaped_keys_narrow_the_closed_set() {
    let c = compile(json!({
        "type": "object",
        "properties": {"a": {"type": "integer"}, "é\"": {"type": "integer"}, "😀": {"type": "integer"}},
        "additionalProperties": false
    }));
    accept(&c, r#"{"\u0061":1}"#);
    accept(&c, r#"{"\u00e9\"":1}"#);
    accept(&c, r#"{"é\u0022":1}"#);
    accept(&c, r#"{"\ud83d\ude00":1}"#);
    accept(&c, r#"{"😀":1}"#);
    // \u007x cannot be 'a' (U+0061): refused at the 7.
    reject_at(&c, r#"{"\u007"#, 6);
    reject_at(&c, r#"{"\n"#, 3);
    reject_at(&c, r#"{"\ud83d\ude01"#, 13);
    reject_at(&c, r#"{"\ud83c"#, 7);
}

#[test]
fn enums_and_consts() {
    let c = compile(json!({"enum": ["red", "green", "gr", "é", 1, 10, 2.5, null, true, [1, "x"], {"k": "v"}]}));
    for doc in [r#""red""#, r#""gr""#, r#""green""#, r#""\u0072ed""#, r#""\u00e9""#, "null", "true", "2.5"] {
        let m = feed(&c, doc.as_bytes());
        assert!(m.is_complete() && m.must_end(), "{doc}");
    }
    accept(&c, r#"[1,"x"]"#);
    accept(&c, "[ 1 , \"x\" ]");
    accept(&c, r#"{"k":"v"}"#);
    reject_at(&c, r#""blue""#, 1);
    reject_at(&c, r#""reed""#, 3);
    reject_at(&c, r#""re""#, 3);
    reject_at(&c, r#""\u0073"#, 6);
    reject_at(&c, "false", 0);
    reject_at(&c, "3", 0);
    reject_at(&c, "100", 2);
    reject_at(&c, r#"[1,"y"]"#, 4);
    reject_at(&c, r#"[1,"x",2]"#, 6);
    reject_at(&c, r#"{"k":"v","j":1}"#, 8);
    reject_at(&c, r#"{}"#, 1);
    // 1 is complete but 10 may follow.
    let m = feed(&c, b"1");
    assert!(m.is_complete() && !m.must_end());
    assert!(feed(&c, b"10").must_end());

    let k = compile(json!({"type": "object", "properties": {"kind": {"const": "circle"}}, "required": ["kind"]}));
    accept(&k, r#"{"kind":"circle"}"#);
    reject_at(&k, r#"{"kind":"square"}"#, 9);
    // `type` filters the values.
    let s = compile(json!({"type": "string", "enum": ["a", 1]}));
    reject_at(&s, "1", 0);
    assert!(JsonConstraint::from_schema(&json!({"type": "string", "enum": [1]})).is_err());
}

#[test]
fn array_bounds_and_prefix_items() {
    let c = compile(json!({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2}));
    accept(&c, "[1]");
    accept(&c, "[1,2]");
    reject_at(&c, "[]", 1);
    reject_at(&c, "[1,2,3]", 4);
    reject_at(&c, "[\"a\"]", 1);
    let t = compile(json!({
        "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "boolean"}],
        "items": false
    }));
    accept(&t, r#"["a",true]"#);
    accept(&t, r#"["a"]"#);
    accept(&t, "[]");
    reject_at(&t, r#"[true]"#, 1);
    reject_at(&t, r#"["a",true,"#, 9);
    let rest = compile(json!({"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "null"}}));
    accept(&rest, r#"["a",null,null]"#);
    reject_at(&rest, r#"["a","b"]"#, 5);
}

#[test]
fn any_of_and_type_arrays() {
    let c = compile(json!({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 2}]}));
    assert!(feed(&c, b"12").is_complete());
    assert!(feed(&c, b"\"ab\"").must_end());
    reject_at(&c, "true", 0);
    reject_at(&c, "1.5", 1);
    reject_at(&c, "\"abc\"", 3);
    // Alternatives that share a prefix stay alive until the bytes tell them apart.
    let objs = compile(json!({"oneOf": [
        {"type": "object", "properties": {"t": {"const": "a"}, "x": {"type": "integer"}}, "required": ["t", "x"], "additionalProperties": false},
        {"type": "object", "properties": {"t": {"const": "b"}, "y": {"type": "string"}}, "required": ["t", "y"], "additionalProperties": false}
    ]}));
    accept(&objs, r#"{"t":"a","x":1}"#);
    accept(&objs, r#"{"t":"b","y":"s"}"#);
    reject_at(&objs, r#"{"t":"a","y":"s"}"#, 10);
    reject_at(&objs, r#"{"t":"b","y":1}"#, 13);
    let nullable = compile(json!({"type": ["string", "null"]}));
    assert!(feed(&nullable, b"null").must_end());
    assert!(feed(&nullable, b"\"x\"").must_end());
    reject_at(&nullable, "1", 0);
    let all = compile(json!({"allOf": [{"type": "boolean"}], "description": "d"}));
    assert!(feed(&all, b"false").must_end());
    reject_at(&all, "null", 0);
}

#[test]
fn string_length_counts_code_points() {
    let c = compile(json!({"type": "string", "minLength": 2, "maxLength": 3}));
    assert!(feed(&c, "\"é€😀\"".as_bytes()).must_end());
    assert!(feed(&c, br#""\ud83d\ude00\u00e9""#).must_end());
    reject_at(&c, "\"é€😀x\"", 10);
    reject_at(&c, r#""a""#, 2);
    reject_at(&c, r#""abc\n""#, 4);
    reject_at(&c, r#""ab\u0041\u0042""#, 9);
}

#[test]
fn recursive_ref_tree() {
    let tree = json!({
        "$defs": {"node": {
            "type": "object",
            "properties": {
                "value": {"type": "integer"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}
            },
            "required": ["value"],
            "additionalProperties": false
        }},
        "$ref": "#/$defs/node"
    });
    let c = compile(tree);
    accept(&c, r#"{"value":1}"#);
    accept(&c, r#"{"value":1,"children":[{"value":2,"children":[]},{"children":[{"value":4}],"value":3}]}"#);
    reject_at(&c, r#"{"value":1,"children":[{"value":"x"}]}"#, 32);
    reject_at(&c, r#"{"value":1,"children":[{"children":[]}]}"#, 37);
    reject_at(&c, r#"{"value":1,"children":[{"value":2,"other":1}]}"#, 35);

    // "#" is the root; "definitions" works like "$defs".
    let list = compile(json!({
        "type": "object",
        "properties": {"head": {"$ref": "#/definitions/item"}, "tail": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["head", "tail"],
        "additionalProperties": false,
        "definitions": {"item": {"type": "string"}}
    }));
    accept(&list, r#"{"head":"a","tail":{"head":"b","tail":null}}"#);
    reject_at(&list, r#"{"head":"a","tail":{"head":1"#, 27);
}

#[test]
fn additional_properties_schema() {
    let c = compile(json!({
        "type": "object",
        "properties": {"id": {"type": "integer"}},
        "required": ["id", "name"],
        "additionalProperties": {"type": "string"}
    }));
    accept(&c, r#"{"id":1,"name":"n","x":"y"}"#);
    reject_at(&c, r#"{"id":1,"x":2}"#, 12);
    reject_at(&c, r#"{"id":1,"x":"y"}"#, 15);
    reject_at(&c, r#"{"id":"1"}"#, 6);
    // Absent additionalProperties means any value; a known key still gets its schema.
    let open = compile(json!({"type": "object", "properties": {"id": {"type": "integer"}}}));
    accept(&open, r#"{"idx":[1,{"a":null}],"id":2}"#);
    reject_at(&open, r#"{"id":true}"#, 6);
}

#[test]
fn from_schema_reports_unsupported_keywords() {
    let cases = [
        (
            json!({"type": "object", "properties": {"a": {"patternProperties": {}}}}),
            "unsupported keyword \"patternProperties\" at /properties/a",
        ),
        (json!({"type": "string", "pattern": "^a$"}), "unsupported keyword \"pattern\" at /"),
        (json!({"type": "string", "format": "date"}), "unsupported keyword \"format\" at /"),
        (json!({"type": "string", "nullable": true}), "unsupported keyword \"nullable\" at /"),
        (json!({"type": "integer", "minimum": 0}), "unsupported keyword \"minimum\" at /"),
        (
            json!({"type": "array", "items": {"type": "object", "minProperties": 1}}),
            "unsupported keyword \"minProperties\" at /items",
        ),
        (json!({"$defs": {"a/b": {"not": {}}}, "$ref": "#/$defs/a~1b"}), "unsupported keyword \"not\" at /$defs/a~1b"),
        (json!({"allOf": [{"type": "string"}, {"maxLength": 3}]}), "\"allOf\""),
        (json!({"anyOf": [{"type": "string"}], "type": "string"}), "\"type\" alongside \"anyOf\""),
        (json!({"$ref": "#/$defs/x", "type": "string", "$defs": {"x": {}}}), "\"type\" alongside \"$ref\""),
        (json!({"$ref": "http://example.com/s.json"}), "unsupported $ref"),
        (json!({"$ref": "#/$defs/missing"}), "points at nothing"),
        (json!({"type": "strin"}), "unknown \"type\""),
        (json!({"type": "string", "minLength": -1}), "\"minLength\" must be a non-negative integer"),
        (json!({"type": "string", "minLength": 3, "maxLength": 2}), "\"minLength\" is above \"maxLength\""),
        (json!({"type": "array", "items": [{"type": "string"}]}), "\"items\" with an array"),
        (json!({"required": ["x"], "additionalProperties": false}), "required property \"x\""),
        (json!({"enum": []}), "allows no value"),
        (json!({"anyOf": []}), "non-empty array"),
        (json!(false), "accepts no value"),
        (json!({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}), "accepts no value"),
        (json!("string"), "must be an object or a boolean at /"),
    ];
    for (schema, want) in cases {
        match JsonConstraint::from_schema(&schema) {
            Ok(_) => panic!("{schema} compiled"),
            Err(e) => {
                assert!(e.starts_with("json_schema: "), "{e}");
                assert!(e.contains(want), "{schema}: {e:?} lacks {want:?}");
            }
        }
    }
    // Deep nesting is an error, not a stack overflow.
    let mut deep = json!({"type": "string"});
    for _ in 0..200 {
        deep = json!({"type": "array", "items": deep});
    }
    assert!(JsonConstraint::from_schema(&deep).is_err_and(|e| e.contains("nested deeper")));
}

#[test]
fn annotations_are_ignored() {
    let c = compile(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "x", "$comment": "c", "title": "t", "description": "d", "strict": true,
        "type": "object",
        "properties": {"a": {"type": "string", "default": "x", "examples": ["y"], "deprecated": true}},
        "required": ["a"],
        "additionalProperties": false
    }));
    accept(&c, r#"{"a":"z"}"#);
    assert!(JsonConstraint::from_schema(&json!(true)).is_ok_and(|c| feed(&c, b"[1]").is_complete()));
}

#[test]
fn accepts_and_clones_leave_the_state_alone() {
    let c = JsonConstraint::any_object();
    let mut m = feed(&c, b"{\"a\":");
    let before = m.threads.clone();
    assert!(m.accepts(b"[1,2]}"));
    assert!(!m.accepts(b"]"));
    assert_eq!(m.threads, before);
    let copy = m.clone();
    assert!(m.advance(b"1}"));
    assert!(copy.accepts(b"\"x\"}") && !copy.is_complete());
    assert!(m.advance(b""));
}

#[test]
fn many_alternatives_stay_bounded() {
    // 100 alternatives differing only at the end of a long string: threads are capped.
    let alts: Vec<Value> = (0..100).map(|i| json!({"const": format!("{}{i:03}", "x".repeat(20))})).collect();
    let c = compile(json!({"anyOf": alts}));
    let m = feed(&c, format!("\"{}", "x".repeat(20)).as_bytes());
    assert!(m.threads.len() <= MAX_THREADS);
    assert!(m.accepts(b"000\""));
}

// ---- generated documents ----

fn resolve<'a>(s: &'a Value, root: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
        Some(p) => resolve(root.pointer(p).unwrap_or(&Value::Bool(false)), root),
        None => s,
    }
}

const CHARS: &[char] =
    &['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\u{1}', '\u{1f}', '\u{7f}', 'é', '€', '😀', 'к', '\u{ffff}'];

fn random_string(rng: &mut StdRng, min: usize, max: usize) -> String {
    let n = rng.random_range(min..=max.min(min + 8));
    (0..n).map(|_| CHARS[rng.random_range(0..CHARS.len())]).collect()
}

fn random_number(rng: &mut StdRng, integer: bool) -> Value {
    match rng.random_range(0..4) {
        0 => json!(rng.random_range(-10..10)),
        1 => json!(rng.random::<i64>()),
        _ if integer => json!(rng.random::<u64>()),
        2 => json!(rng.random::<f64>() * 10f64.powi(rng.random_range(-30..30))),
        _ => json!(-rng.random::<f64>()),
    }
}

/// A random value that matches `s` (a schema in the supported subset).
fn generate(s: &Value, root: &Value, rng: &mut StdRng, depth: usize) -> Value {
    let s = resolve(s, root);
    if s == &Value::Bool(true) || s.as_object().is_some_and(|o| o.is_empty()) {
        return generate(
            &json!({"type": ["null", "boolean", "integer", "number", "string", "array", "object"]}),
            root,
            rng,
            depth,
        );
    }
    if let Some(all) = s.get("allOf") {
        return generate(&all[0], root, rng, depth);
    }
    if let Some(alts) = s.get("anyOf").or(s.get("oneOf")).and_then(Value::as_array) {
        return generate(&alts[rng.random_range(0..alts.len())], root, rng, depth);
    }
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return e[rng.random_range(0..e.len())].clone();
    }
    let mut types: Vec<&str> = match s.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec!["null", "boolean", "integer", "number", "string", "array", "object"],
    };
    // Deep down, prefer scalars so recursive schemas end.
    if depth > 4 && types.iter().any(|t| !matches!(*t, "array" | "object")) {
        types.retain(|t| !matches!(*t, "array" | "object"));
    }
    let count = |key: &str, default: usize| s.get(key).and_then(Value::as_u64).map_or(default, |n| n as usize);
    match types[rng.random_range(0..types.len())] {
        "null" => Value::Null,
        "boolean" => json!(rng.random_bool(0.5)),
        "integer" => random_number(rng, true),
        "number" => random_number(rng, false),
        "string" => json!(random_string(rng, count("minLength", 0), count("maxLength", 12))),
        "array" => {
            let prefix = s.get("prefixItems").and_then(Value::as_array).cloned().unwrap_or_default();
            let items = s.get("items").cloned().unwrap_or(json!(true));
            let min = count("minItems", 0);
            let mut max = count("maxItems", usize::MAX).min(min + if depth > 4 { 0 } else { 3 });
            if items == json!(false) {
                max = max.min(prefix.len());
            }
            let n = rng.random_range(min..=max.max(min));
            json!((0..n).map(|i| generate(prefix.get(i).unwrap_or(&items), root, rng, depth + 1)).collect::<Vec<_>>())
        }
        _ => {
            let empty = serde_json::Map::new();
            let props = s.get("properties").and_then(Value::as_object).unwrap_or(&empty);
            let required: Vec<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map_or(vec![], |r| r.iter().filter_map(Value::as_str).collect());
            let mut members: Vec<(String, Value)> = Vec::new();
            for (k, v) in props {
                if required.contains(&k.as_str()) || (depth < 4 && rng.random_bool(0.5)) {
                    members.push((k.clone(), generate(v, root, rng, depth + 1)));
                }
            }
            let additional = s.get("additionalProperties").cloned().unwrap_or(json!(true));
            if additional != json!(false) && depth < 4 {
                for _ in 0..rng.random_range(0..3) {
                    let key = random_string(rng, 0, 6);
                    if !props.contains_key(&key) && !members.iter().any(|(k, _)| *k == key) {
                        members.push((key, generate(&additional, root, rng, depth + 1)));
                    }
                }
            }
            members.shuffle(rng);
            Value::Object(members.into_iter().collect())
        }
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        // Integers beyond 64 bits parse as floats; the grammar still calls them integers.
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        _ => v.is_object(),
    }
}

/// An independent reference validator for the supported subset (oneOf as anyOf).
fn valid(s: &Value, root: &Value, v: &Value) -> bool {
    let s = resolve(s, root);
    let Some(o) = s.as_object() else { return s == &Value::Bool(true) };
    if let Some(all) = o.get("allOf").and_then(Value::as_array) {
        return all.iter().all(|a| valid(a, root, v));
    }
    if let Some(alts) = o.get("anyOf").or(o.get("oneOf")).and_then(Value::as_array) {
        return alts.iter().any(|a| valid(a, root, v));
    }
    let typed = match o.get("type") {
        Some(Value::String(t)) => type_ok(t, v),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(|t| type_ok(t, v)),
        _ => true,
    };
    if !typed {
        return false;
    }
    if let Some(c) = o.get("const") {
        return c == v;
    }
    if let Some(e) = o.get("enum").and_then(Value::as_array) {
        return e.contains(v);
    }
    let count = |key: &str| o.get(key).and_then(Value::as_u64).map(|n| n as usize);
    match v {
        Value::String(text) => {
            let n = text.chars().count();
            count("minLength").is_none_or(|m| n >= m) && count("maxLength").is_none_or(|m| n <= m)
        }
        Value::Array(items) => {
            let prefix = o.get("prefixItems").and_then(Value::as_array).map_or(&[][..], |p| p.as_slice());
            let rest = o.get("items").cloned().unwrap_or(json!(true));
            count("minItems").is_none_or(|m| items.len() >= m)
                && count("maxItems").is_none_or(|m| items.len() <= m)
                && items.iter().enumerate().all(|(i, item)| valid(prefix.get(i).unwrap_or(&rest), root, item))
        }
        Value::Object(members) => {
            let empty = serde_json::Map::new();
            let props = o.get("properties").and_then(Value::as_object).unwrap_or(&empty);
            let additional = o.get("additionalProperties").cloned().unwrap_or(json!(true));
            let required = o.get("required").and_then(Value::as_array).map_or(&[][..], |r| r.as_slice());
            required.iter().filter_map(Value::as_str).all(|k| members.contains_key(k))
                && members.iter().all(|(k, m)| valid(props.get(k).unwrap_or(&additional), root, m))
        }
        _ => true,
    }
}

fn test_schemas() -> Vec<Value> {
    vec![
        // OpenAI strict-mode style.
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 10},
                "age": {"type": "integer"},
                "score": {"type": "number"},
                "ok": {"type": "boolean"},
                "color": {"enum": ["red", "green", "blue", "ré\"d"]},
                "nick": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 4},
                "pets": {"type": "array", "items": {"$ref": "#/$defs/pet"}}
            },
            "required": ["name", "age", "score", "ok", "color", "nick", "tags", "pets"],
            "additionalProperties": false,
            "$defs": {"pet": {
                "type": "object",
                "properties": {"kind": {"const": "dog"}, "legs": {"type": "integer"}, "é😀\n": {"type": "null"}},
                "required": ["kind", "legs"],
                "additionalProperties": false
            }}
        }),
        // A recursive tree.
        json!({
            "$defs": {"node": {
                "type": "object",
                "properties": {"v": {"type": ["integer", "string"]}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "required": ["v", "kids"],
                "additionalProperties": false
            }},
            "$ref": "#/$defs/node"
        }),
        // Open objects.
        json!({
            "type": "object",
            "properties": {"id": {"type": "integer"}, "a": {"type": "string"}, "ab": {"type": "boolean"}},
            "required": ["id"],
            "additionalProperties": {"type": "string", "maxLength": 5}
        }),
        json!({"type": "object", "properties": {"x": {"type": "array"}, "y": {}}}),
        // Tuples and unions.
        json!({
            "type": "array",
            "prefixItems": [{"type": "string"}, {"type": ["integer", "null"]}],
            "items": {"oneOf": [{"type": "boolean"}, {"enum": [1, 10, 1.5, "x", [1], {"k": null}]}]},
            "minItems": 2,
            "maxItems": 6
        }),
        json!({"anyOf": [
            {"type": "object", "properties": {"t": {"const": "a"}, "n": {"type": "number"}}, "required": ["t", "n"], "additionalProperties": false},
            {"type": "object", "properties": {"t": {"const": "ab"}, "s": {"type": "string"}}, "required": ["t"], "additionalProperties": false},
            {"type": "array", "items": {"type": "integer"}}
        ]}),
        json!({"type": "object", "additionalProperties": true}),
    ]
}

#[test]
fn generated_documents_are_accepted() {
    let mut rng = StdRng::seed_from_u64(7);
    for schema in test_schemas() {
        let c = compile(schema.clone());
        for _ in 0..150 {
            let v = generate(&schema, &schema, &mut rng, 0);
            assert!(valid(&schema, &schema, &v), "generator made an invalid {v} for {schema}");
            let compact = serde_json::to_string(&v).expect("serializes");
            let pretty = serde_json::to_string_pretty(&v).expect("serializes");
            for doc in [compact, pretty] {
                let m = feed(&c, doc.as_bytes());
                assert!(m.is_complete(), "{doc:?} not complete for {schema}");
                assert_chunks_agree(&c, doc.as_bytes(), &mut rng);
            }
        }
    }
}

/// A document the matcher accepts completely is JSON and valid under the schema.
fn assert_sound(c: &JsonConstraint, schema: &Value, doc: &[u8]) -> bool {
    let mut m = c.start();
    if !m.advance(doc) || !m.is_complete() {
        return false;
    }
    match serde_json::from_slice::<Value>(doc) {
        Ok(v) => assert!(valid(schema, schema, &v), "accepted {:?}, invalid for {schema}", show(doc)),
        // The grammar has no limit on exponents; serde_json refuses infinite values.
        Err(e) if e.to_string().contains("number out of range") => {}
        Err(e) => panic!("accepted {:?}, which is not JSON: {e}", show(doc)),
    }
    true
}

#[test]
fn mutations_never_panic_and_accepted_output_is_valid() {
    let mut rng = StdRng::seed_from_u64(11);
    const INTERESTING: &[u8] = b"{}[]\",:0123456789-+.eE \n\\u/tnfabdkxy\x01\x7f\x80\xc3\xa9\xed\xf0\xff";
    let mut sound = 0;
    for schema in test_schemas() {
        let c = compile(schema.clone());
        for round in 0..300 {
            let v = generate(&schema, &schema, &mut rng, 0);
            let mut doc = serde_json::to_vec(&v).expect("serializes");
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..=doc.len());
                let b = if rng.random_bool(0.8) {
                    INTERESTING[rng.random_range(0..INTERESTING.len())]
                } else {
                    rng.random()
                };
                match rng.random_range(0..3) {
                    0 if at < doc.len() => doc[at] = b,
                    1 if at < doc.len() => {
                        doc.remove(at);
                    }
                    _ => doc.insert(at, b),
                }
            }
            // Byte by byte and all at once agree, and every state can go on or must end.
            let mut m = c.start();
            let mut all_fed = true;
            for (i, &b) in doc.iter().enumerate() {
                if round % 10 == 0 {
                    let some_byte = (0..=255u8).any(|x| m.accepts(&[x]));
                    assert_eq!(some_byte, !m.must_end(), "at {i} of {:?}", show(&doc));
                }
                if !m.advance(&[b]) {
                    all_fed = false;
                    break;
                }
            }
            assert_eq!(c.start().accepts(&doc), all_fed);
            sound += usize::from(assert_sound(&c, &schema, &doc));
        }
    }
    // Some mutants must be accepted, or the check above tests nothing.
    assert!(sound > 50, "{sound}");

    // Random token soup, after `{"a":`, so that some of it is complete.
    const TOKENS: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "\"a\"",
        "\"b\"",
        ":",
        ",",
        "1",
        "0",
        "-",
        ".",
        "e",
        "true",
        "null",
        " ",
        "\"\\u00e9\"",
        "\"\\n",
    ];
    let c = JsonConstraint::any_object();
    let mut random_sound = 0;
    for _ in 0..20_000 {
        let mut doc = String::from("{\"a\":");
        for _ in 0..rng.random_range(1..12) {
            doc.push_str(TOKENS[rng.random_range(0..TOKENS.len())]);
        }
        random_sound += usize::from(assert_sound(&c, &json!({"type": "object"}), doc.as_bytes()));
    }
    assert!(random_sound > 20, "{random_sound}");
}

/// Every string up to 6 bytes over a small alphabet: the matcher finds a complete
/// document exactly where serde_json parses one (an object for `any_object`), with no
/// whitespace trailing.
#[test]
fn short_strings_agree_with_serde_json() {
    const ALPHABET: &[u8] = b"{}[]\":,01-.e ";
    fn walk(doc: &mut Vec<u8>, m: Option<&Matcher>, object: bool, checked: &mut usize) {
        let ours = m.is_some_and(Matcher::is_complete);
        let parsed = match serde_json::from_slice::<Value>(doc) {
            Ok(v) => v.is_object() || !object,
            // The grammar allows any exponent; serde_json refuses infinite values.
            Err(e) => !object && e.to_string().contains("number out of range"),
        };
        let theirs = parsed && doc.last() != Some(&b' ');
        assert_eq!(ours, theirs, "{:?}", show(doc));
        *checked += 1;
        if doc.len() == 6 {
            return;
        }
        for &b in ALPHABET {
            let next = m.and_then(|m| {
                let mut n = m.clone();
                n.advance(&[b]).then_some(n)
            });
            doc.push(b);
            walk(doc, next.as_ref(), object, checked);
            doc.pop();
        }
    }
    for (c, object) in [(JsonConstraint::any_object(), true), (compile(json!(true)), false)] {
        let mut checked = 0;
        walk(&mut Vec::new(), Some(&c.start()), object, &mut checked);
        assert!(checked > 5_000_000);
    }
}
