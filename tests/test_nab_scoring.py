"""Tests of the NAB score (anomalert.evaluation.nab) and the NAB reader/writer (anomalert.sources.nab).

Hand-worked numbers use ``S(x) = 2 / (1 + exp(5x)) - 1 = -tanh(2.5 x)`` (NAB's scaled
sigmoid). A window spanning rows ``[s, e]`` has width ``w = e - s + 1``; a detection at
row ``i`` inside it is worth ``tp * S(-(e - i + 1) / w) / S(-1)
= tp * tanh(2.5 (e - i + 1) / w) / tanh(2.5)``; a detection at row ``i`` after it costs
``fp * S((i - e) / (w - 1))``, and ``-fp`` before any window.

Most tiny examples use 20 integer timestamps 0..19: the probationary period is
``min(floor(0.15 * 20), 0.15 * 5000) = 3`` rows (rows 0, 1, 2 are never scored), and one
window on rows 10..13 (``w = 4``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anomalert.errors import InputError, ParameterError
from anomalert.evaluation.nab import (
    PROFILES,
    nab_score,
    nab_scores,
    optimize_threshold,
    probationary_length,
    scaled_sigmoid,
    score_file,
    score_results_dir,
    sweep,
)
from anomalert.sources.nab import (
    data_relpath,
    iter_nab_files,
    load_windows,
    read_nab_csv,
    read_results,
    results_path,
    window_labels,
    write_results,
)

NAB_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nab"
needs_data = pytest.mark.skipif(not NAB_DIR.is_dir(), reason=f"NAB data not found at {NAB_DIR}")

TS = np.arange(20)
WINDOW = [(10, 13)]
TS100 = np.arange(100)  # probation: floor(0.15 * 100) = 15 rows
WINDOW100 = [(50, 53)]  # w = 4, like WINDOW
STD = "standard"


def fire_at(*rows: int, n: int = 20) -> np.ndarray:
    scores = np.zeros(n)
    scores[list(rows)] = 1.0
    return scores


def tp_value(i: int, s: int = 10, e: int = 13) -> float:
    w = e - s + 1
    return math.tanh(2.5 * (e - i + 1) / w) / math.tanh(2.5)


# --- constants and building blocks -------------------------------------------------------------


def test_profiles_are_nabs() -> None:
    # config/profiles.json in NAB v1.1: (tp, fn, fp) = (1, 1, 0.11), (1, 1, 0.22), (1, 2, 0.11).
    assert PROFILES["standard"] == {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}
    assert PROFILES["reward_low_FP_rate"]["fpWeight"] == 0.22
    assert PROFILES["reward_low_FN_rate"]["fnWeight"] == 2.0


@pytest.mark.parametrize(
    ("n", "percent", "expected"),
    [(20, 0.15, 3), (100, 0.15, 15), (4032, 0.15, 604), (4730, 0.15, 709), (6000, 0.15, 750),
     (6000, 0.1, 500), (100, 0.0, 0), (100, 1.0, 100)],
)
def test_probationary_length(n: int, percent: float, expected: int) -> None:
    # min(floor(p * n), p * 5000): the cap only bites above 5000 rows.
    assert probationary_length(n, percent) == expected


def test_scaled_sigmoid_values() -> None:
    # S(-1) = 2*sigmoid(5) - 1 = 0.98661, S(-0.5) = 0.84828, S(0) = 0, S(1) = -0.98661,
    # and anything beyond 3 window-widths is exactly -1.
    got = scaled_sigmoid(np.array([-1.0, -0.5, 0.0, 1.0, 3.0, 3.01, np.inf]))
    np.testing.assert_allclose(got[:5], [0.9866143, 0.8482836, 0.0, -0.9866143, -math.tanh(7.5)],
                               atol=1e-7)
    assert got[5] == -1.0 and got[6] == -1.0


# --- one file, hand-worked ---------------------------------------------------------------------


def test_detection_at_window_start_earns_tp_weight() -> None:
    # Row 10 is the window's first row: S(-4/4) / S(-1) = 1, times tp = 1.
    fs = score_file(TS, fire_at(10), WINDOW, 0.5, STD)
    assert fs.score == pytest.approx(1.0)
    assert fs.window_first_rows == (10,) and fs.window_scores[0] == pytest.approx(1.0)
    assert (fs.tp, fs.fp, fs.fn, fs.tn, fs.total) == (1, 0, 3, 13, 17)


def test_later_detection_in_window_earns_less() -> None:
    # Row 12: tanh(2.5 * 2/4) / tanh(2.5) = 0.848284 / 0.986614 = 0.859793.
    fs = score_file(TS, fire_at(12), WINDOW, 0.5, STD)
    assert fs.score == pytest.approx(0.8597926, abs=1e-6)
    # Last row 13: tanh(2.5 * 1/4) / tanh(2.5) = 0.562124.
    assert score_file(TS, fire_at(13), WINDOW, 0.5, STD).score == pytest.approx(0.5621241, abs=1e-6)


def test_only_first_detection_in_window_counts() -> None:
    # Rows 11, 12, 13 all fire: the window is worth its earliest, row 11:
    # tanh(2.5 * 3/4) / tanh(2.5) = 0.966989 (not a sum).
    fs = score_file(TS, fire_at(11, 12, 13), WINDOW, 0.5, STD)
    assert fs.score == pytest.approx(tp_value(11)) == pytest.approx(0.9669891, abs=1e-6)
    assert fs.window_first_rows == (11,)
    assert fs.tp == 3  # NAB's row counts still count every detected window row


def test_no_detection_costs_fn_weight() -> None:
    assert score_file(TS, fire_at(), WINDOW, 0.5, STD).score == pytest.approx(-1.0)
    assert score_file(TS, fire_at(), WINDOW, 0.5, "reward_low_FN_rate").score == pytest.approx(-2.0)


def test_false_positive_before_any_window_costs_full_fp_weight() -> None:
    # Row 5 fires (no window left yet): -fp = -0.11; the window is missed: -1.
    fs = score_file(TS, fire_at(5), WINDOW, 0.5, STD)
    assert fs.score == pytest.approx(-1.11)
    assert (fs.tp, fs.fp) == (0, 1)
    fs = score_file(TS, fire_at(5), WINDOW, 0.5, "reward_low_FP_rate")
    assert fs.score == pytest.approx(-1.22)


def test_false_positive_after_window_weighted_by_distance() -> None:
    # Row 14 is 1 row past the end (13): S(1/3) = -tanh(2.5/3) = -0.681947, * 0.11 = -0.075013.
    # Row 15: S(2/3) = -tanh(5/3) = -0.931109, * 0.11 = -0.102422. Plus the missed window: -1.
    assert score_file(TS, fire_at(14), WINDOW, 0.5, STD).score == pytest.approx(-1.0750488, abs=1e-6)
    assert score_file(TS, fire_at(15), WINDOW, 0.5, STD).score == pytest.approx(-1.1024221, abs=1e-6)
    # Both, and a detection in the window at row 10: 1 - 0.075049 - 0.102422.
    fs = score_file(TS, fire_at(10, 14, 15), WINDOW, 0.5, STD)
    assert fs.score == pytest.approx(1 - 0.0750488 - 0.1024221, abs=1e-6)


def test_probationary_rows_are_ignored() -> None:
    # Rows 0..2 are probationary: a detection there neither costs nor earns.
    assert score_file(TS, fire_at(0, 1, 2), WINDOW, 0.5, STD).score == pytest.approx(-1.0)
    # A window wholly inside the probation is not scored at all (no fn either).
    fs = score_file(TS, fire_at(), [(0, 2)], 0.5, STD)
    assert fs.score == 0.0 and fs.window_scores == (None,)
    # A window straddling it (rows 1..5, w = 5): only rows >= 3 count; row 3 is worth
    # tanh(2.5 * 3/5) / tanh(2.5) = 0.919213 (its position still uses the whole window).
    fs = score_file(TS, fire_at(1, 3), [(1, 5)], 0.5, STD)
    assert fs.score == pytest.approx(math.tanh(1.5) / math.tanh(2.5))


def test_detection_is_score_greater_or_equal_threshold() -> None:
    scores = np.zeros(20)
    scores[10] = 0.7
    assert score_file(TS, scores, WINDOW, 0.7, STD).score == pytest.approx(1.0)  # >= counts
    assert score_file(TS, scores, WINDOW, 0.7000001, STD).score == pytest.approx(-1.0)


def test_repeated_timestamps_are_handled_by_row() -> None:
    # Real NAB files repeat timestamps. Here row 10 repeats t=9: the window (7, 9) spans
    # rows 7..9 (w = 3) and is left at row 9, so row 10 is a false positive one row after
    # it: 0.11 * S(1/2) = -0.11 * tanh(1.25) = -0.093311; plus the missed window, -1.
    ts = np.r_[np.arange(10), 9, np.arange(10, 19)]
    fs = score_file(ts, fire_at(10), [(7, 9)], 0.5, STD)
    assert fs.score == pytest.approx(-1.0 - 0.11 * math.tanh(1.25))


def test_datetime_timestamps_and_windows() -> None:
    idx = pd.date_range("2014-02-14 14:30", periods=20, freq="5min", tz="UTC")
    naive = [(idx[10].tz_localize(None), idx[13].tz_localize(None))]  # naive windows = UTC
    assert score_file(idx, fire_at(12), naive, 0.5, STD).score == pytest.approx(tp_value(12))


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(InputError, match="not one of the timestamps"):
        score_file(TS, fire_at(), [(10, 99)], 0.5, STD)
    with pytest.raises(InputError, match="NaN"):
        score_file(TS, np.full(20, np.nan), WINDOW, 0.5, STD)
    with pytest.raises(InputError, match="19 anomaly scores for 20"):
        score_file(TS, np.zeros(19), WINDOW, 0.5, STD)
    with pytest.raises(ParameterError, match="'profile'"):
        score_file(TS, fire_at(), WINDOW, 0.5, "lenient")


# --- sweep, optimisation, normalisation --------------------------------------------------------


def sweep_example() -> np.ndarray:
    scores = np.full(20, 0.1)
    scores[10] = 0.6  # window start
    scores[5] = 0.9  # false positive before the window
    return scores


def test_sweep_lists_nab_thresholds_and_totals() -> None:
    # Thresholds, NAB's order: 1.1 (never fire), then distinct scores high to low.
    #   1.1 -> window missed: -1
    #   0.9 -> + FP at row 5 before any window: -1 - 0.11 = -1.11
    #   0.6 -> window caught at its start: 1 - 0.11 = 0.89
    #   0.1 -> everything fires: 1 - 0.11*7 (rows 3..9) - 0.11*sum_{d=1..6} tanh(2.5 d/3)
    thresholds, totals = sweep([(TS, sweep_example(), WINDOW)], STD)
    np.testing.assert_array_equal(thresholds, [1.1, 0.9, 0.6, 0.1])
    after = 0.11 * sum(math.tanh(2.5 * d / 3) for d in range(1, 7))
    np.testing.assert_allclose(totals, [-1.0, -1.11, 0.89, 1 - 0.77 - after])


def test_optimize_threshold_picks_the_best() -> None:
    threshold, raw = optimize_threshold([(TS, sweep_example(), WINDOW)], STD)
    assert threshold == 0.6 and raw == pytest.approx(0.89)
    threshold, raw = optimize_threshold([(TS, sweep_example(), WINDOW)], "reward_low_FP_rate")
    assert threshold == 0.6 and raw == pytest.approx(0.78)


def test_optimize_threshold_is_joint_over_files() -> None:
    # File A wants threshold 0.6 (its FP at row 5 scores 0.9, window row 0.6).
    # File B's window row scores 0.95 and a FP at row 5 scores 0.5.
    # Jointly: 1.1 -> -2; 0.95 -> -1 + 1 = 0; 0.9 -> -0.11; 0.6 -> 0.89 + 1 = 1.89;
    # 0.5 -> 1.89 - 0.11 = 1.78; 0.1 -> much lower. Best: 0.6 with 1.89.
    b = np.zeros(20)
    b[10], b[5] = 0.95, 0.5
    files = [(TS, sweep_example(), WINDOW), (TS, b, WINDOW)]
    threshold, raw = optimize_threshold(files, STD)
    assert threshold == 0.6 and raw == pytest.approx(1.89)
    result = nab_score(files, STD)
    assert result.threshold == 0.6 and result.raw == pytest.approx(1.89)
    assert [f.score for f in result.files] == pytest.approx([0.89, 1.0])


def test_perfect_detector_scores_100_and_null_scores_0() -> None:
    windows2 = [(5, 7), (12, 15)]
    perfect = fire_at(5, 12)
    for name in PROFILES:
        assert nab_score([(TS, perfect, windows2)], name).score == pytest.approx(100.0)
        # Any constant detector is NAB's null detector (constant 0.5): the baseline itself.
        assert nab_score([(TS, np.full(20, 0.5), windows2)], name).score == pytest.approx(0.0)
        assert nab_score([(TS, np.zeros(20), windows2)], name).score == pytest.approx(0.0)
        # On 100 rows the baseline is "never fire" (-fn per window); a detector that
        # never reaches the threshold scores 0 there too.
        silent = np.zeros(100)
        silent[:15] = 1.0  # fires only in the probationary period
        res = nab_score([(TS100, silent, [(40, 45), (70, 80)])], name)
        assert res.null == -2 * PROFILES[name]["fnWeight"]
        assert res.threshold == 1.1 and res.score == pytest.approx(0.0)


def test_normalised_score_by_hand() -> None:
    # 100 rows, one window on rows 50..53, the detector fires on row 52 only:
    # raw = tanh(2.5 * 2/4) / tanh(2.5) = 0.859793; perfect = 1 window * tp = 1.
    # null = NAB's null detector (constant 0.5) at its best threshold: firing nowhere
    # gives -1; firing everywhere gives 1 - 0.11 * (35 rows before + ~45 after) < -1.
    # Score = 100 * (0.859793 + 1) / (1 + 1) = 92.98963.
    res = nab_score([(TS100, fire_at(52, n=100), WINDOW100)], STD)
    assert (res.null, res.perfect) == (-1.0, 1.0)
    assert res.score == pytest.approx(100 * (tp_value(52, 50, 53) + 1) / 2)
    # reward_low_FN_rate: null = -2, so 100 * (0.859793 + 2) / 3 = 95.32642.
    res = nab_score([(TS100, fire_at(52, n=100), WINDOW100)], "reward_low_FN_rate")
    assert res.score == pytest.approx(100 * (tp_value(52, 50, 53) + 2) / 3)


def test_null_baseline_is_nabs_optimised_constant_detector() -> None:
    # NAB normalises by its null detector's *optimised* total. On a tiny file firing
    # everywhere beats firing nowhere: 20 rows, window 10..13, everything fires:
    # 1 - 0.11 * 7 (rows 3..9) - 0.11 * sum_{d=1..6} tanh(2.5 d / 3) = -0.385656 > -1.
    res = nab_score([(TS, fire_at(12), WINDOW)], STD)
    after = 0.11 * sum(math.tanh(2.5 * d / 3) for d in range(1, 7))
    assert res.null == pytest.approx(1 - 0.77 - after)
    assert res.score == pytest.approx(100 * (tp_value(12) - res.null) / (1 - res.null))


def test_fixed_threshold_scores_at_that_threshold() -> None:
    # 100 rows; row 52 (in the window, worth 0.859793) scores 0.6, row 20 (before the
    # window, -0.11) scores 0.9. At threshold 0.9 only the false positive fires:
    # raw = -1 - 0.11 = -1.11, normalised 100 * (-1.11 + 1) / 2 = -5.5.
    scores = np.zeros(100)
    scores[52], scores[20] = 0.6, 0.9
    res = nab_score([(TS100, scores, WINDOW100)], STD, threshold=0.9)
    assert res.threshold == 0.9 and res.raw == pytest.approx(-1.11)
    assert res.score == pytest.approx(-5.5)
    assert res.counts == {"tp": 0, "fp": 1, "fn": 4, "tn": 80}
    # Optimised instead: 0.6 catches the window too: 0.859793 - 0.11.
    res = nab_score([(TS100, scores, WINDOW100)], STD)
    assert res.threshold == 0.6 and res.raw == pytest.approx(tp_value(52, 50, 53) - 0.11)


# --- the shared NAB data -----------------------------------------------------------------------


def rolling_zscore(values: np.ndarray, window: int = 288) -> np.ndarray:
    """Causal baseline: |x - mean| / std over the previous day (288 five-minute rows), in [0, 1)."""
    past = pd.Series(values).shift(1)
    mean = past.rolling(window, min_periods=window // 4).mean()
    std = past.rolling(window, min_periods=window // 4).std().replace(0.0, np.nan)
    z = ((pd.Series(values) - mean).abs() / std).fillna(0.0).to_numpy()
    return 1.0 - np.exp(-z / 3.0)


@pytest.fixture(scope="module")
def nab_files() -> list:
    if not NAB_DIR.is_dir():
        pytest.skip(f"NAB data not found at {NAB_DIR}")
    windows = load_windows(NAB_DIR / "windows.json")
    return list(iter_nab_files(NAB_DIR, windows))


@needs_data
def test_reads_the_shared_corpus(nab_files: list) -> None:
    windows = load_windows(NAB_DIR / "windows.json")
    assert len(windows) == 17 and sum(len(w) for w in windows.values()) == 30
    assert [f.relpath for f in nab_files] == sorted(windows)
    first = nab_files[0]
    assert first.relpath == "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"
    assert str(first.frame.index.tz) == "UTC" and first.frame.index.name == "timestamp"
    assert list(first.frame.columns) == ["value"] and first.frame["value"].dtype == float
    assert len(first.frame) == 4032 and first.frame["value"].iloc[0] == 0.132
    # Two files repeat '2014-03-09 03:00:00' (daylight saving); rows are kept, in order.
    repeats = {f.relpath.split("/")[1]: f.repeated_timestamps for f in nab_files if f.repeated_timestamps}
    assert repeats == {"ec2_disk_write_bytes_1ef3de.csv": 11, "ec2_network_in_5abac7.csv": 11}


@needs_data
def test_baseline_on_shared_corpus(nab_files: list) -> None:
    files = [(f.frame.index, rolling_zscore(f.frame["value"].to_numpy()), f.windows) for f in nab_files]
    results = nab_scores(files)
    for name, res in results.items():
        print(f"rolling z-score baseline, {name}: {res.score:.2f} (threshold {res.threshold:.4f})")
        assert 0.0 <= res.score <= 100.0
        assert res.perfect == 30.0 and res.null == -30.0 * PROFILES[name]["fnWeight"]


@needs_data
def test_results_round_trip(nab_files: list, tmp_path: Path) -> None:
    out_dir = tmp_path / "zscore"
    files = []
    for f in nab_files:
        scores = rolling_zscore(f.frame["value"].to_numpy())
        path = write_results(out_dir, f.relpath, f.frame, scores, f.windows)
        files.append((f.frame.index, scores, f.windows))
    # NAB's layout and naming: <results>/<detector>/<subfolder>/<detector>_<file>.csv
    path = out_dir / "realAWSCloudwatch" / "zscore_ec2_cpu_utilization_24ae8d.csv"
    assert path.is_file()
    assert data_relpath(out_dir, path) == "realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv"
    lines = path.read_text().splitlines()
    source = (NAB_DIR / "realAWSCloudwatch" / "ec2_cpu_utilization_24ae8d.csv").read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,label"
    assert [ln.split(",")[0] for ln in lines[1:]] == [ln.split(",")[0] for ln in source[1:]]
    back = read_results(path)
    assert back["label"].sum() == window_labels(nab_files[0].frame.index, nab_files[0].windows).sum()
    assert back["label"].sum() == 2 * 201  # two windows of 16h40 = 201 five-minute rows

    in_memory = nab_scores(files)
    from_disk = score_results_dir(out_dir, load_windows(NAB_DIR / "windows.json"))
    for name in PROFILES:
        assert from_disk[name].threshold == in_memory[name].threshold
        assert from_disk[name].score == pytest.approx(in_memory[name].score, abs=1e-9)


# --- reader / writer edge cases ----------------------------------------------------------------


def test_malformed_csv_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "data" / "sub" / "bad.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,oops\n")
    with pytest.raises(InputError, match=r"sub/bad\.csv: line 3, column 'value'"):
        list(iter_nab_files(tmp_path / "data", {"sub/bad.csv": []}))
    bad.write_text("timestamp,value\nyesterday,1\n")
    with pytest.raises(InputError, match="line 2, column 'timestamp'"):
        read_nab_csv(bad)
    bad.write_text("time,v\n2014-01-01 00:00:00,1\n")
    with pytest.raises(InputError, match="no 'timestamp' column"):
        read_nab_csv(bad)


def test_missing_windows_skip_and_bad_windows_raise(tmp_path: Path) -> None:
    """A file the windows file does not list is skipped (NAB scores only listed files), with
    a warning or in ``skipped``; one listed with [] is scored as anomaly-free."""
    data = tmp_path / "data"
    (data / "s").mkdir(parents=True)
    (data / "s" / "a.csv").write_text("timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,2\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files = list(iter_nab_files(data, {}))
    assert files == [] and len(caught) == 1 and "s/a.csv" in str(caught[0].message)
    skipped: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(iter_nab_files(data, {}, skipped=skipped)) == [] and skipped == ["s/a.csv"]
    assert [f.windows for f in iter_nab_files(data, {"s/a.csv": []})] == [[]]
    wfile = tmp_path / "windows.json"
    wfile.write_text('{"s/a.csv": [["2014-01-01 00:01:00", "2014-01-01 00:05:00"]]}')
    with pytest.raises(InputError, match="window 0 start .* is not a timestamp of the file"):
        list(iter_nab_files(data, load_windows(wfile)))
    wfile.write_text('{"s/a.csv": [["2014-01-01 00:05:00"]]}')
    with pytest.raises(InputError, match="'s/a.csv' window 0: expected \\[start, end\\]"):
        load_windows(wfile)


def test_write_results_checks_scores(tmp_path: Path) -> None:
    idx = pd.date_range("2014-01-01", periods=3, freq="5min", tz="UTC", name="timestamp")
    frame = pd.DataFrame({"value": [1.0, 2.0, 3.0]}, index=idx)
    with pytest.raises(InputError, match="row 1: anomaly_score 1.5 is outside"):
        write_results(tmp_path / "d", "s/a.csv", frame, [0.0, 1.5, 0.0], [])
    # NaN (a detector's warm-up) is written as 0.0, NAB's "no anomaly".
    path = write_results(tmp_path / "d", "s/a.csv", frame, [np.nan, 0.25, 1.0], [(idx[2], idx[2])])
    assert path == results_path(tmp_path / "d", "s/a.csv") == tmp_path / "d" / "s" / "d_a.csv"
    back = read_results(path)
    assert back["anomaly_score"].tolist() == [0.0, 0.25, 1.0] and back["label"].tolist() == [0, 0, 1]
