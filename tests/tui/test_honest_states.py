"""The viewer says what it does not know: fields a minimal collector did not send, data that
may be out of date, and screens that have nothing to show yet.

Each test reads the screen as the terminal would show it; the minimal collector is a real
SSE server on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from httpx_sse import ServerSentEvent

from agentwatch.protocol import (
    PATH_DASHBOARD_STREAM,
    SSE_METRICS,
    VIEW_COSTS,
    VIEW_FAILURES,
    VIEW_LATENCY,
    Analysis,
    AnalysisRow,
    AnalysisSection,
    Snapshot,
)
from agentwatch.tui.agenttable import EMPTY_TEXT
from agentwatch.tui.analysis import EMPTY_VIEW_TEXT, AnalysisScreen
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.received import ReceivedHistory, sent_fields
from agentwatch.tui.screenshots import NOW, URL, FixedConnection, costs_analysis, demo_app, fleet_snapshot
from agentwatch.tui.state import STREAM_LOGS, STREAM_METRICS
from agentwatch.tui.widgets import MetricPanel
from tests.helpers import async_wait_until, header, screen_lines
from tests.sseserver import SSE, RecordedRequest, SSEServer, Status, Stream

SIZE = (120, 36)
TOKENS = [1000.0 + 150.0 * (i % 4) for i in range(10)]
P99 = [1200.0 + 40.0 * i for i in range(10)]


def panel(app: AgentWatchApp, panel_id: str) -> MetricPanel:
    return app.query_one(f"#{panel_id}", MetricPanel)


def screen_text(app: AgentWatchApp) -> str:
    return "\n".join(screen_lines(app))


def minimal_snapshot(timestamp: float, tokens: float, p99: float) -> str:
    """A snapshot with only the minimal protocol's eight fields."""
    return msgspec.json.encode(
        {
            "timestamp": timestamp,
            "tokens_per_second": tokens,
            "tool_calls_total": 12,
            "error_rate": 0.047,
            "completions": 40,
            "p50_latency_ms": 850.0,
            "p99_latency_ms": p99,
            "active_agents": 2,
        }
    ).decode()


@pytest.fixture
def minimal_collector() -> Iterator[SSEServer]:
    """Ten seconds of minimal snapshots on the metrics stream, then held open; no other route."""
    start = time.time() - len(TOKENS)
    snapshots = [
        SSE(None, SSE_METRICS, minimal_snapshot(start + i, tokens, p99))
        for i, (tokens, p99) in enumerate(zip(TOKENS, P99, strict=True))
    ]

    def plan(request: RecordedRequest) -> Stream | Status:
        if request.path == PATH_DASHBOARD_STREAM:
            return Stream(snapshots, ending="hold")
        if request.path.endswith("/stream"):
            return Stream(ending="hold")
        return Status(404)

    with SSEServer(otherwise=plan) as server:
        yield server


# ---------------------------------------------------------------- a minimal collector
async def test_a_minimal_collector_shows_dashes_not_zeros_and_sparklines_from_its_snapshots(
    minimal_collector: SSEServer,
) -> None:
    app = AgentWatchApp(url=minimal_collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: len(panel(app, "m-tokens").series) == len(TOKENS), pilot=pilot)
        assert panel(app, "m-tokens").series == TOKENS
        assert panel(app, "m-latency").series == P99
        assert panel(app, "m-errors").value_text == "4.7 %"
        assert panel(app, "m-errors").series == [0.047] * len(TOKENS)
        assert panel(app, "m-errors").border_subtitle == ""  # not "0 errors": errors were not sent
        assert panel(app, "m-agents").value_text == "2 active"
        assert panel(app, "m-agents").border_subtitle == "— events/s"
        assert panel(app, "m-agents").series == []  # events/s were not sent either: no flat line
        assert not panel(app, "m-agents").query_one(".metric-spark").visible
        assert panel(app, "m-tokens").query_one(".metric-spark").visible
        assert panel(app, "m-cost").value_text == "—"
        assert panel(app, "m-latency").border_subtitle == ""  # no sketch error bound was sent
        shown = screen_text(app)
        assert "0 errors" not in shown and "0.0 events/s" not in shown


async def test_a_snapshot_without_a_minimal_field_shows_a_dash_for_it() -> None:
    app = AgentWatchApp(url=URL, clock=lambda: NOW, connect=False)
    async with app.run_test(size=SIZE) as pilot:
        app.on_metrics_event(
            ServerSentEvent(event=SSE_METRICS, data=f'{{"timestamp": {NOW}, "completions": 3}}')
        )
        await async_wait_until(lambda: panel(app, "m-tokens").value_text == "—", pilot=pilot)
        assert panel(app, "m-errors").value_text == "—"
        assert panel(app, "m-agents").value_text == "—"
        full = msgspec.json.encode(fleet_snapshot()).decode()
        app.on_metrics_event(ServerSentEvent(event=SSE_METRICS, data=full))
        await async_wait_until(lambda: panel(app, "m-errors").border_subtitle == "225 errors", pilot=pilot)
        assert panel(app, "m-agents").border_subtitle == "55.2 events/s"
        assert len(panel(app, "m-tokens").series) == 60  # the collector's own history


# ---------------------------------------------------------------- stale
def connected(app: AgentWatchApp, phase: str, **kwargs: Any) -> None:
    for stream in (STREAM_METRICS, STREAM_LOGS):
        app.state.set_connection(stream, FixedConnection(phase, **kwargs))


async def test_while_reconnecting_the_header_says_stale_for_n_s_and_the_panels_dim() -> None:
    now = [NOW]
    app = AgentWatchApp(url=URL, clock=lambda: now[0], connect=False)
    async with app.run_test(size=SIZE) as pilot:
        connected(app, "live")
        app.state.apply_snapshot(Snapshot(timestamp=NOW, tokens_per_second=5.0))
        await async_wait_until(lambda: "● live" in header(app), pilot=pilot)
        assert not app.metrics_bar.has_class("-stale") and not app.agent_table.has_class("-stale")
        now[0] += 12
        connected(app, "reconnecting", retry_at=now[0] + 3)
        await async_wait_until(lambda: "stale for 12 s" in header(app), pilot=pilot)
        assert "↻ reconnecting in 3 s · stale for 12 s" in screen_lines(app)[0]
        assert app.metrics_bar.has_class("-stale") and app.agent_table.has_class("-stale")
        assert app.agent_table.styles.text_opacity < 1
        for part in (".metric-value", ".metric-spark"):
            assert panel(app, "m-tokens").query_one(part).styles.text_opacity < 1
        connected(app, "live")
        app.state.apply_snapshot(Snapshot(timestamp=now[0], tokens_per_second=5.0))
        await async_wait_until(lambda: not app.metrics_bar.has_class("-stale"), pilot=pilot)
        assert "● live · 0 s ago" in screen_lines(app)[0]


@pytest.mark.parametrize("size", [(80, 24), (60, 15)])
async def test_a_small_terminal_keeps_every_panel_value_while_stale(size: tuple[int, int]) -> None:
    # The panels' compact lines there have no room for the border the stale panels get.
    now = [NOW]
    app = AgentWatchApp(url=URL, clock=lambda: now[0], connect=False)
    async with app.run_test(size=size) as pilot:
        connected(app, "live")
        app.state.apply_snapshot(Snapshot(timestamp=NOW, tokens_per_second=4321.0, error_rate=0.125))
        await async_wait_until(lambda: "4 321" in screen_text(app), pilot=pilot)
        live = screen_lines(app)
        now[0] += 12
        connected(app, "reconnecting", retry_at=now[0] + 3)
        await async_wait_until(lambda: "stale for 12 s" in header(app), pilot=pilot)
        stale = screen_lines(app)
        assert "4 321" in "\n".join(stale) and "12.5 %" in "\n".join(stale), "\n".join(stale)
        assert stale[2:4] == live[2:4], "the panels' lines stay as they were, only dimmed"


async def test_the_log_stream_reconnecting_alone_leaves_fresh_numbers_undimmed() -> None:
    app = AgentWatchApp(url=URL, clock=lambda: NOW, connect=False)
    async with app.run_test(size=SIZE) as pilot:
        app.state.set_connection(STREAM_METRICS, FixedConnection("live"))
        app.state.set_connection(STREAM_LOGS, FixedConnection("reconnecting", retry_at=NOW + 3))
        app.state.apply_snapshot(Snapshot(timestamp=NOW))
        await async_wait_until(lambda: "↻ reconnecting logs in 3 s" in header(app), pilot=pilot)
        assert "stale" not in header(app)
        assert not app.metrics_bar.has_class("-stale")


async def test_a_live_stream_without_a_new_snapshot_is_stale_and_dimmed() -> None:
    now = [NOW]
    app = AgentWatchApp(url=URL, clock=lambda: now[0], connect=False)
    async with app.run_test(size=SIZE) as pilot:
        connected(app, "live")
        app.state.apply_snapshot(Snapshot(timestamp=NOW))
        now[0] += 8
        await async_wait_until(lambda: "◌ stale for 8 s" in screen_lines(app)[0], pilot=pilot)
        assert app.metrics_bar.has_class("-stale")


# ---------------------------------------------------------------- empty states
async def test_the_agents_table_says_why_it_is_empty_until_the_first_agent() -> None:
    app = AgentWatchApp(url=URL, clock=lambda: NOW, connect=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "no agents yet" in screen_text(app)
        assert EMPTY_TEXT.startswith("no agents yet")
        app.state.apply_snapshot(fleet_snapshot())
        app.frame()
        await async_wait_until(lambda: "planner-01" in screen_text(app), pilot=pilot)
        assert "no agents yet" not in screen_text(app)


async def test_the_alert_history_with_no_alert_says_what_can_fire_and_when() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("A")
        await async_wait_until(lambda: "No alert yet" in screen_text(app), pilot=pilot)
        shown = screen_text(app)
        for words in ("baseline", "5 minutes", "silent agent", "new decision", "60 s"):
            assert words in shown, words
        assert "—  —  —" not in shown


@pytest.mark.parametrize("view", [VIEW_COSTS, VIEW_FAILURES])
async def test_an_analysis_screen_with_no_data_says_where_its_data_comes_from(view: str) -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = AnalysisScreen(view, url=URL, connect=False, clock=lambda: NOW)
        await app.push_screen(screen)
        screen.show(Analysis(view=view, timestamp=NOW, sections=[]))
        first_words = EMPTY_VIEW_TEXT[view].split(".")[0]
        await async_wait_until(lambda: first_words in screen_text(app), pilot=pilot)
        screen.show(costs_analysis() if view == VIEW_COSTS else Analysis(view=view, timestamp=NOW, sections=[
            AnalysisSection("error type", [AnalysisRow("Timeout", errors=4, events=4, share=1.0)])]))  # fmt: skip
        await async_wait_until(lambda: first_words not in screen_text(app), pilot=pilot)


# ---------------------------------------------------------------- analysis tables that fit
def latency_analysis() -> Analysis:
    rows = [
        AnalysisRow("model:claude-sonnet-4-20250514", events=1234, p50_latency_ms=1450, p95_latency_ms=5300,
                    p99_latency_ms=14200, baseline_p99_ms=6100, upper_bound_ms=9150, regression=True),
        AnalysisRow("fleet", events=51234, p50_latency_ms=850, p95_latency_ms=2300, p99_latency_ms=4200,
                    baseline_p99_ms=4100, upper_bound_ms=6150),
    ]  # fmt: skip
    return Analysis(view=VIEW_LATENCY, timestamp=NOW, sections=[AnalysisSection("model", rows)])


@pytest.mark.parametrize("size", [(60, 15), (80, 24), (120, 36)], ids=["60x15", "80x24", "120x36"])
@pytest.mark.parametrize("view", [VIEW_COSTS, VIEW_LATENCY])
async def test_analysis_tables_leave_out_columns_rather_than_cut_a_number(
    view: str, size: tuple[int, int]
) -> None:
    app = demo_app()
    async with app.run_test(size=size) as pilot:
        screen = AnalysisScreen(view, url=URL, connect=False, clock=lambda: NOW)
        await app.push_screen(screen)
        screen.show(costs_analysis() if view == VIEW_COSTS else latency_analysis())
        await async_wait_until(lambda: screen.table_texts(), pilot=pilot)
        await pilot.pause()
        for table in screen._tables:
            assert not table.show_horizontal_scrollbar
            assert table.virtual_size.width <= table.size.width
            drawn = [
                "".join(segment.text for segment in table.render_line(y)) for y in range(table.size.height)
            ]
            for row in range(table.row_count):
                for cell in [str(cell) for cell in table.get_row_at(row)][1:]:
                    assert "…" not in cell and f" {cell} " in f"{drawn[row + 1]} ", (cell, drawn)
        if view == VIEW_LATENCY:
            shown = screen_text(app)
            assert "▲ regression" in shown and "14.20 s" in shown


# ---------------------------------------------------------------- what was sent, bounded
def test_sent_fields_names_what_the_json_had_and_null_is_not_sent() -> None:
    assert sent_fields(
        b'{"timestamp": 1, "errors": null, "tokens_per_second": 3, "unknown": 1}'
    ) == frozenset({"timestamp", "tokens_per_second"})
    assert sent_fields(b"[1, 2]") is None  # not a snapshot: what it carried is not known


def test_received_history_keeps_120_seconds_for_at_most_four_scopes() -> None:
    received = ReceivedHistory()
    sent = frozenset({"timestamp", "tokens_per_second"})
    for second in range(500):
        snapshot = Snapshot(timestamp=NOW + second, tokens_per_second=float(second))
        received.add(snapshot, sent)
    assert snapshot.history.tokens_per_second == [float(s) for s in range(380, 500)]
    assert snapshot.history.error_rate == []  # not sent: no series
    gap = Snapshot(timestamp=NOW + 510, tokens_per_second=7.0)
    received.add(gap, sent)  # ten silent seconds repeat the last value
    assert gap.history.tokens_per_second[-11:] == [499.0] * 10 + [7.0]
    for agent in ("a", "b", "c", "d", "e"):
        received.add(Snapshot(timestamp=NOW, agent=agent), sent)
    assert received.sent(Snapshot(timestamp=NOW)) is None  # the fleet's scope, the oldest, was forgotten
    assert received.sent(Snapshot(timestamp=NOW, agent="e")) == sent
