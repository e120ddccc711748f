"""Compiled state machine behind ``default`` and ``seasonal`` (numba).

One series' whole state lives in a handful of flat NumPy arrays, so a detector pickles,
clones and deep-copies like any other object, and the same compiled functions serve the
streaming path (one point per call, a few microseconds) and the batch path (a compiled loop
over every point, no Python per point). Both paths run the very same code, so their scores
agree exactly.

The pieces live in sibling modules: :mod:`._layout` (the arrays and their constants),
:mod:`._windows` (rolling windows, the "seen before" memory), :mod:`._hourly` (the range test
and the weekly-cycle check). This module holds the seasonal shape, the deviations, the score
and the learning step, and the entry points; it re-exports the others' names.

The trailing fallbacks (raw values) learn only until the seasonal shape exists; after that
the levels are kept in the shape's frame.

When the recent level's window is as long as the seasonal level's (``default``'s
configuration), its raw and residual windows would hold exactly the seasonal model's values,
learned in the same order; they then share those windows (``P_SHARED``) instead of keeping
copies, which saves one sorted insertion per point and the memory.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from anomalert.detectors._hourly import (  # noqa: F401  (re-exported)
    _hour_learn,
    _novelties,
    _range,
    _range_learn,
    _range_scan,
    _weekly_check,
    switch_pending,
)
from anomalert.detectors._layout import (  # noqa: F401  (re-exported)
    _NO_T,
    _NS,
    K_DEV,
    K_LEVEL,
    K_LONG,
    K_RES,
    K_SPREAD,
    K_STRAIL,
    K_TRAIL,
    LAYOUT_VERSION,
    LAZY_PARTS,
    N_KINDS,
    NO_T,
    P_ESCAPE,
    P_GUARDED,
    P_HISTORY,
    P_LAST_T,
    P_M,
    P_MEMORY,
    P_MIN_PERIODS,
    P_NOV_B,
    P_NOV_OFF,
    P_NSEEN,
    P_NSLOTS,
    P_PERIOD,
    P_SHARED,
    P_SMOOTH,
    P_STEP,
    P_USE_RECENT,
    P_WEEK_H,
    P_WEEK_ID,
    Q_GUARD,
    Q_MARGIN,
    Q_THRESHOLD,
    new_state,
    with_slots,
)
from anomalert.detectors._windows import (  # noqa: F401  (re-exported)
    _add,
    _count,
    _mem_add,
    _mem_max,
    _quantile,
    _robust_scale,
    _std,
)

__all__ = [
    "K_DEV",
    "K_LEVEL",
    "K_LONG",
    "K_RES",
    "K_SPREAD",
    "K_STRAIL",
    "K_TRAIL",
    "LAYOUT_VERSION",
    "LAZY_PARTS",
    "NO_T",
    "P_NOV_B",
    "P_SHARED",
    "N_KINDS",
    "feature_z",
    "learn_point",
    "new_state",
    "run",
    "score_point",
    "seasonal_shape",
    "step",
    "switch_pending",
    "with_slots",
]


# --------------------------------------------------------------------------- seasonal shape
@njit(cache=True)
def _slot(P: np.ndarray, t: int) -> int:
    return ((t // _NS) % P[P_PERIOD]) // P[P_STEP] % P[P_NSLOTS]


@njit(cache=True)
def _cycle(P: np.ndarray, t: int) -> int:
    return t // _NS // P[P_PERIOD]


@njit(cache=True)
def _select(buf: np.ndarray, n: int, k: int) -> float:
    """The ``k``-th smallest of ``buf[:n]`` (Hoare's selection; reorders ``buf[:n]``)."""
    lo, hi = 0, n - 1
    while lo < hi:
        pivot = buf[(lo + hi) >> 1]
        i, j = lo, hi
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while buf[j] > pivot:
                j -= 1
            if i <= j:
                buf[i], buf[j] = buf[j], buf[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return buf[k]


@njit(cache=True)
def _median(buf: np.ndarray, n: int) -> float:
    """Median of ``buf[:n]`` (``n >= 1``), the mean of the middle two for even ``n``."""
    k = (n - 1) // 2
    low = _select(buf, n, k)
    if n % 2 == 1:
        return low
    high = buf[k + 1]
    for q in range(k + 2, n):
        if buf[q] < high:
            high = buf[q]
    return 0.5 * (low + high)


@njit(cache=True)
def seasonal_shape(
    P: np.ndarray, S: np.ndarray, SC: np.ndarray, t: int, out: np.ndarray, buf: np.ndarray
) -> bool:
    """Median of the slot and its neighbours over the remembered cycles, per feature.

    ``buf`` is scratch space of at least ``(2 * smooth + 1) * history`` values. Returns
    False (and leaves ``out`` alone) while some feature has too few values.
    """
    n_slots = P[P_NSLOTS]
    if n_slots == 0 or S.shape[0] == 0:
        return False
    m, smooth, history = P[P_M], P[P_SMOOTH], P[P_HISTORY]
    s = _slot(P, t)
    oldest = _cycle(P, t) - history
    for j in range(m):
        c = 0
        for d in range(-smooth, smooth + 1):
            r = s + d
            if r < 0:
                r += n_slots
            elif r >= n_slots:
                r -= n_slots
            for h in range(history):
                v = S[r, h, j]
                if SC[r, h] >= oldest and not math.isnan(v):
                    buf[c] = v
                    c += 1
        if c < smooth + 1:
            return False
        out[j] = _median(buf, c)
    return True


# --------------------------------------------------------------------------- deviations
@njit(cache=True)
def _seasonal_z(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    x: np.ndarray, shape: np.ndarray, has_shape: bool,
    z: np.ndarray, b: np.ndarray, s: np.ndarray,
) -> None:
    m, mp = P[P_M], P[P_MIN_PERIODS]
    z[:] = math.nan
    b[:] = math.nan
    s[:] = math.nan
    if N[P[P_NSEEN]] < mp:
        return
    for j in range(m):
        v = x[j]
        if math.isnan(v):
            continue
        sp = K_SPREAD * m + j
        if has_shape and _count(N, D, sp) >= mp:
            sd = _std(F, N, D, sp) * 0.5 if _count(N, D, sp) > 1 else 0.0
            sc = max(_robust_scale(F, N, D, sp), sd)
            base = shape[j] + _quantile(F, N, D, K_LEVEL * m + j, 0.5)
            b_long = shape[j] + _quantile(F, N, D, K_LONG * m + j, 0.5)
            if abs(v - b_long) < abs(v - base):
                base = b_long
        else:
            tr = K_STRAIL * m + j
            if _count(N, D, tr) < mp:
                continue
            base = _quantile(F, N, D, tr, 0.5)
            sc = _robust_scale(F, N, D, tr)
        b[j] = base
        s[j] = sc
        z[j] = (v - base) / sc


@njit(cache=True)
def _recent_center(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    j: int, shape: np.ndarray, has_shape: bool,
) -> float:
    """The centre :func:`_recent` would give (without its scale)."""
    m, mp = P[P_M], P[P_MIN_PERIODS]
    res = K_RES * m + j
    if has_shape and _count(N, D, res) >= mp:
        return shape[j] + _quantile(F, N, D, res, 0.5)
    tr = K_TRAIL * m + j
    if _count(N, D, tr) >= mp:
        return _quantile(F, N, D, tr, 0.5)
    return math.nan


@njit(cache=True)
def _recent(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    j: int, shape: np.ndarray, has_shape: bool,
) -> tuple[float, float]:
    m, mp = P[P_M], P[P_MIN_PERIODS]
    res = K_RES * m + j
    tr = K_TRAIL * m + j
    if has_shape and _count(N, D, res) >= mp:
        center = shape[j] + _quantile(F, N, D, res, 0.5)
        scale = _robust_scale(F, N, D, res)
    elif _count(N, D, tr) >= mp:
        center = _quantile(F, N, D, tr, 0.5)
        scale = _robust_scale(F, N, D, tr)
    else:
        return math.nan, math.nan
    dev = K_DEV * m + j
    if _count(N, D, dev) >= mp:
        scale = max(scale, _robust_scale(F, N, D, dev))
        if _count(N, D, dev) > 1:
            scale = max(scale, 0.5 * _std(F, N, D, dev))
    return center, scale


@njit(cache=True)
def _feature_z(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    x: np.ndarray, shape: np.ndarray, has_shape: bool,
    z: np.ndarray, b: np.ndarray, s: np.ndarray, zs: np.ndarray,
) -> None:
    """Deviations into ``z``/``b``/``s``; ``zs`` gets the seasonal model's own deviations."""
    _seasonal_z(F, N, D, P, x, shape, has_shape, z, b, s)
    zs[:] = z
    if P[P_USE_RECENT] == 0:
        return
    for j in range(P[P_M]):
        v = x[j]
        if math.isnan(v):
            continue
        center, scale = _recent(F, N, D, P, j, shape, has_shape)
        if math.isnan(center):
            continue
        zt = (v - center) / scale
        if not abs(zt) >= abs(z[j]):
            z[j] = zt
            b[j] = center
            s[j] = scale


@njit(cache=True)
def _score(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, z: np.ndarray, nz: np.ndarray,
) -> tuple[float, int]:
    """The point's score and the feature whose range test gave it (-1: a deviation did)."""
    m = P[P_M]
    finite = False
    for j in range(m):
        if math.isfinite(z[j]):
            finite = True
    if not finite:
        return math.nan, -1
    best = 0.0
    by_range = -1
    memory = P[P_MEMORY]
    for j in range(m):
        a = abs(z[j])
        if not (math.isfinite(a) and a > best):
            continue
        if memory > 0:
            cutoff = min(a, max(Q[Q_THRESHOLD], a / Q[Q_MARGIN]))
            if _mem_max(F, N, P, j) >= cutoff:
                continue
        best = a
    if P[P_NOV_B] > 0 and not best > Q[Q_THRESHOLD]:  # only where no deviation pages
        for j in range(m):
            if nz[j] > best and not (memory > 0 and _mem_max(F, N, P, m + j) >= nz[j]):
                best = nz[j]
                by_range = j
    return best, by_range


@njit(cache=True)
def _range_explained(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int, v: float, sc: float,
) -> tuple[float, float, float]:
    """Feature ``j``'s explanation by the range test, as (deviation, baseline, scale): the
    baseline is the edge of the range the value passed, the deviation its distance beyond
    it, and the scale comes *negative* to say so (see ``CompiledBaseline._contributions``)."""
    hi, lo = _range(F, N, P, j, t)
    edge = hi if v > hi else lo
    return (v - edge) / sc, edge, -sc


@njit(cache=True)
def _learn(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
    shape: np.ndarray, has_shape: bool, z: np.ndarray, zs: np.ndarray, nz: np.ndarray,
) -> None:
    """Learn one point; ``z`` / ``zs`` hold its deviations (see :func:`_feature_z`)."""
    m, mp = P[P_M], P[P_MIN_PERIODS]
    memory, use_recent, shared = P[P_MEMORY], P[P_USE_RECENT], P[P_SHARED]
    guard, escape = Q[Q_GUARD], P[P_ESCAPE]
    for j in range(m):
        v = x[j]
        if memory > 0 and math.isfinite(z[j]):
            _mem_add(F, N, P, j, abs(z[j]))
        if memory > 0 and P[P_NOV_B] > 0:
            _mem_add(F, N, P, m + j, nz[j])
        # a feature's levels learn only what the seasonal model finds ordinary, unless it
        # has been unusual for ``escape`` learned points in a row (a new normal)
        g = P[P_GUARDED] + j
        ok = not abs(zs[j]) >= guard
        N[g] = 0 if ok else N[g] + 1
        ordinary = ok or N[g] > escape
        if not has_shape:
            # before a seasonal shape exists: the trailing fallbacks (raw values)
            if use_recent != 0:
                center = _recent_center(F, N, D, P, j, shape, has_shape)
                if not math.isnan(center) and not math.isnan(v):
                    _add(F, N, D, K_DEV * m + j, v - center)
                if shared == 0:
                    _add(F, N, D, K_TRAIL * m + j, v)
            _add(F, N, D, K_STRAIL * m + j, v)
            continue
        if math.isnan(v) or not ordinary:
            continue
        if use_recent != 0:
            center = _recent_center(F, N, D, P, j, shape, has_shape)
            if not math.isnan(center):
                _add(F, N, D, K_DEV * m + j, v - center)
            if shared == 0:
                _add(F, N, D, K_RES * m + j, v - shape[j])
        r = v - shape[j]
        lv = K_LEVEL * m + j
        if _count(N, D, lv) >= mp // 2:
            _add(F, N, D, K_SPREAD * m + j, r - _quantile(F, N, D, lv, 0.5))
        _add(F, N, D, lv, r)
        _add(F, N, D, K_LONG * m + j, r)
    if S.shape[0] > 0:
        slot, cyc = _slot(P, t), _cycle(P, t)
        h = cyc % P[P_HISTORY]
        for j in range(m):
            S[slot, h, j] = x[j]
        SC[slot, h] = cyc
    _range_learn(F, N, P, t, x)
    if P[P_WEEK_H] > 0:
        _weekly_check(F, N, P, t)
        _hour_learn(F, N, P, t, x)
    N[P[P_NSEEN]] += 1
    N[P[P_LAST_T]] = t


# --------------------------------------------------------------------------- entry points
@njit(cache=True)
def _measure(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
    z: np.ndarray, b: np.ndarray, s: np.ndarray, zs: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """The seasonal shape at ``t`` and the point's deviations (see :func:`_feature_z`)."""
    shape = np.empty(P[P_M])
    buf = np.empty((2 * P[P_SMOOTH] + 1) * P[P_HISTORY])
    has_shape = seasonal_shape(P, S, SC, t, shape, buf)
    _feature_z(F, N, D, P, x, shape, has_shape, z, b, s, zs)
    return shape, has_shape


@njit(cache=True)
def feature_z(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
    z: np.ndarray, b: np.ndarray, s: np.ndarray,
) -> None:
    """Signed deviation, baseline and scale of every feature at ``(t, x)``: what the point's
    explanation is made of (the range test's, with a negative scale, where it scored)."""
    _measure(F, N, D, P, S, SC, t, x, z, b, s, np.empty(P[P_M]))
    nz = np.empty(P[P_M])
    _novelties(F, N, P, Q, t, x, s, nz)
    _, j = _score(F, N, P, Q, z, nz)
    if j >= 0:
        z[j], b[j], s[j] = _range_explained(F, N, P, j, t, x[j], s[j])


@njit(cache=True)
def score_point(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
) -> float:
    """Score of one point against the state (the state is not changed)."""
    m = P[P_M]
    z = np.empty(m)
    s = np.empty(m)
    _measure(F, N, D, P, S, SC, t, x, z, np.empty(m), s, np.empty(m))
    nz = np.empty(m)
    _novelties(F, N, P, Q, t, x, s, nz)
    return _score(F, N, P, Q, z, nz)[0]


@njit(cache=True)
def learn_point(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
) -> None:
    """Learn one point."""
    m = P[P_M]
    z, zs, s = np.empty(m), np.empty(m), np.empty(m)
    shape, has_shape = _measure(F, N, D, P, S, SC, t, x, z, np.empty(m), s, zs)
    nz = np.empty(m)
    _novelties(F, N, P, Q, t, x, s, nz)
    _learn(F, N, D, P, Q, S, SC, t, x, shape, has_shape, z, zs, nz)


@njit(cache=True)
def step(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
    threshold: float, learn_anyway: bool, z: np.ndarray, b: np.ndarray, s: np.ndarray,
) -> float:
    """Score one point, then learn it unless it scores above ``threshold`` (and not
    ``learn_anyway``): the Monitor's whole step in one call. ``z``/``b``/``s`` receive the
    deviations, baselines and scales the score came from (the state before learning)."""
    zs = np.empty(P[P_M])
    shape, has_shape = _measure(F, N, D, P, S, SC, t, x, z, b, s, zs)
    nz = np.empty(P[P_M])
    _novelties(F, N, P, Q, t, x, s, nz)
    score, j = _score(F, N, P, Q, z, nz)
    if j >= 0:  # explained by the range as it was before this point joins it
        zj, bj, sj = _range_explained(F, N, P, j, t, x[j], s[j])
    if learn_anyway or not score > threshold:
        _learn(F, N, D, P, Q, S, SC, t, x, shape, has_shape, z, zs, nz)
    if j >= 0:
        z[j], b[j], s[j] = zj, bj, sj
    return score


@njit(cache=True)
def run(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, T: np.ndarray, X: np.ndarray, start: int,
    threshold: float, learn_flagged: bool, relearn_after: int, carry: np.ndarray,
    scores: np.ndarray, raw: np.ndarray, Z: np.ndarray, B: np.ndarray, SS: np.ndarray,
) -> int:
    """Score then learn rows ``start..`` of ``X`` in order (the batch path).

    A point scoring above ``threshold`` is not learned unless ``learn_flagged`` or it ends a
    run of more than ``relearn_after`` such points (``carry[0]`` holds the run), exactly as
    the Monitor and ``fit`` decide. ``raw`` receives each point's largest ``|z|`` before the
    "seen before" test. Returns the number of rows done: fewer than all when the series'
    step has just become known and the caller must allocate the slots, then call again.
    When ``Z``/``B``/``SS`` have rows, row ``i`` receives point ``i``'s deviations, baselines
    and scales (what its explanation is made of).
    """
    record = Z.shape[0] > 0
    m = P[P_M]
    shape = np.empty(m)
    buf = np.empty((2 * P[P_SMOOTH] + 1) * P[P_HISTORY])
    z, b, s, zs, nz = np.empty(m), np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    flag_run = carry[0]
    last = P[P_LAST_T]
    for i in range(start, X.shape[0]):
        t = T[i]
        if P[P_STEP] == 0 and N[last] != _NO_T and t > N[last]:
            carry[0] = flag_run
            return i
        x = X[i]
        has_shape = seasonal_shape(P, S, SC, t, shape, buf)
        _feature_z(F, N, D, P, x, shape, has_shape, z, b, s, zs)
        best = math.nan
        for j in range(m):
            a = abs(z[j])
            if math.isfinite(a) and not a <= best:
                best = a
        raw[i] = best
        _novelties(F, N, P, Q, t, x, s, nz)
        score, jr = _score(F, N, P, Q, z, nz)
        scores[i] = score
        if record:
            Z[i] = z
            B[i] = b
            SS[i] = s
            if jr >= 0:
                Z[i, jr], B[i, jr], SS[i, jr] = _range_explained(F, N, P, jr, t, x[jr], s[jr])
        flag_run = flag_run + 1 if score > threshold else 0
        if learn_flagged or flag_run == 0 or flag_run > relearn_after:
            _learn(F, N, D, P, Q, S, SC, t, x, shape, has_shape, z, zs, nz)
            if switch_pending(N, P):  # the caller moves the model to a week, then goes on
                carry[0] = flag_run
                return i + 1
    carry[0] = flag_run
    return X.shape[0]
