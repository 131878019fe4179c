"""CodeBox on the Debian python3 image (scripts/make-python-image.sh)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import zipfile

import boxlite
import pytest


def wheel(name: str, version: str, module_source: str) -> bytes:
    """A minimal pure-Python wheel: the box has no network, so pip installs from a file."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": module_source.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: boxlite-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{dist}/RECORD"] = ("\n".join(record) + f"\n{dist}/RECORD,,\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return buf.getvalue()


# Unpacking the python image takes seconds and every test has its own home, so one test
# covers CodeBox and SyncCodeBox on one unpacked image.
def test_codebox_and_sync_codebox(home, python_image, tmp_path):
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    script = tmp_path / "script.py"
    script.write_text("import platform\nprint(platform.system())\n")
    data = base64.b64encode(wheel("demo_pkg", "1.0", "VALUE = 'installed'\n")).decode()
    path = "/root/demo_pkg-1.0-py3-none-any.whl"

    async def async_codebox() -> None:
        async with boxlite.CodeBox(image=python_image, runtime=rt) as box:
            assert await box.run("import sys; print(sys.version_info[0], 6 * 7)") == "3 42\n"
            assert await box.run_script(script) == "Linux\n"
            with pytest.raises(boxlite.ExecError) as caught:
                await box.run("import sys; sys.stderr.write('boom'); sys.exit(3)")
            err = caught.value
            assert (err.exit_code, err.stderr) == (3, "boom")
            assert isinstance(err, RuntimeError) and "boom" in str(err)
            # The box has no network: pip installs a wheel written into the box.
            await box.run(f"import base64; open({path!r}, 'wb').write(base64.b64decode({data!r}))")
            output = await box.install_package(path)
            assert "Successfully installed demo-pkg-1.0" in output
            assert await box.run("import demo_pkg; print(demo_pkg.VALUE)") == "installed\n"
            with pytest.raises(boxlite.ExecError) as missing:
                await box.install_packages("/root/missing-1.0-py3-none-any.whl")
            assert missing.value.exit_code != 0

    asyncio.run(async_codebox())
    with boxlite.SyncCodeBox(image=python_image, runtime=rt) as box:
        assert box.run("print('sync', 1 + 1)") == "sync 2\n"
        assert box.run_script(script) == "Linux\n"
        with pytest.raises(boxlite.ExecError):
            box.install_package("/root/missing-1.0-py3-none-any.whl")
        box_id = box.id
    assert boxlite.SyncBoxlite(boxlite.Options(home_dir=home)).get_info(box_id) is None


def test_rootfs_path_replaces_the_default_image(python_image):
    layout = python_image.removeprefix("oci:").rsplit(":", 1)[0]
    box = boxlite.CodeBox(rootfs_path=layout)
    assert box._options.image is None and box._options.rootfs_path == layout
