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

State is checkpointed to SQLite every few seconds (series states, incidents, the clock).
After a crash the loop resumes from the checkpoint and re-reads the points since: the same
points give the same verdicts and the same notification ids, which the outbox ignores.

The clock is the wall clock, or a *replay* clock (``clock: {start, minute}``) that runs a
past time range at a chosen speed; ``--simulate`` uses a replay clock over the built-in
:class:`~anomalert.server.simulator.Simulator` instead of Prometheus.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from anomalert.data import MAX_ABS_VALUE
from anomalert.detectors import make
from anomalert.errors import AnomalertError
from anomalert.monitor import Monitor
from anomalert.server.config import QuerySpec
from anomalert.server.runtime import HISTORY_POINTS, SeriesRuntime, ServiceState

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
MAX_SERIES_PER_QUERY = 500
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Clock(Protocol):
    def now(self) -> pd.Timestamp: ...


class WallClock:
    """The real time."""

    def now(self) -> pd.Timestamp:
        return pd.Timestamp.now(tz="UTC")


class ReplayClock:
    """Simulated time: ``start`` plus the elapsed wall time, one minute per ``minute`` seconds.

    >>> clock = ReplayClock(pd.Timestamp("2025-01-01", tz="UTC"), minute=0.1)
    >>> clock.now() >= pd.Timestamp("2025-01-01", tz="UTC")
    True
    """

    def __init__(self, start: pd.Timestamp, minute: float) -> None:
        self.start = start
        self.rate = 60.0 / minute
        self._t0 = time.monotonic()

    def now(self) -> pd.Timestamp:
        return self.start + pd.Timedelta(seconds=(time.monotonic() - self._t0) * self.rate)


class Source(Protocol):
    """Where points come from: one frame (columns = the spec's metrics) per label set."""

    def fetch(
        self, spec: QuerySpec, start: pd.Timestamp, end: pd.Timestamp
    ) -> dict[str, pd.DataFrame]: ...


def _labels_part(key: str) -> str:
    return key[key.index("{"):] if "{" in key else ""


def series_name(query: str, labels_part: str) -> str:
    """The series name of one label set of a query: ``cpu{instance="a"}``, or ``cpu``."""
    return query if labels_part in ("", "{}") else query + labels_part


def parse_labels(labels_part: str) -> dict[str, str]:
    """``{a="1",b="x\\"y"}`` -> ``{"a": "1", "b": 'x"y'}``."""
    out = {}
    for k, v in _PAIR.findall(labels_part):
        out[k] = re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)
    return out


class PrometheusSource:
    """Range queries against Prometheus, the spec's metric columns joined per label set."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def fetch(
        self, spec: QuerySpec, start: pd.Timestamp, end: pd.Timestamp
    ) -> dict[str, pd.DataFrame]:
        parts: dict[str, dict[str, pd.Series]] = {}
        for column, expr in spec.metrics.items():
            for key, s in self.client.query_range(expr, start, end, spec.step).items():
                parts.setdefault(_labels_part(key), {})[column] = s
        return {
            k: pd.DataFrame(cols).reindex(columns=spec.columns).sort_index()
            for k, cols in parts.items()
        }


class SimulatorSource:
    """The :class:`~anomalert.server.simulator.Simulator` behind the :class:`Source` interface."""

    def __init__(self, simulator: Any) -> None:
        self.simulator = simulator

    def fetch(
        self, spec: QuerySpec, start: pd.Timestamp, end: pd.Timestamp
    ) -> dict[str, pd.DataFrame]:
        return dict(self.simulator.fetch(spec.name, start, end))


@dataclass
class _Group:
    spec: QuerySpec
    ready: bool = False
    cursor: pd.Timestamp | None = None
    failures: int = 0
    next_try: float = 0.0


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
        """Pick up series restored from the store: their queries resume without backfill."""
        for rt in list(self.state.series.values()):
            g = self.groups.get(rt.group or "")
            if rt.kind != "watch" or g is None or rt.last_ts is None:
                continue
            g.ready = True
            g.cursor = rt.last_ts if g.cursor is None else max(g.cursor, rt.last_ts)

    # -- one query ------------------------------------------------------------------------------
    def _end(self, spec: QuerySpec) -> pd.Timestamp:
        return (self.clock.now() - spec.delay).floor(spec.step)

    def _runtime(
        self, g: _Group, part: str, history: pd.DataFrame | None
    ) -> SeriesRuntime | None:
        spec = g.spec
        name = series_name(spec.name, part)
        count = sum(1 for r in self.state.series.values() if r.group == spec.name)
        if count >= MAX_SERIES_PER_QUERY:
            log.warning("%s: more than %d label sets; ignoring %s", spec.name, count, name)
            return None
        det = make(spec.detector, **spec.params)
        fitted = False
        if history is not None and len(history) >= MIN_FIT_POINTS:
            try:
                det.fit(history)
                fitted = True
            except AnomalertError as exc:
                self.state.notes.append(f"{name}: cannot fit on the backfill ({exc}); learning online")
                det = make(spec.detector, **spec.params)
        if not fitted:
            det._start(spec.columns)
        labels = {**parse_labels(part), **spec.labels}
        rt = self.state.create_series(
            name, kind="watch", monitor=Monitor(det, spec.policy, series=name), group=spec.name,
            labels=labels,
        )
        if fitted and history is not None:
            scores = np.asarray(getattr(det, "train_scores_", np.full(len(history), np.nan)))
            thr = float(det.threshold_)
            tail = history.iloc[-HISTORY_POINTS:]
            for ts, sc, row in zip(
                tail.index, scores[-len(tail):], tail.to_numpy(float), strict=True
            ):
                rt.history.append((ts.timestamp(), _num(sc), thr, tuple(_num(v) for v in row)))
            rt.last_ts = history.index[-1]
            log.info("%s: fitted on %d points, threshold %.4g", name, len(history), thr)
        return rt

    def _backfill(self, g: _Group) -> None:
        spec = g.spec
        end = self._end(spec)
        data = self.source.fetch(spec, end - spec.lookback, end)
        for part, frame in sorted(data.items()):
            name = series_name(spec.name, part)
            if name in self.state.series:
                continue
            self._runtime(g, part, frame.dropna(how="all"))
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
        for part, frame in sorted(data.items()):
            name = series_name(spec.name, part)
            rt = self.state.series.get(name)
            if rt is None:
                rt = self._runtime(g, part, None)
                if rt is None:
                    continue
            n += self._ingest(rt, frame.reindex(columns=spec.columns))
        g.cursor = end
        return n

    def _ingest(self, rt: SeriesRuntime, frame: pd.DataFrame) -> int:
        cols = list(frame.columns)
        n = 0
        with self.state.series_lock(rt.name):
            for ts, row in zip(frame.index, frame.to_numpy(dtype=float), strict=True):
                if rt.last_ts is not None and ts <= rt.last_ts:
                    continue
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
        return n

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
        """One pass over every query."""
        self.state.health.heartbeat = time.monotonic()
        for g in self.groups.values():
            self.step(g)

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
