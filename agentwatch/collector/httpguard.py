"""The HTTP/1.1 connection ``agentwatch serve`` runs: uvicorn's httptools protocol, bounded.

uvicorn (with httptools) puts no bound on the size of a request's headers, none on the time to
send them, closes an idle keep-alive connection only after a first response, and its
``limit_concurrency`` answers 503 only once a request's headers are in, so a flood of silent
connections still takes every file descriptor. :class:`GuardedHttpProtocol` adds what
:class:`~agentwatch.collector.httplimits.HttpLimits` asks for, before any request reaches the app:

- headers (request line included) over ``header_bytes`` are answered 431, and counted as they
  arrive, so an unfinished header never holds more than the cap and one read;
- headers not complete ``header_timeout`` seconds after the connection opened (or after the read
  that began a later request) are answered 408; a connection that sent nothing is closed;
- a keep-alive connection is closed ``idle_timeout`` seconds after its last response;
- past ``max_connections`` open at once, a new connection is answered 503 with ``Retry-After`` and
  closed; past :data:`MAX_LINGERING` connections being closed that way too, it is closed at once.

An answer that ends a connection is written, then the connection is half-closed and what the
client still sends is read and dropped for up to :data:`LINGER_SECONDS`, so the client reads the
answer instead of a reset. Errors use the collector's JSON error shape. Overridden uvicorn
methods are checked by ``tests/collector/test_uvicorn_internals.py``; ``pyproject.toml`` bounds
uvicorn's version for them.

:class:`CollectorServer` is uvicorn's server with one hook: ``on_stopping`` runs as a stop begins,
before uvicorn waits for open connections (the app ends its endless viewer streams there).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, ClassVar, Final

import msgspec
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from agentwatch.collector.httplimits import ConnectionCounts, HttpLimits
from agentwatch.protocol import ErrorResponse

log = logging.getLogger("agentwatch.collector")

#: Seconds a connection closed with an answer is still read (input dropped) before it is closed.
LINGER_SECONDS: Final = 2.0
#: Connections lingering at once; a connection over the cap beyond this is closed without an answer.
MAX_LINGERING: Final = 64
#: Seconds between two warnings about refused connections (each says the running count).
WARN_INTERVAL: Final = 10.0
#: The end of a request's headers.
END_OF_HEADERS: Final = b"\r\n\r\n"

_encode = msgspec.json.Encoder().encode


def error_answer(status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP/1.1 response that closes the connection, with a JSON ``{"error", "detail"}`` body."""
    body = _encode(ErrorResponse(error, detail))
    lines = [
        STATUS_LINE[status],
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
    ]
    lines.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in (headers or {}).items())
    return b"".join([*lines, b"\r\n", body])


def header_part(tail: bytes, data: bytes) -> int:
    """How many bytes of ``data`` belong to headers that may have begun before it: up to the end of
    the headers when it is in ``data`` (``tail``: the last bytes before it, for an end split across
    reads), else all of it."""
    if tail:
        joint = tail + data[: len(END_OF_HEADERS) - 1]
        end = joint.find(END_OF_HEADERS)
        if end >= 0:
            return end + len(END_OF_HEADERS) - len(tail)
    end = data.find(END_OF_HEADERS)
    return len(data) if end < 0 else end + len(END_OF_HEADERS)


class GuardedHttpProtocol(HttpToolsProtocol):
    """One HTTP/1.1 connection under :class:`HttpLimits`. Make the class with :func:`guarded_protocol`."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    counts: ClassVar[ConnectionCounts] = ConnectionCounts()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn arms this after each response; it is typed int there, a float works the same.
        self.timeout_keep_alive = self.limits.idle_timeout  # type: ignore[assignment]
        self._served = False
        self._lingering = False
        self._linger_timer: asyncio.TimerHandle | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        self._reading_headers = True  # between requests or inside one's headers: input counts
        self._header_bytes = 0
        self._tail = b""  # the end of the last header bytes, for an end of headers split over reads
        self._request_begun = False
        self._request_complete = True
        self._completed = 0  # requests whose message ended, to tell one ending inside a read

    # ------------------------------------------------------------------ connection
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        counts = self.counts
        if counts.open >= self.limits.max_connections:
            self.transport = transport
            self._refuse()
            return
        counts.open += 1
        self._served = True
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lingering:
            self._lingering = False
            self.counts.lingering -= 1
            if self._linger_timer is not None:
                self._linger_timer.cancel()
                self._linger_timer = None
        if self._served:
            self._served = False
            self.counts.open -= 1
            self._cancel_header_timer()
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering or not self._served:
            return  # closing with an answer already sent: read and drop
        counted = self._reading_headers
        if counted and self._header_bytes + header_part(self._tail, data) > self.limits.header_bytes:
            self._headers_too_large()
            return
        completed = self._completed
        super().data_received(data)
        if self._reading_headers and not self._lingering:
            if counted and completed == self._completed:
                self._header_bytes += len(data)
                self._tail = data[-(len(END_OF_HEADERS) - 1) :]
            else:  # a request began inside this read: its share is unknown, and at most this read
                self._header_bytes = 0
                self._tail = b""
            if self._request_begun and self._header_timer is None:
                # Armed only when a request's headers span reads: most arrive in one.
                self._arm_header_timer()

    def shutdown(self) -> None:
        if self._served:
            super().shutdown()

    # ------------------------------------------------------------------ parser callbacks
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._request_begun = True
        self._request_complete = False

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._request_begun = False
        self._request_complete = True
        self._completed += 1
        self._reading_headers = True
        self._header_bytes = 0
        self._tail = b""
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._request_complete and not self.transport.is_closing():
            # Answered before its body was read (a 401, say): the rest is never read, so close
            # rather than let the client keep the connection busy sending it.
            self._linger()

    # ------------------------------------------------------------------ limits
    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._lingering or self.transport.is_closing():
            return
        self.counts.header_timeouts += 1
        if not self._request_begun or self._responding():
            self.transport.close()  # nothing to answer, or no way to answer now
            return
        timeout = self.limits.header_timeout
        self._answer(
            408,
            "request headers not received in time",
            f"send the request line and headers within {timeout:g} s (--header-timeout)",
        )

    def _headers_too_large(self) -> None:
        self.counts.headers_too_large += 1
        if self._responding():
            self.transport.close()
            return
        self._answer(
            431,
            "request headers too large",
            f"the limit is {self.limits.header_bytes} bytes for the request line and headers "
            "(--max-header-bytes)",
        )

    def _refuse(self) -> None:
        counts = self.counts
        if counts.lingering >= MAX_LINGERING:
            counts.refused_unanswered += 1
            self.transport.abort()
        else:
            counts.refused += 1
            cap = self.limits.max_connections
            self._answer(
                503,
                "too many connections",
                f"the collector serves at most {cap} connections at once (--max-connections); retry later",
                {"retry-after": "1"},
            )
        now = time.monotonic()
        if now - counts.last_warning >= WARN_INTERVAL:
            counts.last_warning = now
            log.warning(
                "refusing connections: %d open, the cap is %d (--max-connections); %d refused with 503 "
                "and %d closed unanswered so far",
                counts.open,
                self.limits.max_connections,
                counts.refused,
                counts.refused_unanswered,
            )

    def _responding(self) -> bool:
        """A response is under way on this connection (an answer of ours would corrupt it)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _answer(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        self.transport.write(error_answer(status, error, detail, headers))
        self._linger()

    def _linger(self) -> None:
        """Half-close, drop what the client still sends, close after :data:`LINGER_SECONDS`."""
        transport = self.transport
        if self._lingering or transport.is_closing():
            return
        self._lingering = True
        self.counts.lingering += 1
        self._cancel_header_timer()
        self._unset_keepalive_if_required()
        if self._served:
            self.flow.resume_reading()
        if transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                transport.close()
                return
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, transport.close)


def guarded_protocol(limits: HttpLimits) -> type[GuardedHttpProtocol]:
    """A :class:`GuardedHttpProtocol` class for one server: its limits and its own counts."""

    class Guarded(GuardedHttpProtocol):
        pass

    Guarded.limits = limits
    Guarded.counts = ConnectionCounts()
    return Guarded


class CollectorServer(uvicorn.Server):
    """uvicorn's server, calling ``on_stopping`` as a stop begins (before waiting for connections)."""

    def __init__(self, config: uvicorn.Config, on_stopping: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_stopping = on_stopping
        #: The first signal that stopped the server (None: not stopped by a signal).
        self.stop_signal: int | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.stop_signal is None:
            self.stop_signal = sig
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.on_stopping()
        await super().shutdown(sockets)
