"""The ``generate``, ``detect`` and ``evaluate`` commands (:func:`register` adds them to the
command line of :mod:`anomalert.cli`, as the other modules with commands do).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anomalert.cli_options import add_detection_options, positive_int
from anomalert.errors import AnomalertError
from anomalert.outputs import (
    JSON_OUTPUT,
    PLOT_OUTPUT,
    REPORT_OUTPUT,
    TABLE_OUTPUT,
    check_output,
    json_default,
    write_table,
)

__all__ = ["note", "register"]


def _out(text: str = "") -> None:
    print(text, flush=True)


def note(text: str) -> None:
    """A note for the user on stderr (``note: ...``)."""
    print(f"note: {text}", file=sys.stderr, flush=True)



def _check_visuals(args: argparse.Namespace) -> None:
    """``--report`` must name an .html file and ``--plot`` an image (PNG, SVG, PDF, JPEG),
    in a directory that exists (checked before any work)."""
    check_output(args.report, "--report", REPORT_OUTPUT)
    check_output(args.plot, "--plot", PLOT_OUTPUT)


# --------------------------------------------------------------------------- generate
def _cmd_generate(args: argparse.Namespace) -> int:
    from anomalert import scenarios

    check_output(args.output, "-o", TABLE_OUTPUT)
    sc = scenarios.generate(args.scenario, seed=args.seed, days=args.days, realistic=args.realistic)
    out = Path(args.output)
    write_table(sc.to_csv_frame(), out)
    kinds = ", ".join(sorted({e.kind for e in sc.events})) or "none"
    _out(
        f"wrote {out}: {len(sc.frame)} rows, metrics {', '.join(sc.metrics)}; "
        f"{len(sc.events)} labelled events ({kinds})"
    )
    return 0


# --------------------------------------------------------------------------- detect
def _load(args: argparse.Namespace) -> Any:
    """The frame to score: a file, a Prometheus query, or an access log."""
    prom = getattr(args, "prometheus", None)
    log = getattr(args, "access_log", None)
    chosen = [x for x in (args.file, prom, log) if x]
    if len(chosen) != 1:
        raise AnomalertError(
            "give exactly one input: FILE, --prometheus URL --query Q, or --access-log FILE"
        )
    if prom:
        return _load_prometheus(args)
    if log:
        from anomalert.sources.accesslog import read_access_log

        frame, parsed = read_access_log(log, args.format)
        for line in parsed.lines_text():
            _input_note(args, line)
        empty = [c for c in frame.columns if frame[c].isna().all()]
        if empty:  # e.g. nginx 'combined' without $request_time carries no latency
            _input_note(args, f"{log}: no values for {', '.join(empty)}; not scored")
            frame = frame.drop(columns=empty)
        return frame
    from anomalert.sources.files import read_table

    frame, report = read_table(args.file, timestamp_column=args.timestamp_column)
    for line in report.lines():
        _input_note(args, line)
    return frame


def _input_note(args: argparse.Namespace, line: str) -> None:
    """A note about the input, printed and kept for the report."""
    note(line)
    args.__dict__.setdefault("input_notes", []).append(line)


def _load_prometheus(args: argparse.Namespace) -> Any:
    return _prometheus_frame(args, _prometheus_series(args))


def _prometheus_series(args: argparse.Namespace) -> dict[str, Any]:
    """Every label set of ``--query`` over the range, one float series each."""
    import os

    from anomalert.sources.prometheus import PrometheusClient, parse_duration, parse_time

    if not args.query:
        raise AnomalertError("--prometheus needs --query PROMQL")
    client = PrometheusClient(
        args.prometheus, token=args.token or os.environ.get("ANOMALERT_PROMETHEUS_TOKEN")
    )
    end = parse_time(args.end)
    start = parse_time(args.start, now=end)
    with client:
        series = client.query_range(args.query, start, end, parse_duration(args.step))
    if not series:
        raise AnomalertError(
            f"Prometheus query {args.query!r} returned no series between {start} and {end}"
        )
    return series


def _prometheus_frame(args: argparse.Namespace, series: dict[str, Any]) -> Any:
    """One wide frame, a column per label set (what ``PrometheusClient.query_frame`` builds)."""
    import pandas as pd

    from anomalert.data import validate_frame

    frame, _ = validate_frame(
        pd.DataFrame(series), source=f"prometheus:{args.query}", metrics=list(series),
        keep_labels=False,
    )
    _input_note(args, f"{args.prometheus}: {frame.shape[1]} series x {len(frame)} points for "
                f"{args.query}")
    return frame


def _run_detection(args: argparse.Namespace, frame: Any) -> Any:
    from anomalert.detection import detect
    from anomalert.events import split_labels

    source = args.file or args.access_log or f"prometheus:{getattr(args, 'query', '')}"
    _, truth, _ = split_labels(frame, source=str(source))
    policy = _policy(args)
    try:
        det = detect(
            args.detector,
            frame,
            train_until=args.train_until,
            policy=policy,
            labels=truth,
        )
    except AnomalertError as exc:
        if str(exc).startswith(str(source)):
            raise
        raise type(exc)(f"{source}: {exc}") from None
    for line in det.notes:  # e.g. minutes with no traffic, whose error rates are not scored
        note(line if line.startswith(str(source)) else f"{source}: {line}")
    return det


def _policy(args: argparse.Namespace) -> Any:
    from anomalert.alerting import AlertPolicy

    return AlertPolicy(k=args.k, n=args.n, resolve_after=args.resolve_after,
                       cooldown=args.cooldown, threshold=args.threshold)


def _print_incidents(incidents: Sequence[Any], train_until: Any = None) -> None:
    """The incidents as a table; those that started inside the training window are marked
    (the detector was still learning the series' normal there)."""
    from anomalert.detectors.base import format_value

    if not incidents:
        _out("no incidents")
        return
    in_training = [train_until is not None and inc.start < train_until for inc in incidents]
    extra = f", {sum(in_training)} of them in the training window (T)" if any(in_training) else ""
    _out(f"{len(incidents)} incident(s){extra}:")
    _out(f"  {'#':>4}  {'start (UTC)':20}  {'end (UTC)':20}  {'peak':>9}  "
         "metrics / explanation at peak")
    for inc, trained in zip(incidents, in_training, strict=True):
        mark = f"{inc.id}{'T' if trained else ''}{'R' if inc.reopened else ''}"
        _out(
            f"  {mark:>4}  {inc.start.strftime('%Y-%m-%d %H:%M:%S'):20}  "
            f"{inc.end.strftime('%Y-%m-%d %H:%M:%S'):20}  {format_value(inc.peak_score, 3):>9}  "
            f"{', '.join(inc.metrics)}: {inc.explanation}"
        )
    reopened = [inc for inc in incidents if inc.reopened]
    if reopened:
        _out(f"  R: resolved, then alerting again within the cooldown: one page, the same "
             f"incident ({sum(i.reopened for i in reopened)} time(s); --cooldown 0 pages each)")


def _many_series(args: argparse.Namespace) -> tuple[Any, Any]:
    """(fleet source, None) for multi-series input, else (None, the one frame to score).

    Multi-series: a directory, a long-format file (a ``series`` column, or label columns and
    ``value``), a Prometheus query with several label sets, or any input with ``--engine dask``.
    """
    from anomalert.sources.longformat import is_long_format

    dask = args.engine == "dask"
    chosen = [x for x in (args.file, args.prometheus, args.access_log) if x]
    if len(chosen) == 1 and args.prometheus:
        series = _prometheus_series(args)
        if len(series) > 1 or dask:
            note(f"{args.prometheus}: {len(series)} series for {args.query}")
            return series, None
        return None, _prometheus_frame(args, series)
    if len(chosen) == 1 and args.file:
        path = Path(args.file)
        if path.is_dir() or (path.is_file() and (dask or is_long_format(path, args.timestamp_column))):
            return path, None
    frame = _load(args)
    if dask:
        return [(Path(chosen[0]).name, frame)], None
    return None, frame


def _print_fleet(result: Any) -> None:
    from anomalert.detectors.base import format_value

    rows = result.summaries
    width = min(max([len("series")] + [len(s.series) for s in rows]), 80)
    _out(
        f"  {'series':{width}}  {'points':>8}  {'incidents':>9}  {'max score':>9}  "
        f"{'first alert (UTC)':17}  status"
    )
    for s in rows:
        peak = f"{format_value(s.max_score, 3):>9}" if s.max_score == s.max_score else f"{'-':>9}"
        first = s.first_alert[:16].replace("T", " ") if s.first_alert else "-"
        status = f"{s.status}: {s.message}" if s.message else s.status
        _out(f"  {s.series:{width}}  {s.points:>8}  {s.incidents:>9}  {peak}  {first:17}  {status}")
    t = result.totals
    _out(
        f"totals: {t['series']} series ({t['ok']} scored, {t['skipped']} skipped, "
        f"{t['errors']} failed), {t['points']} points, {t['alerts']} alert points, "
        f"{t['incidents']} incident(s); {result.engine} engine, {result.chunks} chunk(s), "
        f"{result.seconds:.1f} s"
    )


def _detect_many(args: argparse.Namespace, source: Any) -> int:
    import time

    from anomalert.fleet import detect_many

    last = [time.monotonic()]

    def progress(series: int, points: int) -> None:
        if time.monotonic() - last[0] >= 10:
            last[0] = time.monotonic()
            note(f"scored {series} series ({points} points) so far")

    keep = 0
    if args.report or args.plot:  # the report charts the worst series: keep them as scored
        from anomalert.report import many

        keep = many.WORST

    result = detect_many(
        source,
        args.detector,
        train_until=args.train_until,
        policy=_policy(args),
        engine=args.engine,
        scheduler=args.scheduler,
        chunk_size=args.chunk_size,
        output=args.output,
        timestamp_column=args.timestamp_column,
        progress=progress,
        keep=keep,
    )
    for line in result.notes:
        note(line)
    _out(f"{args.detector}: {len(result.summaries)} series, each scored on its own")
    _print_fleet(result)
    if args.output:
        _out(f"wrote {args.output}")
    if (args.report or args.plot) and result.totals["ok"]:
        from anomalert.report.many import write_fleet

        run = _run_info(args)
        run.notes += result.notes
        write_fleet(result, source, run, plot=args.plot, report=args.report,
                    timestamp_column=args.timestamp_column)
        for path in (args.plot, args.report):
            if path:
                _out(f"wrote {path}")
    if result.summaries and not result.totals["ok"]:
        first = next(s for s in result.summaries if s.message)
        raise AnomalertError(f"no series could be scored (first: {first.series}: {first.message})")
    if not result.summaries:
        raise AnomalertError("the input holds no series")
    if result.totals["errors"]:  # some series could not be read or scored: say so to scripts
        print(f"anomalert: {result.totals['errors']} series failed (see 'status' above)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_detect(args: argparse.Namespace) -> int:
    if args.scheduler and args.engine != "dask":
        raise AnomalertError("--scheduler needs --engine dask")
    check_output(args.output, "-o", TABLE_OUTPUT)
    _check_visuals(args)
    source, frame = _many_series(args)
    if source is not None:
        return _detect_many(args, source)
    det = _run_detection(args, frame)
    pts = det.points
    _out(
        f"{args.detector}: trained on {det.train_rows} rows"
        + (f" (until {det.train_until.isoformat()})" if det.train_until is not None else "")
        + f", threshold {det.detector.threshold_:.4g}"
        + (f" (paging at {args.threshold:g})" if args.threshold is not None else "")
        + f"; {int(pts['is_anomaly'].sum())} of "
        f"{len(pts)} points alert"
    )
    logs = getattr(det.detector, "log_", None)
    if logs is not None:  # say which metrics are scored on their log (transform)
        names = [f for f, on in zip(det.detector.features_, logs, strict=True) if on]
        _out(f"scored on the log (multiplicative noise): {', '.join(names)}")
    _print_incidents(det.incidents, det.train_until)
    if args.output:
        out = pts.drop(columns=["is_anomalous"]).copy()
        out.insert(0, "timestamp", out.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
        out["is_anomaly"] = out["is_anomaly"].astype(int)
        out["incident"] = out["incident"].astype("Int64")
        write_table(out, args.output)
        _out(f"wrote {args.output}")
    _write_visuals(args, frame, det)
    return 0


def _run_info(args: argparse.Namespace) -> Any:
    """What the report says was run."""
    from anomalert.report.detection import Run

    if getattr(args, "prometheus", None):
        source = args.query
        kind = (f"Prometheus query at {args.prometheus}, --start {args.start} --end {args.end} "
                f"--step {args.step}")
    elif getattr(args, "access_log", None):
        source, kind = args.access_log, f"{args.format} access log, aggregated per minute"
    else:
        path = Path(args.file)
        source = args.file
        kind = ("directory of CSV/Parquet files" if path.is_dir() else "Parquet file"
                if path.suffix.lower() in (".parquet", ".pq") else "CSV file")
    return Run(args.command, source, kind, args.detector, _policy(args), args.train_until,
               list(getattr(args, "input_notes", [])), getattr(args, "argv", None))


def _write_visuals(args: argparse.Namespace, frame: Any, det: Any,
                   evaluation: dict[str, Any] | None = None,
                   truth: tuple[Any, Any] | None = None) -> None:
    """``--plot`` and ``--report`` of one detection (``truth``: its labels and kinds, when
    the caller split them already)."""
    if not (args.report or args.plot):
        return
    from anomalert.events import split_labels
    from anomalert.report.detection import write_plot, write_report

    labels, kinds = truth if truth is not None else split_labels(frame)[1:]
    run = _run_info(args)
    source = run.source if not getattr(args, "prometheus", None) else f"prometheus:{run.source}"
    run.notes += [line if line.startswith(source) else f"{source}: {line}" for line in det.notes]
    if args.plot:
        write_plot(args.plot, run, frame, det, labels=labels, kinds=kinds)
        _out(f"wrote {args.plot}")
    if args.report:
        write_report(args.report, run, frame, det, labels=labels, kinds=kinds,
                     evaluation=evaluation)
        _out(f"wrote {args.report}")


# --------------------------------------------------------------------------- evaluate
def _cmd_evaluate(args: argparse.Namespace) -> int:
    from anomalert.evaluation.metrics import evaluate_detection
    from anomalert.events import split_labels

    check_output(args.json, "--json", JSON_OUTPUT)
    _check_visuals(args)
    frame = _load(args)
    _, truth, kinds = split_labels(frame, source=str(args.file))
    if truth is None:
        raise AnomalertError(
            f"{args.file}: no 'is_anomaly' column; evaluate needs labelled data "
            "(0/1 per row, e.g. from 'anomalert generate')"
        )
    det = _run_detection(args, frame)
    result = evaluate_detection(det.points, truth, kinds, train_until=det.train_until)
    result = {
        "file": str(args.file),
        "detector": args.detector,
        "threshold": det.detector.threshold_,
        "train_rows": det.train_rows,
        "train_until": det.train_until.isoformat() if det.train_until is not None else None,
        **result,
    }
    held = result.get("heldout")
    _out(f"{args.detector} on {args.file} ({len(frame)} rows; trained on {det.train_rows})")
    if held is not None:  # the headline is what the detector had not trained on
        rows = int(sum(held["point"][k] for k in ("tp", "fp", "fn", "tn")))
        _out(f"held-out rows (from {held['from']}, {rows}: after the training window):")
        _print_scope(held, det.incidents)
        a = result
        ap = a["point"]
        _out(f"all rows, the training window included: precision {ap['precision']:.3f}  recall "
             f"{ap['recall']:.3f}  f1 {ap['f1']:.3f}, {a['events']['detected']}/"
             f"{a['events']['total']} events, {a['incidents']['false']} false incidents")
    else:
        _out("all rows (none after the training window: the detector trained on these rows, "
             "so the numbers are in-sample):")
        _print_scope(result, det.incidents)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=json_default))
        _out(f"wrote {args.json}")
    _write_visuals(args, frame, det, result, (truth, kinds))
    return 0


def _print_scope(scope: dict[str, Any], incidents: Sequence[Any]) -> None:
    """One scope of :func:`~anomalert.evaluation.metrics.evaluate_detection`, as evaluate
    prints it."""
    from anomalert.report.page import minutes

    p, e, i = scope["point"], scope["events"], scope["incidents"]
    _out(
        f"  points:    precision {p['precision']:.3f}  recall {p['recall']:.3f}  f1 {p['f1']:.3f}  "
        f"fpr {p['fpr']:.4f}  (tp {p['tp']}, fp {p['fp']}, fn {p['fn']}, tn {p['tn']})"
    )
    delays = ", ".join(f"{d:g}" for d in e["delays_min"]) or "-"
    _out(f"  events:    {e['detected']} of {e['total']} detected; delays (min): {delays}")
    for kind, s in sorted(e["per_type"].items()):
        _out(
            f"    {kind:15} {s['detected']}/{s['events']} events, point recall "
            f"{s['point_recall']:.3f}, precision vs false alarms {s['precision']:.3f}"
        )
    _out(
        f"  incidents: {i['total']} total, {i['false']} false ({i['false_per_day']:.2f} per day); "
        f"alerting outside the events {minutes(i['false_alert_min_per_day'])} a day"
    )
    reopened = sum(inc.reopened for inc in incidents)
    if reopened:
        _out(f"             {reopened} time(s) an incident alerted again within the cooldown "
             "after it resolved: the same incident, no new page (--cooldown 0 pages each)")


# --------------------------------------------------------------------------- command line
def register(sub: Any) -> None:
    """Add ``generate``, ``detect`` and ``evaluate`` to the command line's subparsers."""
    g = sub.add_parser("generate", help="write a labelled synthetic scenario to CSV")
    g.add_argument("scenario", choices=["cpu", "lb"])
    g.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")
    g.add_argument(
        "--days", type=positive_int, default=None,
        help="length in days, at most 3660 (default: cpu 7, lb 1; realistic: cpu 14, lb 7)",
    )
    g.add_argument("--realistic", action="store_true", help="the realistic variant")
    g.add_argument("-o", "--output", required=True,
                   help="output file: .csv, .csv.gz or .parquet (the extension decides)")
    g.set_defaults(handler=_cmd_generate)

    d = sub.add_parser("detect", help="score a file, a Prometheus query or a log; print incidents")
    add_detection_options(d, sources=True)
    d.add_argument("-o", "--output",
                   help="write per-point results: .csv, .csv.gz or .parquet (the extension decides)")
    d.set_defaults(handler=_cmd_detect)

    e = sub.add_parser("evaluate", help="score a labelled file and report metrics")
    add_detection_options(e)
    e.add_argument("--json", help="write every metric as JSON (a .json path)")
    e.set_defaults(handler=_cmd_evaluate)
