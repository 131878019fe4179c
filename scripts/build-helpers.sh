#!/usr/bin/env bash
# Builds the helper binaries every package ships next to its native library, boxlite-shim and
# the static boxlite-guest, and copies them into DEST when given. Prints the directory holding
# both on stdout. Usage: bash scripts/build-helpers.sh [DEST]
#
# Called from build scripts (sdks/python/build.rs under maturin), npm's prepack and
# `make install`. Both helpers are built in the guest's own target dir with its flags
# (scripts/build-guest.sh): crt-static never reaches the cdylibs in target/<triple>/, no
# outer cargo's lock on its target dir is taken, and the shim shares the guest's
# dependencies (and is static too, so it runs on any host glibc).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-gnu
# What an outer cargo hands its build scripts must not steer this build: encoded flags win
# over RUSTFLAGS, a target dir would move it into the outer (locked) tree, jobserver fds may
# not be ours, and a workspace wrapper (clippy-driver) is not a compiler.
unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR \
    CARGO_BUILD_TARGET CARGO_MAKEFLAGS MAKEFLAGS MFLAGS RUSTC_WORKSPACE_WRAPPER \
    CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS
GUEST=$(bash scripts/build-guest.sh)
RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build -p boxlite-shim --profile guest --target "$TARGET" --target-dir target/guest >&2
OUT="$PWD/target/guest/$TARGET/guest"
[ "$GUEST" = "$OUT/boxlite-guest" ] || { echo "build-helpers: guest at $GUEST, not $OUT" >&2; exit 1; }
if [ $# -ge 1 ]; then
    mkdir -p "$1"
    for bin in boxlite-shim boxlite-guest; do
        # Renamed into place: a running box may be executing the old copy. -p keeps the build's
        # mtime, so a build script that copies here does not see its own copy as a change.
        cp -p "$OUT/$bin" "$1/.$bin.tmp"
        mv -f "$1/.$bin.tmp" "$1/$bin"
    done
fi
echo "$OUT"
