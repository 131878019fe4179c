"""Fixtures of the Python-layer tests: a private home per test, and the fixture images."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boxlite
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bindings-tests" / "python"))

from home_fixture import home  # noqa: E402,F401  (a fixture: pytest finds it here)


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
