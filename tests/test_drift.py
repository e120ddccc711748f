"""The drift test of ``default`` (and the ``drift`` piece): a level that keeps moving the same
way, day after day, pages once it has done so for about two days; a level shift, a daily
cycle or ordinary days do not."""

from __future__ import annotations

import numpy as np
import pandas as pd

from anomalert.detection import detect
from anomalert.detectors import Default, make

_DAY = 1440
_START = 4 * _DAY  # the leak starts on the fifth day


def _series(days: int = 8, leak_per_day: float = 3.0, shift: float = 0.0) -> pd.DataFrame:
    """A daily cycle (50 +- 10) with noise 1 at 1-minute steps; from ``_START`` on it climbs
    ``leak_per_day`` a day (a memory leak) and/or sits ``shift`` higher (a level shift)."""
    idx = pd.date_range("2025-01-01", periods=days * _DAY, freq="1min", tz="UTC")
    i = np.arange(len(idx))
    v = 50 + 10 * np.sin(2 * np.pi * i / _DAY) + np.random.default_rng(5).normal(0, 1, len(idx))
    after = np.clip(i - _START, 0, None)
    v = v + leak_per_day * after / _DAY + shift * (i >= _START)
    return pd.DataFrame({"mem": v}, index=idx)


def test_a_slow_leak_pages_as_a_drift_after_about_two_days() -> None:
    frame = _series()
    d = detect("default", frame, train_until=frame.index[2 * _DAY])
    alerts = d.points.index[d.points["is_anomaly"]]
    assert len(alerts) > 0, "the leak pages"
    start = frame.index[_START]
    assert alerts[0] >= start + pd.Timedelta("40h"), "nothing pages before two days of drift"
    assert alerts[0] <= start + pd.Timedelta("50h")
    text = d.points.loc[alerts[0], "explanation"]
    assert text.startswith("mem is drifting up") and "from its level 2 days before" in text
    # 3 a day on hourly means that differ by ~0.2 from day to day: far past 3 yardsticks
    assert len(d.incidents) == 1


def test_without_the_drift_test_the_leak_goes_unseen() -> None:
    frame = _series()
    off = type("NoDrift", (Default,), {"_drift_days": 0})()
    d = detect(off, frame, train_until=frame.index[2 * _DAY])
    assert not d.points["is_anomaly"].any(), "each minute is a hair above the last"


def test_a_level_shift_and_plain_days_do_not_drift() -> None:
    for frame in (_series(leak_per_day=0.0, shift=8.0), _series(leak_per_day=0.0)):
        d = detect("drift", frame, train_until=frame.index[2 * _DAY])
        assert not d.points["is_anomaly"].any()


def test_a_drift_down_says_down_and_the_explanation_holds_its_figures() -> None:
    frame = _series(leak_per_day=-3.0)
    det = make("drift").fit(frame.iloc[: 2 * _DAY])
    for ts, v in zip(frame.index[2 * _DAY: -1], frame["mem"].iloc[2 * _DAY: -1], strict=True):
        det.learn_one(ts, {"mem": float(v)})
    ts, v = frame.index[-1], float(frame["mem"].iloc[-1])
    exp = det.explain_one(ts, {"mem": v})
    top = exp.top
    assert exp.score > det.threshold_ and top is not None and top.kind == "drift"
    assert top.deviation < -3 and "mem is drifting down" in top.text()
    # baseline: the mean of the day two days before the last complete day (a full cycle, so
    # the sine averages out: 50 plus the leak so far, which climbed -3 a day)
    hour = ts.floor("1h")
    day = frame["mem"][(frame.index >= hour - pd.Timedelta("72h"))
                       & (frame.index < hour - pd.Timedelta("48h"))]
    assert abs(top.baseline - day.mean()) < 1e-9
    assert 0.05 < top.scale < 1.0  # hourly means a day apart differ by a few tenths


def test_batch_and_streaming_drift_scores_agree() -> None:
    frame = _series(days=7)
    train, rest = frame.iloc[:_START - _DAY], frame.iloc[_START - _DAY:]
    batch = make("drift").fit(train).score(rest).to_numpy()
    det = make("drift").fit(train)
    stream = []
    for ts, v in zip(rest.index, rest["mem"], strict=True):
        stream.append(det.score_one(ts, {"mem": float(v)}))
        det.learn_one(ts, {"mem": float(v)})
    assert np.array_equal(batch, np.array(stream))
    assert (batch > det.threshold_).any(), "the comparison covers a drift"


def test_a_drift_under_the_threshold_leaves_the_explanation_to_the_deviations() -> None:
    """Hours before the drift pages its score already leads the deviations'; the point is
    still explained by its deviation from the baseline, the figures a reader expects of an
    ordinary point (and what the report draws beside it)."""
    frame = _series()
    det = make("default").fit(frame.iloc[: 2 * _DAY])
    stop = _START + 40 * 60  # forty hours into the leak
    for ts, v in zip(frame.index[2 * _DAY: stop], frame["mem"].iloc[2 * _DAY: stop], strict=True):
        det.learn_one(ts, {"mem": float(v)})
    ts, v = frame.index[stop], float(frame["mem"].iloc[stop])
    exp = det.explain_one(ts, {"mem": v})
    assert 0.5 * det.threshold_ < exp.score <= det.threshold_, "the drift test leads, quietly"
    assert exp.top is not None and exp.top.kind == "level" and abs(exp.top.deviation) < 3


def test_tests_that_average_over_time_need_points_in_their_span() -> None:
    """The drift test's hourly means need four points in the hour, each of the noise test's
    windows four in its span (an hourly series keeps only the four-hour window): a coarser
    series goes without them (its other tests still run)."""
    from anomalert.detectors import _kernel as K

    def fitted(step: str) -> Default:
        idx = pd.date_range("2025-01-01", periods=600, freq=step, tz="UTC")
        rng = np.random.default_rng(2)
        return Default().fit(pd.DataFrame({"temp": 20 + rng.normal(0, 1, 600)}, index=idx))

    # (step, the noise test's short window and long window in ten-minute parts, drift)
    for step, short, longer, drift in (("5min", 12, 24, True), ("15min", 12, 24, True),
                                       ("30min", 12, 24, False), ("1h", 24, 0, False),
                                       ("2h", 0, 0, False)):
        P = fitted(step).state_["P"]
        got = (int(P[K.P_VAR_SUB]), int(P[K.P_VAR_LONG]), int(P[K.P_DRIFT_D]) > 0)
        assert got == (short, longer, drift), step
        assert int(P[K.P_NOV_B]) > 0  # the range test keeps its hourly buckets
