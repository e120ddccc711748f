"""The figures of one or more detections on one frame: the path the demo and
``anomalert detect`` / ``evaluate --report`` share.

:func:`draw_detections` draws, for the detections of one frame, the metrics with the alerts
and incidents (one figure; with a single detector its score against the threshold is part
of it), the HTTP status breakdown where the frame has status counts, the scores of several
detectors, the score distributions and confusion matrices where there are labels, and each
detector's incidents against the baseline its explanations give. Each figure goes to an
``add(suffix, caption, draw)`` callback, which decides where (a PNG file beside the demo's
report, or bytes embedded in a report page).

Incidents are the :class:`~anomalert.detection.Detection`'s own (the Monitor's, as
``anomalert detect`` prints them); nothing here recounts them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from anomalert.alerting import AlertPolicy, Incident
from anomalert.detection import Detection
from anomalert.detectors import IForest, make
from anomalert.evaluation.sweep import training_mask
from anomalert.events import Event
from anomalert.features import transform_frame
from anomalert.monitor import Monitor
from anomalert.report import evalfigures as evalfig
from anomalert.report import figures as fig
from anomalert.report.panels import incident_panels, incident_window, panels_for

__all__ = ["AddFigure", "draw_detections", "explanations", "features_shown", "incident_rows",
           "alert_marks", "is_false", "overview", "overview_caption", "pick_incidents",
           "training_span"]

#: ``add(suffix, caption, draw)``: ``draw(target)`` writes the PNG to a path or a stream.
AddFigure = Callable[[str, str, Callable[[Any], Any]], None]

#: Metric panels at most in the overview figure (the rest are named in its caption).
MAX_METRICS = 6
#: Incidents drawn against their baseline, per detector.
MAX_PANELS = 6
STATUS_COUNTS = ("2xx_count", "3xx_count", "4xx_count", "5xx_count")


def is_false(inc: Any, events: Sequence[Event] | None) -> bool | None:
    """An incident that overlaps no labelled event (as the metrics judge it); None without
    labels."""
    if events is None:
        return None
    return not any(e.overlaps(inc.start, inc.end) for e in events)


def incident_rows(det: Detection, events: Sequence[Event] | None,
                  cut: pd.Timestamp | None = None) -> list[dict[str, Any]]:
    """The incidents as plain data for a report's table: all of them, or with ``cut`` those
    with alerts from ``cut`` on (the metrics' held-out scope). ``in_training``: opened
    before the end of the training window (``det.train_until``)."""
    train_end = det.train_until
    return [{"id": inc.id, "start": inc.start.isoformat(), "end": inc.end.isoformat(),
             "alerts": inc.alerts, "peak_score": float(inc.peak_score),
             "false": is_false(inc, events), "explanation": inc.explanation,
             "metrics": list(inc.metrics), "reopened": int(inc.reopened),
             "carried_over": bool(cut is not None and inc.start < cut),
             "in_training": bool(train_end is not None and inc.start < train_end)}
            for inc in det.incidents if cut is None or inc.end >= cut]


def training_span(det: Detection, name: str,
                  labels: pd.Series | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and last time of the rows ``det``'s detector was fitted on."""
    rows = np.flatnonzero(training_mask(det, name, labels))
    index = pd.DatetimeIndex(det.points.index)
    return index[rows[0]], index[rows[-1]]


def pick_incidents(det: Detection, events: Sequence[Event] | None, cut: pd.Timestamp | None,
                   limit: int = MAX_PANELS) -> list[tuple[Incident, bool | None]]:
    """Up to ``limit`` incidents, in time order. With labels, held-out first: true ones by
    time, false ones by peak; without, the highest peaks."""
    if events is None:
        top = sorted(det.incidents, key=lambda inc: -inc.peak_score)[:limit]
        return [(inc, None) for inc in sorted(top, key=lambda inc: inc.start)]
    def held(inc: Incident) -> bool:
        return cut is not None and inc.start >= cut

    tagged = [(inc, bool(is_false(inc, events))) for inc in det.incidents]
    tagged.sort(key=lambda p: (not held(p[0]),))
    true = [p for p in tagged if not p[1]][: limit // 2]
    false = sorted([p for p in tagged if p[1]], key=lambda p: (not held(p[0]), -p[0].peak_score))
    chosen = true + false[: limit - len(true)]
    if len(chosen) < limit:
        chosen += [p for p in tagged if not p[1] and p not in chosen][: limit - len(chosen)]
    return [(inc, f) for inc, f in sorted(chosen, key=lambda p: p[0].start)]


def explanations(detection: Detection, name: str, frame: pd.DataFrame, cut: pd.Timestamp | None,
                 wanted: np.ndarray, policy: AlertPolicy | None = None) -> dict[int, Any]:
    """Explanations of the rows flagged in ``wanted``, as the detector saw them at the time.

    A fitted Isolation Forest is static, so its final state explains every row (in one batch).
    A learning detector is replayed through a :class:`~anomalert.monitor.Monitor` (with
    ``policy``) from the end of its training window ``cut`` (``explain_one`` before each
    ``check``); rows inside the training window are explained with the state at the end of
    training.
    """
    det = detection.detector
    values = frame[list(det.columns_)]
    index = pd.DatetimeIndex(frame.index)
    hits = np.flatnonzero(wanted)
    if hits.size == 0:
        return {}
    if isinstance(det, IForest):
        # One batch instead of a scikit-learn call per row (same numbers as explain_one).
        t_ns, X, _ = det._prepare(values.iloc[hits])
        return dict(zip(hits.tolist(), det._explain_many(t_ns, X), strict=True))
    fresh = make(name)
    train = np.asarray(index < cut) if cut is not None else training_mask(detection, name)
    fresh.fit(values[train])
    monitor = Monitor(fresh, policy)
    out: dict[int, Any] = {}
    start = int(train.sum())
    for i in hits[hits < start]:
        out[int(i)] = fresh.explain_one(index[i], values.iloc[i].to_dict())
    records = values.iloc[start: int(hits[-1]) + 1].to_dict("records")
    for k, rec in enumerate(records):
        i = start + k
        if wanted[i]:
            out[i] = fresh.explain_one(index[i], rec)
        monitor.check(index[i], rec)
    return out


def features_shown(det: Detection, frame: pd.DataFrame,
                   limit: int = MAX_METRICS) -> tuple[pd.DataFrame, list[str], list[str]]:
    """What the detector scored (its features: a load balancer's counts as error rates), the
    ones to draw (those its incidents name first, by incidents, then in order; at most
    ``limit``) and the ones left out."""
    data = transform_frame(frame[list(det.detector.columns_)], det.detector.feature_set)
    named: dict[str, int] = {}
    for inc in det.incidents:
        for m in inc.metrics:
            named[m] = named.get(m, 0) + 1
    order = sorted(data.columns, key=lambda m: (-named.get(m, 0), list(data.columns).index(m)))
    shown = [m for m in data.columns if m in order[:limit]]  # in the frame's order
    return data, shown, [m for m in data.columns if m not in shown]


def alert_marks(det: Detection, shown: Sequence[str], truth: np.ndarray | None
           ) -> dict[str, tuple[pd.DatetimeIndex, np.ndarray | None]]:
    """Per metric, the alerts of the incidents that name it."""
    pts = det.points
    index = pd.DatetimeIndex(pts.index)
    alert = pts["is_anomaly"].to_numpy(dtype=bool)
    ids = pd.to_numeric(pts["incident"], errors="coerce").to_numpy(dtype=float)
    out = {}
    for m in shown:
        wanted = [inc.id for inc in det.incidents if m in inc.metrics]
        hit = alert & np.isin(ids, wanted)
        if hit.any():
            out[m] = (index[hit], truth[hit] if truth is not None else None)
    return out


def _left_out(hidden: Sequence[str]) -> str:
    return (f" Not drawn ({len(hidden)} more metric(s), named by fewer incidents): "
            f"{', '.join(hidden)}." if hidden else "")


def overview_caption(labelled: bool, hidden: Sequence[str] = ()) -> str:
    """The caption of :func:`overview`'s figure."""
    return ("The data as the detector scored it" + (", labelled events shaded" if labelled
                                                    else "")
            + ", its training window in grey; dots: the alerts of the incidents that name the "
            "metric; the score against the threshold it pages at; each alert as a tick and, "
            "below them, the incidents as the Monitor (and anomalert detect) opens them, from "
            "first to last alert." + _left_out(hidden))


def overview(target: Any, *, frame: pd.DataFrame, name: str, det: Detection, title: str,
             events: Sequence[Event] | None = None, labels: pd.Series | None = None,
             data: pd.DataFrame | None = None, shown: Sequence[str] | None = None,
             hidden: Sequence[str] = ()) -> Any:
    """One detection in one figure: the metrics it scored (at most :data:`MAX_METRICS`, those
    its incidents name first; the title names those left out) with its alerts marked, its
    score against the threshold, and its alerts and incidents; labelled events shaded when
    there are labels."""
    if data is None or shown is None:
        data, shown, hidden = features_shown(det, frame)
    title = f"{title}: metrics, alerts and incidents"
    if hidden:
        names = ", ".join(hidden[:6]) + (", ..." if len(hidden) > 6 else "")
        title += (f"\n{len(shown)} of {len(shown) + len(hidden)} metrics drawn, those its "
                  f"incidents name first; not drawn: {names}")
    index = pd.DatetimeIndex(det.points.index)
    truth = labels.to_numpy(dtype=bool) if labels is not None else None
    hit = det.points["is_anomaly"].to_numpy(dtype=bool)
    train = training_span(det, name, labels)
    paging = float(det.points["threshold"].iloc[0]) if len(det.points) else float("nan")
    line = fig.ScoreLine(det.points["score"], paging, float(det.detector.threshold_), train)
    return fig.series(
        target, data, shown, events or [], train,
        {name: (index[hit], truth[hit] if truth is not None else None)}, title,
        {name: [(inc.start, inc.end, is_false(inc, events)) for inc in det.incidents]},
        scores={name: line}, marks=alert_marks(det, shown, truth))


def draw_detections(add: AddFigure, frame: pd.DataFrame, detections: Mapping[str, Detection],
                    *, title: str, events: Sequence[Event] | None, cut: pd.Timestamp | None,
                    data: pd.DataFrame | None = None, shown: Sequence[str] | None = None,
                    hidden: Sequence[str] = (), labels: pd.Series | None = None,
                    confusion: tuple[str, Mapping[str, Mapping[str, int]]] | None = None,
                    policy: AlertPolicy | None = None,
                    extra_rows: Mapping[str, np.ndarray] | None = None,
                    skip_panels: Collection[str] = ()) -> dict[str, dict[int, Any]]:
    """Draw the figures of ``detections`` (name -> detection of ``frame``) through ``add``.

    Parameters
    ----------
    title
        What the data is; every figure's title starts with it.
    events, labels
        The labelled events and ``is_anomaly`` per row; None without labels (alerts and
        incidents are then not called true or false, and no distributions are drawn).
    cut
        Start of the held-out rows (None: none).
    data, shown, hidden
        The values drawn and which columns (default: the first detection's features, as
        :func:`features_shown` picks them); ``hidden`` are named as left out.
    confusion
        (what the counts cover, name -> tp/fp/fn/tn) for the confusion matrices.
    extra_rows
        Per detector, more rows to explain besides the incidents drawn (the explanations
        are returned per detector).
    """
    first_name, first = next(iter(detections.items()))
    if data is None or shown is None:
        data, shown, hidden = features_shown(first, frame)
    index = pd.DatetimeIndex(frame.index)
    truth = labels.to_numpy(dtype=bool) if labels is not None else None
    held = np.asarray(index >= cut) if cut is not None else np.ones(len(index), dtype=bool)
    marked = events is not None
    single = len(detections) == 1
    trains = {n: training_span(d, n, labels) for n, d in detections.items()}
    alerts, incidents = {}, {}
    for n, d in detections.items():
        hit = d.points["is_anomaly"].to_numpy(dtype=bool)
        alerts[n] = (index[hit], truth[hit] if truth is not None else None)
        incidents[n] = [(inc.start, inc.end, is_false(inc, events)) for inc in d.incidents]
    left_out = _left_out(hidden)
    if single:
        add("series", overview_caption(marked, hidden),
            partial(overview, frame=frame, name=first_name, det=first, title=title,
                    events=events, labels=labels, data=data, shown=shown, hidden=hidden))
    else:
        add("series", "The data: true events shaded, the label-free training window in grey, "
            "every alert of each detector as a tick (green inside a true event, red outside) "
            "and below them its incidents as the Monitor (and anomalert detect) opens them, "
            "from first to last alert." + left_out,
            partial(fig.series, frame=data, metrics=shown, events=events or [],
                    train=(index[0], cut), alerts=alerts,
                    title=f"{title}: metrics, true events, alerts and incidents",
                    incidents=incidents))
    if any(c in frame for c in STATUS_COUNTS[2:]) and "2xx_count" in frame:
        add("status", "Requests per minute by status class (stacked), and the error classes "
            "alone.", partial(fig.status_codes, frame=frame, events=events or [],
                              title=f"{title}: HTTP status breakdown"))
    if not single:
        add("scores", "Score over time with each detector's threshold where it really "
            "compares (grey: that detector's training rows).",
            partial(fig.scores, items={n: (d.points["score"], float(d.detector.threshold_))
                                       for n, d in detections.items()},
                    events=events or [], trains=trains,
                    title=f"{title}: anomaly score over time"))
    rows = "held-out rows" if cut is not None else "all rows"
    if truth is not None:
        add("distributions", f"Score distributions of normal and labelled rows ({rows}, "
            "log-scale counts so both classes show), with the threshold.",
            partial(evalfig.distributions,
                    items={n: (d.points["score"].to_numpy()[held], truth[held],
                               float(d.points["threshold"].iloc[0]))
                           for n, d in detections.items()},
                    title=f"{title}: score distribution per class ({rows})"))
    if confusion is not None:
        scope, counts = confusion
        add("confusion", f"Confusion matrices ({scope}): rows are the labels, columns the "
            "alerts; counts and the share of each labelled class.",
            partial(evalfig.confusion, items=counts, title=f"{title}: confusion matrix ({scope})"))
    exps: dict[str, dict[int, Any]] = {}
    for n, d in detections.items():
        chosen = pick_incidents(d, events, cut) if n not in skip_panels else []
        wanted = np.zeros(len(index), dtype=bool)
        if extra_rows is not None and n in extra_rows:
            wanted[extra_rows[n]] = True
        for inc, _ in chosen:
            wanted |= incident_window(index, inc)
        exps[n] = explanations(d, n, frame, d.train_until if cut is None else cut, wanted,
                               policy)
        panels = panels_for(d, chosen, exps[n], frame, events or [], d.train_until)
        if panels:
            which = ("held-out first" if marked else "the highest peaks")
            more = len(d.incidents) - len(panels)
            add(f"incidents_{n}", f"{n}: incidents (up to {MAX_PANELS}, {which}"
                + (f"; {more} more in the table" if more > 0 else "")
                + ") with the feature that drove each against its baseline from the "
                "explanation.",
                partial(incident_panels, panels=panels,
                        title=f"{title}: {n} incidents against their baseline"))
    return exps
