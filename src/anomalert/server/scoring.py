"""``POST /v1/score``: validate a batch of pushed points, score it, return the verdicts.

Request body (JSON, at most ``max_body`` bytes)::

    {"series": "checkout-api",
     "points": [{"timestamp": "2025-01-01T10:00:00Z", "values": {"latency_ms": 41.5}}, ...]}

``timestamp`` is ISO 8601 text (naive is UTC) or unix seconds; ``values`` maps metric names
to finite numbers. A series seen for the first time is created with the default detector
learning online (its scores are null until it has warmed up), up to ``max_series`` pushed
series; its metric names are fixed by its first point. Series fed by the watch loop cannot be
pushed to (409).

A batch is all or nothing: every point is checked (shape, types, finite numbers, the series'
metrics, timestamps strictly increasing and after the series' latest point) before any is
scored. Errors are :class:`ApiError` (status + one clear message naming the point and field):
400 malformed JSON, 401 token, 409 watched series, 413 body or batch too large, 422 anything
else about the content.

Examples
--------
>>> from anomalert.server.runtime import ServiceState
>>> state = ServiceState()
>>> score_request(state, b'{"series": "a", "points": []}')
Traceback (most recent call last):
...
anomalert.server.scoring.ApiError: 422: 'points' must hold at least one point
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pandas as pd

from anomalert.data import MAX_ABS_VALUE, utc_timestamp
from anomalert.errors import AnomalertError

__all__ = ["ApiError", "score_request"]

MAX_METRICS = 100
MAX_NAME = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TS_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$")
# unix seconds accepted: 1970 .. 2262 (pandas' nanosecond range)
_MAX_UNIX = 9_000_000_000


class ApiError(AnomalertError):
    """A request the service refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


def _what(value: Any) -> str:
    text = json.dumps(value)[:60] if _jsonable(value) else repr(value)[:60]
    return f"{type(value).__name__} {text}"


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ApiError(422, f"{where} must be a string, got {_what(value)}")
    if not value or len(value) > MAX_NAME or _CONTROL.search(value):
        raise ApiError(
            422, f"{where} must be 1 to {MAX_NAME} characters without control characters"
        )
    return value


def _timestamp(value: Any, where: str) -> pd.Timestamp:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ApiError(422, f"{where} must be ISO 8601 text or unix seconds, got {_what(value)}")
    try:
        if isinstance(value, str):
            if not _TS_TEXT.match(value.strip()):
                raise ValueError("not ISO 8601")
            ts = pd.Timestamp(value.strip())
        else:
            if not math.isfinite(value) or not 0 <= value <= _MAX_UNIX:
                raise ValueError("out of range")
            ts = pd.Timestamp(float(value), unit="s")
    except (ValueError, OverflowError, TypeError, ArithmeticError):
        raise ApiError(
            422,
            f"{where}: cannot read {str(value)[:60]!r} as a time (ISO 8601 like "
            "2025-01-01T10:00:00Z, or unix seconds between 0 and 9e9)",
        ) from None
    if ts is pd.NaT:
        raise ApiError(422, f"{where} is not a time")
    try:
        # (the detectors' range, years 1677-2262; the text as sent names a refused time)
        return utc_timestamp(value.strip() if isinstance(value, str) else ts, where)
    except AnomalertError as exc:
        raise ApiError(422, str(exc)) from None


def _values(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ApiError(422, f"{where} must be an object metric -> number, got {_what(value)}")
    if not value:
        raise ApiError(422, f"{where} is empty; give at least one metric")
    if len(value) > MAX_METRICS:
        raise ApiError(422, f"{where} has {len(value)} metrics; at most {MAX_METRICS}")
    out = {}
    for key, v in value.items():
        _name(key, f"{where} key")
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ApiError(422, f"{where}.{key} must be a number, got {_what(v)}")
        try:
            f = float(v)
        except OverflowError:
            f = math.inf
        if not abs(f) <= MAX_ABS_VALUE:  # (what the detectors take: no inf, nothing absurd)
            raise ApiError(
                422, f"{where}.{key} must be a finite number within +-{MAX_ABS_VALUE:.0e}, "
                f"got {str(v)[:40]}"
            )
        out[key] = f
    return out


def _parse(state: Any, body: bytes) -> tuple[str, list[tuple[pd.Timestamp, dict[str, float]]]]:
    if not body.strip():
        raise ApiError(400, "empty body; send a JSON object with 'series' and 'points'")
    try:
        doc = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # includes UnicodeDecodeError
        raise ApiError(400, f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ApiError(422, f"the body must be a JSON object with 'series' and 'points', got {type(doc).__name__}")
    for key in ("series", "points"):
        if key not in doc:
            raise ApiError(422, f"missing field {key!r}")
    extra = sorted(str(k) for k in doc if k not in ("series", "points"))
    if extra:
        raise ApiError(422, f"unknown field(s) {extra[:5]}; expected 'series' and 'points'")
    series = _name(doc["series"], "'series'")
    points = doc["points"]
    if not isinstance(points, list):
        raise ApiError(422, f"'points' must be a list, got {_what(points)}")
    if not points:
        raise ApiError(422, "'points' must hold at least one point")
    if len(points) > state.max_points:
        raise ApiError(
            413, f"batch of {len(points)} points exceeds the limit of {state.max_points} per request"
        )
    parsed = []
    for i, p in enumerate(points):
        where = f"points[{i}]"
        if not isinstance(p, dict):
            raise ApiError(422, f"{where} must be an object with 'timestamp' and 'values', got {_what(p)}")
        for key in ("timestamp", "values"):
            if key not in p:
                raise ApiError(422, f"{where} lacks {key!r}")
        extra = sorted(str(k) for k in p if k not in ("timestamp", "values"))
        if extra:
            raise ApiError(422, f"{where} has unknown field(s) {extra[:5]}")
        parsed.append((_timestamp(p["timestamp"], f"{where}.timestamp"), _values(p["values"], f"{where}.values")))
    for i in range(1, len(parsed)):
        if parsed[i][0] <= parsed[i - 1][0]:
            raise ApiError(
                422,
                f"points[{i}].timestamp {parsed[i][0].isoformat()} is not after points[{i - 1}] "
                f"({parsed[i - 1][0].isoformat()}); points must be in time order",
            )
    return series, parsed


def score_request(state: Any, body: bytes) -> dict[str, Any]:
    """Handle one ``POST /v1/score`` body against ``state`` (a ServiceState); the response."""
    name, points = _parse(state, body)
    with state.series_lock(name):
        with state.lock:
            rt = state.series.get(name)
            if rt is not None and rt.kind != "push":
                raise ApiError(409, f"series {name!r} is fed by the watch loop; push to another name")
            if rt is None:
                pushed = sum(1 for r in state.series.values() if r.kind == "push")
                if pushed >= state.max_series:
                    raise ApiError(
                        422,
                        f"unknown series {name!r} and the limit of {state.max_series} pushed "
                        "series is reached",
                    )
        columns = rt.columns if rt is not None else sorted(points[0][1])
        wanted = set(columns)
        for i, (_, values) in enumerate(points):
            if set(values) != wanted:
                missing = sorted(wanted - set(values))[:5]
                extra = sorted(set(values) - wanted)[:5]
                raise ApiError(
                    422,
                    f"points[{i}].values must have the metrics {sorted(wanted)[:10]} of series "
                    f"{name!r} (missing {missing}, unexpected {extra})",
                )
        last = rt.last_ts if rt is not None else None
        if last is not None and points[0][0] <= last:
            raise ApiError(
                422,
                f"points[0].timestamp {points[0][0].isoformat()} is not after the latest point "
                f"of series {name!r} ({last.isoformat()}); points must arrive in time order",
            )
        created = rt is None
        if rt is None:
            rt = state.create_series(name, columns, kind="push")
        verdicts = []
        for i, (ts, values) in enumerate(points):
            try:
                verdict = rt.monitor.check(ts, {c: values[c] for c in columns})
            except AnomalertError as exc:
                state.checkpoint([name])
                raise ApiError(422, f"points[{i}]: {exc} ({i} earlier point(s) were scored)") from None
            state.observe(rt, verdict, values)
            verdicts.append(verdict.to_dict())
    state.checkpoint([name])
    return {"series": name, "created": created, "verdicts": verdicts}
