"""Realistic variants of the CPU and load-balancer scenarios.

The tutorials' generators are faithful to their notebooks, and unrealistic in
ways that flatter (or confuse) detectors: one sine period per ~day not aligned
to the clock, no weekly cycle, white noise only, CPU clipped into exact ties at
0 and 100, error counts with no noise at all, and one incident of each type at a
hand-picked time. The variants here fix that:

* daily cycle on the wall clock (trough at 04:00 UTC, peak at 14:00 UTC, a
  10-hour rise and a 14-hour decline), weekends lower (smooth transitions), and a
  small day-to-day level variation;
* autocorrelated (AR(1)) noise; CPU and memory are squashed through a logistic in
  log-odds space, so they stay strictly inside (0, 100) with no ties;
* status counts drawn as binomials from per-minute rates, traffic as Poisson
  counts around the expected rate;
* several incidents of each type at random, non-overlapping times (at least an
  hour apart) with random durations and sizes, none during an initial warm-up,
  every one labelled.

Everything is drawn from ``np.random.default_rng(seed)`` in a fixed order.

Examples
--------
>>> s = realistic_lb(seed=7, days=2)
>>> len(s.frame), s.train_until == s.frame.index[0] + pd.Timedelta(days=1)
(2880, True)
>>> sorted({e.kind for e in s.events})
['4xx_spike', '5xx_spike', 'traffic_spike']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from anomalert.scenarios._base import Scenario, assemble, check_days, check_seed, minute_index

__all__ = [
    "CPU_INCIDENTS",
    "LB_INCIDENTS",
    "daily_shape",
    "place_incidents",
    "realistic_cpu",
    "realistic_lb",
    "weekend_weight",
]

#: Incident kinds of the realistic CPU scenario: (kind, rate per day, min and max minutes).
CPU_INCIDENTS: tuple[tuple[str, float, int, int], ...] = (
    ("spike", 0.5, 5, 30),
    ("drop", 0.25, 15, 90),
    ("level_shift", 0.15, 120, 360),
)
#: Incident kinds of the realistic load-balancer scenario, as for :data:`CPU_INCIDENTS`.
LB_INCIDENTS: tuple[tuple[str, float, int, int], ...] = (
    ("5xx_spike", 0.5, 5, 45),
    ("traffic_spike", 0.4, 10, 60),
    ("4xx_spike", 0.5, 5, 30),
)
_CPU_START = "2025-01-01"  # a Wednesday, as in the tutorial
_LB_START = "2024-01-01"  # a Monday, as in the tutorial
_MIN_GAP = 60  # quiet minutes between two incidents


def _hours(index: pd.DatetimeIndex) -> np.ndarray:
    return np.asarray(index.hour + index.minute / 60 + index.second / 3600, dtype=float)


def daily_shape(index: pd.DatetimeIndex, *, trough: float = 4.0, peak: float = 14.0) -> np.ndarray:
    """Daily load in [0, 1] on the wall clock: 0 at ``trough`` hours UTC, 1 at ``peak``.

    The rise (trough to peak) and the decline take different times; each is half a
    sine period, so the curve is smooth with flat extremes.

    Examples
    --------
    >>> idx = pd.DatetimeIndex(["2024-01-01 04:00", "2024-01-01 09:00", "2024-01-01 14:00"])
    >>> daily_shape(idx.tz_localize("UTC")).round(3).tolist()
    [0.0, 0.5, 1.0]
    """
    rise = (peak - trough) % 24
    since = (_hours(index) - trough) % 24
    phase = np.where(
        since < rise,
        -np.pi / 2 + np.pi * since / rise,
        np.pi / 2 + np.pi * (since - rise) / (24 - rise),
    )
    return np.asarray((1 + np.sin(phase)) / 2)


def weekend_weight(index: pd.DatetimeIndex, *, width_hours: float = 2.0) -> np.ndarray:
    """How much of a weekend each timestamp is: ~0 Monday to Friday, ~1 Saturday and Sunday.

    Transitions at midnight are smooth logistic ramps about ``width_hours`` wide.
    """
    day = np.asarray(index.day_of_week, dtype=float) + _hours(index) / 24  # 0 = Monday 00:00
    s = width_hours / 24 / 4

    def sig(x: np.ndarray) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-np.clip(x / s, -60, 60))))

    # This week's weekend [5, 7) plus last week's [-2, 0), so the weight is continuous.
    return sig(day - 5) - sig(day - 7) + sig(day + 2) - sig(day)


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) noise with marginal standard deviation ``sd``."""
    shocks = rng.normal(0.0, sd * np.sqrt(1 - phi * phi), n)
    out = np.empty(n)
    prev = rng.normal(0.0, sd)
    for i, shock in enumerate(shocks.tolist()):
        prev = phi * prev + shock
        out[i] = prev
    return out


def _day_factor(rng: np.random.Generator, index: pd.DatetimeIndex, sd: float) -> np.ndarray:
    """A per-day multiplicative level (log-normal), interpolated between day midpoints."""
    days = (index - index[0].floor("D")) / pd.Timedelta(days=1)
    pos = np.asarray(days, dtype=float)
    levels = np.exp(rng.normal(0.0, sd, int(pos.max()) + 2))
    return np.interp(pos - 0.5, np.arange(levels.size, dtype=float), levels)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(p / (1 - p)))


def _squash(logit: np.ndarray) -> np.ndarray:
    """Percent in the open interval (0, 100) from log-odds."""
    return np.asarray(100 / (1 + np.exp(-logit)))


def place_incidents(
    rng: np.random.Generator,
    n: int,
    warmup: int,
    plan: tuple[tuple[str, float, int, int], ...],
    *,
    gap: int = _MIN_GAP,
) -> list[tuple[int, int, str]]:
    """Random non-overlapping incident spans after ``warmup`` rows.

    Parameters
    ----------
    rng
        Source of randomness.
    n
        Number of rows in the series.
    warmup
        Leading rows that stay incident-free.
    plan
        ``(kind, rate_per_day, min_minutes, max_minutes)``: ``round(rate * days)``
        incidents of the kind (at least one) over the ``(n - warmup) / 1440`` days
        after warm-up, each with a duration drawn uniformly in [min, max].
    gap
        Minimum number of normal rows between two incidents.

    Returns
    -------
    list of (first_row, last_row, kind)
        Sorted by start, rows inclusive. An incident that cannot be placed after
        many tries (a very short series) is left out.
    """
    days = (n - warmup) / 1440
    if days <= 0:
        return []
    wanted: list[tuple[int, str]] = []
    for kind, rate, lo, hi in plan:
        count = max(1, round(rate * days))
        wanted += [(int(d), kind) for d in rng.integers(lo, hi + 1, size=count)]
    wanted.sort(key=lambda item: -item[0])  # longest first: easiest to fit
    placed: list[tuple[int, int, str]] = []
    for duration, kind in wanted:
        if n - duration <= warmup:
            continue
        for _ in range(500):
            start = int(rng.integers(warmup, n - duration + 1))
            end = start + duration - 1
            if all(end + gap < a or start > b + gap for a, b, _ in placed):
                placed.append((start, end, kind))
                break
    return sorted(placed)


def _rows(spans: list[tuple[int, int, str]], kind: str) -> list[tuple[int, int]]:
    return [(lo, hi + 1) for lo, hi, k in spans if k == kind]


def realistic_cpu(seed: int = 42, days: int = 14) -> Scenario:
    """A host's CPU and memory with wall-clock cycles and random labelled incidents.

    Parameters
    ----------
    seed
        Seed of ``np.random.default_rng``.
    days
        Length in days, one point per minute (starts Wednesday 2025-01-01 00:00 UTC).

    Returns
    -------
    Scenario
        Metrics ``cpu_usage`` and ``memory_usage`` (percent, strictly inside 0..100).
        ``train_until`` ends the incident-free warm-up: two days, or half the series
        if that is shorter.

    Notes
    -----
    Normal CPU is ``12 + 48 * daily * (1 - 0.35 * weekend) * day_level`` percent
    (weekday peaks near 60, troughs near 12, weekend peaks near 43), with AR(1)
    noise added in log-odds space (about 2.5 points at 50 %). Memory sits near
    50-60 %, follows the daily cycle two hours later, and drifts slowly.

    Incidents (about 0.5 spikes, 0.25 drops and 0.15 level shifts per day after the
    warm-up; 6, 3 and 2 in the 14-day default):

    * ``spike`` (5-30 min): CPU mean +30 to +50 points (capped at 97 %); memory +2 to +6.
    * ``drop`` (15-90 min): the service is down: CPU near 0.5 %, memory near 8 %.
      The only rows that get close to 0.
    * ``level_shift`` (2-6 h): CPU mean +20 to +30 points (a bad deploy); memory unchanged.
    """
    seed = check_seed(seed, "realistic_cpu")
    days = check_days(days, "realistic_cpu")
    rng = np.random.default_rng(seed)
    n = days * 1440
    index = minute_index(_CPU_START, n)
    warmup = min(2 * 1440, n // 2)

    daily = daily_shape(index)
    weekend = weekend_weight(index)
    cpu_mean = 12 + 48 * daily * (1 - 0.35 * weekend) * _day_factor(rng, index, 0.05)
    cpu_noise = _ar1(rng, n, 0.7, 0.08) + rng.normal(0.0, 0.06, n)
    mem_daily = daily_shape(index - pd.Timedelta(hours=2))
    mem_mean = 50 + 10 * mem_daily * (1 - 0.2 * weekend) + 3 * np.tanh(_ar1(rng, n, 0.9995, 1.0))
    mem_noise = _ar1(rng, n, 0.5, 0.03)

    spans = place_incidents(rng, n, warmup, CPU_INCIDENTS)
    for lo, hi in _rows(spans, "spike"):
        cpu_mean[lo:hi] = np.minimum(cpu_mean[lo:hi] + rng.uniform(30, 50), 97.0)
        mem_mean[lo:hi] += rng.uniform(2, 6)
    for lo, hi in _rows(spans, "level_shift"):
        cpu_mean[lo:hi] = np.minimum(cpu_mean[lo:hi] + rng.uniform(20, 30), 95.0)
    for lo, hi in _rows(spans, "drop"):
        cpu_mean[lo:hi] = 0.5
        cpu_noise[lo:hi] = rng.normal(0.0, 0.25, hi - lo)
        mem_mean[lo:hi] = 8.0
        mem_noise[lo:hi] = rng.normal(0.0, 0.1, hi - lo)

    cpu = _squash(_logit(cpu_mean / 100) + cpu_noise)
    memory = _squash(_logit(mem_mean / 100) + mem_noise)
    return assemble(
        name="cpu",
        variant="realistic",
        seed=seed,
        index=index,
        metrics={"cpu_usage": cpu, "memory_usage": memory},
        spans=spans,
        train_rows=warmup,
    )


def realistic_lb(seed: int = 42, days: int = 7) -> Scenario:
    """Per-minute load-balancer traffic with wall-clock cycles and random labelled incidents.

    Parameters
    ----------
    seed
        Seed of ``np.random.default_rng``.
    days
        Length in days, one row per minute (starts Monday 2024-01-01 00:00 UTC).

    Returns
    -------
    Scenario
        The tutorial's columns: ``total_requests``, ``2xx_count``, ``4xx_count``,
        ``5xx_count`` (integral floats, summing to the total) and
        ``avg_response_time_ms``. ``train_until`` ends the incident-free warm-up: the
        first day, or half the series if that is shorter.

    Notes
    -----
    Expected traffic is ``12000 * (0.25 + 0.75 * daily) * (1 - 0.35 * weekend)``
    requests per minute times a day level and slow AR(1) log-noise; the total is a
    Poisson draw around it. Normal error rates are 0.5 % (5xx) and 1.5 % (4xx) with a
    little per-minute jitter, and the counts are binomial draws from those rates.
    Latency is ``80 + 60 * load`` ms with AR(1) log-noise.

    Incidents (about 0.5, 0.4 and 0.5 per day after the warm-up; 3, 2 and 3 in the
    7-day default):

    * ``5xx_spike`` (5-45 min): 5xx rate 6 %-40 % (12-80x normal), latency x2-x4.
    * ``traffic_spike`` (10-60 min): traffic x3.5-x8, latency up with the overload,
      error rates up a little (5xx 1-3 %, 4xx 2-4 %).
    * ``4xx_spike`` (5-30 min): 4xx rate 18 %-40 % (12-27x normal), latency unchanged.
    """
    seed = check_seed(seed, "realistic_lb")
    days = check_days(days, "realistic_lb")
    rng = np.random.default_rng(seed)
    n = days * 1440
    index = minute_index(_LB_START, n)
    warmup = min(1440, n // 2)

    expected = 12000 * (0.25 + 0.75 * daily_shape(index)) * (1 - 0.35 * weekend_weight(index))
    expected *= _day_factor(rng, index, 0.05) * np.exp(_ar1(rng, n, 0.9, 0.04))
    load = expected / 12000
    p5 = 0.005 * np.exp(rng.normal(0.0, 0.15, n))
    p4 = 0.015 * np.exp(rng.normal(0.0, 0.15, n))
    latency = (80 + 60 * load) * np.exp(_ar1(rng, n, 0.8, 0.05))

    spans = place_incidents(rng, n, warmup, LB_INCIDENTS)
    for lo, hi in _rows(spans, "5xx_spike"):
        p5[lo:hi] = rng.uniform(0.06, 0.4) * np.exp(rng.normal(0.0, 0.1, hi - lo))
        latency[lo:hi] *= rng.uniform(2, 4) * np.exp(rng.normal(0.0, 0.1, hi - lo))
    for lo, hi in _rows(spans, "traffic_spike"):
        surge = rng.uniform(3.5, 8)
        expected[lo:hi] *= surge * np.exp(rng.normal(0.0, 0.08, hi - lo))
        latency[lo:hi] *= 1 + 0.25 * (surge - 1)
        p5[lo:hi] = rng.uniform(0.01, 0.03)
        p4[lo:hi] = rng.uniform(0.02, 0.04)
    for lo, hi in _rows(spans, "4xx_spike"):
        p4[lo:hi] = rng.uniform(0.18, 0.4) * np.exp(rng.normal(0.0, 0.1, hi - lo))

    p5 = np.clip(p5, 0.0, 0.9)
    total = rng.poisson(expected)
    n5 = rng.binomial(total, p5)
    n4 = rng.binomial(total - n5, np.clip(p4 / (1 - p5), 0.0, 1.0))
    return assemble(
        name="lb",
        variant="realistic",
        seed=seed,
        index=index,
        metrics={
            "total_requests": total,
            "2xx_count": total - n5 - n4,
            "4xx_count": n4,
            "5xx_count": n5,
            "avg_response_time_ms": latency,
        },
        spans=spans,
        train_rows=warmup,
    )
