"""Compiled state machine behind ``default``, ``seasonal`` and the pieces ``range``, ``noise``,
``drift``, ``shift``, ``flat``, ``sustained`` and ``context`` (numba).

One series' whole state lives in a handful of flat NumPy arrays, so a detector pickles,
clones and deep-copies like any other object, and the same compiled functions serve the
streaming path (one point per call, a few microseconds) and the batch path (a compiled loop
over every point, no Python per point). Both paths run the very same code, so their scores
agree exactly.

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

A rolling window keeps its last ``size`` values in a ring and in a sorted array (median and
quantiles by index) and running sums with Neumaier compensation (mean and standard deviation
in O(1)), the same arithmetic as :class:`anomalert.detectors._stats.RollingStats`. The
hour-long windows keep the sorted array exact at every point (one shift between the leaving
and the arriving value's places). The day-long ones (the seasonal spread, the long level, the
recent level's spread) refresh it after every ``size // LAZY_PARTS`` adds with one merge pass
(their counts and sums stay exact): a day's statistic four hours old is as good as a fresh one,
and it costs a twentieth.

It is one module on purpose: numba's cache notices a change to the file of a compiled
function but not to the files of the functions it calls, so a kernel spread over modules
could run stale code after an edit.

The trailing fallbacks (raw values) learn only until the seasonal shape exists; after that
the levels are kept in the shape's frame. The shape and the levels split a baseline as an
additive Holt-Winters model does: the slots keep each learned value net of the level at the
time (the long level's median), so the shape is the cycle's pattern and a lasting change of
level stays in the levels. Slots of raw values would let the change into the shape too, a
median over the remembered cycles that flips to the new level once most of them have it --
days after the levels learned it -- and the baseline would count it twice: four days after a
deploy raised a CPU from 30 to 45, "cpu=43.3 is 12.8σ below baseline 57.57" paged for two
hours. Moving a daily model to a week puts the level back into the values (the weekly test's
hourly means of what was learned, minus the slots') and moves the level windows by the change
of the shape over the times they come from.

When the recent level's window is as long as the seasonal level's (``default``'s
configuration), its raw and residual windows would hold exactly the seasonal model's values,
learned in the same order; they then share those windows (``P_SHARED``) instead of keeping
copies, which saves one sorted insertion per point and the memory.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

__all__ = [
    "K_DEV",
    "K_DIFF",
    "KIND_CONTEXT",
    "KIND_DEVIATION",
    "KIND_DRIFT",
    "KIND_NOISE",
    "KIND_RANGE",
    "KIND_SHIFT",
    "KIND_FLAT",
    "KIND_SUSTAINED",
    "KIND_SUSTAINED_SHORT",
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
    "P_CTX",
    "P_DEV_SCORE",
    "P_DRIFT_D",
    "P_SHARED",
    "N_KINDS",
    "feature_z",
    "learn_point",
    "new_state",
    "flagged_daily",
    "flapping",
    "learns_flagged",
    "pass_point",
    "run",
    "score_point",
    "seasonal_shape",
    "shapes_at",
    "shift_levels",
    "step",
    "switch_pending",
    "with_slots",
]


def _has_nrt_option() -> bool:
    """Whether numba's CPU target takes ``_nrt``, its (private) switch for reference
    counting; a numba without it compiles everything with counting: slower, same results."""
    try:
        from numba.core.cpu import CPUTargetOptions
    except ImportError:
        return False
    return hasattr(CPUTargetOptions, "_nrt")


_HAS_NRT_OPTION = _has_nrt_option()
_REFCOUNT_OFF: dict[str, Any] = {"_nrt": False} if _HAS_NRT_OPTION else {}
_REFCOUNT_ON: dict[str, Any] = {"_nrt": True} if _HAS_NRT_OPTION else {}


def _helper(inline: str = "never") -> Any:
    """How the kernel's helpers are compiled: without numba's reference counting.

    With it, every call of a compiled function increments and decrements the count of each
    array it is passed (atomic operations, about 30 ns a call here), more than most helpers
    cost; a point goes through dozens of such calls (scoring ``default``'s points took 2.2x as
    long with it). The helpers allocate nothing and keep no array, so they need no counting;
    what they call inherits the setting, except the few functions marked :func:`_allocates`.
    The entry points (called from Python, they allocate scratch arrays) keep numba's
    default.
    """
    options: dict[str, Any] = {"cache": True, "inline": inline, **_REFCOUNT_OFF}
    return njit(**options)


def _allocates() -> Any:
    """How a function that allocates scratch arrays is compiled (with reference counting).
    Helpers call these only where scratch is needed: a lazy window's refresh (every few
    hundred points), an hour's drift, an explanation."""
    options: dict[str, Any] = {"cache": True, **_REFCOUNT_ON}
    return njit(**options)


_NS = 1_000_000_000
_SIGN_BIT = np.uint64(1) << np.uint64(63)
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
K_DIFF = 7  # changes from one point to the next (the noise test's yardstick), window
N_KINDS = 8
#: The windows whose values are measured from the seasonal shape (a level in its frame).
LEVEL_KINDS = (K_LEVEL, K_LONG, K_RES)
#: Windows whose sorted copy is refreshed in batches (their statistics span a day).
_LAZY_KINDS = (2, 3, 6, 7)
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
P_RDAYS = 25  # days the time-of-day recurrence memory keeps (0: no such memory)
P_RBIN = 26  # seconds per time-of-day bin
P_RTOL = 27  # bins either side that count as "the same time of day"
P_RNEED = 28  # earlier days with an as-large isolated spike that make one routine
P_R_OFF = 29  # offset in F: recorded maxima (days x bins x m), then each run's max (m)
P_RC_OFF = 30  # offset in N: day numbers (days x bins), then ``_RSLOTS`` per feature (see
#               there)
P_RMAXLEN = 31  # seconds: only runs no longer than this are spikes
P_RISO = 32  # seconds of calm before and after a run that make it isolated
P_VAR_SUB = 33  # ten-minute parts of the noise test's window (0: no noise test)
P_VAR_B = 34  # hourly buckets of the noise test's history
P_VAR_SPAN = 35  # hours of that history the test needs before it applies
P_VAR_OFF = 36  # offset in F: part sums (R x m), part counts (R x m), hourly highs (B x m),
#                cached high (m), previous value (m), then the longer window's hourly highs
#                (B x m) and cached high (m); R = P_VAR_RING
P_VAR_ID = 37  # offset in N: part numbers (R), hour numbers (B), the cache's hour, the first
#               hour learned, previous time (m), the last time a deviation paged, changes
#               seen (m)
P_FLAP_OFF = 38  # offset in F: flagged runs started, decayed by a day
P_FLAP_ID = 39  # offset in N: when that count was last raised, the last flagged point's time
P_DEV_SCORE = 40  # 1: deviations score; 0: only the range, noise and drift tests do (they
#                  then apply at every point)
P_DRIFT_D = 41  # days over which every hour must have moved one way (0: no drift test)
P_DRIFT_H = 42  # hours of hourly means the drift test keeps
P_DRIFT_OFF = 43  # offset in F: hourly sums (H x m), counts (H x m), then the cached hour's
#                  drift (m), earlier level (m) and yardstick (m)
P_DRIFT_ID = 44  # offset in N: hour numbers (H), then the cached hour
P_CTX = 45  # 1: the context test (more than one feature: are they unusual together?)
P_CTX_OFF = 46  # offset in F: the learned second moments of the deviations (m x m), then
#                scratch for the test's factor (m x m) and solve (m)
P_CTX_ID = 47  # offset in N: points learned into them
P_CTX_W = 48  # points they are averaged over (exponentially)
P_CTX_NEED = 49  # points learned before the test applies
P_VAR_LONG = 50  # ten-minute parts of the noise test's longer window (0: one window only)
P_VAR_RING = 51  # ten-minute parts kept: the longer of the two windows
P_SHIFT_SUB = 52  # ten-minute parts of the shift test's window (0: no shift test)
P_SHIFT_B = 53  # hourly buckets of the shift test's history of window means
P_SHIFT_SPAN = 54  # hours of that history the test needs before it applies
P_SHIFT_OFF = 55  # offset in F: part sums (R x m), part counts (R x m), then per hourly
#                  bucket and feature the window means' high, low, count, mean and
#                  squared deviations side by side (B x m x 5), then the cached hour's
#                  high, low and scale (3 x m) and the cached sums and counts of the
#                  window's earlier parts (2 x m), then scratch for the buckets' means (B)
P_SHIFT_ID = 56  # offset in N: part numbers (R), hour numbers (B), the cache's hour, the
#                 first hour followed, the last time another test paged, the cached part
P_FLAT_H = 57  # hours of the flat test's window (0: no flat test)
P_FLAT_B = 58  # hourly buckets it keeps: the history plus one window
P_FLAT_SPAN = 59  # windows (one ending at each hour) the history needs before the test applies
P_FLAT_OFF = 60  # offset in F: per hourly bucket and feature the high, low and count of the
#                 values side by side (B x m x 3), then the cached hour's narrowest window of
#                 the history and the high, low and count of the window's earlier hours
#                 (4 x m), then the range of the window ending at each hour (B x m, NaN: too
#                 few points)
P_FLAT_ID = 61  # offset in N: hour numbers (B), the cache's hour, the hour each window
#                ending there was measured for (B)
P_QOFF = 62  # offset in F: each feature's previous value (m), then its step (m)
P_QID = 63  # offset in N: per feature the changes seen since its step was last lowered (m),
#             then how many of them were whole numbers of it (m)
P_EP_OFF = 64  # offset in F: per feature the peaks of its last ``_EPISODES`` spikes, then the
#               current spike's peak (see :func:`_spike_learn`)
P_EP_ID = 65  # offset in N: per feature those spikes' last times and whether each paged, the
#              ring's head, then the current spike's last time and whether it paged
P_EP_GAP = 66  # seconds without a learned deviation over the threshold that end a spike
P_DAILY_ID = 67  # offset in N: per time-of-day cell (``_RHYTHM_DAYS`` days x bins of
#                 ``P_RBIN`` seconds), the day a point was flagged in it (see
#                 :func:`flagged_daily`; no cells without the recurrence memory)
P_SUS_TAU = 68  # seconds: the sustained test's time constant (0: no sustained test)
P_SUS_OFF = 69  # offset in F: per feature the average deviation (m), the long-run mean
#                square of that average (m), the weight that mean has gathered (m), and the
#                averages of the values (m) and of their seasonal baselines (m); the same
#                five for the shorter average (5m, see ``_SUS_SHORT``); then the last step
#                seen and its three weights (4, see :func:`_sus_weights`: a cache, which
#                scoring may fill)
P_SUS_ID = 70  # offset in N: per feature the last time its average moved (m), then the
#               first point's time, the last time another test paged
P_DAILY_OFF = 71  # offset in F: per rhythm cell (as ``P_DAILY_ID``) the largest score a point
#                  flagged there that day had (or would have had, see ``BY_RHYTHM``)
N_P = 72

# Float parameters.
Q_GUARD = 0  # seasonal |z| from which a feature's levels stop learning (inf = never)
Q_MARGIN = 1  # repeat margin of the "seen before" test
Q_THRESHOLD = 2  # the detector's threshold (the margin applies above it)
Q_NOV_K = 3  # a value beyond the range scores at least this fraction of the threshold...
Q_NOV_E0 = 4  # ... once it is beyond the range by more than this many scales
Q_RECUR_MIN = 5  # fraction of the threshold from which a deviation is a spike (or routine)
Q_VAR_K = 6  # the noise test pages when the window's noise is this many times its history's high
Q_VAR_CLIP = 7  # a change counts at most this many scales towards the noise
Q_FLAP = 8  # flagged runs per day from which flagged points are learned (0: never)
Q_DRIFT_K = 9  # the drift test pages when hours moved this many usual day-over-day changes
Q_CTX_CLIP = 10  # a deviation counts at most this many scales towards the correlations
Q_CTX_SHRINK = 11  # how far the learned correlations are pulled towards none (0..1)
Q_SHIFT_K = 12  # a window mean beyond the range of the history's window means scores at
#                least this fraction of the threshold...
Q_SHIFT_E0 = 13  # ... once it is beyond by more than this many scales of those means
Q_FLAT_K = 14  # the flat test pages when the window's range is this many times narrower
#                than the history's narrowest
Q_SUS_E0 = 15  # the sustained test pages when the average deviation is this many times its
#                usual spread
Q_SUS_E0_SHORT = 16  # ... or when its shorter average (see ``_SUS_SHORT``) is this many times
#                      that average's usual spread
N_Q = 17

# What scored a feature (the ``kind`` arrays of :func:`step`, :func:`run`, :func:`feature_z`).
KIND_DEVIATION = 0  # a deviation from the baseline
KIND_RANGE = 1  # the range test: beyond the learned high / low
KIND_NOISE = 2  # the noise test: changes larger than the history's noisiest hours
KIND_DRIFT = 3  # the drift test: every hour moved one way, day after day
KIND_CONTEXT = 4  # the context test: against what the other features' deviations imply
KIND_SHIFT = 5  # the shift test: the window's mean beyond the range of the history's means
KIND_FLAT = 6  # the flat test: the window's range far narrower than any of the history's
KIND_SUSTAINED = 7  # the sustained test: deviations one way, moderate but lasting
KIND_SUSTAINED_SHORT = 8  # the same, on its shorter average (see ``_SUS_SHORT``)
#: Fraction of the drift test's day-over-day changes that may disagree with its direction.
_DRIFT_ALLOW = 0.25
#: Seconds per part of the noise test's window.
_VAR_PART = 600
#: The noise test's yardstick keeps every this-many-th change (a quarter of the work; the
#: spread of 360 of a day's 1440 changes is as good a yardstick).
_VAR_THIN = 4

#: Version of the state layout: bump whenever the meaning or placement of anything in
#: ``F``/``N``/``D``/``P``/``Q``/``S``/``SC`` changes, so a state saved by another version is
#: refused instead of being read wrong (see ``CompiledBaseline.__setstate__``).
LAYOUT_VERSION = 26

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
    recur_days: int = 0,
    recur_bin: int = 900,
    recur_tolerance: int = 4,
    recur_need: int = 2,
    recur_min: float = 1.0,
    recur_max_seconds: int = 1800,
    recur_isolation: int = 3600,
    noise_hours: int = 0,
    noise_buckets: int = 168,
    noise_span: int = 24,
    noise_k: float = 1.5,
    noise_clip: float = 3.0,
    noise_long_hours: int = 0,
    flap_runs: float = 0.0,
    deviations: bool = True,
    drift_days: int = 0,
    drift_history: int = 7,
    drift_k: float = 3.0,
    context: bool = False,
    context_window: int = 1440,
    context_need: int = 120,
    context_clip: float = 3.0,
    context_shrink: float = 0.2,
    shift_hours: int = 0,
    shift_buckets: int = 168,
    shift_span: int = 24,
    shift_k: float = 0.8,
    shift_e0: float = 1.0,
    flat_hours: int = 0,
    flat_history: int = 168,
    flat_span: int = 48,
    flat_k: float = 5.0,
    spike_gap: int = 1800,
    sustained_seconds: int = 0,
    sustained_e0: float = 9.0,
    sustained_short_e0: float = 6.0,
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
        K_DIFF: max(2, window // _VAR_THIN) if noise_hours > 0 else 2,
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
    P[P_DEV_SCORE] = int(deviations)
    # memory deques: features 0..m-1 remember deviations, m..2m-1 range excesses, 2m the
    # context test's scores, 2m+1..3m the shift test's, 3m+1..4m the flat test's, 4m+1..5m
    # the sustained test's
    P[P_MEM_OFF] = f_off
    f_off += mem * (5 * m + 1)
    P[P_MEM_IOFF] = i_off
    i_off += mem * (5 * m + 1)
    P[P_MEM_META] = i_off
    i_off += 3 * (5 * m + 1)
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
    n_bins = max(1, 86_400 // max(1, recur_bin))
    P[P_RDAYS], P[P_RBIN], P[P_RTOL], P[P_RNEED] = recur_days, 86_400 // n_bins, recur_tolerance, recur_need
    P[P_RMAXLEN], P[P_RISO] = recur_max_seconds, recur_isolation
    P[P_R_OFF] = f_off
    f_off += recur_days * n_bins * m + m
    P[P_RC_OFF] = i_off
    i_off += recur_days * n_bins + _RSLOTS * m
    P[P_DAILY_ID] = i_off
    rhythm_cells = _RHYTHM_DAYS * n_bins if recur_days > 0 else 0
    i_off += rhythm_cells
    P[P_DAILY_OFF] = f_off
    f_off += rhythm_cells
    parts = noise_hours * 3600 // _VAR_PART if noise_hours > 0 else 0
    nb = noise_buckets if parts else 0
    long_parts = noise_long_hours * 3600 // _VAR_PART if parts and noise_long_hours > noise_hours else 0
    ring = max(parts, long_parts)
    P[P_VAR_SUB], P[P_VAR_B], P[P_VAR_SPAN] = parts, nb, noise_span
    P[P_VAR_LONG], P[P_VAR_RING] = long_parts, ring
    P[P_VAR_OFF] = f_off
    f_off += (2 * ring + nb + 2) * m + (nb + 1) * m
    P[P_VAR_ID] = i_off
    i_off += ring + nb + 3 + 2 * m
    P[P_FLAP_OFF] = f_off
    f_off += 1
    P[P_QOFF] = f_off
    f_off += 2 * m
    P[P_QID] = i_off
    i_off += 2 * m
    P[P_FLAP_ID] = i_off
    i_off += 2
    dh = 24 * drift_history if drift_days > 0 else 0
    P[P_DRIFT_D], P[P_DRIFT_H] = (drift_days, dh) if dh else (0, 0)
    P[P_DRIFT_OFF] = f_off
    f_off += 2 * dh * m + 3 * m
    P[P_DRIFT_ID] = i_off
    i_off += dh + 1
    P[P_CTX] = int(context and m >= 2)
    P[P_CTX_OFF] = f_off
    f_off += 2 * m * m + m if P[P_CTX] else 0
    P[P_CTX_ID] = i_off
    i_off += 1
    P[P_CTX_W], P[P_CTX_NEED] = max(1, context_window), max(2, context_need)
    sparts = shift_hours * 3600 // _VAR_PART if shift_hours > 0 else 0
    sb = shift_buckets if sparts else 0
    P[P_SHIFT_SUB], P[P_SHIFT_B], P[P_SHIFT_SPAN] = sparts, sb, shift_span
    P[P_SHIFT_OFF] = f_off
    f_off += (2 * sparts + 5 * sb + 5) * m + sb
    P[P_SHIFT_ID] = i_off
    i_off += sparts + sb + 4
    fb = flat_history + flat_hours + _FLAT_SLACK if flat_hours > 0 else 0
    P[P_FLAT_H], P[P_FLAT_B], P[P_FLAT_SPAN] = (flat_hours, fb, flat_span) if fb else (0, 0, 0)
    P[P_FLAT_OFF] = f_off
    f_off += (4 * fb + 4) * m
    P[P_FLAT_ID] = i_off
    i_off += 2 * fb + 1
    P[P_EP_OFF], P[P_EP_ID], P[P_EP_GAP] = f_off, i_off, max(1, spike_gap)
    f_off += (_EPISODES + 1) * m
    i_off += (2 * _EPISODES + 3) * m
    P[P_SUS_TAU] = max(0, sustained_seconds)
    P[P_SUS_OFF] = f_off
    f_off += 10 * m + 4
    P[P_SUS_ID] = i_off
    i_off += m + 2
    P[P_GUARDED] = i_off
    i_off += m
    P[P_NSEEN] = i_off
    P[P_LAST_T] = i_off + 1
    i_off += 2
    N = np.zeros(i_off, dtype=np.int64)
    N[P[P_LAST_T]] = _NO_T
    N[P[P_NOV_ID]:P[P_NOV_ID] + range_buckets + 2] = _NO_T
    N[P[P_WEEK_ID]:P[P_WEEK_ID] + week_hours] = _NO_T
    N[P[P_RC_OFF]:P[P_RC_OFF] + recur_days * n_bins] = _NO_T
    N[P[P_DAILY_ID]:P[P_DAILY_ID] + rhythm_cells] = _NO_T
    for j in range(m):  # no deviation yet: the first run is isolated
        ladder = P[P_RC_OFF] + recur_days * n_bins + _RSLOTS * j + 5
        N[ladder:ladder + 3 * _LV] = _NO_T
    N[P[P_VAR_ID]:P[P_VAR_ID] + ring + nb + 3 + m] = _NO_T
    N[P[P_FLAP_ID]] = _NO_T
    N[P[P_DRIFT_ID]:P[P_DRIFT_ID] + dh + 1] = _NO_T
    N[P[P_SHIFT_ID]:P[P_SHIFT_ID] + sparts + sb + 4] = _NO_T
    N[P[P_FLAT_ID]:P[P_FLAT_ID] + 2 * fb + 1] = _NO_T
    N[P[P_SUS_ID]:P[P_SUS_ID] + m + 2] = _NO_T
    for j in range(m):  # no spike yet
        ep = P[P_EP_ID] + (2 * _EPISODES + 3) * j
        N[ep:ep + _EPISODES] = _NO_T
        N[ep + 2 * _EPISODES + 1] = _NO_T
    Q = np.array([guard, margin, threshold, range_k, range_e0, recur_min, noise_k, noise_clip,
                  flap_runs, drift_k, context_clip, context_shrink, shift_k, shift_e0,
                  flat_k, sustained_e0, sustained_short_e0],
                 dtype=np.float64)
    F = np.zeros(f_off, dtype=np.float64)
    F[P[P_QOFF]:P[P_QOFF] + m] = math.nan
    F[P[P_QOFF] + m:P[P_QOFF] + 2 * m] = math.inf
    return {
        "F": F,
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


# --------------------------------------------------------------------------- rolling windows
@_helper(inline="always")
def _neumaier(F: np.ndarray, k: int, value: float) -> None:
    total = F[k]
    new = total + value
    if abs(total) >= abs(value):
        F[k + 1] += (total - new) + value
    else:
        F[k + 1] += (value - new) + total
    F[k] = new


@_helper(inline="always")
def _bisect_left(F: np.ndarray, base: int, n: int, value: float) -> int:
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if F[base + mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_helper(inline="always")
def _bisect_right(F: np.ndarray, base: int, n: int, value: float) -> int:
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if value < F[base + mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@_helper()
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


@_allocates()
def _radix_order(values: np.ndarray) -> np.ndarray:
    """The order that sorts ``values`` (no NaN; ties keep their order), by a least-significant
    digit radix sort of their bits, a byte at a time: a few hundred values sort in a third of
    the time a comparison sort takes (its branches on unordered values mispredict). Bytes
    that every value shares are skipped. -0.0 sorts before 0.0."""
    n = values.shape[0]
    bits = values.view(np.uint64)
    keys = np.empty(n, dtype=np.uint64)
    order = np.empty(n, dtype=np.int64)
    for q in range(n):  # flip so that unsigned order is the floats' order
        b = bits[q]
        keys[q] = ~b if b >> np.uint64(63) else b | _SIGN_BIT
        order[q] = q
    counts = np.zeros((8, 256), dtype=np.int64)
    for q in range(n):
        k = keys[q]
        for p in range(8):
            counts[p, (k >> np.uint64(8 * p)) & np.uint64(255)] += 1
    keys2 = np.empty(n, dtype=np.uint64)
    order2 = np.empty(n, dtype=np.int64)
    for p in range(8):
        c = counts[p]
        shared = False
        for b in range(256):
            if c[b] != 0:
                shared = c[b] == n
                break
        if shared:
            continue
        start = 0
        for b in range(256):
            start, c[b] = start + c[b], start
        shift = np.uint64(8 * p)
        for q in range(n):
            k = keys[q]
            d = (k >> shift) & np.uint64(255)
            at = c[d]
            c[d] = at + 1
            keys2[at] = k
            order2[at] = order[q]
        keys, keys2 = keys2, keys
        order, order2 = order2, order
    return order


@_allocates()
def _refresh(F: np.ndarray, N: np.ndarray, D: np.ndarray, w: int) -> None:
    """Bring a lazy window's sorted copy up to date.

    Every value in the sorted copy carries its add number, so the values that left the
    window since the last refresh are dropped by number (one pass), and only the new ones
    are sorted, then merged in (a second pass). Both passes choose without branching on
    the values (a branch on which side of a merge comes next mispredicts about as often as
    the sides alternate: the refresh took twice as long that way).
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
    order = _radix_order(added)
    new_v = np.empty(pending)
    new_t = np.empty(pending)
    for q in range(pending):
        o = order[q]
        new_v[q] = added[o]
        new_t[q] = adds - pending + o
    old_v = np.empty(have + 1)  # (one spare: a read past the end is never used)
    old_t = np.empty(have + 1)
    kept = 0
    for i in range(have):  # the values still in the window, in order
        t = F[tags + i]
        old_v[kept] = F[srt + i]
        old_t[kept] = t
        kept += t >= oldest
    old_v[kept] = 0.0
    old_t[kept] = 0.0
    i = a = 0
    last = pending - 1
    for k in range(kept + pending):  # merge; on ties the older value first
        va, ta = new_v[min(a, last)], new_t[min(a, last)]
        vi, ti = old_v[i], old_t[i]
        take = (a < pending) & ((i >= kept) | (va < vi))
        F[srt + k] = va if take else vi
        F[tags + k] = ta if take else ti
        a += take
        i += 1 - take
    N[meta + 2] = 0
    N[meta + 3] = kept + pending


@_helper()
def _shift_window(F: np.ndarray, N: np.ndarray, D: np.ndarray, w: int, c: float) -> None:
    """Subtract ``c`` from every value of window ``w`` (their order stays; sums recomputed)."""
    size, ring, srt, sums, meta = D[w, 0], D[w, 1], D[w, 2], D[w, 3], D[w, 4]
    count, head, have = N[meta], N[meta + 1], N[meta + 3]
    for q in range(have):
        F[srt + q] -= c
    for k in range(4):
        F[sums + k] = 0.0
    for q in range(count):
        i = ring + (head + q) % size
        F[i] -= c
        _neumaier(F, sums, F[i])
        _neumaier(F, sums + 2, F[i] * F[i])


@_helper(inline="always")
def _count(N: np.ndarray, D: np.ndarray, w: int) -> int:
    return N[D[w, 4]]


@_helper()
def _quantile(F: np.ndarray, N: np.ndarray, D: np.ndarray, w: int, q: float) -> float:
    n = N[D[w, 4] + 3]  # values in the sorted copy
    if n == 0:
        return math.nan
    srt = D[w, 2]
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return F[srt + lo] + (F[srt + hi] - F[srt + lo]) * (pos - lo)


@_helper()
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


@_helper()
def _robust_scale(F: np.ndarray, N: np.ndarray, D: np.ndarray, w: int) -> float:
    scale = (_quantile(F, N, D, w, 0.75) - _quantile(F, N, D, w, 0.25)) * _IQR_TO_SIGMA
    if not scale > 0:
        sd = _std(F, N, D, w)
        scale = sd if sd > 0 else 0.0
    return max(scale, 1e-9 + 1e-6 * abs(_quantile(F, N, D, w, 0.5)))


# --------------------------------------------------------------------------- memory (running max)
@_helper()
def _mem_add(F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, value: float) -> None:
    """Push a learned deviation; the deque keeps the decreasing maxima of the last ``memory``.

    A value of 0 or less (most points: no range excess, no shift) only counts as an add:
    every test asks whether the memory holds a positive cutoff, which such a value never
    reaches, and what left the window is dropped lazily (here and in :func:`_mem_max`)."""
    meta = P[P_MEM_META] + 3 * j
    if not value > 0.0:
        N[meta + 2] += 1
        return
    memory = P[P_MEMORY]
    vals = P[P_MEM_OFF] + j * memory
    idxs = P[P_MEM_IOFF] + j * memory
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


@_helper()
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


#: Spikes over the threshold each feature's deviations remember (a day rarely holds more
#: that matter: a repeat needs two of them, see :func:`_spikes_seen`).
_EPISODES = 16


@_helper(inline="always")
def _spike_slots(P: np.ndarray, j: int) -> tuple[int, int, int]:
    """Offsets of feature ``j``'s spike memory: its peaks in F (the ring's, then the current
    spike's), its times and paged marks in N (the ring's, then its head), and the current
    spike's last time in N (its paged mark follows)."""
    no = P[P_EP_ID] + (2 * _EPISODES + 3) * j
    return P[P_EP_OFF] + (_EPISODES + 1) * j, no, no + 2 * _EPISODES + 1


@_helper()
def _spike_learn(F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, j: int, t: int, a: float) -> None:
    """Follow feature ``j``'s spikes over the threshold among its learned deviations: a
    learned ``a`` over the threshold joins the current spike when it comes within
    ``P_EP_GAP`` seconds of the spike's last one (raising its peak), else it closes that
    spike into the ring of the last ``_EPISODES`` and starts a new one."""
    if not a > Q[Q_THRESHOLD]:
        return
    fo, no, cur = _spike_slots(P, j)
    last = N[cur]
    if last != _NO_T and t - last <= P[P_EP_GAP] * _NS:
        F[fo + _EPISODES] = max(F[fo + _EPISODES], a)
        N[cur] = t
        return
    if last != _NO_T:
        h = N[no + 2 * _EPISODES]
        F[fo + h] = F[fo + _EPISODES]
        N[no + h] = last
        N[no + _EPISODES + h] = N[cur + 1]
        N[no + 2 * _EPISODES] = (h + 1) % _EPISODES
    F[fo + _EPISODES] = a
    N[cur] = t
    N[cur + 1] = 0


@_helper()
def _spike_paged(N: np.ndarray, P: np.ndarray, t: int) -> None:
    """Mark the current spike of every feature that learned a point at ``t`` as paged."""
    for j in range(P[P_M]):
        cur = _spike_slots(P, j)[2]
        if N[cur] == t:
            N[cur + 1] = 1


@_helper()
def _spikes_seen(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, j: int, t: int, a: float,
) -> bool:
    """Whether deviation ``a`` (over the threshold) of feature ``j`` repeats what its
    learned spikes of the last day make ordinary, a spike counting when its peak is at least
    ``max(threshold, a / margin)``: the current spike does (a later, no larger point of one
    spike is not news), as does one earlier spike that did not page (it was ordinary
    already), or two that paged. One incident does not make the next like it ordinary: a
    second within the day pages; a third does not."""
    cut = max(Q[Q_THRESHOLD], a / Q[Q_MARGIN])
    fo, no, cur = _spike_slots(P, j)
    span = P[P_MEMORY] * max(P[P_STEP], 1) * _NS  # the memory's day
    weight = 0  # two for a spike that did not page, one for one that did
    last = N[cur]
    if last != _NO_T and t - last <= span and F[fo + _EPISODES] >= cut:
        if t - last <= P[P_EP_GAP] * _NS:
            return True
        weight += 1 if N[cur + 1] == 1 else 2
    for e in range(_EPISODES):
        te = N[no + e]
        if te != _NO_T and t - te <= span and F[fo + e] >= cut:
            weight += 1 if N[no + _EPISODES + e] == 1 else 2
    return weight >= 2


# --------------------------------------------------------------------------- range test
@_helper()
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


@_helper()
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


@_helper()
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


@_helper()
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


@_helper()
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
#: Public names of the time constants, for the Python side (:mod:`._weekly`).
DAY_S, WEEK_S, NS = _DAY_S, _WEEK_S, _NS


@_helper(inline="always")
def _ring_slot(
    F: np.ndarray, N: np.ndarray, off: int, ids: int, H: int, m: int, key: int,
) -> int:
    """The slot of ``key`` (an hour, a ten-minute part) in a ring of ``H`` slots of sums
    ``(H x m)`` then counts ``(H x m)`` at ``F[off:]``, keys at ``N[ids:]``; a slot that held
    another key starts again from zero."""
    b = key % H
    if N[ids + b] != key:
        N[ids + b] = key
        for j in range(m):
            F[off + b * m + j] = 0.0
            F[off + (H + b) * m + j] = 0.0
    return b


@_helper()
def _hour_add(
    F: np.ndarray, N: np.ndarray, off: int, ids: int, H: int, m: int, hour: int, x: np.ndarray,
) -> None:
    """Add a point to ``hour``'s sums and counts in a ring of ``H`` hours (see
    :func:`_ring_slot`)."""
    b = _ring_slot(F, N, off, ids, H, m, hour)
    for j in range(m):
        if not math.isnan(x[j]):
            F[off + b * m + j] += x[j]
            F[off + (H + b) * m + j] += 1.0


@_helper()
def _hour_learn(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int, x: np.ndarray) -> None:
    """Add a learned point to its hour's sums (the hourly history the weekly test reads)."""
    _hour_add(F, N, P[P_WEEK_OFF], P[P_WEEK_ID], P[P_WEEK_H], P[P_M], (t // _NS) // 3600, x)


@_helper()
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


@_helper()
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


@_helper()
def switch_pending(N: np.ndarray, P: np.ndarray) -> bool:
    """True when the weekly test asks the caller to move the seasonal model to a week."""
    return P[P_WEEK_H] > 0 and N[P[P_WEEK_ID] + P[P_WEEK_H]] == 1


# --------------------------------------------------------------------------- time-of-day recurrence
#: A spike is routine if the same hour saw spikes at least this many times smaller.
_ROUTINE_RATIO = 2.0
#: Calm around a spike: no deviation its way of this fraction of its peak or more (and the
#: lowest level of the ladder below, as this fraction of the loud level).
_CALM = 0.5
#: Levels of the ladder of last-deviation times (see :func:`_note`).
_LV = 16
#: Per-feature slots of the recurrence memory's run state in N: run length, first t, last t,
#: pending record, direction; then the ladder's times of the last deviation upwards, and
#: downwards, and its copy taken when the current run started.
_RSLOTS = 5 + 3 * _LV


@_helper(inline="always")
def _cell(P: np.ndarray, sec: int, days: int) -> tuple[int, int]:
    """(day number, cell index) of a time in seconds in a memory of ``days`` days of
    time-of-day bins (``P_RBIN`` seconds): the recurrence memory's and the rhythm marks'."""
    day = sec // 86_400
    n_bins = 86_400 // P[P_RBIN]
    return day, (day % days) * n_bins + (sec % 86_400) // P[P_RBIN]


@_helper()
def _record(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int, j: int, a: float) -> None:
    """Record spike size ``a`` of feature ``j`` at the time-of-day bin of ``t`` (the max)."""
    m = P[P_M]
    day, cell = _cell(P, t // _NS, P[P_RDAYS])
    rc, base = P[P_RC_OFF] + cell, P[P_R_OFF] + cell * m
    if N[rc] != day:
        N[rc] = day
        for k in range(m):
            F[base + k] = 0.0
    if a > F[base + j]:
        F[base + j] = a


@_helper()
def _level(base: float, a: float) -> int:
    """Index of the largest level base x 2^i at most ``a`` (0 below base; at most _LV - 1)."""
    i = 0
    lv = base
    while i < _LV - 1 and lv * 2.0 <= a:
        lv *= 2.0
        i += 1
    return i


@_helper()
def _note(F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, t: int, z: np.ndarray) -> None:
    """Follow each feature's spikes (flagged or not) for the recurrence memory.

    A spike is a run of deviations of at least ``recur_min`` x threshold, all the same way,
    that lasts at most ``P_RMAXLEN`` seconds, with no deviation the same way of half its
    peak or more for ``P_RISO`` seconds before it and after it: a nightly job, not a level
    shift that wavers around the threshold nor a burst of like spikes. Calm is relative to
    the spike: an idle host's blips a twentieth of its job's height do not spoil the job's
    calm, nor start a run while the job's spike awaits its calm after; deviations the other
    way never do. Once that calm has passed, the spike's peak is recorded at the time of day
    it started.

    Times of the last deviation of each size are kept per direction on a ladder of levels
    (half the loud level, doubling), so the calm before a run is read from the ladder as it
    was when the run started.
    """
    days = P[P_RDAYS]
    if days == 0:
        return
    m = P[P_M]
    loud = Q[Q_RECUR_MIN] * Q[Q_THRESHOLD]
    base = _CALM * loud
    iso = P[P_RISO] * _NS
    cells = days * (86_400 // P[P_RBIN])
    st = P[P_RC_OFF] + cells
    for j in range(m):
        r = st + _RSLOTS * j
        lu, ld, snap = r + 5, r + 5 + _LV, r + 5 + 2 * _LV
        k = P[P_R_OFF] + cells * m + j
        zj = z[j]
        a = abs(zj)
        if math.isnan(a):
            continue
        up = zj > 0
        lv = lu if up else ld
        same = (N[r + 4] > 0) == up
        if N[r] > 0 and not (a >= loud and same):  # the run ended
            short = (N[r + 2] - N[r + 1]) // _NS <= P[P_RMAXLEN]
            last = N[snap + _level(base, _CALM * F[k])]
            before = last == _NO_T or N[r + 1] - last >= iso
            N[r + 3] = 1 if (short and before) else 0
            N[r] = 0
        if a >= loud:
            if N[r] > 0:
                F[k] = max(F[k], a)
                N[r] += 1
                N[r + 2] = t
            elif N[r + 3] == 1 and (not same or a < _CALM * F[k]):
                pass  # a dip, or a blip small beside the pending spike: neither spoils it
            else:
                for i in range(_LV):
                    N[snap + i] = N[lv + i]
                N[r + 1] = t
                N[r + 2] = t
                N[r + 4] = 1 if up else -1
                F[k] = a
                N[r + 3] = 0
                N[r] = 1
        elif a >= base and N[r + 3] == 1 and same and a >= _CALM * F[k]:
            N[r + 3] = 0
        if a >= base:
            top = _level(base, a)
            for i in range(top + 1):
                N[lv + i] = t
        if N[r] == 0 and N[r + 3] == 1:
            lvs = lu if N[r + 4] > 0 else ld
            if t - N[lvs + _level(base, _CALM * F[k])] >= iso:
                _record(F, N, P, N[r + 1], j, F[k])
                N[r + 3] = 0


#: Days of time-of-day marks :func:`flagged_daily` keeps: two weeks and a day.
_RHYTHM_DAYS = 15


@_helper()
def _rhythm_size(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int) -> float:
    """The size of the series' rhythm at ``t`` (0: none, see :func:`flagged_daily`): the
    smallest of the largest scores flagged in this time of day's bin on the days that make
    it one (each is over the threshold, so a rhythm's size is never 0)."""
    if P[P_RDAYS] == 0:
        return 0.0
    sec = t // _NS
    weekly = _marked_size(F, N, P, sec, 7, 2)  # the same weekday each of two weeks
    if weekly > 0.0:
        return weekly
    return _marked_size(F, N, P, sec, 1, min(P[P_RNEED], _RHYTHM_DAYS - 1))  # each day


@_helper(inline="always")
def _marked_size(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, sec: int, every: int, times: int,
) -> float:
    """The smallest size marked in the time-of-day bin of ``sec`` ``every``, ``2 every``, ...
    ``times every`` days earlier (0 where one of them is not marked)."""
    size = math.inf
    for k in range(1, times + 1):
        day, cell = _cell(P, sec - k * every * 86_400, _RHYTHM_DAYS)
        if N[P[P_DAILY_ID] + cell] != day:
            return 0.0
        size = min(size, F[P[P_DAILY_OFF] + cell])
    return size if math.isfinite(size) else 0.0


@_helper()
def flagged_daily(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int) -> bool:
    """True when a point was flagged in this time of day's bin (``P_RBIN`` seconds, a
    quarter of an hour) on each of the last ``P_RNEED`` days, or on the same weekday each of
    the last two weeks: the series' rhythm (a business-hours plateau, a nightly batch window,
    a quiet weekend), not an incident. A flagged run that would start there, no more than
    twice the rhythm's size (:func:`_rhythm_size`), scores 0 (:data:`BY_RHYTHM`, see
    :func:`_score`) and its points are learned, and a flagged point there inside a run that
    started elsewhere is learned even where flagged points are not; otherwise a rhythm that
    was flagged the first time would never be learned and would page every day, or every
    Saturday. The same bin, not the routine rule's hour either side, and two weeks, not
    one: incidents that fall near the same hour on three days running, or in the same
    quarter-hour a week apart, are rare, but not that rare."""
    return _rhythm_size(F, N, P, t) > 0.0


@_helper()
def _routine(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, j: int, a: float, t: int
) -> bool:
    """True when an isolated spike at least half as large as ``a`` (and over the threshold)
    was recorded within the tolerance of this time of day on each of the last ``need`` days:
    a job that runs every day. Two incidents that happened to fall near the same hour on
    other days do not count, nor does a spike twice the usual size."""
    if P[P_RDAYS] == 0:
        return False
    a = max(Q[Q_THRESHOLD], a / _ROUTINE_RATIO)
    m, width, tol = P[P_M], P[P_RBIN], P[P_RTOL]
    sec = t // _NS
    for k in range(1, min(P[P_RNEED], P[P_RDAYS] - 1) + 1):
        seen = False
        for o in range(-tol, tol + 1):
            day, cell = _cell(P, sec - k * 86_400 + o * width, P[P_RDAYS])
            if N[P[P_RC_OFF] + cell] == day and F[P[P_R_OFF] + cell * m + j] >= a:
                seen = True
                break
        if not seen:
            return False
    return True


# --------------------------------------------------------------------------- noise test
@_helper()
def _noise_scale(F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, j: int) -> float:
    """The usual size of feature ``j``'s change from one point to the next (NaN: not yet)."""
    w = K_DIFF * P[P_M] + j
    n = _count(N, D, w)
    if n < max(2, P[P_MIN_PERIODS] // _VAR_THIN):
        return math.nan
    sc = max(_robust_scale(F, N, D, w), 0.5 * _std(F, N, D, w))
    return sc if sc > 0 else math.nan


@_helper()
def _noise_change(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    j: int, t: int, v: float,
) -> float:
    """The change to ``v`` from feature ``j``'s previous point in scales, at most the clip
    (NaN: no previous point within two steps, or no scale yet)."""
    ring, B, m = P[P_VAR_RING], P[P_VAR_B], P[P_M]
    prev_t = N[P[P_VAR_ID] + ring + B + 2 + j]
    if math.isnan(v) or prev_t == _NO_T or t <= prev_t:
        return math.nan
    if P[P_STEP] > 0 and t - prev_t > 2 * P[P_STEP] * _NS:
        return math.nan
    sc = _noise_scale(F, N, D, P, j)
    prev = F[P[P_VAR_OFF] + (2 * ring + B + 1) * m + j]
    return min(abs(v - prev) / sc, Q[Q_VAR_CLIP])


@_helper()
def _noise_levels(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int, a: float,
) -> tuple[float, float]:
    """Feature ``j``'s mean change over the short and the long window's ten-minute parts, in
    one pass, with ``a`` (when not NaN) added: NaN while a window holds fewer than half the
    points its span should (the long one's also when there is none)."""
    ring, m, off, ids = P[P_VAR_RING], P[P_M], P[P_VAR_OFF], P[P_VAR_ID]
    short, longer = P[P_VAR_SUB], P[P_VAR_LONG]
    now = (t // _NS) // _VAR_PART
    total, count, total_l, count_l = 0.0, 0.0, 0.0, 0.0
    for p in range(ring):
        k = N[ids + p]
        if k != _NO_T and k > now - ring:
            c = F[off + (ring + p) * m + j]
            total_l += F[off + p * m + j]
            count_l += c
            if k > now - short:
                total += F[off + p * m + j]
                count += c
    if not math.isnan(a):
        total, count, total_l, count_l = total + a, count + 1.0, total_l + a, count_l + 1.0
    step = max(P[P_STEP], 1)
    level = total / count if count >= max(2, short * _VAR_PART // step // 2) else math.nan
    if longer == 0:
        return level, math.nan
    need = max(2, longer * _VAR_PART // step // 2)
    return level, total_l / count_l if count_l >= need else math.nan


@_helper()
def _noise_scan(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, hour: int, longer: bool,
) -> float:
    """The highest hourly noise of feature ``j`` over the history, in the window (the
    ``longer`` one or not), leaving out the hours that window may overlap (-inf: none)."""
    ring, B, m = P[P_VAR_RING], P[P_VAR_B], P[P_M]
    off, ids = _noise_highs(P, longer), P[P_VAR_ID] + ring
    parts = P[P_VAR_LONG] if longer else P[P_VAR_SUB]
    recent = (parts * _VAR_PART + 3599) // 3600 + 1
    hi = -math.inf
    for b in range(B):
        k = N[ids + b]
        if k != _NO_T and hour - B < k <= hour - recent:
            hi = max(hi, F[off + b * m + j])
    return hi


@_helper()
def _noise_high(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int, longer: bool,
) -> float:
    """The history's highest hourly noise of feature ``j`` in the window (the ``longer`` one
    or not; NaN until the history spans ``P_VAR_SPAN`` hours)."""
    B, m = P[P_VAR_B], P[P_M]
    ids = P[P_VAR_ID] + P[P_VAR_RING] + B
    hour = (t // _NS) // 3600
    if N[ids + 1] == _NO_T or hour - N[ids + 1] < P[P_VAR_SPAN]:
        return math.nan
    if N[ids] == hour:
        hi = F[_noise_highs(P, longer) + B * m + j]
    else:
        hi = _noise_scan(F, N, P, j, hour, longer)
    return hi if hi > 0 else math.nan


@_helper(inline="always")
def _noise_highs(P: np.ndarray, longer: bool) -> int:
    """Offset in F of a window's hourly highs (B x m), followed by its cached high (m)."""
    ring, B, m = P[P_VAR_RING], P[P_VAR_B], P[P_M]
    return P[P_VAR_OFF] + ((2 * ring + B + 2) * m if longer else 2 * ring * m)


@_helper()
def _noises(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    t: int, x: np.ndarray, vz: np.ndarray, va: np.ndarray, vl: np.ndarray,
) -> None:
    """Every feature's noise score into ``vz``: the threshold times a window's mean change
    over ``Q_VAR_K`` times the history's highest in that window, where the window is the
    noisiest yet, the larger of the two windows' (0 elsewhere, where the test cannot tell
    yet, and for a window's span after a deviation paged). ``va`` gets each feature's change
    (see :func:`_noise_change`) and ``vl`` (``2m``) the short and then the long window's
    levels with it, for :func:`_noise_learn`."""
    vz[:] = 0.0
    va[:] = math.nan
    vl[:] = math.nan
    parts, longer, m = P[P_VAR_SUB], P[P_VAR_LONG], P[P_M]
    if parts == 0:
        return
    for j in range(m):
        a = _noise_change(F, N, D, P, Q, j, t, x[j])
        va[j] = a
        if not math.isnan(a):
            vl[j], vl[m + j] = _noise_levels(F, N, P, j, t, a)
    paged = N[P[P_VAR_ID] + P[P_VAR_RING] + P[P_VAR_B] + 2 + P[P_M]]
    since = math.inf if paged == _NO_T else (t - paged) / _NS  # an incident's turmoil is
    for j in range(P[P_M]):  # the incident's: each window waits for its span after it
        if since >= parts * _VAR_PART:
            vz[j] = _noise_score(F, N, P, Q, j, t, vl[j], False)
        if longer > 0 and since >= longer * _VAR_PART:
            vz[j] = max(vz[j], _noise_score(F, N, P, Q, j, t, vl[m + j], True))


@_helper()
def _noise_score(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray,
    j: int, t: int, level: float, longer: bool,
) -> float:
    """A window's noise score: the threshold times its ``level`` over ``Q_VAR_K`` times the
    history's highest in that window, once it is the noisiest yet (else 0)."""
    if level > 0:
        high = _noise_high(F, N, P, j, t, longer)
        if level > high > 0:  # noisier than the history's noisiest hour
            return Q[Q_THRESHOLD] * level / (Q[Q_VAR_K] * high)
    return 0.0


@_helper()
def _noise_explained(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    j: int, t: int, v: float,
) -> tuple[float, float, float]:
    """Feature ``j``'s explanation by the noise test, as (deviation, baseline, scale): the
    baseline is the history's noisiest hour and the deviation the window's noise beyond it,
    both as mean changes per point in the feature's units and scales, in the window (of the
    two) furthest above its history."""
    sc = _noise_scale(F, N, D, P, j)
    a = _noise_change(F, N, D, P, Q, j, t, v)
    level, long_level = _noise_levels(F, N, P, j, t, a)
    high = _noise_high(F, N, P, j, t, False)
    if P[P_VAR_LONG] > 0:
        long_high = _noise_high(F, N, P, j, t, True)
        if long_level > 0 and long_high > 0 and not long_level / long_high <= level / high:
            level, high = long_level, long_high
    return level - high, high * sc, sc


@_helper()
def _noise_learn(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    t: int, x: np.ndarray, va: np.ndarray, vl: np.ndarray, paged: bool,
) -> None:
    """Follow every point, flagged or not: its change (``va``, from :func:`_noises`) joins
    the windows and the yardstick, and each window's level (``vl``: short, then long) the
    hour's high in that window. ``paged``: a deviation or the range test pages on this point
    (the noise test keeps quiet while a window holds such a point)."""
    parts, B, m, ring, longer = P[P_VAR_SUB], P[P_VAR_B], P[P_M], P[P_VAR_RING], P[P_VAR_LONG]
    if parts == 0:
        return
    if paged:
        N[P[P_VAR_ID] + ring + B + 2 + m] = t
    off, ids = P[P_VAR_OFF], P[P_VAR_ID]
    p = _ring_slot(F, N, off, ids, ring, m, (t // _NS) // _VAR_PART)
    hour = (t // _NS) // 3600
    hoff, loff, hids = _noise_highs(P, False), _noise_highs(P, True), ids + ring
    hb = hour % B
    if N[hids + hb] != hour:
        N[hids + hb] = hour
        for j in range(m):
            F[hoff + hb * m + j] = -math.inf
            if longer > 0:
                F[loff + hb * m + j] = -math.inf
    cache, first = hids + B, hids + B + 1
    if N[cache] == _NO_T or N[cache] <= hour - B:  # nothing within the history: start again
        N[first] = hour
    fresh = N[cache] != hour
    prev_x, prev_t = hoff + (B + 1) * m, hids + B + 2
    for j in range(m):
        v = x[j]
        if math.isnan(v):
            continue
        a = va[j]
        if not math.isnan(a):
            F[off + p * m + j] += a
            F[off + (ring + p) * m + j] += 1.0
            if vl[j] >= 0:
                F[hoff + hb * m + j] = max(F[hoff + hb * m + j], vl[j])
            if vl[m + j] >= 0:
                F[loff + hb * m + j] = max(F[loff + hb * m + j], vl[m + j])
        last = N[prev_t + j]
        if last != _NO_T and t > last and (P[P_STEP] == 0 or t - last <= 2 * P[P_STEP] * _NS):
            seen = prev_t + m + 1 + j
            if N[seen] % _VAR_THIN == 0:
                _add(F, N, D, K_DIFF * m + j, v - F[prev_x + j])
            N[seen] += 1
        F[prev_x + j] = v
        N[prev_t + j] = t
    if fresh:
        for j in range(m):
            F[hoff + B * m + j] = _noise_scan(F, N, P, j, hour, False)
            if longer > 0:
                F[loff + B * m + j] = _noise_scan(F, N, P, j, hour, True)
    N[cache] = hour


# --------------------------------------------------------------------------- drift
@_allocates()
def _drift_measure(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, hour: int,
) -> tuple[float, float, float]:
    """Feature ``j``'s drift before ``hour`` as (drift, earlier level, yardstick).

    Each of the last ``24 * days`` complete hours' means is compared with the same hour a day
    earlier; the yardstick is the robust spread of the same day-over-day changes over the
    older hours kept. The drift is the quarter-quantile of the changes in yardsticks, in the
    direction most of them point (0 when they do not agree, NaN when the history is too
    short); the earlier level is the mean of the day ``days`` days before the last."""
    H, days, m = P[P_DRIFT_H], P[P_DRIFT_D], P[P_M]
    off, ids = P[P_DRIFT_OFF], P[P_DRIFT_ID]
    means = np.full(H, math.nan)
    for i in range(H):
        hh = hour - H + i
        k = hh % H
        c = F[off + (H + k) * m + j]
        if N[ids + k] == hh and c > 0:
            means[i] = F[off + k * m + j] / c
    recent = 24 * (days + 1)
    changes = np.empty(24 * days)
    nc = 0
    for i in range(H - 24 * days, H):
        d = means[i] - means[i - 24]
        if not math.isnan(d):
            changes[nc] = d
            nc += 1
    usual = np.empty(H - recent)
    nu = 0
    for i in range(24, H - recent):
        d = means[i] - means[i - 24]
        if not math.isnan(d):
            usual[nu] = d
            nu += 1
    if nc < 0.75 * 24 * days or nu < 24:
        return math.nan, math.nan, math.nan
    u = usual[:nu]
    level, n = 0.0, 0  # the recent days' level (the yardstick's floor is relative to it)
    first, nf = 0.0, 0  # the earliest compared day's level
    for i in range(H - recent, H):
        if not math.isnan(means[i]):
            level += means[i]
            n += 1
            if i < H - recent + 24:
                first += means[i]
                nf += 1
    spread = 1.4826 * np.median(np.abs(u - np.median(u)))
    spread = max(spread, 0.5 * np.std(u), 1e-9 * (1.0 + abs(level / max(n, 1))))
    c = changes[:nc]
    up = np.quantile(c, _DRIFT_ALLOW) / spread
    down = np.quantile(c, 1.0 - _DRIFT_ALLOW) / spread
    drift = up if up > 0 else (down if down < 0 else 0.0)
    return drift, (first / nf if nf else math.nan), spread


@_helper()
def _drift(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int,
) -> tuple[float, float, float]:
    """:func:`_drift_measure` at ``t``'s hour: the cached figures once the hour's first point
    has been followed (see :func:`_drift_follow`), else measured afresh."""
    hour = (t // _NS) // 3600
    m, off = P[P_M], P[P_DRIFT_OFF] + 2 * P[P_DRIFT_H] * P[P_M]
    if N[P[P_DRIFT_ID] + P[P_DRIFT_H]] == hour:
        return F[off + j], F[off + m + j], F[off + 2 * m + j]
    return _drift_measure(F, N, P, j, hour)


@_helper()
def _drift_score(F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, j: int, t: int) -> float:
    """Feature ``j``'s drift score: the threshold times its drift over ``Q_DRIFT_K`` (so it
    pages beyond that many yardsticks), 0 without a drift."""
    d = _drift(F, N, P, j, t)[0]
    return Q[Q_THRESHOLD] * abs(d) / Q[Q_DRIFT_K] if abs(d) > 0 else 0.0


@_helper()
def _drift_follow(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int, x: np.ndarray) -> None:
    """Follow every point, flagged or not (the hourly means must follow a drift to measure
    it): at an hour's first point, cache the drift figures of the hours before it; then add
    the point to its hour's sums."""
    H, m = P[P_DRIFT_H], P[P_M]
    if H == 0:
        return
    hour = (t // _NS) // 3600
    off, ids = P[P_DRIFT_OFF], P[P_DRIFT_ID]
    if N[ids + H] != hour:
        cache = off + 2 * H * m
        for j in range(m):
            F[cache + j], F[cache + m + j], F[cache + 2 * m + j] = _drift_measure(F, N, P, j, hour)
        N[ids + H] = hour
    _hour_add(F, N, off, ids, H, m, hour, x)


# --------------------------------------------------------------------------- shift test
@_helper(inline="always")
def _shift_mean(F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int, v: float) -> float:
    """Feature ``j``'s mean over the shift test's window (its ten-minute parts up to ``t``),
    with ``v`` (when not NaN) added: NaN while the window holds fewer than half the points its
    span should."""
    R, B, m, off, ids = P[P_SHIFT_SUB], P[P_SHIFT_B], P[P_M], P[P_SHIFT_OFF], P[P_SHIFT_ID]
    now = (t // _NS) // _VAR_PART
    if N[ids + R + B + 3] == now:  # the earlier parts' sums, cached: add the current part's
        p = now % R
        cache = off + (2 * R + 5 * B + 3) * m
        total = F[cache + j] + F[off + p * m + j]
        count = F[cache + m + j] + F[off + (R + p) * m + j]
    else:
        total, count = _shift_parts(F, N, P, j, now, now + 1)
    if not math.isnan(v):
        total, count = total + v, count + 1.0
    need = max(2, R * _VAR_PART // max(P[P_STEP], 1) // 2)
    return total / count if count >= need else math.nan


@_helper()
def _shift_parts(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, now: int, end: int,
) -> tuple[float, float]:
    """Feature ``j``'s sum and count over the shift test's parts ``now - R < k < end``."""
    R, m, off, ids = P[P_SHIFT_SUB], P[P_M], P[P_SHIFT_OFF], P[P_SHIFT_ID]
    total, count = 0.0, 0.0
    for p in range(R):
        k = N[ids + p]
        if k != _NO_T and now - R < k < end:
            total += F[off + p * m + j]
            count += F[off + (R + p) * m + j]
    return total, count


@_helper(inline="always")
def _shift_recent(P: np.ndarray) -> int:
    """The latest hours the shift test's history leaves out: those whose window means may
    overlap the current window."""
    return (P[P_SHIFT_SUB] * _VAR_PART + 3599) // 3600 + 1


@_helper()
def _shift_measure(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, hour: int,
) -> tuple[float, float, float]:
    """Feature ``j``'s range of window means before ``hour`` as (high, low, scale): over the
    hourly buckets of the history, leaving out the window's span plus an hour (their means
    overlap the current window, see :func:`_shift_recent`); the scale is the larger of the
    robust spread of the buckets' means and half the standard deviation of every mean (NaN:
    no history)."""
    R, B, m = P[P_SHIFT_SUB], P[P_SHIFT_B], P[P_M]
    off, ids = P[P_SHIFT_OFF] + 2 * R * m, P[P_SHIFT_ID] + R
    hi, lo = -math.inf, math.inf
    scratch = P[P_SHIFT_OFF] + (2 * R + 5 * B + 5) * m
    means = F[scratch : scratch + B]
    nb = 0
    recent = _shift_recent(P)
    n, mean, m2 = 0.0, 0.0, 0.0
    for b in range(B):
        k = N[ids + b]
        cell = off + 5 * (b * m + j)
        c = F[cell + 2]
        if k == _NO_T or not hour - B < k <= hour - recent or not c > 0:
            continue
        hi = max(hi, F[cell])
        lo = min(lo, F[cell + 1])
        mb, m2b = F[cell + 3], F[cell + 4]
        means[nb] = mb
        nb += 1
        # pooled (Chan et al.): the buckets' counts, means and squared deviations combined
        d = mb - mean
        total = n + c
        mean += d * c / total
        m2 += m2b + d * d * n * c / total
        n = total
    if nb == 0:
        return math.nan, math.nan, math.nan
    center = _median(means, nb)
    for i in range(nb):
        means[i] = abs(means[i] - center)
    spread = 1.4826 * _median(means, nb)
    scale = max(spread, 0.5 * math.sqrt(m2 / n), 1e-9 * (abs(center) + 1.0))
    return hi, lo, scale


@_helper(inline="always")
def _shift_range(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int,
) -> tuple[float, float, float]:
    """:func:`_shift_measure` at ``t``'s hour (NaN until the history spans
    ``P_SHIFT_SPAN`` hours before the left-out ones): the cached figures once the hour's first
    point has been followed (see :func:`_shift_follow`), else measured afresh."""
    R, B, m = P[P_SHIFT_SUB], P[P_SHIFT_B], P[P_M]
    ids = P[P_SHIFT_ID] + R + B
    hour = (t // _NS) // 3600
    if N[ids + 1] == _NO_T or hour - N[ids + 1] < P[P_SHIFT_SPAN] + _shift_recent(P):
        return math.nan, math.nan, math.nan
    if N[ids] == hour:
        cache = P[P_SHIFT_OFF] + (2 * R + 5 * B) * m
        return F[cache + j], F[cache + m + j], F[cache + 2 * m + j]
    return _shift_measure(F, N, P, j, hour)


@_helper(inline="always")
def _shift_value(Q: np.ndarray, v: float, b: float, s: float) -> float:
    """What value ``v`` adds to the shift test's window: at most the threshold's worth of
    scales ``s`` from its baseline ``b`` (as it stands without them)."""
    if math.isfinite(b) and s > 0:
        c = Q[Q_THRESHOLD] * s
        return min(max(v, b - c), b + c)
    return v


@_helper(inline="always")
def _shifts(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray,
    t: int, x: np.ndarray, b: np.ndarray, s: np.ndarray, hz: np.ndarray,
) -> None:
    """Every feature's shift score into ``hz[:m]``, its window mean into ``hz[m:2m]`` and the
    value that joins the window into ``hz[2m:]``: the point's value, at most the threshold's
    worth of scales ``s`` from its baseline ``b`` (a spike counts no more than the threshold
    towards a mean, so a spike seen before does not page as a shift). A mean beyond the range
    of the history's means by more than ``Q_SHIFT_E0`` scales scores ``Q_SHIFT_K`` times the
    threshold plus its distance beyond, less ``Q_SHIFT_E0`` (0 within, where the test cannot
    tell yet, and for the window's span after another test paged: an incident's mean is the
    incident's)."""
    m = P[P_M]
    hz[:m] = 0.0
    hz[m : 3 * m] = math.nan
    R = P[P_SHIFT_SUB]
    if R == 0:
        return
    paged = N[P[P_SHIFT_ID] + R + P[P_SHIFT_B] + 2]
    quiet = paged != _NO_T and t - paged <= R * _VAR_PART * _NS
    for j in range(m):
        v = _shift_value(Q, x[j], b[j], s[j])
        hz[2 * m + j] = v
        mean = _shift_mean(F, N, P, j, t, v)
        hz[m + j] = mean
        if quiet or math.isnan(mean):
            continue
        hi, lo, sc = _shift_range(F, N, P, j, t)
        if not sc > 0:
            continue
        ex = max(mean - hi, lo - mean) / sc
        if ex > Q[Q_SHIFT_E0]:
            hz[j] = Q[Q_SHIFT_K] * Q[Q_THRESHOLD] + ex - Q[Q_SHIFT_E0]


@_helper()
def _shift_explained(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, j: int, t: int,
    v: float, b: float, s: float,
) -> tuple[float, float, float]:
    """Feature ``j``'s explanation by the shift test, as (deviation, baseline, scale): the
    baseline is the edge of the history's window means that the window's mean passed, the
    deviation its distance beyond it in scales (``v`` with its baseline ``b`` and scale
    ``s``, see :func:`_shift_value`)."""
    mean = _shift_mean(F, N, P, j, t, _shift_value(Q, v, b, s))
    hi, lo, sc = _shift_range(F, N, P, j, t)
    edge = hi if mean > hi else lo
    return (mean - edge) / sc, edge, sc


@_helper(inline="always")
def _shift_follow(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int, hz: np.ndarray, paged: bool,
    known: bool,
) -> None:
    """Follow every point, flagged or not (a new level becomes history): at an hour's first
    point, cache the range of the hours before it; the point's value (``hz[2m:]``, from
    :func:`_shifts`) joins its ten-minute part, and its window mean (``hz[m:2m]``) the hour's
    bucket. ``paged``: another test paged on this point (the shift test keeps quiet for its
    window's span). ``known``: the flagged point is being learned as the series' new normal
    (after a long incident, which paged all along) or its rhythm (a plateau the first days
    flagged); the history's window means were held to the threshold's worth of scales from
    the old baseline, so the test keeps quiet until the new level's own means are history
    too (the hours it leaves out, then its window's span) instead of paging the same change
    again."""
    R, B, m = P[P_SHIFT_SUB], P[P_SHIFT_B], P[P_M]
    if R == 0:
        return
    off, ids = P[P_SHIFT_OFF], P[P_SHIFT_ID]
    hids = ids + R
    if known:
        N[hids + B + 2] = max(N[hids + B + 2], t + _shift_recent(P) * 3600 * _NS)
    elif paged:
        N[hids + B + 2] = max(N[hids + B + 2], t)
    hour = (t // _NS) // 3600
    if N[hids + B] == _NO_T or N[hids + B] <= hour - B:  # nothing within the history
        N[hids + B + 1] = hour
    if N[hids + B] != hour:
        cache = off + (2 * R + 5 * B) * m
        for j in range(m):
            F[cache + j], F[cache + m + j], F[cache + 2 * m + j] = _shift_measure(
                F, N, P, j, hour)
        N[hids + B] = hour
    part = (t // _NS) // _VAR_PART
    if N[hids + B + 3] != part:  # a new part: cache the sums of the window's earlier ones
        cache = off + (2 * R + 5 * B + 3) * m
        for j in range(m):
            F[cache + j], F[cache + m + j] = _shift_parts(F, N, P, j, part, part)
        N[hids + B + 3] = part
    p = _ring_slot(F, N, off, ids, R, m, part)
    boff = off + 2 * R * m
    hb = hour % B
    if N[hids + hb] != hour:
        N[hids + hb] = hour
        for j in range(m):
            cell = boff + 5 * (hb * m + j)
            F[cell], F[cell + 1] = -math.inf, math.inf
            F[cell + 2], F[cell + 3], F[cell + 4] = 0.0, 0.0, 0.0
    for j in range(m):
        v = hz[2 * m + j]
        if not math.isnan(v):
            F[off + p * m + j] += v
            F[off + (R + p) * m + j] += 1.0
        mean = hz[m + j]
        if math.isnan(mean):
            continue
        cell = boff + 5 * (hb * m + j)
        F[cell] = max(F[cell], mean)
        F[cell + 1] = min(F[cell + 1], mean)
        c = F[cell + 2] + 1.0  # Welford
        d = mean - F[cell + 3]
        mean_c = F[cell + 3] + d / c
        F[cell + 2], F[cell + 3] = c, mean_c
        F[cell + 4] += d * (mean - mean_c)


# --------------------------------------------------------------------------- sustained test
#: A deviation counts at most this many scales towards the sustained test's average.
_SUS_CLIP = 3.0
#: Seconds: the time constant of the average's usual spread (its long-run mean square).
_SUS_LONG = 2 * 86_400
#: Seconds of points followed before the test applies.
_SUS_WARM = 86_400
#: Time constants the test keeps quiet for after another test paged: its average still
#: holds the incident, which paged already.
_SUS_QUIET = 2
#: Scales the point itself must deviate by, the average's way, to page: a lasting deviation
#: that has just ended does not page on the first ordinary point after it.
_SUS_SAME = 1.0
#: The shorter average's time constant is the test's divided by this (10 minutes for 30): a
#: sag to half the traffic for ten minutes is ten points at 2.8 scales each, which the
#: half-hour average dilutes below its bar (7 of its spreads), a ten-minute one does not.
_SUS_SHORT = 3
SUS_SHORT = _SUS_SHORT  # (for the explanations: the shorter average's minutes)
#: Points the shorter average needs within its time constant to apply (at 5-minute steps a
#: ten-minute average is two points: a spike, not a lasting deviation).
_SUS_SHORT_POINTS = 10


@_helper(inline="always")
def _sus_weights(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int,
) -> tuple[float, float, float]:
    """The weights ``1 - exp(-dt / tau)`` of feature ``j``'s point at ``t`` in the average
    (``tau``: ``P_SUS_TAU``), in its long-run mean square (``_SUS_LONG``) and in the shorter
    average (``tau / _SUS_SHORT``), dt the seconds since its average last moved (0, 0, 0 for
    the first point: it only starts the clock). The last step's weights are kept: a regular
    series computes them once."""
    last = N[P[P_SUS_ID] + j]
    if last == _NO_T:
        return 0.0, 0.0, 0.0
    dt = max((t - last) / _NS, 1.0)
    c = P[P_SUS_OFF] + 10 * P[P_M]
    if F[c] != dt:
        F[c], F[c + 1] = dt, 1.0 - math.exp(-dt / P[P_SUS_TAU])
        F[c + 2] = 1.0 - math.exp(-dt / _SUS_LONG)
        F[c + 3] = 1.0 - math.exp(-dt * _SUS_SHORT / P[P_SUS_TAU])
    return F[c + 1], F[c + 2], F[c + 3]


@_helper(inline="always")
def _sus_short_on(P: np.ndarray) -> bool:
    """Whether the shorter average applies: ``_SUS_SHORT_POINTS`` points in its time
    constant at the series' step."""
    step = P[P_STEP]
    return step > 0 and P[P_SUS_TAU] >= _SUS_SHORT * _SUS_SHORT_POINTS * step


@_helper(inline="always")
def _sus_channel(
    F: np.ndarray, o: int, m: int, j: int, v: float, a: float, ax: float, xj: float, bj: float,
) -> tuple[float, float, float, float]:
    """One average of feature ``j`` (its five figures start at ``F[o + j]``, ``m`` apart)
    with the point's clipped deviation ``v`` at weight ``a``: the average, its usual spread,
    and the averages of the values and their baselines (weight ``ax``)."""
    e = (1.0 - a) * F[o + j] + a * min(max(v, -_SUS_CLIP), _SUS_CLIP)
    gathered = F[o + 2 * m + j]
    ms = F[o + m + j] / gathered if gathered > 0.0 else 0.0
    sd = math.sqrt(max(ms, a / (2.0 - a)))  # never below independent unit deviations'
    return (e, sd, (1.0 - ax) * F[o + 3 * m + j] + ax * xj,
            (1.0 - ax) * F[o + 4 * m + j] + ax * bj)


@_helper(inline="always")
def _sustained(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, t: int, x: np.ndarray,
    z: np.ndarray, zs: np.ndarray, hz: np.ndarray,
) -> None:
    """Every feature's sustained score into ``hz[4m:5m]``; its average deviation with this
    point, that average's usual spread, and the averages (the same weights) of its values
    and their seasonal baselines into ``hz[5m:9m]`` (m each; NaN: no deviation to
    average); the same four of the shorter average into ``hz[9m + 1:13m + 1]``; and which
    average scored into ``hz[13m + 1:14m + 1]`` (1: the shorter, 0: the other, NaN: none).

    The average is exponential in time (``P_SUS_TAU`` seconds) over the deviations from the
    seasonal model's day-long baseline (``zs[m:2m]``, scale ``zs[2m:]``: the time of day at
    the day's level, which a level that moved an hour ago has hardly joined yet), each
    counting at most ``_SUS_CLIP`` scales. Its usual spread is the root of its long-run mean
    square (corrected for the weight that has gathered since the first point), and never
    less than an average of independent unit deviations would have (``a / (2 - a)`` for
    weight ``a``). Once a day has been followed, an average beyond ``Q_SUS_E0`` spreads
    scores the threshold plus the excess, when the point itself deviates that way by
    ``_SUS_SAME`` scales (its deviation ``z``, the smaller of the seasonal and the recent
    level's: once the recent level has taken a lasting change in, or the day-long one is
    what the point is close to, the change is no longer news). The shorter average
    (``P_SUS_TAU / _SUS_SHORT`` seconds, where the step gives it ``_SUS_SHORT_POINTS``
    points) scores the same way past ``Q_SUS_E0_SHORT`` of its spreads; the larger score
    counts. Where another test paged within ``_SUS_QUIET`` time constants, the score is
    the memory's (see :func:`_learn`) but does not page (see :func:`_sus_quiet`)."""
    m = P[P_M]
    hz[4 * m : 5 * m] = 0.0
    hz[5 * m : 9 * m] = math.nan
    hz[9 * m + 1 : 14 * m + 1] = math.nan
    tau = P[P_SUS_TAU]
    if tau == 0:
        return
    off, ids = P[P_SUS_OFF], P[P_SUS_ID]
    first = N[ids + m]
    ready = first != _NO_T and t - first >= _SUS_WARM * _NS
    short = _sus_short_on(P)
    s0 = 9 * m + 1  # the shorter average's figures in hz
    for j in range(m):
        v = (x[j] - zs[m + j]) / zs[2 * m + j]
        if not math.isfinite(v):
            continue
        a, _, a2 = _sus_weights(F, N, P, j, t)
        ax = 1.0 if N[ids + j] == _NO_T else a  # the value averages start at the first
        e, sd, xa, ba = _sus_channel(F, off, m, j, v, a, ax, x[j], zs[m + j])
        hz[5 * m + j], hz[6 * m + j], hz[7 * m + j], hz[8 * m + j] = e, sd, xa, ba
        best, which = 0.0, math.nan
        same = ready and abs(z[j]) >= _SUS_SAME
        if same and z[j] * e > 0.0 and sd > 0.0 and abs(e) / sd > Q[Q_SUS_E0]:
            best, which = Q[Q_THRESHOLD] + abs(e) / sd - Q[Q_SUS_E0], 0.0
        if short:
            ax2 = 1.0 if N[ids + j] == _NO_T else a2
            e2, sd2, xa2, ba2 = _sus_channel(F, off + 5 * m, m, j, v, a2, ax2, x[j], zs[m + j])
            hz[s0 + j], hz[s0 + m + j], hz[s0 + 2 * m + j], hz[s0 + 3 * m + j] = e2, sd2, xa2, ba2
            if same and z[j] * e2 > 0.0 and sd2 > 0.0 and abs(e2) / sd2 > Q[Q_SUS_E0_SHORT]:
                sc = Q[Q_THRESHOLD] + abs(e2) / sd2 - Q[Q_SUS_E0_SHORT]
                if sc > best:
                    best, which = sc, 1.0
        hz[4 * m + j] = best
        hz[13 * m + 1 + j] = which


@_helper(inline="always")
def _sus_quiet(N: np.ndarray, P: np.ndarray, t: int) -> bool:
    """Whether the sustained test keeps quiet at ``t``: another test paged within
    ``_SUS_QUIET`` time constants (its average still holds that incident)."""
    paged = N[P[P_SUS_ID] + P[P_M] + 1]
    return paged != _NO_T and t - paged <= _SUS_QUIET * P[P_SUS_TAU] * _NS


@_helper(inline="always")
def _sus_follow(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int, hz: np.ndarray, flagged: bool,
    other: bool,
) -> None:
    """Follow every point, flagged or not: each average moves to its value in ``hz`` (see
    :func:`_sustained`); its long-run mean square learns from points nothing flagged (over
    ``_SUS_LONG`` seconds, with the weight it gathered; an average past two usual spreads
    counts as two, so a lasting deviation that has not paged yet does not widen its own
    yardstick much). ``other``: another test paged on this point."""
    tau = P[P_SUS_TAU]
    if tau == 0:
        return
    m, off, ids = P[P_M], P[P_SUS_OFF], P[P_SUS_ID]
    if N[ids + m] == _NO_T:
        N[ids + m] = t
    if other:
        N[ids + m + 1] = t
    for j in range(m):
        e = hz[5 * m + j]
        if math.isnan(e):
            continue
        al = _sus_weights(F, N, P, j, t)[1]
        for c in range(2):  # the average, then the shorter one (when it applies)
            o, h = (off, 5 * m) if c == 0 else (off + 5 * m, 9 * m + 1)
            e = hz[h + j]
            if math.isnan(e):
                continue
            if not flagged:  # an average past two usual spreads counts as two
                sd = hz[h + m + j]
                F[o + m + j] = (1.0 - al) * F[o + m + j] + al * min(e * e, 4.0 * sd * sd)
                F[o + 2 * m + j] = (1.0 - al) * F[o + 2 * m + j] + al
            F[o + j] = e
            F[o + 3 * m + j] = hz[h + 2 * m + j]
            F[o + 4 * m + j] = hz[h + 3 * m + j]
        N[ids + j] = t


# --------------------------------------------------------------------------- flat test
#: The flat test's range ratio counts at most this much (a window of equal values).
_FLAT_CAP = 100.0


#: Hours the flat test's current window runs past its span: a daily job that runs a little
#: later than the day before is still in it (a 24-hour window ending between yesterday's run
#: and today's late one holds neither, and looked flat).
_FLAT_SLACK = 2


@_helper()
def _flat_hours(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, first: int, last: int,
) -> tuple[float, float, float]:
    """High, low and count of feature ``j``'s values over the flat test's hours ``first ..
    last``."""
    B, m = P[P_FLAT_B], P[P_M]
    off, ids = P[P_FLAT_OFF], P[P_FLAT_ID]
    hi, lo, n = -math.inf, math.inf, 0.0
    for h in range(first, last + 1):
        b = h % B
        if N[ids + b] == h:
            cell = off + 3 * (b * m + j)
            hi = max(hi, F[cell])
            lo = min(lo, F[cell + 1])
            n += F[cell + 2]
    return hi, lo, n


@_helper(inline="always")
def _flat_need(P: np.ndarray) -> float:
    """Points a window must hold to count: half those its span should."""
    return max(2.0, 0.5 * P[P_FLAT_H] * 3600 / max(P[P_STEP], 1))


@_helper()
def _flat_window(F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, k: int) -> float:
    """Feature ``j``'s range over the window ending at hour ``k`` (NaN: too few points)."""
    hi, lo, n = _flat_hours(F, N, P, j, k - P[P_FLAT_H] + 1, k)
    return hi - lo if n >= _flat_need(P) else math.nan


@_helper()
def _flat_measure(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, hour: int,
) -> tuple[float, float, float, float]:
    """Feature ``j``'s flat-test figures at ``hour``: the narrowest range of the history's
    windows (one ending at each hour, none overlapping the current window; NaN while fewer
    than ``P_FLAT_SPAN`` of them hold enough points) and the high, low and count of the
    current window's earlier hours."""
    H, B, m = P[P_FLAT_H], P[P_FLAT_B], P[P_M]
    ranges, keys = P[P_FLAT_OFF] + (3 * B + 4) * m, P[P_FLAT_ID] + B + 1
    narrowest, windows = math.inf, 0
    for k in range(hour - B + H, hour - H - _FLAT_SLACK):
        b = k % B
        width = F[ranges + b * m + j] if N[keys + b] == k else _flat_window(F, N, P, j, k)
        if not math.isnan(width):
            narrowest = min(narrowest, width)
            windows += 1
    if windows < P[P_FLAT_SPAN]:
        narrowest = math.nan
    hi, lo, n = _flat_hours(F, N, P, j, hour - H - _FLAT_SLACK + 1, hour - 1)
    return narrowest, hi, lo, n


@_helper(inline="always")
def _flat_figures(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int, v: float,
) -> tuple[float, float]:
    """Feature ``j``'s window range up to ``t`` with ``v`` and the history's narrowest (NaN:
    the test cannot tell yet)."""
    B, m = P[P_FLAT_B], P[P_M]
    off, ids = P[P_FLAT_OFF], P[P_FLAT_ID]
    hour = (t // _NS) // 3600
    if N[ids + B] == hour:
        cache = off + 3 * B * m
        narrowest, hi = F[cache + j], F[cache + m + j]
        lo, n = F[cache + 2 * m + j], F[cache + 3 * m + j]
    else:
        narrowest, hi, lo, n = _flat_measure(F, N, P, j, hour)
    b = hour % B
    if N[ids + b] == hour:
        cell = off + 3 * (b * m + j)
        hi, lo, n = max(hi, F[cell]), min(lo, F[cell + 1]), n + F[cell + 2]
    if not math.isnan(v):
        hi, lo, n = max(hi, v), min(lo, v), n + 1.0
    if math.isnan(narrowest) or n < _flat_need(P):
        return math.nan, math.nan
    return hi - lo, narrowest


@_helper(inline="always")
def _flats(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, t: int, x: np.ndarray,
    fz: np.ndarray,
) -> None:
    """Every feature's flat score into ``fz``: the threshold times how many times narrower
    than the history's narrowest window the current one is, over ``Q_FLAT_K``, once that is
    more than ``Q_FLAT_K`` (at most ``_FLAT_CAP`` times; 0 elsewhere, and where the history's
    narrowest is 0: a series that has been constant is no news constant)."""
    fz[:] = 0.0
    if P[P_FLAT_H] == 0:
        return
    for j in range(P[P_M]):
        width, narrowest = _flat_figures(F, N, P, j, t, x[j])
        if not narrowest > 0:
            continue
        ratio = narrowest / width if width > narrowest / _FLAT_CAP else _FLAT_CAP
        if ratio > Q[Q_FLAT_K]:
            fz[j] = Q[Q_THRESHOLD] * ratio / Q[Q_FLAT_K]


@_helper(inline="always")
def _flat_follow(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int, x: np.ndarray) -> None:
    """Follow every point, flagged or not (a flat day becomes history): at an hour's first
    point, cache the figures of the hours before it; then add the point to its hour."""
    B, m = P[P_FLAT_B], P[P_M]
    if B == 0:
        return
    off, ids = P[P_FLAT_OFF], P[P_FLAT_ID]
    hour = (t // _NS) // 3600
    if N[ids + B] != hour:
        # the windows that ended since the last hour followed: measured once, kept
        last = N[ids + B]
        ranges, keys = off + (3 * B + 4) * m, ids + B + 1
        for k in range(hour - B if last == _NO_T else max(last, hour - B), hour):
            b = k % B
            for j in range(m):
                F[ranges + b * m + j] = _flat_window(F, N, P, j, k)
            N[keys + b] = k
        cache = off + 3 * B * m
        for j in range(m):
            F[cache + j], F[cache + m + j], F[cache + 2 * m + j], F[cache + 3 * m + j] = (
                _flat_measure(F, N, P, j, hour))
        N[ids + B] = hour
    b = hour % B
    if N[ids + b] != hour:
        N[ids + b] = hour
        for j in range(m):
            cell = off + 3 * (b * m + j)
            F[cell], F[cell + 1], F[cell + 2] = -math.inf, math.inf, 0.0
    for j in range(m):
        v = x[j]
        if not math.isnan(v):
            cell = off + 3 * (b * m + j)
            F[cell], F[cell + 1] = max(F[cell], v), min(F[cell + 1], v)
            F[cell + 2] += 1.0


@_helper()
def _flat_explained(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int, v: float,
) -> tuple[float, float, float]:
    """Feature ``j``'s explanation by the flat test, as (deviation, baseline, scale): the
    baseline is the history's narrowest window range, the deviation how many times narrower
    the current window's is (negative: narrower), the scale the current range."""
    width, narrowest = _flat_figures(F, N, P, j, t, v)
    ratio = narrowest / width if width > narrowest / _FLAT_CAP else _FLAT_CAP
    return -ratio, narrowest, width


# --------------------------------------------------------------------------- flapping
#: Seconds without a flagged point after which the next one starts a new run.
_FLAP_GAP = 600


@_helper()
def flapping(F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, t: int) -> bool:
    """True when flagged runs have started at a rate of ``Q_FLAP`` a day or more (counted with
    a day's exponential decay): a series that pages this often is showing its normal, not an
    incident, so its flagged points are learned like any other (and stop paging once the
    baselines have them), whatever the alert policy says."""
    if not Q[Q_FLAP] > 0:
        return False
    last = N[P[P_FLAP_ID]]
    if last == _NO_T:
        return False
    return F[P[P_FLAP_OFF]] * math.exp(-(t - last) / (_NS * 86_400.0)) >= Q[Q_FLAP]


@_helper()
def learns_flagged(F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, t: int) -> bool:
    """Whether a flagged point at ``t`` is learned whatever the alert policy: the series is
    :func:`flapping`, or the point :func:`flagged_daily` (its rhythm)."""
    return flapping(F, N, P, Q, t) or flagged_daily(F, N, P, t)


@_helper(inline="always")
def _learning(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, t: int,
    flagged: bool, policy_learns: bool, renew: bool,
) -> tuple[bool, bool]:
    """Whether a point is learned, and whether as a known normal (see :func:`_follow`): an
    unflagged point, or any where the policy learns flagged points, is learned as usual; a
    flagged one ending a run long enough to be the new normal (``renew``), or in the
    series' rhythm (:func:`flagged_daily`), is learned and known; one in a flapping series
    is learned; any other is not."""
    if not flagged or policy_learns:
        return True, False
    if renew or flagged_daily(F, N, P, t):
        return True, True
    return flapping(F, N, P, Q, t), False


@_helper(inline="always")
def _run_starts(N: np.ndarray, P: np.ndarray, t: int) -> bool:
    """Whether a point flagged at ``t`` would start a flagged run: none in the
    ``_FLAP_GAP`` before it."""
    prev = N[P[P_FLAP_ID] + 1]
    return prev == 0 or t - prev > _FLAP_GAP * _NS


@_helper()
def _flap_note(F: np.ndarray, N: np.ndarray, P: np.ndarray, t: int, flagged: bool) -> None:
    """Count the start of a flagged run: a flagged point with none in the ``_FLAP_GAP``
    before it (:func:`_run_starts`), so one incident that flickers around the threshold is
    one run (see :func:`flapping`; counted even while the test is off, as during training,
    so monitoring starts knowing)."""
    if not flagged:
        return
    ids = P[P_FLAP_ID]
    if _run_starts(N, P, t):
        last = N[ids]
        decay = 0.0 if last == _NO_T else math.exp(-(t - last) / (_NS * 86_400.0))
        F[P[P_FLAP_OFF]] = F[P[P_FLAP_OFF]] * decay + 1.0
        N[ids] = t
    N[ids + 1] = t


@_helper()
def _follow(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    t: int, x: np.ndarray, z: np.ndarray, va: np.ndarray, vl: np.ndarray, hz: np.ndarray,
    score: float, by: int, known: bool,
) -> None:
    """What follows every point, learned or not, once it is scored: the recurrence memory,
    the noise, drift, shift and flat tests, whether a spike the deviations learned paged
    (see :func:`_spikes_seen`), the flagged-run count and the time of day of a flagged point
    (see :func:`flagged_daily`). ``known``: a flagged point learned, where the policy does
    not learn flagged points, as the series' new normal (its run lasted the policy's
    ``relearn_after``) or its rhythm (:func:`flagged_daily`)."""
    flagged = score > Q[Q_THRESHOLD]
    m = P[P_M]
    known = known or by == BY_RHYTHM  # learned as the rhythm: the shift test's history too
    _step_follow(F, N, P, x)
    _note(F, N, P, Q, t, z)
    _noise_learn(F, N, D, P, Q, t, x, va, vl, flagged and (by < m or by == 3 * m))
    _drift_follow(F, N, P, t, x)
    _shift_follow(F, N, P, t, hz, flagged and by <= 3 * m, known)  # another test paged
    _flat_follow(F, N, P, t, x)
    _sus_follow(F, N, P, t, hz, flagged, flagged and by <= 5 * m)
    if flagged and by < 0 and P[P_MEMORY] > 0 and not flapping(F, N, P, Q, t):
        _spike_paged(N, P, t)  # a deviation paged (in a series that does not flap)
    _flap_note(F, N, P, t, flagged)
    if (flagged or by == BY_RHYTHM) and P[P_RDAYS] > 0:  # for flagged_daily (a point
        # the rhythm kept from paging would have been flagged: the rhythm goes on), and
        # the largest score there today (what it would have been, for such a point)
        day, cell = _cell(P, t // _NS, _RHYTHM_DAYS)
        size = score if flagged else hz[9 * m]
        if N[P[P_DAILY_ID] + cell] != day:
            N[P[P_DAILY_ID] + cell] = day
            F[P[P_DAILY_OFF] + cell] = size
        else:
            F[P[P_DAILY_OFF] + cell] = max(F[P[P_DAILY_OFF] + cell], size)


# --------------------------------------------------------------------------- seasonal shape
@_helper()
def _slot(P: np.ndarray, t: int) -> int:
    return ((t // _NS) % P[P_PERIOD]) // P[P_STEP] % P[P_NSLOTS]


@_helper()
def _cycle(P: np.ndarray, t: int) -> int:
    return t // _NS // P[P_PERIOD]


@_helper()
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


#: Up to this many values, :func:`_median` finds the middle by counting ranks.
_RANK_MEDIAN_N = 64


@_helper()
def _median(buf: np.ndarray, n: int) -> float:
    """Median of ``buf[:n]`` (``n >= 1``), the mean of the middle two for even ``n``.

    For the few dozen values of a seasonal slot, a walk from the values' mean to the middle
    (see :func:`_walk_median`: a step or two, each a branch-free count the compiler
    vectorises) beats selection, whose branches on unordered values the processor
    mispredicts half the time; both find the same order statistics. ``buf`` is reordered
    only by selection (larger ``n``).
    """
    k = (n - 1) // 2
    if n > _RANK_MEDIAN_N:
        low = _select(buf, n, k)
        if n % 2 == 1:
            return low
        high = buf[k + 1]
        for q in range(k + 2, n):
            if buf[q] < high:
                high = buf[q]
        return 0.5 * (low + high)
    mean = 0.0
    for q in range(n):
        mean += buf[q]
    return _walk_median(buf, buf, n, float(n), mean / n, True)


@_helper(inline="always")
def _above(buf: np.ndarray, n: int, v: float) -> float:
    """The smallest of ``buf[:n]`` above ``v`` (inf if none)."""
    out = math.inf
    for q in range(n):
        if v < buf[q] < out:
            out = buf[q]
    return out


@_helper(inline="always")
def _below(buf: np.ndarray, n: int, v: float) -> float:
    """The largest of ``buf[:n]`` below ``v`` (-inf if none)."""
    out = -math.inf
    for q in range(n):
        if out < buf[q] < v:
            out = buf[q]
    return out


@_helper()
def _weighted_median(
    buf: np.ndarray, wt: np.ndarray, n: int, total: float, start: float = math.nan,
) -> float:
    """Median of ``buf[:n]`` where value ``i`` counts ``wt[i]`` times (whole numbers summing
    to ``total``): the mean of the two middle values when the weight splits evenly between
    them. With equal weights, :func:`_median`. (A series' first cycles have neighbours one
    value apart everywhere -- those before the slot hold the cycle being written -- so this
    runs at most points of its first week.)"""
    return _walk_median(buf, wt, n, total, start, False)


@_helper(inline="always")
def _walk_median(
    buf: np.ndarray, wt: np.ndarray, n: int, total: float, start: float, unit: bool,
) -> float:
    """The (weighted, unless ``unit``: every value once) median of ``buf[:n]``, found by
    walking value by value from ``start`` (the values' mean, say: near the middle) towards
    the middle weight, two passes over the values a step: a step or two as a rule, where
    counting every candidate's rank would take half the values' passes."""
    v = -math.inf
    if math.isnan(start):
        start = math.inf
    for q in range(n):  # the largest value not above start (the smallest, if none)
        if v < buf[q] <= start:
            v = buf[q]
    if v == -math.inf:
        v = math.inf
        for q in range(n):
            v = min(v, buf[q])
    le = 0.0
    for _ in range(n):
        lt = 0.0
        le = 0.0
        if unit:
            for q in range(n):  # branch-free: the compiler vectorises these counts
                lt += buf[q] < v
                le += buf[q] <= v
        else:
            for q in range(n):
                lt += wt[q] * (buf[q] < v)
                le += wt[q] * (buf[q] <= v)
        if 2.0 * le < total:  # the middle is higher: the next larger value
            v = _above(buf, n, v)
        elif 2.0 * lt >= total:  # lower: the next smaller value
            v = _below(buf, n, v)
        else:  # v is the lower middle
            break
    if 2.0 * le > total:
        return v
    return 0.5 * (v + _above(buf, n, v))


@_helper(inline="always")
def _equal_counts(counts: np.ndarray, width: int) -> bool:
    """Whether the non-empty neighbours hold as many values each."""
    first = 0.0
    for d in range(width):
        k = counts[d]
        if k > 0:
            if first == 0.0:
                first = k
            elif k != first:
                return False
    return True


@_helper()
def seasonal_shape(
    P: np.ndarray, S: np.ndarray, SC: np.ndarray, t: int, out: np.ndarray, buf: np.ndarray
) -> bool:
    """Median of the slot and its neighbours over the remembered cycles, per feature, each
    neighbour weighing the same however many cycles it holds.

    A slot that holds fewer cycles than its neighbours (the hours after 09:00 of a
    business-hours metric, learned only from the third morning on, next to the night's,
    learned from the start) would otherwise be outvoted by them: the plateau's first
    point was measured against the night for days. Where the neighbours hold as many
    values each, the plain median. ``buf`` is scratch space of at least ``(2 * smooth + 1) *
    (2 * history + 1)`` values. Returns False (and leaves ``out`` alone) while some feature has too
    few values.
    """
    n_slots = P[P_NSLOTS]
    if n_slots == 0 or S.shape[0] == 0:
        return False
    m, smooth, history = P[P_M], P[P_SMOOTH], P[P_HISTORY]
    s = _slot(P, t)
    oldest = _cycle(P, t) - history
    width = 2 * smooth + 1
    wt = buf[width * history:]
    counts = buf[2 * width * history:]  # each neighbour's count
    for j in range(m):
        c = 0
        for d in range(width):
            r = s + d - smooth
            if r < 0:
                r += n_slots
            elif r >= n_slots:
                r -= n_slots
            c0 = c
            for h in range(history):
                v = S[r, h, j]
                if SC[r, h] >= oldest and not math.isnan(v):
                    buf[c] = v
                    c += 1
            counts[d] = c - c0
        if c < smooth + 1:
            return False
        if c > _RANK_MEDIAN_N:  # (a long history: no weights; selection reorders buf)
            out[j] = _median(buf, c)
            continue
        if _equal_counts(counts, width):
            out[j] = _median(buf, c)
            continue
        mean = 0.0  # where the weighted median's walk starts (near it, as a rule)
        for q in range(c):
            mean += buf[q]
        mean /= c
        lcm, cols, q = 1, 0, 0
        for d in range(width):
            k = int(counts[d])
            if k > 0:
                a, b = lcm, k
                while b:
                    a, b = b, a % b
                lcm = lcm // a * k
                cols += 1
        for d in range(width):
            k = int(counts[d])
            for _ in range(k):
                wt[q] = lcm // k
                q += 1
        out[j] = _weighted_median(buf, wt, c, float(lcm * cols), mean)
    return True


# --------------------------------------------------------------------------- deviations
@_helper()
def _seasonal_z(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    x: np.ndarray, shape: np.ndarray, has_shape: bool,
    z: np.ndarray, b: np.ndarray, s: np.ndarray, zs: np.ndarray,
) -> None:
    """The seasonal model's deviations into ``z``/``b``/``s`` (against the time of day at
    the level of the last ``level_window`` points or of the day, whichever is closer), and
    its day-long baseline and scale into ``zs[m:2m]`` and ``zs[2m:]`` (NaN: none)."""
    m, mp = P[P_M], P[P_MIN_PERIODS]
    z[:] = math.nan
    b[:] = math.nan
    s[:] = math.nan
    zs[m:] = math.nan
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
            zs[m + j] = b_long
            if abs(v - b_long) < abs(v - base):
                base = b_long
        else:
            tr = K_STRAIL * m + j
            if _count(N, D, tr) < mp:
                continue
            base = _quantile(F, N, D, tr, 0.5)
            sc = _robust_scale(F, N, D, tr)
            zs[m + j] = base
        zs[2 * m + j] = sc
        b[j] = base
        s[j] = sc
        z[j] = (v - base) / sc


@_helper()
def _recent_window(
    N: np.ndarray, D: np.ndarray, P: np.ndarray, j: int, shape: np.ndarray, has_shape: bool,
) -> tuple[int, float]:
    """The window the recent level of feature ``j`` comes from and what to add to its median:
    the residuals and the shape once both exist, else the raw values (-1: neither yet)."""
    m, mp = P[P_M], P[P_MIN_PERIODS]
    res = K_RES * m + j
    if has_shape and _count(N, D, res) >= mp:
        return res, shape[j]
    tr = K_TRAIL * m + j
    if _count(N, D, tr) >= mp:
        return tr, 0.0
    return -1, 0.0


@_helper()
def _recent_center(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    j: int, shape: np.ndarray, has_shape: bool,
) -> float:
    """The centre :func:`_recent` would give (without its scale)."""
    w, add = _recent_window(N, D, P, j, shape, has_shape)
    return math.nan if w < 0 else add + _quantile(F, N, D, w, 0.5)


@_helper()
def _recent(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    j: int, shape: np.ndarray, has_shape: bool,
) -> tuple[float, float]:
    m, mp = P[P_M], P[P_MIN_PERIODS]
    w, add = _recent_window(N, D, P, j, shape, has_shape)
    if w < 0:
        return math.nan, math.nan
    center = add + _quantile(F, N, D, w, 0.5)
    scale = _robust_scale(F, N, D, w)
    dev = K_DEV * m + j
    if _count(N, D, dev) >= mp:
        scale = max(scale, _robust_scale(F, N, D, dev))
        if _count(N, D, dev) > 1:
            scale = max(scale, 0.5 * _std(F, N, D, dev))
    return center, scale


#: Changes a feature's step needs behind it, and the share of them that must be whole
#: numbers of it, before the step is the floor of the feature's scale.
_STEP_NEED = 30
_STEP_SHARE = 0.9
_STEP_FEW = 4


@_helper()
def _step_floor(F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int) -> float:
    """The smallest scale feature ``j``'s deviations may have: one step of its resolution,
    once its values are seen to move in whole steps (0 otherwise).

    A metric reported in steps (CloudWatch's CPU in 0.002 %, counts in 1) that sits on one
    value most of the time has robust spreads of nothing, and its scale shrinks with every
    quiet day until its smallest move is hundreds of scales: a deviation's scale is at least
    the smallest move the metric can make."""
    m = P[P_M]
    n, whole = N[P[P_QID] + j], N[P[P_QID] + m + j]
    if (n >= _STEP_NEED and whole >= _STEP_SHARE * n) or (n >= _STEP_FEW and whole == n):
        return F[P[P_QOFF] + m + j]
    return 0.0


@_helper()
def _step_follow(F: np.ndarray, N: np.ndarray, P: np.ndarray, x: np.ndarray) -> None:
    """Follow each feature's step: the smallest change between consecutive values, and how
    many changes since it was last lowered were whole numbers of it."""
    m, qo, qi = P[P_M], P[P_QOFF], P[P_QID]
    for j in range(m):
        v = x[j]
        if math.isnan(v):
            continue
        d = abs(v - F[qo + j])
        F[qo + j] = v
        if not d > 0:
            continue
        q = F[qo + m + j]
        if d < q * (1.0 - 1e-6):
            F[qo + m + j] = d
            N[qi + j] = 1
            N[qi + m + j] = 1
            continue
        r = d / q
        N[qi + j] += 1
        if abs(r - round(r)) <= 1e-3:
            N[qi + m + j] += 1


@_helper()
def _feature_z(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    x: np.ndarray, shape: np.ndarray, has_shape: bool,
    z: np.ndarray, b: np.ndarray, s: np.ndarray, zs: np.ndarray,
) -> None:
    """Deviations into ``z``/``b``/``s``; ``zs`` (``3m``) gets the seasonal model's own
    deviations, then its day-long baselines and their scales (see :func:`_seasonal_z`)."""
    _seasonal_z(F, N, D, P, x, shape, has_shape, z, b, s, zs)
    m = P[P_M]
    for j in range(m):
        fl = _step_floor(F, N, P, j)  # no scale below one step of a metric reported in steps
        if s[j] < fl and math.isfinite(b[j]):
            s[j] = fl
            z[j] = (x[j] - b[j]) / fl
        zs[j] = z[j]
        zs[2 * m + j] = max(zs[2 * m + j], fl)
        v = x[j]
        if P[P_USE_RECENT] == 0 or math.isnan(v):
            continue
        center, scale = _recent(F, N, D, P, j, shape, has_shape)
        if math.isnan(center):
            continue
        scale = max(scale, fl)
        zt = (v - center) / scale
        if not abs(zt) >= abs(z[j]):
            z[j] = zt
            b[j] = center
            s[j] = scale


# --------------------------------------------------------------------------- context
@_helper()
def _all_known(P: np.ndarray, z: np.ndarray) -> bool:
    """Whether every feature's deviation is known (finite)."""
    known = True
    for j in range(P[P_M]):
        known = known and math.isfinite(z[j])
    return known


@_helper()
def _ctx_ready(N: np.ndarray, P: np.ndarray, z: np.ndarray) -> bool:
    """Whether the context test applies: on, enough points learned, every deviation known."""
    return P[P_CTX] != 0 and N[P[P_CTX_ID]] >= P[P_CTX_NEED] and _all_known(P, z)


@_helper()
def _ctx_learn(F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, z: np.ndarray) -> None:
    """Fold a learned point's deviations (clipped) into the exponentially averaged second
    moments; a point with a feature unknown is left out."""
    if P[P_CTX] == 0 or not _all_known(P, z):
        return
    m, off, c = P[P_M], P[P_CTX_OFF], Q[Q_CTX_CLIP]
    n = N[P[P_CTX_ID]]
    a = 1.0 / min(n + 1, P[P_CTX_W])
    for j in range(m):
        zj = min(max(z[j], -c), c)
        for k in range(m):
            zk = min(max(z[k], -c), c)
            F[off + j * m + k] += a * (zj * zk - F[off + j * m + k])
    N[P[P_CTX_ID]] = n + 1


@_helper()
def _ctx_factor(F: np.ndarray, P: np.ndarray, Q: np.ndarray, L: np.ndarray) -> bool:
    """The Cholesky factor of the learned correlations, pulled towards none by ``shrink``,
    into ``L`` (lower). A feature whose deviations never moved is taken as uncorrelated with
    the others. False if the matrix is not positive definite (it always is, short of
    rounding)."""
    m, off, lam = P[P_M], P[P_CTX_OFF], Q[Q_CTX_SHRINK]
    for j in range(m):
        for k in range(j + 1):
            vj, vk = F[off + j * m + j], F[off + k * m + k]
            if k == j:
                a = 1.0
            elif vj > 1e-12 and vk > 1e-12:
                a = (1.0 - lam) * F[off + j * m + k] / math.sqrt(vj * vk)
            else:
                a = 0.0
            for q in range(k):
                a -= L[j, q] * L[k, q]
            if k == j:
                if not a > 1e-9:
                    return False
                L[j, j] = math.sqrt(a)
            else:
                L[j, k] = a / L[k, k]
    return True


@_helper()
def _ctx_solve(L: np.ndarray, m: int, z: np.ndarray, w: np.ndarray) -> float:
    """``w`` = R^-1 z for R = L L'; returns z' R^-1 z."""
    for j in range(m):  # L y = z
        a = z[j]
        for q in range(j):
            a -= L[j, q] * w[q]
        w[j] = a / L[j, j]
    d2 = 0.0
    for j in range(m):
        d2 += w[j] * w[j]
    for j in range(m - 1, -1, -1):  # L' w = y
        a = w[j]
        for q in range(j + 1, m):
            a -= L[q, j] * w[q]
        w[j] = a / L[j, j]
    return d2


@_helper()
def _log_erfc(u: float) -> float:
    """``log(erfc(u))`` for ``u >= 0``, past where ``erfc`` underflows."""
    if u < 25.0:
        return math.log(math.erfc(u))
    return -u * u - math.log(u * math.sqrt(math.pi)) + math.log1p(-0.5 / (u * u))


@_helper()
def _chi2_logsf(x: float, k: int) -> float:
    """``log P(chi2_k > x)`` for an integer ``k >= 1`` (the closed forms of the regularised
    upper incomplete gamma function at half-integers, summed in logs)."""
    h = 0.5 * x
    if not h > 0.0:
        return 0.0
    lh = math.log(h)
    if k % 2 == 0:  # e^-h (sum of h^i / i!, i < k/2)
        n_terms, first, off = k // 2, -math.inf, 0.0
    else:  # erfc(sqrt h) + e^-h (sum of h^(i + 1/2) / Gamma(i + 3/2), i < (k - 1)/2)
        n_terms, first, off = (k - 1) // 2, _log_erfc(math.sqrt(h)), 0.5
    top = first
    for i in range(n_terms):
        top = max(top, -h + (i + off) * lh - math.lgamma(i + off + 1.0))
    total = math.exp(first - top) if first > -math.inf else 0.0
    for i in range(n_terms):
        total += math.exp(-h + (i + off) * lh - math.lgamma(i + off + 1.0) - top)
    return top + math.log(total)


@_helper()
def _as_sigma(lp: float, hi: float) -> float:
    """The ``|z|`` of a Gaussian whose two-sided tail has log-probability ``lp``, at most
    ``hi`` (the square root of the chi-square: its tail is never thinner than one Gaussian's).
    Newton's method from ``hi``: ``log erfc`` is concave, so every step stays at or above the
    answer and none overshoots. It starts no higher than ``sqrt(-2 lp)``, also above the
    answer (``erfc(u) <= exp(-u^2)``): from a far ``hi`` Newton halves ``z`` a step."""
    z = min(hi, math.sqrt(-2.0 * lp)) if lp < 0.0 else hi
    for _ in range(30):
        u = z / math.sqrt(2.0)
        g = _log_erfc(u)
        if u < 25.0:
            slope = -math.sqrt(2.0 / math.pi) * math.exp(-0.5 * z * z - g)
        else:  # the derivative of _log_erfc's asymptotic form (exp(-z^2/2 - g) cancels badly)
            slope = (-2.0 * u - 1.0 / u + 1.0 / (u * u * u - 0.5 * u)) / math.sqrt(2.0)
        if not slope < 0.0:
            break
        dz = (g - lp) / slope
        z = max(0.0, z - dz)
        if abs(dz) < 1e-12 * max(1.0, z):
            break
    return z


@_helper()
def _context(F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, z: np.ndarray) -> float:
    """The context test's score of deviations ``z``: their Mahalanobis distance under the
    learned correlations, as the ``|z|`` of one Gaussian deviation as unlikely (a chi-square
    with ``m`` degrees of freedom); 0 where the test does not apply. One feature alone scores
    its own ``|z|`` when the others are uncorrelated with it and at their baselines."""
    if not _ctx_ready(N, P, z):
        return 0.0
    m = P[P_M]
    scratch = P[P_CTX_OFF] + m * m
    L = F[scratch : scratch + m * m].reshape((m, m))
    if not _ctx_factor(F, P, Q, L):
        return 0.0
    w = F[scratch + m * m : scratch + m * m + m]
    d2 = _ctx_solve(L, m, z, w)
    if not d2 > 0.0:
        return 0.0
    return _as_sigma(_chi2_logsf(d2, m), math.sqrt(d2))


@_helper()
def _any_routine(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, z: np.ndarray, t: int,
) -> bool:
    """Whether any feature's deviation is a routine spike (see :func:`_routine`)."""
    for j in range(P[P_M]):
        a = abs(z[j])
        if a >= Q[Q_RECUR_MIN] * Q[Q_THRESHOLD] and _routine(F, N, P, Q, j, a, t):
            return True
    return False


@_allocates()
def _context_explained(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray,
    z: np.ndarray, s: np.ndarray, x: np.ndarray,
) -> tuple[int, float, float, float]:
    """The feature furthest from what the others' deviations imply for it, as (feature,
    deviation, baseline, scale): the baseline is the value its correlations with the others
    predict, the scale its spread around that prediction (-1: the test does not apply)."""
    m = P[P_M]
    L = np.empty((m, m))
    if not _ctx_ready(N, P, z) or not _ctx_factor(F, P, Q, L):
        return -1, math.nan, math.nan, math.nan
    w, e, col = np.empty(m), np.zeros(m), np.empty(m)
    _ctx_solve(L, m, z, w)
    best, bj, bd, bb, bs = -1.0, -1, math.nan, math.nan, math.nan
    for j in range(m):
        e[:] = 0.0
        e[j] = 1.0
        inv = _ctx_solve(L, m, e, col)  # e' R^-1 e: the inverse's diagonal entry
        d = w[j] / math.sqrt(inv)  # the deviation given the others
        if abs(d) > best:
            best, bj, bd = abs(d), j, d
            bb, bs = x[j] - s[j] * w[j] / inv, s[j] / math.sqrt(inv)
    return bj, bd, bb, bs


#: What :func:`_score` names when a point that would page starts a flagged run in the
#: series' rhythm (:func:`flagged_daily`), no more than the "seen before" margin past the
#: rhythm's size there (:func:`_rhythm_size`): it scores 0 and is learned as the rhythm.
BY_RHYTHM = -2


@_helper()
def _score(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, z: np.ndarray, nz: np.ndarray,
    vz: np.ndarray, hz: np.ndarray, t: int,
) -> tuple[float, int]:
    """The point's score and what gave it: -1 a deviation, ``j`` feature ``j``'s range test,
    ``m + j`` its noise test, ``2m + j`` its drift test, ``3m`` the context test (``nz[m]``),
    ``3m + 1 + j`` its shift test (``hz[j]``), ``4m + 1 + j`` its flat test (``hz[3m + j]``),
    ``5m + 1 + j`` its sustained test (``hz[4m + j]``).
    Each test applies only where none before it pages (the range, noise and drift tests everywhere when deviations do not
    score, ``P_DEV_SCORE`` 0). A test other than the deviations is named only when it pages:
    a point under the threshold is explained by its deviations, the figures a reader
    expects of an ordinary point."""
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
    for j in range(m if P[P_DEV_SCORE] != 0 else 0):
        a = abs(z[j])
        if not (math.isfinite(a) and a > best):
            continue
        if memory > 0:
            if a > Q[Q_THRESHOLD]:  # over the threshold: the spikes it would repeat
                if _spikes_seen(F, N, P, Q, j, t, a):
                    continue
            elif _seen(F, N, P, Q, j, a):
                continue
            if a >= Q[Q_RECUR_MIN] * Q[Q_THRESHOLD] and _routine(F, N, P, Q, j, a, t):
                continue
        best = a
    if P[P_NOV_B] > 0 and not best > Q[Q_THRESHOLD]:  # only where no deviation pages
        for j in range(m):
            if not nz[j] > best or _seen(F, N, P, Q, m + j, nz[j]):
                continue
            a = abs(z[j])  # a routine spike's value is no news to the range either
            if a >= Q[Q_RECUR_MIN] * Q[Q_THRESHOLD] and _routine(F, N, P, Q, j, a, t):
                continue
            best = nz[j]
            by_range = j if best > Q[Q_THRESHOLD] else -1
    if P[P_CTX] != 0 and not best > Q[Q_THRESHOLD]:  # only where nothing pages alone
        c = nz[m]
        if c > best and not _seen(F, N, P, Q, 2 * m, c) and not _any_routine(F, N, P, Q, z, t):
            best = c
            by_range = 3 * m if best > Q[Q_THRESHOLD] else -1
    if P[P_VAR_SUB] > 0 and not best > Q[Q_THRESHOLD]:
        for j in range(m):
            if vz[j] > best:
                best = vz[j]
                by_range = m + j if best > Q[Q_THRESHOLD] else -1
    if P[P_DRIFT_D] > 0 and not best > Q[Q_THRESHOLD]:
        for j in range(m):
            d = _drift_score(F, N, P, Q, j, t)
            if d > best:
                best = d
                by_range = 2 * m + j if best > Q[Q_THRESHOLD] else -1
    if P[P_SHIFT_SUB] > 0 and not best > Q[Q_THRESHOLD]:
        best, by_range = _news(F, N, P, Q, hz[:m], 2 * m + 1, 3 * m + 1, best, by_range)
    if P[P_FLAT_H] > 0 and not best > Q[Q_THRESHOLD]:
        best, by_range = _news(F, N, P, Q, hz[3 * m : 4 * m], 3 * m + 1, 4 * m + 1, best, by_range)
    if P[P_SUS_TAU] > 0 and not best > Q[Q_THRESHOLD] and not _sus_quiet(N, P, t):
        best, by_range = _news(F, N, P, Q, hz[4 * m : 5 * m], 4 * m + 1, 5 * m + 1, best, by_range)
    hz[9 * m] = 0.0
    # a run starting in the series' rhythm (see flagged_daily), no more than the margin past
    # the rhythm's size there: no news (what it would have scored goes into hz[9m])
    if (best > Q[Q_THRESHOLD] and P[P_RDAYS] > 0 and _run_starts(N, P, t)
            and best <= Q[Q_MARGIN] * _rhythm_size(F, N, P, t)):
        hz[9 * m] = best
        return 0.0, BY_RHYTHM
    return best, by_range


@_helper(inline="always")
def _seen(F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, slot: int, a: float) -> bool:
    """Whether the "seen before" memory ``slot`` covers score ``a``: it holds one as large,
    or one over the threshold at least ``a / margin`` (False without a memory)."""
    if P[P_MEMORY] == 0:
        return False
    return _mem_max(F, N, P, slot) >= min(a, max(Q[Q_THRESHOLD], a / Q[Q_MARGIN]))


@_helper(inline="always")
def _news(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, Q: np.ndarray, scores: np.ndarray,
    slot: int, code: int, best: float, by: int,
) -> tuple[float, int]:
    """The best score so far and what gave it, after a per-feature test's ``scores``: feature
    ``j``'s counts where it is higher and not seen before (memory ``slot + j``), and names it
    (``code + j``) when it pages."""
    for j in range(scores.shape[0]):
        c = scores[j]
        if c > best and not _seen(F, N, P, Q, slot + j, c):
            best = c
            by = code + j if best > Q[Q_THRESHOLD] else -1
    return best, by


@_helper()
def _explained(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    by: int, t: int, x: np.ndarray, z: np.ndarray, b: np.ndarray, s: np.ndarray,
    hz: np.ndarray,
) -> tuple[int, float, float, float, int]:
    """What the test other than the deviations that scored (``by`` as :func:`_score`
    returns it) says
    of its feature: ``(feature, deviation, baseline, scale, kind)``; feature -1: neither."""
    m = P[P_M]
    if by < 0:
        return -1, math.nan, math.nan, math.nan, KIND_DEVIATION
    if by < m:
        zj, bj, sj = _range_explained(F, N, P, by, t, x[by], s[by])
        return by, zj, bj, sj, KIND_RANGE
    if by < 2 * m:
        zj, bj, sj = _noise_explained(F, N, D, P, Q, by - m, t, x[by - m])
        return by - m, zj, bj, sj, KIND_NOISE
    if by < 3 * m:
        zj, bj, sj = _drift(F, N, P, by - 2 * m, t)
        return by - 2 * m, zj, bj, sj, KIND_DRIFT
    if by > 5 * m:  # the values' average against their baselines', in usual spreads of
        j = by - 5 * m - 1  # the deviations' average (its scale in the metric's units)
        h = 9 * m + 1 if hz[13 * m + 1 + j] == 1.0 else 5 * m  # the average that scored
        ex = hz[h + j] / hz[h + m + j]
        gap = hz[h + 2 * m + j] - hz[h + 3 * m + j]
        kind = KIND_SUSTAINED_SHORT if h != 5 * m else KIND_SUSTAINED
        return j, ex, hz[h + 3 * m + j], abs(gap / ex), kind
    if by > 4 * m:
        j = by - 4 * m - 1
        zj, bj, sj = _flat_explained(F, N, P, j, t, x[j])
        return j, zj, bj, sj, KIND_FLAT
    if by > 3 * m:
        j = by - 3 * m - 1
        zj, bj, sj = _shift_explained(F, N, P, Q, j, t, x[j], b[j], s[j])
        return by - 3 * m - 1, zj, bj, sj, KIND_SHIFT
    j, zj, bj, sj = _context_explained(F, N, P, Q, z, s, x)
    return j, zj, bj, sj, KIND_CONTEXT


@_helper()
def _range_explained(
    F: np.ndarray, N: np.ndarray, P: np.ndarray, j: int, t: int, v: float, sc: float,
) -> tuple[float, float, float]:
    """Feature ``j``'s explanation by the range test, as (deviation, baseline, scale): the
    baseline is the edge of the range the value passed, the deviation its distance beyond
    it."""
    hi, lo = _range(F, N, P, j, t)
    edge = hi if v > hi else lo
    return (v - edge) / sc, edge, sc


@_helper()
def _learn(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
    shape: np.ndarray, has_shape: bool, z: np.ndarray, zs: np.ndarray, nz: np.ndarray,
    hz: np.ndarray,
) -> None:
    """Learn one point; ``z`` / ``zs`` hold its deviations (see :func:`_feature_z`), ``nz``
    its range scores and context score, ``hz`` its shift and flat scores (see
    :func:`_point_score`)."""
    m, mp = P[P_M], P[P_MIN_PERIODS]
    memory, use_recent, shared = P[P_MEMORY], P[P_USE_RECENT], P[P_SHARED]
    guard, escape = Q[Q_GUARD], P[P_ESCAPE]
    any_routine = False
    for j in range(m):
        v = x[j]
        if memory > 0 and math.isfinite(z[j]):
            # a routine spike (see _routine) does not make the rest of the day quiet
            a = abs(z[j])
            routine = a >= Q[Q_RECUR_MIN] * Q[Q_THRESHOLD] and _routine(F, N, P, Q, j, a, t)
            any_routine = any_routine or routine
            _mem_add(F, N, P, j, 0.0 if routine else a)
            _spike_learn(F, N, P, Q, j, t, 0.0 if routine else a)
        if memory > 0 and P[P_NOV_B] > 0:
            _mem_add(F, N, P, m + j, nz[j])
        if memory > 0 and P[P_SHIFT_SUB] > 0:
            _mem_add(F, N, P, 2 * m + 1 + j, hz[j])
        if memory > 0 and P[P_FLAT_H] > 0:
            _mem_add(F, N, P, 3 * m + 1 + j, hz[3 * m + j])
        if memory > 0 and P[P_SUS_TAU] > 0:
            _mem_add(F, N, P, 4 * m + 1 + j, hz[4 * m + j])
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
    if P[P_CTX] != 0:
        if memory > 0:  # a routine spike's context is no news either
            _mem_add(F, N, P, 2 * m, 0.0 if any_routine else nz[m])
        if has_shape or P[P_PERIOD] == 0:  # before the shape, deviations hold the cycle
            _ctx_learn(F, N, P, Q, z)
    if S.shape[0] > 0:
        # the slots keep values net of the level (the long level's median, which follows a
        # lasting change within a day): a change of level stays the levels' and never
        # becomes the shape's as well (see the module's notes)
        slot, cyc = _slot(P, t), _cycle(P, t)
        h = cyc % P[P_HISTORY]
        for j in range(m):
            lg = K_LONG * m + j
            off = _quantile(F, N, D, lg, 0.5) if has_shape and _count(N, D, lg) >= mp else 0.0
            S[slot, h, j] = x[j] - off
        SC[slot, h] = cyc
    _range_learn(F, N, P, t, x)
    if P[P_WEEK_H] > 0:
        _weekly_check(F, N, P, t)
        _hour_learn(F, N, P, t, x)
    N[P[P_NSEEN]] += 1
    N[P[P_LAST_T]] = t


# --------------------------------------------------------------------------- entry points
@_helper(inline="always")
def _zs_len(m: int) -> int:
    """Length of the seasonal figures' scratch (see :func:`_feature_z`): deviations, then
    day-long baselines, then their scales (m each)."""
    return 3 * m


@_helper(inline="always")
def _hz_len(m: int) -> int:
    """Length of the per-point tests' scratch (see :func:`_point_score`): the shift test's
    figures (3m), the flat test's scores (m), the sustained test's figures (5m), what a
    point the rhythm kept from paging would have scored (1), then the sustained test's
    shorter average's figures and which average scored (5m, see :func:`_sustained`)."""
    return 14 * m + 1


@njit(cache=True)
def shapes_at(P: np.ndarray, S: np.ndarray, SC: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The seasonal shape at each time of ``T`` (rows; NaN where there is none)."""
    m = P[P_M]
    out = np.full((T.shape[0], m), np.nan)
    shape = np.empty(m)
    buf = np.empty((2 * P[P_SMOOTH] + 1) * (2 * P[P_HISTORY] + 1))
    for i in range(T.shape[0]):
        if seasonal_shape(P, S, SC, T[i], shape, buf):
            out[i] = shape
    return out


@njit(cache=True)
def shift_levels(F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, c: np.ndarray) -> None:
    """Subtract ``c[k, j]`` from every value of feature ``j``'s level window of kind
    ``LEVEL_KINDS[k]`` (the windows whose values are measured from the shape)."""
    m = P[P_M]
    for k in range(len(LEVEL_KINDS)):
        kind = LEVEL_KINDS[k]
        if kind == K_RES and (P[P_SHARED] != 0 or P[P_USE_RECENT] == 0):
            continue  # the seasonal level's window itself, or none
        for j in range(m):
            if math.isfinite(c[k, j]) and c[k, j] != 0.0:
                _shift_window(F, N, D, kind * m + j, c[k, j])


@njit(cache=True)
def _measure(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
    z: np.ndarray, b: np.ndarray, s: np.ndarray, zs: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """The seasonal shape at ``t`` and the point's deviations (see :func:`_feature_z`)."""
    shape = np.empty(P[P_M])
    buf = np.empty((2 * P[P_SMOOTH] + 1) * (2 * P[P_HISTORY] + 1))
    has_shape = seasonal_shape(P, S, SC, t, shape, buf)
    _feature_z(F, N, D, P, x, shape, has_shape, z, b, s, zs)
    return shape, has_shape


@_helper()
def _point_score(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    t: int, x: np.ndarray, z: np.ndarray, b: np.ndarray, s: np.ndarray, zs: np.ndarray,
    nz: np.ndarray, vz: np.ndarray, va: np.ndarray, vl: np.ndarray, hz: np.ndarray,
) -> tuple[float, int]:
    """The score of a measured point and what gave it (see :func:`_score`), filling the
    range scores ``nz[:m]``, the context score ``nz[m]``, the noise test's
    ``vz``/``va``/``vl`` (see :func:`_noises`) and ``hz`` (``14m + 1``): the shift test's
    figures (see :func:`_shifts`), the flat test's scores (see :func:`_flats`), the
    sustained test's figures (see :func:`_sustained`, from the seasonal deviations and
    baselines ``zs``), then what a point the rhythm kept from paging would have scored
    (see :func:`_score`)."""
    _novelties(F, N, P, Q, t, x, s, nz)
    nz[P[P_M]] = _context(F, N, P, Q, z)
    _noises(F, N, D, P, Q, t, x, vz, va, vl)
    m = P[P_M]
    _shifts(F, N, P, Q, t, x, b, s, hz)
    _flats(F, N, P, Q, t, x, hz[3 * m : 4 * m])
    _sustained(F, N, P, Q, t, x, z, zs, hz)
    score, by = _score(F, N, P, Q, z, nz, vz, hz, t)
    if score > Q[Q_THRESHOLD] and by <= 3 * m:  # another test paged: the incident's
        hz[:m] = 0.0  # mean is the incident's, no news for the shift test's memory
    return score, by


@njit(cache=True)
def feature_z(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
    z: np.ndarray, b: np.ndarray, s: np.ndarray, kind: np.ndarray,
) -> None:
    """Signed deviation, baseline and scale of every feature at ``(t, x)``: what the point's
    explanation is made of; ``kind`` says which test each feature's figures come from
    (``KIND_*``: the range or noise test's where one scored)."""
    m = P[P_M]
    zs, hz = np.empty(_zs_len(m)), np.empty(_hz_len(m))
    _measure(F, N, D, P, S, SC, t, x, z, b, s, zs)
    _, by = _point_score(F, N, D, P, Q, t, x, z, b, s, zs, np.empty(m + 1), np.empty(m),
                         np.empty(m), np.empty(2 * m), hz)
    j, zj, bj, sj, k = _explained(F, N, D, P, Q, by, t, x, z, b, s, hz)
    kind[:] = KIND_DEVIATION
    if j >= 0:
        z[j], b[j], s[j], kind[j] = zj, bj, sj, k


@njit(cache=True)
def score_point(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
) -> float:
    """Score of one point against the state (the state is not changed)."""
    m = P[P_M]
    z, b, s, zs = np.empty(m), np.empty(m), np.empty(m), np.empty(_zs_len(m))
    _measure(F, N, D, P, S, SC, t, x, z, b, s, zs)
    return _point_score(F, N, D, P, Q, t, x, z, b, s, zs, np.empty(m + 1), np.empty(m),
                        np.empty(m), np.empty(2 * m), np.empty(_hz_len(m)))[0]


@njit(cache=True)
def learn_point(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray, flagged: bool, renew: bool,
) -> None:
    """Learn one point. ``flagged``: the point is flagged and learned although the policy
    does not learn flagged points (``renew``: its run lasted the policy's
    ``relearn_after``), so possibly as a known normal (see :func:`_learning`)."""
    m = P[P_M]
    z, zs, b, s = np.empty(m), np.empty(_zs_len(m)), np.empty(m), np.empty(m)
    shape, has_shape = _measure(F, N, D, P, S, SC, t, x, z, b, s, zs)
    nz, va, vl, hz = np.empty(m + 1), np.empty(m), np.empty(2 * m), np.empty(_hz_len(m))
    score, by = _point_score(F, N, D, P, Q, t, x, z, b, s, zs, nz, np.empty(m), va, vl, hz)
    known = _learning(F, N, P, Q, t, flagged, not flagged, renew)[1]
    _learn(F, N, D, P, Q, S, SC, t, x, shape, has_shape, z, zs, nz, hz)
    _follow(F, N, D, P, Q, t, x, z, va, vl, hz, score, by, known)


@njit(cache=True)
def pass_point(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
) -> None:
    """A point scored but not learned (flagged): what follows every point follows it (see
    :func:`_follow`), as in :func:`step`."""
    m = P[P_M]
    z, b, s, zs = np.empty(m), np.empty(m), np.empty(m), np.empty(_zs_len(m))
    _measure(F, N, D, P, S, SC, t, x, z, b, s, zs)
    nz, va, vl, hz = np.empty(m + 1), np.empty(m), np.empty(2 * m), np.empty(_hz_len(m))
    score, by = _point_score(F, N, D, P, Q, t, x, z, b, s, zs, nz, np.empty(m), va, vl, hz)
    _follow(F, N, D, P, Q, t, x, z, va, vl, hz, score, by, False)


@njit(cache=True)
def step(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, t: int, x: np.ndarray,
    threshold: float, learn_anyway: bool, renew: bool, z: np.ndarray, b: np.ndarray,
    s: np.ndarray, kind: np.ndarray,
) -> tuple[float, bool]:
    """Score one point, then learn it unless it scores above ``threshold`` (and neither
    ``learn_anyway`` nor ``renew`` nor :func:`learns_flagged`, see :func:`_learning`): the
    Monitor's whole step in one call. ``learn_anyway``: the policy learns flagged points;
    ``renew``: the run of flagged points this one would end is long enough to be the new
    normal (see :func:`run`). Returns the score and whether the point was learned.
    ``z``/``b``/``s``/``kind`` receive what the score came from (the state before learning,
    see :func:`feature_z`)."""
    m = P[P_M]
    zs = np.empty(_zs_len(m))
    shape, has_shape = _measure(F, N, D, P, S, SC, t, x, z, b, s, zs)
    nz, va, vl, hz = np.empty(m + 1), np.empty(m), np.empty(2 * m), np.empty(_hz_len(m))
    score, by = _point_score(F, N, D, P, Q, t, x, z, b, s, zs, nz, np.empty(m), va, vl, hz)
    # explained by the range / noise as they were before this point joins them
    j, zj, bj, sj, k = _explained(F, N, D, P, Q, by, t, x, z, b, s, hz)
    learned, known = _learning(F, N, P, Q, t, score > threshold, learn_anyway, renew)
    if learned:
        _learn(F, N, D, P, Q, S, SC, t, x, shape, has_shape, z, zs, nz, hz)
    _follow(F, N, D, P, Q, t, x, z, va, vl, hz, score, by, known)  # flagged or not
    kind[:] = KIND_DEVIATION
    if j >= 0:
        z[j], b[j], s[j], kind[j] = zj, bj, sj, k
    return score, learned


@njit(cache=True)
def run(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, T: np.ndarray, X: np.ndarray, start: int,
    threshold: float, learn_flagged: bool, relearn_after: int, carry: np.ndarray,
    scores: np.ndarray, raw: np.ndarray, Z: np.ndarray, B: np.ndarray, SS: np.ndarray,
    KK: np.ndarray,
) -> int:
    """Score then learn rows ``start..`` of ``X`` in order (the batch path).

    A point scoring above ``threshold`` is not learned unless ``learn_flagged`` or it ends a
    run of more than ``relearn_after`` such points (``carry[0]`` holds the run) or
    :func:`learns_flagged`, exactly as the Monitor and ``fit`` decide. ``raw`` receives each
    point's largest ``|z|`` before the "seen before" test. Returns the number of rows done: fewer than all when the series'
    step has just become known and the caller must allocate the slots, then call again.
    When ``Z``/``B``/``SS``/``KK`` have rows, row ``i`` receives point ``i``'s deviations,
    baselines, scales and kinds (what its explanation is made of, see :func:`feature_z`).
    """
    m = P[P_M]
    shape = np.empty(m)
    buf = np.empty((2 * P[P_SMOOTH] + 1) * (2 * P[P_HISTORY] + 1))
    z, b, s, zs, nz = np.empty(m), np.empty(m), np.empty(m), np.empty(_zs_len(m)), np.empty(m + 1)
    vz, va, vl, hz = np.empty(m), np.empty(m), np.empty(2 * m), np.empty(_hz_len(m))
    return _run_rows(F, N, D, P, Q, S, SC, T, X, start, threshold, learn_flagged, relearn_after,
                     carry, scores, raw, Z, B, SS, KK, shape, buf, z, b, s, zs, nz, vz, va, vl,
                     hz)


@_helper()
def _run_rows(
    F: np.ndarray, N: np.ndarray, D: np.ndarray, P: np.ndarray, Q: np.ndarray,
    S: np.ndarray, SC: np.ndarray, T: np.ndarray, X: np.ndarray, start: int,
    threshold: float, learn_flagged: bool, relearn_after: int, carry: np.ndarray,
    scores: np.ndarray, raw: np.ndarray, Z: np.ndarray, B: np.ndarray, SS: np.ndarray,
    KK: np.ndarray, shape: np.ndarray, buf: np.ndarray, z: np.ndarray, b: np.ndarray,
    s: np.ndarray, zs: np.ndarray, nz: np.ndarray, vz: np.ndarray, va: np.ndarray,
    vl: np.ndarray, hz: np.ndarray,
) -> int:
    """:func:`run`'s loop, given its scratch arrays: compiled without reference counting (in
    :func:`run` every helper call and row view counted each array it was passed)."""
    record = Z.shape[0] > 0
    m = P[P_M]
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
        score, by = _point_score(F, N, D, P, Q, t, x, z, b, s, zs, nz, vz, va, vl, hz)
        scores[i] = score
        if record:
            for j in range(m):  # (element by element: a row assignment would allocate)
                Z[i, j], B[i, j], SS[i, j], KK[i, j] = z[j], b[j], s[j], KIND_DEVIATION
            j, zj, bj, sj, k = _explained(F, N, D, P, Q, by, t, x, z, b, s, hz)
            if j >= 0:
                Z[i, j], B[i, j], SS[i, j], KK[i, j] = zj, bj, sj, k
        flag_run = flag_run + 1 if score > threshold else 0
        learned, known = _learning(F, N, P, Q, t, flag_run > 0, learn_flagged,
                                   flag_run > relearn_after)
        if learned:
            _learn(F, N, D, P, Q, S, SC, t, x, shape, has_shape, z, zs, nz, hz)
        _follow(F, N, D, P, Q, t, x, z, va, vl, hz, score, by, known)  # flagged or not
        if learned and switch_pending(N, P):  # the caller moves the model to a week
            carry[0] = flag_run
            return i + 1
    carry[0] = flag_run
    return X.shape[0]
