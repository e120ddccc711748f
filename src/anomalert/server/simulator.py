"""A live simulator for ``anomalert watch --simulate``: no Prometheus needed.

The realistic scenarios (:mod:`anomalert.scenarios`: host CPU / memory and load-balancer
traffic, with labelled incidents injected at random times) are served as if they were live
metrics. Each scenario is shifted in time so that its live part starts now and its first incident
after the ``history`` window comes ``lead`` later: a newcomer sees an alert fire within
seconds. (The shift moves the daily and weekly cycles off the wall clock's hours; history and
live data move together, so the detectors see the same series.) After the generated ``days``
the data repeats (``days`` is whole weeks, so the cycles line up).

The watch loop reads it through the same interface as Prometheus (:meth:`Simulator.fetch`),
so the simulation exercises the real loop: backfill, fit, poll, score, alert, deliver.

Examples
--------
>>> start = pd.Timestamp("2026-03-04 12:00", tz="UTC")
>>> sim = Simulator(scenarios=("cpu",), days=7, history=pd.Timedelta(days=1), start=start)
>>> frames = sim.fetch("cpu", start - pd.Timedelta("2min"), start)
>>> list(frames[""].columns), len(frames[""])
(['cpu_usage', 'memory_usage'], 3)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from anomalert.errors import ParameterError
from anomalert.scenarios import generate

__all__ = ["Simulator", "SimulatedSeries"]

_MINUTE = pd.Timedelta(minutes=1)
_TWO_DAYS = pd.Timedelta(days=2)
_TWENTY_MINUTES = pd.Timedelta(minutes=20)


@dataclass(frozen=True)
class SimulatedSeries:
    """One scenario's data as the simulator serves it."""

    name: str
    metrics: list[str]
    values: np.ndarray  # minutes x metrics
    kinds: np.ndarray  # anomaly type per minute ("normal" outside incidents)
    t0: pd.Timestamp  # first minute, already shifted


class Simulator:
    """Scenario data served as a live source on a simulated clock.

    Parameters
    ----------
    scenarios
        Scenario names (``"cpu"``, ``"lb"``); each becomes one series of that name.
    seed, days
        Passed to the realistic generators; ``days`` must be whole weeks.
    history
        Data before the live start, for the watch loop's backfill.
    lead
        Time between the live start and each scenario's first incident after ``history``.
    start
        Simulated time of the live start (default: now, to the minute). Each scenario is
        shifted so its live start lands there; a restarted watcher passes the stored start
        so the data does not move.
    """

    def __init__(
        self,
        scenarios: tuple[str, ...] = ("cpu", "lb"),
        *,
        seed: int = 42,
        days: int = 14,
        history: pd.Timedelta = _TWO_DAYS,
        lead: pd.Timedelta = _TWENTY_MINUTES,
        start: pd.Timestamp | None = None,
    ) -> None:
        if days % 7:
            raise ParameterError(f"The 'days' parameter of Simulator must be whole weeks. Got {days}.")
        ref = pd.Timestamp.now(tz="UTC") if start is None else start
        self._start = ref.floor("min")
        self.period = pd.Timedelta(days=days)
        self.history = history
        self.series: dict[str, SimulatedSeries] = {}
        for name in scenarios:
            s = generate(name, seed=seed, days=days, realistic=True)
            frame = s.frame
            begin = frame.index[0] + history + lead
            firsts = [e.start for e in s.events if e.start >= begin]
            live = (firsts[0] - lead) if firsts else frame.index[0] + history
            shift = self._start - live.floor("min")
            self.series[name] = SimulatedSeries(
                name=name,
                metrics=list(s.metrics),
                values=frame[s.metrics].to_numpy(dtype=float),
                kinds=frame["anomaly_type"].astype(str).to_numpy(),
                t0=frame.index[0] + shift,
            )

    @property
    def start_time(self) -> pd.Timestamp:
        """Simulated time at which the live stream starts."""
        return self._start

    def _rows(self, s: SimulatedSeries, start: pd.Timestamp, end: pd.Timestamp) -> pd.DatetimeIndex:
        first = max(start.ceil("min"), s.t0)
        if end < first:
            return pd.DatetimeIndex([], tz="UTC", name="timestamp")
        return pd.date_range(first, end.floor("min"), freq="1min", name="timestamp")

    def _positions(self, s: SimulatedSeries, index: pd.DatetimeIndex) -> np.ndarray:
        minutes = ((index - s.t0) // _MINUTE).to_numpy(dtype=np.int64)
        return np.asarray(minutes % len(s.values))

    def fetch(self, name: str, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, pd.DataFrame]:
        """Every minute of series ``name`` in ``[start, end]``, keyed like Prometheus label sets."""
        s = self.series[name]
        index = self._rows(s, start, end)
        pos = self._positions(s, index)
        return {"": pd.DataFrame(s.values[pos], index=index, columns=s.metrics)}

    def truth(self, name: str, at: pd.Timestamp) -> str:
        """The injected anomaly type at ``at`` (``"normal"`` outside incidents)."""
        s = self.series[name]
        if at < s.t0:
            return "normal"
        pos = self._positions(s, pd.DatetimeIndex([at.floor("min")]))
        return str(s.kinds[int(pos[0])])
