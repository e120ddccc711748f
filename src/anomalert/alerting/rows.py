"""The values the state database (:class:`~anomalert.alerting.store.Store`) takes and
returns: a series' stored state and what changed since, an outbox row, a sink's health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["OutboxRow", "SeriesDelta", "SeriesRecord", "SinkHealth"]


@dataclass(frozen=True)
class SeriesRecord:
    """The stored state of one series: its full state, and what changed since."""

    name: str
    kind: str  # "watch" (fed by the watch loop) or "push" (fed by POST /v1/score)
    state: bytes  # the full state
    last_ts: str | None
    updated_at: float
    alert: bytes | None = None  # the alert state at the latest checkpoint (None: in ``state``)
    journal: tuple[tuple[int, str], ...] = ()  # points scored since ``state``: (ns, JSON)


@dataclass(frozen=True)
class SeriesDelta:
    """What changed in a series since its full state was saved: its alert state now and the
    points it scored since the previous checkpoint (unix ns, JSON of the values)."""

    name: str
    alert: bytes
    last_ts: str | None
    points: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class SinkHealth:
    """How a sink's deliveries go, from its outbox rows.

    ``failing`` while the latest row the sink was sent failed (it is retried, or it went
    ``dead``); ``error`` says why (the status code and the start of the body). ``dead``
    counts the rows given up (kept for 30 days).
    """

    sink: str
    failing: bool = False
    error: str | None = None
    notification: str | None = None  # the id of the failing row
    attempts: int = 0
    dead: int = 0
    last_dead: str | None = None  # id and error of the latest dead row

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": "failing" if self.failing else "ok", "error": self.error,
            "notification": self.notification, "attempts": self.attempts, "dead": self.dead,
            "last_dead": self.last_dead,
        }


@dataclass(frozen=True)
class OutboxRow:
    """One notification for one sink, as the outbox holds it."""

    seq: int
    id: str  # notification id + "@" + sink: the idempotency key of the row
    notification_id: str
    sink: str
    notification: dict[str, Any]
    status: str  # "pending", "delivered" or "dead" (permanently refused by the sink)
    attempts: int
    created_at: float
    next_attempt_at: float
    delivered_at: float | None
    last_error: str | None
