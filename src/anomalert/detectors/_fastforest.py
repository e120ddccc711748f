"""Compiled scoring for a fitted scikit-learn ``IsolationForest``.

:class:`CompiledForest` flattens the trees of a fitted forest into concatenated numpy arrays
and walks them in one ``numba`` call per batch or per row (no per-tree Python overhead, one
core). Scores equal ``IsolationForest.score_samples`` bit for bit on every input we test,
because each step of scikit-learn's computation is reproduced:

- input is cast to float32 as scikit-learn's trees do; ``x`` goes right when ``x > t``
  (``t`` is float64; we compare with the largest float32 ``<= t``, equivalent for float32 x);
- NaN follows each node's ``missing_go_to_left`` (scikit-learn >= 1.6 scores NaN; with an
  older one, which rejects non-finite input, we raise a ``ValueError`` as it does);
- a tree reads the columns of ``estimators_features_`` only when ``max_features`` is below
  the number of features (as scikit-learn does: otherwise it trained on all columns);
- a leaf adds ``depth + c(n_node_samples)``, summed in tree order; the score is
  ``-2 ** (-sum / (n_trees * c(max_samples)))``.

Nodes are renumbered breadth-first per tree so that siblings are adjacent (right = left + 1),
and a leaf is its own child behind a ``+inf`` threshold: a tree is then walked in a fixed
number of branch-free steps, and several walks overlap in the CPU. The batch walk compares
uint32 keys that sort like the float32 values (an integer compare has a shorter latency);
rows holding a NaN are walked again on floats. The compiled walks are in
:mod:`anomalert.detectors._forestwalk`.

Examples
--------
>>> import numpy as np
>>> from sklearn.ensemble import IsolationForest
>>> X = np.random.default_rng(0).normal(size=(200, 3))
>>> model = IsolationForest(n_estimators=20, random_state=0).fit(X)
>>> forest = CompiledForest.from_sklearn(model)
>>> bool((forest.score_samples(X) == model.score_samples(X)).all())
True
>>> forest.score_one(X[0]) == float(model.score_samples(X[:1])[0])
True
"""

from __future__ import annotations

import math
from typing import Any, Self

import numpy as np
from sklearn.ensemble import IsolationForest

from anomalert.detectors._forestwalk import (
    LANES,
    batch_totals,
    beyond_totals,
    order_key,
    route_boxes,
    score_one,
    score_one_beyond,
)
from anomalert.errors import InputError, NotFittedError

__all__ = ["CompiledForest", "average_path_length"]

_NODE_ARRAYS = ("child", "feature", "threshold", "nan_right", "value")

Array = np.ndarray


def average_path_length(n_samples: Array) -> Array:
    """Average path length ``c(n)`` of an unsuccessful search in a binary tree of ``n`` items.

    The expression of scikit-learn's private ``_average_path_length``, evaluated in the same
    order: ``0`` for ``n <= 1``, ``1`` for ``n == 2``, else ``2 (ln(n-1) + gamma) - 2 (n-1)/n``.

    Parameters
    ----------
    n_samples
        Numbers of training samples (any shape).

    Returns
    -------
    numpy.ndarray
        ``c(n)`` as float64, same shape as ``n_samples``.

    Examples
    --------
    >>> average_path_length(np.array([1, 2, 256])).round(4).tolist()
    [0.0, 1.0, 10.2448]
    """
    n = np.asarray(n_samples, dtype=np.float64)
    out = np.zeros(n.shape)
    big = n > 2
    out[n == 2] = 1.0
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _float32_floor(threshold: Array) -> Array:
    """The largest float32 ``<=`` each float64 threshold: for float32 ``x``, ``x > t`` iff
    ``x > _float32_floor(t)``."""
    with np.errstate(over="ignore"):
        t32 = threshold.astype(np.float32)
    above = t32.astype(np.float64) > threshold
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


# ---------------------------------------------------------------------- flattening
def _allows_nan(model: IsolationForest) -> bool:
    """Whether this scikit-learn version lets ``model.score_samples`` accept NaN."""
    try:
        return bool(model.__sklearn_tags__().input_tags.allow_nan)
    except AttributeError:  # scikit-learn < 1.6
        return bool(model._get_tags().get("allow_nan", False))


def _flatten_tree(tree: Any, features: Array | None, offset: int) -> tuple[int, dict[str, Array]]:
    """One tree's nodes renumbered breadth-first from ``offset``: its depth and node arrays."""
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    n_nodes = int(tree.node_count)
    levels, depth = [np.zeros(1, dtype=np.int64)], 0
    level_of = np.zeros(n_nodes, dtype=np.int64)
    while (inner := levels[-1][left[levels[-1]] != -1]).size:
        depth += 1
        levels.append(np.stack([left[inner], right[inner]], axis=1).ravel())
        level_of[levels[-1]] = depth
    order = np.concatenate(levels)  # old ids in breadth-first order: siblings adjacent
    if order.size != n_nodes:
        raise ValueError("a tree of the forest is not a connected binary tree")
    new_id = np.empty(n_nodes, dtype=np.int64)
    new_id[order] = np.arange(n_nodes) + offset
    leaf = left[order] == -1
    feat = np.where(leaf, 0, np.asarray(tree.feature, dtype=np.int64)[order])
    if features is not None:
        feat = np.where(leaf, 0, np.asarray(features, dtype=np.int64)[feat])
    threshold = _float32_floor(np.asarray(tree.threshold, dtype=np.float64)[order])
    threshold[leaf] = np.inf
    missing_left = getattr(tree, "missing_go_to_left", None)  # scikit-learn >= 1.3
    nan_right = np.zeros(n_nodes, dtype=np.bool_)
    if missing_left is not None:
        nan_right = ~np.asarray(missing_left, dtype=np.bool_)[order] & ~leaf
    # as scikit-learn: (path length with the root at 1) + c(n_node_samples) - 1.0
    path_length = (level_of[order] + 1).astype(np.float64)
    value = path_length + average_path_length(np.asarray(tree.n_node_samples)[order]) - 1.0
    child = new_id[np.where(leaf, order, left[order])]
    return depth, dict(zip(_NODE_ARRAYS, (child, feat, threshold, nan_right, value), strict=True))


class CompiledForest:
    """A fitted ``IsolationForest`` flattened into arrays and scored by compiled code.

    Build it with :meth:`from_sklearn`. It holds plain numpy arrays only, so it pickles
    like any small object; the compiled functions live at module level, cached on disk by
    numba. Calls are stateless and release the GIL.

    Parameters
    ----------
    roots, depths
        Per tree: id of its root node and its depth (steps from the root to any leaf).
    child, feature, threshold, nan_right, value
        Per node: id of the left child (right is ``child + 1``; a leaf is its own child),
        input column, float32 threshold (right when above), whether NaN goes right, and the
        leaf's ``depth + c(n_node_samples)``.
    denominator
        ``n_trees * c(max_samples)``.
    n_features_in
        Number of columns expected.
    offset
        The model's ``offset_`` (its ``decision_function`` is ``score_samples - offset_``).
    allow_nan
        Whether NaN is scored (scikit-learn >= 1.6) or, like older versions, rejected.
    """

    def __init__(
        self, *, roots: Array, depths: Array, child: Array, feature: Array, threshold: Array,
        nan_right: Array, value: Array, denominator: float, n_features_in: int, offset: float,
        allow_nan: bool, subsampled_features: bool = False,
    ) -> None:
        if np.size(child) >= 2**32:
            raise ValueError("more than 2**32 nodes in the forest")
        # unsigned indices: the compiled walk needs no negative-index handling
        self.roots_ = np.ascontiguousarray(roots, dtype=np.uint32)
        self.depths_ = np.ascontiguousarray(depths, dtype=np.int32)
        self.child_ = np.ascontiguousarray(child, dtype=np.uint32)
        self.feature_ = np.ascontiguousarray(feature, dtype=np.uint32)
        self.threshold_ = np.ascontiguousarray(threshold, dtype=np.float32)
        self.nan_right_ = np.ascontiguousarray(nan_right, dtype=np.bool_)
        self.value_ = np.ascontiguousarray(value, dtype=np.float64)
        nodes = {a.size for a in (self.feature_, self.threshold_, self.nan_right_, self.value_)}
        if nodes != {self.child_.size} or self.roots_.size != self.depths_.size:
            raise ValueError("node arrays and tree arrays must have matching lengths")
        self._lane_feature = self.feature_ * np.uint32(LANES)  # where the walks read
        # integer keys of the thresholds; a leaf's is the largest, so any row stays there
        self._key = order_key(self.threshold_)
        self._key[self.child_ == np.arange(self.child_.size)] = np.iinfo(np.uint32).max
        self.denominator_ = float(denominator)
        self.n_features_in_ = int(n_features_in)
        self.offset_ = float(offset)
        self.allow_nan_ = bool(allow_nan)
        self.subsampled_features_ = bool(subsampled_features)
        self.n_estimators_ = int(self.roots_.size)

    @classmethod
    def from_sklearn(cls, model: IsolationForest) -> Self:
        """Flatten a fitted scikit-learn ``IsolationForest``.

        Parameters
        ----------
        model
            A fitted ``IsolationForest`` (any ``max_samples``, ``max_features``,
            ``n_estimators``).

        Returns
        -------
        CompiledForest
            Scores equal to ``model.score_samples``.

        Raises
        ------
        TypeError
            If ``model`` is not an ``IsolationForest``.
        NotFittedError
            If ``model`` has not been fitted.
        """
        if not isinstance(model, IsolationForest):
            raise TypeError(f"expected a fitted sklearn IsolationForest, got {type(model)!r}")
        if not hasattr(model, "estimators_"):
            raise NotFittedError("this IsolationForest is not fitted yet; call fit first")
        n_features = int(model.n_features_in_)
        # scikit-learn picks each tree's columns only when it subsampled them at fit time
        subsample = int(getattr(model, "_max_features", n_features)) != n_features
        max_samples = getattr(model, "_max_samples", model.max_samples_)
        depths, parts, offset = [], [], 0
        for tree, features in zip(model.estimators_, model.estimators_features_, strict=True):
            depth, arrays = _flatten_tree(tree.tree_, features if subsample else None, offset)
            depths.append(depth)
            parts.append(arrays)
            offset += arrays["child"].size
        sizes = [p["child"].size for p in parts]
        return cls(
            roots=np.cumsum([0, *sizes[:-1]]),
            depths=np.asarray(depths),
            **{k: np.concatenate([p[k] for p in parts]) for k in _NODE_ARRAYS},
            denominator=float(len(parts) * average_path_length(np.array([max_samples]))[0]),
            n_features_in=n_features,
            offset=float(model.offset_),
            allow_nan=_allows_nan(model),
            subsampled_features=subsample,
        )

    def __repr__(self) -> str:
        return (
            f"CompiledForest(n_estimators={self.n_estimators_}, "
            f"n_nodes={self.child_.size}, n_features_in={self.n_features_in_})"
        )

    def _as_array(self, X: Any, ndim: int) -> Array:
        """``X`` checked and cast to a C-ordered float32 array."""
        if hasattr(X, "toarray") and hasattr(X, "nnz"):  # scipy sparse
            X = X.toarray()
        arr = np.asarray(X)
        if arr.dtype.kind == "c":
            raise InputError("Complex data not supported; expected real numbers.")
        if ndim == 1 and arr.ndim == 2 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != ndim:
            shape = "a 1-D row" if ndim == 1 else "a 2-D array (n_samples, n_features)"
            raise InputError(f"Expected {shape}, got an array of shape {arr.shape}.")
        if arr.shape[-1] != self.n_features_in_:
            raise InputError(
                f"X has {arr.shape[-1]} features, but CompiledForest is expecting "
                f"{self.n_features_in_} features as input."
            )
        try:  # numpy's own cast, as scikit-learn's
            with np.errstate(over="ignore"):
                arr = np.ascontiguousarray(arr, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InputError(f"X must hold numbers; could not convert: {exc}") from exc
        if not self.allow_nan_ and not np.isfinite(arr).all():
            bad = tuple(np.argwhere(~np.isfinite(arr))[0].tolist())
            raise InputError(
                f"Input X contains NaN or infinity (first at index {bad}, after the float32 "
                "cast); this scikit-learn version's IsolationForest rejects non-finite values."
            )
        return arr

    def learn_boxes(self, X: Any, gate: float = 0.0) -> Self:
        """Record, per node, the range of each feature over the rows of ``X`` (the training
        rows) that reach it: what ``beyond=True`` scoring measures a row against.

        ``gate``: how far past the range of ``X`` (as a fraction of its width, per feature)
        a value must lie before ``beyond=True`` treats it as new. A row of ``X`` lies
        inside the box of every node on its paths, so its ``beyond=True`` score equals its
        plain one."""
        if not (math.isfinite(gate) and gate >= 0):
            raise ValueError(f"gate must be a finite number >= 0, got {gate!r}")
        if self.subsampled_features_:
            raise ValueError("beyond=True needs trees that split on every feature "
                             "(max_features=1.0)")
        self._as_array(X, ndim=2)  # checked only: the walk casts each row as scoring does
        raw = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        n = self.child_.size
        lo = np.full((n, self.n_features_in_), np.inf)
        hi = np.full((n, self.n_features_in_), -np.inf)
        route_boxes(raw, self.roots_, self.child_, self.feature_, self.threshold_,
                     self.nan_right_, lo, hi)
        # a node no row reached (none: every node has training samples) stays unbounded
        self.lo_, self.hi_ = lo, hi
        root = int(self.roots_[0])  # every root's box is the training window's range
        margin = float(gate) * (hi[root] - lo[root])
        self.past_lo_, self.past_hi_ = lo[root] - margin, hi[root] + margin
        return self

    def _totals_beyond(self, X: Any) -> Array:
        if getattr(self, "lo_", None) is None:
            raise NotFittedError("beyond=True needs the training rows' boxes: call learn_boxes")
        arr = self._as_array(X, ndim=2)  # the same checks as the plain path
        raw = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        out = np.empty(raw.shape[0], dtype=np.float64)
        batch_totals(
            arr, self.roots_, self.depths_, self.child_, self.feature_, self._lane_feature,
            self.threshold_, self._key, self.nan_right_, self.value_, out,
        )
        beyond_totals(raw, self.roots_, self.child_, self.feature_, self.threshold_,
                       self.nan_right_, self.value_, self.lo_, self.hi_, self.past_lo_,
                       self.past_hi_, out)
        return out

    def score_samples(self, X: Any, *, beyond: bool = False) -> Array:
        """``IsolationForest.score_samples`` of every row: lower is more abnormal.

        Parameters
        ----------
        X
            Array-like of shape ``(n_samples, n_features)``, cast to float32 like
            scikit-learn does. An empty batch gives an empty result.
        beyond
            False: scikit-learn's scores. True (after :meth:`learn_boxes`): a row past the
            training rows' range (and its gate) in some feature may be isolated at each
            node on its path, the more likely the farther it is from that node's training
            values, so a spike far past anything seen scores as more abnormal than the
            window's own extremes (scikit-learn's path lengths stop shrinking at the range's
            edge). Other rows score exactly as scikit-learn's.

        Returns
        -------
        numpy.ndarray
            Float64 scores of shape ``(n_samples,)``, in ``[-1, 0)``.

        Raises
        ------
        InputError
            A ``ValueError``: wrong shape, non-numeric data, or non-finite values when the
            installed scikit-learn rejects them.
        """
        if beyond:
            out = self._totals_beyond(X)
        else:
            arr = self._as_array(X, ndim=2)
            out = np.empty(arr.shape[0], dtype=np.float64)
            batch_totals(
                arr, self.roots_, self.depths_, self.child_, self.feature_, self._lane_feature,
                self.threshold_, self._key, self.nan_right_, self.value_, out,
            )
        # the last step in numpy, written as scikit-learn writes it: equal bit for bit
        if self.denominator_ != 0.0:
            out /= self.denominator_
        else:  # a single training sample: scikit-learn sets the ratio to 1
            out[:] = 1.0
        return -(2.0**-out)

    def score_one(self, x: Any, *, beyond: bool = False) -> float:
        """``score_samples`` of a single row, in one compiled call.

        Parameters
        ----------
        x
            One row, of shape ``(n_features,)`` or ``(1, n_features)``.
        beyond
            As in :meth:`score_samples`.

        Returns
        -------
        float
            The row's score; lower is more abnormal.
        """
        if beyond:
            past_lo = getattr(self, "past_lo_", None)
            if past_lo is None or not (
                type(x) is np.ndarray and x.dtype == np.float64
                and x.shape == (self.n_features_in_,) and x.flags.c_contiguous
                and self.allow_nan_
            ):  # checks and errors as the batch path gives them
                row = np.asarray(x, dtype=np.float64).reshape(1, -1)
                return float(self.score_samples(row, beyond=True)[0])
            return float(score_one_beyond(
                x, self.roots_, self.depths_, self.child_, self.feature_, self.threshold_,
                self.nan_right_, self.value_, self.lo_, self.hi_, past_lo, self.past_hi_,
                self.denominator_,
            ))
        if not (  # fast path: a float64 row, cast to float32 inside the compiled call
            type(x) is np.ndarray
            and x.dtype == np.float64
            and x.shape == (self.n_features_in_,)
            and x.flags.c_contiguous
            and self.allow_nan_
        ):  # float32 -> float64 -> float32 is exact
            x = self._as_array(x, ndim=1).astype(np.float64)
        return float(
            score_one(
                x, self.roots_, self.depths_, self.child_, self.feature_, self.threshold_,
                self.nan_right_, self.value_, self.denominator_,
            )
        )
