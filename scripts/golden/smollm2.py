#!/usr/bin/env python3
"""Golden fixtures for the default model (SmolLM2-135M-Instruct Q4_1) from llama.cpp.

The reference is llama.cpp itself, driven through llama-cpp-python (pinned in
requirements.txt). Writes, under tests/fixtures/smollm2/:

  tokenize.json   llama.cpp token ids for varied strings (special=False, a few special=True)
  chat.json       conversations rendered with the GGUF's own chat template + their ids
  greedy.json     greedy 64-token continuations with per-step log-probabilities
  ppl.txt         ~21 kB of English prose (copied from pinned PyPI packages, see README)
  ppl.json        perplexity at ctx 128, computed exactly as llama-perplexity does
  ppl_ctx256.json the same at ctx 256

Usage: smollm2.py [--model PATH] [--out DIR] [--only tokenize,chat,greedy,ppl]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, herd_home, log, sha256_file, write_json, write_json_lines_array  # noqa: E402

MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SEED = 1234
N_THREADS = 2  # the CPU results do not depend on it; 2 keeps the shared machine usable

# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------

# Strings for tokenize.json. They aim at the places where byte-level BPE tokenizers
# usually differ: the pre-tokenizer regex (digits, contractions, whitespace runs,
# punctuation), multi-byte UTF-8, and special-token-looking text.
TOKENIZE_TEXTS: list[str] = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n",
    "\r\n",
    "Hello",
    "Hello world",
    " Hello world",
    "Hello world ",
    "  leading two spaces",
    "trailing three spaces   ",
    "Hello, world! How are you today?",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sure you'll see they've said we'd go, isn't it? It's John's.",
    "I'M SURE YOU'LL SEE THEY'VE SAID WE'D GO",
    "don't DON'T Don't d'oh 'quoted' ''double''",
    "e.g. i.e. etc. U.S.A. Mr. Smith's",
    "CamelCaseIdentifier snake_case_identifier SCREAMING_CASE kebab-case",
    "0",
    "7",
    "42",
    "123",
    "1234",
    "12345",
    "123456789",
    "3.14159265358979323846264338327950288419716939937510",
    "1,000,000 and 1 000 000 and 1_000_000",
    "2024-07-23T12:34:56Z",
    "+1 (555) 010-9999",
    "0xDEADBEEF 0b1010 0o777 1e-10 6.02e23",
    "Version 3.1.4-rc.2 of v10",
    "a    b",
    "a\tb\t\tc",
    "line1\nline2\n\nline4\n\n\n",
    "  \n  \n\t\n \t \n",
    " \t \t\t \t\n  \n   \n    \n     \n",
    "mixed \t\n whitespace \r\n\r\n end",
    " " * 40,
    "\n" * 10,
    "x" + " " * 17 + "y",
    "def add(a, b):\n    return a + b\n",
    "for (int i = 0; i < n; ++i) {\n\tsum += v[i];\n}",
    "fn main() {\n    println!(\"Hello, {}!\", name);\n}",
    "<div class=\"container\"><p>Text &amp; more</p></div>",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    '{"key": [1, 2, 3], "nested": {"a": null, "b": true}}',
    "x = [i**2 for i in range(10) if i % 2 == 0]  # squares",
    "$ cargo test --release -- --nocapture 2>&1 | tee log.txt",
    "https://example.com/path?query=value&other=1#frag",
    "user@example.org",
    "!!!???...;;;:::",
    "------======= '''''' ``````` \"\"\"\"",
    "~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
    "café naïve résumé façade",
    "Zürich Straße Ärger Öl Übermut",
    "Привет, мир! Как дела?",
    "Ελληνικά γράμματα",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "你好，世界！我想在apple工作1314151天～",
    "日本語のテキスト、カタカナとひらがな。",
    "한국어 텍스트입니다",
    "Tiếng Việt có dấu",
    "កាន់តែពិសេសអាច",
    "🚀",
    "🦙🦙🦙",
    "🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅",
    "👨\u200d👩\u200d👧\u200d👦 family",
    "👍🏽 thumbs up, medium skin tone",
    "🏳️\u200d🌈 🇫🇷 🇯🇵",
    "e\u0301 (combining acute) vs é (precomposed)",
    "\u200b zero width space and \u00a0nbsp",
    "\ufeffBOM at start",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝟙𝟚𝟛",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>user\nHello<|im_end|>\n",
    "text before <|im_end|> text after",
    "<|im_start|> <|im_start|><|im_start|>",
    "<|not_a_token|>",
    "<|begin_of_text|><|eot_id|>",
    "<repo_name>herd<file_sep>",
    "A" * 120,
    "The year 1999 had 365 days, 52 weeks and 8760 hours.",
]

# Cases tokenized with special=True: control-token text becomes the control token.
TOKENIZE_SPECIAL_TEXTS: list[str] = [
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>user\nHello<|im_end|>\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "text before <|im_end|> text after",
    "<|im_start|> <|im_start|><|im_start|>",
    "<|not_a_token|>",
    "<repo_name>herd<file_sep>main.rs",
    "plain text without specials",
]

CONVERSATIONS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "Name three primary colors."},
    ],
    [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello! How can I help you today?"},
        {"role": "user", "content": "Tell me a fun fact about llamas."},
    ],
    [
        {"role": "system", "content": "You are a helpful coding assistant."},
        {"role": "user", "content": "Write a Python function that reverses a string."},
        {"role": "assistant", "content": "def reverse(s):\n    return s[::-1]"},
        {"role": "user", "content": "Now make it handle None."},
    ],
    [{"role": "user", "content": "Translate to French: \"Good morning, my friend.\""}],
    [{"role": "user", "content": "Count from 1 to 20, separated by commas."}],
    [
        {"role": "system", "content": "Answer with a single word."},
        {"role": "user", "content": "What color is the sky on a clear day?"},
    ],
    [{"role": "user", "content": "Explain recursion to a five year old.  Use   odd\tspacing\n\nand  emoji 🦙."}],
]

# Sources of ppl.txt: real English prose shipped in pinned PyPI packages (see README).
PPL_SOURCES = [
    ("numpy", "numpy/ma/README.rst"),  # numpy==2.4.6, BSD-3-Clause: "A guide to masked arrays"
    ("safetensors", "safetensors-0.8.0.dist-info/licenses/LICENSE"),  # Apache License 2.0 text
]


# ---------------------------------------------------------------------------------------
# llama.cpp helpers
# ---------------------------------------------------------------------------------------


def load(model: Path, **kw):
    from llama_cpp import Llama

    return Llama(str(model), seed=SEED, n_threads=N_THREADS, n_threads_batch=N_THREADS, verbose=False, **kw)


def token_text(llm, tid: int) -> str:
    return llm._model.token_get_text(tid)


def eog_ids(llm) -> list[int]:
    """Ids llama.cpp treats as end of generation (llama_vocab_is_eog)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    return [i for i in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, i)]


def render_chat(llm, messages) -> str:
    """Render with llama-cpp-python's Jinja2 chat formatter and the GGUF's own template.

    This is exactly what Llama.__init__ builds for the "chat_template.default" handler:
    the template from tokenizer.chat_template, the bos/eos token *texts*, and
    add_generation_prompt=True.
    """
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    fmt = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"],
        eos_token=token_text(llm, llm.token_eos()),
        bos_token=token_text(llm, llm.token_bos()),
        add_generation_prompt=True,
    )
    return fmt(messages=messages).prompt


def tokenize_prompt(llm, prompt: str) -> list[int]:
    # add_bos=True maps to llama.cpp's add_special=true: BOS is added only when the
    # vocab says so (tokenizer.ggml.add_bos_token; false for SmolLM2).
    return list(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    m = x.max()
    return x - m - math.log(np.exp(x - m).sum())


# ---------------------------------------------------------------------------------------
# Generators
# ---------------------------------------------------------------------------------------


def gen_tokenize(model: Path, out: Path) -> None:
    llm = load(model, vocab_only=True)
    cases = []
    for text in TOKENIZE_TEXTS:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        cases.append({"text": text, "special": False, "ids": list(ids)})
    for text in TOKENIZE_SPECIAL_TEXTS:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        cases.append({"text": text, "special": True, "ids": list(ids)})
    write_json_lines_array(out / "tokenize.json", cases)
    log(f"tokenize.json: {len(cases)} cases")


def gen_chat(model: Path, out: Path) -> None:
    llm = load(model, vocab_only=True)
    rows = []
    for messages in CONVERSATIONS:
        prompt = render_chat(llm, messages)
        rows.append({"messages": messages, "prompt": prompt, "ids": tokenize_prompt(llm, prompt)})
    write_json_lines_array(out / "chat.json", rows)
    log(f"chat.json: {len(rows)} conversations")


def gen_greedy(model: Path, out: Path, max_tokens: int = 64) -> None:
    llm = load(model, n_ctx=2048, logits_all=True)
    stop = eog_ids(llm)
    rows = []
    for messages in CONVERSATIONS:
        prompt = render_chat(llm, messages)
        prompt_ids = tokenize_prompt(llm, prompt)
        llm.reset()
        llm.eval(prompt_ids)  # the prompt in one batch, then one token per decode call
        ids, steps, finish = [], [], "length"
        for _ in range(max_tokens):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            lp = log_softmax(logits)
            tid = int(np.argmax(logits))  # ties: lowest id, like llama.cpp's greedy sampler
            # top-5 by log-prob, ties broken by the lower id
            order = np.lexsort((np.arange(len(lp)), -lp))[:5]
            top = [{"id": int(i), "logprob": float(lp[i])} for i in order]
            steps.append({"id": tid, "logprob": float(lp[tid]), "top": top})
            ids.append(tid)
            if tid in stop:
                finish = "stop"
                break
            llm.eval([tid])
        rows.append(
            {
                "messages": messages,
                "prompt": prompt,
                "prompt_ids": prompt_ids,
                "ids": ids,
                "text": llm.detokenize(ids).decode("utf-8", errors="replace"),
                "logprobs": steps,
                "finish_reason": finish,
                "stop_ids": stop,
            }
        )
        log(f"greedy: {len(ids):2d} tokens, {finish}: {rows[-1]['text'][:60]!r}")
    write_json_lines_array(out / "greedy.json", rows)


def write_ppl_text(out: Path) -> Path:
    """ppl.txt = the concatenated PPL_SOURCES, read from the installed pinned packages."""
    import importlib.util

    parts = []
    for pkg, rel in PPL_SOURCES:
        spec = importlib.util.find_spec(pkg)
        site = Path(spec.origin).parent.parent  # .../site-packages
        parts.append((site / rel).read_text(encoding="utf-8").strip() + "\n")
    path = out / "ppl.txt"
    path.write_text("\n\n".join(parts), encoding="utf-8")
    return path


def perplexity(llm, tokens: list[int], n_ctx: int, add_bos: bool, bos: int) -> dict:
    """tools/perplexity/perplexity.cpp `perplexity()`, one chunk (sequence) at a time.

    For chunk i: the tokens [i*n_ctx, (i+1)*n_ctx), with the first one replaced by BOS
    when the vocab adds BOS; a fresh KV cache; score positions first..n_ctx-2, each
    predicting the next token of the chunk, with first = n_ctx/2. The per-token NLL is
    computed like log_softmax() there: float max, double sum of expf(l - max), and
    `logit[tok] - max` in float minus log(sum) in double, accumulated in double.
    """
    n_chunk = len(tokens) // n_ctx
    first = n_ctx // 2
    nll, count, running = 0.0, 0, []
    for i in range(n_chunk):
        chunk = list(tokens[i * n_ctx : (i + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        logits = np.asarray(llm.scores[:n_ctx], dtype=np.float32)
        for j in range(first, n_ctx - 1):
            row = logits[j]
            mx = row.max()
            sum_exp = float(np.exp(row - mx, dtype=np.float32).astype(np.float64).sum())
            nll += -(float(np.float32(row[chunk[j + 1]] - mx)) - math.log(sum_exp))
            count += 1
        running.append(round(math.exp(nll / count), 4))  # what llama-perplexity prints as [i]
    return {"ppl": math.exp(nll / count), "nll_sum": nll, "count": count, "chunks": n_chunk, "running": running}


def gen_ppl(model: Path, out: Path) -> None:
    """ppl.json (ctx 128) and ppl_ctx256.json.

    "ppl" is with flash attention off (llama-cpp-python's default, and the closest to a
    plain f32 attention); it equals `llama-perplexity -c CTX -b CTX -fa off` to all printed
    digits. "ppl_flash_attn" is the same with flash attention on (`-fa on`). The binary's
    defaults (-fa auto, which is on for CPU, and -b 2048, which evaluates 2048/CTX chunks
    side by side in one batch) move the value by ~0.1-1% (see scripts/golden/README.md).
    """
    text_path = write_ppl_text(out)
    text = text_path.read_text(encoding="utf-8")
    import llama_cpp

    for n_ctx, name in ((128, "ppl.json"), (256, "ppl_ctx256.json")):
        results = {}
        for flash_attn in (False, True):
            llm = load(model, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=True, flash_attn=flash_attn)
            vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
            add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
            # common_tokenize(ctx, text, add_special=true, parse_special=false)
            tokens = list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))
            results[flash_attn] = perplexity(llm, tokens, n_ctx, add_bos, llm.token_bos())
            del llm
        r = results[False]
        row = {
            "ctx": n_ctx,
            "ppl": r["ppl"],
            "tokens": len(tokens),
            "chunks": r["chunks"],
            "scored": r["count"],
            "nll_sum": r["nll_sum"],
            "add_bos": add_bos,
            "running": r["running"],
            "ppl_flash_attn": results[True]["ppl"],
            "llama_perplexity_args": f"-c {n_ctx} -b {n_ctx} -fa off",
            "text": "ppl.txt",
            "text_bytes": len(text.encode("utf-8")),
        }
        write_json(out / name, row, indent=None)
        log(f"{name}: ctx {n_ctx} ppl {r['ppl']:.6f} (flash attn {results[True]['ppl']:.6f}) tokens {len(tokens)} chunks {r['chunks']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=herd_home() / "models" / MODEL_NAME)
    ap.add_argument("--out", type=Path, default=FIXTURES / "smollm2")
    ap.add_argument("--only", default="tokenize,chat,greedy,ppl")
    args = ap.parse_args()

    if not args.model.is_file():
        sys.exit(f"missing {args.model}: run scripts/golden/regen.sh (it fetches the model) or `herd pull`")
    digest = sha256_file(args.model)
    if digest != MODEL_SHA256:
        sys.exit(f"{args.model}: sha256 {digest}, expected {MODEL_SHA256}")
    args.out.mkdir(parents=True, exist_ok=True)

    steps = {"tokenize": gen_tokenize, "chat": gen_chat, "greedy": gen_greedy, "ppl": gen_ppl}
    for name in args.only.split(","):
        steps[name](args.model, args.out)


if __name__ == "__main__":
    main()
