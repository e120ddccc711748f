"""Prototype (not in the kernel): a range test on 2-hour means, added to ``default`` on NAB.

What it measures: ``default``'s raw NAB scores (NAB's convention, learning every point)
combined, point by point, with the score of a test ``default`` does not have yet: the
trailing 2-hour mean of the metric leaves the range of every earlier 2-hour mean of the
last 7 days. It is scored like the range test, ``0.8 x threshold + ex - 1`` once ``ex``, the
distance beyond the range in scales of those means (MAD, or the standard deviation), passes
1; it keeps quiet for 2 hours after any point ``default`` pages on (a spike's 2-hour mean is
the spike's, not news), and a score is news once a day (a repeat within a day must be twice
the last, the "seen before" rule of the other tests). Then the NAB score of the combination
at the optimised threshold and at the own one (0.5), against ``default`` alone.

It is a post-processing step over a whole file, to decide whether the test is worth
building into the compiled kernel (issue 5); ``detect`` and ``watch`` do not run it. The
numbers it gave are in ``benchmarks/quality.md`` ("A range test on 2-hour means"). Run::

    .venv/bin/python benchmarks/mean_range_prototype.py ../shared/data/nab \\
        --windows ../shared/data/nab/windows.json

(about 15 s on the 17 shared files; any NAB-format directory with its windows JSON works).
A tool, not a benchmark: it has no ``main``, so ``benchmarks/run.py`` does not run it.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from anomalert.detectors.default import Default
from anomalert.errors import InputError
from anomalert.evaluation import nab_run as R
from anomalert.evaluation.nab import nab_scores

__all__ = ["combine", "mean_range_excess"]

HOURS = 2.0  # the noise test's window
DAYS = 7  # the range test's history
E0, K = 1.0, 0.8  # the range test's constants


def mean_range_excess(values: np.ndarray, index: pd.DatetimeIndex, scale: str = "mad") -> np.ndarray:
    """Per point, how far the trailing 2-hour mean is beyond the range of the earlier 2-hour
    means of the last 7 days (windows not overlapping the current one), in scales of those
    means; 0 inside the range or with less than a day of history."""
    v = np.asarray(values, dtype=float)
    step = float(np.median(np.diff(index.as_unit("ns").asi8))) / 1e9
    h = max(4, int(round(HOURS * 3600 / step)))
    per_day = int(round(86_400 / step))
    m = pd.Series(v).rolling(h, min_periods=h).mean().to_numpy()
    out = np.zeros(len(v))
    for t in range(len(v)):
        lo, hi = max(0, t - per_day * DAYS), t - h
        if hi - lo < per_day or np.isnan(m[t]):
            continue
        ref = m[lo:hi]
        ref = ref[~np.isnan(ref)]
        center = float(np.median(ref))
        floor = 1e-9 * (abs(center) + 1.0)
        if scale == "mad":
            s = max(1.4826 * float(np.median(np.abs(ref - center))), 0.5 * float(ref.std()), floor)
        else:
            s = max(float(ref.std()), floor)
        out[t] = max(m[t] - ref.max(), ref.min() - m[t]) / s
    return out


def combine(raw: np.ndarray, threshold: float, excess: np.ndarray,
            index: pd.DatetimeIndex) -> np.ndarray:
    """``default``'s raw scores with the 2-hour-mean range scores (quiet after a page, news
    once a day) folded in, in the same units."""
    paged = raw > threshold
    recent = pd.Series(paged.astype(float), index=index).rolling(
        f"{int(HOURS * 60)}min", closed="left", min_periods=1).max().to_numpy() > 0
    ex = np.where(recent | paged, 0.0, excess)
    score = np.where(ex > E0, K * threshold + ex - E0, 0.0)
    before = pd.Series(score, index=index).rolling("1D", closed="left", min_periods=1).max()
    cutoff = np.minimum(score, np.maximum(threshold, score / 2.0))
    score = np.where(np.nan_to_num(before.to_numpy()) >= cutoff, 0.0, score)
    return np.fmax(np.nan_to_num(raw), score)


def _one(args: tuple[str, str, str]) -> tuple:
    root, windows_path, relpath = args
    windows = R.load_windows(windows_path)
    for nf in R.iter_nab_files(Path(root), windows):
        if nf.relpath == relpath:
            raw, thr, _, _ = R.run_file(nf.frame, Default(), policy=R.NAB_POLICY, relpath=relpath)
            v = nf.frame.iloc[:, 0].to_numpy()
            idx = pd.DatetimeIndex(nf.frame.index)
            ex = {s: mean_range_excess(v, idx, s) for s in ("mad", "std")}
            return idx, np.asarray(raw, dtype=float), thr, ex, list(nf.windows)
    raise SystemExit(f"{relpath}: not found")


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_dir")
    ap.add_argument("--windows", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        windows = R.load_windows(args.windows)
        rels = [nf.relpath for nf in R.iter_nab_files(Path(args.data_dir), windows)]
    except InputError as exc:
        raise SystemExit(f"error: {exc}") from None
    with ProcessPoolExecutor(args.jobs) as ex:
        runs = list(ex.map(_one, [(args.data_dir, args.windows, r) for r in rels]))
    print(f"{len(rels)} files; NAB optimised / own threshold")
    for label, scale in (("default", None), ("+ 2-hour-mean range (MAD)", "mad"),
                         ("+ 2-hour-mean range (std)", "std")):
        inputs = []
        for idx, raw, thr, ex, win in runs:
            scores = raw if scale is None else combine(raw, thr, ex[scale], idx)
            inputs.append((idx, R.suppress_repeats(R.calibrate(scores, thr), 100, idx), win))
        opt = nab_scores(inputs)
        own = nab_scores(inputs, threshold=R.OWN_THRESHOLD)
        cells = " | ".join(f"{p} {opt[p].score:.1f} / {own[p].score:.1f}" for p in opt)
        print(f"{label:28s} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
