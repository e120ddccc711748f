"""The compiled kernel's rolling windows and "seen before" memory (numba).

A rolling window keeps its last ``size`` values in a ring and in a sorted array (median and
quantiles by index) and running sums with Neumaier compensation (mean and standard deviation
in O(1)), the same arithmetic as :class:`anomalert.detectors._stats.RollingStats`. The
hour-long windows keep the sorted array exact at every point (one shift between the leaving
and the arriving value's places). The day-long ones (the seasonal spread, the long level, the
recent level's spread) refresh it after every ``size // LAZY_PARTS`` adds with one merge pass
(their counts and sums stay exact): a day's statistic four hours old is as good as a fresh one,
and it costs a twentieth.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from anomalert.detectors._layout import (
    _IQR_TO_SIGMA,
    _VAR_EPS,
    LAZY_PARTS,
    P_MEM_IOFF,
    P_MEM_META,
    P_MEM_OFF,
    P_MEMORY,
)


# --------------------------------------------------------------------------- rolling windows
@njit(cache=True, inline="always")
def _neumaier(F: np.ndarray, k: int, value: float) -> None:
    total = F[k]
    new = total + value
    if abs(total) >= abs(value):
        F[k + 1] += (total - new) + value
    else:
        F[k + 1] += (value - new) + total
    F[k] = new


@njit(cache=True, inline="always")
def _bisect_left(F: np.ndarray, base: int, n: int, value: float) -> int:
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if F[base + mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, inline="always")
def _bisect_right(F: np.ndarray, base: int, n: int, value: float) -> int:
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if value < F[base + mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True)
def _add(F: np.ndarray, N: np.ndarray, D: np.ndarray, w: int, value: float) -> None:
    """Add ``value`` (NaN is ignored); the oldest value leaves a full window."""
    if math.isnan(value):
        return
    size, ring, srt, sums, meta, batch = D[w, 0], D[w, 1], D[w, 2], D[w, 3], D[w, 4], D[w, 5]
    count, head = N[meta], N[meta + 1]
    full = count == size
    old = 0.0
    if full:
        old = F[ring + head]
        F[ring + head] = value
        N[meta + 1] = (head + 1) % size
        _neumaier(F, sums, -old)
        _neumaier(F, sums + 2, -old * old)
    else:
        F[ring + (head + count) % size] = value
        count += 1
        N[meta] = count
    _neumaier(F, sums, value)
    _neumaier(F, sums + 2, value * value)
    if batch == 0:
        # exact: one shift between the leaving value's place and the new value's place
        if full:
            # from the leaving value's place, walk towards the new value's place, shifting
            # (it lands after any equal values, where a right bisection would put it)
            q = _bisect_left(F, srt, size, old)
            if old <= value:
                while q + 1 < size and F[srt + q + 1] <= value:
                    F[srt + q] = F[srt + q + 1]
                    q += 1
            else:
                while q > 0 and F[srt + q - 1] > value:
                    F[srt + q] = F[srt + q - 1]
                    q -= 1
            F[srt + q] = value
        else:
            ins = _bisect_right(F, srt, count - 1, value)
            for q in range(count - 1, ins, -1):
                F[srt + q] = F[srt + q - 1]
            F[srt + ins] = value
        N[meta + 3] = count
        return
    pending = N[meta + 2] + 1
    N[meta + 2] = pending
    N[meta + 4] += 1
    if pending >= max(1, count // LAZY_PARTS) or pending > batch:
        _refresh(F, N, D, w)


@njit(cache=True)
def _refresh(F: np.ndarray, N: np.ndarray, D: np.ndarray, w: int) -> None:
    """Bring a lazy window's sorted copy up to date with one merge pass.

    Every value in the sorted copy carries its add number, so the values that left the
    window since the last refresh are skipped by number, and only the new ones are sorted.
    """
    size, ring, srt, meta, tags = D[w, 0], D[w, 1], D[w, 2], D[w, 4], D[w, 6]
    count, head, pending, have, adds = N[meta], N[meta + 1], N[meta + 2], N[meta + 3], N[meta + 4]
    if pending == 0:
        return
    oldest = adds - count  # add number of the oldest value still in the window
    first = (head + count - pending) % size  # the newest ``pending`` ring entries
    added = np.empty(pending)
    for q in range(pending):
        added[q] = F[ring + (first + q) % size]
    order = np.argsort(added)
    out = np.empty(count)
    out_tags = np.empty(count)
    i = a = 0
    for k in range(count):
        while i < have and F[tags + i] < oldest:
            i += 1
        if a < pending and (i >= have or added[order[a]] < F[srt + i]):
            out[k] = added[order[a]]
            out_tags[k] = adds - pending + order[a]
            a += 1
        else:
            out[k] = F[srt + i]
            out_tags[k] = F[tags + i]
            i += 1
    for q in range(count):
        F[srt + q] = out[q]
        F[tags + q] = out_tags[q]
    N[meta + 2] = 0
    N[meta + 3] = count


@njit(cache=True, inline="always")
def _count(N: np.ndarray, D: np.ndarray, w: int) -> int:
    return N[D[w, 4]]


@njit(cache=True)
def _quantile(F: np.ndarray, N: np.ndarray, D: np.ndarray, w: int, q: float) -> float:
    n = N[D[w, 4] + 3]  # values in the sorted copy
    if n == 0:
        return math.nan
    srt = D[w, 2]
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return F[srt + lo] + (F[srt + hi] - F[srt + lo]) * (pos - lo)


@njit(cache=True)
def _std(F: np.ndarray, N: np.ndarray, D: np.ndarray, w: int) -> float:
    n = N[D[w, 4]]
    if n < 2:
        return math.nan
    sums = D[w, 3]
    total = F[sums] + F[sums + 1]
    mean = total / n
    var = (F[sums + 2] + F[sums + 3] - total * mean) / (n - 1)
    if var > _VAR_EPS * (mean * mean + 1.0):
        return math.sqrt(var)
    return 0.0


@njit(cache=True)
def _robust_scale(F: np.ndarray, N: np.ndarray, D: np.ndarray, w: int) -> float:
    scale = (_quantile(F, N, D, w, 0.75) - _quantile(F, N, D, w, 0.25)) * _IQR_TO_SIGMA
    if not scale > 0:
        sd = _std(F, N, D, w)
        scale = sd if sd > 0 else 0.0
    return max(scale, 1e-9 + 1e-6 * abs(_quantile(F, N, D, w, 0.5)))


# --------------------------------------------------------------------------- memory (running max)
@njit(cache=True)
def _mem_add(F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, value: float) -> None:
    """Push a learned deviation; the deque keeps the decreasing maxima of the last ``memory``."""
    memory = P[P_MEMORY]
    vals = P[P_MEM_OFF] + j * memory
    idxs = P[P_MEM_IOFF] + j * memory
    meta = P[P_MEM_META] + 3 * j
    head, length, adds = N[meta], N[meta + 1], N[meta + 2]
    # drop smaller-or-equal values from the back
    while length > 0 and F[vals + (head + length - 1) % memory] <= value:
        length -= 1
    # drop values that left the window from the front
    while length > 0 and N[idxs + head] <= adds - memory:
        head = (head + 1) % memory
        length -= 1
    slot = (head + length) % memory
    F[vals + slot] = value
    N[idxs + slot] = adds
    N[meta], N[meta + 1], N[meta + 2] = head, length + 1, adds + 1


@njit(cache=True)
def _mem_max(F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int) -> float:
    memory = P[P_MEMORY]
    meta = P[P_MEM_META] + 3 * j
    head, length, adds = N[meta], N[meta + 1], N[meta + 2]
    idxs = P[P_MEM_IOFF] + j * memory
    vals = P[P_MEM_OFF] + j * memory
    while length > 0 and N[idxs + head] <= adds - 1 - memory:
        head = (head + 1) % memory
        length -= 1
    return F[vals + head] if length > 0 else -math.inf
