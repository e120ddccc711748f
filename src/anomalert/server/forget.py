"""Series gone for good are forgotten: stale for their ``forget_after``, they are removed.

A series that stops getting points goes *stale* after its ``stale_after`` (its open alert
resolved; it stays on the status page, in ``/metrics`` and in the state file). With pod churn
(every deploy renames the pods) stale series would pile up forever, so one with no point for
its ``forget_after`` (longer than ``stale_after``; default a day, see
:mod:`anomalert.server.staleness`; 0 or ``never``: kept) is *forgotten*
(:meth:`~anomalert.server.runtime.ServiceState.forget`): removed from the service, and from
the state file at the next checkpoint. Its notifications already in the outbox are delivered
all the same. Its label set, if it comes back, is a new series.

The clocks are those of staleness: watched series in data time, after each successful poll
(the watch loop calls :func:`forget_watched`) and when a gap that long separates two points
of one poll; pushed series in wall-clock time, counted from the service's start at the
earliest (:func:`forget_pushed`); series of a query no longer configured by the ``defaults``'
``forget_after`` after their last point, on the watch loop's clock (:func:`forget_orphans`).
Each call logs once, with the count, and counts in ``anomalert_series_forgotten_total``.

Examples
--------
>>> import time
>>> from anomalert.server.runtime import ServiceState
>>> state = ServiceState(push_stale_after=pd.Timedelta("1s"), push_forget_after=pd.Timedelta("2s"))
>>> rt = state.create_series("api", ["ms"])
>>> _ = state.observe(rt, rt.monitor.check("2025-01-01T00:00Z", {"ms": 1.0}))
>>> now = time.time()
>>> state.expire_pushed(now + 1.5), forget_pushed(state, now + 1.5), forget_pushed(state, now + 2.5)
(1, [], ['api'])
>>> list(state.series), state.health.forgotten
([], 1)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from anomalert.server.staleness import forget_after_for

if TYPE_CHECKING:
    from anomalert.server.runtime import ServiceState
    from anomalert.server.series import SeriesRuntime

__all__ = ["forget", "forget_orphans", "forget_pushed", "forget_watched"]

log = logging.getLogger("anomalert.server.forget")


def forget(
    state: ServiceState, runtimes: Sequence[SeriesRuntime], after: pd.Timedelta,
    *, query: str | None, what: str,
) -> list[str]:
    """Forget the stale ``runtimes`` (those not stale any more, or with an alert still
    notified open, are kept); log once, count. ``what`` says which clock: e.g. ``"no point
    for"``. Returns the names forgotten."""
    gone = [rt.name for rt in runtimes if state.forget(rt)]
    if gone:
        kind = "push" if query is None else "watch"
        state.metrics.forgotten.labels(kind, query or "").inc(len(gone))
        with state.lock:
            state.health.forgot(gone)
        shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        log.info("%s: forgot %d %sseries, %s %gs (forget_after): %s", query or "push", len(gone),
                 "pushed " if query is None else "", what, after.total_seconds(), shown)
    return gone


def forget_watched(
    state: ServiceState, query: str, end: pd.Timestamp, after: pd.Timedelta | None
) -> list[str]:
    """Forget the stale series of ``query`` with no point for ``after`` before ``end`` (the
    data time a successful poll fetched up to); None: never."""
    if after is None:
        return []
    with state.lock:
        due = [r for r in state.series.values()
               if r.group == query and r.kind == "watch" and r.stale_since is not None
               and r.last_ts is not None and end - r.last_ts >= after]
    return forget(state, due, after, query=query, what="no point for")


def pushed_forget_after(state: ServiceState, rt: SeriesRuntime) -> pd.Timedelta | None:
    """The ``forget_after`` of a pushed series (the ``defaults``'; None: never)."""
    return forget_after_for(state.push_forget_after, state.push_stale_after_for(rt))


def forget_pushed(state: ServiceState, now: float | None = None) -> list[str]:
    """Forget the stale pushed series with no push for their ``forget_after`` of wall-clock
    time, counted from the service's start at the earliest (clients could not push while it
    was down)."""
    now = time.time() if now is None else now
    with state.lock:
        stale = [rt for rt in state.series.values()
                 if rt.kind == "push" and rt.stale_since is not None]
    due, shortest = [], None
    for rt in stale:
        after = pushed_forget_after(state, rt)
        if after is not None and state.idle_seconds(rt, now) >= after.total_seconds():
            due.append(rt)
            shortest = after if shortest is None else min(shortest, after)
    if not due:
        return []
    assert shortest is not None
    return forget(state, due, shortest, query=None, what="no push for")


def forget_orphans(
    state: ServiceState, queries: Collection[str], now: pd.Timestamp
) -> list[str]:
    """Forget the watched series of queries no longer configured (not in ``queries``; they
    were marked stale at start-up and are not polled) once ``now`` (the watch loop's clock)
    is the ``defaults``' ``forget_after`` past their last point."""
    by_query: dict[str, list[SeriesRuntime]] = {}
    shortest: dict[str, pd.Timedelta] = {}
    with state.lock:
        for rt in state.series.values():
            if (rt.kind == "watch" and rt.group not in queries and rt.stale_since is not None
                    and rt.last_ts is not None):
                after = pushed_forget_after(state, rt)
                if after is not None and now - rt.last_ts >= after:
                    query = str(rt.group)
                    by_query.setdefault(query, []).append(rt)
                    shortest[query] = min(shortest.get(query, after), after)
    out = []
    for query, due in by_query.items():
        out += forget(state, due, shortest[query], query=query,
                      what="no longer configured, no point for at least")
    return out
