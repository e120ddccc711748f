"""detect() decides over every score at once for static detectors (iforest); one Monitor
step a row gives the very same points and incidents."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import anomalert.detection as detection
from anomalert.alerting import AlertPolicy
from anomalert.detection import detect


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 3 * 1440
    idx = pd.date_range("2025-03-01", periods=n, freq="1min", tz="UTC")
    cpu = 40 + 10 * np.sin(2 * np.pi * np.arange(n) / 1440) + rng.normal(0, 2, n)
    mem = 60 + rng.normal(0, 1, n)
    cpu[2000:2030] += 45  # an outage, then short flickers: k-of-n, resolution and cooldown
    for at in (2600, 2640, 2700, 3500):
        cpu[at : at + 3] += 40
    mem[3000:3010] = np.nan
    return pd.DataFrame({"cpu": cpu, "mem": mem}, index=idx)


@pytest.mark.parametrize(
    "policy",
    [None, AlertPolicy(k=2, n=3, resolve_after=5, cooldown=30), AlertPolicy(threshold=0.55)],
    ids=["default", "k2n3-cooldown", "lower-paging-threshold"],
)
def test_static_batch_decisions_equal_monitor_steps(policy: AlertPolicy | None) -> None:
    frame = _frame()
    fast = detect("iforest", frame, train_until=frame.index[1440], policy=policy)
    try:
        detection._BATCH_DECISIONS = False
        slow = detect("iforest", frame, train_until=frame.index[1440], policy=policy)
    finally:
        detection._BATCH_DECISIONS = True
    assert len(slow.incidents) >= 2
    pd.testing.assert_frame_equal(fast.points, slow.points)
    assert [vars(i) for i in fast.incidents] == [vars(i) for i in slow.incidents]
    assert (fast.points["explanation"] != "").sum() == fast.points["is_anomaly"].sum()
