"""``sustained``: page when a metric stays off its usual level, moderately but for a while.

The sustained test of :class:`~anomalert.detectors.default.Default`, alone. Each feature's
deviations from its seasonal baseline at the level of its last 1440 points (a day at
1-minute steps: a level that moved an hour ago has hardly joined it) are averaged,
exponentially in time with a time constant of 30 minutes, each counting at most 3 scales.
The average's usual spread is the root of its long-run mean square over the last two days
(of points nothing flagged; an average past two usual spreads counts as two, so a lasting
deviation does not widen its own yardstick much), and never less than an average of
independent deviations would have (0.13 at 1-minute steps, 0.29 at 5-minute steps). Once a
day has been followed, an average more than 9 of those spreads from zero scores the
threshold plus the excess, when the point's own deviation (the smaller of the seasonal and
the recent level's, as the other tests see it) is a scale or more that way: a lasting
change the recent level has taken in is no longer news, nor is the first ordinary point
after it. At steps of a minute or less a second average, over 10 minutes, pages the same
way past 6 of its own spreads (the larger of the two scores counts): half the traffic for
ten minutes is ten points at 2.8 scales each, which the half-hour average dilutes below
its bar. The test keeps quiet for an hour after another test paged (its average still
holds that incident), and like the others a score is news once: one as large learned in
the last day, or half as large that paged, covers it.

It sees what no single point shows, on a metric whose daily curve hides a level change
from the shift test: traffic 30 % under its usual for this time of day, for half an hour,
on a series whose noise is 10 % of its level -- each point two or three of its scales off,
none of them a spike. ``default``'s recent level follows such a change within the hour, so
the test pages within its first half hour or not at all ("requests has stayed below its
baseline: 1017 on average over about the last 30 minutes, 10.7σ below its usual 1241 for
the time (±21)"). At 5-minute steps half an hour holds six points: only a larger or
longer deviation pages there.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=6 * 1440, freq="1min", tz="UTC")
>>> day = 1000 * (1 + 0.5 * np.sin(2 * np.pi * (np.arange(len(idx)) % 1440) / 1440))
>>> v = day + np.random.default_rng(1).normal(0, 100, len(idx))
>>> v[5 * 1440 + 600 : 5 * 1440 + 630] *= 0.7  # 30 % under for half an hour, at 10:00
>>> frame = pd.DataFrame({"requests": v}, index=idx)
>>> det = Sustained().fit(frame.iloc[: 2 * 1440])
>>> scores = det.score(frame.iloc[2 * 1440 :])
>>> paged = scores[scores > det.threshold_]
>>> [str(t) for t in paged.index]  # 6 minutes in, on the 10-minute average (then news once)
['2025-01-06 10:06:00+00:00']
"""

from __future__ import annotations

from typing import ClassVar

from anomalert.detectors.default import Default

__all__ = ["Sustained"]


class Sustained(Default):
    """``default``'s sustained test alone: a half-hour average of the seasonal deviations far
    beyond its usual spread pages.

    Parameters are :class:`~anomalert.detectors.default.Default`'s: they shape the baselines
    kept alongside (the flapping rule, the "seen before" memory) and the calibrated
    threshold.
    """

    name: ClassVar[str] = "sustained"
    finds: ClassVar[str] = "sustained"
    _tests: ClassVar[tuple[str, ...]] = ("sustained",)
