"""The shared behaviour spec, through the Python binding. Test names are the scenario ids;
conftest.py writes each scenario's outcome to target/spec-results/python.tsv."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boxlite
import pytest
from spec import REPO_ROOT, load

SPEC = load()

IMPLEMENTED: dict[str, Callable[..., Any]] = {}
# Every wait on a box event has a bound, so a regression fails instead of hanging the suite.
EVENT_TIMEOUT_S = 30


def scenario(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Registers a test under its scenario id."""
    sid = fn.__name__.removeprefix("test_")
    assert sid in SPEC.scenarios, f"{sid} is not a scenario of spec.tsv"
    IMPLEMENTED[sid] = fn
    return fn


def params(sid: str) -> dict[str, str]:
    return SPEC.scenarios[sid]


def runtime(home: str) -> boxlite.Boxlite:
    return boxlite.Boxlite(boxlite.Options(home_dir=home))


async def bounded(awaitable: Any) -> Any:
    return await asyncio.wait_for(awaitable, EVENT_TIMEOUT_S)


async def run(box: boxlite.Box, command: str, *args: str, **kw: Any) -> tuple[str, str, Any]:
    """Runs a command, reading both streams at once; returns (stdout, stderr, ExecResult)."""
    execution = await box.exec(command, list(args), **kw)

    async def lines(stream: boxlite.ExecOutput) -> str:
        return "".join([line async for line in stream])

    out, err = await bounded(asyncio.gather(lines(execution.stdout()), lines(execution.stderr())))
    return out, err, await bounded(execution.wait())


async def started(rt: boxlite.Boxlite, image: str, **options: Any) -> boxlite.Box:
    box = await rt.create(boxlite.BoxOptions(image=image, **options))
    await bounded(box.start())
    return box


def test_every_listed_scenario_is_implemented() -> None:
    assert sorted(IMPLEMENTED) == sorted(SPEC.scenarios)


@scenario
async def test_create_is_configured(home):
    rt = runtime(home)
    box = await rt.create(boxlite.BoxOptions(SPEC.image))
    info = await box.info()
    assert info.status == "configured"
    assert info.state.status == "configured"
    assert info.state.running is False


@scenario
def test_status_names_match_core():
    assert boxlite.status_names() == SPEC.statuses


@scenario
def test_error_codes_match_core():
    assert boxlite.error_codes() == SPEC.error_codes
    assert sorted(boxlite.errors.ERROR_CLASSES) == sorted(SPEC.error_codes)


@scenario
async def test_invalid_name_is_invalid_argument(home):
    p = params("invalid_name_is_invalid_argument")
    rt = runtime(home)
    with pytest.raises(boxlite.BoxliteError) as caught:
        await rt.create(boxlite.BoxOptions(SPEC.image), p["name"])
    assert caught.value.code == p["code"]
    assert isinstance(caught.value, ValueError)
    assert p["name"] in str(caught.value)
    assert await rt.list_info() == []


@scenario
async def test_duplicate_name_is_already_exists(home):
    p = params("duplicate_name_is_already_exists")
    rt = runtime(home)
    await rt.create(boxlite.BoxOptions(SPEC.image), p["name"])
    with pytest.raises(boxlite.AlreadyExistsError) as caught:
        await rt.create(boxlite.BoxOptions(SPEC.image), p["name"])
    assert caught.value.code == p["code"]
    assert len(await rt.list_info()) == 1


@scenario
async def test_remove_then_get_is_none(home):
    rt = runtime(home)
    box = await rt.create(boxlite.BoxOptions(SPEC.image))
    await rt.remove(box.id)
    assert await rt.get(box.id) is None
    assert await rt.get_info(box.id) is None
    with pytest.raises(boxlite.NotFoundError):
        box.info()


@scenario
async def test_missing_box_is_not_found(home):
    p = params("missing_box_is_not_found")
    rt = runtime(home)
    with pytest.raises(boxlite.BoxliteError) as caught:
        await rt.remove(p["key"])
    assert caught.value.code == p["code"]
    assert isinstance(caught.value, LookupError)
    assert p["key"] in str(caught.value)


@scenario
async def test_list_is_newest_first(home):
    rt = runtime(home)
    first = await rt.create(boxlite.BoxOptions(SPEC.image))
    second = await rt.create(boxlite.BoxOptions(SPEC.image))
    assert [i.id for i in await rt.list_info()] == [second.id, first.id]


@scenario
async def test_failed_record_is_visible(home, testkit):
    reason = params("failed_record_is_visible")["reason"]
    rt = runtime(home)
    box = await rt.create(boxlite.BoxOptions(SPEC.image))
    # Another process writes the failure; this one reads it back from the database.
    subprocess.run([testkit, "mark-failed", home, box.id, reason], check=True)
    info = await runtime(home).get_info(box.id)
    assert info is not None
    assert (info.status, info.error_reason) == ("failed", reason)
    assert (info.state.status, info.state.error_reason) == ("failed", reason)
    # The handle created before the write agrees with the database.
    assert (await box.info()).status == "failed"


@scenario
async def test_lifecycle_start_stop_start_remove(home, run_image):
    rt = runtime(home)
    box = await rt.create(boxlite.BoxOptions(image=run_image, auto_remove=False))
    assert box.info().status == "configured"
    for _ in range(2):
        await bounded(box.start())
        info = box.info()
        assert (info.status, info.state.running) == ("running", True)
        assert info.pid is not None and info.state.pid == info.pid
        await bounded(box.stop())
        info = box.info()
        assert (info.status, info.state.running, info.pid) == ("stopped", False, None)
    await rt.remove(box.id)
    assert await rt.get(box.id) is None


@scenario
async def test_exec_stdout_stderr_exit_code(home, run_image):
    p = params("exec_stdout_stderr_exit_code")
    rt = runtime(home)
    box = await started(rt, run_image)
    script = f"echo {p['stdout']}; echo {p['stderr']} >&2; exit {p['exit_code']}"
    out, err, result = await run(box, "sh", "-c", script)
    assert (out, err) == (p["stdout"] + "\n", p["stderr"] + "\n")
    assert result.exit_code == int(p["exit_code"])
    assert (result.timed_out, result.signal) == (False, None)
    await box.stop()


@scenario
async def test_exec_env(home, run_image):
    p = params("exec_env")
    box = await started(runtime(home), run_image)
    out, _, result = await run(box, "sh", "-c", f'echo "${p["name"]}"', env=[(p["name"], p["value"])])
    assert (out, result.exit_code) == (p["value"] + "\n", 0)
    await box.stop()


@scenario
async def test_exec_cwd(home, run_image):
    cwd = params("exec_cwd")["cwd"]
    box = await started(runtime(home), run_image)
    out, _, result = await run(box, "pwd", cwd=cwd)
    assert (out, result.exit_code) == (cwd + "\n", 0)
    await box.stop()


@scenario
async def test_exec_user(home, run_image):
    p = params("exec_user")
    box = await started(runtime(home), run_image)
    out, _, result = await run(box, "id", "-u", user=p["user"])
    assert (out, result.exit_code) == (p["uid"] + "\n", 0)
    await box.stop()


@scenario
async def test_exec_stdin(home, run_image):
    data = params("exec_stdin")["input"]
    box = await started(runtime(home), run_image)
    execution = await box.exec("cat")
    stdout = execution.stdout()
    stdin = execution.stdin()
    await stdin.send_input(data.encode())
    await stdin.close()
    out = "".join([line async for line in stdout])
    assert out == data
    assert (await bounded(execution.wait())).exit_code == 0
    await box.stop()


@scenario
async def test_exec_tty(home, run_image):
    p = params("exec_tty")
    box = await started(runtime(home), run_image)
    script = "test -t 0 && test -t 1 && echo is-a-tty; read line; stty size"
    execution = await box.exec("sh", ["-c", script], tty=True)
    stdout = execution.stdout()
    first = await bounded(stdout.__anext__())
    assert "is-a-tty" in first
    await execution.resize_tty(int(p["rows"]), int(p["cols"]))
    await execution.stdin().send_input(b"\n")
    rest = await bounded(stdout._read_to_end())
    assert f"{p['rows']} {p['cols']}" in rest
    assert (await bounded(execution.wait())).exit_code == 0
    await box.stop()


@scenario
async def test_exec_timeout_kills(home, run_image):
    timeout = float(params("exec_timeout_kills")["timeout_secs"])
    box = await started(runtime(home), run_image)
    began = time.monotonic()
    execution = await box.exec("sh", ["-c", 'trap "" TERM; sleep 60'], timeout_secs=timeout)
    result = await bounded(execution.wait())
    elapsed = time.monotonic() - began
    assert result.timed_out is True
    assert result.signal == 9 and result.exit_code == -9
    # The timeout, the 1 s kill grace, and slack for a loaded machine: far below the 60 s.
    assert timeout <= elapsed < timeout + 10, elapsed
    # The process group is gone: nothing in the box still runs the sleep.
    _, _, found = await run(box, "pidof", "sleep")
    assert found.exit_code == 1
    await box.stop()


@scenario
async def test_exec_oom_killed(home, run_image):
    p = params("exec_oom_killed")
    box = await started(runtime(home), run_image, memory_mib=int(p["memory_mib"]))
    out, _, result = await run(box, "echo", "fine")
    assert (out, result.exit_code, result.oom_killed) == ("fine\n", 0, False)
    hog = f"x=$(head -c {int(p['hog_mib']) << 20} /dev/zero | tr '\\0' a); echo ${{#x}}"
    _, _, result = await run(box, "sh", "-c", hog)
    assert (result.signal, result.exit_code, result.oom_killed) == (9, -9, True), result
    _, _, result = await run(box, "sh", "-c", "kill -9 $$")
    assert (result.signal, result.exit_code, result.oom_killed) == (9, -9, False), result
    await bounded(box.stop())


async def exec_start_error(sid: str, run_image: str, home: str, command: str, **kw: Any) -> None:
    code = params(sid)["code"]
    box = await started(runtime(home), run_image)
    with pytest.raises(boxlite.BoxliteError) as caught:
        await box.exec(command, **kw)
    err = caught.value
    assert err.code == code
    assert type(err) is boxlite.errors.ERROR_CLASSES[code]
    assert isinstance(err, boxlite.ExecutionError) and isinstance(err, RuntimeError)
    assert box.id in str(err)
    await box.stop()


@scenario
async def test_exec_command_not_found(home, run_image):
    p = params("exec_command_not_found")
    await exec_start_error("exec_command_not_found", run_image, home, p["command"])


@scenario
async def test_exec_not_executable(home, run_image):
    p = params("exec_not_executable")
    await exec_start_error("exec_not_executable", run_image, home, p["command"])


@scenario
async def test_exec_bad_working_dir(home, run_image):
    p = params("exec_bad_working_dir")
    await exec_start_error("exec_bad_working_dir", run_image, home, "true", cwd=p["cwd"])


@scenario
async def test_failed_start_is_visible(home, run_image):
    p = params("failed_start_is_visible")
    rt = runtime(home)
    box = await rt.create(boxlite.BoxOptions(image=p["image"]))
    with pytest.raises(boxlite.BoxliteError) as caught:
        await bounded(box.start())
    assert caught.value.code == p["code"]
    path = p["image"].removeprefix("oci:").rsplit(":", 1)[0]
    info = await rt.get_info(box.id)
    assert info is not None and info.status == "failed"
    assert info.error_reason is not None and path in info.error_reason
    assert info.state.error_reason == info.error_reason
    await rt.remove(box.id)


@scenario
async def test_files_survive_stop_start(home, run_image):
    content = params("files_survive_stop_start")["content"]
    rt = runtime(home)
    box = await started(rt, run_image, auto_remove=False)
    _, _, wrote = await run(box, "sh", "-c", 'printf %s "$1" > /root/spec-file', "sh", content)
    assert wrote.exit_code == 0
    await bounded(box.stop())
    await bounded(box.start())
    out, _, read = await run(box, "cat", "/root/spec-file")
    assert (out, read.exit_code) == (content, 0)
    await bounded(box.stop())
    await rt.remove(box.id)


@scenario
async def test_list_shows_running_boxes(home, run_image):
    rt = runtime(home)
    one = await started(rt, run_image)
    two = await started(rt, run_image)
    idle = await rt.create(boxlite.BoxOptions(image=run_image))
    listed = {i.id: (i.status, i.state.running) for i in await rt.list_info()}
    assert listed == {
        one.id: ("running", True),
        two.id: ("running", True),
        idle.id: ("configured", False),
    }
    for box in (one, two):
        await box.stop()
    await rt.remove(idle.id)


@scenario
async def test_get_missing_is_none(home):
    key = params("get_missing_is_none")["key"]
    rt = runtime(home)
    assert await rt.get(key) is None
    assert await rt.get_info(key) is None


REATTACH = """
import asyncio, sys, boxlite

async def main(home, name):
    box = await boxlite.Boxlite(boxlite.Options(home_dir=home)).get(name)
    execution = await box.exec("echo", ["attached"])
    print("".join([line async for line in execution.stdout()]), end="")
    sys.exit((await execution.wait()).exit_code)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@scenario
async def test_detached_box_reattached(home, run_image):
    p = params("detached_box_reattached")
    rt = runtime(home)
    box = await rt.create(
        boxlite.BoxOptions(image=run_image, detach=True, auto_remove=False), name=p["name"]
    )
    await bounded(box.start())
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", REATTACH, home, p["name"],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await bounded(child.communicate())
    assert child.returncode == 0, err.decode()
    assert out.decode() == p["output"] + "\n"
    # The other process's exit did not stop the detached box.
    assert box.info().status == "running"
    await bounded(box.stop())
    await rt.remove(box.id)
    assert await rt.get(p["name"]) is None


@scenario
async def test_shutdown_stops_boxes(home, run_image):
    rt = runtime(home)
    boxes = [await started(rt, run_image, auto_remove=False) for _ in range(2)]
    await bounded(rt.shutdown())
    await bounded(rt.shutdown())
    with pytest.raises(boxlite.InvalidStateError) as caught:
        await rt.list_info()
    assert caught.value.code == "invalid_state"
    with pytest.raises(boxlite.InvalidStateError):
        await rt.create(boxlite.BoxOptions(image=run_image))
    other = runtime(home)
    for box in boxes:
        info = await other.get_info(box.id)
        assert info is not None and info.status == "stopped"
        await other.remove(box.id)


@scenario
async def test_exec_concurrent_streams(home, run_image):
    lines = int(params("exec_concurrent_streams")["lines"])
    box = await started(runtime(home), run_image)
    script = f"i=0; while [ $i -lt {lines} ]; do i=$((i+1)); echo out$i; echo err$i >&2; done"
    execution = await box.exec("sh", ["-c", script])

    async def count(stream: boxlite.ExecOutput, prefix: str) -> int:
        n = 0
        async for line in stream:
            n += 1
            assert line == f"{prefix}{n}\n"
        return n

    counted = await bounded(
        asyncio.gather(count(execution.stdout(), "out"), count(execution.stderr(), "err"))
    )
    assert counted == [lines, lines]
    assert (await bounded(execution.wait())).exit_code == 0
    await box.stop()


def limits_of(info: boxlite.BoxInfo) -> dict[str, Any]:
    """Every field of info.limits, by name."""
    names = [n for n in dir(info.limits) if not n.startswith("_")]
    return {n: getattr(info.limits, n) for n in names}


def bound_values(sid: str) -> dict[str, Any]:
    """The scenario's BoxLimits fields as the binding types them (cpus a float)."""
    return {k: float(v) if k == "cpus" else int(v) for k, v in params(sid).items()}


@scenario
async def test_default_limits_reported(home):
    info = (await runtime(home).create(boxlite.BoxOptions(SPEC.image))).info()
    want = {**bound_values("default_limits_reported"), "cpus": None, "not_enforced": []}
    assert limits_of(info) == want


@scenario
async def test_limits_overridden_in_force(home, run_image):
    bounds = bound_values("limits_overridden_in_force")
    box = await started(runtime(home), run_image, **bounds)
    assert limits_of(box.info()) == {**bounds, "not_enforced": []}
    script = "ulimit -n; ulimit -Hn; df -m /tmp | tail -n 1; df -m / | tail -n 1"
    out, err, result = await run(box, "sh", "-c", script)
    assert result.exit_code == 0, err
    soft, hard, df, root = out.splitlines()
    assert (int(soft), int(hard)) == (bounds["nofile_soft"], bounds["nofile_hard"])
    assert df.split()[:2] == ["tmpfs", str(bounds["tmp_size_mib"])], df
    disk_mib = bounds["disk_size_gb"] * 1024
    assert disk_mib * 0.9 < int(root.split()[1]) <= disk_mib, root
    await bounded(box.stop())


async def assert_create_refused(home: Any, code: str, *needles: str, **options: Any) -> None:
    """Create with `options` fails with `code`, the message names each of `needles`, and no
    box is stored."""
    rt = runtime(home)
    with pytest.raises(boxlite.BoxliteError) as caught:
        await rt.create(boxlite.BoxOptions(SPEC.image, **options))
    assert caught.value.code == code
    for needle in needles:
        assert needle in str(caught.value)
    assert await rt.list_info() == []


@scenario
async def test_disk_size_gb_refused(home):
    p = params("disk_size_gb_refused")
    gb = int(p["disk_size_gb"])
    await assert_create_refused(home, p["code"], "disk_size_gb", disk_size_gb=gb)


@scenario
async def test_capabilities_in_force(home, run_image):
    p = params("capabilities_in_force")
    add, drop = p["cap_add"].split(","), p["cap_drop"].split(",")
    box = await started(runtime(home), run_image, cap_add=add, cap_drop=drop)
    out, err, result = await run(box, "sh", "-c", "grep -E '^Cap(Eff|Bnd)' /proc/self/status")
    assert result.exit_code == 0, err
    assert out.splitlines() == [f"CapEff:\t{p['cap_eff']}", f"CapBnd:\t{p['cap_eff']}"]
    await bounded(box.stop())


@scenario
async def test_capability_unknown_refused(home):
    p = params("capability_unknown_refused")
    name = p["cap_add"]
    await assert_create_refused(home, p["code"], "cap_add", name, cap_add=[name])


@scenario
async def test_userns_private_by_default(home, run_image):
    p = params("userns_private_by_default")
    box = await started(runtime(home), run_image)
    info = await box.info()
    assert (info.userns, info.warnings) == (p["userns"], [])
    out, err, result = await run(box, "cat", "/proc/self/uid_map")
    assert result.exit_code == 0, err
    inside, host, size = (int(n) for n in out.split())
    assert (inside, size) == (0, int(p["size"])) and host != 0, out
    await bounded(box.stop())


@scenario
async def test_userns_host_is_loud(home, run_image):
    p = params("userns_host_is_loud")
    box = await started(runtime(home), run_image, userns=p["userns"])
    info = await box.info()
    assert info.userns == p["userns"]
    assert len(info.warnings) == 1 and p["warning"] in info.warnings[0], info.warnings
    out, err, result = await run(box, "cat", "/proc/self/uid_map")
    assert result.exit_code == 0, err
    assert out.split() == p["uid_map"].split()
    await bounded(box.stop())
    await assert_create_refused(home, p["code"], "userns", userns="nobody")


@scenario
async def test_seccomp_unconfined_is_loud(home, run_image):
    p = params("seccomp_unconfined_is_loud")
    box = await started(runtime(home), run_image, seccomp=p["seccomp"])
    info = await box.info()
    assert info.seccomp == p["seccomp"]
    assert len(info.warnings) == 1 and p["warning"] in info.warnings[0], info.warnings
    out, err, result = await run(box, "grep", "Seccomp:", "/proc/self/status")
    assert result.exit_code == 0, err
    assert out.split() == ["Seccomp:", p["mode"]]
    await bounded(box.stop())
    await assert_create_refused(home, p["code"], "seccomp", p["profile"], seccomp=p["profile"])


@scenario
async def test_seccomp_profile_replaces_default(home, run_image):
    p = params("seccomp_profile_replaces_default")
    box = await started(runtime(home), run_image, seccomp=p["profile"])
    info = await box.info()
    assert info.seccomp == "profile"
    assert len(info.warnings) == 1 and p["warning"] in info.warnings[0], info.warnings
    _, err, result = await run(box, "mkdir", "/tmp/d")
    assert result.exit_code != 0 and p["said"] in err, (result.exit_code, err)
    out, err, result = await run(box, "grep", "Seccomp:", "/proc/self/status")
    assert result.exit_code == 0, err
    assert out.split() == ["Seccomp:", "2"]
    await bounded(box.stop())
    await assert_create_refused(home, p["code"], "SCMP_ACT_NOTIFY", seccomp=p["notify"])


@scenario
async def test_copy_in_and_out_roundtrip(home, run_image):
    p = params("copy_in_and_out_roundtrip")
    mode = int(p["mode"], 8)
    rt = runtime(home)
    box = await started(rt, run_image, auto_remove=False)
    with tempfile.TemporaryDirectory(prefix="boxlite-py-files-") as tmp:
        src = Path(tmp, "src")
        (src / p["sub_file"]).parent.mkdir(parents=True)
        (src / p["file"]).write_text(p["content"])
        os.chmod(src / p["file"], mode)
        (src / p["sub_file"]).write_text(p["sub_content"])
        stats = await bounded(box.copy_in(src, p["dest"]))
        assert (stats.entries, stats.bytes) == (4, len(p["content"]) + len(p["sub_content"]))
        out, err, res = await run(box, "stat", "-c", "%a", f"{p['dest']}/{p['file']}")
        assert (out, res.exit_code) == (p["mode"] + "\n", 0), err
        out, err, res = await run(box, "cat", f"{p['dest']}/{p['sub_file']}")
        assert (out, res.exit_code) == (p["sub_content"], 0), err
        back = Path(tmp, "back")
        await bounded(box.copy_out(p["dest"], back, boxlite.CopyOptions()))
        assert (back / p["file"]).read_text() == p["content"]
        assert (back / p["file"]).stat().st_mode & 0o7777 == mode
        assert (back / p["sub_file"]).read_text() == p["sub_content"]
    await bounded(box.stop())
    await rt.remove(box.id)


@scenario
async def test_small_files_write_read_list(home, run_image):
    p = params("small_files_write_read_list")
    path, content, mode = p["path"], p["content"], int(p["mode"], 8)
    parent, name = path.rsplit("/", 1)
    rt = runtime(home)
    box = await started(rt, run_image, auto_remove=False)
    await bounded(box.write_file(path, content, mode=mode))
    assert await bounded(box.read_file(path)) == content.encode()
    out, err, res = await run(box, "stat", "-c", "%a", path)
    assert (out, res.exit_code) == (p["mode"] + "\n", 0), err
    _, err, res = await run(box, "sh", "-c", f"mkdir {parent}/d && ln -s {name} {parent}/ln")
    assert res.exit_code == 0, err
    entries = await bounded(box.list_dir(parent))
    assert [(e.name, e.kind) for e in entries] == [
        ("d", "dir"), ("ln", "symlink"), (name, "file")
    ]
    d, ln, f = entries
    assert (f.path, f.size, f.mode, f.link_target) == (path, len(content.encode()), mode, None)
    assert ln.link_target == name
    assert f.mtime_ms > 0 and d.link_target is None
    await bounded(box.stop())
    await rt.remove(box.id)


@scenario
async def test_copy_refuses_hostile_sources(home, run_image):
    p = params("copy_refuses_hostile_sources")
    rt = runtime(home)
    box = await started(rt, run_image, auto_remove=False)
    _, err, res = await run(box, "mkfifo", p["fifo"])
    assert res.exit_code == 0, err
    with tempfile.TemporaryDirectory(prefix="boxlite-py-files-") as tmp:
        with pytest.raises(boxlite.BoxliteError) as caught:
            await bounded(box.copy_out(p["fifo"], Path(tmp, "out")))
    assert caught.value.code == p["code"] and p["fifo"] in str(caught.value)
    assert isinstance(caught.value, boxlite.InvalidArgumentError)
    assert box.info().status == "running"
    with pytest.raises(boxlite.BoxliteError) as caught:
        await bounded(box.read_file(p["missing"]))
    assert caught.value.code == p["missing_code"]
    await bounded(box.stop())
    await rt.remove(box.id)


@contextlib.contextmanager
def registry(run_image: str, *pushes: str, auth: str = "none") -> Iterator[dict[str, Any]]:
    """A registry on 127.0.0.1 with the run image pushed as each DEST; yields the fixture's
    JSON line. Closing its stdin stops it; the exit is waited for."""
    argv = [sys.executable, str(REPO_ROOT / "scripts" / "registry-fixture.py"), "--auth", auth]
    for dest in pushes:
        argv += ["--push", f"{run_image}={dest}"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"registry-fixture.py exited with {proc.wait()} before it was ready"
        yield json.loads(line)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(timeout=EVENT_TIMEOUT_S) == 0



@scenario
async def test_network_enabled_has_eth0(home, run_image):
    p = params("network_enabled_has_eth0")
    box = await started(runtime(home), run_image, network=p["network"])
    assert (await box.info()).network == p["network"]
    out, err, result = await run(box, "sh", "-c", "ls /sys/class/net; cat /etc/resolv.conf")
    assert result.exit_code == 0, err
    assert out == "".join(f"{name}\n" for name in p["ifaces"].split()) + p["resolv"] + "\n"
    await bounded(box.stop())
    plain = await started(runtime(home), run_image)
    assert (await plain.info()).network == "enabled"
    await bounded(plain.stop())
    off = await started(runtime(home), run_image, network="disabled")
    assert (await off.info()).network == "disabled"
    await bounded(off.stop())
    await assert_create_refused(home, p["code"], "network", p["bogus"], network=p["bogus"])
    await assert_create_refused(home, p["code"], "dns", network="disabled", dns=["10.0.0.1"])
    bad = p["bad_allow"]
    await assert_create_refused(home, p["code"], "allow_net", bad, network="enabled", allow_net=[bad])

def http_get(host: str, port: int) -> str:
    """The body of GET / on host:port, read to EOF with a deadline on every read."""
    with socket.create_connection((host, port), timeout=EVENT_TIMEOUT_S) as conn:
        conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return reply.decode().split("\r\n\r\n", 1)[1]


@scenario
async def test_published_port_reaches_box(home, run_image):
    p = params("published_port_reaches_box")
    guest = int(p["guest_port"])
    rt = runtime(home)
    box = await started(rt, run_image, network="enabled", ports=[(None, guest)], auto_remove=False)
    [port] = (await box.info()).ports
    assert (port.host_ip, port.guest_port, port.protocol) == (p["host_ip"], guest, "tcp")
    assert isinstance(port.host_port, int) and port.host_port > 0
    serve = f"mkdir -p /www && echo {p['body']} > /www/index.html && httpd -p {guest} -h /www"
    _, err, result = await run(box, "sh", "-c", serve)
    assert result.exit_code == 0, err
    body = await asyncio.to_thread(http_get, port.host_ip, port.host_port)
    assert body == p["body"] + "\n"
    counted = await bounded(box.metrics())
    counters = ("network_bytes_sent", "network_bytes_received", "network_packets_sent",
                "network_packets_received")
    assert all(getattr(counted, c) > 0 for c in counters), counted
    await bounded(box.stop())
    assert [q.host_port for q in (await box.info()).ports] == [None]
    stopped = await bounded(box.metrics())
    assert [getattr(stopped, c) for c in counters] == [None] * 4, stopped
    await rt.remove(box.id)
    await assert_create_refused(home, p["code"], "ports", network="disabled", ports=[(None, guest)])
    await assert_create_refused(home, p["code"], "guest port", network="enabled", ports=[{"guest_port": 0}])


@scenario
async def test_volume_shares_files(home, run_image, tmp_path):
    p = params("volume_shares_files")
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / p["file"]).write_text(p["content"] + "\n")
    rt = runtime(home)
    volumes = [(str(shared), "/data"), (str(shared), "/ro", True)]
    box = await started(rt, run_image, volumes=volumes, auto_remove=False)
    assert (await box.info()).volumes == [(str(shared), "/data", False), (str(shared), "/ro", True)]
    out, err, result = await run(box, "cat", f"/ro/{p['file']}")
    assert (out, result.exit_code) == (p["content"] + "\n", 0), err
    _, err, result = await run(box, "sh", "-c", f"echo {p['written']} > /data/out")
    assert result.exit_code == 0, err
    assert (shared / "out").read_text() == p["written"] + "\n"
    _, _, result = await run(box, "touch", "/ro/denied")
    assert result.exit_code != 0
    assert not (shared / "denied").exists()
    await bounded(box.stop())
    await rt.remove(box.id)
    missing = str(shared / "missing")
    await assert_create_refused(home, p["code"], missing, volumes=[(missing, "/data")])
    await assert_create_refused(home, p["code"], "/proc", volumes=[(str(shared), "/proc/x")])


@scenario
async def test_box_metrics_report_usage(home, run_image):
    p = params("box_metrics_report_usage")
    mib = 1 << 20
    fill, write = int(p["fill_mib"]) * mib, int(p["write_mib"]) * mib
    rt = runtime(home)
    box = await started(rt, run_image, memory_mib=int(p["memory_mib"]), auto_remove=False)
    work = (
        "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; "
        f"head -c {fill} /dev/zero > /tmp/fill && rm /tmp/fill; "
        f"dd if=/dev/zero of=/root/blob bs=1M count={p['write_mib']} conv=fsync 2>/dev/null"
    )
    _, err, result = await run(box, "sh", "-c", work)
    assert result.exit_code == 0, err
    with pytest.raises(boxlite.BoxliteError):
        await bounded(box.exec("no-such-command"))
    m = await bounded(box.metrics())
    assert m.cpu_time_usec > 0 and m.cpu_percent > 0, m
    assert m.memory_peak_bytes >= fill, m
    assert m.memory_limit_bytes == int(p["memory_mib"]) * mib, m
    assert m.pids_current >= 1 and m.block_write_bytes >= write, m
    counts = (int(p["execs"]), int(p["exec_errors"]))
    assert (m.commands_executed_total, m.exec_errors_total) == counts, m
    assert m.total_create_duration_ms > 0, m
    await bounded(box.stop())
    stopped = await bounded(box.metrics())
    assert (stopped.cpu_time_usec, stopped.memory_bytes, stopped.pids_current) == (None,) * 3
    assert (stopped.commands_executed_total, stopped.exec_errors_total) == counts, stopped
    await rt.remove(box.id)


@scenario
async def test_runtime_metrics_count_boxes(home, run_image):
    p = params("runtime_metrics_count_boxes")
    rt = runtime(home)
    fresh = await rt.metrics()
    assert (fresh.boxes_created_total, fresh.boxes_failed_total, fresh.num_running_boxes,
            fresh.total_commands_executed, fresh.total_exec_errors) == (0,) * 5
    up = await started(rt, run_image, auto_remove=False)
    _, err, result = await run(up, "true")
    assert result.exit_code == 0, err
    with pytest.raises(boxlite.BoxliteError):
        await bounded(up.exec("no-such-command"))
    idle = await rt.create(boxlite.BoxOptions(image=run_image))
    bad = await rt.create(boxlite.BoxOptions(image=p["bad_image"]))
    with pytest.raises(boxlite.BoxliteError):
        await bounded(bad.start())
    m = await rt.metrics()
    want = tuple(int(p[k]) for k in ("created", "failed", "running", "execs", "exec_errors"))
    assert (m.boxes_created_total, m.boxes_failed_total, m.num_running_boxes,
            m.total_commands_executed, m.total_exec_errors) == want, m
    await bounded(up.stop())
    assert (await rt.metrics()).num_running_boxes == 0
    for b in (up, idle, bad):
        await rt.remove(b.id)


@scenario
async def test_image_pull_list_remove(home, run_image):
    p = params("image_pull_list_remove")
    dest = f"{p['repo']}:{p['tag']}"
    with registry(run_image, dest) as reg:
        addr = reg["addr"]
        images = runtime(home).images
        ref = f"{addr}/{dest}"
        info = await bounded(images.pull(ref))
        assert (info.reference, info.repository, info.tag) == (ref, f"{addr}/{p['repo']}", p["tag"])
        assert (info.id, info.source) == (reg["pushed"][dest], addr)
        assert info.config_digest.startswith("sha256:") and info.config_digest != info.id
        assert info.layers and all(d.startswith("sha256:") for d in info.layers)
        assert info.size is not None and info.size > 0
        assert isinstance(info.cached_at, str) and info.cached_at.endswith("Z")
        assert [(i.reference, i.id) for i in await images.list()] == [(ref, info.id)]
        for key in (ref, info.id.removeprefix("sha256:")[:12]):
            found = await images.inspect(key)
            assert found is not None and (found.reference, found.id) == (ref, info.id), key
        await images.remove(ref)
        assert await images.list() == []
        assert await images.inspect(ref) is None
        report = await images.prune()
        assert (report.blobs_removed, report.rootfs_removed, report.bytes_freed) == (0, 0, 0)


@scenario
async def test_image_missing_not_found(home, run_image):
    p = params("image_missing_not_found")
    with registry(run_image, "library/busybox:latest") as reg:
        images = runtime(home).images
        ref = f"{reg['addr']}/{p['repo']}:latest"
        with pytest.raises(boxlite.BoxliteError) as caught:
            await bounded(images.pull(ref))
        assert caught.value.code == p["code"] and isinstance(caught.value, LookupError)
        assert p["repo"] in str(caught.value)
        assert await images.inspect(ref) is None
        with pytest.raises(boxlite.NotFoundError):
            await images.remove(ref)
        assert await images.list() == []


@scenario
async def test_image_unauthorized(home, run_image):
    p = params("image_unauthorized")
    dest = f"{p['repo']}:latest"
    with registry(run_image, dest, auth="basic") as reg:
        addr, user, password = reg["addr"], reg["user"], reg["password"]
        ref = f"{addr}/{dest}"
        for credentials in ({}, {"username": user, "password": password + "-wrong"}):
            registries = [boxlite.ImageRegistry(addr, **credentials)] if credentials else []
            rt = boxlite.Boxlite(boxlite.Options(home_dir=home, image_registries=registries))
            with pytest.raises(boxlite.UnauthorizedError) as caught:
                await bounded(rt.images.pull(ref))
            assert caught.value.code == p["code"]
            assert await rt.images.list() == []
        good = boxlite.ImageRegistry(addr, transport="http", username=user, password=password)
        rt = boxlite.Boxlite(boxlite.Options(home_dir=home, image_registries=[good]))
        info = await bounded(rt.images.pull(ref))
        assert (info.reference, info.id) == (ref, reg["pushed"][dest])
        await rt.images.remove(ref)
        # Both kinds of credentials at once is refused where it is written.
        with pytest.raises(boxlite.InvalidArgumentError):
            boxlite.ImageRegistry(addr, username=user, password=password, bearer_token="t")


@scenario
async def test_image_registry_options(home, run_image):
    name = params("image_registry_options")["name"]
    with registry(run_image, f"library/{name}:latest") as reg:
        addr = reg["addr"]
        mirrored = boxlite.Options(
            home_dir=home, image_registries=[boxlite.ImageRegistry("docker.io", mirrors=[addr])]
        )
        images = boxlite.Boxlite(mirrored).images
        info = await bounded(images.pull(name))
        assert (info.reference, info.source) == (f"docker.io/library/{name}:latest", addr)
        assert info.id == reg["pushed"][f"library/{name}:latest"]
        await images.remove(info.reference)
        searched = boxlite.Options(
            home_dir=home, image_registries=[boxlite.ImageRegistry(addr, search=True)]
        )
        images = boxlite.SyncBoxlite(searched).images
        info = images.pull(name)
        assert (info.reference, info.source) == (f"{addr}/library/{name}:latest", addr)
        assert [i.reference for i in images.list()] == [info.reference]
        images.remove(info.reference)
        assert images.list() == []
