"""IForest's threshold: calibrated on the training window's scores, without labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anomalert import scenarios
from anomalert.detection import detect
from anomalert.detectors import IForest
from anomalert.detectors.iforest import AUTO_CONTAMINATION
from anomalert.evaluation.metrics import evaluate_detection
from anomalert.events import split_labels


def _frame(X: np.ndarray, start: int = 0) -> pd.DataFrame:
    idx = pd.date_range("2025-01-01", periods=start + len(X), freq="1min", tz="UTC")[start:]
    return pd.DataFrame(X, index=idx, columns=[f"m{j}" for j in range(X.shape[1])])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auto_threshold_pages_rarely_on_clean_noise_and_flags_a_spike(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 2000
    X = rng.normal(size=(n + 10_000, 2))
    det = IForest(random_state=seed).fit(_frame(X[:n]))
    assert det.threshold_ > 0.5  # not scikit-learn's uncalibrated boundary
    assert np.mean(det.train_scores_ > det.threshold_) <= AUTO_CONTAMINATION + 1 / n
    later = det.score(_frame(X[n:], n)).to_numpy()
    assert np.mean(later > det.threshold_) < 0.005  # ten thousand clean points later
    spike = det.score(_frame(np.array([[8.0, 8.0], [-8.0, -8.0]]), n)).to_numpy()
    assert (spike > det.threshold_).all()


def test_cpu_tutorial_week_pages_rarely() -> None:
    frame = scenarios.generate("cpu", seed=42).frame
    _, truth, kinds = split_labels(frame)
    d = detect("iforest", frame)  # trained on the first 10 % of the week, no labels
    flagged = d.points["is_anomaly"].to_numpy()
    # scikit-learn's boundary (0.5) made 4716 of these 10080 points alert, in one incident
    assert flagged.mean() < 0.02 and len(d.incidents) > 1
    held = evaluate_detection(d.points, truth, kinds, train_until=d.train_until)["heldout"]
    assert held["point"]["fpr"] < 0.01 and held["events"]["detected"] >= 1


def test_float_contamination_fixes_the_training_share() -> None:
    rng = np.random.default_rng(3)
    train = _frame(rng.normal(size=(1000, 2)))
    det = IForest(contamination=0.05).fit(train)
    assert det.model_ is not None and det.threshold_ == -det.model_.offset_
    assert abs(np.mean(det.train_scores_ > det.threshold_) - 0.05) <= 1 / 1000
    auto = IForest().fit(train).threshold_
    same = IForest(contamination=AUTO_CONTAMINATION).fit(train).threshold_
    assert auto == pytest.approx(same, rel=1e-9) and auto > det.threshold_


def test_number_fixes_the_threshold() -> None:
    train = _frame(np.random.default_rng(4).normal(size=(300, 2)))
    assert IForest(threshold=0.7).fit(train).threshold_ == 0.7
    assert IForest(threshold=0.7, contamination=0.1).fit(train).threshold_ == 0.7


def test_streaming_start_calibrates_as_fit_does() -> None:
    train = _frame(np.random.default_rng(5).normal(size=(300, 2)))
    streamed = IForest(min_samples=300)
    for ts, row in train.iterrows():
        streamed.learn_one(ts, {k: float(v) for k, v in row.items()})
    fitted = IForest(min_samples=300).fit(train)
    assert streamed.threshold_ == pytest.approx(fitted.threshold_, rel=1e-12)
    assert fitted.threshold_ == np.quantile(fitted.train_scores_, 1 - AUTO_CONTAMINATION)


@pytest.mark.parametrize("seed", [42, 1, 7])
def test_a_spike_far_past_the_training_range_is_flagged(seed: int) -> None:
    """The CPU tutorial's spike to 100 % (training range about 13-68 %): scikit-learn's path
    lengths stop shrinking at the range's edge, so it scored below the window's own extremes
    and went unflagged on two seeds of three; ``beyond_range`` scores it as new."""
    frame = scenarios.generate("cpu", seed=seed).frame
    metrics, truth, kinds = split_labels(frame)
    spike = (kinds == "spike").to_numpy()
    new = detect("iforest", metrics).points
    assert new["is_anomaly"].to_numpy()[spike].all()
    plain = detect(IForest(beyond_range=None), metrics)
    det = plain.detector
    # exactly scikit-learn's scores without it: the spike sits below the training maximum
    assert plain.points["score"].to_numpy()[spike].max() < det.train_scores_.max()
    # the same scores wherever no value is past the gate
    inside = ~new["score"].ne(plain.points["score"]).to_numpy()
    assert inside.mean() > 0.99
