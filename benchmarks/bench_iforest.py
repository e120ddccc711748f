"""Benchmark: compiled Isolation Forest scoring against scikit-learn, on one core.

Fits ``IsolationForest(n_estimators=200, random_state=0)`` (default ``max_samples``, i.e.
256) on 6 features, then measures

- batch throughput: ``CompiledForest.score_samples`` vs ``IsolationForest.decision_function``
  on the same rows (default 1,000,000 x 6), with the maximum absolute difference;
- single-point latency: p50 / p99 of ``CompiledForest.score_one`` (10,000 calls after a
  warm-up call that excludes JIT compilation) vs ``decision_function`` on one row.

Peer: PyOD's ``IForest`` (the ``bench`` extra, ``pip install -e '.[bench]'``) with the same
``n_estimators``, ``random_state`` and training rows, fitted in the same run: batch
``decision_function`` on the first ``--pyod-rows`` of the same rows (default: all of them)
and ``decision_function`` on one row, with the maximum difference to our scores (PyOD wraps
scikit-learn, so its scores are ``offset_ - score_samples``). Skipped if pyod is missing.

Machines are noisy, so the table reports ratios (ours vs scikit-learn, ours vs PyOD) beside
raw figures. This is a script, not a test: nothing here asserts on time.

Run::

    .venv/bin/python benchmarks/bench_iforest.py            # 1,000,000 rows
    .venv/bin/python benchmarks/bench_iforest.py --rows 100000
"""

from __future__ import annotations

import os

# one core for both sides; must be set before numpy / numba / sklearn are imported
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402

from anomalert.detectors._fastforest import CompiledForest  # noqa: E402

__all__ = ["main"]


def _timed(fn: Callable[[], np.ndarray]) -> tuple[float, float, np.ndarray]:
    """Wall time and process CPU time of one call, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def _latencies_us(fn: Callable[[np.ndarray], object], rows: np.ndarray) -> np.ndarray:
    """Per-call wall time in microseconds, one call per row."""
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        start = time.perf_counter_ns()
        fn(row)
        out[i] = (time.perf_counter_ns() - start) / 1e3
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table.

    Parameters
    ----------
    argv
        Command-line arguments (``--rows``, ``--repeat``, ``--sk-calls``, ``--calls``).

    Returns
    -------
    int
        0 (the figures are printed, never judged).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="batch rows to score")
    parser.add_argument("--repeat", type=int, default=2, help="batch timings (best kept)")
    parser.add_argument("--sk-calls", type=int, default=200, help="sklearn single-row calls")
    parser.add_argument("--calls", type=int, default=10_000, help="score_one calls")
    parser.add_argument("--pyod-rows", type=int, default=None,
                        help="rows for PyOD's batch call (default: --rows; 0 skips PyOD)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    train = rng.normal(size=(10_000, 6))
    model = IsolationForest(n_estimators=200, random_state=0, n_jobs=1).fit(train)
    start = time.perf_counter()
    forest = CompiledForest.from_sklearn(model)
    build_s = time.perf_counter() - start
    X = rng.normal(size=(args.rows, 6))
    X[: args.rows // 100] *= 4.0  # some outliers, so walks are not all alike

    start = time.perf_counter()
    forest.score_samples(X[:10])  # JIT compile or load from cache
    forest.score_one(X[0])
    jit_s = time.perf_counter() - start

    # interleaved runs, best of each: other load on the machine hits both sides alike;
    # CPU time (both sides run on this one thread) is the steadier figure on a busy machine
    t_ours = t_sk = c_ours = c_sk = float("inf")
    for _ in range(args.repeat):
        t, c, ours = _timed(lambda: forest.score_samples(X))
        t_ours, c_ours = min(t_ours, t), min(c_ours, c)
        t, c, theirs = _timed(lambda: model.decision_function(X))
        t_sk, c_sk = min(t_sk, t), min(c_sk, c)
    diff = float(np.max(np.abs(ours - model.offset_ - theirs)))

    rows = X[: max(args.calls, args.sk_calls)]
    lat_ours = _latencies_us(forest.score_one, rows[: args.calls])
    lat_sk = _latencies_us(lambda r: model.decision_function(r[None, :]), rows[: args.sk_calls])
    one_diff = max(
        abs(forest.score_one(r) - model.offset_ - model.decision_function(r[None, :])[0])
        for r in rows[:50]
    )
    p_ours, p_sk = np.percentile(lat_ours, [50, 99]), np.percentile(lat_sk, [50, 99])
    r_ours, r_sk = args.rows / t_ours, args.rows / t_sk

    print(f"IsolationForest(n_estimators=200, max_samples={model.max_samples_}) on 6 features")
    print(f"{forest!r}: built in {build_s * 1e3:.0f} ms, first call {jit_s * 1e3:.0f} ms")
    print()
    print(f"{'measure':<32}{'CompiledForest':>16}{'sklearn':>14}{'ours/sklearn':>14}")
    print("-" * 76)
    cr_ours, cr_sk = args.rows / c_ours, args.rows / c_sk
    for label, a, b in (("wall", r_ours, r_sk), ("CPU time", cr_ours, cr_sk)):
        print(f"{'batch rows/s (' + label + ')':<32}{a:>16,.0f}{b:>14,.0f}{a / b:>13.1f}x")
    print(f"{'batch wall s, best of ' + str(args.repeat):<32}{t_ours:>16.3f}{t_sk:>14.3f}")
    for name, q in (("p50", 0), ("p99", 1)):
        speedup = p_sk[q] / p_ours[q]
        label = f"single row {name} (us)"
        print(f"{label:<32}{p_ours[q]:>16.1f}{p_sk[q]:>14.0f}{speedup:>13.0f}x")
    print(f"{'single row calls':<32}{args.calls:>16,}{args.sk_calls:>14,}")
    print("-" * 76)
    print(f"rows scored: {args.rows:,}; max |difference| vs sklearn decision_function: "
          f"batch {diff:.3g}, single row {one_diff:.3g}")
    print(f"targets: batch >= 5x sklearn (wall): {'met' if r_ours >= 5 * r_sk else 'NOT met'}, "
          f"(CPU): {'met' if cr_ours >= 5 * cr_sk else 'NOT met'}; "
          f"single row p50 <= 100 us: {'met' if p_ours[0] <= 100 else 'NOT met'}")
    _pyod_peer(args, train, X, forest, t_ours, c_ours, lat_ours)
    return 0


def _pyod_peer(args: argparse.Namespace, train: np.ndarray, X: np.ndarray,
               forest: CompiledForest, t_ours: float, c_ours: float,
               lat_ours: np.ndarray) -> None:
    """PyOD IForest on the same rows: batch and one-row decision_function, as ratios."""
    n = args.rows if args.pyod_rows is None else min(args.pyod_rows, args.rows)
    if n <= 0:
        return
    try:
        from pyod.models.iforest import IForest as PyODIForest
    except ImportError:
        print("pyod not installed: no PyOD row (pip install -e '.[bench]')")
        return
    peer = PyODIForest(n_estimators=200, random_state=0, n_jobs=1).fit(train)
    offset = float(peer.detector_.offset_)
    Xp = X[:n]
    t_py = c_py = float("inf")
    for _ in range(args.repeat):
        t, c, theirs = _timed(lambda: peer.decision_function(Xp))
        t_py, c_py = min(t_py, t), min(c_py, c)
    # our rows/s come from the full batch above; PyOD's from its own (maybe smaller) batch
    diff = float(np.max(np.abs(forest.score_samples(Xp[:100_000]) - (offset - theirs[:100_000]))))
    lat_py = _latencies_us(lambda r: peer.decision_function(r[None, :]), X[: args.sk_calls])
    p_ours, p_py = np.percentile(lat_ours, [50, 99]), np.percentile(lat_py, [50, 99])
    r_ours, r_py = args.rows / t_ours, n / t_py
    cr_ours, cr_py = args.rows / c_ours, n / c_py
    print()
    print(f"{'measure':<32}{'CompiledForest':>16}{'PyOD IForest':>14}{'ours/PyOD':>14}")
    print("-" * 76)
    for label, a, b in (("wall", r_ours, r_py), ("CPU time", cr_ours, cr_py)):
        print(f"{'batch rows/s (' + label + ')':<32}{a:>16,.0f}{b:>14,.0f}{a / b:>13.1f}x")
    for name, q in (("p50", 0), ("p99", 1)):
        label = f"single row {name} (us)"
        print(f"{label:<32}{p_ours[q]:>16.1f}{p_py[q]:>14.0f}{p_py[q] / p_ours[q]:>13.0f}x")
    print("-" * 76)
    print(f"PyOD IForest(n_estimators=200, random_state=0) batch decision_function on {n:,} of "
          f"the {args.rows:,} rows (best of {args.repeat}), {args.sk_calls} one-row calls; "
          f"max |difference| of scores (first {min(n, 100_000):,} rows): {diff:.3g}")


if __name__ == "__main__":
    raise SystemExit(main())
