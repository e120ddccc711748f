"""Reading time series from Prometheus' HTTP API (``/api/v1/query_range``).

:class:`PrometheusClient` runs a PromQL range query and returns one float series
per label set, keyed by a canonical label string (``up{instance="a",job="b"}``,
labels sorted, ``__name__`` in front). Prometheus refuses more than 11,000 points
per series and query, so long ranges are split into windows of at most
:data:`MAX_POINTS` points, each starting one step after the previous window's end
(both ends of a window are inclusive); the pieces are joined and de-duplicated.

Failures are :class:`PrometheusError`: HTTP errors carry the status and
Prometheus' ``errorType`` / ``error`` text, unreachable servers name the URL and
the number of attempts, malformed responses name what was expected where.
Connection errors, 5xx and 429 are retried with exponential backoff (bounded
attempts); other 4xx (``bad_data``: PromQL syntax, too many points) fail at once.

Examples
--------
>>> parse_duration("1h30m")
Timedelta('0 days 01:30:00')
>>> parse_time("now-7d", now=pd.Timestamp("2025-01-08", tz="UTC"))
Timestamp('2025-01-01 00:00:00+0000', tz='UTC')
>>> series_key({"__name__": "up", "job": "b", "instance": "a"})
'up{instance="a",job="b"}'
"""

from __future__ import annotations

import math
import re
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pandas as pd

from anomalert.data import validate_frame
from anomalert.errors import AnomalertError, InputError, ParameterError

__all__ = [
    "MAX_POINTS",
    "PrometheusClient",
    "PrometheusError",
    "parse_duration",
    "parse_time",
    "series_key",
]

#: Most points Prometheus returns per series and query (its own limit is 11,000 steps).
MAX_POINTS = 11_000
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNITS_S = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class PrometheusError(AnomalertError):
    """A Prometheus request that failed, with what the server (or the network) said.

    Attributes
    ----------
    status_code
        HTTP status, or None when no response arrived.
    error_type
        Prometheus' ``errorType`` (``bad_data``, ``execution``, ``timeout``...) if given.
    error
        Prometheus' ``error`` text if given.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        error: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.error = error


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series_key(metric: dict[str, str]) -> str:
    """Canonical text of a label set: ``name{a="1",b="2"}`` with labels sorted.

    A label set without ``__name__`` (e.g. the result of ``rate()``) gives ``{a="1"}``;
    a bare name gives ``name``; an empty label set gives ``{}``.
    """
    name = metric.get("__name__", "")
    labels = ",".join(
        f'{k}="{_escape(str(v))}"' for k, v in sorted(metric.items()) if k != "__name__"
    )
    if labels or not name:
        return f"{name}{{{labels}}}"
    return name


def parse_duration(text: str | float, *, allow_zero: bool = False) -> pd.Timedelta:
    """Parse a Prometheus-style duration (``30s``, ``5m``, ``1h30m``, ``1d``, ``500ms``).

    A bare number is seconds (``"60"``, ``"0.5"``). ``y`` is 365 days and ``w`` 7 days,
    as in Prometheus.

    Raises
    ------
    ParameterError
        Text that is not a duration, or a duration <= 0 (unless ``allow_zero``).
    """
    raw = str(text).strip()
    seconds: float | None = None
    if _NUMBER.fullmatch(raw):
        seconds = float(raw)
    elif raw:
        m = _DURATION.fullmatch(raw)
        if m and any(m.groups()):
            seconds = sum(int(g) * u for g, u in zip(m.groups(), _DURATION_UNITS_S, strict=True) if g)
    if seconds is None or not math.isfinite(seconds):
        raise ParameterError(
            f"Cannot read {text!r} as a duration; expected e.g. 30s, 5m, 1h30m, 7d or seconds as a number"
        )
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ParameterError(f"A duration must be > 0. Got {text!r} instead.")
    return pd.Timedelta(round(seconds * 1000), unit="ms")


def parse_time(text: str | float, *, now: pd.Timestamp | None = None) -> pd.Timestamp:
    """Parse ``now``, ``now-7d`` / ``now+1h``, RFC 3339 text or unix seconds into a UTC Timestamp.

    Text without a UTC offset is taken as UTC. ``now`` can be fixed for reproducible runs.

    Raises
    ------
    ParameterError
        Anything else.
    """
    raw = str(text).strip()
    ref = pd.Timestamp.now(tz="UTC") if now is None else _utc(now)
    if raw.lower().startswith("now"):
        rest = raw[3:].strip()
        if not rest:
            return ref
        if rest[0] in "+-":
            delta = parse_duration(rest[1:].strip(), allow_zero=True)
            return ref + delta if rest[0] == "+" else ref - delta
    elif _NUMBER.fullmatch(raw):
        value = float(raw)
        if math.isfinite(value) and abs(value) < 1e11:
            return pd.Timestamp(round(value * 1000), unit="ms", tz="UTC").as_unit("ns")
    elif raw:
        try:
            return _utc(pd.Timestamp(raw))
        except (ValueError, TypeError, OverflowError):
            pass
    raise ParameterError(
        f"Cannot read {text!r} as a time; expected now, now-7d, an RFC 3339 time such as "
        "2025-01-01T00:00:00Z, or unix seconds"
    )


def _utc(ts: Any) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(ts)
    except (ValueError, TypeError, OverflowError):
        raise ParameterError(f"Expected a time, got {ts!r}") from None
    if pd.isna(stamp):
        raise ParameterError(f"Expected a time, got {ts!r}")
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
    return stamp.as_unit("ns")


def _seconds_text(ms: int) -> str:
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    return f"{sign}{ms // 1000}.{ms % 1000:03d}"


@dataclass
class PrometheusClient:
    """A small synchronous client for Prometheus' query API.

    Parameters
    ----------
    url
        Base URL, e.g. ``http://127.0.0.1:9090`` (a path prefix is kept).
    token
        Bearer token (sent as ``Authorization: Bearer ...``).
    username, password
        HTTP basic auth; not together with ``token``.
    verify
        Verify TLS certificates; a string is the path of a CA bundle.
    cert
        Client certificate: a PEM path, or ``(certfile, keyfile)``.
    timeout
        Seconds per HTTP request.
    retries
        Extra attempts after the first, on connection errors, 5xx and 429.
    backoff
        First wait between attempts in seconds; doubles each time.
    trust_env
        Honour ``HTTP(S)_PROXY`` / ``NO_PROXY`` / ``SSL_CERT_FILE`` from the environment.

    Examples
    --------
    >>> client = PrometheusClient("http://127.0.0.1:9090", retries=0)
    >>> client.url
    'http://127.0.0.1:9090'
    """

    url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None
    verify: bool | str = True
    cert: tuple[str, str] | str | None = None
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    trust_env: bool = True
    _client: httpx.Client | None = field(default=None, init=False, repr=False, compare=False)

    # -- plumbing ------------------------------------------------------------------------
    def _http(self) -> httpx.Client:
        if self._client is not None:
            return self._client
        if self.token is not None and (self.username is not None or self.password is not None):
            raise ParameterError("PrometheusClient takes either a token or username/password, not both")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ParameterError("The 'retries' parameter of PrometheusClient must be an int >= 0. "
                                 f"Got {self.retries!r} instead.")
        headers = {"Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        auth = None if self.username is None else httpx.BasicAuth(self.username, self.password or "")
        verify: bool | ssl.SSLContext = bool(self.verify)
        if isinstance(self.verify, str) or self.cert is not None:
            try:
                verify = ssl.create_default_context(
                    cafile=self.verify if isinstance(self.verify, str) else None)
                if self.verify is False:
                    verify.check_hostname, verify.verify_mode = False, ssl.CERT_NONE
                if self.cert is not None:
                    cert = (self.cert,) if isinstance(self.cert, str) else self.cert
                    verify.load_cert_chain(*cert)
            except (OSError, ssl.SSLError) as exc:
                raise ParameterError(f"Cannot load TLS files (verify={self.verify!r}, "
                                     f"cert={self.cert!r}): {exc}") from None
        self._client = httpx.Client(headers=headers, auth=auth, verify=verify,
                                    timeout=self.timeout, trust_env=self.trust_env)
        return self._client

    def close(self) -> None:
        """Close the underlying connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _endpoint(self, path: str) -> str:
        return self.url.rstrip("/") + path

    def _request(self, path: str, data: dict[str, str]) -> Any:
        """POST a form to ``path`` and return the ``data`` member of a success response."""
        url = self._endpoint(path)
        last: PrometheusError | None = None
        for attempt in range(1, self.retries + 2):
            if attempt > 1:
                time.sleep(self.backoff * 2 ** (attempt - 2))
            try:
                response = self._http().post(url, data=data)
            except httpx.TransportError as exc:
                last = PrometheusError(f"Cannot reach Prometheus at {url} after {attempt} "
                                       f"attempt(s): {type(exc).__name__}: {exc}")
                continue
            code = response.status_code
            try:
                body: Any = response.json()
            except ValueError:
                body = None
            if code >= 400:
                error_type = error = None
                if isinstance(body, dict):
                    error_type, error = body.get("errorType"), body.get("error")
                detail = f"{error_type}: {error}" if error else repr(response.text[:200])
                after = f" after {attempt} attempt(s)" if attempt > 1 else ""
                last = PrometheusError(f"Prometheus at {url} returned HTTP {code}{after}: {detail}",
                                       status_code=code, error_type=error_type, error=error)
                if code in _RETRY_STATUS:
                    continue
                raise last
            if body is None:
                raise PrometheusError(
                    f"Prometheus at {url} returned HTTP {code} with a body that is not JSON "
                    f"(content-type {response.headers.get('content-type')!r}): "
                    f"{response.text[:200]!r}", status_code=code)
            if not isinstance(body, dict):
                raise PrometheusError(f"Prometheus at {url}: expected a JSON object, got "
                                      f"{type(body).__name__}", status_code=code)
            if body.get("status") != "success":
                raise PrometheusError(
                    f"Prometheus at {url} answered status {body.get('status')!r}: "
                    f"{body.get('errorType', '?')}: {body.get('error', '(no error text)')}",
                    status_code=code, error_type=body.get("errorType"), error=body.get("error"))
            if "data" not in body:
                raise PrometheusError(f"Prometheus at {url}: success response without 'data'")
            return body["data"]
        assert last is not None
        raise last

    # -- API -------------------------------------------------------------------------------
    def ready(self) -> bool:
        """True when ``/-/ready`` answers 200 (one attempt, never raises for network errors)."""
        try:
            return self._http().get(self._endpoint("/-/ready")).status_code == 200
        except httpx.HTTPError:
            return False

    def query_range(
        self, query: str, start: Any, end: Any, step: Any
    ) -> dict[str, pd.Series]:
        """Run a range query; one float series per label set, with a UTC DatetimeIndex.

        Parameters
        ----------
        query
            PromQL expression.
        start, end
            Range, both ends inclusive (``pd.Timestamp`` or anything it accepts; naive is UTC).
        step
            Resolution (``pd.Timedelta``, or a duration like ``"60s"``); whole milliseconds.

        Raises
        ------
        PrometheusError
            HTTP, PromQL or network errors, or a response of unexpected shape.
        ParameterError
            ``end`` before ``start`` or a step <= 0.
        """
        step_td = step if isinstance(step, pd.Timedelta) else parse_duration(step)
        start_ms = _utc(start).value // 1_000_000
        end_ms = _utc(end).value // 1_000_000
        step_ms = int(step_td.value // 1_000_000)
        if step_ms <= 0:
            raise ParameterError(f"The step must be at least 1ms. Got {step!r} instead.")
        if end_ms < start_ms:
            raise ParameterError(f"The range end {end} is before its start {start}.")
        pieces: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        window_start = start_ms
        while window_start <= end_ms:
            window_end = min(window_start + (MAX_POINTS - 1) * step_ms, end_ms)
            data = self._request(
                "/api/v1/query_range",
                {
                    "query": query,
                    "start": _seconds_text(window_start),
                    "end": _seconds_text(window_end),
                    "step": _seconds_text(step_ms),
                },
            )
            for key, stamps, values in _parse_matrix(data, self._endpoint("/api/v1/query_range")):
                pieces.setdefault(key, []).append((stamps, values))
            window_start = window_end + step_ms
        out: dict[str, pd.Series] = {}
        for key in sorted(pieces):
            stamps = np.concatenate([p[0] for p in pieces[key]])
            values = np.concatenate([p[1] for p in pieces[key]])
            order = np.argsort(stamps, kind="stable")
            stamps, values = stamps[order], values[order]
            keep = np.ones(len(stamps), dtype=bool)
            keep[1:] = stamps[1:] != stamps[:-1]
            index = pd.DatetimeIndex(
                stamps[keep].astype("datetime64[ms]").astype("datetime64[ns]"), name="timestamp"
            ).tz_localize("UTC")
            out[key] = pd.Series(values[keep], index=index, name=key, dtype=float)
        return out

    def query_frame(self, query: str, start: Any, end: Any, step: Any) -> pd.DataFrame:
        """Like :meth:`query_range` but one wide frame (columns = series keys), validated.

        Raises
        ------
        InputError
            The query returned no series in the range.
        """
        series = self.query_range(query, start, end, step)
        if not series:
            raise InputError(
                f"Prometheus query {query!r} returned no series between {start} and {end}"
            )
        frame = pd.DataFrame(series)
        frame, _ = validate_frame(
            frame, source=f"prometheus:{query}", metrics=list(frame.columns), keep_labels=False
        )
        return frame


def _parse_matrix(data: Any, url: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Validate a ``resultType: matrix`` payload into (key, ms timestamps, values) triples."""

    def bad(where: str, expected: str, got: Any) -> PrometheusError:
        shown = repr(got)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return PrometheusError(
            f"Unexpected response from {url}: {where} should be {expected}, got {shown}"
        )

    if not isinstance(data, dict):
        raise bad("data", "an object", data)
    if data.get("resultType") != "matrix":
        raise bad("data.resultType", "'matrix'", data.get("resultType"))
    result = data.get("result")
    if not isinstance(result, list):
        raise bad("data.result", "a list", result)
    out = []
    for i, item in enumerate(result):
        if not isinstance(item, dict):
            raise bad(f"data.result[{i}]", "an object", item)
        metric = item.get("metric", {})
        if not isinstance(metric, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metric.items()
        ):
            raise bad(f"data.result[{i}].metric", "an object of label strings", metric)
        values = item.get("values", [])
        if not isinstance(values, list):
            raise bad(f"data.result[{i}].values", "a list", values)
        stamps = np.empty(len(values), dtype=np.int64)
        vals = np.empty(len(values), dtype=float)
        for j, pair in enumerate(values):
            try:
                ts, raw = pair
                if isinstance(ts, bool) or not isinstance(raw, str):
                    raise TypeError
                ms = round(float(ts) * 1000)
                if not -9_000_000_000_000_000 < ms < 9_000_000_000_000_000:
                    raise ValueError
                stamps[j] = ms
                vals[j] = float(raw)
            except (TypeError, ValueError, OverflowError):
                raise bad(
                    f"data.result[{i}].values[{j}]", '[unix seconds, "number"]', pair
                ) from None
        out.append((series_key(metric), stamps, vals))
    return out
