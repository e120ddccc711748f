"""Moving a daily seasonal model to a week, once the kernel finds a weekly cycle.

A model with ``period="auto"`` starts daily and keeps the weekly test's hourly means of what
it learns (:func:`anomalert.detectors._kernel._weekly_check`); when they show a weekly cycle
the kernel raises a flag and :class:`~anomalert.detectors._compiled.CompiledBaseline` calls
:func:`switch_to_week` once. Three things move with the model:

* the remembered values: each daily slot's value, with the level it was kept net of added
  back (:func:`_day_levels`), goes to its place in the week, with the week it came from;
* the places no remembered day filled (an incident was not learned, a gap): a stand-in, that
  time of day's median over the remembered days moved to the level of the latest such
  weekday with learned hours (:func:`_weekday_levels`), for one week;
* the level windows, whose values are measured from the shape: they move by the shape's
  median change over the times their values come from.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from anomalert.detectors import _kernel

#: The compiled module, untyped for mypy (numba's dispatchers take any arguments).
K: Any = _kernel

DAY = K.DAY_S
WEEK = K.WEEK_S


def switch_to_week(state: dict[str, np.ndarray], history: int) -> None:
    """Move ``state``'s seasonal model from a day to a week remembering ``history`` weeks.

    The shape changes once, here: a weekend the daily model learned as a lower level is the
    week's shape now, and must not stay in the level as well (after a switch on Sunday
    night, Monday's first hour would be measured against a baseline a weekend's drop too
    low), so the level windows move with it. Spreads and memories carry on.
    """
    s = state
    P, N = s["P"], s["N"]
    step, m = int(P[K.P_STEP]), int(P[K.P_M])
    S, SC = s["S"], s["SC"]
    # the times the level windows' values were measured at (about: the last points)
    last = int(N[P[K.P_LAST_T]])
    reach = max(int(s["D"][kind * m, 0]) for kind in K.LEVEL_KINDS)
    times = last + K.NS * step * np.arange(1, -reach, -1, dtype=np.int64)
    before = K.shapes_at(P, S, SC, times)
    S = S + _day_levels(state, S, SC)  # back to the values themselves
    days_kept = int(P[K.P_HISTORY])
    n_week = max(1, WEEK // step)
    S_w = np.full((n_week, history, m), np.nan)
    SC_w = np.full((n_week, history), K.NO_T, dtype=np.int64)
    for slot in range(S.shape[0]):
        for h in range(days_kept):
            day = int(SC[slot, h])
            if day == K.NO_T:
                continue
            at = day * DAY + slot * step
            w_slot, week = (at % WEEK) // step % n_week, at // WEEK
            if SC_w[w_slot, week % history] < week:
                S_w[w_slot, week % history] = S[slot, h]
                SC_w[w_slot, week % history] = week
    # Slots no remembered week learned (incidents, gaps) start from the daily profile
    # (each time of day's median over the remembered days) moved to the level of the
    # latest such weekday with learned hours (a Saturday's first minutes, flagged, get
    # Saturday's level, not a weekday's), dated to the oldest week the shape still
    # uses next week: a stand-in until the week has values of its own, not for longer.
    last_week = last // K.NS // WEEK - 1
    fill_week = last_week + 2 - history
    valid = (SC != K.NO_T)[:, :, None] & ~np.isnan(S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a time of day never learned
        daily = np.nanmedian(np.where(valid, S, np.nan), axis=1)  # (n_day_slots, m)
    levels = _weekday_levels(state, daily, last_week + 1)
    for ws in np.flatnonzero((SC_w == K.NO_T).all(axis=1)):
        d_slot = (int(ws) * step) % DAY // step % S.shape[0]
        S_w[ws, fill_week % history] = daily[d_slot] + levels[int(ws) * step // DAY]
        SC_w[ws, fill_week % history] = fill_week
    P[K.P_PERIOD], P[K.P_NSLOTS], P[K.P_HISTORY] = WEEK, n_week, history
    s["S"], s["SC"] = S_w, SC_w
    # The level windows hold values measured from the daily shape: each moves by the
    # median change of the shape over the times its values come from, so shape plus level
    # stays where it was.
    change = K.shapes_at(P, S_w, SC_w, times) - before
    c = np.zeros((len(K.LEVEL_KINDS), m))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no shape at those times
        for k, kind in enumerate(K.LEVEL_KINDS):
            c[k] = np.nanmedian(change[1:1 + int(s["D"][kind * m, 0])], axis=0)
    K.shift_levels(s["F"], N, s["D"], P, np.nan_to_num(c))
    N[P[K.P_WEEK_ID] + P[K.P_WEEK_H]] = 2  # done: never again


def _hourly(state: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The weekly test's hourly ring: each bucket's hour number (H), then the sums and counts
    of the values learned in it (H x m)."""
    P, N, F = state["P"], state["N"], state["F"]
    m = int(P[K.P_M])
    H, off, ids = int(P[K.P_WEEK_H]), int(P[K.P_WEEK_OFF]), int(P[K.P_WEEK_ID])
    sums = F[off:off + H * m].reshape(H, m)
    counts = F[off + H * m:off + 2 * H * m].reshape(H, m)
    return N[ids:ids + H], sums, counts


def _weekday_levels(state: dict[str, np.ndarray], daily: np.ndarray, week: int) -> np.ndarray:
    """Per day of the week (from the week's start) and feature, how far the latest such day
    with learned hours (in ``week`` or the weeks before it that the weekly test's hourly
    means reach) stood from the daily profile ``daily``: the median over its hours of the
    hour's mean less the profile's (0 where no such day is known)."""
    P = state["P"]
    step, m = int(P[K.P_STEP]), int(P[K.P_M])
    ids, sums, counts = _hourly(state)
    H = len(ids)
    slot_hour = (np.arange(daily.shape[0]) * step) // 3600 % 24
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an hour never learned
        profile = np.array([np.nanmean(daily[slot_hour == h], axis=0) for h in range(24)])
    levels = np.zeros((7, m))
    first_day = week * WEEK // DAY
    for dow in range(7):
        for back in range(H // 168 + 1):
            day = first_day + dow - 7 * back
            hours = day * 24 + np.arange(24)
            b = hours % H
            kept = (ids[b] == hours)[:, None] & (counts[b] > 0)
            if not kept.any():
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                diff = np.where(kept, sums[b] / counts[b] - profile[hours % 24], np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a feature never learned
                lv = np.nanmedian(diff, axis=0)
            levels[dow] = np.where(np.isfinite(lv), lv, 0.0)
            break
    return levels


def _day_levels(state: dict[str, np.ndarray], S: np.ndarray, SC: np.ndarray) -> np.ndarray:
    """The level each daily slot's value was stored net of, per hour: the hour's mean of the
    values learned (the weekly test's hourly sums) minus that of the slots. On a daily model
    a weekly cycle is the levels' (a weekend learned as a lower level), so the slots hold it
    net of them; moved to a week, the shape takes it back."""
    P = state["P"]
    step, m = int(P[K.P_STEP]), int(P[K.P_M])
    ids, sums, counts = _hourly(state)
    H = len(ids)
    n_slots = SC.shape[0]
    hour = (SC * DAY + (np.arange(n_slots) * step)[:, None]) // 3600  # (slots, rows)
    known = (SC != K.NO_T)[:, :, None] & ~np.isnan(S)
    b = hour % H
    kept = (ids[b] == hour)[:, :, None] & (counts[b] > 0) & known
    # the slots' own hourly means, over the same hours
    flat_hour = np.where(kept, b[:, :, None], -1)
    s_sum, s_cnt = np.zeros((H, m)), np.zeros((H, m))
    for j in range(m):
        ok = flat_hour[:, :, j] >= 0
        np.add.at(s_sum[:, j], flat_hour[:, :, j][ok], S[:, :, j][ok])
        np.add.at(s_cnt[:, j], flat_hour[:, :, j][ok], 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = sums / counts - s_sum / s_cnt  # (H, m)
    out = np.zeros_like(S)
    for j in range(m):
        lv = level[b, j]
        out[:, :, j] = np.where(kept[:, :, j] & np.isfinite(lv), lv, 0.0)
    return out
