#!/usr/bin/env python3
"""Golden fixture for herd's BFCL scorer (crates/herd-lab/src/eval/score/bfcl.rs): what BFCL's own
AST checker answers on model outputs crafted around BFCL's own test entries.

Nothing here comes from herd, and no reference code is copied: every verdict is computed by the
installed bfcl-eval 2026.3.23 (pinned with its sha256 in requirements-bfcl.txt):

  bfcl_eval.eval_checker.ast_eval.ast_checker.ast_checker   the verdict and error type of a
      decoded output, called as eval_runner's _evaluate_single_ast_entry calls it (after its
      is_function_calling_format_output check, from bfcl_eval.utils' source), with the model
      name meta-llama/Llama-3.1-8B-Instruct-FC and the category's language (Java for
      simple_java, JavaScript for simple_javascript, else Python).
  java_type_converter, js_type_converter   (ast_eval/type_convertor/) what a Java or
      JavaScript value written as a string converts to, on crafted strings ("convert" rows).
  LlamaHandler_3_1.decode_ast   (bfcl_eval/model_handler/local_inference/llama_3_1.py) how BFCL
      decodes Llama 3.1 FC text, for the text cases: the method's own source, compiled from the
      installed file without the module's imports (its base classes import openai).

Stand-in: `bfcl_eval.constants.model_config` imports all ~70 model handlers and their SDKs. The
checker reads one thing from it, `MODEL_CONFIG_MAPPING[name].underscore_to_dot`, which is False
for Llama 3.1 FC in the real table (asserted against the file's text below); a one-entry module
stands in for it, so the checker module itself runs unmodified.

The test entries and possible answers are bfcl-eval's data/BFCL_v4_{simple_python,simple_java,
simple_javascript,multiple,parallel,parallel_multiple}.json (Apache-2.0); the outputs are
crafted here: right, alternative possible value, optional omitted, string normalisation, int for
float, wrong value, wrong type, bool for int, missing required, missing optional, extra
parameter, wrong function name, wrong count, permuted parallel order, nested list/dict values,
not-a-call formats; for Java and JavaScript each value written as source in several ways (typed
literals, collection constructors, quoting) and not as a string.

    eval_bfcl.py [--out tests/fixtures/eval/bfcl.json]

Run it with any python3: unless bfcl_eval imports, it creates
${HERD_HOME:-~/.cache/herd}/golden-bfcl-venv from requirements-bfcl.txt (pip, PyPI only) and
re-runs itself there. Takes a few seconds.
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib.util
import json
import re
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, log, write_json_lines_array, run_in_venv  # noqa: E402

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-bfcl.txt"
MODEL = "meta-llama/Llama-3.1-8B-Instruct-FC"
CATEGORIES = ["simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple"]
LANGUAGES = {"simple_java": "JAVA", "simple_javascript": "JAVASCRIPT"}
MIN_CASES = 60
# Entries whose possible answers exercise the rarer paths: lists of dicts or of lists (nested
# type checks, list_dict_checker), and answers of another type than the schema's (the
# checker's "variable" case: a string or an int where the schema says bool or float).
EXTRA_IDS = {
    "simple_python_96", "simple_python_122", "simple_python_307", "simple_python_335",
    "multiple_119", "multiple_178", "parallel_84", "parallel_122", "parallel_152",
}


def ensure_reference() -> None:
    if importlib.util.find_spec("bfcl_eval") is not None:
        return
    run_in_venv(__file__, "golden-bfcl-venv", REQUIREMENTS, pip_args=("--require-hashes",))


ensure_reference()

PKG = Path(importlib.util.find_spec("bfcl_eval").submodule_search_locations[0])

# The stand-in for constants.model_config (see the module docstring), checked against the real
# table's entry for the model.
_real = (PKG / "constants" / "model_config.py").read_text(encoding="utf-8")
_entry = _real[_real.index(f'"{MODEL}": ModelConfig(') :]
_entry = _entry[: _entry.index("),")]
assert "underscore_to_dot=False" in _entry, "Llama 3.1 FC's underscore_to_dot changed: update the stand-in"
_mc = types.ModuleType("bfcl_eval.constants.model_config")
_mc.MODEL_CONFIG_MAPPING = {MODEL: types.SimpleNamespace(underscore_to_dot=False)}
sys.modules["bfcl_eval.constants.model_config"] = _mc

from bfcl_eval.constants.enums import Language, ReturnFormat  # noqa: E402
from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker  # noqa: E402
from bfcl_eval.eval_checker.ast_eval.type_convertor.java_type_converter import java_type_converter  # noqa: E402
from bfcl_eval.eval_checker.ast_eval.type_convertor.js_type_converter import js_type_converter  # noqa: E402


def _function_from_source(path: Path, qualname: str, env: dict, also: tuple[str, ...] = ()):
    """A function compiled from an installed module's source, without running the module
    (with the module-level functions it calls, `also`, in the same namespace)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = []
    for name in (qualname, *also):
        body = tree.body
        node = None
        for part in name.split("."):
            node = next(n for n in body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part)
            body = node.body
        node.decorator_list = []
        nodes.append(node)
    ns = dict(env)
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), ns)  # noqa: S102 - the reference's own source
    return ns[qualname.split(".")[-1]]


# eval_runner's format check and Llama 3.1's decoder, from their files.
is_function_calling_format_output = _function_from_source(
    PKG / "utils.py", "is_function_calling_format_output", {}
)
# What the generation step sends Llama 3.1 FC: the functions with the language hint
# (load_dataset_entry's default), formatted by LlamaHandler_3_1._format_prompt.
func_doc_pre_processing = _function_from_source(
    PKG / "utils.py",
    "_func_doc_language_specific_pre_processing",
    {"json": json},
    also=("_get_language_specific_hint", "is_java", "is_js"),
)
llama31_format_prompt = _function_from_source(
    PKG / "model_handler" / "local_inference" / "llama_3_1.py", "LlamaHandler_3_1._format_prompt", {"json": json}
)
llama31_decode_ast = _function_from_source(
    PKG / "model_handler" / "local_inference" / "llama_3_1.py", "LlamaHandler_3_1.decode_ast", {"json": json}
)


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (PKG / "data" / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def reference_verdict(entry: dict, truth: list, decoded, category: str) -> tuple[bool, str] | None:
    """eval_runner's path after decoding; None where the checker raises (herd's Rust port
    returns an invalid verdict there, which is not compared)."""
    if not is_function_calling_format_output(decoded):
        return False, "ast_decoder:decoder_wrong_output_format"
    try:
        language = getattr(Language, LANGUAGES.get(category, "PYTHON"))
        r = ast_checker(entry["function"], decoded, truth, language, category, MODEL.replace("/", "_"))
    except Exception:  # noqa: BLE001
        return None
    return bool(r["valid"]), "" if r["valid"] else r["error_type"]


# --- crafted outputs -------------------------------------------------------------------------


def resolve(v):
    """A possible value as a model would write it: a dict's possible answer maps each key to
    its possible values, so the first one (not "") is taken, recursively."""
    if isinstance(v, dict):
        return {k: resolve(first_value(c)) for k, c in v.items() if first_value(c) is not None}
    if isinstance(v, list):
        return [resolve(x) for x in v]
    return v


def first_value(choices):
    for c in choices if isinstance(choices, list) else [choices]:
        if c != "":
            return copy.deepcopy(c)
    return None


def params_of(entry: dict, fname: str) -> dict:
    for f in entry["function"]:
        if f["name"] == fname:
            return f["parameters"]
    return {"properties": {}, "required": []}


def right_call(call: dict) -> dict:
    (fname, params), = call.items()
    out = {}
    for p, choices in params.items():
        v = first_value(choices)
        if v is not None:
            out[p] = resolve(v)
    return {fname: out}


def wrong_value(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 7
    if isinstance(v, float):
        return v + 0.5
    if isinstance(v, str):
        return v + " qqq"
    if isinstance(v, list):
        return v + (["zzz"] if v and isinstance(v[0], str) else [987])
    if isinstance(v, dict):
        return {**v, "zz_extra_key": "x"}
    return "zzz"


def wrong_type(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        return 12345
    if isinstance(v, list):
        return ",".join(map(str, v))
    if isinstance(v, dict):
        return json.dumps(v)
    return 1


def normalized_variant(s: str) -> str:
    """The same string under standardize_string: case, spaces and ,./-_*^ changed."""
    t = s.upper() if s.lower() != s.upper() else s + " "
    return t.replace(" ", "  ") + "."


def variants_simple(entry: dict, truth: list, category: str):
    """(kind, decoded output) pairs around one expected call."""
    call = truth[0]
    (fname, params), = call.items()
    schema = params_of(entry, fname)
    props = schema.get("properties", {})
    required = schema.get("required", [])
    right = right_call(call)
    args = right[fname]
    yield "right", [right]
    for p, choices in params.items():
        alts = [c for c in choices if c != ""]
        if len(alts) > 1:
            yield f"alternative_value:{p}", [{fname: {**args, p: resolve(alts[1])}}]
    optional = [p for p, c in params.items() if "" in c and p in args]
    if optional:
        yield "optional_omitted", [{fname: {k: v for k, v in args.items() if k not in optional}}]
    not_optional = [p for p, c in params.items() if "" not in c and p not in required and p in args]
    if not_optional:
        yield "missing_optional", [{fname: {k: v for k, v in args.items() if k != not_optional[0]}}]
    req = [p for p in required if p in args]
    if req:
        yield "missing_required", [{fname: {k: v for k, v in args.items() if k != req[0]}}]
    for p, v in args.items():
        t = props.get(p, {}).get("type")
        if t == "string" and isinstance(v, str) and v:
            yield f"string_normalised:{p}", [{fname: {**args, p: normalized_variant(v)}}]
            break
    for p, v in args.items():
        t = props.get(p, {}).get("type")
        if t == "float" and isinstance(v, float) and v.is_integer():
            yield f"int_for_float:{p}", [{fname: {**args, p: int(v)}}]
            break
    for p, v in args.items():
        t = props.get(p, {}).get("type")
        if t == "integer" and isinstance(v, int) and not isinstance(v, bool):
            yield f"float_for_int:{p}", [{fname: {**args, p: float(v)}}]
            if v in (0, 1):
                yield f"bool_for_int:{p}", [{fname: {**args, p: bool(v)}}]
            break
    for p, v in args.items():
        t = props.get(p, {}).get("type")
        if t in ("array", "tuple") and isinstance(v, list) and v:
            yield f"list_reversed:{p}", [{fname: {**args, p: list(reversed(v))}}]
            if len(v) > 1:
                yield f"list_shortened:{p}", [{fname: {**args, p: v[:-1]}}]
            if all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                yield f"list_ints_as_floats:{p}", [{fname: {**args, p: [float(x) for x in v]}}]
            yield f"list_item_wrong_type:{p}", [{fname: {**args, p: [wrong_type(v[0])] + v[1:]}}]
            yield f"list_items_normalised:{p}", [
                {fname: {**args, p: [normalized_variant(x) if isinstance(x, str) else x for x in v]}}
            ]
        if t == "dict" and isinstance(v, dict) and v:
            k0 = next(iter(v))
            yield f"dict_key_missing:{p}", [{fname: {**args, p: {k: x for k, x in v.items() if k != k0}}}]
            yield f"dict_value_wrong:{p}", [{fname: {**args, p: {**v, k0: wrong_value(v[k0])}}}]
            yield f"dict_extra_key:{p}", [{fname: {**args, p: {**v, "zz_extra_key": 1}}}]
            if isinstance(v[k0], str):
                yield f"dict_value_normalised:{p}", [{fname: {**args, p: {**v, k0: normalized_variant(v[k0])}}}]
    if args:
        p0, v0 = next(iter(args.items()))
        yield f"wrong_value:{p0}", [{fname: {**args, p0: wrong_value(v0)}}]
        yield f"wrong_type:{p0}", [{fname: {**args, p0: wrong_type(v0)}}]
    yield "extra_param", [{fname: {**args, "zz_unknown_param": 1}}]
    yield "wrong_function_name", [{fname + "_v2": args}]
    yield "two_calls", [right, right]
    yield "no_call", []
    others = [f["name"] for f in entry["function"] if f["name"] != fname]
    if others:
        yield "other_function", [{others[0]: args}]


def variants_parallel(entry: dict, truth: list, category: str):
    rights = [right_call(c) for c in truth]
    yield "right", rights
    if len(rights) > 1:
        yield "permuted", list(reversed(rights))
        yield "rotated", rights[1:] + rights[:1]
        yield "one_missing", rights[:-1]
    yield "one_extra", rights + [rights[0]]
    # One call wrong in various ways (the others right), via the simple variants of its call.
    for i, call in enumerate(truth[:2]):
        for kind, dec in variants_simple(entry, [call], category):
            if kind in ("right", "two_calls", "no_call"):
                continue
            out = list(rights)
            out[i] = dec[0] if dec else rights[i]
            yield f"call{i}:{kind}", out


def text_cases(entry: dict, truth: list, category: str):
    """Llama 3.1 answer texts: (kind, text)."""
    rights = [right_call(c) for c in truth]
    objs = [{"name": n, "parameters": a} for r in rights for n, a in r.items()]
    yield "json_one", json.dumps(objs[0])
    yield "python_tag_json", "<|python_tag|>" + json.dumps(objs[0])
    yield "json_list", json.dumps(objs)
    yield "semicolons", "; ".join(json.dumps(o) for o in objs)
    yield "typed_json", json.dumps({"type": "function", **objs[0]})
    yield "prose", "I am sorry, I cannot call these functions."
    yield "no_parameters", json.dumps({"name": objs[0]["name"]})
    yield "json_indented_list", json.dumps(objs, indent=4)


# --- Java and JavaScript: values written as source strings -----------------------------------


def java_literal(x) -> str:
    """An untyped element or map value as Java source."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, str):
        return json.dumps(x)
    return str(x)


def js_literal(x, quote="'") -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, str):
        return quote + x + quote
    if isinstance(x, list):
        return "[" + ", ".join(js_literal(y, quote) for y in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{quote}{k}{quote}: {js_literal(v, quote)}" for k, v in x.items()) + "}"
    return str(x)


JAVA_ARRAY_TYPES = {"String": "String", "integer": "int", "long": "long", "char": "char", "any": "Object"}


def java_sources(v, ty: str, item: str | None) -> list[str]:
    """Ways a model might write value `v` of Java type `ty`: right, near misses and wrong."""
    if isinstance(v, str) and ty not in ("Array", "ArrayList", "HashMap"):
        return [v, json.dumps(v), f"'{v}'", v + "\n"]
    if ty in ("byte", "short", "integer"):
        return [str(v), f"{v}L", f"{v}.0", f" {v}", f"{v}\n"]
    if ty == "long":
        return [f"{v}L", f"{v}l", str(v), f"{v}LL", f"{v}L\n"]
    if ty in ("double", "float"):
        return [repr(float(v)), f"{float(v)}f", f"{float(v)}F", f"{float(v)}e0", str(v), f"{float(v)}d"]
    if ty == "boolean":
        return ["true" if v else "false", "True" if v else "False", "1" if v else "0"]
    if ty == "char":
        return [str(v), f"'{v}'"]
    if ty in ("String", "any"):
        return [str(v), json.dumps(v), java_literal(v)]
    if ty == "Array" and isinstance(v, list):
        jt = JAVA_ARRAY_TYPES.get(item or "", "Object")
        bare = ", ".join(str(x) for x in v)
        lits = ", ".join(java_literal(x) for x in v)
        return [f"new {jt}[]{{{bare}}}", f"new {jt}[] {{ {lits} }}", f"new {jt}[]{{}}", f"{{{bare}}}", str(v)]
    if ty == "ArrayList" and isinstance(v, list):
        lits = ", ".join(java_literal(x) for x in v)
        bare = ", ".join(str(x) for x in v)
        adds = " ".join(f"add({java_literal(x)});" for x in v)
        # Each element as its item type's own source ("101L" for a long).
        typed = ", ".join(java_literal(x) if item in ("String", "char") else java_sources(x, item, None)[0] for x in v)
        return [
            f"new ArrayList<>(Arrays.asList({typed}))",
            f"new ArrayList<>(Arrays.asList({bare}))",
            f"new ArrayList<>(Arrays.asList({lits}))",
            f"new ArrayList<String>() {{{{ {adds} }}}}",
            "new ArrayList<>()",
            f"Arrays.asList({lits})",
        ]
    if ty == "HashMap" and isinstance(v, dict):
        puts = " ".join(f'put("{k}", {java_literal(x)});' for k, x in v.items())
        puts_bare = " ".join(f'put("{k}", {x});' for k, x in v.items())
        return [
            f"new HashMap<String, Object>() {{{{ {puts} }}}}",
            f"new HashMap<String, String>() {{{{{puts_bare}}}}}",
            "new HashMap<>()",
            "new HashMap<>() {{ }}",
            json.dumps(v),
        ]
    return [str(v), json.dumps(v)]


def js_sources(v, ty: str, item: str | None) -> list[str]:
    if isinstance(v, str) and ty not in ("array", "dict"):
        return [v, f"'{v}'", json.dumps(v), f"'{v}\"", v + "\n"]
    if ty in ("integer", "Bigint"):
        return [str(v), f"{v}n", f"{v}.0", f"{v}\n"]
    if ty == "float":
        return [repr(float(v)), str(v), f"{float(v)}e0", f"{float(v)}f", f" {float(v)}"]
    if ty == "Boolean":
        return ["true" if v else "false", "True" if v else "False"]
    if ty == "array" and isinstance(v, list):
        return [
            js_literal(v),
            js_literal(v, '"'),
            "new Array(" + ", ".join(js_literal(x) for x in v) + ")",
            "[" + ", ".join(str(x) for x in v) + "]",
            "[" + js_literal(v) + ", " + js_literal(v) + "]",
            "[]",
        ]
    if ty == "dict" and isinstance(v, dict):
        return [
            js_literal(v),
            js_literal(v, '"'),
            "{" + ", ".join(f"{k}: {js_literal(x)}" for k, x in v.items()) + "}",
            "{}",
            json.dumps(v, indent=1),
        ]
    return [str(v), json.dumps(v), js_literal(v)]


def variants_lang(entry: dict, truth: list, category: str):
    """(kind, decoded output) pairs around one expected call in Java or JavaScript: each
    parameter written in several ways (as the checker's type converters read them), not as a
    string, left out; the call's shape varied as for Python."""
    sources = java_sources if category == "simple_java" else js_sources
    call = truth[0]
    (fname, params), = call.items()
    schema = params_of(entry, fname)
    props = schema.get("properties", {})
    required = schema.get("required", [])
    args = {}
    written = {}
    for p, choices in params.items():
        v = first_value(choices)
        if v is None:
            continue
        ty = props.get(p, {}).get("type", "String")
        item = props.get(p, {}).get("items", {}).get("type")
        forms = sources(resolve(v), ty, item)
        args[p] = forms[0]
        written[p] = (forms, v)
    yield "right", [{fname: args}]
    for p, (forms, v) in written.items():
        for i, f in enumerate(forms[1:], 1):
            yield f"written_{i}:{p}", [{fname: {**args, p: f}}]
        yield f"not_a_string:{p}", [{fname: {**args, p: resolve(v)}}]
        yield f"wrong_value:{p}", [{fname: {**args, p: sources(wrong_value(resolve(v)), props.get(p, {}).get("type", "String"), props.get(p, {}).get("items", {}).get("type"))[0]}}]
    for p, choices in params.items():
        alts = [c for c in choices if c != ""]
        if len(alts) > 1:
            ty = props.get(p, {}).get("type", "String")
            yield f"alternative_value:{p}", [{fname: {**args, p: sources(resolve(alts[1]), ty, None)[0]}}]
    optional = [p for p, c in params.items() if "" in c and p in args]
    if optional:
        yield "optional_omitted", [{fname: {k: v for k, v in args.items() if k not in optional}}]
    req = [p for p in required if p in args]
    if req:
        yield "missing_required", [{fname: {k: v for k, v in args.items() if k != req[0]}}]
    yield "extra_param", [{fname: {**args, "zz_unknown_param": "1"}}]
    yield "wrong_function_name", [{fname + "_v2": args}]
    yield "two_calls", [{fname: args}, {fname: args}]
    yield "no_call", []


# Direct converter cases: the regular expressions' corners (Python's `$` before a final
# newline, lazy matches, int()/float() spellings, nesting), each through the reference.
JAVA_CONVERT = [
    ("integer", None, ["5", "-12", "+5", "05", "1_000", "5\n", "5\n\n", " 5", "5.0", "5L", "", "-", "abc"]),
    ("long", None, ["5L", "-5l", "5", "5L\n", "5LL", "9223372036854775807L", "L", "1_0L"]),
    ("short", None, ["7", "7s"]),
    ("byte", None, ["-1", "0x1"]),
    ("double", None, ["3.14", "-3", "3.", ".5", "1e5", "1.5E-3", "3.14f", "3.14\n", "1e", "NaN"]),
    ("float", None, ["3.14f", "3F", "-1.5e2f", "3.14", "3.14f\n", ".5f", "f"]),
    ("boolean", None, ["true", "false", "True", "TRUE", "1", "true\n"]),
    ("char", None, ["a", "'a'", "'ab'", ""]),
    ("String", None, ["hello", '"hello"', "", "a\nb"]),
    ("any", None, ["x", "new Object()", "42"]),
    ("Array", "integer", ["new int[]{1, 2, 3}", "new int[] { 1,2 ,3 }", "new int[]{}", "new int[]{1, , 2}",
                          "new int[]{1, x, 2.5}", "{1, 2}", "int[] a = new int[]{4}", "new int[]{1}{2}", "new int[][]{1}"]),
    ("Array", "String", ['new String[]{"a", "b"}', "new String[]{a, b}", 'new String[] {"a,b", "c"}']),
    ("Array", "long", ["new long[]{1L, 2, 3L}", "new long[]{1L, 2.0, 3L}"]),
    ("Array", "char", ["new char[]{'a', 'b'}"]),
    ("Array", "any", ['new Object[]{1, "abc", true, 2L, 1.5f, 2.5, 1_0, x}']),
    ("Array", "boolean", ["new boolean[]{true, false, TRUE}"]),
    ("ArrayList", "integer", ["new ArrayList<>(Arrays.asList(1, 2, 3))", "new ArrayList<Integer>(Arrays.asList(1, 2))",
                              "new ArrayList<>()", "new ArrayList<Integer>() {{ add(1); add(2); }}",
                              "new ArrayList<>(Arrays.asList(1, foo(2), 3))", "ArrayList<>(Arrays.asList(1))",
                              "new ArrayList<>() {{\n add(1);\n add(2);\n}}", "[1, 2]"]),
    ("ArrayList", "String", ['new ArrayList<>(Arrays.asList("a", "b"))', "new ArrayList<String>() {{ add(\"x\"); add(\"y\"); }}",
                             "new ArrayList<>(Arrays.asList(a))", "new ArrayList<>(Arrays.asList(\"\"))"]),
    ("ArrayList", "char", ["new ArrayList<Character>() {{ add('a'); add('b'); }}"]),
    ("ArrayList", "double", ["new ArrayList<Double>() {{ add(1.0); add(2); }}"]),
    ("ArrayList", "any", ['new ArrayList<>(Arrays.asList(1, "abc", true))']),
    ("HashMap", None, ['new HashMap<String, String>() {{ put("key", "value"); }}', "new HashMap<>()", "new HashMap<>() {}",
                       "new HashMap<>() {{}}", 'new HashMap<String, Object>() {{ put("k1", 1); put("k2", "v 2"); put("k3", true); }}',
                       'new HashMap<String, String>() { { put("key", "value"); } }', 'new HashMap<String, Integer>() {{ put("a", 1); put("a", 2); }}',
                       'new HashMap<>() {{\n put("a", 1L);\n put("b", 2.5f);\n}}', '{"a": 1}', "new HashMap<String, Map<String, Integer>>()",
                       'new HashMap<>() {{ put(\'a\', 1); }}']),
    ("Set", None, ["new HashSet<>()"]),
    ("Queue", None, ["x"]),
    ("Object", None, ["x"]),
]
JS_CONVERT = [
    ("String", None, ["hello", "'hello'", '"hello"', "'hello\"", "'", '"', "", "'a'b'"]),
    ("integer", None, ["5", "-5", "5.0", "5n", "+5", "5\n", "1_000"]),
    ("float", None, ["3.14", "3", "-0.5", "1e5", ".5", "3.14\n", "3.14f"]),
    ("Bigint", None, ["5n", "-5n", "5", "5n\n", "n"]),
    ("Boolean", None, ["true", "false", "True", "true\n"]),
    ("any", None, ["x", "{a: 1}"]),
    ("array", "integer", ["[1, 2, 3]", "new Array(1, 2, 3)", "[]", "[ ]", "new Array()", "[1, '2', \"3\"]",
                          "[1, 2] + [3]", "x = [1]", "[[1, 2], [3, 4]]", "new Array([1, 2], [3])", "[1, 2.5, x]"]),
    ("array", "String", ["['a', 'b']", '["a", "b"]', "[a, b]", "['a, b', 'c']", "['a', 5, true]", "[['a'], ['b']]"]),
    ("array", "float", ["[1.5, 2, '3.5']", "[1e3, .5]"]),
    ("array", "dict", ["[{a: 1}, {b: 2}]"]),
    ("array", "array", ["[[1], [2]]", "[1, [2, 3]]"]),
    ("dict", None, ["{}", "{'key': 'value'}", "{'key': 123}", '{"a": 1, "b": [1, 2], "c": {"d": true}}',
                    "{a: 1, b: 'x, y', c: 2}", "{ key : value }", "{'a': [1, 2], 'b': 3}", "{'a': {'b': 1}, 'c': 2}",
                    "{'a': 1} trailing", "not a dict", "{'a': 'it''s'}", "{a:1,b:2}", "{'k': 1.5, 'n': -2, 'f': false}",
                    "{\n 'a': 1\n}", "{'a': '1', 'b': \"2\"}"]),
    ("Map", None, ["x"]),
]


def convert_cases() -> list[dict]:
    out = []
    for lang, table, conv in (("java", JAVA_CONVERT, java_type_converter), ("javascript", JS_CONVERT, js_type_converter)):
        for ty, nested, inputs in table:
            for text in inputs:
                row = {"lang": lang, "type": ty, "nested": nested, "input": text}
                try:
                    got = conv(text, ty, nested) if nested else conv(text, ty)
                except Exception as e:  # noqa: BLE001
                    row["raises"] = type(e).__name__
                    out.append(row)
                    continue
                try:
                    json.dumps(got, allow_nan=False)
                except ValueError:
                    continue  # a NaN or infinity: no JSON form (herd reports it as unrepresentable)
                if any(isinstance(i, int) and not -(2**63) <= i < 2**64 for i in _ints(got)):
                    continue
                row["output"] = got
                out.append(row)
    return out


def _ints(v):
    if isinstance(v, bool):
        return
    if isinstance(v, int):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from _ints(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from _ints(x)


def build() -> dict:
    entries_out = {}
    raised = []
    prompts = []
    cases = []
    texts = []
    for category in CATEGORIES:
        entries = load(f"BFCL_v4_{category}.json")
        answers = load(f"possible_answer/BFCL_v4_{category}.json")
        by_id = {a["id"]: a["ground_truth"] for a in answers}
        # The first entries, then those with list, dict, tuple or float parameters.
        def interesting(e):
            types_ = {p.get("type") for f in e["function"] for p in f["parameters"]["properties"].values()}
            return bool(types_ & {"array", "dict", "tuple", "float", "boolean"})

        chosen = entries[:6] + [e for e in entries[6:] if interesting(e)][:10]
        chosen += [e for e in entries if e["id"] in EXTRA_IDS and e not in chosen]
        if category in LANGUAGES:
            # Every entry whose parameters have a collection or number type, and the first ones.
            def typed(e):
                types_ = {p.get("type") for f in e["function"] for p in f["parameters"]["properties"].values()}
                return bool(types_ - {"String", "any", "boolean", "Boolean"})

            chosen = entries[:4] + [e for e in entries[4:] if typed(e)][:14]
        n = 0
        for e in chosen:
            truth = by_id[e["id"]]
            entries_out[e["id"]] = {"category": category, "function": e["function"], "ground_truth": truth}
            # Three prompts a category, and every chosen Java/JavaScript one (their function
            # docs are rewritten: parameter types, items and dict schemas move into text).
            if len(prompts) < 3 * (CATEGORIES.index(category) + 1) or category in LANGUAGES:
                functions = func_doc_pre_processing(copy.deepcopy(e["function"]), category)
                prompts.append({"id": e["id"], "question": e["question"], "prompt": llama31_format_prompt(None, e["question"][0], functions)})
            gen = variants_parallel if "parallel" in category else variants_lang if category in LANGUAGES else variants_simple
            seen = set()
            for kind, decoded in gen(e, truth, category):
                key = json.dumps(decoded, sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
                v = reference_verdict(e, truth, decoded, category)
                if v is None:
                    raised.append(f"{e['id']} {kind}")
                    continue
                cases.append({"id": e["id"], "kind": kind, "decoded": decoded, "valid": v[0], "error_type": v[1]})
                n += 1
            for kind, text in text_cases(e, truth, category) if e in chosen[:8] and category not in LANGUAGES else []:
                try:
                    ref = llama31_decode_ast(None, text, ReturnFormat.PYTHON, False)
                except Exception:  # noqa: BLE001
                    ref = None
                if ref is None:
                    verdict = (False, "ast_decoder:decoder_failed")
                else:
                    verdict = reference_verdict(e, truth, ref, category)
                    if verdict is None:
                        continue
                row = {"id": e["id"], "kind": kind, "text": text, "decoded": ref, "valid": verdict[0], "error_type": verdict[1]}
                if ref is None and re.search(r"\b(true|false|null)\b", text):
                    # JSON literals: Python's eval raises NameError on them; herd reads them.
                    row["json_literals"] = True
                texts.append(row)
        # Not-a-call shapes, checked before the checker runs.
        e0 = chosen[0]
        for kind, decoded in [
            ("not_a_list", "calculate(x=1)"),
            ("value_not_dict", [{e0["function"][0]["name"]: "x=1"}]),
            ("two_keys", [{"a": {}, "b": {}}]),
            ("empty_dict", [{}]),
        ]:
            v = reference_verdict(e0, by_id[e0["id"]], decoded, category)
            cases.append({"id": e0["id"], "kind": kind, "decoded": decoded, "valid": v[0], "error_type": v[1]})
            n += 1
        log(f"{category}: {len(chosen)} entries, {n} decoded cases")
        assert n >= MIN_CASES, f"{category}: only {n} cases"
    if raised:
        log(f"left out, the reference raises: {', '.join(raised)}")
    converts = convert_cases()
    log(f"converters: {len(converts)} cases")
    return {"entries": entries_out, "cases": cases, "texts": texts, "prompts": prompts, "converts": converts}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=FIXTURES / "eval" / "bfcl.json")
    a = ap.parse_args()
    from importlib.metadata import version

    fx = build()
    header = {
        "generator": "scripts/golden/eval_bfcl.py",
        "reference": f"bfcl-eval {version('bfcl-eval')} ast_checker (Language.PYTHON/JAVA/JAVASCRIPT by category, {MODEL}); java_type_converter, js_type_converter; LlamaHandler_3_1.decode_ast",
        "entries": fx["entries"],
    }
    rows = [header] + [{"prompt": p} for p in fx["prompts"]] + [{"case": c} for c in fx["cases"]]
    rows += [{"text": t} for t in fx["texts"]]
    rows += [{"convert": c} for c in fx["converts"]]
    write_json_lines_array(a.out, rows)
    log(f"wrote {a.out}: {len(fx['prompts'])} prompts, {len(fx['cases'])} decoded cases, {len(fx['texts'])} text cases")


if __name__ == "__main__":
    main()
