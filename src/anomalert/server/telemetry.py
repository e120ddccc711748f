"""The service's own Prometheus metrics, in a registry per service (no module globals).

Per series: ``anomalert_anomaly_score``, ``anomalert_threshold``, ``anomalert_anomalous``
(0/1: the latest point is above the threshold), ``anomalert_alerting`` (0/1: an incident is
notified firing, from its ``fired`` until its ``resolved`` is sent, which waits for the policy's
cooldown after the incident resolved), ``anomalert_learning_flagged`` (0/1: the series flags so often that its
detector learns what it flags, see ``default``'s flapping rule), ``anomalert_points_total`` and
``anomalert_last_point_timestamp_seconds``, ``anomalert_stale`` (0/1: no point for the series'
``stale_after``; its open incident was resolved).
Per query: ``anomalert_query_series`` (label sets its latest poll returned; 0: the query returns
nothing) and ``anomalert_query_series_dropped`` (label sets not monitored: over ``max_series``).
Health: ``anomalert_last_poll_timestamp_seconds``, ``anomalert_poll_errors_total{query}``,
``anomalert_source_up{query}``, ``anomalert_alerts_sent_total{sink}``,
``anomalert_alerts_failed_total{sink}`` (failed delivery attempts) and
``anomalert_outbox_pending``.

Examples
--------
>>> m = Metrics()
>>> m.score.labels("cpu").set(2.5)
>>> b"anomalert_anomaly_score{series=\\"cpu\\"} 2.5" in m.exposition()
True
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["Metrics"]


class Metrics:
    """Every metric the service exports, registered in its own :class:`CollectorRegistry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.score = Gauge(
            "anomalert_anomaly_score",
            "Anomaly score of the latest point (NaN while the detector warms up)",
            ["series"], registry=r,
        )
        self.threshold = Gauge(
            "anomalert_threshold", "Score above which a point is anomalous", ["series"], registry=r
        )
        self.anomalous = Gauge(
            "anomalert_anomalous", "1 when the latest point scored above the threshold",
            ["series"], registry=r,
        )
        self.alerting = Gauge(
            "anomalert_alerting",
            "1 while an incident of the series is notified firing: from its fired notification "
            "until its resolved one, sent once the cooldown after it resolved has passed",
            ["series"], registry=r,
        )
        self.learning_flagged = Gauge(
            "anomalert_learning_flagged",
            "1 while the detector learns the points it flags: the series flags so often that "
            "they are its normal",
            ["series"], registry=r,
        )
        self.points = Counter("anomalert_points", "Points scored", ["series"], registry=r)
        self.last_point = Gauge(
            "anomalert_last_point_timestamp_seconds", "Data time of the latest point scored",
            ["series"], registry=r,
        )
        self.stale = Gauge(
            "anomalert_stale",
            "1 while the series is stale: no point for its stale_after (its open incident "
            "was resolved)", ["series"], registry=r,
        )
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
        self.outbox_pending = Gauge(
            "anomalert_outbox_pending", "Notifications in the outbox not yet delivered",
            registry=r,
        )
        self.simulated = Gauge(
            "anomalert_simulated_anomaly",
            "1 while the simulator injects an anomaly into the series (ground truth)",
            ["series"], registry=r,
        )

    def delivery(self, sink: str, ok: bool) -> None:
        """Count one delivery attempt."""
        (self.alerts_sent if ok else self.alerts_failed).labels(sink).inc()

    def init_sinks(self, names: list[str]) -> None:
        """Create the per-sink counters at 0 so they are exported before the first alert."""
        for name in names:
            self.alerts_sent.labels(name)
            self.alerts_failed.labels(name)

    def init_queries(self, names: list[str]) -> None:
        """Create the per-query error counters at 0."""
        for name in names:
            self.poll_errors.labels(name)
            self.query_dropped.labels(name)

    def exposition(self) -> bytes:
        """The text exposition format of every metric."""
        return bytes(generate_latest(self.registry))
