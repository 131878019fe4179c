#!/usr/bin/env bash
# Installs the system packages the build and tests need when they are missing (Debian; needs
# root, as on CI). Rust, Python and Node come with the machine; the Python and npm tools are
# installed by scripts/test-python.sh and scripts/test-node.sh into the repo.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc libc6-dev)
command -v valgrind >/dev/null || need+=(valgrind)
command -v make >/dev/null || need+=(make)
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
