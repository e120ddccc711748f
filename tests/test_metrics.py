"""Evaluation metrics: an incident means what the Monitor (and ``anomalert detect``) opens."""

from __future__ import annotations

import pandas as pd
import pytest

from anomalert import scenarios
from anomalert.alerting import AlertPolicy
from anomalert.detectors import make
from anomalert.evaluation.metrics import evaluate_detection, evaluate_flags, incident_ids
from anomalert.monitor import detect


@pytest.fixture(scope="module")
def cpu() -> scenarios.Scenario:
    return scenarios.generate("cpu", seed=42)


def test_incidents_are_the_ones_detect_opens(cpu: scenarios.Scenario):
    # The audit's case: iforest at scikit-learn's 0.5 boundary (its default threshold until
    # session 13) alerts on ~30% of rows; the Monitor holds one incident open all week
    # (detect prints 1), where 2-minute runs of alerts made 1406.
    truth = cpu.frame["is_anomaly"].astype(bool)
    det = detect(make("iforest", threshold=0.5), cpu.frame, train_until=cpu.train_until)
    result = evaluate_detection(det.points, truth, cpu.frame["anomaly_type"],
                                train_until=det.train_until)
    assert len(det.incidents) == 1
    assert result["incidents"]["total"] == 1
    assert result["heldout"]["incidents"]["total"] == 1  # open across the boundary
    assert result["incidents"]["longest_min"] == pytest.approx(
        (det.incidents[0].end - det.incidents[0].start) / pd.Timedelta("1min"))


@pytest.mark.parametrize("policy", [None, AlertPolicy(resolve_after=1, cooldown=0),
                                    AlertPolicy(k=2, n=3, resolve_after=5, cooldown=10)])
def test_bare_flags_are_grouped_as_the_monitor_groups_them(policy: AlertPolicy | None):
    lb = scenarios.generate("lb", seed=42, realistic=True, days=2)
    det = detect("seed004-iforest", lb.frame, labels=lb.frame["is_anomaly"], policy=policy)
    alerts = det.points["is_anomaly"].astype(bool)
    ids = incident_ids(alerts, policy)
    column = pd.to_numeric(det.points["incident"]).fillna(0).astype(int)
    assert ids.tolist() == column.tolist()
    assert ids.max() == len(det.incidents) > 1
    truth = lb.frame["is_anomaly"].astype(bool)
    from_flags = evaluate_flags(truth, alerts, policy=policy)["incidents"]
    from_ids = evaluate_flags(truth, alerts, incident=det.points["incident"])["incidents"]
    assert from_flags == from_ids
