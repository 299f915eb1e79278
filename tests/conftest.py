"""Shared fixtures: a real collector served by uvicorn on 127.0.0.1 and an ephemeral port."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from hypothesis import settings as hypothesis_settings

from agentwatch.collector.server import run_event_loop
from agentwatch.protocol import PATH_EVENTS

# CI runs the property tests on a fixed seed (a red build is reproducible), without time
# deadlines (a loaded 2-core runner is slow, not wrong); local runs keep exploring.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@dataclass
class RunningCollector:
    """A collector serving on 127.0.0.1; ``service`` is its in-process state for white-box checks."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    service: Any
    token: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def post(self, events: list[dict[str, Any]] | dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POST events to the real ingest endpoint (synchronously)."""
        return httpx.post(self.url + PATH_EVENTS, json=events, headers=self.headers(), timeout=10, **kwargs)

    async def apost(self, events: list[dict[str, Any]] | dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.url + PATH_EVENTS, json=events, headers=self.headers())

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_in_thread(app: Any, *, host: str = "127.0.0.1") -> tuple[uvicorn.Server, threading.Thread, int]:
    """Run ``app`` under uvicorn in a daemon thread; return once it accepts connections."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: run_event_loop(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("collector did not start")
        time.sleep(0.01)
    return server, thread, port


@pytest.fixture
def start_collector() -> Iterator[Callable[..., RunningCollector]]:
    """Factory: ``start_collector(token="t", store_path=None, window_seconds=60, ...)``."""
    from agentwatch.collector.app import create_app
    from agentwatch.collector.service import Collector, Settings

    running: list[RunningCollector] = []

    def start(**settings: Any) -> RunningCollector:
        settings.setdefault("store_path", None)
        service = Collector(Settings(**settings))
        server, thread, port = serve_in_thread(create_app(collector=service))
        instance = RunningCollector(
            f"http://127.0.0.1:{port}", server, thread, service, token=settings.get("token")
        )
        running.append(instance)
        return instance

    yield start
    for instance in running:
        instance.stop()


@pytest.fixture
def collector(start_collector: Callable[..., RunningCollector]) -> RunningCollector:
    """A collector with default settings, no store."""
    return start_collector()


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


async def async_wait_for(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)
