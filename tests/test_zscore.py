"""The z-score family's vectorised batch path equals the streaming path, NaN and all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anomalert.detectors import ZScore
from anomalert.detectors.base import Detector


@pytest.mark.parametrize(
    "params",
    [{"window": 60, "robust": True}, {"window": 60}, {}, {"robust": True}, {"window": 7}],
    ids=str,
)
def test_vectorised_batch_equals_streaming(params: dict) -> None:
    rng = np.random.default_rng(5)
    n = 3000
    idx = pd.date_range("2025-01-01", periods=n, freq="1min", tz="UTC")
    X = rng.normal(40, 3, (n, 2))
    X[rng.random((n, 2)) < 0.02] = np.nan
    X[1500:1600, 1] = 5.0  # a constant stretch: IQR 0, std fallback, then floor
    frame = pd.DataFrame(X, index=idx, columns=["a", "b"])
    det = ZScore(min_periods=5, **params).fit(frame.iloc[:500])
    fast = det.score(frame.iloc[500:]).to_numpy()
    t, Xs, _ = det._prepare(frame.iloc[500:])
    slow = Detector._score_frame(det, t, Xs)  # the generic point-by-point loop
    assert np.array_equal(np.isnan(fast), np.isnan(slow))
    ok = ~np.isnan(slow)
    # Within 1e-9 everywhere; relative for the huge z right after the constant stretch, where
    # the spread sits at its floor (1e-6 of the level) and z reaches ~1e7.
    assert np.allclose(fast[ok], slow[ok], rtol=1e-12, atol=1e-9)


def _stats(det: ZScore) -> list[tuple]:
    return [(s.count, s._sorted, list(s._ring), s._sum, s._c, s._sumsq, s._csq, s._adds)
            for s in det.stats_]


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


@pytest.mark.parametrize(
    "params",
    [{}, {"window": 60}, {"window": 60, "robust": True}, {"window": 500, "robust": True},
     {"window": 30, "threshold": 3.0}],
    ids=str,
)
def test_detect_compiled_loop_equals_monitor_steps(params: dict) -> None:
    """detect() scores zscore's rows after training in one compiled loop; with the loop
    turned off it takes one Monitor step per row. Same points, incidents and final state."""
    from anomalert.detection import detect

    frame = _incident_frame(3)
    fast = detect(ZScore(**params), frame, train_until=frame.index[1000])
    try:
        ZScore._batch_run = False
        slow = detect(ZScore(**params), frame, train_until=frame.index[1000])
    finally:
        ZScore._batch_run = True
    assert len(slow.incidents) >= 2
    pd.testing.assert_frame_equal(fast.points, slow.points)
    assert [vars(i) for i in fast.incidents] == [vars(i) for i in slow.incidents]
    assert _stats(fast.detector) == _stats(slow.detector)  # type: ignore[arg-type]
    assert fast.detector.n_seen_ == slow.detector.n_seen_


@pytest.mark.parametrize("params", [{}, {"window": 60, "robust": True}, {"threshold": 2.0}],
                         ids=str)
def test_compiled_fit_equals_the_streaming_fit(params: dict) -> None:
    frame = _incident_frame(4).iloc[:3000]
    fast = ZScore(**params).fit(frame)
    slow = ZScore(**params)
    slow._fit_frame = lambda t, X: Detector._fit_frame(slow, t, X)  # type: ignore[method-assign]
    slow.fit(frame)
    assert np.array_equal(fast.train_scores_, slow.train_scores_, equal_nan=True)
    assert _stats(fast) == _stats(slow) and fast.n_seen_ == slow.n_seen_
    assert fast.threshold_ == slow.threshold_
    # and a Monitor carries on from the compiled state as from the streamed one
    t, X, _ = fast._prepare(_incident_frame(5).iloc[3000:3300])
    a = [fast._score_point(int(t[i]), X[i]) for i in range(len(X))]
    b = [slow._score_point(int(t[i]), X[i]) for i in range(len(X))]
    assert np.array_equal(a, b, equal_nan=True)
