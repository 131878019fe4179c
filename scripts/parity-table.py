#!/usr/bin/env python3
"""Prints the conformance parity table: every scenario of bindings-tests/spec.tsv against each
language's results in target/spec-results/<language>.tsv (written by that language's suite).

Exits 1 when a language has no results file, or a scenario is missing or failed in one.
"""

from __future__ import annotations

import sys
from pathlib import Path

LANGUAGES = ("python", "node", "c")
ROOT = Path(__file__).resolve().parent.parent


def scenario_ids() -> list[str]:
    ids = []
    for line in (ROOT / "bindings-tests" / "spec.tsv").read_text().splitlines():
        fields = line.split("\t")
        if fields[0] == "scenario" and len(fields) > 1:
            ids.append(fields[1])
    return ids


def results(language: str) -> dict[str, str] | None:
    path = ROOT / "target" / "spec-results" / f"{language}.tsv"
    if not path.is_file():
        return None
    found = {}
    for line in path.read_text().splitlines():
        sid, _, outcome = line.partition("\t")
        if sid:
            found[sid] = outcome.strip()
    return found


def main() -> int:
    ids = scenario_ids()
    table = {lang: results(lang) for lang in LANGUAGES}
    width = max(len(i) for i in ids)
    print(f"{'scenario':<{width}}  " + "  ".join(f"{lang:<6}" for lang in LANGUAGES))
    bad = [f"{lang}: no results file" for lang, r in table.items() if r is None]
    for sid in ids:
        cells = []
        for lang in LANGUAGES:
            outcome = (table[lang] or {}).get(sid, "-")
            if outcome != "pass":
                bad.append(f"{lang}: {sid} is {outcome}")
            cells.append(f"{outcome:<6}")
        print(f"{sid:<{width}}  " + "  ".join(cells))
    passed = {lang: sum(1 for s in ids if (r or {}).get(s) == "pass") for lang, r in table.items()}
    print(f"{'passed':<{width}}  " + "  ".join(f"{passed[l]:>2}/{len(ids):<3}" for l in LANGUAGES))
    for line in bad:
        print(f"parity: {line}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
