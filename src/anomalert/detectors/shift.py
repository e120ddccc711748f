"""``shift``: page when a metric's last two hours sit beyond every two hours of its week.

The shift test of :class:`~anomalert.detectors.default.Default` (a sustained level shift),
alone. Each feature's mean over the last two hours (ten-minute parts, every point, flagged or
not, each counting at most the threshold's worth of scales from its baseline) is compared with the means of the same window over the last week: hourly buckets keep
their high, low, count, mean and spread, leaving out the last three hours (whose windows
overlap the current one). Once two days of them exist, a mean beyond the week's highest or
lowest by more than one scale scores 0.8x the threshold plus its distance beyond, in
scales, less one (the range test's rule), so it pages about 2.2 scales past the edge. The
scale is the larger of the robust spread of the buckets' means and half the standard
deviation of every mean: a series whose two-hour means hardly move has a narrow one.

It sees what no single point shows: a level that moved by a fraction of the metric's noise,
but stayed there for an hour or two (a saturated link that stopped growing, a warm room, an
extra replica's load). A spike's mean is the spike's: a value counts at most the threshold's
worth of scales towards it, and the test keeps quiet for two hours after another test paged. Like the other tests, a shift is news once (a learned score covers
later ones up to twice itself for a day), and a new level becomes history, and stops paging,
once it is older than the window plus an hour. A window needs four points: an hourly series
gets a four-hour window, a coarser one is not tested. The explanation names the window's
mean and the edge it passed. In the example below, a metric with noise 2 moves up by 1.5 of
it; 50 minutes later: "cpu has shifted: its mean 41.03 is 2.6σ above the 7-day high of its
2-hour means 40.54 (±0.193)".

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=3 * 1440, freq="1min", tz="UTC")
>>> rng = np.random.default_rng(1)
>>> frame = pd.DataFrame({"cpu": 40 + rng.normal(0, 2, len(idx))}, index=idx)
>>> det = Shift().fit(frame)
>>> later = pd.date_range(idx[-1], periods=121, freq="1min", tz="UTC")[1:]
>>> plateau = pd.DataFrame({"cpu": 43 + rng.normal(0, 2, 120)}, index=later)
>>> scores = det.score(plateau)
>>> paged = scores[scores > det.threshold_]
>>> bool(len(paged)), bool(paged.index[0] - later[0] < pd.Timedelta("1h"))
(True, True)
"""

from __future__ import annotations

from typing import ClassVar

from anomalert.detectors.default import Default

__all__ = ["Shift"]


class Shift(Default):
    """``default``'s shift test alone: a two-hour mean beyond the week's two-hour means pages.

    Parameters are :class:`~anomalert.detectors.default.Default`'s: they shape the baselines
    kept alongside (the flapping rule, the "seen before" memory) and the calibrated
    threshold.
    """

    name: ClassVar[str] = "shift"
    finds: ClassVar[str] = "shift"
    _tests: ClassVar[tuple[str, ...]] = ("shift",)
