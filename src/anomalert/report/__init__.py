"""Reports: the demo run, its figures and the self-contained HTML page.

``run_demo`` runs both scenarios and both variants through the tutorial presets, plain
``iforest`` and ``default``, and writes ``report.html``, ``metrics.json`` and the PNGs.
Heavy imports (matplotlib) happen only when figures are drawn.
"""

from __future__ import annotations

from anomalert.report.demo import run_case, run_demo
from anomalert.report.html import acceptance, render, summary_table, write_report
from anomalert.report.results import PRESET_FOR, CaseResult, DemoResult

__all__ = [
    "PRESET_FOR",
    "CaseResult",
    "DemoResult",
    "acceptance",
    "render",
    "run_case",
    "run_demo",
    "summary_table",
    "write_report",
]
