"""Builds the tokenizer benchmark corpus: >= 10 MB of mixed code, English and multilingual text.

    python make_corpus.py OUT.jsonl [--mb 12]

Writes one JSON string per line (one document each) and prints the composition. The
corpus is deterministic for a given Python version and the pinned numpy and Faker in
requirements.txt, and is built only from what is on the machine once the bench venv
exists (no network):

- code (~45%): the running interpreter's standard-library `.py` files (tests and
  site-packages excluded), whole files, files over 96 KB cut at line ends;
- English (~25%): the Python language reference and library topics that `pydoc` ships
  (`pydoc_data/topics.py`), the docstrings of the pinned numpy (as
  scripts/golden/llama3_tokenizer.py uses) and of standard-library modules, one document
  per module;
- multilingual (~30%): Faker's lorem text, names and addresses in 24 + 10 locales and 14
  scripts (Cyrillic, Arabic, Greek, Han, Thai, Hebrew, Bengali, Armenian, Latin with
  diacritics, kana, Devanagari, Georgian, Hangul), generated with a fixed seed.

The standard-library files are shuffled with a fixed seed and split in two halves: code
comes from the first half and docstrings from the second, so no text appears twice
(each kind moves on to the other half only if its own runs out). Nothing is repeated to
reach the size: a benchmark over one text copied many times would mostly measure caches.
"""

import argparse
import ast
import json
import random
import sys
import sysconfig
from pathlib import Path

import numpy
from faker import Faker

SEED = 20_251_127
MAX_DOC_BYTES = 96 * 1024
# Shares of the total bytes.
CODE_SHARE, ENGLISH_SHARE = 0.45, 0.25

# Faker locales with native-script (or diacritic-heavy) lorem word lists.
LOREM_LOCALES = [
    "ru_RU", "uk_UA", "mk_MK", "el_GR", "ar_AA", "fa_IR", "he_IL", "ja_JP", "zh_CN", "zh_TW",
    "th_TH", "bn_BD", "hy_AM", "az_AZ", "vi_VN", "cs_CZ", "pl_PL", "de_DE", "fr_FR", "es_ES",
    "it_IT", "da_DK", "nl_NL", "fil_PH",
]
# Locales whose names and addresses are in their own script, mixed into the documents.
ADDRESS_LOCALES = ["ko_KR", "hi_IN", "ja_JP", "zh_CN", "ru_RU", "el_GR", "ar_AA", "he_IL", "th_TH", "ka_GE"]


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
    files = [p for p in root.rglob("*.py") if not skip.intersection(p.relative_to(root).parts)]
    files.sort(key=lambda p: p.relative_to(root).as_posix())
    return files


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def cut(text: str) -> list[str]:
    """Splits text at line ends into documents of at most MAX_DOC_BYTES (UTF-8)."""
    docs, cur, size = [], [], 0
    for line in text.splitlines(keepends=True):
        n = len(line.encode())
        if cur and size + n > MAX_DOC_BYTES:
            docs.append("".join(cur))
            cur, size = [], 0
        cur.append(line)
        size += n
    if cur:
        docs.append("".join(cur))
    return docs


def take(source, budget: int) -> list[str]:
    """Documents from an iterator until `budget` UTF-8 bytes are reached."""
    out, size = [], 0
    for doc in source:
        if size >= budget:
            break
        if doc.strip():
            out.append(doc)
            size += len(doc.encode())
    if size < budget:
        sys.exit(f"make_corpus: only {size} bytes available for a {budget}-byte share")
    return out


def code_docs(files: list[Path]):
    for path in files:
        text = read_text(path)
        if text:
            yield from cut(text)


def numpy_files() -> list[Path]:
    root = Path(numpy.__file__).parent
    files = [p for p in root.rglob("*.py") if "tests" not in p.relative_to(root).parts]
    files.sort(key=lambda p: p.relative_to(root).as_posix())
    return files


def english_docs(files: list[Path]):
    from pydoc_data.topics import topics

    for name in sorted(topics):
        yield from cut(topics[name])
    yield from docstring_docs(numpy_files())
    yield from docstring_docs(files)


def docstring_docs(files: list[Path]):
    for path in files:
        text = read_text(path)
        if not text:
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        docs = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=True)
                if doc and len(doc) > 40:
                    docs.append(doc)
        if docs:
            yield from cut("\n\n".join(docs))


def multilingual_docs(rng: random.Random):
    lorem = [Faker(loc) for loc in LOREM_LOCALES]
    people = [Faker(loc) for loc in ADDRESS_LOCALES]
    for i, f in enumerate(lorem + people):
        f.seed_instance(SEED + i)
    while True:
        f = rng.choice(lorem)
        parts = [f.paragraph(nb_sentences=rng.randint(3, 12)) for _ in range(rng.randint(1, 8))]
        for _ in range(rng.randint(0, 3)):
            p = rng.choice(people)
            parts.insert(rng.randrange(len(parts) + 1), f"{p.name()}\n{p.address()}\n{p.phone_number()}")
        yield rng.choice(["\n\n", "\n", " "]).join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--mb", type=float, default=12.0, help="total size in MB (10^6 bytes)")
    args = ap.parse_args()
    total = int(args.mb * 1e6)
    rng = random.Random(SEED)
    files = stdlib_files()
    rng.shuffle(files)
    half = len(files) // 2
    parts = {
        "code": take(code_docs(files[:half] + files[half:]), int(total * CODE_SHARE)),
        "english": take(english_docs(files[half:] + files[:half]), int(total * ENGLISH_SHARE)),
    }
    rest = total - sum(len(d.encode()) for docs in parts.values() for d in docs)
    parts["multilingual"] = take(multilingual_docs(rng), rest)
    # Interleave the kinds so no stretch of the run is one kind only.
    docs = [(kind, d) for kind, ds in parts.items() for d in ds]
    rng.shuffle(docs)
    with open(args.out, "w", encoding="utf-8") as f:
        for _, d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    n_bytes = sum(len(d.encode()) for _, d in docs)
    desc = ", ".join(
        f"{kind} {sum(len(d.encode()) for d in ds) / 1e6:.2f} MB in {len(ds)} docs" for kind, ds in parts.items()
    )
    print(f"corpus: {n_bytes / 1e6:.2f} MB, {len(docs)} docs ({desc}); Python {sys.version.split()[0]}, numpy {numpy.__version__}")


if __name__ == "__main__":
    main()
