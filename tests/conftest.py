"""Shared pytest fixtures. Real-server helpers live in ``tests/servers.py``.

Fixtures here start real Prometheus / Alertmanager processes on 127.0.0.1 (free ports,
temp dirs) and stop them at teardown. Tests marked ``servers`` (or using these fixtures)
are skipped when the binaries are missing, and fail instead when ``CI=true``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import (  # noqa: E402
    ALERTMANAGER_BINARIES,
    PROMETHEUS_BINARIES,
    WebhookReceiver,
    require_binaries,
    run_alertmanager,
    run_prometheus,
)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("servers") is not None:
        require_binaries(*PROMETHEUS_BINARIES, *ALERTMANAGER_BINARIES)


@pytest.fixture
def prometheus_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[str], str]]:
    """Factory: ``url = prometheus_server(openmetrics_text)`` backfills the text and starts
    Prometheus on it; every server started is stopped at teardown."""
    require_binaries(*PROMETHEUS_BINARIES)
    with ExitStack() as stack:

        def start(openmetrics_text: str) -> str:
            workdir = tmp_path_factory.mktemp("prometheus")
            return stack.enter_context(run_prometheus(openmetrics_text, workdir))

        yield start


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running :class:`servers.WebhookReceiver`; ``.url`` to post to, ``.posts`` recorded."""
    with WebhookReceiver() as hook:
        yield hook


@pytest.fixture
def alertmanager_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., str]]:
    """Factory: ``url = alertmanager_server(webhook_url, **options)`` starts Alertmanager routing
    every alert to ``webhook_url`` (group_wait 0s, group_interval 100ms, send_resolved)."""
    require_binaries(*ALERTMANAGER_BINARIES)
    with ExitStack() as stack:

        def start(webhook_url: str, **options: object) -> str:
            workdir = tmp_path_factory.mktemp("alertmanager")
            return stack.enter_context(run_alertmanager(webhook_url, workdir, **options))  # type: ignore[arg-type]

        yield start
