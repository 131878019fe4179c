"""Fixtures of the Python-layer tests: a private home per test, and the fixture images."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import boxlite
import pytest


@pytest.fixture
def home() -> Iterator[str]:
    """A private boxlite home. Afterwards every box still in it is force-removed (a failing
    test must not leave boxes running), then the directory."""
    path = tempfile.mkdtemp(prefix="boxlite-py-")
    yield path
    try:
        with boxlite.SyncBoxlite(boxlite.Options(home_dir=path)) as rt:
            for info in rt.list_info():
                rt.remove(info.id, force=True)
    finally:
        shutil.rmtree(path)


@pytest.fixture
def rt(home: str) -> boxlite.Boxlite:
    return boxlite.Boxlite(boxlite.Options(home_dir=home))


def _image(variable: str, how: str) -> str:
    image = os.environ.get(variable)
    if not image:
        pytest.fail(f"${variable} is not set: {how}")
    return image


@pytest.fixture
def run_image() -> str:
    """The busybox fixture image (scripts/fixtures.sh)."""
    return _image("BOXLITE_TEST_IMAGE", 'run `eval "$(bash scripts/fixtures.sh)"` first')


@pytest.fixture
def python_image() -> str:
    """The Debian image with python3 and pip (scripts/make-python-image.sh)."""
    return _image(
        "BOXLITE_PYTHON_IMAGE",
        "build it with scripts/make-python-image.sh and export its oci: reference",
    )
