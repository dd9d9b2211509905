#!/usr/bin/env bash
# `herd eval` against lm-evaluation-harness on the same endpoint and the same task sample,
# in one run: `herd serve` (default model; a fresh server for each harness), GSM8K as Meta sets it for Llama 3.1
# (lm-eval's own `gsm8k_cot_llama` yaml: 8 chain-of-thought shots as chat turns, strict
# "The final answer is N" match), greedy, 1024 new tokens for both (lm-eval's yaml leaves
# its 256-token default, so the task here raises it to Meta's 1024), the same concurrency.
# Prints wall time and score ± 95% interval of each, and the speed ratio. With --rounds R,
# each harness runs R times, alternating which goes first, and the mean times are compared.
#
# The sample: GSM8K's test split is not on a package registry, so the script writes N
# grade-school word problems of GSM8K's schema from a seeded generator (not benchmark
# data; both harnesses read the same file). With --data DIR holding gsm8k/main/test.jsonl
# (or the parquet export) the real split is used instead, its first N problems.
#
# Usage: compare_lm_eval.sh [N (40)] [CONCURRENCY (4)] [--data DIR] [--rounds R (1)]
# Environment: HERD_HOME, THREADS (2), PORT (18311). Run it on an idle machine.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERD_HOME="${HERD_HOME:-$HOME/.cache/herd}"
HERD="$ROOT/target/release/herd"
N=40
CONC=4
ROUNDS=1
DATA=""
pos=0
while [ $# -gt 0 ]; do
    case "$1" in
        --data) DATA="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        *) if [ $pos = 0 ]; then N="$1"; else CONC="$1"; fi; pos=$((pos + 1)); shift ;;
    esac
done
THREADS="${THREADS:-2}"
PORT="${PORT:-18311}"
VENV="$HERD_HOME/bench-lmeval-venv"
REQ="$ROOT/scripts/bench/requirements-lm-eval.txt"
WORK="$(mktemp -d /tmp/herd-vs-lm-eval.XXXXXX)"

say() { printf 'compare_lm_eval: %s\n' "$*" >&2; }

# --- lm-eval in its own venv, pinned ------------------------------------------------------
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if ! [ -x "$VENV/bin/lm_eval" ] || [ "$(cat "$VENV/.herd-requirements.sha256" 2>/dev/null)" != "$want" ]; then
    say "installing lm-eval 0.4.13 into $VENV"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
    echo "$want" >"$VENV/.herd-requirements.sha256"
fi
[ -x "$HERD" ] || (cd "$ROOT" && cargo build --release -p herd)

# --- the sample -----------------------------------------------------------------------------
mkdir -p "$WORK/data/gsm8k/main"
"$VENV/bin/python" - "$N" "$WORK/data/gsm8k/main/test.jsonl" "$DATA" <<'PY'
import glob, json, os, random, sys
n, out, data = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = []
if data:
    files = sorted(glob.glob(os.path.join(data, "gsm8k/main/test*.jsonl")) + glob.glob(os.path.join(data, "gsm8k.jsonl")))
    if files:
        rows = [json.loads(l) for l in open(files[0]) if l.strip()]
    else:
        import pandas  # the parquet export
        rows = pandas.read_parquet(sorted(glob.glob(os.path.join(data, "gsm8k/main/test-*.parquet")))[0]).to_dict("records")
    rows = [{"question": r["question"], "answer": r["answer"]} for r in rows[:n]]
else:
    rng = random.Random(20261127)
    names = ["Ava", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jon"]
    things = ["apples", "stickers", "marbles", "books", "cookies", "pencils", "shells", "cards"]
    for i in range(n):
        who, what = rng.choice(names), rng.choice(things)
        a, b, c, k = rng.randint(12, 90), rng.randint(3, 40), rng.randint(2, 9), rng.randint(2, 6)
        kind = i % 4
        if kind == 0:
            q, ans = f"{who} has {a} {what}. She buys {b} more and then gives away {c}. How many {what} does she have now?", a + b - c
        elif kind == 1:
            q, ans = f"{who} buys {k} boxes of {what} with {c} in each box, and already had {b}. How many {what} does {who} have in total?", k * c + b
        elif kind == 2:
            q, ans = f"A shop sells {what} for ${c} each. {who} buys {k} of them and pays with a ${k * c + b} bill. How much change does {who} get?", b
        else:
            q, ans = f"{who} reads {c} pages a day for {k} days, then {b} pages on the last day. How many pages did {who} read?", c * k + b
        rows.append({"question": q, "answer": f"The answer is {ans}.\n#### {ans}"})
with open(out, "w") as f:
    for r in rows:
        f.write(json.dumps(r) + "\n")
print(f"{len(rows)} problems", file=sys.stderr)
PY
# lm-eval's gsm8k_cot_llama, reading the sample, with Meta's 1024-token budget.
LM_YAML_DIR="$("$VENV/bin/python" -c 'import lm_eval, os; print(os.path.join(os.path.dirname(lm_eval.__file__), "tasks/gsm8k"))')"
mkdir -p "$WORK/tasks"
cat >"$WORK/tasks/herd_speed_gsm8k.yaml" <<EOF
include: $LM_YAML_DIR/gsm8k-cot-llama.yaml
task: herd_speed_gsm8k
tag: []
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files:
    test: $WORK/data/gsm8k/main/test.jsonl
test_split: test
generation_kwargs:
  do_sample: false
  max_gen_toks: 1024
  until:
  - '<|eot_id|>'
  - '<|start_header_id|>user<|end_header_id|>'
  - 'Q:'
  - </s>
  - <|im_end|>
EOF

# --- a fresh server for each harness -------------------------------------------------------
# Each harness gets its own `herd serve`, started the same way and warmed by the same
# request: the server's state (which prompts its slots hold) then favours neither.
SERVER=""
trap 'kill $SERVER 2>/dev/null || true' EXIT
start_server() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
    "$HERD" serve --host 127.0.0.1 --port "$PORT" -t "$THREADS" --parallel "$CONC" >>"$WORK/serve.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")" = 200 ] && break
        sleep 0.2
    done
    curl -s "http://127.0.0.1:$PORT/v1/chat/completions" -H 'content-type: application/json' \
        -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8}' >/dev/null
    # The served model's id, which lm-eval must name, from the first server started.
    [ -n "$MODEL_ID" ] || MODEL_ID="$(curl -s "http://127.0.0.1:$PORT/v1/models" |
        "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')"
}
MODEL_ID=""

now() { date +%s.%N; }
# Each harness runs against a fresh server, timed from its start to its exit; every
# harness's output goes to its own folder per round (herd's cache too, so no round reuses
# another's answers).
run_herd() {
    start_server
    say "round $1: herd eval gsm8k, $N problems, concurrency $CONC"
    local t0; t0=$(now)
    "$HERD" eval gsm8k --endpoint "http://127.0.0.1:$PORT/v1" --data "$WORK/data" --concurrency "$CONC" \
        --cache "$WORK/herd-cache.$1.jsonl" -o "$WORK/herd.json" >"$WORK/herd.$1.log" 2>&1
    echo "herd $1 $(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')" >>"$WORK/times"
}
run_lm_eval() {
    start_server
    say "round $1: lm_eval --model local-chat-completions, num_concurrent $CONC"
    local t0; t0=$(now)
    HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 "$VENV/bin/lm_eval" --model local-chat-completions \
        --model_args "model=$MODEL_ID,base_url=http://127.0.0.1:$PORT/v1/chat/completions,num_concurrent=$CONC,max_retries=3,tokenized_requests=False" \
        --tasks herd_speed_gsm8k --include_path "$WORK/tasks" --apply_chat_template --fewshot_as_multiturn \
        --batch_size 1 --output_path "$WORK/lm_eval.$1" >"$WORK/lm_eval.$1.log" 2>&1
    echo "lm_eval $1 $(awk -v a="$(now)" -v b="$t0" 'BEGIN { print a - b }')" >>"$WORK/times"
}
# Rounds alternate which harness goes first (herd, lm-eval, then lm-eval, herd, ...), so
# that a machine that speeds up or slows down during the run favours neither.
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then run_herd "$r"; run_lm_eval "$r"; else run_lm_eval "$r"; run_herd "$r"; fi
done

"$VENV/bin/python" - "$WORK" <<'PY'
import glob, json, math, sys
work = sys.argv[1]
times = {"herd": [], "lm_eval": []}
for line in open(f"{work}/times"):
    who, _, secs = line.split()
    times[who].append(float(secs))
h = json.load(open(f"{work}/herd.json"))["results"]["gsm8k"]
res = json.load(open(sorted(glob.glob(f"{work}/lm_eval.*/**/results_*.json", recursive=True))[-1]))["results"]["herd_speed_gsm8k"]
ls, ln = res["exact_match,strict-match"], h["n"]
ci = lambda s, n: 1.96 * math.sqrt(s * (1 - s) / n)
th, tl = (sum(times[k]) / len(times[k]) for k in ("herd", "lm_eval"))
each = lambda k: ", ".join(f"{t:.1f}" for t in times[k])
print("| harness | wall s (mean) | each round | GSM8K strict match | ±95% |")
print("|---|---:|---|---:|---:|")
print(f"| herd eval | {th:.1f} | {each('herd')} | {100*h['score']:.1f} | {100*h['ci95']:.1f} |")
print(f"| lm_eval local-chat-completions | {tl:.1f} | {each('lm_eval')} | {100*ls:.1f} | {100*ci(ls, ln):.1f} |")
print(f"\nspeed: herd is {tl/th:.2f}x lm-eval's pace (same server, {ln} problems, {len(times['herd'])} round(s)); scores differ by {100*abs(h['score']-ls):.1f} points")
print(f"logs: {work}")
PY
