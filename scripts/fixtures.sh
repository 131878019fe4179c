#!/usr/bin/env bash
# Builds what running boxes needs — the shim, the static guest agent and the busybox test
# image — and prints the environment that points boxlite at them. Usage:
#   eval "$(bash scripts/fixtures.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
{
    cargo build -p boxlite-shim -p boxlite-cli
    bash scripts/build-guest.sh
    python3 scripts/make-busybox-image.py target/images/busybox
} >&2
echo "export BOXLITE_SHIM=$PWD/target/$CARGO_BUILD_TARGET/debug/boxlite-shim"
echo "export BOXLITE_GUEST=$PWD/target/guest/$CARGO_BUILD_TARGET/guest/boxlite-guest"
echo "export BOXLITE_TEST_IMAGE=oci:$PWD/target/images/busybox:latest"
