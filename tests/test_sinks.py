"""Sinks, the SQLite store and the outbox, against a real Alertmanager where it matters."""

from __future__ import annotations

import sqlite3
import time

import pytest
from servers import WebhookReceiver
from watch_helpers import SwitchableProxy, wait_until

from anomalert.alerting.outbox import Dispatcher
from anomalert.alerting.sinks import (
    AlertmanagerSink,
    DeliveryError,
    LogSink,
    Notification,
    WebhookSink,
    make_sink,
)
from anomalert.alerting.store import Store, StoreError
from anomalert.errors import ParameterError

NOW = 1_735_725_600.0  # 2025-01-01T10:00:00Z


def note(event: str = "fired", incident: int = 1, series: str = "cpu", **kw) -> Notification:
    at = "2025-01-01T10:00:00+00:00" if event == "fired" else "2025-01-01T10:20:00+00:00"
    base = dict(
        id=f"{series}|{incident}|{event}|{at}", event=event, series=series, incident=incident,
        at=at, start="2025-01-01T10:00:00+00:00", end="2025-01-01T10:15:00+00:00",
        resolved_at=at if event == "resolved" else None, score=9.0, threshold=6.0,
        peak_score=12.0, explanation="cpu=95 is 9.0σ above baseline 40 (±6.1)", metrics=["cpu"],
        labels={"alertname": "AnomalertAnomaly", "series": series, "severity": "page"},
        url="http://127.0.0.1:9108/#incident-1-cpu", created_at=NOW, fired_wall=NOW,
    )
    base.update(kw)
    return Notification(**base)


# --------------------------------------------------------------------------- store
def test_store_outbox_is_idempotent_ordered_and_durable(tmp_path):
    path = tmp_path / "state.db"
    store = Store(path)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    a, b = note("fired"), note("resolved")
    assert store.enqueue(a.id, ["am", "hook"], a.to_dict()) == 2
    assert store.enqueue(a.id, ["am", "hook"], a.to_dict()) == 0  # a replay adds nothing
    assert store.enqueue(b.id, ["am"], b.to_dict()) == 1
    head = store.head("am")
    assert head is not None and head.notification_id == a.id
    store.mark_failed(head.seq, "down", retry_at=time.time() + 60)
    assert store.head("am").seq == head.seq  # a failed head blocks the later rows (order)
    store.mark_delivered(head.seq)
    assert store.head("am").notification_id == b.id
    assert store.is_delivered(a.id, "am") and not store.is_delivered(a.id, "hook")
    store.close()
    # another process (a restart) sees exactly the same outbox
    again = Store(path)
    assert again.pending_count() == 2 and again.pending_count(["am"]) == 1
    assert again.enqueue(a.id, ["am"], a.to_dict()) == 0  # delivered ids stay known
    row = again.head("hook")
    again.mark_failed(row.seq, "refused", retry_at=None)
    assert again.outbox(status="dead")[0].last_error == "refused"
    assert again.prune(time.time() + 1) == 2  # delivered + dead rows go, pending stay
    assert again.pending_count() == 1


def test_store_checkpoint_and_errors(tmp_path):
    store = Store(tmp_path / "s.db")
    inc = {"series": "cpu", "id": 1, "start": "2025-01-01T10:00:00+00:00", "resolved_at": None}
    store.checkpoint([("cpu", "watch", b"\x00state", "2025-01-01T10:00:00+00:00")], [inc], {"clock": "x"})
    assert store.load_series()[0].state == b"\x00state"
    assert store.incidents()[0]["id"] == 1 and store.get_meta("clock") == "x"
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "nope" / "s.db")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="cannot open"):
        Store(bad)
    db = sqlite3.connect(tmp_path / "s.db")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    upgraded = Store(tmp_path / "s.db")  # version 1 lacks only tables version 2 added
    assert upgraded.get_meta("schema_version") == "2" and upgraded.load_series()[0].journal == ()
    upgraded.close()
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(tmp_path / "s.db")


# --------------------------------------------------------------------------- payloads
def test_alertmanager_payload():
    sink = AlertmanagerSink("http://127.0.0.1:9", ttl=120)
    fired = sink.payload(note("fired"), now=NOW + 30)[0]
    assert fired["labels"] == {"alertname": "AnomalertAnomaly", "series": "cpu", "severity": "page"}
    assert fired["annotations"]["description"].startswith("cpu=95 is 9.0σ above")
    assert "score 12 above threshold 6" in fired["annotations"]["summary"]
    assert fired["startsAt"] == "2025-01-01T10:00:00Z"
    assert fired["endsAt"] == "2025-01-01T10:02:30Z"  # now + ttl
    assert fired["generatorURL"] == "http://127.0.0.1:9108/#incident-1-cpu"
    resolved = sink.payload(note("resolved"), now=NOW + 3600)[0]
    assert resolved["endsAt"] == "2025-01-01T10:20:00Z"  # when the data resolved
    assert resolved["startsAt"] == fired["startsAt"]
    # data time ahead of the wall (a simulated clock): starts at the first notification
    future = note("fired", start="2030-01-01T00:00:00+00:00")
    assert sink.payload(future, now=NOW)[0]["startsAt"] == "2025-01-01T10:00:00Z"
    late = note("resolved", start="2030-01-01T00:00:00+00:00", resolved_at="2030-01-01T01:00:00+00:00")
    p = sink.payload(late, now=NOW + 10)[0]
    assert p["startsAt"] <= p["endsAt"] == "2025-01-01T10:00:10Z"  # never ends before it starts


def test_make_sink_validates():
    assert isinstance(make_sink({"type": "log"}), LogSink)
    s = make_sink({"type": "webhook", "url": "http://127.0.0.1:1/x", "headers": {"X-A": 1}}, 2)
    assert isinstance(s, WebhookSink) and s.name == "webhook-2" and s.headers == {"X-A": "1"}
    for spec, match in [
        ({"type": "pager"}, "must be one of"),
        ({"type": "webhook"}, "http"),
        ({"type": "webhook", "url": "ftp://x"}, "http"),
        ({"type": "alertmanager", "url": "http://x", "ttl": -1}, "ttl"),
        ({"type": "webhook", "url": "http://x", "ttl": 5}, "unknown key"),
        ({"type": "webhook", "url": "http://x", "timeout": "soon"}, "timeout"),
        ("webhook", "mapping"),
    ]:
        with pytest.raises(ParameterError, match=match):
            make_sink(spec)  # type: ignore[arg-type]


def test_webhook_sink_statuses():
    with WebhookReceiver() as hook:
        sink = WebhookSink(hook.url)
        sink.send(note("fired"), NOW)
        body = hook.wait_for(1, timeout=5)[0]
        assert body["id"] == note("fired").id and body["status"] == "firing"
        assert body["description"].startswith("cpu=95")
        sink.close()
    dead = WebhookSink("http://127.0.0.1:9/hook", timeout=0.5)
    with pytest.raises(DeliveryError) as err:
        dead.send(note(), NOW)
    assert err.value.retryable


# --------------------------------------------------------------------------- outbox
def test_outbox_retries_until_the_webhook_is_back_then_delivers_each_once(tmp_path):
    store = Store(tmp_path / "s.db")
    results: list[tuple[str, bool]] = []
    with WebhookReceiver() as hook, SwitchableProxy(hook.url.rsplit("/", 1)[0]) as proxy:
        sink = WebhookSink(proxy.url + "/hook", name="hook", timeout=1.0)
        d = Dispatcher(store, [sink], initial_backoff=0.05, max_backoff=0.2,
                       on_result=lambda s, ok: results.append((s, ok))).start()
        try:
            notes = [note("fired", 1), note("resolved", 1), note("fired", 2)]
            for n in notes:
                store.enqueue(n.id, ["hook"], n.to_dict())
            d.wake()
            wait_until(lambda: sum(not ok for _, ok in results) >= 3, 10, what="failed attempts")
            assert hook.posts == [] and store.pending_count() == 3
            proxy.start()
            posts = hook.wait_for(3, timeout=10)
            wait_until(lambda: store.pending_count() == 0, 5, what="outbox drained")
            time.sleep(0.3)  # nothing else arrives later
            assert [p["id"] for p in hook.posts] == [n.id for n in notes]  # once each, in order
            assert posts[0]["status"] == "firing" and posts[1]["status"] == "resolved"
            assert sum(ok for _, ok in results) == 3
        finally:
            d.stop()


def test_outbox_gives_up_on_a_permanent_refusal_and_moves_on(tmp_path):
    store = Store(tmp_path / "s.db")

    class Picky:
        name, refreshes, sent = "picky", False, []

        def send(self, n: Notification, now: float) -> None:
            if n.incident == 1:
                raise DeliveryError("400 bad label", retryable=False)
            self.sent.append(n.id)

        def close(self) -> None:
            pass

    sink = Picky()
    for n in (note("fired", 1), note("fired", 2)):
        store.enqueue(n.id, ["picky"], n.to_dict())
    Dispatcher(store, [sink]).deliver_now()
    assert sink.sent == [note("fired", 2).id]
    assert [r.status for r in store.outbox()] == ["dead", "delivered"]


# --------------------------------------------------------------------------- real Alertmanager
def _alert_posts(hook: WebhookReceiver, status: str) -> list:
    return [p for p in hook.posts if p.get("status") == status]


@pytest.mark.servers
def test_alertmanager_fires_and_resolves_through_a_real_alertmanager(alertmanager_server):
    with WebhookReceiver() as hook:
        am = alertmanager_server(hook.url)
        sink = AlertmanagerSink(am)
        sink.send(note("fired"), time.time())
        firing = hook.wait_for(1, lambda p: p.get("status") == "firing", timeout=10)[0]
        alert = firing["alerts"][0]
        assert alert["labels"]["series"] == "cpu" and alert["labels"]["severity"] == "page"
        assert alert["annotations"]["description"].startswith("cpu=95 is 9.0σ")
        assert alert["generatorURL"] == "http://127.0.0.1:9108/#incident-1-cpu"
        sink.send(note("fired"), time.time())  # a refresh: no new page
        sink.send(note("resolved"), time.time())
        hook.wait_for(1, lambda p: p.get("status") == "resolved", timeout=10)
        time.sleep(0.3)
        assert len(_alert_posts(hook, "firing")) == 1 and len(_alert_posts(hook, "resolved")) == 1
        with pytest.raises(DeliveryError) as err:  # Alertmanager refuses a broken alert for good
            sink.send(note("resolved", resolved_at="2024-01-01T00:00:00+00:00",
                           start="2025-01-01T10:00:00+00:00", fired_wall=None,
                           labels={"alertname": ""}), time.time())
        assert not err.value.retryable
        sink.close()


@pytest.mark.servers
def test_alertmanager_down_then_back_each_alert_delivered_once(alertmanager_server, tmp_path):
    store = Store(tmp_path / "s.db")
    with WebhookReceiver() as hook, SwitchableProxy() as proxy:
        sink = AlertmanagerSink(proxy.url, name="am", timeout=1.0)
        d = Dispatcher(store, [sink], initial_backoff=0.05, max_backoff=0.3).start()
        try:
            notes = [note("fired", 1, "web"), note("fired", 2, "db"), note("resolved", 1, "web")]
            for n in notes:
                store.enqueue(n.id, ["am"], n.to_dict())
            d.wake()
            wait_until(lambda: store.head("am").attempts >= 2, 10, what="retries while down")
            proxy.target = alertmanager_server(hook.url, group_by=["series"])
            proxy.start()
            wait_until(lambda: store.pending_count() == 0, 10, what="outbox drained")
            hook.wait_for(1, lambda p: p.get("status") == "resolved", timeout=10)
            hook.wait_for(1, lambda p: p["groupLabels"].get("series") == "db", timeout=10)
            time.sleep(0.3)
            posted = proxy.posts("/api/v2/alerts")
            assert [(p[0]["labels"]["series"], p[0]["endsAt"] > p[0]["startsAt"]) for p in posted] == [
                ("web", True), ("db", True), ("web", True)]  # exactly once each, in order
            web = [p for p in hook.posts if p["groupLabels"].get("series") == "web"]
            assert [p["status"] for p in web][-1] == "resolved"
        finally:
            d.stop()


def test_a_refresh_taken_before_the_resolution_does_not_raise_the_alert_again(tmp_path):
    store = Store(tmp_path / "s.db")

    class Recorder:
        name, refreshes = "am", True

        def __init__(self) -> None:
            self.sent: list[str] = []

        def send(self, n: Notification, now: float) -> None:
            self.sent.append(n.event)

        def close(self) -> None:
            pass

    sink = Recorder()
    d = Dispatcher(store, [sink])
    fired, other = note("fired", 1), note("fired", 2)
    for n in (fired, other):
        store.enqueue(n.id, ["am"], n.to_dict())
    d.deliver_now()
    d.refresh([fired, other])  # the runtime's list of open alerts, taken now ...
    store.enqueue(note("resolved", 1).id, ["am"], note("resolved", 1).to_dict())  # ... then 1 resolves
    d.deliver_now()  # delivers the resolution, then refreshes
    assert sink.sent == ["fired", "fired", "resolved", "fired"]  # only incident 2 re-posted
