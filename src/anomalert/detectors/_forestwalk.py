"""The compiled walks behind :class:`~anomalert.detectors._fastforest.CompiledForest`: a
tree's nodes flattened into arrays (a leaf is its own child behind a ``+inf`` threshold), walked
branch-free, several rows or trees at once so their walks overlap in the CPU; and the walk
that isolates a row past the training range (``beyond``)."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["LANES", "batch_totals", "beyond_totals", "order_key", "route_boxes", "row_total",
           "score_one", "score_one_beyond"]

BLOCK = 1024  # rows walked through one tree while it sits in L1 cache
LANES = 8  # rows walked together (independent walks the CPU can overlap)

Array = np.ndarray


@njit(inline="always")
def _step_nan(
    x: Array, node: int, child: Array, feature: Array, threshold: Array, nan_right: Array
) -> int:
    """One branch-free step down a tree (a leaf is its own child); NaN goes to its side."""
    v = x[feature[node]]
    return child[node] + np.uint32((v > threshold[node]) | ((v != v) & nan_right[node]))


@njit(inline="always")
def _step_key(
    x: Array, at: np.uint64, node: int, child: Array, feature: Array, key: Array
) -> int:
    """One step on order keys (see ``order_key``): an integer compare, shorter than a
    float one. The row's feature ``j`` is ``x[at + 8 j]`` (``feature`` holds ``8 j``)."""
    return child[node] + np.uint32(key[node] < x[at + feature[node]])


@njit(cache=True, nogil=True)
def row_total(
    x: Array, roots: Array, depths: Array, child: Array, feature: Array, threshold: Array,
    nan_right: Array, value: Array,
) -> float:
    """Sum, in tree order, of the leaf values one float32 row reaches (NaN allowed).

    Four trees are walked together so that their independent walks overlap in the CPU;
    walking past a leaf is harmless since a leaf is its own child.
    """
    total = 0.0
    n_trees = roots.shape[0]
    t = 0
    while t + 4 <= n_trees:
        a, b, c, d = roots[t], roots[t + 1], roots[t + 2], roots[t + 3]
        for _ in range(max(depths[t], depths[t + 1], depths[t + 2], depths[t + 3])):
            a = _step_nan(x, a, child, feature, threshold, nan_right)
            b = _step_nan(x, b, child, feature, threshold, nan_right)
            c = _step_nan(x, c, child, feature, threshold, nan_right)
            d = _step_nan(x, d, child, feature, threshold, nan_right)
        total += value[a]
        total += value[b]
        total += value[c]
        total += value[d]
        t += 4
    for rest in range(t, n_trees):
        a = roots[rest]
        for _ in range(depths[rest]):
            a = _step_nan(x, a, child, feature, threshold, nan_right)
        total += value[a]
    return total


@njit(cache=True, nogil=True)
def score_one(
    x: Array, roots: Array, depths: Array, child: Array, feature: Array, threshold: Array,
    nan_right: Array, value: Array, denominator: float,
) -> float:
    """``score_samples`` of one float64 row (cast to float32 here, as numpy casts)."""
    row = np.empty(x.shape[0], dtype=np.float32)
    for j in range(x.shape[0]):
        row[j] = x[j]
    total = row_total(row, roots, depths, child, feature, threshold, nan_right, value)
    ratio = total / denominator if denominator != 0.0 else 1.0
    return -(2.0 ** (-ratio))


@njit(cache=True, nogil=True)
def batch_totals(
    X: Array, roots: Array, depths: Array, child: Array, feature: Array, lane_feature: Array,
    threshold: Array, key: Array, nan_right: Array, value: Array, out: Array,
) -> None:
    """Per-row leaf-value sums of a C-ordered float32 matrix, written to ``out``.

    Rows go in blocks of ``BLOCK``, so one tree stays in L1 cache while it is walked for
    the whole block, eight rows at a time (eight independent walks in flight), comparing
    order keys. Each group of eight rows is copied feature-major (row ``k``'s feature ``j``
    at ``8 j + k``), so the walks read at constant offsets from one pointer. Rows with a NaN
    are then redone on floats with the missing-value rule.
    """
    n_rows, n_features = X.shape
    group = np.uint64(LANES * n_features)
    xt = np.zeros(BLOCK * n_features, dtype=np.uint32)
    acc = np.zeros(BLOCK)
    has_nan = np.zeros(BLOCK, dtype=np.bool_)
    one = np.zeros(1, dtype=np.float32)
    bits = one.view(np.uint32)
    for start in range(0, n_rows, BLOCK):
        m = min(BLOCK, n_rows - start)
        for r in range(m):
            at = (r // LANES) * LANES * n_features + r % LANES
            has_nan[r] = False
            for j in range(n_features):
                v = X[start + r, j]
                if v != v:  # any number will do: the row is redone below
                    has_nan[r] = True
                    v = np.float32(0.0)
                one[0] = v + np.float32(0.0)  # -0.0 -> +0.0, as in the keys
                k = bits[0]
                xt[at + LANES * j] = ~k if k >> np.uint32(31) else k | np.uint32(0x80000000)
        for r in range(BLOCK):  # explicit loops: slice assignment is slow to compile
            acc[r] = 0.0
        for t in range(roots.shape[0]):
            root, steps = roots[t], depths[t]
            at = np.uint64(0)
            for r in range(0, m, LANES):  # the last group may read stale padding: harmless
                n0 = n1 = n2 = n3 = n4 = n5 = n6 = n7 = root
                for _ in range(steps):
                    n0 = _step_key(xt, at, n0, child, lane_feature, key)
                    n1 = _step_key(xt, at + np.uint64(1), n1, child, lane_feature, key)
                    n2 = _step_key(xt, at + np.uint64(2), n2, child, lane_feature, key)
                    n3 = _step_key(xt, at + np.uint64(3), n3, child, lane_feature, key)
                    n4 = _step_key(xt, at + np.uint64(4), n4, child, lane_feature, key)
                    n5 = _step_key(xt, at + np.uint64(5), n5, child, lane_feature, key)
                    n6 = _step_key(xt, at + np.uint64(6), n6, child, lane_feature, key)
                    n7 = _step_key(xt, at + np.uint64(7), n7, child, lane_feature, key)
                acc[r] += value[n0]
                acc[r + 1] += value[n1]
                acc[r + 2] += value[n2]
                acc[r + 3] += value[n3]
                acc[r + 4] += value[n4]
                acc[r + 5] += value[n5]
                acc[r + 6] += value[n6]
                acc[r + 7] += value[n7]
                at += group
        for r in range(m):
            if has_nan[r]:
                acc[r] = row_total(
                    X[start + r], roots, depths, child, feature, threshold, nan_right, value
                )
            out[start + r] = acc[r]


@njit(cache=True, nogil=True)
def beyond_totals(
    X: Array, roots: Array, child: Array, feature: Array, threshold: Array, nan_right: Array,
    value: Array, lo: Array, hi: Array, past_lo: Array, past_hi: Array, out: Array,
) -> None:
    """Expected path-length sums of the rows past ``[past_lo, past_hi]`` (the training
    window's range and its gate) in some feature, written to ``out`` (other rows are left as
    they are: the caller's plain sums). See :meth:`CompiledForest.score_samples`.

    At a node whose training values span ``[a, b]`` in such a feature ``j``, a value
    ``v > b`` would be cut off alone by a uniform split of ``[a, v]`` with chance
    ``(v - b) / (v - a)`` (and symmetrically below); summed over those features and divided
    by the number of features (each is drawn with equal chance), that is the chance ``p``
    the row is isolated one level below this node. The row goes on down its real path with
    chance ``1 - p``. Features within the gate add nothing: a new point within it scores
    exactly as scikit-learn's, like the training rows the threshold was set on."""
    n_rows, m = X.shape
    row = np.empty(m, dtype=np.float32)
    past = np.empty(m, dtype=np.int64)
    for r in range(n_rows):
        n_past = 0
        for j in range(m):
            row[j] = X[r, j]
            if X[r, j] < past_lo[j] or X[r, j] > past_hi[j]:
                past[n_past] = j  # past the training window's range (every root's box)
                n_past += 1
        if n_past == 0:
            continue
        total = 0.0
        for t in range(roots.shape[0]):
            node = roots[t]
            depth = 0.0
            stay = 1.0  # chance the row was not isolated above this node
            expected = 0.0
            while True:
                p = 0.0
                for k in range(n_past):
                    j = past[k]
                    v = X[r, j]
                    a = lo[node, j]
                    b = hi[node, j]
                    if v > b:
                        p += (v - b) / (v - a)
                    elif v < a:
                        p += (a - v) / (b - v)
                leaf = child[node] == node
                if p > 0.0:
                    p /= m
                    cut = depth + 1.0
                    if leaf:
                        cut = min(cut, value[node])
                    expected += stay * p * cut
                    stay *= 1.0 - p
                if leaf:
                    break
                node = _step_nan(row, node, child, feature, threshold, nan_right)
                depth += 1.0
            if stay == 1.0:
                total += value[node]
            else:
                total += expected + stay * value[node]
        out[r] = total


@njit(cache=True, nogil=True)
def score_one_beyond(
    x: Array, roots: Array, depths: Array, child: Array, feature: Array, threshold: Array,
    nan_right: Array, value: Array, lo: Array, hi: Array, past_lo: Array, past_hi: Array,
    denominator: float,
) -> float:
    """``score_samples(beyond=True)`` of one float64 row, in one compiled call."""
    row = np.empty(x.shape[0], dtype=np.float32)
    for j in range(x.shape[0]):
        row[j] = x[j]
    out = np.empty(1)
    out[0] = row_total(row, roots, depths, child, feature, threshold, nan_right, value)
    beyond_totals(x.reshape((1, x.shape[0])), roots, child, feature, threshold, nan_right,
                   value, lo, hi, past_lo, past_hi, out)
    ratio = out[0] / denominator if denominator != 0.0 else 1.0
    return -(2.0 ** (-ratio))


@njit(cache=True, nogil=True)
def route_boxes(
    X: Array, roots: Array, child: Array, feature: Array, threshold: Array, nan_right: Array,
    lo: Array, hi: Array,
) -> None:
    """Widen each node's box to hold every row of ``X`` that reaches it."""
    n_rows, m = X.shape
    row = np.empty(m, dtype=np.float32)
    for r in range(n_rows):
        for j in range(m):
            row[j] = X[r, j]
        for t in range(roots.shape[0]):
            node = roots[t]
            while True:
                for j in range(m):
                    v = X[r, j]
                    if v < lo[node, j]:
                        lo[node, j] = v
                    if v > hi[node, j]:
                        hi[node, j] = v
                if child[node] == node:
                    break
                node = _step_nan(row, node, child, feature, threshold, nan_right)


def order_key(values: Array) -> Array:
    """uint32 keys ordered as the float32 values (-0.0 taken as +0.0; NaN excluded)."""
    bits = (np.asarray(values, dtype=np.float32) + np.float32(0.0)).view(np.uint32)
    return np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000)).astype(np.uint32)
