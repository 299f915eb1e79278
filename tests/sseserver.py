"""A scriptable Server-Sent Events server for client tests: real uvicorn on 127.0.0.1.

Each incoming request (any path) takes the next *plan* from the script; when the script
is exhausted, ``otherwise`` answers. Every request is recorded (path, query, the
``Last-Event-ID`` and ``Authorization`` headers) before it is answered.

Plans:

* :class:`Stream` — 200 ``text/event-stream``: send ``events`` (or raw text), then
  ``"end"`` the body cleanly, ``"drop"`` the connection abruptly (no final chunk), or
  ``"hold"`` it open (optionally with comment heartbeats) until the client leaves or the
  server stops.
* :class:`Status` — any status, body and content type (503, 401, a 200 ``text/html``…).
* a callable taking the :class:`RecordedRequest` and returning a plan, to answer
  according to ``Last-Event-ID`` (see :func:`resuming`).

Usage::

    with SSEServer() as server:
        server.play(Stream([SSE("1", "log", "{}")], ending="drop"), Status(503))
        ... connect to server.url ...
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

HOLD_LIMIT_SECONDS = 30.0  # a held stream never outlives this, whatever happens


@dataclass(frozen=True)
class SSE:
    """One event as the server writes it; ``None`` fields are left out."""

    id: str | None
    event: str | None
    data: str

    def encode(self) -> str:
        lines = []
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.event is not None:
            lines.append(f"event: {self.event}")
        lines.extend(f"data: {line}" for line in self.data.split("\n"))
        return "\n".join(lines) + "\n\n"


@dataclass(frozen=True)
class Stream:
    events: Sequence[SSE | str] = ()
    ending: Literal["end", "drop", "hold"] = "end"
    heartbeat: float | None = 0.05  # seconds between ": ping" comments while holding; None = silent


@dataclass(frozen=True)
class Status:
    code: int
    body: str = ""
    content_type: str = "text/plain"


Plan = Stream | Status | Callable[["RecordedRequest"], "Stream | Status"]


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    query: dict[str, str]
    last_event_id: str | None
    authorization: str | None


class _Drop(Exception):
    """Raised inside a streaming body: uvicorn then closes the socket without a final chunk."""


@dataclass
class SSEServer:
    otherwise: Plan = field(default_factory=lambda: Stream(ending="hold"))
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: collections.deque[Plan] = collections.deque()
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---------------------------------------------------------------- control
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def play(self, *plans: Plan) -> None:
        """Queue plans: the next requests get them in order."""
        self._script.extend(plans)

    def start(self, timeout: float = 10.0) -> SSEServer:
        app = Starlette(routes=[Route("/{path:path}", self._endpoint)])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="critical", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sse-test-server", daemon=True)
        self._thread.start()
        started = threading.Event()
        for _ in range(int(timeout / 0.01)):
            if self._server.started:
                started.set()
                break
            if not self._thread.is_alive():
                break
            self._stopping.wait(0.01)
        if not started.is_set():
            raise RuntimeError("test SSE server did not start")
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SSEServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def last_event_ids(self) -> list[str | None]:
        return [request.last_event_id for request in self.requests]

    # ---------------------------------------------------------------- serving
    async def _endpoint(self, request: Request) -> Response:
        recorded = RecordedRequest(
            path=request.url.path,
            query=dict(request.query_params),
            last_event_id=request.headers.get("last-event-id"),
            authorization=request.headers.get("authorization"),
        )
        self.requests.append(recorded)
        plan = self._script.popleft() if self._script else self.otherwise
        if not isinstance(plan, (Stream, Status)):
            plan = plan(recorded)
        if isinstance(plan, Status):
            return Response(plan.body, status_code=plan.code, media_type=plan.content_type)
        return StreamingResponse(
            self._body(plan), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def _body(self, plan: Stream) -> AsyncIterator[str]:
        for item in plan.events:
            yield item if isinstance(item, str) else item.encode()
        if plan.ending == "drop":
            raise _Drop("scripted abrupt close")
        if plan.ending == "hold":
            interval = plan.heartbeat or 0.05
            for _ in range(int(HOLD_LIMIT_SECONDS / interval)):
                if self._stopping.is_set():
                    return
                await asyncio.sleep(interval)
                if plan.heartbeat is not None:
                    yield ": ping\n\n"


def resuming(events: Sequence[SSE], per_connection: int, ending: Literal["end", "drop"]) -> Plan:
    """A plan sending the next ``per_connection`` events after the request's Last-Event-ID."""

    def plan(request: RecordedRequest) -> Stream:
        after = request.last_event_id
        start = 0
        if after is not None:
            start = next((i + 1 for i, event in enumerate(events) if event.id == after), 0)
        chunk = events[start : start + per_connection]
        return Stream(chunk, ending=ending if start + per_connection < len(events) else "hold")

    return plan
