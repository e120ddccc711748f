"""The alert policy: how point flags become alerts, and when the detector may learn.

Examples
--------
>>> AlertPolicy(k=2, n=3).validate().k
2
>>> AlertPolicy(k=4, n=3).validate()
Traceback (most recent call last):
...
anomalert.errors.ParameterError: The 'k' parameter of AlertPolicy must be an int between 1 and n (3). Got 4 instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from anomalert.errors import ParameterError

__all__ = ["AlertPolicy"]


@dataclass(frozen=True)
class AlertPolicy:
    """Turns flagged points into alerts and incidents.

    Parameters
    ----------
    k, n
        A point alerts when it is flagged and at least ``k`` of the last ``n`` points
        (itself included) were flagged. ``k=n=1`` alerts on every flagged point.
    resolve_after
        Consecutive unflagged points that resolve an open incident (hysteresis).
    cooldown
        Points after a resolution during which a new alert re-opens the same incident
        instead of paging again.
    learn_flagged
        Let the detector learn from points it flagged. Off by default: an anomaly must not
        become the baseline it is compared with.
    relearn_after
        After this many consecutive flagged points the detector learns again anyway: a
        change that lasts this long is the new normal (and the incident says so).
    """

    k: int = 1
    n: int = 1
    resolve_after: int = 3
    cooldown: int = 0
    learn_flagged: bool = False
    relearn_after: int = 1440

    def validate(self) -> AlertPolicy:
        def bad(name: str, rule: str) -> ParameterError:
            return ParameterError(
                f"The {name!r} parameter of AlertPolicy must be {rule}. "
                f"Got {getattr(self, name)!r} instead."
            )

        for name in ("n", "resolve_after", "relearn_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(name, "an int >= 1")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or not 1 <= self.k <= self.n:
            raise bad("k", f"an int between 1 and n ({self.n})")
        if isinstance(self.cooldown, bool) or not isinstance(self.cooldown, int) or self.cooldown < 0:
            raise bad("cooldown", "an int >= 0")
        if not isinstance(self.learn_flagged, bool):
            raise bad("learn_flagged", "a bool")
        return self
