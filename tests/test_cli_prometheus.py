"""`anomalert detect --prometheus` against a real Prometheus with backfilled scenario data."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from anomalert.cli import main
from anomalert.scenarios import cpu

pytestmark = pytest.mark.servers


def _openmetrics() -> str:
    sc = cpu(seed=42, days=4)
    lines = ["# TYPE cpu_usage gauge"]
    for ts, value in sc.frame["cpu_usage"].items():
        lines.append(f'cpu_usage{{instance="web-1"}} {value!r} {int(ts.timestamp())}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def test_detect_reads_a_promql_query(
    prometheus_server: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = prometheus_server(_openmetrics())
    code = main(
        [
            "detect", "--prometheus", url, "--query", "cpu_usage",
            "--start", "2025-01-01T00:00:00Z", "--end", "2025-01-04T23:59:00Z", "--step", "60s",
            "--train-until", "2025-01-03T00:00:00Z",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    # The seed-42 spike (rows 5000-5009 = 2025-01-04 11:20) is the one incident.
    assert "1 incident(s)" in out and "2025-01-04 11:20:00" in out
    assert 'cpu_usage{instance="web-1"}' in out
    assert "5760 points" in err


def test_unreachable_prometheus_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["detect", "--prometheus", f"http://127.0.0.1:{port}", "--query", "up"])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("anomalert: error: ") and err.count("\n") == 1
