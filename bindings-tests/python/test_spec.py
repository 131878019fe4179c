"""The shared behaviour spec, through the Python binding. Test names are the scenario ids."""

from __future__ import annotations

import subprocess

import boxlite
import pytest
from spec import load

SPEC = load()
IMPLEMENTED: dict[str, object] = {}


def scenario(fn):
    """Registers a test under its scenario id and hands it the scenario's parameters."""
    sid = fn.__name__.removeprefix("test_")
    IMPLEMENTED[sid] = fn
    return fn


def params(sid: str) -> dict[str, str]:
    return SPEC.scenarios[sid]


def test_every_listed_scenario_is_implemented():
    assert sorted(IMPLEMENTED) == sorted(SPEC.scenarios)


@scenario
async def test_create_is_configured(home):
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
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
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    with pytest.raises(boxlite.BoxliteError) as caught:
        await rt.create(boxlite.BoxOptions(SPEC.image), p["name"])
    assert caught.value.code == p["code"]
    assert isinstance(caught.value, ValueError)
    assert p["name"] in str(caught.value)
    assert await rt.list_info() == []


@scenario
async def test_duplicate_name_is_already_exists(home):
    p = params("duplicate_name_is_already_exists")
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    await rt.create(boxlite.BoxOptions(SPEC.image), p["name"])
    with pytest.raises(boxlite.AlreadyExistsError) as caught:
        await rt.create(boxlite.BoxOptions(SPEC.image), p["name"])
    assert caught.value.code == p["code"]
    assert len(await rt.list_info()) == 1


@scenario
async def test_remove_then_get_is_none(home):
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    box = await rt.create(boxlite.BoxOptions(SPEC.image))
    await rt.remove(box.id)
    assert await rt.get(box.id) is None
    assert await rt.get_info(box.id) is None
    with pytest.raises(boxlite.NotFoundError):
        await box.info()


@scenario
async def test_missing_box_is_not_found(home):
    p = params("missing_box_is_not_found")
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    with pytest.raises(boxlite.BoxliteError) as caught:
        await rt.remove(p["key"])
    assert caught.value.code == p["code"]
    assert isinstance(caught.value, LookupError)
    assert p["key"] in str(caught.value)


@scenario
async def test_list_is_newest_first(home):
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    first = await rt.create(boxlite.BoxOptions(SPEC.image))
    second = await rt.create(boxlite.BoxOptions(SPEC.image))
    assert [i.id for i in await rt.list_info()] == [second.id, first.id]


@scenario
async def test_failed_record_is_visible(home, testkit):
    reason = params("failed_record_is_visible")["reason"]
    rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
    box = await rt.create(boxlite.BoxOptions(SPEC.image))
    # Another process writes the failure; this one reads it back from the database.
    subprocess.run([testkit, "mark-failed", home, box.id, reason], check=True)
    info = await boxlite.Boxlite(boxlite.Options(home_dir=home)).get_info(box.id)
    assert info is not None
    assert (info.status, info.error_reason) == ("failed", reason)
    assert (info.state.status, info.state.error_reason) == ("failed", reason)
    # The handle created before the write agrees with the database.
    assert (await box.info()).status == "failed"
