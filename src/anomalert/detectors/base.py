"""The detector contract every anomalert detector follows.

A detector *scores*; it does not decide. Parameters are the keyword-only ``__init__``
arguments and ``__init__`` only stores them. Validation happens in :meth:`Detector.fit`
or the first :meth:`Detector.learn_one`, against the declared ``_parameter_constraints``,
with one error format::

    The 'window' parameter of ZScore must be an int >= 2. Got -1 instead.

Learned state ends in ``_``. Scores are causal (a point's score uses only that point and
the past), higher means more anomalous, NaN during warm-up. The batch call
:meth:`Detector.score` gives the same numbers as scoring the points one at a time with
:meth:`Detector.score_one` and then :meth:`Detector.learn_one` each of them, and leaves the
fitted detector unchanged.

Subclasses implement four small hooks on float arrays (one value per feature):
``_reset`` (start from nothing), ``_score_point``, ``_learn_point`` and ``_explain_point``.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from anomalert.data import LABEL_COLUMNS, MAX_ABS_VALUE, caller_index, clean_frame, utc_timestamp
from anomalert.detectors.explain import Contribution, Explanation, format_value
from anomalert.detectors.params import Interval, Options, _accepts, _describe
from anomalert.errors import InputError, NotFittedError, ParameterError
from anomalert.features import feature_names, row_plan, transform_frame, transform_row

__all__ = [
    "Contribution",
    "Detector",
    "Explanation",
    "Interval",
    "Options",
    "calibrate_threshold",
    "format_value",
]


def calibrate_threshold(
    scores: np.ndarray, *, floor: float, quantile: float = 0.95, factor: float = 2.0
) -> float:
    """A label-free threshold: ``max(floor, factor * quantile(scores))``.

    The quantile of the training window's causal scores measures how heavy the series'
    normal tail is; the factor keeps a margin above it; the floor keeps a clean, light-tailed
    series from paging on noise. Anomalies hidden in the training window (up to
    ``1 - quantile`` of it) do not move the quantile.

    Examples
    --------
    >>> calibrate_threshold(np.array([0.5, 1.0, 2.0, np.nan]), floor=5.0)
    5.0
    """
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return float(floor)
    return float(max(floor, factor * float(np.quantile(finite, quantile))))


# --------------------------------------------------------------------------- the base class
class Detector:
    """Base class: parameter handling, validation, batch/stream plumbing."""

    #: Registry name (set by subclasses).
    name: ClassVar[str] = ""
    #: What the detector is built to find: ``"spike"`` (a value far from its baseline),
    #: ``"noise"`` (a metric moving more from point to point than it has for a week),
    #: ``"drift"`` (a level moving one way day after day), ``"shift"`` (a level that left
    #: its week's range for hours), ``"flat"`` (a metric that stopped moving) or
    #: ``"context"`` (metrics that
    #: usually move together, one moving without the other). The shared checks
    #: (``tests/test_common.py``) make that anomaly and expect it flagged and explained.
    finds: ClassVar[str] = "spike"
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}
    #: Score above which a point counts as anomalous when ``threshold="auto"`` meets no data.
    _default_threshold: ClassVar[float] = 5.0
    #: True for detectors whose score does not depend on the order of points (no learning).
    _static: ClassVar[bool] = False
    #: True for detectors with a compiled score-then-learn loop over many rows, ``run(t, X,
    #: threshold=, learn_flagged=, relearn_after=, flag_run=, record=)``, with
    #: ``new_record(n, m)`` and ``explanation_from(score, x, *record_row)``: ``detect`` then
    #: scores every row after training in one call instead of one Monitor step per row.
    _batch_run: ClassVar[bool] = False
    #: Consecutive over-threshold training points after which fit learns them anyway
    #: (None: a day's worth of points at the training window's step, see _relearn_points).
    _relearn_after: ClassVar[int | None] = None

    # -- parameters ------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set constructor parameters (validated at the next ``fit``)."""
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ParameterError(
                    f"{type(self).__name__} has no parameter {key!r}; parameters: {valid}"
                )
            setattr(self, key, value)
        return self

    def clone(self) -> Self:
        """An unfitted copy with the same parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def _validate_params(self) -> None:
        for name, rules in self._parameter_constraints.items():
            value = getattr(self, name)
            if not any(_accepts(rule, value) for rule in rules):
                wanted = " or ".join(_describe(r) for r in rules)
                raise ParameterError(
                    f"The {name!r} parameter of {type(self).__name__} must be {wanted}. "
                    f"Got {value!r} instead."
                )
        self._check_params()

    def _check_params(self) -> None:
        """Cross-parameter checks (override when needed)."""

    # -- state -----------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "features_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(frame) or learn_one() first."
            )

    @property
    def feature_set(self) -> str:
        return str(getattr(self, "features", "raw"))

    def _start(self, columns: list[str]) -> None:
        self._validate_params()
        self.columns_ = [str(c) for c in columns]
        self.features_ = feature_names(self.columns_, self.feature_set)
        self._row_plan = row_plan(self.columns_, self.feature_set)  # see _point
        fixed = getattr(self, "threshold", "auto")
        self.threshold_ = (
            float(fixed) if isinstance(fixed, int | float) else float(self._default_threshold)
        )
        self.n_seen_ = 0
        self._reset(len(self.features_))

    # -- hooks for subclasses --------------------------------------------------------
    def _reset(self, n_features: int) -> None:
        raise NotImplementedError

    def _score_point(self, t: int, x: np.ndarray) -> float:
        raise NotImplementedError

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        raise NotImplementedError

    def _learn_flagged(self, t: int, x: np.ndarray, renew: bool) -> None:
        """Learn a flagged point where the policy does not learn flagged points: its run
        has lasted the policy's ``relearn_after`` (``renew``: the new normal), or the model
        asks (:meth:`_learns_flagged`). A model whose tests must know overrides it (the
        compiled detectors' shift test keeps quiet until the new level is its history);
        the others learn it as any point."""
        self._learn_point(t, x)

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        raise NotImplementedError

    def _pass_point(self, t: int, x: np.ndarray) -> None:
        """A point that was scored but is not learned (flagged). Models that follow every
        point, learned or not, see it here; the default does nothing."""

    def _learns_flagged(self, t: int) -> bool:
        """True when the model asks that a flagged point at ``t`` be learned all the same,
        whatever the alert policy says (``default``: the series pages so often that what it
        flags is its normal). The default: never."""
        return False

    def _fit_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Learn from a training window; return the causal training scores.

        The default streams the window (score, then learn); batch models override. A
        training window is *mostly* good, not certainly: points scoring above the provisional
        threshold are not learned (unless such a run lasts a day, see :meth:`_relearn_points`,
        which makes it the new normal), so an incident inside the window does not become
        baseline.
        """
        out = np.empty(len(X))
        guard = self.threshold_
        relearn = self._relearn_points(t)
        run = 0
        for i in range(len(X)):
            self._observe_training(int(t[i]), X[i])
            out[i] = s = self._score_point(int(t[i]), X[i])
            run = run + 1 if s > guard else 0
            if run == 0 or run > relearn:
                self._learn_point(int(t[i]), X[i])
                self.n_seen_ += 1
            else:
                self._pass_point(int(t[i]), X[i])
        return out

    def _relearn_points(self, t: np.ndarray) -> int:
        """``_relearn_after``, or a day's worth of points at the median step of the training
        timestamps ``t`` (ns; a minute with fewer than two)."""
        if self._relearn_after is not None:
            return self._relearn_after
        step = float(np.median(np.diff(t))) / 1e9 if len(t) > 1 else 60.0
        return max(1, int(86_400 // step)) if step > 0 else 1440

    def _observe_training(self, t: int, x: np.ndarray) -> None:
        """Called for each training point before it is scored (a hook for calibration)."""

    def _calibrate(self, train_scores: np.ndarray) -> float:
        return calibrate_threshold(train_scores, floor=self._default_threshold)

    # -- input plumbing --------------------------------------------------------------
    def _prepare(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
        frame, _ = clean_frame(as_frame(frame))
        index = pd.DatetimeIndex(frame.index)
        fast = self._prepare_arrays(frame)
        if fast is not None:
            return index.as_unit("ns").asi8, fast, index
        metrics = frame[[c for c in frame.columns if c not in LABEL_COLUMNS]]
        if self.is_fitted:
            missing = [c for c in self.columns_ if c not in metrics.columns]
            if missing:
                raise InputError(f"frame lacks the column(s) {missing} this detector was fitted on")
            metrics = metrics[self.columns_]
        feats = transform_frame(metrics.astype(float), self.feature_set)
        return index.as_unit("ns").asi8, feats.to_numpy(dtype=float), index

    def _prepare_arrays(self, frame: pd.DataFrame) -> np.ndarray | None:
        """The feature matrix of a time-indexed frame straight from its float columns, or
        None when the general path is needed (columns missing, repeated or not float64, or
        a feature set without a :class:`~anomalert.features.RowPlan`). Same numbers as
        ``transform_frame``, without building intermediate frames."""
        plan = getattr(self, "_row_plan", None)
        if plan is None or not self.is_fitted or not frame.columns.is_unique:
            return None
        if len(set(self.features_)) != len(self.features_):
            return None  # transform_frame keeps one column per name
        columns = []
        for c in self.columns_:
            if c in LABEL_COLUMNS or c not in frame.columns:
                return None
            column = frame[c]
            if column.dtype != np.float64:
                return None
            columns.append(column.to_numpy())
        raw = np.empty((len(frame), len(columns)))
        for j, values in enumerate(columns):
            raw[:, j] = values
        return plan.apply_many(raw)

    def _point(self, timestamp: Any, values: Mapping[str, float]) -> tuple[int, np.ndarray]:
        # Fast path: a tz-aware Timestamp and a plain dict of numbers.
        plan = getattr(self, "_row_plan", None)
        if (
            plan is not None
            and type(timestamp) is pd.Timestamp
            and timestamp.tzinfo is not None
            and type(values) is dict
        ):
            try:
                listed = [values[c] for c in self.columns_]
                for v in listed:  # (a plain loop: the check costs next to nothing)
                    if not -MAX_ABS_VALUE <= v <= MAX_ABS_VALUE:  # NaN, inf, too large
                        break
                else:
                    raw = np.fromiter(listed, float, len(listed))
                    return int(timestamp.value), plan.apply(raw)
            except (KeyError, TypeError, ValueError):
                pass  # the slow path below says what is wrong
        if not isinstance(values, Mapping):
            raise InputError(f"values must be a mapping metric -> number, got {type(values).__name__}")
        ts = utc_timestamp(timestamp)
        try:
            row = {c: float(values[c]) if values[c] is not None else math.nan for c in self.columns_}
        except KeyError as exc:
            raise InputError(f"point lacks the metric {exc.args[0]!r}") from None
        except (TypeError, ValueError, OverflowError):
            bad = next(
                c for c in self.columns_ if values[c] is not None and not _is_number(values[c])
            )
            raise InputError(
                f"metric {bad!r}: {str(values[bad])[:40]!r} is not a number within "
                f"+-{MAX_ABS_VALUE:.0e}"
            ) from None
        for c, v in row.items():  # NaN is a missing value; an infinite or absurd one is refused
            if not (math.isnan(v) or abs(v) <= MAX_ABS_VALUE):
                raise InputError(
                    f"metric {c!r}: {values[c]!r} is infinite or beyond +-{MAX_ABS_VALUE:.0e}; "
                    "send NaN (or None) for a missing value"
                )
        feats = transform_row(row, self.feature_set)
        return int(ts.value), np.fromiter((feats[f] for f in self.features_), float, len(self.features_))

    # -- public API ------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> Self:
        """Learn from a known-good window and calibrate ``threshold_`` on it.

        Parameters
        ----------
        frame
            Metric columns indexed by time (or with a timestamp column).
        """
        frame = as_frame(frame)
        self._begin_fit(frame)
        t, X, _ = self._prepare(frame)
        return self._fit_arrays(t, X)

    def _begin_fit(self, frame: pd.DataFrame) -> None:
        """First half of :meth:`fit`: validate the parameters, forget what was learned and
        start on ``frame``'s metric columns (then :meth:`_prepare` gives the arrays)."""
        self._validate_params()
        for attr in [a for a in vars(self) if a.endswith("_") and not a.startswith("__")]:
            delattr(self, attr)
        cols = [c for c in frame.columns if c not in LABEL_COLUMNS and c != "timestamp"]
        only = getattr(self, "_preset_metrics", None)  # a preset's own metrics (see make)
        if only:
            missing = [m for m in only if m not in cols]
            if missing:
                raise InputError(f"this detector scores the column(s) {list(only)}; the frame "
                                 f"lacks {missing}")
            cols = list(only)
        self._start(cols)

    def _fit_arrays(self, t: np.ndarray, X: np.ndarray) -> Self:
        """Second half of :meth:`fit`: learn from the prepared training rows, calibrate."""
        scores = self._fit_frame(t, X)
        self.train_scores_ = scores
        self.fit_until_ = int(t[-1]) if len(t) else None  # the last training time (ns)
        if getattr(self, "threshold", "auto") == "auto":
            self.threshold_ = self._calibrate(scores)
        return self

    def score(self, frame: pd.DataFrame) -> pd.Series:
        """Causal scores of every row of ``frame``; the detector itself is not changed.

        The scores carry ``frame``'s own index when every row was scored in its order (so
        ``frame.assign(score=det.score(frame))`` lines up, a naive or local-time index
        included); when validation sorted rows or dropped some, they are indexed by the
        cleaned timestamps in ``frame``'s time zone (naive stays naive, read as UTC)."""
        self._check_fitted()
        frame = as_frame(frame)
        t, X, index = self._prepare(frame)
        out = self._score_frame(t, X)
        return pd.Series(out, index=caller_index(frame, index), name="score")

    def _score_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        work = self if self._static else copy.deepcopy(self)
        out = np.empty(len(X))
        for i in range(len(X)):
            out[i] = work._score_point(int(t[i]), X[i])
            if not self._static:
                work._learn_point(int(t[i]), X[i])
                work.n_seen_ += 1
        return out

    def learn_one(self, timestamp: Any, values: Mapping[str, float]) -> None:
        """Update the state with one point (starts the detector if it is new)."""
        if not self.is_fitted:
            self._start(metric_names(values))
        t, x = self._point(timestamp, values)
        self._learn_point(t, x)
        self.n_seen_ += 1

    def score_one(self, timestamp: Any, values: Mapping[str, float]) -> float:
        """Score of one point given everything learned so far; changes no state."""
        self._check_fitted()
        t, x = self._point(timestamp, values)
        return float(self._score_point(t, x))

    def explain_one(self, timestamp: Any, values: Mapping[str, float]) -> Explanation:
        """Score plus per-feature contributions, largest first; changes no state."""
        self._check_fitted()
        t, x = self._point(timestamp, values)
        return self._explain(t, x)

    def _explain_many(self, t: np.ndarray, X: np.ndarray) -> list[Explanation]:
        """Explanations of many points against the current state (batch models vectorise)."""
        return [self._explain(int(t[i]), X[i]) for i in range(len(X))]

    def _explain(self, t: int, x: np.ndarray) -> Explanation:
        score = float(self._score_point(t, x))
        contribs = sorted(self._explain_point(t, x), key=lambda c: -c.weight)
        return Explanation(score, tuple(contribs))


def as_frame(frame: Any) -> pd.DataFrame:
    """A DataFrame as it is; a Series as a one-column frame (named by the Series, else
    ``value``); anything else is an InputError."""
    if isinstance(frame, pd.Series):
        return frame.to_frame(str(frame.name) if frame.name is not None else "value")
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"expected a pandas DataFrame (or Series), got {type(frame).__name__}")
    return frame


def metric_names(keys: Iterable[Any]) -> list[str]:
    """The metrics among a point's keys: not the ground-truth columns nor a timestamp."""
    return [str(k) for k in keys if k not in LABEL_COLUMNS and k != "timestamp"]


def _is_number(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError, OverflowError):
        return False
    return True
