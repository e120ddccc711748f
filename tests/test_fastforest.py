"""CompiledForest: equal to IsolationForest.score_samples on any data, picklable, strict input."""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
from sklearn.ensemble import IsolationForest

from anomalert.detectors._fastforest import CompiledForest, _allows_nan, average_path_length
from anomalert.errors import NotFittedError

ATOL = 1e-9  # the contract; on every input below the batch scores are in fact bit-identical


def _fit(X: np.ndarray, **params: Any) -> tuple[IsolationForest, CompiledForest]:
    params = {"n_estimators": 25, "random_state": 0, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # max_samples > n_samples
        model = IsolationForest(**params).fit(X)
    return model, CompiledForest.from_sklearn(model)


def _assert_same(model: IsolationForest, forest: CompiledForest, X: Any) -> None:
    expected = model.score_samples(X)
    got = forest.score_samples(X)
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
    rows = np.asarray(X.toarray() if scipy.sparse.issparse(X) else X)
    for i in np.linspace(0, len(expected) - 1, min(len(expected), 7)).astype(int):
        assert abs(forest.score_one(rows[i]) - expected[i]) <= ATOL


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    train = rng.normal(size=(600, 5)) * [1.0, 10.0, 0.1, 1e4, 3.0]
    test = np.vstack([rng.normal(size=(400, 5)) * [1.0, 10.0, 0.1, 1e4, 3.0] * 3, train[:50]])
    return train, test


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"n_estimators": 1},
        {"n_estimators": 500, "max_samples": 32},
        {"max_features": 0.5},
        {"max_features": 2},
        {"max_features": 1, "n_estimators": 40},
        {"max_samples": 10},
        {"max_samples": 0.9},
        {"max_samples": 1000},  # above n_samples: clipped
        {"max_samples": 2},
        {"max_samples": 3},
        {"max_samples": 1},  # c(1) = 0: scikit-learn's special case
        {"bootstrap": True, "max_features": 0.6},
        {"contamination": 0.1},
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default",
)
def test_equal_to_sklearn_on_random_data(data: tuple[np.ndarray, np.ndarray], params: dict) -> None:
    train, test = data
    model, forest = _fit(train, **params)
    _assert_same(model, forest, test)  # holds 50 training rows too
    assert forest.n_estimators_ == len(model.estimators_)
    assert forest.offset_ == model.offset_


def test_batch_is_bit_identical(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    model, forest = _fit(train, n_estimators=60, max_features=0.8)
    assert np.array_equal(forest.score_samples(test), model.score_samples(test))
    # One row sums the same leaves in the same order; only the final 2 ** -x may differ in
    # the last bit (numpy's array power can be a SIMD routine, the compiled one is libm's).
    one = np.array([forest.score_one(r) for r in test[:40]])
    expected = model.score_samples(test[:40])
    assert np.max(np.abs(one - expected)) <= 4 * np.finfo(float).eps


def test_ties_duplicates_and_constant_columns() -> None:
    rng = np.random.default_rng(1)
    train = np.column_stack(
        [
            rng.integers(0, 3, 300),  # few distinct values: many ties
            np.full(300, 7.0),  # constant column: never split on
            np.repeat(rng.normal(size=30), 10),  # each value 10 times
            rng.normal(size=300),
        ]
    ).astype(float)
    train[:100] = train[0]  # a block of duplicated rows
    model, forest = _fit(train, n_estimators=40)
    grid = np.array([[a, c, b, d] for a in range(-1, 4) for b in (-1, 0, 1) for c in (6, 7, 8)
                     for d in (0.0, 2.0)], dtype=float)  # fmt: skip
    _assert_same(model, forest, train)
    _assert_same(model, forest, grid)
    all_same = np.tile(train[:1], (50, 1))
    _assert_same(*_fit(all_same), all_same)  # every tree is a single leaf


def test_signed_zeros_and_subnormals() -> None:
    tiny = np.float32(1e-45)  # the smallest subnormal float32
    values = np.array([-0.0, 0.0, tiny, -tiny, 2 * tiny, -2 * tiny, 1e-38, -1e-38, 1.0, -1.0])
    rng = np.random.default_rng(2)
    train = rng.choice(values, size=(400, 3))
    model, forest = _fit(train, n_estimators=40)
    grid = np.array([[a, b, c] for a in values for b in values for c in values[:4]])
    _assert_same(model, forest, grid)
    _assert_same(model, forest, grid.astype(np.float32))


def test_values_at_and_next_to_thresholds(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, _ = data
    model, forest = _fit(train, n_estimators=12, max_features=0.6)
    columns, values = [], []
    for tree, features in zip(model.estimators_, model.estimators_features_, strict=True):
        inner = tree.tree_.children_left != -1
        t = tree.tree_.threshold[inner]
        t32 = t.astype(np.float32)
        up, down = np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))
        for v in (t, t32, up, down):  # the float64 threshold and the float32s around it
            columns.append(features[tree.tree_.feature[inner]])
            values.append(v.astype(np.float64))
    col, val = np.concatenate(columns), np.concatenate(values)
    X = np.random.default_rng(3).normal(size=(col.size, train.shape[1])) * train.std(axis=0)
    X[np.arange(col.size), col] = val
    _assert_same(model, forest, X)
    _assert_same(model, forest, X.astype(np.float32))


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # sklearn's
def test_nan_and_infinite_values(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    X = test.copy()
    X[::3, 1] = np.nan
    X[::7] = np.nan
    X[1::5, 2] = np.inf
    X[2::5, 3] = -np.inf
    X[3::11, 0] = 1e300  # finite in float64, +inf after the float32 cast
    holes = np.random.default_rng(0).random(train.shape) < 0.1
    for fit_on in (train, np.where(holes, np.nan, train)):  # trained without and with NaN
        model, forest = _fit(fit_on, n_estimators=30)
        try:
            expected = model.score_samples(X)
        except ValueError:  # a scikit-learn that rejects NaN: we must reject it as well
            assert not _allows_nan(model)
            with pytest.raises(ValueError, match="NaN"):
                forest.score_samples(X)
            continue
        np.testing.assert_allclose(forest.score_samples(X), expected, rtol=0, atol=ATOL)
        for i in range(40):
            assert abs(forest.score_one(X[i]) - expected[i]) <= ATOL


def test_non_finite_rejected_like_older_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    model, forest = _fit(train, n_estimators=5)
    forest.allow_nan_ = False  # as built from a scikit-learn < 1.6
    np.testing.assert_allclose(forest.score_samples(test), model.score_samples(test), atol=ATOL)
    for bad in (np.nan, np.inf, 1e300):
        X = test[:10].copy()
        X[4, 2] = bad
        with pytest.raises(ValueError, match=r"NaN or infinity \(first at index \(4, 2\)"):
            forest.score_samples(X)
        with pytest.raises(ValueError, match="NaN or infinity"):
            forest.score_one(X[4])


@pytest.mark.parametrize("n_rows", [0, 1, 7, 8, 9, 1023, 1024, 1025, 2500])
def test_batch_sizes(data: tuple[np.ndarray, np.ndarray], n_rows: int) -> None:
    train, _ = data
    model, forest = _fit(train, n_estimators=10)
    X = np.random.default_rng(n_rows).normal(size=(n_rows, train.shape[1])) * train.std(axis=0)
    if n_rows == 0:  # scikit-learn refuses an empty batch; an empty answer is more useful
        assert forest.score_samples(X).shape == (0,)
    else:
        _assert_same(model, forest, X)


@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")  # sklearn's
def test_input_types_and_dtypes(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    model, forest = _fit(train, n_estimators=20)
    ints = np.random.default_rng(5).integers(-30, 30, size=(200, 5))
    big = ints.astype(np.int64) * 2**31 + 1  # int64 -> float32 rounds: must round as numpy
    model_big, forest_big = _fit(big.astype(float), n_estimators=10)
    for X in (
        test.astype(np.float32),
        ints,
        ints.astype(np.int32),
        np.abs(ints).astype(np.uint8),
        ints > 0,
        np.asfortranarray(test),
        test[::2],  # not contiguous
        test[:, ::-1].copy()[:, ::-1],  # negative strides
        test.tolist(),
        pd.DataFrame(test, columns=list("abcde")),
    ):
        _assert_same(model, forest, X)
    _assert_same(model_big, forest_big, big)
    csr = scipy.sparse.csr_matrix(np.where(np.abs(test) < 1, 0.0, test))
    np.testing.assert_allclose(forest.score_samples(csr), model.score_samples(csr), atol=ATOL)
    row = test[3]
    expected = model.score_samples(test[3:4])[0]
    for x in (row, row.astype(np.float32), row.tolist(), row[None, :], np.asfortranarray(test)[3]):
        assert abs(forest.score_one(x) - expected) <= ATOL


def test_pickle_round_trip(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    model, forest = _fit(train, max_features=0.7)
    clone = pickle.loads(pickle.dumps(forest))
    assert np.array_equal(clone.score_samples(test), forest.score_samples(test))
    assert clone.score_one(test[0]) == forest.score_one(test[0])
    assert all(isinstance(v, np.ndarray | float | int | bool) for v in vars(clone).values())
    assert "CompiledForest(n_estimators=25" in repr(clone)


def test_warm_start_forest(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    model = IsolationForest(n_estimators=10, warm_start=True, random_state=0).fit(train)
    model.set_params(n_estimators=30).fit(train)
    _assert_same(model, CompiledForest.from_sklearn(model), test)


def test_bad_input_raises_value_error(data: tuple[np.ndarray, np.ndarray]) -> None:
    train, test = data
    _, forest = _fit(train, n_estimators=5)
    cases = [
        (test[:, :4], "X has 4 features, but CompiledForest is expecting 5"),
        (test[0], "Expected a 2-D array"),
        (np.array([["a", "b", "c", "d", "e"]]), "must hold numbers"),
        (test.astype(complex), "Complex data not supported"),
    ]
    for X, message in cases:
        with pytest.raises(ValueError, match=message):
            forest.score_samples(X)
    for x, message in [(test[:2], "Expected a 1-D row"), (test[0, :3], "X has 3 features")]:
        with pytest.raises(ValueError, match=message):
            forest.score_one(x)


def test_model_checks() -> None:
    with pytest.raises(NotFittedError):
        CompiledForest.from_sklearn(IsolationForest())
    with pytest.raises(TypeError, match="IsolationForest"):
        CompiledForest.from_sklearn("not a model")  # type: ignore[arg-type]


def test_average_path_length_matches_definition() -> None:
    n = np.array([0, 1, 2, 3, 10, 256])
    big = [2 * (np.log(k - 1) + np.euler_gamma) - 2 * (k - 1) / k for k in n[3:]]
    expected = [0.0, 0.0, 1.0, *big]
    np.testing.assert_allclose(average_path_length(n), expected, rtol=1e-15)


def test_beyond_scores_grow_past_the_range_and_equal_sklearns_within() -> None:
    rng = np.random.default_rng(7)
    train = rng.normal(size=(800, 3))
    model, forest = _fit(train, n_estimators=50)
    forest.learn_boxes(train, gate=0.5)
    plain = forest.score_samples(train)
    assert (forest.score_samples(train, beyond=True) == plain).all()  # inside every box
    inside = rng.uniform(train.min(0), train.max(0), size=(500, 3))
    assert (forest.score_samples(inside, beyond=True) == model.score_samples(inside)).all()
    edge = train[:, 0].max() + 0.5 * np.ptp(train[:, 0])  # the gate: nothing changes up to it
    out = np.array([[v, 0.0, 0.0] for v in (edge, edge + 0.5, edge + 2, edge + 10, edge + 1e3)])
    got = forest.score_samples(out, beyond=True)
    sk = model.score_samples(out)
    assert got[0] == sk[0]
    # scikit-learn's score stops moving past the edge; this one keeps falling (more abnormal)
    assert np.ptp(sk[1:]) < 1e-12 and (np.diff(got) < 0).all()
    assert got[-1] < plain.min()  # far past anything seen: more abnormal than any training row
    for row, score in zip(out, got, strict=True):
        assert forest.score_one(row, beyond=True) == score
    assert forest.score_one(train[0], beyond=True) == plain[0]
    assert pickle.loads(pickle.dumps(forest)).score_samples(out, beyond=True).tolist() == got.tolist()


def test_beyond_needs_boxes_and_trees_on_every_feature() -> None:
    X = np.random.default_rng(8).normal(size=(300, 4))
    _, forest = _fit(X)
    with pytest.raises(NotFittedError, match="learn_boxes"):
        forest.score_samples(X, beyond=True)
    _, sub = _fit(X, max_features=2)
    with pytest.raises(ValueError, match="every feature"):
        sub.learn_boxes(X)
    with pytest.raises(ValueError, match="gate"):
        forest.learn_boxes(X, gate=-1.0)
