"""The watch loop's health, as ``/healthz``, ``/metrics`` and the status page show it."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anomalert.server.config import QuerySpec
    from anomalert.server.telemetry import Metrics

__all__ = ["Health"]

log = logging.getLogger("anomalert.server.watch")


@dataclass
class Health:
    """The watch loop's health, shown by ``/healthz`` and ``/metrics``."""

    heartbeat: float | None = None  # time.monotonic() of the loop's latest iteration
    last_poll: float | None = None  # wall time of the latest successful poll
    stale_after: float = 120.0
    errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # query -> (n, message)
    empty: dict[str, float] = field(default_factory=dict)  # query -> wall time it got empty
    dropped: dict[str, tuple[int, int]] = field(default_factory=dict)  # query -> (dropped, of)
    forgotten: int = 0  # series forgotten since the start
    forgotten_recent: deque[str] = field(default_factory=lambda: deque(maxlen=20))  # names

    def forgot(self, names: list[str]) -> None:
        self.forgotten += len(names)
        self.forgotten_recent.extend(names)

    # query -> its latest fetch returned no series (None: none yet), label sets it left out
    # (over max_series) as last logged
    sizes: dict[str, tuple[bool | None, int]] = field(default_factory=dict)

    def ok(self, query: str) -> None:
        self.errors.pop(query, None)
        self.last_poll = time.time()

    def failed(self, query: str, message: str) -> None:
        n = self.errors.get(query, (0, ""))[0] + 1
        self.errors[query] = (n, message)

    @property
    def stalled(self) -> bool:
        return self.heartbeat is not None and time.monotonic() - self.heartbeat > self.stale_after

    def report_size(self, metrics: Metrics, spec: QuerySpec, found: int, dropped: int) -> None:
        """Metrics, health and one log line per change of a query's size: empty (``found``
        is 0), or over its max_series (``dropped`` label sets not monitored)."""
        name = spec.name
        metrics.query_series.labels(name).set(found)
        metrics.query_dropped.labels(name).set(dropped)
        was_empty, was_dropped = self.sizes.get(name, (None, 0))
        empty = found == 0
        if empty != was_empty:
            if empty:
                self.empty[name] = time.time()
                log.warning("%s: the query returns no series (nothing to monitor); reported "
                            "until it returns some", name)
            elif was_empty is not None:
                self.empty.pop(name, None)
                log.info("%s: the query returns %d series again", name, found)
        if dropped:
            self.dropped[name] = (dropped, found)
        else:
            self.dropped.pop(name, None)
        if found and dropped != was_dropped:  # (an empty answer says nothing about the cap)
            if dropped:
                log.warning("%s: the query returns %d series, more than its max_series (%d): "
                            "%d not monitored", name, found, spec.max_series, dropped)
            else:
                log.info("%s: every series of the query is monitored again (%d)", name, found)
            was_dropped = dropped
        self.sizes[name] = (empty, was_dropped)
