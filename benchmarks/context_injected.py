"""Metrics that stop moving together: does ``default`` see CPU that its traffic does not explain?

No labelled multi-metric data ships with this repository (the NAB files are one metric each),
so this generates a web host: a week of 1-minute ``requests`` (a daily cycle between about
400 and 1600 a minute, Poisson noise) and ``cpu`` that follows them (0.04 per request, plus
its own noise of sd ``0.8``; the traffic's noise alone moves it by about 1.2). Into it go
``--events`` runaway processes: CPU up by ``k`` x its own noise for 20 minutes while the
traffic goes on as usual, at random times after the two-day training window. ``k`` of 5 is
a rise of 4 on a metric whose minute-to-minute moves are about 1.4 and whose day spans 50:
no single value is unusual, only CPU *at that traffic*.

Each detector runs as ``detect`` runs it (trained on the first two days, then the
Monitor's default policy) on the series with and without the events. An event is found
when an incident starts inside it (or within five minutes of its end); false incidents are
those that overlap no event, per day after training. ``default`` runs with and without its
context test (``_context``), and ``context`` is the test alone.

Usage (about 5 seconds)::

    .venv/bin/python benchmarks/context_injected.py [--k 5 8 12] [--seeds 1 2 3 4 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np
import pandas as pd

from anomalert.detection import detect
from anomalert.detectors import Context, Default, Detector

_MIN = pd.Timedelta("1min")


class _NoContext(Default):
    """``default`` without its context test (the comparison row)."""

    name = "default-no-context"
    _context = False


def host(seed: int, days: int = 7) -> pd.DataFrame:
    """A week of 1-minute requests and the CPU that follows them."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    idx = pd.date_range("2025-02-03", periods=n, freq="1min", tz="UTC")
    minute = np.arange(n) % 1440
    rate = 1000 + 600 * np.sin(2 * np.pi * (minute - 480) / 1440)
    requests = rng.poisson(rate).astype(float)
    cpu = 5 + 0.04 * requests + rng.normal(0, 0.8, n)
    return pd.DataFrame({"requests": requests, "cpu": cpu}, index=idx)


def with_events(
    frame: pd.DataFrame, k: float, count: int, seed: int, train_days: int = 2,
) -> tuple[pd.DataFrame, list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """``count`` 20-minute CPU rises of ``k`` x 0.8, a day apart at most, after training."""
    rng = np.random.default_rng(seed + 1000)
    out = frame.copy()
    n, start0 = len(frame), train_days * 1440
    slots = np.sort(rng.choice(np.arange(start0 + 60, n - 60, 180), size=count, replace=False))
    events = []
    for s in slots:
        out.iloc[s:s + 20, out.columns.get_loc("cpu")] += k * 0.8
        events.append((frame.index[s], frame.index[s + 19]))
    return out, events


def _score(det: Detector, frame: pd.DataFrame, events: list[tuple[pd.Timestamp, pd.Timestamp]],
           train_until: pd.Timestamp) -> tuple[int, list[float], int]:
    incidents = [i for i in detect(det, frame, train_until=train_until).incidents
                 if i.start >= train_until]
    found, delays = 0, []
    for a, b in events:
        hits = [i.start for i in incidents if a <= i.start <= b + 5 * _MIN]
        if hits:
            found += 1
            delays.append((min(hits) - a) / _MIN)
    false = sum(1 for i in incidents
                if not any(i.start <= b + 5 * _MIN and i.end >= a for a, b in events))
    return found, delays, false


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=float, nargs="+", default=[5.0, 8.0, 12.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--events", type=int, default=10)
    args = ap.parse_args(argv)
    detectors: list[tuple[str, type[Detector]]] = [
        ("default", Default), ("default without the context test", _NoContext),
        ("context", Context),
    ]
    print("| detector | CPU rise (x its own noise) | events found | median delay (min) "
          "| false incidents per day, with events / plain |\n|---|---|---|---|---|")
    for label, cls in detectors:
        plain_false, days = 0, 0.0
        for seed in args.seeds:
            frame = host(seed)
            train_until = frame.index[2 * 1440]
            plain_false += _score(cls(), frame, [], train_until)[2]
            days += (frame.index[-1] - train_until) / pd.Timedelta("1D")
        for k in args.k:
            found, delays, false = 0, [], 0
            for seed in args.seeds:
                frame = host(seed)
                train_until = frame.index[2 * 1440]
                events_frame, events = with_events(frame, k, args.events, seed)
                f, d, x = _score(cls(), events_frame, events, train_until)
                found, false = found + f, false + x
                delays += d
            total = args.events * len(args.seeds)
            median = f"{statistics.median(delays):.0f}" if delays else "-"
            print(f"| {label} | {k:g} | {found}/{total} | {median} | "
                  f"{false / days:.2f} / {plain_false / days:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
