"""A process that forks after creating a runtime: the child never deadlocks. The parent's
handles give it a clear error; a runtime it opens itself works, boxes included."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal

import boxlite

CHILD_DEADLINE_S = 60


def child_main(rt: boxlite.Boxlite, sync_rt: boxlite.SyncBoxlite, box_id: str, home: str,
               image: str) -> dict[str, object]:
    report: dict[str, object] = {}
    try:
        asyncio.run(rt.list_info())
        report["parent_runtime"] = "worked"
    except boxlite.InvalidStateError as e:
        report["parent_runtime"] = str(e)
    try:
        sync_rt.get(box_id)
        report["parent_sync_runtime"] = "worked"
    except boxlite.InvalidStateError as e:
        report["parent_sync_runtime"] = str(e)

    async def own_runtime() -> str:
        mine = boxlite.Boxlite(boxlite.Options(home_dir=home))
        box = await mine.create(boxlite.BoxOptions(image=image))
        execution = await box.exec("echo", ["from the child"])
        out = "".join([line async for line in execution.stdout()])
        await execution.wait()
        await box.stop()
        return out

    report["own_runtime"] = asyncio.run(own_runtime())
    with boxlite.SyncBoxlite(boxlite.Options(home_dir=home)) as mine:
        report["own_sync_runtime"] = [i.id for i in mine.list_info()]
    return report


def test_fork_after_creating_a_runtime(home, run_image):
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    sync_rt = boxlite.SyncBoxlite(boxlite.Options(home_dir=home))
    # A running box, the sync loop thread and tokio's threads all exist at fork time.
    box = sync_rt.create(boxlite.BoxOptions(image=run_image))
    box.start()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        status = 0
        try:
            os.close(read_fd)
            payload = child_main(rt, sync_rt, box.id, home, run_image)
        except BaseException as e:  # noqa: BLE001 - the parent asserts on what we report
            payload, status = {"error": repr(e)}, 1
        os.write(write_fd, json.dumps(payload).encode())
        os._exit(status)
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], CHILD_DEADLINE_S)
        if not ready:
            os.kill(pid, signal.SIGKILL)
        assert ready, f"the forked child did not finish within {CHILD_DEADLINE_S} s (deadlock?)"
        data = b""
        while chunk := os.read(read_fd, 65536):
            data += chunk
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    report = json.loads(data)
    assert os.waitstatus_to_exitcode(status) == 0, report
    for key in ("parent_runtime", "parent_sync_runtime"):
        assert "fork" in report[key] and str(os.getpid()) in report[key], report
    assert report["own_runtime"] == "from the child\n"
    assert report["own_sync_runtime"] == [box.id]
    # The parent's handles are untouched by the child.
    assert box.info().status == "running"
    box.stop()
    sync_rt.close()
