"""The agent SDK: non-blocking recording, batching, retries and span nesting, against real HTTP."""

from __future__ import annotations

import asyncio
import contextvars
import gzip
import itertools
import logging
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentwatch import pricing
from agentwatch.protocol import HEADER_IDEMPOTENCY_KEY, PATH_EVENTS, Event, IngestResponse, Rejected
from agentwatch.retry import parse_retry_after
from agentwatch.sdk import AgentTelemetry, LoggingHandler
from agentwatch.sdk import spans as sdk_spans
from tests.helpers import WAIT_TIMEOUT, Clock, serve_in_thread, wait_until

HEX = set("0123456789abcdef")


@dataclass
class Recorder:
    """An ingest endpoint that records every request; ``answers`` scripts the first responses."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)
    reject_items: int = 0
    url: str = ""

    @property
    def events(self) -> list[Event]:
        return [event for request in list(self.requests) for event in request["events"]]

    def spans(self, span_type: str | None = None) -> list[Event]:
        """Recorded events other than heartbeats (optionally of one type)."""
        return [
            e
            for e in self.events
            if e.span_type != "heartbeat" and (span_type is None or e.span_type == span_type)
        ]

    def app(self) -> Starlette:
        async def ingest(request: Request) -> Response:
            raw = await request.body()
            encoding = request.headers.get("content-encoding")
            body = gzip.decompress(raw) if encoding == "gzip" else raw
            events = msgspec.json.decode(body, type=list[Event])
            self.requests.append(
                {
                    "headers": dict(request.headers),
                    "raw": raw,
                    "raw_size": len(raw),
                    "encoding": encoding,
                    "events": events,
                    "at": time.monotonic(),
                }
            )
            if self.answers:
                status, headers = self.answers.popleft()
                return Response(b"{}", status, headers=headers)
            rejected = [Rejected(i, "bad") for i in range(min(self.reject_items, len(events)))]
            answer = IngestResponse(accepted=len(events) - len(rejected), rejected=rejected)
            return Response(msgspec.json.encode(answer), 202, media_type="application/json")

        return Starlette(routes=[Route(PATH_EVENTS, ingest, methods=["POST"])])


@dataclass
class RawRequest:
    line: str
    headers: dict[str, str]
    body: bytes
    connection: int  # 1 for the first connection the server accepted, 2 for the next...


class RawCollector:
    """A bare HTTP/1.1 ingest endpoint on 127.0.0.1 over real sockets (TLS with ``tls``), so a
    test chooses when connections close: it records each request and answers 202 with an
    IngestResponse. ``close_after_answer`` closes a connection after each answer, without
    saying so (as a server dropping an idle kept-alive connection does); ``drop_request=n``
    closes a connection on its n-th request without answering."""

    def __init__(
        self,
        *,
        close_after_answer: bool = False,
        drop_request: int | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.requests: list[RawRequest] = []
        connections = itertools.count(1)
        requests = self.requests

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                connection = next(connections)
                for number in range(1, 1001):
                    line = self.rfile.readline(65536)
                    if not line:
                        return
                    headers: dict[str, str] = {}
                    for _ in range(100):
                        header = self.rfile.readline(65536)
                        if header in (b"\r\n", b"\n", b""):
                            break
                        name, _, value = header.decode("latin-1").partition(":")
                        headers[name.strip().lower()] = value.strip()
                    body = self.rfile.read(int(headers.get("content-length", "0")))
                    requests.append(RawRequest(line.decode("latin-1").strip(), headers, body, connection))
                    if number == drop_request:
                        return
                    if headers.get("content-encoding") == "gzip":
                        body = gzip.decompress(body)
                    answer = msgspec.json.encode(IngestResponse(accepted=len(msgspec.json.decode(body))))
                    head = f"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: {len(answer)}\r\n\r\n"
                    self.wfile.write(head.encode() + answer)
                    self.wfile.flush()
                    if close_after_answer:
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self) -> tuple[Any, Any]:
                sock, address = super().get_request()
                return (tls.wrap_socket(sock, server_side=True) if tls else sock), address

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def raw_collector() -> Iterator[Any]:
    servers: list[RawCollector] = []

    def start(**options: Any) -> RawCollector:
        servers.append(RawCollector(**options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recording = Recorder()
    server, thread, port = serve_in_thread(recording.app())
    recording.url = f"http://127.0.0.1:{port}"
    yield recording
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def make_telemetry() -> Iterator[Any]:
    created: list[AgentTelemetry] = []

    def make(url: str, **kwargs: Any) -> AgentTelemetry:
        kwargs.setdefault("heartbeat_interval", None)
        kwargs.setdefault("flush_interval", 0.05)
        telemetry = AgentTelemetry(kwargs.pop("agent_id", "agent-1"), url, **kwargs)
        created.append(telemetry)
        return telemetry

    yield make
    for telemetry in created:  # a test that left its collector down has it wait out the whole timeout
        telemetry.close(timeout=0.2)


def closed_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# ---------------------------------------------------------------- construction
def test_sdk_imports_without_textual_or_starlette() -> None:
    code = (
        "import agentwatch.sdk, sys; assert 'textual' not in sys.modules and 'starlette' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_agent_id_is_required_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTWATCH_AGENT_ID", raising=False)
    with pytest.raises(ValueError, match="agent_id"):
        AgentTelemetry()
    monkeypatch.setenv("AGENTWATCH_AGENT_ID", "from-env")
    monkeypatch.setenv("AGENTWATCH_URL", "http://127.0.0.1:9")
    telemetry = AgentTelemetry(heartbeat_interval=None)
    assert (telemetry.agent_id, telemetry.url) == ("from-env", "http://127.0.0.1:9")
    telemetry.close(timeout=0.1)
    with pytest.raises(ValueError):
        AgentTelemetry("x" * 129)


# ---------------------------------------------------------------- delivery
def test_events_are_batched_by_size_and_sent_with_bearer_token(
    recorder: Recorder, make_telemetry: Any
) -> None:
    telemetry = make_telemetry(recorder.url, token="s3cret", batch_size=100, flush_interval=10.0)
    for i in range(250):
        telemetry.tool_call("search", latency_ms=float(i))
    assert telemetry.flush(timeout=5)
    sizes = [len(request["events"]) for request in recorder.requests]
    assert sizes == [100, 100, 50]
    assert all(request["headers"]["authorization"] == "Bearer s3cret" for request in recorder.requests)
    assert [e.latency_ms for e in recorder.spans()] == [float(i) for i in range(250)]
    assert telemetry.stats()["sent"] == 250


def test_events_are_sent_within_the_flush_interval_without_an_explicit_flush(
    recorder: Recorder, make_telemetry: Any
) -> None:
    telemetry = make_telemetry(recorder.url, flush_interval=0.05)
    telemetry.log("info", "hello")
    wait_until(lambda: recorder.spans("log"), timeout=5)
    assert recorder.spans("log")[0].message == "hello"


def test_large_batches_are_gzipped_small_ones_are_not(recorder: Recorder, make_telemetry: Any) -> None:
    telemetry = make_telemetry(recorder.url, gzip_min_bytes=2000)
    telemetry.log("info", "tiny")
    assert telemetry.flush()
    for i in range(100):
        telemetry.log("info", f"a longer line of log text number {i}")
    assert telemetry.flush()
    small, large = recorder.requests[0], recorder.requests[-1]
    assert small["encoding"] is None
    assert large["encoding"] == "gzip"
    assert large["raw_size"] < len(msgspec.json.encode(large["events"]))


def test_retry_honours_retry_after_on_503_and_429(recorder: Recorder, make_telemetry: Any) -> None:
    recorder.answers.extend([(503, {"retry-after": "0"}), (429, {"retry-after": "0"})])
    telemetry = make_telemetry(recorder.url)
    telemetry.decision("escalate", 0.4)
    assert telemetry.flush(timeout=5)
    assert len(recorder.requests) == 3  # 503, 429, then accepted
    assert telemetry.stats() | {"queued": 0} == {
        "sent": 1,
        "dropped": 0,
        "retried": 2,
        "failed": 0,
        "rejected": 0,
        "queued": 0,
        "starts_dropped": 0,
    }
    assert recorder.spans()[0].decision_made == "escalate"
    # encoded once: every attempt sends the same bytes under the same key
    assert len({request["raw"] for request in recorder.requests}) == 1
    assert len({request["headers"]["idempotency-key"] for request in recorder.requests}) == 1


def test_retries_are_bounded_then_the_batch_is_counted_failed(
    recorder: Recorder, make_telemetry: Any
) -> None:
    recorder.answers.extend([(503, {"retry-after": "0"})] * 3)
    telemetry = make_telemetry(recorder.url, max_retries=2)
    telemetry.log("info", "lost")
    assert telemetry.flush(timeout=5)
    stats = telemetry.stats()
    assert (stats["failed"], stats["retried"], stats["sent"]) == (1, 2, 0)


def test_client_errors_are_rejected_without_retry(recorder: Recorder, make_telemetry: Any) -> None:
    recorder.answers.append((400, {}))
    telemetry = make_telemetry(recorder.url)
    telemetry.log("info", "bad")
    assert telemetry.flush()
    assert len(recorder.requests) == 1
    assert telemetry.stats()["rejected"] == 1 and telemetry.stats()["retried"] == 0


def test_per_item_rejections_in_the_ingest_response_are_counted(
    recorder: Recorder, make_telemetry: Any
) -> None:
    recorder.reject_items = 2
    telemetry = make_telemetry(recorder.url)
    for _ in range(5):
        telemetry.log("info", "x")
    assert telemetry.flush()
    assert (telemetry.stats()["sent"], telemetry.stats()["rejected"]) == (3, 2)


def test_full_queue_drops_and_counts_instead_of_blocking(make_telemetry: Any) -> None:
    telemetry = make_telemetry(closed_port(), max_queue=50, flush_interval=30.0, batch_size=1000)
    accepted = [telemetry.log("info", "x") for _ in range(80)]
    assert accepted.count(True) == 50
    stats = telemetry.stats()
    assert (stats["dropped"], stats["queued"]) == (30, 50)


def test_calls_never_block_while_the_collector_is_down(make_telemetry: Any) -> None:
    """A full queue drops rather than waits for the sender; how long a call takes while the
    collector is down is bench_sdk.py's to measure."""
    telemetry = make_telemetry(closed_port(), max_queue=1000, batch_size=100, flush_interval=0.01)
    for i in range(20_000):
        telemetry.llm_call("gpt-4o", 10, 20, 5.0)
        if i % 2000 == 0:
            with telemetry.span("tool_call", tool_name="t"):
                pass
    stats = telemetry.stats()
    assert stats["dropped"] > 0 and stats["sent"] == 0
    assert telemetry.flush(timeout=0.2) is False


def test_flush_returns_false_after_timeout_when_the_collector_is_down(make_telemetry: Any) -> None:
    telemetry = make_telemetry(closed_port(), max_retries=50)
    telemetry.log("info", "x")
    assert telemetry.flush(timeout=0.3) is False
    assert telemetry.stats()["failed"] == 0  # it returned on its timeout: the sender still retries


def test_close_sends_remaining_events_and_later_records_are_dropped(
    recorder: Recorder, make_telemetry: Any
) -> None:
    telemetry = make_telemetry(recorder.url, flush_interval=30.0)
    telemetry.log("info", "last words")
    assert telemetry.close(timeout=5)
    assert [e.message for e in recorder.spans("log")] == ["last words"]
    assert telemetry.log("info", "too late") is False
    assert telemetry.stats()["dropped"] == 1


def test_heartbeats_report_sdk_counters(recorder: Recorder, make_telemetry: Any) -> None:
    telemetry = make_telemetry(recorder.url, max_queue=2, flush_interval=30.0, heartbeat_interval=3600)
    for _ in range(5):
        telemetry.log("info", "x")
    assert telemetry.flush()
    assert [e for e in recorder.events if e.span_type == "heartbeat"], "one is sent when the sender starts"
    assert telemetry.heartbeat()
    assert telemetry.flush()
    last = [e for e in recorder.events if e.span_type == "heartbeat"][-1].attributes or {}
    assert last["agentwatch.sdk.dropped"] >= 3
    assert set(last) == {
        f"agentwatch.sdk.{k}"
        for k in ("sent", "dropped", "retried", "failed", "rejected", "queued", "starts_dropped")
    }


def test_an_unencodable_attribute_does_not_lose_the_batch(recorder: Recorder, make_telemetry: Any) -> None:
    class Opaque:
        def __str__(self) -> str:
            raise RuntimeError("no")

    telemetry = make_telemetry(recorder.url)
    telemetry.log("info", "fine", obj=object())  # str()-able: sent as text
    telemetry.log("info", "broken", obj=Opaque())
    telemetry.log("info", "also fine")
    assert telemetry.flush()
    assert [e.message for e in recorder.spans("log")] == ["fine", "also fine"]
    assert telemetry.stats()["dropped"] == 1


# ---------------------------------------------------------------- spans
def test_span_times_the_block_and_nests_ids(
    recorder: Recorder, make_telemetry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(now=0.0)
    monkeypatch.setattr(sdk_spans, "_perf_ns", lambda: round(clock.now * 1e9))  # the spans' timer
    telemetry = make_telemetry(recorder.url)
    with telemetry.span("agent", task="triage") as outer:
        with telemetry.span("llm_call", model="gpt-4o") as inner:
            clock.advance(0.02)  # the block takes 20 ms
            inner.set(tokens_input=100, tokens_output=50)
        telemetry.tool_call("search", latency_ms=3.0)
        telemetry.log("info", "inside")
    telemetry.llm_call("gpt-4o", 1, 1, 1.0)
    assert telemetry.flush()
    (agent,) = recorder.spans("agent")
    llm, root_llm = recorder.spans("llm_call")
    (tool,) = recorder.spans("tool_call")
    (log,) = recorder.spans("log")
    assert len(agent.trace_id or "") == 32 and set(agent.trace_id or "") <= HEX
    assert len(agent.span_id or "") == 16 and agent.parent_span_id is None
    assert llm.trace_id == tool.trace_id == log.trace_id == agent.trace_id
    assert llm.parent_span_id == tool.parent_span_id == agent.span_id == outer.span_id
    assert log.span_id == agent.span_id
    assert root_llm.trace_id != agent.trace_id and root_llm.parent_span_id is None
    assert llm.latency_ms == pytest.approx(20.0)
    assert (llm.tokens_input, llm.tokens_output, llm.model) == (100, 50, "gpt-4o")
    assert agent.attributes == {"task": "triage"}


def test_exception_is_recorded_and_re_raised(recorder: Recorder, make_telemetry: Any) -> None:
    telemetry = make_telemetry(recorder.url)
    with pytest.raises(KeyError), telemetry.span("tool_call", tool_name="db"):
        raise KeyError("missing row")
    assert telemetry.flush()
    assert recorder.spans()[0].error == "KeyError: 'missing row'"


def test_decorator_works_for_sync_and_async_functions(recorder: Recorder, make_telemetry: Any) -> None:
    telemetry = make_telemetry(recorder.url)

    @telemetry.span("tool_call", tool_name="add")
    def add(a: int, b: int) -> int:
        return a + b

    @telemetry.span("llm_call", model="gpt-4o-mini")
    async def ask(question: str) -> str:
        await asyncio.sleep(0)
        if question == "fail":
            raise ValueError("refused")
        return "answer"

    assert add(2, 3) == 5 and add.__name__ == "add"
    assert asyncio.run(ask("q")) == "answer"
    with pytest.raises(ValueError):
        asyncio.run(ask("fail"))
    assert telemetry.flush()
    tools, llms = recorder.spans("tool_call"), recorder.spans("llm_call")
    assert [t.tool_name for t in tools] == ["add"]
    assert [(e.model, e.error) for e in llms] == [
        ("gpt-4o-mini", None),
        ("gpt-4o-mini", "ValueError: refused"),
    ]
    assert llms[0].span_id != llms[1].span_id


async def test_async_with_and_tasks_inherit_the_parent_span(recorder: Recorder, make_telemetry: Any) -> None:
    telemetry = make_telemetry(recorder.url)

    async def step(n: int) -> None:
        async with telemetry.span("tool_call", tool_name=f"step{n}"):
            await asyncio.sleep(0)  # the other steps run: five spans are open at once

    async with telemetry.span("agent") as root:
        await asyncio.gather(*(step(n) for n in range(5)))
        await asyncio.to_thread(telemetry.tool_call, "in_thread")
    async with telemetry.span("agent") as other_root:
        pass
    assert await asyncio.to_thread(telemetry.flush)
    steps = recorder.spans("tool_call")
    assert len(steps) == 6
    assert {s.parent_span_id for s in steps} == {root.span_id}
    assert {s.trace_id for s in steps} == {root.trace_id}
    assert other_root.trace_id != root.trace_id


def test_threads_keep_separate_traces_unless_given_the_context(
    recorder: Recorder, make_telemetry: Any
) -> None:
    telemetry = make_telemetry(recorder.url)
    barrier = threading.Barrier(4)
    outer_ids: list[tuple[str, str]] = []

    def worker(n: int) -> None:
        with telemetry.span("agent", worker=n) as root:
            barrier.wait(timeout=5)  # all four roots open at once
            telemetry.tool_call(f"t{n}")
            outer_ids.append((root.trace_id, root.span_id))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    with telemetry.span("agent") as main_root:
        ctx = contextvars.copy_context()
        inherited = threading.Thread(target=ctx.run, args=(telemetry.tool_call, "inherited"))
        inherited.start()
        inherited.join(timeout=10)
    assert telemetry.flush()
    tools = {t.tool_name: t for t in recorder.spans("tool_call")}
    for n in range(4):
        root = next(r for r in recorder.spans("agent") if r.attributes == {"worker": n})
        assert (tools[f"t{n}"].trace_id, tools[f"t{n}"].parent_span_id) == (root.trace_id, root.span_id)
    assert len({trace for trace, _ in outer_ids}) == 4
    assert tools["inherited"].parent_span_id == main_root.span_id


def test_llm_call_cost_is_estimated_from_the_price_table(recorder: Recorder, make_telemetry: Any) -> None:
    telemetry = make_telemetry(recorder.url)
    telemetry.llm_call("gpt-4o", 1_000_000, 0, 100.0)
    telemetry.llm_call("gpt-4o", 10, 10, 100.0, cost_usd=0.5)
    telemetry.llm_call("mystery-model", 10, 10, 100.0)
    pricing.set_prices({"house-model": (1.0, 2.0)})
    telemetry.llm_call("house-model", 1_000_000, 1_000_000, 1.0)
    assert telemetry.flush()
    estimated, given, unknown, custom = recorder.spans("llm_call")
    assert (estimated.cost_usd, estimated.cost_estimated) == (pytest.approx(2.5), True)
    assert (given.cost_usd, given.cost_estimated) == (0.5, None)
    assert (unknown.cost_usd, unknown.cost_estimated) == (None, None)
    assert custom.cost_usd == pytest.approx(3.0)


# ---------------------------------------------------------------- logging
def test_logging_handler_records_level_message_and_metadata(recorder: Recorder, make_telemetry: Any) -> None:
    telemetry = make_telemetry(recorder.url)
    logger = logging.getLogger("agentwatch.tests.agent")
    logger.propagate = False
    handler = LoggingHandler(telemetry)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.warning("disk at %d%%", 91)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("step failed")
        logger.log(25, "custom level")
    finally:
        logger.removeHandler(handler)
    assert telemetry.flush()
    warning, error, custom = recorder.spans("log")
    assert (warning.level, warning.message) == ("warning", "agentwatch.tests.agent: disk at 91%")
    assert warning.attributes is not None
    assert warning.attributes["logger"] == "agentwatch.tests.agent"
    assert warning.attributes["module"] == "test_sdk" and isinstance(warning.attributes["lineno"], int)
    assert error.level == "error" and "RuntimeError: boom" in (error.attributes or {})["exc_text"]
    assert custom.level == "info"


def test_logging_handler_never_raises(make_telemetry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    telemetry = make_telemetry(closed_port())
    handler = LoggingHandler(telemetry)
    monkeypatch.setattr(logging, "raiseExceptions", False)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d", ("not a number",), None)
    handler.emit(record)  # a formatting error goes to handleError, not to the caller


def test_parse_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3", now=0) == 3.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", now=4.0) == pytest.approx(6.0)
    assert parse_retry_after("soon", now=0) is None
    assert parse_retry_after("99999", now=0) == 60.0
    assert parse_retry_after("-5", now=0) == 0.0


# ---------------------------------------------------------------- the connection
def test_a_kept_alive_connection_the_collector_closed_is_replaced_without_a_retry(
    raw_collector: Any, make_telemetry: Any
) -> None:
    server = raw_collector(close_after_answer=True)
    telemetry = make_telemetry(server.url, flush_interval=30.0)
    for message in ("one", "two", "three"):
        telemetry.log("info", message)
        assert telemetry.flush()
    assert [request.connection for request in server.requests] == [1, 2, 3]
    stats = telemetry.stats()
    assert (stats["sent"], stats["retried"], stats["failed"]) == (3, 0, 0)


def test_a_request_lost_on_a_dead_kept_alive_connection_is_resent_once_with_the_same_key(
    raw_collector: Any, make_telemetry: Any
) -> None:
    server = raw_collector(drop_request=2)
    telemetry = make_telemetry(server.url, flush_interval=30.0)
    for message in ("one", "two"):
        telemetry.log("info", message)
        assert telemetry.flush()
    first, lost, resent = server.requests
    assert (first.connection, lost.connection, resent.connection) == (1, 1, 2)
    key = HEADER_IDEMPOTENCY_KEY.lower()
    assert lost.headers[key] == resent.headers[key] != first.headers[key]
    assert lost.body == resent.body
    stats = telemetry.stats()
    assert (stats["sent"], stats["retried"], stats["failed"]) == (2, 0, 0)


# A self-signed certificate for 127.0.0.1, valid 2000-2099: the trust store of the https test.
TEST_CERTIFICATE = """-----BEGIN CERTIFICATE-----
MIIBbDCCARKgAwIBAgIBATAKBggqhkjOPQQDAjAUMRIwEAYDVQQDDAkxMjcuMC4w
LjEwIBcNMDAwMTAxMDAwMDAwWhgPMjA5OTEyMzEwMDAwMDBaMBQxEjAQBgNVBAMM
CTEyNy4wLjAuMTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABBTpxg6kdgcfPfhV
MeLTCtk3BH1X4vl7flvWX2zSYyohQhWjBs694fB/jsBvUnsI5Az91bODD/yOcPGc
X/9ktJejUzBRMA8GA1UdEwEB/wQFMAMBAf8wDwYDVR0RBAgwBocEfwAAATAOBgNV
HQ8BAf8EBAMCAoQwHQYDVR0OBBYEFGPRzA3Jp1lsnalOWmCazwrDUQhaMAoGCCqG
SM49BAMCA0gAMEUCIQCj8bJ49PJa6tvSqG28o9zs387JWfPnpmKRMvv8WH4zzgIg
ayGzV5yKXKNANwJVODRoD2ISdWujudYf0QDc7TmCKvw=
-----END CERTIFICATE-----
"""
TEST_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggK3Ahfu7v1rp39Pz
N4jjvgiXkVHPsYPbebeayeIhOJ6hRANCAAQU6cYOpHYHHz34VTHi0wrZNwR9V+L5
e35b1l9s0mMqIUIVowbOveHwf47Ab1J7COQM/dWzgw/8jnDxnF//ZLSX
-----END PRIVATE KEY-----
"""


def test_https_verifies_the_collector_against_the_trust_store_named_by_ssl_cert_file(
    raw_collector: Any, make_telemetry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "server.pem").write_text(TEST_CERTIFICATE + TEST_KEY)
    (tmp_path / "trusted.pem").write_text(TEST_CERTIFICATE)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tmp_path / "server.pem")
    server = raw_collector(tls=server_context)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "trusted.pem"))
    trusting = make_telemetry(server.url)
    trusting.log("info", "over tls")
    assert trusting.flush()
    assert trusting.stats()["sent"] == 1 and server.requests[0].line == "POST /api/events HTTP/1.1"
    monkeypatch.delenv("SSL_CERT_FILE")  # the default trust store does not know this certificate
    distrusting = make_telemetry(server.url, max_retries=0)
    distrusting.log("info", "refused")
    assert distrusting.flush()
    assert (distrusting.stats()["sent"], distrusting.stats()["failed"]) == (0, 1)
    assert len(server.requests) == 1


def test_an_http_proxy_from_the_environment_is_sent_the_absolute_url(
    raw_collector: Any, make_telemetry: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = raw_collector()
    for name in ("http_proxy", "all_proxy", "no_proxy", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    target = closed_port()
    telemetry = make_telemetry(target, token="t0k")
    telemetry.log("info", "via the proxy")
    assert telemetry.flush()
    (request,) = proxy.requests
    assert request.line == f"POST {target}{PATH_EVENTS} HTTP/1.1"
    assert request.headers["authorization"] == "Bearer t0k"
    assert telemetry.stats()["sent"] == 1


def test_a_collector_url_that_is_not_http_is_refused_at_construction() -> None:
    for url in ("ftp://127.0.0.1:8787", "127.0.0.1:8787", "http://"):
        with pytest.raises(ValueError, match="http"):
            AgentTelemetry("agent-1", url, heartbeat_interval=None)


# ---------------------------------------------------------------- the real collector
def test_sdk_events_reach_the_real_collector_with_token_and_gzip(start_collector: Any) -> None:
    collector = start_collector(token="t0k")
    with AgentTelemetry(
        "real-agent", collector.url, "t0k", gzip_min_bytes=256, heartbeat_interval=None
    ) as telemetry:
        with telemetry.span("agent"):
            for i in range(50):
                telemetry.llm_call("gpt-4o", 100, 20, 10.0 + i)
            telemetry.log("warning", "slow tool")
        assert telemetry.flush(timeout=10)
        assert telemetry.stats()["sent"] == 52 and telemetry.stats()["rejected"] == 0
    snapshot = collector.service.snapshot("real-agent")
    assert snapshot.events == 52
    assert snapshot.completions == 50
    assert snapshot.p50_latency_ms == pytest.approx(34.5, rel=0.03)  # the median of 10…59 ms


def test_dropped_telemetry_is_reported_to_the_real_collector(start_collector: Any) -> None:
    collector = start_collector()
    telemetry = AgentTelemetry(
        "lossy", collector.url, max_queue=5, flush_interval=30.0, heartbeat_interval=3600
    )
    for _ in range(20):
        telemetry.log("info", "x")
    assert telemetry.flush(timeout=10)
    assert telemetry.heartbeat() and telemetry.flush(timeout=10)
    telemetry.close(timeout=5)
    rows = {row.agent_id: row for row in collector.service.snapshot().agents}
    assert rows["lossy"].telemetry_dropped >= 15


# ---------------------------------------------------------------- ids and span reuse
def test_ids_are_unique_nonzero_hex_and_a_forked_child_does_not_repeat_them() -> None:
    import os

    from agentwatch.sdk.spans import new_span_id, new_trace_id

    spans = [new_span_id() for _ in range(10_000)]
    traces = [new_trace_id() for _ in range(10_000)]
    assert len(set(spans)) == len(spans) and len(set(traces)) == len(traces)
    assert all(len(s) == 16 and set(s) <= HEX and s != "0" * 16 for s in spans)
    assert all(len(t) == 32 and set(t) <= HEX and t != "0" * 32 for t in traces)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: report the next ids and leave at once
        os.write(write_end, f"{new_span_id()} {new_trace_id()}".encode())
        os._exit(0)
    os.close(write_end)
    child_span, child_trace = os.read(read_end, 100).decode().split()
    os.close(read_end)
    os.waitpid(pid, 0)
    parent_span, parent_trace = new_span_id(), new_trace_id()
    assert child_span != parent_span and child_trace != parent_trace
    assert abs(int(child_span, 16) - int(parent_span, 16)) > 1_000_000  # a fresh starting point


def test_a_reused_span_object_does_not_carry_fields_set_in_an_earlier_block(
    recorder: Recorder, make_telemetry: Any
) -> None:
    telemetry = make_telemetry(recorder.url)
    span = telemetry.span("tool_call", tool_name="fetch")
    with span as first:
        first.set(tokens_input=5, note="first only")
    with span:
        pass
    assert telemetry.flush()
    first_event, second_event = recorder.spans("tool_call")
    assert (first_event.tokens_input, first_event.attributes) == (5, {"note": "first only"})
    second = (second_event.tool_name, second_event.tokens_input, second_event.attributes)
    assert second == ("fetch", None, None)
    assert first_event.span_id != second_event.span_id


def test_span_fields_may_override_its_time_and_latency_and_unknown_names_become_attributes(
    recorder: Recorder, make_telemetry: Any
) -> None:
    telemetry = make_telemetry(recorder.url)
    with telemetry.span("llm_call", model="gpt-4o", latency_ms=None) as span:
        span.set(latency_ms=1.5, timestamp=1_700_000_000.0, note="kept", tokens_output=1_000_000)
    with pytest.raises(RuntimeError), telemetry.span("tool_call", tool_name="t", attempt=2):
        raise RuntimeError("boom")
    assert telemetry.flush()
    (llm,) = recorder.spans("llm_call")
    assert (llm.latency_ms, llm.timestamp, llm.attributes) == (1.5, 1_700_000_000.0, {"note": "kept"})
    assert (llm.cost_usd, llm.cost_estimated) == (pytest.approx(10.0), True)
    (tool,) = recorder.spans("tool_call")
    assert (tool.error, tool.attributes, tool.tool_name) == ("RuntimeError: boom", {"attempt": 2}, "t")
    assert tool.latency_ms is not None and tool.timestamp is not None


def test_an_interrupted_span_is_recorded_without_an_error_and_re_raised(
    recorder: Recorder, make_telemetry: Any
) -> None:
    telemetry = make_telemetry(recorder.url)
    with pytest.raises(KeyboardInterrupt), telemetry.span("llm_call", model="gpt-4o"):
        raise KeyboardInterrupt
    assert telemetry.flush()
    (event,) = recorder.spans("llm_call")
    assert event.error is None
    assert event.attributes == {"agentwatch.span.interrupted": "KeyboardInterrupt"}


def test_recording_does_not_wait_while_the_sender_is_stuck_in_a_slow_request(make_telemetry: Any) -> None:
    entered, release = threading.Event(), threading.Event()

    async def held_ingest(request: Request) -> Response:
        entered.set()
        await asyncio.to_thread(release.wait, 60)
        return Response(b"{}", 202)

    app = Starlette(routes=[Route(PATH_EVENTS, held_ingest, methods=["POST"])])
    server, thread, port = serve_in_thread(app)
    try:
        telemetry = make_telemetry(f"http://127.0.0.1:{port}", batch_size=10, timeout=60.0)
        for _ in range(10):
            telemetry.log("info", "fill one batch")
        assert entered.wait(WAIT_TIMEOUT)  # the sender thread is now inside a POST held until released
        for _ in range(5_000):
            telemetry.llm_call("gpt-4o", 10, 20, 5.0)
        stats = telemetry.stats()  # every call returned while the POST is still held
        assert stats["sent"] == 0 and stats["queued"] + stats["dropped"] == 5_000
    finally:
        release.set()
        server.should_exit = True
        thread.join(timeout=10)
