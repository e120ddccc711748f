"""Seeded synthetic scenarios: labelled infrastructure metrics to develop and evaluate on.

Two generators, each in two variants:

* ``cpu``: host CPU (and memory) per minute. ``realistic=False`` reproduces seed
  tutorial 000 value for value; ``realistic=True`` adds wall-clock daily and weekly
  cycles, no clipping ties and several random incidents (spike, drop, level shift).
* ``lb``: load-balancer traffic per minute (requests by status class, latency).
  ``realistic=False`` reproduces seed tutorial 004 value for value;
  ``realistic=True`` adds wall-clock cycles, binomial error counts and several
  random incidents (5xx bursts, traffic surges, 4xx bursts).

Every :class:`Scenario` carries its ground truth twice (the ``is_anomaly`` /
``anomaly_type`` columns and a list of :class:`~anomalert.events.Event`) and a
``train_until`` cut for a known-good training window fixed in advance.

Examples
--------
>>> s = generate("lb", seed=42)
>>> s.name, s.variant, len(s.frame), s.metrics[:2]
('lb', 'tutorial', 1440, ['total_requests', '2xx_count'])
>>> int(s.frame["is_anomaly"].sum()), str(s.train_until)
(105, '2024-01-01 16:40:00+00:00')
>>> generate("disk")
Traceback (most recent call last):
...
anomalert.errors.ParameterError: The 'name' parameter of generate must be one of 'cpu', 'lb'. Got 'disk' instead.
"""

from __future__ import annotations

from anomalert.errors import ParameterError
from anomalert.scenarios._base import Scenario, check_days, check_seed
from anomalert.scenarios.cpu import cpu
from anomalert.scenarios.lb import lb

__all__ = ["SCENARIOS", "Scenario", "cpu", "generate", "lb"]

#: Names accepted by :func:`generate`.
SCENARIOS = ("cpu", "lb")


def generate(
    name: str, seed: int = 42, days: int | None = None, realistic: bool = False
) -> Scenario:
    """Generate the scenario called ``name``.

    Parameters
    ----------
    name
        One of :data:`SCENARIOS`: ``"cpu"`` or ``"lb"``.
    seed
        Random seed, an int in [0, 2**32); same seed, same frame.
    days
        Length in days (one row per minute); None for the generator's default
        (cpu: 7 tutorial / 14 realistic; lb: 1 tutorial / 7 realistic).
    realistic
        The realistic variant instead of the tutorial reproduction.

    Raises
    ------
    ParameterError
        Unknown ``name``, ``days`` not an int >= 1, or a bad ``seed``.
    """
    if name not in SCENARIOS:
        choices = ", ".join(repr(s) for s in SCENARIOS)
        raise ParameterError(
            f"The 'name' parameter of generate must be one of {choices}. Got {name!r} instead."
        )
    seed = check_seed(seed, "generate")
    if days is not None:
        days = check_days(days, "generate")
    if name == "cpu":
        return cpu(seed, days, realistic=realistic)
    return lb(seed, days, realistic=realistic)
