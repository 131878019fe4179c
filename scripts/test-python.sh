#!/usr/bin/env bash
# Builds the Python package into .venv (created if missing) and runs its checks and suites.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check 'maturin>=1.16,<2' \
    'pytest>=9,<10' 'pytest-asyncio>=1.2,<2' 'mypy>=1.13'
cargo build -p boxlite-testkit
.venv/bin/maturin develop -q
# The stub must match the native module, and the package must type-check against it.
.venv/bin/python -m mypy.stubtest boxlite._boxlite
.venv/bin/python -m mypy --strict sdks/python/python/boxlite
.venv/bin/python -m pytest -q --doctest-modules sdks/python/python/boxlite \
    bindings-tests/python sdks/python/tests
