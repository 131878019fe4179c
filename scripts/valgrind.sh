#!/usr/bin/env bash
# Prints the path of a valgrind that can run boxes. Starting a box calls openat2(2) (image
# layers are applied with RESOLVE_IN_ROOT) and pidfd_open(2) (the shim reaper); Debian 12's
# valgrind 3.19 knows neither and fails the call, so when the installed one is older than
# 3.22 this builds 3.24 from Debian's source tarball into target/tools/ (once; about 5 minutes
# on 2 cores), checking the tarball's digest.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=3.24.0
SHA256=71aee202bdef1ae73898ccf7e9c315134fa7db6c246063afc503aef702ec03bd
URL="http://deb.debian.org/debian/pool/main/v/valgrind/valgrind_${VERSION}.orig.tar.bz2"
PREFIX="$PWD/target/tools/valgrind-$VERSION"

if command -v valgrind >/dev/null 2>&1; then
    installed=$(valgrind --version | sed 's/^valgrind-//')
    if [ "$(printf '%s\n3.22\n' "$installed" | sort -V | head -1)" = "3.22" ]; then
        command -v valgrind
        exit 0
    fi
fi
if [ ! -x "$PREFIX/bin/valgrind" ]; then
    for tool in curl bzip2 make cc; do
        command -v "$tool" >/dev/null || {
            echo "valgrind.sh: $tool is needed to build valgrind $VERSION" >&2
            exit 1
        }
    done
    work=$(mktemp -d /tmp/boxlite-valgrind-XXXXXX)
    trap 'rm -rf "$work"' EXIT
    echo "building valgrind $VERSION into $PREFIX" >&2
    curl -fsS --max-time 300 -o "$work/src.tar.bz2" "$URL"
    echo "$SHA256  $work/src.tar.bz2" | sha256sum -c --quiet - >&2
    mkdir "$work/src"
    tar -xjf "$work/src.tar.bz2" -C "$work/src" --strip-components=1
    (cd "$work/src" && ./configure -q --prefix="$PREFIX" && make -s -j"$(nproc)" && make -s install) \
        >"$work/build.log" 2>&1 || {
        tail -40 "$work/build.log" >&2
        exit 1
    }
fi
echo "$PREFIX/bin/valgrind"
