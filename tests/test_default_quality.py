"""Quality behaviour of ``default`` that the NAB figures in benchmarks/quality.md rely on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from anomalert.detectors import Default
from anomalert.evaluation.nab_run import NAB_POLICY
from anomalert.monitor import Monitor


def _series(n: int = 1200) -> pd.DataFrame:
    idx = pd.date_range("2025-01-01", periods=n, freq="5min", tz="UTC")
    values = 10 + np.random.default_rng(0).normal(0, 0.5, n)
    return pd.DataFrame({"value": values}, index=idx)


def _spikes_fired(spikes: set[int], frame: pd.DataFrame | None = None) -> list[int]:
    """Rows (from 600, 5-minute steps) where ``default``, learning every point as NAB runs
    do, flags a series with a spike to 30 at each of ``spikes``."""
    frame = _series() if frame is None else frame
    det = Default().fit(frame.iloc[:600])
    monitor = Monitor(det, NAB_POLICY)
    fired = []
    for i in range(600, len(frame)):
        value = 30.0 if i in spikes else float(frame["value"].iloc[i])
        if monitor.check(frame.index[i], {"value": value}).is_anomalous:
            fired.append(i)
    return fired


def test_a_learned_spike_stops_paging_once_it_is_a_pattern() -> None:
    """Equal spikes 6 hours apart: the first pages, and so does the second (one incident
    does not make the next like it ordinary); the third is "seen before" (two that paged,
    within a day) and does not page. Twenty hours later a fourth is still seen before: the
    third did not page, and a spike that was ordinary already makes the next like it
    ordinary on its own, though the two that paged are more than a day old by then."""
    assert _spikes_fired({600, 672, 744, 984}) == [600, 672]


def test_a_second_incident_later_the_same_day_pages() -> None:
    """Two equal spikes 10 hours apart both page: a day's memory that holds one incident
    does not silence the next (a third, two hours on, is seen before)."""
    assert _spikes_fired({600, 720, 744}) == [600, 720]


def test_unlearned_incident_keeps_scoring() -> None:
    """Under the Monitor's protection an ongoing incident is never 'seen before'."""
    frame = _series()
    det = Default().fit(frame.iloc[:600])
    monitor = Monitor(det)
    flags = [
        monitor.check(frame.index[i], {"value": 30.0}).is_anomalous for i in range(600, 630)
    ]
    assert all(flags)
