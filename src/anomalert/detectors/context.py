"""``context``: page when metrics that move together stop doing so (multi-metric context).

The context test of :class:`~anomalert.detectors.default.Default`, alone. On a host, CPU
follows the request rate; on a database, latency follows the queries. A runaway process
lifts CPU by an amount no larger than a busy hour would, so CPU alone looks ordinary; what
is not ordinary is CPU that high *at this request rate*.

Each feature's deviation (in its own scales, exactly as ``default`` measures it: the smaller
of its deviations from the seasonal baseline and from the recent level) is clipped at 3
scales and folded into exponentially averaged second moments over about a day of learned
points, once the seasonal shape exists (before it, deviations still hold the daily cycle).
Their correlations, times 0.97 (no feature is taken to be wholly predictable from the
others), say how the features usually move together. A point's score is
the Mahalanobis distance of its deviations under those correlations, turned into the ``|z|``
of one Gaussian deviation as unlikely (a chi-square with one degree of freedom per feature),
so the one calibrated threshold applies. Features that move together as they usually do
score little; uncorrelated features at their baselines leave a lone feature's own ``|z|``;
two features each a little unusual at once add up.

The explanation names the feature furthest from what the others imply, with that value as
its baseline: "cpu=56.72 is 8.9σ above what requests=98.83 implies 49.54 (±0.807)".
It needs two features or more (a single metric scores 0) and 120 learned points after the
seasonal shape; a point with a feature missing is not scored. Like the other tests, a score is news once ("seen before"
memory of a day) and a routine spike's context is not news.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=3 * 1440, freq="1min", tz="UTC")
>>> rng = np.random.default_rng(3)
>>> requests = 100 + 30 * np.sin(np.arange(len(idx)) * 2 * np.pi / 1440) + rng.normal(0, 5, len(idx))
>>> cpu = 10 + 0.4 * requests + rng.normal(0, 0.5, len(idx))
>>> frame = pd.DataFrame({"requests": requests, "cpu": cpu}, index=idx)
>>> det = Context().fit(frame.iloc[:-1])
>>> point = {"requests": requests[-1], "cpu": cpu[-1] + 8.0}  # CPU up, requests as usual
>>> bool(det.score_one(idx[-1], point) > det.threshold_)
True
>>> print(det.explain_one(idx[-1], point).top.text())
cpu=56.72 is 8.9σ above what requests=98.83 implies 49.54 (±0.807)
"""

from __future__ import annotations

from typing import ClassVar

from anomalert.detectors.default import Default

__all__ = ["Context"]


class Context(Default):
    """``default``'s context test alone: features that break their usual relation page.

    Parameters are :class:`~anomalert.detectors.default.Default`'s: they shape the baselines
    whose deviations the test correlates, and the calibrated threshold.
    """

    name: ClassVar[str] = "context"
    finds: ClassVar[str] = "context"
    _tests: ClassVar[tuple[str, ...]] = ("context",)
