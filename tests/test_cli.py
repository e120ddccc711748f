"""The command line as a user meets it: generate -> evaluate, detect, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomalert.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# The bar (every event within a minute, no false incident, point F1 >= 0.95) on
# tutorial-faithful and realistic data, several seeds. benchmarks/quality.md lists more seeds,
# including the two realistic ones that miss it (cpu seed 12, lb seed 8).
@pytest.mark.parametrize(
    ("scenario", "seed", "realistic"),
    [("cpu", 42, False), ("lb", 42, False), ("cpu", 7, False), ("lb", 3, False),
     ("lb", 42, True), ("cpu", 42, True), ("cpu", 1, True), ("lb", 1, True)],
)
def test_generate_then_evaluate_default_meets_the_bar(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    scenario: str,
    seed: int,
    realistic: bool,
) -> None:
    data = tmp_path / "data.csv"
    args = ["generate", scenario, "--seed", str(seed), "-o", str(data)]
    code, out, _ = _run(capsys, *args, *(["--realistic"] if realistic else []))
    assert code == 0 and "labelled events" in out
    report = tmp_path / "eval.json"
    code, out, _ = _run(capsys, "evaluate", str(data), "--detector", "default", "--json", str(report))
    assert code == 0, out
    result = json.loads(report.read_text())
    events, incidents, point = result["events"], result["incidents"], result["point"]
    assert events["detected"] == events["total"] > 0
    assert max(events["delays_min"]) <= 1.0
    assert incidents["false"] == 0
    assert point["f1"] >= 0.95
    for key in ("precision", "recall", "f1", "accuracy", "specificity", "fpr", "fnr",
                "tp", "fp", "fn", "tn"):
        assert key in point
    assert "per_type" in events and "false_per_day" in incidents
    assert "f1" in out and "incidents" in out


def test_tutorial_presets_reproduce_the_tutorials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for scenario, preset, expect in [
        ("cpu", "seed000-iforest", (60, 40)),
        ("lb", "seed004-iforest", (105, 90)),
    ]:
        data = tmp_path / f"{scenario}.csv"
        assert _run(capsys, "generate", scenario, "-o", str(data))[0] == 0
        out_json = tmp_path / f"{preset}.json"
        code, _, _ = _run(capsys, "evaluate", str(data), "--detector", preset, "--json", str(out_json))
        point = json.loads(out_json.read_text())["point"]
        assert code == 0 and (point["tp"], point["fp"]) == expect
    assert round(point["precision"], 3) == 0.538 and point["recall"] == 1.0


def test_detect_writes_points_and_prints_incidents(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, out_csv = tmp_path / "lb.csv", tmp_path / "scored.csv"
    _run(capsys, "generate", "lb", "-o", str(data))
    code, out, _ = _run(capsys, "detect", str(data), "-o", str(out_csv))
    assert code == 0 and "3 incident(s)" in out and "5xx_rate" in out
    scored = pd.read_csv(out_csv)
    assert {"timestamp", "score", "threshold", "is_anomaly", "explanation"} <= set(scored.columns)
    assert len(scored) == 1440 and scored["is_anomaly"].sum() == 105


def test_detect_marks_incidents_inside_the_training_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spike inside the training window is an incident too, marked T in the table; one
    after it is not."""
    idx = pd.date_range("2025-01-01", periods=3 * 1440, freq="1min", tz="UTC")
    v = 40 + np.random.default_rng(2).normal(0, 1, len(idx))
    v[1000:1003] += 40  # inside the training window (the first two days)
    v[3500:3503] += 40  # after it
    data = tmp_path / "cpu.csv"
    pd.DataFrame({"timestamp": idx, "cpu": v}).to_csv(data, index=False)
    code, out, _ = _run(capsys, "detect", str(data), "--train-until", str(idx[2 * 1440]))
    assert code == 0 and "2 incident(s), 1 of them in the training window (T):" in out
    marks = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and " cpu: " in line]
    assert marks == ["1T", "2"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "empty file"),
        ("value\n1\n2\n", "no timestamp column"),
        ("timestamp,v\nnot-a-date,1\n", "row 1, column 'timestamp': cannot parse"),
        ("timestamp,v\n2025-01-01T00:00Z,1\n2025-01-01T00:01Z,oops\n", "row 2, column 'v'"),
        ("timestamp,v\n2025-01-01T00:00Z,\n2025-01-01T00:01Z,\n", "no usable values"),
        ("timestamp,v\n2025-01-01T00:00,1\n2025-01-01T00:01+05:00,2\n", "with and without a UTC offset"),
        ("timestamp,v\n2025-01-01T00:00Z,1\nnot a date,2\n",
         "row 2, column 'timestamp': cannot parse timestamp 'not a date'"),
        ("timestamp,v,is_anomaly\n2025-01-01T00:00Z,1,no\n2025-01-01T00:01Z,2,yes\n",
         "column 'is_anomaly', row 1, at 2025-01-01T00:00:00Z: 'no' is not a label"),
        ("timestamp,v,is_anomaly\n2025-01-01T00:00Z,1,0\n2025-01-01T00:01Z,2,\n",
         "column 'is_anomaly' has 1 missing label(s) (first: row 2, at 2025-01-01T00:01:00Z)"),
        # every row is training by default: nothing would be scored
        ("timestamp,v,is_anomaly\n" + "".join(f"2025-01-01T00:{m:02d}Z,{m},0\n" for m in range(60)),
         "too short to score: 60 row(s)"),
        ("timestamp,v,is_anomaly\n2025-01-01T00:00Z,1,0\n2025-01-01T00:01Z,2,0\n",
         "too short to score: 2 row(s)"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        _write(path, content)
    for command in ("detect", "evaluate"):
        code, out, err = _run(capsys, command, str(path))
        assert code == 2
        assert err.count("\n") == 1 and err.startswith("anomalert: error: ") and message in err
        assert str(path) in err and "Traceback" not in err


def test_constant_series_and_duplicates_are_reported_not_fatal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["timestamp,v"] + [f"2025-01-01T{h:02d}:{m:02d}:00Z,5" for h in range(3) for m in range(60)]
    rows.append(rows[-1])  # a duplicate
    path = _write(tmp_path / "flat.csv", "\n".join(rows) + "\n")
    code, out, err = _run(capsys, "detect", str(path))
    assert code == 0 and "no incidents" in out
    assert "1 duplicate timestamp(s)" in err and "column 'v' is constant" in err


def test_evaluate_needs_labels_and_unknown_detector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "x.csv", "timestamp,v\n2025-01-01T00:00Z,1\n2025-01-01T00:01Z,2\n")
    code, _, err = _run(capsys, "evaluate", str(path))
    assert code == 2 and "no 'is_anomaly' column" in err
    code, _, err = _run(capsys, "detect", str(path), "--detector", "nope")
    assert code == 2 and "unknown detector 'nope'" in err


def test_detect_on_an_nginx_access_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import random

    rng = random.Random(0)
    lines = []
    start = pd.Timestamp("2025-03-01T00:00:00Z")
    for minute in range(240):
        ts = (start + pd.Timedelta(minutes=minute)).strftime("%d/%b/%Y:%H:%M")
        burst = 200 <= minute < 210
        for i in range(50):
            status = 503 if burst and i % 2 else (404 if rng.random() < 0.02 else 200)
            lines.append(
                f'10.0.0.{i % 250} - - [{ts}:{i % 60:02d} +0000] "GET /api/x HTTP/1.1" {status} '
                f'512 "-" "curl/8" {rng.uniform(0.05, 0.15):.3f}'
            )
    lines.insert(100, "this is not a log line")
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines) + "\n")
    code, out, err = _run(capsys, "detect", "--access-log", str(log), "--format", "nginx")
    assert code == 0, err
    assert "1 incident(s)" in out and "5xx_rate" in out
    assert "malformed" in err and "101" in err  # the bad line is counted and located
    code, _, err = _run(capsys, "detect", str(log), "--access-log", str(log))
    assert code == 2 and "exactly one input" in err


def test_outputs_that_cannot_be_written_fail_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"2025-01-01T{h:02d}:{m:02d}:00Z,{m % 7},{h % 2}\n" for h in range(3) for m in range(60))
    path = _write(tmp_path / "in.csv", "timestamp,v,is_anomaly\n" + rows)
    missing = tmp_path / "no" / "such" / "dir" / "out.csv"
    for argv, flag in ((["detect", str(path), "-o", str(missing)], "-o"),
                       (["detect", str(path), "-o", str(tmp_path)], "-o"),
                       (["evaluate", str(path), "--json", str(missing.with_suffix(".json"))],
                        "--json"),
                       (["generate", "cpu", "-o", str(tmp_path)], "-o")):
        code, out, err = _run(capsys, *argv)
        assert code == 2 and out == "", (argv, out)
        assert err.startswith(f"anomalert: error: {flag} ") and err.count("\n") == 1
        assert ("does not exist" in err) or ("is a directory" in err)


def test_offsets_across_a_clock_change_are_read_as_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    times = pd.date_range("2025-03-29 12:00", periods=24 * 12, freq="5min", tz="Europe/Berlin")
    text = "".join(f"{t.isoformat()},{i % 5}\n" for i, t in enumerate(times))
    assert "+01:00" in text and "+02:00" in text
    path = _write(tmp_path / "berlin.csv", "timestamp,v\n" + text)
    code, out, err = _run(capsys, "detect", str(path))
    assert code == 0, err
    assert "trained on 60 rows" in out and "gap" not in err  # one regular 5-minute series


def test_an_unknown_option_shows_the_subcommand_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["detect", "--bogus", "x.csv"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "usage: anomalert detect" in err and "unrecognized arguments: --bogus" in err


def test_detect_threshold_pages_lower_on_the_same_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "cpu.csv"
    assert main(["generate", "cpu", "--days", "3", "-o", str(data)]) == 0
    runs = {}
    for label, extra in (("own", []), ("low", ["--threshold", "3"])):
        out = tmp_path / f"{label}.csv"
        code, printed, err = _run(capsys, "detect", str(data), "-o", str(out), *extra)
        assert code == 0, err
        runs[label] = (pd.read_csv(out), printed)
    own, low = runs["own"][0], runs["low"][0]
    assert "(paging at 3)" in runs["low"][1] and "paging at" not in runs["own"][1]
    np.testing.assert_array_equal(own["score"].to_numpy(), low["score"].to_numpy())
    assert (low["is_anomaly"] >= own["is_anomaly"]).all()
    assert low["is_anomaly"].sum() > own["is_anomaly"].sum()


def test_sweep_and_nab_outputs_that_cannot_be_written_fail_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "no" / "x.json")
    for argv in (["sweep", "lb.csv", "--detector", "default", "--threshold", "3", "--json", missing],
                 ["sweep", "lb.csv", "--detector", "default", "--threshold", "3", "--plot", str(tmp_path)],
                 ["nab", str(tmp_path), "--windows", "w.json", "--json", missing]):
        code, out, err = _run(capsys, *argv)
        assert code == 2 and out == "" and err.count("\n") == 1, (argv, err)
        assert "does not exist" in err or "is a directory" in err


def test_detect_minutes_without_traffic_have_no_error_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Empty total_requests cells are counted and page nothing (they paged as '4xx_rate=0 is
    422.7σ below baseline'); minutes of zero traffic are counted and page on total_requests."""
    from anomalert import scenarios

    frame = scenarios.generate("lb", seed=42).to_csv_frame()
    quiet = frame["timestamp"].astype(str).str.startswith("2024-01-01T10:0")
    assert quiet.sum() == 10
    gap, zero = frame.copy(), frame.copy()
    gap.loc[quiet, "total_requests"] = np.nan
    zero.loc[quiet, ["total_requests", "2xx_count", "4xx_count", "5xx_count"]] = 0
    gap.to_csv(tmp_path / "gap.csv", index=False)
    zero.to_csv(tmp_path / "zero.csv", index=False)
    code, out, err = _run(capsys, "detect", str(tmp_path / "gap.csv"))
    assert code == 0, err
    assert "column 'total_requests' has 10 missing value(s); not scored" in err
    assert "3 incident(s)" in out and "2024-01-01 10:0" not in out and "4xx_rate=0 " not in out
    code, out, err = _run(capsys, "detect", str(tmp_path / "zero.csv"))
    assert code == 0, err
    assert (f"note: {tmp_path / 'zero.csv'}: 10 row(s) with total_requests=0 (no traffic): "
            "4xx_rate, 5xx_rate missing there, not scored") in err
    row = next(line for line in out.splitlines() if "2024-01-01 10:00" in line)
    assert "total_requests: total_requests=0 is " in row and "4xx_rate" not in row


def test_outputs_are_written_in_the_format_their_extension_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """generate -o x.parquet wrote CSV text (which detect then refused: 'Parquet magic bytes
    not found'); .csv.gz is gzipped; detect -o follows the extension too."""
    pq, gz = tmp_path / "cpu.parquet", tmp_path / "cpu.csv.gz"
    for path in (pq, gz):
        assert _run(capsys, "generate", "cpu", "--days", "2", "-o", str(path))[0] == 0
    assert pq.read_bytes()[:4] == b"PAR1" and gz.read_bytes()[:2] == b"\x1f\x8b"
    pd.testing.assert_frame_equal(pd.read_parquet(pq), pd.read_csv(gz), check_dtype=False)
    scored = tmp_path / "scored.csv.gz"
    code, out, err = _run(capsys, "detect", str(pq), "-o", str(scored))
    assert code == 0, err
    assert scored.read_bytes()[:2] == b"\x1f\x8b" and len(pd.read_csv(scored)) == 2 * 1440


@pytest.mark.parametrize(
    ("argv", "flag", "allowed"),
    [
        (["generate", "cpu", "-o", "{d}/x.txt"], "-o", ".csv, .csv.gz, .parquet, .pq"),
        (["detect", "{f}", "-o", "{d}/out.json"], "-o", ".csv, .csv.gz, .parquet, .pq"),
        (["detect", "{f}", "-o", "{d}/out.xlsx"], "-o", ".csv, .csv.gz, .parquet, .pq"),
        (["detect", "{f}", "-o", "{d}/out"], "-o", ".csv, .csv.gz, .parquet, .pq"),
        (["evaluate", "{f}", "--json", "{d}/eval.csv"], "--json", ".json"),
        (["sweep", "{f}", "--detector", "default", "--threshold", "3", "--json", "{d}/s.txt"],
         "--json", ".json"),
        (["sweep", "{f}", "--detector", "default", "--threshold", "3", "--plot", "{d}/s.bmp"],
         "--plot", ".png, .svg"),
        (["nab", "{d}", "--windows", "{d}/w.json", "--json", "{d}/n.csv"], "--json", ".json"),
    ],
)
def test_an_output_extension_that_names_no_format_fails_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], flag: str, allowed: str
) -> None:
    data = _write(tmp_path / "in.csv", "timestamp,v,is_anomaly\n2025-01-01T00:00Z,1,0\n")
    argv = [a.format(d=tmp_path, f=data) for a in argv]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "", err
    assert err.startswith(f"anomalert: error: {flag} {argv[-1]}: ") and err.count("\n") == 1
    assert "the format follows the extension: " + allowed in err
    assert not Path(argv[-1]).exists()


def test_sweep_plot_format_follows_the_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--plot out.jpg wrote a PNG under a .jpg name."""
    data = tmp_path / "cpu.csv"
    assert _run(capsys, "generate", "cpu", "--days", "2", "-o", str(data))[0] == 0
    jpg, svg = tmp_path / "sweep.jpg", tmp_path / "sweep.svg"
    for plot in (jpg, svg):
        code, _, err = _run(capsys, "sweep", str(data), "--detector", "default",
                            "--threshold", "4,6", "--plot", str(plot))
        assert code == 0, err
    assert jpg.read_bytes()[:3] == b"\xff\xd8\xff" and b"<svg" in svg.read_bytes()[:500]


def test_generate_days_past_the_limit_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--days 100000 ran past pandas' year 2262: an OutOfBoundsDatetime traceback."""
    out = tmp_path / "x.csv"
    code, printed, err = _run(capsys, "generate", "cpu", "--days", "100000", "-o", str(out))
    assert code == 2 and printed == "" and not out.exists()
    assert err == ("anomalert: error: The 'days' parameter of generate must be an int in "
                   "[1, 3660] (about ten years). Got 100000 instead.\n")


def test_train_until_after_the_data_is_refused_and_evaluate_json_counts_are_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--train-until after the last row trained on every row and the held-out line vanished
    without a word; evaluate --json wrote per_type's point counts as strings ("10")."""
    data, report = tmp_path / "lb.csv", tmp_path / "eval.json"
    assert _run(capsys, "generate", "lb", "-o", str(data))[0] == 0
    for command in ("detect", "evaluate"):
        code, out, err = _run(capsys, command, str(data), "--train-until", "2030-01-01")
        assert code == 2 and err.count("\n") == 1, err
        assert err.startswith(f"anomalert: error: {data}: train_until (--train-until) "
                              "2030-01-01T00:00:00+00:00 is after the last row "
                              "(2024-01-01T23:59:00+00:00): every row would be training")
    code, out, err = _run(capsys, "evaluate", str(data), "--train-until", "2024-01-01T12:00Z",
                          "--json", str(report))
    assert code == 0, err
    assert "held-out rows (from 2024-01-01T12:00:00+00:00, 720: after the training window)" in out
    per_type = json.loads(report.read_text())["events"]["per_type"]
    assert per_type and all(type(s["points"]) is int and type(s["tp"]) is int
                            for s in per_type.values())
