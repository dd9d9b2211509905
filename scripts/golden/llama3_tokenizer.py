#!/usr/bin/env python3
"""Llama 3 tokenizer golden files from llama-models' own Tokenizer (tiktoken underneath).

Writes, under tests/fixtures/llama3_tok/:

  corpus.jsonl  a deterministic mixed corpus (>= 1 MB), one JSON string per line
  ids.jsonl     for each corpus line, the ids of Tokenizer.encode(s, bos=False, eos=False)
                with llama-models' defaults allowed_special=set(), disallowed_special=()
                (so special-token text is plain text), as a compact JSON array per line
  cases.json    llama-models' own test vectors (tests/api/test_tokenizer.py), the spec's
                vectors and the 256 special-token names (dialogs: llama31_format.py)

The reference is the real llama_models.llama3.tokenizer.Tokenizer from llama-models==0.3.0
(pip install --no-deps), which also applies the 400k-char window and 25k-char
whitespace/non-whitespace run splitting: the corpus has lines that exercise both.

Usage: llama3_tokenizer.py [--tokenizer-model PATH] [--out DIR]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, dumps, log, write_json  # noqa: E402

TOKENIZER_MODEL_SHA256 = "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55"
SEED = 31
TARGET_BYTES = 1_100_000  # corpus.jsonl size to reach (>= 1 MB with margin)

# ---------------------------------------------------------------------------------------
# Corpus ingredients
# ---------------------------------------------------------------------------------------

# Short real sentences in many scripts (written for this corpus).
MULTILINGUAL = [
    "Привет, мир! Как у тебя дела сегодня?",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Γειά σου Κόσμε· η γρήγορη καφέ αλεπού πηδάει.",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "שלום עולם, מה שלומך היום?",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "আমি বাংলায় গান গাই।",
    "வணக்கம் உலகம்",
    "สวัสดีชาวโลก วันนี้อากาศดีมาก",
    "你好，世界！今天天气很好。我想在apple工作1314151天～",
    "日本語のテキスト、カタカナとひらがな。東京は大きい都市です。",
    "안녕하세요, 세계! 오늘 날씨가 좋네요.",
    "Tiếng Việt có dấu: Tôi yêu lập trình.",
    "Zürich, Straße, Ärger, Öl und Übermut — ça va? Déjà vu, naïve café.",
    "Łódź, Kraków, żółć, gęślą jaźń.",
    "Ünlü Türk şairi İstanbul'da yaşadı.",
    "Ἐν ἀρχῇ ἦν ὁ λόγος",
    "ქართული ენა ლამაზია",
    "Հայերեն գրականություն",
    "አማርኛ ቋንቋ",
    "ᚠᛇᚻ᛫ᛒᛦᚦ runes",
    "ㄅㄆㄇㄈ 注音符號",
    "ꯃꯤꯇꯩ ꯃꯌꯦꯛ",
    "Kiswahili ni lugha nzuri sana.",
    "Íslenska er fallegt tungumál, þó erfitt.",
    "Ελληνικά: αβγδεζηθικλμνξοπρστυφχψω ΑΒΓΔ",
    "កាន់តែពិសេសអាច",
    "ꦗꦮ Javanese ꦲꦏ꧀ꦱꦫ",
    "𐌰𐌱𐌲 Gothic, 𓀀𓀁 hieroglyphs, 𝄞 music",
]

EMOJI = [
    "🚀", "🦙", "😀", "😶\u200d🌫️", "👨\u200d👩\u200d👧\u200d👦", "👍🏽", "👋🏿", "🏳️\u200d🌈", "🏴\u200d☠️",
    "🇫🇷", "🇯🇵", "🇺🇸", "❤️", "✅", "☕", "🧑\u200d💻", "👩🏻\u200d🔬", "🤷\u200d♀️", "1️⃣", "#️⃣",
    "🫠", "🪿", "🏳️\u200d⚧️", "😁", "🔥🔥🔥", "💯", "🙏🏼", "✨", "🌍🌎🌏", "🐍",
]

SPECIAL_LOOKING = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|eom_id|>", "<|start_header_id|>",
    "<|end_header_id|>", "<|python_tag|>", "<|image|>", "<|finetune_right_pad_id|>", "<|step_id|>",
    "<|reserved_special_token_0|>", "<|reserved_special_token_245|>", "<|reserved_special_token_246|>",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|not_a_token|>", "<|", "|>", "<||>", "< |eot_id| >",
    "<|start_header_id|>user<|end_header_id|>\n\n", "<|start_header_id|>assistant<|end_header_id|>\n\n",
]

CONTRACTIONS = [
    "I'm", "you're", "he's", "we've", "they'll", "she'd", "it's", "can't", "won't", "isn't",
    "I'M", "YOU'RE", "HE'S", "WE'VE", "THEY'LL", "SHE'D", "IT'S", "'s", "'S", "'ll", "'LL",
    "'re", "'Re", "'ve", "'VE", "'m", "'M", "'d", "'D", "''", "'''", "'quoted'", "rock'n'roll",
    "o'clock", "Ma'am", "y'all", "’s", "it’s",
]

CODE_SNIPPETS = [
    "fn main() {\n    let v: Vec<u32> = (0..10).map(|x| x * x).collect();\n    println!(\"{v:?}\");\n}\n",
    "#include <stdio.h>\nint main(void) {\n\tfor (int i = 0; i < 10; ++i) printf(\"%d\\n\", i);\n\treturn 0;\n}\n",
    "const add = (a, b) => a + b;\nexport default { add };\n// TODO: more\n",
    "SELECT u.id, COUNT(*) AS n FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.id HAVING n > 3;",
    "<!DOCTYPE html>\n<html lang=\"en\">\n  <body><p class=\"x\">Hi &amp; bye</p></body>\n</html>\n",
    "{\n  \"name\": \"herd\",\n  \"version\": \"0.1.0\",\n  \"tags\": [\"llm\", \"rust\"],\n  \"nested\": {\"a\": null}\n}\n",
    "$ cargo test --release -- --nocapture 2>&1 | tee /tmp/log.txt && echo $?\n",
    "    if x == 0:\n        return None\n    elif x < 0:\n        raise ValueError(f\"bad {x!r}\")\n",
    "matrix = [[1, 2, 3],\n          [4, 5, 6]]  # 2x3\nprint(sum(map(sum, matrix)))\n",
    "impl<T: Clone + Send> Pool<T> where T: 'static {\n    pub fn get(&self) -> Option<&T> { self.items.first() }\n}\n",
    "diff --git a/x.rs b/x.rs\n@@ -1,3 +1,4 @@\n-old line\n+new line\n+another\n",
    "\\begin{equation} E = mc^2 \\quad \\int_0^\\infty e^{-x^2} dx = \\frac{\\sqrt{\\pi}}{2} \\end{equation}",
]

# Unicode ranges for random text, with weights. Combining marks are attached after a base.
UNICODE_RANGES = [
    ((0x0020, 0x007E), 6),  # ASCII printable
    ((0x00A0, 0x00FF), 3),  # Latin-1 supplement (incl. NBSP)
    ((0x0100, 0x024F), 3),  # Latin extended
    ((0x0370, 0x03FF), 2),  # Greek
    ((0x0400, 0x04FF), 3),  # Cyrillic
    ((0x0530, 0x058F), 1),  # Armenian
    ((0x0590, 0x05FF), 2),  # Hebrew
    ((0x0600, 0x06FF), 3),  # Arabic
    ((0x0900, 0x097F), 3),  # Devanagari
    ((0x0980, 0x09FF), 1),  # Bengali
    ((0x0B80, 0x0BFF), 1),  # Tamil
    ((0x0E00, 0x0E7F), 2),  # Thai
    ((0x10A0, 0x10FF), 1),  # Georgian
    ((0x1100, 0x11FF), 1),  # Hangul Jamo
    ((0x1E00, 0x1EFF), 2),  # Latin extended additional (Vietnamese)
    ((0x2000, 0x206F), 2),  # general punctuation: odd spaces, ZWJ, LRM, U+2028/2029
    ((0x20A0, 0x20CF), 1),  # currency
    ((0x2100, 0x22FF), 1),  # letterlike, arrows, math operators
    ((0x2460, 0x24FF), 1),  # enclosed alphanumerics (\p{N})
    ((0x3000, 0x303F), 1),  # CJK punctuation, ideographic space
    ((0x3040, 0x30FF), 3),  # Hiragana, Katakana
    ((0x4E00, 0x9FFF), 5),  # CJK unified ideographs
    ((0xAC00, 0xD7A3), 3),  # Hangul syllables
    ((0xE000, 0xF8FF), 1),  # private use
    ((0xFE00, 0xFE0F), 1),  # variation selectors
    ((0xFF00, 0xFFEF), 1),  # full-width forms (full-width digits are \p{N})
    ((0x10000, 0x1007F), 1),  # Linear B
    ((0x1D400, 0x1D7FF), 1),  # mathematical alphanumerics
    ((0x1F300, 0x1FAFF), 4),  # emoji
    ((0x20000, 0x2A6DF), 1),  # CJK extension B
    ((0x0001, 0x001F), 1),  # C0 controls incl. \t \n \v \f \r
    ((0x0080, 0x009F), 1),  # C1 controls incl. U+0085 NEL
    ((0x0080, 0x10FFFF), 2),  # anything (surrogates are skipped)
]
COMBINING = [(0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F)]
WHITESPACE_CHARS = [" ", " ", " ", " ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2009", "\u000b", "\u000c", "\u0085", "\u2028"]


def english_sources() -> tuple[list[str], list[str]]:
    """English paragraphs and code lines from pinned numpy's sources (BSD-3-Clause).

    Paragraphs: numpy/ma/README.rst plus the docstrings of a fixed list of modules.
    Code: the source lines of the same modules. numpy is pinned in requirements.txt, so
    the corpus is reproducible.
    """
    import numpy

    root = Path(numpy.__file__).parent
    modules = [
        "_core/fromnumeric.py",
        "_core/numeric.py",
        "lib/_function_base_impl.py",
        "lib/_npyio_impl.py",
        "linalg/_linalg.py",
        "ma/core.py",
        "random/__init__.py",
        "polynomial/polynomial.py",
    ]
    paragraphs: list[str] = []
    readme = (root / "ma" / "README.rst").read_text(encoding="utf-8")
    paragraphs += [p.strip() for p in readme.split("\n\n") if len(p.strip()) > 40]
    code_lines: list[str] = []
    for rel in modules:
        src = (root / rel).read_text(encoding="utf-8")
        code_lines += src.splitlines()
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)):
                doc = ast.get_docstring(node, clean=True)
                if doc:
                    paragraphs += [p for p in doc.split("\n\n") if len(p) > 40]
    return paragraphs, code_lines


class Corpus:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.paragraphs, self.code_lines = english_sources()
        weights = np.array([w for _, w in UNICODE_RANGES], dtype=np.float64)
        self.range_p = weights / weights.sum()

    def pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def rand_char(self) -> str:
        while True:
            lo, hi = UNICODE_RANGES[int(self.rng.choice(len(UNICODE_RANGES), p=self.range_p))][0]
            cp = int(self.rng.integers(lo, hi + 1))
            if not 0xD800 <= cp <= 0xDFFF:
                return chr(cp)

    def random_unicode(self) -> str:
        out = []
        for _ in range(int(self.rng.integers(1, 200))):
            out.append(self.rand_char())
            r = self.rng.random()
            if r < 0.15:  # one to three combining marks on the previous character
                for _ in range(int(self.rng.integers(1, 4))):
                    lo, hi = self.pick(COMBINING)
                    out.append(chr(int(self.rng.integers(lo, hi + 1))))
            elif r < 0.25:
                out.append(" ")
        return "".join(out)

    def english(self) -> str:
        n = int(self.rng.integers(1, 4))
        return "\n\n".join(self.pick(self.paragraphs) for _ in range(n))

    def code(self) -> str:
        if self.rng.random() < 0.3:
            return self.pick(CODE_SNIPPETS)
        start = int(self.rng.integers(len(self.code_lines)))
        return "\n".join(self.code_lines[start : start + int(self.rng.integers(3, 40))])

    def multilingual(self) -> str:
        parts = [self.pick(MULTILINGUAL) for _ in range(int(self.rng.integers(1, 6)))]
        return self.pick([" ", "\n", " — ", "  "]).join(parts)

    def emoji(self) -> str:
        out = []
        for _ in range(int(self.rng.integers(1, 25))):
            out.append(self.pick(EMOJI))
            out.append(self.pick(["", "", " ", "  ", "\n", "a", "word ", "123"]))
        return "".join(out)

    def digits(self) -> str:
        out = []
        for _ in range(int(self.rng.integers(1, 20))):
            k = int(self.rng.integers(1, 40))
            num = "".join(str(int(d)) for d in self.rng.integers(0, 10, size=k))
            form = int(self.rng.integers(6))
            if form == 1:
                num = num[: max(1, k // 2)] + "." + num[max(1, k // 2) :]
            elif form == 2:
                num = f"{int(num[:15]):,}"
            elif form == 3:
                num = "-" + num + "e" + str(int(self.rng.integers(-30, 30)))
            elif form == 4:
                num = "".join(chr(0xFF10 + int(c)) for c in num[:8]) + "٣٤٥" + "१२३"  # full-width, Arabic-Indic, Devanagari
            out.append(num)
            out.append(self.pick([" ", ", ", "\n", "", "x", " = ", "/", ":", "$", "%"]))
        return "".join(out)

    def whitespace(self) -> str:
        # Runs of mixed whitespace up to a few hundred characters, between words.
        out = [self.pick(["a", "word", "x", "Hello", "", "end"])]
        for _ in range(int(self.rng.integers(1, 6))):
            n = int(self.rng.integers(1, 400))
            if self.rng.random() < 0.5:
                run = self.pick(WHITESPACE_CHARS) * n
            else:
                run = "".join(self.pick(WHITESPACE_CHARS) for _ in range(n))
            out.append(run)
            out.append(self.pick(["a", "word", "x", "Hello", "", "end", "🦙", "123", "!"]))
        return "".join(out)

    def special_looking(self) -> str:
        out = []
        for _ in range(int(self.rng.integers(1, 10))):
            out.append(self.pick(SPECIAL_LOOKING))
            out.append(self.pick(["", " ", "\n\n", "Hello", " user text ", "assistant"]))
        return "".join(out)

    def contractions(self) -> str:
        return " ".join(self.pick(CONTRACTIONS + ["and", "the", "THE", "The"]) for _ in range(int(self.rng.integers(2, 30))))

    def mixed(self) -> str:
        kinds = [self.english, self.code, self.multilingual, self.emoji, self.digits, self.special_looking]
        return self.pick(["", " ", "\n"]).join(self.pick(kinds)() for _ in range(int(self.rng.integers(2, 5))))

    def docs(self):
        # Fixed edge cases first.
        yield from [
            "", " ", "\n", "a", "This is a test sentence.", "Hello, world! 12345", "ipython",
            "user", "system", "assistant", "\n\n", " \n", "\n ", "   a", "a   ", "\t\t\tx",
            "'s", "'S", "Let's", "LET'S", "1234567890", "１２３４", "٣٤٥", "Ⅻ", "½",
            # Runs longer than MAX_NO_WHITESPACES_CHARS (25,000): llama-models cuts them
            # into pieces before tiktoken sees them. In all but the first two this changes
            # the ids compared with encoding the whole string at once.
            "a" * 25_001,
            " " * 25_001 + "x",
            "abc" * 8_400,
            "1234567" * 3_600,
            "a" * 24_999 + " " + "b" * 25_003,
            " " * 25_005 + "\t" * 10 + "x",
            "x" + "\n" * 26_000,
        ]
        kinds = [
            (self.english, 30), (self.code, 14), (self.multilingual, 12), (self.random_unicode, 12),
            (self.emoji, 6), (self.digits, 6), (self.whitespace, 6), (self.special_looking, 5),
            (self.contractions, 3), (self.mixed, 6),
        ]
        p = np.array([w for _, w in kinds], dtype=np.float64)
        p /= p.sum()
        while True:
            yield kinds[int(self.rng.choice(len(kinds), p=p))][0]()


# ---------------------------------------------------------------------------------------
# cases.json
# ---------------------------------------------------------------------------------------


def build_cases(tok) -> dict:
    encode = [
        # llama_models/llama3/tests/api/test_tokenizer.py::test_encode
        {"text": "This is a test sentence.", "bos": True, "eos": True, "source": "test_tokenizer.py test_encode"},
        # spec (/work/shared/spec/llama3.md §2.1) single-token checks and derived vectors
        {"text": "user", "bos": False, "eos": False, "source": "spec §2.1 / test_encode_message"},
        {"text": "system", "bos": False, "eos": False, "source": "spec §2.1 / test_encode_dialog"},
        {"text": "assistant", "bos": False, "eos": False, "source": "spec §2.1 / test_encode_dialog"},
        {"text": "\n\n", "bos": False, "eos": False, "source": "spec §2.1"},
        {"text": "ipython", "bos": False, "eos": False, "source": "spec §2.1"},
        {"text": "Hello, world! 12345", "bos": False, "eos": False, "source": "spec §2.1"},
        {"text": "This is a response.", "bos": False, "eos": False, "source": "test_tokenizer.py test_encode_dialog"},
        {"text": "", "bos": True, "eos": False, "source": "edge"},
        {"text": "", "bos": True, "eos": True, "source": "edge"},
        {"text": "<|eot_id|>", "bos": False, "eos": False, "source": "special text is plain text"},
        {"text": "<|begin_of_text|>Hi", "bos": True, "eos": False, "source": "special text is plain text"},
    ]
    for c in encode:
        c["ids"] = tok.encode(c["text"], bos=c["bos"], eos=c["eos"])
    decode = [
        # test_tokenizer.py::test_decode
        {"ids": [128000, 2028, 374, 264, 1296, 11914, 13, 128001], "source": "test_tokenizer.py test_decode"},
        {"ids": [128006, 882, 128007, 271, 6151, 128009], "source": "header + eot"},
        {"ids": [9906, 11, 1917, 0, 220, 4513, 1774], "source": "spec §2.1"},
    ]
    for c in decode:
        c["text"] = tok.decode(c["ids"])

    return {
        "generator": "scripts/golden/llama3_tokenizer.py (llama-models 0.3.0 Tokenizer)",
        "n_words": tok.n_words,
        "bos_id": tok.bos_id,
        "eos_id": tok.eos_id,
        "eot_id": tok.eot_id,
        "eom_id": tok.eom_id,
        "python_tag_id": tok.python_tag_id,
        "pad_id": tok.pad_id,
        "stop_tokens": tok.stop_tokens,
        "special_tokens": tok.special_tokens,
        "encode": encode,
        "decode": decode,
    }


def load_tokenizer(path: Path | None):
    from llama_models.llama3.tokenizer import Tokenizer

    if path is None:
        tok = Tokenizer.get_instance()  # the file inside the installed llama-models wheel
        path = Path(sys.modules[Tokenizer.__module__].__file__).parent / "tokenizer.model"
    else:
        tok = Tokenizer(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != TOKENIZER_MODEL_SHA256:
        sys.exit(f"{path}: sha256 {digest}, expected {TOKENIZER_MODEL_SHA256}")
    return tok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer-model", type=Path, default=None, help="default: the one inside llama-models")
    ap.add_argument("--out", type=Path, default=FIXTURES / "llama3_tok")
    args = ap.parse_args()
    tok = load_tokenizer(args.tokenizer_model)

    # The unit test's vector, as a sanity check of the reference itself.
    assert tok.encode("This is a test sentence.", bos=True, eos=True) == [128000, 2028, 374, 264, 1296, 11914, 13, 128001]

    args.out.mkdir(parents=True, exist_ok=True)
    n_docs = n_bytes = n_tokens = 0
    with open(args.out / "corpus.jsonl", "w", encoding="utf-8", newline="\n") as fc, open(
        args.out / "ids.jsonl", "w", encoding="utf-8", newline="\n"
    ) as fi:
        for doc in Corpus(SEED).docs():
            line = dumps(doc) + "\n"
            ids = tok.encode(doc, bos=False, eos=False)  # allowed_special=set(), disallowed_special=()
            fc.write(line)
            fi.write(json.dumps(ids, separators=(",", ":")) + "\n")
            n_docs += 1
            n_bytes += len(line.encode("utf-8"))
            n_tokens += len(ids)
            if n_bytes >= TARGET_BYTES:
                break
    write_json(args.out / "cases.json", build_cases(tok), indent=1)
    log(f"llama3_tok: {n_docs} docs, {n_bytes} corpus bytes, {n_tokens} tokens")


if __name__ == "__main__":
    main()
