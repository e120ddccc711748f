"""Lasting, moderate deviations from a daily curve: which ``default`` finds, with and without
its sustained test.

A synthetic traffic metric at 1-minute steps: requests around 1000 with a daily curve of
+-500 and Gaussian noise of 100 (10 % of the level), nine days, trained on the first two.
Five events, each a factor on the curve for a while (a sag to 0.7 for 30 minutes, a rise to
1.3 for an hour, 0.6 for 15 minutes, 0.8 for two hours, 0.5 for 10 minutes), on days 5-9 at
different times of day: every point of them is two or three scales off, none is a spike,
and the daily curve moves the 2-hour means more than any of them (the shift test's
yardstick). An event counts as found when an incident overlaps it (or starts within 10
minutes of its end); every other incident is false. The same series without events shows
what the noise alone pages.

Usage (about 2 minutes)::

    .venv/bin/python benchmarks/sustained_injected.py [--seeds 1 2 3 4 5]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from _injected import found_and_false

from anomalert.detection import detect
from anomalert.detectors import Default

_DAY = 1440
#: name -> (start minute, minutes, factor)
EVENTS = {
    "x0.7 for 30 min": (5 * _DAY + 600, 30, 0.7),
    "x1.3 for 60 min": (6 * _DAY + 300, 60, 1.3),
    "x0.6 for 15 min": (7 * _DAY + 900, 15, 0.6),
    "x0.8 for 2 h": (8 * _DAY + 200, 120, 0.8),
    "x0.5 for 10 min": (9 * _DAY + 1200, 10, 0.5),
}


def series(seed: int, events: bool = True) -> pd.DataFrame:
    """Ten days of the traffic metric (``events``: with the five events)."""
    n = 10 * _DAY
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2025-01-06", periods=n, freq="1min", tz="UTC")
    curve = 1000 * (1 + 0.5 * np.sin(2 * np.pi * (np.arange(n) % _DAY) / _DAY))
    v = curve + rng.normal(0, 100, n)
    if events:
        for a, length, factor in EVENTS.values():
            v[a : a + length] = curve[a : a + length] * factor + rng.normal(0, 100, length)
    return pd.DataFrame({"requests": v}, index=idx)


def run(det: Default, frame: pd.DataFrame) -> tuple[list[str], int]:
    """(events found, false incidents) of ``detect`` trained on the first two days."""
    d = detect(det, frame, train_until=frame.index[2 * _DAY])
    return found_and_false(d, frame.index, EVENTS)

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = ap.parse_args()
    variants = {
        "default": Default,
        "default without the sustained test": type("NoSustained", (Default,),
                                                   {"_sustained_seconds": 0}),
    }
    print("| detector | seed | events found | missed | false incidents | incidents on noise alone |")
    print("|---|---|---|---|---|---|")
    totals = {}
    for label, cls in variants.items():
        found_all, false_all, noise_all = 0, 0, 0
        for seed in args.seeds:
            found, false = run(cls(), series(seed))
            _, noise = run(cls(), series(seed, events=False))
            missed = [k for k in EVENTS if k not in found]
            print(f"| {label} | {seed} | {len(found)}/{len(EVENTS)} | {', '.join(missed) or '-'} "
                  f"| {false} | {noise} |")
            found_all, false_all, noise_all = found_all + len(found), false_all + false, noise_all + noise
        totals[label] = (found_all, false_all, noise_all)
    print()
    for label, (found, false, noise) in totals.items():
        print(f"{label}: {found} of {len(EVENTS) * len(args.seeds)} events, {false} false "
              f"incidents, {noise} incidents on the noise alone")


if __name__ == "__main__":
    main()
