"""Seasonal baseline: what this metric usually does at this time of day (or week).

For every slot of the period (minute-of-day at the series' step, or minute-of-week) the
detector keeps the values of the last ``history`` cycles *in time* (a cycle that was not learned,
say during an incident, still ages the older ones out), each net of the level at the time (the
median residual of the last ``window`` points), so that a lasting change of level stays the
level's and never becomes the shape's as well. The seasonal shape at a new point is the median
of its slot and ``smooth`` neighbouring slots over those cycles, each neighbour weighing the
same where some hold more cycles than others. The residual
``x - shape`` still carries today's level (a quiet Sunday, a busier week), so the baseline is
the shape plus the median residual of the last ``level_window`` points, and the spread is the
robust spread of recent ``residual - level`` deviations. The same residual is also compared
with the level of the last ``window`` points, and the smaller of the two deviations counts: a
level that drifted in over the last hour (and was learned) cannot hold an alarm up forever once
the series is back where it has been all day. Until a full cycle has been seen it
falls back to a trailing-window robust z-score, so it copes with less than a day of history.

The model runs compiled (:mod:`anomalert.detectors._kernel`): the batch path is one compiled
loop over the points and gives exactly the streaming path's scores.

``period="auto"`` finds the period from the training window's autocorrelation (daily or
weekly), and none at all for a series without one; a daily model moves to a week while it
runs once three weeks of hourly means show a weekly cycle.

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

from typing import Any, ClassVar

from anomalert.detectors._compiled import DAY, WEEK, CompiledBaseline, detect_period
from anomalert.detectors.base import Interval, Options
from anomalert.features import FEATURE_SETS

__all__ = ["DAY", "WEEK", "Seasonal", "detect_period"]


class Seasonal(CompiledBaseline):
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

    def _check_params(self) -> None:
        # a window never holds more than its size: min_periods beyond one means no score, ever
        limit = min(self.level_window, self.window)
        if self.min_periods > limit:
            from anomalert.errors import ParameterError

            which = "level_window" if self.level_window <= self.window else "window"
            raise ParameterError(
                f"The 'min_periods' parameter of Seasonal must be <= {which} ({limit}). "
                f"Got {self.min_periods} instead."
            )

    def _kernel_config(self) -> dict[str, Any]:
        # The seasonal model alone: no recent-level baseline, no memory, levels always learn.
        return {
            "level_window": self.level_window, "window": self.window, "trail_window": 2,
            "dev_window": 2, "memory": 0, "min_periods": self.min_periods,
            "smooth": self.smooth, "history": self.history, "use_recent": False,
            "escape": 0, "guard": float("inf"), "margin": 1.0,
        }
