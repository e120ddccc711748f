"""Published-method peers wrapped in anomalert's detector contract (benchmarks only).

These wrap libraries from the ``bench`` extra (``pip install -e '.[bench]'``: river, pyod) so
they run through exactly the same harnesses as our detectors (``run_nab``, ``detect``). They
are deliberately *not* registered in :data:`anomalert.detectors.REGISTRY`: the package and its
tests do not depend on river or pyod.

- :class:`RiverHST`: River's ``preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(...)``
  (the pipeline River documents), fed the point's features and optionally ``lags`` previous
  values of each. River's own thresholding (``anomaly.QuantileFilter``) flags scores above a
  quantile of the scores seen; here that quantile is taken once over the training window.
- :class:`PyODWindows`: PyOD's ``IForest`` over sliding windows of ``window`` consecutive
  points (flattened, oldest first), fitted on the training window's sliding windows; its own
  threshold is PyOD's ``threshold_`` (the ``contamination`` quantile of the training scores).
  ``refit_every`` optionally refits on the last ``memory`` learned points.

Both follow the contract: keyword-only ``__init__`` that stores parameters, validation at
fit, causal scores (a point is scored against what was learned before it), ``score_one``
changes no state, NaN during warm-up, higher = more anomalous.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from anomalert.detectors.base import Contribution, Detector, Interval, Options, calibrate_threshold
from anomalert.features import FEATURE_SETS

__all__ = ["PEERS", "PyODWindows", "RiverHST"]


class RiverHST(Detector):
    """River ``MinMaxScaler | HalfSpaceTrees`` on the features and their ``lags`` past values.

    Parameters
    ----------
    n_trees, height, window_size, seed
        ``river.anomaly.HalfSpaceTrees`` parameters (River's defaults).
    lags
        Previous learned values of each feature appended to the point (0: the point alone).
    quantile
        Own threshold: this quantile of the causal training scores (River's
        ``QuantileFilter`` idea, frozen after fit).
    features
        Feature set (see :mod:`anomalert.features`).
    """

    name: ClassVar[str] = "river-hst"
    # HST scores lie in [0, 1]: a provisional threshold of 1 learns every training point.
    _default_threshold: ClassVar[float] = 1.0
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_trees": [Interval(int, 1, None)],
        "height": [Interval(int, 1, None)],
        "window_size": [Interval(int, 2, None)],
        "lags": [Interval(int, 0, None)],
        "quantile": [Interval(float, 0, 1, closed="neither")],
        "seed": [Interval(int, 0, None), None],
        "features": [Options(FEATURE_SETS)],
    }

    def __init__(
        self,
        *,
        n_trees: int = 10,
        height: int = 8,
        window_size: int = 250,
        lags: int = 0,
        quantile: float = 0.99,
        seed: int | None = 42,
        features: str = "rates",
    ) -> None:
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.lags = lags
        self.quantile = quantile
        self.seed = seed
        self.features = features

    def _reset(self, n_features: int) -> None:
        from river import anomaly, preprocessing

        self.model_ = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(
            n_trees=self.n_trees, height=self.height, window_size=self.window_size, seed=self.seed
        )
        self.last_ = np.zeros(n_features)  # last learned value of each feature (NaN imputation)
        self.past_: deque[np.ndarray] = deque(maxlen=max(self.lags, 1))
        self.learned_ = 0

    def _row(self, x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(x), self.last_, x)

    def _dict(self, x: np.ndarray) -> dict[str, float]:
        out = {f: float(v) for f, v in zip(self.features_, x, strict=True)}
        for k in range(1, self.lags + 1):
            lag = self.past_[-k] if len(self.past_) >= k else x
            out.update({f"{f}_lag{k}": float(v) for f, v in zip(self.features_, lag, strict=True)})
        return out

    def _score_point(self, t: int, x: np.ndarray) -> float:
        # HST's first window has no reference mass (River returns 0): warm-up, NaN.
        if self.learned_ < self.window_size:
            return math.nan
        return float(self.model_.score_one(self._dict(self._row(x))))

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        row = self._row(x)
        self.model_.learn_one(self._dict(row))
        self.past_.append(row)
        self.last_ = row
        self.learned_ += 1

    def _calibrate(self, train_scores: np.ndarray) -> float:
        return calibrate_threshold(train_scores, floor=0.0, quantile=self.quantile, factor=1.0)

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        scaler = self.model_.steps["MinMaxScaler"]
        out = []
        for f, v in zip(self.features_, self._row(x), strict=True):
            if f not in scaler.min:
                continue
            lo, hi = float(scaler.min[f].get()), float(scaler.max[f].get())
            if not (math.isfinite(lo) and math.isfinite(hi)):
                continue
            base, scale = (lo + hi) / 2, max((hi - lo) / 2, 1e-9)
            out.append(Contribution(f, float(v), base, scale, (v - base) / scale))
        return out


class PyODWindows(Detector):
    """PyOD ``IForest`` on sliding windows of ``window`` consecutive points.

    Parameters
    ----------
    window
        Points per window (the scored point and ``window - 1`` learned points before it).
    n_estimators, max_samples, contamination, random_state
        ``pyod.models.iforest.IForest`` parameters; ``contamination`` sets PyOD's
        ``threshold_``, which is the detector's own threshold.
    refit_every
        Refit on the windows of the last ``memory`` learned points after this many learned
        points (``None``: fit once, on the training window).
    memory
        Learned points kept for refits.
    min_samples
        Learned points needed before a first fit when there was no training window.
    features
        Feature set (see :mod:`anomalert.features`).

    Notes
    -----
    The score is ``-score_samples`` of the underlying scikit-learn forest, i.e. PyOD's
    ``decision_function`` minus the forest's ``offset_`` (in ``(0, 1]``, higher = more
    anomalous), so ``s / (s + threshold)`` calibration sees a non-negative score.
    """

    name: ClassVar[str] = "pyod-iforest"
    _default_threshold: ClassVar[float] = 1.0
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "window": [Interval(int, 1, None)],
        "n_estimators": [Interval(int, 1, None)],
        "max_samples": [Interval(int, 2, None), Options(("auto",))],
        "contamination": [Interval(float, 0, 0.5, closed="right")],
        "random_state": [Interval(int, 0, None), None],
        "refit_every": [Interval(int, 1, None), None],
        "memory": [Interval(int, 2, None)],
        "min_samples": [Interval(int, 2, None)],
        "features": [Options(FEATURE_SETS)],
    }

    def __init__(
        self,
        *,
        window: int = 10,
        n_estimators: int = 100,
        max_samples: int | str = "auto",
        contamination: float = 0.01,
        random_state: int | None = 42,
        refit_every: int | None = None,
        memory: int = 2000,
        min_samples: int = 256,
        features: str = "rates",
    ) -> None:
        self.window = window
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.contamination = contamination
        self.random_state = random_state
        self.refit_every = refit_every
        self.memory = memory
        self.min_samples = min_samples
        self.features = features

    def _check_params(self) -> None:
        from anomalert.errors import ParameterError

        if self.memory < self.window + 1:
            raise ParameterError(
                f"The 'memory' parameter of PyODWindows must be > window ({self.window}). "
                f"Got {self.memory} instead."
            )

    def _reset(self, n_features: int) -> None:
        self.model_: Any = None
        self.history_: deque[np.ndarray] = deque(maxlen=self.memory)
        self.since_fit_ = 0
        self.last_ = np.zeros(n_features)

    def _windows(self, rows: np.ndarray) -> np.ndarray:
        w = self.window
        if len(rows) < w:
            return np.empty((0, w * rows.shape[1]))
        view = np.lib.stride_tricks.sliding_window_view(rows, w, axis=0)  # (n-w+1, m, w)
        return view.transpose(0, 2, 1).reshape(len(rows) - w + 1, -1)

    def _fit_model(self, rows: np.ndarray) -> np.ndarray | None:
        wins = self._windows(rows)
        if len(wins) < 2:
            return None
        from pyod.models.iforest import IForest

        model = IForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            contamination=self.contamination,
            random_state=self.random_state,
            n_jobs=1,
        )
        model.fit(wins)
        self.model_ = model
        self.offset_ = float(model.detector_.offset_)
        if getattr(self, "threshold", "auto") == "auto":
            self.threshold_ = float(model.threshold_) - self.offset_
        self.since_fit_ = 0
        return np.asarray(model.decision_scores_, dtype=float) - self.offset_

    def _impute(self, X: np.ndarray) -> np.ndarray:
        out = np.array(X, dtype=float)
        last = self.last_.copy()
        for i in range(len(out)):
            out[i] = np.where(np.isnan(out[i]), last, out[i])
            last = out[i]
        return out

    def _fit_frame(self, t: np.ndarray, X: np.ndarray) -> np.ndarray:
        rows = self._impute(X)
        for r in rows:
            self.history_.append(r)
        self.last_ = rows[-1].copy()
        self.n_seen_ += len(rows)
        out = np.full(len(rows), np.nan)
        scores = self._fit_model(rows)
        if scores is not None:
            out[self.window - 1 :] = scores
        return out

    def _calibrate(self, train_scores: np.ndarray) -> float:
        return float(self.threshold_)

    def _score_point(self, t: int, x: np.ndarray) -> float:
        if self.model_ is None or len(self.history_) < self.window - 1:
            return math.nan
        row = np.where(np.isnan(x), self.last_, x)
        past = list(self.history_)[len(self.history_) - (self.window - 1) :]
        win = np.concatenate([*past, row])[None, :]
        return float(self.model_.decision_function(win)[0]) - self.offset_

    def _learn_point(self, t: int, x: np.ndarray) -> None:
        row = np.where(np.isnan(x), self.last_, x)
        self.history_.append(row)
        self.last_ = row
        self.since_fit_ += 1
        due = self.model_ is None and len(self.history_) >= self.min_samples
        if self.refit_every is not None and self.since_fit_ >= self.refit_every:
            due = True
        if due:
            self._fit_model(np.vstack(self.history_))

    def _explain_point(self, t: int, x: np.ndarray) -> list[Contribution]:
        if not self.history_:
            return []
        hist = np.vstack(self.history_)
        med = np.median(hist, axis=0)
        spread = np.where(hist.std(axis=0) > 0, hist.std(axis=0), 1.0)
        row = np.where(np.isnan(x), self.last_, x)
        return [
            Contribution(f, float(v), float(m), float(s), float((v - m) / s))
            for f, v, m, s in zip(self.features_, row, med, spread, strict=True)
        ]


#: Peer label -> factory, as the quality tables name them.
PEERS: dict[str, Callable[[], Detector]] = {
    "river-hst": lambda: RiverHST(),
    "river-hst (3 lags)": lambda: RiverHST(lags=3),
    "pyod-iforest (w=10)": lambda: PyODWindows(window=10),
    "pyod-iforest (w=10, refit 1000)": lambda: PyODWindows(window=10, refit_every=1000),
}
