"""Validation at the boundary: clear errors, counted fixes, nothing dropped silently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from anomalert.data import validate_frame
from anomalert.errors import InputError
from anomalert.events import Event, split_labels, to_events, to_labels


def test_sorts_and_deduplicates_with_counts() -> None:
    raw = pd.DataFrame(
        {
            "timestamp": ["2025-01-01T00:02Z", "2025-01-01T00:00Z", "2025-01-01T00:01Z",
                          "2025-01-01T00:01Z"],
            "cpu": [3.0, 1.0, 2.0, 2.5],
        }
    )
    frame, report = validate_frame(raw, source="x.csv")
    assert list(frame["cpu"]) == [1.0, 2.5, 3.0]
    assert report.unsorted and report.duplicates == 1 and report.rows_out == 3
    assert any("1 duplicate" in line for line in report.lines())
    assert str(frame.index.tz) == "UTC" and frame.index.name == "timestamp"


def test_reports_gaps_nan_and_constant_columns() -> None:
    idx = list(pd.date_range("2025-01-01", periods=5, freq="1min", tz="UTC"))
    idx.append(idx[-1] + pd.Timedelta("10min"))
    raw = pd.DataFrame({"timestamp": idx, "a": [1, 2, np.nan, 4, 5, 6], "b": [7.0] * 6})
    frame, report = validate_frame(raw, source="g.csv")
    assert report.gaps == 1 and report.largest_gap == pd.Timedelta("10min")
    assert report.nan_values["a"] == 1 and report.constant_columns == ["b"]
    assert len(frame) == 6  # nothing dropped


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (pd.DataFrame(), "no rows"),
        (pd.DataFrame({"value": [1.0]}), "no timestamp column"),
        (pd.DataFrame({"timestamp": ["yesterday-ish"], "v": [1.0]}), "row 1, column 'timestamp'"),
        (pd.DataFrame({"timestamp": ["2025-01-01T00:00", "2025-01-01T00:01+02:00"], "v": [1, 2]}),
         "row 2 '2025-01-01T00:01\\+02:00'"),
        (pd.DataFrame({"timestamp": ["2025-01-01T00:00Z", "2025-01-01T00:01"], "v": [1, 2]}),
         "mixes timestamps with and without a UTC offset"),
        # not a timestamp at all among ones with an offset: not "mixes ... offset"
        (pd.DataFrame({"timestamp": [f"2025-01-01T00:0{m}Z" for m in range(5)] + ["not a date"],
                       "v": range(6)}),
         "^bad.csv: row 6, column 'timestamp': cannot parse timestamp 'not a date'; expected "),
        (pd.DataFrame({"timestamp": ["2025-01-01", "2025-01-02"], "v": ["1.0", "high"]}),
         "row 2, column 'v': 'high' is not a number"),
        (pd.DataFrame({"timestamp": ["2025-01-01", "2025-01-02"], "v": [np.nan, np.nan]}),
         "column 'v' has no usable values \\(all empty or NaN\\)"),
        (pd.DataFrame({"timestamp": ["2025-01-01", "2025-01-02"], "v": [np.inf, -1e200]}),
         "column 'v' has no usable values \\(all infinite or out of range\\)"),
        (pd.DataFrame({"timestamp": ["2025-01-01"], "is_anomaly": [0]}), "no metric columns"),
    ],
)
def test_clear_errors(raw: pd.DataFrame, message: str) -> None:
    with pytest.raises(InputError, match=message):
        validate_frame(raw, source="bad.csv")


def test_numeric_unix_timestamps_and_naive_strings_become_utc() -> None:
    frame, _ = validate_frame(pd.DataFrame({"timestamp": [1735689600, 1735689660], "v": [1, 2]}))
    assert frame.index[0] == pd.Timestamp("2025-01-01", tz="UTC")
    frame, _ = validate_frame(pd.DataFrame({"time": ["2025-01-01 00:00"], "v": [1]}))
    assert frame.index[0] == pd.Timestamp("2025-01-01", tz="UTC")


def test_events_round_trip_and_kinds() -> None:
    idx = pd.date_range("2025-01-01", periods=8, freq="1min", tz="UTC")
    kinds = pd.Series(["normal", "a", "a", "b", "normal", "normal", "a", "normal"], index=idx)
    labels = kinds != "normal"
    events = to_events(labels, kinds)
    assert [(e.kind, e.start.minute, e.end.minute) for e in events] == [
        ("a", 1, 2), ("b", 3, 3), ("a", 6, 6)
    ]
    assert to_labels(events, idx).equals(labels.rename("is_anomaly"))
    assert Event(idx[0], idx[2]).overlaps(idx[2], idx[5])
    assert not Event(idx[0], idx[1]).overlaps(idx[2], idx[5])


def test_split_labels_accepts_text_booleans_and_rejects_junk() -> None:
    idx = pd.date_range("2025-01-01", periods=3, freq="1min", tz="UTC")
    frame = pd.DataFrame({"v": [1.0, 2, 3], "is_anomaly": ["true", "0", "1"]}, index=idx)
    _, truth, _ = split_labels(frame)
    assert truth is not None and truth.tolist() == [True, False, True]
    frame["is_anomaly"] = ["yes", "0", "1"]
    with pytest.raises(InputError, match="^lb.csv: column 'is_anomaly', row 1, at "
                       "2025-01-01T00:00:00Z: 'yes' is not a label; expected 0/1 or true/false"):
        split_labels(frame, source="lb.csv")
    frame["is_anomaly"] = [0, 1, 2]
    with pytest.raises(InputError, match="row 3, at 2025-01-01T00:02:00Z: 2 is not a label"):
        split_labels(frame)


@pytest.mark.parametrize("missing", [np.nan, None, " "])
def test_a_missing_label_is_refused_not_taken_as_normal(missing: object) -> None:
    """A missing is_anomaly value was read as 0 (normal) without a word; it is counted and
    refused."""
    idx = pd.date_range("2025-01-01", periods=4, freq="1min", tz="UTC")
    labels = [0.0, missing, 1.0, missing] if missing is not None else [0, None, 1, None]
    frame = pd.DataFrame({"v": [1.0, 2, 3, 4], "is_anomaly": labels}, index=idx)
    with pytest.raises(InputError, match=r"^lb.csv: column 'is_anomaly' has 2 missing label\(s\) "
                       r"\(first: row 2, at 2025-01-01T00:01:00Z\); expected 0/1 or true/false"):
        split_labels(frame, source="lb.csv")


@pytest.mark.parametrize("order", ["regular", "irregular", "descending", "repeats"])
def test_array_fast_paths_give_pandas_answers(order: str) -> None:
    """NaN counts, constant columns and the step are computed on arrays, and a strictly
    increasing index skips the sort and duplicate checks: the answers pandas gives."""
    rng = np.random.default_rng(3)
    idx = pd.date_range("2025-01-01", periods=60, freq="1min", tz="UTC")
    index = {
        "regular": idx,
        "irregular": idx[np.sort(rng.choice(60, 40, replace=False))],
        "descending": idx[::-1],
        "repeats": idx.insert(10, idx[10]).insert(30, idx[29]),
    }[order]
    n = len(index)
    raw = pd.DataFrame(
        {
            "a": np.where(np.arange(n) % 7 == 3, np.nan, rng.normal(size=n)),
            "zeros": np.where(np.arange(n) % 2 == 0, 0.0, -0.0),  # one value for nunique
            "held": np.where(np.arange(n) % 5 == 0, np.nan, 4.0),
        },
        index=index,
    )
    frame, report = validate_frame(raw)
    expected = raw.sort_index(kind="stable")
    expected = expected[~expected.index.duplicated(keep="last")]
    np.testing.assert_array_equal(frame.to_numpy(), expected.to_numpy())
    assert frame.index.equals(expected.index)
    assert report.unsorted == (not raw.index.is_monotonic_increasing)
    assert report.duplicates == int(raw.index.duplicated().sum())
    assert report.nan_values == {c: int(expected[c].isna().sum()) for c in expected}
    assert report.constant_columns == [c for c in expected if expected[c].nunique() <= 1]
    if order != "nat-first":
        diffs = pd.Series(np.diff(expected.index.as_unit("ns").asi8))
        assert report.step == pd.Timedelta(int(diffs[diffs > 0].mode().iloc[0]), unit="ns")


def test_offsets_across_a_daylight_saving_change_convert_to_utc() -> None:
    # Europe/Berlin local time: +01:00 until the clocks go forward, +02:00 after
    raw = pd.DataFrame({
        "timestamp": ["2025-03-30T01:55:00+01:00", "2025-03-30T03:00:00+02:00",
                      "2025-03-30T03:05:00+02:00"],
        "v": [1.0, 2.0, 3.0],
    })
    frame, report = validate_frame(raw, source="berlin.csv")
    assert list(frame.index) == list(pd.to_datetime(
        ["2025-03-30T00:55Z", "2025-03-30T01:00Z", "2025-03-30T01:05Z"]))
    assert report.step == pd.Timedelta("5min") and report.gaps == 0


def test_infinite_and_huge_values_are_counted_not_scored() -> None:
    idx = pd.date_range("2025-01-01", periods=6, freq="1min", tz="UTC")
    values = [-np.inf, np.inf, 1e308, -1e200, np.nan, 2.0]
    # the last row repeats the first's time: it is kept, the first (out of range) is not counted
    raw = pd.DataFrame({"timestamp": [*idx[:5], idx[0]], "v": values})
    frame, report = validate_frame(raw, source="big.csv")
    assert report.duplicates == 1
    assert report.out_of_range == {"v": 3} and report.nan_values == {"v": 1}
    assert frame["v"].iloc[0] == 2.0 and np.isnan(frame["v"].to_numpy()[1:]).all()
    lines = "\n".join(report.lines())
    assert "column 'v' has 3 infinite value(s) or beyond +-1e+150; not scored" in lines
    assert "1 missing value(s)" in lines


def test_unsorted_rows_are_counted() -> None:
    ts = ["2025-01-01T00:00Z", "2025-01-01T00:03Z", "2025-01-01T00:01Z", "2025-01-01T00:02Z",
          "2025-01-01T00:04Z"]
    _, report = validate_frame(pd.DataFrame({"timestamp": ts, "v": range(5)}), source="u.csv")
    assert report.rows_unsorted == 2
    assert "u.csv: 2 row(s) came before an earlier row's time; sorted them" in report.lines()


def test_gap_note_reads_as_a_duration() -> None:
    idx = list(pd.date_range("2025-01-01", periods=4, freq="5min", tz="UTC"))
    idx.append(idx[-1] + pd.Timedelta("1 days 17:45:00"))
    _, report = validate_frame(pd.DataFrame({"timestamp": idx, "v": range(5)}), source="g.csv")
    assert "(largest 1 d 17 h 45 min, step 5 min)" in "\n".join(report.lines())


@pytest.mark.parametrize("tz", [None, "UTC"])
def test_a_missing_time_in_a_time_index_is_an_error(tz: str | None) -> None:
    # as a missing value in a timestamp column is: a row with no time cannot be placed
    idx = pd.date_range("2025-01-01", periods=5, freq="1min", tz=tz)
    raw = pd.DataFrame({"v": range(5)}, index=pd.DatetimeIndex([*idx[:2], pd.NaT, *idx[3:]]))
    with pytest.raises(InputError, match="row 3, index: missing timestamp"):
        validate_frame(raw, source="nat")
