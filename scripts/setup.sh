#!/usr/bin/env bash
# Installs the system packages the build and tests need when they are missing (Debian; needs
# root, as on CI). Rust, Python and Node come with the machine; the Python and npm tools are
# installed by scripts/test-python.sh and scripts/test-node.sh into the repo.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
# Static glibc for the test fixtures' fake guests (cc -static).
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
command -v valgrind >/dev/null || need+=(valgrind)
command -v make >/dev/null || need+=(make)
# The busybox test image is built from Debian's static busybox (GPL-2: built, never committed).
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# Oracles the image tests compare against (umoci unpack, skopeo inspect).
command -v umoci >/dev/null || need+=(umoci)
command -v skopeo >/dev/null || need+=(skopeo)
# The registry tests' real registry (scripts/registry-fixture.py): distribution 2.8, htpasswd -B
# for basic auth, openssl for the token server's keys; zstd for the zstd test images.
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
command -v zstd >/dev/null || need+=(zstd)
# mkfs.ext4 formats each home's box disk template (shim/src/disk.rs); boxes need it at run
# time too (README, "Install").
[ -x /sbin/mkfs.ext4 ] || [ -x /usr/sbin/mkfs.ext4 ] || need+=(e2fsprogs)
# The network tests make their test hosts with `ip netns` and veth pairs (core/tests/network.rs).
command -v ip >/dev/null || need+=(iproute2)
# A baseline for the benchmark.
command -v bwrap >/dev/null || need+=(bubblewrap)
# The network bench's throughput runs (scripts/make-iperf-image.sh puts it in the box image too).
command -v iperf3 >/dev/null || need+=(iperf3)
# The Python SDK's CodeBox image: a minimal Debian rootfs with python3 (make-python-image.sh).
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
if ((${#need[@]})); then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
