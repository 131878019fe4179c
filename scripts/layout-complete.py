"""Exits 0 when the OCI layout at argv[1] is whole: its index names a manifest whose config and
layers are all present at their recorded sizes. The image scripts rebuild a cached layout
that is not (a build interrupted half-way)."""
import json
import os
import sys

root = sys.argv[1]


def blob(digest):
    return os.path.join(root, "blobs", *digest.split(":", 1))


try:
    index = json.load(open(os.path.join(root, "index.json")))
    manifest = json.load(open(blob(index["manifests"][0]["digest"])))
    for desc in [manifest["config"], *manifest["layers"]]:
        if os.path.getsize(blob(desc["digest"])) != desc["size"]:
            sys.exit(1)
except (OSError, KeyError, IndexError, ValueError):
    sys.exit(1)
