"""The demo report: self-contained HTML, metrics.json, figures, and issue 3's acceptance check."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

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
    from anomalert.monitor import detect
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

    from anomalert.report import figures

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
