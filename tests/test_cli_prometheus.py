"""`anomalert detect --prometheus` against a real Prometheus with backfilled scenario data."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import pytest

from anomalert.cli import main
from anomalert.scenarios import cpu

pytestmark = pytest.mark.servers


def _openmetrics(instances: tuple[str, ...] = ("web-1",)) -> str:
    sc = cpu(seed=42, days=4)
    lines = ["# TYPE cpu_usage gauge"]
    for inst in instances:
        for ts, value in sc.frame["cpu_usage"].items():
            lines.append(f'cpu_usage{{instance="{inst}"}} {value!r} {int(ts.timestamp())}')
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


def test_detect_reports_on_a_promql_query(
    prometheus_server: Callable[[str], str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--report / --plot for a query: one label set is one series' report; several are the
    many-series report, each series as detect printed it."""
    url = prometheus_server(_openmetrics(instances=("web-1", "web-2")))
    common = ["--start", "2025-01-01T00:00:00Z", "--end", "2025-01-04T23:59:00Z", "--step",
              "60s", "--train-until", "2025-01-03T00:00:00Z"]
    one, many, plot = tmp_path / "one.html", tmp_path / "many.html", tmp_path / "many.png"
    code = main(["detect", "--prometheus", url, "--query", 'cpu_usage{instance="web-1"}',
                 *common, "--report", str(one)])
    out, err = capsys.readouterr()
    assert code == 0, err
    page = html.unescape(one.read_text(encoding="utf-8"))
    assert f"Prometheus query at {url}" in page and "--step 60s" in page
    assert "<td>#1</td><td>2025-01-04 11:20:00 UTC</td>" in page  # the incident detect printed
    assert "--train-until 2025-01-03T00:00:00Z" in page
    code = main(["detect", "--prometheus", url, "--query", "cpu_usage", *common,
                 "--report", str(many), "--plot", str(plot)])
    out, err = capsys.readouterr()
    assert code == 0, err
    page = html.unescape(many.read_text(encoding="utf-8"))
    for inst in ("web-1", "web-2"):
        series = f'cpu_usage{{instance="{inst}"}}'
        printed = next(line for line in out.splitlines() if line.startswith(f"  {series}"))
        assert printed.split()[1:3] == ["5760", "1"]  # points, incidents
        assert f"<td>{series}</td><td class=n>5,760</td><td class=n>1</td>" in page
        assert f">{series}</h2>" in page  # both have an incident: both charted
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
