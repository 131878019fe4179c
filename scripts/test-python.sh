#!/usr/bin/env bash
# Builds the Python package into .venv (created if missing) and runs its checks and suites:
# the stub check, mypy --strict, the conformance suite (bindings-tests/python, which writes
# target/spec-results/python.tsv) and the SDK's own tests (sdks/python/tests). Works on a fresh
# clone: it installs what it needs and builds the fixtures (busybox image, python image).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
bash scripts/setup.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check 'maturin>=1.16,<2' \
    'pytest>=9,<10' 'pytest-asyncio>=1.2,<2' 'mypy>=1.13'
# make test has built the fixtures already; run alone, this script builds them.
if [ -z "${BOXLITE_TEST_IMAGE:-}" ]; then
    eval "$(bash scripts/fixtures.sh)"
fi
# CodeBox's tests need python3 in the box: a Debian image made offline, cached between runs.
BOXLITE_PYTHON_IMAGE=$(bash scripts/make-python-image.sh | tail -n 1)
export BOXLITE_PYTHON_IMAGE
cargo build -p boxlite-testkit
.venv/bin/maturin develop -q
# The stub must match the native module, and the package must type-check against it.
.venv/bin/python -m mypy.stubtest boxlite._boxlite
.venv/bin/python -m mypy --strict sdks/python/python/boxlite
.venv/bin/python -m pytest -q --doctest-modules sdks/python/python/boxlite
.venv/bin/python -m pytest -q bindings-tests/python sdks/python/tests
