"""Options shared by the commands that score (``detect``, ``evaluate``, ``sweep``...):
argument types that give one-line errors, and the input, detector, policy and output options.
"""

from __future__ import annotations

import argparse

__all__ = ["add_detection_options", "positive_float", "positive_int"]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _detector_names() -> list[str]:
    from anomalert.detectors import available

    return available()


def add_detection_options(p: argparse.ArgumentParser, *, sources: bool = False) -> None:
    p.add_argument(
        "file",
        nargs="?" if sources else None,
        help="CSV or Parquet with a timestamp column and numeric metrics"
        + (
            "; or long format (series/label columns, timestamp, value: one series each), "
            "or a directory of such files"
            if sources
            else ""
        ),
    )
    if sources:
        src = p.add_argument_group("other inputs (instead of FILE)")
        src.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")
        src.add_argument("--query", help="PromQL expression (each label set is one series)")
        src.add_argument("--start", default="now-1d", help="start (RFC 3339, unix, now-7d)")
        src.add_argument("--end", default="now", help="end (default: now)")
        src.add_argument("--step", default="60s", help="resolution (default: 60s)")
        src.add_argument("--token", help="bearer token (or env ANOMALERT_PROMETHEUS_TOKEN)")
        src.add_argument("--access-log", metavar="LOG", help="ALB or nginx access log (.gz ok)")
        src.add_argument("--format", choices=["alb", "nginx"], default="alb", help="log format")
        many = p.add_argument_group("many series")
        many.add_argument(
            "--engine", choices=["local", "dask"], default="local",
            help="score the series in this process or on a Dask cluster (default: local)",
        )
        many.add_argument(
            "--scheduler", metavar="ADDRESS",
            help="Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: start a local cluster)",
        )
        many.add_argument(
            "--chunk-size", type=positive_int, default=16, metavar="N",
            help="series read and scored together; bounds memory (default: 16)",
        )
    p.add_argument(
        "--detector", default="default", metavar="NAME",
        help="detector or preset: " + ", ".join(_detector_names()) + " (default: default)",
    )
    p.add_argument(
        "--train-until", metavar="TS",
        help="end of the known-good training window (default: after the first 10%% of the "
        "rows, at least 60)",
    )
    p.add_argument("--timestamp-column", help="name of the timestamp column (default: found)")
    p.add_argument(
        "--k", type=positive_int, default=1,
        help="alert when k of the last n points are flagged (default: 1)",
    )
    p.add_argument("--n", type=positive_int, default=1, help="see --k (default: 1)")
    p.add_argument(
        "--resolve-after", type=positive_int, default=3,
        help="clean points that resolve an incident (default: 3)",
    )
    p.add_argument(
        "--threshold", type=positive_float, default=None, metavar="SCORE",
        help="page on scores above SCORE instead of the detector's own threshold (which "
        "still decides what it learns, so the scores stay the same; default: the detector's)",
    )
    p.add_argument(
        "--cooldown", type=int, default=None,
        help="points after a resolution within which an alert re-opens the incident instead of "
        "paging again (default: an hour of points at the series' step; 0: never)",
    )
    shown = p.add_argument_group("plots and report")
    shown.add_argument(
        "--report", metavar="HTML",
        help="write a self-contained HTML report (.html): what was run, the metrics with "
        "alerts and incidents, the score against the threshold, the incidents"
        + (", the evaluation" if not sources else "; for many series, a table of every "
           "series and the charts of those with the most incidents"),
    )
    shown.add_argument(
        "--plot", metavar="PNG",
        help="write one figure (.png): the metrics with alerts and incidents and the score "
        "against the threshold" + ("; for many series, the series with the most incidents"
                                   if sources else ""),
    )
