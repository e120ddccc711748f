"""``range``: page only when a metric leaves everything it did over the last week.

The range test of :class:`~anomalert.detectors.default.Default`, alone. Each feature keeps
the high and the low of its learned values in hourly buckets over the last week; once a day
of buckets exists, a value beyond the week's high or low by more than one scale scores 0.8x
the threshold plus its distance beyond, in scales, less one, so it pages about 2.2 scales
past the edge (the scale is the one ``default`` measures deviations in, and the threshold is
calibrated the same way). Like ``default``, an excess is news once (a learned excess that paged
covers later ones up to twice its score for a day), a routine nightly spike stops paging from its third
night, and a series that flaps learns what it flags.

It is the quietest piece: a daily peak, a dip inside the week's range or a level shift that
stays inside it never pages. Use it for "tell me about new records only", or to see what
``default``'s other tests add (``anomalert nab --detector range``).

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=3 * 1440, freq="1min", tz="UTC")
>>> rng = np.random.default_rng(1)
>>> frame = pd.DataFrame({"cpu": 40 + rng.normal(0, 2, len(idx))}, index=idx)
>>> det = Range().fit(frame)
>>> after = idx[-1] + pd.Timedelta("1min")
>>> det.score_one(after, {"cpu": 41.0}), det.explain_one(after, {"cpu": 80.0}).top.reference
(0.0, 'its 7-day high')
"""

from __future__ import annotations

from typing import ClassVar

from anomalert.detectors.default import Default

__all__ = ["Range"]


class Range(Default):
    """``default``'s range test alone: a value beyond the last week's high or low pages.

    Parameters are :class:`~anomalert.detectors.default.Default`'s: they shape the baselines
    whose scale measures the distance beyond the range, and the calibrated threshold.
    """

    name: ClassVar[str] = "range"
    _tests: ClassVar[tuple[str, ...]] = ("range",)
