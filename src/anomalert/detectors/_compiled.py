"""The Python face of the compiled seasonal / recent-level model (:mod:`._kernel`).

:class:`CompiledBaseline` keeps one series' state in the kernel's flat arrays and maps the
detector contract's hooks onto the compiled functions: ``_score_point`` / ``_learn_point``
for the streaming path, and a compiled loop for ``fit`` and the batch ``score``. Subclasses
(:class:`~anomalert.detectors.seasonal.Seasonal`,
:class:`~anomalert.detectors.default.Default`) only say how the model is configured.
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from anomalert.detectors import _kernel, _weekly
from anomalert.detectors.base import Contribution, Detector, Explanation, format_value
from anomalert.errors import InputError

__all__ = ["DAY", "WEEK", "CompiledBaseline", "detect_period", "log_suits"]

#: The compiled module, untyped for mypy (numba's dispatchers take any arguments).
K: Any = _kernel

DAY, WEEK, _NS = K.DAY_S, K.WEEK_S, K.NS


def detect_period(t: np.ndarray, X: np.ndarray, step_seconds: int) -> int | None:
    """Daily or weekly period of a training window from its autocorrelation, else None.

    With less than two days of data a daily period is assumed (it cannot be ruled out);
    otherwise a candidate needs an autocorrelation above 0.3 at its lag, and a week replaces
    a day only when ``1 - r`` at a week's lag is under 0.75x that at a day's. With
    ``period="auto"`` a daily model keeps looking for a weekly cycle while it runs (see
    ``CompiledBaseline._week_hours``).
    """
    if step_seconds <= 0 or len(t) < 4:
        return DAY
    span = (t[-1] - t[0]) / _NS
    if span < 2 * DAY:
        return DAY
    # Put the series on a regular grid so a lag in points is a lag in time.
    pos = ((t - t[0]) // (step_seconds * _NS)).astype(np.int64)
    grid_len = int(pos[-1]) + 1
    best, best_acf = None, 0.3
    for period in (DAY, WEEK):
        lag = period // step_seconds
        if span < 2 * period or lag >= grid_len:
            continue
        acfs = []
        for j in range(X.shape[1]):
            grid = np.full(grid_len, np.nan)
            grid[pos] = X[:, j]
            a, b = grid[:-lag], grid[lag:]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() < 10 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
                continue
            acfs.append(float(np.corrcoef(a[ok], b[ok])[0, 1]))
        if not acfs or not max(acfs) > 0.3:
            continue
        # a week replaces a day only if it predicts clearly better: a quarter less 1 - r
        # (the same rule as the test while running, see ``_kernel._weekly_check``)
        if best is None or 1.0 - max(acfs) < 0.75 * (1.0 - best_acf):
            best, best_acf = period, max(acfs)
    return best


#: ``transform="auto"`` takes a feature's log when its residuals' quantile skewness (5 % and
#: 95 %) is above this...
_LOG_SKEW = 0.2
#: ... and the log's is less than this share of it.
_LOG_RATIO = 0.5


def _quantile_skew(r: np.ndarray) -> float:
    """Bowley's skewness at the 5 % / 95 % quantiles (0: symmetric; NaN: no spread)."""
    lo, mid, hi = np.quantile(r, [0.05, 0.5, 0.95])
    return float((hi + lo - 2.0 * mid) / (hi - lo)) if hi > lo else math.nan


def log_suits(t: np.ndarray, v: np.ndarray) -> bool:
    """Whether a feature's training values ``v`` (at times ``t``, ns) are better scored on
    their log: all positive, and their residuals from an hour's centred median (at least
    three points) are skewed (multiplicative noise: latencies, sizes), where the log's
    residuals are close to symmetric. A metric whose spikes skew it but whose noise does not
    keeps its values (the log would shrink the spikes it is watched for)."""
    ok = np.isfinite(v)
    if ok.sum() < 60 or not np.all(v[ok] > 0) or len(t) < 2:
        return False
    step = max(1, int(np.median(np.diff(t)) // _NS))
    width = max(3, 3600 // step) | 1

    def residuals(x: np.ndarray) -> np.ndarray:
        s = pd.Series(x)
        r = (s - s.rolling(width, center=True, min_periods=1).median()).to_numpy()
        return r[np.isfinite(r)]

    raw = _quantile_skew(residuals(v))
    if not raw > _LOG_SKEW:  # most metrics: symmetric noise, no second pass
        return False
    return bool(abs(_quantile_skew(residuals(np.log(v)))) < _LOG_RATIO * raw)


class CompiledBaseline(Detector):
    """A detector whose state and arithmetic live in :mod:`anomalert.detectors._kernel`."""

    #: ``period="auto"`` on a daily model: hours of history in which to look for a weekly
    #: cycle while running (0: only at fit), and the weeks a weekly model then remembers.
    _week_hours: ClassVar[int] = 21 * 24
    _week_history: ClassVar[int] = 3
    _batch_run: ClassVar[bool] = True

    def _kernel_config(self) -> dict[str, Any]:
        """Keyword arguments of :func:`._kernel.new_state` besides ``m``, period and threshold."""
        raise NotImplementedError

    # -- threshold: mirrored into the kernel (the "seen before" margin applies above it) ---
    @property
    def threshold_(self) -> float:
        return self._threshold

    @threshold_.setter
    def threshold_(self, value: float) -> None:
        self._threshold = float(value)
        state = self.__dict__.get("state_")
        if state is not None:
            state["Q"][K.Q_THRESHOLD] = self._threshold

    # -- state -------------------------------------------------------------------------
    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle, refusing a kernel state saved with another layout (another anomalert
        version): reading it would index past its arrays. The caller refits instead."""
        kernel = state.get("state_")
        if kernel is not None:
            saved = kernel.get("V")
            version = int(saved[0]) if saved is not None and len(saved) else 0
            if version != K.LAYOUT_VERSION:
                raise ValueError(
                    f"{type(self).__name__} state saved with kernel layout {version}, this "
                    f"version reads layout {K.LAYOUT_VERSION}: refit the detector"
                )
        self.__dict__.update(state)

    def _reset(self, n_features: int) -> None:
        fixed = {"day": DAY, "week": WEEK, "none": None}
        period = DAY if self.period == "auto" else fixed.get(self.period, self.period)  # type: ignore[attr-defined]
        week_hours = self._week_hours if self.period == "auto" else 0  # type: ignore[attr-defined]
        self.state_ = K.new_state(
            n_features, period=int(period or 0), threshold=self.threshold_,
            week_hours=week_hours, **self._kernel_config(),
        )

    def _switch_to_week(self) -> None:
        """Move the seasonal model from a day to a week (the kernel found a weekly cycle):
        see :func:`anomalert.detectors._weekly.switch_to_week`."""
        _weekly.switch_to_week(self.state_, self._week_history)

    def _after_learning(self) -> None:
        # K.switch_pending's test, without a compiled call per point
        P, N = self.state_["P"], self.state_["N"]
        hours = P[K.P_WEEK_H]
        if hours > 0 and N[P[K.P_WEEK_ID] + hours] == 1:
            self._switch_to_week()

    @property
    def period_seconds_(self) -> int | None:
        """The seasonal period in use (None: no seasonal model)."""
        return int(self.state_["P"][K.P_PERIOD]) or None

    @property
    def step_seconds_(self) -> int | None:
        """The series' step (None until two points have been seen)."""
        return int(self.state_["P"][K.P_STEP]) or None

    @staticmethod
    def window_step(t: np.ndarray) -> int:
        """The typical step (seconds) of a training window's timestamps (``len(t) >= 2``)."""
        return int(np.median(np.diff(t)) // _NS) or 60

    def _find_step(self, t: int) -> None:
        """Started by single points: the step is known once a later point arrives."""
        s = self.state_
        P = s["P"]
        if P[K.P_STEP] == 0:
            last = int(s["N"][P[K.P_LAST_T]])
            if last != K.NO_T and t > last:
                K.with_slots(s, (t - last) // _NS)

    def prepare(self, t: np.ndarray, X: np.ndarray) -> None:
        """Find the step (and, for ``period="auto"``, the period) from a training window."""
        if len(t) >= 2:
            step = self.window_step(t)
            if self.period == "auto":  # type: ignore[attr-defined]
                self.state_["P"][K.P_PERIOD] = detect_period(t, X, step) or 0
            K.with_slots(self.state_, step)

    def _args(self) -> tuple[Any, ...]:
        s = self.state_
        return s["F"], s["N"], s["D"], s["P"], s["Q"], s["S"], s["SC"]

    # -- a log per feature (``transform``) ------------------------------------------------
    def _choose_transform(self, t: np.ndarray, X: np.ndarray) -> None:
        """Which features are scored on their log (``transform``; ``"auto"``: where
        :func:`log_suits` says so), from the training rows. A later value at or below 0 is
        taken as a tenth of the smallest training value (far below, but finite)."""
        mode = getattr(self, "transform", "none")
        m = X.shape[1]
        logs = np.zeros(m, dtype=bool)
        floor = np.full(m, np.nan)
        for j in range(m):
            v = X[:, j]
            ok = np.isfinite(v)
            if mode == "log":
                if not ok.any() or not np.all(v[ok] > 0):
                    low = float(np.min(v[ok])) if ok.any() else math.nan
                    raise InputError(
                        f"transform='log' needs positive values: feature "
                        f"{self.features_[j]!r} has {low:g} in its training window "
                        "(transform='auto' keeps such a feature's values)"
                    )
                logs[j] = True
            elif mode == "auto":
                logs[j] = log_suits(t, v)
            if logs[j]:
                floor[j] = math.log(float(np.min(v[ok])) / 10.0)
        self.log_ = logs if logs.any() else None
        self.log_floor_ = floor
        # one point's path (the Monitor's) without array operations: (feature, floor) pairs
        self._log_plan = [(int(j), float(floor[j])) for j in np.flatnonzero(logs)] or None

    def _tx(self, x: np.ndarray) -> np.ndarray:
        """``x`` (one point's features, or rows of them) as the kernel sees it: the log of
        the features in ``log_``, at least their floor (NaN stays NaN)."""
        logs = self.__dict__.get("log_")
        if logs is None:
            return x
        if x.ndim == 1:  # one point
            y = x.astype(float)
            for j, low in self._log_plan or ():
                v = y[j]
                if v == v:  # NaN stays NaN
                    y[j] = max(math.log(v), low) if v > 0.0 else low
            return y
        y = np.array(x, dtype=float)
        cols = y[..., logs]
        with np.errstate(divide="ignore", invalid="ignore"):
            logged = np.log(np.where(cols > 0, cols, 0.0))
        y[..., logs] = np.where(np.isnan(cols), np.nan, np.maximum(logged, self.log_floor_[logs]))
        return y

    # -- contract hooks ----------------------------------------------------------------
    def _score_point(self, t: int, x: np.ndarray) -> float:
        return float(K.score_point(*self._args(), t, self._tx(x)))

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        self._find_step(t)
        K.learn_point(*self._args(), t, self._tx(x), False, False)
        self._after_learning()

    def _learn_flagged(self, t: int, x: np.ndarray, renew: bool) -> None:
        self._find_step(t)
        K.learn_point(*self._args(), t, self._tx(x), True, renew)
        self._after_learning()

    def _pass_point(self, t: int, x: np.ndarray) -> None:
        K.pass_point(*self._args(), t, self._tx(x))

    def _learns_flagged(self, t: int) -> bool:
        s = self.state_
        return bool(K.learns_flagged(s["F"], s["N"], s["P"], s["Q"], t))

    def _step_point(
        self, t: int, x: np.ndarray, threshold: float, learn_anyway: bool, renew: bool = False
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Score, then learn unless flagged (and neither ``learn_anyway`` nor ``renew`` nor
        :meth:`_learns_flagged`), in one compiled call. ``renew``: the point ends a run of
        flagged points long enough to be the new normal (the policy's ``relearn_after``).

        Returns the score and what it came from (as :meth:`feature_z`), so an explanation
        needs no second call (see :meth:`explanation_from`). Those arrays are the detector's
        own and the next call overwrites them: explain before stepping again.
        """
        self._find_step(t)
        rec = self.__dict__.get("_step_record")
        if rec is None or len(rec[0]) != len(x):
            rec = self._step_record = self.new_record(None, len(x))
        z, b, sc, kind = rec
        score, learned = K.step(*self._args(), t, self._tx(x), threshold, learn_anyway, renew,
                                z, b, sc, kind)
        if learned:
            self.n_seen_ += 1
            self._after_learning()
        return float(score), z, b, sc, kind

    @staticmethod
    def new_record(n: int | None, m: int) -> tuple[np.ndarray, ...]:
        """Empty arrays for what scores come from: deviations, baselines, scales (float) and
        kinds (``KIND_*``, int), shaped ``(n, m)`` (``(m,)`` for ``n=None``)."""
        shape = (m,) if n is None else (n, m)
        return np.empty(shape), np.empty(shape), np.empty(shape), np.zeros(shape, np.int64)

    def explanation_from(
        self, score: float, x: np.ndarray, z: np.ndarray, b: np.ndarray, s: np.ndarray,
        kind: np.ndarray,
    ) -> Explanation:
        """The explanation of a point from the arrays :meth:`_step_point` returned."""
        contribs = sorted(self._contributions(x, z, b, s, kind), key=lambda c: -c.weight)
        return Explanation(score, tuple(contribs))

    def _contributions(
        self, x: np.ndarray, z: np.ndarray, b: np.ndarray, s: np.ndarray, kind: np.ndarray
    ) -> list[Contribution]:
        out = []
        logs = self.__dict__.get("log_")  # the features scored on their log
        for j in range(len(x)):
            if not math.isfinite(z[j]):
                continue
            value, reference, what, base = float(x[j]), None, "level", float(b[j])
            if kind[j] == K.KIND_RANGE:
                reference = f"its {self._span(K.P_NOV_B)} {'high' if z[j] > 0 else 'low'}"
            elif kind[j] == K.KIND_NOISE:
                # the window's mean change per point, against the history's noisiest hour
                value, what = float(b[j] + z[j] * s[j]), "noise"
                reference = f"its {self._span(K.P_VAR_B)} high"
            elif kind[j] == K.KIND_DRIFT:
                # the point against the level of the day ``days`` days before the last
                what = "drift"
                reference = f"its level {int(self.state_['P'][K.P_DRIFT_D])} days before"
            elif kind[j] == K.KIND_SHIFT:
                # the window's mean against the edge of the history's window means
                value, what = float(b[j] + z[j] * s[j]), "shift"
                hours = int(self.state_["P"][K.P_SHIFT_SUB]) * 600 // 3600
                edge = "high" if z[j] > 0 else "low"
                reference = f"the {self._span(K.P_SHIFT_B)} {edge} of its {hours}-hour means"
            elif kind[j] == K.KIND_FLAT:
                # the window's range (high - low) against the history's narrowest
                value, what = float(s[j]), "flat"
                hours = int(self.state_["P"][K.P_FLAT_H])
                days = (int(self.state_["P"][K.P_FLAT_B]) - hours) // 24
                reference = f"the narrowest {hours} hours of its {days}-day history"
            elif kind[j] in (K.KIND_SUSTAINED, K.KIND_SUSTAINED_SHORT):
                # the values' recent average against their seasonal baselines' (the scale:
                # the usual spread of such an average, in the metric's units)
                value, what = float(b[j] + z[j] * s[j]), "sustained"
                seconds = int(self.state_["P"][K.P_SUS_TAU])
                if kind[j] == K.KIND_SUSTAINED_SHORT:
                    seconds //= K.SUS_SHORT
                minutes = seconds // 60
                reference = f"about the last {minutes} minutes"
            elif kind[j] == K.KIND_CONTEXT:
                # the value the other features' deviations imply, through the correlations
                others = [f"{self.features_[k]}={format_value(x[k])}" for k in range(len(x)) if k != j]
                reference = f"what {', '.join(others)} {'imply' if len(others) > 1 else 'implies'}"
            scale, factor = float(s[j]), None
            if logs is not None and logs[j]:
                value, base, scale, reference, factor = self._from_log(
                    what, float(x[j]), value, base, scale, float(z[j]), reference)
            out.append(Contribution(self.features_[j], value, base, scale,
                                    float(z[j]), reference=reference, kind=what, factor=factor))
        return out

    @staticmethod
    def _from_log(
        what: str, x: float, value: float, base: float, scale: float, z: float,
        reference: str | None,
    ) -> tuple[float, float, float, str | None, float | None]:
        """A feature scored on its log, explained in its own units: levels become
        ``exp(level)`` (a window's mean its geometric mean), the scale the move that ``z``
        of them is at this point, ``|value - baseline| / |z|``, and the spread a factor
        ``exp(scale)``; the noise and flat tests' changes and ranges become fractions of the
        level (no factor). Returns value, baseline, scale, reference and factor."""
        if what in ("noise", "flat"):
            return (math.expm1(value), math.expm1(base), math.expm1(scale),
                    f"{reference} (as a fraction of the level)", None)
        level = math.exp(base)
        shown = math.exp(value) if what in ("shift", "sustained") else x
        apart = abs(shown - level) / abs(z) if abs(z) > 1e-9 else level * scale
        return shown, level, apart, reference, math.exp(scale)

    def _span(self, hours_at: int) -> str:
        """How explanations name a test's history of ``P[hours_at]`` hours."""
        hours = int(self.state_["P"][hours_at])
        return f"{hours // 24}-day" if hours % 24 == 0 else f"{hours}-hour"

    def feature_z(self, t: int, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """Signed deviation, baseline, scale and kind (``KIND_*``) per feature (NaN where
        none yet); the kind says which test's figures a feature's are (see
        :meth:`_contributions`)."""
        s = self.state_
        z, b, sc, kind = self.new_record(None, len(x))
        K.feature_z(s["F"], s["N"], s["D"], s["P"], s["Q"], s["S"], s["SC"], t, self._tx(x), z, b,
                    sc, kind)
        return z, b, sc, kind

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        return self._contributions(x, *self.feature_z(t, x))

    # -- the compiled loops ----------------------------------------------------------------
    def run(
        self, t: np.ndarray, X: np.ndarray, *, threshold: float, learn_flagged: bool,
        relearn_after: int, flag_run: int = 0, record: tuple[np.ndarray, ...] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score then learn every row in order; return (scores, largest |z| per row).

        A point scoring above ``threshold`` is learned only if ``learn_flagged`` or it ends a
        run of more than ``relearn_after`` such points (``flag_run`` of them came just
        before): the Monitor's rule. ``record`` (see :meth:`new_record`) receives what every
        point's score came from.
        """
        t = np.ascontiguousarray(t, dtype=np.int64)
        X = np.ascontiguousarray(self._tx(X), dtype=np.float64)
        n = len(X)
        scores, raw = np.full(n, np.nan), np.full(n, np.nan)
        carry = np.array([flag_run], dtype=np.int64)
        Z, B, SS, KK = record if record is not None else self.new_record(0, X.shape[1])
        learned_before = int(self.state_["N"][self.state_["P"][K.P_NSEEN]])
        done = 0
        while done < n:
            done = K.run(
                *self._args(), t, X, done, float(threshold), bool(learn_flagged),
                int(relearn_after), carry, scores, raw, Z, B, SS, KK,
            )
            if K.switch_pending(self.state_["N"], self.state_["P"]):
                self._switch_to_week()  # a weekly cycle was found at row done - 1: go on
            elif done < n:  # the step just became known: allocate the slots, go on
                self._find_step(int(t[done]))
        self.n_seen_ += int(self.state_["N"][self.state_["P"][K.P_NSEEN]]) - learned_before
        return scores, raw

    def _fit_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        self.prepare(t, X)
        self._choose_transform(t, X)
        record = self.new_record(*X.shape)
        # The training window learns only what it finds ordinary: a flapping series' flagged
        # points are learned once it is monitored (see _kernel.flapping), not in training.
        Q = self.state_["Q"]
        flap, Q[K.Q_FLAP] = Q[K.Q_FLAP], 0.0
        try:
            scores, raw = self.run(
                t, X, threshold=self.threshold_, learn_flagged=False,
                relearn_after=self._relearn_points(t), record=record,
            )
        finally:
            Q[K.Q_FLAP] = flap
        self.train_raw_ = raw
        # What flagged training points were measured against, at the time: every point over
        # the lowest threshold calibration can give, so every later alert is in here (one
        # missing would be explained against the state at the end of training, or later).
        hot = np.flatnonzero(scores > self._lowest_threshold())
        self.train_explained_ = {
            int(i): tuple(r[i].copy() for r in record) for i in hot
        }
        return scores

    def _lowest_threshold(self) -> float:
        """The lowest threshold calibration can set: the provisional one (the generic
        calibration's floor); detectors whose calibration goes lower say so."""
        return float(self.threshold_)

    def _score_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        work = copy.deepcopy(self)
        return work.run(t, X, threshold=math.inf, learn_flagged=True, relearn_after=0)[0]
