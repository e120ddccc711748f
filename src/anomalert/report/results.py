"""What a demo run produced, as plain data: one :class:`CaseResult` per scenario, variant
and seed, and the :class:`DemoResult` that holds them (:mod:`.demo` makes them, :mod:`.html`
renders them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PRESET_FOR", "CaseResult", "DemoResult"]

#: The tutorial preset each scenario reproduces.
PRESET_FOR = {"cpu": "seed000-iforest", "lb": "seed004-iforest"}


@dataclass
class CaseResult:
    """Everything the report says about one scenario, variant and seed (plain data)."""

    scenario: str
    variant: str
    seed: int
    rows: int
    days: float
    heldout_from: str
    heldout_rows: int
    events: int
    metrics: list[str]
    detectors: list[str]
    runs: list[dict[str, Any]]
    summary: dict[str, dict[str, Any]]  # detector -> sweep.measure() numbers of its run
    sweeps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    #: detector -> its held-out incidents as the Monitor opened them (plain dicts: id, start,
    #: end, alerts, peak_score, false, explanation), for the report's incident table
    incidents: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.scenario}_{self.variant}" + (f"_seed{self.seed}" if self.seed != 42 else "")

    @property
    def preset(self) -> str:
        return PRESET_FOR[self.scenario]


@dataclass
class DemoResult:
    """All cases, where the files went, and how long it took."""

    out: Path
    cases: list[CaseResult]
    seconds: float
    quick: bool

    @property
    def report(self) -> Path:
        return self.out / "report.html"

    @property
    def metrics_json(self) -> Path:
        return self.out / "metrics.json"
