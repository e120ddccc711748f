"""Run every benchmark in ``benchmarks/``, print one table, write ``benchmarks/results.md``.

A benchmark is a script here that defines ``results(argv) -> list[dict]`` (rows with
``measure``, ``value``, ``ratio``, ``vs``) or ``main()``. Each runs in its own process. For
``main()``-only scripts the table takes every printed line that carries a ratio (``1.5x``);
the full output of every script goes to ``results.md``. A script that fails is reported and
the run goes on. Nothing is judged on time.

Run::

    .venv/bin/python benchmarks/run.py            # full sizes (make bench)
    .venv/bin/python benchmarks/run.py --quick    # small sizes, a few minutes
    .venv/bin/python benchmarks/run.py --only bench_fleet --quick
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["main"]

HERE = Path(__file__).resolve().parent
FIRST = ("bench_latency", "bench_iforest", "bench_accesslog", "bench_fleet", "bench_detectors")
#: Small sizes for ``--quick`` (scripts not listed run with their defaults).
QUICK: dict[str, list[str]] = {
    "bench_latency": ["--points", "500"],
    "bench_iforest": ["--rows", "100000", "--calls", "2000"],
    "bench_accesslog": ["--lines", "200000"],
    "bench_fleet": ["--series", "8"],
    "bench_detectors": ["--series", "2", "--repeat", "1"],
    "nab_quality": ["--detectors", "default", "--no-scenarios"],
    "bench_kernel_parts": ["--series", "4", "--repeat", "2"],
}
MARK = "@@results@@ "
NUMBER = re.compile(r"[-+]?[\d,.]+[x%]?")
RATIO = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)x\b")


@dataclass
class Outcome:
    name: str
    argv: list[str]
    seconds: float
    code: int
    output: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def discover() -> list[str]:
    """Scripts in benchmarks/ defining ``main`` or ``results`` (known ones first)."""
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.name in ("run.py", "__init__.py"):
            continue
        tree = ast.parse(path.read_text())
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        if names & {"main", "results"}:
            found.append(path.stem)
    return sorted(found, key=lambda s: (FIRST.index(s) if s in FIRST else len(FIRST), s))


def _child(name: str, argv: list[str]) -> int:
    """Inside the benchmark's own process: run it, print its rows after MARK."""
    path = HERE / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.argv = [str(path), *argv]
    spec.loader.exec_module(module)
    if hasattr(module, "results"):
        rows = module.results(argv)
        print(MARK + json.dumps(rows, default=str), flush=True)
        return 0
    takes_argv = bool(inspect.signature(module.main).parameters)
    code = module.main(argv) if takes_argv else module.main()  # else it reads sys.argv
    return int(code or 0)


def _ratio_rows(output: str) -> list[dict[str, Any]]:
    """Table rows from printed lines that carry a ratio, under their column headers."""
    rows: list[dict[str, Any]] = []
    header: list[str] | None = None
    shown: list[str] | None = None
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if RATIO.search(line):
            if header is not None and header is not shown:
                rows.append({"measure": f"({header[0]})", "value": " / ".join(header[1:]),
                             "ratio": None, "vs": ""})
                shown = header
            measure, value = (cells[0], " / ".join(cells[1:])) if len(cells) > 1 else (
                line.strip(), "")
            rows.append({"measure": measure, "value": value, "ratio": None, "vs": ""})
        elif len(cells) >= 3 and not any(NUMBER.fullmatch(c) for c in cells):
            header = cells
    return rows


def run(name: str, argv: list[str], timeout: float) -> Outcome:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--", *argv]
    start = time.perf_counter()
    print(f"== {name} {' '.join(argv)}", flush=True)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=HERE.parent)
        code, output = done.returncode, done.stdout + (done.stderr if done.returncode else "")
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        code, output = -1, out + f"\n(timed out after {timeout:.0f} s)"
    outcome = Outcome(name, argv, time.perf_counter() - start, code, output)
    marked = [ln for ln in output.splitlines() if ln.startswith(MARK)]
    outcome.rows = json.loads(marked[-1][len(MARK):]) if marked else _ratio_rows(output)
    outcome.output = "\n".join(ln for ln in output.splitlines() if not ln.startswith(MARK))
    print(outcome.output, flush=True)
    return outcome


def _table(outcomes: list[Outcome]) -> list[str]:
    lines = ["| benchmark | measure | value | ratio | vs |", "|---|---|---|---|---|"]
    for o in outcomes:
        if o.code != 0:
            lines.append(f"| {o.name} | FAILED (exit {o.code}); see below | | | |")
            continue
        if not o.rows:
            lines.append(f"| {o.name} | (no ratio lines; output below) | | | |")
        for r in o.rows:
            ratio = f"{r['ratio']:.3g}x" if isinstance(r.get("ratio"), int | float) else ""
            measure = str(r.get("measure", "")).replace("|", "/")
            lines.append(f"| {o.name} | {measure} | {r.get('value', '')} | {ratio} | "
                         f"{r.get('vs', '')} |")
    return lines


def _machine() -> str:
    import numpy
    import pandas

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} CPU(s); Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, pandas {pandas.__version__}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; returns 1 if any failed, else 0."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        rest = argv[3:] if argv[2:3] == ["--"] else argv[2:]
        return _child(argv[1], rest)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (see QUICK)")
    p.add_argument("--only", nargs="*", help="run only these benchmarks (script stems)")
    p.add_argument("--skip", nargs="*", default=[], help="benchmarks to leave out")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per benchmark (default 900 quick, 14400 full)")
    p.add_argument("--output", type=Path, default=HERE / "results.md")
    args = p.parse_args(argv)
    names = [n for n in discover() if (not args.only or n in args.only) and n not in args.skip]
    timeout = args.timeout or (900.0 if args.quick else 14400.0)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    outcomes = [run(n, QUICK.get(n, []) if args.quick else [], timeout) for n in names]
    table = _table(outcomes)
    print()
    print("\n".join(table))
    command = "benchmarks/run.py" + (" --quick" if args.quick else "")
    md = [
        "# Benchmark results",
        "",
        f"`{command}` on {started}; {_machine()}. Every figure is from the same run; ratios "
        "compare with the peer named in the last column (or printed on the line).",
        "",
        *table,
        "",
    ]
    for o in outcomes:
        md += [f"## {o.name}", "", f"`{o.name}.py {' '.join(o.argv)}`: {o.seconds:.0f} s, "
               f"exit {o.code}", "", "```", o.output.rstrip(), "```", ""]
    args.output.write_text("\n".join(md))
    print(f"\nwrote {args.output}")
    return 1 if any(o.code != 0 for o in outcomes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
