"""Seasonal baseline: what this metric usually does at this time of day (or week).

For every slot of the period (minute-of-day at the series' step, or minute-of-week) the
detector keeps the values of the last ``history`` cycles *in time* (a cycle that was not learned,
say during an incident, still ages the older ones out). The seasonal shape at a new point is
the median of its slot and ``smooth`` neighbouring slots over those cycles. The residual
``x - shape`` still carries today's level (a quiet Sunday, a busier week), so the baseline is
the shape plus the median residual of the last ``level_window`` points, and the spread is the
robust spread of recent ``residual - level`` deviations. The same residual is also compared
with the level of the last ``window`` points, and the smaller of the two deviations counts: a
level that drifted in over the last hour (and was learned) cannot hold an alarm up forever once
the series is back where it has been all day. Until a full cycle has been seen it
falls back to a trailing-window robust z-score, so it copes with less than a day of history.

``period="auto"`` finds the period from the training window's autocorrelation (daily or
weekly), and none at all for a series without one.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=3 * 288, freq="5min", tz="UTC")
>>> daily = 50 + 20 * np.sin(2 * np.pi * np.arange(len(idx)) / 288)
>>> det = Seasonal().fit(pd.DataFrame({"cpu": daily}, index=idx))
>>> det.period_seconds_
86400
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from anomalert.detectors._stats import RollingStats
from anomalert.detectors.base import Contribution, Detector, Interval, Options
from anomalert.features import FEATURE_SETS

__all__ = ["Seasonal", "detect_period"]

DAY = 86_400
WEEK = 7 * DAY
_NS = 1_000_000_000


def detect_period(t: np.ndarray, X: np.ndarray, step_seconds: int) -> int | None:
    """Daily or weekly period of a training window from its autocorrelation, else None.

    With less than two days of data a daily period is assumed (it cannot be ruled out);
    otherwise a candidate needs an autocorrelation above 0.3 at its lag.
    """
    if step_seconds <= 0 or len(t) < 4:
        return DAY
    span = (t[-1] - t[0]) / _NS
    if span < 2 * DAY:
        return DAY
    # Put the series on a regular grid so a lag in points is a lag in time.
    pos = ((t - t[0]) // (step_seconds * _NS)).astype(np.int64)
    grid_len = int(pos[-1]) + 1
    best, best_acf = None, 0.3
    for period in (DAY, WEEK):
        lag = period // step_seconds
        if span < 2 * period or lag >= grid_len:
            continue
        acfs = []
        for j in range(X.shape[1]):
            grid = np.full(grid_len, np.nan)
            grid[pos] = X[:, j]
            a, b = grid[:-lag], grid[lag:]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() < 10 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
                continue
            acfs.append(float(np.corrcoef(a[ok], b[ok])[0, 1]))
        if acfs and max(acfs) > best_acf + (0.1 if best is not None else 0.0):
            best, best_acf = period, max(acfs)
    return best


class Seasonal(Detector):
    """Robust z-score of the residual against a per-slot seasonal baseline.

    Parameters
    ----------
    period
        ``"auto"`` (detect daily / weekly / none at fit; daily when started by
        ``learn_one``), ``"day"``, ``"week"``, ``"none"``, or a length in seconds.
    history
        Cycles kept per slot (the baseline is a median over them).
    smooth
        Neighbouring slots on each side that join the median.
    window
        Trailing window (points) of the residual spread.
    level_window
        Trailing window (points) of today's level (and of the fallback baseline).
    min_periods
        Points needed before any score is produced.
    threshold
        ``"auto"`` calibrates on the training window; a number fixes it.
    features
        Feature set (see :mod:`anomalert.features`).
    """

    name: ClassVar[str] = "seasonal"
    _default_threshold: ClassVar[float] = 5.0
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "period": [Options(("auto", "day", "week", "none")), Interval(int, 60, None)],
        "history": [Interval(int, 1, None)],
        "smooth": [Interval(int, 0, None)],
        "window": [Interval(int, 2, None)],
        "level_window": [Interval(int, 2, None)],
        "min_periods": [Interval(int, 2, None)],
        "threshold": [Interval(float, 0, None, closed="neither"), Options(("auto",))],
        "features": [Options(FEATURE_SETS)],
    }

    def __init__(
        self,
        *,
        period: str | int = "auto",
        history: int = 7,
        smooth: int = 2,
        window: int = 1440,
        level_window: int = 60,
        min_periods: int = 30,
        threshold: float | str = "auto",
        features: str = "rates",
    ) -> None:
        self.period = period
        self.history = history
        self.smooth = smooth
        self.window = window
        self.level_window = level_window
        self.min_periods = min_periods
        self.threshold = threshold
        self.features = features

    # -- state ---------------------------------------------------------------------
    def _reset(self, n_features: int) -> None:
        fixed = {"day": DAY, "week": WEEK, "none": None}
        self.period_seconds_: int | None = (
            DAY if self.period == "auto" else fixed.get(self.period, self.period)  # type: ignore[arg-type]
        )
        self.step_seconds_: int | None = None
        self.last_t_: int | None = None
        self.trail_ = [RollingStats(self.level_window) for _ in range(n_features)]
        self.level_ = [RollingStats(self.level_window) for _ in range(n_features)]
        self.spread_ = [RollingStats(self.window) for _ in range(n_features)]
        self.long_level_ = [RollingStats(self.window) for _ in range(n_features)]
        self.slots_: np.ndarray | None = None

    def _init_slots(self, step_seconds: int) -> None:
        self.step_seconds_ = max(1, step_seconds)
        if self.period_seconds_ is None:
            return
        n_slots = max(1, self.period_seconds_ // self.step_seconds_)
        self.slots_ = np.full((n_slots, self.history, len(self.features_)), np.nan)
        # The cycle each stored value came from: a slot remembers the last ``history``
        # cycles *in time*, so cycles that were not learned (an incident) age out too.
        self.slot_cycle_ = np.full((n_slots, self.history), np.iinfo(np.int64).min, dtype=np.int64)

    def prepare(self, t: np.ndarray, X: np.ndarray) -> None:
        """Find the step (and, for ``period="auto"``, the period) from a training window."""
        if len(t) >= 2:
            step = int(np.median(np.diff(t)) // _NS) or 60
            if self.period == "auto":
                self.period_seconds_ = detect_period(t, X, step)
            self._init_slots(step)

    def _fit_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        self.prepare(t, X)
        return super()._fit_frame(t, X)

    # -- the baseline --------------------------------------------------------------
    def _slot(self, t: int) -> int:
        assert self.slots_ is not None and self.step_seconds_ is not None
        return int((t // _NS) % int(self.period_seconds_ or 1) // self.step_seconds_) % len(self.slots_)

    def _cycle(self, t: int) -> int:
        return int(t // _NS // int(self.period_seconds_ or 1))

    def seasonal_baseline(self, t: int) -> np.ndarray | None:
        """Per-feature seasonal baseline at time ``t`` (None before a cycle is known)."""
        if self.slots_ is None:
            return None
        cached = getattr(self, "_cache", None)
        if cached is not None and cached[0] == t and cached[1] == self.n_seen_:
            return cached[2]
        s = self._slot(t)
        n = len(self.slots_)
        lo, hi = s - self.smooth, s + self.smooth + 1
        rows = slice(lo, hi) if lo >= 0 and hi <= n else np.arange(lo, hi) % n
        block = self.slots_[rows].reshape(-1, self.slots_.shape[2])
        stale = self.slot_cycle_[rows].reshape(-1) < self._cycle(t) - self.history
        if stale.any():
            block = np.where(stale[:, None], np.nan, block)
        counts = block.shape[0] - np.isnan(block).sum(axis=0)
        if counts.min() < self.smooth + 1:
            out = None
        else:
            ordered = np.sort(block, axis=0)  # NaN sorts last
            cols = np.arange(block.shape[1])
            out = 0.5 * (ordered[(counts - 1) // 2, cols] + ordered[counts // 2, cols])
        self._cache = (t, self.n_seen_, out)
        return out

    def feature_z(self, t: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Signed z, baseline and scale per feature (NaN where no baseline yet)."""
        m = len(x)
        z = np.full(m, np.nan)
        base = np.full(m, np.nan)
        scale = np.full(m, np.nan)
        if self.n_seen_ < self.min_periods:
            return z, base, scale
        seasonal = self.seasonal_baseline(t)
        for j in range(m):
            v = x[j]
            if math.isnan(v):
                continue
            lv, sp = self.level_[j], self.spread_[j]
            if seasonal is not None and sp.count >= self.min_periods:
                sc = max(sp.robust_scale(), sp.std() * 0.5 if sp.count > 1 else 0.0)
                b = seasonal[j] + lv.median()
                b_long = seasonal[j] + self.long_level_[j].median()
                if abs(v - b_long) < abs(v - b):
                    b = b_long
            else:
                tr = self.trail_[j]
                if tr.count < self.min_periods:
                    continue
                b, sc = tr.median(), tr.robust_scale()
            base[j], scale[j], z[j] = b, sc, (v - b) / sc
        return z, base, scale

    # -- contract hooks ------------------------------------------------------------
    def _score_point(self, t: int, x: np.ndarray) -> float:
        z = self.feature_z(t, x)[0]
        return float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else math.nan

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        self.learn_masked(t, x, None)

    def learn_masked(self, t: int, x: np.ndarray, level_mask: np.ndarray | None) -> None:
        """Learn ``x``; where ``level_mask`` is False a feature's level and spread stay put."""
        if self.step_seconds_ is None and self.last_t_ is not None and t > self.last_t_:
            self._init_slots(int((t - self.last_t_) // _NS))
        self.last_t_ = t
        seasonal = self.seasonal_baseline(t)
        for j, v in enumerate(x):
            v = float(v)
            self.trail_[j].add(v)
            if seasonal is not None and not math.isnan(v) and (level_mask is None or level_mask[j]):
                r = v - float(seasonal[j])
                lv = self.level_[j]
                if lv.count >= self.min_periods // 2:
                    self.spread_[j].add(r - lv.median())
                lv.add(r)
                self.long_level_[j].add(r)
        if self.slots_ is not None:
            s, c = self._slot(t), self._cycle(t)
            self.slots_[s, c % self.history] = x
            self.slot_cycle_[s, c % self.history] = c

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        z, base, scale = self.feature_z(t, x)
        return [
            Contribution(self.features_[j], float(x[j]), float(base[j]), float(scale[j]), float(z[j]))
            for j in range(len(x))
            if math.isfinite(z[j])
        ]
