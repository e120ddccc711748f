"""Ground truth: the label columns of a frame, and labelled events as time spans.

:func:`split_labels` takes a validated frame's metrics and its ``is_anomaly`` (or ``label``)
and ``anomaly_type`` columns apart; :func:`to_events` turns per-row labels into
:class:`Event` spans and :func:`to_labels` back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from anomalert.data import LABEL_COLUMNS, _ns, infer_step
from anomalert.errors import InputError

__all__ = ["Event", "split_labels", "to_events", "to_labels"]


@dataclass(frozen=True)
class Event:
    """A labelled (or detected) interval, both ends inclusive.

    Examples
    --------
    >>> e = Event(pd.Timestamp("2025-01-01 01:00", tz="UTC"),
    ...           pd.Timestamp("2025-01-01 01:09", tz="UTC"), "spike")
    >>> e.duration
    Timedelta('0 days 00:09:00')
    """

    start: pd.Timestamp
    end: pd.Timestamp
    kind: str = "anomaly"

    @property
    def duration(self) -> pd.Timedelta:
        return self.end - self.start

    def overlaps(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        return bool(self.start <= end and start <= self.end)


def split_labels(
    frame: pd.DataFrame, *, source: str = "<frame>"
) -> tuple[pd.DataFrame, pd.Series | None, pd.Series | None]:
    """Split a validated frame into (metrics, is_anomaly as bool or None, anomaly_type or None).

    Raises
    ------
    InputError
        A label that is missing or not 0/1 or true/false (a missing label is not "normal":
        the message counts them and names ``source`` and the first one's time).

    Examples
    --------
    >>> idx = pd.date_range("2025-01-01", periods=3, freq="1min", tz="UTC")
    >>> split_labels(pd.DataFrame({"v": [1.0, 2, 3], "is_anomaly": [0, 1, 0]}, index=idx))[1].tolist()
    [False, True, False]
    >>> split_labels(pd.DataFrame({"v": [1.0, 2, 3], "is_anomaly": [0, None, None]}, index=idx),
    ...              source="x.csv")
    Traceback (most recent call last):
    anomalert.errors.InputError: x.csv: column 'is_anomaly' has 2 missing label(s) (first: row 2, at 2025-01-01T00:01:00Z); expected 0/1 or true/false on every row
    """
    metrics = frame[[c for c in frame.columns if c not in LABEL_COLUMNS]]
    truth: pd.Series | None = None
    kinds: pd.Series | None = None

    def at(mask: np.ndarray) -> tuple[int, str]:  # the first row of mask: (row, "row 3, at T")
        row = int(np.flatnonzero(mask)[0])
        when = frame.index[row]
        text = when.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(when, pd.Timestamp) else when
        return row, f"row {row + 1}, at {text}"

    for name in ("is_anomaly", "label"):
        if name in frame.columns:
            raw = frame[name]
            missing = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
            if missing.any():
                _, when = at(missing)
                raise InputError(
                    f"{source}: column '{name}' has {int(missing.sum())} missing label(s) "
                    f"(first: {when}); expected 0/1 or true/false on every row"
                )
            if not (pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw)):
                raw = raw.astype(str).str.strip().str.lower().map(
                    {"1": 1, "0": 0, "true": 1, "false": 0, "1.0": 1, "0.0": 0}
                )
            bad = raw.isna().to_numpy() | ~np.isin(raw.astype(float).to_numpy(), (0.0, 1.0))
            if bad.any():
                row, when = at(bad)
                value = frame[name].iloc[row]
                shown = repr(value) if isinstance(value, str) else str(value)
                raise InputError(
                    f"{source}: column '{name}', {when}: {shown} is not a label; expected 0/1 "
                    "or true/false"
                )
            truth = raw.astype(float).astype(bool)
            break
    if "anomaly_type" in frame.columns:
        kinds = frame["anomaly_type"].astype(str)
    return metrics, truth, kinds


def to_events(
    labels: pd.Series, kinds: pd.Series | None = None, *, max_gap: pd.Timedelta | None = None
) -> list[Event]:
    """Turn a boolean point series into events (runs of True), typed by ``kinds`` when given.

    Consecutive flagged points join one event; points further apart than ``max_gap``
    (default: one step of the series) start a new one. A change of kind starts a new event.

    Examples
    --------
    >>> idx = pd.date_range("2025-01-01", periods=6, freq="1min", tz="UTC")
    >>> ev = to_events(pd.Series([0, 1, 1, 0, 0, 1], index=idx).astype(bool))
    >>> [(e.start.minute, e.end.minute) for e in ev]
    [(1, 2), (5, 5)]
    """
    if labels.empty:
        return []
    flags = labels.to_numpy(dtype=bool)
    index = pd.DatetimeIndex(labels.index)
    if max_gap is None:
        max_gap = infer_step(index) or pd.Timedelta(0)
    kind_values = kinds.to_numpy() if kinds is not None else None
    events: list[Event] = []
    start = prev = None
    cur_kind = "anomaly"
    for i in np.flatnonzero(flags):
        ts = index[i]
        kind = str(kind_values[i]) if kind_values is not None else "anomaly"
        if start is not None and prev is not None and (ts - prev <= max_gap) and kind == cur_kind:
            prev = ts
            continue
        if start is not None and prev is not None:
            events.append(Event(start, prev, cur_kind))
        start, prev, cur_kind = ts, ts, kind
    if start is not None and prev is not None:
        events.append(Event(start, prev, cur_kind))
    return events


def to_labels(events: Iterable[Event], index: pd.DatetimeIndex) -> pd.Series:
    """Boolean series over ``index``: True inside any event (ends inclusive)."""
    out = np.zeros(len(index), dtype=bool)
    values = _ns(index)
    for e in events:
        lo = np.searchsorted(values, e.start.value, side="left")
        hi = np.searchsorted(values, e.end.value, side="right")
        out[lo:hi] = True
    return pd.Series(out, index=index, name="is_anomaly")
