#!/usr/bin/env bash
# herd serve against llama-server, measured by the same load generator (`herd bench
# serve`) in one run: same model file, same slots (--parallel / -np), same context per
# slot, same requests (streamed chat, greedy, ignore_eos so every request generates
# exactly --max-tokens). Prints both tables and the throughput ratio per concurrency.
#
# Usage: compare_llama_server.sh [MODEL.gguf] [CONCURRENCY (1,4,16)] [REQUESTS (32)] [MAX_TOKENS (128)]
# Environment: LLAMA_SERVER (default: built by build_llama_cpp.sh llama-server), THREADS (2),
# PARALLEL (16), CTX (512 per slot). Run it on an idle machine.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERD="$ROOT/target/release/herd"
MODEL="${1:-${HERD_HOME:-$HOME/.cache/herd}/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
CONC="${2:-1,4,16}"
REQS="${3:-32}"
MAXT="${4:-128}"
THREADS="${THREADS:-2}"
PARALLEL="${PARALLEL:-16}"
CTX="${CTX:-512}"
if [ -z "${LLAMA_SERVER:-}" ]; then
    BIN="$(bash "$ROOT/scripts/bench/build_llama_cpp.sh" llama-server | tail -1)"
    LLAMA_SERVER="$BIN/llama-server"
fi
[ -x "$HERD" ] || (cd "$ROOT" && cargo build --release -p herd)

wait_ready() {
    for _ in $(seq 1 300); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/health")" = 200 ]; then return 0; fi
        sleep 0.2
    done
    echo "server on port $1 did not become ready" >&2; return 1
}
run() { # NAME PORT
    "$HERD" bench serve "http://127.0.0.1:$2/v1" --concurrency "$CONC" --requests "$REQS" --max-tokens "$MAXT" --json
}

"$LLAMA_SERVER" -m "$MODEL" --host 127.0.0.1 --port 18301 -t "$THREADS" -np "$PARALLEL" -c $((PARALLEL * CTX)) \
    >/tmp/compare-llama-server.log 2>&1 &
LS=$!
"$HERD" serve "$MODEL" --host 127.0.0.1 --port 18302 -t "$THREADS" --parallel "$PARALLEL" --ctx "$CTX" \
    >/tmp/compare-herd-serve.log 2>&1 &
HS=$!
trap 'kill $LS $HS 2>/dev/null || true' EXIT
wait_ready 18301
wait_ready 18302
# Warm both once, then measure llama-server, herd, and llama-server again (the two
# llama-server runs bracket herd's, so drift on the machine shows).
run warm 18301 >/dev/null 2>&1 || true
run warm 18302 >/dev/null 2>&1 || true
run llama 18301 >/tmp/compare-llama.json
run herd 18302 >/tmp/compare-herd.json
run llama2 18301 >/tmp/compare-llama2.json
python3 - <<'PY'
import json
l = json.load(open("/tmp/compare-llama.json")); h = json.load(open("/tmp/compare-herd.json")); l2 = json.load(open("/tmp/compare-llama2.json"))
print("| concurrency | herd tok/s | llama-server tok/s (before / after) | herd / llama-server | herd TTFT p50 ms | llama TTFT p50 ms | herd ITL p50 ms | llama ITL p50 ms |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for a, b, c in zip(h, l, l2):
    ref = (b["output_tok_s"] + c["output_tok_s"]) / 2
    print(f"| {a['concurrency']} | {a['output_tok_s']:.1f} | {b['output_tok_s']:.1f} / {c['output_tok_s']:.1f} | {a['output_tok_s']/ref:.2f} | {a['ttft_ms']['p50']:.0f} | {b['ttft_ms']['p50']:.0f} | {a['itl_ms']['p50']:.1f} | {b['itl_ms']['p50']:.1f} |")
one = h[0]["output_tok_s"]
print(f"\nherd: {h[-1]['concurrency']} streams give {h[-1]['output_tok_s']/one:.2f}x the throughput of {h[0]['concurrency']}")
PY
