"""The ``demo`` and ``sweep`` subcommands (registered by :mod:`anomalert.cli`).

``anomalert demo [--out DIR] [--seeds 42,...] [--quick]`` writes the report;
``anomalert sweep FILE [--detector NAME] (--contamination LIST | --threshold LIST)`` runs one
detector per value and prints FPR, precision, recall, F1, incidents (as ``anomalert detect``
opens them), false incidents per day and events detected per value. User errors raise
:class:`~anomalert.errors.AnomalertError` subclasses, which the CLI prints as one line (exit
status 2). Heavy imports live inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from anomalert.errors import InputError, ParameterError

__all__ = ["cmd_demo", "cmd_sweep", "parse_seeds", "register"]


def parse_seeds(text: str) -> list[int]:
    """``"42,7"`` -> ``[42, 7]``; a bad item raises :class:`ParameterError`.

    >>> parse_seeds("42, 7, 42")
    [42, 7]
    """
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise ParameterError(f"--seeds: expected a comma-separated list of ints, got {text!r}")
    out = []
    for item in items:
        if not item.isdigit():
            raise ParameterError(f"--seeds: {item!r} is not a non-negative int (e.g. 42,7)")
        if int(item) not in out:
            out.append(int(item))
    return out


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo and print the summary table and the report's path."""
    from anomalert.report.demo import run_demo
    from anomalert.report.html import acceptance, summary_table

    seeds = parse_seeds(args.seeds)
    if args.jobs is not None and args.jobs < 1:
        raise ParameterError(f"--jobs: expected an int >= 1, got {args.jobs}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    result = run_demo(out, seeds=seeds, quick=args.quick, jobs=args.jobs)
    print(summary_table(result.cases))
    checks = acceptance(result.cases)
    failed = [c for c in checks if not c["passed"]]
    print(f"default vs tutorial presets: {len(checks) - len(failed)} of {len(checks)} checks "
          "passed (no more false incidents, at least as many events detected)")
    for c in failed:
        print(f"  FAILED {c['scenario']}/{c['variant']} seed {c['seed']} ({c['scope']}): false "
              f"incidents {c['default_false_incidents']} vs {c['preset_false_incidents']}, "
              f"events {c['default_events']} vs {c['preset_events']}")
    print(f"wrote {result.report} and {result.metrics_json} in {result.seconds:.0f}s")
    return 0


def _flagged(row: dict[str, Any]) -> bool:
    """Whether a sweep row flagged any point in its scope (else its precision is undefined:
    shown as '-', left out of the plot)."""
    return bool(row["tp"] + row["fp"])


def _sweep_plot(path: Path, rows: list[dict[str, Any]], detector: str, param: str) -> None:
    from matplotlib.figure import Figure

    from anomalert.outputs import plot_format
    from anomalert.report.evalfigures import sweep_note

    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    x = [r["value"] for r in rows]
    if param == "contamination":
        left.plot(x, x, ":", color="#999999", label="y = contamination")
    undefined = [r for r in rows if not _flagged(r)]
    precision = ("precision (none where nothing is flagged: undefined)" if undefined
                 else "precision")
    for key, label in (("fpr", "false-positive rate"), ("train_flagged",
                                                        "flagged share of training window"),
                       ("precision", precision), ("recall", "recall")):
        y = [r[key] if key != "precision" or _flagged(r) else float("nan") for r in rows]
        left.plot(x, y, "o-", label=label)
    # minutes alerting outside the events, not false incidents: a high contamination merges
    # alerts into long incidents over an event that count as true
    right.plot(x, [r["false_alert_min_per_day"] for r in rows], "o-", color="#d62728")
    for r in rows:
        right.annotate(sweep_note(r), (r["value"], r["false_alert_min_per_day"]), fontsize=8,
                       textcoords="offset points", xytext=(0, 6), ha="center")
    for ax in (left, right):
        if param == "contamination":
            ax.set_xscale("log")
        ax.set_xlabel(param + (" (score units)" if param == "threshold" else ""))
        ax.grid(alpha=0.3)
    left.set_ylabel("share / rate")
    top = max(r["false_alert_min_per_day"] for r in rows)
    right.set_ylim(-0.03 * max(top, 1.0), 1.2 * max(top, 1.0))  # room for the labels
    # below the plots, not over the curves (precision sits where a corner legend would go)
    fig.legend(*left.get_legend_handles_labels(), loc="outside lower center", fontsize=8,
               ncol=5)
    right.set_ylabel("minutes a day alerting\noutside the labelled events")
    fig.suptitle(f"{detector}: {param} sweep ({rows[0]['scope']} rows)", fontweight="bold")
    fig.savefig(path, dpi=100, format=plot_format(path))


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run the sweep on a labelled file and print one line per value."""
    from anomalert.evaluation.sweep import parse_values, sweep
    from anomalert.events import split_labels
    from anomalert.outputs import JSON_OUTPUT, PLOT_OUTPUT, check_output
    from anomalert.sources.files import read_table

    check_output(args.json, "--json", JSON_OUTPUT)
    check_output(args.plot, "--plot", PLOT_OUTPUT)
    param = "contamination" if args.contamination is not None else "threshold"
    values = parse_values(getattr(args, param), option=param)
    frame, report = read_table(args.file)
    for line in report.lines():
        print(f"note: {line}", file=sys.stderr)
    _, truth, kinds = split_labels(frame, source=str(args.file))
    if truth is None:
        raise InputError(f"{args.file}: no 'is_anomaly' column; sweep needs labelled data")
    rows = sweep(frame, args.detector, param, values, train_until=args.train_until,
                 labels=truth, kinds=kinds,
                 progress=lambda line: print(f"  {line}", file=sys.stderr, flush=True))
    scope = rows[0]["scope"]
    print(f"{args.detector} {param} sweep on {args.file} ({scope} rows"
          + (", which it was also trained on" if rows[0]["in_sample"] else "") + ")")
    # a threshold sweep's value is the threshold: one column, not "threshold threshold"
    both = param != "threshold"
    print(f"{param:>13}" + (f" {'threshold':>9}" if both else "")
          + f" {'train flag':>10} {'fpr':>8} {'prec':>6} {'recall':>6} {'f1':>6} "
          f"{'incidents':>9} {'false/day':>9} {'outside':>8} {'events':>7}")
    for r in rows:
        prec = f"{r['precision']:6.3f}" if _flagged(r) else f"{'-':>6}"
        print(f"{r['value']:13g}" + (f" {r['threshold']:9.4g}" if both else "")
              + f" {r['train_flagged']:10.4f} {r['fpr']:8.4f} {prec} "
              f"{r['recall']:6.3f} {r['f1']:6.3f} {r['incidents']:9d} "
              f"{r['false_incidents_per_day']:9.2f} {r['false_alert_min_per_day']:8.0f} "
              f"{r['events_detected']:>3}/{r['events_total']}")
    if not all(_flagged(r) for r in rows):
        print(f"prec -: nothing flagged in the {scope} rows, so no precision to speak of")
    print("outside: minutes a day alerting outside the labelled events (one long incident "
          "over an event is one true page, and still this many minutes of alerts)")
    if args.json:
        Path(args.json).write_text(json.dumps({"file": str(args.file), "detector": args.detector,
                                               "param": param, "rows": rows}, indent=1))
        print(f"wrote {args.json}")
    if args.plot:
        _sweep_plot(Path(args.plot), rows, args.detector, param)
        print(f"wrote {args.plot}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``demo`` and ``sweep`` to the CLI's subparsers."""
    d = subparsers.add_parser("demo", help="run every scenario and write report.html")
    d.add_argument("--out", default="report", help="output directory (default: report)")
    d.add_argument("--seeds", default="42", help="scenario seeds, comma-separated (default: 42)")
    d.add_argument("--quick", action="store_true", help="shorter series, fewer sweep values")
    d.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPUs)")
    d.set_defaults(handler=cmd_demo)

    s = subparsers.add_parser("sweep", help="sweep contamination or threshold against labels")
    s.add_argument("file", help="labelled CSV or Parquet (timestamp, metrics, is_anomaly)")
    s.add_argument("--detector", default="default", metavar="NAME",
                   help="detector or preset name (default: default)")
    group = s.add_mutually_exclusive_group(required=True)
    group.add_argument("--contamination", help="comma-separated values, e.g. 0.001,0.01,0.1")
    group.add_argument("--threshold",
                       help="comma-separated thresholds in score units, e.g. 3,4,5,6")
    s.add_argument("--train-until", metavar="TS",
                   help="end of the known-good training window (default: after the first 10%% "
                   "of the rows, at least 60; presets keep their own training rows)")
    s.add_argument("--json", help="write the rows as JSON (a .json path)")
    s.add_argument("--plot", help="write the sweep as a figure: .png, .svg, .pdf or .jpg "
                   "(the extension decides)")
    s.set_defaults(handler=cmd_sweep)
