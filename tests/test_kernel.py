"""The compiled state machine behind ``default`` / ``seasonal`` against plain references."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from anomalert.alerting import AlertPolicy
from anomalert.detectors import Default, Seasonal
from anomalert.detectors import _kernel as K
from anomalert.detectors._stats import RollingStats


def _state(m: int = 1, size: int = 7, memory: int = 5) -> dict[str, np.ndarray]:
    return K.new_state(
        m, level_window=size, window=size, trail_window=size, dev_window=size, memory=memory,
        min_periods=2, smooth=1, history=3, period=86_400, use_recent=True, escape=3,
        guard=5.0, margin=1.15, threshold=6.0,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rolling_window_matches_rolling_stats(seed: int) -> None:
    """Quantiles, std and robust scale equal RollingStats' after every add (ties, NaN too)."""
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(0, 3, 400), 0)  # rounding makes many ties
    values[rng.integers(0, 400, 20)] = np.nan
    values[100:130] = 5.0  # a constant stretch: the robust scale falls back
    st = _state(size=7)
    F, N, D = st["F"], st["N"], st["D"]
    ref = RollingStats(7)
    w = K.K_SPREAD
    for v in values:
        K._add(F, N, D, w, float(v))
        ref.add(float(v))
        assert K._count(N, D, w) == ref.count
        for q in (0.25, 0.5, 0.75):
            assert K._quantile(F, N, D, w, q) == ref.quantile(q)
        a, b = K._std(F, N, D, w), ref.std()
        assert (math.isnan(a) and math.isnan(b)) or a == b
        assert K._robust_scale(F, N, D, w) == ref.robust_scale()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 34, 35, 64, 65, 66, 140])
def test_median_equals_numpy_on_both_of_its_paths(n: int) -> None:
    """Rank counting (up to 64 values) and selection (more) give numpy's median exactly,
    ties and even counts included."""
    rng = np.random.default_rng(n)
    for rounding in (None, 0):
        for _ in range(20):
            values = rng.normal(0, 3, n)
            if rounding is not None:
                values = np.round(values, rounding)  # many ties
            buf = np.concatenate([values, rng.normal(0, 3, 5)])  # beyond n: ignored
            assert K._median(buf, n) == np.median(values)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 12, 35, 64])
def test_weighted_median_is_the_median_of_each_value_repeated_by_its_weight(n: int) -> None:
    """With whole weights, the weighted median is numpy's median of every value repeated as
    often as its weight (ties, even totals and equal weights included)."""
    rng = np.random.default_rng(n)
    for rounding in (None, 0):
        for _ in range(20):
            values = rng.normal(0, 3, n)
            if rounding is not None:
                values = np.round(values, rounding)
            weights = rng.integers(1, 7, n).astype(float)
            expected = np.median(np.repeat(values, weights.astype(int)))
            assert K._weighted_median(values.copy(), weights, n, float(weights.sum())) == expected
            ones = np.ones(n)
            assert K._weighted_median(values.copy(), ones, n, float(n)) == np.median(values)


def test_each_neighbour_of_a_slot_weighs_the_same_in_the_shape() -> None:
    """Two neighbours before the slot hold four days of 20, the slot and the two after it one
    day of 80 (a plateau learned from its third morning): the shape is 80, where the plain
    median of the eleven values is 20. So with counts one apart (two Sundays before
    midnight, one Monday after it); equal counts take the plain median."""
    st = K.new_state(1, level_window=10, window=20, trail_window=10, dev_window=20, memory=0,
                     min_periods=2, smooth=2, history=7, period=86_400, use_recent=False,
                     escape=3, guard=5.0, margin=2.0, threshold=6.0)
    K.with_slots(st, 300)
    P, S, SC = st["P"], st["S"], st["SC"]
    slot, day = 9 * 12, 20_000  # 09:00

    def fill(rows: tuple[int, ...], days: range, value: float) -> None:
        for r in rows:
            for d in days:
                S[r, (day - d) % 7, 0], SC[r, (day - d) % 7] = value, day - d

    t = (day * 86_400 + slot * 300) * 10**9
    out, buf = np.empty(1), np.empty(5 * 15)
    before, after = (slot - 2, slot - 1), (slot, slot + 1, slot + 2)
    fill(before, range(4), 20.0)
    fill(after, range(1, 2), 80.0)
    assert K.seasonal_shape(P, S, SC, t, out, buf) and out[0] == 80.0
    S[:], SC[:] = np.nan, K.NO_T
    fill(before, range(2), 20.0)
    fill(after, range(1, 2), 80.0)
    assert K.seasonal_shape(P, S, SC, t, out, buf) and out[0] == 80.0
    fill(after, range(2, 3), 80.0)  # two values each: the plain median of 4 x 20, 6 x 80
    assert K.seasonal_shape(P, S, SC, t, out, buf) and out[0] == 80.0
    fill(after, range(1, 3), 20.0)  # all 20 after it too
    assert K.seasonal_shape(P, S, SC, t, out, buf) and out[0] == 20.0


def test_radix_order_sorts_like_a_stable_argsort() -> None:
    """The lazy windows' refresh sorts its new values by radix: the same order as a stable
    argsort, across signs, magnitudes, ties and infinities (-0.0 before 0.0)."""
    rng = np.random.default_rng(3)
    cases = [
        rng.normal(0, 1, 240),
        np.round(rng.normal(0, 3, 240)),  # many ties
        rng.normal(0, 1, 60) * 10.0 ** rng.integers(-300, 300, 60),  # every exponent
        np.full(17, 4.5),  # one value: every byte shared
        np.array([1.0]),
        np.array([0.0, -0.0, 2.0, -np.inf, np.inf, -2.0, 0.0, -0.0]),
    ]
    for values in cases:
        order = K._radix_order(values.copy())
        expected = np.argsort(values, kind="stable")
        zero = values == 0.0  # argsort ties -0.0 with 0.0; the radix puts -0.0 first
        if not zero.any():
            assert np.array_equal(order, expected)
        assert np.array_equal(values[order], np.sort(values))
        assert sorted(order.tolist()) == list(range(len(values)))
    signed = np.array([0.0, -0.0, 0.0, -0.0])
    assert K._radix_order(signed).tolist() == [1, 3, 0, 2]


def test_helpers_are_compiled_without_reference_counting() -> None:
    """The kernel's speed rests on its helpers skipping numba's reference counting (see
    ``_kernel._helper``); the functions that allocate keep it."""
    assert K._HAS_NRT_OPTION  # the numba this project installs has the switch
    for helper in (K._quantile, K._add, K._median, K._context, K._score, K._learn):
        assert helper.targetoptions.get("_nrt") is False, helper
    for allocator in (K._refresh, K._radix_order, K._drift_measure, K._context_explained):
        assert allocator.targetoptions.get("_nrt") is True, allocator


def test_memory_is_the_max_of_the_last_values() -> None:
    rng = np.random.default_rng(3)
    st = _state(memory=5)
    F, N, P = st["F"], st["N"], st["P"]
    assert K._mem_max(F, N, P, 0) == -math.inf
    seen: list[float] = []
    for v in rng.exponential(2.0, 300):
        K._mem_add(F, N, P, 0, float(v))
        seen.append(float(v))
        assert K._mem_max(F, N, P, 0) == max(seen[-5:])


def _daily(n: int, step: str = "5min") -> pd.DataFrame:
    idx = pd.date_range("2025-01-01", periods=n, freq=step, tz="UTC")
    rng = np.random.default_rng(0)
    per_day = pd.Timedelta("1D") // pd.Timedelta(step)
    values = 50 + 20 * np.sin(2 * np.pi * np.arange(n) / per_day) + rng.normal(0, 1, n)
    return pd.DataFrame({"cpu": values}, index=idx)


@pytest.mark.parametrize("cls", [Default, Seasonal])
def test_streaming_from_scratch_finds_the_step_and_the_daily_shape(cls: type) -> None:
    """Started by learn_one (no fit): the step comes from the first two points, and after a
    couple of days the baseline follows the daily curve."""
    frame = _daily(3 * 288)
    det = cls()
    for ts, v in zip(frame.index, frame["cpu"], strict=True):
        det.learn_one(ts, {"cpu": float(v)})
    assert det.step_seconds_ == 300 and det.period_seconds_ == 86_400
    nxt = frame.index[-1] + pd.Timedelta("5min")
    expected = 50 + 20 * np.sin(2 * np.pi * (3 * 288) / 288)
    top = det.explain_one(nxt, {"cpu": expected}).top
    assert top is not None and abs(top.baseline - expected) < 2.0
    assert det.score_one(nxt, {"cpu": expected + 40}) > det.threshold_


def test_batch_path_equals_streaming_path_bit_for_bit() -> None:
    frame = _daily(4 * 288)
    frame.iloc[700:720, 0] += 30  # an incident, so flagged points and the memory take part
    det = Default().fit(frame.iloc[:400])
    batch = det.score(frame.iloc[400:]).to_numpy()
    stream = []
    for ts, v in zip(frame.index[400:], frame["cpu"].iloc[400:], strict=True):
        stream.append(det.score_one(ts, {"cpu": float(v)}))
        det.learn_one(ts, {"cpu": float(v)})
    assert np.array_equal(batch, np.asarray(stream), equal_nan=True)


def test_day_long_windows_refresh_their_order_statistics_in_batches() -> None:
    """A lazy window's sorted copy equals the exact window right after each refresh, its
    count and sums are always current, and refreshes come every ``size // LAZY_PARTS`` adds."""
    rng = np.random.default_rng(4)
    size = 240
    st = _state(size=size)
    F, N, D = st["F"], st["N"], st["D"]
    w = K.K_SPREAD
    assert D[w, 5] == size // K.LAZY_PARTS > 0
    ref = RollingStats(size)
    refreshes = 0
    for v in np.round(rng.normal(0, 3, 3000), 1):
        K._add(F, N, D, w, float(v))
        ref.add(float(v))
        assert K._count(N, D, w) == ref.count
        a, b = K._std(F, N, D, w), ref.std()
        assert (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12 * max(1.0, abs(b))
        meta = D[w, 4]
        if N[meta + 2] == 0:  # just refreshed
            refreshes += 1
            assert list(F[D[w, 2]:D[w, 2] + N[meta + 3]]) == ref._sorted
            for q in (0.25, 0.5, 0.75):
                assert K._quantile(F, N, D, w, q) == ref.quantile(q)
        else:
            assert N[meta + 2] <= D[w, 5]
    assert 3000 // (size // K.LAZY_PARTS) <= refreshes < 3000 // (size // K.LAZY_PARTS) + 60


class _Unshared(Default):
    def _kernel_config(self) -> dict:
        return {**super()._kernel_config(), "share": False}


def test_shared_windows_give_the_scores_of_separate_copies() -> None:
    """default's recent level shares the seasonal model's windows (same size, same values):
    scores equal those of a state that keeps separate copies, bit for bit, in less memory."""
    frame = _daily(5 * 288)
    frame.iloc[900:930, 0] += 30
    frame.iloc[1100:1110, 0] = np.nan
    shared, unshared = Default().fit(frame.iloc[:500]), _Unshared().fit(frame.iloc[:500])
    assert shared.state_["P"][K.P_SHARED] == 1 and unshared.state_["P"][K.P_SHARED] == 0
    assert len(shared.state_["F"]) < len(unshared.state_["F"])
    a, b = shared.score(frame.iloc[500:]).to_numpy(), unshared.score(frame.iloc[500:]).to_numpy()
    assert np.isfinite(a).sum() > 900 and np.nanmax(a) > shared.threshold_
    assert np.array_equal(a, b, equal_nan=True)


def test_threshold_floor_and_cap_follow_the_step() -> None:
    """The calibrated threshold's floor is 6 at 1-minute steps and scales with the rate of
    chances per day: lower for 5-minute data, higher for 15-second data."""
    from anomalert.detectors.default import rate_factor

    assert rate_factor(60) == 1.0
    assert rate_factor(15) > 1.0 > rate_factor(300) > rate_factor(3600) > 0.5
    quiet = {}
    for step in ("15s", "1min", "5min"):
        idx = pd.date_range("2025-01-01", periods=600, freq=step, tz="UTC")
        values = 50 + np.random.default_rng(5).normal(0, 1, 600)  # light tails: the floor
        quiet[step] = Default().fit(pd.DataFrame({"cpu": values}, index=idx)).threshold_
    assert quiet["1min"] == 6.0
    assert quiet["15s"] == pytest.approx(6.0 * rate_factor(15))
    assert quiet["5min"] == pytest.approx(6.0 * rate_factor(300))


def test_the_spike_memory_counts_incidents_half() -> None:
    """The "seen before" test over the threshold (kernel level): a deviation repeats what
    the learned spikes of the last day make ordinary -- its own spike, one earlier spike that
    did not page, or two that paged -- each counting only when its peak is at least
    ``max(threshold, a / margin)``."""
    st = K.new_state(1, level_window=7, window=7, trail_window=7, dev_window=7, memory=288,
                     min_periods=2, smooth=1, history=3, period=0, use_recent=True, escape=3,
                     guard=5.0, margin=2.0, threshold=6.0, spike_gap=1800)
    K.with_slots(st, 300)  # 5-minute steps: the memory's 288 points are a day
    F, N, P, Q = st["F"], st["N"], st["P"], st["Q"]
    hour = 3_600 * 10**9

    def seen(t: int, a: float) -> bool:
        return bool(K._spikes_seen(F, N, P, Q, 0, t, a))

    def spike(t: int, a: float, paged: bool) -> None:
        K._spike_learn(F, N, P, Q, 0, t, a)
        if paged:
            K._spike_paged(N, P, t)

    assert not seen(0, 12.0)  # nothing learned
    spike(0, 12.0, paged=True)
    assert seen(10 * 60 * 10**9, 11.0)  # ten minutes on: the same spike, no larger
    assert not seen(10 * 60 * 10**9, 30.0)  # ... unless over twice its peak
    assert not seen(6 * hour, 12.0)  # one incident does not make the next ordinary
    spike(6 * hour, 12.0, paged=True)
    assert seen(12 * hour, 12.0)  # two that paged do
    assert seen(12 * hour, 20.0) and not seen(12 * hour, 25.0)  # peaks >= a / 2 count
    K._spike_learn(F, N, P, Q, 0, 12 * hour, 5.0)  # under the threshold: no spike
    assert not seen(26 * hour, 12.0)  # the first has left the day: one paged spike is left
    spike(27 * hour, 12.0, paged=False)  # a spike that was ordinary (learned, not paged)
    assert seen(40 * hour, 12.0)  # counts on its own
    assert not seen(52 * hour, 12.0)  # a day after it, nothing is left


def test_rate_factor_holds_in_the_far_tail_and_refuses_bad_input() -> None:
    """The factor keeps the Gaussian crossing rate per day: checked against the tail itself
    (``erfc``) where it is representable, and still defined (no underflow) for thresholds
    far out, where the normal cdf rounds to 0."""
    import math

    from anomalert.detectors.default import rate_factor

    def tail(y: float) -> float:
        return math.erfc(y / math.sqrt(2.0))

    for step, z in [(300, 6.0), (15, 6.0), (3600, 4.0), (300, 9.0), (600, 12.0)]:
        zp = z * rate_factor(step, z)
        assert tail(zp) == pytest.approx(tail(z) * step / 60, rel=1e-9)
    far = [rate_factor(300, z) for z in (10.0, 20.0, 30.0, 40.0)]
    assert all(0.98 < f < 1.0 for f in far) and far == sorted(far)  # nearer 1 further out
    assert rate_factor(10, 40.0) > 1.0
    assert rate_factor(86_400 * 365, 1.0) == 0.0  # a chance per point or more: no threshold
    assert rate_factor(np.int64(300)) == rate_factor(300.0)  # NumPy numbers are numbers
    for bad in [dict(step_seconds=0), dict(step_seconds=-60), dict(z=0.0), dict(z=math.nan),
                dict(reference=math.inf), dict(step_seconds="300")]:
        args = {"step_seconds": 300, "z": 6.0, "reference": 60.0, **bad}
        with pytest.raises(ValueError, match="rate_factor"):
            rate_factor(**args)  # type: ignore[arg-type]


def _band(days: int = 3, step: str = "1min") -> pd.DataFrame:
    """A wide flat band (40 +- 8, uniform): a value a little outside it is only ~3.6 robust
    scales from the level, yet higher than anything the series has done."""
    idx = pd.date_range("2025-01-01", periods=days * 1440, freq=step, tz="UTC")
    values = 40 + 8 * np.random.default_rng(3).uniform(-1, 1, len(idx))
    return pd.DataFrame({"cpu": values}, index=idx)


def test_range_test_flags_a_value_beyond_the_week_and_says_so() -> None:
    frame = _band()
    det = Default().fit(frame.iloc[:2880])
    for ts, v in zip(frame.index[2880:2980], frame["cpu"].iloc[2880:2980], strict=True):
        assert det.score_one(ts, {"cpu": float(v)}) <= det.threshold_
        det.learn_one(ts, {"cpu": float(v)})
    ts = frame.index[2980]
    high = float(frame["cpu"].iloc[:2980].max())
    z, *_ = det.feature_z(int(ts.value), np.array([64.0]))
    exp = det.explain_one(ts, {"cpu": 64.0})
    assert exp.score > det.threshold_ and abs(z[0]) < det.threshold_  # z alone would not page
    top = exp.top
    assert top is not None and top.reference == "its 7-day high"
    assert top.baseline == pytest.approx(high) and top.deviation == pytest.approx((64 - high) / top.scale)
    assert "above its 7-day high" in exp.text()
    # news once: after it is learned, the same value is within the range
    det.learn_one(ts, {"cpu": 64.0})
    assert det.score_one(ts + pd.Timedelta("1min"), {"cpu": 64.0}) < det.threshold_
    # a value inside the band is explained against the usual baseline
    assert det.explain_one(ts + pd.Timedelta("1min"), {"cpu": 41.0}).top.reference is None


def test_range_test_waits_for_a_day_of_history() -> None:
    frame = _band(days=1)
    det = Default().fit(frame.iloc[:600])  # ten hours
    assert det.score_one(frame.index[600], {"cpu": 64.0}) < det.threshold_
    off = type("Off", (Default,), {"_range_hours": 0})().fit(frame.iloc[:600])
    assert det.score_one(frame.index[600], {"cpu": 64.0}) == off.score_one(frame.index[600], {"cpu": 64.0})


def test_range_cache_equals_a_scan_of_the_buckets() -> None:
    """The cached high / low of the current hour always equal a scan over the kept buckets,
    through gaps longer than the whole window too."""
    st = K.new_state(
        2, level_window=7, window=7, trail_window=7, dev_window=7, memory=5, min_periods=2,
        smooth=1, history=3, period=0, use_recent=True, escape=3, guard=5.0, margin=1.15,
        threshold=6.0, range_buckets=6, range_bucket_seconds=60, range_span=2,
    )
    F, N, P = st["F"], st["N"], st["P"]
    rng = np.random.default_rng(7)
    t = 0
    for k in range(2000):
        t += int(rng.choice([10, 30, 61, 400])) * 1_000_000_000
        x = rng.normal(0, 1, 2)
        if k % 17 == 0:
            x[1] = np.nan
        K._range_learn(F, N, P, t, x)
        now = (t // 1_000_000_000) // 60
        for j in range(2):
            hi, lo = K._range_scan(F, N, P, j, now)
            cache = P[K.P_NOV_OFF] + 2 * 6 * 2
            assert (F[cache + j], F[cache + 2 + j]) == (hi, lo)


def test_a_paging_deviation_keeps_its_own_explanation() -> None:
    """The range test only scores where no deviation pages: a huge spike is still explained
    against its baseline, not against the week's high."""
    frame = _band()
    det = Default().fit(frame.iloc[:2880])
    exp = det.explain_one(frame.index[2880], {"cpu": 140.0})
    assert exp.top is not None and exp.top.reference is None
    assert exp.score == pytest.approx(abs(exp.top.deviation)) and exp.score > det.threshold_


def test_a_state_from_another_layout_is_refused_not_misread() -> None:
    """A detector pickled by another version (another kernel layout) does not load: reading
    its arrays with this layout would index past them. Same layout round-trips."""
    import pickle

    frame = _daily(2 * 288)
    det = Default().fit(frame)
    again = pickle.loads(pickle.dumps(det))
    nxt = frame.index[-1] + pd.Timedelta("5min")
    assert again.score_one(nxt, {"cpu": 50.0}) == det.score_one(nxt, {"cpu": 50.0})
    old = Default().fit(frame)
    del old.state_["V"]  # what session-2 states look like
    with pytest.raises(ValueError, match="kernel layout 0"):
        pickle.loads(pickle.dumps(old))
    old.state_["V"] = np.array([K.LAYOUT_VERSION + 1])
    with pytest.raises(ValueError, match="refit the detector"):
        pickle.loads(pickle.dumps(old))


def _weekday_weekend(days: int, seed: int = 0) -> pd.DataFrame:
    """A daily cycle whose weekends run at half the level (1-minute steps)."""
    idx = pd.date_range("2025-01-06", periods=days * 1440, freq="1min", tz="UTC")  # a Monday
    rng = np.random.default_rng(seed)
    level = np.where(idx.day_of_week >= 5, 25.0, 50.0)
    values = level + 10 * np.sin(2 * np.pi * np.arange(len(idx)) / 1440) + rng.normal(0, 1, len(idx))
    return pd.DataFrame({"cpu": values}, index=idx)


def test_a_weekly_cycle_found_while_running_moves_the_model_to_a_week() -> None:
    """Fitted on two days (a daily model), default finds the weekend from its hourly history
    after two weeks and switches to a weekly model; the batch and streaming paths switch at
    the same point and agree bit for bit; a Saturday then scores as ordinary."""
    frame = _weekday_weekend(22)
    det = Default().fit(frame.iloc[:2880])
    assert det.period_seconds_ == 86_400
    batch = det.score(frame.iloc[2880:])
    stream = det.clone().fit(frame.iloc[:2880])
    seen = []
    for ts, v in zip(frame.index[2880:], frame["cpu"].iloc[2880:], strict=True):
        seen.append(stream.score_one(ts, {"cpu": float(v)}))
        stream.learn_one(ts, {"cpu": float(v)})
    assert np.array_equal(batch.to_numpy(), np.asarray(seen), equal_nan=True)
    assert stream.period_seconds_ == 7 * 86_400
    assert stream.state_["S"].shape[0] == 7 * 1440  # a slot per minute of the week
    saturday = frame.index[-1].normalize() + pd.Timedelta(days=(5 - frame.index[-1].day_of_week) % 7, hours=12)
    v = 25 + 10 * np.sin(2 * np.pi * ((saturday - frame.index[0]) // pd.Timedelta("1min")) / 1440)
    assert stream.score_one(saturday, {"cpu": float(v)}) < stream.threshold_


def test_a_daily_series_stays_daily() -> None:
    frame = _daily(22 * 288)  # 5-minute steps, no weekly pattern
    det = Default().fit(frame.iloc[:576])
    det.score(frame.iloc[576:])
    for ts, v in zip(frame.index[576:], frame["cpu"].iloc[576:], strict=True):
        det.learn_one(ts, {"cpu": float(v)})
    assert det.period_seconds_ == 86_400
    fixed = Default(period="day").fit(frame.iloc[:576])
    assert fixed.state_["P"][K.P_WEEK_H] == 0  # only period="auto" looks for a week


def test_a_nightly_job_stops_paging_but_a_spike_at_another_hour_does_not() -> None:
    """A 5-minute spike near 03:00 every night pages on the first two nights and then is
    routine (isolated, short, at the same time of day on each of the last two days); the
    same spike at 15:00 still pages, and so does a night's spike with recurrence off."""
    from anomalert.detection import detect

    days = 8
    idx = pd.date_range("2025-01-01", periods=days * 1440, freq="1min", tz="UTC")
    rng = np.random.default_rng(11)
    values = 40 + rng.normal(0, 2, len(idx))
    for d in range(2, days):
        at = d * 1440 + 180 + int(rng.integers(-10, 11))  # 03:00 give or take 10 minutes
        values[at:at + 5] += 40
    afternoon = 6 * 1440 + 900
    values[afternoon:afternoon + 5] += 40
    frame = pd.DataFrame({"cpu": values}, index=idx)
    on = detect(Default(), frame, train_until=idx[2 * 1440])
    off = detect(type("NoRecurrence", (Default,), {"_recur_days": 0})(), frame,
                 train_until=idx[2 * 1440])
    nights = sorted({i.start.day for i in on.incidents if i.start.hour in (2, 3)})
    assert nights == [3, 4]  # the first two nights page, the rest are routine
    assert any(i.start.hour == 15 for i in on.incidents)
    assert len([i for i in off.incidents if i.start.hour in (2, 3)]) == days - 2



def _idle_cpu_with_a_nightly_job(blips: bool, days: int = 10) -> pd.DataFrame:
    """An idle CPU at 5-minute steps (0.134, a step away 0.132, and 0.066 a fifth of the
    time) with a job of ~1.5 at 03:00 give or take 10 minutes every night; with ``blips`` it
    also reads 0.2 now and then, and 45 minutes before and after each job."""
    idx = pd.date_range("2025-01-01", periods=days * 288, freq="5min", tz="UTC")
    rng = np.random.default_rng(3)
    if blips:
        values = rng.choice([0.134, 0.132, 0.066, 0.2], p=[0.5, 0.25, 0.2, 0.05], size=len(idx))
    else:
        values = rng.choice([0.134, 0.132, 0.066], p=[0.55, 0.25, 0.2], size=len(idx))
    for d in range(1, days):
        at = d * 288 + 36 + int(rng.integers(-2, 3))
        values[at] = 1.4 + 0.2 * rng.random()
        if blips:
            values[at - 9] = values[at + 9] = 0.2
    return pd.DataFrame({"cpu": values}, index=idx)


def _paging_nights(frame: pd.DataFrame) -> int:
    """Incidents ``default`` opens between 02:00 and 04:00 after two days of training."""
    from anomalert.detection import detect

    start = frame.index[2 * 288]
    d = detect(Default(), frame, train_until=start)
    return len([i for i in d.incidents if i.start >= start and i.start.hour in (2, 3)])


def test_a_nightly_job_on_an_idle_quantised_cpu_becomes_routine_despite_its_dips() -> None:
    """An idle CPU (0.134, a step away, and 0.066 a fifth of the time: each dip dozens of its
    tiny scales) with a job at 03:00 every night. The dips go the other way: they neither
    break the calm around the job's spike nor cancel its record, so the job becomes routine.
    (When any loud point broke the calm, 6 of the 8 monitored nights paged.)"""
    assert _paging_nights(_idle_cpu_with_a_nightly_job(blips=False)) <= 2


def test_a_nightly_job_becomes_routine_despite_small_blips_the_same_way() -> None:
    """The idle CPU above also reads 0.2 now and then: blips the same way as its nightly
    job's spike of ~1.5, tens of its tiny scales but a twentieth of the job's height. The
    calm around a spike is relative to the spike, so they do not spoil the job's record and
    the job becomes routine. (With an absolute calm, any blip within an hour of the job
    cancelled its record and 6 of the 8 monitored nights paged.)"""
    assert _paging_nights(_idle_cpu_with_a_nightly_job(blips=True)) <= 2


def test_a_metric_in_steps_keeps_a_scale_of_at_least_one_step() -> None:
    """An idle CPU reported in steps of 0.002 sits on one value most of the time: its robust
    spreads are nothing, and its scale used to shrink day by day until the nightly job was
    thousands of scales (so the routine rule, which compares sizes, lost it; here 0.0008
    after ten days). Once its values are seen to move in whole steps, a deviation's scale
    is at least one step. A metric with continuous values gets no such floor."""
    days = 10
    idx = pd.date_range("2025-01-01", periods=days * 288, freq="5min", tz="UTC")
    rng = np.random.default_rng(7)
    values = rng.choice([0.134, 0.132, 0.136, 0.066], p=[0.8, 0.1, 0.05, 0.05], size=len(idx))
    frame = pd.DataFrame({"cpu": values}, index=idx)
    det = Default().fit(frame.iloc[:288])
    for ts, v in zip(idx[288:], values[288:], strict=True):
        det.learn_one(ts, {"cpu": float(v)})
    st = det.state_
    assert K._step_floor(st["F"], st["N"], st["P"], 0) == pytest.approx(0.002)
    t = int((idx[-1] + pd.Timedelta("5min")).value)
    z, b, s, _ = det.feature_z(t, np.array([0.134]))
    assert s[0] >= 0.002 * (1 - 1e-9)
    assert s[0] < 0.0021  # one step, not the day's spread of the 0.066 dips
    z, b, s, _ = det.feature_z(t, np.array([1.5]))  # a job's spike: hundreds of scales,
    assert det.threshold_ < z[0] <= (1.5 - b[0]) / 0.002 * (1 + 1e-9)  # not thousands
    smooth = pd.DataFrame({"cpu": 40 + rng.normal(0, 1, len(idx))}, index=idx)
    det = Default().fit(smooth.iloc[: 2 * 288])
    assert K._step_floor(det.state_["F"], det.state_["N"], det.state_["P"], 0) == 0.0


def test_a_sparse_count_is_measured_in_whole_counts() -> None:
    """Errors per minute, almost always 0: the spreads are nothing, and 3 errors used to
    score a billion sigmas. Counts move in steps of 1, so the scale is at least 1: 3 errors
    are 3 scales (no page), 5 page at the threshold's edge, 10 are 10."""
    idx = pd.date_range("2025-01-01", periods=4 * 1440, freq="1min", tz="UTC")
    v = np.random.default_rng(3).poisson(0.05, len(idx)).astype(float)
    det = Default().fit(pd.DataFrame({"errors": v[:1440]}, index=idx[:1440]))
    for ts, x in zip(idx[1440:], v[1440:], strict=True):
        det.learn_one(ts, {"errors": float(x)})
    t = idx[-1] + pd.Timedelta("1min")
    assert det.score_one(t, {"errors": 3.0}) < det.threshold_
    assert det.threshold_ < det.score_one(t, {"errors": 5.0}) < 10
    assert det.score_one(t, {"errors": 10.0}) == pytest.approx(10.0, abs=0.5)


def test_a_series_that_pages_all_day_learns_what_it_flags() -> None:
    """An idle, quantised CPU (one value, a neighbour a step away, a lower one a fifth of
    the time: each step dozens of its tiny robust scales) under the Monitor's default policy:
    flagged points are not learned, so without the flapping rule every dip pages, all day.
    With it, once runs start at six a day the flagged points are learned and the paging
    stops within the first monitored day."""
    from anomalert.detection import detect

    days = 6
    idx = pd.date_range("2025-01-01", periods=days * 288, freq="5min", tz="UTC")
    rng = np.random.default_rng(5)
    values = rng.choice([0.134, 0.132, 0.066, 0.2], p=[0.5, 0.25, 0.2, 0.05], size=len(idx))
    frame = pd.DataFrame({"cpu": values}, index=idx)
    start = idx[2 * 288]
    # no cooldown: each flagged run its own incident (the default hour's cooldown would merge
    # an all-day flicker into one incident and hide what the rule changes)
    policy = AlertPolicy(cooldown=0)
    on = detect(Default(), frame, train_until=start, policy=policy)
    # without it (nor the daily-rhythm rule, which learns the dips once they have been
    # flagged in the same quarter-hour on two days: see the next assertion)
    off = detect(type("NoFlap", (Default,), {"_flap_runs": 0, "_recur_days": 0})(), frame,
                 train_until=start, policy=policy)
    after = [i for i in off.incidents if i.start >= start]
    assert len(after) > 15 * (days - 2)  # without the rule: every few dips, all day long
    daily = detect(type("NoFlap", (Default,), {"_flap_runs": 0})(), frame, train_until=start,
                   policy=policy)
    by_rhythm = [i for i in daily.incidents if i.start >= start]
    assert len(by_rhythm) <= 10 and all(i.start < start + pd.Timedelta("1D") for i in by_rhythm)
    after = [i for i in on.incidents if i.start >= start]
    assert len(after) <= 2 and all(i.start < start + pd.Timedelta("1D") for i in after)
    # the test is off while training: the window learns only what it finds ordinary
    fitted = Default().fit(frame.iloc[: 2 * 288])
    assert K.flapping(fitted.state_["F"], fitted.state_["N"], fitted.state_["P"],
                      fitted.state_["Q"], int(start.value))


@pytest.mark.parametrize("hi", [5.0, 40.0, 1e3, 1e6, 1e9])
def test_as_sigma_inverts_the_gaussian_tail_however_far_out(hi: float) -> None:
    """The context test turns a chi-square tail into a Gaussian |z| by Newton's method; far
    out (a metric that never varied gives deviations of 1e9) the slope's closed form lost
    all precision to cancellation and reached 0: ZeroDivisionError inside the compiled loop,
    `anomalert detect` crashed on a healthy access log (5xx count zero most minutes)."""
    for z in (3.0, 30.0, 300.0, 0.9 * hi):
        if z > hi:
            continue
        lp = K._log_erfc(z / math.sqrt(2.0))
        got = K._as_sigma(lp, hi)
        assert math.isfinite(got) and abs(got - z) <= 1e-9 * z


def test_a_sparse_error_count_pages_on_its_burst_not_on_every_single_error() -> None:
    """A count that is 0 most minutes: its learned windows hold no spread, so each lone error
    was 'no usual spread' and scored 1e9 (nine pages in two days, one per error); once its
    changes are seen to be whole numbers of one step, one error is one step."""
    rng = np.random.default_rng(0)
    n = 2880
    idx = pd.date_range("2025-01-01", periods=n, freq="1min", tz="UTC")
    errors = np.zeros(n)
    errors[rng.choice(n - 200, 20, replace=False)] = 1.0
    errors[2400:2420] = 25.0  # the burst
    frame = pd.DataFrame({"cpu": 40 + rng.normal(0, 2, n), "errors": errors}, index=idx)
    from anomalert.detection import detect

    d = detect("default", frame)
    assert any(i.start <= idx[2400] <= i.end for i in d.incidents)
    assert len(d.incidents) <= 3  # the burst, and lone errors before four changes are seen
