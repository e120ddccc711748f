"""The sustained test of ``default``: a moderate deviation that lasts (traffic 30 % under its
usual for the time of day, for half an hour, on a noisy seasonal series) pages, though no
point is a spike and the daily curve hides the level from the shift test."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from anomalert.detection import detect
from anomalert.detectors import Default, Sustained

_DAY = 1440
_SAG = 6 * _DAY + 600  # day 7, 10:00


def _traffic(
    days: int = 9, sag: float | None = 0.7, minutes: int = 30, seed: int = 1, at: int = _SAG,
) -> pd.DataFrame:
    """Requests a minute around 1000 with a daily curve of +-500 and noise 100 (10 % of the
    level); from minute ``at`` (day 7, 10:00), ``sag`` times the curve for ``minutes``."""
    n = days * _DAY
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2025-01-06", periods=n, freq="1min", tz="UTC")
    curve = 1000 * (1 + 0.5 * np.sin(2 * np.pi * (np.arange(n) % _DAY) / _DAY))
    v = curve + rng.normal(0, 100, n)
    if sag is not None:
        v[at : at + minutes] = curve[at : at + minutes] * sag + rng.normal(0, 100, minutes)
    return pd.DataFrame({"requests": v}, index=idx)


def test_a_half_hour_sag_pages_once_within_it_and_names_the_averages() -> None:
    frame = _traffic()
    d = detect("default", frame, train_until=frame.index[2 * _DAY])
    assert len(d.incidents) == 1
    inc = d.incidents[0]
    start = frame.index[_SAG]
    assert start + pd.Timedelta("5min") <= inc.start <= start + pd.Timedelta("30min")
    text = inc.explanation
    assert text.startswith("requests has stayed below its baseline: ")
    # the average that paged: the half hour's, or (here, sooner) its ten-minute one
    assert re.search(r"on average over about the last (30|10) minutes", text), text
    assert "for the time (±" in text
    # the averages: the baseline is the curve's at 10:00 (1250), the values' average lies
    # between it and the sag's (875), and the σ is their distance in the scale given
    m = re.search(r": ([\d.,]+) on average .*, ([\d.]+)σ below its usual ([\d.,]+) for the "
                  r"time \(±([\d.,]+)\)", text)  # thousands are grouped: 1,017
    assert m is not None, text
    value, sigma, baseline, scale = (float(g.replace(",", "")) for g in m.groups())
    assert 1150 < baseline < 1350 and 875 < value < baseline
    assert abs((baseline - value) / scale - sigma) < 0.1


def test_a_short_deep_sag_pages_on_the_ten_minute_average() -> None:
    """Half the traffic for ten minutes at 20:00, where the curve is low (567): ten points
    at about 2.8 scales each, which the half-hour average dilutes below its bar; the
    ten-minute one pages within the sag (five seeds)."""
    at = 6 * _DAY + 1200
    slow = type("HalfHourOnly", (Default,), {"_sustained_short_e0": 1e9})
    for seed in (1, 2, 3, 4, 5):
        frame = _traffic(sag=0.5, minutes=10, seed=seed, at=at)
        d = detect("default", frame, train_until=frame.index[2 * _DAY])
        assert len(d.incidents) == 1, (seed, [i.explanation for i in d.incidents])
        inc, start = d.incidents[0], frame.index[at]
        assert start < inc.start <= start + pd.Timedelta("10min"), (seed, inc.start)
        assert "on average over about the last 10 minutes" in inc.explanation, inc.explanation
        assert detect(slow(), frame, train_until=frame.index[2 * _DAY]).incidents == [], seed


def test_the_ten_minute_average_needs_points_a_minute_apart() -> None:
    """At 5-minute steps a ten-minute average is two points: it does not apply there."""
    frame = _traffic(days=20, sag=None).iloc[::5]
    sag = frame.index.get_indexer([frame.index[0] + pd.Timedelta(days=14, hours=10)])[0]
    frame.iloc[sag : sag + 2] *= 0.5  # ten minutes at half: a blip at this step
    no_short = type("NoShort", (Default,), {"_sustained_short_e0": 1e9})
    with_it, without = (det.fit(frame.iloc[: 4 * 288]).score(frame.iloc[4 * 288 :])
                        for det in (Default(), no_short()))
    np.testing.assert_array_equal(with_it.to_numpy(), without.to_numpy())


def test_each_point_of_the_sag_is_ordinary_alone() -> None:
    """Without the sustained test nothing pages: the sag is the test's to find."""
    frame = _traffic()
    off = type("NoSustained", (Default,), {"_sustained_seconds": 0})()
    d = detect(off, frame, train_until=frame.index[2 * _DAY])
    assert d.incidents == []


def test_seasonal_noise_alone_pages_nothing() -> None:
    """Nine days of the same curve and noise, without a sag, three seeds: no incident."""
    for seed in (1, 2, 3):
        frame = _traffic(sag=None, seed=seed)
        d = detect("default", frame, train_until=frame.index[2 * _DAY])
        assert d.incidents == [], (seed, [i.explanation for i in d.incidents])


def test_a_lasting_rise_pages_too_and_the_piece_alone_finds_it() -> None:
    frame = _traffic(sag=1.3, minutes=60)
    det = Sustained().fit(frame.iloc[: 2 * _DAY])
    scores = det.score(frame.iloc[2 * _DAY :])
    paged = scores.index[scores > det.threshold_]
    start = frame.index[_SAG]
    assert len(paged) and start < paged[0] <= start + pd.Timedelta("30min")
    assert (paged < start + pd.Timedelta("60min")).all()
    exp = det.explain_one(paged[0], {"requests": float(frame.loc[paged[0], "requests"])})
    assert exp.top is not None and exp.top.kind in ("sustained", "level")


def test_the_state_keeps_the_test_and_refuses_an_older_layout() -> None:
    """The test's averages are part of the kernel state: a pickled detector goes on where it
    stopped (the layout version moved with it)."""
    import pickle

    frame = _traffic()
    det = Default().fit(frame.iloc[: 2 * _DAY])
    later = frame.iloc[2 * _DAY :]
    copy = pickle.loads(pickle.dumps(det))
    assert np.array_equal(det.score(later).to_numpy(), copy.score(later).to_numpy(), equal_nan=True)
