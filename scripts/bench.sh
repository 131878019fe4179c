#!/usr/bin/env bash
# `make bench`: the core's latencies and memory with host baselines (boxlite-bench), network
# throughput and connection setup (iperf3 and busybox httpd in a box, with the same on the host
# and in a test netns as baselines; the box image is scripts/make-iperf-image.sh's), image pulls
# from a loopback registry next to skopeo + umoci (busybox, and the python image as the larger
# fixture: a minimal Debian with python3, 54 MB compressed, built once and cached by
# scripts/make-python-image.sh), then the Python and Node SDKs' exec round trips next to the
# core's, all in one run. Release builds of the core and of both native modules, so the ratios
# compare like with like. BENCH_ITERATIONS (30) sets the iterations, BENCH_LARGE_PULLS (3) the
# larger image's (each takes seconds: umoci unpacks it in about 4 s here).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
ITERATIONS="${BENCH_ITERATIONS:-30}"
LARGE_PULLS="${BENCH_LARGE_PULLS:-3}"
eval "$(bash scripts/fixtures.sh 2>/dev/null)"
# The helpers every package ships (release, static), not the fixtures' debug shim: the core's
# numbers and the SDKs' (whose packages carry these) then measure the same binaries.
helpers=$(bash scripts/build-helpers.sh)
export BOXLITE_SHIM="$helpers/boxlite-shim" BOXLITE_GUEST="$helpers/boxlite-guest"
large_image=$(bash scripts/make-python-image.sh | tail -n 1)
iperf_image=$(bash scripts/make-iperf-image.sh | tail -n 1)
large_layout=${large_image#oci:}
large_layout=${large_layout%:latest}
busybox_layout=${BOXLITE_TEST_IMAGE#oci:}
busybox_layout=${busybox_layout%:latest}

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check 'maturin>=1.16,<2'
.venv/bin/maturin develop -q --release >&2
[ -d node_modules ] || npm ci --no-audit --no-fund >&2
npm run -s build:native -- --release >&2

mkdir -p target/bench
cargo build -q --release -p boxlite-cli
target/$CARGO_BUILD_TARGET/release/boxlite-bench "$BOXLITE_TEST_IMAGE" \
    --iterations "$ITERATIONS" --json target/bench/core.json --iperf-image "$iperf_image" \
    --pull "busybox=$busybox_layout" --pull "debian=$large_layout,iterations=$LARGE_PULLS"
echo
echo "SDKs (same run):"
python3 scripts/bench-sdks.py target/bench/core.json "$ITERATIONS"
