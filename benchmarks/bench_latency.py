"""Single-point latency of Monitor.check, against scikit-learn on one row, in the same run.

Run: ``.venv/bin/python benchmarks/bench_latency.py [--points N]``. Prints p50 / p99 in
microseconds and each figure's ratio to scikit-learn's ``IsolationForest.decision_function``
on one row (the tutorials' way of scoring a new point). Never part of the tests' pass/fail.
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
    rows = [("sklearn IsolationForest.decision_function, 1 row (peer)", peer)]
    rows.append(("Monitor.check default", _time_monitor("default", args.points)))
    rows.append(("Monitor.check seed004-iforest", _time_monitor("seed004-iforest", min(args.points, 300))))
    print(f"{'what':58} {'p50 us':>10} {'p99 us':>10} {'p50 vs peer':>12}")
    for what, (p50, p99) in rows:
        print(f"{what:58} {p50:10.1f} {p99:10.1f} {p50 / peer[0]:11.3f}x")


if __name__ == "__main__":
    main()
