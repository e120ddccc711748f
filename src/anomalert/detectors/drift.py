"""``drift``: a level that keeps moving the same way, day after day (a leak, a filling disk).

A slow drift hides from the other tests: each point is a hair above the last, so no point
deviates from the recent level, and the week's high moves up with it. What gives it away is
that *every hour* of today sits above the same hour of yesterday, and every hour of yesterday
above the day before, by much more than days usually differ. ``drift`` tests exactly that.

Each feature keeps hourly means over the last ``history`` days. At a point in hour ``h`` it
compares each of the last 24 complete hours with the same hour a day earlier, and that one
with the hour a day before it, and so on for ``days`` days: ``24 x days`` day-over-day changes.
Their yardstick is the robust spread of the day-over-day changes of the hours before those
(the rest of the history, at least two days of it), so a series whose days differ a lot needs
a larger drift. The score is the tenth percentile of the changes in yardsticks, taken in the
direction most of them point (a tenth of the hours may disagree: one noisy hour does not hide
a drift). A daily cycle cancels out (the same hour is compared), a level shift does not
qualify (the hours before it changed nothing from the day before), a weekend does not either
(Saturday is below Friday, but Sunday is not below Saturday).

It follows every point, flagged or not (the hourly means must follow a drift to measure
it). The threshold is a number of yardsticks, 3 by default (``threshold="auto"`` keeps it; the
training window is usually too short to calibrate on). With the 10% allowance, ordinary
day-to-day noise essentially never reaches it; a drift of three usual day-to-day changes per
day, held for ``days`` days, does. The score is 0 until the history holds ``days + 2`` days,
and it changes once an hour (a point's score uses the hours before its own).

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=7 * 288, freq="5min", tz="UTC")
>>> rng = np.random.default_rng(1)
>>> leak = np.where(np.arange(len(idx)) > 4 * 288, 0.05 * (np.arange(len(idx)) - 4 * 288), 0)
>>> frame = pd.DataFrame({"mem": 40 + rng.normal(0, 1, len(idx)) + leak}, index=idx)
>>> det = Drift().fit(frame.iloc[:4 * 288])
>>> scores = det.score(frame.iloc[4 * 288:])
>>> bool(scores.iloc[:288].max() < det.threshold_ < scores.iloc[-1])
True
>>> det.fit(frame).explain_one(idx[-1], {"mem": 60.0}).text()  # doctest: +ELLIPSIS
'mem drifted up 28.86 over 2 days, from 46.63 to 75.49: day over day, 9 in 10 hours moved more than 31.2x its usual change 0.442'
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from anomalert.detectors.base import Contribution, Detector, Interval, Options
from anomalert.features import FEATURE_SETS

__all__ = ["Drift"]

_HOUR_NS = 3_600_000_000_000
_NO_HOUR = np.iinfo(np.int64).min
#: Fraction of the day-over-day changes that may disagree with the drift's direction.
_ALLOWANCE = 0.10
_MAD_TO_SIGMA = 1.4826


class Drift(Detector):
    """Day-over-day changes of hourly means, all one way for ``days`` days.

    Parameters
    ----------
    days
        Consecutive days over which every hour must have moved the same way.
    history
        Days of hourly means kept; those beyond the last ``days + 1`` measure the usual
        day-over-day change (at least two days of them are needed).
    threshold
        ``"auto"`` (3 usual day-over-day changes) or a number of them.
    features
        Feature set (see :mod:`anomalert.features`).
    """

    name: ClassVar[str] = "drift"
    finds: ClassVar[str] = "drift"
    _default_threshold: ClassVar[float] = 3.0
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "days": [Interval(int, 1, None)],
        "history": [Interval(int, 4, None)],
        "threshold": [Interval(float, 0, None, closed="neither"), Options(("auto",))],
        "features": [Options(FEATURE_SETS)],
    }

    def __init__(
        self,
        *,
        days: int = 2,
        history: int = 7,
        threshold: float | str = "auto",
        features: str = "rates",
    ) -> None:
        self.days = days
        self.history = history
        self.threshold = threshold
        self.features = features

    def _check_params(self) -> None:
        if self.history < self.days + 3:
            from anomalert.errors import ParameterError

            raise ParameterError(
                f"The 'history' parameter of Drift must be >= days + 3 ({self.days + 3}). "
                f"Got {self.history} instead."
            )

    # -- state: hourly sums and counts in a ring of hours --------------------------------
    def _reset(self, n_features: int) -> None:
        hours = 24 * self.history
        self.hour_ = np.full(hours, _NO_HOUR, dtype=np.int64)
        self.sum_ = np.zeros((hours, n_features))
        self.count_ = np.zeros((hours, n_features))

    def _calibrate(self, train_scores: np.ndarray) -> float:
        return float(self._default_threshold)  # a number of yardsticks, not a quantile

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        hour = t // _HOUR_NS
        k = hour % len(self.hour_)
        if self.hour_[k] != hour:
            self.hour_[k] = hour
            self.sum_[k] = 0.0
            self.count_[k] = 0.0
        ok = ~np.isnan(x)
        self.sum_[k, ok] += x[ok]
        self.count_[k, ok] += 1.0

    def _pass_point(self, t: int, x: np.ndarray) -> None:
        # A flagged point is learned all the same: the hourly means must follow the drift to
        # measure it (and the yardstick's robust spread shrugs off an incident's hours).
        self._learn_point(t, x)

    def _means(self, hour: int) -> np.ndarray:
        """Hourly means of the ``24 * history`` complete hours before ``hour``, oldest first
        (NaN where an hour was not seen), shape ``(hours, features)``."""
        n = len(self.hour_)
        wanted = np.arange(hour - n, hour, dtype=np.int64)
        k = wanted % n
        seen = self.hour_[k] == wanted
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self.sum_[k] / self.count_[k]
        means[~seen] = np.nan
        return means

    def _measure(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per feature: the signed drift score (in yardsticks), the last day's mean, the mean
        of the day ``days`` days before it, and the yardstick."""
        means = self._means(t // _HOUR_NS)
        m = means.shape[1]
        score = np.zeros(m)
        now = np.full(m, np.nan)
        then = np.full(m, np.nan)
        stick = np.full(m, np.nan)
        d = self.days
        recent = means[-24 * (d + 1):]  # the days compared: d + 1 of them
        changes = recent[24:] - recent[:-24]  # 24 * d day-over-day changes
        older = means[: -24 * (d + 1)]
        usual = older[24:] - older[:-24]
        for j in range(m):
            c = changes[:, j]
            c = c[np.isfinite(c)]
            u = usual[:, j]
            u = u[np.isfinite(u)]
            if len(c) < 0.75 * len(changes) or len(u) < 24:
                continue
            med = float(np.median(u))
            spread = _MAD_TO_SIGMA * float(np.median(np.abs(u - med)))
            spread = max(spread, 0.5 * float(np.std(u)), 1e-9 * (1.0 + abs(float(np.nanmean(recent[:, j])))))
            up = float(np.quantile(c, _ALLOWANCE)) / spread
            down = float(np.quantile(c, 1.0 - _ALLOWANCE)) / spread
            score[j] = up if up > 0 else (down if down < 0 else 0.0)
            now[j] = float(np.nanmean(recent[-24:, j]))
            then[j] = float(np.nanmean(recent[:24, j]))
            stick[j] = spread
        return score, now, then, stick

    def _score_point(self, t: int, x: np.ndarray) -> float:
        score = self._measure(t)[0]
        return float(np.max(np.abs(score))) if len(score) else math.nan

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        score, now, then, stick = self._measure(t)
        out = []
        for j in range(len(score)):
            if not math.isfinite(stick[j]):
                continue
            out.append(Contribution(
                self.features_[j], float(now[j]), float(then[j]), float(stick[j]),
                float(score[j]), reference=f"{self.days} days", kind="drift",
            ))
        return out
