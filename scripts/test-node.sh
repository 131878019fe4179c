#!/usr/bin/env bash
# Builds the Node binding, checks its generated and hand-written types, and runs the suites in
# bindings-tests/node/ (the shared spec, the Node API, SimpleBox, CodeBox, ESM, the README).
# Needs a Rust toolchain and node/npm, and for the box-running tests root and the fixtures:
#   eval "$(bash scripts/fixtures.sh)"; bash scripts/test-node.sh
# Writes target/spec-results/node.tsv. Run from anywhere; works on a fresh clone.
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

# The public types compile under --strict, for CommonJS and ESM users alike.
./node_modules/.bin/tsc -p bindings-tests/node/types/tsconfig.json

# CodeBox needs a Python-capable image (cached; rebuilt only when its recipe changes). Without
# mmdebstrap it is not built, and the CodeBox test fails saying how to build it.
if command -v mmdebstrap >/dev/null; then
  bash scripts/make-python-image.sh >&2
fi

# One file at a time: each starts boxes, and two cores are all this machine has. A wedged test
# fails after its timeout instead of hanging the run.
node --test --test-concurrency=1 --test-timeout=300000 bindings-tests/node/
