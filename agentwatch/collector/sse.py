"""Server-Sent Events framing and keep-alive, shared by the log hub and the metrics hub, and the
bound on what a stream holds in flight to a slow viewer (:func:`bound_stream`)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any, Final

log = logging.getLogger(__name__)

#: The comment line sent to a quiet stream so proxies and clients know it is alive.
HEARTBEAT: Final[bytes] = b": keep-alive\n\n"
#: Shortest heartbeat interval accepted (seconds); smaller values are raised to it.
MIN_HEARTBEAT: Final = 0.01
#: Bytes the kernel may hold unsent for one stream (``SO_SNDBUF``; Linux doubles what is asked).
#: Without it the kernel grows a loopback socket's buffer to megabytes, and a slow viewer reads
#: minutes-old entries before it can be told anything was dropped.
STREAM_SEND_BUFFER: Final = 16 * 1024
#: A stream's transport stops taking writes above HIGH bytes buffered and resumes below LOW.
STREAM_WRITE_HIGH: Final = 16 * 1024
STREAM_WRITE_LOW: Final = 4 * 1024
#: Seconds between two looks at a full stream's transport (see :func:`wait_writable`).
WRITABLE_POLL: Final = 0.02


def sse_frame(event: str, data: bytes, id: int | None = None) -> bytes:
    """One Server-Sent Events message: ``id: N\\nevent: NAME\\ndata: <data>\\n\\n``.

    ``data`` is normally one line of JSON (msgspec never emits raw newlines); data holding line
    breaks is split over several ``data:`` lines, which a client joins back with ``\\n``.
    Raises ValueError for an event name holding a line break (it would forge fields).
    """
    if "\n" in event or "\r" in event:
        raise ValueError("SSE event name must not contain a line break")
    head = b"event: " + event.encode()
    if id is not None:
        head = b"id: %d\n" % id + head
    if b"\n" in data or b"\r" in data:
        body = b"".join(b"\ndata: " + line for line in data.splitlines())
    else:
        body = b"\ndata: " + data
    return head + body + b"\n\n"


class Heartbeat:
    """When a stream with nothing to send owes its reader a :data:`HEARTBEAT`.

    ``interval`` seconds after the last output (raised to :data:`MIN_HEARTBEAT`, so a stream can
    never spin). Create it in the event loop that runs the stream; output counts from then.
    """

    def __init__(self, interval: float) -> None:
        self.interval = max(interval, MIN_HEARTBEAT)
        self._time = asyncio.get_running_loop().time
        self._last_output = self._time()

    def sent(self) -> None:
        """Note that output just went out: the next heartbeat is due ``interval`` from now."""
        self._last_output = self._time()

    async def wait(self, wake: asyncio.Event) -> bool:
        """Clear ``wake`` and wait for it until the heartbeat is due.

        True when woken (there may be something to send), False when the heartbeat is due.
        """
        wake.clear()
        seconds = self.interval - (self._time() - self._last_output)
        if seconds <= 0:
            return False
        try:
            async with asyncio.timeout(seconds):
                await wake.wait()
        except TimeoutError:
            return False
        return True


def current_transport() -> asyncio.WriteTransport | None:
    """The transport of the HTTP request the running task serves, or None when it cannot be found.

    ASGI gives an application no transport. uvicorn (h11 and httptools alike) runs each request
    in a task whose coroutine is its request cycle's ``run_asgi``, and the cycle keeps the
    transport: this is the one place that reaches into the server for it.
    """
    task = asyncio.current_task()
    frame = getattr(task.get_coro(), "cr_frame", None) if task is not None else None
    cycle = frame.f_locals.get("self") if frame is not None else None
    transport: Any = getattr(cycle, "transport", None)
    needed = ("get_extra_info", "set_write_buffer_limits", "get_write_buffer_size")
    if transport is None or not all(hasattr(transport, name) for name in needed):
        return None
    return transport  # type: ignore[no-any-return]  # checked by its methods: uvloop's is no subclass


def bound_stream(transport: asyncio.WriteTransport | None) -> Callable[[], bool] | None:
    """Keep what one streaming response holds in flight small; returns a check that it has room.

    Sets the socket's send buffer to :data:`STREAM_SEND_BUFFER` and the transport's write
    buffer limits to :data:`STREAM_WRITE_HIGH` / :data:`STREAM_WRITE_LOW`. The returned check is
    True while the transport holds at most :data:`STREAM_WRITE_LOW` bytes unsent: a stream that
    waits for it before taking its next batch sends what is newest when the viewer has room
    again, and the hub notices it falling behind (and tells it) instead of filling kernel buffers
    with entries it will read much later. None when the transport is unknown or refuses.
    The cost: a viewer far away (a long round trip) gets at most about
    ``2 × STREAM_SEND_BUFFER`` bytes per round trip.
    """
    if transport is None:
        return None
    try:
        transport.set_write_buffer_limits(high=STREAM_WRITE_HIGH, low=STREAM_WRITE_LOW)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_SEND_BUFFER)
    except (OSError, ValueError, AttributeError) as exc:  # a closed or unusual transport
        log.debug("stream buffers left as they were: %s", exc)
        return None
    pending = transport.get_write_buffer_size
    return lambda: pending() <= STREAM_WRITE_LOW


async def wait_writable(writable: Callable[[], bool], closing: asyncio.Event) -> None:
    """Return once ``writable()`` is true or ``closing`` is set, checking every
    :data:`WRITABLE_POLL` seconds (a transport announces room only to its own protocol)."""
    while not writable() and not closing.is_set():
        try:
            async with asyncio.timeout(WRITABLE_POLL):
                await closing.wait()
        except TimeoutError:
            pass
