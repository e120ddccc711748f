"""``anomalert nab``: run a detector over a NAB corpus and print its NAB scores.

Examples
--------
::

    anomalert nab ../shared/data/nab --windows ../shared/data/nab/windows.json \\
        --detector default --results out/nab --json out/nab.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from anomalert.errors import InputError

__all__ = ["register"]


def _cmd_nab(args: argparse.Namespace) -> int:
    from anomalert.alerting import AlertPolicy
    from anomalert.evaluation.nab_run import NAB_POLICY, OWN_THRESHOLD, FileRun, run_nab
    from anomalert.outputs import JSON_OUTPUT, check_output

    check_output(args.json, "--json", JSON_OUTPUT)

    def progress(i: int, total: int, run: FileRun) -> None:
        print(
            f"[{i}/{total}] {run.relpath}: {len(run.index)} rows, {run.alerts} alerting, "
            f"{run.repeated} repeated timestamps, {run.seconds:.1f}s",
            file=sys.stderr,
            flush=True,
        )

    if args.suppress < 0:
        raise InputError(f"--suppress must be >= 0, got {args.suppress}")
    policy = NAB_POLICY if args.policy == "nab" else AlertPolicy()
    run = run_nab(
        args.data_dir, args.windows, args.detector, results_dir=args.results,
        progress=None if args.quiet else progress, suppress=args.suppress, policy=policy,
    )
    learning = ("learning every point" if args.policy == "nab"
                else "learning as the Monitor does: flagged points not learned")
    print(f"NAB scores of {args.detector} on {len(run.files)} files, {learning} "
          f"(0 = never fires, 100 = perfect); {sum(f.alerts for f in run.files)} alerting rows")
    thetas = sorted({f.threshold for f in run.files})
    theta = (f"θ = {thetas[0]:.4g} on every file" if len(thetas) == 1 else
             f"θ {thetas[0]:.4g} to {thetas[-1]:.4g}, each file its own")
    print(f"thresholds on NAB's 0-1 scale: anomaly score a = s / (s + θ), s the detector's "
          f"score, θ its own threshold ({theta}); 'own' scores at s = θ, a = {OWN_THRESHOLD}")
    print(f"{'profile':<20} {'optimised':>9} {'threshold':>9} {'(s/θ)':>7} {'own':>7}")
    for name, res in run.optimised.items():
        own = run.own[name]
        ratio = res.threshold / (1 - res.threshold) if res.threshold < 1 else float("inf")
        print(f"{name:<20} {res.score:9.1f} {res.threshold:9.3f} {ratio:7.3g} {own.score:7.1f}")
    if args.details:
        print(run.details_table())
    for note in run.notes:
        print(f"note: {note}", file=sys.stderr)
    if run.results_dir is not None:
        print(f"results written to {run.results_dir}")
    if args.json:
        out = Path(args.json)
        if not out.parent.exists():
            raise InputError(f"{out}: directory {out.parent} does not exist")
        summary = run.summary()
        if args.details:
            summary["details"] = {p: run.details(p) for p in run.optimised}
        out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``nab`` subcommand to the CLI's subparsers."""
    p = subparsers.add_parser("nab", help="run a detector over a NAB corpus and score it")
    p.add_argument("data_dir", help="NAB data directory (<subfolder>/<file>.csv)")
    p.add_argument("--windows", required=True, help="NAB windows JSON")
    p.add_argument("--detector", default="default", help="detector name (default: default)")
    p.add_argument("--results", help="write NAB results files under RESULTS/<detector>/")
    p.add_argument("--json", help="write the scores as JSON (a .json path)")
    p.add_argument("--suppress", type=int, default=100,
                   help="typical steps (median step x N, a span of time) after a score in which "
                   "only a higher one is reported (default 100)")
    p.add_argument("--policy", choices=("nab", "monitor"), default="nab",
                   help="what the detector learns from: 'nab' every point (NAB's convention, "
                   "the default), 'monitor' what `detect` and `watch` learn from (flagged "
                   "points are not, unless the detector asks)")
    p.add_argument("--details", action="store_true",
                   help="also show, per file, each labelled window's reward and the "
                        "false-positive rows (standard profile; all profiles in --json)")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-file progress")
    p.set_defaults(handler=_cmd_nab)
