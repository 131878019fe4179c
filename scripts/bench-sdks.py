#!/usr/bin/env python3
"""Puts the SDKs' latencies next to the core's, measured in the same `make bench` run.

Usage: bench-sdks.py CORE_JSON ITERATIONS
CORE_JSON is what `boxlite-bench --json` wrote. Each SDK bench script prints one JSON object,
`{series: {p50_us, p99_us, n}}`; every series whose name starts with "exec" is compared with
the core's exec round trip (target <= 1.2x), and "box_ready" with the core's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXEC_TARGET = 1.2
# Each SDK bench prints once its boxes are gone; a wedged one must not hang `make bench`.
TIMEOUT_S = 600

SDKS = {
    "python": [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "bindings-tests/python/bench.py")],
    "node": ["node", str(ROOT / "bindings-tests/node/bench.mjs")],
}


def run_sdk(argv: list[str], iterations: str) -> dict[str, dict[str, float]]:
    done = subprocess.run(
        [*argv, iterations], cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    lines = [line for line in done.stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(argv)} printed no JSON: {done.stdout.strip()!r}")
    return json.loads(lines[-1])


def main() -> int:
    core_path, iterations = sys.argv[1], sys.argv[2]
    core = json.loads(Path(core_path).read_text())
    print(f"{'series':<40} {'p50 ms':>9} {'p99 ms':>9}   vs core p50")
    failed = False
    for sdk, argv in SDKS.items():
        try:
            series = run_sdk(argv, iterations)
        except (OSError, RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
            print(f"{sdk}: bench failed: {e}", file=sys.stderr)
            failed = True
            continue
        for name, s in series.items():
            base = core["exec_true"] if name.startswith("exec") else core.get(name)
            ratio = f"{s['p50_us'] / base['p50_us']:.2f}x" if base else "-"
            target = f" (target <= {EXEC_TARGET}x)" if name.startswith("exec") else ""
            label = f"{sdk} {name}"
            print(
                f"{label:<40} {s['p50_us'] / 1e3:>9.2f} {s['p99_us'] / 1e3:>9.2f}   "
                f"{ratio}{target}"
            )
    core_exec = core["exec_true"]
    print(f"{'core exec_true (same run)':<40} {core_exec['p50_us'] / 1e3:>9.2f} "
          f"{core_exec['p99_us'] / 1e3:>9.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
