"""Where the watch loop's time and points come from: clocks and sources.

A :class:`Clock` is the wall clock, or a replay clock that runs a past time range at a chosen
speed. A :class:`Source` answers one query over a time range with one frame per label set:
Prometheus (:class:`PrometheusSource`) or the built-in simulator (:class:`SimulatorSource`).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import pandas as pd

from anomalert.server.config import QuerySpec

__all__ = ["Clock", "PrometheusSource", "ReplayClock", "SimulatorSource", "Source", "WallClock"]


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
