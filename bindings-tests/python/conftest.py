import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from home_fixture import home  # noqa: E402,F401  (a fixture: pytest finds it here)
from spec import REPO_ROOT, load  # noqa: E402

SPEC = load()
RESULTS = REPO_ROOT / "target" / "spec-results" / "python.tsv"
# Scenario id -> False as soon as any phase (setup, call, teardown) of its test did not pass.
_outcomes: dict[str, bool] = {}


@pytest.fixture
def run_image() -> str:
    """The image of the scenarios that run boxes; unset is a failure, never a skip."""
    name = SPEC.run_image_env
    image = os.environ.get(name)
    if not image:
        pytest.fail(f"${name} is not set: run `eval \"$(bash scripts/fixtures.sh)\"` first")
    return image


@pytest.fixture
def testkit() -> str:
    default = REPO_ROOT / "target/x86_64-unknown-linux-gnu/debug/boxlite-testkit"
    path = os.environ.get("BOXLITE_TESTKIT", str(default))
    assert os.access(path, os.X_OK), f"testkit not built: {path}"
    return path


def _scenario_of(item_name: str) -> str | None:
    sid = item_name.removeprefix("test_")
    return sid if sid in SPEC.scenarios else None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    sid = _scenario_of(report.nodeid.rsplit("::", 1)[-1])
    if sid is None:
        return
    passed = report.passed or (report.when != "call" and report.outcome == "passed")
    _outcomes[sid] = _outcomes.get(sid, True) and passed


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Only a run of this suite reports; a run of other test files leaves the results alone.
    if not _outcomes:
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{sid}\t{'pass' if _outcomes.get(sid) else 'fail'}" for sid in SPEC.scenarios]
    RESULTS.write_text("\n".join(lines) + "\n")
