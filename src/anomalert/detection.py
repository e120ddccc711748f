"""A whole frame through the Monitor's decisions: :func:`detect` fits the detector on the
training window, then decides on every later point as :class:`~anomalert.monitor.Monitor`
would one at a time (compiled detectors in one compiled loop with the very same decisions),
and returns a :class:`Detection`: per-point results and the incidents it opened.

Examples
--------
>>> import numpy as np, pandas as pd
>>> idx = pd.date_range("2025-01-01", periods=600, freq="1min", tz="UTC")
>>> cpu = 40 + np.random.default_rng(0).normal(0, 1, 600)
>>> cpu[500:505] = 95.0
>>> d = detect("zscore", pd.DataFrame({"cpu": cpu}, index=idx))
>>> [(str(i.start.time()), str(i.end.time())) for i in d.incidents]
[('08:20:00', '08:24:00')]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from anomalert.alerting import AlertPolicy, Incident
from anomalert.alerting.batch import FIRED, REOPENED, RESOLVED, decide_all
from anomalert.data import LABEL_COLUMNS, clean_frame
from anomalert.detectors import Detector, available, make, preset
from anomalert.detectors.base import as_frame
from anomalert.errors import InputError, ParameterError
from anomalert.features import no_traffic_note
from anomalert.monitor import Monitor, Verdict, _utc

__all__ = ["MIN_TRAIN_ROWS", "Detection", "detect"]


@dataclass
class Detection:
    """Per-point results of :func:`detect` and the incidents it opened."""

    points: pd.DataFrame  # score, threshold, is_anomalous, is_anomaly (alert), explanation, incident
    incidents: list[Incident]
    detector: Detector
    train_until: pd.Timestamp | None
    train_rows: int
    #: What validating the input fixed or skipped (unsorted rows, duplicate timestamps,
    #: missing or out-of-range values...), one line each; empty for a clean frame.
    notes: list[str] = field(default_factory=list)


@dataclass
class _Outcome:
    """What :func:`detect` found, before the per-point frame is built (the fleet's summaries
    need only these arrays; :meth:`detection` builds the :class:`Detection`)."""

    index: pd.DatetimeIndex
    scores: np.ndarray  # the points' "score" column
    flagged: np.ndarray  # "is_anomalous"
    alert: np.ndarray  # "is_anomaly"
    incidents: list[Incident]
    detector: Detector
    train_until: pd.Timestamp | None
    train_rows: int
    points: Callable[[], pd.DataFrame]
    notes: list[str] = field(default_factory=list)  # what the input's validation fixed

    def detection(self) -> Detection:
        return Detection(
            self.points(), self.incidents, self.detector, self.train_until, self.train_rows,
            list(self.notes),
        )


#: The default training window holds the first 10% of the rows, and at least this many.
MIN_TRAIN_ROWS = 60


def _training_mask(
    index: pd.DatetimeIndex,
    plan: str | int,
    train_until: pd.Timestamp | None,
    labels: pd.Series | None,
    exclude_labelled: bool,
) -> tuple[np.ndarray, pd.Timestamp | None]:
    n = len(index)
    if plan == "all":
        mask = np.ones(n, dtype=bool)
        cut = None
    elif isinstance(plan, int):
        mask = np.arange(n) < plan
        cut = index[min(plan, n - 1)] if plan < n else None
    else:
        if train_until is None:
            k = max(int(0.1 * n), min(n, MIN_TRAIN_ROWS))
            if k >= n:
                raise InputError(
                    f"too short to score: {n} row(s), and the training window takes the first "
                    f"{MIN_TRAIN_ROWS} (or 10 %); give more rows, or an end of training "
                    "(train_until, --train-until) to train on fewer"
                )
            train_until = index[k]
        elif n and train_until > index[-1]:
            raise InputError(
                f"train_until (--train-until) {train_until.isoformat()} is after the last row "
                f"({index[-1].isoformat()}): every row would be training and none scored "
                "after it; give a time inside the data, or none for the first 10 % of the rows"
            )
        mask = np.asarray(index < train_until)
        cut = train_until
    if exclude_labelled and labels is not None:
        mask &= ~labels.to_numpy(dtype=bool)
    return mask, cut


def detect(
    detector: str | Detector,
    frame: pd.DataFrame,
    *,
    train_until: Any = None,
    policy: AlertPolicy | None = None,
    labels: pd.Series | None = None,
    series: str = "default",
) -> Detection:
    """Fit on the training window, then decide every later point as a :class:`Monitor` would.

    Parameters
    ----------
    detector
        A detector or a registry / preset name (presets bring their own training rows).
        A detector is cloned and the clone fitted here, also when it was fitted already
        (``Detection.notes`` says so); a :class:`Monitor` scores with a fitted one.
    frame
        Metrics indexed by time (label columns are ignored).
    train_until
        End (exclusive) of the known-good training window; default the first 10% of rows.
    policy
        The alert policy. Its ``threshold``, when set, decides which points page; the
        detector learns at its own ``threshold_`` either way, so the scores are the same.
    labels
        Only used by presets that reproduce a tutorial's label-chosen training rows.
    """
    return _detect(
        detector, frame, train_until=train_until, policy=policy, labels=labels, series=series
    ).detection()


def _detect(
    detector: str | Detector,
    frame: pd.DataFrame,
    *,
    train_until: Any = None,
    policy: AlertPolicy | None = None,
    labels: pd.Series | None = None,
    series: str = "default",
) -> _Outcome:
    """:func:`detect`, up to its per-point frame."""
    frame, notes = clean_frame(as_frame(frame))
    if any(c in LABEL_COLUMNS for c in frame.columns):
        frame = frame[[c for c in frame.columns if c not in LABEL_COLUMNS]]
    metrics = frame
    plan = preset(detector) if isinstance(detector, str) else None
    if plan is not None and plan.metrics is not None:
        missing = [m for m in plan.metrics if m not in metrics.columns]
        if missing:
            raise InputError(f"detector {plan.name!r} needs the column(s) {missing}")
        metrics = metrics[list(plan.metrics)]
    if not isinstance(detector, (str, Detector)):
        raise ParameterError(
            f"detector must be a name ({', '.join(available())}) or a Detector, got "
            f"{detector!r}"
        )
    det = make(detector) if isinstance(detector, str) else detector.clone()
    if isinstance(detector, Detector) and detector.is_fitted:
        notes.append(
            "the detector given was already fitted: detect fitted a copy on this frame's "
            "training window (the detector itself is unchanged; to score new points with "
            "what it learned, feed them to a Monitor)"
        )
    cut = _utc(train_until) if train_until is not None else None
    mask, cut = _training_mask(
        pd.DatetimeIndex(metrics.index),
        plan.train if plan else "auto",
        cut,
        labels,
        bool(plan and plan.exclude_labelled),
    )
    if mask.sum() < 2:
        raise InputError(
            f"the training window holds {int(mask.sum())} row(s); need at least 2 "
            "(move train_until, --train-until, later)"
        )
    # fit(metrics[mask]) on the rows of the frame prepared once (features are row-wise)
    det._begin_fit(metrics)
    t_ns, X, index = det._prepare(metrics)
    quiet = no_traffic_note(metrics, det.feature_set)  # error rates missing: say how many
    if quiet:
        notes.append(quiet)
    det._fit_arrays(t_ns[mask], X[mask])
    monitor = Monitor(det, policy, series=series)
    n = len(index)
    scores = np.full(n, np.nan)
    explained: dict[int, Any] = {}
    if det._static:
        scores[:] = det._score_frame(t_ns, X)
        pre = np.ones(n, dtype=bool)
        # A static model's explanations do not depend on history: compute them in one batch.
        hot = np.flatnonzero(scores > det.threshold_)
        if hot.size:
            explained = dict(zip(hot.tolist(), det._explain_many(t_ns[hot], X[hot]), strict=True))
        if _BATCH_DECISIONS:  # the policy over every score at once, as for compiled loops
            flagged, alert, incidents, build = _decide_rows(
                monitor.policy, det, scores, index, series,
                lambda i, _: explained.get(i) or det._explain(int(t_ns[i]), X[i]))
            return _Outcome(
                index, scores, flagged, alert, incidents, det, cut, int(mask.sum()), build, notes
            )
    else:
        # Training rows keep the causal scores computed while fitting; later rows are new.
        pre = np.zeros(n, dtype=bool)
        last_train = int(np.flatnonzero(mask)[-1])
        pre[: last_train + 1] = True
        train_scores = np.full(n, np.nan)
        train_scores[mask] = det.train_scores_
        scores[pre] = train_scores[pre]
        explained = _training_explanations(
            det, X, scores, last_train + 1, mask, monitor.policy.paging_threshold(det.threshold_)
        )
    if det._batch_run:
        flagged, alert, incidents, build = _run_compiled(
            det, monitor.policy, t_ns, X, index, pre, mask, scores, series
        )
        return _Outcome(
            index, scores, flagged, alert, incidents, det, cut, int(mask.sum()), build, notes
        )
    verdicts: list[Verdict] = []
    for i in range(n):
        ts = index[i]
        if pre[i]:
            v = monitor._decide(
                ts,
                float(scores[i]),
                lambda i=i: explained.get(i) or det._explain(int(t_ns[i]), X[i]),
            )
        else:
            v = monitor._step(ts, int(t_ns[i]), X[i])
            scores[i] = v.score
        verdicts.append(v)
    points = pd.DataFrame(
        {
            "score": scores,
            "threshold": [v.threshold for v in verdicts],
            "is_anomalous": [v.is_anomalous for v in verdicts],
            "is_anomaly": [v.is_alert for v in verdicts],
            "explanation": [v.explanation for v in verdicts],
            "incident": [v.incident_id if v.is_alert else None for v in verdicts],
        },
        index=index,
    )
    return _Outcome(
        index, points["score"].to_numpy(dtype=float), points["is_anomalous"].to_numpy(dtype=bool),
        points["is_anomaly"].to_numpy(dtype=bool), monitor.incidents, det, cut, int(mask.sum()),
        lambda: points, notes,
    )


#: Static detectors' decisions over every score at once (False: one Monitor step a row; the
#: two agree, tests/test_detection_paths.py).
_BATCH_DECISIONS = True


def _training_explanations(
    det: Detector, X: np.ndarray, scores: np.ndarray, start: int, train_mask: np.ndarray,
    threshold: float,
) -> dict[int, Any]:
    """Explanations of the rows before ``start`` over ``threshold`` (the paging one) that fit
    recorded: what each was measured against at the time (detectors that record them;
    others explain later)."""
    recorded = getattr(det, "train_explained_", None)
    if not recorded:
        return {}
    fit_rows = np.flatnonzero(train_mask)
    out = {}
    for i in np.flatnonzero(scores[:start] > threshold).tolist():
        k = int(np.searchsorted(fit_rows, i))
        if k < len(fit_rows) and fit_rows[k] == i and k in recorded:
            out[i] = det.explanation_from(float(scores[i]), X[i], *recorded[k])  # type: ignore[attr-defined]
    return out


def _run_compiled(
    det: Any,
    policy: AlertPolicy,
    t_ns: np.ndarray,
    X: np.ndarray,
    index: pd.DatetimeIndex,
    pre: np.ndarray,
    train_mask: np.ndarray,
    scores: np.ndarray,
    series: str,
) -> tuple[np.ndarray, np.ndarray, list[Incident], Callable[[], pd.DataFrame]]:
    """:func:`detect`'s loop for detectors with a compiled loop (``Detector._batch_run``),
    with the very same decisions as a Monitor's.

    Returns the flagged and alerting rows, the incidents, and a function that builds the
    per-point frame (``scores`` is filled in place).

    The rows after training go through the compiled score-and-learn loop (a flagged point is
    not learned, as in :meth:`Monitor._step`), the policy runs over all scores at once
    (:func:`~anomalert.alerting.batch.decide_all`), and Python only touches the alerting
    rows: their explanations and the incidents they make. The detector learns at its own
    threshold; the policy's (when it has one) only decides which points page.
    """
    n = len(index)
    own = float(det.threshold_)
    threshold = policy.paging_threshold(own)
    step = _monitor_step(det, index)
    pre_idx = np.flatnonzero(pre)
    start = int(pre_idx[-1]) + 1 if pre_idx.size else 0
    explained = _training_explanations(det, X, scores, start, train_mask, threshold)
    # A paging threshold under the lowest one fit records for can leave training rows
    # unexplained: explain them against the state at the end of training, before the run
    # moves it on (as the Monitor does).
    for i in np.flatnonzero(scores[:start] > threshold).tolist():
        if i not in explained:
            explained[i] = det._explain(int(t_ns[i]), X[i])
    flags = scores[:start] > own
    flag_run = start - int(np.flatnonzero(~flags)[-1]) - 1 if (~flags).any() else start
    m = X.shape[1]
    record = det.new_record(n - start, m)
    scores[start:] = det.run(
        t_ns[start:], X[start:], threshold=own, learn_flagged=policy.learn_flagged,
        relearn_after=policy.relearn_points(step), flag_run=flag_run,
        record=record,
    )[0]

    def explain(i: int, score: float) -> Any:
        if i < start:
            return explained[i]
        return det.explanation_from(score, X[i], *(r[i - start] for r in record))

    return _decide_rows(policy, det, scores, index, series, explain)


def _monitor_step(det: Detector, index: pd.DatetimeIndex) -> float | None:
    """The step a Monitor goes by: the detector's, else the first gap it saw."""
    return getattr(det, "step_seconds_", None) or (
        (index[1] - index[0]).total_seconds() if len(index) > 1 else None)


def _decide_rows(
    policy: AlertPolicy, det: Detector, scores: np.ndarray, index: pd.DatetimeIndex,
    series: str, explain: Callable[[int, float], Any],
) -> tuple[np.ndarray, np.ndarray, list[Incident], Callable[[], pd.DataFrame]]:
    """The Monitor's decisions over every row's score at once
    (:func:`~anomalert.alerting.batch.decide_all`); Python touches only the alerting rows
    (``explain(row, score)`` gives their explanation) and the incidents they make. Returns
    the flagged and alerting rows, the incidents and a builder of the per-point frame."""
    n = len(index)
    threshold = policy.paging_threshold(float(det.threshold_))
    flagged, alert, inc, event = decide_all(
        scores, threshold, k=policy.k, n=policy.n, resolve_after=policy.resolve_after,
        cooldown=policy.cooldown_points(_monitor_step(det, index)),
    )
    texts: dict[int, str] = {}  # row -> explanation; every other row's is ""
    incidents: list[Incident] = []
    for i in np.flatnonzero(alert | (event == RESOLVED)).tolist():
        ts = index[i]
        if not alert[i]:  # resolved here
            incidents[inc[i]].resolved_at = ts
            continue
        score = float(scores[i])
        exp = explain(i, score)
        text = exp.text()
        top = exp.top.metric if exp.top is not None else None
        texts[i] = text
        if event[i] == FIRED:
            incidents.append(
                Incident(len(incidents) + 1, series, ts, ts, score, ts, threshold, text)
            )
        elif event[i] == REOPENED:
            incidents[-1].resolved_at = None
            incidents[-1].reopened += 1
        incidents[inc[i]].record(ts, score, text, top)

    def points() -> pd.DataFrame:
        ids = np.where(alert, inc + 1, 0)
        return pd.DataFrame(
            {
                "score": scores,
                "threshold": np.full(n, threshold),
                "is_anomalous": flagged,
                "is_anomaly": alert,
                "explanation": _text_column(n, texts),
                # as pandas builds it from [id or None, ...]: float with NaN, object if all None
                "incident": (
                    np.where(ids != 0, ids, np.nan) if ids.any() else np.full(n, None, object)
                ),
            },
            index=index,
        )

    return flagged, alert, incidents, points


#: The dtype pandas gives a column built from a list of str (pandas 3: the Arrow "str").
_STR_DTYPE = pd.Series([""]).dtype


def _text_column(n: int, texts: dict[int, str]) -> Any:
    """The column pandas builds from ``[texts.get(i, "") for i in range(n)]``, made from the
    few non-empty rows when pandas stores strings in Arrow (no per-row Python objects)."""
    if getattr(_STR_DTYPE, "storage", None) == "pyarrow":
        try:
            import pyarrow as pa

            rows = list(texts)
            data = [texts[i].encode() for i in rows]
        except (ImportError, UnicodeEncodeError):
            pass
        else:
            lengths = np.zeros(n, dtype=np.int64)
            lengths[rows] = [len(b) for b in data]
            offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
            values = pa.LargeStringArray.from_buffers(
                n, pa.py_buffer(offsets), pa.py_buffer(b"".join(data)))
            return pd.array(values, dtype=_STR_DTYPE)
    column = [""] * n
    for i, text in texts.items():
        column[i] = text
    return column
