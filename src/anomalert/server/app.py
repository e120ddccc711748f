"""The HTTP service: health, metrics, status page, incidents and ``POST /v1/score``.

:func:`create_app` builds a Starlette app around an injected
:class:`~anomalert.server.runtime.ServiceState` (no module globals; two apps in one process do not
share anything):

- ``GET /healthz``: JSON health. 200 while the process serves; 503 only when the watch loop
  has stalled (no iteration for ``stale_after`` seconds). ``status`` says ``ok`` or
  ``degraded`` (a query failing, or a sink whose latest delivery failed) with the errors;
  ``sinks`` gives each sink's state, its error and the notifications it gave up (``dead``).
  It also lists the queries that return no series (``empty_queries``, query -> since) or
  more than their ``max_series`` (``dropped_series``), the stale series (``stale_series``)
  and how many were forgotten since the start (``forgotten_count``; ``forgotten_recent``: the
  latest 20, newest first); these leave ``status`` alone: a query can rightly return nothing
  (no 5xx, no series) and a series can rightly end.
- ``GET /metrics``: Prometheus text exposition of the state's registry.
- ``GET /``: the status page (series, current scores, recent incidents with a chart each).
- ``GET /v1/alerts``: incidents as JSON (``?series=``, ``?open=true``, ``?limit=``).
- ``GET /v1/series``: every series with its latest verdict.
- ``POST /v1/score``: push points, get verdicts (see :mod:`anomalert.server.scoring`).

Every error is a JSON body ``{"error": "..."}`` with a 4xx status; anything unexpected is
caught per request and answered with a JSON 500, never a crash.

Examples
--------
>>> from anomalert.server.runtime import ServiceState
>>> app = create_app(ServiceState(token="s3cret"))
>>> sorted(route.path for route in app.routes)
['/', '/healthz', '/metrics', '/v1/alerts', '/v1/score', '/v1/series']
"""

from __future__ import annotations

import functools
import hmac
import logging
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from anomalert.server.runtime import ServiceState
from anomalert.server.scoring import ApiError, score_request
from anomalert.server.statuspage import render_status

__all__ = ["clean_json", "create_app"]

log = logging.getLogger("anomalert.server.app")

Handler = Callable[[Request], Awaitable[Response]]
_PROM_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def clean_json(value: Any) -> Any:
    """``value`` with NaN / infinite floats replaced by None (strict JSON has no NaN).

    >>> clean_json({"a": [1.0, float("nan")], "b": float("inf")})
    {'a': [1.0, None], 'b': None}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise ApiError(400, f"invalid Content-Length header {declared[:40]!r}") from None
        if size > limit:
            raise ApiError(413, f"request body of {size} bytes exceeds the limit of {limit} bytes")
    chunks = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_token(state: ServiceState, request: Request) -> None:
    if not state.token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), state.token.encode()
    ):
        raise ApiError(401, "missing or wrong bearer token (Authorization: Bearer <token>)")


def _guard(handler: Handler) -> Handler:
    """Answer :class:`ApiError` with its 4xx JSON body and anything else with a JSON 500."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            return _error(exc.status, exc.message, headers)
        except Exception as exc:
            log.exception("unexpected error serving %s %s", request.method, request.url.path)
            return _error(500, f"internal error ({type(exc).__name__}); the server keeps running")

    return wrapped


def create_app(state: ServiceState) -> Starlette:
    """The Starlette app serving ``state``.

    Parameters
    ----------
    state
        The shared state (series, metrics, health, limits, token); the watch loop updates
        the same object.
    """

    async def healthz(request: Request) -> Response:
        h = state.health
        errors = {
            q: {"consecutive_errors": n, "error": msg} for q, (n, msg) in dict(h.errors).items()
        }
        sinks = await run_in_threadpool(state.sink_health)
        pending = None
        if state.store is not None:
            pending = await run_in_threadpool(state.store.pending_count, state.sinks)
        with state.lock:
            stale = sorted(rt.name for rt in state.series.values() if rt.stale_since is not None)
            forgotten, recent = h.forgotten, list(reversed(h.forgotten_recent))
        body = {
            "status": state.status(sinks),
            "uptime_s": round(time.time() - state.started, 3),
            "series": len(state.series),
            "stale_series": stale[:100],
            "stale_count": len(stale),
            "forgotten_count": forgotten,
            "forgotten_recent": recent,
            "empty_queries": {q: _iso(t) for q, t in dict(h.empty).items()},
            "dropped_series": {
                q: {"dropped": d, "returned": n} for q, (d, n) in dict(h.dropped).items()
            },
            "last_poll": h.last_poll,
            "loop_heartbeat_age_s": None
            if h.heartbeat is None
            else round(time.monotonic() - h.heartbeat, 3),
            "errors": errors,
            "outbox_pending": pending,
            "sinks": {s.sink: s.to_dict() for s in sinks},
        }
        return JSONResponse(clean_json(body), status_code=503 if h.stalled else 200)

    async def metrics(request: Request) -> Response:
        data = await run_in_threadpool(state.metrics.exposition)
        return Response(data, media_type=_PROM_TEXT)

    async def index(request: Request) -> Response:
        return HTMLResponse(await run_in_threadpool(render_status, state))

    async def alerts(request: Request) -> Response:
        q = request.query_params
        try:
            limit = int(q.get("limit", "100"))
        except ValueError:
            raise ApiError(400, f"limit must be an integer, got {q.get('limit')!r}") from None
        if not 1 <= limit <= 10_000:
            raise ApiError(400, "limit must be between 1 and 10000")
        only_open = q.get("open", "false").lower() in ("1", "true", "yes")
        data = state.incidents(series=q.get("series"), only_open=only_open, limit=limit)
        return JSONResponse(clean_json({"incidents": data}))

    async def series(request: Request) -> Response:
        with state.lock:
            out = [
                {
                    "series": rt.name,
                    "kind": rt.kind,
                    "group": rt.group,
                    "columns": rt.columns,
                    "points": rt.points,
                    "first_point": rt.first_ts.isoformat() if rt.first_ts is not None else None,
                    "alerting": rt.alerting,
                    "stale_since": rt.stale_since.isoformat() if rt.stale_since is not None
                    else None,
                    "last": rt.last.to_dict() if rt.last is not None else None,
                }
                for rt in state.series.values()
            ]
        return JSONResponse(clean_json({"series": out}))

    async def score(request: Request) -> Response:
        _check_token(state, request)
        body = await _read_body(request, state.max_body)
        result = await run_in_threadpool(score_request, state, body)
        return JSONResponse(clean_json(result))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)

    routes = [
        Route("/healthz", _guard(healthz), methods=["GET"]),
        Route("/metrics", _guard(metrics), methods=["GET"]),
        Route("/", _guard(index), methods=["GET"]),
        Route("/v1/alerts", _guard(alerts), methods=["GET"]),
        Route("/v1/series", _guard(series), methods=["GET"]),
        Route("/v1/score", _guard(score), methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.anomalert = state
    return app
