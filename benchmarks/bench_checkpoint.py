"""Bytes the watch service writes to its state database per poll.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_checkpoint.py [--series 200]
[--step 15] [--polls 8]`` (``PYTHONPATH`` picks the anomalert measured: run it against an
older checkout's ``src`` for the "before" figure).

The real :class:`~anomalert.server.watch.Watcher`, :class:`~anomalert.server.runtime.ServiceState`
and SQLite :class:`~anomalert.alerting.store.Store` (in a temporary directory), fed by an
in-memory source of ``--series`` label sets at ``--step`` seconds: it backfills and fits a day
of each (``default``), then polls one new point a series at a time and checkpoints after each
poll, as ``anomalert watch`` does. Per poll it reports what the OS counted as written by the
checkpoint (``wchar`` of ``/proc/self/io``: SQLite's WAL pages, its checkpoints into the
database file) and, when the store counts them, the row payloads; and the bytes per second
that makes at that step, plus the full states (each series' once per ``--full-every``
seconds, ``full_checkpoint``, costing what the first checkpoint wrote) spread over time.
Never part of the tests' pass/fail.
"""

from __future__ import annotations

import argparse
import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from anomalert.alerting.store import Store  # noqa: E402
from anomalert.server.config import config_from_dict  # noqa: E402
from anomalert.server.runtime import ServiceState  # noqa: E402
from anomalert.server.watch import Watcher  # noqa: E402

T0 = pd.Timestamp("2025-01-06", tz="UTC")


def _wchar() -> int:
    with open("/proc/self/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("wchar:"))


class _Clock:
    def __init__(self, t: pd.Timestamp) -> None:
        self.t = t

    def now(self) -> pd.Timestamp:
        return self.t


class _Source:
    """``series`` CPU-like series: a daily wave, a phase each, noise."""

    def __init__(self, series: int) -> None:
        self.series = series

    def fetch(self, spec: Any, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, pd.DataFrame]:
        idx = pd.date_range(start, end, freq=spec.step)
        t = idx.asi8 / 1e9
        out = {}
        for i in range(self.series):
            rng = np.random.default_rng([i, int(t[0])])
            v = 50 + 10 * np.sin(2 * np.pi * t / 86400 + i) + rng.normal(0, 1, len(t))
            out[f'{{instance="host-{i}"}}'] = pd.DataFrame({"value": v}, index=idx)
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=200)
    p.add_argument("--step", type=int, default=15, help="seconds")
    p.add_argument("--polls", type=int, default=8)
    p.add_argument("--full-every", type=float, default=1800.0,
                   help="seconds between two full states of a series (full_checkpoint)")
    args = p.parse_args()
    cfg = config_from_dict({
        "prometheus": {"url": "http://127.0.0.1:9"},
        "queries": [{"name": "cpu", "query": "cpu", "step": f"{args.step}s", "lookback": "1d"}],
    })
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "state.db")
        state = ServiceState(store=store)
        clock = _Clock(T0)
        watcher = Watcher(state, _Source(args.series), cfg.queries, clock)
        t = time.perf_counter()
        before = _wchar()
        watcher.run_once()  # backfill, fit, the first (full) checkpoint
        first = _wchar() - before
        print(f"{args.series} series, step {args.step} s: backfill + fit + first checkpoint "
              f"{time.perf_counter() - t:.1f} s, {first / 1e6:.1f} MB written")
        sizes = [len(pickle.dumps(rt, protocol=5)) for rt in state.series.values()]
        print(f"full state of a series: {np.median(sizes) / 1e3:.0f} kB (median)")
        os_bytes, payload = [], []
        for _ in range(args.polls):
            clock.t += pd.Timedelta(seconds=args.step)
            watcher.run_once()
            counted = getattr(store, "bytes_written", None)
            before = _wchar()
            t = time.perf_counter()
            state.checkpoint()
            elapsed = time.perf_counter() - t
            os_bytes.append(_wchar() - before)
            if counted is not None:
                payload.append(store.bytes_written - counted)
            print(f"  poll: checkpoint {elapsed * 1e3:.0f} ms, {os_bytes[-1] / 1e3:,.0f} kB "
                  f"written" + (f" ({payload[-1] / 1e3:,.0f} kB of rows)" if payload else ""))
        store.close()
    mean = float(np.mean(os_bytes))
    print(f"per poll: {mean / 1e6:.2f} MB, {mean / args.series / 1e3:.1f} kB a series; "
          f"{mean / args.step / 1e6:.3f} MB/s at a {args.step} s step")
    if payload:  # (an anomalert that writes full states now and then)
        print(f"with each series' full state every {args.full_every:g} s: "
              f"{(mean / args.step + first / args.full_every) / 1e6:.3f} MB/s in all")


if __name__ == "__main__":
    main()
