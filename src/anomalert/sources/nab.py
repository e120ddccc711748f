"""Reading the Numenta Anomaly Benchmark (NAB) corpus and writing NAB results files.

NAB keeps each series as a CSV ``timestamp,value`` (naive timestamps written
``YYYY-MM-DD HH:MM:SS``) under a data directory, and the ground truth as one JSON
file mapping each file's path relative to that directory (``realAWSCloudwatch/x.csv``)
to a list of ``[start, end]`` anomaly windows, both ends inclusive. Window
boundaries must be timestamps of the file (NAB's labeller refuses them otherwise).

A detector's results go to ``<results>/<detector>/<subfolder>/<detector>_<file>.csv``
with the columns ``timestamp,value,anomaly_score,label`` (``label`` is 1 inside a
window), which is the layout NAB's own ``run.py --optimize --score --normalize``
reads back: it strips the ``<detector>_`` prefix to find the data file.

Examples
--------
>>> import tempfile, pathlib
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> (tmp / "data" / "demo").mkdir(parents=True)
>>> _ = (tmp / "data" / "demo" / "a.csv").write_text(
...     "timestamp,value\\n2014-01-01 00:00:00,1\\n2014-01-01 00:05:00,2\\n")
>>> _ = (tmp / "windows.json").write_text(
...     '{"demo/a.csv": [["2014-01-01 00:05:00.000000", "2014-01-01 00:05:00.000000"]]}')
>>> windows = load_windows(tmp / "windows.json")
>>> [(f.relpath, len(f.frame), len(f.windows)) for f in iter_nab_files(tmp / "data", windows)]
[('demo/a.csv', 2, 1)]
>>> f = next(iter_nab_files(tmp / "data", windows))
>>> out = write_results(tmp / "results" / "mine", f.relpath, f.frame, [0.0, 1.0], f.windows)
>>> out.relative_to(tmp).as_posix()
'results/mine/demo/mine_a.csv'
>>> print(out.read_text().strip())
timestamp,value,anomaly_score,label
2014-01-01 00:00:00,1.0,0.0,0
2014-01-01 00:05:00,2.0,1.0,1
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from anomalert.errors import InputError

__all__ = [
    "NabFile",
    "Window",
    "data_relpath",
    "iter_nab_files",
    "load_windows",
    "read_nab_csv",
    "read_results",
    "results_path",
    "window_labels",
    "write_results",
]

#: One anomaly window: (start, end), both inclusive, UTC.
Window = tuple[pd.Timestamp, pd.Timestamp]

_NAB_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class NabFile:
    """One NAB series with its anomaly windows.

    Attributes
    ----------
    relpath
        Path relative to the data directory, posix separators
        (``realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv``): NAB's key.
    frame
        UTC :class:`~pandas.DatetimeIndex` named ``timestamp``, float column ``value``,
        rows in file order.
    windows
        The file's anomaly windows ``(start, end)``, inclusive, UTC, as listed.
    """

    relpath: str
    frame: pd.DataFrame
    windows: list[Window]

    @property
    def repeated_timestamps(self) -> int:
        """Rows whose timestamp does not come after the previous row's (kept, counted)."""
        ns = pd.DatetimeIndex(self.frame.index).as_unit("ns").asi8
        return int(np.sum(np.diff(ns) <= 0))


def _utc(value: object, where: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise InputError(f"{where}: cannot parse timestamp {value!r}") from None
    if ts is pd.NaT:
        raise InputError(f"{where}: missing timestamp")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def load_windows(path: str | Path) -> dict[str, list[Window]]:
    """Read NAB's windows file (``combined_windows.json`` / ``windows.json``).

    Parameters
    ----------
    path
        JSON object mapping a data file's relative path to a list of
        ``[start, end]`` timestamp strings.

    Returns
    -------
    dict
        Relative path -> list of ``(start, end)`` UTC timestamps, in file order.

    Raises
    ------
    InputError
        If the file is not such an object, naming the key and window at fault.
    """
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read NAB windows JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a JSON object of file -> windows")
    out: dict[str, list[Window]] = {}
    for key, windows in raw.items():
        if not isinstance(windows, list):
            raise InputError(f"{path}: '{key}': expected a list of [start, end] windows")
        parsed: list[Window] = []
        for i, window in enumerate(windows):
            where = f"{path}: '{key}' window {i}"
            if not isinstance(window, list | tuple) or len(window) != 2:
                raise InputError(f"{where}: expected [start, end], got {window!r}")
            start, end = _utc(window[0], where), _utc(window[1], where)
            if end < start:
                raise InputError(f"{where}: end {end} is before start {start}")
            parsed.append((start, end))
        out[str(key).replace("\\", "/")] = parsed
    return out


def read_nab_csv(path: str | Path, *, source: str | None = None) -> pd.DataFrame:
    """Read one NAB data CSV (``timestamp,value``) strictly, keeping the file's row order.

    Parameters
    ----------
    path
        The CSV file.
    source
        Name used in error messages (defaults to the path).

    Returns
    -------
    pandas.DataFrame
        UTC index named ``timestamp`` (naive timestamps are taken as UTC), float ``value``,
        every row in file order. Rows are not sorted or de-duplicated: NAB scores rows
        by position, and real NAB files repeat timestamps (a daylight-saving artefact
        in two realAWSCloudwatch files); :attr:`NabFile.repeated_timestamps` counts them.

    Raises
    ------
    InputError
        Missing columns or unparsable timestamps or values; the message names the file
        and the line (header = line 1).
    """
    name = source or str(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{name}: cannot read CSV ({exc})") from None
    for col in ("timestamp", "value"):
        if col not in raw.columns:
            raise InputError(
                f"{name}: no '{col}' column; expected header 'timestamp,value' "
                f"(got {list(raw.columns)})"
            )
    stamps = pd.to_datetime(raw["timestamp"], errors="coerce", format="ISO8601", utc=True)
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"{name}: line {i + 2}, column 'timestamp': cannot parse {raw['timestamp'].iloc[i]!r}; "
            "expected YYYY-MM-DD HH:MM:SS"
        )
    values = pd.to_numeric(raw["value"], errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"{name}: line {i + 2}, column 'value': expected a number, got {raw['value'].iloc[i]!r}"
        )
    index = pd.DatetimeIndex(stamps, name="timestamp").as_unit("ns")
    return pd.DataFrame({"value": values.to_numpy(dtype=float)}, index=index)


def _check_boundaries(relpath: str, index: pd.DatetimeIndex, windows: list[Window]) -> None:
    ns = index.as_unit("ns").asi8
    for i, (start, end) in enumerate(windows):
        for which, ts in (("start", start), ("end", end)):
            t = pd.Timestamp(ts).as_unit("ns").value
            if not np.any(ns == t):
                raise InputError(
                    f"{relpath}: window {i} {which} {ts} is not a timestamp of the file; "
                    "NAB window boundaries must match rows exactly"
                )


def iter_nab_files(
    data_dir: str | Path, windows: dict[str, list[Window]], *, skipped: list[str] | None = None
) -> Iterator[NabFile]:
    """Yield every ``*.csv`` under ``data_dir`` (recursively, sorted) with its windows.

    Hidden files (name starting with ``.``) are skipped, as NAB does. So is a file absent
    from ``windows``: NAB scores only the files its windows file lists (a file listed with
    no windows, ``[]``, is anomaly-free and scored), and scoring an unlisted file as
    anomaly-free would move the score on a guess. Its path is appended to ``skipped`` when
    given, else a :class:`UserWarning` says so.

    Parameters
    ----------
    data_dir
        Root of the corpus; relative paths are taken from it.
    windows
        As returned by :func:`load_windows`.
    skipped
        Collects the relative paths of the files not in ``windows`` (not read).

    Yields
    ------
    NabFile

    Raises
    ------
    InputError
        For a malformed CSV (naming file and line) or a window boundary that is
        not a timestamp of its file.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise InputError(f"{root}: NAB data directory not found")
    paths = sorted(
        p for p in root.rglob("*.csv")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    for path in paths:
        relpath = path.relative_to(root).as_posix()
        if relpath not in windows:
            if skipped is not None:
                skipped.append(relpath)
            else:
                warnings.warn(
                    f"{relpath}: not in the windows file; skipped (NAB scores only the files "
                    "it lists)",
                    UserWarning,
                    stacklevel=2,
                )
            continue
        frame = read_nab_csv(path, source=relpath)
        file_windows = list(windows[relpath])
        _check_boundaries(relpath, pd.DatetimeIndex(frame.index), file_windows)
        yield NabFile(relpath=relpath, frame=frame, windows=file_windows)


def window_labels(index: pd.DatetimeIndex, windows: Sequence[Window]) -> np.ndarray:
    """NAB's row labels: 1 where ``start <= timestamp <= end`` for some window, else 0.

    Examples
    --------
    >>> idx = pd.date_range("2014-01-01", periods=5, freq="5min", tz="UTC")
    >>> window_labels(idx, [(idx[1], idx[2])]).tolist()
    [0, 1, 1, 0, 0]
    """
    idx = pd.DatetimeIndex(index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    ns = idx.as_unit("ns").asi8
    labels = np.zeros(len(ns), dtype=np.int64)
    for start, end in windows:
        lo = _utc(start, "window").as_unit("ns").value
        hi = _utc(end, "window").as_unit("ns").value
        labels[(ns >= lo) & (ns <= hi)] = 1
    return labels


def results_path(out_dir: str | Path, relpath: str, detector: str | None = None) -> Path:
    """Where NAB expects a detector's results for one data file.

    ``out_dir`` is ``<results>/<detector>``; the file is
    ``out_dir/<subfolder>/<detector>_<file>.csv``. ``detector`` defaults to
    ``out_dir``'s name, which is what NAB assumes.

    Examples
    --------
    >>> results_path("results/zscore", "realAWSCloudwatch/a.csv").as_posix()
    'results/zscore/realAWSCloudwatch/zscore_a.csv'
    """
    out = Path(out_dir)
    name = detector if detector is not None else out.name
    if not name:
        raise InputError(f"{out_dir}: cannot take a detector name from this directory")
    rel = Path(relpath)
    return out / rel.parent / f"{name}_{rel.name}"


def data_relpath(results_dir: str | Path, path: str | Path, detector: str | None = None) -> str:
    """The data file's relative path for a results file (NAB's ``convertResultsPathToDataPath``).

    NAB removes the first occurrence of ``<detector>_`` from the file name.

    Examples
    --------
    >>> data_relpath("results/zscore", "results/zscore/realAWSCloudwatch/zscore_a.csv")
    'realAWSCloudwatch/a.csv'
    """
    root = Path(results_dir)
    name = detector if detector is not None else root.name
    rel = Path(path).relative_to(root)
    token = f"{name}_"
    if token not in rel.name:
        raise InputError(
            f"{path}: results file name must contain '{token}' (NAB names results "
            f"<detector>_<data file>)"
        )
    i = rel.name.index(token)
    return (rel.parent / (rel.name[:i] + rel.name[i + len(token):])).as_posix()


def write_results(
    out_dir: str | Path,
    relpath: str,
    frame: pd.DataFrame,
    scores: Sequence[float] | np.ndarray | pd.Series,
    windows: Sequence[Window],
    *,
    detector: str | None = None,
) -> Path:
    """Write one NAB results CSV: ``timestamp,value,anomaly_score,label``.

    Parameters
    ----------
    out_dir
        ``<results>/<detector>``; see :func:`results_path` for the file name.
    relpath
        The data file's relative path (``realAWSCloudwatch/x.csv``).
    frame
        The series as read (UTC index, column ``value``); rows in file order.
    scores
        One anomaly score per row in ``[0, 1]`` (NAB's requirement). NaN means "no
        opinion yet" (a detector's warm-up) and is written as ``0.0``, since NAB's
        scorer cannot sort NaN.
    windows
        The file's windows; ``label`` is 1 inside any of them.
    detector
        Detector name for the file prefix (defaults to ``out_dir``'s name).

    Returns
    -------
    pathlib.Path
        The file written; timestamps are naive UTC ``YYYY-MM-DD HH:MM:SS`` like NAB's data.

    Raises
    ------
    InputError
        Wrong number of scores, or a score outside ``[0, 1]`` (naming the row).
    """
    arr = np.asarray(scores, dtype=float).ravel()
    if arr.shape[0] != len(frame):
        raise InputError(f"{relpath}: {arr.shape[0]} scores for {len(frame)} rows")
    arr = np.where(np.isnan(arr), 0.0, arr)
    bad = np.flatnonzero(~((arr >= 0.0) & (arr <= 1.0)))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"{relpath}: row {i}: anomaly_score {float(arr[i])!r} is outside [0, 1], which NAB requires"
        )
    idx = pd.DatetimeIndex(frame.index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    naive = idx.tz_localize(None)
    fmt = _NAB_TIME_FORMAT if (naive.as_unit("ns").asi8 % 1_000_000_000 == 0).all() else (
        _NAB_TIME_FORMAT + ".%f"
    )
    out = pd.DataFrame(
        {
            "timestamp": naive.strftime(fmt),
            "value": frame["value"].to_numpy(dtype=float),
            "anomaly_score": arr,
            "label": window_labels(idx, windows),
        }
    )
    path = results_path(out_dir, relpath, detector)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return path


def read_results(path: str | Path) -> pd.DataFrame:
    """Read a NAB results CSV back (UTC index; ``value``, ``anomaly_score``, ``label``).

    Extra columns (NAB adds ``S(t)_<profile>`` when it scores) are kept.

    Raises
    ------
    InputError
        Missing columns or unparsable timestamps / scores, naming file and line.
    """
    try:
        raw = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read results CSV ({exc})") from None
    for col in ("timestamp", "anomaly_score"):
        if col not in raw.columns:
            raise InputError(f"{path}: no '{col}' column (got {list(raw.columns)})")
    stamps = pd.to_datetime(raw["timestamp"].astype(str), errors="coerce", format="ISO8601", utc=True)
    scores = pd.to_numeric(raw["anomaly_score"], errors="coerce")
    for col, parsed in (("timestamp", stamps), ("anomaly_score", scores)):
        bad = np.flatnonzero(parsed.isna().to_numpy())
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"{path}: line {i + 2}, column '{col}': cannot use {raw[col].iloc[i]!r}"
            )
    frame = raw.drop(columns=["timestamp"]).copy()
    frame["anomaly_score"] = scores.to_numpy(dtype=float)
    frame.index = pd.DatetimeIndex(stamps, name="timestamp").as_unit("ns")
    return frame
