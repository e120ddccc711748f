"""Quality tables for benchmarks/quality.md: NAB scores and scenario metrics per detector.

Run from the repository root::

    .venv/bin/python benchmarks/nab_quality.py                      # every registered detector
    .venv/bin/python benchmarks/nab_quality.py --detectors default likelihood --no-scenarios

NAB: ``run_nab`` over ``../shared/data/nab`` (17 realAWSCloudwatch files), three profiles,
threshold optimised by NAB's sweep and at the detector's own threshold (0.5 after calibration).
Scenarios: ``detect`` (Monitor path, default policy) on the tutorial-faithful (T) and realistic
(R) cpu and lb generators, seeds 1, 42, 7, scored by ``evaluate_detection``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

__all__ = ["main", "nab_row", "scenario_rows"]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nab"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def nab_row(name: str) -> str:
    """One markdown row: optimised / own-threshold score per profile."""
    from anomalert.evaluation.nab_run import run_nab

    run = run_nab(DATA, DATA / "windows.json", name)
    cells = [f"{run.optimised[p].score:.1f} / {run.own[p].score:.1f}" for p in PROFILES]
    return f"| {name} | " + " | ".join(cells) + " |"


def scenario_rows(name: str, seeds: tuple[int, ...] = (1, 42, 7)) -> list[str]:
    """Markdown rows of point and event metrics per scenario, variant and seed."""
    from anomalert import scenarios
    from anomalert.evaluation.metrics import evaluate_detection
    from anomalert.monitor import detect

    rows = []
    for scen in ("cpu", "lb"):
        for realistic in (False, True):
            for seed in seeds:
                sc = scenarios.generate(scen, seed=seed, realistic=realistic)
                f = sc.frame
                det = detect(name, f, labels=f["is_anomaly"], train_until=sc.train_until)
                r = evaluate_detection(det.points, f["is_anomaly"].astype(bool),
                                       f["anomaly_type"], train_until=det.train_until)
                p, e, i = r["point"], r["events"], r["incidents"]
                rows.append(
                    f"| {name} | {scen} {'R' if realistic else 'T'} | {seed} | {p['f1']:.3f} | "
                    f"{p['precision']:.3f} | {p['recall']:.3f} | {e['detected']}/{e['total']} | "
                    f"{e['max_delay_min']} | {i['total']} | {i['false']} |"
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    from anomalert.detectors import REGISTRY

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detectors", nargs="*", default=sorted(REGISTRY))
    ap.add_argument("--no-scenarios", action="store_true")
    ap.add_argument("--no-nab", action="store_true")
    args = ap.parse_args(argv)
    with ProcessPoolExecutor() as pool:
        nab = [] if args.no_nab else list(pool.map(nab_row, args.detectors))
        scen = [] if args.no_scenarios else list(pool.map(scenario_rows, args.detectors))
    if nab:
        print("| detector | standard (opt / own) | reward_low_FP_rate | reward_low_FN_rate |")
        print("|---|---|---|---|")
        print("\n".join(nab))
        print()
    if scen:
        print("| detector | scenario | seed | f1 | precision | recall | events | max delay (min) "
              "| incidents | false incidents |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(row for rows in scen for row in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
