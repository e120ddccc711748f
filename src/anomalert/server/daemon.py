"""Wiring of ``anomalert watch``: store, sinks, outbox, HTTP server and the watch loop.

:func:`run_watch` builds everything from a :class:`~anomalert.server.config.WatchConfig`,
serves the HTTP app (:mod:`anomalert.server.app`) on a background thread, runs the
:class:`~anomalert.server.watch.Watcher` until ``stop`` is set, then checkpoints and shuts down.
The CLI (:mod:`anomalert.server.cli`) adds signal handling; tests call it in a thread.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from anomalert.alerting.outbox import Dispatcher
from anomalert.alerting.sinks import LogSink, Sink, make_sink
from anomalert.alerting.store import Store
from anomalert.errors import AnomalertError
from anomalert.server.app import create_app
from anomalert.server.config import WatchConfig, make_spec
from anomalert.server.restore import reconfigure_pushed
from anomalert.server.runtime import ServiceState
from anomalert.server.watch import (
    PrometheusSource,
    ReplayClock,
    SimulatorSource,
    WallClock,
    Watcher,
)

__all__ = ["RunningServer", "run_watch", "start_server"]

log = logging.getLogger("anomalert.server.watch")

PRUNE_AFTER = 30 * 86400.0
DEFAULT_SIM_MINUTE = 0.1


@dataclass
class RunningServer:
    """A uvicorn server on a background thread."""

    server: Any
    thread: threading.Thread
    url: str

    def stop(self, timeout: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_server(app: Any, host: str, port: int, *, timeout: float = 10.0) -> RunningServer:
    """Serve ``app`` on ``host:port`` (port 0: any free port) from a daemon thread.

    Raises
    ------
    AnomalertError
        The address cannot be bound or the server did not start within ``timeout``.
    """
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AnomalertError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="anomalert-http", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise AnomalertError(f"the HTTP server on {host}:{bound} did not start")
        time.sleep(0.01)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    return RunningServer(server, thread, f"http://{shown}:{bound}")


class _NoSource:
    def fetch(self, spec: Any, start: Any, end: Any) -> dict[str, pd.DataFrame]:
        return {}


def _split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise AnomalertError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:9108")
    return host.strip("[]") or "127.0.0.1", int(port)


def _simulation(cfg: WatchConfig, store: Store) -> tuple[Any, list[Any], Any]:
    from anomalert.server.simulator import Simulator

    assert cfg.simulate is not None
    sim_cfg = cfg.simulate
    stored = store.get_meta("sim_start")
    start = pd.Timestamp(stored) if stored is not None else cfg.clock_start
    sim = Simulator(
        sim_cfg.scenarios, seed=sim_cfg.seed, days=sim_cfg.days, history=sim_cfg.history,
        lead=sim_cfg.lead, start=start,
    )
    store.set_meta("sim_start", sim.start_time.isoformat())
    specs = [
        make_spec(cfg, {
            "name": name,
            "metrics": {m: f"simulated {name}.{m}" for m in s.metrics},
            "step": "60s",
            "lookback": f"{int(sim_cfg.history.total_seconds())}s",
        })
        for name, s in sim.series.items()
    ]
    return sim, specs, SimulatorSource(sim)


def run_watch(
    cfg: WatchConfig,
    *,
    stop: threading.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run the watch service until ``stop`` is set (see the module docstring)."""
    stop = stop or threading.Event()
    store = Store(cfg.state or ":memory:", lock=True)
    sinks: list[Sink] = [make_sink(s, i) for i, s in enumerate(cfg.sinks)]
    if cfg.simulate is not None and not sinks:
        sinks = [LogSink()]
    host, port = _split_listen(cfg.listen)
    state = ServiceState(
        store=store, sinks=[s.name for s in sinks], token=cfg.token, max_body=cfg.max_body,
        max_points=cfg.max_points, max_series=cfg.max_series,
        # pushed series: the config's defaults (detector, policy, labels, stale_after,
        # forget_after)
        detector=cfg.push.detector, detector_params=dict(cfg.push.params), policy=cfg.push.policy,
        push_labels=cfg.push.labels, push_stale_after=cfg.push.stale_after,
        push_forget_after=cfg.push.forget_after,
        base_url=cfg.external_url or f"http://{cfg.listen}", alert_labels=cfg.alert_labels,
        title=cfg.title + (" (simulation)" if cfg.simulate is not None else ""),
        full_checkpoint=cfg.full_checkpoint,
    )
    state.metrics.init_sinks(state.sinks)
    restored = state.restore()
    reconfigure_pushed(state)  # the configured policy and labels apply to restored series
    orphans = store.pending_count() - store.pending_count(state.sinks)
    if orphans:
        state.notes.append(f"{orphans} undelivered notification(s) for sinks no longer configured")
        log.warning("%d undelivered notification(s) are for sinks no longer configured", orphans)
    dispatcher = Dispatcher(
        store, sinks, initial_backoff=cfg.retry_initial, max_backoff=cfg.retry_max,
        max_attempts=cfg.retry_max_attempts, on_result=state.metrics.delivery,
        on_dead=state.metrics.gave_up,
    )
    stored_clock = store.get_meta("clock")
    truth = None
    if cfg.simulate is not None:
        sim, specs, source = _simulation(cfg, store)
        truth = sim.truth
        start = sim.start_time
        minute = cfg.clock_minute or DEFAULT_SIM_MINUTE
        cfg = replace(cfg, clock_start=start, clock_minute=minute)
    elif not cfg.queries:  # serve: push only
        source, specs = None, []
    else:
        from anomalert.sources.prometheus import PrometheusClient

        assert cfg.prometheus_url is not None
        client = PrometheusClient(
            cfg.prometheus_url, token=cfg.prometheus_token, timeout=cfg.prometheus_timeout,
            retries=0,
        )
        source, specs = PrometheusSource(client), list(cfg.queries)
    source = source or _NoSource()
    clock: Any = WallClock()
    if cfg.clock_start is not None and cfg.clock_minute is not None:
        start = cfg.clock_start
        if stored_clock is not None:
            start = max(start, pd.Timestamp(stored_clock))
        clock = ReplayClock(start, cfg.clock_minute)
    tick = min(1.0, max(0.005, cfg.clock_minute / 2)) if cfg.clock_minute else 1.0
    watcher = Watcher(
        state, source, specs, clock, backoff=cfg.poll_backoff, max_backoff=cfg.poll_max_backoff,
        tick=tick, truth=truth,
    )
    watcher.restore()
    replay = isinstance(clock, ReplayClock)

    def checkpoint() -> None:
        meta = {"clock": clock.now().isoformat()} if replay else None
        state.checkpoint(meta=meta)

    state.wake = dispatcher.wake
    dispatcher.start()
    server = None
    try:
        server = start_server(create_app(state), host, port)
        log.info(
            "listening on %s (status page /, metrics /metrics, push /v1/score); "
            "%d series restored; sinks: %s",
            server.url, restored, ", ".join(state.sinks) or "none",
        )
        if on_ready is not None:
            on_ready(server.url)
        store.prune(time.time() - PRUNE_AFTER)
        watcher.run(
            stop, checkpoint_every=cfg.checkpoint, resend_every=cfg.resend,
            on_checkpoint=checkpoint,
            on_resend=lambda: dispatcher.refresh(state.open_alerts()),
        )
    finally:
        try:
            checkpoint()
        finally:
            dispatcher.stop()
            if server is not None:
                server.stop()
            store.close()
