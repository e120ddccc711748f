"""Incidents: alerts grouped into one thing to page about, opened and resolved."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

__all__ = ["Incident"]


@dataclass
class Incident:
    """One page: from the first alert to the last, with its peak and what drove it."""

    id: int
    series: str
    start: pd.Timestamp
    end: pd.Timestamp
    peak_score: float
    peak_time: pd.Timestamp
    threshold: float
    explanation: str
    metrics: list[str] = field(default_factory=list)
    alerts: int = 0
    resolved_at: pd.Timestamp | None = None
    #: Resolved because its series stopped getting points (resolved_at: its last point).
    stale: bool = False
    #: Times an alert within the cooldown after a resolution opened it again (no new page).
    reopened: int = 0

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def record(
        self, ts: pd.Timestamp, score: float, explanation: str, metric: str | None
    ) -> None:
        self.end = ts
        self.alerts += 1
        if metric and metric not in self.metrics:
            self.metrics.append(metric)
        if score > self.peak_score:
            self.peak_score, self.peak_time, self.explanation = score, ts, explanation

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "series": self.series,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at is not None else None,
            "stale": self.stale,
            "peak_score": self.peak_score,
            "peak_time": self.peak_time.isoformat(),
            "threshold": self.threshold,
            "alerts": self.alerts,
            "reopened": self.reopened,
            "metrics": list(self.metrics),
            "explanation": self.explanation,
        }
