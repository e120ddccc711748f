"""The alert function: Monitor.check, the policy, incidents, and detect()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anomalert.alerting import AlertPolicy
from anomalert.detection import detect
from anomalert.detectors import ZScore, make
from anomalert.errors import InputError, ParameterError
from anomalert.monitor import Monitor

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _train(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    idx = pd.date_range(T0, periods=n, freq="1min")
    return pd.DataFrame({"cpu": 40 + rng.normal(0, 1, n)}, index=idx)


def _monitor(policy: AlertPolicy | None = None) -> Monitor:
    return Monitor(ZScore(window=200, robust=True).fit(_train()), policy)


def _feed(m: Monitor, values: list[float], start: int = 300) -> list:
    return [m.check(T0 + pd.Timedelta(minutes=start + i), {"cpu": v}) for i, v in enumerate(values)]


def test_fires_explains_and_resolves_after_hysteresis() -> None:
    m = _monitor(AlertPolicy(resolve_after=3))
    out = _feed(m, [40, 90, 91, 40, 40, 40, 40])
    assert [v.is_alert for v in out] == [False, True, True, False, False, False, False]
    assert [v.event for v in out] == [None, "fired", None, None, None, "resolved", None]
    assert out[1].incident_id == out[2].incident_id == 1
    assert "cpu=90" in out[1].explanation and "above baseline" in out[1].explanation
    inc = m.incidents[0]
    assert inc.alerts == 2 and inc.peak_score == out[2].score and not inc.is_open
    assert inc.metrics == ["cpu"]


def test_k_of_n_needs_repeated_flags() -> None:
    m = _monitor(AlertPolicy(k=2, n=3))
    out = _feed(m, [90, 40, 40, 90, 40, 90])
    assert [v.is_anomalous for v in out] == [True, False, False, True, False, True]
    assert [v.is_alert for v in out] == [False, False, False, False, False, True]


def test_cooldown_reopens_instead_of_paging_again() -> None:
    m = _monitor(AlertPolicy(resolve_after=1, cooldown=5))
    out = _feed(m, [90, 40, 40, 90])
    assert [v.event for v in out] == ["fired", "resolved", None, "reopened"]
    assert out[3].incident_id == 1 and len(m.incidents) == 1 and m.incidents[0].reopened == 1
    m2 = _monitor(AlertPolicy(resolve_after=1, cooldown=0))
    assert [v.event for v in _feed(m2, [90, 40, 40, 90])] == ["fired", "resolved", None, "fired"]


def test_default_cooldown_is_an_hour_at_the_series_step() -> None:
    """By default a score that wavers around the threshold pages once: an alert within an
    hour of points (60 at 1-minute steps) after a resolution re-opens the incident; one
    after that pages anew. The batch path (detect) decides the same."""
    assert AlertPolicy().cooldown_points(60) == 60 and AlertPolicy().cooldown_points(300) == 12
    assert AlertPolicy().cooldown_points(None) == 60 and AlertPolicy(cooldown=0).cooldown_points(60) == 0
    values = [90.0] + [40.0] * 40 + [90.0] + [40.0] * 80 + [90.0, 40.0]
    m = _monitor(AlertPolicy(resolve_after=1))
    out = _feed(m, values)
    fired = [i for i, v in enumerate(out) if v.event == "fired"]
    assert fired == [0, 41 + 80 + 1]  # the re-fire 40 points on re-opens; the one 80 on pages
    assert [v.incident_id for v in out if v.is_alert] == [1, 1, 2]
    frame = pd.concat([_train(), pd.DataFrame(
        {"cpu": values}, index=pd.date_range(T0 + pd.Timedelta(minutes=300), periods=len(values), freq="1min"))])
    d = detect(ZScore(window=200, robust=True), frame, train_until=frame.index[300],
               policy=AlertPolicy(resolve_after=1))
    assert [i.start for i in d.incidents if i.start >= frame.index[300]] == [out[0].timestamp, out[122].timestamp]


def test_flagged_points_are_not_learned_unless_asked() -> None:
    guarded, learning = _monitor(), _monitor(AlertPolicy(learn_flagged=True))
    _feed(guarded, [95.0] * 150)
    _feed(learning, [95.0] * 150)
    probe = {"cpu": 95.0}
    ts = T0 + pd.Timedelta(minutes=1000)
    assert guarded.detector.score_one(ts, probe) > guarded.detector.threshold_
    assert learning.detector.score_one(ts, probe) < learning.detector.threshold_


def test_a_paging_threshold_changes_what_pages_not_what_is_learned() -> None:
    """``AlertPolicy(threshold=...)`` pages on the same scores: the detector learns as it
    would at its own threshold (a point between the two pages and is learned)."""
    own, low = _monitor(), _monitor(AlertPolicy(threshold=2.0))
    values = [40.0, 42.6, 40.5, 43.0, 95.0, 39.8, 41.0]
    a, b = _feed(own, values), _feed(low, values)
    assert [v.score for v in a] == [v.score for v in b]
    assert own.detector.threshold_ > 2.0 and all(v.threshold == 2.0 for v in b)
    middle = [v.score > 2.0 and not v.score > own.detector.threshold_ for v in b]
    assert any(middle)
    assert [v.is_alert for v in b] == [v.score > 2.0 for v in b]
    assert [v.is_alert for v in a] == [v.score > own.detector.threshold_ for v in a]
    assert low.incidents[0].threshold == 2.0


def test_relearn_after_accepts_a_lasting_change() -> None:
    m = _monitor(AlertPolicy(relearn_after=20))
    out = _feed(m, [95.0] * 200)
    assert out[10].is_alert and not out[-1].is_alert


@pytest.mark.parametrize("step", ["1min", "5min"])
def test_by_default_a_change_that_lasts_a_day_is_the_new_normal(step: str) -> None:
    """``relearn_after=None`` (the default) is a day in time, whatever the step: a level
    shift of 5-minute data stops alerting after 288 points, not after 1440 (five days), and
    the compiled loop agrees with the Monitor point by point."""
    per_day = 86_400 // pd.Timedelta(step).seconds
    n = 3 * per_day
    idx = pd.date_range("2025-01-01", periods=n, freq=step, tz="UTC")
    v = 40 + np.random.default_rng(3).normal(0, 1, n)
    v[per_day:] += 30  # the shift, after a day of training
    frame = pd.DataFrame({"cpu": v}, index=idx)
    d = detect(make("zscore", window=30), frame, train_until=idx[per_day])
    alerting = d.points["is_anomaly"].to_numpy()[per_day:]
    assert alerting[:per_day].all() and not alerting[per_day + 30:].any()
    m = Monitor(make("zscore", window=30).fit(frame.iloc[:per_day]))
    m._last_ts = idx[per_day - 1]
    out = [m.check(ts, {"cpu": float(x)}).is_alert for ts, x in zip(idx[per_day:], v[per_day:], strict=True)]
    assert out == alerting.tolist()
    assert AlertPolicy().relearn_points(None) == 1440 and AlertPolicy(relearn_after=7).relearn_points(300) == 7


def test_rejects_out_of_order_and_bad_values() -> None:
    m = _monitor()
    _feed(m, [40.0])
    with pytest.raises(InputError, match="not after the previous point"):
        m.check(T0, {"cpu": 40.0})
    with pytest.raises(InputError, match="not a number"):
        m.check(T0 + pd.Timedelta(days=1), {"cpu": "hot"})
    with pytest.raises(InputError, match="cannot parse timestamp"):
        m.check("not a time", {"cpu": 1.0})
    # the arguments swapped: said so, not read as a 1970 timestamp out of order
    with pytest.raises(InputError, match=r"got Timestamp \(the arguments are check\(timestamp"):
        m.check(40.0, T0 + pd.Timedelta(days=1))  # type: ignore[arg-type]


def test_policy_validation() -> None:
    with pytest.raises(ParameterError, match="'k' parameter of AlertPolicy"):
        Monitor(ZScore(), AlertPolicy(k=3, n=2))
    with pytest.raises(ParameterError, match="'resolve_after'"):
        AlertPolicy(resolve_after=0).validate()
    with pytest.raises(ParameterError, match="'relearn_after'.*an int >= 1 or None"):
        AlertPolicy(relearn_after=0).validate()
    with pytest.raises(ParameterError, match="'cooldown'.*an int >= 0 or None"):
        AlertPolicy(cooldown=-1).validate()
    for bad in (float("nan"), "3", True, 0, -1.5, float("inf")):
        with pytest.raises(ParameterError, match="'threshold'.*a number > 0 or None"):
            AlertPolicy(threshold=bad).validate()  # type: ignore[arg-type]
    assert AlertPolicy(threshold=3).validate().paging_threshold(6.0) == 3.0
    # NumPy integers are ints (a policy built from a config or an array), bools are not
    assert AlertPolicy(k=np.int64(2), n=np.int64(3), cooldown=np.int32(0)).validate().k == 2
    with pytest.raises(ParameterError, match="'k' parameter"):
        AlertPolicy(k=np.bool_(True)).validate()  # type: ignore[arg-type]
    # a mapping of its fields is a policy too; unknown fields are named
    assert Monitor(ZScore(), {"k": 1, "n": 2}).policy == AlertPolicy(k=1, n=2)
    with pytest.raises(ParameterError, match="unknown alert policy field"):
        Monitor(ZScore(), {"k": 1, "bogus": 2})


def test_unfitted_detector_warms_up_then_alerts() -> None:
    m = Monitor(make("zscore", window=60, robust=True, min_periods=30))
    out = _feed(m, list(40 + np.random.default_rng(0).normal(0, 1, 100)) + [90.0], start=0)
    assert all(np.isnan(v.score) for v in out[:30]) and not any(v.is_alert for v in out[:100])
    assert out[-1].is_alert


def test_detect_uses_the_monitor_path_and_training_window() -> None:
    frame = _train(400)
    frame.iloc[350, 0] = 120.0
    det = detect("zscore", frame, train_until=frame.index[300])
    assert det.train_rows == 300 and det.train_until == frame.index[300]
    assert det.points["is_anomaly"].sum() == 1 and bool(det.points["is_anomaly"].iloc[350])
    assert det.incidents[0].start == frame.index[350]
    with pytest.raises(InputError, match="training window holds 0"):
        detect("zscore", frame, train_until=frame.index[0])


@pytest.mark.parametrize("feature_set", ["raw", "rates", "seed004"])
def test_point_fast_path_equals_the_general_path(feature_set: str) -> None:
    """A dict and a tz-aware Timestamp take the fast path; any other mapping or timestamp
    type the general one: same numbers, and bad values still get the clear error."""
    from types import MappingProxyType

    from anomalert.detectors import ZScore
    from anomalert.errors import InputError

    cols = ["total_requests", "2xx_count", "4xx_count", "5xx_count", "avg_response_time_ms"]
    det = ZScore(features=feature_set)
    det._start(cols)
    ts = pd.Timestamp("2025-01-01 00:01", tz="UTC")
    for values in (
        {"total_requests": 200, "2xx_count": 180.0, "4xx_count": 12.0, "5xx_count": 8.0,
         "avg_response_time_ms": 95.5},
        {"total_requests": 0.0, "2xx_count": 0.0, "4xx_count": 0.0, "5xx_count": 0.0,
         "avg_response_time_ms": float("nan")},
        {"total_requests": 50.0, "2xx_count": None, "4xx_count": 1.0, "5xx_count": None,
         "avg_response_time_ms": "80"},
    ):
        t_fast, x_fast = det._point(ts, values)
        t_slow, x_slow = det._point("2025-01-01T00:01:00Z", MappingProxyType(values))
        assert t_fast == t_slow
        np.testing.assert_array_equal(x_fast, x_slow)
    with pytest.raises(InputError, match="'5xx_count'"):
        det._point(ts, {**values, "5xx_count": "lots"})
    with pytest.raises(InputError, match="lacks the metric"):
        det._point(ts, {"total_requests": 1.0})


@pytest.mark.parametrize(
    ("scenario", "policy"),
    [
        ("cpu", AlertPolicy()),
        ("lb", AlertPolicy(k=2, n=3, resolve_after=5, cooldown=30)),
        ("cpu", AlertPolicy(learn_flagged=True, resolve_after=1, cooldown=120)),
        ("lb", AlertPolicy(relearn_after=20)),
        ("cpu", AlertPolicy(threshold=3.0)),
        ("lb", AlertPolicy(threshold=2.5, k=2, n=3)),
    ],
)
def test_detect_compiled_path_equals_the_point_by_point_monitor(
    monkeypatch: pytest.MonkeyPatch, scenario: str, policy: AlertPolicy
) -> None:
    """detect() runs default through the compiled loop and the batch policy; with those
    switched off it steps a Monitor point by point. Every column and incident agrees."""
    import anomalert.monitor as mon
    from anomalert import scenarios

    sc = scenarios.generate(scenario, seed=5, realistic=True, days=4)
    frame = sc.frame
    fast = detect("default", frame, train_until=sc.train_until, policy=policy)
    monkeypatch.setattr(mon, "CompiledBaseline", type("NotCompiled", (), {}))
    slow = detect("default", frame, train_until=sc.train_until, policy=policy)
    assert fast.points["is_anomaly"].sum() > 0
    pd.testing.assert_frame_equal(fast.points, slow.points)
    assert [i.to_dict() for i in fast.incidents] == [i.to_dict() for i in slow.incidents]


def test_a_training_alert_under_the_provisional_threshold_is_explained_the_same_both_ways(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At a 5-minute step the calibrated threshold is below the provisional one fit scores
    with (its floor follows the step), so a training point between the two alerts. Fit used
    to record only what it flagged: that alert was explained against the state after the
    whole run on the compiled path (the context test and another baseline for ``b``), and
    against the end of training point by point."""
    import anomalert.monitor as mon

    rng = np.random.default_rng(0)
    idx = pd.date_range("2025-01-06", periods=22 * 288, freq="5min", tz="UTC")
    idx = idx[rng.random(len(idx)) > 0.05]  # gaps
    hours = np.asarray(idx.hour + idx.minute / 60)
    weekend = np.where(np.asarray(idx.day_of_week) >= 5, 0.4, 1.0)
    a = (50 + 15 * np.sin(hours / 24 * 2 * np.pi)) * weekend + rng.normal(0, 2, len(idx))
    b = rng.normal(10, 1, len(idx)) + np.where(idx >= idx[len(idx) // 2], 5.0, 0.0)
    b[rng.random(len(idx)) < 0.2] = np.nan
    a[rng.integers(0, len(idx), 20)] += rng.normal(0, 40, 20)
    frame = pd.DataFrame({"a": a, "b": b}, index=idx)
    start = idx[3 * 288]
    fast = detect("default", frame, train_until=start)
    assert fast.detector.threshold_ < 6.0
    monkeypatch.setattr(mon, "CompiledBaseline", type("NotCompiled", (), {}))
    slow = detect("default", frame, train_until=start)
    in_training = fast.points.index < start
    assert (fast.points["is_anomaly"] & in_training).any()
    pd.testing.assert_frame_equal(fast.points, slow.points)


def test_training_window_alert_is_explained_against_the_state_of_its_time() -> None:
    """A 10σ spike in ``b`` inside the training window, after which ``a`` became 20x quieter:
    the alert names ``b``, as measured then. Against the end-of-training state (the old way)
    the row's ``a`` (3.8σ then) looks like 15σ and would take the blame."""
    n = 1300
    idx = pd.date_range("2025-01-01", periods=n, freq="1min", tz="UTC")
    rng = np.random.default_rng(2)
    a = 50 + rng.normal(0, 1, n)
    a[350:] = 50 + rng.normal(0, 0.05, n - 350)
    a[300] = 54.0
    b = 20 + rng.normal(0, 1, n)
    b[300] += 10
    frame = pd.DataFrame({"a": a, "b": b}, index=idx)
    result = detect("default", frame, train_until=idx[1100])
    row = result.points.loc[idx[300]]
    assert row["is_anomaly"]
    assert row["explanation"].startswith("b=")
    det = result.detector
    t, X, _ = det._prepare(frame.iloc[300:301])
    late = det._explain(int(t[0]), X[0])
    assert late.top is not None and late.top.metric == "a"  # what the old way would say


@pytest.mark.parametrize("feature_set", ["raw", "rates", "seed004"])
def test_prepare_fast_path_equals_transform_frame(feature_set: str) -> None:
    """Float columns go straight to the feature matrix; other frames take transform_frame:
    the same numbers either way (zero traffic gives no rate under ``rates`` and seed004's
    zero, NaN stays NaN)."""
    from anomalert.detectors import ZScore
    from anomalert.features import transform_frame

    cols = ["total_requests", "2xx_count", "4xx_count", "5xx_count", "avg_response_time_ms"]
    idx = pd.date_range("2025-01-01", periods=50, freq="1min", tz="UTC")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.integers(0, 50, (50, 5)).astype(float), columns=cols, index=idx)
    frame.iloc[3, 0] = 0.0
    frame.iloc[4, 0] = np.nan
    frame.iloc[5, 3] = np.nan
    det = ZScore(features=feature_set)
    det._start(cols)
    expected = transform_frame(frame, feature_set).to_numpy(dtype=float)
    t, X, index = det._prepare(frame[cols[::-1]])  # column order: the fitted one
    np.testing.assert_array_equal(X, expected)
    assert index.equals(idx) and (t == idx.as_unit("ns").asi8).all()
    _, X_int, _ = det._prepare(frame.fillna(0).astype(int))  # not float: the general path
    np.testing.assert_array_equal(X_int, transform_frame(frame.fillna(0), feature_set).to_numpy())


@pytest.mark.parametrize("spike", [True, False])
def test_detect_points_columns_are_what_pandas_builds_from_lists(spike: bool) -> None:
    """The compiled path builds explanation and incident columns from the alerting rows
    only; they equal the columns pandas makes from one Python value per row."""
    frame = _train(2000)
    if spike:
        frame.iloc[1500:1503, 0] += 60.0
    pts = detect("default", frame).points
    assert bool(pts["is_anomaly"].any()) == spike
    texts = pts["explanation"].tolist()
    ids = [None if pd.isna(v) else int(v) for v in pts["incident"].tolist()]
    rebuilt = pd.DataFrame({"explanation": texts, "incident": ids}, index=pts.index)
    pd.testing.assert_frame_equal(pts[["explanation", "incident"]], rebuilt)
    assert all(t == "" for t, a in zip(texts, pts["is_anomaly"], strict=True) if not a)


@pytest.mark.parametrize(("cooldown", "pages"), [(0, 2), (1, 1)])
def test_a_cooldown_of_n_points_reopens_within_the_n_points_after_a_resolution(
    cooldown: int, pages: int,
) -> None:
    """0 never re-opens (an alert right after the resolution pages again); 1 re-opens an
    alert at the next point -- the Monitor and the batch decision agree."""
    from anomalert.alerting.batch import FIRED, decide_all

    idx = pd.date_range("2025-01-01", periods=60, freq="1min", tz="UTC")
    train = pd.DataFrame({"cpu": [40.0, 41.0, 39.0] * 20}, index=idx)
    m = Monitor(ZScore(window=30).fit(train), AlertPolicy(resolve_after=1, cooldown=cooldown))
    events = [m.check(idx[-1] + pd.Timedelta(minutes=i + 1), {"cpu": c}).event
              for i, c in enumerate([95, 40, 95, 40])]
    assert events.count("fired") == pages and len(m.incidents) == pages
    scores = np.array([9.0, 0.0, 9.0, 0.0])
    _, _, _, event = decide_all(scores, 1.0, k=1, n=1, resolve_after=1, cooldown=cooldown)
    assert int((event == FIRED).sum()) == pages


def _lb_with_no_traffic(missing: bool) -> tuple[pd.DataFrame, pd.Timestamp, list[pd.Timestamp]]:
    """The load-balancer tutorial's day with five minutes of no traffic at 10:00: every count
    0 (``missing=False``), or ``total_requests`` not reported (``missing=True``)."""
    from anomalert import scenarios

    sc = scenarios.generate("lb", seed=42)
    frame = sc.frame[["total_requests", "2xx_count", "4xx_count", "5xx_count",
                      "avg_response_time_ms"]].astype(float)
    quiet = list(pd.date_range("2024-01-01 10:00", periods=5, freq="1min", tz="UTC"))
    if missing:
        frame.loc[quiet, "total_requests"] = np.nan
    else:
        frame.loc[quiet, ["total_requests", "2xx_count", "4xx_count", "5xx_count"]] = 0.0
    return frame, frame.index[144], quiet


@pytest.mark.parametrize("missing", [True, False])
def test_no_traffic_has_no_error_rate_in_batch_and_streaming(missing: bool) -> None:
    """A minute with no traffic has no 4xx/5xx rate: missing, not 0 (which paged as '4xx_rate=0
    is 422.7σ below baseline'). A missing total pages nothing; a total of 0 is a value, and
    the outage pages on total_requests. detect() and Monitor.check say the same."""
    from anomalert.features import transform_row

    frame, start, quiet = _lb_with_no_traffic(missing)
    feats = transform_row(frame.loc[quiet[0]].to_dict(), "rates")
    assert np.isnan(feats["4xx_rate"]) and np.isnan(feats["5xx_rate"])
    batch = detect("default", frame, train_until=start)
    at = batch.points.loc[quiet]
    monitor = Monitor(make("default").fit(frame[frame.index < start]))
    verdicts = [monitor.check(ts, row.to_dict()) for ts, row in frame[frame.index >= start].iterrows()]
    streamed = {v.timestamp: v for v in verdicts}
    if missing:
        assert not at["is_anomaly"].any()
        assert not any(streamed[ts].is_alert for ts in quiet)
        assert not any(inc.start in quiet for inc in batch.incidents)
        assert not any("no traffic" in n for n in batch.notes)
    else:
        assert at["is_anomaly"].all()
        assert all(e.startswith("total_requests=0 is ") and "below baseline" in e
                   and "4xx_rate" not in e for e in at["explanation"])
        assert [streamed[ts].explanation for ts in quiet] == at["explanation"].tolist()
        assert batch.notes == [
            "5 row(s) with total_requests=0 (no traffic): 4xx_rate, 5xx_rate missing there, "
            "not scored"
        ]
    np.testing.assert_allclose([v.score for v in verdicts],
                               batch.points.loc[batch.points.index >= start, "score"])
    assert [(i.start, i.end) for i in monitor.incidents] == [
        (i.start, i.end) for i in batch.incidents if i.start >= start
    ]
