#!/usr/bin/env bash
# Runs every `cargo fuzz` target of fuzz/ for FUZZ_SECONDS each (default 600) on its committed
# corpus (fuzz/corpus/<target>/), and fails if any target finds a crash; the crashing input is
# left in fuzz/artifacts/<target>/. New interesting inputs are written to a scratch directory,
# so a run never changes the committed files unless FUZZ_KEEP is set (then they are merged in
# and the corpus is minimised with `cargo fuzz cmin`).
#
#   FUZZ_SECONDS=60 bash scripts/fuzz.sh                  # a short run of every target
#   FUZZ_TARGETS="apply_layer" bash scripts/fuzz.sh       # only some
#   FUZZ_KEEP=1 bash scripts/fuzz.sh                      # merge new inputs into the corpora
#
# cargo-fuzz passes `-Z` flags (sanitizers) to rustc, which a stable toolchain accepts only
# with RUSTC_BOOTSTRAP=1; libfuzzer-sys builds libFuzzer itself with the machine's C++
# compiler. Not part of `make test`: core's unit tests replay the corpora instead.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-600}
FUZZ_TARGETS=${FUZZ_TARGETS:-"image_reference apply_layer exit_record exec_request"}
export RUSTC_BOOTSTRAP=1
# cargo-fuzz passes its own --target; a CARGO_BUILD_TARGET from the Makefile would not hurt,
# but the host triple is what the sanitizer runtime is for.
unset CARGO_BUILD_TARGET

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi
command -v c++ >/dev/null || { echo "fuzz: libfuzzer-sys needs a C++ compiler (g++)" >&2; exit 1; }

# The targets' own scratch files (layer roots, box homes) go here, removed at the end even
# when a target crashed without cleaning up after itself.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/boxlite-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

failed=()
for target in $FUZZ_TARGETS; do
    corpus="fuzz/corpus/$target"
    [ -d "$corpus" ] || { echo "fuzz: no corpus $corpus" >&2; exit 1; }
    echo "fuzz: $target for ${FUZZ_SECONDS}s on $corpus ($(ls "$corpus" | wc -l) inputs)" >&2
    # -a: debug assertions (integer overflow panics, as in the test builds).
    cargo fuzz build -a "$target"
    work="$scratch/corpus-$target"
    mkdir -p "$work" "fuzz/artifacts/$target"
    log="$scratch/$target.log"
    # Longest input: a reference is refused past 463 characters; a layer gets 8 tar blocks
    # (core/src/images/tests/fuzz_seeds.rs builds its seeds within that), enough for entries
    # that meet each other; an exit record is a few hundred bytes.
    # An exec request is the request plus the small box root it runs against
    # (guest/src/fuzzing.rs): a few files of passwd and group lines.
    case $target in
        image_reference) max_len=1024 ;;
        exec_request) max_len=4096 ;;
        *) max_len=4096 ;;
    esac
    # The scratch corpus first: libFuzzer writes new inputs to the first directory only.
    if TMPDIR="$scratch" cargo fuzz run -a "$target" "$work" "$corpus" -- \
        -max_total_time="$FUZZ_SECONDS" -max_len="$max_len" -rss_limit_mb=4096 -timeout=20 \
        -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$target")
    fi
    # The last status line: runs, coverage, features, corpus size, execs/s.
    stats=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    echo "fuzz: $target $status: $stats" >&2
    grep -E '^stat::' "$log" | sed "s/^/fuzz: $target /" >&2 || true
    if [ "$status" = FAILED ]; then
        tail -60 "$log" >&2
    elif [ -n "${FUZZ_KEEP:-}" ]; then
        cp -n "$work"/* "$corpus"/ 2>/dev/null || true
        # cmin rewrites the corpus under content-hash names: the regression-* inputs (each
        # named by the test that explains it) are put back under their names, without the
        # hash-named copies of themselves.
        keep="$scratch/keep-$target"
        mkdir -p "$keep"
        cp "$corpus"/regression-* "$keep"/ 2>/dev/null || true
        cargo fuzz cmin -a "$target" "$corpus" -- -max_len="$max_len" >>"$log" 2>&1
        for kept in "$keep"/*; do
            [ -e "$kept" ] || continue
            rm -f "$corpus/$(sha1sum "$kept" | cut -d' ' -f1)"
            cp "$kept" "$corpus"/
        done
        echo "fuzz: $target corpus now $(ls "$corpus" | wc -l) inputs" >&2
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: every target ran ${FUZZ_SECONDS}s without a crash" >&2
