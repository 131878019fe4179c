#!/usr/bin/env python3
"""Latency of boxes through the Python SDK, for `make bench` (scripts/bench-sdks.py).

Usage: bench.py ITERATIONS   (image from $BOXLITE_TEST_IMAGE; a fresh temporary home)

Prints one JSON object, `{series: {p50_us, p99_us, n}}`, on stdout:
- exec_true_box: `await box.exec("true")` + `await execution.wait()` on a running box;
- exec_true_simplebox: `await SimpleBox.exec("true")` (both streams read, then the wait);
- box_ready: `create` + `start` of a loopback-only box (as the core's series), until its agent
  answered.
Each series discards WARMUP runs first; percentiles are picked as the core's bench does.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

import boxlite

WARMUP = 10


def series(samples_s: list[float]) -> dict[str, float]:
    ordered = sorted(samples_s)

    def pct(p: float) -> float:
        return ordered[round((len(ordered) - 1) * p)] * 1e6

    return {"p50_us": pct(0.50), "p99_us": pct(0.99), "n": len(ordered)}


async def timed(n: int, once: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for i in range(WARMUP + n):
        began = time.perf_counter()
        await once()
        if i >= WARMUP:
            samples.append(time.perf_counter() - began)
    return samples


async def bench(n: int, image: str, home: str) -> dict[str, dict[str, float]]:
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    box = await rt.create(boxlite.BoxOptions(image=image))
    await box.start()

    async def box_exec() -> None:
        execution = await box.exec("true")
        result = await execution.wait()
        if result.exit_code != 0:
            raise RuntimeError(f"true exited {result.exit_code}")

    exec_box = await timed(n, box_exec)
    await box.stop()

    async with boxlite.SimpleBox(image=image, runtime=rt) as simple:

        async def simple_exec() -> None:
            result = await simple.exec("true")
            if result.exit_code != 0:
                raise RuntimeError(f"true exited {result.exit_code}")

        exec_simple = await timed(n, simple_exec)

    ready: list[float] = []
    for i in range(WARMUP + n):
        began = time.perf_counter()
        box = await rt.create(boxlite.BoxOptions(image=image, network="disabled"))
        await box.start()
        elapsed = time.perf_counter() - began
        await box.stop()
        if i >= WARMUP:
            ready.append(elapsed)
    await rt.shutdown()
    return {
        "exec_true_box": series(exec_box),
        "exec_true_simplebox": series(exec_simple),
        "box_ready": series(ready),
    }


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        print("usage: bench.py ITERATIONS", file=sys.stderr)
        return 2
    image = os.environ.get("BOXLITE_TEST_IMAGE")
    if not image:
        print('$BOXLITE_TEST_IMAGE is not set: eval "$(bash scripts/fixtures.sh)"', file=sys.stderr)
        return 2
    home = tempfile.mkdtemp(prefix="boxlite-bench-py-")
    try:
        result = asyncio.run(bench(int(sys.argv[1]), image, home))
    finally:
        # Boxes are stopped (and auto-removed) by now; a failed run leaves none running once
        # this process is gone, since none is detached.
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
