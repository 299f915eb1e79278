"""The viewer against collectors that die and come back, and against a minimal collector.

Both tests run the real app (``run_test``) over real sockets on 127.0.0.1: a collector
process killed with ``kill -9`` and restarted on the same port and store, and a small
Starlette app that speaks only the seed article's minimal form of the protocol.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from agentwatch.protocol import (
    PATH_DASHBOARD_STREAM,
    PATH_EVENTS,
    PATH_LOGS_STREAM,
    SPAN_LOG,
    SSE_LOG,
    SSE_METRICS,
    History,
    LogEntry,
    Snapshot,
)
from agentwatch.tui import formatting as fmt
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.widgets import AgentTable, MetricPanel
from tests.helpers import CollectorProcess, async_wait_until, entry_lines, header, log_lines, serve_in_thread

SIZE = (120, 36)
LIVE = "● live"
RECONNECTING = "↻ reconnecting"
#: Generous: a soak run may share the machine, and a dropped stream waits out a jittered backoff.
TIMEOUT = 30.0


# ---------------------------------------------------------------- kill -9 and restart
async def post_lines(url: str, numbers: range) -> None:
    """Post one log event per number, message ``line-NNNN``, and check every one is accepted."""
    events = [
        {"agent_id": f"agent-{n % 3}", "span_type": SPAN_LOG, "level": "info", "message": f"line-{n:04d}"}
        for n in numbers
    ]
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(url + PATH_EVENTS, json=events)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == len(events)


def shown_messages(app: AgentWatchApp) -> list[str]:
    """The messages in the log pane, top to bottom (marker lines left out)."""
    return [line.rsplit(" ", 1)[-1] for line in entry_lines(app)]


async def test_collector_killed_and_restarted_the_view_recovers_without_losing_or_repeating_a_line(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = start_collector_process("--store", str(tmp_path / "store.db"), "--sync")
    before, after = range(0, 40), range(40, 70)
    expected = [f"line-{n:04d}" for n in (*before, *after)]

    app = AgentWatchApp(url=collector.url, connect=True, max_lines=1_000, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: LIVE in header(app), TIMEOUT, pilot=pilot)
        await post_lines(collector.url, before)
        await async_wait_until(lambda: len(shown_messages(app)) >= len(before), TIMEOUT, pilot=pilot)

        collector.kill9()
        await async_wait_until(lambda: RECONNECTING in header(app), TIMEOUT, pilot=pilot)
        assert LIVE not in header(app)

        collector.restart()  # same port, same store
        await post_lines(collector.url, after)
        await async_wait_until(lambda: LIVE in header(app), TIMEOUT, pilot=pilot)
        await async_wait_until(lambda: len(shown_messages(app)) >= len(expected), TIMEOUT, pilot=pilot)

        assert shown_messages(app) == expected  # each line once, in order
        notices = [line for line in log_lines(app) if line.startswith("⚠")]
        assert notices == ["⚠ collector restarted — its log goes on"]  # told of the restart; nothing lost
        assert app.state.lines_missed == 0
        assert app.is_running


# ---------------------------------------------------------------- minimal collector
#: The snapshot fields of the seed article's minimal form: the first fields of ``Snapshot``
#: (timestamp, tokens/s, tool calls, error rate, completions, p50, p99, active agents).
ARTICLE_SNAPSHOT_FIELDS = Snapshot.__struct_fields__[:8]
UNKNOWN_FIELD = "queue_depth_by_region"
TOKENS_PER_SECOND = 1234.5
P50_MS, P99_MS = 850.0, 1240.0
MINIMAL_AGENTS = ("planner", "retriever")
#: Bounds the minimal collector's streams: (iterations, seconds between them).
STREAM_TICKS, TICK_SECONDS = 600, 0.1


def minimal_snapshot() -> bytes:
    """A snapshot with only the article's eight fields plus one field no viewer knows."""
    full = Snapshot(
        timestamp=time.time(),
        tokens_per_second=TOKENS_PER_SECOND,
        tool_calls_total=12,
        error_rate=0.25,
        completions=40,
        p50_latency_ms=P50_MS,
        p99_latency_ms=P99_MS,
        active_agents=len(MINIMAL_AGENTS),
        cost_per_minute=99.0,  # left out below: a minimal collector knows nothing of cost
    )
    document: dict[str, Any] = {name: getattr(full, name) for name in ARTICLE_SNAPSHOT_FIELDS}
    document[UNKNOWN_FIELD] = {"eu": 3}
    return msgspec.json.encode(document)


def minimal_log_entries() -> list[bytes]:
    """Log entries as the article sends them: no id, no span type; one of them an error."""
    now = time.time()
    entries = [
        LogEntry(timestamp=now - 3, agent_id="planner", level="info", message="plan ready", metadata={"step": 1}),
        LogEntry(timestamp=now - 2, agent_id="retriever", level="error", message="fetch failed", metadata={"code": 504}),
        LogEntry(timestamp=now - 1, agent_id="retriever", level="info", message="retrying", metadata={"attempt": 2}),
    ]  # fmt: skip
    encoded = [msgspec.json.encode(entry) for entry in entries]
    assert all(b'"id"' not in payload for payload in encoded)
    return encoded


def minimal_collector() -> Starlette:
    """``/api/dashboard/stream`` and ``/api/logs/stream`` in the article's form, nothing else."""

    async def metrics(_: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(STREAM_TICKS):
                yield b"event: " + SSE_METRICS.encode() + b"\ndata: " + minimal_snapshot() + b"\n\n"
                await asyncio.sleep(TICK_SECONDS)

        return StreamingResponse(body(), media_type="text/event-stream")

    async def logs(_: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for payload in minimal_log_entries():
                yield b"event: " + SSE_LOG.encode() + b"\ndata: " + payload + b"\n\n"
            for _ in range(STREAM_TICKS):
                yield b": heartbeat\n\n"
                await asyncio.sleep(TICK_SECONDS)

        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[Route(PATH_DASHBOARD_STREAM, metrics), Route(PATH_LOGS_STREAM, logs)])


@pytest.fixture
def minimal_url() -> Iterator[str]:
    server, thread, port = serve_in_thread(minimal_collector())
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def panel_value(app: AgentWatchApp, panel_id: str) -> str:
    return app.query_one(f"#{panel_id}", MetricPanel).value_text


async def test_minimal_collector_fills_what_it_sends_and_shows_a_dash_for_the_rest(minimal_url: str) -> None:
    app = AgentWatchApp(url=minimal_url, connect=True, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: LIVE in header(app), TIMEOUT, pilot=pilot)
        await async_wait_until(lambda: len(entry_lines(app)) == 3, TIMEOUT, pilot=pilot)
        table = app.query_one(AgentTable)
        await async_wait_until(lambda: set(table.row_agents()) == set(MINIMAL_AGENTS), TIMEOUT, pilot=pilot)
        await async_wait_until(
            lambda: fmt.number(TOKENS_PER_SECOND) in panel_value(app, "m-tokens"), TIMEOUT, pilot=pilot
        )

        latency = panel_value(app, "m-latency")
        assert fmt.latency(P50_MS) in latency and fmt.latency(P99_MS) in latency
        assert panel_value(app, "m-cost") == fmt.MISSING
        for agent in MINIMAL_AGENTS:
            for column in ("p50", "p99", "cost", "tok/s"):
                assert str(table.get_cell(agent, column)) == fmt.MISSING, (agent, column)
            assert str(table.get_cell(agent, "last seen")).endswith("ago")
        assert str(table.get_cell("retriever", "err %")) == "1 err"
        assert str(table.get_cell("planner", "err %")) == fmt.MISSING
        assert any(line.endswith("fetch failed") and " ERROR " in line for line in log_lines(app))
        assert app.state.decode_errors == 0
        assert app.is_running


async def test_cost_panel_shows_a_dash_only_when_the_snapshot_carries_no_cost() -> None:
    app = AgentWatchApp(url="http://x", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        app.state.apply_snapshot(Snapshot(timestamp=time.time()))  # minimal form: no cost at all
        await async_wait_until(lambda: panel_value(app, "m-cost") == fmt.MISSING, pilot=pilot)
        free = Snapshot(timestamp=time.time(), history=History(end=time.time(), cost_per_second=[0.0] * 60))
        app.state.apply_snapshot(free)  # a full collector whose agents cost nothing
        await async_wait_until(lambda: panel_value(app, "m-cost") == f"{fmt.usd(0.0)}/min", pilot=pilot)
