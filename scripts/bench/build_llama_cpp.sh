#!/usr/bin/env bash
# Builds llama.cpp tools (default: llama-bench llama-perplexity llama-quantize) from the
# llama.cpp sources vendored in the pinned llama-cpp-python sdist (PyPI), outside the
# repository, with -DGGML_NATIVE=ON: the peer of herd's speed and quantization checks.
#
# Usage: build_llama_cpp.sh [TARGET...] (llama-server too)    Environment: LLAMA_CPP_BUILD (default
# /tmp/herd-llama-cpp), JOBS (default 2), PYTHON. Prints the bin directory last.
# About 4 minutes of 2 cores for the three tools; re-runs only build what changed.
set -euo pipefail

BUILD="${LLAMA_CPP_BUILD:-/tmp/herd-llama-cpp}"
PYTHON="${PYTHON:-python3}"
TARGETS=("${@:-llama-bench llama-perplexity llama-quantize}")
# shellcheck disable=SC2206
TARGETS=(${TARGETS[*]})
mkdir -p "$BUILD"

if [ ! -d "$BUILD/src" ]; then
    echo "build_llama_cpp: fetching the llama-cpp-python==0.3.36 sdist (llama.cpp 0c1e57098)" >&2
    "$PYTHON" -m pip download --quiet --no-deps --no-binary=llama-cpp-python -d "$BUILD/dl" llama-cpp-python==0.3.36
    mkdir -p "$BUILD/src"
    tar -xzf "$BUILD"/dl/llama_cpp_python-0.3.36.tar.gz -C "$BUILD/src" --strip-components=1
fi
if ! command -v cmake >/dev/null 2>&1; then
    echo "build_llama_cpp: no cmake here, installing one from PyPI into $BUILD/cmake-venv" >&2
    [ -x "$BUILD/cmake-venv/bin/cmake" ] || { "$PYTHON" -m venv "$BUILD/cmake-venv" && "$BUILD/cmake-venv/bin/pip" install --quiet cmake; }
    export PATH="$BUILD/cmake-venv/bin:$PATH"
fi
# llama-server (for scripts/bench/compare_llama_server.sh) needs the server tools on.
SERVER=OFF
case " ${TARGETS[*]} " in *" llama-server "*) SERVER=ON ;; esac
# AMX off unless LLAMA_CPP_AMX=ON: on the KVM guests this is measured on (Sapphire
# Rapids), ggml's AMX matmul dies with SIGILL at a `tileloadd` in its Q8_0 tile kernel
# (`tinygemm_kernel_amx<block_q8_0,...>`, a tile load with no tile configuration
# loaded) although the kernel grants the tile state, and segfaulted on a 1B-shaped
# file. Off, llama.cpp takes its AVX-512 VNNI kernels. herd does use AMX there (for
# k-quant prompts, `herd-tensor/src/amx.rs`), so on such a CPU its prompt ratios are
# against llama.cpp without AMX; try LLAMA_CPP_AMX=ON where ggml's AMX runs.
AMX_FLAGS=""
[ "${LLAMA_CPP_AMX:-OFF}" = ON ] || AMX_FLAGS="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
CACHE="$BUILD/build/CMakeCache.txt"
if [ ! -f "$CACHE" ] || { [ "$SERVER" = ON ] && ! grep -q "LLAMA_BUILD_SERVER:BOOL=ON" "$CACHE"; }; then
    cmake -S "$BUILD/src/vendor/llama.cpp" -B "$BUILD/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
        -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=$SERVER \
        -DCMAKE_C_FLAGS="$AMX_FLAGS" -DCMAKE_CXX_FLAGS="$AMX_FLAGS" >&2
fi
cmake --build "$BUILD/build" --target "${TARGETS[@]}" -j"${JOBS:-2}" >&2
echo "$BUILD/build/bin"
