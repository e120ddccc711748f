"""The README's Python example runs and does what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path


def test_readme_example_runs() -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), "README.md", "exec"), {})
    printed = out.getvalue().strip()
    assert printed.startswith("True 1 cpu=97 is ") and "above baseline" in printed
