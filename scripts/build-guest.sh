#!/usr/bin/env bash
# Builds the static guest agent (it must run in any image: musl, glibc, distroless, scratch)
# and prints its path on stdout. Its own cargo invocation and target dir: crt-static must never
# reach the cdylibs of the bindings, and a shared target dir would rebuild them all.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=x86_64-unknown-linux-gnu
unset CARGO_ENCODED_RUSTFLAGS
RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build -p boxlite-guest --profile guest --target "$TARGET" --target-dir target/guest >&2
BIN="$PWD/target/guest/$TARGET/guest/boxlite-guest"
# A dynamic agent would start in the host's rootfs and die in the box's: fail here instead.
if readelf -d "$BIN" 2>/dev/null | grep -q NEEDED; then
    echo "build-guest: $BIN is not static" >&2
    exit 1
fi
echo "$BIN"
