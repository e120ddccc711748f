"""Load-balancer scenario: seed tutorial 004 and its realistic variant.

The tutorial variant reproduces the seed notebook's per-minute generation loop
*exactly*: the same formulas, the same draws in the same order from the legacy
stream that ``np.random.seed(seed)`` sets up (the notebook also calls
``random.seed`` but never draws from Python's :mod:`random`), taken from a private
:class:`numpy.random.RandomState` so global random state is never touched.

Examples
--------
>>> s = lb(seed=42)
>>> s.frame.shape
(1440, 7)
>>> [(e.kind, e.start.strftime("%H:%M"), e.end.strftime("%H:%M")) for e in s.events]
[('traffic_spike', '05:00', '05:29'), ('4xx_spike', '15:00', '15:14'), ('5xx_spike', '20:00', '20:59')]
"""

from __future__ import annotations

import numpy as np

from anomalert.scenarios._base import Scenario, assemble, check_days, check_seed, minute_index
from anomalert.scenarios.realistic import realistic_lb

__all__ = ["LB_COLUMNS", "LB_EVENTS", "LB_START", "lb", "tutorial_lb"]

#: First timestamp of the tutorial series (UTC).
LB_START = "2024-01-01 00:00"
#: Metric columns, in the tutorial's order.
LB_COLUMNS = ("total_requests", "2xx_count", "4xx_count", "5xx_count", "avg_response_time_ms")
#: The tutorial's events as ``(start_minute, duration_minutes, kind)``, in its lookup order.
LB_EVENTS: tuple[tuple[int, int, str], ...] = (
    (1200, 60, "5xx_spike"),
    (300, 30, "traffic_spike"),
    (900, 15, "4xx_spike"),
)
#: The tutorial trains on the first 1000 minutes (a fixed cut, not chosen from labels).
_TRAIN_MINUTES = 1000


def tutorial_lb(seed: int = 42, days: int = 1) -> Scenario:
    """The seed-004 load-balancer series, value for value.

    Parameters
    ----------
    seed
        Seed of the legacy stream (``np.random.seed(seed)`` in the tutorial).
    days
        Length in days, one row per minute. The tutorial uses 1 (1440 minutes).

    Returns
    -------
    Scenario
        Metrics ``total_requests``, ``2xx_count``, ``4xx_count``, ``5xx_count``
        (integral floats) and ``avg_response_time_ms``; events ``traffic_spike``
        (minutes 300-329), ``4xx_spike`` (900-914) and ``5xx_spike`` (1200-1259);
        ``train_until`` is minute 1000, the tutorial's training cut.

    Notes
    -----
    Per minute, in this order: one ``normal(0, 500)`` draw for traffic; inside an
    event one ``uniform`` draw (the 5xx rate, the traffic multiplier or the 4xx
    rate); one ``normal(120, 20)`` draw for response time; and inside a 5xx or
    traffic event one more ``uniform(2, 5)`` slowdown draw.

    For ``days > 1`` the loop simply runs over ``days * 1440`` minutes: the daily
    pattern repeats (it uses ``t % 1440``) and the three events stay at their
    minute offsets of day 0 only; later days have no incidents.

    The loop calls the generator once per draw, like the tutorial, which is the
    simplest way to keep the interleaved draw order (the legacy Gaussian caches
    its second value, so the draws cannot be batched safely). It takes a few
    milliseconds per simulated day.
    """
    seed = check_seed(seed, "tutorial_lb")
    days = check_days(days, "tutorial_lb")
    rs = np.random.RandomState(seed)
    normal, uniform = rs.normal, rs.uniform
    n = days * 1440
    out = np.empty((n, len(LB_COLUMNS)), dtype=float)
    for t in range(n):
        kind = "normal"
        hour_of_day = (t % 1440) / 60
        daily_pattern = 0.5 + 0.4 * np.sin(2 * np.pi * (hour_of_day - 6) / 24)
        base_requests: float = int(8000 + 6000 * daily_pattern + normal(0, 500))
        base_requests = max(1000, base_requests)
        http_2xx_rate = 0.98
        http_4xx_rate = 0.015
        http_5xx_rate = 0.005
        for start, duration, event_kind in LB_EVENTS:
            if start <= t < start + duration:
                kind = event_kind
                if kind == "5xx_spike":
                    http_5xx_rate = uniform(0.3, 0.6)
                    http_2xx_rate = max(0.1, 1 - http_4xx_rate - http_5xx_rate)
                elif kind == "traffic_spike":
                    base_requests *= uniform(5, 10)
                    http_5xx_rate = 0.02
                    http_4xx_rate = 0.03
                    http_2xx_rate = 1 - http_4xx_rate - http_5xx_rate
                else:  # 4xx_spike
                    http_4xx_rate = uniform(0.2, 0.4)
                    http_2xx_rate = max(0.3, 1 - http_4xx_rate - http_5xx_rate)
                break
        total_requests = int(base_requests)
        num_2xx = int(total_requests * http_2xx_rate)
        num_4xx = int(total_requests * http_4xx_rate)
        num_5xx = total_requests - num_2xx - num_4xx
        avg_response_time = normal(120, 20)
        if kind in ("5xx_spike", "traffic_spike"):
            avg_response_time *= uniform(2, 5)
        avg_response_time = max(10, avg_response_time)
        out[t] = (total_requests, num_2xx, num_4xx, num_5xx, avg_response_time)

    spans = [(start, start + duration - 1, kind) for start, duration, kind in LB_EVENTS]
    return assemble(
        name="lb",
        variant="tutorial",
        seed=seed,
        index=minute_index(LB_START, n),
        metrics={col: out[:, j] for j, col in enumerate(LB_COLUMNS)},
        spans=spans,
        train_rows=min(_TRAIN_MINUTES, n),
    )


def lb(seed: int = 42, days: int | None = None, *, realistic: bool = False) -> Scenario:
    """Load-balancer scenario: per-minute request counts by status class and latency.

    Parameters
    ----------
    seed
        Random seed; same seed, same frame.
    days
        Length in days at one row per minute. Default 1 for the tutorial variant,
        7 for the realistic one.
    realistic
        False: the seed-004 tutorial series (:func:`tutorial_lb`). True: wall-clock
        daily and weekly cycles, binomial status counts, several random incidents
        of each type (:func:`anomalert.scenarios.realistic.realistic_lb`).

    Raises
    ------
    ParameterError
        ``seed`` not an int in [0, 2**32) or ``days`` not an int >= 1.
    """
    if realistic:
        return realistic_lb(seed, 7 if days is None else days)
    return tutorial_lb(seed, 1 if days is None else days)
