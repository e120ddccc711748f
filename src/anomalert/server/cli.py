"""The long-running commands: ``anomalert watch`` and ``anomalert serve``.

``watch --config FILE.yaml`` monitors Prometheus queries (see ``docs/watch.md``);
``watch --simulate`` runs the same loop on the built-in simulator (no Prometheus, no config
needed; alerts are printed unless the config names sinks). ``serve`` runs only the HTTP
service (``POST /v1/score``, ``/metrics``, status page) for pushed points.

SIGTERM and Ctrl-C stop the service cleanly (state checkpointed); ``kill -9`` loses nothing
either, the SQLite state file (``--state``) makes sure of that.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

__all__ = ["register"]

TOKEN_ENV = "ANOMALERT_TOKEN"


def _setup_logging(level: str) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("anomalert")
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False  # our handler prints it; no second copy from the root logger
    return handler


def _run(args: argparse.Namespace, *, serve: bool) -> int:
    from anomalert.server.config import load_config
    from anomalert.server.daemon import run_watch

    simulate = bool(getattr(args, "simulate", False))
    if not serve and not simulate and args.config is None:
        from anomalert.errors import AnomalertError

        raise AnomalertError("watch needs --config FILE.yaml (or --simulate to try it out)")
    cfg = load_config(args.config, simulate=simulate, serve=serve)
    changes: dict[str, Any] = {}
    if args.listen:
        changes["listen"] = args.listen
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token:
        changes["token"] = token
    if args.state:
        changes["state"] = args.state
    speed = getattr(args, "speed", None)
    if speed is not None:
        if not speed > 0:
            from anomalert.errors import ParameterError

            raise ParameterError(f"--speed must be > 0 seconds per simulated minute, got {speed}")
        changes["clock_minute"] = speed
    cfg = replace(cfg, **changes)
    if cfg.state is None and not (simulate or serve):
        cfg = replace(cfg, state="anomalert-state.db")
    handler = _setup_logging(args.log_level)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        logging.getLogger("anomalert.server.watch").info("signal %d: stopping", signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        run_watch(cfg, stop=stop)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        root = logging.getLogger("anomalert")
        root.removeHandler(handler)
        root.propagate = True
    return 0


def _add_common(p: argparse.ArgumentParser, state_default: str) -> None:
    p.add_argument("--listen", help="HOST:PORT of the HTTP service (default 127.0.0.1:9108)")
    p.add_argument(
        "--token", help=f"bearer token required by POST /v1/score (default: ${TOKEN_ENV})"
    )
    p.add_argument("--state", help=f"SQLite state file (default: {state_default})")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def register(subparsers: Any) -> None:
    """Add ``watch`` and ``serve`` to the ``anomalert`` command line."""
    w = subparsers.add_parser(
        "watch",
        help="monitor Prometheus queries, alert, serve /metrics (or --simulate)",
        description="Backfill and fit each configured query, then poll, score and alert; "
        "serve /metrics, /healthz, a status page and POST /v1/score.",
    )
    w.add_argument("--config", help="YAML configuration (see docs/watch.md)")
    w.add_argument("--simulate", action="store_true",
                   help="use the built-in live simulator instead of Prometheus")
    w.add_argument("--speed", type=float, default=None, metavar="SECONDS",
                   help="wall seconds per simulated minute (default 0.1 with --simulate)")
    _add_common(w, "the config's, else anomalert-state.db; in memory with --simulate")
    w.set_defaults(handler=lambda a: _run(a, serve=False))

    s = subparsers.add_parser(
        "serve",
        help="serve POST /v1/score, /metrics and the status page for pushed points",
    )
    s.add_argument("--config", help="YAML configuration (sinks, limits, defaults)")
    _add_common(s, "the config's, else in memory: what was pushed is lost on restart")
    s.set_defaults(handler=lambda a: _run(a, serve=True))
