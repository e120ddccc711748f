"""The service's own Prometheus metrics, in a registry per service (no module globals).

Per series: ``anomalert_anomaly_score``, ``anomalert_threshold``, ``anomalert_anomalous``
(0/1: the latest point is above the threshold), ``anomalert_deviation`` (the point's largest
deviation from its baselines, in σ, before the detector's "seen before" memory: ``default``
scores 0 on most points, this shows how close the series runs to its threshold; only for the
detectors that measure one), ``anomalert_alerting`` (0/1: an incident is
notified firing, from its ``fired`` until its ``resolved`` is sent, which waits for the policy's
cooldown after the incident resolved), ``anomalert_learning_flagged`` (0/1: the series flags so often that its
detector learns what it flags, see ``default``'s flapping rule), ``anomalert_points_total`` and
``anomalert_last_point_timestamp_seconds`` and ``anomalert_stale`` (0/1: no point for the
series' ``stale_after``; its open incident was resolved). They are labelled with the series'
own labels (see :func:`anomalert.server.labels.series_labels`), read from the series at each scrape.
Per query: ``anomalert_query_series`` (label sets its latest poll returned; 0: the query returns
nothing) and ``anomalert_query_series_dropped`` (label sets not monitored: over ``max_series``);
``anomalert_series_forgotten_total{kind,query}`` counts the series forgotten (stale for their
``forget_after``: gone from every per-series metric), ``kind`` ``watch`` or ``push``.
Health: ``anomalert_last_poll_timestamp_seconds``, ``anomalert_poll_errors_total{query}``,
``anomalert_source_up{query}``, ``anomalert_alerts_sent_total{sink}``,
``anomalert_alerts_failed_total{sink}`` (failed delivery attempts),
``anomalert_notifications_dead_total{sink}`` (notifications given up: a sink refused them for
good, or ``retry.max_attempts`` ran out), ``anomalert_sink_failing{sink}`` (1 while the sink's
latest delivery failed), ``anomalert_outbox_pending`` and
``anomalert_state_bytes_written_total``. Counters have no ``_created`` series.

Examples
--------
>>> m = Metrics()
>>> m.poll_errors.labels("cpu").inc()
>>> text = m.exposition()
>>> b'anomalert_poll_errors_total{query="cpu"} 1.0' in text, b"_created" in text
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from anomalert.server.labels import series_labels

if TYPE_CHECKING:
    import threading

    from anomalert.alerting.store import Store
    from anomalert.server.series import SeriesRuntime


class Service(Protocol):
    """What the per-series samples are read from (the service state,
    :class:`~anomalert.server.runtime.ServiceState`)."""

    series: dict[str, SeriesRuntime]
    lock: threading.RLock
    store: Store | None
    sinks: list[str]

__all__ = ["Metrics"]

class _SeriesCollector:
    """Per-series and per-sink samples, read from the service state at each scrape."""

    def __init__(self, state: Service) -> None:
        self.state = state
        # each series' labels, by (name, query): kept from one scrape to the next for the
        # series still there
        self._labels: dict[tuple[str, str | None], dict[str, str]] = {}

    def collect(self) -> Iterator[Metric]:
        g = {
            "score": GaugeMetricFamily(
                "anomalert_anomaly_score",
                "Anomaly score of the latest point (NaN while the detector warms up)"),
            "threshold": GaugeMetricFamily(
                "anomalert_threshold", "Score above which a point is anomalous"),
            "anomalous": GaugeMetricFamily(
                "anomalert_anomalous", "1 when the latest point scored above the threshold"),
            "deviation": GaugeMetricFamily(
                "anomalert_deviation",
                "Largest deviation of the latest point from its baselines, in sigma, before "
                "the detector's memory of deviations it has seen (score 0): how close the "
                "series runs to its threshold"),
            "alerting": GaugeMetricFamily(
                "anomalert_alerting",
                "1 while an incident of the series is notified firing: from its fired "
                "notification until its resolved one, sent once the cooldown after it "
                "resolved has passed"),
            "learning": GaugeMetricFamily(
                "anomalert_learning_flagged",
                "1 while the detector learns the points it flags: the series flags so often "
                "that they are its normal"),
            "last": GaugeMetricFamily(
                "anomalert_last_point_timestamp_seconds", "Data time of the latest point scored"),
            "stale": GaugeMetricFamily(
                "anomalert_stale",
                "1 while the series is stale: no point for its stale_after (its open incident "
                "was resolved)"),
        }
        points = CounterMetricFamily("anomalert_points", "Points scored")
        state = self.state
        cached, kept = self._labels, {}
        with state.lock:
            for rt in state.series.values():
                v = rt.last
                if v is None:
                    continue
                key = (rt.name, rt.group)
                labels = cached.get(key)
                if labels is None:
                    labels = series_labels(rt.name, rt.group)
                kept[key] = labels
                g["score"].add_sample("anomalert_anomaly_score", labels, _val(v.score))
                g["threshold"].add_sample("anomalert_threshold", labels, _val(v.threshold))
                stale = rt.stale_since is not None
                g["anomalous"].add_sample(
                    "anomalert_anomalous", labels, float(v.is_anomalous and not stale))
                g["stale"].add_sample("anomalert_stale", labels, float(stale))
                deviation = getattr(v, "deviation", math.nan)
                if not math.isnan(deviation):
                    g["deviation"].add_sample("anomalert_deviation", labels, deviation)
                g["alerting"].add_sample(
                    "anomalert_alerting", labels, float(rt.alerting is not None))
                g["learning"].add_sample(
                    "anomalert_learning_flagged", labels, float(rt.learning_flagged))
                g["last"].add_sample(
                    "anomalert_last_point_timestamp_seconds", labels, v.timestamp.timestamp())
                points.add_sample("anomalert_points_total", labels, float(rt.points))
            self._labels = kept
        yield from g.values()
        yield points
        if state.store is not None and state.sinks:
            failing = GaugeMetricFamily(
                "anomalert_sink_failing",
                "1 while the latest delivery to the sink failed (retried, or given up)",
                labels=["sink"])
            for h in state.store.sink_health(state.sinks):
                failing.add_metric([h.sink], float(h.failing))
            yield failing
        if state.store is not None:
            yield CounterMetricFamily(
                "anomalert_state_bytes_written",
                "Bytes of series state, journal, alert state and incident rows written to "
                "the state database (row payloads; SQLite adds its pages' overhead)",
                value=float(state.store.bytes_written))


def _val(x: float | None) -> float:
    return math.nan if x is None else float(x)


class _WithoutCreated:
    """A registry's metrics without the ``_created`` samples of counters."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self.registry.collect():
            created = metric.name + "_created"
            metric.samples = [s for s in metric.samples if s.name != created]
            yield metric


class Metrics:
    """Every metric the service exports, registered in its own :class:`CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.query_series = Gauge(
            "anomalert_query_series",
            "Label sets (series) the latest poll of the query returned; 0: it returns nothing",
            ["query"], registry=r,
        )
        self.query_dropped = Gauge(
            "anomalert_query_series_dropped",
            "Label sets of the query's latest poll not monitored: more than its max_series",
            ["query"], registry=r,
        )
        self.forgotten = Counter(
            "anomalert_series_forgotten",
            "Series forgotten since the start: stale for their forget_after, removed from the "
            "service and its state file (kind: watch or push; query: the query, '' for pushed)",
            ["kind", "query"], registry=r,
        )
        self.forgotten.labels("push", "")
        self.last_poll = Gauge(
            "anomalert_last_poll_timestamp_seconds",
            "Wall-clock time of the latest successful poll of the source", registry=r,
        )
        self.poll_errors = Counter(
            "anomalert_poll_errors", "Polls (or backfills) of a query that failed", ["query"],
            registry=r,
        )
        self.source_up = Gauge(
            "anomalert_source_up", "1 when the latest poll of the query succeeded", ["query"],
            registry=r,
        )
        self.alerts_sent = Counter(
            "anomalert_alerts_sent", "Notifications a sink confirmed", ["sink"], registry=r
        )
        self.alerts_failed = Counter(
            "anomalert_alerts_failed", "Delivery attempts that failed (retried or given up)",
            ["sink"], registry=r,
        )
        self.dead = Counter(
            "anomalert_notifications_dead",
            "Notifications given up: the sink refused them for good, or the retries ran out",
            ["sink"], registry=r,
        )
        self.outbox_pending = Gauge(
            "anomalert_outbox_pending", "Notifications in the outbox not yet delivered",
            registry=r,
        )
        self.simulated = Gauge(
            "anomalert_simulated_anomaly",
            "1 while the simulator injects an anomaly into the series (ground truth)",
            ["series"], registry=r,
        )

    def track(self, state: Service) -> None:
        """Export the series and sinks of ``state`` (read at each scrape)."""
        self.registry.register(_SeriesCollector(state))

    def delivery(self, sink: str, ok: bool) -> None:
        """Count one delivery attempt."""
        (self.alerts_sent if ok else self.alerts_failed).labels(sink).inc()

    def gave_up(self, sink: str, error: str) -> None:
        """Count one notification given up."""
        self.dead.labels(sink).inc()

    def init_sinks(self, names: list[str]) -> None:
        """Create the per-sink counters at 0 so they are exported before the first alert."""
        for name in names:
            self.alerts_sent.labels(name)
            self.alerts_failed.labels(name)
            self.dead.labels(name)

    def init_queries(self, names: list[str]) -> None:
        """Create the per-query error counters at 0."""
        for name in names:
            self.poll_errors.labels(name)
            self.query_dropped.labels(name)
            self.forgotten.labels("watch", name)

    def exposition(self) -> bytes:
        """The text exposition format of every metric."""
        return bytes(generate_latest(_WithoutCreated(self.registry)))

