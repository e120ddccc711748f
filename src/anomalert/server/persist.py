"""Checkpoints of the monitored series: a full state now and then, what changed in between.

A series' full state (its pickled :class:`~anomalert.server.runtime.SeriesRuntime`: detector,
monitor, recent points) is 0.4-1.5 MB for ``default``, and nearly all of it changes with every
point, so rewriting it at every checkpoint wrote ~66 MB/s for 500 series at a 15 s step.
:class:`Checkpointer` writes it only when the series is new, then once per ``full_every``
seconds (each series at its own phase, so they do not all come due at once) or after
``JOURNAL_MAX`` points. At every other checkpoint a series writes only

- the points it scored since the previous checkpoint (the *journal*, ~100 bytes a point);
- its *alert state* (a few kB): the Monitor's decision state (incidents that can still change,
  the k-of-n window, the cooldown count), what was notified (``fired``), the latest verdict,
  whether the series is stale.

Restoring loads the full state, replays the journal through the Monitor (the same points in
the same order give the same state; no notification is made again: they were all written to
the outbox when the points were first scored), then sets the alert state saved with the last
journal rows, so what was paged and resolved is exactly what it was before the restart even
if the replay decided otherwise (a detector that changed between versions, say). The watch
loop then re-reads from Prometheus the points after the checkpoint, as it always did.

A series the service forgot (:meth:`Checkpointer.forget`) is deleted from the store by the
next checkpoint, in the same transaction as what it writes (the deletions first: a series of
that name created since is written after them). Until then a restart restores it, and it is
forgotten again. A checkpoint that took a series' state before it was forgotten (or before
a new series of its name replaced it) does not write it back.

Checkpoints can run at the same time (the watch loop's periodic one, each push's own): each
takes its series one at a time, under the series' lock, then commits them all at once. What
the store gets of a series must follow the order it was taken in (a journal's points continue
the state taken before them; a later alert state replaces an earlier one; a full state
replaces the journal), whichever checkpoint commits first. So a commit writes every take of
its series not written yet, its own and those of the checkpoints still running, in the order
taken; the later commit of those then has nothing left of them to write.

Examples
--------
>>> import pandas as pd
>>> from anomalert.alerting.store import Store
>>> from anomalert.server.runtime import ServiceState
>>> state = ServiceState(store=Store(":memory:"))
>>> rt = state.create_series("api", ["ms"])
>>> for i in range(3):
...     _ = state.observe(rt, rt.monitor.check(f"2025-01-01T00:0{i}Z", {"ms": 10.0 + i}),
...                       {"ms": 10.0 + i})
>>> state.checkpoint(), state.store.load_series()[0].journal  # new: full, nothing to replay
(1, ())
>>> _ = state.observe(rt, rt.monitor.check("2025-01-01T00:03Z", {"ms": 13.0}), {"ms": 13.0})
>>> state.checkpoint(), state.store.load_series()[0].journal  # then only the new point
(1, ((1735689780000000000, '{"ms": 13.0}'),))
>>> again = ServiceState(store=state.store)
>>> again.restore(), again.series["api"].points, again.series["api"].last_ts.minute
(1, 4, 3)
"""

from __future__ import annotations

import json
import logging
import pickle
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from anomalert.alerting.store import SeriesDelta, Store
from anomalert.errors import AnomalertError

if TYPE_CHECKING:
    import threading as _threading

    from anomalert.monitor import Verdict
    from anomalert.server.series import SeriesRuntime


class Service(Protocol):
    """What the checkpoints need of the service state
    (:class:`~anomalert.server.runtime.ServiceState`)."""

    series: dict[str, SeriesRuntime]
    lock: _threading.RLock
    notes: Any

    def series_lock(self, name: str) -> AbstractContextManager[None]: ...

    def observe(self, rt: SeriesRuntime, verdict: Verdict, values: Mapping[str, Any] | None = ...,
                *, replay: bool = ...) -> Any: ...

__all__ = ["JOURNAL_MAX", "Checkpointer"]

log = logging.getLogger("anomalert.server.persist")

#: A series writes its full state after this many journaled points (a bound on the replay).
JOURNAL_MAX = 2000
#: Incidents of a series kept up to date in the store's incidents table (the latest ones).
INCIDENTS_KEPT = 10
#: Monitor attributes that are not its decision state (the detector is the full state's).
_NOT_ALERT = frozenset({"detector", "policy", "series", "incidents"})


@dataclass
class _Saved:
    """What the store holds of one series, as this process last wrote it."""

    full_due: float  # time.monotonic() when its full state is to be written again
    base: int = 0  # incidents before this index are final and in the stored full state
    journaled: int = 0  # journal rows since the full state
    points: list[tuple[int, str]] = field(default_factory=list)  # scored, not written yet
    incidents: dict[int, str] = field(default_factory=dict)  # JSON of each, as written
    full: bool = False  # the next checkpoint must write the full state


@dataclass
class _Taken:
    """What one checkpoint took of a series for the store: its full state ``(name, kind,
    state, last_ts)``, or its changes since the previous take; its changed incidents."""

    rt: SeriesRuntime
    full: tuple[str, str, bytes, str | None] | None
    delta: SeriesDelta | None
    incidents: list[dict[str, Any]] = field(default_factory=list)


def _merge(
    taken: Mapping[str, Sequence[_Taken]],
) -> tuple[list[tuple[str, str, bytes, str | None]], list[SeriesDelta], list[dict[str, Any]]]:
    """One write of each series from its takes, in the order taken: the latest full state
    (the earlier takes are in it), then the journal points of the takes after it and the
    alert state of the latest; every take's incidents, the later ones last (they win)."""
    full: list[tuple[str, str, bytes, str | None]] = []
    deltas: list[SeriesDelta] = []
    incidents: list[dict[str, Any]] = []
    for takes in taken.values():
        last_full: tuple[str, str, bytes, str | None] | None = None
        after: list[SeriesDelta] = []
        for t in takes:
            incidents += t.incidents
            if t.full is not None:
                last_full, after = t.full, []
            elif t.delta is not None:
                after.append(t.delta)
        if last_full is not None:
            full.append(last_full)
        if after:
            points = tuple(p for d in after for p in d.points)
            deltas.append(SeriesDelta(after[-1].name, after[-1].alert, after[-1].last_ts, points))
    return full, deltas, incidents


def _alert_state(rt: SeriesRuntime, base: int) -> bytes:
    m = rt.monitor
    return pickle.dumps({
        "monitor": {k: v for k, v in m.__dict__.items() if k not in _NOT_ALERT},
        "base": base,
        "incidents": m.incidents[base:],
        "fired": rt.fired,
        "last": rt.last,
        "last_ts": rt.last_ts,
        "first_ts": rt.first_ts,
        "points": rt.points,
        "learning_flagged": rt.learning_flagged,
        "stale_since": rt.stale_since,
        "last_wall": rt.last_wall,
    }, protocol=5)


def _apply_alert_state(rt: SeriesRuntime, data: Mapping[str, Any]) -> None:
    m = rt.monitor
    m.__dict__.update(data["monitor"])
    m.incidents[data["base"]:] = data["incidents"]
    rt.fired, rt.last, rt.last_ts = data["fired"], data["last"], data["last_ts"]
    rt.first_ts, rt.points = data["first_ts"], data["points"]
    rt.learning_flagged = data.get("learning_flagged", False)
    rt.stale_since, rt.last_wall = data.get("stale_since"), data.get("last_wall")


class Checkpointer:
    """Writes the series of a :class:`ServiceState` to its store (see the module docstring).

    Parameters
    ----------
    store
        The state database.
    full_every
        Seconds between two full states of a series (0: at every checkpoint, as before).
    """

    def __init__(self, store: Store, full_every: float = 1800.0) -> None:
        self.store = store
        self.full_every = float(full_every)
        self._saved: dict[str, _Saved] = {}
        self._lock = threading.Lock()
        # names of series forgotten, not yet deleted from the store
        self._forgotten: set[str] = set()
        self._commit = threading.Lock()  # from taking the forgotten ones to the commit
        # what checkpoints took of each series and is not written yet, in the order taken
        self._pending: dict[str, list[_Taken]] = {}

    def forget(self, name: str) -> None:
        """The series ``name`` was forgotten: delete it from the store at the next
        checkpoint; a series created with that name since is new (written in full)."""
        with self._lock:
            self._saved.pop(name, None)
            self._pending.pop(name, None)  # (its takes not written yet are not written)
            self._forgotten.add(name)

    def write_in_full(self, name: str) -> None:
        """Write ``name`` in full at its next checkpoint (its detector was replaced: the
        points it scores since must not be journaled over the previous full state)."""
        with self._lock:
            saved = self._saved.get(name)
            if saved is not None:  # (else its first checkpoint writes it in full)
                saved.full = True

    def _first_due(self, name: str) -> float:
        # a phase per series in [0.25, 1) of the period: a fleet created at once (the
        # backfill) does not come due at once
        phase = 0.25 + 0.75 * (zlib.crc32(name.encode()) / 2**32)
        return time.monotonic() + self.full_every * phase

    def point(self, name: str, ts: pd.Timestamp, values: Mapping[str, Any] | None) -> None:
        """Note a point ``name`` scored (``values`` as given to the Monitor; None: unknown,
        so its full state is written next)."""
        with self._lock:
            saved = self._saved.get(name)
            if saved is None:
                return  # never written: its first checkpoint writes it in full
            if values is None:
                saved.full = True
                return
            saved.points.append((int(ts.value), json.dumps(dict(values))))

    # -- writing ------------------------------------------------------------------------
    def save(
        self, state: Service, names: Sequence[str], meta: dict[str, str] | None = None
    ) -> int:
        """Write the series ``names``: in full when due, else their changes; returns count."""
        done: list[tuple[str, Any]] = []
        now = time.monotonic()
        for name in names:
            # (the watch loop and POST /v1/score score a series' points under its lock: none
            # is scored between taking its state and its journal's new points; it is
            # forgotten under it too)
            with state.series_lock(name):
                rt = state.series.get(name)
                if rt is not None:
                    self._take(name, rt, now)
                    done.append((name, rt))
        with self._commit:
            with state.lock, self._lock:
                gone, self._forgotten = self._forgotten, set()
                # taken, then forgotten (or replaced by a new series of its name, written by
                # a checkpoint since) before this commit: not written back
                late = {n for n, rt in done if state.series.get(n) is not rt}
                # every take of these series not written yet, in the order taken: this
                # checkpoint's and those of checkpoints running at the same time, which took
                # a series before or after it did (what one took later must not be written
                # before, nor overwritten by, what another took earlier)
                taken: dict[str, list[_Taken]] = {}
                for n, _ in done:  # (a name given twice keeps its takes)
                    taken.setdefault(n, []).extend(
                        t for t in self._pending.pop(n, ()) if state.series.get(n) is t.rt)
            full, deltas, incidents = _merge(taken)
            try:
                self.store.checkpoint(full, incidents, meta, deltas=deltas, forget=sorted(gone))
            except BaseException:
                with self._lock:  # not written: write them in full next time
                    for name, _ in done:
                        self._pending.pop(name, None)  # (taken since: changes to the lost)
                        saved = self._saved.get(name)
                        if saved is not None:
                            saved.full = True
                            saved.incidents.clear()
                    self._forgotten |= gone  # and delete these next time
                raise
        return len(done) - len(late)

    def _take(self, name: str, rt: SeriesRuntime, now: float) -> None:
        """Take what the store is to get of ``rt`` (under its series lock): its full state when
        due, else its alert state and the points it scored since; and its changed incidents.

        The state is pickled outside ``_lock``: a checkpoint whose commit failed meanwhile
        (it marks its series for a full write, without their series locks) makes a change
        taken here stale, so it is taken again, in full."""
        last = rt.last_ts.isoformat() if rt.last_ts is not None else None
        while True:
            with self._lock:
                saved = self._saved.get(name)
                due = saved is None or saved.full or now >= saved.full_due or (
                    saved.journaled + len(saved.points) > JOURNAL_MAX)
            blob = pickle.dumps(rt, protocol=5) if due or saved is None else (
                _alert_state(rt, saved.base))
            self._lock.acquire()
            if self._saved.get(name) is saved and (due or (saved is not None and not saved.full)):
                break
            self._lock.release()  # a failed commit marked it since: take it again
        try:
            if due or saved is None:
                take = _Taken(rt, (name, rt.kind, blob, last), None)
                new = _Saved(
                    full_due=self._first_due(name) if saved is None else now + self.full_every,
                    base=max(0, len(rt.monitor.incidents) - 1),
                    incidents=saved.incidents if saved is not None else {},
                )
            else:
                points = tuple(saved.points)
                take = _Taken(rt, None, SeriesDelta(name, blob, last, points))
                new = _Saved(saved.full_due, saved.base, saved.journaled + len(points),
                             incidents=saved.incidents)
            for inc in rt.monitor.incidents[-INCIDENTS_KEPT:]:
                d = inc.to_dict()
                text = json.dumps(d, default=str, sort_keys=True)
                if new.incidents.get(inc.id) != text:
                    take.incidents.append(d)
                    new.incidents[inc.id] = text
            for old in sorted(new.incidents)[:-INCIDENTS_KEPT]:
                del new.incidents[old]
            self._saved[name] = new
            self._pending.setdefault(name, []).append(take)
        finally:
            self._lock.release()

    # -- reading ----------------------------------------------------------------------------
    def restore(self, state: Service) -> int:
        """Load every stored series into ``state``, replaying its journal; returns how many."""
        n = replayed = 0
        for rec in self.store.load_series():
            try:
                rt: SeriesRuntime = pickle.loads(rec.state)
                alert = pickle.loads(rec.alert) if rec.alert is not None else None
            except Exception as exc:
                state.notes.append(f"cannot restore series {rec.name!r}: {exc}")
                log.error("cannot restore series %r: %s", rec.name, exc)
                continue
            with state.lock:
                state.series[rec.name] = rt
            for t, point in rec.journal:
                ts = pd.Timestamp(t, tz="UTC")
                if rt.last_ts is not None and ts <= rt.last_ts:
                    continue
                values = json.loads(point)
                try:
                    verdict = rt.monitor.check(ts, values)
                except AnomalertError as exc:
                    log.warning("%s: replaying the point at %s failed: %s", rec.name, ts, exc)
                    break
                state.observe(rt, verdict, values, replay=True)
                replayed += 1
            if alert is not None:
                _apply_alert_state(rt, alert)
            with self._lock:
                self._saved[rec.name] = _Saved(
                    full_due=self._first_due(rec.name),
                    base=alert["base"] if alert is not None
                    else max(0, len(rt.monitor.incidents) - 1),
                    journaled=len(rec.journal),
                    incidents={
                        i.id: json.dumps(i.to_dict(), default=str, sort_keys=True)
                        for i in rt.monitor.incidents[-INCIDENTS_KEPT:]
                    },
                )
            n += 1
        if replayed:
            log.info("restored %d series; replayed %d journaled point(s)", n, replayed)
        return n
