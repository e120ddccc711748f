"""The Python API meets bad input as the CLI does: checked, fixed and reported, or refused
with an anomalert error -- a time-zone-aware frame included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anomalert import Monitor, detect, make
from anomalert.errors import InputError, ParameterError

IDX = pd.date_range("2025-01-01", periods=2880, freq="1min", tz="UTC")
RNG = np.random.default_rng(0)
FRAME = pd.DataFrame({"cpu": 40 + RNG.normal(0, 2, 2880), "mem": 50 + RNG.normal(0, 2, 2880)},
                     index=IDX)
T = "2025-01-03T00:00:00Z"


def test_an_aware_frame_is_sorted_and_deduplicated_and_says_so() -> None:
    clean = detect("default", FRAME)
    shuffled = detect("default", FRAME.sample(frac=1, random_state=0))
    assert shuffled.train_rows == clean.train_rows
    np.testing.assert_array_equal(shuffled.points["score"], clean.points["score"])
    assert shuffled.points.index.equals(clean.points.index)
    assert any("sorted them" in n for n in shuffled.notes) and clean.notes == []
    dup = detect("default", pd.concat([FRAME.iloc[:2000], FRAME.iloc[1990:]]))
    assert len(dup.points) == 2880 and any("10 duplicate" in n for n in dup.notes)


def test_an_aware_frame_with_bad_values_is_checked_like_any_other() -> None:
    inf = FRAME.copy()
    inf.iloc[2500, 0] = np.inf
    d = detect("default", inf)
    scores = d.points["score"].to_numpy()
    # the cpu value is not scored (the point is, on mem), nothing is infinite, nothing pages
    assert np.isfinite(scores[1440:]).all() and d.incidents == []
    assert any("1 infinite value(s)" in n for n in d.notes)
    text = FRAME.assign(host="web-1")
    with pytest.raises(InputError, match="column 'host': 'web-1' is not a number"):
        detect("default", text)
    with pytest.raises(InputError, match="column 'x' has no usable values"):
        make("default").fit(FRAME.assign(x=np.nan))
    with pytest.raises(InputError, match="no rows"):
        make("default").fit(FRAME.iloc[:0])


def test_a_series_is_a_one_metric_frame_and_other_types_are_refused() -> None:
    det = make("default").fit(FRAME["cpu"].iloc[:1440])
    assert det.columns_ == ["cpu"]
    assert len(detect("default", FRAME["cpu"]).points) == 2880
    with pytest.raises(InputError, match="expected a pandas DataFrame"):
        make("default").fit(FRAME.to_numpy())  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="detector must be a name"):
        detect(None, FRAME)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="Monitor needs a detector"):
        Monitor("default")  # type: ignore[arg-type]


def test_detect_refuses_a_frame_its_training_window_would_swallow() -> None:
    with pytest.raises(InputError, match="too short to score: 60 row"):
        detect("default", FRAME.iloc[:60])
    assert detect("default", FRAME.iloc[:60], train_until=IDX[40]).train_rows == 40


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), 1e200, 2**1100],
                         ids=["inf", "-inf", "1e200", "2**1100"])
def test_a_streamed_value_out_of_range_is_refused_and_changes_nothing(value: float) -> None:
    m = Monitor(make("default").fit(FRAME.iloc[:1440]))
    before = m.check(IDX[1440], {"cpu": 41.0, "mem": 50.0})
    with pytest.raises(InputError, match="metric 'cpu'"):
        m.check(IDX[1441], {"cpu": value, "mem": 60.0})
    after = m.check(IDX[1441], {"cpu": 41.0, "mem": 50.0})  # the refused point was not taken
    assert np.isfinite(before.score) and np.isfinite(after.score)
    assert m.check(IDX[1442], {"cpu": float("nan"), "mem": 50.0}) is not None  # NaN: missing


def test_a_number_as_a_timestamp_is_unix_seconds_and_far_years_are_refused() -> None:
    m = Monitor(make("default").fit(FRAME.iloc[:1440]))
    v = m.check(int(pd.Timestamp(T).timestamp()), {"cpu": 41.0, "mem": 50.0})
    assert v.timestamp == pd.Timestamp(T)
    with pytest.raises(InputError, match="outside the years 1677-2262"):
        m.check("3000-01-01T00:00:00Z", {"cpu": 41.0, "mem": 50.0})


def test_label_keys_of_a_streamed_point_are_not_metrics() -> None:
    m = Monitor(make("zscore", window=60, min_periods=30))
    m.check(IDX[0], {"cpu": 40.0, "is_anomaly": 0, "timestamp": str(IDX[0])})
    assert m.detector.columns_ == ["cpu"]


@pytest.mark.parametrize("params", [{"level_window": 2}, {"min_periods": 3000}])
def test_seasonal_refuses_a_min_periods_no_window_can_reach(params: dict[str, int]) -> None:
    with pytest.raises(ParameterError, match="'min_periods' parameter of Seasonal"):
        make("seasonal", **params).fit(FRAME.iloc[:1440])


def test_a_new_monitor_refuses_points_from_before_the_end_of_training() -> None:
    m = Monitor(make("default").fit(FRAME.iloc[:1440]))
    with pytest.raises(InputError, match="not after the detector's training data"):
        m.check(IDX[100], {"cpu": 41.0, "mem": 50.0})
    assert np.isfinite(m.check(IDX[1440], {"cpu": 41.0, "mem": 50.0}).score)


@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_scores_line_up_with_the_callers_frame(tz: str | None) -> None:
    idx = pd.date_range("2026-03-27", periods=2000, freq="min", tz=tz)  # Berlin: across DST
    frame = pd.DataFrame({"cpu": 50 + np.random.default_rng(3).normal(0, 1, len(idx))}, index=idx)
    det = make("zscore").fit(frame.iloc[:600])
    scores = det.score(frame)
    assert scores.index.equals(frame.index)  # naive stays naive, Berlin stays Berlin
    assert frame.assign(score=scores)["score"].notna().all()  # (was all NaN: a UTC index)
    # rows in a timestamp column, a plain index: the plain index
    flat = frame.reset_index(names="timestamp")
    assert det.score(flat).index.equals(flat.index)
    # rows the validation reorders: the cleaned times, in the caller's time zone
    shuffled = frame.iloc[::-1]
    back = det.score(shuffled)
    assert back.index.equals(frame.index)
    np.testing.assert_allclose(back.to_numpy(), scores.to_numpy())


def test_detect_with_a_fitted_detector_says_it_fitted_a_copy() -> None:
    det = make("zscore").fit(FRAME.iloc[:1440])
    before = det.threshold_
    d = detect(det, FRAME)
    assert any("already fitted" in n for n in d.notes)
    assert det.threshold_ == before and d.detector is not det
    assert not any("already fitted" in n for n in detect("zscore", FRAME).notes)


def test_a_detector_serves_one_monitor_at_a_time() -> None:
    import copy
    import gc

    det = make("zscore").fit(FRAME.iloc[:1440])
    first = Monitor(det)
    with pytest.raises(ParameterError, match="another Monitor"):
        Monitor(det)  # two streams would learn into one state
    second = Monitor(copy.deepcopy(det))  # a copy keeps what was learned
    t = IDX[1500]
    assert first.check(t, {"cpu": 40.0, "mem": 50.0}).score == second.check(
        t, {"cpu": 40.0, "mem": 50.0}).score
    del first
    gc.collect()
    Monitor(det)  # once its Monitor is gone, the detector can serve another


def test_a_preset_made_by_name_scores_its_own_metrics() -> None:
    from anomalert import scenarios

    frame = scenarios.generate("cpu", seed=42).frame  # cpu_usage and memory_usage
    det = make("seed000-iforest").fit(frame)
    assert det.columns_ == ["cpu_usage"]  # as detect() scores it, not memory_usage too
    d = detect("seed000-iforest", frame)
    np.testing.assert_array_equal(det.score(frame).to_numpy(), d.points["score"].to_numpy())
    with pytest.raises(InputError, match="cpu_usage"):
        make("seed000-iforest").fit(frame[["memory_usage"]])
