#!/usr/bin/env bash
# The C binding's test, as CI runs it: build libboxlite and the testkit, check that the
# committed include/boxlite.h is the generated one, then build and run the spec suite and the
# README example (under valgrind when it is installed). Run from anywhere; works on a fresh
# clone.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# One target tree for every cargo build of the repo: the Node build forces --target, so the
# others use the same triple instead of compiling every dependency twice.
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
LIB_DIR="target/$CARGO_BUILD_TARGET/debug"
BUILD_DIR=bindings-tests/c/build
export BOXLITE_TESTKIT="${BOXLITE_TESTKIT:-$LIB_DIR/boxlite-testkit}"

echo "== cargo build (boxlite-c, boxlite-testkit)"
cargo build -p boxlite-c -p boxlite-testkit

echo "== include/boxlite.h is the generated header"
if ! git ls-files --error-unmatch include/boxlite.h >/dev/null 2>&1; then
    echo "error: include/boxlite.h is not tracked by git. The build just generated it:" >&2
    echo "       git add include/boxlite.h" >&2
    exit 1
fi
if ! git diff --exit-code -- include/boxlite.h; then
    echo "error: the committed include/boxlite.h is stale: the build regenerated it from" >&2
    echo "       sdks/c/src (diff above). Review and commit the new header." >&2
    exit 1
fi

echo "== compile the C suite and the README example"
mkdir -p "$BUILD_DIR"
CFLAGS=(-Wall -Wextra -Werror -std=c11 -g -Iinclude)
LDFLAGS=(-L"$LIB_DIR" -lboxlite -Wl,-rpath,"$PWD/$LIB_DIR")
cc "${CFLAGS[@]}" -o "$BUILD_DIR/spec_test" \
    bindings-tests/c/spec_test.c bindings-tests/c/spec.c "${LDFLAGS[@]}"
# The README's C block is compiled and run as-is, so the documented example cannot rot.
awk '/^```c$/ {inside = 1; next} /^```$/ {inside = 0} inside' sdks/c/README.md \
    >"$BUILD_DIR/readme_example.c"
if [ ! -s "$BUILD_DIR/readme_example.c" ]; then
    echo "error: no \`\`\`c block found in sdks/c/README.md" >&2
    exit 1
fi
cc "${CFLAGS[@]}" -o "$BUILD_DIR/readme_example" "$BUILD_DIR/readme_example.c" "${LDFLAGS[@]}"

RUN=()
if command -v valgrind >/dev/null 2>&1; then
    # "possibly lost" is left out: thread-local storage of the Rust runtime shows up there.
    RUN=(valgrind --quiet --error-exitcode=1 --leak-check=full
        --errors-for-leak-kinds=definite,indirect)
else
    echo "note: valgrind not installed; running without leak checking"
fi

echo "== README example"
example_home="$(mktemp -d /tmp/boxlite-c-readme-XXXXXX)"
trap 'rm -rf "$example_home"' EXIT
BOXLITE_HOME="$example_home" "${RUN[@]}" "$BUILD_DIR/readme_example"

echo "== spec suite (bindings-tests/spec.tsv)"
"${RUN[@]}" "$BUILD_DIR/spec_test" bindings-tests/spec.tsv
