"""Single-point latency of Monitor.check, against two peers measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_latency.py [--points N]``. Prints p50 / p99 in
microseconds and each figure's ratio to

- scikit-learn's ``IsolationForest.decision_function`` on one row (the tutorials' way of
  scoring a new point; 200 trees, 6 features, ``min(N, 300)`` calls), and
- River's ``HalfSpaceTrees.score_one`` behind River's ``MinMaxScaler`` (River defaults:
  10 trees, height 8, window 250), on the same load-balancer rows and the same N points as
  ``Monitor.check``, learning each point after timing its score (the ``bench`` extra:
  ``pip install -e '.[bench]'``; the row is skipped if river is missing).

A ratio below 1 means faster than the peer. Never part of the tests' pass/fail.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402

from anomalert import Monitor, make  # noqa: E402
from anomalert.detectors import PRESETS  # noqa: E402
from anomalert.scenarios import lb  # noqa: E402


def _percentiles(samples: list[float]) -> tuple[float, float]:
    arr = np.array(samples) * 1e6
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def _time_monitor(name: str, n: int) -> tuple[float, float]:
    sc = lb(seed=42, days=3)
    frame = sc.frame.drop(columns=["is_anomaly", "anomaly_type"])
    det = PRESETS[name].factory() if name in PRESETS else make(name)
    det.fit(frame.iloc[:1440])
    monitor = Monitor(det)
    rows = frame.iloc[1440 : 1440 + n]
    samples = []
    for ts, row in zip(rows.index, rows.to_dict("records"), strict=True):
        t0 = time.perf_counter()
        monitor.check(ts, row)
        samples.append(time.perf_counter() - t0)
    return _percentiles(samples)


def _time_river_hst(n: int) -> tuple[float, float] | None:
    try:
        from river import anomaly, preprocessing
    except ImportError:
        return None
    sc = lb(seed=42, days=3)
    frame = sc.frame.drop(columns=["is_anomaly", "anomaly_type"]).astype(float)
    model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42)
    for row in frame.iloc[:1440].to_dict("records"):
        model.learn_one(row)
    samples = []
    for row in frame.iloc[1440 : 1440 + n].to_dict("records"):
        t0 = time.perf_counter()
        model.score_one(row)
        samples.append(time.perf_counter() - t0)
        model.learn_one(row)
    return _percentiles(samples)


def _time_sklearn(n: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 6))
    model = IsolationForest(n_estimators=200, random_state=42).fit(X)
    samples = []
    for i in range(n):
        row = X[i % 1000][None, :]
        t0 = time.perf_counter()
        model.decision_function(row)
        samples.append(time.perf_counter() - t0)
    return _percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=2000)
    args = parser.parse_args()
    peer = _time_sklearn(min(args.points, 300))
    hst = _time_river_hst(args.points)
    rows = [("sklearn IsolationForest.decision_function, 1 row (peer)", peer)]
    if hst is not None:
        rows.append(("river MinMaxScaler|HalfSpaceTrees.score_one (peer)", hst))
    rows.append(("Monitor.check default", _time_monitor("default", args.points)))
    rows.append(("Monitor.check iforest", _time_monitor("iforest", args.points)))
    rows.append(("Monitor.check seed004-iforest", _time_monitor("seed004-iforest", min(args.points, 300))))
    head = f"{'what':58} {'p50 us':>10} {'p99 us':>10} {'p50 vs sklearn':>15} {'p99 vs sklearn':>15}"
    if hst is not None:
        head += f" {'p50 vs river':>13} {'p99 vs river':>13}"
    print(head)
    for what, (p50, p99) in rows:
        line = f"{what:58} {p50:10.1f} {p99:10.1f} {p50 / peer[0]:14.3f}x {p99 / peer[1]:14.3f}x"
        if hst is not None:
            line += f" {p50 / hst[0]:12.3f}x {p99 / hst[1]:12.3f}x"
        print(line)
    if hst is None:
        print("river not installed: no HalfSpaceTrees row (pip install -e '.[bench]')")


if __name__ == "__main__":
    main()
