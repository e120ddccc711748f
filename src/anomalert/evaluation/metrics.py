"""Point, event and incident metrics for a detection against labels.

- *Point* metrics compare the per-point alert flags with ``is_anomaly``.
- An *incident* is a run of alert points with gaps of at most ``max_gap`` (2 minutes, as the
  load-balancer tutorial groups its alert periods); a *false* incident overlaps no labelled
  event.
- An *event* is a labelled run; it is detected when an alert falls inside it, and its delay
  is the first such alert minus its start. The alert counts whether it opened an incident or
  joined one that opened earlier (the alert is firing while the event happens); an alert
  before the event's start never counts for it. So adding alerts never undetects an event:
  a lower threshold on the same scores detects every event a higher one does.
- Per-type precision is honest: predictions carry no type, so for each type we report
  ``tp_type / (tp_type + fp)``, the precision a detector would have if this type were the
  only kind of incident, with every false alarm still counted. (Computing precision on a
  mask holding only that type's rows, as the tutorial does, gives 1.0 by construction.)

Examples
--------
>>> import pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=10, freq="1min", tz="UTC")
>>> truth = pd.Series([0, 0, 1, 1, 1, 0, 0, 0, 0, 0], index=idx).astype(bool)
>>> pred = pd.Series([0, 0, 0, 1, 1, 0, 0, 0, 1, 0], index=idx).astype(bool)
>>> r = evaluate_flags(truth, pred)
>>> r["point"]["tp"], r["point"]["fp"], r["events"]["delays_min"], r["incidents"]["false"]
(2, 1, [1.0], 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from anomalert.data import Event, to_events

INCIDENT_GAP = pd.Timedelta("2min")

__all__ = ["INCIDENT_GAP", "evaluate_detection", "evaluate_flags", "group_incidents", "point_metrics"]


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def point_metrics(truth: np.ndarray, pred: np.ndarray) -> dict[str, float | int]:
    """Confusion counts and the usual rates (0.0 where a rate is undefined)."""
    truth = np.asarray(truth, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    tp = int(np.sum(truth & pred))
    fp = int(np.sum(~truth & pred))
    fn = int(np.sum(truth & ~pred))
    tn = int(np.sum(~truth & ~pred))
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    return {
        "precision": precision,
        "recall": recall,
        "f1": _ratio(2 * precision * recall, precision + recall),
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "specificity": _ratio(tn, tn + fp),
        "fpr": _ratio(fp, fp + tn),
        "fnr": _ratio(fn, fn + tp),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def group_incidents(pred: pd.Series, max_gap: pd.Timedelta = INCIDENT_GAP) -> list[Event]:
    """Runs of alert points whose gaps are at most ``max_gap``."""
    return to_events(pred.astype(bool), max_gap=max_gap)


def evaluate_flags(
    truth: pd.Series,
    pred: pd.Series,
    kinds: pd.Series | None = None,
    *,
    max_gap: pd.Timedelta = INCIDENT_GAP,
) -> dict[str, Any]:
    """Point, event and incident metrics of alert flags ``pred`` against ``truth``.

    Parameters
    ----------
    truth, pred
        Boolean series on the same time index.
    kinds
        ``anomaly_type`` per point (``"normal"`` outside events), for per-type results.
    """
    truth = truth.astype(bool)
    pred = pred.reindex(truth.index).fillna(False).astype(bool)
    idx = pd.DatetimeIndex(truth.index)
    typed = kinds.where(truth, "normal") if kinds is not None else None
    events = to_events(truth, typed)
    incidents = group_incidents(pred, max_gap)
    pred_values = pred.to_numpy()
    pos = idx.as_unit("ns").asi8

    delays: list[float] = []
    per_type: dict[str, dict[str, Any]] = {}
    fp = int(np.sum(pred_values & ~truth.to_numpy()))
    for ev in events:
        lo = np.searchsorted(pos, ev.start.value, "left")
        hi = np.searchsorted(pos, ev.end.value, "right")
        hits = np.flatnonzero(pred_values[lo:hi])
        slot = per_type.setdefault(
            ev.kind, {"events": 0, "detected": 0, "delays_min": [], "points": 0, "tp": 0}
        )
        slot["events"] += 1
        slot["points"] += hi - lo
        slot["tp"] += int(hits.size)
        if hits.size:
            delay = (idx[lo + hits[0]] - ev.start) / pd.Timedelta("1min")
            delays.append(float(delay))
            slot["detected"] += 1
            slot["delays_min"].append(float(delay))
    for slot in per_type.values():
        slot["recall"] = _ratio(slot["detected"], slot["events"])
        slot["point_recall"] = _ratio(slot["tp"], slot["points"])
        slot["precision"] = _ratio(slot["tp"], slot["tp"] + fp)
        slot["mean_delay_min"] = float(np.mean(slot["delays_min"])) if slot["delays_min"] else None

    false_incidents = [i for i in incidents if not any(e.overlaps(i.start, i.end) for e in events)]
    span_days = (
        max((idx[-1] - idx[0]) / pd.Timedelta("1D"), 1 / 1440) if len(idx) else 0.0
    )
    return {
        "point": point_metrics(truth.to_numpy(), pred_values),
        "events": {
            "total": len(events),
            "detected": sum(s["detected"] for s in per_type.values()),
            "delays_min": delays,
            "mean_delay_min": float(np.mean(delays)) if delays else None,
            "max_delay_min": float(np.max(delays)) if delays else None,
            "per_type": per_type,
        },
        "incidents": {
            "total": len(incidents),
            "true": len(incidents) - len(false_incidents),
            "false": len(false_incidents),
            "false_per_day": _ratio(len(false_incidents), span_days),
            "false_periods": [(i.start.isoformat(), i.end.isoformat()) for i in false_incidents],
        },
    }


def evaluate_detection(
    points: pd.DataFrame,
    truth: pd.Series,
    kinds: pd.Series | None,
    *,
    train_until: pd.Timestamp | None,
) -> dict[str, Any]:
    """Metrics over every row (``scope="all"``) and, separately, over the held-out rows.

    ``points`` is :attr:`anomalert.monitor.Detection.points`. The held-out scope holds the
    rows at or after ``train_until``; it is absent when there is no such boundary.
    """
    pred = points["is_anomaly"].astype(bool)
    out: dict[str, Any] = {"scope": "all", **evaluate_flags(truth, pred, kinds)}
    if train_until is not None:
        held = truth.index >= train_until
        if held.any():
            out["heldout"] = {
                "scope": "heldout",
                "from": train_until.isoformat(),
                **evaluate_flags(
                    truth[held], pred[held], kinds[held] if kinds is not None else None
                ),
            }
    return out
