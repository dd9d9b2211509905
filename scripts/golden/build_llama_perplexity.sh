#!/usr/bin/env bash
# Build llama.cpp's own `llama-perplexity` from the llama.cpp sources vendored in the
# pinned llama-cpp-python sdist (the same llama.cpp the fixtures come from), to check
# smollm2.py's perplexity emulation against the real tool (check_ppl.py).
#
# Usage: build_llama_perplexity.sh [BUILD_DIR]   (default /tmp/herd-llama-perplexity)
# Prints the binary's path last. Takes ~20 min of 2 cores; only that one target is built.
set -euo pipefail

BUILD="${1:-/tmp/herd-llama-perplexity}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$BUILD"

if [ ! -d "$BUILD/src" ]; then
    echo "build_llama_perplexity: fetching the llama-cpp-python==0.3.36 sdist" >&2
    "$PYTHON" -m pip download --quiet --no-deps --no-binary=:all: -d "$BUILD/dl" llama-cpp-python==0.3.36
    mkdir -p "$BUILD/src"
    tar -xzf "$BUILD"/dl/llama_cpp_python-0.3.36.tar.gz -C "$BUILD/src" --strip-components=1
fi
if ! command -v cmake >/dev/null 2>&1; then
    echo "build_llama_perplexity: no cmake here, installing one from PyPI into $BUILD/cmake-venv" >&2
    "$PYTHON" -m venv "$BUILD/cmake-venv"
    "$BUILD/cmake-venv/bin/pip" install --quiet cmake
    export PATH="$BUILD/cmake-venv/bin:$PATH"
fi
cmake -S "$BUILD/src/vendor/llama.cpp" -B "$BUILD/build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF >&2
cmake --build "$BUILD/build" --target llama-perplexity -j"${JOBS:-2}" >&2
echo "$BUILD/build/bin/llama-perplexity"
