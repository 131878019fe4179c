#!/usr/bin/env python3
"""Builds a tiny busybox OCI image layout, deterministically (same bytes on every run).

Usage: make-busybox-image.py OUTDIR [--tag TAG] [--compression gzip|zstd|none] [--index]

OUTDIR is replaced by an OCI image layout with one gzip layer: a static busybox at /bin/busybox,
/bin/<applet> -> busybox for every applet, /etc/passwd, /etc/group and /root. There is no /tmp on
purpose (the runtime mounts a tmpfs when an image lacks one). The last line printed is the image
reference, oci:OUTDIR:TAG.

Variants for the registry and image tests (the default output above never changes):
--compression zstd|none  the layer is zstd-compressed (with the zstd CLI) or a plain tar;
--index                  TAG names an image index with two platforms: first a manifest for
                         another architecture (linux/arm64/v8 here, linux/amd64 on an arm64
                         host) with its own config and the same layer (it would not run), then
                         this host's manifest, the very one the layout has without --index.

busybox comes from Debian's busybox-static package: /bin/busybox when it is a static executable,
else the package is fetched with `apt-get download` and unpacked with `dpkg-deb -x` (nothing is
installed). busybox is GPL-2: build the image when needed, never commit it.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

PT_INTERP = 3
REF_NAME = "org.opencontainers.image.ref.name"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_LAYER_PLAIN = "application/vnd.oci.image.layer.v1.tar"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"
PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def log(message):
    print(message, file=sys.stderr)


def is_static_elf(path):
    """True for an ELF executable without a program interpreter (static or static-pie)."""
    try:
        with open(path, "rb") as f:
            ident = f.read(64)
            if len(ident) < 64 or ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
                return False  # only 64-bit little-endian is expected here
            phoff, = struct.unpack_from("<Q", ident, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", ident, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", table, i * phentsize)
        if p_type == PT_INTERP:
            return False
    return True


def find_busybox(scratch):
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        if is_static_elf(candidate):
            log(f"using the static busybox at {candidate}")
            return candidate
    log("no static busybox installed: fetching Debian's busybox-static with apt-get download")
    download = ["apt-get", "download", "busybox-static"]
    if subprocess.run(download, cwd=scratch, stdout=sys.stderr).returncode != 0:
        # A fresh machine may have no package lists yet.
        if os.geteuid() != 0:
            sys.exit("apt-get download busybox-static failed (run apt-get update, or install "
                     "busybox-static)")
        log("apt-get download failed: running apt-get update once and retrying")
        subprocess.run(["apt-get", "update", "-qq"], check=True, stdout=sys.stderr)
        subprocess.run(download, cwd=scratch, check=True, stdout=sys.stderr)
    debs = sorted(name for name in os.listdir(scratch) if name.endswith(".deb"))
    if not debs:
        sys.exit("apt-get download busybox-static produced no .deb")
    extracted = os.path.join(scratch, "extracted")
    subprocess.run(["dpkg-deb", "-x", os.path.join(scratch, debs[0]), extracted], check=True)
    log(f"unpacked {debs[0]} with dpkg-deb -x")
    for rel in ("bin/busybox", "usr/bin/busybox"):
        path = os.path.join(extracted, rel)
        if is_static_elf(path):
            return path
    sys.exit(f"{debs[0]} holds no static busybox")


def applets(busybox):
    out = subprocess.run([busybox, "--list"], check=True, capture_output=True, text=True).stdout
    # The list may name busybox itself: that one is the binary, not a link.
    names = sorted({line.strip() for line in out.splitlines()} - {"", "busybox"})
    bad = [n for n in names if "/" in n or n in (".", "..")]
    if bad:
        sys.exit(f"unexpected applet names from busybox --list: {bad}")
    return names


def tar_layer(busybox, names):
    """The layer's tar bytes: sorted names, mtime 0, owner 0:0, PAX format."""
    with open(busybox, "rb") as f:
        binary = f.read()
    entries = [
        ("bin", tarfile.DIRTYPE, 0o755, None, None),
        ("bin/busybox", tarfile.REGTYPE, 0o755, binary, None),
        ("etc", tarfile.DIRTYPE, 0o755, None, None),
        ("etc/group", tarfile.REGTYPE, 0o644, GROUP, None),
        ("etc/passwd", tarfile.REGTYPE, 0o644, PASSWD, None),
        ("root", tarfile.DIRTYPE, 0o700, None, None),
    ]
    entries += [(f"bin/{name}", tarfile.SYMTYPE, 0o777, None, "busybox") for name in names]
    entries.sort(key=lambda e: e[0])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, mode, data, link in entries:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.mode = mode
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if data is not None:
                info.size = len(data)
            if link is not None:
                info.linkname = link
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def gzip_bytes(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def zstd_bytes(data):
    if shutil.which("zstd") is None:
        sys.exit("--compression zstd needs the zstd CLI (apt-get install zstd; scripts/setup.sh "
                 "installs it)")
    # One thread and a fixed level: the same input gives the same bytes on every run.
    done = subprocess.run(["zstd", "-q", "-c", "-T1", "-19", "--no-progress"], input=data,
                          capture_output=True)
    if done.returncode != 0:
        sys.exit(f"zstd failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def compress(layer_tar, compression):
    """(media type, blob bytes) of the layer."""
    if compression == "gzip":
        return MEDIA_LAYER, gzip_bytes(layer_tar)
    if compression == "zstd":
        return MEDIA_LAYER_ZSTD, zstd_bytes(layer_tar)
    return MEDIA_LAYER_PLAIN, layer_tar


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def oci_arch():
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def other_platform():
    """A platform that is not this host's, for the second manifest of --index."""
    if oci_arch() == "arm64":
        return {"architecture": "amd64", "os": "linux"}
    return {"architecture": "arm64", "os": "linux", "variant": "v8"}


def write_layout(outdir, tag, layer_tar, compression="gzip", index_of_two=False):
    layer_type, layer = compress(layer_tar, compression)
    blobs = {}

    def blob(media_type, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    config = {
        "architecture": oci_arch(),
        "os": "linux",
        "config": {"Env": [PATH], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
        "history": [{"created_by": "scripts/make-busybox-image.py"}],
    }
    layer_desc = blob(layer_type, layer)

    def image_manifest(config):
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": blob(MEDIA_CONFIG, canonical_json(config)),
            "layers": [layer_desc],
        }
        return blob(MEDIA_MANIFEST, canonical_json(manifest))

    manifest_desc = image_manifest(config)
    if index_of_two:
        other = other_platform()
        other_desc = image_manifest(dict(config, **other))
        other_desc["platform"] = other
        manifest_desc["platform"] = {"architecture": config["architecture"], "os": "linux"}
        # The host's entry comes second: a client that takes the first entry picks wrong.
        platforms = {"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                     "manifests": [other_desc, manifest_desc]}
        manifest_desc = blob(MEDIA_INDEX, canonical_json(platforms))
    manifest_desc["annotations"] = {REF_NAME: tag}
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [manifest_desc]}

    os.makedirs(os.path.join(outdir, "blobs", "sha256"))
    for digest, data in sorted(blobs.items()):
        with open(os.path.join(outdir, "blobs", "sha256", digest.split(":", 1)[1]), "wb") as f:
            f.write(data)
    with open(os.path.join(outdir, "oci-layout"), "wb") as f:
        f.write(canonical_json({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(outdir, "index.json"), "wb") as f:
        f.write(canonical_json(index))
    return manifest_desc["digest"]


def replace_dir(staged, outdir):
    """Moves staged into outdir's place; an existing outdir must be an OCI layout (or empty)."""
    if os.path.lexists(outdir):
        if os.path.islink(outdir) or not os.path.isdir(outdir):
            sys.exit(f"{outdir} exists and is not a directory: not replacing it")
        if os.listdir(outdir) and not os.path.exists(os.path.join(outdir, "oci-layout")):
            sys.exit(f"{outdir} exists and is not an OCI image layout: not replacing it")
        shutil.rmtree(outdir)
    os.rename(staged, outdir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", help="OCI layout directory to create (replaced if it exists)")
    parser.add_argument("--tag", default="latest", help="tag of the image (default: latest)")
    parser.add_argument("--compression", choices=("gzip", "zstd", "none"), default="gzip",
                        help="layer compression (default: gzip)")
    parser.add_argument("--index", action="store_true",
                        help="TAG names an image index of two platforms (see above)")
    args = parser.parse_args()
    if not args.tag or "/" in args.tag or ":" in args.tag:
        sys.exit(f"invalid tag {args.tag!r}")
    outdir = os.path.abspath(args.outdir)
    parent = os.path.dirname(outdir)
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".busybox-", dir=parent) as scratch:
        busybox = find_busybox(scratch)
        names = applets(busybox)
        layer_tar = tar_layer(busybox, names)
        staged = os.path.join(scratch, "layout")
        digest = write_layout(staged, args.tag, layer_tar, args.compression, args.index)
        replace_dir(staged, outdir)
    kind = "index" if args.index else "image"
    log(f"busybox {kind} {digest} ({args.compression}) with {len(names)} applets in {outdir}")
    print(f"oci:{outdir}:{args.tag}")


if __name__ == "__main__":
    main()
