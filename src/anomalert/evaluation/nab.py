"""The Numenta Anomaly Benchmark (NAB) score, following NAB v1.1 (commit ea702d75).

The method, as in NAB's ``nab/sweeper.py``, ``optimizer.py``, ``scorer.py``, ``runner.py``:

- The first ``min(floor(0.15 * n), 0.15 * 5000)`` rows of a file are never scored.
- A row is a detection when ``anomaly_score >= threshold``.
- A row ``i`` inside a window on rows ``[s, e]`` (``w = e - s + 1``) is worth
  ``tp * S(-(e - i + 1) / w) / S(-1)``, ``S(x) = 2 / (1 + exp(5x)) - 1`` (``-1`` for
  ``x > 3``): the window's first row earns exactly ``tp``. A window counts once, by
  its best (earliest) detection, or ``-fn`` with none.
- A detection outside windows costs ``fp * S(|e - i| / (w - 1))`` from the end of the
  last window left before it, or ``-fp`` before any window.
- Per profile, one threshold for all files: every distinct score (and 1.1, "never
  fire") is tried and the first best total kept.
- Normalised: ``100 * (raw - null) / (perfect - null)``, ``null`` the total of NAB's
  null detector (constant 0.5, threshold optimised likewise; on real files it never
  fires: ``-fn`` per window), ``perfect = tp * number of windows``.

Examples
--------
>>> import numpy as np
>>> ts = np.arange(20)                       # integer timestamps work too
>>> windows = [(10, 13)]                     # rows 10..13, after the 3-row probation
>>> hit = np.zeros(20); hit[10] = 1.0        # fires on the window's first row
>>> round(score_file(ts, hit, windows, 0.5, "standard").score, 6)
1.0
>>> round(nab_score([(ts, hit, windows)], "standard").score, 6)
100.0
>>> round(nab_score([(ts, np.zeros(20), windows)], "standard").score, 6)
0.0
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomalert.errors import InputError, ParameterError

__all__ = [
    "NULL_SCORE",
    "PROBATIONARY_PERCENT",
    "PROFILES",
    "START_THRESHOLD",
    "FileScore",
    "NabResult",
    "nab_score",
    "nab_scores",
    "optimize_threshold",
    "probationary_length",
    "scaled_sigmoid",
    "score_file",
    "score_results_dir",
    "sweep",
]

#: NAB's application profiles (``config/profiles.json``), NAB's key names.
PROFILES: dict[str, dict[str, float]] = {
    "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22, "tnWeight": 1.0},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11, "tnWeight": 1.0},
}
#: Share of each file NAB leaves unscored.
PROBATIONARY_PERCENT = 0.15
#: NAB's sweep starts at this threshold, above every score in [0, 1]: "never fire".
START_THRESHOLD = 1.1
#: The constant score of NAB's null detector (the normalisation baseline).
NULL_SCORE = 0.5

Timestamps = Any  # DatetimeIndex, datetime-like or integer array
FileInput = tuple[Timestamps, Any, Sequence[tuple[Any, Any]]]


@dataclass(frozen=True)
class FileScore:
    """One file scored at one threshold.

    Attributes
    ----------
    score
        The file's raw NAB score at ``threshold`` (detections: ``score >= threshold``).
    tp, fp, fn, tn, total
        NAB's row counts over the ``total`` scored rows (detected / undetected rows
        inside / outside windows); ``probationary`` rows precede them.
    window_first_rows, window_scores
        Per input window: row of the counted (first) detection and the window's part
        (``tp``-weighted sigmoid or ``-fn``); ``None`` if missed / not scored (never
        entered, or wholly probationary).
    """

    threshold: float
    score: float
    tp: int
    fp: int
    fn: int
    tn: int
    total: int
    probationary: int
    window_first_rows: tuple[int | None, ...]
    window_scores: tuple[float | None, ...]


@dataclass(frozen=True)
class NabResult:
    """A detector's NAB result on a set of files for one profile.

    ``score`` is normalised (null detector 0, perfect detector 100); ``raw``,
    ``null`` and ``perfect`` are the unnormalised totals it comes from.
    """

    profile: str
    threshold: float
    score: float
    raw: float
    null: float
    perfect: float
    files: tuple[FileScore, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Summed row counts ``tp``, ``fp``, ``fn``, ``tn`` over the files."""
        return {k: sum(getattr(f, k) for f in self.files) for k in ("tp", "fp", "fn", "tn")}


@dataclass(frozen=True)
class _Prepared:
    """Profile-independent per-row facts of one file (NAB's ``calcSweepScore``)."""

    n: int
    probationary: int
    window_of_row: np.ndarray  # window index per row, -1 outside every window
    tp_unit: np.ndarray  # S(position) / S(-1) for window rows
    fp_unit: np.ndarray  # unweighted false-positive score for other rows
    scorable: np.ndarray  # row >= probationary length
    n_windows: int


def _profile(profile: Mapping[str, float] | str) -> Mapping[str, float]:
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ParameterError(
                f"The 'profile' parameter of NAB scoring must be one of {sorted(PROFILES)}. "
                f"Got {profile!r} instead."
            )
        return PROFILES[profile]
    for key in ("tpWeight", "fpWeight", "fnWeight"):
        if key not in profile:
            raise ParameterError(f"NAB profile needs '{key}'; got keys {sorted(profile)}")
    return profile


def probationary_length(n_rows: int, probationary_percent: float = PROBATIONARY_PERCENT) -> int:
    """Number of leading rows NAB leaves unscored: ``min(floor(p * n), p * 5000)``.

    NAB scores rows ``i >= min(...)``; the cap value ``p * 5000`` may be fractional,
    so the count returned is its ceiling.

    Examples
    --------
    >>> probationary_length(4032), probationary_length(100), probationary_length(6000)
    (604, 15, 750)
    """
    bound = min(math.floor(probationary_percent * n_rows), probationary_percent * 5000)
    return max(0, math.ceil(bound))


def scaled_sigmoid(x: np.ndarray | float) -> np.ndarray:
    """NAB's ``scaledSigmoid``: ``2 / (1 + exp(5x)) - 1``, and ``-1`` for ``x > 3``.

    Examples
    --------
    >>> [round(float(v), 5) for v in scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 1.0, 4.0]))]
    [0.98661, 0.84828, 0.0, -0.98661, -1.0]
    """
    arr = np.asarray(x, dtype=float)
    safe = np.minimum(arr, 3.0)
    return np.where(arr > 3.0, -1.0, 2.0 * (1.0 / (1.0 + np.exp(5.0 * safe))) - 1.0)


def _is_integer(values: Any) -> bool:
    dtype = getattr(values, "dtype", None)  # pandas datetimes: no slow object conversion
    kind = dtype.kind if isinstance(dtype, np.dtype) else ("O" if dtype is not None else None)
    return (kind if kind is not None else np.asarray(values).dtype.kind) in "iu"


def _as_int64(values: Any, what: str) -> np.ndarray:
    """Timestamps (datetime-like or integers) as int64, UTC nanoseconds for datetimes."""
    if _is_integer(values):
        return np.asarray(values).astype(np.int64)
    try:
        scalar = isinstance(values, str) or np.ndim(values) == 0
        idx = pd.DatetimeIndex(pd.to_datetime([values] if scalar else values))
    except (ValueError, TypeError):
        raise InputError(f"{what}: expected timestamps or integers") from None
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.as_unit("ns").asi8


def _prepare(
    timestamps: Timestamps, windows: Sequence[tuple[Any, Any]], probationary_percent: float
) -> _Prepared:
    ts = _as_int64(timestamps, "timestamps")
    n = len(ts)
    if _is_integer(timestamps):
        bounds = [(int(a), int(b)) for a, b in windows]
    else:
        bounds = [(int(_as_int64(a, "window")[0]), int(_as_int64(b, "window")[0])) for a, b in windows]
    starts = [a for a, _ in bounds]
    if len(set(starts)) != len(starts):
        raise InputError("two windows share a start; NAB would merge their scores")

    def rows_equal(t: int, which: str, k: int) -> np.ndarray:
        hits = np.flatnonzero(ts == t)
        if hits.size == 0:
            raise InputError(f"window {k} {which} is not one of the timestamps (NAB needs exact rows)")
        return hits

    # NAB walks the rows once: a row whose timestamp equals the *next* window's start
    # enters it (even from inside another window), and the row whose timestamp
    # equals the current window's end leaves it, after being scored. Rows may repeat
    # timestamps (real NAB files do), so this follows rows, not times.
    entered: list[tuple[int, int, int, float, int | None]] = []  # k, entry, right, width, exit
    after = -1
    for k, (a, b) in enumerate(bounds):
        start_rows, end_rows = rows_equal(a, "start", k), rows_equal(b, "end", k)
        later = start_rows[start_rows > after]
        if later.size == 0:
            break  # NAB never reaches this window, nor any after it
        entry = int(later[0])
        right = int(end_rows[0])  # NAB: timestamps.index(end)
        width = float(right - int(start_rows[0]) + 1)
        if width == 0:
            raise InputError(f"window {k} has zero width (end row before start row)")
        exits = end_rows[end_rows >= entry]
        entered.append((k, entry, right, width, int(exits[0]) if exits.size else None))
        after = entry

    window_of_row, tp_unit = np.full(n, -1, dtype=np.int64), np.zeros(n)
    fp_unit = np.full(n, -1.0)  # no window left yet: NAB's -1
    rows, max_tp = np.arange(n), float(scaled_sigmoid(-1.0))
    for j, (k, entry, right, width, exit_row) in enumerate(entered):
        next_entry = entered[j + 1][1] if j + 1 < len(entered) else n
        left_at = exit_row if exit_row is not None and exit_row < next_entry else None
        stop = left_at if left_at is not None else next_entry - 1
        seg = rows[entry : stop + 1]
        window_of_row[seg] = k
        tp_unit[seg] = scaled_sigmoid(-(right - seg + 1) / width) / max_tp
        if left_at is not None:  # rows up to the next window measure from this one
            gap = rows[left_at + 1 : next_entry]
            if width != 1:
                fp_unit[gap] = scaled_sigmoid(np.abs(right - gap) / (width - 1))
            # width 1 divides by zero in NAB; the limit (far away) is -1.
    fp_unit[window_of_row >= 0] = 0.0
    probationary = probationary_length(n, probationary_percent)
    return _Prepared(
        n, probationary, window_of_row, tp_unit, fp_unit, rows >= probationary, len(bounds)
    )


def _scores(scores: Any, n: int) -> np.ndarray:
    arr = np.asarray(scores, dtype=float).ravel()
    if arr.shape[0] != n:
        raise InputError(f"{arr.shape[0]} anomaly scores for {n} timestamps")
    if np.isnan(arr).any():
        raise InputError(f"row {int(np.flatnonzero(np.isnan(arr))[0])}: anomaly score is NaN; "
                         "NAB needs a number on every row")
    return arr


def _score_prepared(
    prep: _Prepared, scores: np.ndarray, threshold: float, profile: Mapping[str, float]
) -> FileScore:
    tpw, fpw, fnw = profile["tpWeight"], profile["fpWeight"], profile["fnWeight"]
    det = prep.scorable & (scores >= threshold)
    inwin = prep.window_of_row >= 0
    fp_rows = det & ~inwin
    fp_part = float(np.sum(prep.fp_unit[fp_rows] * fpw))
    firsts: list[int | None] = [None] * prep.n_windows
    parts: list[float | None] = [None] * prep.n_windows
    for k in range(prep.n_windows):
        mask = (prep.window_of_row == k) & prep.scorable
        if not mask.any():
            continue  # not entered, or wholly probationary: NAB has no part for it
        hits = np.flatnonzero(mask & det)
        if hits.size:
            firsts[k] = int(hits[0])
            parts[k] = max(-fnw, float(np.max(prep.tp_unit[hits] * tpw)))
        else:
            parts[k] = -fnw
    score = fp_part + sum(p for p in parts if p is not None)
    missed = prep.scorable & ~det
    return FileScore(
        threshold=float(threshold),
        score=float(score),
        tp=int(np.sum(det & inwin)),
        fp=int(np.sum(fp_rows)),
        fn=int(np.sum(missed & inwin)),
        tn=int(np.sum(missed & ~inwin)),
        total=int(np.sum(prep.scorable)),
        probationary=prep.probationary,
        window_first_rows=tuple(firsts),
        window_scores=tuple(parts),
    )


def score_file(
    timestamps: Timestamps,
    scores: Any,
    windows: Sequence[tuple[Any, Any]],
    threshold: float,
    profile: Mapping[str, float] | str,
    *,
    probationary_percent: float = PROBATIONARY_PERCENT,
) -> FileScore:
    """Score one file at a fixed threshold, as NAB's ``Sweeper.scoreDataSet`` does.

    Parameters
    ----------
    timestamps
        Row timestamps in file order: datetime-like (naive = UTC) or integers. Repeats
        are allowed; NAB walks rows, not times.
    scores
        One anomaly score per row (no NaN).
    windows
        ``(start, end)`` pairs in order, both ends timestamps of the file. As in NAB, a
        window whose start is not met after the previous window's start is never
        entered (nor any after it): it scores nothing but counts in ``perfect``.
    threshold
        Rows with ``score >= threshold`` are detections.
    profile
        A name in :data:`PROFILES` or a mapping with ``tpWeight``, ``fpWeight``, ``fnWeight``.
    probationary_percent
        See :func:`probationary_length`.

    Returns
    -------
    FileScore
    """
    prep = _prepare(timestamps, windows, probationary_percent)
    return _score_prepared(prep, _scores(scores, prep.n), threshold, _profile(profile))


def _sweep_prepared(
    prepared: Sequence[tuple[_Prepared, np.ndarray]], profile: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    tpw, fpw, fnw = profile["tpWeight"], profile["fpWeight"], profile["fnWeight"]
    all_scores, all_groups, all_values = [], [], []
    n_parts, offset = 0, 0
    for prep, scores in prepared:
        keep = prep.scorable
        win = prep.window_of_row[keep]
        inwin = win >= 0
        all_scores.append(scores[keep])
        all_groups.append(np.where(inwin, win + offset, -1))
        all_values.append(np.where(inwin, prep.tp_unit[keep] * tpw, prep.fp_unit[keep] * fpw))
        n_parts += len(np.unique(win[inwin]))
        offset += prep.n_windows
    base = -fnw * n_parts
    s = np.concatenate(all_scores) if all_scores else np.zeros(0)
    if s.size == 0:
        return np.array([START_THRESHOLD]), np.array([base])
    order = np.argsort(-s, kind="stable")  # NAB: sorted(reverse=True), ties keep file order
    s, g, v = s[order], np.concatenate(all_groups)[order], np.concatenate(all_values)[order]
    inwin = g >= 0
    fp_gain = np.where(inwin, 0.0, v)
    # Each window's part is max(-fn, best sweep score so far); its gain is how much
    # that running maximum rises at each of the window's rows.
    best = pd.Series(v[inwin]).groupby(g[inwin]).cummax().to_numpy()
    best = np.maximum(best, -fnw)
    before = pd.Series(best).groupby(g[inwin]).shift(1, fill_value=-fnw).to_numpy()
    win_gain = np.zeros_like(v)
    win_gain[inwin] = best - before
    total = base + np.cumsum(fp_gain) + np.cumsum(win_gain)
    last_of_value = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    thresholds, totals = s[last_of_value], total[last_of_value]
    if s[0] != START_THRESHOLD:  # NAB records "nothing detected" first
        thresholds = np.r_[START_THRESHOLD, thresholds]
        totals = np.r_[base, totals]
    return thresholds, totals


def sweep(
    files: Iterable[FileInput],
    profile: Mapping[str, float] | str,
    *,
    probationary_percent: float = PROBATIONARY_PERCENT,
) -> tuple[np.ndarray, np.ndarray]:
    """The total raw score at every candidate threshold (NAB's ``calcScoreByThreshold``).

    Returns
    -------
    thresholds, totals
        In NAB's order: 1.1 ("never fire") first, then every distinct score from high
        to low; ``totals[i]`` is the summed raw score with detections ``>= thresholds[i]``.
    """
    prepared = _prepare_all(files, probationary_percent)
    return _sweep_prepared(prepared, _profile(profile))


def _prepare_all(files: Iterable[FileInput], percent: float) -> list[tuple[_Prepared, np.ndarray]]:
    out = []
    for i, (timestamps, scores, windows) in enumerate(files):
        try:
            prep = _prepare(timestamps, windows, percent)
            out.append((prep, _scores(scores, prep.n)))
        except InputError as exc:
            raise InputError(f"file {i}: {exc}") from None
    return out


def _optimize_prepared(
    prepared: Sequence[tuple[_Prepared, np.ndarray]], profile: Mapping[str, float]
) -> tuple[float, float]:
    thresholds, totals = _sweep_prepared(prepared, profile)
    best = int(np.argmax(totals))  # first best, like NAB's stable sort by score
    return float(thresholds[best]), float(totals[best])


def optimize_threshold(
    files: Iterable[FileInput],
    profile: Mapping[str, float] | str,
    *,
    probationary_percent: float = PROBATIONARY_PERCENT,
) -> tuple[float, float]:
    """The threshold maximising the summed raw score over all files (NAB's optimizer).

    Returns
    -------
    threshold, raw
        The best threshold and the total raw score it gives.
    """
    prepared = _prepare_all(files, probationary_percent)
    return _optimize_prepared(prepared, _profile(profile))


def _nab_result(
    prepared: Sequence[tuple[_Prepared, np.ndarray]],
    profile_name: str,
    threshold: float | None,
) -> NabResult:
    profile = _profile(profile_name)
    if threshold is None:
        threshold, _ = _optimize_prepared(prepared, profile)
    files = tuple(_score_prepared(p, s, threshold, profile) for p, s in prepared)
    for i, (p, s) in enumerate(prepared):
        scored = s[p.scorable]  # NAB's scoreDataSet finds no threshold row for these and fails
        if scored.size and (threshold > START_THRESHOLD or scored.min() > threshold):
            warnings.warn(f"file {i}: every scored anomaly score exceeds the threshold "
                          f"{threshold!r}; NAB's own scorer fails on such a file", stacklevel=3)
    raw = float(sum(f.score for f in files))
    null_prepared = [(p, np.full(p.n, NULL_SCORE)) for p, _ in prepared]
    _, null = _optimize_prepared(null_prepared, profile)
    perfect = profile["tpWeight"] * sum(p.n_windows for p, _ in prepared)
    if perfect == null:
        raise InputError("NAB normalisation needs at least one scored anomaly window")
    score = 100.0 * (raw - null) / (perfect - null)
    return NabResult(profile_name, float(threshold), score, raw, null, perfect, files)


def nab_score(
    files: Iterable[FileInput],
    profile_name: str,
    threshold: float | None = None,
    *,
    probationary_percent: float = PROBATIONARY_PERCENT,
) -> NabResult:
    """The normalised NAB score (null detector 0, perfect detector 100) of one profile.

    Parameters
    ----------
    files
        ``(timestamps, scores, windows)`` per file, as for :func:`score_file`.
    profile_name
        A key of :data:`PROFILES`.
    threshold
        ``None`` optimises it over all files jointly, as NAB does; a number scores at
        that threshold (for instance a detector's own label-free threshold).

    Returns
    -------
    NabResult
    """
    return _nab_result(_prepare_all(files, probationary_percent), profile_name, threshold)


def nab_scores(
    files: Iterable[FileInput],
    threshold: float | None = None,
    *,
    probationary_percent: float = PROBATIONARY_PERCENT,
) -> dict[str, NabResult]:
    """:func:`nab_score` for every profile in :data:`PROFILES` (files prepared once)."""
    prepared = _prepare_all(files, probationary_percent)
    return {name: _nab_result(prepared, name, threshold) for name in PROFILES}


def score_results_dir(
    results_dir: str | Path,
    windows: Mapping[str, Sequence[tuple[Any, Any]]],
    *,
    detector: str | None = None,
    probationary_percent: float = PROBATIONARY_PERCENT,
) -> dict[str, NabResult]:
    """Read back a NAB results directory and score every profile (threshold optimised).

    Parameters
    ----------
    results_dir
        ``<results>/<detector>`` holding ``<subfolder>/<detector>_<file>.csv``
        (see :func:`anomalert.sources.nab.write_results`); NAB's own
        ``*_scores.csv`` summaries are skipped.
    windows
        As from :func:`anomalert.sources.nab.load_windows`.
    detector
        Name in the file prefix; defaults to ``results_dir``'s name.

    Returns
    -------
    dict
        Profile name -> :class:`NabResult` (``files`` in sorted relative-path order).

    Raises
    ------
    InputError
        No results files, or one whose data file has no entry in ``windows``.
    """
    from anomalert.sources.nab import data_relpath, read_results

    root = Path(results_dir)
    paths = sorted(p for p in root.rglob("*.csv") if "_scores.csv" not in p.name
                   and not p.name.startswith("."))
    if not paths:
        raise InputError(f"{root}: no NAB results CSVs found")
    files: list[FileInput] = []
    relpaths = [data_relpath(root, path, detector) for path in paths]
    for path, relpath in zip(paths, relpaths, strict=True):
        if relpath not in windows:
            raise InputError(f"{path}: data file '{relpath}' has no entry in the windows file")
        frame = read_results(path)
        files.append((frame.index, frame["anomaly_score"].to_numpy(), windows[relpath]))
    missing = sorted(set(windows) - set(relpaths))
    if missing:  # NAB would still count their windows in its null and perfect totals
        warnings.warn(f"{root}: no results for {len(missing)} file(s) of the windows file "
                      f"(first: {missing[0]}); they are left out of every total", stacklevel=2)
    return nab_scores(files, probationary_percent=probationary_percent)
