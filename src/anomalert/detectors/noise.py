"""``noise``: page when a metric moves more from point to point than it has for a week.

The noise test of :class:`~anomalert.detectors.default.Default` (a variance change), alone.
Each feature's change from one point to the next is measured in units of its usual change
(the robust spread of every fourth of its last 1440 changes) and capped at 3 of them, so one
spike counts little. The mean over the last two hours is compared with the highest such
two-hour mean of the last week's hours (leaving out the last three, which the window
overlaps); once the window is the noisiest yet it scores the threshold times the ratio over
1.5, so it pages at 1.5x the week's noisiest two hours. A second window of four hours does
the same against the week's noisiest four hours, so bursts that come more often than they
used to show even when two hours hold one burst or none. Each window needs four points: a
series sampled every hour keeps only the long window, a coarser one is not tested. It waits
for a day of history and follows every point, flagged or not: a noisier regime becomes
history, and stops paging, once it is older than the window plus an hour.

It finds what no single value shows: a metric flapping inside a band it never leaves (a
retry storm, a struggling health check, a thrashing autoscaler). A spike or a level shift
alone is not noise. The explanation is in the metric's own units: "cpu is noisy: it moves
3.8 per point on average, 2.3x its 7-day high 1.63".

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=2 * 1440, freq="1min", tz="UTC")
>>> rng = np.random.default_rng(1)
>>> frame = pd.DataFrame({"cpu": 40 + rng.normal(0, 1, len(idx))}, index=idx)
>>> det = Noise().fit(frame)
>>> later = pd.date_range(idx[-1], periods=121, freq="1min", tz="UTC")[1:]
>>> flapping = pd.DataFrame({"cpu": 40 + 4 * (-1.0) ** np.arange(120)}, index=later)
>>> bool(det.score(flapping).iloc[-1] > det.threshold_)
True
"""

from __future__ import annotations

from typing import ClassVar

from anomalert.detectors.default import Default

__all__ = ["Noise"]


class Noise(Default):
    """``default``'s noise test alone: a window noisier than the week's noisiest pages.

    Parameters are :class:`~anomalert.detectors.default.Default`'s: they shape the baselines
    kept alongside (the routine-spike and flapping rules) and the calibrated threshold.
    """

    name: ClassVar[str] = "noise"
    finds: ClassVar[str] = "noise"
    _tests: ClassVar[tuple[str, ...]] = ("noise",)
