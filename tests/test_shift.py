"""The shift test of ``default``: a level that leaves the range of the week's two-hour means
for hours pages, even when no single point is unusual."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stream_helpers import first_paging

from anomalert.detection import detect
from anomalert.detectors import Default, Shift
from anomalert.detectors import _kernel as K

_START = 4 * 1440  # the shift starts after four days
_HOURS = 3  # and lasts three hours


def _plateau(days: int = 5, start: int = _START, size: float = 1.5) -> pd.DataFrame:
    """A steady metric (50, noise 2 a minute) that sits ``size`` higher for three hours from
    ``start``: 0.75 of its noise, so no point stands out, but its two-hour mean (noise 0.18)
    leaves everything the week's did."""
    idx = pd.date_range("2025-01-01", periods=days * 1440, freq="1min", tz="UTC")
    v = 50 + np.random.default_rng(5).normal(0, 2, len(idx))
    v[start : start + _HOURS * 60] += size
    return pd.DataFrame({"cpu": v}, index=idx)


def test_a_small_sustained_shift_pages_as_a_shift_and_says_so() -> None:
    frame = _plateau()
    d = detect("default", frame, train_until=frame.index[2 * 1440])
    alerts = d.points.index[d.points["is_anomaly"]]
    assert len(alerts) > 0
    assert alerts[0] >= frame.index[_START], "nothing pages while the series is steady"
    assert alerts[0] <= frame.index[_START] + pd.Timedelta("2h")
    text = d.points.loc[alerts[0], "explanation"]
    assert text.startswith("cpu has shifted: its mean ")
    assert "above the 7-day high of its 2-hour means" in text
    # every alert is the plateau's (its mean stays high for a while after it ends), and it
    # opens one incident (two when the mean flickers around the threshold as it crosses)
    end = frame.index[_START + _HOURS * 60 - 1]
    assert end < alerts[-1] <= end + pd.Timedelta("30min")
    assert 1 <= len(d.incidents) <= 2


def test_without_the_shift_test_the_plateau_goes_unseen() -> None:
    frame = _plateau()
    off = type("NoShift", (Default,), {"_shift_hours": 0})()
    d = detect(off, frame, train_until=frame.index[2 * 1440])
    assert not d.points["is_anomaly"].any()


def test_the_explanation_gives_the_window_mean_against_the_week_s_edge() -> None:
    frame = _plateau()
    det = Shift().fit(frame.iloc[: 2 * 1440])
    at = first_paging(det, frame, 2 * 1440)
    assert at is not None and at >= frame.index[_START]
    top = det.explain_one(at, {"cpu": float(frame.loc[at, "cpu"])}).top
    assert top is not None and top.kind == "shift"
    assert top.reference == "the 7-day high of its 2-hour means"
    # value: the mean of the last two hours (the ten-minute parts that hold them)
    part = (at.value // 10**9) // 600
    since = pd.Timestamp((part - 11) * 600, unit="s", tz="UTC")
    window = frame["cpu"].loc[since:at]
    assert top.value == pytest.approx(window.mean(), abs=1e-9)
    # baseline: the highest two-hour mean of the days before, beaten by more than 2 scales
    means = frame["cpu"].iloc[: _START].rolling(120).mean()
    assert top.baseline == pytest.approx(means.max(), abs=0.1)
    assert top.deviation == pytest.approx((top.value - top.baseline) / top.scale)
    assert top.deviation > 2.0
    assert 0 < top.scale < 0.5  # two-hour means vary far less than the points (noise 2)


def test_the_shift_test_keeps_quiet_for_its_window_after_another_test_pages() -> None:
    """A spike's mean is the spike's: a plateau that starts with a spike is only news once
    the window no longer holds the spike."""
    frame = _plateau()
    frame.iloc[_START, 0] = 120.0  # a spike the deviation test pages on
    d = detect("default", frame, train_until=frame.index[2 * 1440])
    p = d.points
    spike = frame.index[_START]
    assert p.loc[spike, "is_anomaly"]
    shifted = p.index[p["explanation"].str.contains("has shifted")]
    assert len(shifted) > 0 and shifted[0] > spike + pd.Timedelta("2h")


def test_a_spike_seen_before_does_not_page_as_a_shift() -> None:
    """Each value counts at most the threshold's worth of scales towards the window's mean:
    a spike that recurs (learned, so no longer news) does not lift the mean past the week's
    edge when it comes back."""
    frame = _plateau(size=0.0)
    every = 6 * 60
    frame.iloc[2 * 1440 :: every, 0] = 200.0
    det = Default().fit(frame.iloc[: 2 * 1440])
    from anomalert.evaluation.nab_run import NAB_POLICY
    from anomalert.monitor import Monitor

    monitor = Monitor(det, NAB_POLICY)
    texts = []
    for ts, v in zip(frame.index[2 * 1440:], frame["cpu"].iloc[2 * 1440:], strict=True):
        verdict = monitor.check(ts, {"cpu": float(v)})
        if verdict.is_anomalous:
            texts.append(verdict.explanation)
    assert texts and not [t for t in texts if "has shifted" in t]


def test_an_hourly_series_gets_a_four_hour_window_and_a_daily_one_none() -> None:
    for freq, parts in (("1min", 12), ("30min", 12), ("1h", 24), ("1D", 0)):
        idx = pd.date_range("2025-01-01", periods=200, freq=freq, tz="UTC")
        frame = pd.DataFrame({"v": np.random.default_rng(0).normal(0, 1, 200)}, index=idx)
        det = Default().fit(frame)
        assert int(det.state_["P"][K.P_SHIFT_SUB]) == parts, freq


def test_shift_range_cache_equals_a_fresh_measure() -> None:
    """The cached range of the current hour equals one measured afresh from the buckets,
    through gaps longer than the whole history too."""
    st = K.new_state(
        2, level_window=7, window=7, trail_window=7, dev_window=7, memory=5, min_periods=2,
        smooth=1, history=3, period=0, use_recent=True, escape=3, guard=5.0, margin=2.0,
        threshold=6.0, shift_hours=1, shift_buckets=8, shift_span=2,
    )
    K.with_slots(st, 300)  # a window needs half the points its span holds at this step
    F, N, P, Q = st["F"], st["N"], st["P"], st["Q"]
    R, B = int(P[K.P_SHIFT_SUB]), int(P[K.P_SHIFT_B])
    assert (R, B) == (6, 8)
    rng = np.random.default_rng(3)
    t, measured = 0, 0
    nan = np.full(2, np.nan)
    for k in range(3000):
        t += int(rng.choice([60, 300, 900, 4000, 40_000], p=[0.3, 0.3, 0.3, 0.07, 0.03])) * 10**9
        x = rng.normal(0, 1 + (k // 300) % 3, 2)
        if k % 13 == 0:
            x[0] = np.nan
        hz = np.empty(6)
        K._shifts(F, N, P, Q, t, x, nan, nan, hz)
        K._shift_follow(F, N, P, t, hz, bool(k % 50 == 0), False)
        hour = (t // 1_000_000_000) // 3600
        assert N[int(P[K.P_SHIFT_ID]) + R + B] == hour
        for j in range(2):
            cached = K._shift_range(F, N, P, j, t)
            fresh = K._shift_measure(F, N, P, j, hour)
            if not np.isnan(cached[0]):
                measured += 1
                assert cached == fresh
    assert measured > 100


def test_batch_and_streaming_shift_scores_agree() -> None:
    frame = _plateau()
    det = Default().fit(frame.iloc[: 2 * 1440])
    batch = det.score(frame.iloc[2 * 1440:])
    stream = []
    for ts, v in zip(frame.index[2 * 1440:], frame["cpu"].iloc[2 * 1440:], strict=True):
        stream.append(det.score_one(ts, {"cpu": float(v)}))
        det.learn_one(ts, {"cpu": float(v)})
    np.testing.assert_allclose(batch, np.array(stream), rtol=0, atol=1e-9)
    assert np.nanmax(batch) > det.threshold_  # the plateau is in both
