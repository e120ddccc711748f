"""Reports on your own data: ``anomalert detect FILE --report out.html`` (and ``--plot``),
``anomalert evaluate FILE --report out.html``.

The page says what was run (the data, the detector and its threshold, the training window,
the alert policy), then shows what ``anomalert detect`` printed: the alerts and incidents
as the Monitor opened them (the same :class:`~anomalert.detection.Detection`, not a recount),
drawn by the figures the demo uses (:func:`anomalert.report.draw.draw_detections`). With
``evaluate`` it adds the evaluation against the labels, the numbers of
:func:`anomalert.evaluation.metrics.evaluate_detection` that the CLI printed. Times are UTC.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomalert.alerting import AlertPolicy
from anomalert.detection import Detection
from anomalert.detectors import preset
from anomalert.detectors.base import format_value
from anomalert.events import Event, to_events
from anomalert.report import page as P
from anomalert.report.draw import (
    draw_detections,
    incident_rows,
    overview,
    overview_caption,
)

__all__ = ["Run", "detection_section", "facts", "policy_text", "render", "write_plot",
           "write_report"]

#: Incidents listed in a report's table (the rest are counted).
INCIDENT_ROWS = 50


@dataclass
class Run:
    """What a ``detect`` / ``evaluate`` run used, for the report's header."""

    command: str  # "detect" or "evaluate"
    source: str  # what was read: a path, or the Prometheus query
    kind: str  # how it was read: "CSV file", "Prometheus query ...", "nginx access log ..."
    detector: str
    policy: AlertPolicy = field(default_factory=AlertPolicy)
    train_until: str | None = None  # --train-until as given
    notes: list[str] = field(default_factory=list)  # what reading the input fixed or skipped
    argv: list[str] | None = None  # the command line, when known

    @property
    def short(self) -> str:
        """The source as figure titles name it: a file's name, or the query."""
        return self.source if self.kind.startswith("Prometheus") else Path(self.source).name

    @property
    def command_line(self) -> str:
        import shlex

        return "anomalert " + " ".join(shlex.quote(a) for a in self.argv) if self.argv else ""


def _step(index: pd.DatetimeIndex) -> str:
    if len(index) < 2:
        return "one point"
    step = pd.Timedelta(np.median(np.diff(index.asi8)), "ns")
    return _td(step)


def _td(step: pd.Timedelta) -> str:
    seconds = step.total_seconds()
    if seconds >= 86400 and seconds % 86400 == 0:
        return f"{seconds / 86400:g} day(s)"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def policy_text(policy: AlertPolicy, index: pd.DatetimeIndex, *, each: bool = False) -> str:
    """The alert policy in words, its cooldown at ``index``'s step (``each``: the default
    cooldown is said to follow each series' step, for a report on many series)."""
    steps = np.diff(index.asi8)
    step_s = float(np.median(steps)) / 1e9 if steps.size else None
    cool = policy.cooldown_points(step_s)
    at = " at each series' step" if each else ""
    how = "" if policy.cooldown is not None else f" (the default: an hour of points{at})"
    when = ("every point over the threshold alerts" if policy.k == policy.n == 1 else
            f"a point over the threshold alerts when {policy.k} of the last {policy.n} points "
            "are over it")
    return (f"{when}; an "
            f"incident resolves after {policy.resolve_after} clean point(s); an alert within "
            f"{cool} point(s) after a resolution re-opens it instead of paging again{how}")


def facts(run: Run, frame: pd.DataFrame, det: Detection, labels: pd.Series | None,
          events: Sequence[Event] | None, *, brief: bool = False) -> list[tuple[str, str]]:
    """The report's "what was run" rows (label, HTML); ``brief``: without what a report on
    many series says once for all (detector, policy, command)."""
    esc = P.esc
    index = pd.DatetimeIndex(det.points.index)
    metrics = list(det.detector.columns_)
    scored = list(dict.fromkeys(det.detector.features_))  # transform_frame's columns
    rows = [("Data", f"<code>{esc(run.source)}</code> ({esc(run.kind)}): {len(index):,} rows "
                   f"from {P.when(index[0])} to {P.when(index[-1])}, every {_step(index)}"),
            ("Metrics", esc(", ".join(metrics))
             + (f"; scored as {esc(', '.join(scored))}" if scored != metrics else ""))]
    if labels is not None:
        rows.append(("Labels", f"is_anomaly column: {int(labels.sum()):,} labelled row(s), "
                               f"{len(events or [])} event(s) (shaded in the figures)"))
    rows.append(("Input notes", "<br>".join(esc(n) for n in run.notes) if run.notes
                 else "none (nothing fixed or skipped)"))
    thr = float(det.detector.threshold_)
    paging = run.policy.paging_threshold(thr)
    if not brief:
        rows.append(("Detector", f"<b>{esc(run.detector)}</b>: "
                                 f"{esc(P.describe_detector(run.detector))}"))
    rows.append(("Threshold", f"{format_value(thr, 4)} (score units; the detector's own, "
                 "set when it was fitted on its training window)"
                 + (f"; paging at {format_value(paging, 4)} (--threshold)" if paging != thr
                    else "")))
    logs = getattr(det.detector, "log_", None)
    if logs is not None and any(logs):
        names = [f for f, on in zip(det.detector.features_, logs, strict=True) if on]
        rows.append(("Scored on the log", esc(", ".join(names))
                     + " (multiplicative noise; explained in their own units)"))
    train = ("" if det.train_until is None else
             f"until {P.when(det.train_until, seconds=True)} (exclusive), ")
    plan = preset(run.detector)
    if plan.train == "all":
        given = f"every row ({esc(run.detector)} is fitted on all of them)"
    elif isinstance(plan.train, int):
        given = f"{esc(run.detector)}'s own: the first {plan.train:,} rows"
    elif run.train_until:
        given = f"--train-until {esc(run.train_until)}"
    else:
        given = "the default: the first 10% of the rows, at least 60"
    if plan.exclude_labelled:
        given += ", labelled rows removed (chosen with the labels, as its tutorial did)"
    rows.append(("Training window", f"{det.train_rows:,} rows, {train}{given}"))
    if not brief:
        rows.append(("Alert policy", esc(policy_text(run.policy, index))))
    if run.command_line and not brief:
        rows.append(("Command", f"<code>{esc(run.command_line)}</code>"))
    return rows


def _summary(det: Detection) -> str:
    pts = det.points
    n_train = sum(det.train_until is not None and inc.start < det.train_until
                  for inc in det.incidents)
    extra = f", {n_train} of them in the training window (marked T)" if n_train else ""
    again = sum(int(inc.reopened) for inc in det.incidents)
    if again:
        extra += (f"; {again} time(s) an incident alerted again within the cooldown after it "
                  "resolved (marked R): the same incident, no new page")
    return (f"{int(pts['is_anomaly'].sum()):,} of {len(pts):,} points alert; "
            f"{len(det.incidents)} incident(s){extra}.")


def _png(draw: Any) -> bytes:
    buf = io.BytesIO()
    draw(buf)
    return buf.getvalue()


def detection_section(run: Run, frame: pd.DataFrame, det: Detection, *, title: str,
                      labels: pd.Series | None = None, kinds: pd.Series | None = None,
                      evaluation: Mapping[str, Any] | None = None, panels: bool = True,
                      heading: str = "h2", brief: bool = False) -> list[str]:
    """The HTML of one detection: what was run, its figures and incidents, and with
    ``evaluation`` the numbers against the labels. ``panels``: also draw the incidents
    against their baseline (replays the detector)."""
    events = to_events(labels, kinds.where(labels, "normal") if kinds is not None else None) \
        if labels is not None else None
    sub = "h3" if heading == "h2" else "h4"
    parts = [f"<{heading}>{'The series' if brief else 'What was run'}</{heading}>",
             P.facts(facts(run, frame, det, labels, events, brief=brief))]
    figures: list[tuple[str, str, bytes]] = []

    def add(suffix: str, caption: str, draw: Any) -> None:
        figures.append((suffix, caption, _png(draw)))

    confusion = None
    if evaluation is not None:
        counts = {"all rows": evaluation["point"]}
        if "heldout" in evaluation:
            counts["held-out rows"] = evaluation["heldout"]["point"]
        confusion = (" and ".join(counts), counts)
    if panels:
        draw_detections(add, frame, {run.detector: det}, title=title, events=events,
                        cut=det.train_until, labels=labels, confusion=confusion,
                        policy=run.policy)
    else:
        add("series", overview_caption(events is not None),
            partial(overview, frame=frame, name=run.detector, det=det, title=title,
                    events=events, labels=labels))
    shown = dict((s, (c, b)) for s, c, b in figures)
    parts += [f"<{heading}>Alerts and incidents</{heading}>",
              f"<p class=verdict>{P.esc(_summary(det))}</p>"]
    if "series" in shown:
        parts.append(P.image(shown["series"][1], shown["series"][0]))
    parts.append(f"<{sub}>Incidents</{sub}>")
    rows = incident_rows(det, events)
    parts.append(P.incident_table(
        {run.detector: rows}, limit=INCIDENT_ROWS, labelled=events is not None,
        detector_column=False, seconds=True,
        note="As <code>anomalert detect</code> prints them: start and end are the first and "
        "last alert (UTC); T: opened in the training window, while the detector was still "
        "learning the series' normal; R: resolved, then alerting again within the cooldown "
        "(the same incident, no new page); peak: the highest score; the explanation is the "
        "detector's at the peak." + (" False: overlaps no labelled event."
                                     if events is not None else "")))
    for suffix, (caption, data) in sorted(shown.items(), key=lambda kv: kv[0] == "status"):
        if suffix.startswith("incidents_") or suffix == "status":  # the panels first
            parts.append(P.image(data, caption))
    if evaluation is not None:
        parts.append(f"<{heading}>Evaluation against the labels</{heading}>")
        parts += evaluation_parts(evaluation)
        for suffix in ("confusion", "distributions"):
            if suffix in shown:
                parts.append(P.image(shown[suffix][1], shown[suffix][0]))
    return parts


def evaluation_parts(result: Mapping[str, Any]) -> list[str]:
    """The evaluation's numbers (as ``anomalert evaluate`` prints them) as tables."""
    scopes = [("all rows", result)]
    if "heldout" in result:
        scopes.append((f"held-out rows (from {P.when(result['heldout']['from'])})",
                       result["heldout"]))
    rows = []
    for name, s in scopes:
        p, e, i = s["point"], s["events"], s["incidents"]
        delay = f"{e['mean_delay_min']:.1f}" if e["mean_delay_min"] is not None else "–"
        outside = i.get("false_alert_min_per_day")
        rows.append([name, f"{p['precision']:.3f}", f"{p['recall']:.3f}", f"{p['f1']:.3f}",
                     f"{p['fpr']:.4f}", f"{p['tp']:,}", f"{p['fp']:,}", f"{p['fn']:,}",
                     f"{p['tn']:,}", f"{e['detected']} of {e['total']}", delay,
                     str(i["total"]), str(i["false"]), f"{i['false_per_day']:.2f}",
                     P.minutes(outside) if outside is not None else "–"])
    parts = [P.table(["scope", "precision", "recall", "F1", "FPR", "tp", "fp", "fn", "tn",
                      "events detected", "mean delay (min)", "incidents", "false",
                      "false/day", "alerting outside the events, a day"], rows,
                     numeric=range(1, 15))]
    e = result["events"]
    delays = ", ".join(f"{d:g}" for d in e["delays_min"]) or "-"
    parts.append(f"<p>Detection delay per detected event (minutes from the event's start to "
                 f"its first alert): {P.esc(delays)}.</p>")
    per_type = [[kind, f"{s['detected']}/{s['events']}", f"{s['point_recall']:.3f}",
                 f"{s['precision']:.3f}",
                 f"{s['mean_delay_min']:.1f}" if s["mean_delay_min"] is not None else "–"]
                for kind, s in sorted(e["per_type"].items())]
    if per_type:
        parts.append(P.table(["event type", "events detected", "point recall",
                              "precision vs false alarms", "mean delay (min)"], per_type,
                             numeric=range(1, 5)))
        parts.append("<p class=note>Per type, precision counts every false alarm against "
                     "that type's true alerts (alerts carry no type), so it is not 1.0 by "
                     "construction.</p>")
    false = result["incidents"]["false_periods"]
    if false:
        listed = "; ".join(f"{P.when(a, seconds=True)} – {P.when(b, seconds=True)}"
                           for a, b in false[:20])
        more = f" … and {len(false) - 20} more" if len(false) > 20 else ""
        parts.append(f"<p>False incidents (first to last alert, all rows): "
                     f"{P.esc(listed)}{more}.</p>")
    parts.append("<p class=note>Points: each row's alert against its label. An event is a "
                 "labelled run, detected when an alert falls inside it. An incident is one "
                 "page as the Monitor opens it; a false one overlaps no labelled event. "
                 "Alerting outside the events: the alert points outside every labelled event, "
                 "in time, per day (what one long incident that also covers an event hides "
                 "from the count of false incidents). Held-out rows come after the training "
                 "window.</p>")
    return parts


READING = """<h2 id=reading>How to read this report</h2><ul>
<li>All times are UTC.</li>
<li>The <b>score</b> is in the detector's own units (default's is a robust z-score, σ); a
point is flagged when it is over the threshold, and the alert policy turns flagged points
into alerts. The dashed line is the threshold the alerts page at.</li>
<li>An <b>incident</b> is one page, as the Monitor (and <code>anomalert detect</code>, and
<code>anomalert watch</code>) opens it: from its first alert to its last, resolved after the
policy's clean points, re-opened rather than paged again by an alert within the cooldown.</li>
<li>The <b>training window</b> (grey) is what the detector learned normal from; incidents
there (marked T) came while it was still learning.</li>
<li>Error rates (<code>*_rate</code>) are fractions of requests (0.47, not 47%).</li></ul>"""


def render(run: Run, frame: pd.DataFrame, det: Detection, *, labels: pd.Series | None = None,
           kinds: pd.Series | None = None, evaluation: Mapping[str, Any] | None = None) -> str:
    """The whole page."""
    title = f"anomalert {run.command}: {run.source}"
    now = pd.Timestamp.now(tz="UTC")
    from anomalert import __version__

    parts = [f"<h1>{P.esc(title)}</h1>",
             f"<p class=meta>Written {P.when(now)} by anomalert {__version__}. All times are "
             "UTC.</p>"]
    parts += detection_section(run, frame, det, title=run.short, labels=labels, kinds=kinds,
                               evaluation=evaluation)
    parts.append(READING)
    return P.page(title, parts)


def write_report(path: str | Path, run: Run, frame: pd.DataFrame, det: Detection, *,
                 labels: pd.Series | None = None, kinds: pd.Series | None = None,
                 evaluation: Mapping[str, Any] | None = None) -> Path:
    """Write the self-contained HTML report; returns its path."""
    out = Path(path)
    out.write_text(render(run, frame, det, labels=labels, kinds=kinds, evaluation=evaluation),
                   encoding="utf-8")
    return out


def write_plot(path: str | Path, run: Run, frame: pd.DataFrame, det: Detection, *,
               labels: pd.Series | None = None, kinds: pd.Series | None = None) -> Path:
    """Write the overview figure (metrics with alerts, score against threshold, incidents)."""
    events = to_events(labels, kinds.where(labels, "normal") if kinds is not None else None) \
        if labels is not None else None
    out = Path(path)
    overview(out, frame=frame, name=run.detector, det=det, title=f"{run.short} ({run.detector})",
             events=events, labels=labels)
    return out
