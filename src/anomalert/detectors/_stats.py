"""Small streaming statistics shared by the statistical detectors.

:class:`RollingStats` keeps the last ``size`` values of one feature (or every value when
``size`` is None) in a ring buffer *and* a sorted list, so the median and the inter-quartile
range come in O(log n) (plus a memmove for the insertion), and mean / standard deviation from
running sums in O(1).
"""

from __future__ import annotations

import bisect
import math
from collections import deque

__all__ = ["RollingStats", "robust_scale_floor"]

_IQR_TO_SIGMA = 1.0 / 1.3489795003921634
#: Relative variance below which a window counts as constant (see :meth:`RollingStats.std`).
_VAR_EPS = 1e-10


def _neumaier(total: float, comp: float, value: float) -> tuple[float, float]:
    """One step of Neumaier's compensated summation: returns the new (sum, compensation)."""
    new = total + value
    if abs(total) >= abs(value):
        comp += (total - new) + value
    else:
        comp += (value - new) + total
    return new, comp


def robust_scale_floor(center: float) -> float:
    """Smallest spread we believe in: a constant series still gets a finite z-score."""
    return 1e-9 + 1e-6 * abs(center)


class RollingStats:
    """Order statistics and moments over a trailing window of one feature.

    Examples
    --------
    >>> r = RollingStats(3)
    >>> for v in [1.0, 2.0, 3.0, 10.0]:
    ...     r.add(v)
    >>> r.count, r.median(), round(r.mean(), 3)
    (3, 3.0, 5.0)
    """

    __slots__ = ("size", "_ring", "_sorted", "_sum", "_sumsq", "_c", "_csq", "_adds")

    def __init__(self, size: int | None) -> None:
        self.size = size
        self._ring: deque[float] = deque()
        self._sorted: list[float] = []
        self._sum = 0.0
        self._sumsq = 0.0
        self._c = 0.0  # Neumaier compensation terms: adding and removing values leaves no drift
        self._csq = 0.0
        self._adds = 0

    @property
    def count(self) -> int:
        return len(self._sorted)

    def add(self, value: float) -> None:
        if math.isnan(value):
            return
        if self.size is not None:
            self._ring.append(value)
            if len(self._ring) > self.size:
                old = self._ring.popleft()
                del self._sorted[bisect.bisect_left(self._sorted, old)]
                self._sum, self._c = _neumaier(self._sum, self._c, -old)
                self._sumsq, self._csq = _neumaier(self._sumsq, self._csq, -old * old)
        bisect.insort(self._sorted, value)
        self._sum, self._c = _neumaier(self._sum, self._c, value)
        self._sumsq, self._csq = _neumaier(self._sumsq, self._csq, value * value)
        self._adds += 1

    def quantile(self, q: float) -> float:
        s = self._sorted
        if not s:
            return math.nan
        pos = q * (len(s) - 1)
        lo = int(pos)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (pos - lo)

    def median(self) -> float:
        return self.quantile(0.5)

    def mean(self) -> float:
        n = len(self._sorted)
        return (self._sum + self._c) / n if n else math.nan

    def std(self) -> float:
        n = len(self._sorted)
        if n < 2:
            return math.nan
        total = self._sum + self._c
        mean = total / n
        var = (self._sumsq + self._csq - total * mean) / (n - 1)
        # Running sums cannot tell a variance below this from rounding noise: call it zero.
        return math.sqrt(var) if var > _VAR_EPS * (mean * mean + 1.0) else 0.0

    def robust_scale(self) -> float:
        """IQR / 1.349 (the sigma of a normal), falling back to the standard deviation."""
        scale = (self.quantile(0.75) - self.quantile(0.25)) * _IQR_TO_SIGMA
        if not scale > 0:
            sd = self.std()
            scale = sd if sd > 0 else 0.0
        return max(scale, robust_scale_floor(self.median()))
