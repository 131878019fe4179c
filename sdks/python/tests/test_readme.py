"""The README's example runs as written (with its home pointed at a temp dir)."""

import re
import shutil
import tempfile
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    home = tempfile.mkdtemp(prefix="boxlite-readme-")
    try:
        exec(compile(code.replace("/tmp/boxlite-home", home), str(README), "exec"), {})
    finally:
        shutil.rmtree(home)
    out = capsys.readouterr().out.split()
    assert out[1:3] == ["configured", "configured"]
    assert out[4:6] == ["demo", "configured"]
