"""``default``: the detector we recommend. Multi-metric, no labels, label-free threshold.

Every feature is compared with two baselines at once: its seasonal baseline (what it does
at this time of day or week, see :class:`~anomalert.detectors.seasonal.Seasonal`) and its
recent level: the median of its last ``window`` learned values measured from the seasonal
shape (so the recent level follows the day's curve instead of freezing where it was an hour
ago), or of the raw values before a full cycle is known. Its spread is the larger of the
window's robust spread and that of the last day's deviations from the recent level (one
window's spread is a noisy estimate). A feature is only as anomalous as the *smaller* of the
two deviations: a daily peak is expected by the seasonal baseline, a level that has held for
the last hour is expected by the recent one, and a real spike or drop surprises both. The
point's score is the largest feature score, so the explanation names the metric that moved,
its baseline and the size of the move. Load-balancer frames are scored on error *rates* (see
:mod:`anomalert.features`).

A deviation is news only once: each feature keeps the sizes ``|z|`` of its last ``memory``
learned deviations, and a point whose deviation is no larger than one already learned scores
0 for that feature (a learned deviation that was over the threshold also covers repeats up to
15% larger). A spike that recurs every few hours, or the second hour of a level shift the
detector already learned from, does not page again; under the Monitor's protection (flagged
points are not learned) an ongoing incident keeps scoring, because its deviations never enter
the memory.

Guard: a feature's recent level, and the seasonal model's level, learn a value only where
the seasonal baseline finds it ordinary (seasonal ``|z|`` below 5), unless the feature has
been unusual for 60 learned points in a row (then it is the new normal). The sub-threshold
minutes of a level shift do not become the level, so they neither hide the rest of the shift
nor make its end page.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=600, freq="1min", tz="UTC")
>>> rng = np.random.default_rng(1)
>>> frame = pd.DataFrame({"cpu": 40 + rng.normal(0, 2, 600)}, index=idx)
>>> det = Default().fit(frame)
>>> exp = det.explain_one(idx[-1] + pd.Timedelta("1min"), {"cpu": 90.0})
>>> exp.score > det.threshold_, exp.top.metric
(True, 'cpu')
"""

from __future__ import annotations

import bisect
import math
from typing import Any, ClassVar

import numpy as np

from anomalert.detectors._stats import RollingStats
from anomalert.detectors.base import Contribution, Detector, Interval, Options, calibrate_threshold
from anomalert.detectors.seasonal import Seasonal
from anomalert.detectors.zscore import ZScore
from anomalert.features import FEATURE_SETS

__all__ = ["Default"]


class Default(Detector):
    """Seasonal and recent-level robust z-scores, the smaller deviation per feature.

    Parameters
    ----------
    period
        Seasonal period: ``"auto"``, ``"day"``, ``"week"``, ``"none"`` or seconds.
    history
        Cycles the seasonal baseline remembers.
    window
        Trailing window (points) of the recent-level baseline.
    memory
        Learned deviations (points) remembered by the "seen before" test; 0 turns it off.
    min_periods
        Points needed before scores are produced.
    threshold
        ``"auto"`` (calibrated on the training window without labels) or a number.
    features
        Feature set (see :mod:`anomalert.features`).
    """

    name: ClassVar[str] = "default"
    _default_threshold: ClassVar[float] = 6.0
    #: Lowest calibrated threshold (the "seen before" test already removes repeats).
    _threshold_floor: ClassVar[float] = 6.0
    #: Seasonal |z| from which a point is kept out of the recent-level baseline.
    _trail_guard: ClassVar[float] = 5.0
    #: Consecutive guarded points after which a feature's level learns again (a new normal).
    _guard_escape: ClassVar[int] = 60
    #: How much larger than a learned over-threshold deviation a repeat must be to be news.
    _repeat_margin: ClassVar[float] = 1.15
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "period": [Options(("auto", "day", "week", "none")), Interval(int, 60, None)],
        "history": [Interval(int, 1, None)],
        "window": [Interval(int, 2, None)],
        "memory": [Interval(int, 0, None)],
        "min_periods": [Interval(int, 2, None)],
        "threshold": [Interval(float, 0, None, closed="neither"), Options(("auto",))],
        "features": [Options(FEATURE_SETS)],
    }

    def __init__(
        self,
        *,
        period: str | int = "auto",
        history: int = 7,
        window: int = 60,
        memory: int = 2016,
        min_periods: int = 30,
        threshold: float | str = "auto",
        features: str = "rates",
    ) -> None:
        self.period = period
        self.history = history
        self.window = window
        self.memory = memory
        self.min_periods = min_periods
        self.threshold = threshold
        self.features = features

    def _check_params(self) -> None:
        if self.min_periods > self.window:
            from anomalert.errors import ParameterError

            raise ParameterError(
                f"The 'min_periods' parameter of Default must be <= window ({self.window}). "
                f"Got {self.min_periods} instead."
            )

    def _reset(self, n_features: int) -> None:
        self.seasonal_ = Seasonal(
            period=self.period, history=self.history, window=1440,
            min_periods=self.min_periods, features="raw",
        )
        self.trailing_ = ZScore(
            window=self.window, robust=True, min_periods=self.min_periods, features="raw"
        )
        self.seasonal_._start(self.features_)
        self.trailing_._start(self.features_)
        # The recent level in the seasonal shape's frame: values minus the day's shape.
        self.trail_res_ = [RollingStats(self.window) for _ in range(n_features)]
        # Deviations from the recent level over a day: a steadier spread than one window's.
        self.trail_dev_ = [RollingStats(1440) for _ in range(n_features)]
        self.seen_ = [RollingStats(self.memory or 1) for _ in range(n_features)]
        self.train_z_: list[float] = []
        self.guarded_ = np.zeros(n_features, dtype=np.int64)

    def _fit_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        self.seasonal_.prepare(t, X)
        self.train_z_ = []
        return super()._fit_frame(t, X)

    def _observe_training(self, t: int, x: np.ndarray) -> None:
        z = np.abs(self.feature_z(t, x)[0])
        self.train_z_.append(float(np.nanmax(z)) if np.isfinite(z).any() else math.nan)

    def _calibrate(self, train_scores: np.ndarray) -> float:
        # On the raw deviations: the "seen before" zeros must not pull the quantile down.
        raw = np.asarray(self.train_z_, dtype=float)
        return calibrate_threshold(raw, floor=self._threshold_floor)

    def recent_baseline(self, t: int, j: int, shape: np.ndarray | None) -> tuple[float, float]:
        """(center, scale) of feature ``j``'s recent level; NaN while it warms up."""
        res = self.trail_res_[j]
        if shape is not None and res.count >= self.min_periods:
            center, scale = shape[j] + res.median(), res.robust_scale()
        elif self.trailing_.stats_[j].count >= self.min_periods:
            center, scale = self.trailing_.baseline(j)
        else:
            return math.nan, math.nan
        dev = self.trail_dev_[j]
        if dev.count >= self.min_periods:
            scale = max(scale, dev.robust_scale())
        return center, scale

    def feature_z(self, t: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Signed z, baseline and scale per feature: the less surprised of the two models."""
        zs, bs, ss = self.seasonal_.feature_z(t, x)
        m = len(x)
        z, b, s = zs.copy(), bs.copy(), ss.copy()
        shape = self.seasonal_.seasonal_baseline(t)
        for j in range(m):
            v = x[j]
            if math.isnan(v):
                continue
            center, scale = self.recent_baseline(t, j, shape)
            if math.isnan(center):
                continue
            zt = (v - center) / scale
            if not abs(zt) >= abs(z[j]):  # also taken when the seasonal z is NaN
                z[j], b[j], s[j] = zt, center, scale
        return z, b, s

    def _seen(self, j: int, size: float) -> bool:
        """True when a learned deviation of feature ``j`` was at least ``size``.

        A learned deviation that was itself over the threshold (a paged anomaly the
        detector was allowed to learn) also covers ones up to ``_repeat_margin`` times its
        size: the same spike recurring a little larger is not news.
        """
        if not self.memory:
            return False
        cutoff = min(size, max(self.threshold_, size / self._repeat_margin))
        ordered = self.seen_[j]._sorted
        return len(ordered) - bisect.bisect_left(ordered, cutoff) >= 1

    def _score_point(self, t: int, x: np.ndarray) -> float:
        z = np.abs(self.feature_z(t, x)[0])
        if not np.isfinite(z).any():
            return math.nan
        best = 0.0
        for j in range(len(x)):
            if math.isfinite(z[j]) and z[j] > best and not self._seen(j, float(z[j])):
                best = float(z[j])
        return best

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        if self.memory:
            z = self.feature_z(t, x)[0]
            for j in range(len(x)):
                if math.isfinite(z[j]):
                    self.seen_[j].add(abs(float(z[j])))
        zs = self.seasonal_.feature_z(t, x)[0]
        shape = self.seasonal_.seasonal_baseline(t)
        ordinary = ~(np.abs(zs) >= self._trail_guard)  # NaN counts as ordinary
        self.guarded_ = np.where(ordinary, 0, self.guarded_ + 1)
        ordinary |= self.guarded_ > self._guard_escape
        self.seasonal_.learn_masked(t, x, ordinary)
        self.seasonal_.n_seen_ += 1
        # The recent-level baseline learns a feature only where the seasonal baseline finds
        # it ordinary: the sub-threshold minutes of a level shift must not become the recent
        # level (and hide the rest of the shift, then flag the return to normal).
        for j in range(len(x)):
            # (before a seasonal shape exists the seasonal z is itself a trailing one: no guard)
            if shape is None or ordinary[j]:
                center = self.recent_baseline(t, j, shape)[0]
                if not math.isnan(center) and not math.isnan(x[j]):
                    self.trail_dev_[j].add(float(x[j] - center))
                self.trailing_.stats_[j].add(float(x[j]))
                if shape is not None:
                    self.trail_res_[j].add(float(x[j] - shape[j]))
        self.trailing_.n_seen_ += 1

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        z, b, s = self.feature_z(t, x)
        return [
            Contribution(self.features_[j], float(x[j]), float(b[j]), float(s[j]), float(z[j]))
            for j in range(len(x))
            if math.isfinite(z[j])
        ]
