#!/usr/bin/env python3
"""Dequantization vectors from gguf.quants (llama.cpp's own Python implementation).

Writes tests/fixtures/quants.json: for each ggml type, a few seeded random blocks and
the f32 values gguf.quants.dequantize gives for them. Both are base64 of little-endian
bytes so the Rust test can compare herd's dequantizer bit for bit.

The quant bytes are uniformly random except the f16 scale fields (d, dmin, ...), which
are set to finite, modest values (plus one all-zero-scale block and one negative/subnormal
scale per type) so that the expected output is finite and meaningful.

Usage: quants.py [--out tests/fixtures/quants.json]
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, log, write_json  # noqa: E402

SEED = 20240723
BLOCKS_PER_TYPE = 6

# Byte offsets of the f16 scale fields inside one block (ggml-common.h):
#   Q4_0 {d; qs[16]}          Q4_1 {d; m; qs[16]}          Q8_0 {d; qs[32]}
#   Q5_0 {d; qh[4]; qs[16]}   Q5_1 {d; m; qh[4]; qs[16]}
#   Q2_K {scales[16]; qs[64]; d; dmin}   Q3_K {hmask[32]; qs[64]; scales[12]; d}
#   Q4_K {d; dmin; scales[12]; qs[128]}  Q5_K {d; dmin; scales[12]; qh[32]; qs[128]}
#   Q6_K {ql[128]; qh[64]; scales[16]; d}
F16_FIELDS: dict[T, list[int]] = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
}

# The types herd must read (the brief), then a few extra ones that cost nothing here.
TYPES = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K, T.Q5_0, T.Q5_1, T.Q2_K, T.Q3_K]


def f16_bytes(x: float) -> bytes:
    return np.array([x], dtype="<f2").tobytes()


def random_blocks(rng: np.random.Generator, qtype: T, n_blocks: int) -> bytes:
    block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
    if qtype in (T.F16, T.BF16):
        # Random bit patterns, minus NaN and infinity (exponent all ones), so every value
        # class is covered: normals of both signs, subnormals, +0 and -0.
        exp_mask = 0x7C00 if qtype == T.F16 else 0x7F80
        bits = rng.integers(0, 1 << 16, size=n_blocks * block_elems, dtype=np.uint32)
        bad = (bits & exp_mask) == exp_mask
        bits[bad] ^= np.uint32(0x4000)  # clear the top exponent bit: now finite
        special = np.array([0x0000, 0x8000, 0x0001, 0x8001, exp_mask - 1, 0x3C00 if qtype == T.F16 else 0x3F80])
        bits[: len(special)] = special
        return bits.astype("<u2").tobytes()

    out = bytearray()
    fields = F16_FIELDS[qtype]
    for b in range(n_blocks):
        block = bytearray(rng.integers(0, 256, size=block_bytes, dtype=np.uint8).tobytes())
        for k, off in enumerate(fields):
            if b == 0:
                scale = 0.0  # an all-zero scale block
            elif b == 1:
                # a negative normal d and a subnormal dmin/m
                scale = -0.0421 if k == 0 else 2.0**-20
            else:
                # magnitude in [1e-4, 0.25), random sign
                scale = float(rng.uniform(1e-4, 0.25)) * (1.0 if rng.random() < 0.75 else -1.0)
            block[off : off + 2] = f16_bytes(scale)
        out += block
    return bytes(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=FIXTURES / "quants.json")
    args = ap.parse_args()

    rng = np.random.default_rng(SEED)
    cases = []
    for qtype in TYPES:
        block_elems, block_bytes = GGML_QUANT_SIZES[qtype]
        n_blocks = BLOCKS_PER_TYPE if block_elems > 1 else 2
        n_elems = n_blocks * (block_elems if block_elems > 1 else 256)
        raw = random_blocks(rng, qtype, n_elems if block_elems == 1 else n_blocks)
        data = np.frombuffer(raw, dtype=np.uint8).copy()
        values = dequantize(data, qtype).astype(np.float32).reshape(-1)
        assert values.size == n_elems, (qtype.name, values.size, n_elems)
        assert np.isfinite(values).all(), qtype.name
        cases.append(
            {
                "type": qtype.name,
                "ggml_type": int(qtype),
                "block_elems": block_elems,
                "block_bytes": block_bytes,
                "n_values": int(values.size),
                "data_b64": base64.b64encode(raw).decode(),
                "f32_le_b64": base64.b64encode(values.astype("<f4").tobytes()).decode(),
                # a few decoded values for humans reading the file
                "first_values": [float(v) for v in values[:8]],
            }
        )
        log(f"{qtype.name}: {n_blocks if block_elems > 1 else n_elems} {'blocks' if block_elems > 1 else 'values'}")
    write_json(
        args.out,
        {
            "generator": "scripts/golden/quants.py (gguf.quants.dequantize)",
            "seed": SEED,
            "cases": cases,
        },
    )
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
