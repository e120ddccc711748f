"""Detectors, registered by name, and the tutorials' presets.

>>> sorted(available())[:3]
['context', 'default', 'drift']
>>> make("zscore", window=60, robust=True)
ZScore(window=60, robust=True, min_periods=30, threshold='auto', features='rates')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from anomalert.detectors.base import Contribution, Detector, Explanation
from anomalert.detectors.context import Context
from anomalert.detectors.default import Default
from anomalert.detectors.drift import Drift
from anomalert.detectors.flat import Flat
from anomalert.detectors.iforest import IForest
from anomalert.detectors.likelihood import Likelihood
from anomalert.detectors.noise import Noise
from anomalert.detectors.range import Range
from anomalert.detectors.seasonal import Seasonal
from anomalert.detectors.shift import Shift
from anomalert.detectors.sustained import Sustained
from anomalert.detectors.zscore import ZScore
from anomalert.errors import ParameterError

__all__ = [
    "PRESETS",
    "REGISTRY",
    "Context",
    "Contribution",
    "Default",
    "Detector",
    "Drift",
    "Explanation",
    "Flat",
    "IForest",
    "Likelihood",
    "Noise",
    "Preset",
    "Range",
    "Seasonal",
    "Shift",
    "Sustained",
    "ZScore",
    "available",
    "make",
    "preset",
]

REGISTRY: dict[str, type[Detector]] = {
    cls.name: cls for cls in (
        Default, ZScore, Seasonal, IForest, Likelihood, Range, Noise, Drift, Shift, Flat,
        Sustained, Context,
    )
}


@dataclass(frozen=True)
class Preset:
    """A named detector configuration plus how it chooses its training rows.

    ``train`` is ``"all"`` (fit on every row, as the CPU tutorial does), an int (the first
    N rows) or ``"auto"`` (the caller's ``train_until``, else the first 10% of the series).
    ``metrics`` limits the columns it scores (the CPU tutorial looks at ``cpu_usage`` only).
    ``exclude_labelled`` drops labelled rows from training: it reproduces the load-balancer
    tutorial, which chose its training rows *with the labels* -- a defect we only keep in
    the preset that exists to reproduce it.
    """

    name: str
    factory: Callable[[], Detector]
    train: str | int = "auto"
    exclude_labelled: bool = False
    description: str = ""
    metrics: tuple[str, ...] | None = None  # the columns it scores (None: every metric)


PRESETS: dict[str, Preset] = {
    "seed000-iforest": Preset(
        "seed000-iforest",
        lambda: IForest(contamination=0.01, random_state=42, scale=False, features="raw",
                        beyond_range=None),
        train="all",
        description="CPU tutorial: IsolationForest(contamination=0.01) on cpu_usage, fitted "
        "on every row",
        metrics=("cpu_usage",),
    ),
    "seed004-iforest": Preset(
        "seed004-iforest",
        lambda: IForest(
            n_estimators=200, contamination=0.05, random_state=42, scale=True, features="seed004",
            beyond_range=None,
        ),
        train=1000,
        exclude_labelled=True,
        description="LB tutorial: IsolationForest(200 trees, contamination=0.05) on the first "
        "1000 minutes, labelled rows removed, six rate features standardised",
    ),
}


def available() -> list[str]:
    """Every name :func:`make` accepts."""
    return sorted(REGISTRY) + sorted(PRESETS)


def preset(name: str) -> Preset:
    """The preset for ``name``; a plain detector name gets the default training plan."""
    if name in PRESETS:
        return PRESETS[name]
    if name in REGISTRY:
        return Preset(name, REGISTRY[name])
    raise ParameterError(f"unknown detector {name!r}; choose one of {available()}")


def make(name: str, **params: Any) -> Detector:
    """A new detector by registry or preset name, with parameters overridden. A preset that
    names its metrics (``seed000-iforest``: ``cpu_usage``) fits on those columns only."""
    plan = preset(name)
    det = plan.factory()
    if plan.metrics is not None:  # fit() then scores those columns only, as detect() does
        det._preset_metrics = tuple(plan.metrics)  # type: ignore[attr-defined]
    return det.set_params(**params) if params else det
