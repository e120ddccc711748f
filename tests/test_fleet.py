"""Many series: long-format parsing, directories, per-series errors, chunking, Dask, the CLI."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomalert.cli import main
from anomalert.errors import InputError
from anomalert.fleet import detect_many
from anomalert.sources.longformat import iter_series, long_format_labels

IDX = pd.date_range("2025-01-01", periods=300, freq="1min", tz="UTC")


def _values(seed: int, spike: bool = True) -> np.ndarray:
    v = 40 + np.random.default_rng(seed).normal(0, 2, len(IDX))
    if spike:
        v[250:253] = 95.0
    return v


def _long(hosts: str = "abc") -> pd.DataFrame:
    parts = [
        pd.DataFrame({"host": h, "job": "api", "timestamp": IDX, "value": _values(i, h != "b")})
        for i, h in enumerate(hosts)
    ]
    return pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=0)  # shuffled rows


def _mixed() -> Iterator[tuple[str, object]]:
    """Good series and every kind of bad one."""
    for i in range(5):
        yield f"ok-{i}", pd.DataFrame({"value": _values(i, spike=i % 2 == 0)}, index=IDX)
    yield "short", pd.DataFrame({"value": [1.0, 2.0, 3.0]}, index=IDX[:3])
    yield "constant", pd.DataFrame({"value": 7.0}, index=IDX)
    yield "bad-time", pd.DataFrame({"timestamp": ["yesterday"] * 100, "value": 1.0})
    yield "text", pd.DataFrame({"timestamp": IDX, "value": ["n/a"] * len(IDX)})
    yield "ok-0", pd.Series(_values(9), index=IDX)  # a repeated id


# --------------------------------------------------------------------------- inputs
def test_long_format_detection() -> None:
    assert long_format_labels(_long()) == ["host", "job"]
    assert long_format_labels(pd.DataFrame({"series": ["a"], "timestamp": [0], "cpu": [1]})) == [
        "series"
    ]
    wide = pd.DataFrame({"timestamp": IDX, "value": 1.0, "cpu": 2.0, "is_anomaly": 0})
    assert long_format_labels(wide) is None
    assert long_format_labels(pd.DataFrame({"timestamp": IDX, "cpu": 1.0})) is None


def test_label_columns_give_canonical_ids_and_series_scored_independently() -> None:
    frame = _long()
    result = detect_many(frame)
    table = result.table().set_index("series")
    assert list(table.index) == ['{host="a",job="api"}', '{host="b",job="api"}', '{host="c",job="api"}']
    assert (table["points"] == len(IDX)).all() and (table["status"] == "ok").all()
    assert table["incidents"].tolist() == [1, 0, 1]
    # the same numbers as scoring one series alone through detection.detect
    from anomalert.detection import detect

    alone = detect("default", pd.DataFrame({"value": _values(2)}, index=IDX))
    row = table.loc['{host="c",job="api"}']
    assert row["max_score"] == pytest.approx(float(np.nanmax(alone.points["score"])), abs=0)
    assert row["alerts"] == int(alone.points["is_anomaly"].sum())
    assert result.totals == {"series": 3, "ok": 3, "skipped": 0, "errors": 0,
                             "points": 900, "alerts": int(table["alerts"].sum()), "incidents": 2}


def test_series_column_and_missing_ids() -> None:
    frame = pd.DataFrame({"series": ["x"] * 300 + [None] * 2,
                          "timestamp": list(IDX) + list(IDX[:2]), "value": np.r_[_values(0), 1, 2]})
    result = detect_many(frame)
    assert [(s.series, s.status) for s in result.summaries] == [
        ("x", "ok"), ("<no series id>", "error")]
    assert "2 row(s) have no value in column 'series'" in result.summaries[1].message


def test_bad_series_are_reported_per_series_never_fatal() -> None:
    result = detect_many(_mixed(), chunk_size=3)
    by = {s.series: s for s in result.summaries[:-1]}
    assert [by[f"ok-{i}"].status for i in range(5)] == ["ok"] * 5
    assert by["short"].status == "skipped" and "too short: 3 point(s)" in by["short"].message
    assert by["constant"].status == "skipped" and "constant" in by["constant"].message
    assert by["bad-time"].status == "error" and "cannot parse timestamp 'yesterday'" in by[
        "bad-time"].message
    assert by["text"].status == "error" and "'n/a' is not a number" in by["text"].message
    dup = result.summaries[-1]
    assert dup.series == "ok-0" and dup.status == "error" and "more than once" in dup.message
    assert result.totals["ok"] == 5 and result.totals["skipped"] == 2
    assert result.totals["errors"] == 3 and result.chunks == 4


def test_directory_of_wide_and_long_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    pd.DataFrame({"timestamp": IDX, "cpu": _values(0), "mem": _values(1, False)}).to_csv(
        tmp_path / "web-1.csv", index=False)
    _long("de").to_parquet(tmp_path / "sub" / "hosts.parquet", index=False)
    (tmp_path / "broken.csv").write_text("timestamp,v\n2025-01-01T00:00Z,1\n2025-01-01T00:01Z,oops\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "README.txt").write_text("not data")
    notes: list[str] = []
    ids = [sid for sid, _ in iter_series(tmp_path, notes=notes)]
    assert ids == ["broken", "empty", '{host="d",job="api"}', '{host="e",job="api"}', "web-1"]
    assert notes == [f"{tmp_path}: ignored 1 file(s) that are not CSV or Parquet"]
    result = detect_many(tmp_path)
    by = {s.series: s for s in result.summaries}
    assert by["web-1"].status == "ok" and by["web-1"].incidents == 1
    assert by["broken"].status == "error" and "row 2, column 'v'" in by["broken"].message
    assert by["empty"].status == "error" and "empty file" in by["empty"].message
    assert by['{host="d",job="api"}'].incidents == 1


def test_per_point_output_csv_and_parquet_agree(tmp_path: Path) -> None:
    csv, pq = tmp_path / "out.csv", tmp_path / "out.parquet"
    a = detect_many(_mixed(), chunk_size=2, output=csv)
    b = detect_many(_mixed(), chunk_size=4, output=pq)
    pd.testing.assert_frame_equal(a.table(), b.table())
    x, y = pd.read_csv(csv, keep_default_na=False, na_values=[""]), pd.read_parquet(pq)
    assert list(x.columns) == ["series", "timestamp", "score", "threshold", "is_anomaly",
                               "explanation", "incident"]
    assert len(x) == len(y) == 5 * len(IDX) and x["series"].unique().tolist() == [
        f"ok-{i}" for i in range(5)]
    assert (x["is_anomaly"].to_numpy() == y["is_anomaly"].to_numpy()).all()
    np.testing.assert_array_equal(x["score"].to_numpy(), y["score"].to_numpy())
    assert x.groupby("series")["is_anomaly"].sum().tolist() == [s.alerts for s in a.summaries[:5]]


# --------------------------------------------------------------------------- the worst kept
@pytest.mark.parametrize(("chunk_size", "keep"), [(1, 2), (3, 2), (2, 9)])
def test_the_worst_series_are_kept_as_they_were_scored(chunk_size: int, keep: int) -> None:
    """keep=N: the N worst by the report's ranking, with the detection detect() gives."""
    from anomalert.detection import detect
    from anomalert.ranking import worst

    frames = {f"s{i}": pd.DataFrame({"value": _values(i, spike=i % 3 != 1)}, index=IDX)
              for i in range(7)}
    for i in (0, 3):  # two series with a second incident: they lead the ranking
        frames[f"s{i}"].iloc[150:153, 0] = -20.0
    result = detect_many(frames, chunk_size=chunk_size, keep=keep)
    expected = worst(result.summaries, keep)
    assert [k.summary for k in result.worst] == expected
    assert [s.series for s in expected][:2] == ["s0", "s3"] and len(expected) == min(keep, 5)
    for k in result.worst:
        alone = detect("default", frames[k.summary.series], series=k.summary.series)
        pd.testing.assert_frame_equal(k.detection.points, alone.points)
        assert len(k.detection.incidents) == k.summary.incidents > 0
    assert detect_many(frames, chunk_size=chunk_size).worst == []  # keep=0: nothing kept


# --------------------------------------------------------------------------- memory bound
class _Counting:
    """Yields fresh frames; records how many it has handed out that are still alive."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.refs: list[weakref.ref[pd.DataFrame]] = []
        self.max_alive = 0
        self.pulled = 0

    def __iter__(self) -> Iterator[tuple[str, pd.DataFrame]]:
        for i in range(self.n):
            frame = pd.DataFrame({"value": _values(i)}, index=IDX)
            gc.collect()
            self.refs.append(weakref.ref(frame))
            self.max_alive = max(self.max_alive, sum(r() is not None for r in self.refs))
            self.pulled += 1
            yield f"s{i}", frame
            del frame


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_never_more_than_chunk_size_frames_alive(chunk_size: int) -> None:
    source = _Counting(7)
    ahead: list[int] = []
    result = detect_many(
        source, chunk_size=chunk_size,
        progress=lambda done, _: ahead.append(source.pulled - done),
    )
    assert len(result.summaries) == 7 and result.chunks == -(-7 // chunk_size)
    assert source.max_alive == chunk_size  # the chunk being read, nothing older
    assert max(ahead) == 0  # nothing is read before the chunk it belongs to is scored


# --------------------------------------------------------------------------- dask
@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ) as cluster:
        yield cluster.scheduler_address


def test_dask_gives_the_same_results_as_local(tmp_path: Path, dask_address: str) -> None:
    local = detect_many(_mixed(), chunk_size=2, output=tmp_path / "local.csv", keep=2)
    remote = detect_many(_mixed(), chunk_size=2, engine="dask", scheduler=dask_address,
                         output=tmp_path / "dask.csv", keep=2)
    assert remote.engine == "dask" and remote.chunks == local.chunks
    pd.testing.assert_frame_equal(local.table(), remote.table())
    assert (tmp_path / "local.csv").read_bytes() == (tmp_path / "dask.csv").read_bytes()
    # the worst series kept on the workers are the ones kept locally, scored the same
    assert [k.summary for k in remote.worst] == [k.summary for k in local.worst]
    assert len(local.worst) == 2
    for a, b in zip(local.worst, remote.worst, strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)
        pd.testing.assert_frame_equal(a.detection.points, b.detection.points)
        assert a.detection.incidents == b.detection.incidents


def test_dask_without_an_address_starts_its_own_local_cluster() -> None:
    pytest.importorskip("distributed")
    local = detect_many(_mixed(), chunk_size=3)
    remote = detect_many(_mixed(), chunk_size=3, engine="dask")  # 2 workers on 127.0.0.1
    pd.testing.assert_frame_equal(local.table(), remote.table())


def test_dask_client_side_memory_is_bounded(dask_address: str) -> None:
    source = _Counting(6)
    result = detect_many(source, chunk_size=2, engine="dask", scheduler=dask_address)
    assert [s.status for s in result.summaries] == ["ok"] * 6
    assert source.max_alive <= 2


def test_dask_unreachable_scheduler_is_a_clear_error() -> None:
    import socket

    from anomalert.errors import AnomalertError

    pytest.importorskip("distributed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AnomalertError, match="cannot connect to the Dask scheduler"):
        detect_many(_mixed(), engine="dask", scheduler=f"tcp://127.0.0.1:{port}")


# --------------------------------------------------------------------------- CLI
def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_detect_long_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out_csv = tmp_path / "fleet.csv", tmp_path / "scored.csv"
    _long().to_csv(data, index=False)
    code, out, err = _run(capsys, "detect", str(data), "-o", str(out_csv), "--chunk-size", "2")
    assert code == 0, err
    assert '{host="a",job="api"}' in out and "max score" in out
    assert "totals: 3 series (3 scored, 0 skipped, 0 failed), 900 points" in out
    assert "2 incident(s)" in out
    scored = pd.read_csv(out_csv)
    assert len(scored) == 900 and scored["series"].nunique() == 3


def test_cli_detect_directory_reports_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pd.DataFrame({"timestamp": IDX, "cpu": _values(0)}).to_csv(tmp_path / "a.csv", index=False)
    (tmp_path / "b.csv").write_text("timestamp,v\nnope,1\n")
    code, out, err = _run(capsys, "detect", str(tmp_path))
    assert code == 1, err  # a failed series is not success: a cron job must see it
    assert "anomalert: 1 series failed" in err
    assert "error: b: row 1, column 'timestamp': cannot parse" in out
    assert "(1 scored, 0 skipped, 1 failed)" in out
    (tmp_path / "a.csv").unlink()
    code, out, err = _run(capsys, "detect", str(tmp_path))
    assert code == 2 and err.startswith("anomalert: error: no series could be scored")


def test_cli_detect_engine_dask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], dask_address: str
) -> None:
    data = tmp_path / "fleet.parquet"
    _long().to_parquet(data, index=False)
    code, local_out, err = _run(capsys, "detect", str(data))
    assert code == 0, err
    code, dask_out, err = _run(
        capsys, "detect", str(data), "--engine", "dask", "--scheduler", dask_address
    )
    assert code == 0, err
    strip = lambda text: [ln for ln in text.splitlines() if not ln.startswith("totals")]  # noqa: E731
    assert strip(local_out) == strip(dask_out) and "dask engine" in dask_out
    code, _, err = _run(capsys, "detect", str(data), "--scheduler", dask_address)
    assert code == 2 and "--scheduler needs --engine dask" in err


@pytest.mark.servers
def test_cli_detect_prometheus_many_label_sets(
    prometheus_server: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["# TYPE cpu gauge"]
    start = int(pd.Timestamp("2025-01-01", tz="UTC").timestamp())
    for i, host in enumerate(["a", "b", "c"]):
        for j, value in enumerate(_values(i, spike=host != "b")):
            lines.append(f'cpu{{host="{host}"}} {float(value)!r} {start + 60 * j}')
    url = prometheus_server("\n".join(lines) + "\n# EOF\n")
    code, out, err = _run(
        capsys, "detect", "--prometheus", url, "--query", "cpu",
        "--start", "2025-01-01T00:00:00Z", "--end", "2025-01-01T04:59:00Z", "--step", "60s",
    )
    assert code == 0, err
    assert 'cpu{host="a"}' in out and 'cpu{host="c"}' in out
    assert "totals: 3 series (3 scored, 0 skipped, 0 failed), 900 points" in out


def test_summaries_without_an_output_file_equal_those_with_one(tmp_path: Path) -> None:
    """Without an output file no per-point frame is built; the summaries are the same."""
    from anomalert.detection import detect

    plain = detect_many(_mixed(), chunk_size=3)
    written = detect_many(_mixed(), chunk_size=3, output=tmp_path / "points.csv")
    pd.testing.assert_frame_equal(plain.table(), written.table())
    row = plain.table().iloc[0]  # ok-0 (its repeat, last, is an error)
    assert row["series"] == "ok-0"
    pts = detect("default", pd.DataFrame({"value": _values(0)}, index=IDX)).points
    assert row["alerts"] == int(pts["is_anomaly"].sum()) > 0
    assert row["flagged"] == int(pts["is_anomalous"].sum())
    assert row["max_score"] == float(pts["score"].max())


@pytest.mark.parametrize("source", [None, 5, pd.Series([1.0]), [pd.Series([1.0])], [("a", 1, 2)]],
                         ids=["none", "int", "series", "list-of-series", "triple"])
def test_what_is_not_a_source_of_series_is_one_clear_error(source: object) -> None:
    with pytest.raises(InputError, match="cannot read series from|expected a \\(series id, frame\\) pair"):
        detect_many(source, "zscore")  # type: ignore[arg-type]


def test_detect_report_reads_and_scores_each_series_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``detect DIR --report --plot`` charts the detections the run kept: every file is read
    once and every series scored once (not the worst again for the charts), and the page
    is the one scoring them again would give."""
    import re

    import anomalert.detection as detection
    import anomalert.fleet as fleet
    from anomalert.report import many
    from anomalert.report.detection import Run
    from anomalert.sources import longformat

    data, out = tmp_path / "hosts", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    for i in range(8):
        pd.DataFrame({"timestamp": IDX, "cpu": _values(i, spike=i % 4 != 1)}).to_csv(
            data / f"h{i}.csv", index=False)
    reads: list[str] = []
    scored: list[str] = []
    real_read, real_detect = longformat.read_raw, detection._detect

    def read_raw(path: str | Path, **kw: object) -> pd.DataFrame:
        reads.append(Path(path).stem)
        return real_read(path, **kw)  # type: ignore[arg-type]

    def detect_counted(*args: object, **kw: object) -> object:
        scored.append(str(kw["series"]))
        return real_detect(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(longformat, "read_raw", read_raw)
    monkeypatch.setattr(detection, "_detect", detect_counted)  # what detect() calls
    monkeypatch.setattr(fleet, "_detect", detect_counted)  # what the fleet calls
    page_path = out / "fleet.html"
    code, _, err = _run(capsys, "detect", str(data), "--report", str(page_path),
                        "--plot", str(out / "fleet.png"))
    assert code == 0, err
    hosts = [f"h{i}" for i in range(8)]
    assert sorted(reads) == hosts  # each file once
    assert sorted(scored) == hosts  # each series once
    page = page_path.read_text(encoding="utf-8")
    from anomalert.ranking import worst

    result = detect_many(data)
    charted = [s.series for s in worst(result.summaries, many.WORST)]
    assert len(charted) == many.WORST < 6  # 6 series with an incident: the charts choose
    assert re.findall(r"<h2 id=s\d>([^<]+)</h2>", page) == charted
    assert "Scored again for this page" not in page
    # the same page as reading and scoring the worst again gives (a run that kept none)
    run = Run("detect", str(data), "directory of CSV/Parquet files", "default")
    kept, again = out / "kept.html", out / "again.html"
    many.write_fleet(detect_many(data, keep=many.WORST), data, run, report=kept)
    many.write_fleet(result, data, run, report=again)
    written = re.compile(r"<p class=meta>Written [^<]*</p>")
    assert (written.sub("", kept.read_text(encoding="utf-8"))
            == written.sub("", again.read_text(encoding="utf-8")))
