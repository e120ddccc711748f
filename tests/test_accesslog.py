"""Access logs (ALB, nginx) -> per-minute aggregates: parsing, filling, gzip, sketch accuracy."""

from __future__ import annotations

import gzip
import math
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anomalert.errors import InputError, ParameterError
from anomalert.sources.accesslog import (
    ALPHA,
    COLUMNS,
    LogParseError,
    ParseReport,
    Record,
    aggregate,
    parse_alb_line,
    parse_nginx_line,
    read_access_log,
)

TAIL = (
    "ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 "
    "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/web/73e2d6bc24d8a067 "
    '"Root=1-67c2d9a2-0123456789abcdef01234567" "shop.example.com" '
    '"arn:aws:acm:us-east-2:123456789012:certificate/12345678-1234-1234-1234-123456789012" '
    '0 2025-03-01T10:15:30.037000Z "forward" "-" "-" "10.0.1.15:8080" "200" "-" "-" TID_1a2b3c'
)


def alb(
    ts: str = "2025-03-01T10:15:30.123456Z",
    times: str = "0.001 0.085 0.000",
    status: str = "200",
    request: str = "GET https://shop.example.com:443/api/v1/items?id=42 HTTP/1.1",
    kind: str = "https",
) -> str:
    return (
        f"{kind} {ts} app/shop-alb/50dc6c495c0c9188 203.0.113.7:52311 10.0.1.15:8080 {times} "
        f'{status} {status} 412 2310 "{request}" "Mozilla/5.0 (X11; Linux x86_64)" {TAIL}'
    )


def nginx(
    ts: str = "01/Mar/2025:10:15:30 +0100",
    status: str = "200",
    rt: str | None = "0.086",
    ua: str = "Mozilla/5.0 (X11; Linux x86_64)",
) -> str:
    line = (
        f'203.0.113.7 - alice [{ts}] "GET /api/v1/items?id=42 HTTP/1.1" {status} 2310 '
        f'"https://shop.example.com/" "{ua}"'
    )
    return line if rt is None else f"{line} {rt}"



# -- single lines ------------------------------------------------------------------------------
def test_parse_alb_lines() -> None:
    rec = parse_alb_line(alb())
    assert isinstance(rec, Record)
    assert rec.timestamp == datetime(2025, 3, 1, 10, 15, 30, 123456, tzinfo=UTC)
    assert rec.status == 200 and rec.latency_ms == pytest.approx(86.0)
    # AWS's own minimal shape: no target, fewer trailing fields, '-' cipher/protocol.
    short = (
        "http 2018-11-30T22:23:00.186641Z app/my-lb/50dc6c495c0c9188 192.168.131.39:2817 - "
        '0.000 0.001 0.000 200 200 34 366 "GET http://www.example.com:80/ HTTP/1.1" '
        '"curl/7.46.0" - - arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/t/73e2 '
        '"Root=1-58337364-23a8c76965a2ef7629b185e3" "-" "-" 0 2018-11-30T22:22:48.364000Z "forward"'
    )
    rec = parse_alb_line(short)
    assert rec is not None and rec.status == 200 and rec.latency_ms == pytest.approx(1.0)
    # Not dispatched: -1 times -> no latency, status kept.
    rec = parse_alb_line(alb(times="-1 -1 -1", status="502"))
    assert rec is not None and rec.status == 502 and math.isnan(rec.latency_ms)
    rec = parse_alb_line(alb(times="0.000 -1 -1", status="460", kind="h2"))
    assert rec is not None and rec.status == 460 and math.isnan(rec.latency_ms)
    rec = parse_alb_line(alb(status="-"))
    assert rec is not None and rec.status == 0
    rec = parse_alb_line(alb(ts="2025-03-01T10:15:30Z") + "\r\n")
    assert rec is not None and rec.timestamp == datetime(2025, 3, 1, 10, 15, 30, tzinfo=UTC)


def test_parse_nginx_lines() -> None:
    rec = parse_nginx_line(nginx())
    assert rec is not None and rec.timestamp == datetime(2025, 3, 1, 9, 15, 30, tzinfo=UTC)
    assert rec.status == 200 and rec.latency_ms == pytest.approx(86.0)
    rec = parse_nginx_line(nginx(rt=None, status="499"))
    assert rec is not None and rec.status == 499 and math.isnan(rec.latency_ms)
    rec = parse_nginx_line(nginx(rt="-") + "\n")
    assert rec is not None and math.isnan(rec.latency_ms)
    rec = parse_nginx_line(nginx(ts="31/Dec/2024:23:59:59 -0530", ua='say \\"hi\\" \\x22'))
    assert rec is not None and rec.timestamp == datetime(2025, 1, 1, 5, 29, 59, tzinfo=UTC)
    bytes_dash = nginx().replace(" 200 2310 ", " 304 - ")
    rec = parse_nginx_line(bytes_dash)
    assert rec is not None and rec.status == 304


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "garbage",
        alb()[:120],  # truncated inside the request
        alb().split(' "Mozilla')[0],  # no user agent
        alb(ts="2025-02-30T10:15:30.1Z"),  # no such day
        alb(ts="2025-03-01T24:00:00.0Z"),
        alb(ts="1969-12-31T23:59:00.0Z"),  # outside the supported years
        alb(times="0.001 abc 0.000"),
        alb(times="0.001 -2 0.000"),
        alb(status="20"),
        alb().replace("app/shop-alb", "app/shop alb"),  # a space in a field shifts everything
        nginx(),  # the other format
    ],
)
def test_not_alb_lines_are_none(line: str) -> None:
    assert parse_alb_line(line) is None


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        nginx(ts="01/Foo/2025:10:15:30 +0100"),
        nginx(ts="30/Feb/2025:10:15:30 +0000"),
        nginx(ts="01/Mar/2025:10:15:30"),
        nginx(rt="fast"),
        nginx() + " trailing",
        nginx()[:-20],
        alb(),
    ],
)
def test_not_nginx_lines_are_none(line: str) -> None:
    assert parse_nginx_line(line) is None


def test_parsers_reject_non_text_with_logparseerror() -> None:
    with pytest.raises(LogParseError):
        parse_alb_line(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(LogParseError):
        parse_nginx_line(None)  # type: ignore[arg-type]


# -- aggregation -------------------------------------------------------------------------------
def _stamp(minute: int, second: int = 0) -> str:
    return f"2025-03-01T10:{minute:02d}:{second:02d}.000000Z"


def test_aggregate_columns_counts_and_filled_minutes() -> None:
    lines = [
        alb(ts=_stamp(0, 1), status="200", times="0.000 0.010 0.000"),
        alb(ts=_stamp(0, 59), status="503", times="0.000 0.030 0.000"),
        alb(ts=_stamp(0, 30), status="404", times="0.000 0.020 0.000"),
        alb(ts=_stamp(3, 0), status="301", times="0.001 0.001 0.000"),
        alb(ts=_stamp(3, 1), status="502", times="-1 -1 -1"),
        alb(ts=_stamp(3, 2), status="-", times="0.000 0.004 0.000"),
    ]
    frame, report = aggregate(lines, "alb")
    assert tuple(frame.columns) == COLUMNS
    assert frame.index.name == "timestamp" and str(frame.index.tz) == "UTC"
    assert list(frame.index) == list(pd.date_range("2025-03-01 10:00", periods=4, freq="1min", tz="UTC"))
    assert frame["total_requests"].tolist() == [3, 0, 0, 3]
    assert frame["2xx_count"].tolist() == [1, 0, 0, 0]
    assert frame["3xx_count"].tolist() == [0, 0, 0, 1]
    assert frame["4xx_count"].tolist() == [1, 0, 0, 0]
    assert frame["5xx_count"].tolist() == [1, 0, 0, 1]
    avg = frame["avg_response_time_ms"]
    assert avg.iloc[0] == pytest.approx(20.0) and avg.iloc[3] == pytest.approx(3.0)
    assert avg.iloc[1:3].isna().all() and frame["p95_response_time_ms"].iloc[1:3].isna().all()
    assert frame["p95_response_time_ms"].iloc[0] == pytest.approx(30.0, rel=ALPHA)
    assert (report.lines, report.parsed, report.malformed) == (6, 6, 0)
    assert report.no_latency == 1 and report.other_status == 1
    text = "\n".join(report.lines_text())
    assert "1 request(s) without a latency" in text and "outside 2xx-5xx" in text


def test_malformed_lines_counted_with_line_numbers() -> None:
    good = nginx()
    lines = [good, "junk", good, "", good, nginx(ts="99/Mar/2025:10:15:30 +0000"), "x", "y", "z", good]
    frame, report = aggregate(lines, "nginx", source="access.log")
    assert (report.lines, report.parsed, report.malformed) == (10, 4, 6)
    assert report.first_malformed == [2, 4, 6, 7, 8]
    assert int(frame["total_requests"].sum()) == 4
    assert "first at line 2, 4, 6, 7, 8" in report.lines_text()[1]
    assert report.lines_text()[0].startswith("access.log: 10 line(s), 4 parsed, 6 malformed")


def test_line_numbers_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from anomalert.sources import accesslog

    monkeypatch.setattr(accesslog, "_CHUNK", 3)
    lines = [nginx()] * 7 + ["bad"] + [nginx()] * 3 + ["bad"]
    _, report = aggregate(iter(lines), "nginx")
    assert report.first_malformed == [8, 12] and report.parsed == 10


def test_aggregate_matches_a_per_record_reference() -> None:
    rng = np.random.default_rng(3)
    lines = []
    for _ in range(3000):
        minute, second = divmod(int(rng.integers(0, 20 * 60)), 60)
        status = str(rng.choice(["200", "201", "302", "404", "500", "101", "-"]))
        times = "-1 -1 -1" if rng.random() < 0.05 else f"0.000 {rng.uniform(0, 2):.3f} 0.001"
        lines.append(alb(ts=_stamp(minute, second), status=status, times=times))
    frame, report = aggregate(lines, "alb")
    records = pd.DataFrame([parse_alb_line(x) for x in lines])
    records["minute"] = pd.to_datetime(records["timestamp"]).dt.floor("1min")
    g = records.groupby("minute")
    ref_total = g.size().reindex(frame.index, fill_value=0)
    np.testing.assert_array_equal(frame["total_requests"].to_numpy(), ref_total.to_numpy())
    for c in (2, 3, 4, 5):
        ref = (records["status"] // 100 == c).groupby(records["minute"]).sum()
        np.testing.assert_array_equal(frame[f"{c}xx_count"], ref.reindex(frame.index, fill_value=0))
    ref_avg = g["latency_ms"].mean().reindex(frame.index)
    np.testing.assert_allclose(frame["avg_response_time_ms"], ref_avg, rtol=1e-12)
    assert report.parsed == 3000 and report.no_latency == int(records["latency_ms"].isna().sum())


def test_p95_sketch_within_documented_relative_error() -> None:
    rng = np.random.default_rng(11)
    lines, per_minute = [], {}
    for minute in range(6):
        n = int(rng.integers(1, 3000))
        lat_s = np.round(rng.lognormal(-2.0 + 0.3 * minute, 1.0, n), 3)  # ms resolution, like ALB
        lat_s[: n // 50] = 0.0  # some zero latencies
        per_minute[minute] = lat_s * 1000
        lines += [alb(ts=_stamp(minute, i % 60), times=f"0.000 {x:.3f} 0.000") for i, x in enumerate(lat_s)]
    frame, _ = aggregate(lines, "alb")
    for minute, values in per_minute.items():
        got = frame["p95_response_time_ms"].iloc[minute]
        k = math.ceil(0.95 * len(values))  # nearest rank
        exact = np.sort(values)[k - 1]
        assert exact == np.percentile(values, 95, method="inverted_cdf")
        assert abs(got - exact) <= ALPHA * exact + 1e-9, (minute, got, exact)
        assert frame["avg_response_time_ms"].iloc[minute] == pytest.approx(values.mean(), rel=1e-12)


def test_freq_and_parameters() -> None:
    lines = [nginx(ts=f"01/Mar/2025:10:{m:02d}:00 +0000") for m in (1, 4, 12)]
    frame, _ = aggregate(lines, "nginx", freq="5min")
    assert frame["total_requests"].tolist() == [2, 0, 1]
    assert frame.index[0] == pd.Timestamp("2025-03-01 10:00", tz="UTC")
    for bad in ("30s", "90s", "0min", "-5min", "often"):
        with pytest.raises(ParameterError, match="whole number of minutes"):
            aggregate(lines, "nginx", freq=bad)
    with pytest.raises(ParameterError, match="'alb' or 'nginx'"):
        aggregate(lines, "apache")  # type: ignore[arg-type]


def test_nothing_parsed_is_a_clear_error() -> None:
    with pytest.raises(LogParseError, match="none of 2 line") as info:
        aggregate([nginx(), nginx()], "alb", source="x.log")
    assert info.value.report is not None and info.value.report.malformed == 2
    with pytest.raises(LogParseError, match="none of 0 line"):
        aggregate([], "nginx")


def test_stray_timestamp_span_is_refused() -> None:
    lines = [alb(ts="2025-03-01T10:00:00Z"), alb(ts="1971-03-01T10:00:00Z")]
    with pytest.raises(LogParseError, match="stray timestamp"):
        aggregate(lines, "alb")
    frame, _ = aggregate(lines, "alb", freq="1440min", max_buckets=20_000)
    assert int(frame["total_requests"].sum()) == 2


# -- files -------------------------------------------------------------------------------------
def _lines() -> list[str]:
    return [alb(ts=_stamp(m, s), times=f"0.000 0.{m}{s:02d} 0.000") for m in range(5) for s in (0, 20, 40)]


def test_read_plain_and_gzip_by_magic_bytes(tmp_path: Path) -> None:
    text = "\n".join(_lines()) + "\nnot a log line\n"
    plain = tmp_path / "alb.log.gz"  # misleading suffix: detection is by content
    plain.write_text(text)
    packed = tmp_path / "alb.log"
    packed.write_bytes(gzip.compress(text[:1000].encode()) + gzip.compress(text[1000:].encode()))
    a, ra = read_access_log(plain, "alb")
    b, rb = read_access_log(packed, "alb")
    pd.testing.assert_frame_equal(a, b)
    assert (ra.lines, ra.parsed, ra.malformed, ra.first_malformed) == (16, 15, 1, [16])
    assert rb.source == str(packed) and (rb.lines, rb.parsed) == (16, 15)
    c, _ = aggregate(_lines(), "alb")
    pd.testing.assert_frame_equal(a, c)


def test_crlf_and_no_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "n.log"
    path.write_bytes(("\r\n".join([nginx(), nginx(rt=None)])).encode())
    frame, report = read_access_log(path, "nginx")
    assert report.parsed == 2 and int(frame["total_requests"].iloc[0]) == 2


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read access log"):
        read_access_log(tmp_path / "missing.log", "alb")
    broken = tmp_path / "broken.log.gz"
    broken.write_bytes(gzip.compress(("\n".join(_lines() * 50)).encode())[:-30])
    with pytest.raises(LogParseError, match="corrupt or truncated gzip"):
        read_access_log(broken, "alb")
    latin = tmp_path / "latin1.log"
    latin.write_bytes(nginx(ua="caf\xe9").encode("latin-1") + b"\n")
    _, report = read_access_log(latin, "nginx")  # undecodable bytes are replaced, not fatal
    assert report.parsed == 1


def test_memory_is_bounded_by_minutes_not_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    from anomalert.sources import accesslog

    monkeypatch.setattr(accesslog, "_CHUNK", 512)  # peak ~ one chunk of lines

    def stream(n: int) -> Iterator[str]:
        for i in range(n):
            yield nginx(ts=f"01/Mar/2025:10:{(i // 1000) % 60:02d}:00 +0000", rt=f"0.{i % 1000:03d}")

    peaks = []
    for n in (3_000, 12_000):
        tracemalloc.start()
        frame, report = aggregate(stream(n), "nginx")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert report.parsed == n
    assert peaks[1] < 1.5 * peaks[0], peaks  # 4x the lines, about the same peak


# -- fuzzing -----------------------------------------------------------------------------------
def _mutations(seed_line: str) -> st.SearchStrategy[str]:
    """Valid lines with a few random characters inserted, deleted or replaced."""
    edits = st.lists(
        st.tuples(st.integers(0, len(seed_line)), st.sampled_from(["ins", "del", "rep"]),
                  st.sampled_from(list(' "-.:0123456789aZ[]/\\\n\t\r\x00é'))),
        max_size=4,
    )

    def apply(ops: list[tuple[int, str, str]]) -> str:
        s = seed_line
        for pos, op, ch in ops:
            pos = min(pos, len(s))
            s = s[:pos] + ch + s[pos:] if op == "ins" else s[:pos] + ("" if op == "del" else ch) + s[pos + 1:]
        return s

    return edits.map(apply)


LINES = st.one_of(st.text(max_size=300), _mutations(alb()), _mutations(nginx()),
                  _mutations(alb(times="-1 -1 -1", status="-")), _mutations(nginx(rt=None)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=8), st.sampled_from(["alb", "nginx"]))
def test_fuzz_parsers_and_aggregate_only_raise_logparseerror(lines: list[str], fmt: str) -> None:
    parse = parse_alb_line if fmt == "alb" else parse_nginx_line
    records = [parse(line) for line in lines]
    for rec in records:
        if rec is not None:
            assert rec.timestamp.tzinfo is not None and isinstance(rec.status, int)
            assert math.isnan(rec.latency_ms) or rec.latency_ms >= 0
    try:
        frame, report = aggregate(lines, fmt)  # type: ignore[arg-type]
    except LogParseError as exc:
        assert exc.report is None or exc.report.parsed == 0 or "stray" in str(exc)
        return
    assert isinstance(report, ParseReport)
    assert report.parsed == sum(r is not None for r in records)
    assert report.parsed + report.malformed == report.lines == len(lines)
    assert int(frame["total_requests"].sum()) == report.parsed
