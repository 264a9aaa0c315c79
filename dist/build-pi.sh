#!/usr/bin/env bash
# Cross-compile cunlink for a Raspberry Pi (64-bit Raspberry Pi OS / Debian arm64):
# target aarch64-unknown-linux-gnu, linked with Debian's aarch64-linux-gnu-gcc.
#
# Needs (Debian/Ubuntu): apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross
#                        rustup target add aarch64-unknown-linux-gnu
# The linker and the C compiler (bundled SQLite and the other `cc` builds) are set
# here through cargo's environment variables rather than a committed
# .cargo/config.toml, because developers keep their own uncommitted one.
#
# Prints the path of the binary as its last line. Extra arguments go to cargo build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=aarch64-unknown-linux-gnu
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 ||
  { echo "aarch64-linux-gnu-gcc not found: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross" >&2; exit 1; }
rustup target list --installed 2>/dev/null | grep -qx "$target" ||
  { echo "rust target $target missing: rustup target add $target" >&2; exit 1; }

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
cargo build --release --locked --target "$target" -p cunlink "$@" >&2
echo "${CARGO_TARGET_DIR:-target}/$target/release/cunlink"
