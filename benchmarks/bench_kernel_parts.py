"""Where `default`'s time per point goes: the whole detector against itself with one test
off, and with every test off (the seasonal baseline and its windows alone).

Each variant is `Default` with its `_tests` narrowed (the pieces `range`, `noise`, ... are the
same kernel with one test on), fitted on a day and scoring a week of `bench_fleet`'s series
(daily cycle, noise, one spike), best of `--repeat` runs in this process. Ratios compare with
the whole detector measured in the same run. What it answers: how far turning tests off
could take issue 6's 2,000,000 points/s/core (0.5 us a point).

Run::

    .venv/bin/python benchmarks/bench_kernel_parts.py [--series 8] [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_fleet  # noqa: E402

from anomalert.detectors.default import TESTS, Default  # noqa: E402

__all__ = ["results"]


def _variant(tests: tuple[str, ...]) -> type[Default]:
    return type("Default", (Default,), {"_tests": tests})


def _us_per_point(cls: type[Default], frames: list[Any], repeat: int) -> float:
    cls().fit(frames[0].iloc[:1440]).score(frames[0])  # compile / load, warm caches
    best = float("inf")
    points = sum(len(f) for f in frames)
    for _ in range(repeat):
        start = time.perf_counter()
        for f in frames:
            cls().fit(f.iloc[:1440]).score(f.iloc[1440:])
        best = min(best, time.perf_counter() - start)
    return best / points * 1e6


def results(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=8)
    p.add_argument("--points", type=int, default=10_080)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args(argv)
    frames = [bench_fleet.make_series(i, args.points) for i in range(args.series)]
    whole = _us_per_point(_variant(TESTS), frames, args.repeat)
    rows: list[dict[str, Any]] = [{
        "measure": f"default, every test ({args.series} x {args.points}): us a point",
        "value": f"{whole:.3f}", "ratio": 1.0, "vs": "default"}]
    for test in TESTS:
        us = _us_per_point(_variant(tuple(t for t in TESTS if t != test)), frames, args.repeat)
        rows.append({"measure": f"  without the {test} test: us a point", "value": f"{us:.3f}",
                     "ratio": us / whole, "vs": "default"})
    core = _us_per_point(_variant(()), frames, args.repeat)
    rows.append({"measure": "  every test off (seasonal baseline and windows): us a point",
                 "value": f"{core:.3f}", "ratio": core / whole, "vs": "default"})
    rows.append({"measure": "  every test off: points/s/core against the 2,000,000 target",
                 "value": f"{1e6 / core:,.0f}", "ratio": 1e6 / core / 2e6, "vs": "target"})
    for r in rows:
        print(f"{r['measure']:70} {r['value']:>10}  {r['ratio']:.3f}x {r['vs']}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    results(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
