"""``anomalert demo``: both scenarios, both variants, the tutorials' presets beside ``default``.

For each scenario (``cpu``, ``lb``) and variant (``tutorial``, ``realistic``) the demo runs the
tutorial preset for that scenario (``seed000-iforest`` / ``seed004-iforest``), plain
``iforest`` (defaults; threshold calibrated on the label-free training window) and ``default``
through :func:`anomalert.detection.detect`, measures every run over all rows and over the held-out
rows (from the scenario's ``train_until``), sweeps the preset's ``contamination`` and ``default``'s
threshold, draws the figures and writes ``report.html`` and ``metrics.json``.

Cases run in parallel worker processes (one per CPU, at most 4); each writes its own PNGs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomalert import scenarios
from anomalert.detection import Detection, detect
from anomalert.detectors import IForest
from anomalert.errors import InputError
from anomalert.evaluation.metrics import evaluate_detection
from anomalert.evaluation.sweep import measure, sweep
from anomalert.features import transform_frame
from anomalert.outputs import json_default
from anomalert.report.draw import draw_detections, incident_rows
from anomalert.report.results import PRESET_FOR, CaseResult, DemoResult

__all__ = ["draw_case", "run_case", "run_demo"]

VARIANTS = ("tutorial", "realistic")
CONTAMINATIONS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1)
THRESHOLD_FACTORS = (0.5, 0.75, 1.5)  # default's threshold sweep, times its own threshold
QUICK_DAYS = {("cpu", "tutorial"): 7, ("cpu", "realistic"): 3, ("lb", "tutorial"): 1,
              ("lb", "realistic"): 2}

Log = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _timed(seconds: dict[str, float], key: str, fn: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
    return out


def _scopes(result: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for scope in (result, result.get("heldout")):
        if scope is not None:
            out.append({k: v for k, v in scope.items() if k in ("scope", "point", "events",
                                                                "incidents")})
    return out


def run_case(scenario: str, variant: str, seed: int = 42, out: Path | None = None, *,
             quick: bool = False, extras: bool = True, log: Log = _stderr) -> CaseResult:
    """Run one scenario variant through the preset, ``iforest`` and ``default``.

    Parameters
    ----------
    out
        Directory for the figures (none drawn when None or ``extras`` is False).
    quick
        Shorter realistic series and fewer sweep values (for tests).
    extras
        Also run the sweeps and draw the figures (the demo does this for the first seed).
    """
    tag = f"{scenario}/{variant}/seed {seed}"
    seconds: dict[str, float] = {}
    days = QUICK_DAYS[(scenario, variant)] if quick else None
    sc = _timed(seconds, "generate", lambda: scenarios.generate(
        scenario, seed=seed, days=days, realistic=variant == "realistic"))
    if sc.train_until is None:
        raise InputError(f"scenario {tag} has no training window")
    frame, truth, kinds = sc.frame, sc.frame["is_anomaly"].astype(bool), sc.frame["anomaly_type"]
    cut = sc.train_until
    preset = PRESET_FOR[scenario]
    names = [preset, "iforest", "default"]
    detections: dict[str, Detection] = {}
    runs: list[dict[str, Any]] = []
    summary: dict[str, dict[str, Any]] = {}
    for name in names:
        det = _timed(seconds, name, partial(detect, name, frame, train_until=cut, labels=truth))
        detections[name] = det
        summary[name] = measure(det, name, truth, kinds, heldout_from=cut)
        boundary = max(c for c in (cut, det.train_until) if c is not None)
        result = evaluate_detection(det.points, truth, kinds, train_until=boundary)
        for scope in _scopes(result):
            runs.append({"scenario": scenario, "variant": variant, "seed": seed,
                         "detector": name, **scope,
                         "heldout_from": boundary.isoformat(),
                         "in_sample": summary[name]["in_sample"] if scope["scope"] == "heldout"
                         else True,
                         "threshold": summary[name]["threshold"],
                         "train_rows": summary[name]["train_rows"],
                         "train_flagged": summary[name]["train_flagged"]})
        log(f"  {tag}: {name} done in {seconds[name]:.1f}s")
    idx = pd.DatetimeIndex(frame.index)
    case = CaseResult(
        scenario, variant, seed, len(frame), (idx[-1] - idx[0]) / pd.Timedelta("1D"),
        cut.isoformat(), int((idx >= cut).sum()), len(sc.events), sc.metrics, names, runs,
        summary, seconds=seconds,
        incidents={n: incident_rows(d, sc.events, cut) for n, d in detections.items()})
    if extras:
        _sweeps(case, frame, truth, kinds, cut, quick, log)
        if out is not None:
            _timed(seconds, "figures", lambda: draw_case(case, sc, detections, out, log))
    return case


def _sweeps(case: CaseResult, frame: pd.DataFrame, truth: pd.Series, kinds: pd.Series,
            cut: pd.Timestamp, quick: bool, log: Log) -> None:
    tag = f"{case.scenario}/{case.variant}"
    values = (0.01, 0.05) if quick else CONTAMINATIONS
    case.sweeps["contamination"] = _timed(case.seconds, "sweep contamination", lambda: sweep(
        frame, case.preset, "contamination", values, train_until=cut, labels=truth, kinds=kinds))
    auto = case.summary["default"]["threshold"]
    factors = (0.5,) if quick else THRESHOLD_FACTORS
    case.sweeps["threshold"] = _timed(case.seconds, "sweep threshold", lambda: sweep(
        frame, "default", "threshold", [round(f * auto, 3) for f in factors], train_until=cut,
        labels=truth, kinds=kinds))
    log(f"  {tag}: sweeps done in "
        f"{case.seconds['sweep contamination'] + case.seconds['sweep threshold']:.1f}s")


def _sample(rows: np.ndarray, k: int = 200) -> np.ndarray:
    return rows[np.linspace(0, rows.size - 1, k).astype(int)] if rows.size > k else rows


def _attribution(d: Detection, exps: dict[int, Any], hot: np.ndarray,
                 truth: np.ndarray) -> tuple[pd.DataFrame, str]:
    """Mean per-feature contribution at the alerts ``hot``, inside vs outside true events."""
    static = isinstance(d.detector, IForest)
    rows = [{"inside": bool(truth[i]),
             **{c.metric: (c.share if static else abs(c.deviation))
                for c in exps[int(i)].contributions}} for i in hot]
    table = pd.DataFrame(rows, columns=["inside", *d.detector.features_])
    means = table.groupby("inside").mean().T.reindex(columns=[True, False])
    means.columns = pd.Index(["true", "false"])
    means.attrs = {"n_true": int(table["inside"].sum()),
                   "n_false": int((~table["inside"].astype(bool)).sum())}
    what = ("score drop, feature reset to training median" if static
            else "|deviation| from baseline (σ)")
    return means.sort_values("true", ascending=False), what


def draw_case(case: CaseResult, sc: Any, detections: dict[str, Detection], out: Path,
              log: Log = _stderr) -> None:
    """Draw every figure of one case into ``out`` and list them in ``case.figures``: the
    shared figures of :func:`~anomalert.report.draw.draw_detections`, then the attribution
    and the contamination sweep."""
    from anomalert.report import evalfigures as evalfig

    frame, events, cut = sc.frame, sc.events, sc.train_until
    index = pd.DatetimeIndex(frame.index)
    labels = frame["is_anomaly"].astype(bool)
    truth = labels.to_numpy()
    held = np.asarray(index >= cut)
    name = f"{case.scenario} / {case.variant} (seed {case.seed})"

    def add(suffix: str, caption: str, draw: Callable[[Path], Any]) -> None:
        path = out / f"{case.key}_{suffix}.png"
        draw(path)
        case.figures.append((path.name, caption))

    if case.scenario == "lb":
        shown = ["total_requests", "5xx_rate", "4xx_rate", "avg_response_time_ms"]
        data = transform_frame(frame[sc.metrics], "rates")
    else:
        shown, data = list(sc.metrics), frame
    # An even sample of each kind of held-out alert is enough for a mean attribution.
    hot, fired_inside = {}, {}
    for n, d in detections.items():
        fired = np.flatnonzero(d.points["is_anomaly"].to_numpy(dtype=bool) & held)
        inside = truth[fired]
        fired_inside[n] = inside
        hot[n] = np.sort(np.concatenate([_sample(fired[inside]), _sample(fired[~inside])]))
    points = {r["detector"]: r["point"] for r in case.runs if r["scope"] == "heldout"}
    exps = draw_detections(add, frame, detections, title=name, events=events, cut=cut,
                           data=data, shown=shown, labels=labels,
                           confusion=("held-out rows", points), extra_rows=hot,
                           skip_panels=("iforest",))
    attributions: dict[str, tuple[pd.DataFrame, str]] = {}
    for n, d in detections.items():
        inside = fired_inside[n]
        attributions[n] = _attribution(d, exps[n], hot[n], truth)
        attributions[n][0].attrs.update(of_true=int(inside.sum()), of_false=int((~inside).sum()))
    add("attribution", "What drove the alerts: per-feature contribution at alert time "
        "(held-out alerts), inside true events vs false alerts.",
        lambda p: evalfig.attribution(p, attributions, f"{name}: per-feature attribution at alerts"))
    add("sweep", f"The contamination challenge: {case.preset}'s contamination against "
        "default's label-free threshold (and default's threshold swept).",
        lambda p: evalfig.sweep_curves(p, case.sweeps["contamination"], case.preset,
                                   case.summary["default"], case.sweeps["threshold"],
                                   f"{name}: contamination sweep vs label-free threshold"))
    log(f"  {case.scenario}/{case.variant}: {len(case.figures)} figures written")


def _work(args: tuple[str, str, int, Path, bool, bool]) -> CaseResult:
    scenario, variant, seed, out, quick, extras = args
    return run_case(scenario, variant, seed, out, quick=quick, extras=extras)


def run_demo(out: Path | str = "report", *, seeds: Sequence[int] = (42,), quick: bool = False,
             jobs: int | None = None, log: Log = _stderr) -> DemoResult:
    """Run every case, write the figures, ``metrics.json`` and ``report.html`` into ``out``.

    Parameters
    ----------
    seeds
        Scenario seeds; figures and sweeps are made for the first, metrics for all.
    quick
        Shorter series and fewer sweep values (what the tests use).
    jobs
        Worker processes (default: CPUs, at most 4); 1 runs everything in this process.
    """
    from anomalert.report.html import acceptance, write_report

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    order = [("cpu", "realistic"), ("lb", "realistic"), ("cpu", "tutorial"), ("lb", "tutorial")]
    tasks = [(s, v, seed, out, quick, k == 0) for k, seed in enumerate(seeds) for s, v in order]
    jobs = jobs or min(4, os.cpu_count() or 1)
    log(f"anomalert demo: {len(tasks)} case(s) on {min(jobs, len(tasks))} worker(s)"
        + (" (quick)" if quick else ""))
    if jobs == 1 or len(tasks) == 1:
        cases = [_work(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            cases = list(pool.map(_work, tasks))
    rank = {key: k for k, key in enumerate([(s, v) for s in ("cpu", "lb") for v in VARIANTS])}
    cases.sort(key=lambda c: (c.seed != seeds[0], c.seed, rank[(c.scenario, c.variant)]))
    result = DemoResult(out, cases, time.perf_counter() - t0, quick)
    payload = {
        "generated_by": "anomalert demo", "quick": quick, "seeds": list(seeds),
        "runs": [r for c in cases for r in c.runs],
        "sweeps": [{"scenario": c.scenario, "variant": c.variant, "seed": c.seed,
                    "detector": c.preset if param == "contamination" else "default",
                    "param": param, "rows": rows}
                   for c in cases for param, rows in c.sweeps.items()],
        "checks": acceptance(cases),
        "seconds": {c.key: c.seconds for c in cases},
    }
    result.metrics_json.write_text(json.dumps(payload, indent=1, default=json_default))
    write_report(result)
    result.seconds = time.perf_counter() - t0
    return result
