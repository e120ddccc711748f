"""``drift``: a level that keeps moving the same way, day after day (a leak, a filling disk).

The drift test of :class:`~anomalert.detectors.default.Default`, alone. A slow drift hides
from the other tests: each point is a hair above the last, so no point deviates from the
recent level, and the week's high moves up with it. What gives it away is that the hours of
today sit above the same hours of yesterday, and those above the day before, by much more
than days usually differ.

Each feature keeps hourly means over the last 7 days, following every point, flagged or not
(they must follow a drift to measure it). At a point in hour ``h``, each of the last 48
complete hours is compared with the same hour a day earlier: 48 day-over-day changes. Their
yardstick is the robust spread of the day-over-day changes of the older hours kept (at least
a day of them), so a series whose days differ a lot needs a larger drift. The drift is the
quarter-quantile of the changes in yardsticks, taken in the direction most of them point
(three in four hours must agree: one noisy hour does not hide a drift); the test pages beyond
3 of them. A daily cycle cancels out (the same hour is compared); a level shift does not
qualify (the hours before it changed nothing from the day before; a day later, the day before
changed nothing); nor does a weekend (Saturday is below Friday, but Sunday is not below
Saturday). It needs four days of history, finds a drift after about two days of it, and its
figures change once an hour. An hourly mean needs four points: a series sampled less often
than every 15 minutes is not tested (on hourly weather-driven data, two cool days in a row
paged as drifts).

On the 17 NAB files it never pages; on those files with a drift added (``benchmarks/
drift_injected.py``) it finds most drifts of three usual day-over-day changes a day.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=7 * 288, freq="5min", tz="UTC")
>>> rng = np.random.default_rng(1)
>>> leak = np.clip(np.arange(len(idx)) - 4 * 288, 0, None) * 0.05  # +14.4 a day from day 5
>>> frame = pd.DataFrame({"mem": 40 + rng.normal(0, 1, len(idx)) + leak}, index=idx)
>>> det = Drift().fit(frame.iloc[:4 * 288])
>>> scores = det.score(frame.iloc[4 * 288:])
>>> bool(scores.iloc[:288].max() < det.threshold_ < scores.iloc[-1])
True
>>> top = det.fit(frame).explain_one(idx[-1], {"mem": 76.0}).top
>>> print(top.text())  # doctest: +NORMALIZE_WHITESPACE
mem is drifting up: day over day, 3 in 4 hours moved more than 31.9x its usual change
0.442, from its level 2 days before 46.63 (mem=76 now)
"""

from __future__ import annotations

from typing import ClassVar

from anomalert.detectors.default import Default

__all__ = ["Drift"]


class Drift(Default):
    """``default``'s drift test alone: hours that moved one way, day after day, page.

    Parameters are :class:`~anomalert.detectors.default.Default`'s; the drift test itself
    has none (its score is the threshold times the drift over 3 yardsticks).
    """

    name: ClassVar[str] = "drift"
    finds: ClassVar[str] = "drift"
    _tests: ClassVar[tuple[str, ...]] = ("drift",)
