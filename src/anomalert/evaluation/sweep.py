"""Sweeping a contamination or a paging threshold against labels.

The CPU tutorial asks how Isolation Forest's ``contamination`` changes the false-positive
rate. The answer is structural: scikit-learn puts the decision boundary at the training
window's ``1 - contamination`` score quantile, so a contamination of ``c`` flags a fraction
``c`` *of the training window* whatever the data holds. :func:`sweep` runs the detector once
per value of ``contamination`` through :func:`anomalert.detection.detect`.

A ``threshold`` sweep answers the question an on-call engineer tuning a threshold asks: "if
this detector paged above ``v``, what would I get?" The detector runs once, as configured
(it learns at its own ``threshold_``: flagged points are not learned, ...), and each value
only decides which of those scores page -- what ``detect`` gives with
``AlertPolicy(threshold=v)``, and what NAB's threshold sweep does. So a lower threshold flags
every point a higher one does, and more: the flagged share of the training window, the
false-positive rate, recall and the events detected never fall as the threshold falls.
(Incident counts can: at a lower threshold two false incidents may join into one, or a false
one into a true one.) Re-running the detector with ``threshold=v`` would measure something
else: a model that also *learns* at ``v``, where every noise blip over it is kept out of the
baselines and a series flagged six times a day is taken as flapping and learns its flagged
points -- the next incident's included (on the load-balancer tutorial, ``Default(threshold=2)``
learns the traffic spike and misses the 4xx and 5xx spikes entirely).

Per value the rows hold the flagged share of the training window next to the false-positive
rate, precision, recall, F1, false incidents per day and events detected -- on the held-out
rows when there are any, and over every row. Point metrics count rows; an event (a labelled
run) is detected when a point inside it alerts (see :mod:`anomalert.evaluation.metrics`).
Incidents are the ones the Monitor opens under ``policy`` (what ``anomalert detect`` lists and
what would page someone), not runs of alert points.

Examples
--------
>>> from anomalert import scenarios
>>> sc = scenarios.generate("lb", seed=42)
>>> rows = sweep(sc.frame, "seed004-iforest", "contamination", [0.01, 0.05])
>>> [round(r["train_flagged"], 2) for r in rows]
[0.01, 0.05]
>>> rows = sweep(sc.frame, "default", "threshold", [3, 6])
>>> [r["recall"] >= s["recall"] for r, s in zip(rows, rows[1:])]
[True]
>>> parse_values("0.01, 0.05,0.1")
[0.01, 0.05, 0.1]
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from anomalert.alerting import AlertPolicy
from anomalert.alerting.batch import decide_all
from anomalert.data import validate_frame
from anomalert.detection import Detection, detect
from anomalert.detectors import PRESETS, make, preset
from anomalert.errors import InputError, ParameterError
from anomalert.evaluation.metrics import evaluate_detection
from anomalert.events import split_labels
from anomalert.monitor import _utc

__all__ = [
    "SWEEP_PARAMS",
    "measure",
    "paged",
    "parse_values",
    "run_with",
    "summarize",
    "sweep",
    "training_mask",
]

#: Parameters :func:`sweep` accepts.
SWEEP_PARAMS = ("contamination", "threshold")
#: An example list of values per parameter (error messages): shares vs score units.
_EXAMPLES = {"contamination": "0.01,0.05,0.1", "threshold": "3,4,5,6"}
_LOCK = threading.Lock()


def parse_values(text: str, *, option: str = "values") -> list[float]:
    """Parse a comma-separated list of numbers (``"0.01,0.05"``) for ``option``.

    Raises
    ------
    ParameterError
        An empty list or an item that is not a finite number (named in the message, with an
        example list for ``option``).

    >>> parse_values("2,abc", option="threshold")
    Traceback (most recent call last):
    anomalert.errors.ParameterError: --threshold: 'abc' is not a number; expected a list such as 3,4,5,6
    """
    example = _EXAMPLES.get(option, "0.01,0.05,0.1")
    items = [s.strip() for s in str(text).split(",")]
    if not any(items):
        raise ParameterError(
            f"--{option}: expected a comma-separated list of numbers such as {example}, "
            f"got {text!r}"
        )
    out: list[float] = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise ParameterError(
                f"--{option}: {item!r} is not a number; expected a list such as {example}"
            ) from None
        if not math.isfinite(value):
            raise ParameterError(f"--{option}: {item!r} is not a finite number")
        out.append(value)
    return out


def run_with(
    detector: str,
    frame: pd.DataFrame,
    params: dict[str, Any],
    *,
    train_until: Any = None,
    policy: AlertPolicy | None = None,
    labels: pd.Series | None = None,
) -> Detection:
    """:func:`~anomalert.detection.detect` for ``detector`` with ``params`` overridden.

    A preset keeps its own training plan (every row, the first N rows, labelled rows removed):
    the overridden configuration is registered under a temporary preset name for the call.
    """
    base = preset(detector)  # ParameterError for an unknown name
    if not params:
        return detect(detector, frame, train_until=train_until, policy=policy, labels=labels)
    make(detector, **params)  # ParameterError for a parameter the detector does not have
    tag = ",".join(f"{k}={v!r}" for k, v in params.items())
    name = f"{detector}[{tag}]"
    with _LOCK:
        PRESETS[name] = replace(base, name=name, factory=partial(make, detector, **params))
        try:
            return detect(name, frame, train_until=train_until, policy=policy, labels=labels)
        finally:
            PRESETS.pop(name, None)


def training_mask(
    detection: Detection, detector: str, labels: pd.Series | None = None
) -> np.ndarray:
    """The rows ``detection``'s detector was fitted on, rebuilt from its preset's plan."""
    index = pd.DatetimeIndex(detection.points.index)
    plan = preset(detector)
    if plan.train == "all":
        mask = np.ones(len(index), dtype=bool)
    elif isinstance(plan.train, int):
        mask = np.arange(len(index)) < plan.train
    elif detection.train_until is not None:
        mask = np.asarray(index < detection.train_until)
    else:
        mask = np.ones(len(index), dtype=bool)
    if plan.exclude_labelled and labels is not None:
        mask &= ~labels.reindex(index).fillna(False).to_numpy(dtype=bool)
    return mask


def summarize(scope: dict[str, Any]) -> dict[str, Any]:
    """The sweep's headline numbers from one scope of :func:`evaluate_detection`."""
    p, e, i = scope["point"], scope["events"], scope["incidents"]
    return {
        "fpr": p["fpr"],
        "precision": p["precision"],
        "recall": p["recall"],
        "f1": p["f1"],
        "tp": p["tp"],
        "fp": p["fp"],
        "fn": p["fn"],
        "tn": p["tn"],
        "incidents": i["total"],
        "false_incidents": i["false"],
        "false_incidents_per_day": i["false_per_day"],
        "false_alert_min_per_day": i["false_alert_min_per_day"],
        "longest_incident_min": i["longest_min"],
        "events_detected": e["detected"],
        "events_total": e["total"],
        "mean_delay_min": e["mean_delay_min"],
    }


def sweep(
    frame: pd.DataFrame,
    detector: str,
    param: str,
    values: Sequence[float],
    *,
    train_until: Any = None,
    labels: pd.Series | None = None,
    kinds: pd.Series | None = None,
    policy: AlertPolicy | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Measure ``detector`` against the labels at each value of ``param``.

    ``contamination`` runs the detector once per value. ``threshold`` runs it once, as
    configured, and pages on its scores at each value (``AlertPolicy(threshold=value)``):
    the detector learns at its own threshold whatever the value, so lowering the threshold
    never flags fewer points or detects fewer events.

    Parameters
    ----------
    frame
        Metrics indexed by time (or with a timestamp column); ``is_anomaly`` /
        ``anomaly_type`` columns are used as labels when ``labels`` / ``kinds`` are omitted.
    detector
        Registry or preset name; a preset keeps its training plan.
    param
        ``"contamination"`` (Isolation Forest) or ``"threshold"`` (any detector: the score
        above which a point pages, in the detector's score units).
    values
        The values to try, in the order given.
    train_until
        End of the training window (see :func:`~anomalert.detection.detect`). The held-out
        scope starts there, or where the detector's own training ended, whichever is later.
    labels, kinds
        Ground truth per row (bool) and ``anomaly_type`` per row.
    policy
        The alert policy (k-of-n, cooldown...); a threshold sweep replaces its threshold.
    progress
        Called with a short line after each run (and each threshold).

    Returns
    -------
    list of dict
        Per value: ``param``, ``value``, ``threshold`` (the paging threshold in score
        units), ``detector_threshold`` (the detector's own, which its learning follows),
        ``train_rows``, ``train_flagged`` (flagged share of the training window), ``scope``
        (``"heldout"`` or ``"all"``), ``in_sample`` (the held-out rows were trained on), the
        numbers of :func:`summarize` for that scope, and ``all`` with them over every row.

    Raises
    ------
    ParameterError
        Unknown ``param`` or detector, no values, or a value the detector rejects.
    InputError
        No labels to measure against.
    """
    if param not in SWEEP_PARAMS:
        raise ParameterError(
            f"The 'param' parameter of sweep must be one of {', '.join(map(repr, SWEEP_PARAMS))}. "
            f"Got {param!r} instead."
        )
    if not len(values):
        raise ParameterError("sweep needs at least one value")
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        frame, _ = validate_frame(frame)
    _, truth, found_kinds = split_labels(frame)
    labels = truth if labels is None else labels.astype(bool)
    kinds = found_kinds if kinds is None else kinds
    if labels is None:
        raise InputError("sweep needs labels: an 'is_anomaly' column (0/1 per row)")
    cut = _timestamp(train_until)
    base = policy or AlertPolicy()
    once = None
    if param == "threshold":  # one run; each value decides which of its scores page
        once = run_with(detector, frame, {}, train_until=cut, policy=policy, labels=labels)
        if progress is not None:
            progress(
                f"{detector}: one run, learning at its own threshold "
                f"{float(once.detector.threshold_):g}; each value pages on its scores"
            )
    rows: list[dict[str, Any]] = []
    for value in values:
        if once is not None:
            paging = replace(base, threshold=float(value)).validate()
            row = measure(once, detector, labels, kinds, heldout_from=cut, policy=paging)
        else:
            det = run_with(
                detector, frame, {param: float(value)}, train_until=cut, policy=policy,
                labels=labels,
            )
            row = measure(det, detector, labels, kinds, heldout_from=cut)
        rows.append({"param": param, "value": float(value), **row})
        if progress is not None:
            r = rows[-1]
            progress(
                f"{detector} {param}={value:g}: fpr {r['fpr']:.4f}, "
                f"{r['false_incidents']} false incidents, "
                f"{r['events_detected']}/{r['events_total']} events"
            )
    return rows


def _timestamp(value: Any) -> pd.Timestamp | None:
    return None if value is None else _utc(value, "train_until")


def paged(detection: Detection, policy: AlertPolicy) -> pd.DataFrame:
    """``detection``'s scores decided again under ``policy``: the ``score``, ``threshold``,
    ``is_anomalous``, ``is_anomaly`` and ``incident`` columns that
    :func:`~anomalert.detection.detect` gives with that policy (the detector learns at its own
    threshold whatever the policy's, so the scores are the same; explanations are not
    rebuilt). ``detection`` must come from a policy with the same learning settings."""
    points = detection.points
    scores = points["score"].to_numpy(dtype=float)
    det = detection.detector
    threshold = policy.paging_threshold(det.threshold_)
    index = pd.DatetimeIndex(points.index)
    # the step the Monitor's cooldown uses: the detector's, else the first gap it saw
    step = getattr(det, "step_seconds_", None) or (
        (index[1] - index[0]).total_seconds() if len(index) > 1 else None
    )
    flagged, alert, incident, _ = decide_all(
        scores, threshold, k=policy.k, n=policy.n, resolve_after=policy.resolve_after,
        cooldown=policy.cooldown_points(step),
    )
    return pd.DataFrame(
        {
            "score": scores,
            "threshold": np.full(len(scores), threshold),
            "is_anomalous": flagged,
            "is_anomaly": alert,
            "incident": np.where(alert, incident + 1.0, np.nan),
        },
        index=points.index,
    )


def measure(
    detection: Detection,
    detector: str,
    labels: pd.Series,
    kinds: pd.Series | None,
    *,
    heldout_from: pd.Timestamp | None = None,
    policy: AlertPolicy | None = None,
) -> dict[str, Any]:
    """The numbers :func:`sweep` reports for one detection (see there); with ``policy``,
    for its scores paged under that policy (see :func:`paged`)."""
    mask = training_mask(detection, detector, labels)
    points = detection.points if policy is None else paged(detection, policy)
    flagged = points["is_anomalous"].to_numpy(dtype=bool)
    cuts = [c for c in (detection.train_until, heldout_from) if c is not None]
    boundary = max(cuts) if cuts else None
    result = evaluate_detection(points, labels, kinds, train_until=boundary)
    scope = result.get("heldout", result)
    index = pd.DatetimeIndex(detection.points.index)
    in_sample = bool(boundary is not None and mask[np.asarray(index >= boundary)].any())
    return {
        "detector": detector,
        "threshold": float(points["threshold"].iloc[0]) if len(points) else float("nan"),
        "detector_threshold": float(detection.detector.threshold_),
        "train_rows": int(mask.sum()),
        "train_flagged": float(flagged[mask].mean()) if mask.any() else float("nan"),
        "scope": scope["scope"],
        "heldout_from": boundary.isoformat() if boundary is not None else None,
        "in_sample": in_sample,
        **summarize(scope),
        "all": summarize(result),
    }
