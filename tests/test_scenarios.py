"""Tests of anomalert.scenarios: exact tutorial reproduction, labels, realism, errors."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from anomalert.data import validate_frame
from anomalert.errors import ParameterError
from anomalert.events import to_labels
from anomalert.scenarios import SCENARIOS, Scenario, cpu, generate, lb
from anomalert.scenarios.realistic import daily_shape, realistic_cpu, realistic_lb


@pytest.fixture
def global_seed() -> Iterator[None]:
    """Let a test use the global legacy stream, then put its state back."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    yield
    np.random.set_state(np_state)
    random.setstate(py_state)


# --------------------------------------------------------------------------------------
# Verbatim copies of the tutorials' generators (seed 000 and seed 004): prints removed, the
# 004 loop wrapped in a function of its length, set_index without the deprecated inplace.
# --------------------------------------------------------------------------------------


def generate_cpu_metrics(days=7, points_per_hour=60):  # type: ignore[no-untyped-def]
    total_points = days * 24 * points_per_hour
    t = np.linspace(0, days * 2 * np.pi, total_points)

    # Base daily sine wave (peaking in middle of day)
    base_load = 40 + 20 * np.sin(t - (np.pi/2))

    # Add noise
    noise = np.random.normal(0, 3, total_points)

    # Combine
    cpu_usage = base_load + noise

    # Inject Anomalies
    # 1. Sudden massive spike
    cpu_usage[5000:5010] += 45
    # 2. Complete drop (service down)
    cpu_usage[8000:8050] = 0

    # Create DataFrame
    df = pd.DataFrame({
        'timestamp': pd.date_range(start='2025-01-01', periods=total_points, freq='1min'),
        'cpu_usage': np.clip(cpu_usage, 0, 100) # CPU can't go below 0 or above 100
    })
    return df


def tutorial_004_frame(time_steps_minutes=1440):  # type: ignore[no-untyped-def]
    data = []
    anomaly_events = [
        {'start': 1200, 'duration': 60, 'type': '5xx_spike'},    # 20:00 - 21:00: Server errors
        {'start': 300, 'duration': 30, 'type': 'traffic_spike'}, # 05:00 - 05:30: Traffic surge
        {'start': 900, 'duration': 15, 'type': '4xx_spike'}      # 15:00 - 15:15: Client errors
    ]
    for t in range(time_steps_minutes):
        is_anomaly = False
        anomaly_type = 'normal'

        # Simulate normal traffic with a daily sinusoidal pattern (peak during the day)
        # Pattern: Low at night (4am = 240 min), peak during day (4pm = 960 min)
        hour_of_day = (t % 1440) / 60  # Convert to hour of day
        daily_pattern = 0.5 + 0.4 * np.sin(2 * np.pi * (hour_of_day - 6) / 24)  # Peak at 2pm

        base_requests = int(8000 + 6000 * daily_pattern + np.random.normal(0, 500))
        base_requests = max(1000, base_requests)  # Minimum traffic

        # Normal error rates
        http_2xx_rate = 0.98   # Success
        http_4xx_rate = 0.015  # Client-side errors
        http_5xx_rate = 0.005  # Server-side errors

        # Check for anomaly events
        for event in anomaly_events:
            if event['start'] <= t < event['start'] + event['duration']:
                is_anomaly = True
                anomaly_type = event['type']

                if event['type'] == '5xx_spike':
                    # Backend service failure - spike in 5xx errors
                    http_5xx_rate = np.random.uniform(0.3, 0.6)  # 30-60% of requests fail
                    http_2xx_rate = max(0.1, 1 - http_4xx_rate - http_5xx_rate)

                elif event['type'] == 'traffic_spike':
                    # Sudden traffic surge (e.g., flash sale, viral content)
                    base_requests *= np.random.uniform(5, 10)  # 5-10x traffic
                    # Slightly higher error rates due to overload
                    http_5xx_rate = 0.02
                    http_4xx_rate = 0.03
                    http_2xx_rate = 1 - http_4xx_rate - http_5xx_rate

                elif event['type'] == '4xx_spike':
                    # Client-side issues (e.g., broken API clients, bad deployments)
                    http_4xx_rate = np.random.uniform(0.2, 0.4)  # 20-40% client errors
                    http_2xx_rate = max(0.3, 1 - http_4xx_rate - http_5xx_rate)

                break

        # Calculate actual counts
        total_requests = int(base_requests)
        num_2xx = int(total_requests * http_2xx_rate)
        num_4xx = int(total_requests * http_4xx_rate)
        num_5xx = total_requests - num_2xx - num_4xx  # Ensure counts sum to total

        # Add some realistic noise to response times
        avg_response_time = np.random.normal(120, 20)  # Average 120ms
        if is_anomaly and anomaly_type in ['5xx_spike', 'traffic_spike']:
            avg_response_time *= np.random.uniform(2, 5)  # Slower during issues

        avg_response_time = max(10, avg_response_time)  # Minimum 10ms

        data.append([t, total_requests, num_2xx, num_4xx, num_5xx,
                    avg_response_time, is_anomaly, anomaly_type])

    df = pd.DataFrame(data, columns=['minute', 'total_requests', '2xx_count', '4xx_count',
                                    '5xx_count', 'avg_response_time_ms', 'is_truly_anomaly', 'anomaly_type'])

    # Add timestamp for better visualization
    start_time = datetime(2024, 1, 1, 0, 0, 0)
    df['timestamp'] = [start_time + timedelta(minutes=i) for i in df['minute']]
    df = df.set_index('minute')  # tutorial: inplace=True (deprecated in pandas 3)
    return df


# --------------------------------------------------------------------------------------
# Tutorial variants: exact reproduction
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "days"), [(42, 7), (0, 7), (7, 4), (42, 1), (42, 10)])
def test_cpu_reproduces_tutorial_000(global_seed: None, seed: int, days: int) -> None:
    np.random.seed(seed)
    expected = generate_cpu_metrics(days=days)
    s = cpu(seed=seed, days=days)
    assert np.array_equal(s.frame["cpu_usage"].to_numpy(), expected["cpu_usage"].to_numpy())
    want_index = pd.DatetimeIndex(expected["timestamp"]).tz_localize("UTC").as_unit("ns")
    assert s.frame.index.equals(want_index)


def test_cpu_tutorial_events_and_first_values() -> None:
    s = cpu(seed=42)
    assert (s.name, s.variant, s.seed, len(s.frame)) == ("cpu", "tutorial", 42, 10080)
    assert s.metrics == ["cpu_usage", "memory_usage"]
    assert [(e.kind, e.start, e.end) for e in s.events] == [
        ("spike", s.frame.index[5000], s.frame.index[5009]),
        ("drop", s.frame.index[8000], s.frame.index[8049]),
    ]
    flags = s.frame["is_anomaly"].to_numpy()
    assert np.flatnonzero(flags).tolist() == list(range(5000, 5010)) + list(range(8000, 8050))
    kinds = s.frame["anomaly_type"]
    assert (kinds.iloc[5000:5010] == "spike").all() and (kinds.iloc[8000:8050] == "drop").all()
    assert (kinds[~s.frame["is_anomaly"]] == "normal").all()
    assert (s.frame["cpu_usage"].iloc[8000:8050] == 0).all()
    assert s.frame["cpu_usage"].iloc[0] == pytest.approx(21.490142, abs=1e-6)
    assert s.train_until == pd.Timestamp("2025-01-03", tz="UTC")
    memory = s.frame["memory_usage"]
    assert memory.min() > 30 and memory.max() < 80


def test_cpu_memory_does_not_change_cpu_stream() -> None:
    """memory_usage comes from its own generator: cpu values equal a bare legacy stream."""
    s = cpu(seed=5)
    rs = np.random.RandomState(5)
    t = np.linspace(0, 14 * np.pi, 10080)
    raw = 40 + 20 * np.sin(t - np.pi / 2) + rs.normal(0, 3, 10080)
    ok = np.ones(10080, dtype=bool)
    ok[5000:5010] = ok[8000:8050] = False
    assert np.array_equal(s.frame["cpu_usage"].to_numpy()[ok], np.clip(raw, 0, 100)[ok])


@pytest.mark.parametrize("days", [1, 3, 5])
def test_cpu_short_series_drops_events_that_do_not_fit(days: int) -> None:
    s = cpu(days=days)
    assert len(s.frame) == days * 1440
    kinds = [e.kind for e in s.events]
    assert kinds == (["spike"] if days >= 4 else [])
    assert int(s.frame["is_anomaly"].sum()) == 10 * len(kinds)


@pytest.mark.parametrize(("seed", "days"), [(42, 1), (3, 1), (42, 2)])
def test_lb_reproduces_tutorial_004(global_seed: None, seed: int, days: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    expected = tutorial_004_frame(time_steps_minutes=days * 1440)
    s = lb(seed=seed, days=days)
    for column in ["total_requests", "2xx_count", "4xx_count", "5xx_count", "avg_response_time_ms"]:
        assert np.array_equal(s.frame[column].to_numpy(), expected[column].to_numpy(dtype=float))
    assert np.array_equal(s.frame["is_anomaly"].to_numpy(), expected["is_truly_anomaly"].to_numpy())
    assert np.array_equal(
        s.frame["anomaly_type"].to_numpy(dtype=object), expected["anomaly_type"].to_numpy(dtype=object)
    )
    want_index = pd.DatetimeIndex(expected["timestamp"]).tz_localize("UTC").as_unit("ns")
    assert s.frame.index.equals(want_index)


def test_lb_tutorial_events_and_first_values() -> None:
    s = lb(seed=42)
    assert (s.name, s.variant, len(s.frame)) == ("lb", "tutorial", 1440)
    assert s.metrics == ["total_requests", "2xx_count", "4xx_count", "5xx_count", "avg_response_time_ms"]
    idx = s.frame.index
    assert [(e.kind, e.start, e.end) for e in s.events] == [
        ("traffic_spike", idx[300], idx[329]),
        ("4xx_spike", idx[900], idx[914]),
        ("5xx_spike", idx[1200], idx[1259]),
    ]
    assert int(s.frame["is_anomaly"].sum()) == 105
    assert s.frame.iloc[0, :4].tolist() == [8848.0, 8671.0, 132.0, 45.0]
    assert s.train_until == pd.Timestamp("2024-01-01 16:40", tz="UTC")
    counts = s.frame[["2xx_count", "4xx_count", "5xx_count"]].sum(axis=1)
    assert np.array_equal(counts.to_numpy(), s.frame["total_requests"].to_numpy())


def test_generators_leave_global_state_alone(global_seed: None) -> None:
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    for name in SCENARIOS:
        for realistic in (False, True):
            generate(name, seed=1, days=2, realistic=realistic)
    after = np.random.get_state()
    assert np.array_equal(before, after[1]) and after[2] == 624


# --------------------------------------------------------------------------------------
# Shared properties of every scenario
# --------------------------------------------------------------------------------------

ALL = [(name, realistic) for name in SCENARIOS for realistic in (False, True)]


@pytest.fixture(scope="module")
def scenarios() -> dict[tuple[str, bool], Scenario]:
    return {(name, realistic): generate(name, realistic=realistic) for name, realistic in ALL}


@pytest.mark.parametrize(("name", "realistic"), ALL)
def test_frame_shape_and_labels_agree_with_events(
    scenarios: dict[tuple[str, bool], Scenario], name: str, realistic: bool
) -> None:
    s = scenarios[(name, realistic)]
    frame = s.frame
    idx = pd.DatetimeIndex(frame.index)
    assert idx.name == "timestamp" and str(idx.tz) == "UTC" and idx.unit == "ns"
    assert idx.is_monotonic_increasing and (np.diff(idx.asi8) == 60 * 10**9).all()
    assert all(frame[m].dtype == np.float64 for m in s.metrics)
    assert frame["is_anomaly"].dtype == bool
    assert np.array_equal(frame["is_anomaly"].to_numpy(), to_labels(s.events, idx).to_numpy())
    expected_kinds = pd.Series("normal", index=idx, dtype=object)
    for e in s.events:
        expected_kinds.loc[e.start : e.end] = e.kind
    assert (frame["anomaly_type"].astype(object) == expected_kinds).all()
    starts = [e.start for e in s.events]
    assert starts == sorted(starts)
    for a, b in zip(s.events, s.events[1:], strict=False):
        assert a.end < b.start  # no overlap
    assert s.train_until is not None
    assert all(e.start >= s.train_until for e in s.events) or not realistic
    assert s.variant == ("realistic" if realistic else "tutorial")


@pytest.mark.parametrize(("name", "realistic"), ALL)
def test_deterministic_and_seed_dependent(name: str, realistic: bool) -> None:
    a = generate(name, seed=11, days=2, realistic=realistic)
    b = generate(name, seed=11, days=2, realistic=realistic)
    c = generate(name, seed=12, days=2, realistic=realistic)
    assert a.frame.equals(b.frame) and a.events == b.events
    assert not a.frame[a.metrics].equals(c.frame[c.metrics])


@pytest.mark.parametrize(("name", "realistic"), ALL)
def test_csv_frame_round_trips_through_validate_frame(
    scenarios: dict[tuple[str, bool], Scenario], name: str, realistic: bool
) -> None:
    s = scenarios[(name, realistic)]
    out = s.to_csv_frame()
    assert list(out.columns) == ["timestamp", *s.metrics, "is_anomaly", "anomaly_type"]
    assert out["timestamp"].iloc[0].endswith("Z") and "T" in out["timestamp"].iloc[0]
    assert set(out["is_anomaly"].unique()) <= {0, 1} and out["is_anomaly"].dtype.kind == "i"
    back, report = validate_frame(out, source="csv")
    assert report.duplicates == 0 and report.gaps == 0
    assert back.index.equals(s.frame.index)
    assert np.array_equal(back[s.metrics].to_numpy(), s.frame[s.metrics].to_numpy())


def test_generate_dispatches(scenarios: dict[tuple[str, bool], Scenario]) -> None:
    assert generate("cpu", seed=42).frame.equals(cpu(42).frame)
    assert generate("lb", seed=42, days=1).frame.equals(lb(42).frame)
    assert len(scenarios[("cpu", True)].frame) == 14 * 1440
    assert len(scenarios[("lb", True)].frame) == 7 * 1440
    assert generate("lb", days=2, realistic=True).frame.equals(realistic_lb(42, 2).frame)
    assert "events=2" in repr(scenarios[("cpu", False)])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: generate("disk"), "'name' parameter of generate must be one of 'cpu', 'lb'"),
        (lambda: generate("cpu", days=0), r"'days' parameter of generate must be an int in \[1, 3660\]"),
        (lambda: generate("cpu", days=100_000), "Got 100000 instead"),  # past pandas' 2262
        (lambda: generate("lb", days=-3, realistic=True), "Got -3 instead"),
        (lambda: generate("lb", days=1.5), "'days' parameter"),  # type: ignore[arg-type]
        (lambda: generate("cpu", days=True), "'days' parameter"),
        (lambda: generate("cpu", seed=-1), "'seed' parameter of generate"),
        (lambda: cpu(seed="a"), "'seed' parameter"),  # type: ignore[arg-type]
        (lambda: cpu(days=0), "'days' parameter of tutorial_cpu"),
        (lambda: cpu(days=0, realistic=True), "'days' parameter of realistic_cpu"),
        (lambda: lb(days=0), "'days' parameter of tutorial_lb"),
        (lambda: lb(seed=2**32, realistic=True), "'seed' parameter of realistic_lb"),
    ],
)
def test_bad_parameters_raise(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match=match):
        call()


# --------------------------------------------------------------------------------------
# Realistic variants
# --------------------------------------------------------------------------------------


def _kinds(s: Scenario) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in s.events:
        out[e.kind] = out.get(e.kind, 0) + 1
    return out


def test_realistic_event_counts_and_warmup(scenarios: dict[tuple[str, bool], Scenario]) -> None:
    c, b = scenarios[("cpu", True)], scenarios[("lb", True)]
    assert _kinds(c) == {"spike": 6, "drop": 3, "level_shift": 2}
    assert _kinds(b) == {"5xx_spike": 3, "traffic_spike": 2, "4xx_spike": 3}
    assert c.train_until == pd.Timestamp("2025-01-03", tz="UTC")
    assert b.train_until == pd.Timestamp("2024-01-02", tz="UTC")
    short = realistic_lb(seed=3, days=1)
    assert short.train_until == pd.Timestamp("2024-01-01 12:00", tz="UTC")
    assert set(_kinds(short)) == {"5xx_spike", "traffic_spike", "4xx_spike"}


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_realistic_cpu_has_no_clipping_ties(seed: int) -> None:
    s = realistic_cpu(seed=seed, days=7)
    frame = s.frame
    drops = to_labels([e for e in s.events if e.kind == "drop"], pd.DatetimeIndex(frame.index))
    for column in s.metrics:
        values = frame[column].to_numpy()
        assert ((values > 0) & (values < 100)).all()
        outside = values[~drops.to_numpy()]
        assert np.mean((outside == 0) | (outside == 100)) == 0
        assert frame[column].nunique() == len(frame)  # no ties at all


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_realistic_cpu_incidents_stand_out(seed: int) -> None:
    s = realistic_cpu(seed=seed)
    cpu_usage = s.frame["cpu_usage"]
    for e in s.events:
        during = cpu_usage.loc[e.start : e.end].mean()
        before = cpu_usage.loc[e.start - pd.Timedelta("30min") : e.start - pd.Timedelta("1min")].mean()
        if e.kind == "spike":
            assert during - before > 25, e
        elif e.kind == "drop":
            assert during < 1.5 and before - during > 5, e
        else:  # a step up that lasts hours: compare its first half hour with the half hour before
            step = cpu_usage.loc[e.start : e.start + pd.Timedelta("29min")].mean()
            assert step - before > 15, e


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_realistic_lb_incidents_stand_out(seed: int) -> None:
    s = realistic_lb(seed=seed)
    f = s.frame
    normal = f[~f["is_anomaly"]]
    rate5 = (normal["5xx_count"] / normal["total_requests"]).median()
    rate4 = (normal["4xx_count"] / normal["total_requests"]).median()
    for e in s.events:
        during = f.loc[e.start : e.end]
        before = f.loc[e.start - pd.Timedelta("30min") : e.start - pd.Timedelta("1min")]
        if e.kind == "5xx_spike":
            assert during["5xx_count"].sum() / during["total_requests"].sum() >= 10 * rate5, e
        elif e.kind == "4xx_spike":
            assert during["4xx_count"].sum() / during["total_requests"].sum() >= 10 * rate4, e
        else:
            assert during["total_requests"].mean() >= 3 * before["total_requests"].mean(), e


def test_realistic_lb_counts_are_consistent(scenarios: dict[tuple[str, bool], Scenario]) -> None:
    f = scenarios[("lb", True)].frame
    counts = f[["total_requests", "2xx_count", "4xx_count", "5xx_count"]].to_numpy()
    assert (counts >= 0).all() and np.array_equal(counts, np.round(counts))
    assert np.array_equal(counts[:, 1:].sum(axis=1), counts[:, 0])
    normal = f[~f["is_anomaly"]]
    rate5 = normal["5xx_count"] / normal["total_requests"]
    assert 0.004 < rate5.mean() < 0.006 and rate5.std() > 0  # noisy, not a constant


def test_realistic_cycles_follow_the_wall_clock(scenarios: dict[tuple[str, bool], Scenario]) -> None:
    for key, column in [(("cpu", True), "cpu_usage"), (("lb", True), "total_requests")]:
        f = scenarios[key].frame
        normal = f.loc[~f["is_anomaly"], column]
        idx = pd.DatetimeIndex(normal.index)
        weekday = normal[idx.day_of_week < 5]
        by_hour = weekday.groupby(pd.DatetimeIndex(weekday.index).hour).median()
        assert int(by_hour.idxmax()) in (13, 14, 15)
        assert int(by_hour.idxmin()) in (3, 4, 5)
        weekend = normal[idx.day_of_week >= 5]
        assert weekend.mean() < 0.85 * weekday.mean()


def test_daily_shape_extremes() -> None:
    idx = pd.date_range("2024-01-01", periods=1440, freq="1min", tz="UTC")
    shape = daily_shape(idx)
    assert shape.argmin() == 4 * 60 and shape.argmax() == 14 * 60
    assert shape.min() == pytest.approx(0) and shape.max() == pytest.approx(1)
