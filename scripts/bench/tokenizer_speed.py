"""herd vs tiktoken: Llama 3 encode throughput on one corpus, one thread each, with an exactness check.

    python tokenizer_speed.py TOKENIZER_MODEL DOCS_JSONL HERD_BENCH [--rounds 3]

TOKENIZER_MODEL is Llama 3's tokenizer.model, loaded in tiktoken exactly as llama-models
0.3.0 `llama3/tokenizer.py` does (`load_bpe_file`, its `pat_str`, its 256 special
tokens). HERD_BENCH is the crates/herd-llama/examples/tokenize_bench.rs binary.

1. Exactness: herd's ids for every document must equal tiktoken's `encode(doc,
   allowed_special=set(), disallowed_special=())` (what llama-models' `encode` calls
   without BOS/EOS), id for id; any difference fails the run.
2. Speed, in rounds that alternate the two so both see the same machine load: each round
   runs the herd binary (its own warm-up pass, then one timed pass) and one timed pass of
   each tiktoken path (`encode_ordinary`, and `encode` as llama-models calls it) after
   one warm-up pass at the start. The best round of each counts; herd is compared with
   the faster tiktoken path. Loading is never timed.
"""

import argparse
import array
import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tiktoken

# llama-models 0.3.0 llama3/tokenizer.py
PAT_STR = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"  # noqa: E501
NUM_RESERVED_SPECIAL_TOKENS = 256
NAMED_SPECIAL_TOKENS = [
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|step_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    "<|eot_id|>",
    "<|python_tag|>",
    "<|image|>",
]
# llama-models cuts longer inputs into windows before tiktoken (herd does the same); the
# corpus keeps documents below it so tiktoken can be timed on whole documents.
TIKTOKEN_MAX_ENCODE_CHARS = 400_000


def load_bpe_file(path: str) -> dict[bytes, int]:
    """llama_models.tokenizer_utils.load_bpe_file."""
    ranks = {}
    with open(path, encoding="utf-8") as f:
        content = f.read()
    for line in content.splitlines():
        if not line.strip():
            continue
        token, rank = line.split()
        ranks[base64.b64decode(token)] = int(rank)
    return ranks


def llama3_encoding(path: str) -> tiktoken.Encoding:
    ranks = load_bpe_file(path)
    n = len(ranks)
    reserved = [
        f"<|reserved_special_token_{2 + i}|>" for i in range(NUM_RESERVED_SPECIAL_TOKENS - len(NAMED_SPECIAL_TOKENS))
    ]
    specials = {tok: n + i for i, tok in enumerate(NAMED_SPECIAL_TOKENS + reserved)}
    return tiktoken.Encoding(name=Path(path).name, pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=specials)


def run_herd(args, ids_path: str) -> dict[str, str]:
    """One herd process: warm-up pass (writes the ids), then one timed pass."""
    cmd = [args.herd_bench, args.model, args.docs, ids_path, "1"]
    line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
    return dict(kv.split("=", 1) for kv in line.split())


def read_herd_ids(path: str, n_docs: int) -> list[bytes]:
    """Per document, its ids as little-endian u32 bytes (the file is `count, ids...` per document)."""
    data = memoryview(Path(path).read_bytes())
    out, pos = [], 0
    for _ in range(n_docs):
        count = int.from_bytes(data[pos : pos + 4], "little")
        pos += 4
        out.append(bytes(data[pos : pos + 4 * count]))
        pos += 4 * count
    if pos != len(data):
        sys.exit(f"tokenizer_speed: {path} has {len(data) - pos} bytes past {n_docs} documents")
    return out


def check_ids(enc: tiktoken.Encoding, docs: list[str], ids_path: str) -> int:
    """Fails on the first document whose ids differ; returns the number of ids."""
    n_ids = 0
    for i, (doc, got) in enumerate(zip(docs, read_herd_ids(ids_path, len(docs)))):
        want = enc.encode(doc, allowed_special=set(), disallowed_special=())
        n_ids += len(want)
        if array.array("I", want).tobytes() != got:
            herd = array.array("I", got).tolist()
            k = next((j for j, (a, b) in enumerate(zip(want, herd)) if a != b), min(len(want), len(herd)))
            sys.exit(
                f"tokenizer_speed: MISMATCH in document {i}: tiktoken {len(want)} ids, herd {len(herd)}; "
                f"first difference at id {k}: tiktoken {want[k : k + 5]}, herd {herd[k : k + 5]}"
            )
    return n_ids


def timed(fn, docs: list[str]) -> float:
    t = time.perf_counter()
    for d in docs:
        fn(d)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("docs")
    ap.add_argument("herd_bench")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    enc = llama3_encoding(args.model)
    with open(args.docs, encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    n_bytes = sum(len(d.encode()) for d in docs)
    if any(len(d) > TIKTOKEN_MAX_ENCODE_CHARS for d in docs):
        sys.exit("tokenizer_speed: a document is longer than llama-models' 400k-character window")

    def encode(d: str) -> list[int]:
        return enc.encode(d, allowed_special=set(), disallowed_special=())

    paths = {"encode_ordinary": enc.encode_ordinary, "encode": encode}
    best = {"herd": float("inf"), **{name: float("inf") for name in paths}}
    with tempfile.TemporaryDirectory() as tmp:
        ids_path = str(Path(tmp) / "herd_ids.bin")
        for r in range(args.rounds):
            herd = run_herd(args, ids_path)
            if r == 0:
                n_ids = check_ids(enc, docs, ids_path)  # also tiktoken's warm-up pass
                if int(herd["ids"]) != n_ids or int(herd["bytes"]) != n_bytes:
                    sys.exit(f"tokenizer_speed: herd's report {herd} does not describe this corpus")
                print(f"ids: identical ({n_ids} ids over {len(docs)} documents)", flush=True)
            best["herd"] = min(best["herd"], float(herd["best_s"]))
            for name, fn in paths.items():
                best[name] = min(best[name], timed(fn, docs))
            print(f"round {r + 1}: " + ", ".join(f"{k} {n_bytes / 1e6 / s:.2f} MB/s" for k, s in best.items()), flush=True)

    mb = n_bytes / 1e6
    tiktoken_s = min(best[name] for name in paths)
    print(f"\ncorpus {mb:.2f} MB; best of {args.rounds} rounds, one thread each:")
    print(f"  herd      Tokenizer::encode(text, false)  {mb / best['herd']:7.2f} MB/s")
    print(f"  tiktoken  encode_ordinary                 {mb / best['encode_ordinary']:7.2f} MB/s")
    print(f"  tiktoken  encode (as llama-models calls)  {mb / best['encode']:7.2f} MB/s")
    print(f"ratio herd / tiktoken: {tiktoken_s / best['herd']:.2f}x")


if __name__ == "__main__":
    main()
