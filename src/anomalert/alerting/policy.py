"""The alert policy: how point flags become alerts, and when the detector may learn.

The policy's ``threshold`` decides which points page; what the detector learns follows the
detector's own ``threshold_`` whatever the policy's. So the paging threshold can be tuned
(``anomalert sweep --threshold``) without changing the model it is applied to.

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

import math
import numbers
from dataclasses import dataclass

import numpy as np

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
        instead of paging again (a score that wavers around the threshold pages once): an
        alert at any of the ``cooldown`` points after the resolving one re-opens. The
        watch service sends an
        incident's resolution once the cooldown is over (see ``Monitor.would_reopen``).
        ``None`` (the default): an hour's worth of points at the series' step, so 60 at
        1-minute steps and 12 at 5 minutes (see :meth:`cooldown_points`); 0 never
        re-opens: every new incident pages.
    learn_flagged
        Let the detector learn from points it flagged. Off by default: an anomaly must not
        become the baseline it is compared with.
    relearn_after
        After this many consecutive flagged points the detector learns again anyway: a
        change that lasts this long is the new normal (and the incident says so). ``None``
        (the default): a day's worth of points at the series' step, so 1440 at 1-minute
        steps and 288 at 5 minutes (see :meth:`relearn_points`).
    threshold
        Score above which a point is flagged for paging (in the detector's score units).
        ``None`` (the default): the detector's own ``threshold_``. Only paging follows it: the
        detector keeps deciding what to learn (flagged points are not learned, a series
        flagged six times a day is flapping, ...) at its own ``threshold_``, so a lower
        paging threshold pages on more of the same scores, never on fewer.
    """

    k: int = 1
    n: int = 1
    resolve_after: int = 3
    cooldown: int | None = None
    learn_flagged: bool = False
    relearn_after: int | None = None
    threshold: float | None = None

    def validate(self) -> AlertPolicy:
        def bad(name: str, rule: str) -> ParameterError:
            return ParameterError(
                f"The {name!r} parameter of AlertPolicy must be {rule}. "
                f"Got {getattr(self, name)!r} instead."
            )

        for name in ("n", "resolve_after", "relearn_after"):
            value = getattr(self, name)
            if name == "relearn_after" and value is None:
                continue
            if not _is_int(value) or value < 1:
                raise bad(name, "an int >= 1" + (" or None" if name == "relearn_after" else ""))
        if not _is_int(self.k) or not 1 <= self.k <= self.n:
            raise bad("k", f"an int between 1 and n ({self.n})")
        if self.cooldown is not None and (not _is_int(self.cooldown) or self.cooldown < 0):
            raise bad("cooldown", "an int >= 0 or None")
        if not isinstance(self.learn_flagged, (bool, np.bool_)):
            raise bad("learn_flagged", "a bool")
        if self.threshold is not None and (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, numbers.Real)
            or not (0 < self.threshold < math.inf)
        ):
            raise bad("threshold", "a number > 0 or None")
        return self

    def paging_threshold(self, detector_threshold: float) -> float:
        """The score above which a point is flagged for paging: ``threshold``, or the
        detector's own when it is None.

        >>> AlertPolicy().paging_threshold(6.0), AlertPolicy(threshold=3).paging_threshold(6.0)
        (6.0, 3.0)
        """
        return float(detector_threshold if self.threshold is None else self.threshold)

    def cooldown_points(self, step_seconds: float | None) -> int:
        """``cooldown``, or when it is None an hour's worth of points at ``step_seconds`` (a
        minute when the step is not known yet).

        >>> AlertPolicy().cooldown_points(300), AlertPolicy(cooldown=0).cooldown_points(300)
        (12, 0)
        """
        return self.cooldown if self.cooldown is not None else _points_in(3_600, step_seconds)

    def relearn_points(self, step_seconds: float | None) -> int:
        """``relearn_after``, or when it is None a day's worth of points at ``step_seconds``
        (a minute when the step is not known yet).

        >>> AlertPolicy().relearn_points(300), AlertPolicy(relearn_after=50).relearn_points(300)
        (288, 50)
        """
        if self.relearn_after is not None:
            return self.relearn_after
        return _points_in(86_400, step_seconds)


def _points_in(seconds: int, step_seconds: float | None) -> int:
    """Points in ``seconds`` at ``step_seconds`` (a minute when the step is not known), >= 1."""
    step = step_seconds if step_seconds is not None and step_seconds > 0 else 60.0
    return max(1, int(seconds // step))


def _is_int(value: object) -> bool:
    """An int (NumPy's too), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
