"""Evaluation metrics: an incident means what the Monitor (and ``anomalert detect``) opens."""

from __future__ import annotations

import pandas as pd
import pytest

from anomalert import scenarios
from anomalert.alerting import AlertPolicy
from anomalert.detection import detect
from anomalert.detectors import make
from anomalert.evaluation.metrics import evaluate_detection, evaluate_flags, incident_ids


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


def test_a_long_incident_over_an_event_still_counts_its_alerting_outside_it():
    """One incident that covers an event and fires for hours around it is one true page and
    no false incident; the time it alerted outside the event is what shows its cost."""
    idx = pd.date_range("2025-01-01", periods=1440, freq="1min", tz="UTC")
    truth = pd.Series(False, index=idx)
    truth.iloc[600:610] = True
    short = pd.Series(False, index=idx)
    short.iloc[600:610] = True
    long = pd.Series(False, index=idx)
    long.iloc[300:900] = True  # 590 minutes of it outside the event
    a, b = evaluate_flags(truth, short), evaluate_flags(truth, long)
    assert a["incidents"]["false"] == b["incidents"]["false"] == 0
    assert a["incidents"]["false_alert_min_per_day"] == 0
    assert b["incidents"]["false_alert_min_per_day"] == pytest.approx(590 * 1440 / 1439)


def test_an_alert_within_the_cooldown_reopens_and_is_counted_on_both_paths():
    """The batch (compiled) and streaming paths agree: the re-opened incident is one page,
    counted in ``Incident.reopened``."""
    idx = pd.date_range("2025-01-01", periods=3000, freq="1min", tz="UTC")
    import numpy as np

    cpu = 40 + np.random.default_rng(2).normal(0, 1, len(idx))
    cpu[2000:2005] = 95.0
    cpu[2030:2035] = 0.0  # a drop 25 minutes after the spike resolved
    frame = pd.DataFrame({"cpu": cpu}, index=idx)
    for name in ("default", "zscore"):  # the compiled path and the Monitor's own loop
        d = detect(name, frame)
        late = [i for i in d.incidents if i.start <= idx[2034] and i.end >= idx[2000]]
        assert len(late) == 1 and late[0].reopened == 1, (name, late)
        assert late[0].end >= idx[2030]
