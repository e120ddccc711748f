"""The noise test of ``default``: a series that starts moving more from point to point than it
has for a week pages, even when every value stays inside its usual band."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from stream_helpers import first_paging

from anomalert.detection import detect
from anomalert.detectors import Default
from anomalert.detectors import _kernel as K

_START = 4 * 1440  # the flapping starts after four days


def _flapping(days: int = 5, start: int = _START) -> pd.DataFrame:
    """A flat band (50 +- 2, uniform) that from ``start`` on jumps between its edges at every
    point: no value leaves the band, only the changes grow (about 3x)."""
    idx = pd.date_range("2025-01-01", periods=days * 1440, freq="1min", tz="UTC")
    v = 50 + 2 * np.random.default_rng(11).uniform(-1, 1, len(idx))
    n = len(idx) - start
    v[start:] = 50 + 1.9 * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    return pd.DataFrame({"cpu": v}, index=idx)


def test_flapping_inside_the_band_pages_as_noise_and_says_so() -> None:
    frame = _flapping()
    d = detect("default", frame, train_until=frame.index[2 * 1440])
    alerts = d.points.index[d.points["is_anomaly"]]
    assert len(alerts) > 0
    assert alerts[0] >= frame.index[_START], "nothing pages while the series is calm"
    assert alerts[0] <= frame.index[_START] + pd.Timedelta("1h")
    text = d.points.loc[alerts[0], "explanation"]
    assert "cpu is noisy" in text and "its 7-day high" in text
    # one change pages once: the alert resolves once the flapping is the window's history
    assert len(d.incidents) == 1


def test_the_explanation_gives_the_noise_in_the_metric_s_units() -> None:
    frame = _flapping()
    det = Default().fit(frame.iloc[: 2 * 1440])
    at = first_paging(det, frame, 2 * 1440)
    assert at is not None and at >= frame.index[_START]
    top = det.explain_one(at, {"cpu": float(frame.loc[at, "cpu"])}).top
    assert top is not None and top.kind == "noise" and top.reference == "its 7-day high"
    # value: the mean change per point over the last two hours, each change capped at 3
    # scales; baseline: the noisiest such window of the week, which the value beats by k
    assert top.value >= Default._noise_k * top.baseline > 0
    assert top.deviation == pytest.approx((top.value - top.baseline) / top.scale)
    calm_changes = np.abs(np.diff(frame["cpu"].iloc[: _START].to_numpy()))
    assert top.baseline < 1.5 * calm_changes.mean()  # the calm days' typical change


def test_without_the_noise_test_the_flapping_goes_unseen() -> None:
    frame = _flapping()
    off = type("NoNoise", (Default,), {"_noise_hours": 0})()
    d = detect(off, frame, train_until=frame.index[2 * 1440])
    assert not d.points["is_anomaly"].any()


def test_the_noise_test_keeps_quiet_for_its_window_after_a_deviation_pages() -> None:
    """An incident's turmoil is the incident's: the flapping that starts with a spike is
    only news once the window no longer holds the spike."""
    frame = _flapping()
    frame.iloc[_START - 1, 0] = 120.0  # a spike the deviation test pages on
    d = detect("default", frame, train_until=frame.index[2 * 1440])
    p = d.points
    spike = frame.index[_START - 1]
    assert p.loc[spike, "is_anomaly"]
    noisy = p.index[p["explanation"].str.contains("is noisy")]
    assert len(noisy) > 0 and noisy[0] >= spike + pd.Timedelta("2h")


def test_noise_high_cache_equals_a_scan_of_the_hours() -> None:
    """The cached history high of the current hour equals a scan over the kept hours, for
    both windows, through gaps longer than the whole history too."""
    st = K.new_state(
        2, level_window=7, window=7, trail_window=7, dev_window=7, memory=5, min_periods=2,
        smooth=1, history=3, period=0, use_recent=True, escape=3, guard=5.0, margin=1.15,
        threshold=6.0, noise_hours=1, noise_buckets=6, noise_span=2, noise_long_hours=2,
    )
    F, N, D, P, Q = st["F"], st["N"], st["D"], st["P"], st["Q"]
    ring, B = int(P[K.P_VAR_RING]), int(P[K.P_VAR_B])
    assert (int(P[K.P_VAR_SUB]), int(P[K.P_VAR_LONG]), ring) == (6, 12, 12)
    rng = np.random.default_rng(3)
    t = 0
    for k in range(3000):
        t += int(rng.choice([60, 300, 900, 4000, 30_000])) * 1_000_000_000
        x = rng.normal(0, 1 + (k // 300) % 3, 2)
        if k % 13 == 0:
            x[0] = np.nan
        vz, va, vl = np.empty(2), np.empty(2), np.empty(4)
        K._noises(F, N, D, P, Q, t, x, vz, va, vl)
        K._noise_learn(F, N, D, P, Q, t, x, va, vl, bool(k % 50 == 0))
        hour = (t // 1_000_000_000) // 3600
        assert N[int(P[K.P_VAR_ID]) + ring + B] == hour
        for longer in (False, True):
            cache_at = K._noise_highs(P, longer) + B * 2
            for j in range(2):
                assert F[cache_at + j] == K._noise_scan(F, N, P, j, hour, longer)


def test_batch_and_streaming_noise_scores_agree() -> None:
    frame = _flapping()
    det = Default().fit(frame.iloc[: 2 * 1440])
    batch = det.score(frame.iloc[2 * 1440:])
    stream = []
    for ts, v in zip(frame.index[2 * 1440:], frame["cpu"].iloc[2 * 1440:], strict=True):
        stream.append(det.score_one(ts, {"cpu": float(v)}))
        det.learn_one(ts, {"cpu": float(v)})
    np.testing.assert_allclose(batch, np.array(stream), rtol=0, atol=1e-9)
    assert np.nanmax(batch) > det.threshold_  # the flapping is in both


def test_an_incident_panel_of_a_noise_alert_draws_no_level_band(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The report's incident panel: a noise contribution's baseline is a noise level, not a
    level of the values, so no band is drawn from it, and the title says what paged."""
    from anomalert.report import panels as fig
    from anomalert.report.draw import explanations

    frame = _flapping()
    cut = frame.index[2 * 1440]
    d = detect("default", frame, train_until=cut)
    inc = d.incidents[0]
    wanted = fig.incident_window(pd.DatetimeIndex(frame.index), inc)
    exps = explanations(d, "default", frame, cut, wanted)
    (panel,) = fig.panels_for(d, [(inc, False)], exps, frame, [], cut)
    assert "cpu noisy" in panel.heading and "its 7-day high" in panel.heading
    assert panel.baseline.loc[inc.start:inc.end].isna().all()
    out = fig.incident_panels(tmp_path / "p.png", [panel], "noise")
    assert out.exists() and out.stat().st_size > 0
