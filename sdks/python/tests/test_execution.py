"""Execution beyond the spec: ownership of its parts, waits that are cancelled or repeated."""

from __future__ import annotations

import asyncio
import signal

import boxlite
import pytest


async def started(rt: boxlite.Boxlite, image: str) -> boxlite.Box:
    box = await rt.create(boxlite.BoxOptions(image=image))
    await asyncio.wait_for(box.start(), 30)
    return box


async def test_a_cancelled_wait_loses_nothing_and_kill_works_meanwhile(rt, run_image):
    box = await started(rt, run_image)
    execution = await box.exec("sleep", ["60"])
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(execution.wait(), 0.3)
    pending = asyncio.ensure_future(execution.wait())
    await execution.kill()
    result = await asyncio.wait_for(pending, 30)
    assert (result.exit_code, result.signal, result.timed_out) == (-9, 9, False)
    # Waiting again gives the same outcome.
    assert (await execution.wait()).exit_code == -9
    await box.stop()


async def test_signal_reaches_the_command(rt, run_image):
    box = await started(rt, run_image)
    script = "trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.1; done"
    execution = await box.exec("sh", ["-c", script])
    stdout = execution.stdout()
    # The trap is set once the command says so; then one signal must be enough.
    assert await asyncio.wait_for(stdout.__anext__(), 30) == "ready\n"
    await execution.signal(10)
    assert await asyncio.wait_for(stdout.__anext__(), 30) == "got-usr1\n"
    assert (await asyncio.wait_for(execution.wait(), 30)).exit_code == 7
    await box.stop()


async def test_each_part_can_be_taken_once(rt, run_image):
    box = await started(rt, run_image)
    execution = await box.exec("cat")
    execution.stdout()
    execution.stdin()
    for take in (execution.stdout, execution.stdin):
        with pytest.raises(boxlite.InvalidStateError, match="taken already"):
            take()
    without_stdin = await box.exec("true", stdin=False)
    with pytest.raises(boxlite.InvalidStateError, match="stdin=False"):
        without_stdin.stdin()
    await without_stdin.wait()
    await box.stop()


async def test_wait_closes_a_stdin_nobody_took(rt, run_image):
    box = await started(rt, run_image)
    execution = await box.exec("cat")
    assert (await asyncio.wait_for(execution.wait(), 30)).exit_code == 0
    with pytest.raises(boxlite.InvalidStateError):
        execution.stdin()
    await box.stop()


async def test_stdin_after_close_is_refused(rt, run_image):
    box = await started(rt, run_image)
    execution = await box.exec("cat")
    stdin = execution.stdin()
    await stdin.close()
    await stdin.close()
    with pytest.raises(boxlite.InvalidStateError, match="closed"):
        await stdin.send_input(b"late")
    await asyncio.wait_for(execution.wait(), 30)
    await box.stop()


async def test_output_that_is_not_utf8_or_has_no_final_newline(rt, run_image):
    box = await started(rt, run_image)
    execution = await box.exec("printf", ["a\\n\\377b\\nno-newline"])
    lines = [line async for line in execution.stdout()]
    assert lines == ["a\n", "\ufffdb\n", "no-newline"]
    await execution.wait()
    await box.stop()


async def test_bad_exec_arguments_name_the_box(rt, run_image):
    box = await started(rt, run_image)
    with pytest.raises(boxlite.InvalidArgumentError, match=box.id):
        await box.exec("true", timeout_secs=0)
    with pytest.raises(boxlite.InvalidArgumentError, match="empty command"):
        await box.exec("")
    await box.stop()
