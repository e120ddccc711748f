"""How often a detector would page on the NAB files, run the way ``detect`` and ``watch`` run.

NAB scores a detector that learns from every point. An on-call team gets what
``anomalert detect`` gives: trained on the first 15% of a file (NAB's probationary part), then
the Monitor's default alert policy (flagged points are not learned), with alerts grouped into
incidents. This prints the incidents per file and per day after the training part, next to
the file's labelled windows, as a markdown table.

Usage::

    .venv/bin/python benchmarks/nab_incidents.py [--data ../shared/data/nab] [--detector default]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from anomalert.detection import detect
from anomalert.detectors import make
from anomalert.evaluation.nab import probationary_length
from anomalert.sources.nab import iter_nab_files, load_windows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).parents[1] / ".." / "shared" / "data" / "nab"))
    ap.add_argument("--detector", default="default")
    args = ap.parse_args(argv)
    root = Path(args.data)
    files = list(iter_nab_files(root, load_windows(root / "windows.json")))
    print("| file | incidents after training | per day | labelled windows |\n|---|---|---|---|")
    total, days_total = 0, 0.0
    for nf in files:
        frame = nf.frame[~nf.frame.index.duplicated()][["value"]]  # detect needs unique times
        start = frame.index[probationary_length(len(frame))]
        d = detect(make(args.detector), frame, train_until=start)
        n = sum(1 for i in d.incidents if i.start >= start)
        days = (frame.index[-1] - start).total_seconds() / 86_400
        total, days_total = total + n, days_total + days
        print(f"| {Path(nf.relpath).stem} | {n} | {n / days:.1f} | {len(nf.windows)} |")
    print(f"| all {len(files)} files | {total} | {total / days_total:.2f} (per file-day) | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
