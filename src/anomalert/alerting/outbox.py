"""Delivering the outbox: one worker thread per sink, in order, with retries and backoff.

Every notification is first written to the :class:`~anomalert.alerting.store.Store`'s outbox;
a :class:`Dispatcher` worker then sends each sink's rows oldest first. A row is marked
delivered only after the sink confirmed it. A failed attempt is retried after a backoff that
doubles up to ``max_backoff``; until then the later rows of that sink wait (so a ``resolved``
never overtakes its ``fired``). A sink that refuses a payload for good (a 4xx other than
408/425/429) marks the row ``dead`` and moves on. Workers never die: unexpected errors are
logged and the loop goes on.

Open alerts are refreshed on sinks that need it (Alertmanager forgets a firing alert at its
``endsAt``): :meth:`Dispatcher.refresh` hands the worker the alerts to re-post when it is idle,
and only alerts whose ``fired`` row that sink already confirmed and whose ``resolved`` row is
not in its outbox (a refresh list taken just before a resolution would re-raise the alert).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from anomalert.alerting.sinks import DeliveryError, Notification, Sink
from anomalert.alerting.store import OutboxRow, Store

__all__ = ["Dispatcher"]

log = logging.getLogger("anomalert.outbox")

#: ``on_result(sink_name, delivered)`` after every attempt.
ResultHook = Callable[[str, bool], None]
#: ``on_dead(sink_name, error)`` when a notification is given up.
DeadHook = Callable[[str, str], None]


class _Worker:
    def __init__(self, dispatcher: Dispatcher, sink: Sink) -> None:
        self.d = dispatcher
        self.sink = sink
        self.wake = threading.Event()
        self.refresh: list[Notification] = []
        self.thread = threading.Thread(
            target=self.run, name=f"anomalert-sink-{sink.name}", daemon=True
        )

    def attempt(self, row: OutboxRow) -> bool:
        """Send one row; True when delivered (or given up), False to wait for the retry."""
        d, sink = self.d, self.sink
        try:
            notification = Notification.from_dict(row.notification)
            sink.send(notification, time.time())
        except DeliveryError as exc:
            attempts = row.attempts + 1
            give_up = not exc.retryable or (
                d.max_attempts is not None and attempts >= d.max_attempts
            )
            retry_at = None if give_up else time.time() + d.backoff(attempts)
            d.store.mark_failed(row.seq, str(exc), retry_at=retry_at)
            d.result(sink.name, False)
            if give_up:
                d.dead(sink.name, str(exc))
            level = logging.ERROR if give_up else logging.WARNING
            log.log(
                level,
                "%s: notification %s not delivered (attempt %d)%s: %s",
                sink.name, row.notification_id, attempts,
                ", giving up" if give_up else f", retry in {d.backoff(attempts):.3g} s", exc,
            )
            return give_up
        except Exception as exc:  # a bug or a corrupt row: never kill the worker
            log.exception("%s: cannot send notification %s", sink.name, row.notification_id)
            d.store.mark_failed(row.seq, f"{type(exc).__name__}: {exc}", retry_at=None)
            d.result(sink.name, False)
            d.dead(sink.name, f"{type(exc).__name__}: {exc}")
            return True
        d.store.mark_delivered(row.seq)
        d.result(sink.name, True)
        log.info("%s: delivered %s", sink.name, row.notification_id)
        return True

    def step(self) -> float:
        """Deliver every due row; return how long to sleep before the next due one."""
        while not self.d.stopping.is_set():
            row = self.d.store.head(self.sink.name)
            if row is None:
                break
            wait = row.next_attempt_at - time.time()
            if wait > 0:
                return min(wait, self.d.idle)
            if not self.attempt(row):
                nxt = self.d.store.head(self.sink.name)
                return self.d.idle if nxt is None else max(0.0, nxt.next_attempt_at - time.time())
        self.do_refresh()
        return self.d.idle

    def do_refresh(self) -> None:
        batch, self.refresh = self.refresh, []
        for n in batch:
            if self.d.stopping.is_set():
                return
            if not self.d.store.is_delivered(n.id, self.sink.name):
                continue
            # The list was taken before this incident's resolution was queued (and perhaps
            # sent): re-posting its "fired" now would raise the alert again after it resolved.
            if self.d.store.resolution_queued(n.series, n.incident, self.sink.name):
                continue
            try:
                self.sink.send(n, time.time())
            except Exception as exc:  # best effort: the next refresh tries again
                log.warning("%s: refreshing %s failed: %s", self.sink.name, n.id, exc)

    def run(self) -> None:
        while not self.d.stopping.is_set():
            self.wake.clear()
            try:
                sleep = self.step()
            except Exception:
                log.exception("%s: delivery loop error", self.sink.name)
                sleep = 1.0
            self.wake.wait(max(0.0, sleep))


class Dispatcher:
    """Delivers the outbox of ``store`` to ``sinks``, one thread per sink.

    Parameters
    ----------
    store
        The state store holding the outbox.
    sinks
        Sinks by name (names are the outbox keys, so keep them stable across restarts).
    initial_backoff, max_backoff
        Seconds before the first retry; it doubles per failed attempt up to the maximum.
    max_attempts
        Give up (status ``dead``) after this many attempts; None retries forever.
    on_result
        Called with ``(sink_name, delivered)`` after every attempt (metrics).
    on_dead
        Called with ``(sink_name, error)`` when a notification is given up (metrics).
    """

    def __init__(
        self,
        store: Store,
        sinks: Sequence[Sink],
        *,
        initial_backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_attempts: int | None = None,
        on_result: ResultHook | None = None,
        on_dead: DeadHook | None = None,
        idle: float = 5.0,
    ) -> None:
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique, got {names}")
        self.store = store
        self.sinks = list(sinks)
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_attempts = max_attempts
        self.on_result = on_result
        self.on_dead = on_dead
        self.idle = idle
        self.stopping = threading.Event()
        self._workers = [_Worker(self, s) for s in self.sinks]

    @property
    def sink_names(self) -> list[str]:
        return [s.name for s in self.sinks]

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        return float(min(self.max_backoff, self.initial_backoff * 2 ** max(0, attempts - 1)))

    def result(self, sink: str, ok: bool) -> None:
        _call(self.on_result, "on_result", sink, ok)

    def dead(self, sink: str, error: str) -> None:
        _call(self.on_dead, "on_dead", sink, error)

    def start(self) -> Dispatcher:
        """Start the worker threads."""
        for w in self._workers:
            w.thread.start()
        return self

    def wake(self) -> None:
        """New rows were enqueued: look at the outbox now."""
        for w in self._workers:
            w.wake.set()

    def refresh(self, notifications: Sequence[Notification]) -> None:
        """Re-post these open alerts to the sinks that need it (when they are idle)."""
        for w in self._workers:
            if w.sink.refreshes:
                w.refresh = list(notifications)
                w.wake.set()

    def deliver_now(self) -> None:
        """Deliver every due row in the calling thread (for tests and one-shot runs)."""
        for w in self._workers:
            w.step()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers (a send in flight finishes or times out) and close the sinks."""
        self.stopping.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for w in self._workers:
            if w.thread.is_alive():
                w.thread.join(max(0.0, deadline - time.monotonic()))
        for s in self.sinks:
            try:
                s.close()
            except Exception:
                log.exception("closing sink %s", s.name)


def _call(hook: Callable[..., Any] | None, name: str, *args: Any) -> None:
    """Run a caller's hook; its failure is logged, never the dispatcher's."""
    if hook is not None:
        try:
            hook(*args)
        except Exception:
            log.exception("%s hook failed", name)
