"""Z-score detectors: global, trailing-window and robust (median / IQR).

The simplest detector that works on a stationary series, and the building block of the
others. Each feature gets ``|x - center| / scale`` against what the detector has learned;
the point's score is the largest of them, so the explanation names that feature.

Examples
--------
>>> import pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=200, freq="1min", tz="UTC")
>>> values = [10.0 + (i % 7) * 0.5 for i in range(200)]
>>> frame = pd.DataFrame({"cpu": values}, index=idx)
>>> det = ZScore(window=60, robust=True).fit(frame)
>>> det.score_one(idx[-1] + pd.Timedelta("1min"), {"cpu": 40.0}) > det.threshold_
True
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from anomalert.detectors import _rolling
from anomalert.detectors._rolling import RollingLoop
from anomalert.detectors._stats import _IQR_TO_SIGMA, _VAR_EPS, RollingStats, robust_scale_floor
from anomalert.detectors.base import Contribution, Interval, Options
from anomalert.features import FEATURE_SETS

_Z: Any = _rolling  # (numba's dispatchers: mypy cannot see through them)

__all__ = ["ZScore"]


class ZScore(RollingLoop):
    """Per-feature z-score against a global or trailing baseline.

    Parameters
    ----------
    window
        Trailing window length in points; ``None`` uses all history (global z-score).
    robust
        Median and inter-quartile range instead of mean and standard deviation, so a few
        outliers in the baseline do not hide the next one.
    min_periods
        Points needed before scores are produced (NaN before).
    threshold
        ``"auto"`` calibrates on the training window; a number fixes it.
    features
        Feature set (see :mod:`anomalert.features`).
    """

    name: ClassVar[str] = "zscore"
    _default_threshold: ClassVar[float] = 5.0
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 2, None), None],
        "robust": [bool],
        "min_periods": [Interval(int, 2, None)],
        "threshold": [Interval(float, 0, None, closed="neither"), Options(("auto",))],
        "features": [Options(FEATURE_SETS)],
    }

    def __init__(
        self,
        *,
        window: int | None = None,
        robust: bool = False,
        min_periods: int = 30,
        threshold: float | str = "auto",
        features: str = "rates",
    ) -> None:
        self.window = window
        self.robust = robust
        self.min_periods = min_periods
        self.threshold = threshold
        self.features = features

    def _check_params(self) -> None:
        if self.window is not None and self.min_periods > self.window:
            from anomalert.errors import ParameterError

            raise ParameterError(
                f"The 'min_periods' parameter of ZScore must be <= window ({self.window}). "
                f"Got {self.min_periods} instead."
            )

    def _reset(self, n_features: int) -> None:
        self.stats_ = [RollingStats(self.window) for _ in range(n_features)]

    def baseline(self, j: int) -> tuple[float, float]:
        """(center, scale) of feature ``j`` from what has been learned."""
        s = self.stats_[j]
        if self.robust:
            return s.median(), s.robust_scale()
        center = s.mean()
        sd = s.std()
        return center, max(sd if sd > 0 else 0.0, robust_scale_floor(center))

    def _score_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Vectorised batch path: the same numbers as streaming, without a Python loop per point.

        Each feature's non-NaN values, prefixed by what the detector already holds, go
        through pandas' rolling (or expanding) order statistics and sums; a point's baseline
        is the statistic of the values *before* it, exactly as ``score_one`` sees them.
        """
        z = np.full(X.shape, np.nan)
        for j in range(X.shape[1]):
            v = X[:, j]
            ok = ~np.isnan(v)
            if not ok.any():
                continue
            held = self.stats_[j]
            past = np.fromiter(held._ring if self.window is not None else held._sorted, float)
            seq = pd.Series(np.concatenate([past, v[ok]]))
            roll = seq.rolling(self.window, min_periods=1) if self.window else seq.expanding()
            prev = roll.count().shift(1).fillna(0).to_numpy()[len(past):]
            if self.robust:
                q1 = roll.quantile(0.25).shift(1).to_numpy()[len(past):]
                q3 = roll.quantile(0.75).shift(1).to_numpy()[len(past):]
                center = roll.median().shift(1).to_numpy()[len(past):]
                scale = (q3 - q1) * _IQR_TO_SIGMA
            else:
                center = roll.mean().shift(1).to_numpy()[len(past):]
                scale = np.zeros(len(center))
            total = roll.sum().shift(1).to_numpy()[len(past):]
            totsq = (seq * seq).rolling(self.window, min_periods=1).sum() if self.window else (
                (seq * seq).expanding().sum()
            )
            sq = totsq.shift(1).to_numpy()[len(past):]
            with np.errstate(invalid="ignore", divide="ignore"):
                var = (sq - total * (total / prev)) / (prev - 1)
                center = center if self.robust else total / prev
                mean = total / prev
                big = (prev >= 2) & (var > _VAR_EPS * (mean * mean + 1.0))
                sd = np.where(big, np.sqrt(np.where(big, var, 0.0)), 0.0)
            scale = np.where(scale > 0, scale, sd)
            scale = np.maximum(scale, 1e-9 + 1e-6 * np.abs(center))
            zj = np.abs(v[ok] - center) / scale
            zj[prev < self.min_periods] = np.nan
            z[ok, j] = zj
        out = np.full(len(X), np.nan)
        has = ~np.isnan(z).all(axis=1)
        out[has] = np.nanmax(z[has], axis=1)
        return out

    # -- the compiled score-then-learn loop (see _rolling.RollingLoop) ------------------------
    def run(
        self, t: np.ndarray, X: np.ndarray, *, threshold: float, learn_flagged: bool,
        relearn_after: int, flag_run: int = 0, record: tuple[np.ndarray, ...] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`RollingLoop.run`; ``record`` receives every row's centers and scales."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        n = len(X)
        arrays = _Z.export_stats(self.stats_, self.window, n)
        scores = np.full(n, np.nan)
        carry = np.array([flag_run], dtype=np.int64)
        B, SS = record if record is not None else self.new_record(0, X.shape[1])
        learned = _Z.zscore_run(*arrays, 0 if self.window is None else int(self.window),
                             bool(self.robust), int(self.min_periods), X, float(threshold),
                             bool(learn_flagged), int(relearn_after), carry, scores, B, SS)
        _Z.import_stats(self.stats_, arrays, self.window, bool(self.robust))
        self.n_seen_ += int(learned)
        return scores, scores

    def _score_point(self, t: int, x: np.ndarray) -> float:
        best = math.nan
        for j, v in enumerate(x):
            if math.isnan(v) or self.stats_[j].count < self.min_periods:
                continue
            center, scale = self.baseline(j)
            z = abs(v - center) / scale
            if not z <= best:
                best = z
        return best

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        for j, v in enumerate(x):
            self.stats_[j].add(float(v))

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        out = []
        for j, v in enumerate(x):
            if math.isnan(v) or self.stats_[j].count < self.min_periods:
                continue
            center, scale = self.baseline(j)
            out.append(Contribution(self.features_[j], float(v), center, scale, (v - center) / scale))
        return out
