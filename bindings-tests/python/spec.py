"""Reads bindings-tests/spec.tsv, the behaviour list every binding runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SPEC_PATH = Path(__file__).resolve().parent.parent / "spec.tsv"
REPO_ROOT = SPEC_PATH.parent.parent


@dataclass
class Spec:
    statuses: list[str] = field(default_factory=list)
    error_codes: list[str] = field(default_factory=list)
    image: str = ""
    #: The environment variable naming the image of the scenarios that run boxes.
    run_image_env: str = ""
    scenarios: dict[str, dict[str, str]] = field(default_factory=dict)


def load(path: Path = SPEC_PATH) -> Spec:
    spec = Spec()
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, *cols = line.split("\t")
        if kind == "status":
            spec.statuses.append(cols[0])
        elif kind == "error_code":
            spec.error_codes.append(cols[0])
        elif kind == "image":
            spec.image = cols[0]
        elif kind == "run_image":
            spec.run_image_env = cols[0]
        elif kind == "scenario":
            spec.scenarios[cols[0]] = dict(c.split("=", 1) for c in cols[1:])
        else:
            raise ValueError(f"{path}: unknown record kind {kind!r}")
    return spec
