"""Sweeping one detector parameter against labels: the contamination challenge, answered.

The CPU tutorial asks how Isolation Forest's ``contamination`` changes the false-positive
rate. The answer is structural: scikit-learn puts the decision boundary at the training
window's ``1 - contamination`` score quantile, so a contamination of ``c`` flags a fraction
``c`` *of the training window* whatever the data holds. :func:`sweep` runs a detector once per
value of ``contamination`` (or of ``threshold``, in the detector's own score units) through
:func:`anomalert.monitor.detect` and reports, per value, the flagged share of the training
window next to the false-positive rate, precision, recall, F1, false incidents per day and
events detected -- on the held-out rows when there are any, and over every row. Incidents are
the ones the Monitor opens under ``policy`` (what ``anomalert detect`` lists and what would page
someone), not runs of alert points.

Examples
--------
>>> from anomalert import scenarios
>>> sc = scenarios.generate("lb", seed=42)
>>> rows = sweep(sc.frame, "seed004-iforest", "contamination", [0.01, 0.05])
>>> [round(r["train_flagged"], 2) for r in rows]
[0.01, 0.05]
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
from anomalert.data import split_labels, validate_frame
from anomalert.detectors import PRESETS, make, preset
from anomalert.errors import InputError, ParameterError
from anomalert.evaluation.metrics import evaluate_detection
from anomalert.monitor import Detection, _utc, detect

__all__ = [
    "SWEEP_PARAMS",
    "measure",
    "parse_values",
    "run_with",
    "summarize",
    "sweep",
    "training_mask",
]

#: Parameters :func:`sweep` accepts.
SWEEP_PARAMS = ("contamination", "threshold")
_LOCK = threading.Lock()


def parse_values(text: str, *, option: str = "values") -> list[float]:
    """Parse a comma-separated list of numbers (``"0.01,0.05"``) for ``option``.

    Raises
    ------
    ParameterError
        An empty list or an item that is not a finite number (named in the message).
    """
    items = [s.strip() for s in str(text).split(",")]
    if not any(items):
        raise ParameterError(
            f"--{option}: expected a comma-separated list of numbers, got {text!r}"
        )
    out: list[float] = []
    for item in items:
        try:
            value = float(item)
        except ValueError:
            raise ParameterError(
                f"--{option}: {item!r} is not a number; expected a list such as 0.01,0.05,0.1"
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
    """:func:`~anomalert.monitor.detect` for ``detector`` with ``params`` overridden.

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
    """Run ``detector`` once per value of ``param`` and measure each run against the labels.

    Parameters
    ----------
    frame
        Metrics indexed by time (or with a timestamp column); ``is_anomaly`` /
        ``anomaly_type`` columns are used as labels when ``labels`` / ``kinds`` are omitted.
    detector
        Registry or preset name; a preset keeps its training plan.
    param
        ``"contamination"`` (Isolation Forest) or ``"threshold"`` (any detector, in its
        score units).
    values
        The values to try, in the order given.
    train_until
        End of the training window (see :func:`~anomalert.monitor.detect`). The held-out
        scope starts there, or where the detector's own training ended, whichever is later.
    labels, kinds
        Ground truth per row (bool) and ``anomaly_type`` per row.
    progress
        Called with a short line after each run.

    Returns
    -------
    list of dict
        Per value: ``param``, ``value``, ``threshold`` (the threshold in score units),
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
    rows: list[dict[str, Any]] = []
    for value in values:
        det = run_with(
            detector, frame, {param: float(value)}, train_until=cut, policy=policy, labels=labels
        )
        rows.append(measure(det, detector, labels, kinds, heldout_from=cut))
        rows[-1] = {"param": param, "value": float(value), **rows[-1]}
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


def measure(
    detection: Detection,
    detector: str,
    labels: pd.Series,
    kinds: pd.Series | None,
    *,
    heldout_from: pd.Timestamp | None = None,
) -> dict[str, Any]:
    """The numbers :func:`sweep` reports for one detection (see there)."""
    mask = training_mask(detection, detector, labels)
    flagged = detection.points["is_anomalous"].to_numpy(dtype=bool)
    cuts = [c for c in (detection.train_until, heldout_from) if c is not None]
    boundary = max(cuts) if cuts else None
    result = evaluate_detection(detection.points, labels, kinds, train_until=boundary)
    scope = result.get("heldout", result)
    index = pd.DatetimeIndex(detection.points.index)
    in_sample = bool(boundary is not None and mask[np.asarray(index >= boundary)].any())
    return {
        "detector": detector,
        "threshold": float(detection.detector.threshold_),
        "train_rows": int(mask.sum()),
        "train_flagged": float(flagged[mask].mean()) if mask.any() else float("nan"),
        "scope": scope["scope"],
        "heldout_from": boundary.isoformat() if boundary is not None else None,
        "in_sample": in_sample,
        **summarize(scope),
        "all": summarize(result),
    }
