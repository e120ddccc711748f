"""The HTTP service: /healthz, /metrics, /v1/alerts, /v1/series and POST /v1/score.

In-process (Starlette's TestClient); the real-server tests are in test_watch.py.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from anomalert.alerting.sinks import AlertmanagerSink, Notification
from anomalert.alerting.store import Store
from anomalert.server.app import create_app
from anomalert.server.runtime import ServiceState

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

T0 = pd.Timestamp("2025-01-01", tz="UTC")


def _points(n: int, start: int = 0, spike_at: int | None = None) -> list[dict]:
    rng = np.random.default_rng(start)
    out = []
    for i in range(start, start + n):
        v = 40 + rng.normal(0, 1)
        if spike_at is not None and spike_at <= i < spike_at + 3:
            v = 95.0
        out.append({"timestamp": (T0 + pd.Timedelta(minutes=i)).isoformat(), "values": {"cpu": v}})
    return out


def _client(**kw) -> tuple[TestClient, ServiceState]:
    state = ServiceState(**kw)
    return TestClient(create_app(state), raise_server_exceptions=False), state


def test_healthz_and_metrics_exposition():
    client, state = _client()
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    client.post("/v1/score", json={"series": "api", "points": _points(5)})
    text = client.get("/metrics").text
    assert r.headers["content-type"].startswith("application/json")
    for name in ("anomalert_anomaly_score", "anomalert_threshold", "anomalert_anomalous",
                 "anomalert_last_poll_timestamp_seconds", "anomalert_outbox_pending"):
        assert name in text
    assert 'anomalert_points_total{series="api"} 5.0' in text


def test_two_apps_do_not_share_metrics():
    a, _ = _client()
    b, _ = _client()
    a.post("/v1/score", json={"series": "only-a", "points": _points(2)})
    assert "only-a" in a.get("/metrics").text
    assert "only-a" not in b.get("/metrics").text


def test_healthz_reports_degraded_and_stalled():
    client, state = _client()
    state.health.failed("cpu", "Cannot reach Prometheus")
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["errors"]["cpu"]["error"] == "Cannot reach Prometheus"
    state.health.heartbeat = -1e9  # the loop has not ticked for ages
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "stalled"


def test_score_learns_online_and_alerts_on_a_spike(tmp_path):
    store = Store(tmp_path / "s.db")
    client, state = _client(store=store, sinks=["hook"])
    # 230 points: the spike at 150 resolves at 155, and its resolution is sent once the
    # cooldown (an hour of points) has passed without an alert, at 216
    r = client.post("/v1/score", json={"series": "api", "points": _points(230, spike_at=150)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] is True and len(body["verdicts"]) == 230
    assert body["verdicts"][0]["score"] is None  # warming up: null, not NaN
    fired = [v for v in body["verdicts"] if v["event"] == "fired"]
    assert len(fired) == 1 and fired[0]["timestamp"].startswith("2025-01-01T02:30")
    assert "cpu" in fired[0]["explanation"]
    # the notification is in the durable outbox, and the series state is checkpointed
    rows = store.outbox()
    assert [r.notification["event"] for r in rows] == ["fired", "resolved"]
    assert [r.name for r in store.load_series()] == ["api"]
    alerts = client.get("/v1/alerts").json()["incidents"]
    assert alerts[0]["series"] == "api" and alerts[0]["resolved_at"] is not None
    assert client.get("/v1/alerts?open=true").json()["incidents"] == []
    series = client.get("/v1/series").json()["series"]
    assert series[0]["points"] == 230 and series[0]["columns"] == ["cpu"]
    # a restarted service picks the series up where it stopped
    state2 = ServiceState(store=store, sinks=["hook"])
    assert state2.restore() == 1
    c2 = TestClient(create_app(state2))
    r = c2.post("/v1/score", json={"series": "api", "points": _points(1, start=150)})
    assert r.status_code == 422 and "not after the latest point" in r.json()["error"]
    assert c2.post("/v1/score", json={"series": "api", "points": _points(1, start=230)}).status_code == 200


def _events(store: Store) -> list[tuple[str, int]]:
    return [(r.notification["event"], r.notification["incident"]) for r in store.outbox()]


def _alerting(client: TestClient, series: str = "api") -> float:
    line = next(x for x in client.get("/metrics").text.splitlines()
                if x.startswith(f'anomalert_alerting{{series="{series}"}}'))
    return float(line.split()[-1])


def test_a_spike_within_the_cooldown_reopens_the_incident_without_a_second_page(tmp_path):
    """Two spikes 20 minutes apart: the second comes within the default cooldown (an hour
    of points), so it re-opens the first incident instead of making a new one. The sinks get
    one "fired" and one "resolved": the resolution is sent only once the cooldown after the
    incident's last resolution has passed without an alert (nothing could re-open it then),
    and it carries that resolution's time (Alertmanager's endsAt)."""
    store = Store(tmp_path / "s.db")
    client, state = _client(store=store, sinks=["hook"])
    points = _points(260, spike_at=150)
    for p in points[170:173]:
        p["values"]["cpu"] = 95.0
    r = client.post("/v1/score", json={"series": "api", "points": points[:200]})
    assert r.status_code == 200, r.text
    verdicts = r.json()["verdicts"]
    # the Monitor: fired, resolved, re-opened (no page) and resolved again
    assert [(i, v["event"]) for i, v in enumerate(verdicts) if v["event"]] == [
        (150, "fired"), (155, "resolved"), (170, "reopened"), (175, "resolved")]
    assert verdicts[170]["is_alert"] and verdicts[170]["incident_id"] == 1
    # the sinks: still firing, nothing more; the service says the incident is notified open
    assert _events(store) == [("fired", 1)]
    assert state.series["api"].alerting == 1 and _alerting(client) == 1
    incident = client.get("/v1/alerts").json()["incidents"][0]
    assert incident["resolved_at"] == points[175]["timestamp"] and incident["notified"] is True
    assert [o.id for o in state.open_alerts()] == [store.outbox()[0].notification_id]
    page = client.get("/").text
    assert "ALERTING" in page and "notified firing until the cooldown ends" in page
    # the cooldown (60 points) after the resolution at 175 passes: resolved at point 235
    r = client.post("/v1/score", json={"series": "api", "points": points[200:]})
    assert r.status_code == 200, r.text
    assert _events(store) == [("fired", 1), ("resolved", 1)]
    resolved = store.outbox()[1].notification
    assert resolved["at"] == points[175 + 60]["timestamp"]
    assert resolved["resolved_at"] == points[175]["timestamp"]  # the incident's real resolution
    assert resolved["start"] == points[150]["timestamp"] and resolved["end"] == points[172]["timestamp"]
    alert = AlertmanagerSink("http://127.0.0.1:9").payload(Notification.from_dict(resolved), now=2e9)[0]
    assert alert["endsAt"] == "2025-01-01T02:55:00Z" and alert["startsAt"] == "2025-01-01T02:30:00Z"
    assert state.series["api"].alerting is None and _alerting(client) == 0
    assert state.open_alerts() == []
    assert client.get("/v1/alerts").json()["incidents"][0]["notified"] is False
    page = client.get("/").text
    assert "ALERTING" not in page and "until the cooldown ends" not in page
    assert len(client.get("/v1/alerts").json()["incidents"]) == 1


def test_spikes_further_apart_than_the_cooldown_page_twice(tmp_path):
    store = Store(tmp_path / "s.db")
    client, state = _client(store=store, sinks=["hook"])
    points = _points(400, spike_at=150)
    for p in points[300:303]:
        p["values"]["cpu"] = 95.0
    r = client.post("/v1/score", json={"series": "api", "points": points})
    assert r.status_code == 200, r.text
    assert _events(store) == [("fired", 1), ("resolved", 1), ("fired", 2), ("resolved", 2)]
    rows = [row.notification for row in store.outbox()]
    assert [n["at"] for n in rows] == [
        points[i]["timestamp"] for i in (150, 155 + 60, 300, 305 + 60)]
    assert [n["resolved_at"] for n in rows[1::2]] == [points[155]["timestamp"], points[305]["timestamp"]]


def test_cooldown_zero_resolves_once_no_alert_can_reopen(tmp_path):
    """With ``cooldown: 0`` nothing re-opens: the resolution goes out at the point that
    resolves the incident, and an alert at the very next point is a new incident and a new
    page."""
    from anomalert.alerting import AlertPolicy

    store = Store(tmp_path / "s.db")
    client, state = _client(store=store, sinks=["hook"], policy=AlertPolicy(cooldown=0))
    points = _points(200, spike_at=150)
    for i in (156, 161):  # 156: right after the resolution at 155; 161: after a quiet spell
        points[i]["values"]["cpu"] = 95.0
    r = client.post("/v1/score", json={"series": "api", "points": points})
    assert r.status_code == 200, r.text
    events = [(i, v["event"], v["incident_id"]) for i, v in enumerate(r.json()["verdicts"]) if v["event"]]
    assert events == [(150, "fired", 1), (155, "resolved", 1), (156, "fired", 2),
                      (159, "resolved", 2), (161, "fired", 3), (164, "resolved", 3)]
    rows = [row.notification for row in store.outbox()]
    assert [(n["event"], n["incident"], n["at"], n["resolved_at"]) for n in rows] == [
        ("fired", 1, points[150]["timestamp"], None),
        ("resolved", 1, points[155]["timestamp"], points[155]["timestamp"]),
        ("fired", 2, points[156]["timestamp"], None),
        ("resolved", 2, points[159]["timestamp"], points[159]["timestamp"]),
        ("fired", 3, points[161]["timestamp"], None),
        ("resolved", 3, points[164]["timestamp"], points[164]["timestamp"])]


def test_a_pending_resolution_survives_restarts_and_replays(tmp_path):
    """A restart between a resolution and the end of its cooldown keeps the incident
    notified open (its refreshes go on) and sends the resolution once, at the same point;
    replaying points after a crash makes the same notification ids, which the outbox ignores."""
    store = Store(tmp_path / "s.db")
    points = _points(260, spike_at=150)
    for p in points[170:173]:
        p["values"]["cpu"] = 95.0
    client, _ = _client(store=store, sinks=["hook"])
    assert client.post("/v1/score", json={"series": "api", "points": points[:160]}).status_code == 200
    assert _events(store) == [("fired", 1)]  # resolved at 155, inside the cooldown
    # restart inside the cooldown: the re-opening spike at 170 sends nothing
    state2 = ServiceState(store=store, sinks=["hook"])
    assert state2.restore() == 1 and state2.series["api"].alerting == 1
    assert [n.incident for n in state2.open_alerts()] == [1]
    client2 = TestClient(create_app(state2))
    assert client2.post("/v1/score", json={"series": "api", "points": points[160:200]}).status_code == 200
    assert _events(store) == [("fired", 1)]
    # the resolution goes out at 236; the process dies before its next checkpoint
    rt2 = state2.series["api"]
    for p in points[200:]:
        state2.observe(rt2, rt2.monitor.check(p["timestamp"], p["values"]), p["values"])
    assert _events(store) == [("fired", 1), ("resolved", 1)]
    # restart from the checkpoint at 200: still pending, and the replay adds nothing
    state3 = ServiceState(store=store, sinks=["hook"])
    assert state3.restore() == 1 and state3.series["api"].alerting == 1
    client3 = TestClient(create_app(state3))
    assert client3.post("/v1/score", json={"series": "api", "points": points[200:]}).status_code == 200
    assert _events(store) == [("fired", 1), ("resolved", 1)]
    assert state3.series["api"].alerting is None and state3.open_alerts() == []
    state4 = ServiceState(store=store, sinks=["hook"])
    assert state4.restore() == 1 and state4.series["api"].alerting is None


def test_bearer_token():
    client, _ = _client(token="s3cret")
    body = {"series": "a", "points": _points(1)}
    r = client.post("/v1/score", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "token" in r.json()["error"]
    assert client.post("/v1/score", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/v1/score", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/healthz").status_code == 200  # reads stay open


def test_body_and_batch_limits():
    client, _ = _client(max_body=2000, max_points=5)
    big = json.dumps({"series": "a", "points": _points(50)})
    r = client.post("/v1/score", content=big)
    assert r.status_code == 413 and "2000 bytes" in r.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while streaming
        for i in range(0, len(big), 100):
            yield big[i : i + 100].encode()

    r = client.post("/v1/score", content=chunks())
    assert r.status_code == 413
    r = client.post("/v1/score", json={"series": "a", "points": _points(6)})
    assert r.status_code == 413 and "limit of 5" in r.json()["error"]


def _post(client: TestClient, payload) -> tuple[int, str]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    r = client.post("/v1/score", content=data)
    return r.status_code, r.json().get("error", "")


def test_clear_errors_for_bad_input():
    client, state = _client(max_series=2)
    ok = _points(1)[0]
    ts = ok["timestamp"]
    cases = [
        (b"{nope", 400, "malformed JSON"),
        (b"", 400, "empty body"),
        (b'{"series": "a", "points": [{"timestamp": "2025-01-01", "values": {"x": NaN}}]}', 400, "NaN"),
        (b"\xff\xfe\x00", 400, "malformed JSON"),
        ([1, 2], 422, "JSON object"),
        ({"points": [ok]}, 422, "missing field 'series'"),
        ({"series": "a"}, 422, "missing field 'points'"),
        ({"series": "a", "points": [ok], "extra": 1}, 422, "unknown field"),
        ({"series": 5, "points": [ok]}, 422, "'series' must be a string"),
        ({"series": "", "points": [ok]}, 422, "1 to 200 characters"),
        ({"series": "a\nb", "points": [ok]}, 422, "control characters"),
        ({"series": "a", "points": {}}, 422, "must be a list"),
        ({"series": "a", "points": []}, 422, "at least one point"),
        ({"series": "a", "points": [5]}, 422, "points[0] must be an object"),
        ({"series": "a", "points": [{"values": {"x": 1}}]}, 422, "lacks 'timestamp'"),
        ({"series": "a", "points": [{"timestamp": ts}]}, 422, "lacks 'values'"),
        ({"series": "a", "points": [{"timestamp": "yesterday", "values": {"x": 1}}]}, 422, "as a time"),
        ({"series": "a", "points": [{"timestamp": "2025-13-45", "values": {"x": 1}}]}, 422, "as a time"),
        ({"series": "a", "points": [{"timestamp": 1e30, "values": {"x": 1}}]}, 422, "as a time"),
        ({"series": "a", "points": [{"timestamp": True, "values": {"x": 1}}]}, 422, "ISO 8601"),
        ({"series": "a", "points": [{"timestamp": ts, "values": {"x": "1"}}]}, 422, "must be a number"),
        ({"series": "a", "points": [{"timestamp": ts, "values": {"x": True}}]}, 422, "must be a number"),
        ({"series": "a", "points": [{"timestamp": ts, "values": {"x": None}}]}, 422, "must be a number"),
        ({"series": "a", "points": [{"timestamp": ts, "values": {}}]}, 422, "is empty"),
        ({"series": "a", "points": [{"timestamp": ts, "values": [1]}]}, 422, "must be an object"),
        (b'{"series": "a", "points": [{"timestamp": 1, "values": {"x": 1e999}}]}', 422, "finite"),
        ({"series": "a", "points": [{"timestamp": ts, "values": {"x": 10**400}}]}, 422, "finite"),
        ({"series": "a", "points": [{"timestamp": ts, "values": {"x": 1e200}}]}, 422, "within +-1e+150"),
        ({"series": "a", "points": [{"timestamp": "0001-01-01T00:00:00Z", "values": {"x": 1}}]}, 422,
         "outside the years 1677-2262"),
        ({"series": "a", "points": [ok, {"timestamp": "2262-04-12T00:00:00Z", "values": {"x": 1}}]},
         422, "outside the years 1677-2262"),
        ({"series": "a", "points": _points(2)[::-1]}, 422, "time order"),
        ({"series": "a", "points": [ok, {"timestamp": ts, "values": {"cpu": 1}}]}, 422, "time order"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "malformed JSON"),
    ]
    for payload, status, needle in cases:
        got, error = _post(client, payload)
        assert (got, needle in error) == (status, True), (payload if not isinstance(payload, bytes) else payload[:80], got, error)
    assert state.series == {}  # nothing above created a series
    # metrics of a series are fixed by its first point
    assert _post(client, {"series": "a", "points": _points(1)})[0] == 200
    p = _points(1, start=1)[0]
    p["values"] = {"cpu": 1.0, "mem": 2.0}
    status, error = _post(client, {"series": "a", "points": [p]})
    assert status == 422 and "unexpected ['mem']" in error
    # a rejected batch leaves no trace: all or nothing
    batch = _points(3, start=1) + [{"timestamp": "2025-01-02T00:00:00Z", "values": {"cpu": "x"}}]
    assert _post(client, {"series": "a", "points": batch})[0] == 422
    assert state.series["a"].points == 1
    # bounded number of pushed series
    assert _post(client, {"series": "b", "points": _points(1)})[0] == 200
    status, error = _post(client, {"series": "c", "points": _points(1)})
    assert status == 422 and "limit of 2 pushed series" in error


def test_watched_series_cannot_be_pushed_to():
    client, state = _client()
    state.create_series("cpu", ["value"], kind="watch")
    status, error = _post(client, {"series": "cpu", "points": [
        {"timestamp": "2025-01-01T00:00:00Z", "values": {"value": 1}}]})
    assert status == 409 and "watch loop" in error


def test_unexpected_errors_are_json_500_and_the_server_survives(monkeypatch):
    client, state = _client()

    def boom(*a, **k):
        raise RuntimeError("bug")

    monkeypatch.setattr(state, "observe", boom)
    r = client.post("/v1/score", json={"series": "a", "points": _points(1)})
    assert r.status_code == 500 and "internal error" in r.json()["error"]
    monkeypatch.undo()
    assert client.get("/healthz").status_code == 200
    assert client.get("/nope").json() == {"error": "Not Found"}
    assert client.get("/v1/score").status_code == 405
    assert client.get("/v1/alerts?limit=x").status_code == 400


def test_status_page_escapes_names():
    client, _ = _client()
    name = "<script>alert(1)</script>"
    assert _post(client, {"series": name, "points": _points(3)})[0] == 200
    html = client.get("/").text
    assert "<script>" not in html and "&lt;script&gt;" in html


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_stamp = st.one_of(
    st.text(max_size=30), st.integers(), st.floats(allow_nan=False),
    st.datetimes(min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
                 max_value=pd.Timestamp("2100-01-01").to_pydatetime()).map(lambda d: d.isoformat()),
)
_value = st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=5), st.none(), st.booleans())
_point = st.fixed_dictionaries(
    {"timestamp": _stamp, "values": st.dictionaries(st.sampled_from(["cpu", "mem", "x"]), _value, max_size=3)}
)
_batch = st.builds(
    lambda series, start, steps, vals: {
        "series": series,
        "points": [
            {"timestamp": start + sum(steps[: i + 1]), "values": v} for i, v in enumerate(vals)
        ],
    },
    st.text(alphabet="abcdef", min_size=1, max_size=3),
    st.integers(0, 4_000_000_000),
    st.lists(st.integers(1, 86_400), min_size=8, max_size=8),
    st.lists(st.fixed_dictionaries({"cpu": st.floats(allow_nan=False, allow_infinity=False),
                                    "mem": st.floats(-1e6, 1e6)}), min_size=1, max_size=8),
)
_request = st.one_of(
    _batch,
    _json,
    st.fixed_dictionaries({"series": st.one_of(st.sampled_from(["a", "b"]), st.text(max_size=5)),
                           "points": st.lists(_point, max_size=6)}),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(_request.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)))
def test_fuzz_score_never_crashes(payload):
    client, state = _FUZZ
    state.series.clear()  # each example starts fresh (a batch holds several points)
    r = client.post("/v1/score", content=payload)
    event(f"status {r.status_code}")
    assert r.status_code in (200, 400, 409, 413, 422), (payload, r.status_code, r.text)
    body = r.json()
    if r.status_code == 200:
        assert all(v["score"] is None or math.isfinite(v["score"]) for v in body["verdicts"])
    else:
        assert isinstance(body["error"], str) and body["error"]


_FUZZ = _client(max_series=50, max_points=8)


def test_a_state_saved_by_another_version_is_refitted_not_misread(tmp_path):
    """A series checkpointed with another kernel layout (an older anomalert) does not come
    back half-read: restore notes it, and the next points start the series afresh."""
    import pickle

    store = Store(tmp_path / "s.db")
    client, _ = _client(store=store)
    assert client.post("/v1/score", json={"series": "api", "points": _points(50)}).status_code == 200
    rec = store.load_series()[0]
    rt = pickle.loads(rec.state)
    del rt.monitor.detector.state_["V"]  # what a session-2 checkpoint looks like
    store.checkpoint([(rec.name, rec.kind, pickle.dumps(rt), rec.last_ts)])
    state2 = ServiceState(store=store)
    assert state2.restore() == 0
    assert any("cannot restore series 'api'" in n and "kernel layout 0" in n for n in state2.notes)
    c2 = TestClient(create_app(state2), raise_server_exceptions=False)
    r = c2.post("/v1/score", json={"series": "api", "points": _points(5, start=50)})
    assert r.status_code == 200 and r.json()["created"] is True



def test_metrics_say_when_a_series_learns_what_it_flags():
    """A pushed series that is an idle, quantised CPU (its dips are dozens of its tiny robust
    scales) flags them every few minutes at first. Once that is its normal, the detector
    learns them, /metrics says so while it does, and the flags stop."""
    client, _ = _client()
    idx = pd.date_range(T0, periods=3 * 288, freq="5min")
    rng = np.random.default_rng(5)
    values = rng.choice([0.134, 0.132, 0.066, 0.2], p=[0.5, 0.25, 0.2, 0.05], size=len(idx))
    calm = [{"timestamp": ts.isoformat(), "values": {"cpu": 40 + rng.normal(0, 1)}} for ts in idx[:2]]
    assert client.post("/v1/score", json={"series": "calm", "points": calm}).status_code == 200
    gauge, flags = [], []
    for k in range(0, len(idx), 24):  # two hours per request
        points = [{"timestamp": ts.isoformat(), "values": {"cpu": float(v)}}
                  for ts, v in zip(idx[k:k + 24], values[k:k + 24], strict=True)]
        r = client.post("/v1/score", json={"series": "idle", "points": points})
        assert r.status_code == 200
        flags += [v["is_anomalous"] for v in r.json()["verdicts"]]
        text = client.get("/metrics").text
        gauge.append('anomalert_learning_flagged{series="idle"} 1.0' in text)
        assert 'anomalert_learning_flagged{series="calm"} 0.0' in text
    assert sum(flags) >= 6 and any(gauge)
    assert not any(flags[-288:])  # the last day: learned, quiet


def test_a_restart_replays_the_points_saved_since_the_full_state(tmp_path):
    """A pushed series is written in full when it is created, then each request saves only
    its new points and its alert state. A restart replays those points onto the full state:
    the restored series is the one that stopped, verdict for verdict and state for state; and
    what it had paged stays paged even where the replay would decide otherwise."""
    import pickle
    import sqlite3

    store = Store(tmp_path / "s.db")
    client, state = _client(store=store, sinks=["hook"])
    points = _points(260, spike_at=150)
    for k in range(0, 200, 20):  # ten requests, a checkpoint each
        assert client.post("/v1/score", json={"series": "api", "points": points[k:k + 20]}).status_code == 200
    assert _events(store) == [("fired", 1)]
    full = len(store.load_series()[0].state)
    assert store.bytes_written < full + 9 * 10_000  # one full state, then a few kB a request
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 180
    # restart: the very same series
    state2 = ServiceState(store=store, sinks=["hook"])
    assert state2.restore() == 1
    rt, rt2 = state.series["api"], state2.series["api"]
    assert (rt2.points, rt2.last_ts, rt2.alerting) == (200, rt.last_ts, 1)
    assert pickle.dumps(rt2.monitor.incidents) == pickle.dumps(rt.monitor.incidents)
    for key, value in rt.monitor.detector.state_.items():
        assert np.array_equal(value, rt2.monitor.detector.state_[key], equal_nan=True), key
    rest = {"series": "api", "points": points[200:]}
    a = client.post("/v1/score", json=rest).json()["verdicts"]
    b = TestClient(create_app(state2)).post("/v1/score", json=rest).json()["verdicts"]
    assert a == b and [v["event"] for v in a if v["event"]] == []
    assert _events(store) == [("fired", 1), ("resolved", 1)]  # sent once, by both
    # a replay that decides otherwise (here: the spike's points made ordinary) does not
    # take back what was paged: the alert state saved with the points wins
    store3 = Store(tmp_path / "s3.db")
    client3, _ = _client(store=store3, sinks=["hook"])
    for k in range(0, 160, 40):
        assert client3.post("/v1/score", json={"series": "api", "points": points[k:k + 40]}).status_code == 200
    assert _events(store3) == [("fired", 1)]
    with sqlite3.connect(tmp_path / "s3.db") as db3:
        db3.execute("UPDATE journal SET point = '{\"cpu\": 40.0}'")
    state4 = ServiceState(store=store3, sinks=["hook"])
    assert state4.restore() == 1
    rt4 = state4.series["api"]
    assert rt4.alerting == 1 and [i.id for i in rt4.monitor.incidents] == [1]
    assert rt4.monitor.incidents[0].peak_score > 6 and rt4.points == 160


def test_metrics_show_how_close_a_series_runs_to_its_threshold():
    """``default`` scores most points exactly 0 (deviations it has seen before), so the score
    gauge says nothing of how close a series runs to its threshold; ``anomalert_deviation``
    does: the point's largest deviation in σ before that memory. No ``_created`` series."""
    client, _ = _client()

    def sample(name: str) -> float:
        text = client.get("/metrics").text
        assert "_created" not in text
        return float(next(x for x in text.splitlines() if x.startswith(name + '{series="api"}')).split()[-1])

    assert client.post("/v1/score", json={"series": "api", "points": _points(150)}).status_code == 200
    threshold = sample("anomalert_threshold")
    assert sample("anomalert_anomaly_score") == 0.0
    assert 0.0 < sample("anomalert_deviation") < threshold
    r = client.post("/v1/score", json={"series": "api", "points": _points(1, start=150, spike_at=150)})
    verdict = r.json()["verdicts"][0]
    assert verdict["is_alert"] and verdict["deviation"] == verdict["score"]
    assert sample("anomalert_deviation") == sample("anomalert_anomaly_score") > threshold
