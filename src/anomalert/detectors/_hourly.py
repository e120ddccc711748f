"""The compiled kernel's hour-bucketed history (numba): the range test (the highest and
lowest value of each hour of the last week) and the hourly means in which a daily model looks
for a weekly cycle.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from anomalert.detectors._layout import (
    _NO_T,
    _NS,
    P_LAST_T,
    P_M,
    P_NOV_B,
    P_NOV_ID,
    P_NOV_OFF,
    P_NOV_SPAN,
    P_NOV_W,
    P_PERIOD,
    P_WEEK_H,
    P_WEEK_ID,
    P_WEEK_OFF,
    Q_NOV_E0,
    Q_NOV_K,
    Q_THRESHOLD,
)


# --------------------------------------------------------------------------- range test
@njit(cache=True)
def _range_scan(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, now: int
) -> tuple[float, float]:
    """High and low of feature ``j`` over the last ``B`` buckets."""
    B, m, off, ids = P[P_NOV_B], P[P_M], P[P_NOV_OFF], P[P_NOV_ID]
    hi, lo = -math.inf, math.inf
    for b in range(B):
        k = N[ids + b]
        if k != _NO_T and k > now - B:
            hi = max(hi, F[off + b * m + j])
            lo = min(lo, F[off + (B + b) * m + j])
    return hi, lo


@njit(cache=True)
def _range(F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int) -> tuple[float, float]:
    """Highest and lowest learned value of feature ``j`` over the last ``B`` buckets (NaN
    while the learned buckets span fewer than ``P_NOV_SPAN``)."""
    B, m, off, ids = P[P_NOV_B], P[P_M], P[P_NOV_OFF], P[P_NOV_ID]
    now = (t // _NS) // P[P_NOV_W]
    if now - N[ids + B + 1] < P[P_NOV_SPAN]:
        return math.nan, math.nan
    if N[ids + B] == now:  # the cached high / low of this bucket
        hi, lo = F[off + 2 * B * m + j], F[off + 2 * B * m + m + j]
    else:
        hi, lo = _range_scan(F, N, P, j, now)
    if not hi >= lo:
        return math.nan, math.nan
    return hi, lo


@njit(cache=True)
def _range_learn(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int, x: np.ndarray) -> None:
    """Add a learned point to its bucket and keep the cached high / low current."""
    B, m, off, ids = P[P_NOV_B], P[P_M], P[P_NOV_OFF], P[P_NOV_ID]
    if B == 0:
        return
    now = (t // _NS) // P[P_NOV_W]
    if N[ids + B] == _NO_T or N[ids + B] <= now - B:  # nothing learned within the buckets
        N[ids + B + 1] = now
    b = now % B
    if N[ids + b] != now:
        N[ids + b] = now
        for j in range(m):
            F[off + b * m + j] = -math.inf
            F[off + (B + b) * m + j] = math.inf
    cache = off + 2 * B * m
    fresh = N[ids + B] != now
    for j in range(m):
        v = x[j]
        if not math.isnan(v):
            F[off + b * m + j] = max(F[off + b * m + j], v)
            F[off + (B + b) * m + j] = min(F[off + (B + b) * m + j], v)
        if fresh:
            F[cache + j], F[cache + m + j] = _range_scan(F, N, P, j, now)
        elif not math.isnan(v):
            F[cache + j] = max(F[cache + j], v)
            F[cache + m + j] = min(F[cache + m + j], v)
    N[ids + B] = now


@njit(cache=True)
def _novelty(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray,
    j: int, v: float, sc: float, t: int,
) -> float:
    """Score of a value beyond every value learned over the range's buckets (0: within):
    ``k * threshold`` plus its distance beyond the range in scales, less ``e0``."""
    if P[P_NOV_B] == 0 or math.isnan(v) or not sc > 0:
        return 0.0
    hi, lo = _range(F, N, P, j, t)
    if math.isnan(hi):
        return 0.0
    ex = max(v - hi, lo - v) / sc
    if not ex > Q[Q_NOV_E0]:
        return 0.0
    return Q[Q_NOV_K] * Q[Q_THRESHOLD] + ex - Q[Q_NOV_E0]


@njit(cache=True)
def _novelties(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray,
    t: int, x: np.ndarray, s: np.ndarray, nz: np.ndarray,
) -> None:
    """Every feature's range score into ``nz`` (see :func:`_novelty`), once per point: the
    score and the learning step both read it."""
    for j in range(P[P_M]):
        nz[j] = _novelty(F, N, P, Q, j, x[j], s[j], t)


# --------------------------------------------------------------------------- weekly cycle
_DAY_S = 86_400
_WEEK_S = 7 * _DAY_S


@njit(cache=True)
def _hour_learn(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int, x: np.ndarray) -> None:
    """Add a learned point to its hour's sums (the hourly history the weekly test reads)."""
    H, m = P[P_WEEK_H], P[P_M]
    hour = (t // _NS) // 3600
    b = hour % H
    ids, off = P[P_WEEK_ID], P[P_WEEK_OFF]
    if N[ids + b] != hour:
        N[ids + b] = hour
        for j in range(m):
            F[off + b * m + j] = 0.0
            F[off + (H + b) * m + j] = 0.0
    for j in range(m):
        if not math.isnan(x[j]):
            F[off + b * m + j] += x[j]
            F[off + (H + b) * m + j] += 1.0


@njit(cache=True)
def _lag_corr(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, now: int, lag: int
) -> tuple[float, int]:
    """Correlation of feature ``j``'s hourly means with themselves ``lag`` hours earlier
    (over the kept hours where both exist) and the number of pairs."""
    H, m, ids, off = P[P_WEEK_H], P[P_M], P[P_WEEK_ID], P[P_WEEK_OFF]
    n = 0
    sa = sb = saa = sbb = sab = 0.0
    for h in range(now - H + lag + 1, now + 1):
        a_b, b_b = h % H, (h - lag) % H
        if N[ids + a_b] != h or N[ids + b_b] != h - lag:
            continue
        ca, cb = F[off + (H + a_b) * m + j], F[off + (H + b_b) * m + j]
        if ca == 0 or cb == 0:
            continue
        a, b = F[off + a_b * m + j] / ca, F[off + b_b * m + j] / cb
        n += 1
        sa += a
        sb += b
        saa += a * a
        sbb += b * b
        sab += a * b
    if n < 3:
        return math.nan, n
    va, vb = saa - sa * sa / n, sbb - sb * sb / n
    if not (va > 0 and vb > 0):
        return math.nan, n
    return (sab - sa * sb / n) / math.sqrt(va * vb), n


@njit(cache=True)
def _weekly_check(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int) -> None:
    """At the first learned point of a day, on a daily model: raise the switch flag when the
    kept hours show a weekly cycle: over at least a week of pairs, the hourly means a week
    apart correlate above 0.3 and predict each other clearly better than a day apart (``1 -
    r`` at a week's lag under 0.75x that at a day's: a quarter less squared error)."""
    if P[P_WEEK_H] == 0 or P[P_PERIOD] != _DAY_S or N[P[P_WEEK_ID] + P[P_WEEK_H]] != 0:
        return
    last = N[P[P_LAST_T]]
    if last == _NO_T or (last // _NS) // _DAY_S == (t // _NS) // _DAY_S:
        return
    now = (t // _NS) // 3600
    best_day, best_week = -math.inf, -math.inf
    for j in range(P[P_M]):
        cd, _ = _lag_corr(F, N, P, j, now, 24)
        cw, nw = _lag_corr(F, N, P, j, now, 168)
        if not math.isnan(cd):
            best_day = max(best_day, cd)
        if nw >= 168 and not math.isnan(cw):
            best_week = max(best_week, cw)
    if best_week > 0.3 and 1.0 - best_week < 0.75 * (1.0 - best_day):
        N[P[P_WEEK_ID] + P[P_WEEK_H]] = 1


@njit(cache=True)
def switch_pending(N: np.ndarray, P: np.ndarray) -> bool:
    """True when the weekly test asks the caller to move the seasonal model to a week."""
    return P[P_WEEK_H] > 0 and N[P[P_WEEK_ID] + P[P_WEEK_H]] == 1
