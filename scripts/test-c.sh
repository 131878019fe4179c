#!/usr/bin/env bash
# The C binding's test, as CI runs it: build libboxlite and the testkit, check that the
# committed include/boxlite.h is the generated one, then build and run the README's examples,
# examples/c/ and the spec suite (under valgrind when it is installed). Runs boxes: needs root
# and the fixtures, `eval "$(bash scripts/fixtures.sh)"` ($BOXLITE_TEST_IMAGE). Run from
# anywhere; works on a fresh clone.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# One target tree for every cargo build of the repo: the Node build forces --target, so the
# others use the same triple instead of compiling every dependency twice.
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
LIB_DIR="target/$CARGO_BUILD_TARGET/debug"
BUILD_DIR=bindings-tests/c/build
export BOXLITE_TESTKIT="${BOXLITE_TESTKIT:-$LIB_DIR/boxlite-testkit}"

if [ -z "${BOXLITE_TEST_IMAGE:-}" ]; then
    echo "error: BOXLITE_TEST_IMAGE is unset; run: eval \"\$(bash scripts/fixtures.sh)\"" >&2
    exit 1
fi

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

echo "== compile the C suite, the README examples and examples/c"
mkdir -p "$BUILD_DIR"
# Two leak checks: AddressSanitizer (with LeakSanitizer) in every program, which sees the
# library's allocations too (Rust uses malloc) and fails on any direct or indirect leak at
# exit; and the whole suite once more under valgrind (scripts/valgrind.sh provides one recent
# enough to run boxes).
CFLAGS=(-Wall -Wextra -Werror -std=c11 -g -Iinclude -pthread)
SANITIZE=(-fsanitize=address -fno-omit-frame-pointer)
LDFLAGS=(-L"$LIB_DIR" -lboxlite -Wl,-rpath,"$PWD/$LIB_DIR")
cc "${CFLAGS[@]}" "${SANITIZE[@]}" -o "$BUILD_DIR/spec_test" bindings-tests/c/*.c "${LDFLAGS[@]}"
# The same suite without the sanitizer, for valgrind.
cc "${CFLAGS[@]}" -o "$BUILD_DIR/spec_test_plain" bindings-tests/c/*.c "${LDFLAGS[@]}"
# Each of the README's ```c blocks is compiled and run as-is, so the documented examples
# cannot rot.
rm -f "$BUILD_DIR"/readme_example_*.c
awk -v dir="$BUILD_DIR" '/^```c$/ {inside = 1; n++; next} /^```$/ {inside = 0}
    inside {print > (dir "/readme_example_" n ".c")}' sdks/c/README.md
if ! ls "$BUILD_DIR"/readme_example_*.c >/dev/null 2>&1; then
    echo "error: no \`\`\`c block found in sdks/c/README.md" >&2
    exit 1
fi
EXAMPLES=()
for src in "$BUILD_DIR"/readme_example_*.c examples/c/*.c; do
    bin="$BUILD_DIR/$(basename "$src" .c)"
    cc "${CFLAGS[@]}" "${SANITIZE[@]}" -o "$bin" "$src" "${LDFLAGS[@]}"
    EXAMPLES+=("$bin")
done

# detect_leaks is on by default on x86_64 Linux; said here so that no inherited setting
# turns it off.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

example_home="$(mktemp -d /tmp/boxlite-c-examples-XXXXXX)"
trap 'rm -rf "$example_home"' EXIT
for bin in "${EXAMPLES[@]}"; do
    echo "== $(basename "$bin") $BOXLITE_TEST_IMAGE"
    BOXLITE_HOME="$example_home" "$bin" "$BOXLITE_TEST_IMAGE"
done
if [ -n "$(ls -A "$example_home/boxes" 2>/dev/null)" ]; then
    echo "error: the examples left boxes behind in $example_home/boxes" >&2
    exit 1
fi

echo "== spec suite (bindings-tests/spec.tsv), AddressSanitizer + LeakSanitizer"
"$BUILD_DIR/spec_test" bindings-tests/spec.tsv target/spec-results/c.tsv

VALGRIND=$(bash scripts/valgrind.sh)
echo "== spec suite under valgrind ($("$VALGRIND" --version))"
# "possibly lost" is left out: thread-local storage of the Rust runtime shows up there.
# The results file is the sanitizer run's; this run must pass all the same.
"$VALGRIND" --quiet --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect \
    "$BUILD_DIR/spec_test_plain" bindings-tests/spec.tsv
