#!/usr/bin/env bash
# `make bench`: the core's latencies and memory with host baselines (boxlite-bench), then the
# Python and Node SDKs' exec round trips next to the core's, all in one run. Release builds of
# the core and of both native modules, so the ratios compare like with like.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
ITERATIONS="${BENCH_ITERATIONS:-30}"
eval "$(bash scripts/fixtures.sh 2>/dev/null)"

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check 'maturin>=1.16,<2'
.venv/bin/maturin develop -q --release >&2
[ -d node_modules ] || npm ci --no-audit --no-fund >&2
npm run -s build:native -- --release >&2

mkdir -p target/bench
cargo run -q --release -p boxlite-cli --bin boxlite-bench -- "$BOXLITE_TEST_IMAGE" \
    --iterations "$ITERATIONS" --json target/bench/core.json
echo
echo "SDKs (same run):"
python3 scripts/bench-sdks.py target/bench/core.json "$ITERATIONS"
