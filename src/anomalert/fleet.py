"""Many series at once: every series scored on its own, in bounded memory, locally or on Dask.

:func:`detect_many` runs each series through :func:`anomalert.detection.detect` (the same code
path as ``anomalert detect`` on one file), reduces it to a :class:`SeriesSummary` and, when
asked, appends its per-point results to one CSV or Parquet file. Series are read lazily and
processed ``chunk_size`` at a time, so memory is bounded by the chunk, not by the fleet. A
series that cannot be scored (unparseable, too short, constant) gets a summary saying why; it
never stops the job. ``engine="dask"`` ships the same chunks to a ``dask.distributed`` cluster.
With ``keep=N`` it also keeps the frames and detections of the N worst series (most
incidents, then highest score: :mod:`anomalert.ranking`), never more than N at a time, for the
many-series report to chart without reading or scoring them again.

Inputs: ``(series_id, frame)`` pairs, a mapping id -> frame or series, a long-format frame
(``series``, ``timestamp``, ``value``; or label columns such as ``host``, ``job`` plus
``timestamp`` and ``value``, the id being the canonical label string ``{host="a",job="b"}``),
or a path: a long-format or wide CSV/Parquet file, or a directory of them.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=600, freq="1min", tz="UTC")
>>> rng = np.random.default_rng(0)
>>> long = pd.concat([pd.DataFrame({"host": h, "timestamp": idx,
...                                 "value": 40 + rng.normal(0, 2, 600)}) for h in "ab"],
...                  ignore_index=True)
>>> long.loc[len(long) - 1, "value"] = 95.0  # host b, last minute
>>> result = detect_many(long)
>>> print(result.table()[["series", "points", "incidents", "status"]].to_string(index=False))
    series  points  incidents status
{host="a"}     600          0     ok
{host="b"}     600          1     ok
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from anomalert.alerting import AlertPolicy
from anomalert.data import LABEL_COLUMNS, validate_frame
from anomalert.detection import Detection, _detect
from anomalert.detectors import Detector, preset
from anomalert.errors import AnomalertError, InputError, ParameterError
from anomalert.outputs import POINT_COLUMNS, PointWriter
from anomalert.ranking import Kept, Rank, WorstKept
from anomalert.sources.longformat import Item, Source, iter_series

__all__ = [
    "ChunkResult",
    "FleetResult",
    "SeriesSummary",
    "detect_many",
    "points_frame",
    "score_chunk",
]


@dataclass(frozen=True)
class SeriesSummary:
    """What happened to one series: counts when scored, the reason when not.

    ``status`` is ``"ok"``, ``"skipped"`` (too short or constant: nothing to score) or
    ``"error"`` (the data or the detector failed); ``message`` says why, or holds the notes
    of an ``ok`` series (duplicates dropped, gaps...).
    """

    series: str
    status: str
    points: int = 0
    train_rows: int = 0
    threshold: float = math.nan  # the paging threshold (the policy's, else the detector's)
    flagged: int = 0  # points above the threshold
    alerts: int = 0  # points the policy turned into alerts
    incidents: int = 0
    max_score: float = math.nan
    first_alert: str | None = None
    message: str = ""


@dataclass
class FleetResult:
    """Per-series summaries of a :func:`detect_many` run, in input order."""

    summaries: list[SeriesSummary]
    engine: str
    chunks: int
    seconds: float
    output: Path | None = None
    notes: list[str] = field(default_factory=list)
    #: The ``keep`` worst series (:func:`anomalert.ranking.rank`), worst first, with their
    #: frames and detections as they were scored.
    worst: list[Kept] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """One row per series (the :class:`SeriesSummary` fields)."""
        columns = list(SeriesSummary.__dataclass_fields__)
        return pd.DataFrame([asdict(s) for s in self.summaries], columns=columns)

    @property
    def totals(self) -> dict[str, int]:
        """Series by status, and points, alert points and incidents over the fleet."""
        by = [s.status for s in self.summaries]
        return {
            "series": len(by),
            "ok": by.count("ok"),
            "skipped": by.count("skipped"),
            "errors": by.count("error"),
            "points": sum(s.points for s in self.summaries),
            "alerts": sum(s.alerts for s in self.summaries),
            "incidents": sum(s.incidents for s in self.summaries),
        }


def _dedupe(items: Iterator[Item]) -> Iterator[Item]:
    seen: set[str] = set()
    for item in items:
        if item[0] in seen:
            item = (item[0], InputError(f"series id {item[0]!r} appears more than once"))
        seen.add(item[0])
        yield item
        del item


def _chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    while True:
        chunk = list(islice(items, size))
        if not chunk:
            return
        yield chunk
        del chunk  # before the next chunk is read: at most `size` frames alive


# --------------------------------------------------------------------------- scoring
def points_frame(det: Detection, series: str) -> pd.DataFrame:
    """Per-point output of one series: the columns ``anomalert detect -o`` writes, plus ``series``."""
    pts = det.points
    return pd.DataFrame(
        {
            "series": series,
            "timestamp": pts.index.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "score": pts["score"].to_numpy(),
            "threshold": pts["threshold"].to_numpy(),
            "is_anomaly": pts["is_anomaly"].to_numpy(dtype=int),
            "explanation": pts["explanation"].to_numpy(dtype=object),
            "incident": pd.array(pts["incident"].to_numpy(dtype=object), dtype="Int64"),
        },
        columns=list(POINT_COLUMNS),
    )


def _score_series(
    sid: str, data: Any, detector: str | Detector, train_until: Any, policy: AlertPolicy | None,
    min_points: int, want_points: bool, keeper: WorstKept,
) -> tuple[SeriesSummary, pd.DataFrame | None]:
    """The series' summary and (``want_points``) per-point frame; ``keeper`` gets its frame
    and detection when it wants them."""
    if isinstance(data, BaseException):
        return SeriesSummary(sid, "error", message=str(data)), None
    try:
        if isinstance(data, pd.Series):
            data = data.to_frame("value")
        frame, report = validate_frame(data, source=sid)
        metrics = [c for c in frame.columns if c not in LABEL_COLUMNS]
        if len(frame) < min_points:
            return SeriesSummary(sid, "skipped", points=len(frame), message=(
                f"too short: {len(frame)} point(s), need at least {min_points}")), None
        if len(report.constant_columns) == len(metrics):
            held = ", ".join(f"{m}={np.nanmax(frame[m].to_numpy()):g}" for m in metrics[:3])
            return SeriesSummary(sid, "skipped", points=len(frame), message=(
                f"constant ({held}{', ...' if len(metrics) > 3 else ''} throughout); "
                "it cannot show anomalies")), None
        # detect() up to its per-point frame, which only an output file or the keeper needs
        run = _detect(detector, frame, train_until=train_until, policy=policy, series=sid)
        scores = run.scores
        alerts = run.alert
        notes = "; ".join(line.removeprefix(f"{sid}: ") for line in report.lines() + run.notes)
        summary = SeriesSummary(
            sid, "ok", len(run.index), run.train_rows,
            (policy or AlertPolicy()).paging_threshold(run.detector.threshold_),
            int(run.flagged.sum()), int(alerts.sum()), len(run.incidents),
            float(np.nanmax(scores)) if np.isfinite(scores).any() else math.nan,
            run.index[int(np.argmax(alerts))].isoformat() if alerts.any() else None, notes,
        )
        keep = keeper.wants(summary)
        det = run.detection() if want_points or keep else None
    except AnomalertError as exc:
        return SeriesSummary(sid, "error", message=str(exc)), None
    except Exception as exc:  # one broken series must not stop a fleet
        return SeriesSummary(sid, "error", message=f"{type(exc).__name__}: {exc}"), None
    if keep and det is not None:
        keeper.add(Kept(summary, frame, det))
    return summary, points_frame(det, sid) if det is not None and want_points else None


class ChunkResult(NamedTuple):
    """What scoring a chunk gives back: its summaries, its per-point frame (when asked), and
    its worst series (at most ``keep``, worse than the ``bar`` it was given)."""

    summaries: list[SeriesSummary]
    points: pd.DataFrame | None
    worst: list[Kept]


def score_chunk(
    items: list[Item],
    detector: str | Detector = "default",
    train_until: Any = None,
    policy: AlertPolicy | None = None,
    min_points: int = 60,
    want_points: bool = False,
    keep: int = 0,
    bar: Rank | None = None,
) -> ChunkResult:
    """Score a chunk of series (the unit of work on a Dask worker); never raises per series.

    ``keep``: how many of the chunk's worst series to return with their frames and
    detections; ``bar``: the rank of the ``keep``-th worst series seen so far (only worse
    ones are kept).
    """
    out: list[SeriesSummary] = []
    parts: list[pd.DataFrame] = []
    keeper = WorstKept(keep, bar)
    for sid, data in items:
        summary, part = _score_series(
            sid, data, detector, train_until, policy, min_points, want_points, keeper)
        out.append(summary)
        if part is not None:
            parts.append(part)
    return ChunkResult(out, pd.concat(parts, ignore_index=True) if parts else None,
                       keeper.kept)


def _local_results(run: Callable[..., ChunkResult], chunks: Iterator[list[Item]],
                   bar: Callable[[], Rank | None]) -> Iterator[ChunkResult]:
    """Results of ``run(chunk, bar=bar())`` over ``chunks``, in this process."""
    for chunk in chunks:
        result = run(chunk, bar=bar())
        del chunk  # before the next chunk is read
        yield result


def _dask_results(
    run: Callable[..., ChunkResult], chunks: Iterator[list[Item]],
    bar: Callable[[], Rank | None], scheduler: Any, workers: int, max_pending: int | None,
) -> Iterator[ChunkResult]:
    """Results of ``run(chunk, bar=bar())`` over ``chunks`` on Dask, in input order, a few
    chunks in flight (``bar`` is read as each is submitted)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise AnomalertError("engine 'dask' needs dask.distributed: "
                             "pip install 'dask[distributed]'") from None
    with ExitStack() as stack:
        if isinstance(scheduler, Client):
            client = scheduler
        elif scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout="10s"))
            except (OSError, TimeoutError) as exc:
                raise AnomalertError(f"cannot connect to the Dask scheduler at {scheduler}: "
                                     f"{exc}") from None
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None,  # no dashboard; its HTTP endpoint on a free local port:
                scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"}))
            client = stack.enter_context(Client(cluster))
        limit = max_pending or 2 * max(1, len(client.scheduler_info()["workers"]))
        pending: deque[tuple[list[str], Any]] = deque()

        def collect() -> ChunkResult:
            ids, future = pending.popleft()
            try:
                return future.result()  # type: ignore[no-any-return]
            except Exception as exc:  # a lost worker fails its chunk, not the fleet
                why = f"worker failed: {type(exc).__name__}: {exc}"
                return ChunkResult([SeriesSummary(s, "error", message=why) for s in ids], None,
                                   [])

        for chunk in chunks:
            ids = [sid for sid, _ in chunk]
            [data] = client.scatter([chunk], hash=False)
            pending.append((ids, client.submit(run, data, bar=bar(), pure=False)))
            del chunk, data
            if len(pending) >= limit:
                yield collect()
        while pending:
            yield collect()


# --------------------------------------------------------------------------- the engine
def detect_many(
    source: Source,
    detector: str | Detector = "default",
    *,
    train_until: Any = None,
    policy: AlertPolicy | None = None,
    engine: str = "local",
    scheduler: Any = None,
    chunk_size: int = 16,
    output: str | Path | None = None,
    min_points: int = 60,
    labels: list[str] | None = None,
    timestamp_column: str | None = None,
    workers: int = 2,
    max_pending: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep: int = 0,
) -> FleetResult:
    """Score every series of ``source`` independently and summarise each.

    Parameters
    ----------
    source
        ``(series_id, frame)`` pairs (lazy iterables welcome), a mapping id -> frame/Series,
        a long-format frame, or a path (long or wide CSV/Parquet file, or a directory).
    detector
        Registry / preset name or an unfitted detector (cloned per series).
    train_until
        End of the known-good window for every series (default: each series' first 10%).
    engine
        ``"local"`` (this process) or ``"dask"``.
    scheduler
        Dask scheduler address or a ``distributed.Client``; None starts a local cluster of
        ``workers`` single-threaded processes on 127.0.0.1.
    chunk_size
        Series read, shipped and scored together; memory is bounded by a chunk (Dask holds
        up to ``max_pending`` chunks, default two per worker).
    output
        CSV or Parquet file receiving the per-point results (with a ``series`` column),
        appended chunk by chunk.
    min_points
        Shorter series are skipped (and reported).
    labels
        Columns naming the series in long-format input (default: found).
    progress
        Called after each chunk with (series done, points done).
    keep
        Keep the frames and detections of this many worst series
        (:func:`anomalert.ranking.rank`) in ``FleetResult.worst``; never more than ``keep``
        at a time (plus at most ``keep`` per chunk in flight).
    """
    if engine not in ("local", "dask"):
        raise ParameterError(f"The 'engine' parameter must be 'local' or 'dask'. Got {engine!r} instead.")
    for name, value in (("chunk_size", chunk_size), ("min_points", min_points), ("workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParameterError(f"The {name!r} parameter must be an int >= 1. Got {value!r} instead.")
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ParameterError(f"The 'keep' parameter must be an int >= 0. Got {keep!r} instead.")
    if isinstance(detector, str):
        preset(detector)  # unknown names fail here, not once per series
    if policy is not None:
        policy.validate()
    if train_until is not None:
        from anomalert.monitor import _utc

        train_until = _utc(train_until)
    started = time.perf_counter()
    notes: list[str] = []
    chunks = _chunks(_dedupe(iter_series(
        source, labels=labels, timestamp_column=timestamp_column, notes=notes)), chunk_size)
    run = partial(score_chunk, detector=detector, train_until=train_until, policy=policy,
                  min_points=min_points, want_points=output is not None, keep=keep)
    keeper = WorstKept(keep)  # each chunk keeps only series worse than its bar, read as it starts
    results: Iterator[ChunkResult]
    if engine == "local":
        results = _local_results(run, chunks, keeper.bar)
    else:
        results = _dask_results(run, chunks, keeper.bar, scheduler, workers, max_pending)
    writer = PointWriter(output) if output is not None else None
    summaries: list[SeriesSummary] = []
    n_chunks = points = 0
    for done, part, kept in results:
        summaries.extend(done)
        n_chunks += 1
        points += sum(s.points for s in done)
        if writer is not None and part is not None:
            writer.write(part)
        for k in kept:
            keeper.add(k)
        del part, kept
        if progress is not None:
            progress(len(summaries), points)
    if writer is not None:
        writer.close()
    return FleetResult(summaries, engine, n_chunks, time.perf_counter() - started,
                       Path(output) if output is not None else None, notes, keeper.kept)
