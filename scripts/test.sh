#!/usr/bin/env bash
# Every test of the project, in the order a failure is cheapest to find. `make test` and CI
# (.ci/run) call this; it installs what it needs, so it works on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
# One target tree for cargo, maturin and napi (napi always passes --target).
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu

bash scripts/setup.sh

echo "== rust: format, lints, docs"
cargo fmt --all --check
cargo clippy --workspace --exclude boxlite-python --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc -p boxlite-core --no-deps

echo "== fixtures: shim, static guest, busybox image"
eval "$(bash scripts/fixtures.sh)"

echo "== rust: tests (core, shim, guest, CLI)"
cargo build --workspace --exclude boxlite-python
cargo test --workspace --exclude boxlite-python

# Each suite writes its per-scenario outcomes here; stale files must not fill the table.
rm -rf target/spec-results
mkdir -p target/spec-results

# Every binding runs even when an earlier one failed, so the parity table is complete.
failed=()
for lang in python node c; do
    echo "== $lang"
    bash "scripts/test-$lang.sh" || failed+=("$lang")
done

echo "== conformance parity (bindings-tests/spec.tsv)"
python3 scripts/parity-table.py || failed+=(parity)

echo "== installs: cargo build, make install, pip install ., npm pack (no BOXLITE_* variables)"
bash scripts/test-install.sh || failed+=(install)
if ((${#failed[@]})); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
