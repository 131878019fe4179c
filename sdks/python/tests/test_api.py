"""Python-layer behaviour beyond the shared spec."""

from __future__ import annotations

import asyncio
import shutil
import tempfile

import boxlite
import pytest


@pytest.fixture
def home():
    path = tempfile.mkdtemp(prefix="boxlite-py-")
    yield path
    shutil.rmtree(path)


async def test_default_uses_boxlite_home(home, monkeypatch):
    monkeypatch.setenv("BOXLITE_HOME", home)
    rt = boxlite.Boxlite.default()
    assert rt.home_dir == home
    box = await rt.create(boxlite.BoxOptions("alpine"), "via-env")
    # A runtime opened on the explicit path sees the same record.
    other = boxlite.Boxlite(boxlite.Options(home_dir=home))
    assert (await other.get_info("via-env")).id == box.id


async def test_get_or_create_returns_the_existing_box(home):
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    first, created = await rt.get_or_create(boxlite.BoxOptions("alpine"), "shared")
    again, created_again = await rt.get_or_create(boxlite.BoxOptions("busybox"), "shared")
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert (await again.info()).image == "alpine"


async def test_concurrent_creates_from_one_loop(home):
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    boxes = await asyncio.gather(*(rt.create(boxlite.BoxOptions("alpine")) for _ in range(20)))
    listed = {i.id for i in await rt.list_info()}
    assert listed == {b.id for b in boxes}


async def test_invalid_options_name_the_field(home):
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    with pytest.raises(boxlite.InvalidArgumentError, match="memory_mib"):
        await rt.create(boxlite.BoxOptions("alpine", memory_mib=1))
    with pytest.raises(boxlite.InvalidArgumentError, match="working_dir"):
        await rt.create(boxlite.BoxOptions("alpine", working_dir="relative"))
    assert await rt.list_info() == []


async def test_prefix_lookup(home):
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    box = await rt.create(boxlite.BoxOptions("alpine"))
    found = await rt.get(box.id[:6])
    assert found is not None and found.id == box.id


def test_every_error_class_round_trips_its_code():
    for code in boxlite.error_codes():
        err = boxlite.errors.from_code(code, "m")
        assert err.code == code
        assert type(err) is boxlite.errors.ERROR_CLASSES[code]
    unknown = boxlite.errors.from_code("brand_new", "m")
    assert type(unknown) is boxlite.BoxliteError and unknown.code == "brand_new"
    assert issubclass(boxlite.TimeoutError, TimeoutError)
