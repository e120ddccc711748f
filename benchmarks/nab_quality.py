"""Quality tables for benchmarks/quality.md: NAB scores and scenario metrics per detector.

Run from the repository root::

    .venv/bin/python benchmarks/nab_quality.py                      # every registered detector
    .venv/bin/python benchmarks/nab_quality.py --detectors default likelihood --no-scenarios
    .venv/bin/python benchmarks/nab_quality.py --peers --jobs 1     # published-method peers

``--peers [LABEL ...]`` runs the peers of ``benchmarks/peers.py`` (River HalfSpaceTrees, PyOD
IForest over sliding windows; needs the ``bench`` extra) instead of registered detectors,
through the same ``run_nab`` and ``detect`` calls, as Detector instances.

NAB: ``run_nab`` over ``../shared/data/nab`` (17 realAWSCloudwatch files), three profiles,
threshold optimised by NAB's sweep and at the detector's own threshold (0.5 after calibration),
by default twice: learning every point (NAB's convention) and learning as the Monitor does
(flagged points not learned: what ``detect`` and ``watch`` give), ``--policies`` to choose.
Scenarios: ``detect`` (Monitor path, default policy) on the tutorial-faithful (T) and realistic
(R) cpu and lb generators, seeds 1, 42, 7, scored by ``evaluate_detection``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from anomalert.detectors import Detector

__all__ = ["main", "nab_row", "scenario_rows"]

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nab"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def nab_row(name: str, detector: Detector | None = None, policy: str = "nab") -> str:
    """One markdown row: optimised / own-threshold score per profile.

    ``detector`` (an unfitted instance) is run instead of the registry entry ``name``;
    ``name`` then only labels the row. ``policy``: ``"nab"`` (learn every point) or
    ``"monitor"`` (the Monitor's default policy; the row's label says so).
    """
    from anomalert.alerting import AlertPolicy
    from anomalert.evaluation.nab_run import run_nab

    run = run_nab(DATA, DATA / "windows.json", name if detector is None else detector,
                  policy=AlertPolicy() if policy == "monitor" else None)
    cells = [f"{run.optimised[p].score:.1f} / {run.own[p].score:.1f}" for p in PROFILES]
    label = name if policy == "nab" else f"{name} (Monitor policy)"
    return f"| {label} | " + " | ".join(cells) + " |"


def scenario_rows(
    name: str, seeds: tuple[int, ...] = (1, 42, 7), detector: Detector | None = None,
    days: int | None = None,
) -> list[str]:
    """Markdown rows of point and event metrics per scenario, variant and seed.

    ``detector`` (an unfitted instance) is run instead of the registry entry ``name``;
    ``days`` overrides the generators' length (the training window stays the same).
    """
    from anomalert import scenarios
    from anomalert.detection import detect
    from anomalert.evaluation.metrics import evaluate_detection

    rows = []
    for scen in ("cpu", "lb"):
        for realistic in (False, True):
            for seed in seeds:
                extra = {} if days is None else {"days": days}
                sc = scenarios.generate(scen, seed=seed, realistic=realistic, **extra)
                f = sc.frame
                det = detect(name if detector is None else detector, f, labels=f["is_anomaly"],
                             train_until=sc.train_until)
                r = evaluate_detection(det.points, f["is_anomaly"].astype(bool),
                                       f["anomaly_type"], train_until=det.train_until)
                p, e, i = r["point"], r["events"], r["incidents"]
                rows.append(
                    f"| {name} | {scen} {'R' if realistic else 'T'} | {seed} | {p['f1']:.3f} | "
                    f"{p['precision']:.3f} | {p['recall']:.3f} | {e['detected']}/{e['total']} | "
                    f"{e['max_delay_min']} | {i['total']} | {i['false']} |"
                )
    return rows


def _peers(labels: list[str]) -> dict[str, Detector]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peers import PEERS

    unknown = [lb for lb in labels if lb not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peer(s) {unknown}; peers: {list(PEERS)}")
    return {lb: PEERS[lb]() for lb in labels or PEERS}


def _scen(args: tuple[str, tuple[int, ...], Detector | None, int | None]) -> list[str]:
    return scenario_rows(*args)


def main(argv: list[str] | None = None) -> int:
    from anomalert.detectors import REGISTRY

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--detectors", nargs="*", default=sorted(REGISTRY))
    ap.add_argument("--peers", nargs="*", default=None, metavar="LABEL",
                    help="run these peers of benchmarks/peers.py (all if none named) instead")
    ap.add_argument("--seeds", nargs="*", type=int, default=[1, 42, 7])
    ap.add_argument("--jobs", type=int, default=None,
                    help="worker processes (default: one per CPU; 1 runs in this process)")
    ap.add_argument("--days", type=int, default=None,
                    help="scenario length in days (default: each generator's own, 7)")
    ap.add_argument("--policies", nargs="+", choices=("nab", "monitor"),
                    default=["nab", "monitor"],
                    help="NAB rows learning every point (nab) and/or as the Monitor does")
    ap.add_argument("--no-scenarios", action="store_true")
    ap.add_argument("--no-nab", action="store_true")
    args = ap.parse_args(argv)
    if args.peers is not None:
        dets: dict[str, Detector | None] = dict(_peers(args.peers))
    else:
        dets = {name: None for name in args.detectors}
    names, instances = list(dets), list(dets.values())
    seeds = tuple(args.seeds)
    pool = ProcessPoolExecutor(args.jobs) if args.jobs != 1 else None
    mapper: Callable[..., Iterator[Any]] = pool.map if pool is not None else map
    pairs = [(n, d, p) for p in args.policies for n, d in zip(names, instances, strict=True)]
    nab: Iterable[str] = [] if args.no_nab else mapper(nab_row, *zip(*pairs, strict=True))
    scen: Iterable[list[str]] = [] if args.no_scenarios else mapper(
        _scen, [(n, seeds, d, args.days) for n, d in zip(names, instances, strict=True)])
    try:
        if not args.no_nab:
            print("| detector | standard (opt / own) | reward_low_FP_rate | reward_low_FN_rate |")
            print("|---|---|---|---|", flush=True)
            for row in nab:
                print(row, flush=True)
            print()
        if not args.no_scenarios:
            print("| detector | scenario | seed | f1 | precision | recall | events "
                  "| max delay (min) | incidents | false incidents |")
            print("|---|---|---|---|---|---|---|---|---|---|", flush=True)
            for rows in scen:
                print("\n".join(rows), flush=True)
    finally:
        if pool is not None:
            pool.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
