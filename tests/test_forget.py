"""Series gone for good are forgotten after their ``forget_after`` (``anomalert.server.forget``).

A series that stops getting points goes stale after its ``stale_after``; one stale for its
``forget_after`` is removed from memory, ``/metrics``, ``/healthz``, the status page and the
state file, stays gone after a restart (also after ``kill -9`` before the checkpoint), and
its label set, if it comes back, is a new series. Watched series are judged in data time (a
fake Prometheus whose label sets disappear), pushed ones in wall-clock time.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import warnings
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from servers import WebhookReceiver
from watch_helpers import (
    FakePrometheus,
    SwitchableProxy,
    WatchProcess,
    get_json,
    metric_value,
    wait_until,
    watching,
)

from anomalert.alerting.store import Store
from anomalert.server.app import create_app
from anomalert.server.config import ConfigError, config_from_dict
from anomalert.server.forget import forget, forget_pushed
from anomalert.server.runtime import ServiceState

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

T0 = pd.Timestamp("2025-01-01", tz="UTC")
FAKE, FAKE1, FAKE2 = (f'cpu{{instance="{i}"}}' for i in ("fake", "fake-1", "fake-2"))
_TABLES = (("series", "name"), ("alert_state", "name"), ("journal", "series"),
           ("incidents", "series"))


def _points(n: int, start: int = 0, spike_at: int | None = None) -> list[dict]:
    """Minutely points of one metric from ``T0 + start`` minutes; 95 for three at ``spike_at``."""
    rng = np.random.default_rng(start)
    return [
        {"timestamp": (T0 + pd.Timedelta(minutes=i)).isoformat(),
         "values": {"cpu": 95.0 if spike_at is not None and spike_at <= i < spike_at + 3
                    else 40 + rng.normal(0, 1)}}
        for i in range(start, start + n)
    ]


def _stored(path: Path | str, series: str) -> dict[str, int]:
    """Rows of ``series`` in each table of the state file that holds series state."""
    with closing(sqlite3.connect(path)) as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t} WHERE {c} = ?", (series,)).fetchone()[0]
                for t, c in _TABLES}


def _gone(path: Path | str, *names: str) -> bool:
    return not any(any(_stored(path, n).values()) for n in names)


def _label(name: str) -> str:
    return 'series="' + name.replace('"', '\\"') + '"'


def _names(url: str) -> list[str]:
    return sorted(s["series"] for s in get_json(url + "/v1/series")["series"])


# --------------------------------------------------------------------------- config
def test_forget_after_is_checked_and_defaults_to_a_day():
    base = {"prometheus": {"url": "http://127.0.0.1:9090"}}

    def query(**kw) -> dict:
        return {**base, "queries": [{"name": "cpu", "query": "up", **kw}]}

    for data, needle in [
        (query(forget_after="5m"), "queries[0].forget_after: 300s must be longer than "
                                   "stale_after (300s)"),
        (query(stale_after="1h", forget_after="30m"), "queries[0].forget_after: 1800s must be"),
        ({**query(), "defaults": {"forget_after": "5m"}}, "defaults.forget_after: 300s must be"),
        (query(forget_after="soon"), "queries[0].forget_after: Cannot read 'soon'"),
    ]:
        with pytest.raises(ConfigError) as err:
            config_from_dict(data, source="w.yaml")
        assert needle in str(err.value), (data, err.value)
    day = pd.Timedelta(days=1)
    assert config_from_dict(query()).queries[0].forgetting == day
    assert config_from_dict(query(step="6h")).queries[0].forgetting == 2 * pd.Timedelta("30h")
    for never in (0, "0", "never", "0s"):
        assert config_from_dict(query(forget_after=never)).queries[0].forgetting is None
    cfg = config_from_dict({**query(), "defaults": {"stale_after": "10m", "forget_after": "2h"}})
    assert cfg.queries[0].forgetting == pd.Timedelta("2h")
    assert (cfg.push.stale_after, cfg.push.forget_after) == (pd.Timedelta("10m"), pd.Timedelta("2h"))
    assert config_from_dict({"defaults": {"forget_after": "never"}}, serve=True).push.forget_after \
        == pd.Timedelta(0)


# --------------------------------------------------------------------------- pushed, in-process
def _client(**kw) -> tuple[TestClient, ServiceState]:
    state = ServiceState(**kw)
    return TestClient(create_app(state), raise_server_exceptions=False), state


def test_a_forgotten_pushed_series_frees_its_place_and_leaves_the_state_file(tmp_path):
    """A pushed series stale for its forget_after (wall clock) is forgotten: its place under
    max_series is free again, its rows leave the state file at the next checkpoint, a restart
    does not bring it back; its notifications stay in the outbox, to be delivered."""
    store = Store(tmp_path / "s.db")
    client, state = _client(store=store, sinks=["hook"], max_series=1,
                            push_stale_after=pd.Timedelta("1s"), push_forget_after=pd.Timedelta("2s"))
    assert client.post("/v1/score", json={"series": "a", "points": _points(160, spike_at=157)}).status_code == 200
    r = client.post("/v1/score", json={"series": "b", "points": _points(1)})
    assert r.status_code == 422 and "limit of 1 pushed series" in r.json()["error"]
    assert _stored(store.path, "a")["series"] == 1 and _stored(store.path, "a")["incidents"] == 1
    now = time.time()
    assert state.expire_pushed(now + 1.5) == 1  # stale: its open alert resolved
    assert forget_pushed(state, now + 1.5) == []  # not yet forgotten
    assert forget_pushed(state, now + 2.5) == ["a"]
    assert forget_pushed(state, now + 9) == []  # once
    health = client.get("/healthz").json()
    assert (health["series"], health["stale_count"], health["forgotten_count"]) == (0, 0, 1)
    assert health["forgotten_recent"] == ["a"]
    text = client.get("/metrics").text
    assert 'series="a"' not in text
    assert 'anomalert_series_forgotten_total{kind="push",query=""} 1.0' in text
    assert client.get("/v1/alerts").json()["incidents"] == []
    assert _stored(store.path, "a")["series"] == 1  # until the next checkpoint (here: b's)
    assert client.post("/v1/score", json={"series": "b", "points": _points(1)}).status_code == 200
    assert _gone(store.path, "a")
    events = [(r.notification["event"], r.notification["incident"]) for r in store.outbox()]
    assert events == [("fired", 1), ("resolved", 1)] and store.pending_count() == 2
    again = ServiceState(store=store, sinks=["hook"])
    assert again.restore() == 1 and list(again.series) == ["b"]


def test_a_name_forgotten_and_pushed_again_before_the_checkpoint_is_a_new_series(tmp_path):
    """Forgotten, then pushed to again before any checkpoint: the checkpoint deletes the
    forgotten series' rows before it writes the new one, whose incidents count from 1; the
    outbox's resolution of the old incident 1 does not stop the refreshes of the new one."""
    store = Store(tmp_path / "s.db")
    client, state = _client(store=store, sinks=["am"], push_stale_after=pd.Timedelta("1s"))
    assert client.post("/v1/score", json={"series": "api", "points": _points(160, spike_at=150)}).status_code == 200
    old = state.series["api"]
    state.mark_stale(old, pd.Timedelta("1s"))
    assert forget(state, [old], pd.Timedelta("2s"), query=None, what="no push for") == ["api"]
    assert store.resolution_queued("api", 1, "am")
    body = client.post("/v1/score", json={"series": "api",
                                          "points": _points(160, start=400, spike_at=557)}).json()
    assert body["created"] is True
    assert [(v["event"], v["incident_id"]) for v in body["verdicts"] if v["event"]] == [("fired", 1)]
    assert state.series["api"] is not old and state.series["api"].alerting == 1
    assert [n.incident for n in state.open_alerts()] == [1]
    assert not store.resolution_queued("api", 1, "am")  # the new incident 1 is refreshed
    assert _stored(store.path, "api")["series"] == 1 and _stored(store.path, "api")["incidents"] == 1
    restored = ServiceState(store=store, sinks=["am"])
    assert restored.restore() == 1
    rt = restored.series["api"]
    assert rt.points == 160 and rt.first_ts == T0 + pd.Timedelta(minutes=400)
    assert [i.id for i in rt.monitor.incidents] == [1] and rt.alerting == 1
    events = [(r.notification["event"], r.notification["incident"]) for r in store.outbox()]
    assert events == [("fired", 1), ("resolved", 1), ("fired", 1)]


# --------------------------------------------------------------------------- watched series
def _fake_config(fake: FakePrometheus, minute: str = "0.1s", **top) -> object:
    return config_from_dict({
        "prometheus": {"url": fake.url, "timeout": "2s"}, "listen": "127.0.0.1:0",
        "queries": [{"name": "cpu", "query": "cpu", "step": "60s", "lookback": "1h",
                     "stale_after": "2m", "forget_after": "30m", "max_series": 3}],
        "clock": {"start": pd.Timestamp.now(tz="UTC").floor("min").isoformat(), "minute": minute},
        **top,
    })


def _health(url: str, check) -> dict:
    """``/healthz`` once ``check`` holds for it (bounded wait)."""

    def ready() -> dict | None:
        h = get_json(url + "/healthz")
        return h if check(h) else None

    return wait_until(ready, 20, what="health")


def test_series_that_disappear_are_forgotten_everywhere_and_come_back_as_new(tmp_path, caplog):
    """Label sets that disappear are stale after their stale_after, then after their
    forget_after (data time) gone from /v1/series, /metrics, /healthz's stale list, the
    status page and every table of the state file, logged once with the count; a restart
    does not bring them back; when they come back they are new series."""
    caplog.set_level(logging.INFO, logger="anomalert")
    db = tmp_path / "state.db"
    with FakePrometheus(instances=3) as fake:
        fake.start()
        cfg = replace(_fake_config(fake, checkpoint="0.1s"), state=str(db))
        with watching(cfg) as url:
            wait_until(lambda: (metric_value(url, "anomalert_points_total", _label(FAKE1)) or 0)
                       >= 3, 20, what="polls")
            wait_until(lambda: _stored(db, FAKE1)["journal"], 10, what="a checkpoint of points")
            fake.instances = 1  # the pods fake-1 and fake-2 are gone
            health = _health(url, lambda h: h["stale_count"] == 2)
            assert health["stale_series"] == [FAKE1, FAKE2] and health["forgotten_count"] == 0
            assert metric_value(url, "anomalert_stale", _label(FAKE1)) == 1
            health = _health(url, lambda h: h["forgotten_count"] == 2)
            assert (health["stale_series"], health["stale_count"]) == ([], 0)
            assert sorted(health["forgotten_recent"]) == [FAKE1, FAKE2]
            assert health["dropped_series"] == {} and health["status"] == "ok"
            assert _names(url) == [FAKE]
            text = httpx.get(url + "/metrics").text
            assert "fake-1" not in text and "fake-2" not in text
            assert metric_value(url, "anomalert_series_forgotten_total",
                                'kind="watch",query="cpu"') == 2
            page = httpx.get(url + "/").text
            assert "fake-1" not in page and "2 forgotten" in page
            assert get_json(url + "/v1/alerts")["incidents"] == []
            wait_until(lambda: _gone(db, FAKE1, FAKE2), 10, what="their rows deleted")
            assert _stored(db, FAKE)["series"] == 1
        forgot = [r.getMessage() for r in caplog.records if "forgot" in r.getMessage()]
        assert forgot == [f"cpu: forgot 2 series, no point for 1800s (forget_after): {FAKE1}, {FAKE2}"]
        caplog.clear()
        with watching(cfg) as url:  # a restart: they stay gone
            assert _names(url) == [FAKE] and "fake-1" not in httpx.get(url + "/metrics").text
            before = get_json(url + "/v1/series")["series"][0]["points"]
            wait_until(lambda: metric_value(url, "anomalert_points_total", _label(FAKE))
                       > before + 3, 20, what="polls after the restart")
            fake.instances = 3  # fake-1 and fake-2 come back: new series, learning afresh
            wait_until(lambda: (metric_value(url, "anomalert_points_total", _label(FAKE2)) or 0)
                       >= 3, 20, what="the label sets back")
            series = {s["series"]: s for s in get_json(url + "/v1/series")["series"]}
            assert sorted(series) == [FAKE, FAKE1, FAKE2]
            assert series[FAKE1]["points"] < series[FAKE]["points"] - before
            assert series[FAKE1]["stale_since"] is None and series[FAKE1]["alerting"] is None
            assert pd.Timestamp(series[FAKE1]["first_point"]) > pd.Timestamp(
                series[FAKE]["first_point"])
            assert get_json(url + "/healthz")["dropped_series"] == {}  # three of max_series 3
        assert _stored(db, FAKE1)["series"] == 1
    log = caplog.text
    assert "1 series restored" in log
    assert "points again" not in log  # (a stale series would continue; these are new)


def test_a_gap_longer_than_forget_after_in_one_poll_starts_a_new_series(tmp_path, caplog):
    """The service is down while fake-1 is gone for longer than its forget_after and back:
    the first poll after the restart fetches the gap and the points after it at once. The
    series is forgotten in between all the same (the data decides, not when the polls ran):
    the points after the gap are a new series."""
    caplog.set_level(logging.INFO, logger="anomalert")
    db = tmp_path / "state.db"
    with FakePrometheus(instances=2) as fake:
        fake.start()
        cfg = replace(_fake_config(fake, checkpoint="0.1s"), state=str(db))
        assert cfg.clock_start is not None
        start = cfg.clock_start
        with watching(cfg) as url:
            wait_until(lambda: (metric_value(url, "anomalert_points_total", _label(FAKE1)) or 0)
                       >= 3, 20, what="polls")
        # down for an hour of data; fake-1 returns nothing from before its last point until
        # 50 minutes after the start
        fake.gaps = {"fake-1": (start - pd.Timedelta("1h"), start + pd.Timedelta("50min"))}
        with watching(replace(cfg, clock_start=start + pd.Timedelta("1h"))) as url:
            _health(url, lambda h: h["forgotten_count"] == 1)
            series = {s["series"]: s for s in get_json(url + "/v1/series")["series"]}
    assert pd.Timestamp(series[FAKE1]["first_point"]) == start + pd.Timedelta("50min")
    assert series[FAKE1]["stale_since"] is None
    log = caplog.text
    assert f"{FAKE1}: stale, no point since" in log and "points again" not in log
    assert f"cpu: forgot 1 series, no point for 1800s (forget_after): {FAKE1}" in log


def test_sigkill_before_the_checkpoint_of_a_forgetting_forgets_it_again(tmp_path):
    """Killed after a series was forgotten in memory, before a checkpoint deleted it: the
    restart restores it, and forgets it again at its first poll; a clean stop deletes it."""
    db = tmp_path / "state.db"
    with FakePrometheus(instances=2) as fake:
        fake.start()
        config = tmp_path / "watch.yaml"
        config.write_text(yaml.safe_dump({
            "prometheus": {"url": fake.url, "timeout": "2s"}, "listen": "127.0.0.1:0",
            "queries": [{"name": "cpu", "query": "cpu", "step": "60s", "lookback": "1h",
                         "stale_after": "2m", "forget_after": "10m"}],
            "clock": {"start": pd.Timestamp.now(tz="UTC").floor("min").isoformat(),
                      "minute": "0.05s"},
            "checkpoint": "1h",  # only the backfill's checkpoint is written before the kill
        }))
        proc = WatchProcess(["--config", str(config), "--state", str(db)], tmp_path)
        try:
            url = proc.start()
            wait_until(lambda: (metric_value(url, "anomalert_points_total", _label(FAKE1)) or 0)
                       >= 3, 20, what="polls")
            fake.instances = 1
            wait_until(lambda: "cpu: forgot 1 series" in proc.log.read_text(), 20,
                       what="fake-1 forgotten")
            assert _names(url) == [FAKE]
            assert _stored(db, FAKE1)["series"] == 1  # not checkpointed
            proc.kill()
            url = proc.start()
            assert "2 series restored" in proc.log.read_text()
            wait_until(lambda: "cpu: forgot 1 series" in proc.log.read_text(), 20,
                       what="fake-1 forgotten again")
            assert _names(url) == [FAKE]
            assert get_json(url + "/healthz")["forgotten_recent"] == [FAKE1]
        finally:
            proc.stop()
    assert _gone(db, FAKE1) and _stored(db, FAKE)["series"] == 1


# --------------------------------------------------------------------------- pushed, served
def test_a_pushed_series_is_forgotten_on_the_wall_clock_and_its_pages_still_go_out(tmp_path, caplog):
    """``serve``: a pushed series with no push for its forget_after is forgotten while the
    sink is down; its fired and resolved stay queued and are delivered when the sink is back.
    Pushed to again, the name is a new series whose spike pages again; a restart keeps only
    the new one."""
    caplog.set_level(logging.INFO, logger="anomalert")
    db = tmp_path / "state.db"
    with WebhookReceiver() as hook, SwitchableProxy(hook.url) as proxy:  # the sink is down

        def config() -> object:
            return replace(config_from_dict({
                "listen": "127.0.0.1:0", "sinks": [{"type": "webhook", "url": proxy.url}],
                "defaults": {"stale_after": "1s", "forget_after": "2s"}, "checkpoint": "0.1s",
                "retry": {"initial": "0.1s", "max": "0.3s"},
            }, serve=True), state=str(db))

        def push(points: list[dict]) -> dict:
            with httpx.Client(timeout=10, trust_env=False) as c:
                r = c.post(url + "/v1/score", json={"series": "api", "points": points})
            assert r.status_code == 200, r.text
            return r.json()

        with watching(config()) as url:
            body = push(_points(160, spike_at=157))
            assert [v["event"] for v in body["verdicts"] if v["event"]] == ["fired"]
            health = _health(url, lambda h: h["forgotten_count"] == 1)
            assert health["outbox_pending"] == 2 and health["stale_series"] == []
            assert _names(url) == [] and get_json(url + "/v1/alerts")["incidents"] == []
            assert metric_value(url, "anomalert_anomaly_score", 'series="api"') is None
            assert metric_value(url, "anomalert_series_forgotten_total", 'kind="push"') == 1
            wait_until(lambda: _gone(db, "api"), 10, what="its rows deleted")
            proxy.start()  # the sink is back: both pages go out, though the series is gone
            hook.wait_for(2, timeout=15)
            assert [(p["event"], p["incident"]) for p in hook.posts] == [("fired", 1), ("resolved", 1)]
            body = push(_points(160, start=300, spike_at=457))  # the name again: a new series
            assert body["created"] is True
            assert [(v["event"], v["incident_id"]) for v in body["verdicts"] if v["event"]] \
                == [("fired", 1)]
            hook.wait_for(3, timeout=15)
        with watching(config()) as url:
            series = get_json(url + "/v1/series")["series"]
            assert [(s["series"], s["points"]) for s in series] == [("api", 160)]
            assert series[0]["first_point"] == _points(1, start=300)[0]["timestamp"]
    assert "push: forgot 1 pushed series, no push for 2s (forget_after): api" in caplog.text
