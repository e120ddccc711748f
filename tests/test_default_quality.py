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


def test_recurring_spike_fires_once_when_learned() -> None:
    """A spike that recurs (and is learned, as in NAB runs) stops paging.

    Four equal spikes; a later one fires again only if its deviation happens to exceed every
    learned one (the noise moves the baseline), measured: 2 of 4 fire (600, 900).
    """
    frame = _series()
    det = Default().fit(frame.iloc[:600])
    monitor = Monitor(det, NAB_POLICY)
    fired = []
    for i in range(600, 1200):
        value = 30.0 if i % 150 == 0 else float(frame["value"].iloc[i])
        verdict = monitor.check(frame.index[i], {"value": value})
        if verdict.is_anomalous:
            fired.append(i)
    assert fired and fired[0] == 600
    assert all(i % 150 == 0 for i in fired)
    assert len(fired) <= 2


def test_unlearned_incident_keeps_scoring() -> None:
    """Under the Monitor's protection an ongoing incident is never 'seen before'."""
    frame = _series()
    det = Default().fit(frame.iloc[:600])
    monitor = Monitor(det)
    flags = [
        monitor.check(frame.index[i], {"value": 30.0}).is_anomalous for i in range(600, 630)
    ]
    assert all(flags)
