"""Who may talk to the collector: bearer tokens on every route, no token in logs, no CORS, safe binds.

The route list is read from the app itself, so a route added later is covered without
editing this file. Everything runs against the real collector on 127.0.0.1; the bind
tests start ``agentwatch serve`` as a subprocess and never send traffic to a
non-loopback address.
"""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from agentwatch.collector import app as app_module
from agentwatch.collector.app import create_app
from agentwatch.collector.server import is_loopback
from agentwatch.collector.service import Settings
from agentwatch.protocol import (
    PATH_ALERTS,
    PATH_EVENTS,
    PATH_HEALTH,
    PATH_LOGS_STREAM,
    PATH_OTLP_LOGS,
    PATH_OTLP_TRACES,
)
from tests.helpers import RunningCollector, wait_until

TOKEN = "tok-3f9a1c77e2b54d0d"
ENV_WITHOUT_TOKEN = {key: value for key, value in os.environ.items() if key != "AGENTWATCH_TOKEN"}
STREAM_TIMEOUT = httpx.Timeout(5.0)


def every_route() -> list[tuple[str, str]]:
    """(method, path) for every route the collector serves, read from the app."""
    app = create_app(Settings(token=TOKEN, store_path=None))
    pairs: list[tuple[str, str]] = []
    for route in app.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    pairs.append((method, route.path))
    return pairs


ROUTES = every_route()


def body_for(path: str) -> dict[str, Any]:
    """A minimal valid request body for a POST route (OTLP JSON for the OTLP routes)."""
    if path == PATH_OTLP_TRACES:
        return {"json": {"resourceSpans": []}}
    if path == PATH_OTLP_LOGS:
        return {"json": {"resourceLogs": []}}
    return {"json": {"agent_id": "a", "span_type": "log", "message": "hi"}}


def status_of(collector: RunningCollector, method: str, path: str, headers: dict[str, str]) -> int:
    """Status of one request; streams are opened, their status read, and closed at once."""
    kwargs = body_for(path) if method == "POST" else {}
    with httpx.Client(timeout=STREAM_TIMEOUT) as client:
        with client.stream(method, collector.url + path, headers=headers, **kwargs) as response:
            return response.status_code


@pytest.fixture
def guarded(start_collector: Any) -> RunningCollector:
    return start_collector(token=TOKEN)


def test_route_list_covers_ingest_otlp_streams_and_reads() -> None:
    paths = {path for _, path in ROUTES}
    assert {PATH_EVENTS, PATH_OTLP_TRACES, PATH_OTLP_LOGS, PATH_LOGS_STREAM, PATH_HEALTH} <= paths
    assert PATH_ALERTS in paths
    assert len(ROUTES) >= 9


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer \u00e9t\u00e9".encode("latin-1")},
    ],
    ids=["none", "wrong", "prefix", "longer", "basic-scheme", "no-scheme", "empty", "non-ascii"],
)
def test_every_route_refuses_a_missing_or_wrong_token_with_401(
    guarded: RunningCollector, headers: dict[str, str | bytes]
) -> None:
    for method, path in ROUTES:
        with httpx.Client(timeout=STREAM_TIMEOUT) as client:
            kwargs = body_for(path) if method == "POST" else {}
            response = client.request(method, guarded.url + path, headers=headers, **kwargs)
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.headers.get("www-authenticate") == "Bearer", path
        assert TOKEN not in response.text
        assert TOKEN[:8] not in response.text


def test_every_route_including_streams_admits_the_right_token(guarded: RunningCollector) -> None:
    good = {"Authorization": f"Bearer {TOKEN}"}
    for method, path in ROUTES:
        status = status_of(guarded, method, path, good)
        # Admitted: anything but 401/403 (a route that needs parameters answers 400 without them).
        assert status < 500 and status not in (401, 403), (method, path, status)
        if path in (PATH_EVENTS, PATH_OTLP_TRACES, PATH_OTLP_LOGS, PATH_LOGS_STREAM, PATH_HEALTH):
            assert 200 <= status < 300, (method, path, status)
    # The scheme is case-insensitive (RFC 7235).
    assert status_of(guarded, "GET", PATH_HEALTH, {"Authorization": f"bearer {TOKEN}"}) == 200


def test_nothing_is_ingested_without_the_token(guarded: RunningCollector) -> None:
    httpx.post(guarded.url + PATH_EVENTS, json=[{"agent_id": "intruder", "message": "x"}] * 10)
    assert guarded.service.window.events_total == 0
    assert guarded.service.logs.last_id == 0


def test_token_comparison_is_constant_time() -> None:
    """Read the code: the check goes through ``hmac.compare_digest`` on bytes, never ``==``."""
    source = inspect.getsource(app_module.check_token)
    assert "hmac.compare_digest(" in source
    assert "== token" not in source and "token ==" not in source


def test_cors_is_off_by_default(collector: RunningCollector) -> None:
    origin = {"Origin": "https://evil.example"}
    for path in (PATH_HEALTH, "/api/snapshot"):
        response = httpx.get(collector.url + path, headers=origin)
        assert response.status_code == 200
        assert not any(name.lower().startswith("access-control-") for name in response.headers)
    with httpx.Client(timeout=STREAM_TIMEOUT) as client:
        with client.stream("GET", collector.url + PATH_LOGS_STREAM, headers=origin) as response:
            assert response.status_code == 200
            assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(
        collector.url + PATH_EVENTS,
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code >= 400
    assert "access-control-allow-origin" not in preflight.headers


# ------------------------------------------------------------------ the serve command


#: ``agentwatch serve`` with every Python logger printing at DEBUG to stderr: what the collector,
#: Starlette or asyncio would log is in the output too, not only what uvicorn prints.
LOG_EVERYTHING = (
    "import logging, sys; "
    "logging.basicConfig(level=logging.DEBUG, format='%(levelname)s %(name)s: %(message)s'); "
    "from agentwatch.cli import main; sys.exit(main())"
)


def serve(*args: str, launcher: tuple[str, ...] = ("-m", "agentwatch")) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *launcher, "serve", "--port", "0", "--otlp-grpc-port", "0", "--no-store", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV_WITHOUT_TOKEN,
    )


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGINT, wait, and return everything the process printed."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        out, err = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return out, err


@pytest.fixture
def cleanup() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_token_never_appears_in_the_collector_output_even_at_debug_level(
    cleanup: list[subprocess.Popen[str]],
) -> None:
    # uvicorn at "trace" (below debug) logs every request and its ASGI messages.
    process = serve("--token", TOKEN, "--log-level", "trace", launcher=("-c", LOG_EVERYTHING))
    cleanup.append(process)
    assert process.stdout is not None
    first_line = process.stdout.readline()
    url = next(word for word in first_line.split() if word.startswith("http://"))
    good = {"Authorization": f"Bearer {TOKEN}"}
    wait_until(lambda: _status(url + PATH_HEALTH, good) == 200, timeout=15)
    assert httpx.post(url + PATH_EVENTS, json={"agent_id": "a"}, headers=good).status_code == 202
    assert (
        httpx.post(
            url + PATH_EVENTS, json={"agent_id": "a"}, headers={"Authorization": "Bearer no"}
        ).status_code
        == 401
    )
    near_miss = {"Authorization": f"Bearer {TOKEN[:-2]}"}
    assert httpx.get(url + PATH_HEALTH, headers=near_miss).status_code == 401
    with httpx.Client(timeout=STREAM_TIMEOUT) as client:
        with client.stream("GET", url + PATH_LOGS_STREAM, headers=good) as response:
            assert response.status_code == 200
    out, err = stop(process)
    printed = first_line + out + err
    assert TOKEN not in printed
    assert TOKEN[:-2] not in printed
    # The check above saw every request logged (a leak would have had somewhere to show).
    for path in (PATH_HEALTH, PATH_EVENTS, PATH_LOGS_STREAM):
        assert f"'path': '{path}'" in err, f"{path} was not logged"


def _status(url: str, headers: dict[str, str]) -> int:
    try:
        return httpx.get(url, headers=headers, timeout=1).status_code
    except httpx.TransportError:
        return 0


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_non_loopback_bind_without_token_is_refused_and_says_why(host: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "serve", "--host", host, "--port", "0", "--no-store"],
        capture_output=True,
        text=True,
        timeout=30,
        env=ENV_WITHOUT_TOKEN,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    message = result.stderr
    assert "refusing to listen" in message and host in message
    assert "anyone who can reach" in message  # why
    assert "--token" in message and "--insecure" in message  # what to do


@pytest.mark.parametrize("flags", [("--insecure",), ("--token", TOKEN)], ids=["insecure", "token"])
def test_non_loopback_bind_starts_with_insecure_or_a_token(
    flags: tuple[str, ...], cleanup: list[subprocess.Popen[str]]
) -> None:
    process = serve("--host", "0.0.0.0", *flags)
    cleanup.append(process)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert "agentwatch collector on http://0.0.0.0:" in line
    stop(process)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
