"""The streaming front: one point in, one verdict out.

:class:`Monitor` is the function the first tutorial asks for ("a function that accepts a new
data point and returns whether it should alert"), done as a small stateful object: it scores
the point, applies the :class:`~anomalert.alerting.AlertPolicy` (k-of-n, hysteresis,
cooldown), opens and resolves incidents, and lets the detector learn only from points it did
not flag (at its own threshold: a policy's paging threshold changes what pages, not what is
learned). For the z-score family each check is O(1) in the length of the history.

:func:`anomalert.detection.detect` runs a whole frame through the same decisions: it fits the
detector on the training window, then makes the same decisions for every later point (with
one compiled loop for the detectors that have one, the policy over all scores at once).

Examples
--------
>>> import numpy as np, pandas as pd
>>> from anomalert.detectors import ZScore
>>> idx = pd.date_range("2025-01-01", periods=300, freq="1min", tz="UTC")
>>> rng = np.random.default_rng(0)
>>> train = pd.DataFrame({"cpu": 40 + rng.normal(0, 2, 300)}, index=idx)
>>> monitor = Monitor(ZScore(window=120, robust=True).fit(train))
>>> monitor.check("2025-01-01 05:00Z", {"cpu": 41.0}).is_alert
False
>>> v = monitor.check("2025-01-01 05:01Z", {"cpu": 95.0})
>>> v.is_alert, v.event, v.incident_id
(True, 'fired', 1)
"""

from __future__ import annotations

import datetime
import math
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from anomalert.alerting import AlertPolicy, Incident
from anomalert.data import utc_timestamp
from anomalert.detectors import Detector
from anomalert.detectors._compiled import CompiledBaseline
from anomalert.detectors._kernel import KIND_DEVIATION
from anomalert.detectors.base import metric_names
from anomalert.errors import InputError, ParameterError

__all__ = ["Monitor", "Verdict", "as_policy"]

#: Each detector's Monitor: a detector learns from its Monitor's points, so a second Monitor
#: on it would mix two streams into one state.
_OWNERS: weakref.WeakKeyDictionary[Detector, weakref.ref[Monitor]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Verdict:
    """What the monitor decided about one point."""

    timestamp: pd.Timestamp
    score: float
    threshold: float  # the paging threshold: the policy's, else the detector's own
    is_anomalous: bool  # the point's score is above the threshold
    is_alert: bool  # ... and the policy's k-of-n rule holds
    explanation: str
    incident_id: int | None
    #: "fired" when an incident opens (a page), "resolved" when it closes, "reopened" when an
    #: alert within the cooldown after a resolution opens the same incident again (no page)
    event: str | None = None
    #: The point's largest deviation from its baselines in σ, before the detector's memory of
    #: deviations it has seen (which scores most points of ``default`` 0): how close the
    #: series runs to the threshold. NaN for detectors that do not measure one.
    deviation: float = math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp.isoformat(),
            "score": None if math.isnan(self.score) else self.score,
            "threshold": self.threshold,
            "is_anomalous": self.is_anomalous,
            "is_alert": self.is_alert,
            "explanation": self.explanation,
            "incident_id": self.incident_id,
            "event": self.event,
            "deviation": None if math.isnan(self.deviation) else self.deviation,
        }


class Monitor:
    """Score points one at a time and decide whether to alert.

    Parameters
    ----------
    detector
        A fitted detector, or a new one (it then learns from the first points, with scores
        NaN and no alerts until its warm-up is over). The Monitor owns it: a detector
        already given to another (living) Monitor is refused.
    policy
        The alert policy (default: alert on every flagged point, resolve after 3 clean ones).
    series
        Name carried by incidents.
    """

    def __init__(
        self, detector: Detector, policy: AlertPolicy | None = None, *, series: str = "default"
    ) -> None:
        if not isinstance(detector, Detector):
            raise ParameterError(
                f"Monitor needs a detector (anomalert.make('default'), say), got "
                f"{type(detector).__name__}"
            )
        owner = _OWNERS.get(detector)
        if owner is not None and owner() is not None:
            raise ParameterError(
                "this detector already belongs to another Monitor, which it learns from; give "
                "each Monitor its own (copy.deepcopy(detector) keeps what it learned, "
                "detector.clone() starts afresh)"
            )
        _OWNERS[detector] = weakref.ref(self)
        self.detector = detector
        self.policy = as_policy(policy)
        self.series = series
        self.incidents: list[Incident] = []
        self._recent: deque[bool] = deque(maxlen=self.policy.n)
        self._flag_run = 0  # consecutive points over the detector's own threshold
        self._over = False  # the last point was over it
        self._clean_run = 0
        self._since_resolved: int | None = None
        self._last_ts: pd.Timestamp | None = None
        self._step_s: float | None = None  # the first gap between points (a fallback step)

    def _relearn(self) -> int:
        """Consecutive flagged points after which the detector learns anyway (see
        :meth:`AlertPolicy.relearn_points`): the detector's step when it knows it, else the
        first gap this Monitor saw. Kept once a step is known."""
        known = self.__dict__.get("_relearn_known")
        if known is not None:
            return int(known)
        step = self._step_seconds()
        points = self.policy.relearn_points(step)
        if step:
            self._relearn_known = points
        return points

    def _cooldown(self) -> int:
        """Points after a resolution within which an alert re-opens the incident (see
        :meth:`AlertPolicy.cooldown_points`), at the step :meth:`_relearn` uses."""
        return self.policy.cooldown_points(self._step_seconds())

    def _step_seconds(self) -> float | None:
        """The series' step in seconds: the detector's when it knows it, else the first gap
        this Monitor saw (None before two points)."""
        return getattr(self.detector, "step_seconds_", None) or getattr(self, "_step_s", None)

    @property
    def open_incident(self) -> Incident | None:
        if self.incidents and self.incidents[-1].is_open:
            return self.incidents[-1]
        return None

    def would_reopen(self) -> bool:
        """Whether an alert at the next point would re-open the latest incident (no new page).

        True while that incident is resolved and fewer than ``cooldown`` clean points (see
        :meth:`AlertPolicy.cooldown_points`) have followed its resolution; False while an
        incident is open, before any, and once the cooldown is over. The watch service sends
        an incident's resolution only once this is False, so it never takes one back.

        >>> import pandas as pd
        >>> from anomalert.detectors import ZScore
        >>> idx = pd.date_range("2025-01-01", periods=60, freq="1min", tz="UTC")
        >>> train = pd.DataFrame({"cpu": [40.0, 41.0, 39.0] * 20}, index=idx)
        >>> m = Monitor(ZScore(window=30).fit(train), AlertPolicy(resolve_after=1, cooldown=2))
        >>> out = []
        >>> for i, cpu in enumerate([95, 40, 40, 40, 40]):
        ...     v = m.check(idx[-1] + pd.Timedelta(minutes=i + 1), {"cpu": cpu})
        ...     out.append((v.event, m.would_reopen()))
        >>> out
        [('fired', False), ('resolved', True), (None, True), (None, False), (None, False)]
        """
        since = self._since_resolved
        return (
            since is not None
            and bool(self.incidents)
            and not self.incidents[-1].is_open
            and since < self._cooldown()
        )

    def expire(self, last: pd.Timestamp) -> Incident | None:
        """The series stopped getting points (``last`` is its latest): resolve the open
        incident at ``last`` and start afresh when points come back.

        The k-of-n window and the cooldown are forgotten, so an alert after the gap opens a
        new incident (a new page) instead of re-opening one the sinks were told is resolved.
        What the detector learned is kept. Returns the incident resolved here, if any.

        >>> import pandas as pd
        >>> from anomalert.detectors import ZScore
        >>> idx = pd.date_range("2025-01-01", periods=60, freq="1min", tz="UTC")
        >>> m = Monitor(ZScore(window=30).fit(pd.DataFrame({"cpu": [40.0, 41.0, 39.0] * 20}, index=idx)))
        >>> m.check(idx[-1] + pd.Timedelta("1min"), {"cpu": 95}).event
        'fired'
        >>> m.expire(idx[-1] + pd.Timedelta("1min")).id, m.would_reopen()
        (1, False)
        >>> m.check(idx[-1] + pd.Timedelta("1h"), {"cpu": 95}).incident_id
        2
        """
        incident = self.open_incident
        if incident is not None:
            incident.resolved_at = last
            incident.stale = True
        self._recent.clear()
        self._clean_run = 0
        self._since_resolved = None
        return incident

    def set_policy(self, policy: AlertPolicy | Mapping[str, Any] | None) -> None:
        """Use ``policy`` from now on (a configuration changed since the state was saved);
        incidents and what the detector learned are kept."""
        self.policy = as_policy(policy)
        if self._recent.maxlen != self.policy.n:
            self._recent = deque(self._recent, maxlen=self.policy.n)
        self.__dict__.pop("_relearn_known", None)

    def set_detector(self, detector: Detector) -> None:
        """Score with ``detector`` from now on (refit after a configuration change);
        incidents, the policy's window and the cooldown are kept."""
        self.detector = detector
        self._flag_run = 0
        self._over = False
        self.__dict__.pop("_relearn_known", None)

    def check(self, timestamp: Any, values: Mapping[str, float]) -> Verdict:
        """Score one point, decide, and learn from it unless it was flagged."""
        if type(values) is not dict and not isinstance(values, Mapping):
            raise InputError(
                f"values must be a mapping metric -> number, got {type(values).__name__} "
                "(the arguments are check(timestamp, values))"
            )
        ts = _utc(timestamp)
        if self._last_ts is not None and ts <= self._last_ts:
            raise InputError(
                f"timestamp {ts.isoformat()} is not after the previous point "
                f"({self._last_ts.isoformat()}); points must arrive in time order"
            )
        fitted = getattr(self.detector, "fit_until_", None)
        if self._last_ts is None and fitted is not None and ts.value <= fitted:
            raise InputError(
                f"timestamp {ts.isoformat()} is not after the detector's training data (up to "
                f"{pd.Timestamp(fitted, tz='UTC').isoformat()}); points must arrive in time order"
            )
        det = self.detector
        if not det.is_fitted:
            det._start(metric_names(values))
        t, x = det._point(ts, values)
        return self._step(ts, t, x)

    def _step(self, ts: pd.Timestamp, t: int, x: np.ndarray) -> Verdict:
        det = self.detector
        if isinstance(det, CompiledBaseline):
            # one compiled call scores, and learns unless the point is flagged
            policy = self.policy
            renew = not policy.learn_flagged and self._flag_run + 1 > self._relearn()
            score, *made_of = det._step_point(
                t, x, float(det.threshold_), policy.learn_flagged, renew
            )
            return self._decide(ts, score, lambda: det.explanation_from(score, x, *made_of),
                                _deviation(made_of[0], made_of[3]))
        score = float(det._score_point(t, x))
        verdict = self._decide(ts, score, lambda: det._explain(t, x))
        # learning follows the detector's own threshold, paging the policy's (see _decide)
        if self.policy.learn_flagged or not self._over:
            det._learn_point(t, x)
            det.n_seen_ += 1
        elif self._flag_run > self._relearn() or det._learns_flagged(t):
            # a run this long is the new normal (self._flag_run counts this point), or the
            # model knows the point as its normal
            det._learn_flagged(t, x, renew=self._flag_run > self._relearn())
            det.n_seen_ += 1
        else:
            det._pass_point(t, x)
        return verdict

    def _decide(
        self, ts: pd.Timestamp, score: float, explain: Any, deviation: float = math.nan
    ) -> Verdict:
        if self._last_ts is not None and getattr(self, "_step_s", None) is None:
            self._step_s = (ts - self._last_ts).total_seconds()
        self._last_ts = ts
        own = float(self.detector.threshold_)
        threshold = self.policy.paging_threshold(own)
        flagged = bool(score > threshold)  # NaN (warm-up) is never flagged
        # Over the detector's own threshold: what its learning follows (a flagged point is not
        # learned, a long run of them is relearned), whatever threshold pages.
        self._over = flagged if threshold == own else bool(score > own)
        self._recent.append(flagged)
        self._flag_run = self._flag_run + 1 if self._over else 0
        is_alert = flagged and sum(self._recent) >= self.policy.k
        event = None
        text = ""
        incident = self.open_incident
        if is_alert:
            exp = explain()
            text = exp.text()
            top = exp.top.metric if exp.top is not None else None
            self._clean_run = 0
            if incident is None:
                if self.would_reopen():
                    incident = self.incidents[-1]
                    incident.resolved_at = None
                    incident.reopened += 1
                    event = "reopened"
                else:
                    incident = Incident(
                        len(self.incidents) + 1, self.series, ts, ts, score, ts, threshold, text
                    )
                    self.incidents.append(incident)
                    event = "fired"
            incident.record(ts, score, text, top)
        elif incident is not None:
            self._clean_run += 1
            if self._clean_run >= self.policy.resolve_after:
                incident.resolved_at = ts
                event = "resolved"
                self._since_resolved = 0
        elif self._since_resolved is not None:
            self._since_resolved += 1
        return Verdict(
            ts, score, threshold, flagged, is_alert, text,
            incident.id if incident is not None else None, event, deviation,
        )


def _deviation(z: np.ndarray, kind: np.ndarray) -> float:
    """The largest ``|z|`` of the features scored on their deviation (the kernel's ``raw``);
    NaN when there is none."""
    best = math.nan
    for zj, kj in zip(z.tolist(), kind.tolist(), strict=True):
        a = abs(zj)
        if kj == KIND_DEVIATION and math.isfinite(a) and not a <= best:
            best = a
    return best


_UTC = datetime.UTC


def as_policy(policy: AlertPolicy | Mapping[str, Any] | None) -> AlertPolicy:
    """``policy`` validated: an AlertPolicy, a mapping of its fields, or None (the default)."""
    if policy is None:
        return AlertPolicy().validate()
    if isinstance(policy, Mapping):
        fields = dict(policy)
        try:
            policy = AlertPolicy(**fields)
        except TypeError:
            known = sorted(AlertPolicy.__dataclass_fields__)
            raise ParameterError(f"unknown alert policy field(s) in {sorted(fields)}; known: "
                                 f"{known}") from None
    if not isinstance(policy, AlertPolicy):
        raise ParameterError(f"policy must be an AlertPolicy (or a dict of its fields), got "
                             f"{type(policy).__name__}")
    return policy.validate()


def _utc(timestamp: Any, what: str = "timestamp") -> pd.Timestamp:
    """``timestamp`` as a UTC Timestamp (naive means UTC, a number Unix seconds); ``what``
    names it in errors."""
    if type(timestamp) is pd.Timestamp and timestamp.tzinfo is _UTC:
        return timestamp
    return utc_timestamp(timestamp, what)
