#!/usr/bin/env python3
"""Quantization vectors from llama.cpp's own C quantizers (and gguf.quants where it has one).

Writes tests/fixtures/quantize.json: seeded f32 rows of several shapes of data, and for
each ggml type herd writes the bytes that

  * ggml_quantize_chunk (libggml-base from the pinned llama-cpp-python, called through
    ctypes with no importance matrix: exactly the path llama-quantize takes) and
  * gguf.quants.quantize (the gguf package's numpy port; F16, BF16, Q4_0, Q4_1, Q5_0,
    Q8_0 only: it has no k-quant quantizers)

produce for them. The script fails if the two references disagree where both exist, so
the fixture has one expected answer per type. Rust checks herd's quantizer bit for bit.

Rows (all 512 values, i.e. two k-quant super-blocks, sixteen 32-blocks):
  gauss         N(0, 0.02), like a trained weight matrix
  heavy         Student-t with 3 degrees of freedom, scaled: large outliers
  outlier       N(0, 0.01) with a few values 50x larger
  positive      |N(0, 1)| + 0.5: every value positive (min > 0 paths)
  negative      -(|N(0, 1)|) - 0.1: every value negative
  zeros         all zero, then a block of 1e-20 (below GROUP_MAX_EPS-sized scales)
  constant      0.25 everywhere (max == min)
  ties          multiples of 1/16 in [-1, 1]: values land exactly on rounding ties
  mixed_scale   32-value blocks whose magnitudes span 1e-6 .. 1e2

Usage: quantize.py [--out tests/fixtures/quantize.json]
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import quantize as gguf_quantize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, log, write_json  # noqa: E402

SEED = 20240724
N = 512

TYPES = [T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q4_K, T.Q5_K, T.Q6_K]
GGUF_PY_TYPES = {T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0}


def rows(rng: np.random.Generator) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    out["gauss"] = rng.normal(0, 0.02, N)
    out["heavy"] = rng.standard_t(3, N) * 0.05
    o = rng.normal(0, 0.01, N)
    o[rng.choice(N, 6, replace=False)] *= 50
    out["outlier"] = o
    out["positive"] = np.abs(rng.normal(0, 1, N)) + 0.5
    out["negative"] = -np.abs(rng.normal(0, 1, N)) - 0.1
    z = np.zeros(N)
    z[256:288] = 1e-20
    out["zeros"] = z
    out["constant"] = np.full(N, 0.25)
    out["ties"] = rng.integers(-16, 17, N) / 16.0
    scales = 10.0 ** rng.uniform(-6, 2, N // 32)
    out["mixed_scale"] = rng.normal(0, 1, N) * np.repeat(scales, 32)
    return {k: v.astype(np.float32) for k, v in out.items()}


def libggml() -> ctypes.CDLL:
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).resolve().parent / "lib"
    lib = ctypes.CDLL(str(lib_dir / "libggml-base.so"))
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [
        ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
        ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
    ]
    return lib


def ggml_quantize(lib: ctypes.CDLL, qtype: T, x: np.ndarray) -> bytes:
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    out = np.zeros(x.size // block_elems * block_bytes, dtype=np.uint8)
    src = np.ascontiguousarray(x, dtype=np.float32)
    n = lib.ggml_quantize_chunk(int(qtype), src.ctypes.data, out.ctypes.data, 0, 1, x.size, None)
    assert n == out.size, (qtype.name, n, out.size)
    return out.tobytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=FIXTURES / "quantize.json")
    args = ap.parse_args()

    lib = libggml()
    rng = np.random.default_rng(SEED)
    cases = []
    for name, x in rows(rng).items():
        quants = {}
        for qtype in TYPES:
            want = ggml_quantize(lib, qtype, x)
            if qtype in GGUF_PY_TYPES:
                py = gguf_quantize(x.reshape(1, -1), qtype).tobytes()
                assert py == want, f"{name} {qtype.name}: gguf.quants and ggml disagree"
            quants[qtype.name] = base64.b64encode(want).decode()
        cases.append({"name": name, "f32_le_b64": base64.b64encode(x.astype("<f4").tobytes()).decode(), "quants": quants})
        log(f"{name}: {len(quants)} types")
    write_json(
        args.out,
        {
            "generator": "scripts/golden/quantize.py (ggml_quantize_chunk from llama-cpp-python 0.3.36, "
            "checked against gguf.quants.quantize where it exists)",
            "seed": SEED,
            "n_values": N,
            "types": [t.name for t in TYPES],
            "cases": cases,
        },
    )
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
