"""``anomalert watch``: config, simulator, and the loop against real Prometheus / Alertmanager.

Real-server tests start Prometheus (backfilled with a realistic CPU scenario through
``promtool``) and Alertmanager on 127.0.0.1 through the fixtures of ``tests/conftest.py``.
The watch loop runs on a *replay clock* (``clock: {start, minute}``): the backfilled past is
streamed at one simulated minute per few hundredths of a second, so an incident and its
resolution take about a second of wall time.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace

import httpx
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
        ({**base, "colour": "blue"}, "unknown key(s) ['colour']"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "step": "0.001s"}]},
         "queries[0].step: 3 days 00:00:00 of lookback"),
        ({**base, "alert_labels": {"bad-label": "x"}}, "alert_labels.bad-label: label names"),
        ({**base, "queries": [{"name": "cpu", "query": "up", "labels": {"team": ["a", "b"]}}]},
         "queries[0].labels.team: must be a text value"),
        ({**base, "sinks": [{"type": "alertmanager", "url": "http://127.0.0.1:9093", "ttl": "20s"}],
          "resend": "60s"}, "resend: 60s must be shorter than sink 'alertmanager''s ttl (20s)"),
        ({**base, "sinks": [{"type": "webhook", "url": "http://127.0.0.1:1", "timeout": "soon"}]},
         "sinks[0].timeout"),
        ({"simulate": {"days": 10}}, "simulate.days"),
        ({"simulate": {"scenarios": ["disk"]}}, "simulate.scenarios"),
        ([1, 2], "must be a mapping"),
    ]
    for data, needle in cases:
        with pytest.raises(ConfigError) as err:
            config_from_dict(data, source="w.yaml")
        assert str(err.value).startswith("w.yaml") and needle in str(err.value), (data, err.value)
    path = tmp_path / "w.yaml"
    path.write_text("queries: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    cfg = config_from_dict({**base, "defaults": {"step": "30s", "severity": "page"}})
    assert cfg.queries[0].step == pd.Timedelta("30s") and cfg.queries[0].labels == {"severity": "page"}


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
            fired = hook.wait_for(1, lambda p: p["event"] == "fired", timeout=30)[0]
            wall = time.monotonic() - t0
            delay = pd.Timestamp(fired["at"]) - (start + LEAD)
            assert pd.Timedelta(0) <= delay <= pd.Timedelta("5min"), fired
            assert fired["series"] == "lb" and fired["labels"]["alertname"] == "AnomalertAnomaly"
            assert "rate" in fired["description"]  # explanation names the metric that moved
            assert metric_value(url, "anomalert_anomaly_score", 'series="lb"') is not None
            assert metric_value(url, "anomalert_simulated_anomaly", 'series="lb"') is not None
            assert metric_value(url, "anomalert_alerts_sent_total", 'sink="webhook"') >= 1
            assert get_json(url + "/healthz")["status"] == "ok"
            hook.wait_for(1, lambda p: p["event"] == "resolved", timeout=30)
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
    # sent at the first point no alert could re-open it: the default hour (60 points) later
    assert pd.Timestamp(rows[1][0].split("|")[3]) - resolved_at == pd.Timedelta("61min")
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
    with FakePrometheus(series=n) as fake:
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
