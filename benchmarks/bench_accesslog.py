"""Benchmark: stream a synthetic ALB access log into per-minute aggregates.

Writes ``--lines`` synthetic AWS ALB log lines (default 2,000,000; about 1 in 100,000
malformed, 0.5 % with -1 processing times), optionally gzipped, then runs in separate
processes (so each peak RSS is its own):

- ours: :func:`anomalert.sources.accesslog.read_access_log`;
- peer: a naive pandas version, ``read_csv`` of the whole file then ``groupby`` per
  minute (skipped when the file is larger than a quarter of the available memory).

Prints lines/s and peak RSS (``resource.getrusage``) for each, the ratio, and checks
that both agree (counts equal, average within 1e-9, p95 within the sketch's ALPHA).

Usage: ``python benchmarks/bench_accesslog.py [--lines N] [--gzip] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "write_alb_log"]

UA = '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"'
TAIL = (
    'ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 '
    'arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/73e2d6bc24d8a067 '
    '"Root=1-58337364-23a8c76965a2ef7629b185e3" "shop.example.com" '
    '"arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" '
    '0 {created} "forward" "-" "-" "10.0.1.{t}:8080" "{s}" "-" "-" TID_7a1b2c3d4e5f'
)
PATHS = ("/", "/api/v1/items?id=42", "/api/v1/cart", "/static/app.js", "/login", "/search?q=shoes")


def write_alb_log(path: Path, lines: int, *, compress: bool = False, seed: int = 0) -> None:
    """Write ``lines`` synthetic ALB entries over one day (in time order) to ``path``."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-03-01T00:00:00", "us")
    offsets = np.sort(rng.integers(0, 86_400_000_000, lines))
    stamps = np.datetime_as_string(start + offsets.astype("timedelta64[us]"), unit="us")
    status = rng.choice([200, 201, 204, 301, 304, 400, 404, 429, 500, 502, 503],
                        p=[0.80, 0.03, 0.02, 0.02, 0.05, 0.02, 0.03, 0.005, 0.01, 0.01, 0.005],
                        size=lines)
    target = rng.lognormal(-2.5, 0.8, lines)  # seconds, median ~80 ms
    no_target = rng.random(lines) < 0.005
    paths = rng.integers(0, len(PATHS), lines)
    with (gzip.open(path, "wt", encoding="utf-8", compresslevel=6) if compress
          else open(path, "w", encoding="utf-8")) as out:
        buf: list[str] = []
        for i in range(lines):
            if i % 100_000 == 99_999:
                buf.append("this line is not an access log entry\n")
                continue
            ts = stamps[i]
            if no_target[i]:
                times, s, ts_code = "-1 -1 -1", 502, "-"
            else:
                times, s, ts_code = f"0.001 {target[i]:.3f} 0.000", int(status[i]), str(status[i])
            buf.append(
                f"https {ts}Z app/shop/50dc6c495c0c9188 203.0.113.{i % 250}:{1024 + i % 60000} "
                f"10.0.1.{i % 8}:8080 {times} {s} {ts_code} 412 {1500 + i % 900} "
                f'"GET https://shop.example.com:443{PATHS[paths[i]]} HTTP/1.1" {UA} '
                + TAIL.format(created=f"{ts}Z", t=i % 8, s=ts_code) + "\n"
            )
            if len(buf) >= 50_000:
                out.write("".join(buf))
                buf.clear()
        out.write("".join(buf))


def _status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    """Peak RSS of this process in MB.

    ``getrusage().ru_maxrss`` survives ``exec`` on Linux, so a child started from a big parent
    reports the parent's peak; the kernel's per-image high-water mark (``VmHWM``) does not,
    so it is preferred when available.
    """
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    return _status_mb("VmRSS") or 0.0


def _run_ours(path: str) -> dict[str, object]:
    from anomalert.sources.accesslog import read_access_log

    base = _rss_mb()
    t, cpu = time.perf_counter(), time.process_time()
    frame, report = read_access_log(path, "alb")
    elapsed = time.perf_counter() - t
    return {"seconds": elapsed, "cpu": time.process_time() - cpu, "lines": report.lines, "malformed": report.malformed,
            "rss_mb": _peak_rss_mb(), "base_mb": base, "frame": frame}


def _run_pandas(path: str) -> dict[str, object]:
    import pandas as pd

    base = _rss_mb()
    t, cpu = time.perf_counter(), time.process_time()
    raw = pd.read_csv(path, sep=" ", header=None, quotechar='"', usecols=[1, 5, 6, 7, 8],
                      names=range(30), on_bad_lines="skip", engine="c", dtype=str)
    ts = pd.to_datetime(raw[1], utc=True, errors="coerce", format="ISO8601")
    times = raw[[5, 6, 7]].apply(pd.to_numeric, errors="coerce")
    ok = ts.notna() & times.notna().all(axis=1)
    raw, ts, times = raw[ok], ts[ok], times[ok]
    lat = (times.sum(axis=1) * 1000).where((times >= 0).all(axis=1))
    status = pd.to_numeric(raw[8], errors="coerce").fillna(0).astype(int) // 100
    frame = pd.DataFrame({"minute": ts.dt.floor("1min"), "cls": status, "lat": lat})
    g = frame.groupby("minute")
    out = pd.DataFrame({"total_requests": g.size()})
    for c in (2, 3, 4, 5):
        out[f"{c}xx_count"] = (frame["cls"] == c).groupby(frame["minute"]).sum()
    out["avg_response_time_ms"] = g["lat"].mean()
    out["p95_response_time_ms"] = g["lat"].agg(  # nearest rank, as ours
        lambda x: np.percentile(x.dropna(), 95, method="inverted_cdf") if x.notna().any() else np.nan
    )
    elapsed = time.perf_counter() - t
    return {"seconds": elapsed, "cpu": time.process_time() - cpu, "lines": len(raw), "rss_mb": _peak_rss_mb(), "base_mb": base,
            "frame": out}


def _work(result: dict[str, Any]) -> float:
    return float(result["rss_mb"]) - float(result["base_mb"])


def _child(kind: str, path: str) -> dict[str, Any]:
    """Run one side in a fresh process (own peak RSS); its frame comes back as a pickle."""
    import pandas as pd

    out = f"{path}.{kind}.pkl"
    done = subprocess.run([sys.executable, __file__, "--child", kind, path, out],
                          capture_output=True, text=True, check=True)
    result = dict(json.loads(done.stdout))
    result["frame"] = pd.read_pickle(out)
    os.unlink(out)
    return result


def _available_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--gzip", action="store_true", help="gzip the synthetic log")
    parser.add_argument("--keep", type=Path, help="write the log here and keep it")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, path, out = args.child
        result = _run_ours(path) if kind == "ours" else _run_pandas(path)
        result.pop("frame").to_pickle(out)  # type: ignore[attr-defined]
        print(json.dumps(result))
        return 0

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench_accesslog_"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / ("alb.log.gz" if args.gzip else "alb.log")
    t = time.perf_counter()
    write_alb_log(path, args.lines, compress=args.gzip)
    size = path.stat().st_size
    print(f"wrote {args.lines:,} lines, {size / 1e6:.0f} MB ({path}) in {time.perf_counter() - t:.1f} s")

    ours = _child("ours", str(path))
    rate = args.lines / float(ours["seconds"])
    print(f"anomalert: {ours['seconds']:.2f} s wall ({ours['cpu']:.2f} s CPU), {rate:,.0f} lines/s "
          f"wall ({args.lines / float(ours['cpu']):,.0f} per CPU second), peak RSS {ours['rss_mb']:.0f} MB "
          f"({_work(ours):.0f} MB above the {ours['base_mb']:.0f} MB after imports), "
          f"malformed {ours['malformed']}")
    raw_size = size * (6 if args.gzip else 1)
    if raw_size * 4 > _available_bytes():
        print("pandas read_csv peer skipped: the file would not fit comfortably in memory")
    else:
        peer = _child("pandas", str(path))
        prate = args.lines / float(peer["seconds"])
        print(f"pandas read_csv: {peer['seconds']:.2f} s wall ({peer['cpu']:.2f} s CPU), "
              f"{prate:,.0f} lines/s wall ({args.lines / float(peer['cpu']):,.0f} per CPU second), "
              f"peak RSS {peer['rss_mb']:.0f} MB ({_work(peer):.0f} MB above the "
              f"{peer['base_mb']:.0f} MB after imports)")
        print(f"speed ratio anomalert/pandas: {rate / prate:.2f}x; peak RSS ratio "
              f"{float(ours['rss_mb']) / float(peer['rss_mb']):.2f}; working-memory ratio "
              f"{_work(ours) / max(_work(peer), 1e-9):.3f}")
        a: Any = ours["frame"]
        b: Any = peer["frame"]
        b = b.reindex(a.index)
        cols = ["total_requests", "2xx_count", "3xx_count", "4xx_count", "5xx_count"]
        same_counts = (a[cols].to_numpy() == b[cols].fillna(0).to_numpy()).all()
        avg_err = np.nanmax(np.abs(a["avg_response_time_ms"].to_numpy() - b["avg_response_time_ms"].to_numpy()))
        p95_rel = np.nanmax(np.abs(a["p95_response_time_ms"].to_numpy() / b["p95_response_time_ms"].to_numpy() - 1))
        print(f"agreement: counts equal {bool(same_counts)}, max |avg diff| {avg_err:.2e} ms, "
              f"max p95 relative diff {p95_rel:.4f} (sketch bound 0.01)")
    if not args.keep:
        path.unlink()
        workdir.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
