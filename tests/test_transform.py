"""``default``'s ``transform``: a metric whose noise is multiplicative (a latency) is scored on
its log, chosen from the training window; explanations stay in the metric's units."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomalert.cli import main
from anomalert.detection import detect
from anomalert.detectors import Default
from anomalert.detectors._compiled import log_suits
from anomalert.errors import InputError, ParameterError

_DAY = 1440


def _latency(days: int = 8, sigma: float = 0.35, seed: int = 1, events: bool = True) -> pd.DataFrame:
    """A request latency (ms) around 120 with lognormal noise at 1-minute steps; with
    ``events``: one request 10x slower on day 5, 1.5x slower for three hours on day 6, 3x
    slower for half an hour on day 7."""
    rng = np.random.default_rng(seed)
    n = days * _DAY
    idx = pd.date_range("2025-01-06", periods=n, freq="1min", tz="UTC")
    v = 120 * rng.lognormal(0, sigma, n)
    if events:
        v[5 * _DAY + 300] *= 10
        v[6 * _DAY + 600 : 6 * _DAY + 780] *= 1.5
        v[7 * _DAY + 100 : 7 * _DAY + 130] *= 3
    return pd.DataFrame({"latency_ms": v}, index=idx)


def _times(n: int) -> np.ndarray:
    return pd.date_range("2025-01-06", periods=n, freq="1min", tz="UTC").as_unit("ns").asi8


def test_the_log_is_chosen_for_multiplicative_noise_only() -> None:
    rng = np.random.default_rng(2)
    n = 2 * _DAY
    t = _times(n)
    assert log_suits(t, 120 * rng.lognormal(0, 0.35, n))
    assert not log_suits(t, 50 + rng.normal(0, 5, n))  # Gaussian
    assert not log_suits(t, rng.poisson(50, n).astype(float))  # counts
    day = np.sin(2 * np.pi * np.arange(n) / _DAY)
    assert not log_suits(t, 100 + 40 * day + rng.normal(0, 5, n))  # a daily curve
    spiky = 40 + rng.normal(0, 2, n)
    spiky[rng.integers(0, n, 30)] += 60  # CPU with spikes: its spikes are what it is watched for
    assert not log_suits(t, spiky)
    with_zero = 120 * rng.lognormal(0, 0.35, n)
    with_zero[5] = 0.0
    assert not log_suits(t, with_zero)


def test_lognormal_latency_pages_its_incidents_and_not_its_noise() -> None:
    frame = _latency()
    d = detect("default", frame)
    assert d.detector.log_ is not None and bool(d.detector.log_[0])
    starts = [i.start for i in d.incidents]
    idx = frame.index
    assert len(starts) == 3, [i.explanation for i in d.incidents]
    assert starts[0] == idx[5 * _DAY + 300]
    assert idx[6 * _DAY + 600] <= starts[1] <= idx[6 * _DAY + 780]
    assert idx[7 * _DAY + 100] <= starts[2] <= idx[7 * _DAY + 130]
    # explained in milliseconds, the spread as a factor
    first = d.incidents[0].explanation
    assert first.startswith("latency_ms=") and "above baseline 1" in first and "(×/÷1." in first
    # the same series scored on its values pages its noise many times
    raw = detect(Default(transform="none"), frame)
    assert len(raw.incidents) >= 6


def test_the_noise_alone_pages_nothing_on_the_log() -> None:
    for seed in (1, 2, 3):
        frame = _latency(days=10, sigma=0.5, seed=seed, events=False)
        assert detect("default", frame).incidents == []


def test_forced_log_needs_positive_training_values_and_bad_values_are_refused() -> None:
    frame = _latency(days=2, events=False)
    frame.iloc[10, 0] = 0.0
    with pytest.raises(InputError, match="transform='log' needs positive values: feature "
                                         "'latency_ms' has 0 in its training window"):
        Default(transform="log").fit(frame)
    with pytest.raises(ParameterError, match="'transform' parameter of Default"):
        Default(transform="sqrt").fit(frame)


def test_a_zero_later_is_a_finite_drop_and_nan_stays_missing() -> None:
    frame = _latency(days=3, events=False)
    det = Default().fit(frame.iloc[: 2 * _DAY])
    t = frame.index[2 * _DAY]
    zero = det.score_one(t, {"latency_ms": 0.0})
    assert np.isfinite(zero) and zero > det.threshold_
    exp = det.explain_one(t, {"latency_ms": 0.0})
    assert exp.top is not None and exp.top.value == 0.0 and "below baseline" in exp.text()
    assert np.isnan(det.score_one(t, {"latency_ms": float("nan")}))


def test_batch_and_streaming_agree_and_the_choice_pickles() -> None:
    frame = _latency(days=4, events=False)
    det = Default().fit(frame.iloc[: 2 * _DAY])
    later = frame.iloc[2 * _DAY :]
    batch = det.score(later).to_numpy()
    stream = det.clone().fit(frame.iloc[: 2 * _DAY])
    one = []
    for ts, v in later["latency_ms"].items():
        one.append(stream.score_one(ts, {"latency_ms": float(v)}))
        stream.learn_one(ts, {"latency_ms": float(v)})
    np.testing.assert_allclose(batch, np.array(one), rtol=0, atol=1e-9)
    copy = pickle.loads(pickle.dumps(det))
    assert bool(copy.log_[0]) and np.array_equal(copy.score(later).to_numpy(), batch, equal_nan=True)


def test_detect_says_which_metrics_it_scores_on_their_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = _latency()
    frame["cpu"] = 40 + np.random.default_rng(5).normal(0, 2, len(frame))
    path = tmp_path / "latency.csv"
    frame.rename_axis("timestamp").reset_index().to_csv(path, index=False)
    assert main(["detect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "scored on the log (multiplicative noise): latency_ms\n" in out
    assert "latency_ms=" in out and "(×/÷1." in out
