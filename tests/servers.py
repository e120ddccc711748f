"""Start and stop real Prometheus / Alertmanager servers (and a webhook receiver) for tests.

Everything binds 127.0.0.1 on a free port, lives in a temp directory, waits at most
``timeout`` seconds to become ready, and is terminated (then killed) when its context
exits, also when the test failed. Facts behind the choices are in
``/work/shared/notes/prometheus-stack.md`` (backfill with ``promtool``, the file must end
with ``# EOF``, Alertmanager needs ``--cluster.listen-address=``).

Binaries missing: :func:`require_binaries` skips the test, except when ``CI=true``:
then it fails, so a CI run cannot pass by silently skipping the real-server tests.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

__all__ = [
    "ALERTMANAGER_BINARIES",
    "PROMETHEUS_BINARIES",
    "ServerError",
    "WebhookReceiver",
    "free_port",
    "in_ci",
    "missing_binaries",
    "require_binaries",
    "run_alertmanager",
    "run_prometheus",
    "stop_process",
    "wait_ready",
]

PROMETHEUS_BINARIES = ("prometheus", "promtool")
ALERTMANAGER_BINARIES = ("prometheus-alertmanager",)
DEFAULT_TIMEOUT = 20.0


class ServerError(RuntimeError):
    """A server that did not start (its log tail is in the message)."""


def in_ci() -> bool:
    """True when the environment says we run in CI (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def missing_binaries(names: Sequence[str]) -> list[str]:
    """The names among ``names`` that are not on PATH."""
    return [name for name in names if shutil.which(name) is None]


def require_binaries(*names: str) -> None:
    """Skip the calling test when a binary is missing; fail instead when ``CI=true``."""
    missing = missing_binaries(names)
    if not missing:
        return
    message = f"missing binaries: {', '.join(missing)} (apt-get install prometheus prometheus-alertmanager)"
    if in_ci():
        pytest.fail(f"{message}; CI=true so real-server tests must not be skipped")
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no log)"


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Terminate ``proc``, wait up to ``timeout`` s, then kill it and reap it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = DEFAULT_TIMEOUT
) -> None:
    """Poll ``url`` until it answers 200; raise :class:`ServerError` on exit or timeout."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ServerError(
                    f"{log.stem} exited with {proc.returncode} before {url} was ready:\n"
                    f"{_log_tail(log)}"
                )
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise ServerError(f"{url} not ready after {timeout} s:\n{_log_tail(log)}")


@contextmanager
def _serve(
    make_args: Callable[[int], list[str]], workdir: Path, name: str, timeout: float
) -> Iterator[str]:
    """Start ``make_args(port)`` until it binds (3 tries against port races); yield its URL."""
    error: ServerError | None = None
    for attempt in range(3):
        port = free_port()
        log = workdir / f"{name}-{attempt}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                make_args(port), stdout=out, stderr=subprocess.STDOUT, cwd=workdir
            )
        url = f"http://127.0.0.1:{port}"
        try:
            try:
                wait_ready(url + "/-/ready", proc, log, timeout)
            except ServerError as exc:
                error = exc
                if "address already in use" in str(exc):
                    continue
                raise
            yield url
            return
        finally:
            stop_process(proc)
    assert error is not None
    raise error


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServerError(f"{name} is not on PATH")
    return path


@contextmanager
def run_prometheus(
    openmetrics_text: str, workdir: Path, *, timeout: float = DEFAULT_TIMEOUT,
    scrape: Sequence[str] = (),
) -> Iterator[str]:
    """Backfill ``openmetrics_text`` with promtool, start Prometheus on it, yield its base URL.

    Timestamps in the text are unix seconds; ``# EOF`` is appended when missing. ``scrape``:
    base URLs Prometheus scrapes every second (job ``anomalert``, ``honor_labels`` false, as
    by default); the first scrape lands about 5 s after the start.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    text = openmetrics_text.rstrip("\n")
    if not text.endswith("# EOF"):
        text += "\n# EOF"
    source = workdir / "backfill.om"
    source.write_text(text + "\n")
    if text.strip() != "# EOF":
        done = subprocess.run(
            [_binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=workdir,
        )
        if done.returncode != 0:
            raise ServerError(f"promtool backfill failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    config = workdir / "prometheus.yml"
    targets = ", ".join(json.dumps(u.split("://", 1)[-1].rstrip("/")) for u in scrape)
    jobs = (f"\n  - job_name: anomalert\n    scrape_interval: 1s\n"
            f"    static_configs: [{{targets: [{targets}]}}]\n") if scrape else " []\n"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs:" + jobs)

    def args(port: int) -> list[str]:
        return [
            _binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ]

    with _serve(args, workdir, "prometheus", timeout) as url:
        yield url


def _yaml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


@contextmanager
def run_alertmanager(
    webhook_url: str,
    workdir: Path,
    *,
    group_by: Sequence[str] = ("alertname",),
    group_wait: str = "0s",
    group_interval: str = "100ms",
    repeat_interval: str = "1h",
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[str]:
    """Start Alertmanager routing every alert to ``webhook_url``; yield its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: webhook\n"
        f"  group_by: {_yaml_list(group_by)}\n"
        f"  group_wait: {group_wait}\n"
        f"  group_interval: {group_interval}\n"
        f"  repeat_interval: {repeat_interval}\n"
        "receivers:\n"
        "  - name: webhook\n"
        "    webhook_configs:\n"
        f"      - url: {json.dumps(webhook_url)}\n"
        "        send_resolved: true\n"
    )
    storage = workdir / "am-data"
    storage.mkdir(exist_ok=True)

    def args(port: int) -> list[str]:
        return [
            _binary("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    with _serve(args, workdir, "alertmanager", timeout) as url:
        yield url


class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1 that records every JSON body POSTed to it.

    Examples
    --------
    >>> with WebhookReceiver() as hook:
    ...     _ = httpx.post(hook.url, json={"status": "firing"}, trust_env=False)
    ...     hook.wait_for(1)[0]["status"]
    'firing'
    """

    def __init__(self, refuse: list[tuple[int, bytes]] | None = None) -> None:
        self.posts: list[Any] = []
        #: ``(status, body)`` answered to the first posts (then 200); recorded all the same
        self.refuse = list(refuse or [])
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                with receiver._cond:
                    receiver.posts.append(body)
                    receiver._cond.notify_all()
                    status, answer = receiver.refuse.pop(0) if receiver.refuse else (200, b"")
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(
        self,
        count: int = 1,
        predicate: Callable[[Any], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[Any]:
        """Wait until ``count`` posts (matching ``predicate`` if given) arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hits = [p for p in self.posts if predicate is None or predicate(p)]
                if len(hits) >= count:
                    return hits
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{len(hits)} of {count} expected webhook posts after {timeout} s; "
                        f"all posts: {self.posts!r}"[:2000]
                    )
                self._cond.wait(left)
