#!/usr/bin/env bash
# Builds the network bench's box image: the busybox test image plus one layer holding the
# host's /usr/bin/iperf3, every shared library `ldd` lists for it and the dynamic loader, so
# the box runs the very iperf3 the host's baselines run. Usage:
#   bash scripts/make-iperf-image.sh [OUTDIR]     (default: target/images/iperf)
# The last line printed is the image reference, oci:OUTDIR:latest. A layout built from the same
# recipe (busybox image, iperf3 package version) is kept: the build runs again only when
# OUTDIR is missing, incomplete or stale. Needs iperf3 (scripts/setup.sh installs it) and the
# busybox image (scripts/fixtures.sh builds it; built here when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-target/images/iperf}")
busybox=$PWD/target/images/busybox
iperf=/usr/bin/iperf3

command -v iperf3 >/dev/null ||
    { echo "iperf3 is missing: run scripts/setup.sh (apt-get install iperf3)" >&2; exit 1; }
[ -f "$busybox/index.json" ] || python3 scripts/make-busybox-image.py "$busybox" >&2
# Changing anything that shapes the image must change this line, so a cached layout is rebuilt.
recipe="busybox $(sha256sum "$busybox/index.json" | cut -d' ' -f1);"
recipe+=" iperf3 $(dpkg-query -W -f='${Version}' iperf3 2>/dev/null || sha256sum "$iperf");"
recipe+=" ldd closure at its listed paths, loader at its interpreter path; one gzip layer"
stamp="$out.recipe"

layout_complete() {
    python3 scripts/layout-complete.py "$out"
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe" ] && layout_complete; then
    echo "iperf image in $out is current (recipe unchanged)" >&2
    echo "oci:$out:latest"
    exit 0
fi

# ldd's lines: "libx.so.N => /path (addr)", and the loader as "/lib64/ld-linux... (addr)"; the
# vDSO has no path. Each file goes in at the path ldd names (the loader searches there, and
# /lib64/... is the interpreter path written in the binary).
libs=$(ldd "$iperf" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ -n "$libs" ] || { echo "ldd $iperf listed no libraries" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
scratch=$(mktemp -d "$(dirname "$out")/.iperf-image-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# Written here rather than with `umoci insert`: umoci 0.4.7 (Debian 12) ends the layers it
# writes without tar's end-of-archive blocks (opencontainers/umoci#436), which tar and Python's
# tarfile reject. The busybox image's writer provides the format, so both layouts match.
# shellcheck disable=SC2086 # one word per library path
python3 - "$busybox" "$scratch/layout" "$out" "$iperf" $libs <<'EOF'
import hashlib, importlib.util, io, json, os, sys, tarfile
spec = importlib.util.spec_from_file_location("busybox_image", "scripts/make-busybox-image.py")
writer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(writer)
base, staged, outdir, *files = sys.argv[1:]

def blob_path(root, digest):
    return os.path.join(root, "blobs", *digest.split(":", 1))

def read_blob(root, digest):
    with open(blob_path(root, digest), "rb") as f:
        return f.read()

with open(os.path.join(base, "index.json"), "rb") as f:
    index = json.load(f)
manifest = json.loads(read_blob(base, index["manifests"][0]["digest"]))
config = json.loads(read_blob(base, manifest["config"]["digest"]))

# Every parent directory once, then the files: sorted, mtime 0, owned by root, as the busybox
# layer is written, so the same inputs give the same bytes.
names = [f.strip("/") for f in files]
dirs = {"/".join(n.split("/")[:depth]) for n in names for depth in range(1, n.count("/") + 1)}
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
    for name, source in sorted([(d, None) for d in dirs] + list(zip(names, files))):
        info = tarfile.TarInfo(name)
        info.mtime = 0
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        if source is None:
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
            continue
        # open() follows symlinks: the box has no /lib -> usr/lib link for Debian's
        # library symlinks to resolve through, so it gets the files themselves.
        with open(source, "rb") as f:
            data = f.read()
        info.type, info.size = tarfile.REGTYPE, len(data)
        info.mode = os.stat(source).st_mode & 0o755 | 0o444
        tar.addfile(info, io.BytesIO(data))
layer_tar = buf.getvalue()

blobs = {desc["digest"]: read_blob(base, desc["digest"]) for desc in manifest["layers"]}

def blob(media_type, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}

config["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(layer_tar).hexdigest())
config.setdefault("history", []).append({"created_by": "scripts/make-iperf-image.sh"})
manifest["layers"].append(blob(writer.MEDIA_LAYER, writer.gzip_bytes(layer_tar)))
manifest["config"] = blob(writer.MEDIA_CONFIG, writer.canonical_json(config))
manifest_desc = blob(writer.MEDIA_MANIFEST, writer.canonical_json(manifest))
manifest_desc["annotations"] = {writer.REF_NAME: "latest"}
index = {"schemaVersion": 2, "mediaType": writer.MEDIA_INDEX, "manifests": [manifest_desc]}
os.makedirs(os.path.join(staged, "blobs", "sha256"))
for digest, data in sorted(blobs.items()):
    with open(blob_path(staged, digest), "wb") as f:
        f.write(data)
with open(os.path.join(staged, "oci-layout"), "wb") as f:
    f.write(writer.canonical_json({"imageLayoutVersion": "1.0.0"}))
with open(os.path.join(staged, "index.json"), "wb") as f:
    f.write(writer.canonical_json(index))
writer.replace_dir(staged, outdir)
writer.log(f"iperf image {manifest_desc['digest']} ({len(files) - 1} libraries) in {outdir}")
EOF
echo "$recipe" > "$stamp"
echo "oci:$out:latest"
