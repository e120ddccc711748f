"""``anomalert watch``: config, simulator, and the loop against real Prometheus / Alertmanager.

Real-server tests start Prometheus (backfilled with a realistic CPU scenario through
``promtool``) and Alertmanager on 127.0.0.1 through the fixtures of ``tests/conftest.py``.
The watch loop runs on a *replay clock* (``clock: {start, minute}``): the backfilled past is
streamed at one simulated minute per few hundredths of a second, so an incident and its
resolution take about a second of wall time.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from contextlib import closing
from dataclasses import replace

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
    openmetrics,
    openmetrics_sets,
    wait_until,
    watching,
)

from anomalert.alerting.sinks import make_sink
from anomalert.cli import main
from anomalert.scenarios import generate
from anomalert.server.config import ConfigError, config_from_dict, load_config

LEAD = pd.Timedelta("20min")


# --------------------------------------------------------------------------- config
def test_config_errors_name_the_file_and_key(tmp_path):
    base = {"prometheus": {"url": "http://127.0.0.1:9090"}, "queries": [{"name": "cpu", "query": "up"}]}
    cases = [
        ({"queries": [{"name": "cpu", "query": "up"}]}, "prometheus: missing"),
        ({**base, "prometheus": {"url": "localhost:9090"}}, "prometheus.url: must be an http"),
        ({**base, "queries": [{"name": "cpu"}]}, "exactly one of 'query'"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "step": "fast"}]}, "queries[0].step"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "detector": "magic"}]}, "unknown detector"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "policy": {"k": 3}}]}, "queries[0].policy"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "params": {"window": -1}}]}, "'window'"),
        ({**base, "queries": [{"name": "a b", "query": "up"}]}, "queries[0].name"),
        ({**base, "queries": [{"name": "a", "query": "up"}, {"name": "a", "query": "up"}]}, "unique"),
        ({**base, "sinks": [{"type": "pagerduty"}]}, "sinks[0].type"),
        ({**base, "limits": {"max_points": 0}}, "limits.max_points"),
        ({**base, "colour": "blue"}, "the top level has unknown key(s) ['colour']"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "step": "0.001s"}]},
         "queries[0].step: 3 days 00:00:00 of lookback"),
        ({**base, "alert_labels": {"bad-label": "x"}}, "alert_labels.bad-label: label names"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "labels": {"team": ["a", "b"]}}]},
         "queries[0].labels.team: must be a text value"),
        ({**base, "sinks": [{"type": "alertmanager", "url": "http://127.0.0.1:9093", "ttl": "20s"}],
          "resend": "60s"}, "resend: 60s must be shorter than sink 'alertmanager''s ttl (20s)"),
        ({**base, "sinks": [{"type": "webhook", "url": "http://127.0.0.1:1", "timeout": "soon"}]},
         "sinks[0].timeout"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "stale_after": "90s"}]},
         "queries[0].stale_after: 90s must be at least two steps (120s)"),
        ({**base, "defaults": {"stale_after": "soon"}}, "defaults.stale_after"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "max_series": 0}]},
         "queries[0].max_series: must be an integer >= 1"),
        ({**base, "defaults": {"max_series": "many"}}, "defaults.max_series"),
        ({"simulate": {"days": 10}}, "simulate.days"),
        ({"simulate": {"scenarios": ["disk"]}}, "simulate.scenarios"),
        ([1, 2], "must be a mapping"),
    ]
    for data, needle in cases:
        with pytest.raises(ConfigError) as err:
            config_from_dict(data, source="w.yaml")
        assert str(err.value).startswith("w.yaml") and needle in str(err.value), (data, err.value)
    # the defaults are what pushed series get: checked also when no query uses them
    with pytest.raises(ConfigError, match=r"w.yaml: defaults.policy: .*'k' parameter"):
        config_from_dict({"defaults": {"policy": {"k": 3}}}, source="w.yaml", serve=True)
    path = tmp_path / "w.yaml"
    path.write_text("queries: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    cfg = config_from_dict({**base, "defaults": {"step": "30s", "severity": "page"}})
    assert cfg.queries[0].step == pd.Timedelta("30s") and cfg.queries[0].labels == {"severity": "page"}
    # staleness: five steps and at least five minutes, unless given; 500 series a query
    q = config_from_dict({**base, "queries": [{"name": "a", "query": "up", "step": "30s"},
                                              {"name": "b", "query": "up", "step": "5m"}]}).queries
    assert [x.stale_after for x in q] == [pd.Timedelta("5min"), pd.Timedelta("25min")]
    assert [x.max_series for x in q] == [500, 500]
    cfg = config_from_dict({**base, "defaults": {"stale_after": "15m", "max_series": 20}})
    assert (cfg.queries[0].stale_after, cfg.queries[0].max_series) == (pd.Timedelta("15min"), 20)
    assert cfg.push.stale_after == pd.Timedelta("15min")


def test_sink_durations_read_like_every_other_duration():
    cfg = config_from_dict({
        "prometheus": {"url": "http://127.0.0.1:9090"}, "queries": [{"name": "cpu", "query": "up"}],
        "sinks": [{"type": "alertmanager", "url": "http://127.0.0.1:9093", "ttl": "5m",
                   "timeout": "5s"}, {"type": "webhook", "url": "http://127.0.0.1:1", "timeout": 2}],
    })
    built = [make_sink(s, i) for i, s in enumerate(cfg.sinks)]  # as the daemon builds them
    assert [(getattr(s, "ttl", None), s.timeout) for s in built] == [(300.0, 5.0), (None, 2.0)]


def test_cli_user_errors_are_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump({"queries": [{"name": "cpu", "query": "up", "step": "x"}],
                                    "prometheus": {"url": "http://127.0.0.1:9"}}))
    assert main(["watch", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("anomalert: error: ") and "queries[0].step" in err and "\n" not in err
    assert main(["watch"]) == 2
    assert "--simulate" in capsys.readouterr().err
    assert main(["watch", "--simulate", "--listen", "nonsense"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err


# --------------------------------------------------------------------------- simulator
def test_simulate_fires_to_a_webhook_and_serves_metrics(tmp_path):
    start = pd.Timestamp.now(tz="UTC").floor("min")
    with WebhookReceiver() as hook:
        cfg = config_from_dict(
            {"sinks": [{"type": "webhook", "url": hook.url}], "listen": "127.0.0.1:0",
             "simulate": {"scenarios": ["lb"], "history": "1d"},
             "clock": {"start": start.isoformat(), "minute": "0.05s"}},
            simulate=True,
        )
        t0 = time.monotonic()
        with watching(cfg) as url:
            # (a bound, not a timing: a cold numba cache on a loaded machine took over 30 s)
            fired = hook.wait_for(1, lambda p: p["event"] == "fired", timeout=90)[0]
            wall = time.monotonic() - t0
            delay = pd.Timestamp(fired["at"]) - (start + LEAD)
            assert pd.Timedelta(0) <= delay <= pd.Timedelta("5min"), fired
            assert fired["series"] == "lb" and fired["labels"]["alertname"] == "AnomalertAnomaly"
            assert "rate" in fired["description"]  # explanation names the metric that moved
            assert metric_value(url, "anomalert_anomaly_score", 'series="lb"') is not None
            assert metric_value(url, "anomalert_simulated_anomaly", 'series="lb"') is not None
            assert metric_value(url, "anomalert_alerts_sent_total", 'sink="webhook"') >= 1
            assert get_json(url + "/healthz")["status"] == "ok"
            hook.wait_for(1, lambda p: p["event"] == "resolved", timeout=90)
    print(f"\nsimulate: webhook 'fired' {wall:.2f} s after start; {delay} after the injected start")


# --------------------------------------------------------------------------- real Prometheus
@pytest.fixture(scope="module")
def cpu_history() -> tuple[str, pd.Timestamp, pd.Timestamp]:
    """OpenMetrics text of a realistic CPU scenario around its first incident, + its start/end."""
    sc = generate("cpu", seed=42, days=4, realistic=True)
    event = next(e for e in sc.events if e.start >= sc.frame.index[0] + pd.Timedelta(hours=26))
    frame = sc.frame.loc[event.start - pd.Timedelta(hours=25) : event.end + pd.Timedelta("4h")]
    text = openmetrics(frame, {"cpu_usage": "cpu_usage", "memory_usage": "memory_usage"},
                       'instance="web-1",job="node"')
    return text, event.start, event.end


def _prom_config(prom_url: str, event_start: pd.Timestamp, sinks: list, minute: str = "0.02s",
                 **extra) -> dict:
    return {
        "prometheus": {"url": prom_url, "timeout": "2s"},
        "listen": "127.0.0.1:0",
        "queries": [{"name": "cpu", "metrics": {"cpu_usage": "cpu_usage", "memory_usage": "memory_usage"},
                     "step": "60s", "lookback": "1d", "severity": "page",
                     "policy": {"k": 1, "n": 1, "resolve_after": 3}}],
        "sinks": sinks,
        "clock": {"start": (event_start - LEAD).isoformat(), "minute": minute},
        "poll": {"backoff": "0.1s", "max_backoff": "0.3s"},
        "retry": {"initial": "0.1s", "max": "0.5s"},
        "checkpoint": "0.5s",
        **extra,
    }


SERIES = 'cpu{instance="web-1",job="node"}'


@pytest.mark.servers
def test_prometheus_to_alertmanager_end_to_end(cpu_history, prometheus_server, alertmanager_server, tmp_path):
    text, event_start, event_end = cpu_history
    prom = prometheus_server(text)
    with WebhookReceiver() as hook:
        am = alertmanager_server(hook.url)
        data = _prom_config(prom, event_start, [{"type": "alertmanager", "url": am, "name": "am"}])
        cfg = replace(config_from_dict(data), state=str(tmp_path / "state.db"))
        with watching(cfg) as url:
            firing = hook.wait_for(1, lambda p: p["status"] == "firing", timeout=30)[0]
            got_firing = time.time()
            resolved = hook.wait_for(1, lambda p: p["status"] == "resolved", timeout=30)[0]
            alert = firing["alerts"][0]
            assert alert["labels"]["series"] == SERIES and alert["labels"]["severity"] == "page"
            assert alert["labels"]["instance"] == "web-1"  # the series' own labels ride along
            assert "cpu_usage" in alert["annotations"]["description"]
            assert alert["generatorURL"].startswith("http://127.0.0.1:0/#incident-1-")
            assert pd.Timestamp(alert["startsAt"]) - event_start <= pd.Timedelta("3min")
            assert resolved["alerts"][0]["labels"]["series"] == SERIES
            incidents = get_json(url + "/v1/alerts")["incidents"]
            assert incidents[0]["series"] == SERIES and incidents[0]["resolved_at"] is not None
            assert incidents[0]["notified"] is False
            # endsAt is when the incident resolved, though it was sent a cooldown later
            resolved_at = pd.Timestamp(incidents[0]["resolved_at"])
            assert pd.Timestamp(resolved["alerts"][0]["endsAt"]) == resolved_at
            exposition = get_json(url + "/healthz")
            assert exposition["status"] == "ok" and exposition["outbox_pending"] == 0
            text_metrics = httpx.get(url + "/metrics").text
            # the series' own labels, those a scrape sets itself renamed as Prometheus would
            assert ('anomalert_anomaly_score{exported_instance="web-1",exported_job="node",'
                    'series="cpu{instance=\\"web-1\\",job=\\"node\\"}"}') in text_metrics
            assert 'anomalert_alerts_sent_total{sink="am"} 2.0' in text_metrics
            assert "anomalert_poll_errors_total{query=\"cpu\"} 0.0" in text_metrics
    rows = sqlite3.connect(tmp_path / "state.db").execute(
        "SELECT notification_id, created_at, delivered_at FROM outbox ORDER BY seq").fetchall()
    assert [r[0].split("|")[2] for r in rows] == ["fired", "resolved"]
    # sent once no alert could re-open it: the default hour (60 points) after the resolution
    assert pd.Timestamp(rows[1][0].split("|")[3]) - resolved_at == pd.Timedelta("60min")
    latency = got_firing - rows[0][1]
    detect = pd.Timestamp(rows[0][0].split("|")[3]) - event_start
    print(f"\nprometheus->alertmanager: detected {detect} after the injected start; "
          f"notification -> Alertmanager -> webhook in {latency * 1000:.0f} ms "
          f"(Alertmanager confirmed after {(rows[0][2] - rows[0][1]) * 1000:.1f} ms)")
    assert latency < 5


@pytest.mark.servers
def test_prometheus_down_at_start_and_in_the_middle(cpu_history, prometheus_server, tmp_path):
    text, event_start, _ = cpu_history
    prom = prometheus_server(text)
    with WebhookReceiver() as hook, SwitchableProxy(prom) as proxy:
        data = _prom_config(proxy.url, event_start, [{"type": "webhook", "url": hook.url}], minute="0.05s")
        with watching(config_from_dict(data)) as url:
            errors = lambda: metric_value(url, "anomalert_poll_errors_total", 'query="cpu"')  # noqa: E731
            wait_until(lambda: errors() >= 2, 10, what="errors while Prometheus is down")
            health = get_json(url + "/healthz")
            assert health["status"] == "degraded" and "Cannot reach Prometheus" in health["errors"]["cpu"]["error"]
            assert metric_value(url, "anomalert_source_up", 'query="cpu"') == 0
            proxy.start()
            wait_until(lambda: get_json(url + "/healthz")["status"] == "ok", 10, what="recovery")
            wait_until(lambda: get_json(url + "/v1/series")["series"][0]["points"] >= 5, 10, what="points")
            before = errors()
            proxy.stop()  # down in the middle
            wait_until(lambda: errors() > before, 10, what="errors in the middle")
            assert get_json(url + "/healthz")["status"] == "degraded"
            time.sleep(1.0)  # 20 simulated minutes pass while Prometheus is away
            proxy.start()
            wait_until(lambda: get_json(url + "/healthz")["status"] == "ok", 10, what="recovery")
            hook.wait_for(1, lambda p: p["event"] == "fired", timeout=20)
            s = get_json(url + "/v1/series")["series"][0]
            span = (pd.Timestamp(s["last"]["timestamp"]) - pd.Timestamp(s["first_point"])) / pd.Timedelta("1min")
            assert s["points"] == span + 1  # every minute scored once: nothing lost in the outage
            assert metric_value(url, "anomalert_last_poll_timestamp_seconds") > time.time() - 5


def test_malformed_prometheus_responses_are_counted_and_survived():
    js = "application/json"
    script = [
        (200, b"<html>not json</html>", "text/html"),
        (200, b"[1, 2]", js),
        (200, b'{"status": "success"}', js),
        (200, b'{"status": "success", "data": {"resultType": "vector", "result": []}}', js),
        (200, b'{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": [["x", "y"]]}]}}', js),
        (200, b'{"status": "success", "data": {"resultType": "matrix", "result": [{"values": 5}]}}', js),
        (400, b'{"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}', js),
        (503, b"overloaded", "text/plain"),
        (200, b'{"status": "error", "errorType": "execution", "error": "boom"}', js),
    ]
    with FakePrometheus(script) as fake:
        fake.start()
        cfg = config_from_dict({
            "prometheus": {"url": fake.url, "timeout": "2s"}, "listen": "127.0.0.1:0",
            "queries": [{"name": "cpu", "query": "cpu", "step": "1s", "lookback": "5m"}],
            "poll": {"backoff": "0.02s", "max_backoff": "0.05s"},
        })
        with watching(cfg) as url:
            wait_until(lambda: get_json(url + "/v1/series")["series"], 15, what="series after recovery")
            assert metric_value(url, "anomalert_poll_errors_total", 'query="cpu"') == len(script)
            wait_until(lambda: get_json(url + "/v1/series")["series"][0]["points"] >= 2, 10, what="points")
            health = get_json(url + "/healthz")
            assert health["status"] == "ok" and health["errors"] == {}
            s = get_json(url + "/v1/series")["series"][0]
            assert s["series"] == 'cpu{instance="fake"}' and s["last"]["threshold"] > 0


# --------------------------------------------------------------------------- kill -9
@pytest.mark.servers
def test_sigkill_mid_incident_restart_no_lost_no_duplicate(alertmanager_server, tmp_path):
    start = pd.Timestamp.now(tz="UTC").floor("min")
    with WebhookReceiver() as hook, SwitchableProxy() as proxy:
        proxy.target = alertmanager_server(hook.url)
        proxy.start()
        config = tmp_path / "watch.yaml"
        config.write_text(yaml.safe_dump({
            "listen": "127.0.0.1:0",
            "sinks": [{"type": "alertmanager", "url": proxy.url, "name": "am", "ttl": "2h"}],
            "simulate": {"scenarios": ["cpu"], "history": "1d", "lead": "5m"},
            "clock": {"start": start.isoformat(), "minute": "0.1s"},
            "checkpoint": "60s",  # only the post-backfill checkpoint exists when we kill
            "resend": "1h",  # (no refresh during the test; the ttl outlasts it)
            "retry": {"initial": "0.1s", "max": "0.5s"},
        }))
        proc = WatchProcess(["--config", str(config), "--state", str(tmp_path / "state.db")], tmp_path)
        try:
            t0 = time.monotonic()
            proc.start()
            print(f"\nstarted in {time.monotonic() - t0:.2f} s")
            hook.wait_for(1, lambda p: p["status"] == "firing", timeout=30)
            print(f"fired at {time.monotonic() - t0:.2f} s")
            proc.kill()  # mid-incident: fired, not resolved
            assert not [p for p in hook.posts if p["status"] == "resolved"]
            proc.start()
            print(f"restarted at {time.monotonic() - t0:.2f} s")
            hook.wait_for(1, lambda p: p["status"] == "resolved", timeout=30)
            print(f"resolved at {time.monotonic() - t0:.2f} s")
            time.sleep(0.5)
            log = proc.log.read_text()
        finally:
            proc.stop()
            print(f"stopped at {time.monotonic() - t0:.2f} s")
        # one page, one resolution: nothing lost, nothing twice
        statuses = [(p["status"], p["alerts"][0]["labels"]["series"]) for p in hook.posts]
        assert statuses == [("firing", "cpu"), ("resolved", "cpu")], hook.posts
        assert "1 series restored" in log
        # Alertmanager's API saw the firing alert once, or twice when the kill landed between
        # its 200 and our commit (at-least-once): then with the very same identity, which
        # Alertmanager de-duplicates (the webhook above saw one page).
        api = [a[0] for a in proxy.posts("/api/v2/alerts")]
        fired = [a for a in api if "resolved" not in a["annotations"]["summary"]]
        assert len(api) - len(fired) == 1 and len(fired) in (1, 2), json.dumps(api)
        assert len({(json.dumps(a["labels"], sort_keys=True), a["startsAt"]) for a in api}) == 1
    rows = sqlite3.connect(tmp_path / "state.db").execute(
        "SELECT notification_id, status, attempts FROM outbox ORDER BY seq").fetchall()
    assert [(r[0].split("|")[2], r[1]) for r in rows] == [("fired", "delivered"), ("resolved", "delivered")]


def test_watch_helpers_stop_everything():
    """The helpers' servers really stop: the port refuses connections afterwards."""
    with FakePrometheus() as fake:
        fake.start()
        assert httpx.post(fake.url + "/api/v1/query_range", data={"start": 0, "end": 60, "step": 60}).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.post(fake.url, timeout=1)


def test_the_documented_example_config_loads():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "watch.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        cfg = config_from_dict(yaml.safe_load(block), source="docs/watch.md")
        assert cfg.queries and [make_sink(s, i) for i, s in enumerate(cfg.sinks)]


# --------------------------------------------------------------------------- stale series
WEB1 = 'cpu{instance="web-1",job="node"}'
WEB2 = 'cpu{instance="web-2",job="node"}'


def _series_label(name: str) -> str:
    """``series="..."`` as the exposition format escapes it."""
    return 'series="' + name.replace('"', '\\"') + '"'


@pytest.fixture(scope="module")
def gone_history() -> tuple[str, pd.Timestamp, pd.Timestamp, pd.Timestamp]:
    """Two label sets of the CPU scenario around its first incident (a drop to ~0 for 85
    minutes): web-1 stops 10 minutes into the drop for good (its target is gone), web-2 stops
    then too and comes back 30 minutes later, still in the drop. Returns the OpenMetrics text,
    the drop's start, the last sample of both and web-2's first sample after its gap."""
    sc = generate("cpu", seed=42, days=4, realistic=True)
    event = next(e for e in sc.events if e.start >= sc.frame.index[0] + pd.Timedelta(hours=26))
    frame = sc.frame.loc[event.start - pd.Timedelta(hours=25) : event.end + pd.Timedelta("4h")]
    cut, back = event.start + pd.Timedelta("10min"), event.start + pd.Timedelta("40min")
    web2 = frame[(frame.index <= cut) | (frame.index >= back)]
    text = openmetrics_sets(
        [(frame.loc[:cut], 'instance="web-1",job="node"'), (web2, 'instance="web-2",job="node"')],
        {"cpu_usage": "cpu_usage", "memory_usage": "memory_usage"},
    )
    return text, event.start, cut, back


def _outbox_rows(path) -> list[tuple[dict, str]]:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT notification, status FROM outbox ORDER BY seq").fetchall()
    return [(json.loads(n), status) for n, status in rows]


def _events_of(rows, series: str) -> list[tuple[str, int]]:
    return [(n["event"], n["incident"]) for n, _ in rows if n["series"] == series]


def _posted(proxy: SwitchableProxy, series: str) -> list[dict]:
    """The alerts of ``series`` posted to Alertmanager, in order."""
    return [a for body in proxy.posts("/api/v2/alerts") for a in body if a["labels"]["series"] == series]


def _is_resolution(alert: dict) -> bool:
    return "resolved" in alert["annotations"]["summary"]


@pytest.mark.servers
def test_a_series_that_stops_resolves_its_alert_once_and_comes_back(
    gone_history, prometheus_server, alertmanager_server, tmp_path, caplog
):
    """A series with no point for its stale_after (default: 5 steps, at least 5 minutes) is
    stale: its open alert is resolved once (endsAt = its last point) and never re-posted,
    also after a restart; a series whose points come back goes on, with a new incident."""
    caplog.set_level(logging.INFO, logger="anomalert")
    text, event_start, cut, back = gone_history
    prom = prometheus_server(text)
    db = tmp_path / "state.db"
    with WebhookReceiver() as hook, SwitchableProxy() as proxy:
        proxy.target = alertmanager_server(hook.url, group_by=["series"])
        proxy.start()
        data = _prom_config(prom, event_start, [{"type": "alertmanager", "url": proxy.url, "name": "am"}],
                            resend="0.2s")
        cfg = replace(config_from_dict(data), state=str(db))
        with watching(cfg) as url:
            # web-1: fired, resolved (stale); web-2: fired, resolved (stale), fired when its
            # points come back, resolved when the drop is over (and the cooldown after it)
            wait_until(lambda: metric_value(url, "anomalert_alerts_sent_total", 'sink="am"') >= 6,
                       40, what="six notifications delivered")
            rows = _outbox_rows(db)
            assert _events_of(rows, WEB1) == [("fired", 1), ("resolved", 1)]
            assert _events_of(rows, WEB2) == [("fired", 1), ("resolved", 1), ("fired", 2), ("resolved", 2)]
            assert {status for _, status in rows} == {"delivered"}
            by = {(n["series"], n["incident"], n["event"]): n for n, _ in rows}
            for series in (WEB1, WEB2):
                r = by[series, 1, "resolved"]
                # resolved at the last point seen (Prometheus repeats a sample for up to 5 min)
                last = pd.Timestamp(r["stale_since"])
                assert cut <= last <= cut + pd.Timedelta("5min") and r["resolved_at"] == r["stale_since"]
                assert pd.Timestamp(r["at"]) == last + pd.Timedelta("5min")  # the default stale_after
            assert pd.Timestamp(by[WEB2, 2, "fired"]["start"]) >= back
            assert by[WEB2, 2, "resolved"]["stale_since"] is None  # resolved by its points
            # web-1 is shown stale everywhere
            web1 = by[WEB1, 1, "resolved"]
            series = {s["series"]: s for s in get_json(url + "/v1/series")["series"]}
            assert series[WEB1]["stale_since"] == web1["stale_since"] and series[WEB1]["alerting"] is None
            assert metric_value(url, "anomalert_stale", _series_label(WEB1)) == 1
            assert metric_value(url, "anomalert_alerting", _series_label(WEB1)) == 0
            health = get_json(url + "/healthz")
            assert health["status"] == "ok" and WEB1 in health["stale_series"]
            incidents = httpx.get(url + "/v1/alerts", params={"series": WEB1}).json()["incidents"]
            assert [(i["id"], i["stale"], i["notified"]) for i in incidents] == [(1, True, False)]
            page = httpx.get(url + "/").text
            assert "stale: no data since" in page and "(series stale)" in page
            # Alertmanager got web-1's resolution once, with endsAt = its last point, and no
            # refresh of its alert after it (refreshes every 0.2 s)
            posted = _posted(proxy, WEB1)
            kinds = [_is_resolution(a) for a in posted]
            assert kinds.count(True) == 1 and kinds[-1], kinds
            assert pd.Timestamp(posted[-1]["endsAt"]) == pd.Timestamp(web1["stale_since"])
            assert "no data since" in posted[-1]["annotations"]["summary"]
            hook.wait_for(1, lambda p: p["status"] == "resolved"
                          and p["alerts"][0]["labels"]["series"] == WEB1, timeout=10)
        log = caplog.text
        assert f"{WEB1}: stale, no point since {web1['stale_since']}" in log
        assert f"{WEB2}: points again at" in log
        # a restart from the state file: web-1 is still stale, nothing is sent again
        before, n_posted = _outbox_rows(db), len(_posted(proxy, WEB1))
        with watching(cfg) as url:
            assert metric_value(url, "anomalert_stale", _series_label(WEB1)) == 1
            assert WEB1 in get_json(url + "/healthz")["stale_series"]
            time.sleep(1.0)  # five refresh periods
        assert _outbox_rows(db) == before and len(_posted(proxy, WEB1)) == n_posted


@pytest.mark.servers
def test_sigkill_after_a_stale_resolution_replays_it_once(
    gone_history, prometheus_server, alertmanager_server, tmp_path
):
    """Killed right after a stale series' resolution reached Alertmanager, before any
    checkpoint: the restart replays the points since the backfill, the series goes stale
    again at the same point and makes the same notification id, which the outbox ignores;
    the alert is not re-posted as firing while the replay catches up."""
    text, event_start, _, _ = gone_history
    prom = prometheus_server(text)
    db = tmp_path / "state.db"
    with WebhookReceiver() as hook, SwitchableProxy() as proxy:
        proxy.target = alertmanager_server(hook.url, group_by=["series"])
        proxy.start()
        config = tmp_path / "watch.yaml"
        config.write_text(yaml.safe_dump(_prom_config(
            prom, event_start, [{"type": "alertmanager", "url": proxy.url, "name": "am"}],
            checkpoint="60s",  # only the post-backfill checkpoint exists when we kill
            resend="0.2s",
        )))
        proc = WatchProcess(["--config", str(config), "--state", str(db)], tmp_path)
        try:
            proc.start()
            wait_until(lambda: any(_is_resolution(a) for a in _posted(proxy, WEB1)), 40,
                       what="web-1's stale resolution at Alertmanager")
            proc.kill()
            proc.start()
            wait_until(lambda: len([1 for _, s in _outbox_rows(db) if s == "delivered"]) >= 6, 40,
                       what="six notifications delivered after the restart")
            time.sleep(0.5)
            log = proc.log.read_text()
        finally:
            proc.stop()
        assert "2 series restored" in log
        rows = _outbox_rows(db)
        assert _events_of(rows, WEB1) == [("fired", 1), ("resolved", 1)]
        assert _events_of(rows, WEB2) == [("fired", 1), ("resolved", 1), ("fired", 2), ("resolved", 2)]
        posted = _posted(proxy, WEB1)
        first = next(i for i, a in enumerate(posted) if _is_resolution(a))
        # nothing firing after the resolution; the resolution twice only when the kill came
        # between Alertmanager's 200 and our commit (at-least-once), then the very same one
        assert all(_is_resolution(a) for a in posted[first:]) and len(posted) - first in (1, 2)
        assert len({json.dumps(a, sort_keys=True) for a in posted[first:]}) == 1
        time.sleep(0.3)
        resolved = [p for p in hook.posts
                    if p["status"] == "resolved" and p["alerts"][0]["labels"]["series"] == WEB1]
        assert len(resolved) == 1, hook.posts


@pytest.mark.servers
def test_a_gap_caught_up_in_one_poll_is_stale_too(gone_history, prometheus_server, tmp_path):
    """The service is down while web-2 has its gap: the first poll after the restart fetches
    the gap and the points after it at once. The series is stale in between all the same
    (the data decides, not when the polls ran): its incident resolves at its last point
    before the gap, and the drop after it is a new incident."""
    text, event_start, cut, back = gone_history
    prom = prometheus_server(text)
    db = tmp_path / "state.db"
    with WebhookReceiver() as hook:
        data = _prom_config(prom, event_start, [{"type": "webhook", "url": hook.url}], minute="0.1s")
        with watching(replace(config_from_dict(data), state=str(db))):
            hook.wait_for(2, lambda p: p["event"] == "fired", timeout=30)  # both, in the drop
        rows = _outbox_rows(db)
        assert _events_of(rows, WEB2) == [("fired", 1)], rows  # stopped before any went stale
        data["clock"] = {"start": (back + pd.Timedelta("20min")).isoformat(), "minute": "0.02s"}
        with watching(replace(config_from_dict(data), state=str(db))):
            hook.wait_for(1, lambda p: p["event"] == "fired" and p["series"] == WEB2
                          and p["incident"] == 2, timeout=30)
    rows = _outbox_rows(db)
    assert _events_of(rows, WEB1) == [("fired", 1), ("resolved", 1)]
    assert _events_of(rows, WEB2)[:3] == [("fired", 1), ("resolved", 1), ("fired", 2)]
    resolved = next(n for n, _ in rows if n["series"] == WEB2 and n["event"] == "resolved")
    assert cut <= pd.Timestamp(resolved["resolved_at"]) <= cut + pd.Timedelta("5min")
    assert resolved["stale_since"] == resolved["resolved_at"]


# --------------------------------------------------------------------------- config changes
@pytest.mark.servers
def test_a_restart_applies_the_changed_config_to_restored_series(
    cpu_history, prometheus_server, tmp_path, caplog
):
    """The policy and labels of the current config apply to series restored from the state
    file (their detectors keep what they learned); a changed detector refits the query's
    restored series on its lookback, keeping their incidents and open alerts."""
    caplog.set_level(logging.INFO, logger="anomalert")
    text, event_start, _ = cpu_history
    prom = prometheus_server(text)
    state = str(tmp_path / "state.db")

    def config(hook_url: str, **query) -> object:
        data = _prom_config(prom, event_start, [{"type": "webhook", "url": hook_url}])
        data["clock"]["start"] = (event_start - pd.Timedelta("3h")).isoformat()
        data["queries"][0].update(query)
        return replace(config_from_dict(data), state=state)

    def points(url: str) -> int:
        return get_json(url + "/v1/series")["series"][0]["points"]

    with WebhookReceiver() as hook:
        never = {"k": 1, "n": 1, "resolve_after": 3, "threshold": 1e6}
        with watching(config(hook.url, policy=never)) as url:  # run 1: pages on nothing
            wait_until(lambda: points(url) >= 3, 20, what="points")
        caplog.clear()
        with watching(config(hook.url, severity="critical", labels={"team": "sre"})) as url:
            fired = hook.wait_for(1, lambda p: p["event"] == "fired", timeout=30)[0]
            assert fired["labels"]["severity"] == "critical" and fired["labels"]["team"] == "sre"
            assert fired["threshold"] < 1e6 and fired["labels"]["instance"] == "web-1"
            before = points(url)
        log = caplog.text
        assert "cpu: configuration changed since the state was saved: threshold 1000000.0 -> None; " \
               "applied to 1 restored series" in log
        assert "'severity': 'page'} -> {" in log and "'team': 'sre'" in log  # labels
        assert "refit" not in log  # same detector: it keeps what it learned
        caplog.clear()
        with watching(config(hook.url, severity="critical", labels={"team": "sre"},
                             detector="zscore", params={"window": 120})) as url:
            wait_until(lambda: points(url) > before, 20, what="points after the refit")
            assert get_json(url + "/v1/alerts")["incidents"][-1]["id"] == 1  # kept
        log = caplog.text
        assert "cpu: detector, parameters or metrics changed since the state was saved; its " \
               "restored series are refit on the last" in log
        assert f"{SERIES}: fitted on" in log
    assert [p["event"] for p in hook.posts].count("fired") == 1  # no second page


# --------------------------------------------------------------------------- serve
def _pushed(n: int, start: int = 0, spike_at: int | None = None) -> list[dict]:
    rng = np.random.default_rng(start)
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    return [
        {"timestamp": (t0 + pd.Timedelta(minutes=i)).isoformat(),
         "values": {"cpu": 95.0 if spike_at is not None and spike_at <= i < spike_at + 3
                    else 40 + rng.normal(0, 1)}}
        for i in range(start, start + n)
    ]


def _push(url: str, points: list[dict]) -> list[dict]:
    with httpx.Client(timeout=10, trust_env=False) as c:
        r = c.post(url + "/v1/score", json={"series": "api", "points": points})
    assert r.status_code == 200, r.text
    return r.json()["verdicts"]


def _serve_config(db, hook_url: str, **defaults) -> object:
    return replace(config_from_dict({
        "listen": "127.0.0.1:0", "sinks": [{"type": "webhook", "url": hook_url}], "defaults": defaults,
    }, serve=True), state=str(db))


def test_serve_monitors_pushed_series_with_the_config_defaults(tmp_path, caplog):
    """``serve`` monitors pushed series with the config's defaults (policy, labels), also
    the series restored after a restart with changed defaults."""
    caplog.set_level(logging.INFO, logger="anomalert")
    db = tmp_path / "state.db"
    with WebhookReceiver() as hook:
        with watching(_serve_config(db, hook.url, policy={"threshold": 8.0}, severity="page")) as url:
            verdicts = _push(url, _pushed(160, spike_at=150))
            assert {v["threshold"] for v in verdicts} == {8.0}
            fired = hook.wait_for(1, lambda p: p["event"] == "fired", timeout=15)[0]
            assert fired["labels"]["severity"] == "page" and fired["threshold"] == 8.0
        caplog.clear()
        with watching(_serve_config(db, hook.url, policy={"threshold": 9.0}, severity="critical")) as url:
            assert _push(url, _pushed(1, start=160))[0]["threshold"] == 9.0
        log = caplog.text
        assert "threshold 8.0 -> 9.0, applied to 1 restored pushed series" in log
        assert "labels {'severity': 'page'} -> {'severity': 'critical'}" in log
        assert "keep the detector" not in log  # same detector: nothing to say about it
        with watching(_serve_config(db, hook.url, detector="zscore")) as url:
            assert _push(url, _pushed(1, start=161))[0]["threshold"] == 6.0  # the built-in policy
        assert "1 restored pushed series (api) keep the detector they learned" in caplog.text


def test_a_pushed_series_without_pushes_goes_stale(tmp_path, caplog):
    """A pushed series with no push for its stale_after (wall clock) is stale: its open
    alert resolves once, at its last point; pushes that come back continue the series and a
    spike is a new incident."""
    caplog.set_level(logging.INFO, logger="anomalert")
    db = tmp_path / "state.db"
    with WebhookReceiver() as hook:
        with watching(_serve_config(db, hook.url, stale_after="1s")) as url:
            verdicts = _push(url, _pushed(160, spike_at=157))  # open at its last point
            assert [(i, v["event"]) for i, v in enumerate(verdicts) if v["event"]] == [(157, "fired")]
            resolved = hook.wait_for(1, lambda p: p["event"] == "resolved", timeout=15)[0]
            last = verdicts[-1]["timestamp"]
            assert (resolved["incident"], resolved["stale_since"], resolved["resolved_at"]) == (1, last, last)
            assert "no data since" in resolved["summary"]
            assert metric_value(url, "anomalert_stale", 'series="api"') == 1
            # points again: the series goes on, and a spike is a new incident (a new page)
            assert _push(url, _pushed(10, start=160))[-1]["event"] is None
            assert get_json(url + "/v1/series")["series"][0]["stale_since"] is None
            spike = _push(url, _pushed(3, start=170, spike_at=170))[0]
            assert (spike["event"], spike["incident_id"]) == ("fired", 2)
            hook.wait_for(2, lambda p: p["event"] == "resolved", timeout=15)
        with watching(_serve_config(db, hook.url, stale_after="1s")) as url:  # restored stale
            assert metric_value(url, "anomalert_stale", 'series="api"') == 1
            time.sleep(1.5)
    assert "api: stale, no point since" in caplog.text
    rows = _outbox_rows(db)
    assert _events_of(rows, "api") == [("fired", 1), ("resolved", 1), ("fired", 2), ("resolved", 2)]


# --------------------------------------------------------------------------- query size
def _fake_config(fake: FakePrometheus, **query) -> object:
    return config_from_dict({
        "prometheus": {"url": fake.url, "timeout": "2s"}, "listen": "127.0.0.1:0",
        "queries": [{"name": "cpu", "query": "cpu", "step": "60s", "lookback": "1h", **query}],
        "clock": {"start": pd.Timestamp.now(tz="UTC").floor("min").isoformat(), "minute": "0.05s"},
    })


def _polled(url: str, n: int = 10) -> None:
    first = 'series="cpu{instance=\\"fake\\"}"'
    wait_until(lambda: metric_value(url, "anomalert_points_total", first) >= n, 20, what="polls")


def test_a_query_that_returns_nothing_is_reported_once_per_change(caplog):
    caplog.set_level(logging.INFO, logger="anomalert")
    with FakePrometheus(instances=2) as fake:
        fake.start()
        with watching(_fake_config(fake)) as url:
            _polled(url)
            assert metric_value(url, "anomalert_query_series", 'query="cpu"') == 2
            assert get_json(url + "/healthz")["empty_queries"] == {}
            fake.instances = 0  # the query returns nothing
            wait_until(lambda: "cpu" in get_json(url + "/healthz")["empty_queries"], 10, what="empty")
            assert metric_value(url, "anomalert_query_series", 'query="cpu"') == 0
            assert "query cpu returns no series" in httpx.get(url + "/").text
            time.sleep(0.5)  # ten more empty polls
            fake.instances = 2
            wait_until(lambda: not get_json(url + "/healthz")["empty_queries"], 10, what="not empty")
            _polled(url, 20)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("cpu: the query returns no series" in m for m in messages) == 1
    assert sum("cpu: the query returns 2 series again" in m for m in messages) == 1


def test_a_query_over_its_max_series_is_reported_once_per_change(caplog):
    caplog.set_level(logging.INFO, logger="anomalert")
    with FakePrometheus(instances=5) as fake:
        fake.start()
        with watching(_fake_config(fake, max_series=3)) as url:
            _polled(url)
            names = sorted(s["series"] for s in get_json(url + "/v1/series")["series"])
            assert names == ['cpu{instance="fake"}', 'cpu{instance="fake-1"}', 'cpu{instance="fake-2"}']
            assert metric_value(url, "anomalert_query_series", 'query="cpu"') == 5
            assert metric_value(url, "anomalert_query_series_dropped", 'query="cpu"') == 2
            assert get_json(url + "/healthz")["dropped_series"] == {"cpu": {"dropped": 2, "returned": 5}}
            assert "more than its max_series: 2 not monitored" in httpx.get(url + "/").text
            fake.instances = 0  # the three go stale, then come back: still three, still 2 dropped
            wait_until(lambda: "cpu" in get_json(url + "/healthz")["empty_queries"], 10, what="empty")
            time.sleep(0.5)
            fake.instances = 5
            wait_until(lambda: not get_json(url + "/healthz")["empty_queries"], 10, what="not empty")
            _polled(url, 20)
            assert len(get_json(url + "/v1/series")["series"]) == 3
            assert get_json(url + "/healthz")["dropped_series"] == {"cpu": {"dropped": 2, "returned": 5}}
    messages = [r.getMessage() for r in caplog.records]
    assert sum("returns 5 series, more than its max_series (3): 2 not monitored" in m
               for m in messages) == 1
    assert not any("ignoring" in m for m in messages)


# --------------------------------------------------------------------------- state writes
def _wchar() -> int | None:
    """Bytes this process has written through write() so far (Linux /proc/self/io)."""
    try:
        with open("/proc/self/io") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("wchar:"))
    except (OSError, StopIteration):
        return None


class _Clock:
    def __init__(self, t: pd.Timestamp) -> None:
        self.t = t

    def now(self) -> pd.Timestamp:
        return self.t


def test_a_checkpoint_writes_what_changed_not_every_full_state(tmp_path):
    """Checkpoints used to rewrite every series' whole pickled state at every poll (0.4-1.5 MB
    each for ``default``: 501 series at a 15 s step wrote ~66 MB/s). Between two full states
    (``full_checkpoint``) a checkpoint writes a series' new points and its alert state: bytes
    counted by the OS for the state DB's writes (WAL pages and their fsyncs included)."""
    import pickle

    from anomalert.alerting.store import Store
    from anomalert.server.runtime import ServiceState
    from anomalert.server.watch import PrometheusSource, Watcher
    from anomalert.sources.prometheus import PrometheusClient

    if _wchar() is None:
        pytest.skip("no /proc/self/io to count the bytes written")
    n = 20
    with FakePrometheus(instances=n) as fake:
        fake.start()
        cfg = config_from_dict({
            "prometheus": {"url": fake.url},
            "queries": [{"name": "cpu", "query": "cpu", "step": "60s", "lookback": "6h"}],
        })
        state = ServiceState(store=Store(tmp_path / "state.db"))
        clock = _Clock(pd.Timestamp("2025-01-06", tz="UTC"))
        source = PrometheusSource(PrometheusClient(fake.url, timeout=5.0, retries=0))
        watcher = Watcher(state, source, cfg.queries, clock)
        watcher.run_once()  # backfill and fit every series, and checkpoint them in full
        assert len(state.series) == n and not state.health.errors
        written = []
        for _ in range(5):  # five polls of one new point a series, as the daemon runs them
            clock.t += pd.Timedelta("60s")
            watcher.run_once()
            before = _wchar()
            state.checkpoint()
            written.append(_wchar() - before)
        assert [rt.points for rt in state.series.values()] == [5] * n
        full = len(pickle.dumps(next(iter(state.series.values())), protocol=5))
        state.store.close()
    per_series = max(written) / n
    print(f"\ncheckpoint of {n} series after a poll: {[w // 1024 for w in written]} kB written; "
          f"{per_series / 1024:.1f} kB a series (its full state: {full / 1024:.0f} kB)")
    assert per_series < 16_000, (written, full)


def test_a_refit_series_is_written_in_full_before_its_next_point(tmp_path):
    """A restored series whose query's detector changed is refit by the backfill, and its
    next checkpoint (the backfill's, before any live point) writes it in full: the state file
    holds the new detector, not the old one with a journal of points the new one scored. A
    restart then restores the new detector and has nothing to refit."""
    import pickle

    from anomalert.alerting.store import Store
    from anomalert.detectors import make
    from anomalert.server.restore import same_detector
    from anomalert.server.runtime import ServiceState
    from anomalert.server.watch import PrometheusSource, Watcher
    from anomalert.sources.prometheus import PrometheusClient

    path = tmp_path / "state.db"
    with FakePrometheus(instances=2) as fake:
        fake.start()
        source = PrometheusSource(PrometheusClient(fake.url, timeout=5.0, retries=0))

        def queries(**query) -> tuple:
            return config_from_dict({
                "prometheus": {"url": fake.url},
                "queries": [{"name": "cpu", "query": "cpu", "step": "60s", "lookback": "6h",
                             **query}],
            }).queries

        clock = _Clock(pd.Timestamp("2025-01-06", tz="UTC"))
        state = ServiceState(store=Store(path))
        watcher = Watcher(state, source, queries(), clock)
        watcher.run_once()  # backfill: fitted, written in full
        clock.t += pd.Timedelta("60s")
        watcher.run_once()
        state.checkpoint()  # a journal point over the full state
        zscore = {"detector": "zscore", "params": {"window": 120}}
        restarted = ServiceState(store=Store(path))
        assert restarted.restore() == 2
        watcher = Watcher(restarted, source, queries(**zscore), clock)
        watcher.restore()  # the detector changed: refit by the backfill
        clock.t += pd.Timedelta("60s")
        watcher.run_once()
    wanted = make("zscore", window=120)
    assert all(same_detector(rt.monitor.detector, wanted) for rt in restarted.series.values())
    records = Store(path).load_series()  # what a kill -9 now leaves
    assert len(records) == 2
    for rec in records:
        assert same_detector(pickle.loads(rec.state).monitor.detector, wanted), rec.name
        assert rec.journal == ()
    again = ServiceState(store=Store(path))
    assert again.restore() == 2
    assert Watcher(again, source, queries(**zscore), clock).restore() is None
    assert not any("refit" in note for note in again.notes)


def test_sigkill_after_an_old_full_state_catches_up_and_pages_once(tmp_path):
    """The full state is written once (after the backfill; ``full_checkpoint`` is an hour),
    then every 0.2 s only the new points and the alert state. After ``kill -9`` mid-incident
    the restart replays those points onto the old full state, re-reads the rest from the
    source, scores every minute exactly once, and resolves the incident it paged without
    paging it again."""
    start = pd.Timestamp.now(tz="UTC").floor("min")
    state_db = tmp_path / "state.db"
    with WebhookReceiver() as hook:
        config = tmp_path / "watch.yaml"
        config.write_text(yaml.safe_dump({
            "listen": "127.0.0.1:0",
            "sinks": [{"type": "webhook", "url": hook.url, "name": "hook"}],
            "simulate": {"scenarios": ["cpu"], "history": "1d", "lead": "5m"},
            "clock": {"start": start.isoformat(), "minute": "0.1s"},
            "checkpoint": "0.2s",
            "full_checkpoint": "1h",
            "retry": {"initial": "0.1s", "max": "0.5s"},
        }))
        proc = WatchProcess(["--config", str(config), "--state", str(state_db)], tmp_path)
        try:
            proc.start()
            hook.wait_for(1, lambda p: p["event"] == "fired", timeout=30)
            time.sleep(0.6)  # a few checkpoints after the page
            proc.kill()
            db = sqlite3.connect(state_db)
            full_written = db.execute("SELECT updated_at FROM series").fetchall()
            journal = db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
            alert = db.execute("SELECT COUNT(*) FROM alert_state").fetchone()[0]
            db.close()
            assert len(full_written) == 1 and journal > 5 and alert == 1
            url = proc.start()
            hook.wait_for(1, lambda p: p["event"] == "resolved", timeout=30)
            s = get_json(url + "/v1/series")["series"][0]
            log = proc.log.read_text()
        finally:
            proc.stop()
        assert [p["event"] for p in hook.posts] == ["fired", "resolved"], hook.posts
    assert f"replayed {journal} journaled point(s)" in log
    span = (pd.Timestamp(s["last"]["timestamp"]) - pd.Timestamp(s["first_point"])) / pd.Timedelta("1min")
    assert s["points"] == span + 1  # every minute scored once: none lost, none twice


# --------------------------------------------------------------------------- sinks' health
def test_a_notification_given_up_degrades_health_with_the_reason(tmp_path):
    """A sink refusing a notification for good (a 4xx) loses that page: /healthz says
    ``degraded`` with the status and body while the sink's latest delivery failed, counts the
    notification given up, /metrics and the status page too; once a delivery goes through
    the sink is ok again and the lost notification stays counted."""
    refusal = (422, b'{"error": "unknown field labels.series"}')
    with WebhookReceiver(refuse=[refusal]) as hook:
        cfg = config_from_dict(
            {"sinks": [{"type": "webhook", "url": hook.url, "name": "hook"}],
             "listen": "127.0.0.1:0", "simulate": {"scenarios": ["lb"], "history": "1d"},
             "clock": {"start": pd.Timestamp.now(tz="UTC").floor("min").isoformat(),
                       "minute": "0.05s"},
             "retry": {"initial": "0.1s", "max": "0.5s"}},
            simulate=True,
        )
        with watching(replace(cfg, state=str(tmp_path / "state.db"))) as url:
            hook.wait_for(1, lambda p: p["event"] == "fired", timeout=30)
            health = wait_until(lambda: (h := get_json(url + "/healthz"))["sinks"]["hook"]["dead"]
                                and h, 10, what="the refused notification given up")
            sink = health["sinks"]["hook"]
            assert health["status"] == "degraded" and health["errors"] == {}, health
            assert health["outbox_pending"] == 0  # nothing pending: it is dead, not queued
            assert sink["status"] == "failing" and "HTTP 422" in sink["error"], sink
            assert "unknown field labels.series" in sink["error"] and sink["notification"].startswith("lb|1|fired|")
            assert sink["dead"] == 1 and "HTTP 422" in sink["last_dead"]
            assert metric_value(url, "anomalert_notifications_dead_total", 'sink="hook"') == 1
            assert metric_value(url, "anomalert_sink_failing", 'sink="hook"') == 1
            page = httpx.get(url + "/").text
            assert "status <b>degraded</b>" in page and "HTTP 422" in page and "given up" in page
            hook.wait_for(1, lambda p: p["event"] == "resolved", timeout=30)
            health = wait_until(lambda: (h := get_json(url + "/healthz"))["status"] == "ok" and h,
                                10, what="the sink delivering again")
            assert health["sinks"]["hook"] == {
                "status": "ok", "error": None, "notification": None, "attempts": 0, "dead": 1,
                "last_dead": sink["last_dead"]}
            assert metric_value(url, "anomalert_sink_failing", 'sink="hook"') == 0
            assert metric_value(url, "anomalert_notifications_dead_total", 'sink="hook"') == 1


# --------------------------------------------------------------------------- /metrics scraped
@pytest.mark.servers
def test_prometheus_scrapes_the_series_labels_without_clashes(cpu_history, prometheus_server, tmp_path):
    """A real Prometheus scraping /metrics: each series' own labels are labels of its samples,
    its ``instance`` and ``job`` exported as ``exported_instance`` / ``exported_job`` (the
    scrape's own stay the target's), and no ``_created`` series."""
    from servers import run_prometheus

    text, event_start, _ = cpu_history
    prom = prometheus_server(text)
    with watching(config_from_dict(_prom_config(prom, event_start, []))) as url:
        wait_until(lambda: get_json(url + "/v1/series")["series"][0]["points"], 10, what="points")
        with run_prometheus("", tmp_path / "scraper", scrape=[url]) as scraper:

            def query(expr: str) -> list:
                with httpx.Client(timeout=5.0, trust_env=False) as c:
                    return c.get(scraper + "/api/v1/query", params={"query": expr}).json()["data"]["result"]

            scores = wait_until(lambda: query("anomalert_anomaly_score"), 30, interval=0.5,
                                what="the first scrape")
            assert query('{__name__=~"anomalert_.+_created"}') == []
            assert query("anomalert_points_total") and query("anomalert_deviation")
    assert scores[0]["metric"] == {
        "__name__": "anomalert_anomaly_score", "instance": url.split("://")[1], "job": "anomalert",
        "exported_instance": "web-1", "exported_job": "node", "series": SERIES}


# --------------------------------------------------------------------------- one per state file
def test_a_second_watcher_on_the_same_state_file_refuses_to_start(tmp_path):
    """Two services on one state file would both page: the second refuses to start, in one
    line naming the first one's pid; the lock goes with its process, even by kill -9."""
    import os
    import subprocess
    import sys

    from watch_helpers import SRC

    state_db = tmp_path / "state.db"
    args = ["--simulate", "--listen", "127.0.0.1:0", "--state", str(state_db)]
    first = WatchProcess(args, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        first.start()
        assert first.proc is not None
        second = subprocess.run([sys.executable, "-m", "anomalert.cli", "watch", *args],
                                capture_output=True, env=env, cwd=tmp_path, timeout=60)
        err = second.stderr.decode().strip()
        assert second.returncode == 2 and "\n" not in err, err
        assert err.startswith(f"anomalert: error: {state_db}: in use by another anomalert "
                              f"(pid {first.proc.pid}"), err
        first.kill()  # the OS drops the lock of a killed process
        again = WatchProcess(args, tmp_path)
        try:
            again.start()
        finally:
            again.stop()
    finally:
        first.stop()
