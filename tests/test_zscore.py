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
