"""``default``: the detector we recommend. Multi-metric, no labels, label-free threshold.

Every feature is compared with two baselines at once: its seasonal baseline (what it does
at this time of day or week, see :class:`~anomalert.detectors.seasonal.Seasonal`) and its
recent level: the median of its last ``window`` learned values measured from the seasonal
shape (so the recent level follows the day's curve instead of freezing where it was an hour
ago), or of the raw values before a full cycle is known. Its spread is the larger of the
window's robust spread and that of the last day's deviations from the recent level (one
window's spread is a noisy estimate). A feature is only as anomalous as the *smaller* of the
two deviations: a daily peak is expected by the seasonal baseline, a level that has held for
the last hour is expected by the recent one, and a real spike or drop surprises both. A
metric reported in steps (CloudWatch's CPU in 0.002 %, counts in 1), once its values are
seen to move in whole steps (30 changes since its smallest, 9 in 10 of them whole numbers of
it), has a scale of at least one step: otherwise an idle host that sits on one value has a
spread of nothing, and its scale shrinks with every quiet day. The
point's score is the largest feature score, so the explanation names the metric that moved,
its baseline and the size of the move. Load-balancer frames are scored on error *rates* (see
:mod:`anomalert.features`).

A deviation is news only until it is a pattern: each feature keeps the sizes ``|z|`` of its
learned deviations of the last day (``memory``). Under the threshold, a point whose deviation
is no larger than one already learned scores 0 for that feature. Over it, the memory is one of
*spikes* (learned deviations over the threshold, a spike ending after 30 minutes without
one), and a deviation is "seen before" when a spike of the last day as large as
``max(threshold, |z| / 2)`` makes it ordinary: its own spike (a later, no larger point of a
spike already under way), one earlier spike that did not page (it was ordinary already), or
two that paged. One incident does not make the next like it ordinary: a second, hours later
the same day, pages; a third does not; a spike must double to page again. A spike that recurs
every few hours, or the second hour of a level shift the detector already learned from, does
not page again; under the Monitor's protection (flagged points are not learned) an ongoing
incident keeps scoring, because its deviations never enter the memory. In a flapping series
(below) a spike that paged counts as one that did not.

Range: where no deviation pages, a value beyond everything the feature did over the last
week (hourly buckets of learned values, once a day of them exists) by more than one scale
scores 0.8x the threshold plus its distance beyond, in scales, less one; so one more than
~2.2 scales past the week's high or low pages even when the level's spread is wide (a busy
series' new record). Its explanation names the edge it passed ("cpu=64 is 2.4σ above its
7-day high 48"). Like deviations, an excess is news once: a learned excess covers later ones
up to its score for a day, and up to twice its score when it paged.

Routine spikes: a spike (over the threshold for at most 30 minutes, with an hour of calm
before and after: nothing in its direction half its height or more, so an idle host's dips
and small blips do not spoil its nightly job's spike) is remembered at its time of day,
whether or not it paged. A spike within an hour of the time of day of such spikes on each of
the last two days, and no more than twice their size, is routine -- a nightly job -- and
scores 0 (nor does it count for the range test or make the rest of the day quiet). It pages
on the first two nights, then not; a spike at another hour, or twice the usual size, still
pages.

Noise (a variance change): where no deviation and no range pages, a feature that moves more
from one point to the next than it has for a week pages. Its mean change per point over the
last two hours (each change in units of its usual change -- the robust spread of every fourth
of the last 1440 changes -- and capped at 3 of them, so one spike counts little) is compared
with the highest such two-hour mean of the last week's hours (leaving out the last three,
which the window overlaps). It scores the threshold times the ratio over 1.5 once the window
is the noisiest yet, so it pages at 1.5x the week's noisiest two hours: flapping inside a
band that no single value leaves is seen, a level shift (one large change) is not. A second
window of four hours does the same against the week's noisiest four hours: bursts that come
more often than they used to (a spike every hour where there was one a day) show over hours,
where two hours hold one burst or none. Each window needs four points (a step of 30 minutes
at most for the short one, an hour for the long one, which an hourly series keeps alone; the
drift test below needs four in an hour, 15 minutes at most). The test waits for a day of
history, follows every point (flagged or not, so a noisier regime becomes history, and stops
paging, once it is older than the window plus an hour), and keeps quiet for a window's span
after a deviation or the range paged (an incident's turmoil is the incident's). The
explanation gives the feature's noise in its own units: "cpu is noisy: it moves 3.8 per
point on average, 2.3x its 7-day high 1.63".

Drift (a slow leak, a filling disk): where nothing else pages, a feature whose hours keep
moving the same way, day after day, pages. Each feature keeps hourly means over the last
week, following every point; each of the last 48 complete hours is compared with the same
hour a day earlier, in units of the robust spread of such day-over-day changes over the older
hours. When three in four of them moved the same way by more than 3 of those units, it pages
(the score is the threshold times the quarter-quantile over 3). A daily cycle cancels out, a
level shift never moves three in four of those hours, and a drift is found after about two
days of it. "mem is drifting up: day over day, 3 in 4 hours moved more than 3.4x its usual
change 0.223, from its level 2 days before 50.02 (mem=45.34 now)". Each of the range, noise,
drift, shift and flat tests is also a detector of its own (:mod:`.range`, :mod:`.noise`,
:mod:`.drift`, :mod:`.shift`, :mod:`.flat`).

Shift (a sustained level shift): where nothing else pages, a feature whose mean over the
last two hours sits beyond every two-hour mean of its week pages. Each point joins the window
(ten-minute parts) counting at most the threshold's worth of scales from its baseline, so a
spike seen before does not lift the mean; the week's window means are kept in hourly buckets
(high, low, count, mean, spread), leaving out the last three hours, whose windows overlap the
current one. Once two days of them exist (with one, white noise paged: the high of a day's
means is a poor edge), a mean beyond their high or low by more than one scale
(the larger of the robust spread of the buckets' means and half the standard deviation of all
of them) scores 0.8x the threshold plus its distance beyond, in scales, less one, as the range
test does. It follows every point, keeps quiet for two hours after another test paged (a
spike's mean is the spike's), and is news once a day like the rest; a new level becomes
history, and stops paging, three hours on. When the Monitor learns flagged points as the
new normal (an incident that lasted its policy's ``relearn_after``) or as the series'
rhythm (a plateau flagged at the same time on the last two days), the test keeps quiet
until that level is history too: the change paged already, and its means, each held near
the old baseline, would make it page again. A window needs four points: an hourly series gets a
four-hour window, a coarser one is not tested. It finds what no single point shows -- a
metric that moved by a fraction of its noise and stayed there: "cpu has shifted: its mean
41.46 is 3.5σ above the 7-day high of its 2-hour means 40.68 (±0.221)". On the 17 NAB files
it raises the score at `default`'s own threshold from 60.9 to 68.6 (``benchmarks/quality.md``).

Flat (a metric that stops moving): where nothing else pages, a feature whose range (high -
low) over the last 26 hours is more than 5 times narrower than the narrowest 24 hours of its
week pages: a job that stopped running, traffic that died, a value stuck. (26, not 24: a
24-hour window that ends between yesterday's nightly job and today's, run a little later,
holds neither and looks flat.) Hourly buckets keep
every point's high, low and count; one window ends at each hour, measured once, and the
history's windows leave out those overlapping the current one (48 of them are needed, so the
test starts after about three days). It scores the threshold times the ratio over 5 (a range
of nothing counts as 100 times), is news once a day, and a flat day becomes history a day
later. A series whose narrowest day was already constant is not tested, and a day without
data is not flat. "jobs has gone flat: it moved 2.786 (high - low) over the window, 11.4x
less than the narrowest 24 hours of its 7-day history 31.86" (a job of +30 every three hours
that stopped; its first missed run paged a day before, as a drop from the seasonal shape,
which holds the job's runs. A value that sticks pages as flat alone: ``tests/test_flat.py``;
see :mod:`.flat`).

Sustained (a moderate deviation that lasts): where nothing else pages, a feature whose
deviations from its seasonal baseline at the level of its last 1440 points (a day at
1-minute steps, which a level that moved an hour ago has hardly joined) stay one way pages.
Those deviations, each counting at most 3 scales, are averaged exponentially in time over
30 minutes; the average's usual spread is the root of its long-run mean square (two days of
points nothing flagged, an average past two spreads counting as two), and never less than
an average of independent deviations would have. An average more than 9 of those spreads
from zero scores the threshold plus the excess, once a day has been followed, when the
point's own deviation (the smaller one above) is a scale or more that way; it keeps quiet
for an hour after another test paged and is news once like the rest. A daily curve hides a
level change from the shift test; this one sees it against the time of day: traffic 30 %
under its usual for half an hour, on a series whose noise is 10 % of its level, pages
within the half hour, though no point is a spike and the recent level takes the change in
within the hour: "requests has stayed below its baseline: 1017 on average over about the
last 30 minutes, 10.7σ below its usual 1241 for the time (±21)" (``tests/test_sustained.py``;
see :mod:`.sustained`). At 5-minute steps half an hour holds six points, and it rarely
pages there (no NAB score moved).

Context (several metrics): where no single deviation pages, metrics that break how they
usually move together page. Each feature's deviation (the one above, clipped at 3) feeds
correlations over about a day of learned points, once the seasonal shape exists; a point
scores the Mahalanobis distance of its deviations under them (correlations times 0.97), as
the ``|z|`` of one Gaussian deviation as unlikely (a chi-square with one degree of freedom
per feature), news once like the rest. CPU three of its usual moves up while the requests
stay where they were is far more unusual than either says alone: "cpu=56.72 is 8.9σ above
what requests=98.83 implies 49.54 (±0.807)". It is the detector :mod:`.context` alone; a
frame of one metric never has it.

Flapping: under the Monitor's protection flagged points are not learned, so a series whose
normal includes values the baselines never saw (an idle CPU that sits at 0.134 and drops to
0.066 a fifth of the time: each drop is 40 of its tiny robust scales) would page all day. When
flagged runs (flags less than ten minutes apart count as one run) have started at six or more
a day, counted with a day's exponential decay, the series is *flapping*: its flagged points are
learned like any other, whatever the alert policy, so the baselines, the spread and the
"seen before" memory take them in and the paging stops. The training window never learns that
way (it learns only what it finds ordinary); its runs are counted all the same.

Rhythm: for the same reason a sharp daily rhythm that the first days flagged -- 20 at night
and 80 from 09:00 to 18:00, a batch window -- was never learned (the seasonal model learns
only what is not flagged, and nine hours never reach the Monitor's relearning after a day),
so it paged every morning; a quiet weekend paged every Saturday. A point flagged in the same
quarter-hour of the day on each of the last two days, or on the same weekday each of the last
two weeks, is the series' rhythm: it is learned whatever the alert policy, and a flagged
run that would start there, scoring no more than twice what the rhythm scored there (the
"seen before" margin), is no news (it scores 0: a plateau the training days flagged does
not page the first monitored morning; a quiet weekend pages the first two Saturdays, then
not). A run that started elsewhere and goes on into those hours pages as before, and so
does an incident far past the rhythm (a spike to 1000 in a nightly window at 80). The
same quarter-hour, not the routine rule's hour either side, and two weeks,
not one: incidents near the same hour on three days running, or in the same quarter-hour a
week apart, are rare, but not that rare (realistic 21-day scenarios have both).

Guard: a feature's recent level, and the seasonal model's level, learn a value only where
the seasonal baseline finds it ordinary (seasonal ``|z|`` below 5), unless the feature has
been unusual for 60 learned points in a row (then it is the new normal). The sub-threshold
minutes of a level shift do not become the level, so they neither hide the rest of the shift
nor make its end page.

The model runs compiled (:mod:`anomalert.detectors._kernel`, shared with ``seasonal``): one
point costs a few microseconds, and the batch path is one compiled loop that gives exactly
the streaming path's scores.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=600, freq="1min", tz="UTC")
>>> rng = np.random.default_rng(1)
>>> frame = pd.DataFrame({"cpu": 40 + rng.normal(0, 2, 600)}, index=idx)
>>> det = Default().fit(frame)
>>> exp = det.explain_one(idx[-1] + pd.Timedelta("1min"), {"cpu": 90.0})
>>> exp.score > det.threshold_, exp.top.metric
(True, 'cpu')
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar

import numpy as np

from anomalert.detectors._compiled import CompiledBaseline, K
from anomalert.detectors.base import Interval, Options, calibrate_threshold
from anomalert.features import FEATURE_SETS

__all__ = ["Default", "rate_factor"]

_SQRT2 = math.sqrt(2.0)

#: The tests ``default`` combines; a piece of it (:mod:`.range`, :mod:`.noise`, ...) names in
#: ``_tests`` the ones it runs, and the others are off.
TESTS = ("deviations", "range", "noise", "drift", "shift", "flat", "sustained", "context")

#: Points a test that averages over a span of time needs in it: each of the noise test's
#: windows (two and four hours), the drift test's hour. Coarser series go without it.
_MIN_POINTS = 4


def rate_factor(step_seconds: float, z: float = 6.0, reference: float = 60.0) -> float:
    """How much to scale a threshold ``z`` set for ``reference``-second steps at another step.

    A threshold bounds false alarms per unit of *time*, not per point: a series sampled
    every 15 s offers four times the chances a 1-minute one does, a 5-minute one a fifth.
    The factor keeps the rate at which pure Gaussian noise crosses the threshold per day the
    same: ``z'`` with ``P(|Z| > z') = P(|Z| > z) * step / reference``, divided by ``z``.
    The tail is computed on a log scale, so thresholds far out (12, 20) scale too; a rate
    that reaches one chance per point gives 0.

    Examples
    --------
    >>> round(rate_factor(60), 3), round(rate_factor(300), 3), round(rate_factor(15), 3)
    (1.0, 0.956, 1.037)
    >>> round(rate_factor(300, z=12), 3), round(rate_factor(3600, z=20), 3)
    (0.989, 0.99)
    """
    for name, value in (("step_seconds", step_seconds), ("z", z), ("reference", reference)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value > 0
        ):
            raise ValueError(f"rate_factor: {name} must be a finite number > 0, got {value!r}")
    if step_seconds == reference:
        return 1.0
    # log P(|Z| > z') must equal log P(|Z| > z) + log(step / reference)
    # log P(|Z| > y) = log erfc(y / sqrt 2), the kernel's (past erfc's underflow too)
    target = K._log_erfc(z / _SQRT2) + math.log(step_seconds / reference)
    if target >= 0.0:
        return 0.0
    y = z
    for _ in range(100):  # Newton on the log tail (concave, decreasing): a few steps
        tail = K._log_erfc(y / _SQRT2)
        slope = -math.exp(-0.5 * y * y - tail) * math.sqrt(2.0 / math.pi)
        nxt = max(y - (tail - target) / slope, 0.5 * y)
        converged = abs(nxt - y) <= 1e-12 * max(1.0, y)
        y = nxt
        if converged:
            break
    return y / z


class Default(CompiledBaseline):
    """Seasonal and recent-level robust z-scores, the smaller deviation per feature.

    Parameters
    ----------
    period
        Seasonal period: ``"auto"``, ``"day"``, ``"week"``, ``"none"`` or seconds. ``"auto"``
        picks a day or a week from the training window's autocorrelation (a week needs two
        weeks of it); a daily model keeps hourly means of the last three weeks and moves to
        a week as soon as they show a weekly cycle (weekends), seeding the week from the
        remembered days.
    history
        Cycles the seasonal baseline remembers.
    window
        Trailing window (points) of the recent-level baseline.
    memory
        Learned deviations remembered by the "seen before" test: ``"day"`` (a day's worth
        of points at the series' step, found at fit; 1440 when started by ``learn_one``), a
        number of points, or 0 to turn the test off.
    min_periods
        Points needed before scores are produced.
    threshold
        ``"auto"`` (calibrated on the training window without labels) or a number.
    features
        Feature set (see :mod:`anomalert.features`).
    transform
        ``"auto"``: a feature whose training values are all positive and whose noise is
        skewed the way multiplicative noise is (latencies, sizes; see
        :func:`~anomalert.detectors._compiled.log_suits`) is scored on its log; ``"log"``:
        every feature is (each must be positive in the training window); ``"none"``: the
        values as they are. Chosen at :meth:`fit`, from the training window (a detector
        that starts from nothing with ``learn_one`` keeps the values). Explanations stay in
        the metric's units, the spread as a factor (``×/÷``).
    """

    name: ClassVar[str] = "default"
    _default_threshold: ClassVar[float] = 6.0
    #: Lowest calibrated threshold at a 1-minute step (the "seen before" test already removes
    #: repeats). Other steps scale it and the cap by :func:`rate_factor`.
    _threshold_floor: ClassVar[float] = 6.0
    #: Highest calibrated threshold at a 1-minute step: training deviations far above it say
    #: the window's robust scales are not a usable yardstick (near-constant stretches), not
    #: that 12σ is ordinary.
    _threshold_cap: ClassVar[float] = 12.0
    #: Seasonal |z| from which a feature's levels stop learning.
    _trail_guard: ClassVar[float] = 5.0
    #: Consecutive guarded points after which a feature's level learns again (a new normal).
    _guard_escape: ClassVar[int] = 60
    #: How much larger than a learned over-threshold deviation a repeat must be to be news.
    _repeat_margin: ClassVar[float] = 2.0
    #: Seconds without a learned deviation over the threshold that end a spike: the "seen
    #: before" test counts spikes, and a spike that paged counts half (see the module text).
    _spike_gap: ClassVar[int] = 1800
    #: Range test: hours of history (0: off), hours it needs, score floor (x threshold),
    #: and how many scales beyond the range a value must be.
    _range_hours: ClassVar[int] = 168
    _range_span: ClassVar[int] = 24
    _range_k: ClassVar[float] = 0.8
    _range_e0: ClassVar[float] = 1.0
    #: Time-of-day recurrence: days remembered (0: off), bin width and tolerance (seconds),
    #: and on how many earlier days an isolated spike near this time makes one routine.
    _recur_days: ClassVar[int] = 8
    _recur_bin: ClassVar[int] = 900
    _recur_tolerance: ClassVar[int] = 3600
    _recur_need: ClassVar[int] = 2
    #: Noise test: hours of the window (0: off), hours of history and those it needs, how
    #: many times the history's noisiest hour pages, and the scales one change counts at most.
    _noise_hours: ClassVar[int] = 2
    _noise_history: ClassVar[int] = 168
    _noise_span: ClassVar[int] = 24
    _noise_k: ClassVar[float] = 1.5
    _noise_clip: ClassVar[float] = 3.0
    #: Hours of the noise test's second, longer window (0: none): bursts that come more
    #: often show over hours, where two hours hold one burst or none.
    _noise_long_hours: ClassVar[int] = 4
    #: Flagged runs a day (decayed count) from which flagged points are learned anyway.
    _flap_runs: ClassVar[float] = 6.0
    #: The tests that run (see :data:`TESTS`; the pieces keep their own). A test whose hours
    #: or days below are 0 is off too.
    _tests: ClassVar[tuple[str, ...]] = TESTS
    #: Drift test: days over which every hour must move one way (0: off), days of hourly
    #: means kept, and how many usual day-over-day changes the hours must move by.
    _drift_days: ClassVar[int] = 2
    _drift_history: ClassVar[int] = 7
    _drift_k: ClassVar[float] = 3.0
    #: Context test (frames of more than one feature): whether it runs, how many scales a
    #: deviation counts at most towards the learned correlations, and how far those are
    #: pulled towards none (a correlation counts at most ``1 - shrink``).
    _context: ClassVar[bool] = True
    _context_clip: ClassVar[float] = 3.0
    _context_shrink: ClassVar[float] = 0.03
    #: Shift test: hours of the window whose mean is tested (0: off), hours of history of
    #: such means and those it needs, score floor (x threshold), and how many scales of
    #: those means beyond their range the window's mean must be (the range test's).
    _shift_hours: ClassVar[int] = 2
    _shift_history: ClassVar[int] = 168
    _shift_span: ClassVar[int] = 48
    _shift_k: ClassVar[float] = 0.8
    _shift_e0: ClassVar[float] = 1.0
    #: Flat test: hours of the window whose range (high - low) is tested (0: off), hours of
    #: history of such windows, how many of them it needs, and how many times narrower than
    #: the history's narrowest the window must be.
    _flat_hours: ClassVar[int] = 24
    _flat_history: ClassVar[int] = 168
    _flat_span: ClassVar[int] = 48
    _flat_k: ClassVar[float] = 5.0
    #: Sustained test: the time constant (seconds) of the average of the seasonal deviations
    #: (0: off), how many times its usual spread the average must be to page, and the same
    #: for its shorter average (a third of the time constant, at steps of a minute or less).
    _sustained_seconds: ClassVar[int] = 1800
    _sustained_e0: ClassVar[float] = 9.0
    _sustained_short_e0: ClassVar[float] = 6.0
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "period": [Options(("auto", "day", "week", "none")), Interval(int, 60, None)],
        "history": [Interval(int, 1, None)],
        "window": [Interval(int, 2, None)],
        "memory": [Options(("day",)), Interval(int, 0, None)],
        "min_periods": [Interval(int, 2, None)],
        "threshold": [Interval(float, 0, None, closed="neither"), Options(("auto",))],
        "features": [Options(FEATURE_SETS)],
        "transform": [Options(("auto", "none", "log"))],
    }

    def __init__(
        self,
        *,
        period: str | int = "auto",
        history: int = 7,
        window: int = 60,
        memory: int | str = "day",
        min_periods: int = 30,
        threshold: float | str = "auto",
        features: str = "rates",
        transform: str = "auto",
    ) -> None:
        self.period = period
        self.history = history
        self.window = window
        self.memory = memory
        self.min_periods = min_periods
        self.threshold = threshold
        self.features = features
        self.transform = transform

    def _check_params(self) -> None:
        if self.min_periods > self.window:
            from anomalert.errors import ParameterError

            raise ParameterError(
                f"The 'min_periods' parameter of {type(self).__name__} must be <= window "
                f"({self.window}). "
                f"Got {self.min_periods} instead."
            )

    def _kernel_config(self) -> dict[str, Any]:
        day = getattr(self, "memory_points_", 1440)  # a day's points at the step, once known
        memory = day if self.memory == "day" else self.memory
        on = set(self._tests)
        # Tests whose statistic is a mean over a span of time need points in it: four in each
        # of the noise test's windows, four in each of the drift test's hourly means.
        step = 86_400 / max(1, day)
        hours = self._noise_hours if "noise" in on else 0
        noise = hours if step * _MIN_POINTS <= 3600 * hours else 0
        longer = self._noise_long_hours if step * _MIN_POINTS <= 3600 * self._noise_long_hours else 0
        if hours and not noise:  # too coarse for the short window: the long one alone
            noise, longer = longer, 0
        drift = self._drift_days if "drift" in on and step * _MIN_POINTS <= 3600 else 0
        # the shift test's window holds four points at least: four hours of an hourly series
        hours = self._shift_hours if "shift" in on else 0
        shift = max(hours, math.ceil(step * _MIN_POINTS / 3600)) if hours and step <= 3600 else 0
        hours = self._flat_hours if "flat" in on else 0
        flat = hours if step * _MIN_POINTS <= 3600 * hours else 0
        return {
            "level_window": 60, "window": 1440, "trail_window": self.window, "dev_window": 1440,
            "memory": memory, "min_periods": self.min_periods, "smooth": 2,
            "history": self.history, "use_recent": True, "escape": self._guard_escape,
            "guard": self._trail_guard, "margin": self._repeat_margin,
            "range_buckets": self._range_hours if "range" in on else 0,
            "range_bucket_seconds": 3600,
            "range_span": self._range_span, "range_k": self._range_k, "range_e0": self._range_e0,
            "recur_days": self._recur_days, "recur_bin": self._recur_bin,
            "recur_tolerance": self._recur_tolerance // self._recur_bin,
            "recur_need": self._recur_need,
            "noise_hours": noise, "noise_buckets": self._noise_history,
            "noise_span": self._noise_span, "noise_k": self._noise_k,
            "noise_clip": self._noise_clip, "noise_long_hours": longer,
            "flap_runs": self._flap_runs,
            "deviations": "deviations" in on, "drift_days": drift,
            "drift_history": self._drift_history, "drift_k": self._drift_k,
            "context": self._context and "context" in on, "context_window": day,
            "context_clip": self._context_clip, "context_shrink": self._context_shrink,
            "shift_hours": shift, "shift_buckets": self._shift_history,
            "shift_span": self._shift_span, "shift_k": self._shift_k, "shift_e0": self._shift_e0,
            "flat_hours": flat, "flat_history": self._flat_history, "flat_span": self._flat_span,
            "flat_k": self._flat_k, "spike_gap": self._spike_gap,
            "sustained_seconds": self._sustained_seconds if "sustained" in on else 0,
            "sustained_e0": self._sustained_e0,
            "sustained_short_e0": self._sustained_short_e0,
        }

    def prepare(self, t: np.ndarray, X: np.ndarray) -> None:
        if len(t) >= 2:  # a day's points at the series' step: the memory, the context's span
            self.memory_points_ = max(1, 86_400 // self.window_step(t))
            self._reset(len(self.features_))  # nothing learned yet: size them
        super().prepare(t, X)

    def _lowest_threshold(self) -> float:
        # the floor follows the step: below the provisional threshold at steps past a minute
        g = rate_factor(self.step_seconds_ or 60, self._threshold_floor)
        return min(float(self.threshold_), g * self._threshold_floor)

    def _calibrate(self, train_scores: np.ndarray) -> float:
        # On the raw deviations: the "seen before" zeros must not pull the quantile down.
        g = rate_factor(self.step_seconds_ or 60, self._threshold_floor)
        raw = calibrate_threshold(self.train_raw_, floor=g * self._threshold_floor)
        return min(raw, g * self._threshold_cap)
