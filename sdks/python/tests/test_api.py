"""Python-layer behaviour beyond the shared spec: runtime, options, errors."""

from __future__ import annotations

import asyncio

import boxlite
import pytest
from boxlite import errors


async def test_default_uses_boxlite_home(home, monkeypatch):
    monkeypatch.setenv("BOXLITE_HOME", home)
    monkeypatch.setattr(boxlite.Boxlite, "_default", None)
    rt = boxlite.Boxlite.default()
    assert rt.home_dir == home and boxlite.Boxlite.default() is rt
    box = await rt.create(boxlite.BoxOptions("oci:/img"), "via-env")
    # A runtime opened on the explicit path sees the same record.
    other = boxlite.Boxlite(boxlite.Options(home_dir=home))
    assert (await other.get_info("via-env")).id == box.id
    rt.close()


def test_init_default_and_the_runtime_as_a_context_manager(home, monkeypatch):
    monkeypatch.setattr(boxlite.Boxlite, "_default", None)
    boxlite.SyncBoxlite.init_default(boxlite.Options(home_dir=home))
    with boxlite.Boxlite.default() as rt:
        assert rt.home_dir == home and boxlite.SyncBoxlite.default().runtime is rt
    with pytest.raises(boxlite.InvalidStateError):
        asyncio.run(rt.list_info())
    assert boxlite.Boxlite._default is None


async def test_get_or_create_returns_the_existing_box(rt):
    first, created = await rt.get_or_create(boxlite.BoxOptions("oci:/a"), "shared")
    again, created_again = await rt.get_or_create(boxlite.BoxOptions("oci:/b"), name="shared")
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert again.info().image == "oci:/a"
    unnamed, created_unnamed = await rt.get_or_create(boxlite.BoxOptions("oci:/a"))
    assert created_unnamed and unnamed.id != first.id


async def test_concurrent_creates_from_one_loop(rt):
    boxes = await asyncio.gather(*(rt.create(boxlite.BoxOptions("oci:/a")) for _ in range(20)))
    listed = {i.id for i in await rt.list_info()}
    assert listed == {b.id for b in boxes}


async def test_invalid_values_name_the_field(rt):
    with pytest.raises(boxlite.InvalidArgumentError, match="memory_mib"):
        await rt.create(boxlite.BoxOptions("oci:/a", memory_mib=1))
    with pytest.raises(boxlite.InvalidArgumentError, match="working_dir"):
        await rt.create(boxlite.BoxOptions("oci:/a", working_dir="relative"))
    with pytest.raises(boxlite.InvalidArgumentError, match="auto_remove"):
        await rt.create(boxlite.BoxOptions("oci:/a", detach=True))
    assert await rt.list_info() == []


async def test_prefix_lookup(rt):
    box = await rt.create(boxlite.BoxOptions("oci:/a"))
    found = await rt.get(box.id[:6])
    assert found is not None and found.id == box.id


def test_box_options_defaults_and_attributes():
    opts = boxlite.BoxOptions(image="oci:/a", env=[("A", "1")], cpus=0.5, memory_mib=64)
    assert (opts.image, opts.rootfs_path, opts.env, opts.cpus, opts.memory_mib) == (
        "oci:/a", None, [("A", "1")], 0.5, 64
    )
    # None means upstream's defaults: removed on stop, not detached.
    assert (opts.auto_remove, opts.detach, opts.volumes, opts.ports) == (None, None, None, None)
    opts.user = "65534"
    assert opts.user == "65534"
    # The bounds: None is the default, which BoxInfo.limits reports filled in.
    bounds = ("pids_max", "nofile_soft", "nofile_hard", "tmp_size_mib", "log_max_size_mib",
              "log_max_files", "disk_size_gb")
    assert [getattr(opts, b) for b in bounds] == [None] * len(bounds)
    opts.pids_max = 128
    assert boxlite.BoxOptions(image="oci:/a", nofile_soft=10).nofile_soft == 10
    assert opts.pids_max == 128


async def test_bounds_set_one_by_one_reach_core(rt):
    opts = boxlite.BoxOptions(image="oci:/a")
    opts.log_max_files = 0
    with pytest.raises(boxlite.InvalidArgumentError, match="log_max_files"):
        await rt.create(opts)
    opts.log_max_files = 3
    opts.nofile_hard = 512
    limits = (await rt.create(opts)).info().limits
    assert (limits.log_max_files, limits.nofile_soft, limits.nofile_hard) == (3, 512, 512)
    assert "log_max_files=3" in repr(limits)


@pytest.mark.parametrize(
    "field,value",
    [
        ("advanced", object()),
        ("secrets", [object()]),
    ],
)
def test_options_not_implemented_are_refused_by_name(field, value):
    with pytest.raises(boxlite.InvalidArgumentError) as caught:
        boxlite.BoxOptions(image="oci:/a", **{field: value})
    assert f"BoxOptions.{field} is not implemented" in str(caught.value)
    # Upstream's "none" spellings are fine.
    boxlite.BoxOptions(image="oci:/a", **{field: [] if field == "secrets" else None})


async def test_a_refused_option_set_later_is_refused_at_create(rt):
    opts = boxlite.BoxOptions(image="oci:/a")
    opts.secrets = [object()]
    with pytest.raises(boxlite.InvalidArgumentError, match="secrets"):
        await rt.create(opts)


async def test_volumes_take_upstreams_tuples_and_dicts(rt, tmp_path):
    shapes = [
        (str(tmp_path), "/a"),
        (str(tmp_path), "/b", True),
        (str(tmp_path), "/c", "ro"),
        {"host_path": str(tmp_path), "guest_path": "/d", "read_only": False},
        {"host": str(tmp_path), "guest": "/e", "ro": True},
    ]
    box = await rt.create(boxlite.BoxOptions(image="oci:/a", volumes=shapes))
    assert box.info().volumes == [
        (str(tmp_path), "/a", False),
        (str(tmp_path), "/b", True),
        (str(tmp_path), "/c", True),
        (str(tmp_path), "/d", False),
        (str(tmp_path), "/e", True),
    ]
    for bad, message in [
        ([("/x",)], "a volume tuple"),
        ([{"host_path": str(tmp_path)}], "no guest_path"),
        ([{"host_path": str(tmp_path), "guest_path": "/g", "mode": "ro"}], "unknown key"),
        ([(str(tmp_path), "/g", "rx")], "read_only must be"),
        ([(str(tmp_path / "missing"), "/g")], "does not exist"),
        ([(str(tmp_path), "/proc/g")], "/proc"),
    ]:
        with pytest.raises(boxlite.InvalidArgumentError, match=message):
            await rt.create(boxlite.BoxOptions(image="oci:/a", volumes=bad))


async def test_rootfs_path_is_an_oci_layout_directory(rt, run_image, tmp_path, monkeypatch):
    layout = run_image.removeprefix("oci:").rsplit(":", 1)[0]
    with pytest.raises(boxlite.InvalidArgumentError, match="not both"):
        boxlite.BoxOptions(image=run_image, rootfs_path=layout)
    monkeypatch.chdir(tmp_path)
    relative = await rt.create(boxlite.BoxOptions(rootfs_path="some/layout"))
    assert relative.info().image == f"oci:{tmp_path}/some/layout"
    with pytest.raises(boxlite.InvalidArgumentError, match="image"):
        await rt.create(boxlite.BoxOptions())
    async with boxlite.SimpleBox(rootfs_path=layout, runtime=rt) as box:
        assert box.info().image == f"oci:{layout}"
        assert (await box.exec("echo", "from a layout dir")).stdout == "from a layout dir\n"


def test_image_registries_take_image_registry_entries(home):
    boxlite.Boxlite(boxlite.Options(home_dir=home, image_registries=[]))
    entry = boxlite.ImageRegistry(
        "r.example.com", username="u", password="s3cret-pw", mirrors=["m.io"]
    )
    assert (entry.host, entry.username, entry.mirrors) == ("r.example.com", "u", ["m.io"])
    assert "s3cret-pw" not in repr(entry)
    boxlite.Boxlite(boxlite.Options(home_dir=home, image_registries=[entry]))
    with pytest.raises(boxlite.InvalidArgumentError, match=r"image_registries\[0\] is a str"):
        boxlite.Options(home_dir=home, image_registries=["registry.example.com"])  # type: ignore[list-item]
    for bad in (
        {"transport": "ftp"},
        {"username": "u"},
        {"bearer_token": "t", "username": "u", "password": "p"},
        {"mirrors": ["r.example.com"]},
    ):
        with pytest.raises(boxlite.InvalidArgumentError, match="r.example.com"):
            boxlite.ImageRegistry("r.example.com", **bad)


async def test_shutdown_is_idempotent_then_refuses(rt):
    await rt.shutdown()
    await rt.shutdown(timeout=1)
    with pytest.raises(boxlite.InvalidStateError, match="shut down"):
        await rt.create(boxlite.BoxOptions("oci:/a"))
    with pytest.raises(boxlite.InvalidArgumentError, match="timeout"):
        await boxlite.Boxlite(boxlite.Options(home_dir=rt.home_dir)).shutdown(timeout=-5)


def test_every_error_is_a_runtime_error_with_its_code():
    for code in boxlite.error_codes():
        err = errors.from_code(code, "m")
        assert err.code == code and str(err) == "m"
        assert type(err) is errors.ERROR_CLASSES[code]
        assert isinstance(err, boxlite.BoxliteError) and isinstance(err, RuntimeError)
    unknown = errors.from_code("brand_new", "m")
    assert type(unknown) is boxlite.BoxliteError and unknown.code == "brand_new"


def test_errors_are_also_their_natural_builtins():
    natural = {
        "invalid_argument": ValueError,
        "not_found": LookupError,
        "timeout": TimeoutError,
        "io": OSError,
        "command_not_found": FileNotFoundError,
        "not_executable": PermissionError,
        "bad_working_dir": NotADirectoryError,
    }
    for code, builtin in natural.items():
        assert isinstance(errors.from_code(code, "m"), builtin), code
    for code in ("command_not_found", "not_executable", "bad_working_dir"):
        assert isinstance(errors.from_code(code, "m"), boxlite.ExecutionError)
    exec_error = boxlite.ExecError("ls /x", 2, "no such file\n")
    assert (exec_error.command, exec_error.exit_code, exec_error.stderr) == ("ls /x", 2, "no such file\n")
    assert isinstance(exec_error, RuntimeError) and "exit code 2: no such file" in str(exec_error)
    assert isinstance(boxlite.ParseError("p"), ValueError)
    assert errors.ConfigError is boxlite.InvalidArgumentError


def test_exec_result_dataclass():
    from boxlite.exec import ExecResult

    result = ExecResult(0, "out", "err")
    assert (result.exit_code, result.stdout, result.stderr, result.error_message) == (
        0, "out", "err", None
    )
    assert ExecResult(1, "", "", "why") == ExecResult(1, "", "", error_message="why")


async def test_ports_take_upstream_tuples_and_dicts(rt):
    opts = boxlite.BoxOptions(
        image="oci:/a",
        network="enabled",
        ports=[(8080, 80), (None, 81, "tcp"), {"guest_port": 82, "host_ip": "0.0.0.0"}],
    )
    ports = (await rt.create(opts)).info().ports
    got = [(p.host_ip, p.host_port, p.guest_port, p.protocol) for p in ports]
    assert got == [("127.0.0.1", 8080, 80, "tcp"), ("127.0.0.1", None, 81, "tcp"),
                   ("0.0.0.0", None, 82, "tcp")]
    assert "guest_port=80" in repr(ports[0])
    for bad, says in [
        ("80", "expected a list"),
        ([80], "a (host_port, guest_port) tuple or a dict"),
        ([(1, 2, 3, 4)], "(host_port, guest_port[, protocol])"),
        ([{"guest": 80}], 'unknown key "guest"'),
        ([{"host_port": 80}], "no guest_port"),
        ([(None, 53, "udp")], "only tcp"),
    ]:
        opts.ports = bad
        with pytest.raises(boxlite.InvalidArgumentError, match="ports|tcp") as caught:
            await rt.create(opts)
        assert says in str(caught.value)
