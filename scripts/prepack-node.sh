#!/usr/bin/env bash
# npm's prepack (`npm pack`, `npm publish`): builds the release addon and puts the helper
# binaries, boxlite-shim and the static boxlite-guest, next to it in sdks/node/, where core's
# helper discovery finds them from the loaded .node file (docs/architecture.md, "Helper
# discovery and install layout"). package.json's "files" lists all three. No --strip: napi
# passes it through RUSTFLAGS, which rebuilds every dependency in the shared release tree.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
if [ ! -x node_modules/.bin/napi ]; then
    echo "prepack: node_modules/.bin/napi missing: run npm install first (it brings @napi-rs/cli)" >&2
    exit 1
fi
npm run build:native -- --release
bash scripts/build-helpers.sh sdks/node >/dev/null
