#!/usr/bin/env bash
# herd contamination vs the independent Python reference (scripts/golden/contamination_ref.py:
# tiktoken + numpy, worker processes), side by side on the same machine, on a deterministic
# ~50 MB corpus: throughput of the corpus pass and agreement example for example.
#
#   scripts/bench/contamination_speed.sh            # 50 MB, 2 rounds, threads = nproc
#   MB=20 ROUNDS=1 THREADS=2 scripts/bench/contamination_speed.sh
#
# Two benchmarks of 1000 examples against the corpus built by `contamination_ref.py make`
# (the golden venv's Python standard library and site-packages sources, cut into documents
# of at most 8 KB):
#   planted  40% exact copies, 20% partial copies, 10% near misses, 10% split across two
#            documents, 20% fresh text (a heavily contaminated code benchmark)
#   clean    5% copies, 5% split across documents, 90% fresh text
# Threads policy: herd runs THREADS worker threads, the reference THREADS worker processes
# (tiktoken holds the GIL per call, so processes are its fastest form); each side also runs
# once with one worker for per-core figures. Rounds alternate the two so both see the same
# load; the best round of each counts. Timed: the corpus pass as each reports it (reading,
# parsing, tokenizing, n-gram lookup), not loading the tokenizer or the benchmark. Every run
# of herd must agree with the reference on every example's token count and contaminated
# token count, or the script fails.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERD_HOME="${HERD_HOME:-$HOME/.cache/herd}"
PY="${PYTHON:-$HERD_HOME/golden-venv/bin/python}"
TOK="${TOKENIZER:-${HERD_TEST_DATA:-$HERD_HOME/testdata}/llama3/tokenizer.model}"
MB="${MB:-50}"
ROUNDS="${ROUNDS:-2}"
THREADS="${THREADS:-$(nproc)}"
WORK="${WORK:-$(mktemp -d)}"
HERD="$ROOT/target/release/herd"
REF="$ROOT/scripts/golden/contamination_ref.py"

[ -x "$PY" ] || { echo "no Python with tiktoken at $PY: run scripts/golden/regen.sh (or set PYTHON)" >&2; exit 1; }
[ -f "$TOK" ] || { echo "no $TOK: run scripts/setup-test-data.sh" >&2; exit 1; }
(cd "$ROOT" && cargo build --release -p herd --quiet)

for mix in planted clean; do
    [ -f "$WORK/$mix.corpus.jsonl" ] || "$PY" "$REF" make --mix "$mix" --mb "$MB" --examples 1000 \
        --out-corpus "$WORK/$mix.corpus.jsonl" --out-bench "$WORK/$mix.bench.jsonl"
done

run_herd() { # MIX NAME THREADS [FLAGS...]
    local mix=$1 name=$2 t=$3; shift 3
    "$HERD" contamination --corpus "$WORK/$mix.corpus.jsonl" --bench "$WORK/$mix.bench.jsonl" \
        --tokenizer "$TOK" --json -q -t "$t" "$@" >"$WORK/$mix.$name.json"
}
run_ref() { # MIX NAME PROCS
    "$PY" "$REF" check --tokenizer-model "$TOK" --corpus "$WORK/$1.corpus.jsonl" \
        --bench "$WORK/$1.bench.jsonl" --procs "$3" --out "$WORK/$1.$2.json"
}

for r in $(seq 1 "$ROUNDS"); do
    for mix in planted clean; do
        echo "round $r: $mix" >&2
        run_herd "$mix" "herd.r$r" "$THREADS"
        run_herd "$mix" "herd_noprefilter.r$r" "$THREADS" --no-prefilter
        run_ref "$mix" "ref.r$r" "$THREADS"
        if [ "$r" = 1 ]; then
            run_herd "$mix" "herd_noprefilter.t1" 1 --no-prefilter
            run_ref "$mix" "ref.t1" 1
        fi
    done
done

"$PY" - "$WORK" "$ROUNDS" "$THREADS" <<'EOF'
import json, sys
from pathlib import Path

work, rounds, threads = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
load = lambda p: json.loads(p.read_text())
key = lambda v: [(e["id"], e["tokens"], e["contaminated_tokens"]) for e in v["examples"]]

def rate(v):
    c = v["corpus"]
    return c["text_bytes"] / c["seconds"] / 1e6, c["tokens"] / c["seconds"], c["seconds"]

print(f"corpus pass, best of {rounds} rounds; {threads} workers each unless marked t1")
print(f"{'benchmark':<9} {'run':<26} {'MB/s':>7} {'Mtok/s':>7} {'s':>6}  prefilter / agreement")
for mix in ["planted", "clean"]:
    ref = load(work / f"{mix}.ref.r1.json")
    truth = key(ref)
    best = {}
    for p in sorted(work.glob(f"{mix}.*.json")):
        if p.name.endswith(("corpus.jsonl", "bench.jsonl")):
            continue
        name = p.name[len(mix) + 1 : -len(".json")]
        v = load(p)
        if key(v) != truth:
            bad = [a for a, b in zip(key(v), truth) if a != b]
            sys.exit(f"{mix}/{name}: disagrees with the reference on {len(bad)} examples, e.g. {bad[:3]}")
        base = name.rsplit(".", 1)[0] + (".t1" if name.endswith(".t1") else "")
        if base not in best or rate(v)[0] > rate(best[base])[0]:
            best[base] = v
    n_dirty = sum(1 for _, t, k in truth if k)
    for name, v in sorted(best.items()):
        mbs, tps, s = rate(v)
        note = v.get("prefilter", "")
        print(f"{mix:<9} {name:<26} {mbs:7.2f} {tps / 1e6:7.2f} {s:6.2f}  {note}")
    h, hn, rf = rate(best["herd"])[0], rate(best["herd_noprefilter"])[0], rate(best["ref"])[0]
    h1, r1 = rate(best["herd_noprefilter.t1"])[0], rate(best["ref.t1"])[0]
    print(f"{mix:<9} agreement: all {len(truth)} examples identical in every run ({n_dirty} with contaminated tokens)")
    print(f"{mix:<9} ratio herd/reference: {h / rf:.2f}x (default), {hn / rf:.2f}x (--no-prefilter), "
          f"{h1 / r1:.2f}x per core (one worker each)")
EOF
echo "inputs and outputs in $WORK" >&2
