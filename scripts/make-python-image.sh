#!/usr/bin/env bash
# Builds a minimal Debian OCI image layout with python3 and pip, offline from Debian's mirrors
# (no image registry is needed), for the Python SDK's CodeBox tests. Usage:
#   bash scripts/make-python-image.sh [OUTDIR]     (default: target/images/python)
# The last line printed is the image reference, oci:OUTDIR:latest. A layout built from the same
# recipe is kept: the build runs again only when OUTDIR is missing, incomplete or stale.
# Needs root (mmdebstrap's root mode) and the mmdebstrap package (scripts/setup.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-target/images/python}")
suite=bookworm
mirror=http://deb.debian.org/debian
packages=python3,python3-pip
# Changing anything that shapes the image must change this line, so a cached layout is rebuilt.
recipe="mmdebstrap essential $suite $packages; no docs, man pages or locales; pip allowed"
stamp="$out.recipe"

layout_complete() {
    python3 scripts/layout-complete.py "$out"
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ] && layout_complete; then
    echo "python image in $out is current (recipe unchanged)" >&2
    echo "oci:$out:latest"
    exit 0
fi

command -v mmdebstrap >/dev/null ||
    { echo "mmdebstrap is missing: run scripts/setup.sh (apt-get install mmdebstrap)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
scratch=$(mktemp -d "$(dirname "$out")/.python-image-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
started=$(date +%s)
# essential + python3 + pip is the smallest set that runs `python3 -m pip`; Debian marks its
# interpreter EXTERNALLY-MANAGED, which would make CodeBox.install_package refuse to work.
mmdebstrap --quiet --mode=root --variant=essential --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
    "$suite" "$scratch/rootfs.tar" "$mirror" >&2
# The layout is written by the busybox image's writer, so both fixtures share one format.
python3 - "$scratch/rootfs.tar" "$scratch/layout" "$out" <<'EOF'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("busybox_image", "scripts/make-busybox-image.py")
writer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(writer)
rootfs_tar, staged, outdir = sys.argv[1:]
with open(rootfs_tar, "rb") as f:
    layer = f.read()
digest = writer.write_layout(staged, "latest", layer)
writer.replace_dir(staged, outdir)
writer.log(f"python image {digest} ({len(layer) >> 20} MiB unpacked) in {outdir}")
EOF
echo "$recipe" > "$stamp"
echo "built the python image in $(( $(date +%s) - started )) s" >&2
echo "oci:$out:latest"
