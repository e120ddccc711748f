"""``flat``: page when a metric stops moving: a day far narrower than any day of its week.

The flat test of :class:`~anomalert.detectors.default.Default`, alone. Each feature keeps the
high, low and count of its values in hourly buckets (every point, flagged or not). The range
(high - low) of the last 26 hours (a day and two hours: a daily job that runs a little later
than the day before is still in it) is compared with the narrowest 24-hour range of the week
before it (one window ending at each hour, leaving out those that overlap the current one;
at least 48 of them, so the test starts after about three days). When the current range is
more than 5 times narrower, it scores the threshold times how many times narrower, over 5
(a range of nothing counts as 100 times). A series whose narrowest day was already a range of
nothing is not tested: constant is its normal.

It finds what the other tests cannot, because nothing happens: a batch job that stopped
running, a host whose traffic died, a metric stuck at one value. It is news once a day like
the others, and the flat day becomes history, and stops paging, a day later. A day needs
points in it (half of those its step should give): gaps are not flatness.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=7 * 288, freq="5min", tz="UTC")
>>> v = 5 + np.random.default_rng(1).normal(0, 0.5, len(idx))
>>> v[np.arange(len(idx)) % 36 < 3] += 30  # a job every three hours
>>> v[5 * 288:] = 5 + np.random.default_rng(2).normal(0, 0.5, 2 * 288)  # it stops
>>> frame = pd.DataFrame({"jobs": v}, index=idx)
>>> det = Flat().fit(frame.iloc[: 4 * 288])
>>> scores = det.score(frame.iloc[4 * 288 :])
>>> first = scores[scores > det.threshold_].index[0]
>>> last_job = idx[5 * 288 - 36 + 2]
>>> str(first - last_job)  # a day and two hours after the last job ran
'1 days 01:50:00'
"""

from __future__ import annotations

from typing import ClassVar

from anomalert.detectors.default import Default

__all__ = ["Flat"]


class Flat(Default):
    """``default``'s flat test alone: a day more than 5x narrower than the week's narrowest.

    Parameters are :class:`~anomalert.detectors.default.Default`'s: they shape the baselines
    kept alongside (the flapping rule, the "seen before" memory) and the calibrated
    threshold.
    """

    name: ClassVar[str] = "flat"
    finds: ClassVar[str] = "flat"
    _tests: ClassVar[tuple[str, ...]] = ("flat",)
