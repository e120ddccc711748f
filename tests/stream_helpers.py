"""Helpers for the tests of ``default``'s pieces: stream a frame through a fitted detector."""

from __future__ import annotations

import pandas as pd

from anomalert.detectors.base import Detector


def first_paging(det: Detector, frame: pd.DataFrame, start: int) -> pd.Timestamp | None:
    """Stream ``frame``'s rows from ``start`` through ``det`` one point at a time (score, then
    learn) and return the first timestamp that scores above its threshold (None: none did;
    that point is not learned)."""
    columns = list(frame.columns)
    for ts, row in zip(frame.index[start:], frame.to_numpy()[start:], strict=True):
        point = {c: float(v) for c, v in zip(columns, row, strict=True)}
        if det.score_one(ts, point) > det.threshold_:
            return ts
        det.learn_one(ts, point)
    return None
