#!/usr/bin/env bash
# Build llama.cpp's own `llama-perplexity` from the llama.cpp sources vendored in the
# pinned llama-cpp-python sdist (the same llama.cpp the fixtures come from), to check
# smollm2.py's perplexity emulation against the real tool (check_ppl.py).
#
# Usage: build_llama_perplexity.sh [BUILD_DIR]   (default /tmp/herd-llama-perplexity)
# Prints the binary's path last. The build itself is scripts/bench/build_llama_cpp.sh's.
set -euo pipefail

export LLAMA_CPP_BUILD="${1:-/tmp/herd-llama-perplexity}"
bindir="$(bash "$(dirname "$0")/../bench/build_llama_cpp.sh" llama-perplexity | tail -n1)"
echo "$bindir/llama-perplexity"
