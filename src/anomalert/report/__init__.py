"""Reports: the demo run, reports on your own data, their figures and self-contained HTML.

``run_demo`` runs both scenarios and both variants through the tutorial presets, plain
``iforest`` and ``default``, and writes ``report.html``, ``metrics.json`` and the PNGs.
``anomalert detect/evaluate --report/--plot`` write the same figures for any input
(:mod:`.detection` for one series, :mod:`.many` for many). Both draw through
:func:`.draw.draw_detections` (figures in :mod:`.figures` and :mod:`.panels`) and build
their pages from :mod:`.page`. Heavy imports (matplotlib) happen only when figures are drawn.
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
