#!/usr/bin/env bash
# Builds the Node binding and runs the shared spec suite against it (bindings-tests/node/).
# Needs a Rust toolchain and node/npm. Run from the repo root: bash scripts/test-node.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# napi build always passes --target; the same target for every cargo call keeps one build tree
# (target/x86_64-unknown-linux-gnu/) instead of compiling every dependency twice.
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi

cargo build -p boxlite-testkit
export BOXLITE_TESTKIT="${BOXLITE_TESTKIT:-$PWD/target/$CARGO_BUILD_TARGET/debug/boxlite-testkit}"

# The committed declarations are the public types; regenerate them and refuse any drift.
committed_dts=$(mktemp)
trap 'rm -f "$committed_dts"' EXIT
if [ ! -f sdks/node/native.d.ts ]; then
  echo "sdks/node/native.d.ts is missing: run 'npm run build:native' and commit it" >&2
  exit 1
fi
cp sdks/node/native.d.ts "$committed_dts"
npm run build:native
if ! diff -u "$committed_dts" sdks/node/native.d.ts || ! git diff --exit-code -- sdks/node/native.d.ts; then
  echo "sdks/node/native.d.ts differs from the generated one: commit the regenerated file" >&2
  exit 1
fi

node --test bindings-tests/node/
