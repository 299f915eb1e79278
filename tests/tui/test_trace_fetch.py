"""The trace fetch (client/traces.py) answers every status with the trace or a typed failure, and the
waterfall's pure pieces (nesting, the slowest path, bar cells) hold on odd input. Real HTTP on 127.0.0.1: a
real collector (its 404 and 401), a scripted server for the rest, a closed port for no answer."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from agentwatch.client.traces import TraceResult, fetch_trace, trace_client
from agentwatch.protocol import PATH_TRACES, TraceSpan
from agentwatch.tui.waterfall import bar_cells, failure_text, nested, slowest_path
from tests.sseserver import SSEServer, Status


@pytest.fixture(scope="module")
def running() -> Iterator[SSEServer]:
    with SSEServer(otherwise=Status(599, "unscripted request")) as server:
        yield server


async def fetch(url: str, trace_id: str, token: str | None = None) -> TraceResult:
    async with trace_client() as http:
        return await fetch_trace(http, url, trace_id, token=token)


async def test_a_trace_the_collector_holds_comes_back_decoded_and_an_unknown_one_is_not_found(collector):
    assert (
        collector.post({"agent_id": "a", "trace_id": "t-9", "span_id": "s", "latency_ms": 5}).status_code
        == 202
    )
    found = await fetch(collector.url, "t-9")
    assert found.failure is None and found.trace is not None
    assert [span.span_id for span in found.trace.spans] == ["s"]
    missing = await fetch(collector.url, "t-10")
    assert missing.trace is None and missing.failure is not None and missing.failure.kind == "not_found"
    assert "holds no event of trace t-10" in failure_text(missing.failure, collector.url, "t-10")


async def test_a_bad_id_is_refused_with_the_collectors_reason_and_a_missing_token_is_unauthorized(
    start_collector,
):
    collector = start_collector(token="s3cret")
    refused = await fetch(collector.url, "bad id!", token="s3cret")
    assert refused.failure is not None and refused.failure.kind == "refused"
    unauthorized = await fetch(collector.url, "t-1")
    assert unauthorized.failure is not None and unauthorized.failure.kind == "unauthorized"
    assert (await fetch(collector.url, "t-1", token="s3cret")).failure.kind == "not_found"


async def test_a_collector_without_the_route_is_unavailable_and_a_bad_body_undecodable(running: SSEServer):
    running.requests.clear()
    running.play(Status(404, "Not Found", "text/plain"), Status(200, "{]", "application/json"))
    assert (await fetch(running.url, "t-1")).failure.kind == "unavailable"
    undecodable = await fetch(running.url, "t")
    assert undecodable.failure is not None and undecodable.failure.kind == "undecodable"
    assert [request.path for request in running.requests] == [f"{PATH_TRACES}/t-1", f"{PATH_TRACES}/t"]


async def test_no_answer_is_unreachable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await fetch(f"http://127.0.0.1:{port}", "t")
    assert result.failure is not None and result.failure.kind == "unreachable"


# ---------------------------------------------------------------- the waterfall's pure pieces
def span(number: int, start: float, ms: float | None, span_id: str | None, parent: str | None) -> TraceSpan:
    return TraceSpan(number, "a", start, "tool_call", f"s{number}", "info", ms, None, span_id, parent)


def test_nesting_puts_children_under_parents_and_survives_orphans_cycles_and_repeated_ids():
    spans = [
        span(1, 0.0, 1000, "root", None),
        span(2, 0.5, 100, "late", "root"),
        span(3, 0.1, 100, "early", "root"),
        span(4, 0.2, 50, "deep", "early"),
        span(5, 0.3, 10, "orphan", "gone"),  # parent not in the trace: a root
        span(6, 0.4, 10, "x", "y"),
        span(7, 0.4, 10, "y", "x"),  # a cycle: both shown, once each
        span(8, 0.6, None, None, None),  # no span id (a prompt's event): a root
        span(9, 0.7, 10, "root", None),  # a repeated id: its own row
    ]
    rows = nested(spans)
    assert [(s.id, depth) for s, depth in rows] == [
        (1, 0), (3, 1), (4, 2), (2, 1), (5, 0), (8, 0), (9, 0), (6, 0), (7, 0),
    ]  # fmt: skip
    assert [s.id for s in slowest_path(rows)] == [1, 2]


def test_bar_cells_scale_start_and_duration_and_stay_on_the_axis():
    assert bar_cells(0.0, 1.0, 0.0, 1.0, 10) == (0, 10)
    assert bar_cells(0.3, 0.4, 0.0, 1.0, 10) == (3, 4)
    assert bar_cells(0.31, 0.32, 0.0, 1.0, 10) == (3, 4)  # at least a cell
    assert bar_cells(1.0, 1.0, 0.0, 1.0, 10) == (9, 10)  # a point at the end: the last cell
    assert bar_cells(0.0, 0.0, 0.0, 0.0, 10) == (0, 1)  # no wall time
    assert bar_cells(5.0, 9.0, 0.0, 1.0, 10) == (9, 10)  # past the end (a clock skew): clamped
