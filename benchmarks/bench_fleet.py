"""Benchmark: ``default`` over many series (1 week at 1-minute steps each), locally and on Dask.

Generates N seeded series of 10,080 points (daily cycle, noise, one spike each) lazily, and
scores them with :func:`anomalert.fleet.detect_many` (every series through
``anomalert.detection.detect``, the ``anomalert detect`` code path), in separate processes so
each peak RSS is its own:

- local: the ``local`` engine in one process (one core);
- dask: the ``dask`` engine on a ``LocalCluster`` of 2 single-threaded worker processes
  (cluster start and worker imports timed apart), peak RSS of the client and of each worker;
- peer: a pandas rolling z-score (window 60, the tutorials' way) over the same series, one
  process: the cost of the simplest vectorised detector, for scale;
- zscore: the local engine again with ``zscore`` (its compiled loop): what the fleet path
  itself (validation, policy, incidents) costs with a cheap detector.

Each local run first scores one short series, timed apart (loading the compiled code from
numba's cache: start-up, not throughput).

Prints points/s, points/s per core, peak RSS, the Dask/local ratio and whether both engines
gave identical per-series summaries. Nothing here asserts on time.

Run::

    .venv/bin/python benchmarks/bench_fleet.py                # 40 series, about 2 minutes
    .venv/bin/python benchmarks/bench_fleet.py --series 10000 # the issue's full run (hours)
"""

from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["main", "make_series", "results"]

START = pd.Timestamp("2025-01-06", tz="UTC")


def make_series(i: int, points: int = 10_080) -> pd.DataFrame:
    """Series ``i``: a daily cycle with its own level and phase, noise, and one 5-minute spike."""
    rng = np.random.default_rng(i)
    t = np.arange(points)
    value = (40 + 20 * rng.random() + 15 * np.sin(2 * np.pi * (t / 1440 + rng.random()))
             + rng.normal(0, 2, points))
    at = int(rng.integers(points // 2, points - 10))
    value[at : at + 5] += 40
    index = pd.date_range(START, periods=points, freq="1min")
    return pd.DataFrame({"value": value}, index=index)


def _source(n: int, points: int) -> Iterator[tuple[str, pd.DataFrame]]:
    for i in range(n):
        yield f'cpu{{host="h{i:05d}"}}', make_series(i, points)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _digest(result: Any) -> str:
    return hashlib.sha256(result.table().to_csv(index=False).encode()).hexdigest()[:16]


def _child_local(n: int, points: int, chunk: int, detector: str = "default") -> dict[str, Any]:
    from anomalert.fleet import detect_many

    make_series(0, 100)  # imports settled before the baseline
    t0 = time.perf_counter()
    detect_many(_source(1, 2000), detector)  # compiled code loaded (numba's cache), timed apart
    start_s = time.perf_counter() - t0
    base, cpu0, t0 = _rss_mb(), _cpu_s(), time.perf_counter()
    result = detect_many(_source(n, points), detector, chunk_size=chunk)
    seconds = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    t = result.totals
    # the detector's batch API alone (fit on the first 10%, score every point; no alert policy)
    from anomalert.detectors import make

    k, batch_s = min(n, 4), 0.0
    for _, frame in _source(k, points):
        t1 = time.perf_counter()
        make(detector).fit(frame.iloc[: points // 10]).score(frame)
        batch_s += time.perf_counter() - t1
    return {"seconds": seconds, "cpu": cpu, "points": t["points"], "ok": t["ok"],
            "incidents": t["incidents"], "rss_mb": _rss_mb(), "base_mb": base,
            "digest": _digest(result), "batch_rate": k * points / batch_s, "start_s": start_s}


def _child_dask(n: int, points: int, chunk: int, workers: int) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    from anomalert.fleet import detect_many

    t0 = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as client:
        client.run(lambda: __import__("anomalert.fleet"))  # workers import once, before timing
        start_s = time.perf_counter() - t0
        base = _rss_mb()
        t1 = time.perf_counter()
        result = detect_many(_source(n, points), "default", engine="dask", scheduler=client,
                             chunk_size=chunk)
        seconds = time.perf_counter() - t1
        worker_rss = client.run(
            lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    t = result.totals
    return {"seconds": seconds, "start_s": start_s, "points": t["points"], "ok": t["ok"],
            "rss_mb": _rss_mb(), "base_mb": base, "worker_rss_mb": sorted(worker_rss.values()),
            "digest": _digest(result)}


def _child_peer(n: int, points: int) -> dict[str, Any]:
    make_series(0, 100)
    base, t_total, flagged = _rss_mb(), 0.0, 0
    for _, frame in _source(n, points):
        t0 = time.perf_counter()
        v = frame["value"]
        roll = v.rolling(60, min_periods=30)
        z = (v - roll.mean().shift()) / roll.std().shift()
        flagged += int((z.abs() > 3).sum())
        t_total += time.perf_counter() - t0
    return {"seconds": t_total, "points": n * points, "rss_mb": _rss_mb(), "base_mb": base,
            "flagged": flagged}


def _child(kind: str, *args: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} run failed:\n{done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def results(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark; rows of ``measure``, ``value``, ``ratio`` and ``vs`` (the peer)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=40, help="number of series (default 40)")
    p.add_argument("--points", type=int, default=10_080, help="points per series (1 week)")
    p.add_argument("--chunk-size", type=int, default=4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-dask", action="store_true")
    args = p.parse_args(argv)
    n, pts, chunk = args.series, args.points, args.chunk_size
    total = n * pts
    print(f"{n} series x {pts} points = {total:,} points; chunk_size {chunk}", flush=True)
    local = _child("local", n, pts, chunk)
    peer = _child("peer", n, pts)
    zs = _child("zscore", n, pts, chunk)  # the fleet path's own cost, with a cheap detector
    rate = total / local["seconds"]
    peer_rate = total / peer["seconds"]
    rows: list[dict[str, Any]] = [
        {"measure": f"default, local engine: points/s/core ({n} x {pts})",
         "value": f"{rate:,.0f}", "ratio": rate / peer_rate, "vs": "pandas rolling z-score"},
        {"measure": "  Default.fit + .score alone (batch API, no policy): points/s/core",
         "value": f"{local['batch_rate']:,.0f}", "ratio": local["batch_rate"] / peer_rate,
         "vs": "pandas rolling z-score"},
        {"measure": "  pandas rolling z-score (peer): points/s/core",
         "value": f"{peer_rate:,.0f}", "ratio": None, "vs": ""},
        {"measure": "  zscore through the same path (compiled loop): points/s/core",
         "value": f"{total / zs['seconds']:,.0f}", "ratio": total / zs["seconds"] / peer_rate,
         "vs": "pandas rolling z-score"},
        {"measure": "  default: start-up, loading the compiled code (s; not in the rate)",
         "value": f"{local['start_s']:.2f}", "ratio": None, "vs": ""},
        {"measure": "default, local engine: peak RSS (MB; after imports)",
         "value": f"{local['rss_mb']:.0f} ({local['base_mb']:.0f})", "ratio": None, "vs": ""},
        {"measure": "target >= 2,000,000 points/s/core",
         "value": "met" if rate >= 2e6 else "NOT met", "ratio": rate / 2e6, "vs": "target"},
    ]
    print(f"local: {local['seconds']:.1f} s wall, {local['cpu']:.1f} s CPU, {rate:,.0f} points/s, "
          f"{local['ok']} series scored, {local['incidents']} incidents, peak RSS "
          f"{local['rss_mb']:.0f} MB ({local['base_mb']:.0f} MB after imports)", flush=True)
    print(f"peer pandas rolling z-score: {peer['seconds']:.2f} s, {peer_rate:,.0f} points/s",
          flush=True)
    if not args.no_dask:
        dask = _child("dask", n, pts, chunk, args.workers)
        d_rate = total / dask["seconds"]
        same = dask["digest"] == local["digest"]
        rows += [
            {"measure": f"default, dask engine, {args.workers} local workers: points/s",
             "value": f"{d_rate:,.0f}", "ratio": d_rate / rate, "vs": "local engine"},
            {"measure": "  dask: points/s per worker core",
             "value": f"{d_rate / args.workers:,.0f}", "ratio": d_rate / args.workers / rate,
             "vs": "local engine"},
            {"measure": "  dask: peak RSS client / workers (MB)",
             "value": f"{dask['rss_mb']:.0f} / "
             + " ".join(f"{w:.0f}" for w in dask["worker_rss_mb"]), "ratio": None, "vs": ""},
            {"measure": "  dask: cluster start incl. worker imports (s)",
             "value": f"{dask['start_s']:.1f}", "ratio": None, "vs": ""},
            {"measure": "  dask summaries identical to local", "value": str(same),
             "ratio": None, "vs": ""},
        ]
        print(f"dask: {dask['seconds']:.1f} s wall ({dask['start_s']:.1f} s cluster start before), "
              f"{d_rate:,.0f} points/s, peak RSS client {dask['rss_mb']:.0f} MB, workers "
              f"{dask['worker_rss_mb']} MB; identical summaries: {same}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run :func:`results` and print its table."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        kind, nums = argv[1], [int(a) for a in argv[2:]]
        out = {"local": _child_local, "dask": _child_dask, "peer": _child_peer,
               "zscore": lambda *a: _child_local(*a, detector="zscore")}[kind](*nums)
        print(json.dumps(out))
        return 0
    rows = results(argv)
    print()
    print(f"{'measure':60} {'value':>22} {'ratio':>9}  vs")
    for r in rows:
        ratio = f"{r['ratio']:.3g}x" if r["ratio"] is not None else ""
        print(f"{r['measure']:60} {r['value']:>22} {ratio:>9}  {r['vs']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
