"""Slow drifts injected into the real NAB series: which detector finds them, and when.

The NAB files hold no labelled drift, so this adds one to each real series: from its
seventh day on, a linear climb of ``rate`` x the spread of the series' hourly means over its
first six days, per day, to the file's end (about a week). Each detector runs as ``detect``
runs it (trained on NAB's probationary 15%, then the Monitor's default policy), on the
series with and without the drift. A drift counts as found when the drifted run opens an
incident after the drift starts that the plain run did not open within an hour of it; the
delay is from the drift's start. False incidents are what the drift test alone opens on the
plain series after training (every detector's own incidents are in ``nab_incidents.py``).

Usage (about 2 minutes)::

    .venv/bin/python benchmarks/drift_injected.py [--rates 0.5 1 2] [--detectors default range drift]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from anomalert.detection import detect
from anomalert.evaluation.nab import probationary_length
from anomalert.sources.nab import iter_nab_files, load_windows

_DAY = pd.Timedelta("1D")


def _drifted(frame: pd.DataFrame, rate: float) -> tuple[pd.DataFrame, pd.Timestamp]:
    start = frame.index[0] + 6 * _DAY
    hourly = frame["value"][frame.index < start].resample("1h").mean()
    per_day = rate * float(np.nanstd(hourly.to_numpy()))
    days = np.clip((frame.index - start) / _DAY, 0, None)
    out = frame.copy()
    out["value"] = frame["value"].to_numpy() + per_day * np.asarray(days, float)
    return out, start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).parents[1] / ".." / "shared" / "data" / "nab"))
    ap.add_argument("--rates", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    ap.add_argument("--detectors", nargs="+", default=["default", "range", "drift"])
    args = ap.parse_args(argv)
    root = Path(args.data)
    files = list(iter_nab_files(root, load_windows(root / "windows.json")))
    print("| detector | drift per day (x the hourly means' spread) | found | median delay (h) "
          "| incidents on the plain series per file-day |\n|---|---|---|---|---|")
    for name in args.detectors:
        plain: dict[str, list[pd.Timestamp]] = {}
        n_plain, plain_days = 0, 0.0
        for nf in files:
            frame = nf.frame[~nf.frame.index.duplicated()][["value"]]
            train = frame.index[probationary_length(len(frame))]
            got = [i.start for i in detect(name, frame, train_until=train).incidents
                   if i.start >= train]
            plain[nf.relpath] = got
            n_plain += len(got)
            plain_days += (frame.index[-1] - train) / _DAY
        for rate in args.rates:
            found, delays = 0, []
            for nf in files:
                frame = nf.frame[~nf.frame.index.duplicated()][["value"]]
                train = frame.index[probationary_length(len(frame))]
                drifted, start = _drifted(frame, rate)
                for inc in detect(name, drifted, train_until=train).incidents:
                    if inc.start < start:
                        continue
                    if any(abs(inc.start - p) <= pd.Timedelta("1h") for p in plain[nf.relpath]):
                        continue
                    found += 1
                    delays.append((inc.start - start) / pd.Timedelta("1h"))
                    break
            median = f"{statistics.median(delays):.0f}" if delays else "-"
            print(f"| {name} | {rate:g} | {found}/{len(files)} | {median} | "
                  f"{n_plain / plain_days:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
