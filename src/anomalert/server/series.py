"""One monitored series as the service keeps it: its Monitor, latest verdict, what was
notified, recent points for charts. Pickled whole in the state file's full checkpoints
(:mod:`anomalert.server.persist`); :class:`~anomalert.server.runtime.ServiceState` holds one
per series."""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import pandas as pd

from anomalert.alerting.sinks import Notification
from anomalert.monitor import Monitor, Verdict

__all__ = ["CHARTS_KEPT", "HISTORY_POINTS", "SeriesLocks", "SeriesRuntime"]

HISTORY_POINTS = 720
CHARTS_KEPT = 10


def _f(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _num(x: Any) -> float | None:
    try:
        return float(x)
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass
class SeriesRuntime:
    """One monitored series: its monitor and what the service shows about it."""

    name: str
    monitor: Monitor
    kind: str = "watch"  # "watch" (polled) or "push" (POST /v1/score)
    group: str | None = None  # the configured query it came from
    labels: dict[str, str] = field(default_factory=dict)
    last_ts: pd.Timestamp | None = None
    first_ts: pd.Timestamp | None = None  # first point scored live (after any backfill)
    last: Verdict | None = None
    points: int = 0
    # the "fired" notification of the incident notified open, kept until its "resolved" is
    # sent (the cooldown after its resolution, see resolution_due); pickled with the monitor
    fired: Notification | None = None
    # the last point's time while the series is stale (no point for its stale_after), else None
    stale_since: pd.Timestamp | None = None
    last_wall: float | None = None  # wall-clock time its latest point was scored
    learning_flagged: bool = False  # the detector learns what it flags (see telemetry)
    history: deque[tuple[float, float | None, float | None, tuple[float | None, ...]]] = field(
        default_factory=lambda: deque(maxlen=HISTORY_POINTS)
    )
    charts: dict[int, list[Any]] = field(default_factory=dict)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # State pickled by an older version may lack newer fields: give them their defaults.
        for f in fields(self):
            if f.name not in state:
                if f.default is not MISSING:
                    state[f.name] = f.default
                elif f.default_factory is not MISSING:
                    state[f.name] = f.default_factory()
        self.__dict__.update(state)

    @property
    def alerting(self) -> int | None:
        """The incident notified as firing whose resolution is not sent yet: open, or
        resolved less than the policy's cooldown ago (an alert would re-open it)."""
        return self.fired.incident if self.fired is not None else None

    def resolution_due(self) -> bool:
        """Whether the notified incident's ``resolved`` can go out: it is resolved and no
        alert can re-open it any more (the cooldown after its resolution is over, see
        :meth:`Monitor.would_reopen`), or a later incident has replaced it."""
        last = self.monitor.incidents[-1] if self.monitor.incidents else None
        if self.fired is None or last is None:
            return False
        if last.id != self.fired.incident:
            return True
        return not last.is_open and not self.monitor.would_reopen()

    @property
    def columns(self) -> list[str]:
        det = self.monitor.detector
        return list(det.columns_) if det.is_fitted else []

    def chart(self, incident_id: int) -> list[Any]:
        """Points around an incident: stored at resolution, else the recent history."""
        if incident_id in self.charts:
            return self.charts[incident_id]
        inc = next((i for i in self.monitor.incidents if i.id == incident_id), None)
        if inc is None:
            return []
        lo = inc.start.timestamp() - 60 * 60
        return [p for p in self.history if p[0] >= lo]


class SeriesLocks:
    """One re-entrant lock per series name, held while a batch of its points is scored,
    its state taken for a checkpoint, or it is forgotten. A name's lock exists while someone
    holds or waits for it: forgotten series leave nothing behind.

    >>> locks = SeriesLocks()
    >>> with locks.hold("a"), locks.hold("a"):  # re-entrant
    ...     len(locks)
    1
    >>> len(locks)
    0
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, list[Any]] = {}  # name -> [RLock, holders and waiters]

    def __len__(self) -> int:
        return len(self._locks)

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            entry = self._locks.get(name)
            if entry is None:
                entry = self._locks[name] = [threading.RLock(), 0]
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._guard:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._locks[name]
