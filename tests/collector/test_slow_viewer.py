"""A viewer that stops keeping up is told promptly (``event: dropped``), over real HTTP.

The viewer here is a plain socket, so the test decides exactly when and how much it reads: it
stops reading while the collector publishes megabytes, waits until what was published is older
than the hub's ``max_delay``, then reads in small steps and counts the bytes that arrive before
the ``dropped`` notice. Those bytes are what was in flight to it; they must stay bounded (kernel
buffers would otherwise hold megabytes of entries the viewer reads long after they stopped
mattering, with no notice).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from agentwatch.collector.loghub import MAX_DELAY
from agentwatch.protocol import PATH_EVENTS, PATH_LOGS_STREAM
from tests.helpers import CollectorProcess, RunningCollector, wait_until

#: Bytes a stalled viewer may receive before the notice: socket buffers on both sides plus the
#: collector's bounded write buffer, with room to spare (unbounded, this is megabytes).
IN_FLIGHT_BOUND = 512 * 1024
#: What the collector publishes while the viewer reads nothing (far beyond any socket buffer).
BATCHES, PER_BATCH, FILLER = 20, 1_000, "x" * 400


def open_log_stream(url: str, query: str = "") -> tuple[socket.socket, bytes]:
    """A raw HTTP/1.1 GET of the log stream: the socket, once the response headers are read, and
    the body bytes read with them."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    request = (
        f"GET {PATH_LOGS_STREAM}{query} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    for _ in range(64):  # the headers are a few hundred bytes
        head += sock.recv(4096)
        if b"\r\n\r\n" in head:
            break
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return sock, head.partition(b"\r\n\r\n")[2]


def read_until(sock: socket.socket, marker: bytes, *, limit: int, step: int = 4096) -> tuple[int, bytes]:
    """Read ``step`` bytes at a time until ``marker`` arrives or ``limit`` bytes were read.

    Returns the bytes read before the marker (``limit`` or more when it never came) and what
    was read from the marker on.
    """
    received = b""
    total = 0
    while total < limit:
        chunk = sock.recv(step)
        if not chunk:
            break
        total += len(chunk)
        received = received[-len(marker) :] + chunk
        at = received.find(marker)
        if at >= 0:
            return total - (len(received) - at), received[at:]
    return total, b""


def test_a_viewer_that_stops_reading_is_told_dropped_after_a_bounded_amount_of_data(
    start_collector: Callable[..., RunningCollector],
) -> None:
    collector = start_collector(subscriber_max_lag=10_000_000, log_history=200_000)  # only age counts here
    hub: Any = collector.service.logs
    sock, body = open_log_stream(collector.url)
    try:
        if b"event: hello" not in body:
            before, _ = read_until(sock, b"event: hello", limit=64 * 1024)
            assert before < 64 * 1024, "every stream opens with a hello"
        for batch in range(BATCHES):  # the viewer reads nothing meanwhile
            events = [{"agent_id": "a", "message": f"{batch}-{i} {FILLER}"} for i in range(PER_BATCH)]
            assert collector.post(events).status_code == 202
        published_at = time.monotonic()
        assert hub.last_id == BATCHES * PER_BATCH
        wait_until(lambda: time.monotonic() - published_at > hub.max_delay * 1.5)  # all of it is stale now

        in_flight, rest = read_until(sock, b"event: dropped", limit=BATCHES * PER_BATCH * len(FILLER))
        assert rest, f"read {in_flight} bytes and was never told anything was dropped"
        assert in_flight <= IN_FLIGHT_BOUND, f"{in_flight} bytes of stale entries came before the notice"
        assert hub.dropped_total > 0
    finally:
        sock.close()


def test_under_agentwatch_serve_a_stalled_viewer_is_told_dropped_after_a_bounded_amount_of_data(
    start_collector_process: Callable[..., CollectorProcess],
) -> None:
    """The same through the real server (its own HTTP protocol), where the stream finds its socket."""
    collector = start_collector_process("--no-store")
    sock, _ = open_log_stream(collector.url)
    try:
        for batch in range(BATCHES):
            events = [{"agent_id": "a", "message": f"{batch}-{i} {FILLER}"} for i in range(PER_BATCH)]
            response = httpx.post(collector.url + PATH_EVENTS, json=events, timeout=10)
            assert response.status_code == 202
        published_at = time.monotonic()
        wait_until(lambda: time.monotonic() - published_at > MAX_DELAY * 1.5)  # all of it is stale now

        in_flight, rest = read_until(sock, b"event: dropped", limit=BATCHES * PER_BATCH * len(FILLER))
        assert rest, f"read {in_flight} bytes and was never told anything was dropped"
        assert in_flight <= IN_FLIGHT_BOUND, f"{in_flight} bytes of stale entries came before the notice"
    finally:
        sock.close()
