"""The demo report: self-contained HTML, metrics.json, figures, and issue 3's acceptance check."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from anomalert.cli import main
from anomalert.report import PRESET_FOR, DemoResult, acceptance, run_demo, summary_table
from anomalert.report.html import case_paragraphs, sweep_paragraphs

PNG = b"\x89PNG\r\n\x1a\n"
DETECTORS = {"cpu": {"seed000-iforest", "iforest", "default"},
             "lb": {"seed004-iforest", "iforest", "default"}}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(tmp_path_factory.mktemp("demo"), quick=True, log=lambda line: None)


@pytest.fixture(scope="module")
def metrics(demo: DemoResult) -> dict[str, Any]:
    return json.loads(demo.metrics_json.read_text())


def test_report_is_one_self_contained_page(demo: DemoResult):
    page = demo.report.read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) >= 4 * 7
    assert not re.search(r"https?://", page)  # nothing is fetched from anywhere
    assert not re.search(r'(src|href)="(?!data:|#)', page)  # no local files either
    for key in ("cpu_tutorial", "cpu_realistic", "lb_tutorial", "lb_realistic"):
        assert f'id={key}' in page
    assert "The contamination challenge" in page


def test_metrics_json_has_every_run(metrics: dict[str, Any]):
    runs = metrics["runs"]
    seen = {(r["scenario"], r["variant"], r["detector"], r["scope"]) for r in runs}
    for scenario, names in DETECTORS.items():
        for variant in ("tutorial", "realistic"):
            for name in names:
                for scope in ("all", "heldout"):
                    assert (scenario, variant, name, scope) in seen
    for r in runs:
        assert {"scenario", "variant", "detector", "scope", "point", "events",
                "incidents"} <= set(r)
        assert {"precision", "recall", "f1", "fpr", "tp", "fp", "fn", "tn"} <= set(r["point"])
        assert {"total", "detected", "delays_min", "per_type"} <= set(r["events"])
        assert {"total", "false", "false_per_day"} <= set(r["incidents"])
    heldout = [r for r in runs if r["scope"] == "heldout"]
    assert all(r["in_sample"] == (r["detector"] == "seed000-iforest") for r in heldout)
    params = {(s["scenario"], s["variant"], s["param"]) for s in metrics["sweeps"]}
    assert len(params) == 8


def test_default_beats_the_tutorial_presets_on_every_scenario(metrics: dict[str, Any]):
    failures = []
    for scope in ("all", "heldout"):
        for scenario, preset in PRESET_FOR.items():
            for variant in ("tutorial", "realistic"):
                got = {r["detector"]: r for r in metrics["runs"] if r["scope"] == scope
                       and r["scenario"] == scenario and r["variant"] == variant}
                d, p = got["default"], got[preset]
                if (d["incidents"]["false"] > p["incidents"]["false"]
                        or d["events"]["detected"] < p["events"]["detected"]):
                    failures.append(
                        f"{scenario}/{variant} ({scope}): false incidents default "
                        f"{d['incidents']['false']} vs {preset} {p['incidents']['false']}; events "
                        f"{d['events']['detected']} vs {p['events']['detected']}")
    assert not failures, "; ".join(failures)
    assert all(c["passed"] for c in metrics["checks"])


def test_figures_are_valid_pngs(demo: DemoResult):
    from PIL import Image

    listed = [name for case in demo.cases for name, _ in case.figures]
    assert len(listed) == len(set(listed)) >= 4 * 7
    assert {"lb_tutorial_status.png", "lb_realistic_status.png"} <= set(listed)
    for name in listed:
        path = demo.out / name
        assert path.read_bytes()[:8] == PNG, name
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.size[0] >= 1000 and img.size[1] >= 250, (name, img.size)


def test_words_follow_the_numbers(demo: DemoResult):
    case = copy.deepcopy(next(c for c in demo.cases if c.scenario == "lb"))
    text = " ".join(case_paragraphs(case))
    assert "did at least as well" in text
    for r in case.runs:  # make default page more often than the preset
        if r["detector"] == "default" and r["scope"] == "heldout":
            r["incidents"]["false"] = 10**6
    text = " ".join(case_paragraphs(case))
    assert "did worse" in text and "1000000" in text
    sweep_text = " ".join(sweep_paragraphs(case))
    first = min(case.sweeps["contamination"], key=lambda r: r["value"])
    assert f"{first['value']:g}" in sweep_text
    assert f"{case.summary['default']['threshold']:.2f}" in sweep_text


def test_summary_table_lists_every_heldout_run(demo: DemoResult):
    table = summary_table(demo.cases)
    assert len([line for line in table.splitlines() if " 42 " in line]) == 12
    assert len(acceptance(demo.cases)) == 8


def test_cli_demo_rejects_bad_seeds(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    assert main(["demo", "--out", str(tmp_path), "--seeds", "42,x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--seeds" in err[0]
    assert main(["demo", "--out", str(tmp_path), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err
    target = tmp_path / "file"
    target.write_text("")
    assert main(["demo", "--out", str(target)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_incidents_are_counted_as_detect_opens_them(demo: DemoResult, metrics: dict[str, Any]):
    from anomalert import scenarios
    from anomalert.detection import detect
    from anomalert.report.demo import QUICK_DAYS

    sc = scenarios.generate("cpu", seed=42, days=QUICK_DAYS[("cpu", "tutorial")])
    for name in ("iforest", "default"):
        det = detect(name, sc.frame, train_until=sc.train_until)
        (run,) = [r for r in metrics["runs"] if r["scenario"] == "cpu" and r["variant"]
                  == "tutorial" and r["detector"] == name and r["scope"] == "all"]
        assert run["incidents"]["total"] == len(det.incidents), name
    page = demo.report.read_text(encoding="utf-8")
    assert "gaps of at most 2 minutes" not in page
    assert "as the Monitor (and <code>anomalert detect</code>) opens" in page
    case = next(c for c in demo.cases if c.key == "cpu_tutorial")
    assert case.incidents["iforest"], "the incident table lists detect's incidents"
    assert re.search(r"<td>\d{4}-\d\d-\d\d \d\d:\d\d UTC</td>", page)  # table times say UTC


def test_one_colour_per_event_type_and_rates_as_fractions():
    from anomalert.report.figures import EVENT_COLORS, event_color, unit

    assert len(set(EVENT_COLORS.values())) == len(EVENT_COLORS)
    assert event_color("5xx_spike") == EVENT_COLORS["5xx_spike"]
    assert event_color("something_new") == event_color("something_new")
    assert unit("4xx_rate") == "fraction" and unit("cpu_usage") == "%"


def test_attribution_of_a_detector_without_alerts_warns_nothing(tmp_path: Path) -> None:
    """`demo --quick` leaked 'RuntimeWarning: All-NaN slice' when one detector had no alerts
    (its mean contributions are all NaN); the panel is drawn empty, without a warning."""
    import warnings

    import numpy as np
    import pandas as pd

    from anomalert.report import evalfigures as figures

    quiet = pd.DataFrame({"true": [np.nan, np.nan], "false": [np.nan, np.nan]},
                         index=["cpu", "mem"])
    quiet.attrs = {"n_true": 0, "n_false": 0}
    busy = pd.DataFrame({"true": [250.0, 3.0], "false": [np.nan, 1.0]}, index=["cpu", "mem"])
    busy.attrs = {"n_true": 5, "n_false": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = figures.attribution(tmp_path / "a.png", {"quiet": (quiet, "σ"), "busy": (busy, "σ")},
                                  "attribution")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- your own data
# `anomalert detect/evaluate FILE --report out.html --plot out.png`: the page must say what the
# CLI printed (the Monitor's incidents, anomalert.evaluation's numbers), embed every image,
# and name what was run.

CLI_INCIDENT = re.compile(r"^\s+(\d+T?R?)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+"
                          r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(\S+)\s+(\S.*?): (.*)$")
PAGE_INCIDENT = re.compile(r"<tr(?: class=bad)?><td>#(\d+T?R?)</td><td>([^<]+) UTC</td>"
                           r"<td>([^<]+) UTC</td><td class=n>[\d,]+</td><td class=n>([^<]+)</td>"
                           r"(?:<td>(?:true|false)</td>)?<td>([^<]*)</td><td>([^<]*)</td></tr>")


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _pngs(page: str) -> list[Any]:
    """Every image of the page, decoded (PIL images); the page embeds them all."""
    import base64
    import io

    from PIL import Image

    assert not re.search(r"https?://", page.split("<code>anomalert ")[0])  # nothing fetched
    assert not re.search(r'(src|href)="(?!data:|#)', page)  # no local files either
    out = []
    for data in re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        raw = base64.b64decode(data)
        assert raw[:8] == PNG
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            out.append(img)
    return out


def _incidents(stdout: str) -> list[tuple[str, ...]]:
    return [m.groups() for line in stdout.splitlines() if (m := CLI_INCIDENT.match(line))]


def test_detect_report_shows_what_detect_printed(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import html

    from PIL import Image

    data, page_path, plot = tmp_path / "lb.csv", tmp_path / "r.html", tmp_path / "p.png"
    assert main(["generate", "lb", "-o", str(data)]) == 0
    capsys.readouterr()
    code, out, err = _cli(capsys, "detect", str(data), "--report", str(page_path),
                          "--plot", str(plot))
    assert code == 0, err
    assert f"wrote {page_path}" in out and f"wrote {plot}" in out
    printed = _incidents(out)
    assert len(printed) == 3  # the tutorial's three incidents
    page = page_path.read_text(encoding="utf-8")
    shown = [tuple(html.unescape(g) for g in m.groups()) for m in PAGE_INCIDENT.finditer(page)]
    # the same incidents, ids, first and last alert, peak, metrics and explanation
    assert shown == printed
    head = re.search(r"default: trained on (\d+) rows \(until (\S+)\), threshold (\S+);"
                     r" (\d+) of (\d+) points alert", out)
    assert head is not None
    rows, until, threshold, alerts, total = head.groups()
    assert "<b>default</b>" in page and f"<th>Threshold</th><td>{threshold} " in page
    cut = pd.Timestamp(until).strftime("%Y-%m-%d %H:%M:%S")
    assert f"{int(rows):,} rows, until {cut} UTC" in page  # the training window
    assert f"{int(alerts):,} of {int(total):,} points alert; 3 incident(s)." in page
    assert "All times are UTC" in page and f"anomalert detect {data}" in page
    assert "1,440 rows from 2024-01-01 00:00 UTC to 2024-01-01 23:59 UTC, every 1 min" in page
    images = _pngs(page)
    # overview, incident panels, status codes; no evaluation figures for detect
    assert len(images) == 3 and "Confusion" not in page
    assert all(img.size[0] >= 1000 for img in images)
    with Image.open(plot) as img:
        img.verify()
    with Image.open(plot) as img:  # the --plot figure is the report's overview
        assert img.size == images[0].size


def test_evaluate_report_has_the_numbers_evaluate_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, page_path, js = tmp_path / "lb.csv", tmp_path / "e.html", tmp_path / "e.json"
    assert main(["generate", "lb", "-o", str(data)]) == 0
    code, out, err = _cli(capsys, "evaluate", str(data), "--detector", "seed004-iforest",
                          "--json", str(js), "--report", str(page_path))
    assert code == 0, err
    result = json.loads(js.read_text())
    page = page_path.read_text(encoding="utf-8")
    cells = re.findall(r"<td>(all rows|held-out rows[^<]*)</td>((?:<td class=n>[^<]*</td>)+)",
                       page)
    assert [c[0].split(" (")[0] for c in cells] == ["all rows", "held-out rows"]
    for (_, row), scope in zip(cells, [result, result["heldout"]], strict=True):
        values = re.findall(r"<td class=n>([^<]*)</td>", row)
        p, e, i = scope["point"], scope["events"], scope["incidents"]
        assert values[:4] == [f"{p['precision']:.3f}", f"{p['recall']:.3f}", f"{p['f1']:.3f}",
                              f"{p['fpr']:.4f}"]
        assert [int(v.replace(",", "")) for v in values[4:8]] == [p["tp"], p["fp"], p["fn"],
                                                                   p["tn"]]
        assert values[8] == f"{e['detected']} of {e['total']}"
        assert values[10:12] == [str(i["total"]), str(i["false"])]
        if scope is result["heldout"]:  # as evaluate printed it (its headline)
            assert f"alerting outside the events {values[13]} a day" in out
    assert "precision 0.538" in out and "<td class=n>0.538</td>" in page  # as printed
    # every false incident of the evaluation is marked false in the incident table
    assert page.count("<tr class=bad><td>#") == result["incidents"]["false"] == 4
    assert "labelled rows removed" in page  # the preset chose its training rows with labels
    assert "the first 1,000 rows" in page
    images = _pngs(page)
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", page)
    assert len(images) == len(captions) == 5
    assert any(c.startswith("Confusion matrices (all rows and held-out rows)") for c in captions)
    assert any(c.startswith("Score distributions") for c in captions)


@pytest.mark.parametrize(("flag", "name", "message"), [
    ("--plot", "out.txt", "extension '.txt'; the format follows the extension: .png, .svg"),
    ("--plot", "out.html", "extension '.html'; the format follows the extension: .png"),
    ("--plot", "out", "no extension; the format follows the extension: .png"),
    ("--report", "out.htm", "extension '.htm'; the format follows the extension: .html"),
    ("--report", "out.png", "extension '.png'; the format follows the extension: .html"),
    ("--report", "no/such/dir/out.html", "does not exist"),
    ("--plot", "no/such/dir/out.png", "does not exist"),
    ("--plot", ".", "is a directory"),
])
def test_report_and_plot_paths_are_refused_before_any_work(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, name: str,
        message: str) -> None:
    target = str(tmp_path / name) if name != "." else str(tmp_path)
    missing_input = str(tmp_path / "not-read.csv")  # never opened: the path is refused first
    for argv in (["detect", missing_input], ["evaluate", missing_input],
                 ["detect", "--prometheus", "http://127.0.0.1:9", "--query", "up"]):
        code, out, err = _cli(capsys, *argv, flag, target)
        assert code == 2 and out == "", argv
        assert err.startswith(f"anomalert: error: {flag} ") and err.count("\n") == 1, err
        assert message in err, err
    assert list(tmp_path.iterdir()) == []


def test_unlabelled_report_calls_nothing_true_or_false(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    idx = pd.date_range("2025-01-01", periods=3 * 1440, freq="1min", tz="UTC")
    v = 40 + np.random.default_rng(3).normal(0, 1, len(idx))
    v[3500:3505] += 30
    data = tmp_path / "cpu.csv"
    pd.DataFrame({"timestamp": idx, "cpu": v}).to_csv(data, index=False)
    page_path, svg = tmp_path / "r.html", tmp_path / "r.svg"
    code, out, _ = _cli(capsys, "detect", str(data), "--report", str(page_path),
                        "--threshold", "5", "--k", "2", "--n", "3", "--plot", str(svg))
    assert code == 0
    assert "<svg" in svg.read_text()[:1000]  # the plot's format follows its extension
    page = page_path.read_text(encoding="utf-8")
    assert "<th>Labels</th>" not in page and "true / false" not in page
    assert "Evaluation against the labels" not in page
    assert "paging at 5 (--threshold)" in page
    assert "alerts when 2 of the last 3 points are over it" in page
    assert [m.group(1) for m in PAGE_INCIDENT.finditer(page)] == [
        m[0] for m in _incidents(out)]
    assert len(_pngs(page)) == 2  # overview and the incident against its baseline


def test_access_log_report_names_the_log_and_its_notes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import random

    rng = random.Random(0)
    lines = []
    start = pd.Timestamp("2025-03-01T00:00:00Z")
    for minute in range(240):
        ts = (start + pd.Timedelta(minutes=minute)).strftime("%d/%b/%Y:%H:%M")
        for i in range(50):
            status = 503 if 200 <= minute < 210 and i % 2 else 200
            lines.append(f'10.0.0.{i} - - [{ts}:{i % 60:02d} +0000] "GET /x HTTP/1.1" {status} '
                         f'512 "-" "curl/8" {rng.uniform(0.05, 0.15):.3f}')
    lines.insert(100, "this is not a log line")
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    page_path = tmp_path / "log.html"
    code, out, _ = _cli(capsys, "detect", "--access-log", str(log), "--format", "nginx",
                        "--report", str(page_path))
    assert code == 0 and "1 incident(s)" in out
    page = page_path.read_text(encoding="utf-8")
    assert "nginx access log, aggregated per minute" in page
    assert "1 malformed" in page  # what reading the log skipped, as the CLI noted it
    assert "5xx_rate" in page and len(_pngs(page)) == 3  # overview, panels, status codes


def _fleet(path: Path, hosts: int) -> None:
    idx = pd.date_range("2025-01-01", periods=2 * 1440, freq="1min", tz="UTC")
    parts = []
    for i in range(hosts):
        value = 40 + 10 * np.sin(2 * np.pi * np.arange(len(idx)) / 1440)
        value += np.random.default_rng(i).normal(0, 2, len(idx))
        if i % 3 == 0:
            value[2500 + i: 2505 + i] += 50 + i
        if i == 3:
            value[2000:2005] -= 60
        parts.append(pd.DataFrame({"host": f"h{i}", "timestamp": idx, "value": value}))
    parts.append(pd.DataFrame({"host": "tiny", "timestamp": idx[:5], "value": 1.0}))
    pd.concat(parts).to_csv(path, index=False)


def test_many_series_report_is_a_table_and_the_worst_charts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import html

    from anomalert.report import many

    data, page_path, plot = tmp_path / "fleet.csv", tmp_path / "f.html", tmp_path / "f.png"
    _fleet(data, 8)
    monkeypatch.setattr(many, "WORST", 2)
    monkeypatch.setattr(many, "TABLE_ROWS", 6)
    code, out, err = _cli(capsys, "detect", str(data), "--report", str(page_path),
                          "--plot", str(plot))
    assert code == 0, err
    printed = {}
    for line in out.splitlines():
        m = re.match(r"^  (\{host=\"\w+\"\})\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+(?: \S+)?)\s+(\S+)",
                     line)
        if m:
            printed[m.group(1)] = m.groups()[1:]
    assert len(printed) == 9 and printed['{host="tiny"}'][-1] == "skipped:"
    page = html.unescape(page_path.read_text(encoding="utf-8"))
    rows = re.findall(r"<td>(\{host=\"\w+\"\})</td><td class=n>([\d,]+)</td>"
                      r"<td class=n>(\d+)</td><td class=n>([^<]+)</td>", page)
    # the scored series by incidents, then score; the cap; the skipped one apart
    assert len(rows) == 6 + 1
    by_incidents = [(int(n), s) for s, _, n, _ in rows[:6]]
    assert by_incidents == sorted(by_incidents, key=lambda r: -r[0])
    for series, points, incidents, peak in rows:
        assert printed[series][:3] == (points.replace(",", ""), incidents, peak)
    assert "… and 2 more series" in page and "<h3>Series not scored</h3>" in page
    assert "too short" in page
    worst = [s for s, *_ in rows[:2]]
    sections = re.findall(r"<h2 id=s\d>([^<]+)</h2>", page)
    assert sections == worst  # the worst two, charted; the others only in the table
    for series in worst:
        total = int(printed[series][1])
        part = page.split(f"<h2 id=s{worst.index(series)}>{series}</h2>")[1].split("<h2")[0]
        assert f"{total} incident(s)" in part
        assert len(PAGE_INCIDENT.findall(part)) == total
    assert len(_pngs(page_path.read_text(encoding="utf-8"))) == 1 + 2
    assert plot.read_bytes()[:8] == PNG
    t = re.search(r"totals: (.*?); local engine", out)
    assert t is not None and f"totals: {t.group(1)}</p>" in page


def test_the_demo_and_detect_share_the_figures(demo: DemoResult) -> None:
    """The demo's figures come from the path detect --report uses (report.draw)."""
    from anomalert.report import demo as demo_module
    from anomalert.report import draw

    assert demo_module.draw_detections is draw.draw_detections
    captions = [c for case in demo.cases for _, c in case.figures]
    assert any("as the Monitor (and anomalert detect) opens them" in c for c in captions)


def test_a_wide_frame_draws_the_metrics_its_incidents_name(tmp_path: Path) -> None:
    from anomalert.detection import detect
    from anomalert.report.draw import MAX_METRICS, features_shown, overview

    idx = pd.date_range("2025-01-01", periods=2 * 1440, freq="1min", tz="UTC")
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({f"disk_{i}_ms": 100 + rng.normal(0, 1, len(idx)) for i in range(9)},
                         index=idx)
    frame.iloc[2500:2505, 8] += 30  # the last metric pages
    det = detect("default", frame)
    assert [inc.metrics for inc in det.incidents] == [["disk_8_ms"]]
    _, shown, hidden = features_shown(det, frame)
    assert len(shown) == MAX_METRICS and "disk_8_ms" in shown  # named first, drawn in order
    assert hidden == [f"disk_{i}_ms" for i in range(5, 8)]
    target = tmp_path / "wide.png"
    overview(target, frame=frame, name="default", det=det, title="wide")
    assert target.read_bytes()[:8] == PNG
