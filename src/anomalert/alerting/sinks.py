"""Where alerts go: Prometheus Alertmanager, a generic JSON webhook, or the log.

A :class:`Notification` is one event of one incident (``fired`` or ``resolved``) with an
idempotent id. Sinks turn it into their wire format and send it; a sink *raises*
:class:`DeliveryError` unless the receiver confirmed it (2xx), saying whether a retry can
help (network errors, 408, 425, 429, 5xx) or not (other 4xx: the payload itself is refused).
Queueing, ordering and retries are the outbox's job (:mod:`anomalert.alerting.outbox`).

- :class:`AlertmanagerSink` posts to Alertmanager's API v2 (``POST /api/v2/alerts``) with
  labels ``alertname``, ``series``, ``severity`` (plus the series' own labels), annotations
  ``summary`` and ``description`` (the explanation: which metric moved, by how much, against
  which baseline), ``startsAt`` / ``endsAt`` and ``generatorURL``. A firing alert gets
  ``endsAt`` = now + ``ttl``; the outbox re-posts open alerts before that, as Prometheus does,
  so Alertmanager keeps them firing. Resolving re-posts the alert with ``endsAt`` = the
  incident's resolution time (``resolved_at``, at most now), which may be a cooldown ago: the
  watch service sends a resolution only once no alert can re-open the incident.
  Alertmanager de-duplicates identical alerts, so a repeated post never pages twice.
- :class:`WebhookSink` posts one JSON object per notification, with the notification id in
  the body and in an ``Idempotency-Key`` header so a receiver can drop a repeat.
- :class:`LogSink` prints one line per notification (the default of ``watch --simulate``).

Examples
--------
>>> n = Notification(id="cpu|1|fired|2025-01-01T10:00:00+00:00", event="fired", series="cpu",
...     incident=1, at="2025-01-01T10:00:00+00:00", start="2025-01-01T10:00:00+00:00",
...     end="2025-01-01T10:00:00+00:00", resolved_at=None, score=9.0, threshold=6.0,
...     peak_score=9.0, explanation="cpu=95 is 9.0σ above baseline 40 (±6.1)",
...     metrics=["cpu"], labels={"alertname": "AnomalertAnomaly", "series": "cpu"},
...     url="http://127.0.0.1:9108/#cpu-1", created_at=1735725600.0)
>>> alert = AlertmanagerSink("http://127.0.0.1:9093").payload(n, now=1735725600.0)[0]
>>> alert["labels"]["series"], alert["startsAt"], alert["endsAt"]
('cpu', '2025-01-01T10:00:00Z', '2025-01-01T10:05:00Z')
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, TextIO

import httpx

from anomalert.errors import AnomalertError, ParameterError

__all__ = [
    "AlertmanagerSink",
    "DeliveryError",
    "LogSink",
    "Notification",
    "Sink",
    "WebhookSink",
    "make_sink",
]

_RETRY_STATUS = frozenset({408, 425, 429})


class DeliveryError(AnomalertError):
    """A notification the sink did not confirm; ``retryable`` says whether to try again."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Notification:
    """One event (``fired`` / ``resolved``) of one incident, ready for any sink.

    Times ``at`` / ``start`` / ``end`` / ``resolved_at`` are the data's (ISO 8601, UTC);
    ``created_at`` and ``fired_wall`` are wall-clock unix seconds (when the notification,
    and the incident's first firing notification, were made). A ``resolved`` sent because
    the series went stale has ``stale_since`` (its last point) and ``resolved_at`` = that
    point (or the incident's earlier resolution).
    """

    id: str
    event: str
    series: str
    incident: int
    at: str
    start: str
    end: str
    resolved_at: str | None
    score: float | None
    threshold: float | None
    peak_score: float | None
    explanation: str
    metrics: list[str]
    labels: dict[str, str]
    url: str
    created_at: float
    fired_wall: float | None = None
    #: A resolution because the series stopped getting points: the time of its last point.
    stale_since: str | None = None

    @property
    def status(self) -> str:
        """Alertmanager's word for the event: ``firing`` or ``resolved``."""
        return "firing" if self.event == "fired" else "resolved"

    @property
    def summary(self) -> str:
        from anomalert.detectors.base import format_value  # (alerting does not import detectors)

        peak = format_value(self.peak_score, 3) if self.peak_score is not None else "?"
        thr = format_value(self.threshold, 3) if self.threshold is not None else "?"
        if self.event == "fired":
            return f"Anomaly in {self.series}: score {peak} above threshold {thr}"
        if self.stale_since is not None:
            return (f"Anomaly in {self.series} resolved: no data since {self.stale_since} "
                    f"(peak score {peak}, threshold {thr})")
        return f"Anomaly in {self.series} resolved (peak score {peak}, threshold {thr})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


class Sink(Protocol):
    """What the outbox needs from a sink."""

    name: str
    #: Re-post open alerts periodically (Alertmanager forgets alerts at their ``endsAt``).
    refreshes: ClassVar[bool]

    def send(self, notification: Notification, now: float) -> None:
        """Deliver or raise :class:`DeliveryError`."""

    def close(self) -> None:
        """Release connections."""


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(
        ".000000Z", "Z"
    )


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass
class _HTTPSink:
    """Shared HTTP plumbing: one client, status codes to :class:`DeliveryError`."""

    url: str
    name: str = ""
    timeout: float = 5.0
    token: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    refreshes: ClassVar[bool] = False
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    def _http(self) -> httpx.Client:
        if self._client is None:
            headers = dict(self.headers)
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            self._client = httpx.Client(timeout=self.timeout, headers=headers, trust_env=False)
        return self._client

    def _post(self, url: str, body: Any, headers: dict[str, str] | None = None) -> None:
        try:
            response = self._http().post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"{self.name}: cannot reach {url}: {type(exc).__name__}: {exc}", retryable=True
            ) from None
        code = response.status_code
        if 200 <= code < 300:
            return
        retryable = code >= 500 or code in _RETRY_STATUS
        raise DeliveryError(
            f"{self.name}: {url} answered HTTP {code}: {response.text[:300]!r}", retryable=retryable
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass
class AlertmanagerSink(_HTTPSink):
    """Prometheus Alertmanager, API v2.

    Parameters
    ----------
    url
        Alertmanager base URL (``http://host:9093``).
    ttl
        Seconds a firing alert stays valid without a refresh (its ``endsAt``).
    """

    ttl: float = 300.0
    refreshes: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self.name = self.name or "alertmanager"

    def payload(self, n: Notification, now: float) -> list[dict[str, Any]]:
        """The JSON list posted to ``/api/v2/alerts``."""
        starts = _seconds(n.start)
        first = n.fired_wall if n.fired_wall is not None else n.created_at
        starts = min(starts, first)  # data time may run ahead of the wall (a simulated clock)
        if n.event == "fired":
            ends = now + self.ttl
        else:
            resolved = _seconds(n.resolved_at or n.at)
            ends = max(starts, min(resolved, now))
        annotations = {
            "summary": n.summary,
            "description": n.explanation or "(no explanation)",
            "incident": str(n.incident),
            "metrics": ", ".join(n.metrics),
            "peak_score": f"{n.peak_score:.4g}" if n.peak_score is not None else "",
            "threshold": f"{n.threshold:.4g}" if n.threshold is not None else "",
            "data_start": n.start,
        }
        return [
            {
                "labels": {k: v for k, v in n.labels.items() if v != ""},
                "annotations": {k: v for k, v in annotations.items() if v != ""},
                "startsAt": _iso(starts),
                "endsAt": _iso(ends),
                "generatorURL": n.url,
            }
        ]

    def send(self, notification: Notification, now: float) -> None:
        self._post(self.url.rstrip("/") + "/api/v2/alerts", self.payload(notification, now))


@dataclass
class WebhookSink(_HTTPSink):
    """A generic JSON webhook: one POST per notification."""

    def __post_init__(self) -> None:
        self.name = self.name or "webhook"

    def payload(self, n: Notification) -> dict[str, Any]:
        """The JSON object posted."""
        body = {"version": "1", "status": n.status, "summary": n.summary}
        body.update(n.to_dict())
        body["description"] = n.explanation
        return body

    def send(self, notification: Notification, now: float) -> None:
        self._post(
            self.url, self.payload(notification), headers={"Idempotency-Key": notification.id}
        )


@dataclass
class LogSink:
    """One line per notification on a stream (default stdout)."""

    name: str = "log"
    stream: TextIO | None = None
    refreshes: ClassVar[bool] = False

    def send(self, notification: Notification, now: float) -> None:
        n = notification
        word = "FIRING  " if n.event == "fired" else "RESOLVED"
        when = n.resolved_at if n.event == "resolved" and n.resolved_at else n.at
        line = f"ALERT {word} {n.series} #{n.incident} at {when}: {n.summary}"
        if n.event == "fired" and n.explanation:
            line += f" -- {n.explanation}"
        print(line, file=self.stream or sys.stdout, flush=True)

    def close(self) -> None:
        pass


_KINDS = ("alertmanager", "webhook", "log")


def make_sink(spec: dict[str, Any], index: int = 0) -> Sink:
    """A sink from its configuration mapping (``type``, ``url``, ``name``, ...).

    Raises
    ------
    ParameterError
        Unknown type, missing or non-http URL, unknown keys.
    """
    if not isinstance(spec, dict):
        raise ParameterError(f"sinks[{index}] must be a mapping, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in _KINDS:
        raise ParameterError(f"sinks[{index}].type must be one of {list(_KINDS)}. Got {kind!r}.")
    allowed = {"type", "name"} | (
        {"url", "timeout", "token", "headers"} | ({"ttl"} if kind == "alertmanager" else set())
        if kind != "log"
        else set()
    )
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ParameterError(
            f"sinks[{index}] ({kind}) has unknown key(s) {unknown}; allowed: {sorted(allowed)}"
        )
    name = str(spec.get("name") or (kind if index == 0 else f"{kind}-{index}"))
    if kind == "log":
        return LogSink(name=name)
    url = spec.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ParameterError(f"sinks[{index}].url must be an http(s) URL. Got {url!r}.")
    timeout = spec.get("timeout", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ParameterError(f"sinks[{index}].timeout must be a number of seconds > 0.")
    headers = spec.get("headers") or {}
    if not isinstance(headers, dict):
        raise ParameterError(f"sinks[{index}].headers must be a mapping")
    common: dict[str, Any] = {
        "url": url,
        "name": name,
        "timeout": float(timeout),
        "token": spec.get("token"),
        "headers": {str(k): str(v) for k, v in headers.items()},
    }
    if kind == "alertmanager":
        ttl = spec.get("ttl", 300.0)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
            raise ParameterError(f"sinks[{index}].ttl must be a number of seconds > 0.")
        return AlertmanagerSink(ttl=float(ttl), **common)
    return WebhookSink(**common)
