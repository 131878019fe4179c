"""The sync API: the async classes' names and methods, without an event loop."""

from __future__ import annotations

import threading

import boxlite
import pytest


def test_sync_runtime_box_and_execution(home, run_image):
    with boxlite.SyncBoxlite(boxlite.Options(home_dir=home)) as rt:
        box = rt.create(boxlite.BoxOptions(image=run_image, auto_remove=False), name="s")
        assert rt.get_info("s").status == "configured"
        with box:
            assert box.info().status == "running"
            execution = box.exec("sh", ["-c", "read x; echo got $x; echo e >&2; exit 2"])
            stdin = execution.stdin()
            stdin.send_input(b"line\n")
            stdin.close()
            assert list(execution.stdout()) == ["got line\n"]
            assert list(execution.stderr()) == ["e\n"]
            result = execution.wait()
            assert (result.exit_code, result.timed_out) == (2, False)
            sleeper = box.exec("sleep", ["60"])
            sleeper.kill()
            assert sleeper.wait().exit_code == -9
        assert [i.status for i in rt.list_info()] == ["stopped"]
        assert rt.get("s").id == box.id
        found, created = rt.get_or_create(boxlite.BoxOptions(image=run_image), name="s")
        assert (found.id, created) == (box.id, False)
        rt.remove("s")
        assert rt.get("s") is None and rt.get_info("s") is None
    # Leaving the with block closed the runtime.
    with pytest.raises(boxlite.InvalidStateError):
        rt.list_info()


def test_sync_simplebox(home, run_image):
    rt = boxlite.SyncBoxlite(boxlite.Options(home_dir=home))
    with boxlite.SyncSimpleBox(image=run_image, runtime=rt) as box:
        assert box.created is True
        result = box.exec("sh", "-c", "echo $A; pwd", env={"A": "a"}, cwd="/etc")
        assert (result.exit_code, result.stdout, result.stderr) == (0, "a\n/etc\n", "")
        with pytest.raises(boxlite.TimeoutError):
            box.exec("sleep", "30", timeout=0.5)
        box_id = box.id
    assert rt.get_info(box_id) is None
    rt.close()


def test_sync_calls_from_many_threads_share_one_loop(home, run_image):
    rt = boxlite.SyncBoxlite(boxlite.Options(home_dir=home))
    box = rt.create(boxlite.BoxOptions(image=run_image))
    box.start()
    outputs: list[str] = []

    def worker(i: int) -> None:
        execution = box.exec("echo", [str(i)], stdin=False)
        outputs.append("".join(execution.stdout()))
        execution.wait()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outputs) == sorted(f"{i}\n" for i in range(8))
    box.stop()
    rt.close()


async def test_a_sync_call_inside_the_loop_thread_is_refused(home):
    rt = boxlite.SyncBoxlite(boxlite.Options(home_dir=home))

    async def nested() -> None:
        rt.list_info()

    from boxlite.sync_api import _run

    with pytest.raises(boxlite.InvalidStateError, match="async API"):
        _run(nested())
    rt.close()


def test_sync_default_is_the_shared_default(home, monkeypatch):
    monkeypatch.setenv("BOXLITE_HOME", home)
    monkeypatch.setattr(boxlite.Boxlite, "_default", None)
    with boxlite.SyncBoxlite.default() as rt:
        assert rt.runtime is boxlite.Boxlite.default()
        assert rt.home_dir == home
    # close() released it: the next default() is a fresh, working runtime.
    again = boxlite.SyncBoxlite.default()
    assert again.runtime is not rt.runtime and again.list_info() == []
    again.close()
