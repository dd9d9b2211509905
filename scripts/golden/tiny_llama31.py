#!/usr/bin/env python3
"""A tiny random-weight model with the full Llama 3.1 configuration shape, in two formats.

The model: vocab 128,256 (Llama 3.1's tokenizer.json), hidden 128, 2 layers, 4 query heads
and 1 KV head (GQA 4:1, head_dim 32), FFN 384, rope_theta 500,000 with the "llama3"
RoPE scaling (factor 8, low 1, high 4, original context 8192), max positions 131,072,
rms_norm_eps 1e-5, untied output, bos 128000, eos [128001, 128008, 128009].

Weights come from numpy's default_rng(SEED) in Meta's layout (q/k rows interleaved in
adjacent pairs, the layout llama.cpp's NORM rope uses), rounded to F16; the norm weights
are F32 around 1.0. The same numbers are then written twice:

  OUT/hf/          Hugging Face checkpoint: config.json, generation_config.json,
                   tokenizer.json, tokenizer_config.json, and the weights under HF names,
                   with q_proj/k_proj rows permuted exactly as transformers'
                   convert_llama_weights_to_hf.py permutes them (rotate-half layout),
                   sharded into model-0000{1,2}-of-00002.safetensors + the index.
  OUT/model.gguf   GGUF as llama.cpp's convert_hf_to_gguf.py (LlamaModel) would write it
                   from OUT/hf: arch llama, llama.cpp tensor names, q/k back in the
                   interleaved layout (the converter undoes HF's permute), rope_freqs
                   computed as the converter does for rope_type llama3, and the vocab
                   written as _set_vocab_gpt2 does for llama-bpe.

--models-only writes just these (fast, needs only numpy, gguf and safetensors; CI runs it,
and the bytes are deterministic for the pinned package versions). The full mode also
writes tests/fixtures/tiny_llama31/logits.{json,bin}: llama.cpp's logits for a ~300-token
prompt at 4 positions, plus the sha256 of the model files they were computed from.

Usage: tiny_llama31.py OUT_DIR [--tokenizer-dir DIR] [--models-only] [--fixture-out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, log, sha256_file, test_data_dir, write_json  # noqa: E402

SEED = 3_141_592

CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
    "head_dim": 32,
    "hidden_act": "silu",
    "hidden_size": 128,
    "initializer_range": 0.02,
    "intermediate_size": 384,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "num_key_value_heads": 1,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {
        "factor": 8.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
        "rope_type": "llama3",
    },
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "float16",
    "transformers_version": "4.43.0",
    "use_cache": True,
    "vocab_size": 128256,
}

GENERATION_CONFIG = {
    "bos_token_id": 128000,
    "do_sample": True,
    "eos_token_id": [128001, 128008, 128009],
    "temperature": 0.6,
    "top_p": 0.9,
    "transformers_version": "4.43.0",
}

# Standard deviations of the random weights. Chosen so that activations stay O(1):
# q/k entries ~0.9 give attention scores ~N(0, 0.8) (neither uniform nor one-hot),
# and the output projection gives logits ~N(0, 1.1) over the vocabulary.
STD = {"embed": 0.3, "wq": 0.08, "wk": 0.08, "wv": 0.08, "wo": 0.05, "w_gate": 0.08, "w_up": 0.08, "w_down": 0.05, "output": 0.1}
NORM_STD = 0.1  # norm weights are 1 + NORM_STD * N(0, 1), in F32

# Tokenizer pre-type. convert_hf_to_gguf.py finds it by hashing the ids of a check text;
# for this tokenizer the hash is 0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5,
# which the converter maps to "llama-bpe" (checked against llama-models' tokenizer).
TOKENIZER_PRE = "llama-bpe"

# The prompt of logits.json: English prose and code, ~300 tokens.
PROMPT = """The llama (Lama glama) is a domesticated South American camelid, widely used as a \
meat and pack animal by Andean cultures since the pre-Columbian era. Llamas are social animals \
and live with others as a herd. Their wool is soft and contains only a small amount of lanolin. \
Llamas can learn simple tasks after a few repetitions. When using a pack, they can carry about \
25 to 30% of their body weight for 8 to 13 km (5-8 miles).

```rust
/// Root-mean-square normalization, as in the Llama models.
fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let mean_sq = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / (mean_sq + eps).sqrt();
    for ((o, v), w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}
```

In 2024, the Llama 3 herd of models introduced a 128K-token vocabulary, grouped-query \
attention with 8 key-value heads, and a RoPE base frequency of 500,000. Version 3.1 extended \
the context window to 128K tokens by rescaling the rotary frequencies: the high-frequency \
components are kept, the low-frequency ones are divided by eight, and those in between are \
blended smoothly. Numbers like 3.14159, 2,147,483,647 and 0xDEADBEEF are split into groups of \
at most three digits. 日本語とEnglishが混在するtext, emoji 🦙🚀, and "quotes" round it off.
"""

# ---------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------


def make_meta_weights() -> dict[str, np.ndarray]:
    """Random weights under Meta's names (llama-models' model.py), F16 except norms (F32).

    The draw order is fixed (this function's order) so the bytes never change for a
    given numpy version.
    """
    c = CONFIG
    dim, n_heads, n_kv, hd, ffn, vocab = (
        c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], c["intermediate_size"], c["vocab_size"],
    )
    rng = np.random.default_rng(SEED)

    def normal(shape, std) -> np.ndarray:
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float16)

    def norm() -> np.ndarray:
        return (1.0 + NORM_STD * rng.standard_normal(dim, dtype=np.float32)).astype(np.float32)

    w = {"tok_embeddings.weight": normal((vocab, dim), STD["embed"])}
    for i in range(c["num_hidden_layers"]):
        p = f"layers.{i}."
        w[p + "attention_norm.weight"] = norm()
        w[p + "attention.wq.weight"] = normal((n_heads * hd, dim), STD["wq"])  # [n_heads*head_dim, dim]
        w[p + "attention.wk.weight"] = normal((n_kv * hd, dim), STD["wk"])  # [n_kv_heads*head_dim, dim]
        w[p + "attention.wv.weight"] = normal((n_kv * hd, dim), STD["wv"])  # [n_kv_heads*head_dim, dim]
        w[p + "attention.wo.weight"] = normal((dim, n_heads * hd), STD["wo"])  # [dim, n_heads*head_dim]
        w[p + "ffn_norm.weight"] = norm()
        w[p + "feed_forward.w1.weight"] = normal((ffn, dim), STD["w_gate"])  # gate [ffn, dim]
        w[p + "feed_forward.w3.weight"] = normal((ffn, dim), STD["w_up"])  # up [ffn, dim]
        w[p + "feed_forward.w2.weight"] = normal((dim, ffn), STD["w_down"])  # down [dim, ffn]
    w["norm.weight"] = norm()
    w["output.weight"] = normal((vocab, dim), STD["output"])  # [vocab, dim]
    return w


def hf_permute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """transformers' convert_llama_weights_to_hf.py `permute`:
    w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2).
    Meta's interleaved pairs (x[2i], x[2i+1]) become HF's halves (x[i], x[i + hd/2])."""
    d1, d2 = w.shape
    return w.reshape(n_heads, d1 // n_heads // 2, 2, d2).transpose(0, 2, 1, 3).reshape(d1, d2)


def gguf_unpermute(w: np.ndarray, n_heads: int) -> np.ndarray:
    """convert_hf_to_gguf.py LlamaModel.permute (undoes the HF permute):
    w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(w.shape)."""
    d1, d2 = w.shape
    return w.reshape(n_heads, 2, d1 // n_heads // 2, d2).swapaxes(1, 2).reshape(d1, d2)


def to_hf(meta: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    c = CONFIG
    hf = {"model.embed_tokens.weight": meta["tok_embeddings.weight"]}
    for i in range(c["num_hidden_layers"]):
        m, p = f"layers.{i}.", f"model.layers.{i}."
        hf[p + "input_layernorm.weight"] = meta[m + "attention_norm.weight"]
        hf[p + "self_attn.q_proj.weight"] = hf_permute(meta[m + "attention.wq.weight"], c["num_attention_heads"])
        hf[p + "self_attn.k_proj.weight"] = hf_permute(meta[m + "attention.wk.weight"], c["num_key_value_heads"])
        hf[p + "self_attn.v_proj.weight"] = meta[m + "attention.wv.weight"]
        hf[p + "self_attn.o_proj.weight"] = meta[m + "attention.wo.weight"]
        hf[p + "post_attention_layernorm.weight"] = meta[m + "ffn_norm.weight"]
        hf[p + "mlp.gate_proj.weight"] = meta[m + "feed_forward.w1.weight"]
        hf[p + "mlp.up_proj.weight"] = meta[m + "feed_forward.w3.weight"]
        hf[p + "mlp.down_proj.weight"] = meta[m + "feed_forward.w2.weight"]
    hf["model.norm.weight"] = meta["norm.weight"]
    hf["lm_head.weight"] = meta["output.weight"]
    return {k: np.ascontiguousarray(v) for k, v in hf.items()}


def hf_to_gguf_tensors(hf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The name map and q/k un-permute of convert_hf_to_gguf.py for LlamaModel."""
    c = CONFIG
    names = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    per_layer = {
        "input_layernorm": "attn_norm",
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "post_attention_layernorm": "ffn_norm",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    out = {"rope_freqs.weight": llama3_rope_factors()}  # generate_extra_tensors comes first
    for name, t in hf.items():
        if name in names:
            out[names[name]] = t
            continue
        _, _, i, rest = name.split(".", 3)
        stem = rest[: -len(".weight")]
        if stem == "self_attn.q_proj":
            t = gguf_unpermute(t, c["num_attention_heads"])
        elif stem == "self_attn.k_proj":
            t = gguf_unpermute(t, c["num_key_value_heads"])  # n_head != n_head_kv: uses n_head_kv
        out[f"blk.{i}.{per_layer[stem]}.weight"] = np.ascontiguousarray(t)
    return out


def llama3_rope_factors() -> np.ndarray:
    """rope_freqs as LlamaModel.generate_extra_tensors computes it for rope_type llama3.

    The converter does this with float32 torch tensors and Python scalars; numpy 2's
    scalar promotion (NEP 50) keeps the same float32 arithmetic step by step, so the
    operations below are written in the same order. Only the base frequencies come from
    a float32 pow whose last bit could differ between libraries, and for this config
    they only decide which band a frequency falls in (none is near a band edge); the one
    blended factor (i=8, exponent exactly 0.5) is computed with IEEE +-*/ alone after
    that. Note the float32 result, 2.69453, is one ulp above a float64 computation.
    """
    c, rs = CONFIG, CONFIG["rope_scaling"]
    base, dim = c["rope_theta"], c["head_dim"]
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    assert freqs.dtype == np.float32
    factor, low, high, old_ctx = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------


def write_hf(hf_dir: Path, hf: dict[str, np.ndarray], tok_dir: Path) -> None:
    from safetensors.numpy import save_file

    hf_dir.mkdir(parents=True, exist_ok=True)
    (hf_dir / "config.json").write_text(json.dumps(CONFIG, indent=2) + "\n")
    (hf_dir / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2) + "\n")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tok_dir / f, hf_dir / f)

    # Two shards, split by layer like real checkpoints: the embedding and layer 0 in the
    # first, layer 1, the final norm and lm_head in the second.
    shards: list[dict[str, np.ndarray]] = [{}, {}]
    for name, t in hf.items():
        second = name.startswith(("model.layers.1.", "model.norm.", "lm_head."))
        shards[1 if second else 0][name] = t
    weight_map, total = {}, 0
    for k, shard in enumerate(shards, start=1):
        fname = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(hf_dir / fname), metadata={"format": "pt"})
        for name, t in shard.items():
            weight_map[name] = fname
            total += t.nbytes
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (hf_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def gguf_vocab(tok_dir: Path) -> tuple[list[str], list[int]]:
    """LlamaModel's get_vocab_base(): one token string per id up to vocab_size, NORMAL for
    the BPE vocabulary and CONTROL for the added special tokens (all are `special`)."""
    import gguf

    tj = json.loads((tok_dir / "tokenizer.json").read_text(encoding="utf-8"))
    reverse = {i: t for t, i in tj["model"]["vocab"].items()}
    added = {a["id"]: a for a in tj["added_tokens"]}
    tokens, types = [], []
    for i in range(CONFIG["vocab_size"]):
        if i in added:
            # The converter re-encodes non-normalized added tokens and decodes them back;
            # for these special tokens that gives the same text.
            assert added[i]["special"] and not added[i]["normalized"]
            tokens.append(added[i]["content"])
            types.append(gguf.TokenType.CONTROL)
        elif i in reverse:
            tokens.append(reverse[i])
            types.append(gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    return tokens, types


def write_gguf(path: Path, tensors: dict[str, np.ndarray], hf_dir: Path) -> None:
    import gguf

    c = CONFIG
    w = gguf.GGUFWriter(str(path), "llama")
    # general.* (the converter's prepare_metadata writes these and a few optional ones)
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name("Tiny Llama 3.1 (random weights, herd test model)")
    # TextModel.set_gguf_parameters + LlamaModel.set_gguf_parameters, in their order
    w.add_block_count(c["num_hidden_layers"])
    w.add_context_length(c["max_position_embeddings"])
    w.add_embedding_length(c["hidden_size"])
    w.add_feed_forward_length(c["intermediate_size"])
    w.add_head_count(c["num_attention_heads"])
    w.add_head_count_kv(c["num_key_value_heads"])
    # rope_type llama3: no scaling-type key; the factors go in the rope_freqs tensor
    w.add_rope_freq_base(c["rope_theta"])
    w.add_layer_norm_rms_eps(c["rms_norm_eps"])
    w.add_key_length(c["head_dim"])
    w.add_value_length(c["head_dim"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    w.add_vocab_size(c["vocab_size"])
    w.add_rope_dimension_count(c["head_dim"])
    # _set_vocab_gpt2
    tokens, types = gguf_vocab(hf_dir)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(TOKENIZER_PRE)
    w.add_token_list(tokens)
    w.add_token_types(types)
    # merges, bos/eos ids, add_bos (from the TemplateProcessing post-processor) and the
    # chat template, read from tokenizer.json / tokenizer_config.json / config.json by
    # the gguf package's own SpecialVocab, as the converter does.
    # (It warns "Unknown separator token '<|begin_of_text|>' in TemplateProcessing<pair>"
    # for every Llama 3 tokenizer.json, in the converter too; that only concerns pairs.)
    logging.getLogger("gguf.vocab").setLevel(logging.ERROR)
    special = gguf.SpecialVocab(hf_dir, load_merges=True, n_vocab=c["vocab_size"])
    special.add_to_gguf(w, quiet=True)
    for name, t in tensors.items():
        w.add_tensor(name, t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_models(out: Path, tok_dir: Path) -> tuple[Path, Path]:
    meta = make_meta_weights()
    hf = to_hf(meta)
    tensors = hf_to_gguf_tensors(hf)
    # Self-check: the GGUF q/k are Meta's interleaved rows again.
    for i in range(CONFIG["num_hidden_layers"]):
        assert np.array_equal(tensors[f"blk.{i}.attn_q.weight"], meta[f"layers.{i}.attention.wq.weight"])
        assert np.array_equal(tensors[f"blk.{i}.attn_k.weight"], meta[f"layers.{i}.attention.wk.weight"])
    hf_dir = out / "hf"
    write_hf(hf_dir, hf, tok_dir)
    gguf_path = out / "model.gguf"
    tmp = gguf_path.with_suffix(".gguf.tmp")
    write_gguf(tmp, tensors, hf_dir)
    tmp.replace(gguf_path)
    log(f"rope_freqs: {[float(x) for x in tensors['rope_freqs.weight']]}")
    return hf_dir, gguf_path


# ---------------------------------------------------------------------------------------
# Full mode: llama.cpp logits
# ---------------------------------------------------------------------------------------


def numpy_hf_forward(hf_dir: Path, ids: list[int]) -> np.ndarray:
    """An independent float64 forward pass of the HF checkpoint with transformers'
    semantics (rotate-half RoPE on the permuted q/k, _compute_llama3_parameters scaling,
    GQA by repeating KV heads). If it agrees with llama.cpp on the GGUF, the two files
    hold the same model and the permutes are right."""
    from safetensors.numpy import load_file

    c, rs = CONFIG, CONFIG["rope_scaling"]
    w: dict[str, np.ndarray] = {}
    for f in sorted(hf_dir.glob("*.safetensors")):
        w.update({k: v.astype(np.float64) for k, v in load_file(str(f)).items()})
    n_h, n_kv, hd, eps = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"], c["rms_norm_eps"]
    T = len(ids)

    inv_freq = 1.0 / (c["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    low_wl = rs["original_max_position_embeddings"] / rs["low_freq_factor"]
    high_wl = rs["original_max_position_embeddings"] / rs["high_freq_factor"]
    wavelen = 2 * math.pi / inv_freq
    inv_l = np.where(wavelen > low_wl, inv_freq / rs["factor"], inv_freq)
    smooth = (rs["original_max_position_embeddings"] / wavelen - rs["low_freq_factor"]) / (rs["high_freq_factor"] - rs["low_freq_factor"])
    smoothed = (1 - smooth) * inv_l / rs["factor"] + smooth * inv_l
    medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
    inv_l = np.where(medium, smoothed, inv_l)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv_l[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))  # [T, hd]

    def rope(x):  # x [T, heads, hd]; rotate_half(x) = cat(-x2, x1)
        x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
        return x * cos[:, None, :] + np.concatenate([-x2, x1], -1) * sin[:, None, :]

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    x = w["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rope((h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, n_h, hd))
        k = rope((h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, n_kv, hd))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, n_kv, hd)
        k, v = np.repeat(k, n_h // n_kv, axis=1), np.repeat(v, n_h // n_kv, axis=1)
        s = np.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", a, v).reshape(T, n_h * hd)
        x = x + o @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g, u = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ w[p + "mlp.down_proj.weight"].T
    return rms(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


def write_logits_fixture(gguf_path: Path, hf_dir: Path, fixture_out: Path) -> None:
    from llama_cpp import Llama

    llm = Llama(str(gguf_path), n_ctx=512, n_batch=512, n_ubatch=512, logits_all=True, seed=0, n_threads=2, verbose=False)
    ids = list(llm.tokenize(PROMPT.encode("utf-8"), add_bos=True, special=False))
    assert ids[0] == 128000, "the GGUF says add_bos_token: llama.cpp must prepend <|begin_of_text|>"
    try:  # cross-check llama.cpp's llama-bpe tokenizer against llama-models' tiktoken one
        from llama_models.llama3.tokenizer import Tokenizer

        ref = Tokenizer.get_instance().encode(PROMPT, bos=True, eos=False)
        assert ref == ids, "llama.cpp and llama-models disagree on the prompt's ids"
        log("prompt ids agree with llama-models")
    except ImportError:
        log("llama-models not installed: skipped the tokenizer cross-check")
    llm.eval(ids)
    n = len(ids)
    positions = [0, n // 3, (2 * n) // 3, n - 1]
    rows = np.stack([np.asarray(llm.scores[p], dtype=np.float32) for p in positions])
    assert np.isfinite(rows).all()
    ref = numpy_hf_forward(hf_dir, ids)[positions]
    max_diff = float(np.abs(ref - rows).max())
    log(f"numpy float64 forward of hf/ vs llama.cpp on model.gguf: max |diff| {max_diff:.3g}")
    assert max_diff < 0.05, "the HF checkpoint and the GGUF do not compute the same model"
    fixture_out.mkdir(parents=True, exist_ok=True)
    (fixture_out / "logits.bin").write_bytes(rows.astype("<f4").tobytes())
    meta = {
        "generator": "scripts/golden/tiny_llama31.py (llama.cpp via llama-cpp-python, logits_all, one batch)",
        "prompt": PROMPT,
        "ids": ids,
        "n_vocab": int(rows.shape[1]),
        "positions": positions,
        "logits_file": "logits.bin",
        "logits_format": "little-endian f32, row-major [len(positions), n_vocab]",
        "argmax": [int(r.argmax()) for r in rows],
        "stats": [{"min": float(r.min()), "max": float(r.max()), "mean": float(r.mean()), "std": float(r.std())} for r in rows],
        "sha256": {
            "model.gguf": sha256_file(gguf_path),
            **{f"hf/{p.name}": sha256_file(p) for p in sorted(hf_dir.iterdir())},
        },
        "numpy_hf_forward_max_abs_diff": max_diff,
        "logits_sha256": hashlib.sha256(rows.astype("<f4").tobytes()).hexdigest(),
    }
    write_json(fixture_out / "logits.json", meta)
    log(f"logits.json: {n} prompt tokens, positions {positions}, argmax {meta['argmax']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="where to write hf/ and model.gguf")
    ap.add_argument("--tokenizer-dir", type=Path, default=test_data_dir() / "llama3_1",
                    help="holds Llama 3.1's tokenizer.json and tokenizer_config.json")
    ap.add_argument("--models-only", action="store_true", help="only write the two models (no llama.cpp)")
    ap.add_argument("--fixture-out", type=Path, default=FIXTURES / "tiny_llama31")
    args = ap.parse_args()

    for f in ("tokenizer.json", "tokenizer_config.json"):
        if not (args.tokenizer_dir / f).is_file():
            sys.exit(f"missing {args.tokenizer_dir / f}: run scripts/setup-test-data.sh")
    args.out.mkdir(parents=True, exist_ok=True)
    hf_dir, gguf_path = write_models(args.out, args.tokenizer_dir)
    log(f"wrote {hf_dir} and {gguf_path} (sha256 {sha256_file(gguf_path)})")
    if not args.models_only:
        write_logits_fixture(gguf_path, hf_dir, args.fixture_out)


if __name__ == "__main__":
    main()
