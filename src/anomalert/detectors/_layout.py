"""The compiled kernel's state layout: constants, :func:`new_state` and :func:`with_slots`.

Layout (see :func:`new_state`):

``F`` (float64)
    ring buffers, sorted copies and compensated sums of the rolling windows, then the
    "seen before" memory values.
``N`` (int64)
    per-window ``count`` and ``head``; per-feature memory deque pointers and the
    consecutive-guarded counters; ``n_seen`` and ``last_t`` of the seasonal model.
``D`` (int64, read-only)
    one row per rolling window: ``size``, the offsets of its ring, sorted copy, sums and
    ``(count, head, pending, sorted_count, adds)`` meta, its refresh batch (0 = exact) and,
    for a lazy window, the offset of its sorted copy's tags (each value's add number).
``P`` (int64, read-only) and ``Q`` (float64, read-only)
    parameters, indexed by the ``P_*`` / ``Q_*`` constants below.
``S`` (float64, ``n_slots x history x m``) and ``SC`` (int64, ``n_slots x history``)
    the seasonal slots and the cycle each value came from (empty until the step is known).
"""

from __future__ import annotations

import numpy as np

_NS = 1_000_000_000
_IQR_TO_SIGMA = 1.0 / 1.3489795003921634
_VAR_EPS = 1e-10

# Rolling-window kinds (window index = kind * m + feature).
K_STRAIL = 0  # seasonal model's fallback: raw values, level_window
K_LEVEL = 1  # seasonal residual level, level_window
K_SPREAD = 2  # seasonal residual minus level, window
K_LONG = 3  # seasonal residual level over window
K_TRAIL = 4  # recent level: raw values, trail window
K_RES = 5  # recent level: values minus the seasonal shape, trail window
K_DEV = 6  # deviations from the recent level, dev window
N_KINDS = 7
#: Windows whose sorted copy is refreshed in batches (their statistics span a day).
_LAZY_KINDS = (2, 3, 6)
#: A lazy window refreshes its sorted copy after ``max(1, count // LAZY_PARTS)`` adds.
LAZY_PARTS = 6

# Integer parameters.
P_M = 0
P_MIN_PERIODS = 1
P_SMOOTH = 2
P_HISTORY = 3
P_PERIOD = 4  # seconds, 0 = no seasonal model
P_STEP = 5  # seconds, 0 = not known yet
P_NSLOTS = 6
P_MEMORY = 7  # 0 = no "seen before" test
P_USE_RECENT = 8  # 0 = seasonal model only
P_ESCAPE = 9
P_MEM_OFF = 10  # offset of memory values in F
P_MEM_IOFF = 11  # offset of memory indices in N
P_MEM_META = 12  # offset of (head, length, adds) x m in N
P_GUARDED = 13  # offset of guarded counters in N
P_NSEEN = 14  # offset of the seasonal n_seen in N
P_LAST_T = 15  # offset of the seasonal last_t in N (INT64_MIN = none)
P_SHARED = 16  # 1: the recent level's windows are the seasonal model's (same size, same values)
P_NOV_B = 17  # buckets of the range test, 0 = no such test
P_NOV_W = 18  # seconds per bucket
P_NOV_SPAN = 19  # buckets of history the range needs before the test applies
P_NOV_OFF = 20  # offset in F: bucket maxima (B x m), minima (B x m), cached high (m), low (m)
P_NOV_ID = 21  # offset in N: bucket numbers (B), the cache's bucket, the first bucket learned
P_WEEK_H = 22  # hours of history kept to look for a weekly cycle (0: do not look)
P_WEEK_OFF = 23  # offset in F: hourly sums (H x m), then counts (H x m)
P_WEEK_ID = 24  # offset in N: hour numbers (H), then the switch flag
N_P = 25

# Float parameters.
Q_GUARD = 0  # seasonal |z| from which a feature's levels stop learning (inf = never)
Q_MARGIN = 1  # repeat margin of the "seen before" test
Q_THRESHOLD = 2  # the detector's threshold (the margin applies above it)
Q_NOV_K = 3  # a value beyond the range scores at least this fraction of the threshold...
Q_NOV_E0 = 4  # ... once it is beyond the range by more than this many scales
N_Q = 5

#: Version of the state layout: bump whenever the meaning or placement of anything in
#: ``F``/``N``/``D``/``P``/``Q``/``S``/``SC`` changes, so a state saved by another version is
#: refused instead of being read wrong (see ``CompiledBaseline.__setstate__``).
LAYOUT_VERSION = 5

_NO_T = np.iinfo(np.int64).min
#: ``last_t`` before any point was learned.
NO_T = int(_NO_T)


def new_state(
    m: int,
    *,
    level_window: int,
    window: int,
    trail_window: int,
    dev_window: int,
    memory: int,
    min_periods: int,
    smooth: int,
    history: int,
    period: int,
    use_recent: bool,
    escape: int,
    guard: float,
    margin: float,
    threshold: float,
    share: bool = True,
    range_buckets: int = 0,
    range_bucket_seconds: int = 3600,
    range_span: int = 24,
    range_k: float = 1.0,
    range_e0: float = 1.0,
    week_hours: int = 0,
) -> dict[str, np.ndarray]:
    """Arrays of a fresh state for ``m`` features (slots come later, see :func:`with_slots`).

    ``share=False`` keeps separate copies of windows that could be shared (for tests).
    """
    sizes = {
        K_STRAIL: level_window,
        K_LEVEL: level_window,
        K_SPREAD: window,
        K_LONG: window,
        K_TRAIL: trail_window,
        K_RES: trail_window,
        K_DEV: dev_window,
    }
    # With equal windows the recent level's raw and residual windows would hold exactly the
    # seasonal model's values (the same points, learned in the same order): share them.
    shared = share and use_recent and trail_window == level_window
    aliases = {K_TRAIL: K_STRAIL, K_RES: K_LEVEL} if shared else {}
    D = np.zeros((N_KINDS * m, 7), dtype=np.int64)
    f_off = 0
    i_off = 0
    for kind in range(N_KINDS):
        for j in range(m):
            if kind in aliases:
                D[kind * m + j] = D[aliases[kind] * m + j]
                continue
            size = sizes[kind]
            # day-long windows refresh their sorted copy in batches of size // LAZY_PARTS
            batch = size // LAZY_PARTS if kind in _LAZY_KINDS else 0
            D[kind * m + j] = (size, f_off, f_off + size, f_off + 2 * size, i_off, batch,
                               f_off + 2 * size + 4)
            f_off += 2 * size + 4 + (size if batch else 0)
            i_off += 5
    mem = max(memory, 1)
    P = np.zeros(N_P, dtype=np.int64)
    P[P_M] = m
    P[P_MIN_PERIODS] = min_periods
    P[P_SMOOTH] = smooth
    P[P_HISTORY] = history
    P[P_PERIOD] = period
    P[P_MEMORY] = memory
    P[P_USE_RECENT] = int(use_recent)
    P[P_ESCAPE] = escape
    P[P_SHARED] = int(shared)
    # memory deques: features 0..m-1 remember deviations, m..2m-1 range excesses
    P[P_MEM_OFF] = f_off
    f_off += mem * 2 * m
    P[P_MEM_IOFF] = i_off
    i_off += mem * 2 * m
    P[P_MEM_META] = i_off
    i_off += 3 * 2 * m
    P[P_NOV_B] = range_buckets
    P[P_NOV_W] = max(1, range_bucket_seconds)
    P[P_NOV_SPAN] = range_span
    P[P_NOV_OFF] = f_off
    f_off += range_buckets * 2 * m + 2 * m
    P[P_NOV_ID] = i_off
    i_off += range_buckets + 2
    P[P_WEEK_H] = week_hours
    P[P_WEEK_OFF] = f_off
    f_off += 2 * week_hours * m
    P[P_WEEK_ID] = i_off
    i_off += week_hours + 1
    P[P_GUARDED] = i_off
    i_off += m
    P[P_NSEEN] = i_off
    P[P_LAST_T] = i_off + 1
    i_off += 2
    N = np.zeros(i_off, dtype=np.int64)
    N[P[P_LAST_T]] = _NO_T
    N[P[P_NOV_ID]:P[P_NOV_ID] + range_buckets + 2] = _NO_T
    N[P[P_WEEK_ID]:P[P_WEEK_ID] + week_hours] = _NO_T
    Q = np.array([guard, margin, threshold, range_k, range_e0], dtype=np.float64)
    return {
        "F": np.zeros(f_off, dtype=np.float64),
        "N": N,
        "D": D,
        "P": P,
        "Q": Q,
        "S": np.zeros((0, max(history, 1), m), dtype=np.float64),
        "SC": np.zeros((0, max(history, 1)), dtype=np.int64),
        "V": np.array([LAYOUT_VERSION], dtype=np.int64),
    }


def with_slots(state: dict[str, np.ndarray], step_seconds: int) -> None:
    """Record the step and allocate the seasonal slots (once the step is known)."""
    P = state["P"]
    step = max(1, int(step_seconds))
    P[P_STEP] = step
    period = int(P[P_PERIOD])
    if period <= 0:
        return
    n_slots = max(1, period // step)
    history = int(P[P_HISTORY])
    m = int(P[P_M])
    P[P_NSLOTS] = n_slots
    state["S"] = np.full((n_slots, history, m), np.nan)
    state["SC"] = np.full((n_slots, history), _NO_T, dtype=np.int64)
