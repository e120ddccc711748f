"""The :class:`Scenario` container and helpers shared by every generator.

A scenario is a labelled synthetic data set: a frame with a UTC minute index,
float metric columns and the ground-truth columns ``is_anomaly`` / ``anomaly_type``,
plus the same ground truth as a list of :class:`~anomalert.events.Event` and a
suggested known-good training window.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from anomalert.errors import ParameterError
from anomalert.events import Event, to_labels

__all__ = [
    "LABEL_COLUMNS",
    "NORMAL",
    "Scenario",
    "assemble",
    "check_days",
    "check_seed",
    "minute_index",
]

#: Ground-truth columns of :attr:`Scenario.frame`; every other column is a metric.
LABEL_COLUMNS = ("is_anomaly", "anomaly_type")
#: ``anomaly_type`` of rows outside every event.
NORMAL = "normal"


@dataclass(frozen=True, eq=False)
class Scenario:
    """A labelled synthetic data set.

    Attributes
    ----------
    name
        Generator name: ``"cpu"`` or ``"lb"``.
    variant
        ``"tutorial"`` (reproduces the seed notebook) or ``"realistic"``.
    seed
        The seed the data was generated from.
    frame
        UTC :class:`~pandas.DatetimeIndex` named ``timestamp`` (ns unit), float metric
        columns, ``is_anomaly`` (bool) and ``anomaly_type`` (``"normal"`` outside events).
    events
        Every injected incident, sorted by start, ends inclusive.
    train_until
        End (exclusive) of the suggested known-good training window. It is a fixed
        offset from the start of the series, chosen without looking at the labels.

    Notes
    -----
    Equality is identity (``eq=False``): comparing frames element-wise has no single
    truth value. Compare ``a.frame.equals(b.frame)`` instead.
    """

    name: str
    variant: str
    seed: int
    frame: pd.DataFrame
    events: list[Event]
    train_until: pd.Timestamp | None

    @property
    def metrics(self) -> list[str]:
        """Metric column names (every column except the ground-truth ones)."""
        return [str(c) for c in self.frame.columns if c not in LABEL_COLUMNS]

    def to_csv_frame(self) -> pd.DataFrame:
        """The frame as it should be written to CSV.

        Returns
        -------
        pandas.DataFrame
            Columns ``timestamp`` (ISO 8601 UTC string ending in ``Z``), the metric
            columns, ``is_anomaly`` (0/1 int) and ``anomaly_type``.
        """
        index = pd.DatetimeIndex(self.frame.index)
        out = pd.DataFrame({"timestamp": index.strftime("%Y-%m-%dT%H:%M:%SZ")})
        for column in self.metrics:
            out[column] = self.frame[column].to_numpy()
        out["is_anomaly"] = self.frame["is_anomaly"].to_numpy().astype(int)
        out["anomaly_type"] = self.frame["anomaly_type"].astype(str).to_numpy()
        return out

    def __repr__(self) -> str:
        return (
            f"Scenario(name={self.name!r}, variant={self.variant!r}, seed={self.seed}, "
            f"rows={len(self.frame)}, metrics={self.metrics}, events={len(self.events)})"
        )


def _param_error(param: str, owner: str, rule: str, value: object) -> ParameterError:
    return ParameterError(f"The {param!r} parameter of {owner} must be {rule}. Got {value!r} instead.")


def check_seed(seed: object, owner: str) -> int:
    """Return ``seed`` as an int, or raise :class:`ParameterError` (needs 0 <= seed < 2**32)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2**32:
        raise _param_error("seed", owner, "an int in [0, 2**32)", seed)
    return int(seed)


#: The longest scenario: about ten years of minutes (5.3 million rows; far more would not fit
#: in memory, and pandas' timestamps end in 2262).
MAX_DAYS = 3660


def check_days(days: object, owner: str) -> int:
    """Return ``days`` as an int, or raise :class:`ParameterError` (needs an int in
    [1, MAX_DAYS])."""
    if (isinstance(days, bool) or not isinstance(days, numbers.Integral)
            or not 1 <= int(days) <= MAX_DAYS):
        raise _param_error("days", owner, f"an int in [1, {MAX_DAYS}] (about ten years)", days)
    return int(days)


def minute_index(start: str, periods: int) -> pd.DatetimeIndex:
    """A UTC, ns-unit, one-minute index named ``timestamp``."""
    index = pd.date_range(start=start, periods=periods, freq="1min", tz="UTC", name="timestamp")
    return index.as_unit("ns")


def assemble(
    *,
    name: str,
    variant: str,
    seed: int,
    index: pd.DatetimeIndex,
    metrics: Mapping[str, np.ndarray],
    spans: Sequence[tuple[int, int, str]],
    train_rows: int | None,
) -> Scenario:
    """Build a :class:`Scenario` from metric arrays and incident row spans.

    Parameters
    ----------
    index
        The minute index (see :func:`minute_index`).
    metrics
        Column name to values, each as long as ``index``; stored as float.
    spans
        ``(first_row, last_row, kind)`` per incident, both rows inclusive, not overlapping.
    train_rows
        Number of leading rows in the suggested training window (None for no suggestion).
    """
    frame = pd.DataFrame(
        {col: np.asarray(values, dtype=float) for col, values in metrics.items()}, index=index
    )
    events = [Event(index[lo], index[hi], kind) for lo, hi, kind in sorted(spans)]
    kinds = np.full(len(index), NORMAL, dtype=object)
    for lo, hi, kind in spans:
        kinds[lo : hi + 1] = kind
    frame["is_anomaly"] = to_labels(events, index).to_numpy()
    frame["anomaly_type"] = pd.array(kinds, dtype=str)
    train_until = None
    if train_rows is not None:
        train_until = index[0] + pd.Timedelta(minutes=int(train_rows))
    return Scenario(name, variant, seed, frame, events, train_until)
