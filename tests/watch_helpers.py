"""Helpers for the watch / service tests: proxies, a fake Prometheus, watch runners.

Everything binds 127.0.0.1, every wait is bounded, and every server or process is stopped by
its context manager (or ``stop()``), also when the test failed.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pandas as pd
from servers import free_port, stop_process

__all__ = [
    "FakePrometheus",
    "SwitchableProxy",
    "WatchProcess",
    "get_json",
    "metric_value",
    "openmetrics",
    "openmetrics_sets",
    "wait_until",
    "watching",
]

SRC = Path(__file__).resolve().parents[1] / "src"


def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05,
               what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # e.g. the server is not up yet
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached after {timeout} s (last error: {last_exc!r})")


def get_json(url: str, timeout: float = 5.0) -> Any:
    with httpx.Client(timeout=timeout, trust_env=False) as c:
        return c.get(url).json()


_LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_value(url: str, name: str, labels: str = "") -> float | None:
    """The value of the first sample of ``url``/metrics named ``name`` whose labels include
    ``labels`` (exposition text like ``sink="am"``; a series' samples carry more), or None."""
    with httpx.Client(timeout=5.0, trust_env=False) as c:
        text = c.get(url.rstrip("/") + "/metrics").text
    wanted = set(_LABEL_PAIR.findall(labels))
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if (head == name or head.startswith(name + "{")) and wanted <= set(
            _LABEL_PAIR.findall(head[len(name):])
        ):
            return float(value)
    return None


def openmetrics(frame: pd.DataFrame, names: dict[str, str], labels: str) -> str:
    """OpenMetrics text (seconds timestamps, ``# EOF``) of ``frame``'s columns as gauges."""
    return openmetrics_sets([(frame, labels)], names)


def openmetrics_sets(parts: list[tuple[pd.DataFrame, str]], names: dict[str, str]) -> str:
    """:func:`openmetrics` of several label sets, one frame each (``(frame, labels)``)."""
    lines = []
    for column, metric in names.items():
        lines.append(f"# TYPE {metric} gauge")
        for frame, labels in parts:
            stamps = [str(int(ts.timestamp())) for ts in frame.index]
            lines.extend(
                f"{metric}{{{labels}}} {float(v)!r} {t}"
                for t, v in zip(stamps, frame[column].to_numpy(), strict=True)
            )
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


class _Server:
    """A ThreadingHTTPServer on a fixed 127.0.0.1 port that can be stopped and started again."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int | None = None) -> None:
        self.handler = handler
        self.port = port or free_port()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Any:
        if self._server is None:
            server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
            server.daemon_threads = True
            server.owner = self  # type: ignore[attr-defined]
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _ProxyHandler(BaseHTTPRequestHandler):
    def _forward(self) -> None:
        proxy: SwitchableProxy = self.server.owner  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization", "accept")}
        try:
            with httpx.Client(timeout=10.0, trust_env=False) as c:
                up = c.request(self.command, proxy.target + self.path, content=body, headers=headers)
            status, data, ctype = up.status_code, up.content, up.headers.get("content-type", "")
        except httpx.HTTPError as exc:
            status, data, ctype = 502, str(exc).encode(), "text/plain"
        with proxy.lock:
            proxy.requests.append((self.command, self.path, status, body))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _forward  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        pass


class SwitchableProxy(_Server):
    """An HTTP proxy to ``target`` on a fixed port: ``stop()`` makes the target unreachable
    (connection refused), ``start()`` brings it back. Records ``(method, path, status, body)``."""

    def __init__(self, target: str = "", port: int | None = None) -> None:
        super().__init__(_ProxyHandler, port)
        self.target = target.rstrip("/")
        self.requests: list[tuple[str, str, int, bytes]] = []
        self.lock = threading.Lock()

    def posts(self, path: str, status: int | None = 200) -> list[Any]:
        """JSON bodies of the POSTs to ``path`` (that got ``status``)."""
        with self.lock:
            return [
                json.loads(b) for m, p, s, b in self.requests
                if m == "POST" and p == path and (status is None or s == status)
            ]


class _FakePromHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        fake: FakePrometheus = self.server.owner  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        with fake.lock:
            fake.calls += 1
            behaviour = fake.script.pop(0) if fake.script else "valid"
        if behaviour == "valid":
            data = fake.valid(form)
            status, body, ctype = 200, json.dumps(data).encode(), "application/json"
        else:
            status, body, ctype = behaviour
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakePrometheus(_Server):
    """A tiny stand-in for Prometheus' query API that plays a script of (bad) responses.

    Each request takes the next entry of ``script``: ``(status, body_bytes, content_type)``
    or ``"valid"``; when the script is used up every answer is valid: ``instances`` series
    (default one, ``cpu{instance="fake"}``, then ``fake-1``, ``fake-2``...; 0: an empty
    result) with a smooth daily wave at every step of the range, except in an instance's
    ``gaps`` (instance -> (start, end): no sample from start until before end).
    """

    def __init__(self, script: list[Any] | None = None, instances: int = 1) -> None:
        super().__init__(_FakePromHandler)
        self.script = list(script or [])
        self.instances = instances
        self.gaps: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
        self.calls = 0
        self.lock = threading.Lock()

    def valid(self, form: dict[str, str]) -> dict[str, Any]:
        start, end, step = float(form["start"]), float(form["end"]), float(form["step"])
        values = []
        t = start
        while t <= end + 1e-9:
            v = 50 + 10 * math.sin(2 * math.pi * t / 86400) + 0.5 * math.sin(t / 7.0)
            values.append([t, repr(v)])
            t += step
        names = ["fake"] + [f"fake-{i}" for i in range(1, self.instances)]

        def of(name: str) -> list[list[Any]]:
            if name not in self.gaps:
                return values
            lo, hi = (t.timestamp() for t in self.gaps[name])
            return [v for v in values if not lo <= v[0] < hi]

        return {
            "status": "success",
            "data": {"resultType": "matrix", "result": [
                {"metric": {"__name__": "cpu", "instance": name}, "values": of(name)}
                for name in names[:self.instances] if name not in self.gaps or of(name)
            ]},
        }


@contextmanager
def watching(cfg: Any, timeout: float = 30.0) -> Iterator[str]:
    """Run :func:`anomalert.server.daemon.run_watch` in a thread; yield its URL; stop it at exit."""
    from anomalert.server.daemon import run_watch

    stop = threading.Event()
    ready: queue.Queue[str] = queue.Queue()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            run_watch(cfg, stop=stop, on_ready=ready.put)
        except BaseException as exc:  # surfaced to the test below
            failure.append(exc)

    thread = threading.Thread(target=target, name="test-watch", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    url = None
    while url is None:
        try:
            url = ready.get(timeout=0.05)
        except queue.Empty:
            if failure:
                raise failure[0] from None
            if time.monotonic() > deadline or not thread.is_alive():
                stop.set()
                raise TimeoutError("the watch service did not start") from None
    try:
        yield url
    finally:
        stop.set()
        thread.join(20)
        assert not thread.is_alive(), "run_watch did not stop within 20 s"
    if failure:
        raise failure[0]


class WatchProcess:
    """``python -m anomalert.cli watch ...`` as a subprocess (stderr logged to a file)."""

    _LISTEN = re.compile(r"listening on (http://\S+)")

    def __init__(self, args: list[str], workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"watch-{self.runs}.log"

    def start(self, timeout: float = 30.0) -> str:
        self.runs += 1
        env = dict(os.environ)
        env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "anomalert.cli", "watch", *self.args],
                stdout=err, stderr=subprocess.STDOUT, cwd=self.workdir, env=env,
            )
        proc = self.proc

        def listening() -> str | None:
            if proc.poll() is not None:
                raise AssertionError(f"watch exited with {proc.returncode}:\n{self.log.read_text()[-3000:]}")
            m = self._LISTEN.search(self.log.read_text())
            return m.group(1) if m else None

        try:
            return str(wait_until(listening, timeout, what="watch listening"))
        except BaseException:
            self.stop()
            raise

    def kill(self) -> None:
        """SIGKILL: no cleanup, no checkpoint."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_process(self.proc, timeout=10)
