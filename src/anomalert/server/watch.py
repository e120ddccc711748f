"""``anomalert watch``: backfill, fit, poll, score, alert; forever, and nothing lost.

For every configured query the :class:`Watcher` first *backfills* the ``lookback`` window
(one ``query_range``) and fits the query's detector on it, one series per label set; then it
*polls* once per ``step`` for the points that arrived since, runs each through the series'
:class:`~anomalert.monitor.Monitor`, and hands verdicts to the shared
:class:`~anomalert.server.runtime.ServiceState`, which updates the gauges and writes ``fired`` /
``resolved`` notifications to the durable outbox that the
:class:`~anomalert.alerting.outbox.Dispatcher` delivers.

Failures never stop the loop: a failed backfill or poll is counted
(``anomalert_poll_errors_total``, ``/healthz``) and retried with exponential backoff; the
points it missed are fetched by the next successful poll (up to ``lookback`` back).

After each successful poll, a series of the query with no point for the query's
``stale_after`` (data time: the poll's end minus the series' last point) is marked stale and its
open incident resolved (:meth:`~anomalert.server.runtime.ServiceState.mark_stale`); a failed
poll decides nothing. A gap that long between two points of one poll (a catch-up after an
outage, a replay after a crash) makes it stale in between too, so staleness depends on the
data only, not on when the polls ran. A stale series with no point for the query's
``forget_after`` is then forgotten (:mod:`anomalert.server.forget`), also in between two points
of one poll that far apart: the points after such a gap are a new series. A query that returns
no series, or more than its ``max_series`` (the extra label sets are not monitored), is logged
once per change and shown by ``/healthz``, ``/metrics`` and the status page.

Series restored from the state file get the current configuration (:meth:`Watcher.restore`):
the policy and labels apply to them; a query whose detector, parameters or metrics changed is
refit on its ``lookback`` as at a first start (incidents and open alerts kept); series of a
query no longer configured are marked stale at once (their open alerts resolved), and
forgotten after the ``defaults``' ``forget_after``.

State is checkpointed to SQLite every few seconds (series states, incidents, the clock).
After a crash the loop resumes from the checkpoint and re-reads the points since: the same
points give the same verdicts and the same notification ids, which the outbox ignores.

The clock is the wall clock, or a *replay* clock (``clock: {start, minute}``) that runs a
past time range at a chosen speed; ``--simulate`` uses a replay clock over the built-in
:class:`~anomalert.server.simulator.Simulator` instead of Prometheus.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from anomalert.data import MAX_ABS_VALUE
from anomalert.detectors import make
from anomalert.errors import AnomalertError
from anomalert.monitor import Monitor
from anomalert.server.config import QuerySpec
from anomalert.server.forget import forget, forget_orphans, forget_pushed, forget_watched
from anomalert.server.labels import query_labels
from anomalert.server.restore import reconfigure_watched
from anomalert.server.runtime import HISTORY_POINTS, SeriesRuntime, ServiceState
from anomalert.server.sources import (
    Clock,
    PrometheusSource,
    ReplayClock,
    SimulatorSource,
    Source,
    WallClock,
)

__all__ = [
    "PrometheusSource",
    "ReplayClock",
    "SimulatorSource",
    "Source",
    "WallClock",
    "Watcher",
    "series_name",
]

log = logging.getLogger("anomalert.server.watch")

MIN_FIT_POINTS = 30


def series_name(query: str, labels_part: str) -> str:
    """The series name of one label set of a query: ``cpu{instance="a"}``, or ``cpu``."""
    return query if labels_part in ("", "{}") else query + labels_part


@dataclass
class _Group:
    spec: QuerySpec
    ready: bool = False
    cursor: pd.Timestamp | None = None
    failures: int = 0
    next_try: float = 0.0
    refit: bool = False  # restored series are refit at the backfill (the detector changed)


class Watcher:
    """The poll loop over every query (see the module docstring).

    Parameters
    ----------
    state
        Shared state the verdicts go to.
    source
        Prometheus or the simulator.
    specs
        The queries.
    clock
        Wall clock or replay clock.
    backoff, max_backoff
        Seconds before retrying a failed query, doubling up to the maximum.
    """

    def __init__(
        self,
        state: ServiceState,
        source: Source,
        specs: tuple[QuerySpec, ...] | list[QuerySpec],
        clock: Clock,
        *,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        tick: float = 1.0,
        truth: Callable[[str, pd.Timestamp], str] | None = None,
    ) -> None:
        self.state = state
        self.source = source
        self.groups = {s.name: _Group(s) for s in specs}
        self.clock = clock
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.tick = tick
        self.truth = truth
        self.skipped = 0
        self._truth_last: dict[str, str] = {}
        state.metrics.init_queries(list(self.groups))

    # -- restore ----------------------------------------------------------------------------
    def restore(self) -> None:
        """Pick up series restored from the store: their queries resume without backfill,
        with the current configuration (:mod:`anomalert.server.restore`); a query whose
        detector, parameters or metrics changed backfills again to refit its series."""
        refit = reconfigure_watched(self.state, {name: g.spec for name, g in self.groups.items()})
        for rt in list(self.state.series.values()):
            g = self.groups.get(rt.group or "")
            if rt.kind != "watch" or g is None or rt.last_ts is None:
                continue
            g.ready = True
            g.cursor = rt.last_ts if g.cursor is None else max(g.cursor, rt.last_ts)
        for name in refit:  # the backfill refits the restored series too
            g = self.groups[name]
            g.refit, g.ready, g.cursor = True, False, None

    # -- one query ------------------------------------------------------------------------------
    def _end(self, spec: QuerySpec) -> pd.Timestamp:
        return (self.clock.now() - spec.delay).floor(spec.step)

    def _fit(self, spec: QuerySpec, name: str, history: pd.DataFrame | None) -> tuple[Any, bool]:
        """A new detector of ``spec``, fitted on ``history`` when it is long enough, else
        ready to learn online; and whether it was fitted."""
        det = make(spec.detector, **spec.params)
        if history is not None and len(history) >= MIN_FIT_POINTS:
            try:
                return det.fit(history), True
            except AnomalertError as exc:
                self.state.notes.append(f"{name}: cannot fit on the backfill ({exc}); learning online")
                det = make(spec.detector, **spec.params)
        det._start(spec.columns)
        return det, False

    def _remember(self, rt: SeriesRuntime, det: Any, history: pd.DataFrame) -> None:
        """Keep the training tail (with its scores) as ``rt``'s recent history."""
        scores = np.asarray(getattr(det, "train_scores_", np.full(len(history), np.nan)))
        thr = float(det.threshold_)
        tail = history.iloc[-HISTORY_POINTS:]
        for ts, sc, row in zip(tail.index, scores[-len(tail):], tail.to_numpy(float), strict=True):
            rt.history.append((ts.timestamp(), _num(sc), thr, tuple(_num(v) for v in row)))
        if rt.last_ts is None or history.index[-1] > rt.last_ts:
            rt.last_ts = history.index[-1]
        log.info("%s: fitted on %d points, threshold %.4g", rt.name, len(history), thr)

    def _runtime(self, g: _Group, part: str, history: pd.DataFrame | None) -> SeriesRuntime:
        spec = g.spec
        name = series_name(spec.name, part)
        det, fitted = self._fit(spec, name, history)
        labels = query_labels(part, spec.labels)
        rt = self.state.create_series(
            name, kind="watch", monitor=Monitor(det, spec.policy, series=name), group=spec.name,
            labels=labels,
        )
        if fitted and history is not None:
            self._remember(rt, det, history)
        return rt

    def _refit(self, g: _Group, rt: SeriesRuntime, history: pd.DataFrame | None) -> None:
        """Give restored ``rt`` the detector its query configures now (see :meth:`restore`)."""
        det, fitted = self._fit(g.spec, rt.name, history)
        with self.state.series_lock(rt.name):
            rt.monitor.set_detector(det)
            self.state.write_in_full(rt.name)  # before the points the new detector scores
            rt.history.clear()
            if fitted and history is not None:
                self._remember(rt, det, history)

    def _live(self, g: _Group, names: set[str]) -> int:
        """Series of the query that count against its max_series: those not stale, and
        those with points in this fetch (``names``)."""
        with self.state.lock:
            return sum(1 for r in self.state.series.values()
                       if r.group == g.spec.name and r.kind == "watch"
                       and (r.stale_since is None or r.name in names))

    def _runtimes(
        self, g: _Group, data: dict[str, pd.DataFrame], history: bool
    ) -> list[tuple[SeriesRuntime, pd.DataFrame]]:
        """The runtime of every label set of ``data`` (new ones made, fitted on the frame
        when ``history``), up to the query's max_series; reports the query's size."""
        spec = g.spec
        out, dropped = [], 0
        live = self._live(g, {series_name(spec.name, part) for part in data})
        for part, frame in sorted(data.items()):
            rt = self.state.series.get(series_name(spec.name, part))
            if rt is None:
                if live >= spec.max_series:
                    dropped += 1
                    continue
                live += 1
                rt = self._runtime(g, part, frame.dropna(how="all") if history else None)
            elif history and g.refit:
                self._refit(g, rt, frame.dropna(how="all"))
            out.append((rt, frame))
        self.state.health.report_size(self.state.metrics, spec, len(data), dropped)
        return out

    def _backfill(self, g: _Group) -> None:
        spec = g.spec
        end = self._end(spec)
        data = self.source.fetch(spec, end - spec.lookback, end)
        self._runtimes(g, data, history=True)
        if g.refit:  # restored series the backfill has no points of: learn online afresh
            for rt in [r for r in self.state.series.values() if r.group == spec.name]:
                if not any(series_name(spec.name, part) == rt.name for part in data):
                    self._refit(g, rt, None)
            g.refit = False
        if not data:
            self.state.notes.append(
                f"{spec.name}: no data in the last {spec.lookback}; series will learn online"
            )
        # The fitted state is saved before any live point is scored: a replay after a crash
        # then starts from the very same state and gives the same verdicts and alert ids.
        self.state.checkpoint()
        g.cursor, g.ready = end, True

    def _poll(self, g: _Group) -> int:
        spec = g.spec
        end = self._end(spec)
        assert g.cursor is not None
        if end <= g.cursor:
            return 0
        start = max(g.cursor + spec.step, end - spec.lookback)
        data = self.source.fetch(spec, start, end)
        n = 0
        for rt, frame in self._runtimes(g, data, history=False):
            n += self._feed(g, rt, frame.reindex(columns=spec.columns))
        g.cursor = end
        self._expire(g, end)
        forget_watched(self.state, spec.name, end, spec.forgetting)
        return n

    def _feed(self, g: _Group, rt: SeriesRuntime, frame: pd.DataFrame) -> int:
        """Score ``frame`` through ``rt``. A gap of the query's forget_after between two of
        its points (a catch-up, a replay) forgets the series in between, as a poll inside
        the gap would have: the points after it are a new series of that label set."""
        spec = g.spec
        n, rest = self._ingest(rt, frame, spec)
        while rest is not None:
            after = spec.forgetting
            assert after is not None
            forgotten = forget(self.state, [rt], after, query=spec.name, what="no point for")
            if forgotten:
                rt = self._runtime(g, rt.name[len(spec.name):], None)
            got, rest = self._ingest(rt, rest, spec, forget=bool(forgotten))
            n += got
        return n

    def _expire(self, g: _Group, end: pd.Timestamp) -> None:
        """Mark stale the query's series with no point for its stale_after before ``end``
        (the data time a successful poll has fetched up to)."""
        after = g.spec.staleness
        with self.state.lock:
            due = [r for r in self.state.series.values()
                   if r.group == g.spec.name and r.kind == "watch" and r.stale_since is None
                   and r.last_ts is not None and end - r.last_ts >= after]
        for rt in due:
            with self.state.series_lock(rt.name):
                self.state.mark_stale(rt, after)

    def _ingest(
        self, rt: SeriesRuntime, frame: pd.DataFrame, spec: QuerySpec, *, forget: bool = True
    ) -> tuple[int, pd.DataFrame | None]:
        """Score ``frame``'s points through ``rt``: how many, and the rest of the frame from
        the first point after a gap of the query's forget_after (if ``forget``; the series
        is stale, to be forgotten), else None."""
        cols = list(frame.columns)
        n = 0
        stale_after, forget_after = spec.staleness, spec.forgetting if forget else None
        with self.state.series_lock(rt.name):
            for i, (ts, row) in enumerate(zip(frame.index, frame.to_numpy(dtype=float),
                                              strict=True)):
                if rt.last_ts is not None and ts <= rt.last_ts:
                    continue
                if rt.last_ts is not None and ts - rt.last_ts >= stale_after:
                    # a gap within one poll (a catch-up, a replay): stale in between, as a
                    # poll inside the gap would have found; the same data, the same verdicts
                    self.state.mark_stale(rt, stale_after)
                    if forget_after is not None and ts - rt.last_ts >= forget_after:
                        return n, frame.iloc[i:]
                beyond = ~(np.abs(row) <= MAX_ABS_VALUE) & ~np.isnan(row)
                if beyond.any():  # inf or absurd: that metric is missing at this point
                    self.skipped += 1
                    log.warning("%s: at %s %s out of range (beyond +-%.0e); not scored", rt.name,
                                ts, ", ".join(c for c, b in zip(cols, beyond, strict=True) if b),
                                MAX_ABS_VALUE)
                    row = np.where(beyond, np.nan, row)
                if np.isnan(row).all():
                    self.skipped += 1
                    continue
                values = dict(zip(cols, row.tolist(), strict=True))
                try:
                    verdict = rt.monitor.check(ts, values)
                except AnomalertError as exc:
                    self.skipped += 1
                    log.warning("%s: point at %s rejected: %s", rt.name, ts, exc)
                    continue
                self.state.observe(rt, verdict, values)
                n += 1
                if self.truth is not None:
                    self._note_truth(rt.name, ts)
        return n, None

    def _note_truth(self, name: str, ts: pd.Timestamp) -> None:
        assert self.truth is not None
        kind = self.truth(name, ts)
        self.state.metrics.simulated.labels(name).set(0 if kind == "normal" else 1)
        if kind != self._truth_last.get(name, "normal") and kind != "normal":
            log.info("simulator: injected anomaly %r in %s from %s", kind, name, ts)
            self.state.notes.append(f"simulator injected {kind} into {name} at {ts.isoformat()}")
        self._truth_last[name] = kind

    def step(self, g: _Group) -> None:
        """Backfill or poll one query; failures are counted and backed off, never raised."""
        if time.monotonic() < g.next_try:
            return
        m = self.state.metrics
        try:
            if not g.ready:
                self._backfill(g)
            else:
                self._poll(g)
        except Exception as exc:  # the loop must survive anything a source can do
            g.failures += 1
            wait = min(self.max_backoff, self.backoff * 2 ** (g.failures - 1))
            g.next_try = time.monotonic() + wait
            m.poll_errors.labels(g.spec.name).inc()
            m.source_up.labels(g.spec.name).set(0)
            msg = f"{type(exc).__name__}: {exc}" if not isinstance(exc, AnomalertError) else str(exc)
            self.state.health.failed(g.spec.name, msg)
            log.warning(
                "%s: %s failed (%d in a row), retry in %.3g s: %s",
                g.spec.name, "poll" if g.ready else "backfill", g.failures, wait, msg,
            )
            return
        g.failures, g.next_try = 0, 0.0
        self.state.health.ok(g.spec.name)
        m.source_up.labels(g.spec.name).set(1)
        m.last_poll.set(time.time())

    def run_once(self) -> None:
        """One pass over every query, then the staleness of pushed series; forget those
        stale for their forget_after, and those of queries no longer configured."""
        self.state.health.heartbeat = time.monotonic()
        for g in self.groups.values():
            self.step(g)
        self.state.expire_pushed()
        forget_pushed(self.state)
        forget_orphans(self.state, self.groups, self.clock.now())

    def run(
        self,
        stop: threading.Event,
        *,
        checkpoint_every: float = 5.0,
        resend_every: float = 60.0,
        on_checkpoint: Callable[[], None] | None = None,
        on_resend: Callable[[], None] | None = None,
    ) -> None:
        """Loop until ``stop`` is set: poll, checkpoint and refresh open alerts on schedule."""
        last_cp = last_resend = time.monotonic()
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.run_once()
                if on_checkpoint is not None and started - last_cp >= checkpoint_every:
                    on_checkpoint()
                    last_cp = started
                if on_resend is not None and started - last_resend >= resend_every:
                    on_resend()
                    last_resend = started
            except Exception:  # a bug in the bookkeeping: log it, keep watching
                log.exception("watch loop iteration failed")
            now = time.monotonic()
            wait = self.tick - (now - started)
            retries = [g.next_try - now for g in self.groups.values() if g.failures]
            if retries:  # retry a failed query on time, not at the next tick
                wait = min(wait, max(0.0, min(retries)))
            stop.wait(max(0.0, wait))


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None
