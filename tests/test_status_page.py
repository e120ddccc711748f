"""The status page at ``/``: rendered by a real headless Chromium against a live watcher.

The screenshot is kept as a test artifact in ``artifacts/status-page.png`` (gitignored).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from servers import in_ci
from watch_helpers import get_json, wait_until, watching

from anomalert.server.config import config_from_dict
from anomalert.server.runtime import ServiceState
from anomalert.server.statuspage import SCORE, SHADE, VALUE, chart_svg, render_status

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed (apt-get install chromium)"
        if in_ci():
            pytest.fail(f"{message}; CI=true so this test must not be skipped")
        pytest.skip(message)
    return path


def _run_chromium(args: list[str], profile: Path, timeout: float = 60.0) -> str:
    """Run headless Chromium in its own process group; the whole group is killed at the end."""
    cmd = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", *args,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # renderer / zygote children too
        proc.wait(5)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode(errors="replace")


def _rgb(hex_color: str) -> np.ndarray:
    return np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])


def _pixels_near(img: np.ndarray, color: np.ndarray, tol: int = 40) -> int:
    return int((np.abs(img[:, :, :3].astype(int) - color).sum(axis=2) < tol).sum())


def test_status_page_in_headless_chromium(tmp_path):
    _chromium()
    start = pd.Timestamp.now(tz="UTC").floor("min")
    cfg = config_from_dict(
        {"listen": "127.0.0.1:0", "sinks": [],
         "simulate": {"scenarios": ["cpu", "lb"], "history": "1d"},
         "clock": {"start": start.isoformat(), "minute": "0.03s"}},
        simulate=True,
    )
    with watching(cfg) as url:
        def resolved() -> int:
            incidents = get_json(url + "/v1/alerts")["incidents"]
            return sum(1 for i in incidents if i["resolved_at"])

        wait_until(lambda: resolved() >= 2, 30, what="two resolved incidents")
        dom = _run_chromium(["--dump-dom", url + "/"], tmp_path / "profile-dom")
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        shot.unlink(missing_ok=True)
        _run_chromium([f"--screenshot={shot}", "--window-size=1280,1600", url + "/"],
                      tmp_path / "profile-shot")
    # the DOM Chromium built: series, incidents, one chart per incident with real lines
    assert "<h2>Series</h2>" in dom and "Recent incidents" in dom
    assert re.search(r"cpu · incident #1", dom) and re.search(r"lb · incident #1", dom)
    charts = re.findall(r'<svg[^>]*aria-label="incident chart".*?</svg>', dom, flags=re.S)
    assert len(charts) >= 2
    for svg in charts:
        lines = re.findall(r'<polyline[^>]*points="([^"]+)"', svg)
        assert max(len(pts.split()) for pts in lines) >= 20  # a real line, not a stub
        assert 'class="span"' in svg  # the incident is shaded
    # the pixels: the score line (blue), the metric line (green), the shaded incident (orange)
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape == (1600, 1280, 3)
    assert _pixels_near(img, _rgb(SCORE)) > 300
    assert _pixels_near(img, _rgb(VALUE)) > 300
    shade = 0.22 * _rgb(SHADE) + 0.78 * _rgb("#fcfcfc")
    assert _pixels_near(img, shade, tol=30) > 1000


def test_open_incident_chart_and_warmup_rendering():
    state = ServiceState()
    rt = state.create_series("api", ["latency"], kind="push")
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    rng = np.random.default_rng(0)
    for i in range(120):
        v = 95.0 if i >= 117 else 40 + rng.normal()
        ts = t0 + pd.Timedelta(minutes=i)
        state.observe(rt, rt.monitor.check(ts, {"latency": v}), {"latency": v})
    assert rt.alerting == 1  # still open: the chart comes from the live history
    html = render_status(state)
    assert "api · incident #1" in html and "ALERTING" in html and "open</span>" in html
    assert html.count("<polyline") >= 3
    empty = chart_svg([], "x", 0, 0.0, 1.0)
    assert "no points" in empty
    warm = render_status(ServiceState())
    assert "no series yet" in warm and "no incidents" in warm
