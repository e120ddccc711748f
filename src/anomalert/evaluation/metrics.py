"""Point, event and incident metrics for a detection against labels.

- *Point* metrics compare the per-point alert flags with ``is_anomaly``.
- An *incident* is what :class:`~anomalert.monitor.Monitor` (and ``anomalert detect``) opens:
  one page from its first alert to its last, held open until ``resolve_after`` clean points
  and re-opened, not paged again, by an alert within the ``cooldown`` (see
  :class:`~anomalert.alerting.AlertPolicy`). The ids come from the ``incident`` column of
  :attr:`anomalert.detection.Detection.points`; bare alert flags are grouped by the same
  compiled policy (:func:`~anomalert.alerting.batch.decide_all`). A *false* incident overlaps
  no labelled event. In a scope (held-out rows), an incident counts by its alerts there.
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
>>> r["point"]["tp"], r["point"]["fp"], r["events"]["delays_min"]
(2, 1, [1.0])

The alert at 00:08 comes within the cooldown (an hour) after the first incident resolved, so
the Monitor re-opens that incident instead of paging again: one incident, and not a false one.

>>> r["incidents"]["total"], r["incidents"]["false"]
(1, 0)
>>> quick = AlertPolicy(resolve_after=1, cooldown=0)  # resolve at once, page every time
>>> evaluate_flags(truth, pred, policy=quick)["incidents"]["false"]
1
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from anomalert.alerting import AlertPolicy
from anomalert.alerting.batch import decide_all
from anomalert.events import Event, to_events

__all__ = ["evaluate_detection", "evaluate_flags", "incident_ids", "incident_spans",
           "point_metrics"]


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


def incident_ids(pred: pd.Series, policy: AlertPolicy | None = None) -> pd.Series:
    """The incident each alert point belongs to (1, 2, ...; 0 where no alert), as a
    :class:`~anomalert.monitor.Monitor` with ``policy`` groups them (resolve after
    ``resolve_after`` clean points, re-open within the ``cooldown``).

    ``pred`` holds alerts (after the policy's k-of-n rule), so they are replayed with
    ``k = n = 1`` through the Monitor's compiled policy; the cooldown's default follows the
    series' step, as the Monitor's does.
    """
    policy = (policy or AlertPolicy()).validate()
    idx = pd.DatetimeIndex(pred.index)
    steps = np.diff(idx.as_unit("ns").asi8)
    step = float(np.median(steps)) / 1e9 if steps.size else None
    _, alert, inc, _ = decide_all(
        pred.to_numpy(dtype=bool).astype(float), 0.5, k=1, n=1,
        resolve_after=policy.resolve_after, cooldown=policy.cooldown_points(step))
    return pd.Series(np.where(alert, inc + 1, 0), index=pred.index)


def incident_spans(ids: pd.Series) -> list[Event]:
    """Each incident's first and last alert, from per-point incident ids (NaN, None or 0
    where no alert: the ``incident`` column of :attr:`anomalert.detection.Detection.points`)."""
    ids = pd.to_numeric(ids, errors="coerce").fillna(0)
    hot = ids[ids > 0]
    if hot.empty:
        return []
    times = pd.Series(pd.DatetimeIndex(hot.index), index=hot.index)
    spans = times.groupby(hot.to_numpy(dtype=np.int64)).agg(["min", "max"])
    return [Event(row["min"], row["max"], "incident") for _, row in spans.sort_values("min").iterrows()]


def evaluate_flags(
    truth: pd.Series,
    pred: pd.Series,
    kinds: pd.Series | None = None,
    *,
    incident: pd.Series | None = None,
    policy: AlertPolicy | None = None,
) -> dict[str, Any]:
    """Point, event and incident metrics of alert flags ``pred`` against ``truth``.

    Parameters
    ----------
    truth, pred
        Boolean series on the same time index.
    kinds
        ``anomaly_type`` per point (``"normal"`` outside events), for per-type results.
    incident
        The incident id of each alert point, as the Monitor opened them (the ``incident``
        column of :attr:`~anomalert.detection.Detection.points`). Default: ``pred`` grouped
        by :func:`incident_ids` under ``policy`` (default :class:`AlertPolicy`).
    """
    truth = truth.astype(bool)
    pred = pred.reindex(truth.index).fillna(False).astype(bool)
    idx = pd.DatetimeIndex(truth.index)
    typed = kinds.where(truth, "normal") if kinds is not None else None
    events = to_events(truth, typed)
    if incident is None:
        incident = incident_ids(pred, policy)
    incidents = incident_spans(incident.reindex(truth.index))
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
    # Alerting time outside the labelled events: what one long incident that also covers an
    # event hides from the count of false incidents (it is one true page, firing for hours).
    step_min = float(np.median(np.diff(pos))) / 60e9 if len(pos) > 1 else 0.0
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
            "false_alert_min_per_day": _ratio(fp * step_min, span_days),
            "longest_min": max(((i.end - i.start) / pd.Timedelta("1min") for i in incidents),
                               default=0.0),
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

    ``points`` is :attr:`anomalert.detection.Detection.points`. The held-out scope holds the
    rows at or after ``train_until``; it is absent when there is no such boundary. Incidents
    are the Monitor's, from the ``incident`` column (an incident open across the boundary
    counts in the held-out scope by its alerts there).
    """
    pred = points["is_anomaly"].astype(bool)
    ids = points["incident"] if "incident" in points else incident_ids(pred)
    out: dict[str, Any] = {"scope": "all", **evaluate_flags(truth, pred, kinds, incident=ids)}
    if train_until is not None:
        held = truth.index >= train_until
        if held.any():
            out["heldout"] = {
                "scope": "heldout",
                "from": train_until.isoformat(),
                **evaluate_flags(
                    truth[held], pred[held], kinds[held] if kinds is not None else None,
                    incident=ids[held],
                ),
            }
    return out
