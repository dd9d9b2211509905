#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script): format and lint
# gates, the test inputs (reference tokenizers, the generated Llama 3.1 models, the
# default model), then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

export HERD_HOME="${HERD_HOME:-$HOME/.cache/herd}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# CI builds everything from a cold target/: the release profile's line tables (kept in
# Cargo.toml for profiling with perf) cost build and link time there and serve nothing.
if [ "${CI:-}" = true ]; then
    export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-0}"
fi

step() { printf '\n== %s ==\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "test inputs"
bash scripts/setup-test-data.sh

# The NEON kernels (herd-tensor/src/qdot/neon.rs) built for AArch64 and their
# bit-for-bit tests against the portable code run under qemu's user-mode emulator:
# CI's machine is x86-64, and without this nothing would ever compile them.
# A machine that cannot install the tools (no rustup download, no apt) says so and goes
# on: the rest of the suite does not depend on them.
step "AArch64: herd-tensor lint and tests under qemu"
if aarch64_env="$(bash scripts/setup-aarch64.sh)"; then
    eval "$aarch64_env"
    cargo clippy -p herd-tensor --all-targets --locked --target aarch64-unknown-linux-gnu -- -D warnings
    # The smaps test reads qemu's own mappings, not the emulated program's: left out.
    cargo test -p herd-tensor --release --locked --target aarch64-unknown-linux-gnu -- \
        --skip proc_fields_are_read_from_the_right_entries
else
    echo "AArch64 check NOT RUN: scripts/setup-aarch64.sh could not install its tools (see above)" >&2
fi

step "browser test inputs (chromium, playwright-core)"
bash scripts/setup-browser.sh

step "default model"
cargo run --quiet --release --locked -p herd -- pull

step "cargo test"
cargo test --workspace --release --locked 2>&1 | tee "${TMPDIR:-/tmp}/herd-test.log"

step "benchmarks compile"
cargo bench --workspace --locked --no-run

# Not a timing: fails if a decode step allocates (the design asks for none).
step "no allocation in a decode step"
cargo bench --locked -p herd-engine --bench decode_alloc
