"""Access logs (AWS ALB, nginx ``combined``) streamed into per-minute traffic aggregates.

The output has the load-balancer columns of the tutorials (``total_requests``,
``2xx_count``, ``3xx_count``, ``4xx_count``, ``5xx_count``, ``avg_response_time_ms``,
``p95_response_time_ms``) on a UTC :class:`~pandas.DatetimeIndex` named ``timestamp``,
one row per minute (or per ``freq``) from the first to the last minute seen; minutes
without requests are rows with 0 counts and NaN latency, never missing rows.

Memory is bounded by the number of minutes, not lines: files are read line by line
(plain or gzip, detected by magic bytes), parsed in chunks and folded into per-minute
counters and a per-minute latency histogram with fixed log-spaced bins
(``gamma = (1 + ALPHA) / (1 - ALPHA)``, ``ALPHA = 0.01``). The p95 is the nearest-rank
95th percentile (the ``ceil(0.95 n)``-th smallest latency, numpy's ``inverted_cdf``) to
within a relative error of ``ALPHA`` (1 %) for latencies in [0.001 ms, 1e7 ms];
smaller latencies count as 0, larger ones as 1e7 ms. The average is exact.

Formats
-------
ALB
    AWS Application Load Balancer access log entries: ``type time elb client:port
    target:port request_processing_time target_processing_time response_processing_time
    elb_status_code target_status_code received_bytes sent_bytes "request" "user_agent"
    ...``. The first twelve fields must match the documented syntax and the quoted
    request and user-agent must follow; later fields (AWS appends new ones over time) are
    not checked. ``time`` (when the load balancer sent the response) places the request in
    a minute. Latency = the sum of the three processing times, in ms. AWS writes -1 in
    them when the request could not be dispatched or the target did not answer; such
    requests are counted (they carry a status, often 502/504) but have no latency and do
    not enter the average or p95 (``ParseReport.no_latency`` counts them). An
    ``elb_status_code`` of ``-`` counts in ``total_requests`` only.
nginx
    ``$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent"``, optionally followed by ``$request_time``
    (seconds). Without it (or with ``-``) requests have no latency.

Statuses outside 2xx-5xx (1xx, 000, ``-``) count in ``total_requests`` only, so the
class columns may sum to less than the total (``ParseReport.other_status``). A line that
does not match its format, or has an impossible date, or a year outside 1970-2261, is
malformed: counted, with the first five line numbers reported.

Examples
--------
>>> line = ('127.0.0.1 - - [01/Jan/2025:10:00:05 +0000] "GET / HTTP/1.1" 200 12 "-" '
...         '"curl/8.0" 0.042')
>>> parse_nginx_line(line)
Record(timestamp=datetime.datetime(2025, 1, 1, 10, 0, 5, tzinfo=datetime.timezone.utc), status=200, latency_ms=42.0)
>>> frame, report = aggregate([line, "garbage", line.replace("10:00:05", "10:02:59")], "nginx")
>>> frame["total_requests"].tolist(), report.malformed, report.first_malformed
([1, 0, 1], 1, [2])
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import IO, Literal, NamedTuple, cast

import numpy as np
import pandas as pd
import pyarrow as pa

from anomalert.errors import InputError, ParameterError

__all__ = ["ALPHA", "COLUMNS", "LogParseError", "ParseReport", "Record", "aggregate",
           "parse_alb_line", "parse_nginx_line", "read_access_log"]

Format = Literal["alb", "nginx"]
COLUMNS = ("total_requests", "2xx_count", "3xx_count", "4xx_count", "5xx_count",
           "avg_response_time_ms", "p95_response_time_ms")
#: Relative error of the p95 sketch.
ALPHA = 0.01
_GAMMA = (1 + ALPHA) / (1 - ALPHA)
_LOG_GAMMA = math.log(_GAMMA)
_MIN_MS, _MAX_MS = 1e-3, 1e7
_I_MIN = math.ceil(math.log(_MIN_MS) / _LOG_GAMMA)
_NBINS = math.ceil(math.log(_MAX_MS) / _LOG_GAMMA) - _I_MIN + 2  # bin 0 holds zeros
_REPR = np.concatenate(
    [[0.0], 2 * _GAMMA ** np.arange(_I_MIN, _I_MIN + _NBINS - 1, dtype=float) / (_GAMMA + 1)]
)
_CHUNK = 1 << 14  # lines per batch: ~40 MB working memory for 700-byte lines
_INVALID = -(1 << 62)
_EPOCH = date(1970, 1, 1).toordinal()
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_STATUS = {f"{i:03d}": i for i in range(1000)} | {"-": 0}
_SECS = r"(-1|[0-9]++(?:\.[0-9]++)?)"
_Q = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
# Possessive quantifiers (Python 3.11+) save the engine ~10 % on these hot patterns.
_ALB = re.compile(
    r"[a-z0-9]++ ([0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9])"
    r":([0-5][0-9](?:\.[0-9]{1,9})?)Z [^ ]++ [^ ]++ [^ ]++ "
    rf"{_SECS} {_SECS} {_SECS} ([0-9]{{3}}|-) (?:[0-9]{{3}}|-) (?:[0-9]++|-) (?:[0-9]++|-) \""
)
_NGINX = re.compile(
    r"[^ ]++ [^ ]++ [^ ]++ \[([0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:(?:[01][0-9]|2[0-3]):[0-5][0-9])"
    r":([0-5][0-9]) ([+-](?:[01][0-9]|2[0-3])[0-5][0-9])\] "
    rf"{_Q} ([0-9]{{3}}) (?:[0-9]++|-) {_Q} {_Q}(?: ([0-9]++(?:\.[0-9]++)?|-))?[ \t]*+\r?\n?\Z"
)


class LogParseError(InputError):
    """An access log that cannot be turned into aggregates (carries the report if any)."""

    def __init__(self, message: str, report: ParseReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class Record(NamedTuple):
    """One parsed request: UTC time, status (0 for ``-``), latency in ms (NaN if unknown)."""

    timestamp: datetime
    status: int
    latency_ms: float


@dataclass
class ParseReport:
    """What happened to every line: parsed, malformed (first line numbers), caveats."""

    source: str = "<lines>"
    lines: int = 0
    parsed: int = 0
    malformed: int = 0
    first_malformed: list[int] = field(default_factory=list)
    no_latency: int = 0
    other_status: int = 0

    def lines_text(self) -> list[str]:
        """Human-readable notes, one per thing worth telling the user."""
        out = [f"{self.source}: {self.lines} line(s), {self.parsed} parsed, {self.malformed} malformed"]
        if self.malformed:
            at = ", ".join(map(str, self.first_malformed))
            out.append(f"{self.source}: malformed line(s) not counted as requests; first at line {at}")
        if self.no_latency:
            out.append(f"{self.source}: {self.no_latency} request(s) without a latency "
                       "(ALB -1 / no $request_time): counted, left out of avg and p95")
        if self.other_status:
            out.append(f"{self.source}: {self.other_status} request(s) with a status outside "
                       "2xx-5xx: counted in total_requests only")
        return out


def _epoch_minute(y: int, mo: int, d: int, h: int, mi: int, offset: int = 0) -> int:
    if not 1970 <= y <= 2261:
        return _INVALID
    try:
        days = date(y, mo, d).toordinal() - _EPOCH
    except ValueError:
        return _INVALID
    return days * 1440 + h * 60 + mi - offset


def _alb_minute(key: str) -> int:
    return _epoch_minute(int(key[:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), int(key[14:16]))


def _nginx_minute(key: str) -> int:
    """``dd/Mon/yyyy:HH:MM`` followed by the ``+hhmm`` offset."""
    month = _MONTHS.get(key[3:6])
    if month is None:
        return _INVALID
    offset = (int(key[18:20]) * 60 + int(key[20:22])) * (-1 if key[17] == "-" else 1)
    return _epoch_minute(int(key[7:11]), month, int(key[:2]), int(key[12:14]), int(key[15:17]), offset)


def _latency(*texts: str | None) -> float:
    """Sum of seconds fields in ms; NaN when one is missing, negative (-1) or not finite."""
    total = 0.0
    for text in texts:
        if text is None or text == "-":
            return math.nan
        value = float(text)
        if value < 0 or not math.isfinite(value):
            return math.nan
        total += value
    return total * 1000.0 if math.isfinite(total) else math.nan


def _record(minute: int, seconds: str, status: str, latency: float) -> Record | None:
    if minute == _INVALID:
        return None
    whole, _, frac = seconds.partition(".")
    ts = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        minutes=minute, seconds=int(whole), microseconds=int((frac + "000000")[:6])
    )
    return Record(ts, _STATUS[status], latency)


def _check_text(line: object) -> str:
    if not isinstance(line, str):
        raise LogParseError(f"expected a line of text, got {type(line).__name__}")
    return line


def parse_alb_line(line: str) -> Record | None:
    """Parse one ALB access log entry; None when the line is not one (see module notes).

    Raises
    ------
    LogParseError
        Only when ``line`` is not a string.
    """
    m = _ALB.match(_check_text(line))
    if m is None or line.count('"', m.end()) < 3:
        return None
    key, seconds, t1, t2, t3, status = m.groups()
    return _record(_alb_minute(key), seconds, status, _latency(t1, t2, t3))


def parse_nginx_line(line: str) -> Record | None:
    """Parse one nginx ``combined`` line (optionally + ``$request_time``); None if it is not one.

    Raises
    ------
    LogParseError
        Only when ``line`` is not a string.
    """
    m = _NGINX.match(_check_text(line))
    if m is None:
        return None
    key, seconds, tz, status, rt = m.groups()
    return _record(_nginx_minute(key + tz), seconds, status, _latency(rt))


class _SparseSum:
    """Sum of values per int64 key, kept as sorted unique arrays (memory ~ distinct keys)."""

    def __init__(self) -> None:
        self.keys = np.empty(0, dtype=np.int64)
        self.vals = np.empty(0, dtype=float)
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._size = 0

    def add(self, keys: np.ndarray, vals: np.ndarray | None = None) -> None:
        if keys.size == 0:
            return
        lo = int(keys.min())
        span = int(keys.max()) - lo + 1
        if span <= 4 * keys.size + 4096:  # dense and cheap: O(n + span)
            sums = np.bincount(keys - lo, weights=vals, minlength=span).astype(float)
            nz = np.flatnonzero(sums)
            ukeys, usums = nz + lo, sums[nz]
        else:
            ukeys, inv = np.unique(keys, return_inverse=True)
            usums = np.bincount(inv, weights=vals, minlength=ukeys.size).astype(float)
        self._pending.append((ukeys, usums))
        self._size += ukeys.size
        if self._size > max(1 << 18, self.keys.size):
            self._compact()

    def _compact(self) -> None:
        if not self._pending:
            return
        keys = np.concatenate([self.keys, *(k for k, _ in self._pending)])
        vals = np.concatenate([self.vals, *(v for _, v in self._pending)])
        self.keys, inv = np.unique(keys, return_inverse=True)
        self.vals = np.bincount(inv, weights=vals, minlength=self.keys.size)
        self._pending, self._size = [], 0

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        self._compact()
        return self.keys, self.vals


class _Aggregator:
    def __init__(self, fmt: str, freq: str | pd.Timedelta, max_buckets: int) -> None:
        if fmt not in ("alb", "nginx"):
            raise ParameterError(f"The 'fmt' parameter must be 'alb' or 'nginx'. Got {fmt!r} instead.")
        try:
            step = pd.Timedelta(freq)
        except (ValueError, TypeError):
            step = pd.NaT
        if pd.isna(step) or step <= pd.Timedelta(0) or step % pd.Timedelta("1min"):
            raise ParameterError(
                f"The 'freq' parameter must be a whole number of minutes such as '1min' or '5min'. "
                f"Got {freq!r} instead."
            )
        self.fmt, self.k, self.max_buckets = fmt, int(step // pd.Timedelta("1min")), max_buckets
        self.counts, self.lat_sum, self.hist = _SparseSum(), _SparseSum(), _SparseSum()

    def run(self, lines: Iterable[str], report: ParseReport) -> None:
        scan = self._scan_alb if self.fmt == "alb" else self._scan_nginx
        it = iter(lines)
        while batch := list(islice(it, _CHUNK)):
            minutes, parts, codes = scan(batch, report)
            report.lines += len(batch)
            if minutes:
                self._fold(np.array(minutes, dtype=np.int64), parts, codes, report)

    def _bad(self, report: ParseReport, n: int) -> None:
        report.malformed += 1
        if len(report.first_malformed) < 5:
            report.first_malformed.append(n)

    # The two scanners are the hot loop (one regex match per line); they are written out
    # per format, with local aliases, because a shared generic loop costs ~20 % speed.
    def _scan_alb(self, batch: list[str], report: ParseReport) -> tuple[list[int], list[list[str]], list[str]]:
        minutes: list[int] = []
        cols: list[list[str]] = [[], [], [], []]  # three processing times, status
        cache: dict[str, int] = {}
        match, get, add_m = _ALB.match, cache.get, minutes.append
        add_1, add_2, add_3, add_s = (c.append for c in cols)
        for n, line in enumerate(batch, report.lines + 1):
            m = match(line) if isinstance(line, str) else None
            if m is None or line.count('"', m.end()) < 3:
                self._bad(report, n)
                continue
            key, _, t1, t2, t3, code = m.groups()
            minute = get(key)
            if minute is None:
                minute = cache[key] = _alb_minute(key)
            if minute == _INVALID:
                self._bad(report, n)
                continue
            add_m(minute)
            add_1(t1)
            add_2(t2)
            add_3(t3)
            add_s(code)
        return minutes, cols[:3], cols[3]

    def _scan_nginx(self, batch: list[str], report: ParseReport) -> tuple[list[int], list[list[str]], list[str]]:
        minutes: list[int] = []
        times: list[str] = []
        codes: list[str] = []
        cache: dict[str, int] = {}
        match, get, add_m, add_t, add_s = _NGINX.match, cache.get, minutes.append, times.append, codes.append
        for n, line in enumerate(batch, report.lines + 1):
            m = match(line) if isinstance(line, str) else None
            if m is None:
                self._bad(report, n)
                continue
            key, _, tz, code, rt = m.groups()
            key += tz
            minute = get(key)
            if minute is None:
                minute = cache[key] = _nginx_minute(key)
            if minute == _INVALID:
                self._bad(report, n)
                continue
            add_m(minute)
            add_t("-1" if rt is None or rt == "-" else rt)
            add_s(code)
        return minutes, [times], codes

    def _fold(self, minutes: np.ndarray, parts: list[list[str]], codes: list[str], report: ParseReport) -> None:
        n = minutes.size
        report.parsed += n
        buckets = minutes // self.k
        status = np.fromiter(map(_STATUS.__getitem__, codes), dtype=np.int64, count=n)
        cls = status // 100
        cls[(cls < 2) | (cls > 5)] = 0
        report.other_status += int(np.count_nonzero(cls == 0))
        self.counts.add(buckets * 8 + cls)
        lat = np.zeros(n)
        ok = np.ones(n, dtype=bool)
        for part in parts:
            # Arrow's string -> float cast is ~4x faster than float(); the regex already
            # guarantees each text is -1 or a decimal number.
            seconds = pa.array(part, type=pa.string()).cast(pa.float64()).to_numpy()
            ok &= seconds >= 0
            lat += np.where(seconds >= 0, seconds, 0.0)
        lat *= 1000.0
        ok &= np.isfinite(lat)
        report.no_latency += int(n - np.count_nonzero(ok))
        lat, buckets = lat[ok], buckets[ok]
        self.lat_sum.add(buckets, lat)
        bins = np.zeros(lat.size, dtype=np.int64)
        big = lat >= _MIN_MS
        idx = np.ceil(np.log(lat[big]) / _LOG_GAMMA) - _I_MIN + 1
        bins[big] = np.clip(idx, 1, _NBINS - 1).astype(np.int64)
        self.hist.add(buckets * _NBINS + bins)

    def frame(self, report: ParseReport) -> pd.DataFrame:
        ckeys, cvals = self.counts.result()
        if ckeys.size == 0:
            raise LogParseError(
                f"{report.source}: none of {report.lines} line(s) is a {self.fmt} access log entry"
                + (f" (first malformed at line {report.first_malformed[0]})" if report.lines else ""),
                report,
            )
        cb, cc = np.divmod(ckeys, 8)
        lo, hi = int(cb.min()), int(cb.max())
        rows = hi - lo + 1
        if rows > self.max_buckets:
            first, last = (pd.Timestamp(b * self.k * 60, unit="s", tz="UTC") for b in (lo, hi))
            raise LogParseError(
                f"{report.source}: timestamps span {first} to {last}, {rows} rows of {self.k} min "
                f"(more than max_buckets={self.max_buckets}); is there a stray timestamp?",
                report,
            )
        mat = np.zeros((rows, 8), dtype=np.int64)
        mat[cb - lo, cc] = cvals.astype(np.int64)
        out = pd.DataFrame({"total_requests": mat.sum(axis=1)})
        for c in (2, 3, 4, 5):
            out[f"{c}xx_count"] = mat[:, c]
        lat_n = np.zeros(rows)
        p95 = np.full(rows, np.nan)
        hkeys, hvals = self.hist.result()
        if hkeys.size:
            hb, hbin = np.divmod(hkeys, _NBINS)
            starts = np.flatnonzero(np.r_[True, hb[1:] != hb[:-1]])
            totals = np.add.reduceat(hvals, starts)
            group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, hb.size]))
            cum = np.cumsum(hvals)
            before = np.r_[0.0, cum[starts[1:] - 1]]
            rank = (95 * totals.astype(np.int64) + 99) // 100  # ceil(0.95 n), exact
            hit = np.flatnonzero(cum - before[group] >= rank[group])
            first = hit[np.unique(group[hit], return_index=True)[1]]
            rows_of = hb[starts] - lo
            lat_n[rows_of] = totals
            p95[rows_of] = _REPR[hbin[first]]
        sums = np.zeros(rows)
        skeys, svals = self.lat_sum.result()
        sums[skeys - lo] = svals
        with np.errstate(invalid="ignore", divide="ignore"):
            out["avg_response_time_ms"] = np.where(lat_n > 0, sums / np.maximum(lat_n, 1), np.nan)
        out["p95_response_time_ms"] = p95
        stamps = (np.arange(lo, hi + 1, dtype=np.int64) * self.k * 60_000_000_000).astype("datetime64[ns]")
        out.index = pd.DatetimeIndex(stamps, name="timestamp").tz_localize("UTC")
        return out


def aggregate(
    lines: Iterable[str],
    fmt: Format,
    *,
    freq: str | pd.Timedelta = "1min",
    source: str = "<lines>",
    max_buckets: int = 1_000_000,
) -> tuple[pd.DataFrame, ParseReport]:
    """Fold access log lines into per-``freq`` aggregates (see the module notes).

    Parameters
    ----------
    lines
        Any iterable of lines (with or without the trailing newline); consumed once.
    fmt
        ``"alb"`` or ``"nginx"``.
    freq
        Row width, a whole number of minutes; rows are aligned to the epoch.
    source
        Name used in messages.
    max_buckets
        Refuse (rather than allocate) a frame with more rows than this.

    Raises
    ------
    LogParseError
        No line parsed, or the timestamps span more than ``max_buckets`` rows.
    ParameterError
        Unknown ``fmt`` or a ``freq`` that is not whole minutes.
    """
    agg = _Aggregator(fmt, freq, max_buckets)
    report = ParseReport(source=source)
    agg.run(lines, report)
    return agg.frame(report), report


def _open_lines(path: str | os.PathLike[str]) -> Iterator[str]:
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        binary = cast("IO[bytes]", gzip.GzipFile(fileobj=raw) if gz else raw)
        with io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="\n") as text:
            yield from text


def read_access_log(
    path: str | os.PathLike[str],
    fmt: Format,
    *,
    freq: str | pd.Timedelta = "1min",
    max_buckets: int = 1_000_000,
) -> tuple[pd.DataFrame, ParseReport]:
    """Stream a plain or gzip access log file into per-minute aggregates.

    Raises
    ------
    InputError
        The file cannot be opened.
    LogParseError
        Corrupt gzip data, no line parsed, or an implausible time span.
    """
    source = os.fspath(path)
    agg = _Aggregator(fmt, freq, max_buckets)
    report = ParseReport(source=source)
    try:
        agg.run(_open_lines(path), report)
    except FileNotFoundError as exc:
        raise InputError(f"{source}: cannot read access log: {exc.strerror}") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise LogParseError(
            f"{source}: corrupt or truncated gzip data after line {report.lines}: {exc}",
            report,
        ) from None
    except OSError as exc:
        raise InputError(f"{source}: cannot read access log: {exc}") from None
    return agg.frame(report), report

