"""Checkpoints of one series that run at the same time (the watch loop's periodic one and a
push's own, say) reach the state file in the order they took the series: a later state is
never overwritten by an earlier one, and a restart restores the latest one written."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from anomalert.alerting.store import Store
from anomalert.server.runtime import ServiceState
from anomalert.server.series import SeriesRuntime

T0 = pd.Timestamp("2025-01-01", tz="UTC")


class _Gated(ServiceState):
    """A service state that says when the thread ``gated`` asks for the lock of series
    ``"b"``: a checkpoint takes its series in name order, so it has taken ``"a"`` by then."""

    gated: threading.Thread | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reached = threading.Event()  # (one per state: a test's own)

    def series_lock(self, name: str) -> AbstractContextManager[None]:
        if name == "b" and threading.current_thread() is self.gated:
            self.reached.set()
        return super().series_lock(name)


def _values(i: int) -> dict[str, float]:
    return {"cpu": 40.0 + (i * 7919 % 13) / 4}


def _score(state: ServiceState, rt: SeriesRuntime, points: range) -> None:
    with state.series_lock(rt.name):
        for i in points:
            values = _values(i)
            state.observe(rt, rt.monitor.check(T0 + pd.Timedelta(minutes=i), values), values)


def _two_series(state: ServiceState) -> tuple[SeriesRuntime, SeriesRuntime]:
    """Series ``a`` and ``b`` with 40 points written in full, then 5 more not written yet."""
    a, b = (state.create_series(n, ["cpu"], kind="push") for n in ("a", "b"))
    for rt in (a, b):
        _score(state, rt, range(40))
    assert state.checkpoint() == 2  # both new: in full
    for rt in (a, b):
        _score(state, rt, range(40, 45))
    return a, b


@contextmanager
def _journal_refused(path: Path) -> Iterator[None]:
    """SQLite refuses journal rows (a commit of changes fails) until the block ends."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TRIGGER no_journal BEFORE INSERT ON journal "
                   "BEGIN SELECT RAISE(ABORT, 'no journal'); END")
    try:
        yield
    finally:
        with sqlite3.connect(path) as db:
            db.execute("DROP TRIGGER no_journal")


def _restored(path: Path) -> Iterator[SeriesRuntime]:
    """The series as a restart (from what is committed in ``path``) restores them."""
    state = ServiceState(store=Store(path))
    assert state.restore() == 2
    yield from (state.series[n] for n in ("a", "b"))


def _same(live: SeriesRuntime, restored: SeriesRuntime) -> None:
    assert (restored.last_ts, restored.points) == (live.last_ts, live.points)
    state, again = live.monitor.detector.state_, restored.monitor.detector.state_
    assert state.keys() == again.keys()
    for key, value in state.items():  # the detector learned every point
        assert np.array_equal(value, again[key], equal_nan=True), key


@pytest.mark.parametrize("earlier", ["journal", "full"])
def test_a_checkpoint_that_took_a_series_earlier_never_overwrites_a_later_one(tmp_path, earlier):
    """The periodic checkpoint takes series ``a`` (its new points and alert state, or its
    full state) and is held up at ``b``; ``a`` scores more points and a checkpoint of its
    own takes and writes them. When the periodic one then writes, ``a`` in the state file
    is still the later state: a restart restores every point, the detector as it is live."""
    path = tmp_path / "s.db"
    state = _Gated(store=Store(path))
    a, b = _two_series(state)
    if earlier == "full":
        assert state.saver is not None
        state.saver.point("a", T0, None)  # a's next checkpoint writes it in full
    result: list[int | BaseException] = []

    def periodic() -> None:
        try:
            result.append(state.checkpoint())
        except BaseException as exc:  # (shown by the assertion below)
            result.append(exc)

    with state.series_lock("b"):  # the periodic checkpoint stops there, ``a`` taken
        state.gated = threading.Thread(target=periodic)
        state.gated.start()
        assert state.reached.wait(30)
        _score(state, a, range(45, 50))
        assert state.checkpoint(["a"]) == 1  # took ``a`` later, writes first
    state.gated.join(30)
    assert result == [2]
    for live, restored in zip((a, b), _restored(path), strict=True):
        _same(live, restored)
    # and the checkpoints after it continue from the latest state
    _score(state, a, range(50, 55))
    assert state.checkpoint() == 1
    for live, restored in zip((a, b), _restored(path), strict=True):
        _same(live, restored)


def test_after_a_failed_checkpoint_the_next_one_writes_the_series_in_full(tmp_path):
    """A checkpoint whose commit fails (here SQLite refuses journal rows) writes nothing and
    raises; the points it took are not lost: the next checkpoint writes the series in full,
    and a restart restores it as it is live."""
    path = tmp_path / "s.db"
    state = ServiceState(store=Store(path))
    a, b = _two_series(state)
    full = {r.name: r.state for r in Store(path).load_series()}
    with _journal_refused(path), pytest.raises(sqlite3.IntegrityError, match="no journal"):
        state.checkpoint()
    assert {r.name: (r.state, r.journal) for r in Store(path).load_series()} == {
        n: (s, ()) for n, s in full.items()}  # nothing written
    _score(state, a, range(45, 50))
    assert state.checkpoint() == 2  # both dirty again
    records = Store(path).load_series()
    assert [r.journal for r in records] == [(), ()]  # both in full
    assert all(r.state != full[r.name] for r in records)
    for live, restored in zip((a, b), _restored(path), strict=True):
        _same(live, restored)


def test_a_take_under_way_when_another_checkpoint_fails_is_taken_again_in_full(
    tmp_path, monkeypatch
):
    """Checkpoint 1 takes ``a`` (its new points), is held up at ``b``; checkpoint 2 starts
    taking ``a`` and is held up while it pickles ``a``'s alert state. Checkpoint 1's commit
    then fails (SQLite refuses journal rows): ``a``'s points taken by it are not written.
    Checkpoint 2 must not journal its later points on top of the stored state that lacks
    them: it takes ``a`` again, in full, and a restart restores ``a`` as it is live."""
    from anomalert.server import persist

    path = tmp_path / "s.db"
    state = _Gated(store=Store(path))
    a, _ = _two_series(state)
    pickling, go = threading.Event(), threading.Event()
    real = persist._alert_state

    def held(rt: SeriesRuntime, base: int) -> bytes:  # the real one, once checkpoint 2 may go
        if threading.current_thread() is second:
            pickling.set()
            assert go.wait(30)
        return real(rt, base)

    monkeypatch.setattr(persist, "_alert_state", held)
    outcome: dict[str, Any] = {}

    def run(key: str, names: list[str] | None) -> None:
        try:
            outcome[key] = state.checkpoint(names)
        except BaseException as exc:
            outcome[key] = exc

    second = threading.Thread(target=run, args=("second", ["a"]))
    with _journal_refused(path):
        with state.series_lock("b"):
            state.gated = threading.Thread(target=run, args=("first", None))
            state.gated.start()
            assert state.reached.wait(30)  # checkpoint 1 has taken ``a``
            _score(state, a, range(45, 50))  # (before checkpoint 2 holds ``a``'s lock)
            second.start()
            assert pickling.wait(30)  # checkpoint 2 is taking ``a``
        state.gated.join(30)  # checkpoint 1 took ``b`` and failed
    assert isinstance(outcome["first"], sqlite3.IntegrityError)
    go.set()
    second.join(30)
    assert outcome["second"] == 1
    assert [r.journal for r in Store(path).load_series() if r.name == "a"] == [()]  # in full
    restored_a = next(_restored(path))
    _same(a, restored_a)
