#!/usr/bin/env bash
# Installs boxlite the ways a user does and runs `echo hi` in a box through each install:
#   cargo   `cargo build`, then the CLI from target/; a copy of it beside nothing but the
#           dynamically linked guest cargo built must refuse, naming the file and the fix
#   c       `make install PREFIX=…`, examples/c/quickstart.c built with pkg-config
#   python  a fresh venv, `pip install .`
#   node    `npm pack`, the tarball installed into a fresh project
# BOXLITE_SHIM, BOXLITE_GUEST and BOXLITE_HOME are unset and PATH is the system's: each install
# must find its helper binaries where it put them (docs/architecture.md, "Helper discovery and
# install layout"). Every box lives in a temporary home passed explicitly and is removed.
# Installs what it lacks; the release builds share the one target tree of the other suites.
# Usage: bash scripts/test-install.sh [cargo|c|python|node]...   (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
unset BOXLITE_SHIM BOXLITE_GUEST BOXLITE_HOME
# What a fresh login has: no ~/.cargo/bin, no target/.
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

need=()
command -v cc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v readelf >/dev/null || need+=(binutils)
command -v make >/dev/null || need+=(make)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v npm >/dev/null || { echo "test-install: npm is missing (it comes with Node)" >&2; exit 1; }
for helper in boxlite-shim boxlite-guest; do
    if found=$(PATH=$SYS_PATH command -v "$helper"); then
        echo "test-install: $found is on the system PATH and would hide a discovery bug" >&2
        exit 1
    fi
done

[ -f target/images/busybox/index.json ] || python3 scripts/make-busybox-image.py target/images/busybox >&2
IMAGE="oci:$ROOT/target/images/busybox:latest"
WORK=$(mktemp -d /tmp/boxlite-install-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

say() { echo "test-install: $*" >&2; }

# The guest runs as PID 1 in any image: no program interpreter.
is_static() {
    [ -x "$1" ] || { say "$1 is missing or not executable"; return 1; }
    if readelf -lW "$1" | grep -q 'program interpreter'; then
        say "$1 is dynamically linked"
        return 1
    fi
}

# Removes every box left in a home (a failed start keeps its record and files).
remove_boxes() {
    local cli=$1 home=$2 ids
    ids=$("$cli" --home "$home" ls -a --format json |
        python3 -c 'import json, sys; print(" ".join(b["id"] for b in json.load(sys.stdin)))')
    [ -z "$ids" ] || "$cli" --home "$home" rm -f $ids >/dev/null
}

test_cargo() {
    local bin=target/$CARGO_BUILD_TARGET/debug home=$WORK/cargo-home copy=$WORK/cargo-copy out
    # CARGO_BUILD_TARGET only moves the output dir (target/<triple>/debug, not target/debug).
    cargo build >&2
    # The static guest as `make build` makes it; the CLI finds it from its own location.
    bash scripts/build-guest.sh >/dev/null
    if is_static "$bin/boxlite-guest" 2>/dev/null; then
        say "cargo build left a static $bin/boxlite-guest: this case no longer tests the skip"
        return 1
    fi
    out=$(PATH=$SYS_PATH "$bin/boxlite" --home "$home" run --rm "$IMAGE" echo hi) || return 1
    [ "$out" = hi ] || { say "target CLI printed: $out"; return 1; }

    mkdir -p "$copy"
    cp "$bin/boxlite" "$bin/boxlite-shim" "$bin/boxlite-guest" "$copy/"
    if PATH=$SYS_PATH "$copy/boxlite" --home "$home" run --rm "$IMAGE" echo hi \
        >"$WORK/copy.out" 2>"$WORK/copy.err"; then
        say "a CLI beside only a dynamic guest ran: $(cat "$WORK/copy.out")"
        return 1
    fi
    remove_boxes "$copy/boxlite" "$home"
    local needle
    for needle in "$copy/boxlite-guest is dynamically linked" "make build" \
        "bash scripts/build-guest.sh"; do
        grep -qF "$needle" "$WORK/copy.err" ||
            { say "error lacks \"$needle\": $(cat "$WORK/copy.err")"; return 1; }
    done
}

test_c() {
    local prefix=$WORK/prefix home=$WORK/c-home src=examples/c/quickstart.c out f flags
    make -s install PREFIX="$prefix" >&2
    for f in bin/boxlite lib/libboxlite.so lib/libboxlite.a include/boxlite.h \
        lib/pkgconfig/boxlite.pc libexec/boxlite/boxlite-shim; do
        [ -f "$prefix/$f" ] || { say "make install did not write $f"; return 1; }
    done
    is_static "$prefix/libexec/boxlite/boxlite-guest" || return 1
    flags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs boxlite) || return 1
    [[ $flags == *"-I$prefix/include"* && $flags == *"-L$prefix/lib"* ]] ||
        { say "pkg-config gave: $flags"; return 1; }
    # shellcheck disable=SC2086 # the flags are words
    cc -Wall -Wextra -Werror -std=c11 -o "$WORK/quickstart" "$src" $flags || return 1
    # quickstart opens the default runtime, whose home is $BOXLITE_HOME: the temp home, for
    # this one process.
    out=$(PATH=$SYS_PATH LD_LIBRARY_PATH=$prefix/lib BOXLITE_HOME=$home "$WORK/quickstart" "$IMAGE") ||
        { say "quickstart failed: $out"; return 1; }
    [[ $out == hello*"exit code 0"* ]] || { say "quickstart printed: $out"; return 1; }
    # The installed CLI finds PREFIX/libexec/boxlite from PREFIX/bin.
    out=$(PATH=$SYS_PATH "$prefix/bin/boxlite" --home "$home" run --rm "$IMAGE" echo hi) || return 1
    [ "$out" = hi ] || { say "installed CLI printed: $out"; return 1; }
}

test_python() {
    local venv=$WORK/venv home=$WORK/py-home pkg start_s f
    python3 -m venv "$venv"
    start_s=$(date +%s)
    "$venv/bin/pip" install -q --disable-pip-version-check "$ROOT" || return 1
    say "pip install . took $(($(date +%s) - start_s)) s"
    pkg=$("$venv/bin/python" -c 'import boxlite, os; print(os.path.dirname(boxlite.__file__))')
    # RECORD is the wheel's own file list: the helpers came in the wheel, next to the module.
    for f in boxlite-shim boxlite-guest; do
        [ -x "$pkg/$f" ] || { say "$pkg/$f missing"; return 1; }
        grep -q "^boxlite/$f," "$pkg"/../boxlite-*.dist-info/RECORD ||
            { say "the wheel's RECORD does not list boxlite/$f"; return 1; }
    done
    compgen -G "$pkg/_boxlite*.so" >/dev/null || { say "no native module in $pkg"; return 1; }
    is_static "$pkg/boxlite-guest" || return 1
    (cd "$WORK" && PATH=$SYS_PATH "$venv/bin/python" - "$home" "$IMAGE") <<'EOF'
import asyncio
import sys

import boxlite


async def main(home: str, image: str) -> None:
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    box = await rt.create(boxlite.BoxOptions(image=image))
    try:
        execution = await box.exec("echo", ["hi"])
        lines = [line async for line in execution.stdout()]
        result = await execution.wait()
    finally:
        await rt.remove(box.id, force=True)
        await rt.shutdown()
    assert [line.rstrip("\n") for line in lines] == ["hi"], lines
    assert result.exit_code == 0, result.exit_code


asyncio.run(main(sys.argv[1], sys.argv[2]))
EOF
}

test_node() {
    local proj=$WORK/node-proj home=$WORK/node-home tarball listing f
    [ -x node_modules/.bin/napi ] || npm ci --no-audit --no-fund >&2
    rm -f "$WORK"/boxlite-*.tgz
    npm pack --pack-destination "$WORK" >&2 || return 1
    tarball=$(compgen -G "$WORK/boxlite-*.tgz") || { say "npm pack wrote no tarball"; return 1; }
    listing=$(tar -tzf "$tarball")
    for f in package/sdks/node/boxlite-shim package/sdks/node/boxlite-guest; do
        grep -qx "$f" <<<"$listing" || { say "$f not in $tarball"; return 1; }
    done
    grep -q '^package/sdks/node/.*\.node$' <<<"$listing" || { say "no .node in $tarball"; return 1; }
    mkdir -p "$proj"
    (cd "$proj" && npm init -y >/dev/null && npm install --no-audit --no-fund "$tarball" >&2) ||
        return 1
    is_static "$proj/node_modules/boxlite/sdks/node/boxlite-guest" || return 1
    cat >"$proj/main.js" <<'EOF'
'use strict';
const { Boxlite } = require('boxlite');

async function main(homeDir, image) {
  const rt = new Boxlite({ homeDir });
  const box = await rt.create({ image });
  let line;
  let exitCode;
  try {
    const ex = await box.exec('echo', ['hi']);
    line = await (await ex.stdout()).next();
    ({ exitCode } = await ex.wait());
  } finally {
    await rt.remove(box.id, true);
    await rt.shutdown();
  }
  if (typeof line !== 'string' || line.trimEnd() !== 'hi' || exitCode !== 0) {
    throw new Error(`echo hi gave ${JSON.stringify(line)}, exit code ${exitCode}`);
  }
}

main(process.argv[2], process.argv[3]).catch((err) => {
  console.error(err);
  process.exit(1);
});
EOF
    (cd "$proj" && PATH=$SYS_PATH node main.js "$home" "$IMAGE")
}

passed=0
failed=0
for suite in "${@:-cargo c python node}"; do
    for name in $suite; do
        echo "== install: $name"
        # A subshell with its own errexit: in an `if` condition bash would ignore set -e.
        set +e
        (set -e; "test_$name")
        rc=$?
        set -e
        if [ "$rc" -eq 0 ]; then
            echo "ok   install_$name"
            passed=$((passed + 1))
        else
            echo "FAIL install_$name"
            failed=$((failed + 1))
        fi
    done
done
echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
