"""Explanations: what drove a score, one :class:`Contribution` per feature (value,
baseline, usual spread, deviation in those spreads), ranked in an :class:`Explanation` whose
text names the metric, the baseline and the size; :func:`format_value` writes the numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Contribution", "Explanation", "format_value"]


def format_value(x: float, digits: int = 4) -> str:
    """A metric's value as people read it: from 1,000 up whole and grouped in thousands,
    below that to ``digits`` significant digits, never in scientific notation between
    1e-6 and 1e15.

    >>> format_value(29520.4), format_value(1107.0), format_value(67.4531), format_value(97.0)
    ('29,520', '1,107', '67.45', '97')
    >>> format_value(0.005089123), format_value(0.0000123456), format_value(1150.0, 3)
    ('0.005089', '0.00001235', '1,150')
    >>> format_value(0.0), format_value(-0.0), format_value(-2.5e-9), format_value(float("nan"))
    ('0', '0', '-2.5e-09', 'nan')
    """
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    size = abs(x)
    if size == 0:
        return "0"
    if size >= 1e15 or size < 1e-6:
        return f"{x:.{digits}g}"
    if size >= 1000:
        return f"{x:,.0f}"
    return str(np.format_float_positional(x, precision=digits, unique=False, fractional=False,
                                          trim="-"))


@dataclass(frozen=True)
class Contribution:
    """How far one feature is from its baseline, in units of its usual spread.

    ``kind="noise"`` says the figures are not the feature's value but its noise: ``value``
    is its mean change from one point to the next over the last hours, ``baseline`` the
    noisiest such stretch of its history, ``scale`` its usual change per point.
    ``kind="drift"``: ``value`` is the point's, ``baseline`` the feature's mean over a day
    some days earlier (``reference`` says which), ``scale`` its usual day-over-day change of
    an hourly mean and ``deviation`` how many of those three in four recent hours moved by,
    each day. ``kind="shift"``: ``value`` is the feature's mean over the last hours,
    ``baseline`` the edge of the same window's means over its history that it passed
    (``reference`` says which), ``scale`` the usual spread of those means. ``kind="flat"``:
    ``value`` and ``scale`` are the feature's range (high - low) over the last hours,
    ``baseline`` the narrowest such range of its history and ``deviation`` minus how many times
    narrower the current one is. ``kind="sustained"``: ``value`` is the feature's average
    over the last minutes (``reference`` says how many), ``baseline`` its seasonal
    baselines' average over the same minutes, ``scale`` the usual spread of such an average
    and ``deviation`` how many of those apart they are.
    """

    metric: str
    value: float
    baseline: float
    scale: float
    deviation: float  # signed: (value - baseline) / scale
    share: float | None = None  # the feature's own contribution to the score, when known
    #: What ``baseline`` is when it is not the feature's usual level, e.g. "7-day high".
    reference: str | None = None
    #: ``"level"`` (the value against a baseline), ``"noise"``, ``"drift"``, ``"shift"``,
    #: ``"flat"`` or ``"sustained"`` (see above).
    kind: str = "level"
    #: For a feature scored on its log: its usual spread as a factor (one scale up is
    #: ``baseline * factor``, one down ``baseline / factor``); ``scale`` is then the move
    #: ``deviation`` of them is at this value, in the metric's units.
    factor: float | None = None

    def _spread(self, extra: str) -> str:
        """The parenthesis after a figure: ``(±scale)``, or ``(×/÷factor)`` on a log."""
        if self.factor is not None:
            return f"(×/÷{format_value(self.factor, 3)}{extra})"
        return f"(±{format_value(self.scale, 3)}{extra})"

    @property
    def weight(self) -> float:
        """What explanations sort by: the share when known, else |deviation|."""
        return abs(self.share) if self.share is not None else abs(self.deviation)

    @property
    def unvaried(self) -> bool:
        """True when the scale is the compiled detectors' floor (1e-9 plus a millionth of
        the baseline): what it was compared with never varied, and a deviation in σ (often
        billions) says nothing a reader can use."""
        return 0 < self.scale <= 1.001e-9 + 1.001e-6 * abs(self.baseline)

    def text(self) -> str:
        direction = "above" if self.deviation >= 0 else "below"
        extra = f", {self.share:+.3f} of the score" if self.share is not None else ""
        value, base = format_value(self.value), format_value(self.baseline)
        if self.kind == "noise":
            ratio = self.value / self.baseline if self.baseline > 0 else math.inf
            return (
                f"{self.metric} is noisy: it moves {value} per point on average, "
                f"{ratio:.1f}x {self.reference or 'its usual'} {base}{extra}"
            )
        if self.kind == "flat":
            return (
                f"{self.metric} has gone flat: it moved {value} (high - low) over "
                f"the window, {abs(self.deviation):.1f}x less than "
                f"{self.reference or 'its narrowest'} {base}{extra}"
            )
        if self.kind == "sustained":
            way = "above" if self.deviation >= 0 else "below"
            return (
                f"{self.metric} has stayed {way} its baseline: {value} on average "
                f"over {self.reference or 'the last minutes'}, {abs(self.deviation):.1f}σ "
                f"{way} its usual {base} for the time {self._spread(extra)}"
            )
        if self.unvaried and self.kind in ("level", "shift"):
            what = f"its mean {value}" if self.kind == "shift" else f"{self.metric}={value}"
            lead = f"{self.metric} has shifted: " if self.kind == "shift" else ""
            return (
                f"{lead}{what} is {direction} {self.reference or 'baseline'} {base} by "
                f"{format_value(abs(self.value - self.baseline))} (no usual spread to give a σ: "
                f"it never varied{extra})"
            )
        # within 0.05σ: "0.0σ above" says nothing; the value is at its baseline
        far = (
            f"at {self.reference or 'baseline'}" if abs(self.deviation) < 0.05
            else f"{abs(self.deviation):.1f}σ {direction} {self.reference or 'baseline'}"
        )
        if self.kind == "shift":
            if abs(self.deviation) >= 0.05:
                far = f"{abs(self.deviation):.1f}σ {direction} {self.reference or 'its usual range'}"
            return f"{self.metric} has shifted: its mean {value} is {far} {base} {self._spread(extra)}"
        if self.kind == "drift":
            way = "up" if self.deviation >= 0 else "down"
            return (
                f"{self.metric} is drifting {way}: day over day, 3 in 4 hours moved more than "
                f"{abs(self.deviation):.1f}x its usual change {format_value(self.scale, 3)}, from "
                f"{self.reference or 'its earlier level'} {base} "
                f"({self.metric}={value} now{extra})"
            )
        return f"{self.metric}={value} is {far} {base} {self._spread(extra)}"


@dataclass(frozen=True)
class Explanation:
    """Why a point scored what it did: contributions, largest first."""

    score: float
    contributions: tuple[Contribution, ...]

    @property
    def top(self) -> Contribution | None:
        return self.contributions[0] if self.contributions else None

    def text(self, limit: int = 2) -> str:
        if not self.contributions:
            return "not scored: no value, or no baseline yet (warming up)"
        return "; ".join(c.text() for c in self.contributions[:limit])


# --------------------------------------------------------------------------- thresholds
