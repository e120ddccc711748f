"""Shared live state of the service: monitored series, metrics, health, notifications.

:class:`ServiceState` is what the HTTP app (:mod:`anomalert.server.app`) and the watch loop
(:mod:`anomalert.server.watch`) share: the :class:`SeriesRuntime` of every series (its
:class:`~anomalert.monitor.Monitor`, latest verdict and recent points for charts), the
Prometheus metrics in a per-state registry, the loop's health, and the path from a verdict
to durable notifications (the store's outbox). One re-entrant lock guards it all.

Notification ids are deterministic (series, incident, event, data timestamp), so replaying
points after a crash produces the same ids and the outbox ignores the repeats. An incident's
``resolved`` is sent only once its Monitor would no longer re-open it (the policy's cooldown
after its resolution, :meth:`~anomalert.monitor.Monitor.would_reopen`), so a flapping
incident pages once; until then it stays notified firing (``SeriesRuntime.fired``).

A series that gets no point for its ``stale_after`` is *stale* (:meth:`ServiceState.mark_stale`):
its open incident is resolved at its last point and the resolution sent at once (also one
pending in the cooldown); points that come back continue the series, and an alert then opens a
new incident. Watched series go stale in data time (the watch loop checks after each poll),
pushed ones in wall-clock time (:meth:`ServiceState.expire_pushed`). A stale series with no
point for its ``forget_after`` is *forgotten* (:meth:`ServiceState.forget`, when and which:
:mod:`anomalert.server.forget`): removed from the service and, at the next checkpoint, from
the state file; its notifications already in the outbox are delivered all the same.

Examples
--------
>>> import pandas as pd
>>> state = ServiceState()
>>> rt = state.create_series("api", ["latency"], kind="push")
>>> v = state.observe(rt, rt.monitor.check("2025-01-01T00:00Z", {"latency": 10.0}))
>>> rt.last_ts.isoformat(), rt.points
('2025-01-01T00:00:00+00:00', 1)
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd

from anomalert.alerting import AlertPolicy
from anomalert.alerting.sinks import Notification
from anomalert.alerting.store import SinkHealth, Store
from anomalert.detectors import make
from anomalert.monitor import Monitor, Verdict
from anomalert.server.health import Health
from anomalert.server.labels import label_name
from anomalert.server.persist import Checkpointer
from anomalert.server.series import (
    CHARTS_KEPT,
    HISTORY_POINTS,
    SeriesLocks,
    SeriesRuntime,
    _f,
    _num,
)
from anomalert.server.staleness import default_stale_after
from anomalert.server.telemetry import Metrics

__all__ = ["HISTORY_POINTS", "Health", "SeriesRuntime", "ServiceState"]

log = logging.getLogger("anomalert.server.runtime")


class ServiceState:
    """Everything the service shares between its HTTP handlers and the watch loop.

    Parameters
    ----------
    store
        Durable state and outbox; None keeps state in memory and sends no notifications.
    sinks
        Names of the sinks every notification goes to (the outbox keys).
    token
        Bearer token required by ``POST /v1/score`` (None: open).
    max_body, max_points, max_series
        Limits of ``POST /v1/score``: request bytes, points per request, pushed series.
    detector, detector_params, policy, push_labels
        How a series first seen by ``POST /v1/score`` is monitored (it learns online), and
        its alert labels; the policy and labels also apply to pushed series restored.
    push_stale_after
        Wall-clock time without a push after which a pushed series is stale (None: five of
        its steps, at least five minutes, see :func:`~anomalert.server.staleness.default_stale_after`).
    push_forget_after
        Wall-clock time without a push after which a stale pushed series is forgotten (None:
        the default of :func:`~anomalert.server.staleness.forget_after_for`; 0: never).
    base_url
        External URL of the service, for the ``generatorURL`` of alerts.
    alert_labels
        Labels added to every alert (``alertname`` and ``severity`` have defaults).
    full_checkpoint
        Seconds between two writes of a series' full state; the checkpoints in between
        write only its new points and alert state (see :mod:`anomalert.server.persist`).
    """

    def __init__(
        self,
        *,
        store: Store | None = None,
        sinks: Sequence[str] = (),
        token: str | None = None,
        max_body: int = 1 << 20,
        max_points: int = 10_000,
        max_series: int = 1000,
        detector: str = "default",
        detector_params: dict[str, Any] | None = None,
        policy: AlertPolicy | None = None,
        base_url: str = "http://127.0.0.1:9108",
        alert_labels: dict[str, str] | None = None,
        title: str = "anomalert",
        push_labels: dict[str, str] | None = None,
        push_stale_after: pd.Timedelta | None = None,
        push_forget_after: pd.Timedelta | None = None,
        full_checkpoint: float = 1800.0,
    ) -> None:
        self.lock = threading.RLock()
        self.store = store
        self.sinks = list(sinks)
        self.token = token
        self.max_body = max_body
        self.max_points = max_points
        self.max_series = max_series
        self.detector = detector
        self.detector_params = dict(detector_params or {})
        self.policy = policy or AlertPolicy()
        self.push_labels = dict(push_labels or {})
        self.push_stale_after = push_stale_after
        self.push_forget_after = push_forget_after
        self.base_url = base_url.rstrip("/")
        self.alert_labels = {"alertname": "AnomalertAnomaly", "severity": "warning"}
        self.alert_labels.update(alert_labels or {})
        self.title = title
        self.series: dict[str, SeriesRuntime] = {}
        self.health = Health()
        self.metrics = Metrics()
        self.metrics.track(self)
        self.started = time.time()
        self.notes: deque[str] = deque(maxlen=20)  # shown on the status page
        self.wake: Callable[[], None] = lambda: None  # the dispatcher's, once there is one
        self._dirty: set[str] = set()
        self._locks = SeriesLocks()
        self.saver = Checkpointer(store, full_checkpoint) if store is not None else None
        if store is not None:
            names = self.sinks
            self.metrics.outbox_pending.set_function(lambda: store.pending_count(names))
        make(detector, **self.detector_params)._validate_params()

    # -- series ------------------------------------------------------------------------
    def series_lock(self, name: str) -> AbstractContextManager[None]:
        """Hold the lock that serialises the points of one series (while a batch is scored,
        its state is checkpointed, it goes stale or is forgotten)."""
        return self._locks.hold(name)

    def create_series(
        self,
        name: str,
        columns: Sequence[str] = (),
        *,
        kind: str = "push",
        monitor: Monitor | None = None,
        group: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> SeriesRuntime:
        """Register a series; without ``monitor`` it gets the default detector, learning online."""
        if monitor is None:
            det = make(self.detector, **self.detector_params)
            if columns:
                det._start(list(columns))
            monitor = Monitor(det, self.policy, series=name)
        if labels is None and kind == "push":
            labels = self.push_labels
        rt = SeriesRuntime(name, monitor, kind=kind, group=group, labels=dict(labels or {}))
        with self.lock:
            self.series[name] = rt
            self._dirty.add(name)
        return rt

    def write_in_full(self, name: str) -> None:
        """Save the series ``name`` in full at the next checkpoint (after a refit: see
        :meth:`~anomalert.server.persist.Checkpointer.write_in_full`)."""
        with self.lock:
            self._dirty.add(name)
        if self.saver is not None:
            self.saver.write_in_full(name)

    def observe(
        self, rt: SeriesRuntime, verdict: Verdict, values: Mapping[str, Any] | None = None,
        *, replay: bool = False,
    ) -> list[Notification]:
        """Record a verdict of ``rt`` (and the point's ``values``, as given to its Monitor):
        history, alerts. ``replay``: a point scored before a restart (its notifications
        were written then; the restored alert state follows)."""
        now = time.time()
        score, threshold = _f(verdict.score), _f(verdict.threshold)
        with self.lock:
            rt.last, rt.last_ts, rt.last_wall = verdict, verdict.timestamp, now
            if rt.first_ts is None:
                rt.first_ts = verdict.timestamp
            if rt.stale_since is not None:
                log.info("%s: points again at %s (stale since %s)", rt.name,
                         verdict.timestamp.isoformat(), rt.stale_since.isoformat())
                rt.stale_since = None
            rt.points += 1
            self._dirty.add(rt.name)
            if self.saver is not None and not replay:
                self.saver.point(rt.name, verdict.timestamp, values)
            row = tuple(_f(_num(values.get(c))) for c in rt.columns) if values else ()
            rt.history.append((verdict.timestamp.timestamp(), score, threshold, row))
            events: list[str] = []
            iid = verdict.incident_id
            if replay:  # its notifications were made when it was first scored
                pass
            elif verdict.is_alert and iid is not None and rt.alerting != iid:
                if rt.alerting is not None:  # a new incident while one is still notified open
                    events.append("resolved")
                events.append("fired")
            elif rt.alerting is not None and rt.resolution_due():
                events.append("resolved")
            out = [
                self._notification(rt, e, verdict.timestamp, verdict.score, verdict.incident_id, now)
                for e in events
            ]
            det = rt.monitor.detector
            rt.learning_flagged = det.is_fitted and det._learns_flagged(
                int(verdict.timestamp.value))
        self._send(rt, out)
        return out

    def mark_stale(self, rt: SeriesRuntime, after: pd.Timedelta) -> list[Notification]:
        """``rt`` got no point for ``after`` since its last one: mark it stale, resolve its
        open incident at that last point and send the resolution of the incident notified
        firing, if any (also one still pending in its cooldown), once.

        The resolution's ``at`` (and so its id) is the last point's time + ``after``, the
        same whenever and however often this runs after a restart or a replay: the outbox
        keeps one. Returns the notifications made.
        """
        now = time.time()
        with self.lock:
            if rt.stale_since is not None or rt.last_ts is None:
                return []
            last = rt.last_ts
            rt.stale_since = last
            rt.monitor.expire(last)
            self._dirty.add(rt.name)
            out = []
            if rt.alerting is not None:
                out.append(self._notification(rt, "resolved", last + after, None, None, now))
        log.info("%s: stale, no point since %s (stale_after %s)%s", rt.name, last.isoformat(),
                 _duration(after), f"; incident {out[0].incident} resolved" if out else "")
        self._send(rt, out)
        return out

    def push_stale_after_for(self, rt: SeriesRuntime) -> pd.Timedelta:
        """The stale_after of a pushed series: the configured one, else the default of its
        steps (see :func:`~anomalert.server.staleness.default_stale_after`)."""
        return self.push_stale_after or default_stale_after(rt.monitor._step_seconds())

    def idle_seconds(self, rt: SeriesRuntime, now: float) -> float:
        """Wall-clock seconds at ``now`` since ``rt``'s last push, counted from the service's
        start at the earliest (clients could not push while it was down)."""
        return now - max(rt.last_wall or 0.0, self.started)

    def expire_pushed(self, now: float | None = None) -> int:
        """Mark stale every pushed series that got no push for its stale_after of wall-clock
        time (counted from the service's start at the earliest: clients could not push
        while it was down). Returns how many went stale."""
        now = time.time() if now is None else now
        with self.lock:
            pushed = [rt for rt in self.series.values()
                      if rt.kind == "push" and rt.stale_since is None and rt.last_ts is not None]
        n = 0
        for rt in pushed:
            after = self.push_stale_after_for(rt)
            if self.idle_seconds(rt, now) < after.total_seconds():
                continue
            with self.series_lock(rt.name):  # not while a push to it is being scored
                if self.idle_seconds(rt, now) >= after.total_seconds():
                    self.mark_stale(rt, after)
                    n += 1
        return n

    def forget(self, rt: SeriesRuntime) -> bool:
        """Remove the stale ``rt`` from the service; the next checkpoint removes it from the
        store (its series, alert state, journal and incident rows; its outbox rows stay, so
        what is queued is still delivered). Its name, if it comes back, is a new series.

        Only a stale series with nothing notified open (its resolution was sent when it went
        stale) is forgotten; returns whether it was (not when points came back meanwhile).
        """
        with self.series_lock(rt.name):
            with self.lock:
                if (self.series.get(rt.name) is not rt or rt.stale_since is None
                        or rt.fired is not None):
                    return False
                del self.series[rt.name]
                self._dirty.discard(rt.name)
            if self.saver is not None:
                self.saver.forget(rt.name)
        self.metrics.simulated.remove(rt.name)  # (the simulator's ground truth, if any)
        return True

    def _send(self, rt: SeriesRuntime, out: list[Notification]) -> None:
        """Write notifications to the outbox (wake the dispatcher) and log them."""
        if out and self.store is not None and self.sinks:
            for n in out:
                if self.store.enqueue(n.id, self.sinks, n.to_dict()) == 0 and n.event == "fired":
                    # A replay after a restart: the outbox knows this alert already; keep its
                    # original identity (startsAt) for the refreshes and the resolution.
                    known = self.store.notification(n.id)
                    if known is not None:
                        with self.lock:
                            if rt.fired is not None and rt.fired.id == n.id:
                                rt.fired = Notification.from_dict(known)
            self.wake()
        for n in out:
            log.info("%s: incident %d %s at %s", n.series, n.incident, n.event, n.at)

    def _notification(
        self, rt: SeriesRuntime, event: str, ts: pd.Timestamp, score: float | None,
        incident_id: int | None, now: float,
    ) -> Notification:
        incidents = rt.monitor.incidents
        iid = rt.alerting if event == "resolved" else incident_id
        inc = next(i for i in reversed(incidents) if i.id == iid)
        labels = self._labels(rt)
        if event == "resolved":
            fired_wall = rt.fired.fired_wall if rt.fired is not None else None
            if rt.fired is not None:  # the alert's identity: what it fired with
                labels = dict(rt.fired.labels)
            rt.fired = None
            rt.charts[inc.id] = list(rt.chart(inc.id))
            for old in sorted(rt.charts)[:-CHARTS_KEPT]:
                del rt.charts[old]
        else:
            fired_wall = now
        at = ts.isoformat()
        stale = rt.stale_since if event == "resolved" else None
        n = Notification(
            id=f"{rt.name}|{inc.id}|{event}|{at}",
            event=event,
            series=rt.name,
            incident=inc.id,
            at=at,
            start=inc.start.isoformat(),
            end=inc.end.isoformat(),
            resolved_at=(inc.resolved_at or ts).isoformat() if event == "resolved" else None,
            score=_f(score),
            threshold=_f(inc.threshold),
            peak_score=_f(inc.peak_score),
            explanation=inc.explanation,
            metrics=list(inc.metrics),
            labels=labels,
            url=f"{self.base_url}/#incident-{inc.id}-{_anchor(rt.name)}",
            created_at=now,
            fired_wall=fired_wall,
            stale_since=stale.isoformat() if stale is not None else None,
        )
        if event == "fired":
            rt.fired = n
        return n

    def _labels(self, rt: SeriesRuntime) -> dict[str, str]:
        labels = dict(self.alert_labels)
        labels.update({label_name(k): str(v) for k, v in rt.labels.items()})
        labels["series"] = rt.name
        return labels

    def open_alerts(self) -> list[Notification]:
        """The ``fired`` notification of every incident still notified open (refreshes)."""
        with self.lock:
            return [rt.fired for rt in self.series.values() if rt.fired is not None]

    # -- health ------------------------------------------------------------------------------
    def sink_health(self) -> list[SinkHealth]:
        """How each sink's deliveries go (from the outbox; empty without a store)."""
        return self.store.sink_health(self.sinks) if self.store is not None else []

    def status(self, sinks: Sequence[SinkHealth]) -> str:
        """``stalled`` (the loop stopped ticking), ``degraded`` (a query fails, or a sink's
        latest delivery failed) or ``ok``."""
        if self.health.stalled:
            return "stalled"
        if self.health.errors or any(s.failing for s in sinks):
            return "degraded"
        return "ok"

    # -- persistence -----------------------------------------------------------------------
    def checkpoint(self, names: Sequence[str] | None = None, meta: dict[str, str] | None = None) -> int:
        """Save the changed series (or ``names``): in full now and then, else what changed
        (see :mod:`anomalert.server.persist`); returns how many."""
        if self.saver is None:
            return 0
        with self.lock:
            todo = [n for n in (names if names is not None else sorted(self._dirty)) if n in self.series]
            self._dirty.difference_update(todo)
        try:
            return self.saver.save(self, todo, meta)
        except BaseException:
            with self.lock:
                self._dirty.update(todo)
            raise

    def restore(self) -> int:
        """Load every stored series (after a restart), replaying what was saved since its
        full state; returns how many. (The service then applies the configured policy and
        labels to them: :mod:`anomalert.server.restore`.)"""
        return self.saver.restore(self) if self.saver is not None else 0

    # -- views -------------------------------------------------------------------------------
    def incidents(
        self, *, series: str | None = None, only_open: bool = False, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Incidents of every series (or one), the most recent first."""
        with self.lock:
            out = []
            for rt in self.series.values():
                if series is not None and rt.name != series:
                    continue
                for inc in rt.monitor.incidents:
                    if only_open and not inc.is_open:
                        continue
                    d = inc.to_dict()
                    d["notified"] = rt.alerting == inc.id
                    out.append(d)
        out.sort(key=lambda d: (str(d["start"]), str(d["series"])), reverse=True)
        return out[:limit]


def _duration(td: pd.Timedelta) -> str:
    return f"{td.total_seconds():g}s"


def _anchor(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)
