"""Compiled score-then-learn loops of the detectors built on :class:`~anomalert.detectors.
_stats.RollingStats` (``zscore``, ``likelihood``): ``fit``'s and ``detect``'s path.

Those detectors learn in Python, one point at a time (the Monitor's path). ``fit`` and
``detect`` need every point scored against what was learned before it, where a flagged point
is *not* learned (unless the policy says so): one Python step a point, 25-35 us. Here that loop
is compiled, on the very same state, with the very same arithmetic as ``RollingStats`` (the
sorted copy's order statistics, Neumaier's compensated sums in the same order), so the scores
equal the Monitor's (bit for bit on the machines tested; the likelihood's tail goes through
the C library's ``erfc`` and ``log10``, as Python's do).

The state of feature ``j`` is laid out as arrays (see :func:`export_stats` /
:func:`import_stats`): ``ring[j]`` a trailing window's values, a circle whose oldest is at
``head[j]`` (unused for the global z-score), ``srt[j, :count]`` the same values sorted (when
the loop keeps them sorted; else, for a global window, in the order learned since the export,
sorted once at the end),
``sums[j]`` (sum, its compensation, sum of squares, its compensation), ``adds[j]`` the values
it has learned.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from typing import Any, ClassVar

import numpy as np
from numba import njit

from anomalert.detectors._stats import _IQR_TO_SIGMA, _VAR_EPS, RollingStats
from anomalert.detectors.base import Contribution, Detector
from anomalert.detectors.explain import Explanation

_CAP = 12.0  # (likelihood's cap on a tail score)

__all__ = ["RollingLoop", "export_stats", "import_stats", "likelihood_run", "zscore_run"]


@njit(cache=True, inline="always")
def _neumaier(S: np.ndarray, j: int, k: int, value: float) -> None:
    total = S[j, k]
    new = total + value
    if abs(total) >= abs(value):
        S[j, k + 1] += (total - new) + value
    else:
        S[j, k + 1] += (value - new) + total
    S[j, k] = new


@njit(cache=True, inline="always")
def _quantile(srt: np.ndarray, j: int, n: int, q: float) -> float:
    if n == 0:
        return math.nan
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return srt[j, lo] + (srt[j, hi] - srt[j, lo]) * (pos - lo)


@njit(cache=True, inline="always")
def _std(sums: np.ndarray, j: int, n: int) -> float:
    if n < 2:
        return math.nan
    total = sums[j, 0] + sums[j, 1]
    mean = total / n
    var = (sums[j, 2] + sums[j, 3] - total * mean) / (n - 1)
    return math.sqrt(var) if var > _VAR_EPS * (mean * mean + 1.0) else 0.0


@njit(cache=True)
def _baseline(srt: np.ndarray, sums: np.ndarray, j: int, n: int, robust: bool) -> tuple[float, float]:
    """(center, scale) of feature ``j``: ``ZScore.baseline``."""
    if robust:
        median = _quantile(srt, j, n, 0.5)
        scale = (_quantile(srt, j, n, 0.75) - _quantile(srt, j, n, 0.25)) * _IQR_TO_SIGMA
        if not scale > 0:
            sd = _std(sums, j, n)
            scale = sd if sd > 0 else 0.0
        return median, max(scale, 1e-9 + 1e-6 * abs(median))
    center = (sums[j, 0] + sums[j, 1]) / n if n else math.nan
    sd = _std(sums, j, n)
    return center, max(sd if sd > 0 else 0.0, 1e-9 + 1e-6 * abs(center))


@njit(cache=True)
def _add(ring: np.ndarray, head: np.ndarray, srt: np.ndarray, count: np.ndarray,
         sums: np.ndarray, adds: np.ndarray, j: int, window: int, ordered: bool,
         value: float) -> None:
    """``RollingStats.add``: the oldest value leaves a full window, then ``value`` joins.
    Unless ``ordered``, the sorted copy is not kept (a mean and standard deviation need only
    the sums): a global window's values are appended to it, to be sorted once at the end."""
    if math.isnan(value):
        return
    adds[j] += 1
    n = count[j]
    if not ordered:
        if window > 0 and n == window:
            h = head[j]
            old = ring[j, h]
            ring[j, h] = value
            head[j] = (h + 1) % window
            _neumaier(sums, j, 0, -old)
            _neumaier(sums, j, 2, -old * old)
        else:
            if window > 0:
                ring[j, (head[j] + n) % window] = value
            else:
                srt[j, n] = value
            count[j] = n + 1
        _neumaier(sums, j, 0, value)
        _neumaier(sums, j, 2, value * value)
        return
    if window > 0 and n == window:
        h = head[j]
        old = ring[j, h]
        ring[j, h] = value
        head[j] = (h + 1) % window
        lo, hi = 0, n  # bisect_left: the first copy of the leaving value
        while lo < hi:
            mid = (lo + hi) >> 1
            if srt[j, mid] < old:
                lo = mid + 1
            else:
                hi = mid
        for q in range(lo, n - 1):
            srt[j, q] = srt[j, q + 1]
        n -= 1
        _neumaier(sums, j, 0, -old)
        _neumaier(sums, j, 2, -old * old)
    elif window > 0:
        ring[j, (head[j] + n) % window] = value
    lo, hi = 0, n  # bisect_right: after any equal values (insort)
    while lo < hi:
        mid = (lo + hi) >> 1
        if value < srt[j, mid]:
            hi = mid
        else:
            lo = mid + 1
    for q in range(n, lo, -1):
        srt[j, q] = srt[j, q - 1]
    srt[j, lo] = value
    count[j] = n + 1
    _neumaier(sums, j, 0, value)
    _neumaier(sums, j, 2, value * value)


@njit(cache=True)
def zscore_run(
    ring: np.ndarray, head: np.ndarray, srt: np.ndarray, count: np.ndarray, sums: np.ndarray,
    adds: np.ndarray, window: int, robust: bool, min_periods: int, X: np.ndarray, threshold: float,
    learn_flagged: bool, relearn_after: int, carry: np.ndarray, scores: np.ndarray,
    B: np.ndarray, SS: np.ndarray,
) -> int:
    """``ZScore``: score then learn every row of ``X`` in order; returns how many rows were
    learned.

    A row scoring above ``threshold`` is not learned unless ``learn_flagged`` or it ends a run
    of more than ``relearn_after`` such rows (``carry[0]`` holds the run, in and out): the
    Monitor's rule. ``B``/``SS`` (when they have rows) receive each row's centers and scales
    (NaN where a feature was not scored: missing, or too few values yet).
    """
    m = X.shape[1]
    record = B.shape[0] > 0
    flag_run = carry[0]
    learned = 0
    for i in range(X.shape[0]):
        best = math.nan
        for j in range(m):
            v = X[i, j]
            n = count[j]
            center, scale = math.nan, math.nan
            if not math.isnan(v) and n >= min_periods:
                center, scale = _baseline(srt, sums, j, n, robust)
                z = abs(v - center) / scale
                if not z <= best:
                    best = z
            if record:
                B[i, j], SS[i, j] = center, scale
        scores[i] = best
        flag_run = flag_run + 1 if best > threshold else 0
        if learn_flagged or flag_run == 0 or flag_run > relearn_after:
            for j in range(m):
                _add(ring, head, srt, count, sums, adds, j, window, robust, X[i, j])
            learned += 1
    carry[0] = flag_run
    return learned


@njit(cache=True)
def _tail(z: float) -> float:
    """``likelihood.tail_score``."""
    if math.isnan(z):
        return math.nan
    q = 0.5 * math.erfc(z / math.sqrt(2.0))
    return _CAP if q <= 10.0**-_CAP else min(_CAP, -math.log10(q))


@njit(cache=True)
def likelihood_run(
    ring: np.ndarray, head: np.ndarray, srt: np.ndarray, count: np.ndarray, sums: np.ndarray,
    adds: np.ndarray, hring: np.ndarray, hhead: np.ndarray, hsrt: np.ndarray,
    hcount: np.ndarray, hsums: np.ndarray, hadds: np.ndarray, recent: np.ndarray,
    rcount: np.ndarray, window: int, history: int, short: int, min_periods: int,
    X: np.ndarray, threshold: float, learn_flagged: bool, relearn_after: int,
    carry: np.ndarray, scores: np.ndarray, B: np.ndarray, SS: np.ndarray, SH: np.ndarray,
) -> int:
    """``Likelihood``: score then learn every row of ``X`` in order, as :func:`zscore_run`
    (``SH`` also receives each feature's own score). The first six arrays are the trailing
    window's stats (kept sorted: a median and quantiles), the next six the raw scores'
    (``history``; a mean and standard deviation), ``recent[j, :rcount[j]]`` the last
    ``short`` raw scores, oldest first."""
    m = X.shape[1]
    record = B.shape[0] > 0
    flag_run = carry[0]
    learned = 0
    raw = np.empty(m)
    for i in range(X.shape[0]):
        best = math.nan
        for j in range(m):
            v = X[i, j]
            n = count[j]
            raw[j] = math.nan
            center, scale, own = math.nan, math.nan, math.nan
            if not math.isnan(v) and n >= min_periods:
                center, scale = _baseline(srt, sums, j, n, True)
                scale = max(scale, max(1e-9 + 1e-6 * abs(center), 1e-3 * abs(center)))
                r = math.log1p(abs(v - center) / scale)
                raw[j] = r
                hn = hcount[j]
                if hn >= min_periods:
                    k = min(rcount[j], short - 1)
                    total = 0.0
                    for q in range(rcount[j] - k, rcount[j]):
                        total += recent[j, q]
                    short_mean = (total + r) / (k + 1)
                    mean = (hsums[j, 0] + hsums[j, 1]) / hn
                    sd = max(_std(hsums, j, hn), 1e-3 + 0.05 * abs(mean))
                    single = _tail((r - mean) / sd) - math.log10(short)
                    own = _tail((short_mean - mean) / sd)
                    if single > own:
                        own = single
                    if not own <= best:
                        best = own if not math.isnan(own) else best
            if record:
                B[i, j], SS[i, j], SH[i, j] = center, scale, own
        scores[i] = best
        flag_run = flag_run + 1 if best > threshold else 0
        if learn_flagged or flag_run == 0 or flag_run > relearn_after:
            for j in range(m):
                r = raw[j]
                if not math.isnan(r):
                    _add(hring, hhead, hsrt, hcount, hsums, hadds, j, history, False, r)
                    c = rcount[j]
                    if c == short:
                        for q in range(short - 1):
                            recent[j, q] = recent[j, q + 1]
                        c -= 1
                    recent[j, c] = r
                    rcount[j] = c + 1
                _add(ring, head, srt, count, sums, adds, j, window, True, X[i, j])
            learned += 1
    carry[0] = flag_run
    return learned


def export_stats(stats: list[RollingStats], window: int | None, extra: int) -> tuple[Any, ...]:
    """The arrays the loops work on, from each feature's stats, with room for ``extra``
    more values of a global (unwindowed) one: that copy of its whole history, then the list
    :func:`import_stats` makes of it, about twice the history's memory while a run lasts."""
    m = len(stats)
    cap = window if window is not None else max((s.count for s in stats), default=0) + extra
    cap = max(cap, 1)
    ring = np.zeros((m, cap if window is not None else 1))
    srt = np.zeros((m, cap))
    head = np.zeros(m, dtype=np.int64)
    count = np.zeros(m, dtype=np.int64)
    sums = np.zeros((m, 4))
    adds = np.zeros(m, dtype=np.int64)
    for j, s in enumerate(stats):
        n = s.count
        count[j] = n
        srt[j, :n] = s._sorted
        if window is not None:
            ring[j, :n] = list(s._ring)
        sums[j] = (s._sum, s._c, s._sumsq, s._csq)
        adds[j] = s._adds
    return ring, head, srt, count, sums, adds


def import_stats(
    stats: list[RollingStats], arrays: tuple[Any, ...], window: int | None, ordered: bool
) -> None:
    """Write a loop's state back into ``stats`` (``ordered``: whether the loop kept the sorted
    copy)."""
    ring, head, srt, count, sums, adds = arrays
    for j, s in enumerate(stats):
        n = int(count[j])
        if window is not None:
            values = ring[j, (int(head[j]) + np.arange(n)) % window]
            s._ring = deque(values.tolist())
            s._sorted = srt[j, :n].tolist() if ordered else np.sort(values).tolist()
        else:
            s._sorted = srt[j, :n].tolist() if ordered else np.sort(srt[j, :n]).tolist()
        s._sum, s._c, s._sumsq, s._csq = (float(v) for v in sums[j])
        s._adds = int(adds[j])


class RollingLoop(Detector):
    """What ``ZScore`` and ``Likelihood`` share around their compiled loop: ``fit``,
    ``score`` and ``detect`` through :meth:`run` (which each defines), and the explanation
    of a point from the row :meth:`run` recorded of it: each feature's center and scale,
    and (when the detector scores features on their own) its share of the score."""

    _batch_run: ClassVar[bool] = True
    #: Arrays a record holds: centers, scales (and per-feature scores).
    _record_width: ClassVar[int] = 2

    def run(
        self, t: np.ndarray, X: np.ndarray, *, threshold: float, learn_flagged: bool,
        relearn_after: int, flag_run: int = 0, record: tuple[np.ndarray, ...] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score then learn every row in order, as the Monitor does point by point: a row
        scoring above ``threshold`` is learned only if ``learn_flagged`` or it ends a run of
        more than ``relearn_after`` such rows (``flag_run`` of them came just before).
        Returns (scores, scores): these detectors have no test besides their deviation.
        ``record`` (see :meth:`new_record`) receives what every row's score came from."""
        raise NotImplementedError

    def _fit_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The base class's training loop (a flagged point is not learned unless its run
        lasts a day), compiled."""
        return self.run(t, X, threshold=self.threshold_, learn_flagged=False,
                        relearn_after=self._relearn_points(t))[0]

    def _score_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        """``score``: every row scored, then learned (on a copy), compiled."""
        work = copy.deepcopy(self)
        return work.run(t, X, threshold=math.inf, learn_flagged=True, relearn_after=0)[0]

    @classmethod
    def new_record(cls, n: int | None, m: int) -> tuple[np.ndarray, ...]:
        """Empty arrays for what scores come from, ``(n, m)`` (``(m,)`` for ``n=None``)."""
        shape = (m,) if n is None else (n, m)
        return tuple(np.empty(shape) for _ in range(cls._record_width))

    def explanation_from(
        self, score: float, x: np.ndarray, center: np.ndarray, scale: np.ndarray,
        share: np.ndarray | None = None,
    ) -> Explanation:
        """The explanation of a point from one row of :meth:`run`'s ``record`` (what
        :meth:`explain_one` says against the state the point was scored on)."""
        shares = share if share is not None else np.full(len(x), math.nan)
        contribs = [
            Contribution(self.features_[j], float(v), float(c), float(s), (v - c) / s,
                         float(h) if math.isfinite(h) else None)
            for j, (v, c, s, h) in enumerate(zip(x, center, scale, shares, strict=True))
            if not math.isnan(c)
        ]
        return Explanation(score, tuple(sorted(contribs, key=lambda c: -c.weight)))
