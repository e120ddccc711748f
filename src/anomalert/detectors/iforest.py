"""Isolation Forest on (optionally scaled) features, fitted on a known-good window.

The score is ``-score_samples`` (higher = more anomalous, in (0, 1]). With ``threshold="auto"``,
``threshold_`` is the training window's ``1 - contamination`` score quantile, without labels:

- ``contamination="auto"`` (the default) stands for :data:`AUTO_CONTAMINATION` (0.001): a clean
  window flags one point in a thousand of itself, and later points like it about as rarely.
  (scikit-learn's own boundary for ``"auto"``, ``-offset_`` = 0.5, ignores the series: it
  flagged 47 % of the CPU tutorial's week.)
- a float ``contamination`` fixes the flagged fraction *of the training window* by
  construction (the threshold is scikit-learn's ``-offset_``); the false-positive rate follows.

A number for ``threshold`` fixes it. Incidents filling more than 0.1 % of the window raise the
quantile: give ``contamination`` their share, or train on a cleaner window.

scikit-learn's score saturates: a point past the window's range in one feature follows the
window's most extreme points down every tree and scores as they do, however far out it is
(the CPU tutorial's spike to 100 % scored below the window's own extremes, 13-68 %). So a
value more than ``beyond_range`` (default half) of the window's width past its range is
scored as new: at each node on its path it may be cut off alone, with the chance a uniform
split of that node's training values and it would have (farther out, likelier), so the
score keeps rising with the distance. Points within that margin -- almost all, and every
training point -- score exactly as scikit-learn's; ``beyond_range=None`` gives scikit-learn's
scores everywhere (the tutorial presets). Measured in ``benchmarks/quality.md``: NAB at the
own threshold 40.5 -> 45.8 on the shared files; on a series whose training window misses
part of its normal range (a day's traffic trained on its first hours) it pages the rest.

The model is static after fit: ``learn_one`` on a fitted forest changes nothing. Started by
``learn_one`` instead of ``fit``, it buffers ``min_samples`` points, fits on them and
calibrates on their scores the same way.

Each explanation is an attribution, not a correlation: a feature's share is how much the
score drops when that feature alone is put back at its training median.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=500, freq="1min", tz="UTC")
>>> rng = np.random.default_rng(0)
>>> frame = pd.DataFrame({"a": rng.normal(size=500), "b": rng.normal(size=500)}, index=idx)
>>> det = IForest(random_state=0).fit(frame)
>>> bool(det.threshold_ == np.quantile(det.train_scores_, 0.999))  # contamination="auto"
True
>>> det.explain_one(idx[-1], {"a": 0.0, "b": 9.0}).top.metric
'b'
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from anomalert.detectors.base import Contribution, Detector, Explanation, Interval, Options
from anomalert.features import FEATURE_SETS

if TYPE_CHECKING:  # scikit-learn and numba load only when a forest is fitted
    from sklearn.ensemble import IsolationForest

    from anomalert.detectors._fastforest import CompiledForest

__all__ = ["AUTO_CONTAMINATION", "IForest"]

#: The training window's share above ``threshold_`` when ``contamination="auto"``.
AUTO_CONTAMINATION = 0.001


class IForest(Detector):
    """scikit-learn's IsolationForest behind the anomalert contract.

    Parameters
    ----------
    n_estimators, max_samples, contamination, random_state
        As in :class:`sklearn.ensemble.IsolationForest`.
    scale
        Standardise features with the training window's mean and standard deviation.
    features
        Feature set (see :mod:`anomalert.features`).
    min_samples
        Points buffered before fitting when started by ``learn_one``.
    threshold
        ``"auto"``: the training window's ``1 - contamination`` score quantile,
        ``contamination="auto"`` standing for :data:`AUTO_CONTAMINATION`; a number fixes it.
    beyond_range
        How far past the training window's range, as a fraction of its width, a value must
        lie before it is scored as new: isolated sooner the farther out (see the module).
        ``None``: scikit-learn's scores exactly (the tutorial presets).
    """

    name: ClassVar[str] = "iforest"
    _default_threshold: ClassVar[float] = 0.5  # only before a forest exists (scores are NaN)
    _static: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_estimators": [Interval(int, 1, None)],
        "max_samples": [Options(("auto",)), Interval(int, 1, None), Interval(float, 0, 1, closed="right")],
        "contamination": [Options(("auto",)), Interval(float, 0, 0.5, closed="right")],
        "scale": [bool],
        "features": [Options(FEATURE_SETS)],
        "min_samples": [Interval(int, 2, None)],
        "random_state": [Interval(int, 0, None), None],
        "threshold": [Interval(float, 0, None, closed="neither"), Options(("auto",))],
        "beyond_range": [Interval(float, 0, None), None],
    }

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        max_samples: str | int | float = "auto",
        contamination: str | float = "auto",
        scale: bool = True,
        features: str = "rates",
        min_samples: int = 256,
        random_state: int | None = 0,
        threshold: float | str = "auto",
        beyond_range: float | None = 0.5,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.scale = scale
        self.features = features
        self.min_samples = min_samples
        self.random_state = random_state
        self.threshold = threshold
        self.beyond_range = beyond_range

    def _reset(self, n_features: int) -> None:
        self.model_: IsolationForest | None = None
        self.buffer_: list[np.ndarray] = []

    def _fit_model(self, X: np.ndarray) -> np.ndarray:
        med = np.nanmedian(X, axis=0)
        self.median_ = np.where(np.isfinite(med), med, 0.0)
        X = np.where(np.isnan(X), self.median_, X)
        if self.scale:
            self.mean_ = X.mean(axis=0)
            sd = X.std(axis=0)
            self.std_ = np.where(sd > 0, sd, 1.0)
        else:
            self.mean_ = np.zeros(X.shape[1])
            self.std_ = np.ones(X.shape[1])
        self.spread_ = np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
        from sklearn.ensemble import IsolationForest

        from anomalert.detectors._fastforest import CompiledForest

        model = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            contamination=self.contamination,
            random_state=self.random_state,
        )
        model.fit(self._scaled(X))
        self.model_ = model
        # Scoring goes through the same trees flattened and compiled: equal to scikit-learn's
        # score_samples, several times faster in batch and microseconds for one point.
        self.forest_: CompiledForest = CompiledForest.from_sklearn(model)
        if self.beyond_range is not None:
            self.forest_.learn_boxes(self._scaled(X), gate=float(self.beyond_range))
        scores = -self.forest_.score_samples(self._scaled(X))  # (the same either way)
        if getattr(self, "threshold", "auto") == "auto":  # fit calibrates again, the same way
            self.threshold_ = self._calibrate(scores)
        return scores

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        if not self.scale:
            return X
        return (X - self.mean_) / self.std_

    def _fit_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        if len(X) < 2:
            from anomalert.errors import InputError

            raise InputError(f"IForest needs at least 2 training rows; got {len(X)}")
        return self._fit_model(X)

    def _calibrate(self, train_scores: np.ndarray) -> float:
        """The training window's ``1 - contamination`` score quantile (see the module)."""
        if self.contamination == "auto":
            return float(np.quantile(train_scores, 1.0 - AUTO_CONTAMINATION))
        assert self.model_ is not None
        return float(-self.model_.offset_)  # scikit-learn's quantile of the same scores

    def _raw_scores(self, X: np.ndarray) -> np.ndarray:
        assert self.model_ is not None
        X = np.where(np.isnan(X), self.median_, X)
        return -self.forest_.score_samples(self._scaled(X), beyond=self._beyond())

    def _beyond(self) -> bool:
        return getattr(self.forest_, "past_lo_", None) is not None

    def _score_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        if self.model_ is not None:
            return self._raw_scores(X)
        return super()._score_frame(t, X)

    def _score_point(self, t: int, x: np.ndarray) -> float:
        if self.model_ is None:
            return math.nan
        x = np.where(np.isnan(x), self.median_, x)
        return -float(self.forest_.score_one(self._scaled(x), beyond=self._beyond()))

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        if self.model_ is None:
            self.buffer_.append(np.array(x, dtype=float))
            if len(self.buffer_) >= self.min_samples:
                self._fit_model(np.vstack(self.buffer_))
                self.buffer_ = []

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        return self._occlusion(x[None, :])[0]

    def _explain_many(self, t: np.ndarray, X: np.ndarray) -> list[Explanation]:
        contribs = self._occlusion(X)
        scores = self._raw_scores(X) if self.model_ is not None else np.full(len(X), np.nan)
        return [
            Explanation(float(s), tuple(sorted(c, key=lambda k: -k.weight)))
            for s, c in zip(scores, contribs, strict=True)
        ]

    def _occlusion(self, X: np.ndarray) -> list[list[Contribution]]:
        """Per row, each feature's share: the score drop when it alone goes to its median."""
        if self.model_ is None:
            return [[] for _ in range(len(X))]
        X = np.where(np.isnan(X), self.median_, X)
        n, m = X.shape
        rows = np.repeat(X[:, None, :], m + 1, axis=1)
        for j in range(m):
            rows[:, j + 1, j] = self.median_[j]
        scores = self._raw_scores(rows.reshape(-1, m)).reshape(n, m + 1)
        return [
            [
                Contribution(
                    self.features_[j],
                    float(X[i, j]),
                    float(self.median_[j]),
                    float(self.spread_[j]),
                    float((X[i, j] - self.median_[j]) / self.spread_[j]),
                    share=float(scores[i, 0] - scores[i, j + 1]),
                )
                for j in range(m)
            ]
            for i in range(n)
        ]
