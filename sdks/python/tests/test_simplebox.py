"""SimpleBox: whole outputs, both streams at once, timeouts, reuse, removal on exit."""

from __future__ import annotations

import asyncio

import boxlite
import pytest

LINES = 5000


async def test_exec_returns_exit_code_and_both_outputs(rt, run_image):
    async with boxlite.SimpleBox(image=run_image, runtime=rt) as box:
        assert box.created is True
        assert box.info().status == "running"
        result = await box.exec("sh", "-c", "echo out; echo err >&2; exit 4")
        assert isinstance(result, boxlite.ExecResult)
        assert (result.exit_code, result.stdout, result.stderr) == (4, "out\n", "err\n")
        assert result.error_message is None


async def test_five_thousand_lines_on_each_stream_never_deadlock(rt, run_image):
    script = f"i=0; while [ $i -lt {LINES} ]; do i=$((i+1)); echo out$i; echo err$i >&2; done"
    async with boxlite.SimpleBox(image=run_image, runtime=rt) as box:
        result = await asyncio.wait_for(box.exec("sh", "-c", script), 60)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [f"out{i}" for i in range(1, LINES + 1)]
    assert result.stderr.splitlines() == [f"err{i}" for i in range(1, LINES + 1)]


async def test_env_cwd_user_and_box_options(rt, run_image):
    box = boxlite.SimpleBox(
        image=run_image, runtime=rt, env=[("FROM_BOX", "b")], working_dir="/root"
    )
    async with box:
        inherited = await box.exec("sh", "-c", 'echo "$FROM_BOX $(pwd)"')
        assert inherited.stdout == "b /root\n"
        given = await box.exec(
            "sh", "-c", 'echo "$X $(pwd) $(id -u)"', env={"X": "x"}, cwd="/etc", user="65534"
        )
        assert given.stdout == "x /etc 65534\n"


async def test_timeout_raises_the_timeout_error_and_kills(rt, run_image):
    async with boxlite.SimpleBox(image=run_image, runtime=rt) as box:
        with pytest.raises(boxlite.TimeoutError) as caught:
            await asyncio.wait_for(box.exec("sleep", "60", timeout=0.5), 30)
        assert isinstance(caught.value, TimeoutError) and "sleep 60" in str(caught.value)
        assert (await box.exec("pidof", "sleep")).exit_code == 1


async def test_a_command_that_cannot_start_raises_its_typed_error(rt, run_image):
    async with boxlite.SimpleBox(image=run_image, runtime=rt) as box:
        with pytest.raises(boxlite.CommandNotFoundError):
            await box.exec("no-such-command")


async def test_auto_remove_removes_the_box_on_exit(rt, run_image):
    async with boxlite.SimpleBox(image=run_image, runtime=rt) as box:
        box_id = box.id
    assert await rt.get_info(box_id) is None


async def test_reuse_existing_finds_the_named_box(rt, run_image):
    first = boxlite.SimpleBox(image=run_image, runtime=rt, name="kept", auto_remove=False)
    async with first:
        await first.exec("sh", "-c", "echo 1 > /root/mark")
        first_id = first.id
    again = boxlite.SimpleBox(
        image=run_image, runtime=rt, name="kept", auto_remove=False, reuse_existing=True
    )
    assert again.created is None
    async with again:
        assert (again.id, again.created) == (first_id, False)
        assert (await again.exec("cat", "/root/mark")).stdout == "1\n"
    assert (await rt.get_info("kept")).status == "stopped"
    await rt.remove("kept")


async def test_use_before_start_is_an_invalid_state_error(run_image):
    box = boxlite.SimpleBox(image=run_image)
    with pytest.raises(boxlite.InvalidStateError) as caught:
        box.id
    assert isinstance(caught.value, RuntimeError) and "not started" in str(caught.value)
    with pytest.raises(boxlite.InvalidStateError):
        await box.exec("true")


async def test_default_runtime_is_shared_and_reopens_after_close(home, run_image, monkeypatch):
    monkeypatch.setenv("BOXLITE_HOME", home)
    monkeypatch.setattr(boxlite.Boxlite, "_default", None)
    async with boxlite.SimpleBox(image=run_image) as box:
        assert (await box.exec("true")).exit_code == 0
        default = boxlite.Boxlite.default()
        assert default is boxlite.Boxlite.default()
        assert (await default.get_info(box.id)).status == "running"
    default.close()
    with pytest.raises(boxlite.InvalidStateError):
        await default.list_info()
    reopened = boxlite.Boxlite.default()
    assert reopened is not default and await reopened.list_info() == []
    reopened.close()
