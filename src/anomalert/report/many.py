"""Reports on many series (``anomalert detect DIR|LONG.csv|--prometheus ... --report``):
one table of every series by incidents, and the charts of the worst few, not one per series.

The table is the CLI's (:class:`~anomalert.fleet.FleetResult`'s summaries, as
``anomalert detect`` printed them). The worst series (most incidents, then highest score:
:func:`anomalert.ranking.rank`) are those :func:`~anomalert.fleet.detect_many` kept as it
scored them (``keep=WORST``), drawn as a single series' report draws them; nothing is read or
scored again. A result that kept fewer (``keep`` smaller) has the missing ones read again from
the source and scored as the fleet did (:func:`rescore`; the page says so if that ever gives
other incidents).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from anomalert.data import validate_frame
from anomalert.detection import Detection, detect
from anomalert.detectors.base import format_value
from anomalert.fleet import FleetResult, SeriesSummary
from anomalert.ranking import rank
from anomalert.ranking import worst as _worst
from anomalert.report import figures as fig
from anomalert.report import page as P
from anomalert.report.detection import READING, Run, detection_section, policy_text
from anomalert.report.draw import alert_marks, features_shown, training_span

__all__ = ["WORST", "render_fleet", "rescore", "worst", "write_fleet"]

#: Series drawn (those with the most incidents).
WORST = 5
#: Series listed in the report's table (the rest are counted).
TABLE_ROWS = 200


def worst(summaries: Sequence[SeriesSummary], k: int | None = None) -> list[SeriesSummary]:
    """The ``k`` (default :data:`WORST`) scored series with the most incidents (then the
    highest score); only series with at least one incident."""
    return _worst(summaries, WORST if k is None else k)


def rescore(source: Any, run: Run, ids: Sequence[str], *, timestamp_column: str | None = None
            ) -> dict[str, tuple[pd.DataFrame, Detection]]:
    """Read the series ``ids`` from ``source`` again and detect on each as the fleet did
    (for a :class:`FleetResult` that did not keep them)."""
    from anomalert.sources.longformat import iter_series

    wanted, out = set(ids), {}
    for sid, data in iter_series(source, timestamp_column=timestamp_column):
        if sid not in wanted or sid in out or isinstance(data, BaseException):
            continue
        if isinstance(data, pd.Series):
            data = data.to_frame("value")
        frame, _ = validate_frame(data, source=sid)
        out[sid] = (frame, detect(run.detector, frame, train_until=run.train_until,
                                  policy=run.policy, series=sid))
        if len(out) == len(wanted):
            break
    return out


def _panel(sid: str, frame: pd.DataFrame, det: Detection, s: SeriesSummary, detector: str
           ) -> fig.SeriesPanel:
    data, _, _ = features_shown(det, frame)
    named: dict[str, int] = {}
    for inc in det.incidents:
        for m in inc.metrics:
            named[m] = named.get(m, 0) + 1
    metric = max(data.columns, key=lambda m: (named.get(m, 0), -list(data.columns).index(m)))
    marks = alert_marks(det, [metric], None)
    alerts = marks[metric][0] if metric in marks else pd.DatetimeIndex([])
    others = f", {len(data.columns) - 1} other metric(s) not shown" if len(data.columns) > 1 \
        else ""
    return fig.SeriesPanel(sid, metric, data[metric], alerts,
                           [(inc.start, inc.end) for inc in det.incidents],
                           training_span(det, detector),
                           f"{s.incidents} incident(s), max score {format_value(s.max_score, 3)}"
                           + others)


def _figure(target: Any, result: FleetResult, chosen: Sequence[SeriesSummary],
            scored: dict[str, tuple[pd.DataFrame, Detection]], run: Run) -> Any:
    panels = [_panel(s.series, *scored[s.series], s, run.detector) for s in chosen
              if s.series in scored]
    t = result.totals
    title = (f"{run.detector} on {run.short}: the {len(panels)} series with the most incidents "
             f"({t['incidents']} incident(s) in {t['ok']} series scored)")
    return fig.fleet(target, panels, title)


def _series_table(rows: Sequence[SeriesSummary]) -> str:
    body = []
    for s in rows[:TABLE_ROWS]:
        peak = format_value(s.max_score, 3) if s.max_score == s.max_score else "-"
        first = s.first_alert[:16].replace("T", " ") if s.first_alert else "-"
        body.append([s.series, f"{s.points:,}", str(s.incidents), peak, first,
                     f"{s.status}: {s.message}" if s.message else s.status])
    out = P.table(["series", "points", "incidents", "max score", "first alert (UTC)",
                   "status"], body, numeric=(1, 2, 3),
                  classes=["bad" if r.incidents else "" for r in rows[:TABLE_ROWS]])
    if len(rows) > TABLE_ROWS:
        rest = rows[TABLE_ROWS:]
        out += (f"<p class=note>… and {len(rest):,} more series ({sum(r.incidents for r in rest)}"
                " incident(s) between them); <code>anomalert detect</code> prints every one.</p>")
    return out


def render_fleet(result: FleetResult, run: Run, chosen: Sequence[SeriesSummary],
                 scored: dict[str, tuple[pd.DataFrame, Detection]]) -> str:
    """The whole page for many series; ``scored``: the ``chosen`` series' frames and
    detections (``FleetResult.worst``, else :func:`rescore`)."""
    from anomalert import __version__

    t = result.totals
    title = f"anomalert {run.command}: {t['series']} series from {run.source}"
    steps = [pd.DatetimeIndex(d.points.index) for _, d in scored.values()]
    policy = policy_text(run.policy, steps[0], each=True) if steps else ""
    thr = ("each series' own, learned from its training window without labels"
           + (f"; paging at {format_value(run.policy.threshold, 4)} (--threshold)"
              if run.policy.threshold is not None else ""))
    facts = [("Data", f"<code>{P.esc(run.source)}</code> ({P.esc(run.kind)}): {t['series']:,} "
                      f"series, {t['points']:,} points, each scored on its own"),
             ("Input notes", "<br>".join(P.esc(n) for n in run.notes) if run.notes
              else "none"),
             ("Detector", f"<b>{P.esc(run.detector)}</b>: "
                          f"{P.esc(P.describe_detector(run.detector))}"),
             ("Threshold", P.esc(thr)),
             ("Training window", P.esc(f"--train-until {run.train_until} for every series"
                                       if run.train_until else "each series' first 10% of "
                                       "rows, at least 60")),
             ("Alert policy", P.esc(policy) if policy else "-")]
    if run.command_line:
        facts.append(("Command", f"<code>{P.esc(run.command_line)}</code>"))
    summary = (f"totals: {t['series']} series ({t['ok']} scored, {t['skipped']} skipped, "
               f"{t['errors']} failed), {t['points']} points, {t['alerts']} alert points, "
               f"{t['incidents']} incident(s)")  # as anomalert detect prints them
    ranked = sorted([s for s in result.summaries if s.status == "ok"], key=rank)
    failed = [s for s in result.summaries if s.status != "ok"]
    buf = io.BytesIO()
    _figure(buf, result, chosen, scored, run)
    parts = [f"<h1>{P.esc(title)}</h1>",
             f"<p class=meta>Written {P.when(pd.Timestamp.now(tz='UTC'))} by anomalert "
             f"{__version__}. All times are UTC.</p>",
             "<nav>" + "".join(f'<a href="#s{k}">{P.esc(s.series)}</a>'
                               for k, s in enumerate(chosen)) + "</nav>",
             "<h2>What was run</h2>", P.facts(facts),
             "<h2>Series by incidents</h2>", f"<p class=verdict>{P.esc(summary)}</p>",
             P.image(buf.getvalue(), "The series with the most incidents (then the highest "
                     "score), up to " f"{WORST}: for each, the metric its incidents name most, "
                     "its alerts as dots, its incidents shaded from first to last alert, its "
                     "training window in grey. Each is drawn in full below."),
             _series_table(ranked)]
    if failed:
        parts += ["<h3>Series not scored</h3>", _series_table(failed)]
    for k, s in enumerate(chosen):
        if s.series not in scored:
            continue
        frame, det = scored[s.series]
        parts.append(f"<h2 id=s{k}>{P.esc(s.series)}</h2>")
        if len(det.incidents) != s.incidents:  # never expected: the same code on the same data
            parts.append(f"<p class=verdict>Scored again for this page, this series opened "
                         f"{len(det.incidents)} incident(s) where the run counted "
                         f"{s.incidents}.</p>")
        one = Run(run.command, s.series, "one of the series", run.detector, run.policy,
                  run.train_until, [s.message] if s.message else [])
        parts += detection_section(one, frame, det, title=s.series, panels=False,
                                   heading="h3", brief=True)
    parts.append(READING)
    return P.page(title, parts)


def write_fleet(result: FleetResult, source: Any, run: Run, *, plot: str | Path | None = None,
                report: str | Path | None = None, timestamp_column: str | None = None) -> None:
    """Write the figure of the worst series (``plot``, a PNG) and the many-series report
    (``report``, HTML). The worst series are those ``result`` kept (``detect_many(...,
    keep=WORST)``); any it did not keep are read from ``source`` and scored again."""
    chosen = worst(result.summaries)
    scored = {k.summary.series: (k.frame, k.detection) for k in result.worst}
    missing = [s.series for s in chosen if s.series not in scored]
    if missing:
        scored.update(rescore(source, run, missing, timestamp_column=timestamp_column))
    if plot is not None:
        _figure(Path(plot), result, chosen, scored, run)
    if report is not None:
        Path(report).write_text(render_fleet(result, run, chosen, scored), encoding="utf-8")
