#!/usr/bin/env bash
# `make install`: copies the release build into PREFIX (staged under DESTDIR when given):
#   bin/boxlite, lib/libboxlite.so and .a, include/boxlite.h, lib/pkgconfig/boxlite.pc and
#   libexec/boxlite/{boxlite-shim,boxlite-guest}, where libboxlite and the CLI look for them
#   (docs/architecture.md, "Helper discovery and install layout").
# Usage: bash scripts/install.sh PREFIX [DESTDIR]   (after cargo build --release -p boxlite-cli
# -p boxlite-c; PREFIX absolute, as written into boxlite.pc)
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${1:?usage: install.sh PREFIX [DESTDIR]}
DEST=${2:-}$PREFIX
case $PREFIX in /*) ;; *) echo "install: PREFIX must be absolute: $PREFIX" >&2; exit 1 ;; esac
RELEASE=target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-gnu}/release
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
for f in boxlite libboxlite.so libboxlite.a; do
    [ -f "$RELEASE/$f" ] || { echo "install: $RELEASE/$f missing: cargo build --release -p boxlite-cli -p boxlite-c" >&2; exit 1; }
done
HELPERS=$(bash scripts/build-helpers.sh)

install -d "$DEST/bin" "$DEST/lib/pkgconfig" "$DEST/include" "$DEST/libexec/boxlite"
install -m 755 "$RELEASE/boxlite" "$DEST/bin/boxlite"
install -m 755 "$RELEASE/libboxlite.so" "$DEST/lib/libboxlite.so"
install -m 644 "$RELEASE/libboxlite.a" "$DEST/lib/libboxlite.a"
install -m 644 include/boxlite.h "$DEST/include/boxlite.h"
install -m 755 "$HELPERS/boxlite-shim" "$HELPERS/boxlite-guest" "$DEST/libexec/boxlite/"
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@VERSION@|$VERSION|g" sdks/c/boxlite.pc.in \
    >"$DEST/lib/pkgconfig/boxlite.pc"
chmod 644 "$DEST/lib/pkgconfig/boxlite.pc"
echo "installed boxlite $VERSION in $DEST"
