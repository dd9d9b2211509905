#!/usr/bin/env python3
"""Check smollm2.py's perplexity emulation against the real `llama-perplexity` binary.

For tests/fixtures/smollm2/ppl.json and ppl_ctx256.json, runs

    llama-perplexity -m MODEL -f ppl.txt -c CTX -b CTX -fa off   (must equal "ppl")
    llama-perplexity -m MODEL -f ppl.txt -c CTX -b CTX -fa on    (must equal "ppl_flash_attn")

and compares the printed "Final estimate: PPL = X" (4 decimals). With --defaults it also
prints what the binary's default invocation (-fa auto, -b 2048) gives, for information.

Usage: check_ppl.py --binary PATH [--model PATH] [--defaults] [--only ppl.json,ppl_ctx256.json]
Build the binary with scripts/golden/build_llama_perplexity.sh.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import FIXTURES, herd_home, log  # noqa: E402


def run(binary: Path, model: Path, text: Path, args: list[str]) -> float:
    cmd = [str(binary), "-m", str(model), "-f", str(text), "-t", "2", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    m = re.search(r"Final estimate: PPL = ([0-9.]+)", out.stdout + out.stderr)
    if not m:
        sys.exit(f"no final estimate from {' '.join(cmd)}")
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=herd_home() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--defaults", action="store_true")
    ap.add_argument("--only", default="ppl.json,ppl_ctx256.json", help="comma-separated fixture names")
    args = ap.parse_args()

    d = FIXTURES / "smollm2"
    ok = True
    for name in args.only.split(","):
        fx = json.loads((d / name).read_text())
        ctx = fx["ctx"]
        for fa, key in (("off", "ppl"), ("on", "ppl_flash_attn")):
            got = run(args.binary, args.model, d / fx["text"], ["-c", str(ctx), "-b", str(ctx), "-fa", fa])
            match = f"{fx[key]:.4f}" == f"{got:.4f}"
            ok &= match
            log(f"ctx {ctx} -fa {fa}: llama-perplexity {got:.4f}, fixture {fx[key]:.6f} -> {'match' if match else 'MISMATCH'}")
        if args.defaults:
            got = run(args.binary, args.model, d / fx["text"], ["-c", str(ctx)])
            log(f"ctx {ctx} defaults (-fa auto, -b 2048): llama-perplexity {got:.4f}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
