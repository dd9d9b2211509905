#!/usr/bin/env bash
# What the AArch64 check in scripts/test.sh needs: Rust's aarch64-unknown-linux-gnu
# standard library (rustup), Debian's cross linker and qemu's user-mode emulator, so
# that herd-tensor's NEON kernels are built and their bit-for-bit tests run on every CI
# run, on an x86-64 machine. Idempotent. Prints the environment to use, for `eval`.
set -euo pipefail
say() { printf 'setup-aarch64: %s\n' "$*" >&2; }

TARGET=aarch64-unknown-linux-gnu
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    say "rustup target add $TARGET"
    rustup target add "$TARGET" >&2
fi

missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian's ${missing[*]}"
    bash "$(dirname "$0")/apt-install.sh" "${missing[@]}" >&2
fi
say "$(aarch64-linux-gnu-gcc --version | head -1); $(qemu-aarch64 --version | head -1)"
echo "export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc"
echo "export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER='qemu-aarch64 -L /usr/aarch64-linux-gnu'"
