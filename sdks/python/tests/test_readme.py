"""Every Python block of the README runs as written (its home and image pointed at the test's)
and prints exactly the text block that follows it."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```\s*```text\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 3
    assert len(BLOCKS) == README.read_text().count("```python")


@pytest.mark.parametrize("code,expected", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_prints_what_it_says(code, expected, home, run_image):
    assert "/tmp/boxlite-home" in code and "oci:/tmp/busybox:latest" in code
    code = code.replace("/tmp/boxlite-home", home).replace("oci:/tmp/busybox:latest", run_image)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    assert out.getvalue() == expected
