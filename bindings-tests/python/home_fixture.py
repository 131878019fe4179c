"""The `home` fixture both Python suites use (this one and sdks/python/tests)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture
def home() -> Iterator[str]:
    """A private boxlite home per test. Afterwards every box still in it is force-removed
    (a failing test must not leave boxes running), then the directory."""
    path = tempfile.mkdtemp(prefix="boxlite-py-")
    yield path
    try:
        import boxlite

        with boxlite.SyncBoxlite(boxlite.Options(home_dir=path)) as rt:
            for info in rt.list_info():
                rt.remove(info.id, force=True)
    finally:
        shutil.rmtree(path)
