"""How long a series may go without points: stale after ``stale_after``, forgotten after
``forget_after`` (see ``docs/watch.md``, "Series that stop").

A series with no point for its ``stale_after`` is *stale*: its open alert resolves, it stays
shown. One with no point for its ``forget_after`` (longer) is *forgotten*: removed from the
service and the state file, as if it had never been (:mod:`anomalert.server.forget`).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FORGET_AFTER", "STALE_MIN", "STALE_STEPS", "default_stale_after", "forget_after_for"]

#: A series is stale after this many steps without a point, and never sooner than
#: STALE_MIN (Prometheus' own staleness: a sample counts for 5 minutes).
STALE_STEPS = 5
STALE_MIN = pd.Timedelta("5min")
#: A stale series is forgotten after this long without a point, unless configured (and never
#: before twice its stale_after): a day of pod churn at most stays in memory and the state
#: file, long enough to see on the status page what went away overnight (docs/watch.md).
FORGET_AFTER = pd.Timedelta(days=1)


def default_stale_after(step: pd.Timedelta | float | None) -> pd.Timedelta:
    """How long a series may go without a point before it is stale, unless configured:
    five steps, at least five minutes. ``step`` in seconds or as a Timedelta (None: unknown,
    taken as a minute).

    >>> str(default_stale_after(pd.Timedelta("30s"))), str(default_stale_after(300.0))
    ('0 days 00:05:00', '0 days 00:25:00')
    """
    if step is None:
        step = pd.Timedelta("60s")
    elif not isinstance(step, pd.Timedelta):
        step = pd.Timedelta(seconds=float(step))
    return max(STALE_STEPS * step, STALE_MIN)


def forget_after_for(
    forget_after: pd.Timedelta | None, stale_after: pd.Timedelta
) -> pd.Timedelta | None:
    """How long a series may go without a point before it is forgotten: ``forget_after`` as
    configured (0: never, None), else a day, at least twice ``stale_after``.

    >>> [str(forget_after_for(f, pd.Timedelta("5min"))) for f in (None, pd.Timedelta("2h"))]
    ['1 days 00:00:00', '0 days 02:00:00']
    >>> forget_after_for(pd.Timedelta(0), pd.Timedelta("5min")) is None
    True
    """
    if forget_after is None:
        return max(FORGET_AFTER, 2 * stale_after)
    return forget_after if forget_after > pd.Timedelta(0) else None
