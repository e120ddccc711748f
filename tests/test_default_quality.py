"""Quality behaviour of ``default`` that the NAB figures in benchmarks/quality.md rely on."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from anomalert.detectors import Default
from anomalert.detectors import _kernel as K
from anomalert.evaluation.nab_run import NAB_POLICY
from anomalert.monitor import Monitor


def _series(n: int = 1200) -> pd.DataFrame:
    idx = pd.date_range("2025-01-01", periods=n, freq="5min", tz="UTC")
    values = 10 + np.random.default_rng(0).normal(0, 0.5, n)
    return pd.DataFrame({"value": values}, index=idx)


def _spikes_fired(spikes: set[int], frame: pd.DataFrame | None = None) -> list[int]:
    """Rows (from 600, 5-minute steps) where ``default``, learning every point as NAB runs
    do, flags a series with a spike to 30 at each of ``spikes``."""
    frame = _series() if frame is None else frame
    det = Default().fit(frame.iloc[:600])
    monitor = Monitor(det, NAB_POLICY)
    fired = []
    for i in range(600, len(frame)):
        value = 30.0 if i in spikes else float(frame["value"].iloc[i])
        if monitor.check(frame.index[i], {"value": value}).is_anomalous:
            fired.append(i)
    return fired


def test_a_learned_spike_stops_paging_once_it_is_a_pattern() -> None:
    """Equal spikes 6 hours apart: the first pages, and so does the second (one incident
    does not make the next like it ordinary); the third is "seen before" (two that paged,
    within a day) and does not page. Twenty hours later a fourth is still seen before: the
    third did not page, and a spike that was ordinary already makes the next like it
    ordinary on its own, though the two that paged are more than a day old by then."""
    assert _spikes_fired({600, 672, 744, 984}) == [600, 672]


def test_a_second_incident_later_the_same_day_pages() -> None:
    """Two equal spikes 10 hours apart both page: a day's memory that holds one incident
    does not silence the next (a third, two hours on, is seen before)."""
    assert _spikes_fired({600, 720, 744}) == [600, 720]


def test_unlearned_incident_keeps_scoring() -> None:
    """Under the Monitor's protection an ongoing incident is never 'seen before'."""
    frame = _series()
    det = Default().fit(frame.iloc[:600])
    monitor = Monitor(det)
    flags = [
        monitor.check(frame.index[i], {"value": 30.0}).is_anomalous for i in range(600, 630)
    ]
    assert all(flags)


def _business_hours(days: int = 8) -> pd.DataFrame:
    """20 +- 1 at night, 80 +- 1 from 09:00 to 18:00, every day (5-minute steps): a sharp
    daily rhythm, such as a batch window or a service scaled up for business hours."""
    idx = pd.date_range("2025-01-06", periods=days * 288, freq="5min", tz="UTC")
    hour = idx.hour
    level = np.where((hour >= 9) & (hour < 18), 80.0, 20.0)
    values = level + np.random.default_rng(3).normal(0, 1, len(idx))
    return pd.DataFrame({"value": values}, index=idx)


def test_a_daily_rhythm_flagged_from_the_start_is_learned_and_stops_paging() -> None:
    """Trained on two days whose business hours it flagged (no seasonal model yet), the
    Monitor's default policy used never to learn them -- flagged points are not learned --
    and paged from 09:00 to 18:00 every day. A point flagged in the same quarter-hour on
    each of the last two days is the series' rhythm: it is learned, and a flagged run that
    would start there is no news (it used to page the first monitored morning, and the
    shift test "value has shifted" at 11:05 until it knew the plateau as the rhythm). The
    rhythm hides nothing once learned: a spike in business hours on day 6 pages."""
    from anomalert.detection import detect

    frame = _business_hours(12)
    spike = 5 * 288 + 11 * 12  # day 6, 11:00
    frame.iloc[spike, 0] += 40.0
    start = frame.index[2 * 288]
    det = detect(Default(), frame, train_until=start)
    after = [i for i in det.incidents if i.start >= start]
    assert [i.start for i in after] == [frame.index[spike]]
    assert after[0].explanation.startswith("value=119.6 is ") and " above " in after[0].explanation
    # without the time-of-day memory (no routine rule, no daily rhythm) every morning pages,
    # all day
    blind = detect(type("NoRecur", (Default,), {"_recur_days": 0})(), frame, train_until=start)
    days = [i for i in blind.incidents if i.start >= start]
    assert len({i.start.normalize() for i in days}) == 10
    assert all(i.end - i.start > pd.Timedelta("8h") for i in days if i.start.day != 11)


def test_a_baseline_that_never_varied_is_explained_in_units_not_billions_of_sigma() -> None:
    """A metric that sits at exactly 0 between bursts has no usual spread: its scale is
    the kernel's floor (1e-9), and a burst of 0.15 used to read "154264463.5σ above
    baseline 0 (±1e-09)". The explanation gives the distance in the metric's units and
    says why there is no σ; a baseline that varies keeps its σ."""
    from anomalert.detectors.base import Contribution

    idx = pd.date_range("2025-01-01", periods=1200, freq="5min", tz="UTC")
    values = np.zeros(len(idx))
    values[1100] = 0.15
    frame = pd.DataFrame({"errors": values}, index=idx)
    det = Default().fit(frame.iloc[:1000])
    verdict = Monitor(det).check(idx[1100], {"errors": 0.15})
    assert verdict.is_anomalous
    assert "errors=0.15 is above baseline 0 by 0.15 (no usual spread" in verdict.explanation
    assert "σ above" not in verdict.explanation
    varied = Contribution("cpu", value=95.0, baseline=40.0, scale=6.1, deviation=9.0)
    assert varied.text() == "cpu=95 is 9.0σ above baseline 40 (±6.1)"


def test_a_quiet_weekend_is_learned_once_it_has_come_twice() -> None:
    """Requests at 40 % on weekends, trained on three weekdays: Saturdays are flagged, so
    under the Monitor's default policy never learned, and every Saturday used to page all
    day. Flagged in the same quarter-hour on the same weekday two weeks running is a rhythm
    too: the first two Saturdays page all day, then nothing (the third Saturday's first
    point paged while the rhythm was learned but still paged; the second Saturday after the
    move to a week paged while the move's stand-in stayed two weeks; the Monday after paged
    a point while its first minutes had one week of values to Sunday's two, until each
    neighbour of a slot weighed the same)."""
    from anomalert.detection import detect

    idx = pd.date_range("2025-01-06", periods=35 * 288, freq="5min", tz="UTC")  # a Monday
    day = 50 + 15 * np.sin((idx.hour + idx.minute / 60 - 6) / 24 * 2 * np.pi)
    weekend = np.where(idx.day_of_week >= 5, 0.4, 1.0)
    noise = np.random.default_rng(4).normal(0, 2, len(idx))
    frame = pd.DataFrame({"requests": day * weekend + noise}, index=idx)
    start = idx[3 * 288]
    after = [i for i in detect(Default(), frame, train_until=start).incidents if i.start >= start]
    long = [i for i in after if i.end - i.start > pd.Timedelta("1h")]
    assert [i.start.strftime("%a %d") for i in long] == ["Sat 11", "Sat 18"]
    assert [i for i in after if i not in long] == []


def _deploy_frame() -> pd.DataFrame:
    """1-minute CPU at 30 +- 1 for two weeks, 15 higher for good from day 8 (a deploy)."""
    idx = pd.date_range("2025-01-06", periods=14 * 1440, freq="1min", tz="UTC")
    cpu = 30 + np.random.default_rng(9).normal(0, 1, len(idx))
    return pd.DataFrame({"cpu": cpu + np.where(idx >= idx[8 * 1440], 15.0, 0.0)}, index=idx)


def test_a_lasting_level_change_is_not_counted_twice_when_the_shape_catches_up() -> None:
    """The change pages when it happens. Days later most of the days the seasonal shape
    remembers have the new level; a shape of raw values flipped to it then, while the levels
    still carried the change they had learned, and "cpu=43.3 is 12.8σ below baseline 57.57"
    paged twice on day 12. The slots keep values net of the level, so nothing pages once
    the new level is learned. Nor does the shift test page the same change again when the
    Monitor learns it as the new normal, a day on ("cpu has shifted: its mean 45.08 is 7.0σ
    above the 7-day high of its 2-hour means 36.86" paged for three hours on day 9: its
    history held the incident's means, each held near the old baseline)."""
    from anomalert.detection import detect

    frame = _deploy_frame()
    idx = frame.index
    after = [i for i in detect(Default(), frame, train_until=idx[2 * 1440]).incidents
             if i.start >= idx[2 * 1440]]
    assert [i.start for i in after] == [idx[8 * 1440]]
    assert "above baseline" in after[0].explanation


def test_moving_to_a_week_does_not_count_the_weekend_twice(monkeypatch: Any) -> None:
    """Requests at 40 % on weekends, every point learned: the daily model carries the weekend
    as a lower level, then finds the weekly cycle and moves to a week (on a Monday at
    00:01), whose shape holds the weekend itself. The level windows move by the shape's
    change over the times they come from, so Monday's first point is measured against
    Monday (35); they used to stay a weekend's drop lower, and the baseline with them (14)."""
    from anomalert.detectors._compiled import CompiledBaseline

    idx = pd.date_range("2025-01-06", periods=15 * 1440, freq="1min", tz="UTC")  # a Monday
    day = 50 + 15 * np.sin((idx.hour + idx.minute / 60 - 6) / 24 * 2 * np.pi)
    weekend = np.where(idx.day_of_week >= 5, 0.4, 1.0)
    values = day * weekend + np.random.default_rng(4).normal(0, 2, len(idx))
    frame = pd.DataFrame({"requests": values}, index=idx)
    seen: list[tuple[pd.Timestamp, float, float, float]] = []
    switch = CompiledBaseline._switch_to_week

    def spy(self: CompiledBaseline) -> None:
        switch(self)
        t = int(self.state_["N"][self.state_["P"][K.P_LAST_T]]) + 60 * 10**9  # the next point
        ts = pd.Timestamp(t, tz="UTC")
        x = np.array([float(frame["requests"].loc[ts])])
        _, b, s, _ = self.feature_z(t, x)
        seen.append((ts, float(x[0]), float(b[0]), float(s[0])))

    monkeypatch.setattr(CompiledBaseline, "_switch_to_week", spy)
    det = Default().fit(frame.iloc[: 3 * 1440])
    monitor = Monitor(det, NAB_POLICY)
    for ts, v in frame["requests"].iloc[3 * 1440:].items():
        monitor.check(ts, {"requests": float(v)})
    assert det.period_seconds_ == 7 * 86_400 and len(seen) == 1
    ts, value, baseline, scale = seen[0]
    assert ts.day_name() == "Monday" and ts.hour == 0
    assert abs(value - baseline) < 2 * scale


def test_white_noise_pages_nothing() -> None:
    """Ten days of white noise at 5-minute steps (trained on the first day): nothing
    pages. The shift test used to page twice in the first two monitored days ("x has
    shifted: its mean 0.5543 is 3.1σ above the 7-day high of its 2-hour means 0.2369"),
    comparing two-hour means with the high of a single day of them."""
    from anomalert.detection import detect

    idx = pd.date_range("2025-01-06", periods=3000, freq="5min", tz="UTC")
    frame = pd.DataFrame({"x": np.random.default_rng(1).normal(0, 1, len(idx))}, index=idx)
    assert detect(Default(), frame).incidents == []


def test_a_rhythm_keeps_its_own_size_from_paging_not_an_incident_far_past_it() -> None:
    """A nightly batch window (80 from 01:00 to 03:00 over 30, trained on two days that
    flagged it) is the series' rhythm on the first monitored night: a run that starts in it
    is no news while it is no more than twice the rhythm's size there (the "seen before"
    margin). A spike to 1000 inside the window that night is far past it and pages at
    once (with no size, the rule used to keep it quiet too)."""
    from anomalert.detection import detect

    idx = pd.date_range("2025-01-06", periods=5 * 1440, freq="1min", tz="UTC")
    rng = np.random.default_rng(9)
    base = 30 + rng.normal(0, 1, len(idx))
    values = np.where((idx.hour >= 1) & (idx.hour < 3), 80.0 + rng.normal(0, 1, len(idx)), base)
    start = idx[2 * 1440]
    quiet = detect(Default(), pd.DataFrame({"cpu": values}, index=idx), train_until=start)
    assert [i for i in quiet.incidents if i.start >= start] == []
    at = 2 * 1440 + 120  # the first monitored night, 02:00
    values[at : at + 5] = 1000.0
    d = detect(Default(), pd.DataFrame({"cpu": values}, index=idx), train_until=start)
    after = [i for i in d.incidents if i.start >= start]
    assert [i.start for i in after] == [idx[at]]
    assert after[0].explanation.startswith("cpu=1,000 is ")
