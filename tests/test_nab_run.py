"""run_nab and ``anomalert nab`` on a small synthetic NAB-layout corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomalert.cli import main
from anomalert.evaluation.nab import score_results_dir
from anomalert.evaluation.nab_run import OWN_THRESHOLD, calibrate, run_nab, suppress_repeats
from anomalert.sources.nab import load_windows, read_results, results_path

N = 1200


def _write(root: Path, name: str, seed: int, repeat: bool) -> tuple[str, list[list[str]]]:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2024-01-01", periods=N, freq="5min")
    values = 50 + 5 * np.sin(2 * np.pi * np.arange(N) / 288) + rng.normal(0, 1, N)
    values[900:920] += 40  # an incident inside the window
    stamps = list(idx.strftime("%Y-%m-%d %H:%M:%S"))
    if repeat:  # a DST-like repeated hour: rows keep their order and their count
        stamps[600:612] = stamps[588:600]
    rel = f"synthetic/{name}.csv"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"timestamp": stamps, "value": values}).to_csv(path, index=False)
    return rel, [[str(idx[880]), str(idx[940])]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("nab")
    data = root / "data"
    windows = dict(_write(data, f"series_{k}", k, repeat=k == 0) for k in range(2))
    wpath = root / "windows.json"
    wpath.write_text(json.dumps(windows), encoding="utf-8")
    return data, wpath


def test_calibration_is_monotone_and_maps_threshold_to_half() -> None:
    s = np.array([np.nan, 0.0, 1.0, 3.0, 9.0, np.inf])
    a = calibrate(s, 3.0)
    assert a[0] == 0.0 and a[3] == OWN_THRESHOLD and a[-1] == 1.0
    assert np.all(np.diff(a[1:]) > 0) and ((a >= 0) & (a <= 1)).all()
    assert suppress_repeats(np.array([0.1, 0.6, 0.6, 0.7, 0.2]), 2).tolist() == [
        0.1, 0.6, 0.0, 0.7, 0.0
    ]


def test_suppression_spans_time_on_a_series_with_gaps() -> None:
    """With the rows' times the window is ``window`` typical steps of time: the same rows on a
    regular series, but on one with a gap a later change is not hidden behind an old one."""
    rng = np.random.default_rng(0)
    scores = rng.random(400)
    regular = pd.date_range("2024-01-01", periods=400, freq="5min")
    assert np.array_equal(suppress_repeats(scores, 20, regular), suppress_repeats(scores, 20))
    gappy = regular.append(regular[-1] + pd.Timedelta(days=3) + pd.to_timedelta(
        np.arange(5) * 5, "min"))
    a = np.concatenate([np.zeros(399), [0.9], [0.1, 0.1, 0.8, 0.1, 0.1]])
    by_rows = suppress_repeats(a, 20)
    by_time = suppress_repeats(a, 20, gappy)
    assert by_rows[402] == 0.0  # 0.8 is within 20 rows of the 0.9, three days earlier
    assert by_time[402] == 0.8  # but 3 days are far beyond 20 five-minute steps
    assert by_time[399] == 0.9 and by_time[403] == 0.0
    with pytest.raises(ValueError, match="index has"):
        suppress_repeats(a, 20, regular)


def test_run_nab_rows_order_and_rescoring(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    data, wpath = corpus
    run = run_nab(data, wpath, "likelihood", results_dir=tmp_path)
    assert len(run.files) == 2
    assert run.files[0].repeated == 12 and any("repeated" in n for n in run.notes)
    for f in run.files:
        src = pd.read_csv(data / f.relpath)
        out = read_results(results_path(tmp_path / "likelihood", f.relpath, "likelihood"))
        assert len(out) == len(src) == len(f.anomaly_score)
        assert np.allclose(out["value"].to_numpy(), src["value"].to_numpy())
        assert list(out.index.strftime("%Y-%m-%d %H:%M:%S")) == list(src["timestamp"])
        assert ((out["anomaly_score"] >= 0) & (out["anomaly_score"] <= 1)).all()
        assert out["label"].sum() > 0
    again = score_results_dir(tmp_path / "likelihood", load_windows(wpath))
    for name, res in run.optimised.items():
        assert again[name].score == pytest.approx(res.score, abs=1e-9)
    assert set(run.own) == set(run.optimised)
    assert run.optimised["standard"].score > 50  # the obvious incident is found


def test_cli_prints_profiles(corpus: tuple[Path, Path], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    data, wpath = corpus
    out_json = tmp_path / "s.json"
    rc = main(["nab", str(data), "--windows", str(wpath), "--detector", "zscore",
               "--results", str(tmp_path / "r"), "--json", str(out_json)])
    captured = capsys.readouterr()
    assert rc == 0
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        assert profile in captured.out
    assert "[2/2]" in captured.err
    summary = json.loads(out_json.read_text())
    assert set(summary["optimised"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}


def test_cli_policy_says_what_the_detector_learns_from(
    corpus: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--policy monitor`` runs the files as ``detect`` and ``watch`` would: the incident's
    flagged rows are not learned, so it alerts for longer than when every row is learned."""
    data, wpath = corpus
    alerting = {}
    for policy in ("nab", "monitor"):
        assert main(["nab", str(data), "--windows", str(wpath), "-q", "--policy", policy]) == 0
        out = capsys.readouterr().out
        head = out.splitlines()[0]
        assert ("learning every point" in head) == (policy == "nab")
        alerting[policy] = int(head.rsplit("; ", 1)[1].split()[0])
    assert alerting["monitor"] > alerting["nab"] > 0
    with pytest.raises(SystemExit):
        main(["nab", str(data), "--windows", str(wpath), "--policy", "sometimes"])


@pytest.mark.parametrize("case", ["missing_dir", "bad_json", "bad_windows", "bad_detector"])
def test_cli_bad_inputs(case: str, corpus: tuple[Path, Path], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    data, wpath = corpus
    bad = tmp_path / "w.json"
    bad.write_text({"bad_json": "{not json", "bad_windows": '{"a.csv": [["x"]]}'}.get(case, "{}"))
    args = ["nab", str(tmp_path / "nope") if case == "missing_dir" else str(data), "--windows",
            str(bad if case in ("bad_json", "bad_windows") else wpath), "-q"]
    if case == "bad_detector":
        args += ["--detector", "no-such-detector"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("anomalert: error:")


def test_run_nab_accepts_a_detector_instance(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    from anomalert.detectors import ZScore
    from anomalert.errors import InputError

    data, wpath = corpus
    by_name = run_nab(data, wpath, "zscore", results_dir=tmp_path / "a")
    det = ZScore()
    by_instance = run_nab(data, wpath, det, results_dir=tmp_path / "b")
    assert by_instance.detector == "zscore" and not det.is_fitted  # each file gets a clone
    for a, b in zip(by_name.files, by_instance.files, strict=True):
        assert a.relpath == b.relpath and a.threshold == b.threshold
        np.testing.assert_array_equal(a.raw, b.raw)
        np.testing.assert_array_equal(a.anomaly_score, b.anomaly_score)
        written = read_results(results_path(tmp_path / "b" / "zscore", b.relpath, "zscore"))
        np.testing.assert_allclose(written["anomaly_score"].to_numpy(), b.anomaly_score)
    for profile, res in by_name.optimised.items():
        assert by_instance.optimised[profile].score == res.score
        assert by_instance.own[profile].score == by_name.own[profile].score
    # parameters of the instance are used, not the registry defaults
    other = run_nab(data, wpath, ZScore(window=50, min_periods=10))
    assert any(not np.array_equal(a.raw, b.raw, equal_nan=True)
               for a, b in zip(by_name.files, other.files, strict=True))
    with pytest.raises(InputError, match="registry name or a Detector"):
        run_nab(data, wpath, 42)  # type: ignore[arg-type]


def test_details_show_each_window_and_false_positives(
    corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, wpath = corpus
    run = run_nab(data, wpath, "default")
    details = run.details()
    assert [d["file"] for d in details] == [f.relpath for f in run.files]
    for d, res in zip(details, run.optimised["standard"].files, strict=True):
        assert d["fp"]["optimised"] == res.fp and len(d["windows"]) == 1
        win = d["windows"][0]["optimised"]
        assert win["reward"] > 0.5  # the 40-unit incident is found early in its window
        assert d["windows"][0]["start"] <= win["detected"] <= d["windows"][0]["end"]
    out_json = tmp_path / "d.json"
    assert main(["nab", str(data), "--windows", str(wpath), "-q", "--details",
                 "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "per file (standard)" in out and "synthetic/series_1.csv: fp" in out
    saved = json.loads(out_json.read_text())["details"]
    assert set(saved) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert saved["standard"] == json.loads(json.dumps(details))


def test_a_file_not_in_the_windows_file_is_skipped_and_counted(
    corpus: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file missing from windows.json raised a bare UserWarning (with a source line) and
    was scored as anomaly-free, which moved the score. NAB scores only the files it lists:
    it is skipped, and one note says how many."""
    import shutil
    import warnings

    data, wpath = corpus
    extra = tmp_path / "data"
    shutil.copytree(data, extra)
    _write(extra, "unlisted", 7, repeat=False)
    json_out = tmp_path / "n.json"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning escapes
        assert main(["nab", str(extra), "--windows", str(wpath), "-q", "--json",
                     str(json_out)]) == 0
        with_extra = capsys.readouterr()
        assert main(["nab", str(data), "--windows", str(wpath), "-q"]) == 0
        listed_only = capsys.readouterr()
    assert with_extra.err.splitlines() == [
        "note: 1 file(s) not in the windows file skipped, not scored (synthetic/unlisted.csv); "
        "NAB scores only the files it lists (list a file with [] to score it as anomaly-free)",
        *listed_only.err.splitlines(),
    ]
    assert "on 2 files" in with_extra.out
    assert with_extra.out == listed_only.out  # the same scores as without the file
    summary = json.loads(json_out.read_text())
    assert summary["files"] == 2 and summary["skipped_files"] == ["synthetic/unlisted.csv"]
    empty = tmp_path / "w.json"
    empty.write_text("{}")
    code = main(["nab", str(data), "--windows", str(empty), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "none of its 2 CSV file(s) is in the windows file" in err


def test_cli_header_gives_the_detectors_own_threshold(
    corpus: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The header said 'own threshold 0.5' (NAB's rescaled value) while zscore's threshold
    is in its score units: both are printed, with the mapping between them."""
    data, wpath = corpus
    assert main(["nab", str(data), "--windows", str(wpath), "-q", "--detector", "zscore"]) == 0
    lines = capsys.readouterr().out.splitlines()
    run = run_nab(data, wpath, "zscore")
    thetas = sorted({f.threshold for f in run.files})
    assert lines[1].startswith("thresholds on NAB's 0-1 scale: anomaly score a = s / (s + θ), ")
    shown = (f"θ = {thetas[0]:.4g} on every file" if len(thetas) == 1
             else f"θ {thetas[0]:.4g} to {thetas[-1]:.4g}, each file its own")
    assert f"({shown}); 'own' scores at s = θ, a = 0.5" in lines[1]
    assert lines[2].split() == ["profile", "optimised", "threshold", "(s/θ)", "own"]
    opt = run.optimised["standard"].threshold
    assert lines[3].split()[2:4] == [f"{opt:.3f}", f"{opt / (1 - opt):.3g}"]
