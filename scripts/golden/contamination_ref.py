#!/usr/bin/env python3
"""Independent reference for `herd contamination`: 8-gram overlap of benchmark examples with a corpus.

Nothing here comes from herd. Tokens are Llama 3's, from tiktoken with the Llama 3 pattern and
ranks loaded exactly as llama-models 0.3.0 `llama3/tokenizer.py` does (`load_bpe_file`, its
`pat_str`, its 256 special tokens, its 400,000-character windows and 25,000-character
whitespace / non-whitespace runs); text is encoded as plain text (`allowed_special=set(),
disallowed_special=()`), without BOS. The n-grams are exact tuples of ids: a vectorized 64-bit
polynomial key (not herd's hash) only picks candidates, every candidate is checked id by id.

Definitions (Llama 3 paper §5.1.4): every corpus document and every benchmark example is
tokenized on its own, so an n-gram never spans two documents or two examples; a token of an
example is contaminated when it lies in an n-gram of the example that occurs in the corpus.

    contamination_ref.py check --tokenizer-model M --corpus FILE... --bench FILE [--n 8]
                               [--procs P] [--spans] [--out OUT.json]
        Corpus files are JSONL (a string field `text`, or a bare JSON string per line),
        optionally gzip-compressed (.gz). Prints or writes
        {"examples": [{"id", "tokens", "contaminated_tokens", "contaminated_fraction",
        "spans"?}], "grams", "grams_found", "corpus": {"documents", "text_bytes", "tokens",
        "seconds", "procs"}}. P worker processes (default: all cores) tokenize the corpus.

    contamination_ref.py make --out-corpus C.jsonl --out-bench B.jsonl [--mb 50] [--examples 1000]
                              [--source stdlib|fixture] [--seed S] [--mix planted|clean]
        A deterministic corpus and benchmark with planted overlaps (see `make_corpus`).

    contamination_ref.py fixture [--tokenizer-model M] [--out DIR]
        Writes tests/fixtures/contamination/{corpus.jsonl, bench.jsonl, expected.json}: a small
        corpus built only from tests/fixtures/llama3_tok/corpus.jsonl plus planted overlaps,
        and this script's per-example marks for it (with spans).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import multiprocessing as mp
import os
import random
import re
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import tiktoken

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, log, test_data_dir  # noqa: E402

# --- Llama 3 tokenization, as llama-models 0.3.0 llama3/tokenizer.py ---------------------

PAT_STR = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TIKTOKEN_MAX_ENCODE_CHARS = 400_000
MAX_NO_WHITESPACES_CHARS = 25_000
# A run longer than llama-models' limit: only then does its per-character split do anything.
LONG_RUN = re.compile(r"\s{%d}|\S{%d}" % (MAX_NO_WHITESPACES_CHARS + 1, MAX_NO_WHITESPACES_CHARS + 1))


def load_bpe_file(path: Path) -> dict[bytes, int]:
    ranks = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


def load_encoding(path: Path) -> tiktoken.Encoding:
    ranks = load_bpe_file(path)
    names = [
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
        "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
        "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>",
        "<|python_tag|>", "<|image|>",
    ]
    names += [f"<|reserved_special_token_{2 + i}|>" for i in range(256 - len(names))]
    specials = {t: len(ranks) + i for i, t in enumerate(names)}
    return tiktoken.Encoding(name=Path(path).name, pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=specials)


def _split_runs(s: str, limit: int):
    """llama-models' `_split_whitespaces_or_nonwhitespaces`, verbatim in behaviour."""
    cur_len = 0
    cur_space = s[0].isspace() if len(s) > 0 else False
    start = 0
    for i in range(len(s)):
        now = s[i].isspace()
        if cur_space ^ now:
            cur_len = 1
            cur_space = now
        else:
            cur_len += 1
            if cur_len > limit:
                yield s[start:i]
                start = i
                cur_len = 1
    yield s[start:]


def encode(enc: tiktoken.Encoding, s: str) -> list[int]:
    """llama-models `Tokenizer.encode(s, bos=False, eos=False)` with its default specials."""
    # encode_ordinary is encode(allowed_special=set(), disallowed_special=()) without the
    # special-token checks: the same ids, faster.
    if len(s) <= TIKTOKEN_MAX_ENCODE_CHARS and not LONG_RUN.search(s):
        return enc.encode_ordinary(s)
    out: list[int] = []
    for i in range(0, len(s), TIKTOKEN_MAX_ENCODE_CHARS):
        for sub in _split_runs(s[i : i + TIKTOKEN_MAX_ENCODE_CHARS], MAX_NO_WHITESPACES_CHARS):
            out.extend(enc.encode_ordinary(sub))
    return out


# --- n-grams ---------------------------------------------------------------------------------

# Odd 64-bit multiplier of the candidate key; collisions only cost an exact check.
P = np.uint64(0x9E3779B97F4A7C15)


def window_keys(ids: np.ndarray, n: int) -> np.ndarray:
    """Polynomial key of every length-n window of `ids` (uint64, wrapping)."""
    if len(ids) < n:
        return np.zeros(0, dtype=np.uint64)
    w = np.lib.stride_tricks.sliding_window_view(ids.astype(np.uint64), n)
    h = np.zeros(len(w), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * P + w[:, j]
    return h


class Bench:
    def __init__(self, path: Path, enc: tiktoken.Encoding, n: int):
        self.n = n
        self.examples = []  # (id, ids)
        for line in Path(path).read_text(encoding="utf-8").split("\n"):
            if line.strip():
                o = json.loads(line)
                self.examples.append((str(o["id"]), encode(enc, o["text"])))
        self.grams: dict[tuple, int] = {}
        self.starts: list[list[int]] = []
        for _, ids in self.examples:
            st = []
            for p in range(len(ids) - n + 1):
                st.append(self.grams.setdefault(tuple(ids[p : p + n]), len(self.grams)))
            self.starts.append(st)
        # Sorted candidate keys, the gram each stands for, and the grams' ids for the exact check.
        self.ids = np.array(list(self.grams), dtype=np.uint32).reshape(len(self.grams), n)
        keys = window_keys(self.ids.reshape(-1), n)[:: n] if len(self.grams) else np.zeros(0, np.uint64)
        order = np.argsort(keys, kind="stable")
        self.keys, self.key_gram = keys[order], order
        # Two grams with one key would hide each other in the lookup below: then check in Python.
        self.key_clash = bool(len(keys) and (np.diff(self.keys) == 0).any())

    def report(self, hits: set[int], spans: bool) -> list[dict]:
        out = []
        for (eid, ids), st in zip(self.examples, self.starts):
            marks = np.zeros(len(ids), dtype=bool)
            for p, g in enumerate(st):
                if g in hits:
                    marks[p : p + self.n] = True
            k = int(marks.sum())
            r = {"id": eid, "tokens": len(ids), "contaminated_tokens": k,
                 "contaminated_fraction": k / len(ids) if ids else 0.0}
            if spans:
                r["spans"] = runs(marks)
            out.append(r)
        return out


def runs(marks: np.ndarray) -> list[list[int]]:
    out, start = [], None
    for i, m in enumerate(list(marks) + [False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            out.append([start, i])
            start = None
    return out


# --- the corpus pass (worker processes) --------------------------------------------------

_W: dict = {}


def _init(model: str, bench: Bench) -> None:
    _W["enc"] = load_encoding(Path(model))
    _W["bench"] = bench


def _doc_text(line: bytes) -> str:
    o = json.loads(line)
    return o if isinstance(o, str) else o["text"]


def _scan(lines: list[bytes]):
    """Tokenizes one batch of JSONL lines and returns the benchmark n-grams it contains."""
    enc, bench = _W["enc"], _W["bench"]
    n = bench.n
    texts = [_doc_text(l) for l in lines if l.strip()]
    docs = [np.array(encode(enc, t), dtype=np.uint32) for t in texts]
    lens = np.array([len(d) for d in docs], dtype=np.int64)
    flat = np.concatenate(docs) if docs else np.zeros(0, dtype=np.uint32)
    hits: set[int] = set()
    if len(flat) >= n and len(bench.keys):
        # Windows over the whole batch; a window is kept only if it ends inside its document.
        keys = window_keys(flat, n)
        ends = np.repeat(np.cumsum(lens), lens)[: len(keys)]
        at = np.minimum(np.searchsorted(bench.keys, keys), len(bench.keys) - 1)
        cand = np.nonzero((bench.keys[at] == keys) & (np.arange(len(keys)) + n <= ends))[0]
        win = np.lib.stride_tricks.sliding_window_view(flat, n)[cand]
        if bench.key_clash:
            for w in win:
                g = bench.grams.get(tuple(int(x) for x in w))
                if g is not None:
                    hits.add(g)
        else:
            g = bench.key_gram[at[cand]]
            same = (win == bench.ids[g]).all(axis=1)
            hits.update(int(x) for x in np.unique(g[same]))
    return hits, len(texts), sum(len(t.encode("utf-8")) for t in texts), int(lens.sum())


def _batches(paths: list[Path], target: int = 1 << 20):
    for p in paths:
        opener = gzip.open if p.suffix == ".gz" else open
        with opener(p, "rb") as f:
            batch, size = [], 0
            for line in f:
                batch.append(line)
                size += len(line)
                if size >= target:
                    yield batch
                    batch, size = [], 0
            if batch:
                yield batch


def check(model: Path, corpus: list[Path], bench_path: Path, n: int, procs: int, spans: bool) -> dict:
    enc = load_encoding(model)
    bench = Bench(bench_path, enc, n)
    t0 = time.perf_counter()
    hits: set[int] = set()
    docs = nbytes = tokens = 0
    ctx = mp.get_context("fork")
    with ctx.Pool(procs, initializer=_init, initargs=(str(model), bench)) as pool:
        for h, d, b, t in pool.imap_unordered(_scan, _batches(corpus)):
            hits |= h
            docs, nbytes, tokens = docs + d, nbytes + b, tokens + t
    secs = time.perf_counter() - t0
    return {
        "examples": bench.report(hits, spans),
        "grams": len(bench.grams),
        "grams_found": len(hits),
        "corpus": {"documents": docs, "text_bytes": nbytes, "tokens": tokens, "seconds": secs, "procs": procs},
    }


# --- deterministic corpus and benchmark with planted overlaps ------------------------------

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "qua", "shi", "dro", "fen", "gul", "bri", "tox"]
COMMON = ["the", "of", "and", "to", "in", "is", "that", "for", "with", "as", "on", "by", "was", "it", "from"]


def fresh_text(rng: random.Random, words: int) -> str:
    """Text that no corpus has: invented words among common ones."""
    out = []
    for _ in range(words):
        if rng.random() < 0.3:
            out.append(rng.choice(COMMON))
        else:
            out.append("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    s = " ".join(out)
    return s[0].upper() + s[1:] + "."


def source_docs(source: str) -> list[str]:
    if source == "fixture":
        # The tokenizer fixture's lines (many scripts, code, emoji, odd whitespace), joined in
        # order into documents of about 1.5 KB so that copied spans can be long.
        lines = (FIXTURES / "llama3_tok" / "corpus.jsonl").read_text(encoding="utf-8").split("\n")
        docs, cur = [], []
        for t in (json.loads(l) for l in lines if l.strip()):
            cur.append(t)
            if sum(map(len, cur)) >= 1500:
                docs.append("\n".join(cur))
                cur = []
        return docs + (["\n".join(cur)] if cur else [])
    # The Python sources of the running interpreter's standard library, then of its
    # site-packages (the pinned golden venv), cut into documents of at most 8 KB at line ends.
    paths = sysconfig.get_paths()
    stdlib = [p for p in sorted(Path(paths["stdlib"]).rglob("*.py")) if "site-packages" not in p.parts]
    files = stdlib + sorted(Path(paths["purelib"]).rglob("*.py"))
    docs = []
    for p in files:
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        cur = ""
        for line in text.splitlines(keepends=True):
            if len(cur) + len(line) > 8192 and cur:
                docs.append(cur)
                cur = ""
            cur += line
        if cur.strip():
            docs.append(cur)
    return docs


def span_of(rng: random.Random, doc: str, lo: int, hi: int) -> str:
    """A piece of `doc` from a line start (or the start), lo..hi characters long."""
    starts = [0] + [m.end() for m in re.finditer("\n", doc) if m.end() < len(doc)]
    s = rng.choice(starts)
    return doc[s : s + rng.randint(lo, hi)]


def make_corpus(mb: float, examples: int, source: str, seed: int, mix: str = "planted") -> tuple[list[str], list[dict]]:
    """Documents up to `mb` MB, and `examples` benchmark examples whose kinds cycle through:
    exact copies of a corpus span (0-3), a copied span with fresh text around it (4-5), a copied
    span with every sixth word changed, so most 8-grams break (6), twelve one-token words split
    across two adjacent corpus documents, which must not count (7), and fresh text (8-9). With
    mix "clean" one example in twenty is an exact copy, one a partial copy, one split across
    documents, and the rest are fresh: a mostly clean benchmark."""
    rng = random.Random(seed)
    pool = source_docs(source)
    rng.shuffle(pool)
    docs, size = [], 0
    for d in pool:
        if size >= mb * 1e6:
            break
        docs.append(d)
        size += len(d.encode("utf-8"))
    bench = []
    for k in range(examples):
        kind = k % 10 if mix == "planted" else {0: 0, 1: 4, 2: 7}.get(k % 20, 8)
        d = docs[rng.randrange(len(docs))]
        if kind <= 3:
            text = span_of(rng, d, 200, 1500)
        elif kind <= 5:
            text = fresh_text(rng, 20) + " " + span_of(rng, d, 100, 600) + " " + fresh_text(rng, 20)
        elif kind == 6:
            words = span_of(rng, d, 300, 1200).split(" ")
            text = " ".join(w if i % 6 != 5 else fresh_text(rng, 1)[:-1].lower() for i, w in enumerate(words))
        elif kind == 7:
            # Twelve one-token words; six end one document and six start the next, so
            # every 8-gram of the example spans the boundary.
            words = [rng.choice(COMMON) for _ in range(12)]
            text = " " + " ".join(words)
            at = rng.randrange(len(docs))
            docs[at] = docs[at] + " " + " ".join(words[:6])
            docs.insert(at + 1, " " + " ".join(words[6:]) + "\n" + fresh_text(rng, 30))
        else:
            text = fresh_text(rng, 60)
        if not text.strip():
            text = fresh_text(rng, 10)
        bench.append({"id": f"ex{k:05d}", "text": text})
    return docs, bench


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# --- command line ------------------------------------------------------------------------

def default_model() -> Path:
    return test_data_dir() / "llama3" / "tokenizer.model"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("--tokenizer-model", type=Path, default=default_model())
    c.add_argument("--corpus", type=Path, nargs="+", required=True)
    c.add_argument("--bench", type=Path, required=True)
    c.add_argument("--n", type=int, default=8)
    c.add_argument("--procs", type=int, default=os.cpu_count() or 1)
    c.add_argument("--spans", action="store_true")
    c.add_argument("--out", type=Path)
    m = sub.add_parser("make")
    m.add_argument("--out-corpus", type=Path, required=True)
    m.add_argument("--out-bench", type=Path, required=True)
    m.add_argument("--mb", type=float, default=50.0)
    m.add_argument("--examples", type=int, default=1000)
    m.add_argument("--source", choices=["stdlib", "fixture"], default="stdlib")
    m.add_argument("--seed", type=int, default=8)
    m.add_argument("--mix", choices=["planted", "clean"], default="planted")
    f = sub.add_parser("fixture")
    f.add_argument("--tokenizer-model", type=Path, default=default_model())
    f.add_argument("--out", type=Path, default=FIXTURES / "contamination")
    a = ap.parse_args()

    if a.cmd == "check":
        r = check(a.tokenizer_model, a.corpus, a.bench, a.n, a.procs, a.spans)
        text = json.dumps(r, ensure_ascii=False)
        if a.out:
            a.out.write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
    elif a.cmd == "make":
        docs, bench = make_corpus(a.mb, a.examples, a.source, a.seed, a.mix)
        write_jsonl(a.out_corpus, ({"text": d} for d in docs))
        write_jsonl(a.out_bench, bench)
        log(f"{len(docs)} documents, {sum(len(d.encode()) for d in docs) / 1e6:.1f} MB; {len(bench)} examples")
    else:
        docs, bench = make_corpus(0.25, 60, "fixture", 31)
        write_jsonl(a.out / "corpus.jsonl", ({"text": d} for d in docs))
        write_jsonl(a.out / "bench.jsonl", bench)
        r = check(a.tokenizer_model, [a.out / "corpus.jsonl"], a.out / "bench.jsonl", 8, 2, True)
        r.pop("corpus")
        r["n"] = 8
        r["reference"] = f"scripts/golden/contamination_ref.py (tiktoken {tiktoken.__version__}, llama-models 0.3.0 rules)"
        body = ",\n".join(json.dumps(e, ensure_ascii=False) for e in r.pop("examples"))
        head = json.dumps(r, ensure_ascii=False)[:-1]
        (a.out / "expected.json").write_text(head + ', "examples": [\n' + body + "\n]}\n", encoding="utf-8")
        log(f"wrote {a.out}: {len(docs)} documents, {len(bench)} examples")


if __name__ == "__main__":
    main()
