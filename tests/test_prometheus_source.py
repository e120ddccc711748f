"""PrometheusClient against a real Prometheus (backfilled with promtool) and a fake one.

The real server holds 48 hours x 2 series at 15 s (11,520 points each), so a full-range
query at 15 s is split into two windows. (promtool writes one block per 2 hours at
~50-100 ms each, so a week of data costs seconds of setup; the 8-days-at-60-s split
arithmetic is checked against the fake server instead.) The fake server (http.server on
127.0.0.1) serves scripted answers: bad JSON, wrong shapes, 5xx then 200, slow answers.
All traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from servers import PROMETHEUS_BINARIES, free_port, require_binaries, run_prometheus

from anomalert.errors import InputError, ParameterError
from anomalert.sources import prometheus as prom
from anomalert.sources.prometheus import (
    PrometheusClient,
    PrometheusError,
    parse_duration,
    parse_time,
    series_key,
)

T0 = 1_700_000_040  # unix seconds, a whole minute
RES = 15  # seconds between samples
N = 48 * 3600 // RES  # 11,520 points: more than one query window
STEP = pd.Timedelta(f"{RES}s")
START = pd.Timestamp(T0, unit="s", tz="UTC")
END = START + (N - 1) * STEP
KEYS = ('cpu{instance="a",job="node"}', 'cpu{instance="b",job="node"}')


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client honours proxy variables; these tests talk to 127.0.0.1 directly."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def _values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {
        KEYS[0]: np.round(rng.normal(50.0, 10.0, N), 3),
        KEYS[1]: rng.uniform(0.0, 1.0, N),  # full float64 precision must survive the trip
    }


def _openmetrics(values: dict[str, np.ndarray]) -> str:
    lines = ["# TYPE cpu gauge"]
    for key, series in values.items():
        lines.extend(f"{key} {float(v)!r} {T0 + RES * i}" for i, v in enumerate(series))
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
    require_binaries(*PROMETHEUS_BINARIES)
    values = _values()
    with run_prometheus(_openmetrics(values), tmp_path_factory.mktemp("prom48h")) as url:
        yield url, values


def _counting(client: PrometheusClient, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    calls: list[dict[str, str]] = []
    original = client._request

    def spy(path: str, data: dict[str, str]) -> Any:
        calls.append(data)
        return original(path, data)

    monkeypatch.setattr(client, "_request", spy)
    return calls


@pytest.mark.servers
def test_long_range_comes_back_exactly_split_without_gaps_or_duplicates(
    backfilled: tuple[str, dict[str, np.ndarray]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, values = backfilled
    client = PrometheusClient(url)
    calls = _counting(client, monkeypatch)
    result = client.query_range("cpu", START, END, STEP)
    assert len(calls) == 2  # 11,520 points > 11,000
    assert list(result) == list(KEYS)
    expected_index = pd.DatetimeIndex(pd.date_range(START, END, freq=STEP), name="timestamp")
    for key in KEYS:
        series = result[key]
        assert series.dtype == np.float64 and str(series.index.tz) == "UTC"
        assert series.index.is_unique and series.index.is_monotonic_increasing
        assert series.index.equals(expected_index)
        np.testing.assert_array_equal(series.to_numpy(), values[key])
    # The same range at twice the step fits one request and must agree where the grids meet.
    calls.clear()
    coarse = client.query_range("cpu", START, END, 2 * STEP)
    assert len(calls) == 1
    for key in KEYS:
        assert len(coarse[key]) == N // 2
        pd.testing.assert_series_equal(coarse[key], result[key].loc[coarse[key].index])
    client.close()


@pytest.mark.servers
def test_many_small_windows_equal_one_request(
    backfilled: tuple[str, dict[str, np.ndarray]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = backfilled
    end = START + 99 * STEP
    with PrometheusClient(url) as client:
        whole = client.query_range("cpu", START, end, STEP)
        monkeypatch.setattr(prom, "MAX_POINTS", 7)
        calls = _counting(client, monkeypatch)
        split = client.query_range("cpu", START, end, STEP)
    assert len(calls) == 15  # ceil(100 / 7)
    for key in KEYS:
        pd.testing.assert_series_equal(split[key], whole[key])
        assert len(split[key]) == 100


@pytest.mark.servers
def test_query_frame_is_wide_and_validated(backfilled: tuple[str, dict[str, np.ndarray]]) -> None:
    url, values = backfilled
    with PrometheusClient(url) as client:
        frame = client.query_frame('cpu{job="node"}', START, START + 59 * STEP, f"{RES}s")
        with pytest.raises(InputError, match="no series"):
            client.query_frame("nothing_here", START, START + 59 * STEP, f"{RES}s")
    assert list(frame.columns) == list(KEYS)
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC"
    np.testing.assert_array_equal(frame[KEYS[1]].to_numpy(), values[KEYS[1]][:60])


@pytest.mark.servers
def test_promql_syntax_error_fails_at_once_with_server_message(
    backfilled: tuple[str, dict[str, np.ndarray]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = backfilled
    client = PrometheusClient(url, backoff=5.0)  # a retry would make this test slow
    sent: list[httpx.Request] = []
    original = client._http

    def http() -> httpx.Client:
        c = original()
        c.event_hooks["request"] = [sent.append]
        return c

    monkeypatch.setattr(client, "_http", http)
    started = time.monotonic()
    with pytest.raises(PrometheusError) as info:
        client.query_range("cpu{", START, START + STEP, STEP)
    assert time.monotonic() - started < 2.0
    assert len(sent) == 1
    err = info.value
    assert err.status_code == 400 and err.error_type == "bad_data"
    assert err.error is not None and "parse error" in err.error
    assert "HTTP 400" in str(err) and "parse error" in str(err)


@pytest.mark.servers
def test_special_values_and_ready_via_fixture(prometheus_server: Any) -> None:
    text = "\n".join(
        [
            "# TYPE odd gauge",
            f'odd{{kind="x"}} NaN {T0}',
            f'odd{{kind="x"}} +Inf {T0 + 60}',
            f'odd{{kind="x"}} -Inf {T0 + 120}',
            f'odd{{kind="x"}} 1.5e-300 {T0 + 180}',
        ]
    )
    url = prometheus_server(text)
    with PrometheusClient(url) as client:
        assert client.ready()
        minute = pd.Timedelta("60s")
        result = client.query_range("odd", START, START + 3 * minute, minute)
    values = result['odd{kind="x"}'].to_numpy()
    assert np.isnan(values[0]) and values[1] == np.inf and values[2] == -np.inf
    assert values[3] == 1.5e-300


def test_unreachable_server_fails_quickly_after_bounded_retries() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = PrometheusClient(url, retries=2, backoff=0.01, timeout=1.0)
    assert client.ready() is False
    started = time.monotonic()
    with pytest.raises(PrometheusError, match=r"Cannot reach Prometheus .* after 3 attempt"):
        client.query_range("up", START, START + STEP, STEP)
    assert time.monotonic() - started < 3.0


# -- a scripted fake Prometheus ----------------------------------------------------------------
class FakePrometheus:
    """Answers each POST with the next scripted (status, body, delay); repeats the last one."""

    def __init__(self) -> None:
        self.script: list[tuple[int, str, float]] = []
        self.requests: list[dict[str, list[str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                from urllib.parse import parse_qs

                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append(parse_qs(raw.decode()))
                i = min(len(fake.requests), len(fake.script)) - 1
                status, body, delay = fake.script[i]
                time.sleep(delay)
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    server = FakePrometheus()
    yield server
    server.close()


def _matrix(result: Any) -> str:
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})


GOOD = _matrix([{"metric": {"__name__": "up", "job": "x"}, "values": [[T0, "1"], [T0 + 60, "NaN"]]}])


def test_retries_5xx_then_succeeds(fake: FakePrometheus) -> None:
    fake.script = [(500, "oops", 0.0), (503, "{}", 0.0), (200, GOOD, 0.0)]
    result = PrometheusClient(fake.url, retries=3, backoff=0.01).query_range("up", START, START + STEP, STEP)
    assert len(fake.requests) == 3
    series = result['up{job="x"}']
    assert series.iloc[0] == 1.0 and np.isnan(series.iloc[1])
    assert fake.requests[0]["step"] == [f"{RES}.000"] and fake.requests[0]["start"] == [f"{T0}.000"]


def test_eight_days_at_60s_are_split_on_the_step_grid(fake: FakePrometheus) -> None:
    fake.script = [(200, _matrix([]), 0.0)]
    client = PrometheusClient(fake.url)
    start = pd.Timestamp(T0, unit="s", tz="UTC")
    assert client.query_range("up", start, start + pd.Timedelta("7D") - pd.Timedelta("60s"), "60s") == {}
    assert len(fake.requests) == 1  # 10,080 points fit one request
    fake.requests.clear()
    client.query_range("up", start, start + pd.Timedelta("8D") - pd.Timedelta("60s"), "60s")
    windows = [(r["start"][0], r["end"][0]) for r in fake.requests]
    assert windows == [
        (f"{T0}.000", f"{T0 + 10_999 * 60}.000"),  # 11,000 points, both ends inclusive
        (f"{T0 + 11_000 * 60}.000", f"{T0 + 11_519 * 60}.000"),
    ]


def test_429_is_retried(fake: FakePrometheus) -> None:
    fake.script = [(429, "slow down", 0.0), (200, GOOD, 0.0)]
    PrometheusClient(fake.url, backoff=0.01).query_range("up", START, START + STEP, STEP)
    assert len(fake.requests) == 2


def test_persistent_5xx_fails_after_bounded_attempts(fake: FakePrometheus) -> None:
    body = json.dumps({"status": "error", "errorType": "internal", "error": "disk on fire"})
    fake.script = [(503, body, 0.0)]
    with pytest.raises(PrometheusError, match="HTTP 503 after 3 attempt.*disk on fire") as info:
        PrometheusClient(fake.url, retries=2, backoff=0.01).query_range("up", START, START, STEP)
    assert len(fake.requests) == 3 and info.value.status_code == 503


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_fail_at_once(fake: FakePrometheus, status: int) -> None:
    fake.script = [(status, json.dumps({"status": "error", "errorType": "bad_data", "error": "nope"}), 0.0)]
    with pytest.raises(PrometheusError, match=f"HTTP {status}: bad_data: nope"):
        PrometheusClient(fake.url, backoff=5.0).query_range("up", START, START, STEP)
    assert len(fake.requests) == 1


def test_4xx_with_text_body_shows_the_text(fake: FakePrometheus) -> None:
    fake.script = [(401, "Unauthorized: bad token", 0.0)]
    with pytest.raises(PrometheusError, match="HTTP 401.*bad token"):
        PrometheusClient(fake.url, token="t").query_range("up", START, START, STEP)


def test_bad_json_is_a_clear_error(fake: FakePrometheus) -> None:
    fake.script = [(200, "<html>proxy login</html>", 0.0)]
    with pytest.raises(PrometheusError, match="not JSON.*proxy login"):
        PrometheusClient(fake.url).query_range("up", START, START, STEP)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"status": "success"}), "without 'data'"),
        (json.dumps({"status": "error", "errorType": "x", "error": "y"}), "status 'error'"),
        (json.dumps({"status": "success", "data": []}), "data should be an object"),
        (json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}), "resultType"),
        (_matrix({"a": 1}), r"data.result should be a list"),
        (_matrix([7]), r"data.result\[0\] should be an object"),
        (_matrix([{"metric": {"a": 1}, "values": []}]), r"metric should be"),
        (_matrix([{"metric": {}, "values": {}}]), r"values should be a list"),
        (_matrix([{"metric": {}, "values": [[T0]]}]), r"values\[0\] should be"),
        (_matrix([{"metric": {}, "values": [[T0, 1.0]]}]), r"values\[0\] should be"),
        (_matrix([{"metric": {}, "values": [[T0, "abc"]]}]), r"values\[0\] should be"),
        (_matrix([{"metric": {}, "values": [["soon", "1"]]}]), r"values\[0\] should be"),
        (_matrix([{"metric": {}, "values": [[1e300, "1"]]}]), r"values\[0\] should be"),
        (_matrix([{"metric": {}, "values": [None]}]), r"values\[0\] should be"),
    ],
)
def test_wrong_shapes_are_clear_errors(fake: FakePrometheus, body: str, where: str) -> None:
    fake.script = [(200, body, 0.0)]
    with pytest.raises(PrometheusError, match=where):
        PrometheusClient(fake.url).query_range("up", START, START, STEP)


def test_slow_server_times_out_and_retries(fake: FakePrometheus) -> None:
    fake.script = [(200, GOOD, 1.0)]
    started = time.monotonic()
    with pytest.raises(PrometheusError, match="after 2 attempt.*Timeout"):
        PrometheusClient(fake.url, timeout=0.2, retries=1, backoff=0.01).query_range(
            "up", START, START, STEP
        )
    assert time.monotonic() - started < 2.5


def test_auth_headers(fake: FakePrometheus) -> None:
    seen: list[httpx.Request] = []
    fake.script = [(200, GOOD, 0.0)]
    client = PrometheusClient(fake.url, username="u", password="p")
    client._http().event_hooks["request"] = [seen.append]
    client.query_range("up", START, START, STEP)
    assert seen[0].headers["authorization"].startswith("Basic ")
    with pytest.raises(ParameterError, match="either a token"):
        PrometheusClient(fake.url, token="t", username="u").query_range("up", START, START, STEP)


def test_bad_ranges_are_parameter_errors() -> None:
    client = PrometheusClient("http://127.0.0.1:1")
    with pytest.raises(ParameterError, match="before its start"):
        client.query_range("up", START + STEP, START, STEP)
    with pytest.raises(ParameterError, match="at least 1ms"):
        client.query_range("up", START, START, pd.Timedelta(0))
    with pytest.raises(ParameterError, match="Expected a time"):
        client.query_range("up", "not a time", START, STEP)


# -- helpers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("1h", 3600), ("30s", 30), ("60", 60), ("0.5", 0.5), ("1h30m", 5400),
     ("500ms", 0.5), ("1d", 86400), ("2w", 14 * 86400), ("1y", 365 * 86400), ("1m30s", 90)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pd.Timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "m", "5x", "-5m", "0", "1.5h", "nan", "inf", "5m1h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ParameterError):
        parse_duration(text)


def test_parse_time() -> None:
    now = pd.Timestamp("2025-01-08 12:00", tz="UTC")
    assert parse_time("now", now=now) == now
    assert parse_time("now-7d", now=now) == pd.Timestamp("2025-01-01 12:00", tz="UTC")
    assert parse_time("now+1h", now=now) == pd.Timestamp("2025-01-08 13:00", tz="UTC")
    assert parse_time("2025-01-01T00:00:00Z") == pd.Timestamp("2025-01-01", tz="UTC")
    assert parse_time("2025-01-01T02:00:00+02:00") == pd.Timestamp("2025-01-01", tz="UTC")
    assert parse_time("2025-01-01 00:00") == pd.Timestamp("2025-01-01", tz="UTC")
    assert parse_time("1700000000") == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")
    assert parse_time("1700000000.5") == pd.Timestamp(1_700_000_000_500, unit="ms", tz="UTC")
    for bad in ["", "yesterday", "now-", "now*2", "2025-13-01", "1e300"]:
        with pytest.raises(ParameterError, match="Cannot read"):
            parse_time(bad)


def test_series_key_is_canonical_and_escaped() -> None:
    assert series_key({"job": "b", "__name__": "up", "instance": "a"}) == 'up{instance="a",job="b"}'
    assert series_key({"job": "b"}) == '{job="b"}'
    assert series_key({"__name__": "up"}) == "up"
    assert series_key({}) == "{}"
    assert series_key({"p": 'a"b\\c\nd'}) == '{p="a\\"b\\\\c\\nd"}'


# -- the Alertmanager fixture (shared with the alerting tests) ---------------------------------
@pytest.mark.servers
def test_alertmanager_fixture_delivers_firing_and_resolved(
    alertmanager_server: Any, webhook_receiver: Any
) -> None:
    url = alertmanager_server(webhook_receiver.url)
    now = pd.Timestamp.now(tz="UTC")
    alert = {
        "labels": {"alertname": "HighCPU", "instance": "a"},
        "annotations": {"summary": "cpu high"},
        "startsAt": now.isoformat(),
        "generatorURL": "http://127.0.0.1/anomalert",
    }
    httpx.post(f"{url}/api/v2/alerts", json=[alert], timeout=5, trust_env=False).raise_for_status()
    firing = webhook_receiver.wait_for(1, lambda p: p.get("status") == "firing", timeout=10)
    assert firing[0]["alerts"][0]["labels"]["alertname"] == "HighCPU"
    alert["endsAt"] = pd.Timestamp.now(tz="UTC").isoformat()
    httpx.post(f"{url}/api/v2/alerts", json=[alert], timeout=5, trust_env=False).raise_for_status()
    resolved = webhook_receiver.wait_for(1, lambda p: p.get("status") == "resolved", timeout=10)
    assert resolved[0]["alerts"][0]["status"] == "resolved"


def test_missing_binaries_skip_locally_but_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing binaries: prometheus"):
        require_binaries("prometheus")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_binaries("prometheus")
