"""The README's examples run and print what the README says they print."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from anomalert.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs() -> None:
    text = README.read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block is not None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.group(1), "README.md", "exec"), {})
    printed = out.getvalue().strip()
    promised = re.search(r"^# (True .*)$", block.group(1), re.M)
    assert promised is not None
    assert printed == promised.group(1)  # the README shows the real output


def test_readme_fleet_example_prints_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text()
    script = re.search(r"python - <<'PY'\n(.*?)PY\n", text, re.S)
    table = re.search(r"```\n(default: 3 series.*?)```", text, re.S)
    assert script is not None and table is not None
    monkeypatch.chdir(tmp_path)
    exec(compile(script.group(1), "README.md", "exec"), {})
    assert main(["detect", "fleet.csv"]) == 0
    printed = capsys.readouterr().out.splitlines()
    shown = table.group(1).strip().splitlines()
    assert printed[: len(shown) - 1] == shown[:-1]  # header and one row per series, exactly
    assert printed[len(shown) - 1].startswith(shown[-1].removesuffix("..."))  # totals (time varies)
