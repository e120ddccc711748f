"""Row-wise feature sets: the same formula for one point and for a whole frame.

Feature sets are named so a detector can carry one as a plain string parameter:

- ``raw``: the metric columns as given.
- ``rates``: for load-balancer frames (``total_requests`` plus ``4xx_count`` / ``5xx_count``),
  error counts are replaced by error *rates* (a 5xx count that doubles with traffic is not an
  incident; a 5xx rate that doubles is). Other columns pass through. This is what ``default`` uses.
  A minute with no traffic (``total_requests`` 0, or missing) has no error rate: its rates are
  missing (NaN, not scored), while ``total_requests=0`` itself is a value and is scored (an
  outage pages on the traffic, not on an error rate of 0).
- ``seed004``: the six features of the load-balancer tutorial (``total_requests``,
  ``5xx_error_rate``, ``4xx_error_rate``, ``total_error_rate``, ``avg_response_time_ms``,
  ``errors_per_minute``), for the preset that reproduces it (its rates over no traffic are 0,
  as the tutorial's ``fillna(0)`` makes them).

Examples
--------
>>> import pandas as pd
>>> f = pd.DataFrame({"total_requests": [100.0], "2xx_count": [90.0], "4xx_count": [6.0],
...                   "5xx_count": [4.0]})
>>> list(transform_frame(f, "rates").columns)
['total_requests', '4xx_rate', '5xx_rate']
>>> transform_row({"total_requests": 100.0, "2xx_count": 90.0, "4xx_count": 6.0,
...                "5xx_count": 4.0}, "rates")["5xx_rate"]
0.04
>>> transform_row({"total_requests": 0.0, "2xx_count": 0.0, "4xx_count": 0.0,
...                "5xx_count": 0.0}, "rates")
{'total_requests': 0.0, '4xx_rate': nan, '5xx_rate': nan}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from anomalert.errors import InputError, ParameterError

__all__ = [
    "FEATURE_SETS",
    "RowPlan",
    "feature_names",
    "no_traffic_note",
    "row_plan",
    "transform_frame",
    "transform_row",
]

FEATURE_SETS = ("raw", "rates", "seed004")
_LB_COUNTS = ("2xx_count", "3xx_count", "4xx_count", "5xx_count")
_SEED004 = (
    "total_requests",
    "5xx_error_rate",
    "4xx_error_rate",
    "total_error_rate",
    "avg_response_time_ms",
    "errors_per_minute",
)


def _is_lb(columns: Sequence[str]) -> bool:
    return "total_requests" in columns and any(c in columns for c in ("4xx_count", "5xx_count"))


def feature_names(columns: Sequence[str], feature_set: str) -> list[str]:
    """Names of the features ``feature_set`` derives from ``columns``."""
    cols = [str(c) for c in columns]
    if feature_set == "raw" or (feature_set == "rates" and not _is_lb(cols)):
        return cols
    if feature_set == "rates":
        out = [c for c in cols if c not in _LB_COUNTS]
        out += [f"{c[:3]}_rate" for c in ("4xx_count", "5xx_count") if c in cols]
        return out
    if feature_set == "seed004":
        need = ["total_requests", "4xx_count", "5xx_count", "avg_response_time_ms"]
        missing = [c for c in need if c not in cols]
        if missing:
            raise InputError(
                f"feature set 'seed004' needs the load-balancer columns {need}; missing {missing}"
            )
        return list(_SEED004)
    raise ParameterError(
        f"The 'features' parameter must be one of {list(FEATURE_SETS)}. Got {feature_set!r} instead."
    )


class RowPlan:
    """A precomputed ``transform_row`` for ``raw`` and ``rates``: from the metric values in
    column order to the feature vector, with no per-call name handling.

    Examples
    --------
    >>> plan = row_plan(["total_requests", "2xx_count", "5xx_count"], "rates")
    >>> plan.apply(np.array([200.0, 190.0, 10.0])).tolist()
    [200.0, 0.05]
    """

    __slots__ = ("keep", "rates", "size")

    def __init__(self, keep: list[int], rates: list[tuple[int, int]]) -> None:
        self.keep = np.asarray(keep, dtype=np.intp)
        self.rates = rates
        self.size = len(keep) + len(rates)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        if not self.rates:
            return raw
        out = np.empty(self.size)
        k = len(self.keep)
        out[:k] = raw[self.keep]
        for i, (num, den) in enumerate(self.rates):
            out[k + i] = _rate(float(raw[num]), float(raw[den]))
        return out


    def apply_many(self, raw: np.ndarray) -> np.ndarray:
        """:meth:`apply` on every row of ``raw`` (rows x metrics, float), vectorised as
        :func:`transform_frame` computes it."""
        if not self.rates:
            return raw
        k = len(self.keep)
        out = np.empty((len(raw), self.size))
        out[:, :k] = raw[:, self.keep]
        for i, (num, den) in enumerate(self.rates):
            out[:, k + i] = _rates(raw[:, num], raw[:, den], np.nan)
        return out


def row_plan(columns: Sequence[str], feature_set: str) -> RowPlan | None:
    """The :class:`RowPlan` of ``feature_set`` over ``columns`` (None: use transform_row)."""
    cols = [str(c) for c in columns]
    names = feature_names(cols, feature_set)
    if names == cols:
        return RowPlan(list(range(len(cols))), [])
    if feature_set != "rates":
        return None
    keep = [cols.index(n) for n in names if n in cols]
    tot = cols.index("total_requests")
    rates = [(cols.index(n[:3] + "_count"), tot) for n in names if n not in cols]
    return RowPlan(keep, rates)


def _rate(num: float, den: float, empty: float = math.nan) -> float:
    # A minute with no traffic (or none known) has no error rate to speak of: missing, not 0
    # (0 would page as an error rate far below its baseline). The seed004 preset passes
    # ``empty=0.0``: the tutorial fills 0/0 with 0.
    return num / den if den > 0 else empty


def _rates(num: np.ndarray, den: np.ndarray, empty: float = math.nan) -> np.ndarray:
    """:func:`_rate` over arrays."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), empty)


def no_traffic_note(frame: pd.DataFrame, feature_set: str, source: str = "") -> str | None:
    """A note counting the rows of ``frame`` whose error rates are missing for want of
    traffic (``total_requests`` 0 while the counts are there), or None when there are none.
    Rows whose ``total_requests`` is itself missing are counted by the frame's validation.

    >>> f = pd.DataFrame({"total_requests": [100.0, 0.0], "4xx_count": [6.0, 0.0]})
    >>> no_traffic_note(f, "rates", "lb.csv")
    'lb.csv: 1 row(s) with total_requests=0 (no traffic): 4xx_rate missing there, not scored'
    """
    cols = [str(c) for c in frame.columns]
    if feature_set != "rates" or not _is_lb(cols):
        return None
    rates = [n for n in feature_names(cols, feature_set) if n not in cols]
    n = int((frame["total_requests"].to_numpy(dtype=float) == 0).sum())
    if not n:
        return None
    where = f"{source}: " if source else ""
    return (f"{where}{n} row(s) with total_requests=0 (no traffic): {', '.join(rates)} "
            "missing there, not scored")


def transform_row(values: Mapping[str, float], feature_set: str) -> dict[str, float]:
    """Features of one point (a mapping metric -> value)."""
    cols = list(values)
    names = feature_names(cols, feature_set)
    if names == cols:
        return {k: float(v) for k, v in values.items()}
    total = float(values["total_requests"])
    if feature_set == "rates":
        out = {k: float(values[k]) for k in names if k in values}
        for c in ("4xx_count", "5xx_count"):
            if c in values:
                out[f"{c[:3]}_rate"] = _rate(float(values[c]), total)
        return {k: out[k] for k in names}
    c4, c5 = float(values["4xx_count"]), float(values["5xx_count"])
    return {
        "total_requests": total,
        "5xx_error_rate": _rate(c5, total, 0.0),
        "4xx_error_rate": _rate(c4, total, 0.0),
        "total_error_rate": _rate(c4 + c5, total, 0.0),
        "avg_response_time_ms": float(values["avg_response_time_ms"]),
        "errors_per_minute": c4 + c5,
    }


def transform_frame(frame: pd.DataFrame, feature_set: str) -> pd.DataFrame:
    """Features of every row of ``frame`` (same index), vectorised."""
    cols = [str(c) for c in frame.columns]
    names = feature_names(cols, feature_set)
    if names == cols:
        return frame.astype(float)
    total = frame["total_requests"].to_numpy(dtype=float)

    def rate(num: np.ndarray) -> np.ndarray:  # seed004: the tutorial's 0 over no traffic
        return _rates(num, total, 0.0)

    if feature_set == "rates":
        out = pd.DataFrame(index=frame.index)
        for name in names:
            if name.endswith("_rate") and name not in cols:
                out[name] = _rates(frame[f"{name[:3]}_count"].to_numpy(dtype=float), total)
            else:
                out[name] = frame[name].to_numpy(dtype=float)
        return out
    c4 = frame["4xx_count"].to_numpy(dtype=float)
    c5 = frame["5xx_count"].to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "total_requests": total,
            "5xx_error_rate": rate(c5),
            "4xx_error_rate": rate(c4),
            "total_error_rate": rate(c4 + c5),
            "avg_response_time_ms": frame["avg_response_time_ms"].to_numpy(dtype=float),
            "errors_per_minute": c4 + c5,
        },
        index=frame.index,
    )
