"""Durable state in SQLite: series state, incidents and the outbox of notifications.

One file holds everything a restart needs: the state of every monitored series, the
incidents, and an *outbox* with one row per notification and sink. A series' state is
saved in two parts (see :mod:`anomalert.server.persist`): its *full* state (the pickled
detector, monitor and recent points, hundreds of kB) now and then, and at every checkpoint
only what changed since: the points it scored (the *journal*, replayed on restore) and its
small *alert state* (incidents, what was notified). The watch loop writes a notification to the outbox (with an
idempotent id) before anything is sent; a delivery worker sends it and marks it delivered
only after the sink confirmed it. So a process killed at any moment (even ``kill -9``)
loses nothing: undelivered rows are sent after the restart, and replaying points that were
processed but not yet checkpointed produces the same notification ids, which the outbox
ignores (``INSERT OR IGNORE``), so nobody is paged twice.

The database runs in WAL mode with ``synchronous=FULL``; one connection is shared by the
threads of the process behind a lock. A running service opens it with ``lock=True``: an
exclusive ``flock`` on ``PATH.lock`` (holding its pid), so a second service on the same file
refuses to start instead of paging twice; the OS drops the lock when the process ends, even
by ``kill -9``.

Examples
--------
>>> store = Store(":memory:")
>>> store.enqueue("cpu|1|fired|2025-01-01T00:00:00+00:00", ["am"], {"event": "fired"})
1
>>> store.enqueue("cpu|1|fired|2025-01-01T00:00:00+00:00", ["am"], {"event": "fired"})
0
>>> row = store.head("am")
>>> row.notification, store.pending_count()
({'event': 'fired'}, 1)
>>> store.mark_delivered(row.seq)
>>> store.pending_count(), store.head("am") is None
(0, True)
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from anomalert.alerting.lockfile import lock_file
from anomalert.alerting.rows import OutboxRow, SeriesDelta, SeriesRecord, SinkHealth
from anomalert.errors import AnomalertError

__all__ = ["OutboxRow", "SeriesDelta", "SeriesRecord", "SinkHealth", "Store", "StoreError"]

SCHEMA_VERSION = "2"
#: Versions this anomalert reads: version 1 lacks only the tables version 2 added.
_UPGRADABLE = {"1"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS series (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state BLOB NOT NULL,
    last_ts TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_state (
    name TEXT PRIMARY KEY,
    state BLOB NOT NULL,
    last_ts TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    series TEXT NOT NULL,
    t INTEGER NOT NULL,
    point TEXT NOT NULL,
    PRIMARY KEY (series, t)
);
CREATE TABLE IF NOT EXISTS incidents (
    series TEXT NOT NULL,
    id INTEGER NOT NULL,
    start TEXT NOT NULL,
    resolved_at TEXT,
    data TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (series, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    notification_id TEXT NOT NULL,
    sink TEXT NOT NULL,
    notification TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    delivered_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_by_sink ON outbox (sink, status, seq);
CREATE INDEX IF NOT EXISTS outbox_by_sink_seq ON outbox (sink, seq);
"""


class StoreError(AnomalertError):
    """The state database cannot be opened or has an unknown layout."""


class Store:
    """The SQLite state file (``":memory:"`` for a throwaway one).

    Parameters
    ----------
    path
        Database file; created with its tables when missing.
    lock
        Hold an exclusive lock on the file while open (a running service): another
        ``Store(path, lock=True)``, in any process, raises :class:`StoreError` naming the
        pid that holds it.
    """

    def __init__(self, path: str | Path, *, lock: bool = False) -> None:
        self.path = str(path)
        #: Bytes of series state, journal, alert state and incident rows written (payloads:
        #: SQLite adds its pages' overhead).
        self.bytes_written = 0
        self._lockfd: int | None = None
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not parent.is_dir():
                raise StoreError(f"{self.path}: directory {parent} does not exist")
            if lock:
                self._lockfd = lock_file(self.path, StoreError)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=10.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            version = self.get_meta("schema_version")
            if version is None or version in _UPGRADABLE:
                self.set_meta("schema_version", SCHEMA_VERSION)
            elif version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: state schema version {version}, this anomalert reads "
                    f"{SCHEMA_VERSION}; move the file away to start fresh"
                )
        except sqlite3.DatabaseError as exc:
            self._unlock()
            raise StoreError(f"{self.path}: cannot open the state database: {exc}") from None
        except BaseException:
            self._unlock()
            raise

    # -- plumbing ------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (the WAL is checkpointed into the main file); release the lock."""
        with self._lock:
            self._db.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._lockfd is not None:
            os.close(self._lockfd)  # (the lock file stays: removing it would race a starter)
            self._lockfd = None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # -- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A value of the key/value table, or None."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the key/value table."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # -- series and incidents ------------------------------------------------------------
    def checkpoint(
        self,
        series: Iterable[tuple[str, str, bytes, str | None]] = (),
        incidents: Iterable[dict[str, Any]] = (),
        meta: dict[str, str] | None = None,
        *,
        deltas: Iterable[SeriesDelta] = (),
        forget: Iterable[str] = (),
    ) -> None:
        """Save atomically: full series states ``(name, kind, state, last_ts)`` (each replaces
        the series' journal and alert state), ``deltas`` (alert states, journal rows),
        incidents and meta; first delete the series ``forget`` (their state, alert state,
        journal and incident rows; their outbox rows stay: what is queued is delivered)."""
        now = time.time()
        full = [(n, k, sqlite3.Binary(s), ts, now) for n, k, s, ts in series]
        changes = list(deltas)
        rows = [
            (str(i["series"]), int(i["id"]), str(i["start"]), i.get("resolved_at"),
             json.dumps(i, default=str), now)
            for i in incidents
        ]
        gone = [(n,) for n in forget]
        with self._tx() as db:
            for table, column in (("series", "name"), ("alert_state", "name"),
                                  ("journal", "series"), ("incidents", "series")):
                db.executemany(f"DELETE FROM {table} WHERE {column} = ?", gone)
            db.executemany(
                "INSERT OR REPLACE INTO series (name, kind, state, last_ts, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                full,
            )
            names = [(r[0],) for r in full]
            db.executemany("DELETE FROM journal WHERE series = ?", names)
            db.executemany("DELETE FROM alert_state WHERE name = ?", names)
            db.executemany(
                "INSERT OR REPLACE INTO alert_state (name, state, last_ts, updated_at) "
                "VALUES (?, ?, ?, ?)",
                [(d.name, sqlite3.Binary(d.alert), d.last_ts, now) for d in changes],
            )
            db.executemany(
                "INSERT OR REPLACE INTO journal (series, t, point) VALUES (?, ?, ?)",
                [(d.name, t, p) for d in changes for t, p in d.points],
            )
            db.executemany(
                "INSERT OR REPLACE INTO incidents (series, id, start, resolved_at, data, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            for key, value in (meta or {}).items():
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        self.bytes_written += (
            sum(len(r[2]) for r in full) + sum(len(r[4]) for r in rows)
            + sum(len(d.alert) + sum(len(p) + 8 for _, p in d.points) for d in changes)
        )

    def load_series(self) -> list[SeriesRecord]:
        """Every stored series state, by name, with its alert state and journal."""
        rows = self._query(
            "SELECT s.name, s.kind, s.state, s.last_ts, s.updated_at, a.state FROM series s "
            "LEFT JOIN alert_state a ON a.name = s.name ORDER BY s.name"
        )
        journal: dict[str, list[tuple[int, str]]] = {}
        for name, t, point in self._query(
            "SELECT series, t, point FROM journal ORDER BY series, t"
        ):
            journal.setdefault(name, []).append((int(t), str(point)))
        return [
            SeriesRecord(
                r[0], r[1], bytes(r[2]), r[3], r[4], None if r[5] is None else bytes(r[5]),
                tuple(journal.get(r[0], ())),
            )
            for r in rows
        ]

    def incidents(self, *, series: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Stored incidents, the most recently started first."""
        sql = "SELECT data FROM incidents"
        args: list[Any] = []
        if series is not None:
            sql += " WHERE series = ?"
            args.append(series)
        sql += " ORDER BY start DESC, series, id DESC LIMIT ?"
        args.append(int(limit))
        return [json.loads(r[0]) for r in self._query(sql, args)]

    # -- outbox ----------------------------------------------------------------------------
    def enqueue(
        self, notification_id: str, sinks: Sequence[str], notification: dict[str, Any]
    ) -> int:
        """Add a notification for each sink unless that (id, sink) is already there.

        Returns the number of rows added (0 when the notification was seen before).
        """
        now = time.time()
        body = json.dumps(notification, default=str, allow_nan=False)
        added = 0
        with self._tx() as db:
            for sink in sinks:
                cur = db.execute(
                    "INSERT OR IGNORE INTO outbox (id, notification_id, sink, notification, "
                    "created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (f"{notification_id}@{sink}", notification_id, sink, body, now, now),
                )
                added += cur.rowcount
        return added

    def _rows(self, where: str, args: Sequence[Any]) -> list[OutboxRow]:
        rows = self._query(
            "SELECT seq, id, notification_id, sink, notification, status, attempts, created_at, "
            f"next_attempt_at, delivered_at, last_error FROM outbox {where}",
            args,
        )
        return [
            OutboxRow(r[0], r[1], r[2], r[3], json.loads(r[4]), *r[5:]) for r in rows
        ]

    def head(self, sink: str) -> OutboxRow | None:
        """The oldest pending row of ``sink`` (delivered in order: it blocks the later ones)."""
        rows = self._rows("WHERE sink = ? AND status = 'pending' ORDER BY seq LIMIT 1", (sink,))
        return rows[0] if rows else None

    def outbox(self, *, status: str | None = None, sink: str | None = None) -> list[OutboxRow]:
        """Outbox rows in order, optionally only one status and/or sink."""
        clauses, args = [], []
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        if sink is not None:
            clauses.append("sink = ?")
            args.append(sink)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._rows(where + " ORDER BY seq", args)

    def notification(self, notification_id: str) -> dict[str, Any] | None:
        """The stored body of a notification (from any of its sinks' rows), or None."""
        rows = self._query(
            "SELECT notification FROM outbox WHERE notification_id = ? ORDER BY seq LIMIT 1",
            (notification_id,),
        )
        return json.loads(rows[0][0]) if rows else None

    def resolution_queued(self, series: str, incident: int, sink: str) -> bool:
        """True when a ``resolved`` notification of ``series``' ``incident`` is in ``sink``'s
        outbox (pending or sent) after its latest ``fired``: that must not be re-posted any
        more. (A series forgotten and come back numbers its incidents from 1 again: the
        resolutions of the earlier ones do not count.)

        >>> store = Store(":memory:")
        >>> for n in ("api|1|fired|t1", "api|1|resolved|t2", "api|1|fired|t9"):
        ...     _ = store.enqueue(n, ["am"], {})
        >>> store.resolution_queued("api", 1, "am")
        False
        >>> _ = store.enqueue("api|1|resolved|t10", ["am"], {})
        >>> store.resolution_queued("api", 1, "am")
        True
        """
        fired, resolved = f"{series}|{incident}|fired|", f"{series}|{incident}|resolved|"
        # ids are ``notification_id@sink``: a range of the (UNIQUE, indexed) id column finds
        # the ids starting with a prefix (0xff sorts after every UTF-8 byte); the prefix test
        # on notification_id keeps exactly the rows it selects
        rows = self._query(
            "SELECT 1 FROM outbox WHERE id >= ? AND id < ? || x'ff' AND sink = ? "
            "AND substr(notification_id, 1, ?) = ? AND seq > "
            "(SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE id >= ? AND id < ? || x'ff' "
            "AND sink = ? AND substr(notification_id, 1, ?) = ?) LIMIT 1",
            (resolved, resolved, sink, len(resolved), resolved,
             fired, fired, sink, len(fired), fired),
        )
        return bool(rows)

    def is_delivered(self, notification_id: str, sink: str) -> bool:
        """True when the notification reached ``sink``."""
        rows = self._query(
            "SELECT 1 FROM outbox WHERE id = ? AND status = 'delivered'",
            (f"{notification_id}@{sink}",),
        )
        return bool(rows)

    def mark_delivered(self, seq: int, now: float | None = None) -> None:
        """Record that the sink confirmed the row."""
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET status = 'delivered', delivered_at = ?, attempts = attempts + 1,"
                " last_error = NULL WHERE seq = ?",
                (time.time() if now is None else now, seq),
            )

    def mark_failed(self, seq: int, error: str, *, retry_at: float | None) -> None:
        """Record a failed attempt: retry at ``retry_at``, or give up (``None``: status dead)."""
        with self._tx() as db:
            if retry_at is None:
                db.execute(
                    "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ? "
                    "WHERE seq = ?",
                    (error[:2000], seq),
                )
            else:
                db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, "
                    "next_attempt_at = ? WHERE seq = ?",
                    (error[:2000], retry_at, seq),
                )

    def sink_health(self, sinks: Sequence[str]) -> list[SinkHealth]:
        """How each sink's deliveries go (see :class:`SinkHealth`)."""
        out = []
        for sink in sinks:
            latest = self._query(
                "SELECT notification_id, status, attempts, last_error FROM outbox "
                "WHERE sink = ? AND attempts > 0 ORDER BY seq DESC LIMIT 1",
                (sink,),
            )
            # (the one MAX() makes SQLite take the bare columns from the row of the maximum)
            dead = self._query(
                "SELECT COUNT(*), MAX(seq), notification_id, last_error FROM outbox "
                "WHERE sink = ? AND status = 'dead'",
                (sink,),
            )[0]
            last_dead = None if dead[1] is None else f"{dead[2]}: {dead[3]}"
            failing = bool(latest) and latest[0][3] is not None
            out.append(SinkHealth(
                sink, failing=failing, error=latest[0][3] if failing else None,
                notification=latest[0][0] if failing else None,
                attempts=int(latest[0][2]) if failing else 0, dead=int(dead[0]),
                last_dead=last_dead,
            ))
        return out

    def pending_count(self, sinks: Sequence[str] | None = None) -> int:
        """Rows not yet delivered (of the given sinks, default all)."""
        if sinks is None:
            rows = self._query("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        else:
            marks = ",".join("?" * len(sinks)) or "NULL"
            rows = self._query(
                f"SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND sink IN ({marks})",
                list(sinks),
            )
        return int(rows[0][0])

    def prune(self, older_than: float) -> int:
        """Delete delivered and dead rows created before ``older_than`` (unix seconds).

        Keep them longer than any replay can reach back: a replayed notification whose row
        was pruned would be sent again.
        """
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM outbox WHERE status != 'pending' AND created_at < ?", (older_than,)
            )
            return int(cur.rowcount)
