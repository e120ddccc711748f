"""Run a detector over a NAB corpus, causally, and score it the way NAB does.

Every file is processed on its own, one point at a time in file order, through the same code
path as the streaming :class:`~anomalert.monitor.Monitor`:

1. The detector is fitted on the file's probationary rows (NAB's first 15%, which NAB does not
   score). Fitting streams those rows (score, then learn), skips points above the provisional
   threshold, and calibrates the detector's own label-free ``threshold_`` on them.
2. Every later row goes through ``Monitor.check``: the point is scored, the alert policy
   decides, and the detector learns from it unless it was flagged (the Monitor's protection:
   an anomaly does not become its own baseline, unless it lasts ``relearn_after`` points).
3. A row whose timestamp repeats (or goes back before) the previous one -- a daylight-saving
   artefact in two NAB files -- cannot enter the Monitor, which requires increasing time. It is
   scored against the current state *without* learning and without touching the alert policy,
   and its row is kept, so the results have one row per input row, in input order.

Scores are mapped to NAB's ``anomaly_score`` in ``[0, 1]`` by the monotone calibration

.. math::  a = s / (s + \\theta)

where ``s >= 0`` is the raw score and ``theta`` the detector's own threshold: the detector's own
threshold maps to exactly :data:`OWN_THRESHOLD` (0.5), so ``nab_score(..., threshold=0.5)`` is
the NAB score at the threshold the detector pages on without labels, and the optimised
threshold of NAB's sweep is a point on the same scale. NaN (warm-up) is written as 0.

Examples
--------
>>> OWN_THRESHOLD
0.5
>>> float(calibrate(np.array([0.0, 3.0, np.inf]), 3.0)[1])
0.5
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomalert.alerting import AlertPolicy
from anomalert.detectors import Detector, make
from anomalert.errors import InputError
from anomalert.evaluation.nab import PROFILES, NabResult, nab_scores, probationary_length
from anomalert.sources.nab import iter_nab_files, load_windows, write_results

__all__ = ["NAB_POLICY", "OWN_THRESHOLD", "FileRun", "NabRun", "calibrate", "run_file", "run_nab", "suppress_repeats"]

#: Where a detector's own threshold lands on NAB's ``[0, 1]`` scale.
OWN_THRESHOLD = 0.5

#: The Monitor policy of NAB runs: learn from every point (see :func:`run_nab`).
NAB_POLICY = AlertPolicy(learn_flagged=True)

Progress = Callable[[int, int, "FileRun"], None]


def calibrate(scores: np.ndarray, threshold: float) -> np.ndarray:
    """Map raw scores to ``[0, 1]``: ``s / (s + threshold)``, NaN -> 0, the threshold -> 0.5."""
    s = np.asarray(scores, dtype=float)
    thr = float(threshold) if threshold > 0 else 1e-12
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(np.isposinf(s), 1.0, np.clip(s, 0.0, None) / (np.clip(s, 0.0, None) + thr))
    return np.where(np.isnan(out), 0.0, out)


def suppress_repeats(
    scores: np.ndarray, window: int, index: pd.DatetimeIndex | None = None
) -> np.ndarray:
    """Keep a score only when it exceeds every score of the previous ``window`` rows, else 0.

    One change fires once: the first (earliest) crossing of any threshold in a run survives,
    later points of the same run do not, whatever the threshold. ``window=0`` changes nothing.

    With the rows' ``index``, the window is a span of time instead: ``window`` times the
    series' typical (median) step, the rows in ``[t - span, t)``. On a regular series that is
    the same ``window`` rows; on one with gaps it stays that long in time, where ``window``
    rows could reach back days and hide a later, separate change (as on NAB's traffic files).
    """
    a = np.asarray(scores, dtype=float)
    if window <= 0 or len(a) == 0:
        return a.copy()
    if index is None or len(index) < 2:
        prev = pd.Series(a).shift(1).rolling(window, min_periods=1).max().to_numpy()
    else:
        idx = pd.DatetimeIndex(index).as_unit("ns")
        if len(idx) != len(a):
            raise ValueError(f"index has {len(idx)} rows, scores {len(a)}")
        step = int(np.median(np.diff(idx.asi8)))
        if step <= 0 or not idx.is_monotonic_increasing:  # no typical step or order: rows
            return suppress_repeats(a, window)
        span = pd.Timedelta(step * window, "ns")
        prev = pd.Series(a, index=idx).rolling(span, closed="left", min_periods=1).max().to_numpy()
    return np.where(np.isnan(prev) | (a > prev), a, 0.0)


@dataclass(frozen=True)
class FileRun:
    """One file's run: raw scores, NAB anomaly scores and how rows were handled."""

    relpath: str
    index: pd.DatetimeIndex
    raw: np.ndarray
    anomaly_score: np.ndarray
    threshold: float
    windows: list[tuple[pd.Timestamp, pd.Timestamp]]
    probationary: int
    repeated: int
    alerts: int
    seconds: float


@dataclass
class NabRun:
    """The result of :func:`run_nab`.

    Attributes
    ----------
    optimised
        Profile -> :class:`NabResult` with NAB's optimised threshold.
    own
        Profile -> :class:`NabResult` at :data:`OWN_THRESHOLD` (the detector's own threshold).
    """

    detector: str
    files: list[FileRun]
    optimised: dict[str, NabResult]
    own: dict[str, NabResult]
    results_dir: Path | None = None
    notes: list[str] = field(default_factory=list)
    #: Files under the data directory that the windows file does not list (not scored).
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: scores per profile, thresholds, per-file counts."""
        return {
            "detector": self.detector,
            "files": len(self.files),
            "skipped_files": list(self.skipped),
            "rows": int(sum(len(f.index) for f in self.files)),
            "repeated_timestamps": int(sum(f.repeated for f in self.files)),
            "optimised": {
                p: {"score": round(r.score, 3), "threshold": r.threshold}
                for p, r in self.optimised.items()
            },
            "own_threshold": {
                p: {"score": round(r.score, 3), "threshold": r.threshold, **r.counts}
                for p, r in self.own.items()
            },
            "notes": list(self.notes),
        }

    def details(self, profile: str = "standard") -> list[dict[str, Any]]:
        """Where the score comes from, per file, at the optimised and the own threshold.

        Each file: ``rows``, ``fp`` (false-positive rows) per threshold, and per labelled
        window its ``start``/``end``, and per threshold the ``detected`` time (the counted,
        first detection; None if missed) and the window's ``reward`` (NAB's sigmoid for a
        detection, ``-A_FN`` for a miss; None when the window lies in the probationary part).
        """
        opt, own = self.optimised[profile], self.own[profile]
        out = []
        for run, fo, fw in zip(self.files, opt.files, own.files, strict=True):
            wins = []
            for k, (a, b) in enumerate(run.windows):
                win: dict[str, Any] = {"start": str(a), "end": str(b)}
                for label, fs in (("optimised", fo), ("own", fw)):
                    row = fs.window_first_rows[k]
                    win[label] = {
                        "detected": None if row is None else str(run.index[row]),
                        "reward": fs.window_scores[k],
                    }
                wins.append(win)
            out.append({"file": run.relpath, "rows": len(run.index),
                        "fp": {"optimised": fo.fp, "own": fw.fp}, "windows": wins})
        return out

    def details_table(self, profile: str = "standard") -> str:
        """:meth:`details` as text: one line per file, windows as rewards (``-`` = probation)."""
        def cell(w: dict[str, Any]) -> str:
            r = w["reward"]
            return "-" if r is None else f"{r:+.2f}"

        lines = [f"per file ({profile}): false-positive rows and each window's reward, "
                 "optimised threshold | own threshold"]
        for f in self.details(profile):
            o = " ".join(cell(w["optimised"]) for w in f["windows"]) or "(no windows)"
            w = " ".join(cell(w["own"]) for w in f["windows"]) or "(no windows)"
            lines.append(f"  {f['file']}: fp {f['fp']['optimised']} | {f['fp']['own']}; "
                         f"windows {o} | {w}")
        return "\n".join(lines)


def run_file(
    frame: pd.DataFrame,
    detector: str | Detector = "default",
    *,
    policy: AlertPolicy | None = None,
    relpath: str = "series",
) -> tuple[np.ndarray, float, int, int]:
    """Raw causal scores of one NAB series (one per row), as the Monitor computes them.

    Returns
    -------
    tuple
        ``(raw scores, detector threshold, repeated rows, alerting rows)``.
    """
    from anomalert.monitor import Monitor

    n = len(frame)
    det = make(detector) if isinstance(detector, str) else detector.clone()
    t_all = pd.DatetimeIndex(frame.index).as_unit("ns").asi8
    # A row is "fresh" when its time is after every earlier row's.
    fresh = np.ones(n, dtype=bool)
    if n > 1:
        fresh[1:] = t_all[1:] > np.maximum.accumulate(t_all)[:-1]
    values = frame["value"].to_numpy(dtype=float)
    prob = probationary_length(n)
    train = np.flatnonzero(fresh[:prob])
    raw = np.full(n, np.nan)
    if len(train) >= 2:
        det.fit(frame.iloc[train][["value"]])
        raw[train] = det.train_scores_
        start = prob
    else:  # too short to fit: start from nothing and learn online
        start = 0
    monitor = Monitor(det, policy, series=relpath)
    if len(train) >= 2:
        monitor._last_ts = frame.index[train[-1]]
    alerts = 0
    for i in range(start, n):
        ts = frame.index[i]
        point = {"value": float(values[i])}
        if fresh[i]:
            v = monitor.check(ts, point)
            raw[i] = v.score
            alerts += int(v.is_alert)
        elif det.is_fitted:
            raw[i] = det.score_one(ts, point)
    return raw, float(det.threshold_), int((~fresh).sum()), alerts


def run_nab(
    data_dir: str | Path,
    windows_path: str | Path,
    detector: str | Detector = "default",
    results_dir: str | Path | None = None,
    policy: AlertPolicy | None = None,
    progress: Progress | None = None,
    suppress: int = 100,
) -> NabRun:
    """Run ``detector`` over every CSV under ``data_dir`` and score it with NAB.

    Parameters
    ----------
    data_dir
        NAB ``data`` root (``<subfolder>/<file>.csv``).
    windows_path
        NAB windows JSON (keys are paths relative to ``data_dir``).
    detector
        Registry or preset name (see :func:`anomalert.detectors.available`), or an unfitted
        :class:`~anomalert.detectors.Detector` instance (each file gets a fresh clone; its
        ``name`` names the run and the results folder), e.g. a peer built outside the registry.
    results_dir
        If given, NAB results files are written to ``results_dir/<name>/``.
    policy
        Alert policy of the Monitor (what the detector may learn from). Default
        :data:`NAB_POLICY`: learn from every point, so a level change becomes the new normal
        instead of an alarm that lasts ``relearn_after`` points (NAB charges each one).
    suppress
        Typical steps after a score (a span of time: the median step times ``suppress``)
        during which only a higher score is reported (see :func:`suppress_repeats`): one
        change fires once.
    progress
        Called as ``progress(i, total, file_run)`` after each file.

    Returns
    -------
    NabRun

    Raises
    ------
    InputError
        Missing directory, unreadable windows file, malformed CSV, or no CSV at all (or
        none that the windows file lists). Files it does not list are skipped, as NAB does,
        and counted in :attr:`NabRun.notes`.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"{root}: NAB data directory not found")
    policy = NAB_POLICY if policy is None else policy
    windows = load_windows(windows_path)
    if isinstance(detector, str):
        make(detector)  # unknown names fail before any work
        name = detector
    elif isinstance(detector, Detector):
        name = type(detector).name or type(detector).__name__.lower()
    else:
        raise InputError(
            f"detector must be a registry name or a Detector, got {type(detector).__name__}"
        )
    skipped: list[str] = []
    files = list(iter_nab_files(root, windows, skipped=skipped))
    if not files:
        if skipped:
            raise InputError(
                f"{root}: none of its {len(skipped)} CSV file(s) is in the windows file "
                f"{windows_path} (e.g. {skipped[0]}); NAB scores only the files it lists"
            )
        raise InputError(f"{root}: no NAB CSV files found")
    out_dir = Path(results_dir) / name if results_dir is not None else None
    runs: list[FileRun] = []
    for k, nf in enumerate(files, 1):
        t0 = time.perf_counter()
        raw, thr, repeated, alerts = run_file(nf.frame, detector, policy=policy, relpath=nf.relpath)
        scores = suppress_repeats(calibrate(raw, thr), suppress, nf.frame.index)
        if out_dir is not None:
            write_results(out_dir, nf.relpath, nf.frame, scores, nf.windows, detector=name)
        run = FileRun(
            nf.relpath, pd.DatetimeIndex(nf.frame.index), raw, scores, thr, list(nf.windows),
            probationary_length(len(nf.frame)), repeated, alerts, time.perf_counter() - t0,
        )
        runs.append(run)
        if progress is not None:
            progress(k, len(files), run)
    inputs = [(r.index, r.anomaly_score, r.windows) for r in runs]
    optimised = nab_scores(inputs)
    own = nab_scores(inputs, threshold=OWN_THRESHOLD)
    notes = []
    if skipped:
        shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        notes.append(
            f"{len(skipped)} file(s) not in the windows file skipped, not scored ({shown}); "
            "NAB scores only the files it lists (list a file with [] to score it as "
            "anomaly-free)"
        )
    rep = sum(r.repeated for r in runs)
    if rep:
        notes.append(f"{rep} row(s) with a repeated timestamp scored without learning")
    assert set(optimised) == set(PROFILES)
    return NabRun(name, runs, optimised, own, out_dir, notes, skipped)
