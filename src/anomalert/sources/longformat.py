"""Many series from one input: long-format frames and files, directories, mappings, pairs.

Long format has a ``series`` column, or label columns (``host``, ``job``...) plus
``timestamp`` and ``value``; each series is one frame, named by the ``series`` value or by
the canonical label string ``{host="a",job="b"}`` (the same text Prometheus series get, see
:func:`anomalert.sources.prometheus.series_key`). :func:`iter_series` turns any of these
inputs into ``(series_id, frame)`` pairs, one at a time; a file that cannot be read becomes
a pair holding its error, so one bad file never stops a fleet.

Examples
--------
>>> import pandas as pd
>>> long = pd.DataFrame({"host": ["b", "a", "b"], "timestamp": [0, 0, 60], "value": [1, 2, 3]})
>>> long_format_labels(long)
['host']
>>> [(sid, len(frame)) for sid, frame in iter_series(long)]
[('{host="a"}', 1), ('{host="b"}', 2)]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from anomalert.data import LABEL_COLUMNS, _find_timestamp_column
from anomalert.errors import InputError

__all__ = [
    "Item",
    "Source",
    "is_long_format",
    "iter_series",
    "long_format_labels",
    "read_raw",
]

Item: TypeAlias = tuple[str, Any]  # (series id, DataFrame | Series | the exception that made it unusable)
#: What :func:`detect_many` accepts.
Source: TypeAlias = (
    Iterable[tuple[Any, pd.DataFrame | pd.Series]] | Mapping[Any, pd.DataFrame | pd.Series]
    | pd.DataFrame | str | Path
)
_TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")

def long_format_labels(frame: pd.DataFrame, timestamp_column: str | None = None) -> list[str] | None:
    """The columns naming the series in a long-format frame, or None for a wide frame.

    Long format has a ``series`` column, or a ``value`` column plus at least one text column
    (the labels: every column other than the timestamp, ``value`` and ground-truth columns).
    A column of fractional numbers beside ``value`` is a second metric, not a label: such a
    frame is wide (and its text column an error to report, not a label to split on).

    Examples
    --------
    >>> wide = pd.DataFrame({"timestamp": [0, 60], "value": [1.5, 2.5], "region": ["eu", "eu"],
    ...                      "cpu2": [0.13, 0.18]})
    >>> long_format_labels(wide) is None
    True
    """
    try:
        ts = _find_timestamp_column(frame, "<frame>", timestamp_column)
    except InputError:
        ts = None
    cols = [c for c in frame.columns if c not in LABEL_COLUMNS and c != ts]
    if "series" in cols:
        return ["series"]
    if "value" in cols:
        others = [c for c in cols if c != "value"]
        text = [c for c in others if not pd.api.types.is_numeric_dtype(frame[c])
                and not pd.api.types.is_bool_dtype(frame[c])]
        measured = [c for c in others if pd.api.types.is_float_dtype(frame[c])
                    and not _whole_numbers(frame[c])]
        return others if text and not measured else None
    return None


def _whole_numbers(column: pd.Series) -> bool:
    """Whether a float column holds only whole numbers (an id read as float beside NaN)."""
    values = column.to_numpy(dtype=float)
    values = values[~np.isnan(values)]
    return bool(np.all(values == np.round(values)))


def is_long_format(path: str | Path, timestamp_column: str | None = None) -> bool:
    """True when the CSV/Parquet file at ``path`` is long format (judged on its first rows)."""
    try:
        head = read_raw(path, nrows=200)
    except InputError:
        return False
    return long_format_labels(head, timestamp_column) is not None


def read_raw(path: str | Path, *, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV (optionally gzipped) or Parquet file as it is; errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file" if not p.exists() else f"{p}: not a file")
    parquet = p.name.lower().endswith((".parquet", ".pq"))
    try:
        if parquet and nrows is not None:
            import pyarrow.parquet as pq

            first = next(pq.ParquetFile(p).iter_batches(batch_size=nrows), None)
            return first.to_pandas() if first is not None else pd.read_parquet(p)
        if parquet:
            return pd.read_parquet(p)
        return pd.read_csv(p, nrows=nrows)
    except pd.errors.EmptyDataError:
        raise InputError(f"{p}: empty file; expected a header and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InputError(f"{p}: cannot read as {'Parquet' if parquet else 'CSV'}: {first}") from None


def _label_key(names: list[str], values: tuple[Any, ...]) -> str:
    from anomalert.sources.prometheus import series_key

    if names == ["series"]:
        return str(values[0])
    return series_key({n: str(v) for n, v in zip(names, values, strict=True) if not pd.isna(v)})


def _split_long(
    frame: pd.DataFrame, labels: list[str], source: str, timestamp_column: str | None
) -> Iterator[Item]:
    """One (id, frame) per series, sorted by their labels, built one at a time.

    The columns are checked now (a missing column raises here, not at the first item).
    """
    if isinstance(frame.index, pd.DatetimeIndex) and timestamp_column is None:
        frame = frame.rename_axis("timestamp").reset_index()
    missing = [c for c in labels if c not in frame.columns]
    if missing:
        raise InputError(f"{source}: no column named {missing[0]!r} (columns: {list(frame.columns)})")
    if frame.empty:
        return iter(())
    ts = _find_timestamp_column(frame, source, timestamp_column)
    body = [ts] + [c for c in frame.columns if c not in labels and c != ts]
    codes = frame.groupby(labels, sort=True, dropna=False).ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    ends = np.r_[starts[1:], len(order)]

    def items() -> Iterator[Item]:
        label_values = frame[labels]
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            rows = order[a:b]
            key = tuple(label_values.iloc[int(rows[0])])
            if labels == ["series"] and pd.isna(key[0]):
                yield "<no series id>", InputError(
                    f"{source}: {b - a} row(s) have no value in column 'series'")
                continue
            yield _label_key(labels, key), frame.iloc[rows][body].reset_index(drop=True)

    return items()


def _iter_path(
    path: Path, labels: list[str] | None, timestamp_column: str | None, notes: list[str]
) -> Iterator[Item]:
    if not path.exists():
        raise InputError(f"{path}: no such file or directory")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    tables = [p for p in files if p.name.lower().endswith(_TABLE_SUFFIXES)]
    if len(tables) < len(files):
        notes.append(f"{path}: ignored {len(files) - len(tables)} file(s) that are not "
                     "CSV or Parquet")
    if path.is_dir() and not tables:
        raise InputError(f"{path}: no CSV or Parquet files in this directory")
    for p in tables:
        rel = p.name if p == path else p.relative_to(path).as_posix()
        sid = rel[: -len(next(s for s in _TABLE_SUFFIXES if rel.lower().endswith(s)))]
        try:
            raw = read_raw(p)
            found = labels or long_format_labels(raw, timestamp_column)
            pairs = iter([(sid, raw)]) if found is None else _split_long(
                raw, found, str(p), timestamp_column)
        except InputError as exc:
            yield sid, exc
            continue
        del raw
        yield from pairs


def iter_series(
    source: Source,
    *,
    labels: list[str] | None = None,
    timestamp_column: str | None = None,
    notes: list[str] | None = None,
) -> Iterator[Item]:
    """``(series_id, frame)`` pairs from any input :func:`detect_many` accepts, read lazily.

    A file or directory that cannot be read becomes an item holding its error; ``notes``
    collects what was ignored.
    """
    notes = notes if notes is not None else []
    if isinstance(source, pd.DataFrame):
        found = labels or long_format_labels(source, timestamp_column)
        if found is None:
            raise InputError("the frame is not long format: expected a 'series' column, or a "
                             "'value' column and label columns (e.g. host, job)")
        yield from _split_long(source, found, "<frame>", timestamp_column)
    elif isinstance(source, str | Path):
        yield from _iter_path(Path(source), labels, timestamp_column, notes)
    elif isinstance(source, Mapping):
        for item in source.items():
            yield str(item[0]), item[1]
            del item
    elif isinstance(source, pd.Series) or not isinstance(source, Iterable):
        raise InputError(
            f"cannot read series from a {type(source).__name__}: give a long-format frame, a "
            "file or directory path, a mapping series id -> frame, or (series id, frame) pairs"
        )
    else:
        k = 0  # (not enumerate: its reused result tuple would keep the last frame alive)
        for pair in source:
            if not (isinstance(pair, tuple | list) and len(pair) == 2):
                raise InputError(
                    f"item {k} of the series is a {type(pair).__name__}; expected a "
                    "(series id, frame) pair"
                )
            yield str(pair[0]), pair[1]
            del pair
            k += 1  # noqa: SIM113 (see above)
