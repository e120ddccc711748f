"""Validating time-series frames at the boundary (labelled events: :mod:`anomalert.events`).

Everything that enters anomalert goes through :func:`validate_frame`: the result
has a sorted, de-duplicated UTC :class:`~pandas.DatetimeIndex` named ``timestamp``
and float columns. Problems that can be fixed (unsorted rows, duplicate
timestamps) are fixed and *counted* in the returned :class:`FrameReport`;
problems that cannot (no timestamps, text in a metric column, an all-NaN
column, timestamps with and without a UTC offset) raise :class:`~anomalert.errors.InputError` naming the
source, the column and the row.

Examples
--------
>>> import pandas as pd
>>> raw = pd.DataFrame({"timestamp": ["2025-01-01 00:01", "2025-01-01 00:00",
...                                   "2025-01-01 00:01"], "cpu": [2.0, 1.0, 3.0]})
>>> frame, report = validate_frame(raw, source="example")
>>> list(frame["cpu"]), report.duplicates, report.unsorted
([1.0, 3.0], 1, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from anomalert.errors import InputError

__all__ = [
    "FrameReport",
    "LABEL_COLUMNS",
    "MAX_ABS_VALUE",
    "clean_frame",
    "format_duration",
    "utc_timestamp",
    "infer_step",
    "validate_frame",
]

#: Columns that carry ground truth, never metrics.
LABEL_COLUMNS = ("is_anomaly", "anomaly_type", "label")
_TIMESTAMP_NAMES = ("timestamp", "time", "ts", "datetime", "date")
_NAT = np.iinfo(np.int64).min  # NaT as int64 nanoseconds
#: Metric values beyond this magnitude (and infinities) are not scored, each counted in the
#: report: the detectors' sums of squares would overflow (no metric is that large).
MAX_ABS_VALUE = 1e150


def format_duration(td: pd.Timedelta | None) -> str:
    """A span of time as people write it: ``1 d 17 h 45 min``, ``5 min``, ``30 s``.

    Examples
    --------
    >>> format_duration(pd.Timedelta("1 days 17:45:00")), format_duration(pd.Timedelta("5min"))
    ('1 d 17 h 45 min', '5 min')
    """
    if td is None:
        return "unknown"
    total = int(td.total_seconds())
    if total <= 0:
        return str(td)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size} {unit}")
            total %= size
    return " ".join(parts)


@dataclass
class FrameReport:
    """What :func:`validate_frame` fixed or noticed, with counts."""

    source: str
    rows_in: int = 0
    rows_out: int = 0
    duplicates: int = 0
    unsorted: bool = False
    nan_values: dict[str, int] = field(default_factory=dict)
    #: Per metric: values that are infinite or beyond ``MAX_ABS_VALUE`` (not scored).
    out_of_range: dict[str, int] = field(default_factory=dict)
    #: Rows that came before an earlier row's time (sorted into place).
    rows_unsorted: int = 0
    gaps: int = 0
    largest_gap: pd.Timedelta | None = None
    step: pd.Timedelta | None = None
    constant_columns: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable notes, one per thing worth telling the user."""
        out: list[str] = []
        if self.unsorted:
            n = self.rows_unsorted
            what = f"{n} row(s) came before an earlier row's time" if n else "rows were not in time order"
            out.append(f"{self.source}: {what}; sorted them")
        if self.duplicates:
            out.append(
                f"{self.source}: {self.duplicates} duplicate timestamp(s); kept the last row of each"
            )
        for col, n in self.nan_values.items():
            if n:
                out.append(f"{self.source}: column '{col}' has {n} missing value(s); not scored")
        for col, n in self.out_of_range.items():
            if n:
                out.append(
                    f"{self.source}: column '{col}' has {n} infinite value(s) or beyond "
                    f"+-{MAX_ABS_VALUE:.0e}; not scored"
                )
        if self.gaps:
            out.append(
                f"{self.source}: {self.gaps} gap(s) in the series (largest "
                f"{format_duration(self.largest_gap)}, step {format_duration(self.step)})"
            )
        for col in self.constant_columns:
            out.append(f"{self.source}: column '{col}' is constant; it cannot show anomalies")
        return out


def _find_timestamp_column(frame: pd.DataFrame, source: str, name: str | None) -> str:
    if name is not None:
        if name not in frame.columns:
            raise InputError(f"{source}: no column named '{name}' (columns: {list(frame.columns)})")
        return name
    lowered = {str(c).lower(): c for c in frame.columns}
    for candidate in _TIMESTAMP_NAMES:
        if candidate in lowered:
            return str(lowered[candidate])
    raise InputError(
        f"{source}: no timestamp column; expected one named 'timestamp' "
        f"(columns: {list(frame.columns)})"
    )


def _parse_timestamps(values: pd.Series | pd.Index, source: str, column: str) -> pd.DatetimeIndex:
    if isinstance(values, pd.DatetimeIndex):
        idx = values
        if idx.hasnans:
            row = int(np.flatnonzero(idx.isna())[0])
            raise InputError(f"{source}: row {row + 1}, {column}: missing timestamp (NaT)")
    elif pd.api.types.is_datetime64_any_dtype(values):
        idx = pd.DatetimeIndex(values)
    else:
        ser = pd.Series(values).reset_index(drop=True)
        if ser.isna().any():
            row = int(np.flatnonzero(ser.isna().to_numpy())[0])
            raise InputError(f"{source}: row {row + 1}, column '{column}': missing timestamp")
        if pd.api.types.is_numeric_dtype(ser):
            # Unix seconds (or milliseconds if clearly too large for seconds).
            unit = "ms" if float(ser.abs().max()) > 1e11 else "s"
            parsed_num = pd.to_datetime(ser, unit=unit, utc=True)
            return pd.DatetimeIndex(parsed_num, name="timestamp").as_unit("ns")
        text = ser.astype(str)
        offsets = text.str.extract(r"(Z|[+-]\d\d:?\d\d)$")[0]
        naive = offsets.isna().to_numpy()
        if naive.any() and not naive.all():
            # a local time without an offset next to one with: which zone is it in? (Unless
            # the odd one is no timestamp at all: then say that.)
            parsed = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
            if parsed.isna().any():
                raise _unparsed(text, parsed, source, column)
            row = int(np.flatnonzero(naive != naive[0])[0])
            raise InputError(
                f"{source}: column '{column}' mixes timestamps with and without a UTC offset "
                f"(row 1 {text.iloc[0]!r}, row {row + 1} {text.iloc[row]!r}); expected all "
                "with an offset (or Z), or all without (read as UTC)"
            )
        # Every row with its own offset is unambiguous: a local time across a daylight-saving
        # change (+01:00, then +02:00) converts to UTC like any other.
        try:
            parsed = pd.to_datetime(text, utc=True, format="mixed")
        except (ValueError, TypeError):
            parsed = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
            raise _unparsed(text, parsed, source, column) from None
        idx = pd.DatetimeIndex(parsed)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return pd.DatetimeIndex(idx, name="timestamp").as_unit("ns")


def _unparsed(text: pd.Series, parsed: pd.Series, source: str, column: str) -> InputError:
    """The error for the first of ``text`` that ``parsed`` (coerced) could not read."""
    bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
    return InputError(
        f"{source}: row {bad + 1}, column '{column}': cannot parse timestamp "
        f"{text.iloc[bad]!r}; expected ISO 8601 such as 2025-01-01T00:00:00Z"
    )


def _ns(index: pd.DatetimeIndex) -> np.ndarray:
    """Timestamps as int64 nanoseconds whatever the index's unit (pandas 3 defaults to us)."""
    return pd.DatetimeIndex(index).as_unit("ns").asi8


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The most common spacing between consecutive timestamps (None for < 2 rows)."""
    if len(index) < 2:
        return None
    return _step_of(np.diff(_ns(index)))


def _step_of(diffs: np.ndarray) -> pd.Timedelta | None:
    """:func:`infer_step` from the consecutive differences (ns) of the timestamps."""
    if diffs.size and diffs[0] > 0 and diffs.min() == diffs.max():
        return pd.Timedelta(int(diffs[0]), unit="ns")  # a regular series: no counting needed
    diffs = diffs[diffs > 0]
    if diffs.size == 0:
        return None
    values, counts = np.unique(diffs, return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")


def validate_frame(
    frame: pd.DataFrame,
    *,
    source: str = "<frame>",
    timestamp_column: str | None = None,
    metrics: Sequence[str] | None = None,
    keep_labels: bool = True,
) -> tuple[pd.DataFrame, FrameReport]:
    """Return ``frame`` with a clean UTC index and float metric columns, and a report.

    Parameters
    ----------
    frame
        Either already indexed by time, or with a timestamp column.
    source
        Name used in messages (usually the file path).
    timestamp_column
        Column holding timestamps; found by name ('timestamp', 'time', ...) if omitted.
    metrics
        Metric columns to keep; default every column that is not a label column.
    keep_labels
        Keep ``is_anomaly`` / ``anomaly_type`` / ``label`` columns (not validated as metrics).

    Raises
    ------
    InputError
        Empty frame, no usable timestamps, timestamps with and without a UTC offset, non-numeric
        or all-NaN metric.
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{source}: expected a pandas DataFrame, got {type(frame).__name__}")
    report = FrameReport(source=source, rows_in=len(frame))
    if len(frame) == 0:
        raise InputError(f"{source}: no rows; expected a header and at least one data row")
    if isinstance(frame.index, pd.DatetimeIndex) and timestamp_column is None:
        idx = _parse_timestamps(frame.index, source, "index")
        body = frame  # read by column and by position only: its index does not matter
    else:
        col = _find_timestamp_column(frame, source, timestamp_column)
        idx = _parse_timestamps(frame[col], source, col)
        body = frame.drop(columns=[col]).reset_index(drop=True)

    labels = [c for c in body.columns if c in LABEL_COLUMNS]
    if metrics is None:
        metrics = [c for c in body.columns if c not in LABEL_COLUMNS]
    else:
        missing = [m for m in metrics if m not in body.columns]
        if missing:
            raise InputError(f"{source}: no column named {missing[0]!r} (columns: {list(body.columns)})")
    if not metrics:
        raise InputError(f"{source}: no metric columns; expected at least one numeric column")

    columns: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}  # per metric: the rows whose value is out of range
    for name in metrics:
        col = body[name]
        if isinstance(col, pd.Series) and col.dtype == np.float64:
            arr = col.to_numpy(dtype=float, copy=True)
        elif pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            arr = col.astype(float).to_numpy(dtype=float, copy=True)
        else:
            converted = pd.to_numeric(col, errors="coerce")
            bad = converted.isna() & col.notna() & (col.astype(str).str.strip() != "")
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(
                    f"{source}: row {row + 1}, column '{name}': {col.iloc[row]!r} is not a number"
                )
            arr = converted.astype(float).to_numpy(dtype=float, copy=True)
        beyond = ~(np.abs(arr) <= MAX_ABS_VALUE) & ~np.isnan(arr)  # inf, or too large to square
        if beyond.any():
            masks[str(name)] = beyond  # counted once duplicates are gone
            arr[beyond] = np.nan
        if np.isnan(arr).all():
            what = "infinite or out of range" if beyond.any() else "empty or NaN"
            raise InputError(f"{source}: column '{name}' has no usable values (all {what})")
        columns[str(name)] = arr
    if keep_labels:
        for name in labels:
            columns[name] = body[name].to_numpy(copy=True)
    hidden = {f"\0beyond:{k}": v for k, v in masks.items()}  # rides along the reordering
    out = pd.DataFrame({**columns, **hidden}, index=idx, copy=False)

    ns = _ns(out.index)
    diffs = np.diff(ns)
    reordered = False
    # strictly increasing without NaT (NaT is the least int64): already sorted and unique
    if not (ns[0] != _NAT and bool((ns[1:] > ns[:-1]).all())):
        if not out.index.is_monotonic_increasing:
            report.unsorted = reordered = True
            report.rows_unsorted = int((ns[1:] < np.maximum.accumulate(ns)[:-1]).sum())
            out = out.sort_index(kind="stable")
        dup = out.index.duplicated(keep="last")
        report.duplicates = int(dup.sum())
        if report.duplicates:
            reordered = True
            out = out[~dup]
        if reordered:
            ns = _ns(out.index)
            diffs = np.diff(ns)
    out.index.name = "timestamp"
    for key in hidden:
        report.out_of_range[key.split(":", 1)[1]] = int(out[key].to_numpy().sum())
    if hidden:
        out = out.drop(columns=list(hidden))

    metric_cols = [str(m) for m in metrics]
    values = {c: out[c].to_numpy() if reordered else columns[c] for c in dict.fromkeys(metric_cols)}
    report.nan_values = {
        c: int(np.isnan(values[c]).sum()) - report.out_of_range.get(c, 0) for c in metric_cols
    }
    report.constant_columns = [c for c in metric_cols if _at_most_one_value(values[c])]
    report.step = _step_of(diffs) if len(ns) >= 2 else None
    if report.step is not None:
        gap_mask = diffs > 1.5 * report.step.value
        report.gaps = int(gap_mask.sum())
        if report.gaps:
            report.largest_gap = pd.Timedelta(int(diffs.max()), unit="ns")
    report.rows_out = len(out)
    return out, report


def utc_timestamp(value: object, what: str = "timestamp") -> pd.Timestamp:
    """One point's time as a UTC Timestamp: a naive time is UTC; a number is Unix seconds
    (milliseconds when clearly too large for seconds), as in a file's timestamp column.

    Examples
    --------
    >>> utc_timestamp(1735689600), utc_timestamp("2025-01-01T01:00:00+01:00")
    (Timestamp('2025-01-01 00:00:00+0000', tz='UTC'), Timestamp('2025-01-01 00:00:00+0000', tz='UTC'))
    """
    try:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            unit = "ms" if abs(float(value)) > 1e11 else "s"
            ts = pd.Timestamp(float(value), unit=unit)
        else:
            ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        raise InputError(
            f"cannot parse {what} {value!r}; expected ISO 8601 (2025-01-01T00:00:00Z) or Unix "
            "seconds"
        ) from None
    if ts is pd.NaT:
        raise InputError(f"{what} is missing")
    try:
        ts = ts.as_unit("ns")  # what the detectors count in (years 1677-2262)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        raise InputError(f"{what} {value!r} is outside the years 1677-2262") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def clean_frame(frame: pd.DataFrame, *, source: str = "<frame>") -> tuple[pd.DataFrame, list[str]]:
    """``frame`` as :func:`validate_frame` would return it, and the report's notes; a frame
    that is already clean (a time index in strictly increasing order, float columns of
    finite values within ``MAX_ABS_VALUE`` or NaN, none all NaN) is only given a UTC index,
    without copying its columns. What the library's entry points (``fit``, ``score``,
    ``detect``) call: a frame with a time-zone-aware index is checked like any other."""
    if isinstance(frame, pd.DataFrame) and _clean(frame):
        idx = pd.DatetimeIndex(frame.index)
        if str(idx.tz) != "UTC" or idx.name != "timestamp" or idx.unit != "ns":
            frame = frame.set_axis(
                pd.DatetimeIndex(idx.tz_convert("UTC"), name="timestamp").as_unit("ns"), axis=0)
        return frame, []
    out, report = validate_frame(frame, source=source)
    return out, report.lines()


def caller_index(frame: pd.DataFrame, cleaned: pd.DatetimeIndex) -> pd.Index:
    """The index to give per-row results of ``frame`` once :func:`clean_frame` made
    ``cleaned`` (UTC) of it: ``frame``'s own index when the rows are the same, in the same
    order (``frame.assign(...)`` then lines up); otherwise ``cleaned`` in the time zone of
    ``frame``'s index (a naive index stays naive, in UTC)."""
    idx = frame.index
    if isinstance(idx, pd.DatetimeIndex) and len(idx) == len(cleaned):
        if bool((_ns(idx) == cleaned.as_unit("ns").asi8).all()):
            return idx
    elif len(idx) == len(cleaned) and "timestamp" in frame.columns:
        try:
            stamps = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
        except (TypeError, ValueError, OverflowError):
            stamps = None
        if stamps is not None and bool((_ns(stamps) == cleaned.as_unit("ns").asi8).all()):
            return idx
    if isinstance(idx, pd.DatetimeIndex):
        return cleaned.tz_convert(idx.tz) if idx.tz is not None else cleaned.tz_convert(None)
    return cleaned


def _clean(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` needs nothing :func:`validate_frame` would fix or refuse."""
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex) or idx.tz is None or len(idx) == 0:
        return False
    ns = _ns(idx)
    if ns[0] == _NAT or not bool((ns[1:] > ns[:-1]).all()):
        return False
    metrics = [c for c in frame.columns if c not in LABEL_COLUMNS]
    if not metrics or len(set(metrics)) != len(metrics) or not all(isinstance(c, str) for c in metrics):
        return False
    for c in metrics:
        col = frame[c]
        if not isinstance(col, pd.Series) or col.dtype != np.float64:
            return False
        v = col.to_numpy()
        nan = np.isnan(v)
        if nan.all() or not bool((np.abs(v[~nan]) <= MAX_ABS_VALUE).all()):
            return False
    return True


def _at_most_one_value(values: np.ndarray) -> bool:
    """``Series(values).nunique(dropna=True) <= 1`` for a float array."""
    finite = values[~np.isnan(values)]
    return bool(finite.size == 0 or finite.min() == finite.max())
