"""A published NAB detector's score on a subset of NAB files, from NAB's per-file results.

NAB publishes, for each detector, one CSV per profile with every file's raw score at the
threshold NAB optimised over its whole 58-file corpus
(``results/<detector>/<detector>_<profile>_scores.csv`` in the ``numenta/NAB`` repository:
columns ``Detector,Profile,File,Threshold,Score,...``). Normalising the sum of a subset's raw
scores between the null detector (every window missed: ``-fnWeight`` per window) and the
perfect one (``tpWeight`` per window) gives the detector's NAB score on that subset, the
number to set beside ``anomalert nab`` on the same files. On the 17 shared files this gives
Numenta HTM's standard 73.4 and reward_low_FN_rate 76.7 quoted in issue 5.

The result files are not in this repository; fetch them from ``numenta/NAB``. Run::

    .venv/bin/python benchmarks/published_scores.py \\
        --scores standard=numenta_standard_scores.csv \\
        --scores reward_low_FP_rate=numenta_reward_low_FP_rate_scores.csv \\
        --scores reward_low_FN_rate=numenta_reward_low_FN_rate_scores.csv \\
        --windows ../shared/data/nab/windows.json

``--windows`` names the files (every key) and their windows; ``--files`` narrows the set.
A tool, not a benchmark: it has no ``main``, so ``benchmarks/run.py`` does not run it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from anomalert.evaluation.nab import PROFILES

__all__ = ["subset_score"]


def subset_score(raw: dict[str, float], windows: dict[str, int], profile: str) -> float:
    """NAB score (null 0, perfect 100) of per-file raw scores ``raw`` over the files of
    ``windows`` (file -> number of windows) under ``profile``."""
    missing = sorted(set(windows) - set(raw))
    if missing:
        raise SystemExit(f"no published score for {missing}")
    weights = PROFILES[profile]
    n = sum(windows.values())
    total = sum(raw[f] for f in windows)
    null, perfect = -weights["fnWeight"] * n, weights["tpWeight"] * n
    return 100.0 * (total - null) / (perfect - null)


def _read_scores(path: str) -> dict[str, float]:
    try:
        with open(path, newline="") as fh:
            return {row["File"]: float(row["Score"]) for row in csv.DictReader(fh)
                    if row.get("File")}
    except (OSError, KeyError, ValueError) as exc:
        raise SystemExit(f"{path}: not a NAB per-file scores CSV ({exc!r})") from None


def cli(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scores", action="append", required=True, metavar="PROFILE=CSV",
                    help="a profile and NAB's per-file scores CSV for it (repeat per profile)")
    ap.add_argument("--windows", required=True, help="NAB windows JSON (file -> windows)")
    ap.add_argument("--files", nargs="*", default=None, help="only these files (keys of --windows)")
    args = ap.parse_args(argv)
    try:
        all_windows = json.loads(Path(args.windows).read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{args.windows}: cannot read the windows JSON ({exc})") from None
    files = args.files if args.files is not None else list(all_windows)
    unknown = [f for f in files if f not in all_windows]
    if unknown:
        raise SystemExit(f"not in {args.windows}: {unknown}")
    windows = {f: len(all_windows[f]) for f in files}
    print(f"{len(files)} files, {sum(windows.values())} windows")
    for spec in args.scores:
        profile, _, path = spec.partition("=")
        if profile not in PROFILES or not path:
            raise SystemExit(f"--scores wants PROFILE=CSV with PROFILE in {sorted(PROFILES)}")
        print(f"{profile:20s} {subset_score(_read_scores(path), windows, profile):6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(cli())
