"""Every detector through the ``anomalert detect`` path: points/s/core on the same series.

What a fleet costs with each detector: :func:`anomalert.fleet.detect_many` (validation, fit on
the first 10 %, the detector's score-and-learn path, the alert policy, incidents, summaries)
over ``--series`` seeded series of a week at 1-minute steps (``bench_fleet``'s: daily cycle,
noise, one spike), one process, one core, after one short series has loaded the compiled
code. Each rate is the best of ``--repeat`` runs, as a ratio against ``default`` measured in
the same run and against issue 6's 2,000,000 points/s/core. What each detector finds, and
how well, is in ``benchmarks/quality.md``: this table is the other half of that trade.

Run::

    .venv/bin/python benchmarks/bench_detectors.py [--series 8] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_fleet  # noqa: E402

from anomalert.detectors import available  # noqa: E402
from anomalert.fleet import detect_many  # noqa: E402

__all__ = ["results"]

TARGET = 2_000_000


def _rate(name: str, frames: list[Any], repeat: int) -> tuple[float, int] | str:
    """Best points/s of ``repeat`` runs and the incidents of the last; or why the detector
    cannot score these series."""
    detect_many(((f"w{i}", f.iloc[:2000]) for i, f in enumerate(frames[:1])), name)
    points = sum(len(f) for f in frames)
    best, incidents = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        out = detect_many(((f"s{i}", f) for i, f in enumerate(frames)), name, chunk_size=16)
        best = min(best, time.perf_counter() - start)
        if out.totals["ok"] != len(frames):
            return str(out.table()["message"].iloc[0])
        incidents = int(out.totals["incidents"])
    return points / best, incidents


def results(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=8)
    p.add_argument("--points", type=int, default=10_080)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    frames = [bench_fleet.make_series(i, args.points) for i in range(args.series)]
    measured = {n: _rate(n, frames, args.repeat) for n in available()}
    for n, why in measured.items():  # (presets made for a tutorial's own columns)
        if isinstance(why, str):
            print(f"{n}: not run on these series ({why})", flush=True)
    rates = {n: r for n, r in measured.items() if not isinstance(r, str)}
    base = rates["default"][0]
    rows: list[dict[str, Any]] = []
    for n in sorted(rates, key=lambda n: -rates[n][0]):
        rate, incidents = rates[n]
        rows.append({"measure": f"{n} ({args.series} x {args.points}; {incidents} incidents): "
                                "points/s/core", "value": f"{rate:,.0f}", "ratio": rate / base,
                     "vs": "default"})
        rows.append({"measure": f"  {n} against the 2,000,000 target", "value": "",
                     "ratio": rate / TARGET, "vs": "target"})
    for r in rows:
        ratio = f"{r['ratio']:.3g}x"
        print(f"{r['measure']:64} {r['value']:>12}  {ratio:>8} {r['vs']}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    results(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
