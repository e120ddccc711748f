"""``likelihood``: Numenta-style anomaly likelihood over a robust raw deviation score.

Raw scores of different series live on different scales (a CPU percentage, a byte counter that
is zero most of the time), so one threshold cannot fit them all. This detector turns a raw score
into how *unusual the recent raw scores are for this series*:

1. raw score per feature: ``log1p(|x - median| / scale)`` against a trailing ``window`` (robust
   scale = IQR / 1.349, falling back to the standard deviation, then to a floor);
2. the mean of the last ``short`` raw scores (the current one included) is compared with the
   distribution of the raw scores over the last ``history`` points (mean and standard
   deviation): ``z = (short_mean - mean) / std``;
3. the score is ``-log10`` of the Gaussian tail probability ``Q(z)``, capped at 12: a score of 5
   means "a run of deviations this large happens once in 100 000 points here". The current raw
   score alone is tested the same way (less ``log10(short)``, for its ``short`` chances), so
   one huge spike counts without waiting for the short mean.

The threshold is the same for every series (``_default_threshold``, a tail probability), so
``threshold="auto"`` needs no labels and no per-series calibration.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=800, freq="5min", tz="UTC")
>>> rng = np.random.default_rng(3)
>>> frame = pd.DataFrame({"cpu": 40 + rng.normal(0, 2, 800)}, index=idx)
>>> det = Likelihood().fit(frame)
>>> det.score_one(idx[-1] + pd.Timedelta("5min"), {"cpu": 90.0}) > det.threshold_
True
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, ClassVar

import numpy as np

from anomalert.detectors import _rolling
from anomalert.detectors._rolling import RollingLoop
from anomalert.detectors._stats import RollingStats, robust_scale_floor
from anomalert.detectors.base import Contribution, Interval, Options
from anomalert.features import FEATURE_SETS

_R: Any = _rolling  # (numba's dispatchers: mypy cannot see through them)

__all__ = ["Likelihood", "tail_score"]

_CAP = 12.0


def tail_score(z: float) -> float:
    """``-log10`` of the upper Gaussian tail probability of ``z``, capped at 12."""
    if math.isnan(z):
        return math.nan
    q = 0.5 * math.erfc(z / math.sqrt(2.0))
    return _CAP if q <= 10.0**-_CAP else min(_CAP, -math.log10(q))


class Likelihood(RollingLoop):
    """Tail probability of the recent raw deviations against this series' own history.

    Parameters
    ----------
    window
        Trailing window (points) of the baseline the raw deviation is measured against.
    history
        Trailing window (points) of raw scores whose distribution defines "usual".
    short
        Raw scores averaged into the short-term mean.
    min_periods
        Points needed before scores are produced.
    threshold
        ``"auto"`` (the fixed tail-probability threshold, no calibration) or a number.
    features
        Feature set (see :mod:`anomalert.features`).
    """

    name: ClassVar[str] = "likelihood"
    _default_threshold: ClassVar[float] = 3.0
    _record_width: ClassVar[int] = 3  # centers, scales, per-feature scores
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 2, None)],
        "history": [Interval(int, 2, None)],
        "short": [Interval(int, 1, None)],
        "min_periods": [Interval(int, 2, None)],
        "threshold": [Interval(float, 0, None, closed="neither"), Options(("auto",))],
        "features": [Options(FEATURE_SETS)],
    }

    def __init__(
        self,
        *,
        window: int = 1000,
        history: int = 2016,
        short: int = 5,
        min_periods: int = 30,
        threshold: float | str = "auto",
        features: str = "rates",
    ) -> None:
        self.window = window
        self.history = history
        self.short = short
        self.min_periods = min_periods
        self.threshold = threshold
        self.features = features

    def _check_params(self) -> None:
        if self.min_periods > min(self.window, self.history):
            from anomalert.errors import ParameterError

            raise ParameterError(
                f"The 'min_periods' parameter of Likelihood must be <= window and history "
                f"({min(self.window, self.history)}). Got {self.min_periods} instead."
            )

    def _reset(self, n_features: int) -> None:
        self.base_ = [RollingStats(self.window) for _ in range(n_features)]
        self.raw_ = [RollingStats(self.history) for _ in range(n_features)]
        self.recent_: list[deque[float]] = [deque(maxlen=self.short) for _ in range(n_features)]

    def _calibrate(self, train_scores: np.ndarray) -> float:
        return float(self._default_threshold)

    def baseline(self, j: int) -> tuple[float, float]:
        """(median, robust scale) of feature ``j``'s trailing window."""
        b = self.base_[j]
        center = b.median()
        scale = b.robust_scale()
        floor = max(robust_scale_floor(center), 1e-3 * abs(center))
        return center, max(scale, floor)

    def _raw(self, j: int, v: float) -> float:
        if math.isnan(v) or self.base_[j].count < self.min_periods:
            return math.nan
        center, scale = self.baseline(j)
        return math.log1p(abs(v - center) / scale)

    def _feature_scores(self, x: np.ndarray) -> np.ndarray:
        out = np.full(len(x), np.nan)
        for j, v in enumerate(x):
            r = self._raw(j, float(v))
            hist = self.raw_[j]
            if math.isnan(r) or hist.count < self.min_periods:
                continue
            recent = self.recent_[j]
            past = list(recent)[-(self.short - 1):] if self.short > 1 else []
            total = 0.0  # (a plain sum, in order: the compiled loop's; sum() may compensate)
            for p in past:
                total += p
            short_mean = (total + r) / (len(past) + 1)
            mean = hist.mean()
            sd = max(hist.std(), 1e-3 + 0.05 * abs(mean))
            # A sustained run (short mean) or one large point; the single point pays for the
            # ``short`` chances it has to be extreme on its own.
            single = tail_score((r - mean) / sd) - math.log10(self.short)
            out[j] = max(tail_score((short_mean - mean) / sd), single)
        return out

    def _score_point(self, t: int, x: np.ndarray) -> float:
        s = self._feature_scores(x)
        return float(np.nanmax(s)) if np.isfinite(s).any() else math.nan

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        for j, v in enumerate(x):
            r = self._raw(j, float(v))
            if not math.isnan(r):
                self.raw_[j].add(r)
                self.recent_[j].append(r)
            self.base_[j].add(float(v))

    # -- the compiled score-then-learn loop (see _rolling.RollingLoop) ------------------------
    def run(
        self, t: np.ndarray, X: np.ndarray, *, threshold: float, learn_flagged: bool,
        relearn_after: int, flag_run: int = 0, record: tuple[np.ndarray, ...] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`RollingLoop.run`; ``record`` receives every row's centers, scales and
        per-feature scores."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        n, m = X.shape
        base = _R.export_stats(self.base_, self.window, n)
        raw = _R.export_stats(self.raw_, self.history, n)
        recent = np.zeros((m, self.short))
        rcount = np.zeros(m, dtype=np.int64)
        for j, q in enumerate(self.recent_):
            last = list(q)[-self.short :]  # (all of it, unless ``short`` was lowered since)
            rcount[j] = len(last)
            recent[j, : len(last)] = last
        scores = np.full(n, np.nan)
        carry = np.array([flag_run], dtype=np.int64)
        B, SS, SH = record if record is not None else self.new_record(0, m)
        learned = _R.likelihood_run(
            *base, *raw, recent, rcount, int(self.window), int(self.history), int(self.short),
            int(self.min_periods), X, float(threshold), bool(learn_flagged),
            int(relearn_after), carry, scores, B, SS, SH,
        )
        _R.import_stats(self.base_, base, self.window, True)
        _R.import_stats(self.raw_, raw, self.history, False)
        for j in range(m):
            self.recent_[j] = deque(recent[j, : rcount[j]].tolist(), maxlen=self.short)
        self.n_seen_ += int(learned)
        return scores, scores

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        s = self._feature_scores(x)
        out = []
        for j, v in enumerate(x):
            if math.isnan(v) or self.base_[j].count < self.min_periods:
                continue
            center, scale = self.baseline(j)
            share = float(s[j]) if math.isfinite(s[j]) else None
            out.append(
                Contribution(self.features_[j], float(v), center, scale, (v - center) / scale, share)
            )
        return out
