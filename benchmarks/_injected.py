"""What the injected-event benchmarks count: which events a detection's incidents found."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from anomalert.detection import Detection

__all__ = ["found_and_false"]


def found_and_false(
    d: Detection, index: pd.DatetimeIndex, events: Mapping[str, tuple[int, int, float]],
) -> tuple[list[str], int]:
    """The events (name -> start row, rows, factor) an incident overlaps or starts within 10
    minutes after, and how many incidents overlap none (false incidents)."""

    def hits(inc) -> list[str]:  # noqa: ANN001 - an Incident
        return [
            name for name, (a, length, _) in events.items()
            if inc.start <= index[a + length - 1] + pd.Timedelta("10min") and inc.end >= index[a]
        ]

    found = sorted({name for inc in d.incidents for name in hits(inc)})
    return found, sum(1 for inc in d.incidents if not hits(inc))
