"""The compiled score-then-learn loops of zscore and likelihood (detectors/_rolling.py) give
what the Python, one-Monitor-step-a-row path gives: the same points, incidents and state."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from anomalert.alerting import AlertPolicy
from anomalert.detection import detect
from anomalert.detectors import Likelihood, ZScore
from anomalert.detectors.base import Detector


def _stats(det: Any) -> list:
    groups = [det.stats_] if isinstance(det, ZScore) else [det.base_, det.raw_]
    out: list = [[(s.count, s._sorted, list(s._ring), s._sum, s._c, s._sumsq, s._csq, s._adds)
                  for s in g] for g in groups]
    if isinstance(det, Likelihood):
        out.append([list(q) for q in det.recent_])
    return out


def _incident_frame(seed: int) -> pd.DataFrame:
    """Two features, NaN gaps, a constant stretch and two incidents (one over a day long:
    relearned), so that flagged points are skipped, then learned."""
    rng = np.random.default_rng(seed)
    n = 4 * 1440
    idx = pd.date_range("2025-01-01", periods=n, freq="1min", tz="UTC")
    X = np.column_stack([40 + 10 * np.sin(np.arange(n) / 200) + rng.normal(0, 2, n),
                         rng.lognormal(0, 0.5, n)])
    X[rng.random((n, 2)) < 0.01] = np.nan
    X[2000:2060, 0] += 40
    X[2500:2550, 1] = 3.0
    X[3000:4600, 0] += 25  # longer than a day: relearned as the new normal
    return pd.DataFrame(X, index=idx, columns=["a", "b"])


CASES = [
    (ZScore, {}), (ZScore, {"window": 60}), (ZScore, {"window": 60, "robust": True}),
    (ZScore, {"robust": True}),
    (ZScore, {"window": 500, "robust": True}), (ZScore, {"window": 30, "threshold": 3.0}),
    (Likelihood, {}), (Likelihood, {"window": 60, "history": 300}),
    (Likelihood, {"short": 1, "window": 100}), (Likelihood, {"threshold": 2.0, "window": 200}),
]


@pytest.mark.parametrize(("cls", "params"), CASES, ids=[f"{c.name}{p}" for c, p in CASES])
def test_detect_compiled_loop_equals_monitor_steps(cls: Any, params: dict) -> None:
    """detect() scores the rows after training in one compiled loop; with the loop turned
    off it takes one Monitor step per row. Same points, incidents and final state."""
    frame = _incident_frame(3)
    fast = detect(cls(**params), frame, train_until=frame.index[1000])
    try:
        cls._batch_run = False
        slow = detect(cls(**params), frame, train_until=frame.index[1000])
    finally:
        cls._batch_run = True
    assert len(slow.incidents) >= 2
    pd.testing.assert_frame_equal(fast.points, slow.points)
    assert [vars(i) for i in fast.incidents] == [vars(i) for i in slow.incidents]
    assert _stats(fast.detector) == _stats(slow.detector)
    assert fast.detector.n_seen_ == slow.detector.n_seen_


@pytest.mark.parametrize("cls", [ZScore, Likelihood], ids=["zscore", "likelihood"])
@pytest.mark.parametrize(
    ("train_at", "policy"),
    [(2030, None), (2030, AlertPolicy(learn_flagged=True)), (1000, AlertPolicy(relearn_after=20)),
     (1000, AlertPolicy(threshold=2.5, k=2, n=3)), (len(_incident_frame(3)) - 3, None)],
    ids=["mid-incident", "learn-flagged", "relearn-20", "paging-2.5-k2n3", "3-rows-after"],
)
def test_detect_compiled_loop_equals_monitor_steps_under_policies(
    cls: Any, train_at: int, policy: AlertPolicy | None
) -> None:
    """The same, where training ends inside an incident (its flagged run carries on), and
    under policies that learn flagged points, relearn sooner, or page below the detector's
    own threshold; and with three rows after training."""
    frame = _incident_frame(3)
    runs = []
    for fast in (True, False):
        try:
            cls._batch_run = fast
            runs.append(detect(cls(window=120), frame, train_until=frame.index[train_at],
                               policy=policy))
        finally:
            cls._batch_run = True
    fast_run, slow = runs
    if train_at < 5000:  # (three rows after training: nothing need be flagged)
        assert slow.points["is_anomalous"].iloc[train_at + 1:].any()
    pd.testing.assert_frame_equal(fast_run.points, slow.points)
    assert [vars(i) for i in fast_run.incidents] == [vars(i) for i in slow.incidents]
    assert _stats(fast_run.detector) == _stats(slow.detector)


@pytest.mark.parametrize(("cls", "params"), CASES[::2],
                         ids=[f"{c.name}{p}" for c, p in CASES[::2]])
def test_compiled_fit_equals_the_streaming_fit(cls: Any, params: dict) -> None:
    frame = _incident_frame(4).iloc[:3000]
    fast = cls(**params).fit(frame)
    slow = cls(**params)
    slow._fit_frame = lambda t, X: Detector._fit_frame(slow, t, X)
    slow.fit(frame)
    assert np.array_equal(fast.train_scores_, slow.train_scores_, equal_nan=True)
    assert _stats(fast) == _stats(slow) and fast.n_seen_ == slow.n_seen_
    assert fast.threshold_ == slow.threshold_
    # and the Monitor's point-by-point path carries on from either state alike
    t, X, _ = fast._prepare(_incident_frame(5).iloc[3000:3300])
    for i in range(len(X)):
        a, b = fast._score_point(int(t[i]), X[i]), slow._score_point(int(t[i]), X[i])
        assert a == b or (np.isnan(a) and np.isnan(b))
        fast._learn_point(int(t[i]), X[i])
        slow._learn_point(int(t[i]), X[i])


def test_likelihood_batch_score_equals_streaming() -> None:
    frame = _incident_frame(6)
    det = Likelihood(window=200, history=400).fit(frame.iloc[:1500])
    fast = det.score(frame.iloc[1500:]).to_numpy()
    t, X, _ = det._prepare(frame.iloc[1500:])
    slow = Detector._score_frame(det, t, X)  # the generic point-by-point loop
    assert np.isfinite(slow).sum() > 4000
    assert np.array_equal(fast, slow, equal_nan=True)
