#!/usr/bin/env bash
# herd quantize vs llama.cpp's llama-quantize, checked by llama.cpp itself.
#
# For every TYPE (F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K_M):
#   1. the default model (SmolLM2-135M-Instruct) is converted by `herd quantize` and by
#      `llama-quantize --allow-requantize`. The only copy herd can fetch is the Q4_1
#      GGUF, so both tools dequantize it and requantize (there is no F16/F32 source);
#   2. the two files are compared tensor by tensor (type and bytes) and key by key;
#   3. llama.cpp's `llama-perplexity -c 256 -b 256` scores both on
#      tests/fixtures/smollm2/ppl.txt, so herd's file is loaded and run by llama.cpp.
# Then the same for the tiny Llama 3.1 test model, herd starting from its Hugging Face
# folder (hf/) and llama-quantize from the F16 GGUF llama.cpp's converter made of it
# (its perplexity is that of random weights: only the comparison means something).
#
# Prints a table and fails if a perplexity differs by more than 1% from llama.cpp's.
#
# Usage: scripts/bench/quantize_check.sh [WORK_DIR]
# Environment: LLAMA_CPP_BIN (folder with llama-quantize and llama-perplexity, default
#   /tmp/lcpp-build/bin; scripts/golden/build_llama_perplexity.sh builds one, add the
#   llama-quantize target), HERD (the herd binary, default target/release/herd, built if
#   missing), PY (a python with the gguf package, default the golden venv's), THREADS.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERD_HOME="${HERD_HOME:-$HOME/.cache/herd}"
DATA="${HERD_TEST_DATA:-$HERD_HOME/testdata}"
WORK="${1:-/tmp/herd-quantize-check}"
BIN="${LLAMA_CPP_BIN:-/tmp/lcpp-build/bin}"
HERD="${HERD:-$ROOT/target/release/herd}"
PY="${PY:-$HERD_HOME/golden-venv/bin/python}"
THREADS="${THREADS:-2}"
TYPES="${TYPES:-F16 BF16 Q8_0 Q4_0 Q4_1 Q4_K_M}"
SMOLLM2="$HERD_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf"
TEXT="$ROOT/tests/fixtures/smollm2/ppl.txt"
export LD_LIBRARY_PATH="$BIN${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

say() { printf 'quantize_check: %s\n' "$*" >&2; }
for f in "$BIN/llama-quantize" "$BIN/llama-perplexity" "$SMOLLM2" "$TEXT" "$DATA/tiny_llama31/hf/config.json"; do
    [ -e "$f" ] || { say "missing $f"; exit 2; }
done
[ -x "$HERD" ] || (cd "$ROOT" && cargo build --release -p herd)
mkdir -p "$WORK"

# Tensor-by-tensor and key-by-key comparison of two GGUF files: "identical" or a list.
compare() {
    "$PY" - "$1" "$2" <<'EOF'
import sys
from gguf import GGUFReader
a, b = GGUFReader(sys.argv[1]), GGUFReader(sys.argv[2])
ta, tb = {t.name: t for t in a.tensors}, {t.name: t for t in b.tensors}
bad = sorted(set(ta) ^ set(tb))
for n in sorted(set(ta) & set(tb)):
    x, y = ta[n], tb[n]
    if x.tensor_type != y.tensor_type:
        bad.append(f"{n} {x.tensor_type.name}/{y.tensor_type.name}")
    elif x.data.tobytes() != y.data.tobytes():
        bad.append(f"{n} bytes")
skip = {"GGUF.kv_count", "general.name", "general.quantization_version"}
ka, kb = set(a.fields) - skip, set(b.fields) - skip
bad += [f"key {k}" for k in sorted(ka ^ kb)]
bad += [f"key {k}" for k in sorted(ka & kb) if [p.tobytes() for p in a.fields[k].parts] != [p.tobytes() for p in b.fields[k].parts]]
same = len(ta) - sum(1 for x in bad if not x.startswith("key"))
print(f"{same}/{len(ta)} tensors identical" + ("" if not bad else "; differ: " + ", ".join(bad[:4]) + (" ..." if len(bad) > 4 else "")))
EOF
}

ppl() {
    "$BIN/llama-perplexity" -m "$1" -f "$TEXT" -c 256 -b 256 -t "$THREADS" 2>&1 |
        sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p'
}

mib() { echo "$(( $(stat -c %s "$1") / 1048576 ))"; }

fail=0
row() { # label type herd-file lcpp-file
    local cmp hp lp
    cmp="$(compare "$3" "$4")"
    hp="$(ppl "$3")"; lp="$(ppl "$4")"
    [ -n "$hp" ] || { say "llama-perplexity could not run $3"; fail=1; hp=nan; }
    [ -n "$lp" ] || { say "llama-perplexity could not run $4"; fail=1; lp=nan; }
    local d
    d="$("$PY" -c "import sys,math; h,l=map(float,sys.argv[1:]); d=100*(h-l)/l; print(f'{d:+.3f}'); sys.exit(0 if abs(d)<=1 else 1)" "$hp" "$lp")" || fail=1
    printf '| %-8s | %-6s | %6s MiB | %6s MiB | %10s | %10s | %7s%% | %s |\n' "$1" "$2" "$(mib "$3")" "$(mib "$4")" "$hp" "$lp" "$d" "$cmp"
}

echo "| model    | type   | herd size  | lcpp size  | herd PPL   | lcpp PPL   | diff     | files |"
echo "|----------|--------|------------|------------|------------|------------|----------|-------|"
for t in $TYPES; do
    say "SmolLM2 $t"
    "$HERD" quantize "$SMOLLM2" "$WORK/smollm2.herd.$t.gguf" "$t" -t "$THREADS" >"$WORK/smollm2.herd.$t.log"
    "$BIN/llama-quantize" --allow-requantize "$SMOLLM2" "$WORK/smollm2.lcpp.$t.gguf" "$t" "$THREADS" >"$WORK/smollm2.lcpp.$t.log" 2>&1
    row smollm2 "$t" "$WORK/smollm2.herd.$t.gguf" "$WORK/smollm2.lcpp.$t.gguf"
done
# llama.cpp's converter wrote model.gguf from hf/ (scripts/golden/tiny_llama31.py); F16
# needs no llama-quantize run: model.gguf is llama.cpp's own F16 file.
for t in $TYPES; do
    say "tiny llama3.1 $t (herd from hf/)"
    "$HERD" quantize "$DATA/tiny_llama31/hf" "$WORK/tiny.herd.$t.gguf" "$t" -t "$THREADS" >"$WORK/tiny.herd.$t.log"
    if [ "$t" = F16 ]; then
        ref="$DATA/tiny_llama31/model.gguf"
    else
        ref="$WORK/tiny.lcpp.$t.gguf"
        "$BIN/llama-quantize" "$DATA/tiny_llama31/model.gguf" "$ref" "$t" "$THREADS" >"$WORK/tiny.lcpp.$t.log" 2>&1
    fi
    row tiny-hf "$t" "$WORK/tiny.herd.$t.gguf" "$ref"
done
[ "$fail" = 0 ] && say "all within 1%" || say "FAILED: a perplexity differs by more than 1% or did not run"
exit "$fail"
