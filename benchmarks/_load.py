"""The benchmarks' HTTP load: requests over keep-alive connections to 127.0.0.1, each answer read
whole before the next request goes, for a number of seconds, optionally paced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def drive(
    port: int, request: Callable[[int], bytes], connections: int, seconds: float, pace: float | None = None
) -> int:
    """Send ``request(n)`` (the raw HTTP request, ``n`` counting from 1 over every connection) until
    ``seconds`` pass, ``pace`` seconds apart on each connection (None: as fast as answered);
    returns how many were answered."""
    deadline = time.monotonic() + seconds
    sent = answered = 0

    async def one() -> None:
        nonlocal sent, answered
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            if pace is not None:
                next_at += pace
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent += 1
            writer.write(request(sent))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            answered += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return answered
