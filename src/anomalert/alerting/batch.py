"""The alert policy over a whole array of scores at once (compiled).

:func:`decide_all` makes, for every point, the decision :meth:`anomalert.monitor.Monitor._decide`
makes one point at a time (k-of-n, resolve hysteresis, cooldown re-opening), so
:func:`anomalert.detection.detect` can run a long series without a Python step per point and
build :class:`~anomalert.alerting.Incident` objects only where something happened.
tests/test_monitor.py checks the two agree point for point.

Examples
--------
>>> import numpy as np
>>> flagged, alert, incident, event = decide_all(
...     np.array([0.0, 9.0, 9.0, 0.0, 0.0, 0.0]), 5.0, k=1, n=1, resolve_after=2, cooldown=0)
>>> alert.tolist(), incident.tolist(), event.tolist()
([False, True, True, False, False, False], [-1, 0, 0, 0, 0, -1], [0, 1, 0, 0, 2, 0])
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["FIRED", "REOPENED", "RESOLVED", "decide_all"]

#: ``event`` codes: an incident opened (a page), resolved, or re-opened within the cooldown.
FIRED, RESOLVED, REOPENED = 1, 2, 3


@njit(cache=True)
def _decide(
    scores: np.ndarray, threshold: float, k: int, n: int, resolve_after: int, cooldown: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    size = scores.shape[0]
    flagged = np.zeros(size, dtype=np.bool_)
    alert = np.zeros(size, dtype=np.bool_)
    incident = np.full(size, -1, dtype=np.int64)
    event = np.zeros(size, dtype=np.int8)
    recent = np.zeros(n, dtype=np.bool_)
    in_window = 0
    clean_run = 0
    since_resolved = -1  # -1: nothing resolved yet
    is_open = False
    count = 0
    for i in range(size):
        f = scores[i] > threshold  # NaN (warm-up) is never flagged
        slot = i % n
        in_window += int(f) - int(recent[slot])
        recent[slot] = f
        flagged[i] = f
        if f and in_window >= k:
            alert[i] = True
            clean_run = 0
            if not is_open:
                is_open = True
                if since_resolved >= 0 and since_resolved < cooldown and count > 0:
                    event[i] = REOPENED
                else:
                    count += 1
                    event[i] = FIRED
            incident[i] = count - 1
        elif is_open:
            incident[i] = count - 1
            clean_run += 1
            if clean_run >= resolve_after:
                is_open = False
                event[i] = RESOLVED
                since_resolved = 0
        elif since_resolved >= 0:
            since_resolved += 1
    return flagged, alert, incident, event


def decide_all(
    scores: np.ndarray, threshold: float, *, k: int, n: int, resolve_after: int, cooldown: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per point: flagged, alert, incident index (-1: none open) and event code.

    The arguments are an :class:`~anomalert.alerting.AlertPolicy`'s; the state starts empty
    (no open incident, nothing recently flagged), as a new Monitor's does.
    """
    return _decide(  # type: ignore[no-any-return]
        np.ascontiguousarray(scores, dtype=np.float64), float(threshold), int(k), int(n),
        int(resolve_after), int(cooldown),
    )
