"""A latency with multiplicative noise: what ``default`` pages when it scores the values and
when it scores their log (``transform``), with and without a daily curve.

A request latency (ms) around 120 at 1-minute steps for ten days, trained on the first two:
lognormal noise (sigma 0.35 or 0.5), optionally times a daily curve (+-50 %). Five events:
one request 10x slower (day 5), 3x slower for 20 minutes (day 6), 0.3x for 30 minutes
(day 7), 1.5x for three hours (day 8), 2x for 10 minutes (day 9). An event counts as found
when an incident overlaps it (or starts within 10 minutes of its end); every other incident
is false. ``transform="auto"`` (the default) chooses the log on these series; ``"none"``
scores the values.

Usage (a few seconds)::

    .venv/bin/python benchmarks/latency_injected.py [--seeds 1 2 3]
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
    "x10 for a point": (5 * _DAY + 300, 1, 10.0),
    "x3 for 20 min": (6 * _DAY + 600, 20, 3.0),
    "x0.3 for 30 min": (7 * _DAY + 900, 30, 0.3),
    "x1.5 for 3 h": (8 * _DAY + 200, 180, 1.5),
    "x2 for 10 min": (9 * _DAY + 700, 10, 2.0),
}
#: (noise sigma, daily curve amplitude)
CASES = ((0.35, 0.0), (0.5, 0.0), (0.35, 0.5))


def series(seed: int, sigma: float, curve: float) -> pd.DataFrame:
    n = 10 * _DAY
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2025-01-06", periods=n, freq="1min", tz="UTC")
    day = 1 + curve * np.sin(2 * np.pi * (np.arange(n) % _DAY) / _DAY)
    v = 120 * day * rng.lognormal(0, sigma, n)
    for a, length, factor in EVENTS.values():
        v[a : a + length] *= factor
    return pd.DataFrame({"latency_ms": v}, index=idx)


def run(det: Default, frame: pd.DataFrame) -> tuple[list[str], int, bool]:
    """(events found, false incidents, whether the log was chosen)."""
    d = detect(det, frame, train_until=frame.index[2 * _DAY])
    found, false = found_and_false(d, frame.index, EVENTS)
    return found, false, getattr(d.detector, "log_", None) is not None

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = ap.parse_args()
    print("| noise sigma | daily curve | transform | seed | log chosen | events found | missed | "
          "false incidents |")
    print("|---|---|---|---|---|---|---|---|")
    totals: dict[tuple[float, float, str], list[int]] = {}
    for sigma, curve in CASES:
        for transform in ("auto", "none"):
            tot = totals.setdefault((sigma, curve, transform), [0, 0])
            for seed in args.seeds:
                found, false, logged = run(Default(transform=transform), series(seed, sigma, curve))
                missed = [k for k in EVENTS if k not in found]
                print(f"| {sigma} | {curve:+.0%} | {transform} | {seed} | {'yes' if logged else 'no'} "
                      f"| {len(found)}/{len(EVENTS)} | {', '.join(missed) or '-'} | {false} |")
                tot[0] += len(found)
                tot[1] += false
    print()
    for (sigma, curve, transform), (found, false) in totals.items():
        print(f"sigma {sigma}, curve {curve:+.0%}, transform={transform}: "
              f"{found} of {len(EVENTS) * len(args.seeds)} events, {false} false incidents")


if __name__ == "__main__":
    main()
