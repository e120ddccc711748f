"""Host CPU (and memory) scenario: seed tutorial 000 and its realistic variant.

The tutorial variant reproduces ``generate_cpu_metrics`` of the seed notebook
*exactly*: same formula, and the same legacy random stream that
``np.random.seed(seed)`` followed by ``np.random.normal`` produces, taken from a
private :class:`numpy.random.RandomState` so global random state is never touched.

Examples
--------
>>> s = cpu(seed=42)
>>> s.frame.shape, s.metrics
((10080, 4), ['cpu_usage', 'memory_usage'])
>>> [(e.kind, str(e.start), str(e.end)) for e in s.events]  # doctest: +NORMALIZE_WHITESPACE
[('spike', '2025-01-04 11:20:00+00:00', '2025-01-04 11:29:00+00:00'),
 ('drop', '2025-01-06 13:20:00+00:00', '2025-01-06 14:09:00+00:00')]
"""

from __future__ import annotations

import numpy as np

from anomalert.scenarios._base import Scenario, assemble, check_days, check_seed, minute_index
from anomalert.scenarios.realistic import realistic_cpu

__all__ = ["CPU_EVENTS", "CPU_START", "cpu", "tutorial_cpu"]

#: First timestamp of the tutorial series (UTC).
CPU_START = "2025-01-01"
#: The tutorial's injected incidents as ``(first_row, stop_row_exclusive, kind)``.
CPU_EVENTS: tuple[tuple[int, int, str], ...] = ((5000, 5010, "spike"), (8000, 8050, "drop"))
_TRAIN_DAYS = 2


def tutorial_cpu(seed: int = 42, days: int = 7) -> Scenario:
    """The seed-000 CPU series, value for value, plus a ``memory_usage`` column.

    Parameters
    ----------
    seed
        Seed of the legacy stream (``np.random.seed(seed)`` in the tutorial).
    days
        Length in days, one point per minute. The tutorial uses 7.

    Returns
    -------
    Scenario
        Metrics ``cpu_usage`` and ``memory_usage``; events ``spike`` (rows 5000-5009,
        CPU += 45) and ``drop`` (rows 8000-8049, CPU = 0); ``train_until`` is the end of
        the first two days.

    Notes
    -----
    ``cpu_usage`` is ``clip(40 + 20 sin(t - pi/2) + N(0, 3), 0, 100)`` with
    ``t = linspace(0, days 2 pi, days 1440)``, exactly as in the tutorial (note that
    ``linspace`` includes its end point, so one sine period is ``(days 1440 - 1) / days``
    minutes, slightly under a day, and the phase drifts against the wall clock; and
    the clip creates ties at exactly 0 and 100. Both are kept on purpose; the
    realistic variant fixes them).

    For ``days != 7`` the same formula is used; an event is injected only if all of
    its rows fit in the series, otherwise it is left out (with whole days that means
    the spike needs ``days >= 4`` and the drop ``days >= 6``).

    ``memory_usage`` comes from a separate generator (``default_rng([seed, 1000])``)
    so the CPU values are unchanged: ``55 + 8 sin(t - pi/2 - 0.6) + N(0, 1.5)``, a
    daily cycle lagging CPU by about 2.3 hours. Memory deliberately does *not* react
    to the tutorial's two CPU events: they stay CPU-only incidents exactly as the
    tutorial defines them (the realistic variant lets memory react).
    """
    seed = check_seed(seed, "tutorial_cpu")
    days = check_days(days, "tutorial_cpu")
    rs = np.random.RandomState(seed)

    # Verbatim semantics of generate_cpu_metrics(days, points_per_hour=60).
    total_points = days * 24 * 60
    t = np.linspace(0, days * 2 * np.pi, total_points)
    base_load = 40 + 20 * np.sin(t - (np.pi / 2))
    noise = rs.normal(0, 3, total_points)
    cpu_usage = base_load + noise
    spans: list[tuple[int, int, str]] = []
    for lo, hi, kind in CPU_EVENTS:
        if hi > total_points:
            continue  # the event does not fit: leave it out entirely
        if kind == "spike":
            cpu_usage[lo:hi] += 45
        else:
            cpu_usage[lo:hi] = 0
        spans.append((lo, hi - 1, kind))
    cpu_usage = np.clip(cpu_usage, 0, 100)

    mem_rng = np.random.default_rng([seed, 1000])
    memory = 55 + 8 * np.sin(t - np.pi / 2 - 0.6) + mem_rng.normal(0, 1.5, total_points)
    memory = np.clip(memory, 0, 100)

    return assemble(
        name="cpu",
        variant="tutorial",
        seed=seed,
        index=minute_index(CPU_START, total_points),
        metrics={"cpu_usage": cpu_usage, "memory_usage": memory},
        spans=spans,
        train_rows=min(_TRAIN_DAYS * 1440, total_points),
    )


def cpu(seed: int = 42, days: int | None = None, *, realistic: bool = False) -> Scenario:
    """Host CPU/memory scenario.

    Parameters
    ----------
    seed
        Random seed; same seed, same frame.
    days
        Length in days at one point per minute. Default 7 for the tutorial variant,
        14 for the realistic one.
    realistic
        False: the seed-000 tutorial series (:func:`tutorial_cpu`). True: wall-clock
        daily and weekly cycles, no clipping ties, several random incidents
        (:func:`anomalert.scenarios.realistic.realistic_cpu`).

    Raises
    ------
    ParameterError
        ``seed`` not an int in [0, 2**32) or ``days`` not an int >= 1.
    """
    if realistic:
        return realistic_cpu(seed, 14 if days is None else days)
    return tutorial_cpu(seed, 7 if days is None else days)
