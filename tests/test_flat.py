"""The flat test of ``default``: a metric that stops moving (a day far narrower than any day of
its week) pages, though no value is unusual."""

from __future__ import annotations

import numpy as np
import pandas as pd
from stream_helpers import first_paging

from anomalert.detection import detect
from anomalert.detectors import Default, Flat
from anomalert.detectors import _kernel as K

_STOP = 5 * 288  # the job stops after five days (5-minute steps)
_LAST_JOB = _STOP - 36 + 2  # the last point of the last run


def _jobs(days: int = 8) -> pd.DataFrame:
    """A metric at 5 (noise 0.5) with a 15-minute job of +30 every three hours, until the
    job stops after five days."""
    idx = pd.date_range("2025-01-01", periods=days * 288, freq="5min", tz="UTC")
    v = 5 + np.random.default_rng(1).normal(0, 0.5, len(idx))
    runs = np.arange(len(idx)) % 36 < 3
    runs[_STOP:] = False
    v[runs] += 30
    return pd.DataFrame({"jobs": v}, index=idx)


def test_a_job_that_stops_pages_at_its_first_missed_run_and_as_flat_a_day_later() -> None:
    """The job's runs are in the seasonal shape (learned as a routine), so the first run
    that does not come pages as a drop; a day and two hours after the last run, the flat
    test says what happened."""
    frame = _jobs()
    d = detect("default", frame, train_until=frame.index[3 * 288])
    held_out = d.points.iloc[3 * 288:]
    alerts = held_out.index[held_out["is_anomaly"]]
    assert alerts[0] == frame.index[_STOP], "nothing pages while the job runs"
    assert "below baseline" in d.points.loc[alerts[0], "explanation"]
    texts = held_out["explanation"].fillna("")
    flat = held_out.index[texts.str.startswith("jobs has gone flat: it moved ")]
    last_job = frame.index[_LAST_JOB]
    # the window is a day and two hours (a late nightly job is still in it)
    assert last_job + pd.Timedelta("25h") < flat[0] <= last_job + pd.Timedelta("27h")
    assert "less than the narrowest 24 hours of its 7-day history" in texts[flat[0]]
    # the flat day becomes history a day later and the paging stops
    assert alerts[-1] <= flat[0] + pd.Timedelta("26h")


def _stuck(days: int = 8) -> pd.DataFrame:
    """A queue length at 50 (noise 5) that sticks at exactly 50 after five days: no value
    is unusual, nothing is noisier or shifted."""
    idx = pd.date_range("2025-01-01", periods=days * 288, freq="5min", tz="UTC")
    v = 50 + np.random.default_rng(1).normal(0, 5, len(idx))
    v[_STOP:] = 50.0
    return pd.DataFrame({"queue": v}, index=idx)


def test_a_stuck_value_pages_as_flat_once_and_only_the_flat_test_sees_it() -> None:
    frame = _stuck()
    start = frame.index[3 * 288]
    d = detect("default", frame, train_until=start)
    after = [i for i in d.incidents if i.start >= start]
    assert len(after) == 1
    assert after[0].explanation.startswith("queue has gone flat: it moved 0 (high - low)")
    stuck_at = frame.index[_STOP]
    assert stuck_at + pd.Timedelta("25h") <= after[0].start <= stuck_at + pd.Timedelta("27h")
    off = type("NoFlat", (Default,), {"_flat_hours": 0})()
    blind = detect(off, frame, train_until=start)
    assert not blind.points["is_anomaly"].iloc[3 * 288:].any()


def test_the_explanation_gives_the_day_s_range_against_the_narrowest() -> None:
    frame = _jobs()
    det = Flat().fit(frame.iloc[: 3 * 288])
    at = first_paging(det, frame, 3 * 288)
    assert at is not None
    top = det.explain_one(at, {"jobs": float(frame.loc[at, "jobs"])}).top
    assert top is not None and top.kind == "flat"
    # value: high - low of the window's hours (this hour and the 25 before it: a day and two)
    since = at.floor("h") - pd.Timedelta("25h")
    day = frame["jobs"].loc[since:at]
    assert top.value == day.max() - day.min() == top.scale
    assert top.value < 6  # the noise alone
    assert top.baseline > 30  # every earlier day held jobs
    assert top.deviation == -top.baseline / top.value < -5


def test_a_series_that_was_always_flat_or_has_a_gap_does_not_page() -> None:
    idx = pd.date_range("2025-01-01", periods=8 * 288, freq="5min", tz="UTC")
    constant = pd.DataFrame({"v": np.full(len(idx), 3.0)}, index=idx)
    det = Flat().fit(constant.iloc[: 3 * 288])
    assert not (det.score(constant.iloc[3 * 288:]) > det.threshold_).any()
    # a day without data is not a flat day
    frame = _jobs().drop(_jobs().index[_STOP - 36 : _STOP + 300])
    frame.iloc[_STOP - 36 :, 0] = _jobs()["jobs"].iloc[:len(frame) - _STOP + 36].to_numpy()
    det = Flat().fit(frame.iloc[: 3 * 288])
    assert not (det.score(frame.iloc[3 * 288:]) > det.threshold_).any()


def test_flat_cache_equals_a_fresh_measure() -> None:
    """The cached figures of the current hour equal those measured afresh from the hourly
    buckets, through gaps longer than the whole history too."""
    st = K.new_state(
        2, level_window=7, window=7, trail_window=7, dev_window=7, memory=5, min_periods=2,
        smooth=1, history=3, period=0, use_recent=True, escape=3, guard=5.0, margin=2.0,
        threshold=6.0, flat_hours=3, flat_history=12, flat_span=4,
    )
    K.with_slots(st, 600)
    F, N, P = st["F"], st["N"], st["P"]
    B = int(P[K.P_FLAT_B])
    assert B == 12 + 3 + K._FLAT_SLACK  # the history, the window and its slack
    rng = np.random.default_rng(4)
    t, measured = 0, 0
    for k in range(3000):
        t += int(rng.choice([60, 600, 1200, 4000, 60_000], p=[0.3, 0.3, 0.3, 0.07, 0.03])) * 10**9
        x = rng.normal(0, 1 + (k // 300) % 3, 2)
        if k % 13 == 0:
            x[0] = np.nan
        K._flat_follow(F, N, P, t, x)
        hour = (t // 1_000_000_000) // 3600
        assert N[int(P[K.P_FLAT_ID]) + B] == hour
        cache = int(P[K.P_FLAT_OFF]) + 3 * B * 2
        for j in range(2):
            fresh = K._flat_measure(F, N, P, j, hour)
            cached = tuple(F[cache + i * 2 + j] for i in range(4))
            np.testing.assert_array_equal(np.array(cached), np.array(fresh))
            measured += not np.isnan(fresh[0])
    assert measured > 100


def test_batch_and_streaming_flat_scores_agree() -> None:
    frame = _jobs(days=7)
    det = Default().fit(frame.iloc[: 3 * 288])
    batch = det.score(frame.iloc[3 * 288:])
    stream = []
    for ts, v in zip(frame.index[3 * 288:], frame["jobs"].iloc[3 * 288:], strict=True):
        stream.append(det.score_one(ts, {"jobs": float(v)}))
        det.learn_one(ts, {"jobs": float(v)})
    np.testing.assert_allclose(batch, np.array(stream), rtol=0, atol=1e-9)
    assert np.nanmax(batch.iloc[_STOP - 3 * 288:]) > det.threshold_  # the stop is in both
