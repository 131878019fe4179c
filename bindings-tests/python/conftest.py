import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def home():
    """A private boxlite home per test, removed afterwards."""
    path = tempfile.mkdtemp(prefix="boxlite-py-")
    yield path
    shutil.rmtree(path)


@pytest.fixture
def testkit() -> str:
    from spec import REPO_ROOT

    default = REPO_ROOT / "target/x86_64-unknown-linux-gnu/debug/boxlite-testkit"
    path = os.environ.get("BOXLITE_TESTKIT", str(default))
    assert os.access(path, os.X_OK), f"testkit not built: {path}"
    return path
