#!/usr/bin/env python3
"""Builds a tiny busybox OCI image layout, deterministically (same bytes on every run).

Usage: make-busybox-image.py OUTDIR [--tag TAG]

OUTDIR is replaced by an OCI image layout with one gzip layer: a static busybox at /bin/busybox,
/bin/<applet> -> busybox for every applet, /etc/passwd, /etc/group and /root. There is no /tmp on
purpose (the runtime mounts a tmpfs when an image lacks one). The last line printed is the image
reference, oci:OUTDIR:TAG.

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


def canonical_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def oci_arch():
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def write_layout(outdir, tag, layer_tar):
    layer = gzip_bytes(layer_tar)
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
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": blob(MEDIA_CONFIG, canonical_json(config)),
        "layers": [blob(MEDIA_LAYER, layer)],
    }
    manifest_desc = blob(MEDIA_MANIFEST, canonical_json(manifest))
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
        digest = write_layout(staged, args.tag, layer_tar)
        replace_dir(staged, outdir)
    log(f"busybox image {digest} with {len(names)} applets in {outdir}")
    print(f"oci:{outdir}:{args.tag}")


if __name__ == "__main__":
    main()
