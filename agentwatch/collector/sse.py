"""Server-Sent Events framing and keep-alive, shared by the log hub and the metrics hub."""

from __future__ import annotations

import asyncio
from typing import Final

#: The comment line sent to a quiet stream so proxies and clients know it is alive.
HEARTBEAT: Final[bytes] = b": keep-alive\n\n"
#: Shortest heartbeat interval accepted (seconds); smaller values are raised to it.
MIN_HEARTBEAT: Final = 0.01


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
