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

from anomalert.detectors._stats import RollingStats, robust_scale_floor
from anomalert.detectors.base import Contribution, Detector, Interval, Options
from anomalert.features import FEATURE_SETS

__all__ = ["ZScore"]


class ZScore(Detector):
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
