"""From a line to its trace: the line detail's filter keys and the trace waterfall, on the real app against a
real collector (SDK-style spans posted over HTTP, and Claude Code's and Codex's own telemetry replayed).
What is asserted is what the screen shows."""

from __future__ import annotations

import math
import time
from datetime import UTC
from typing import Any

from textual.widgets import OptionList

from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.linedetail import LineDetailScreen, ValuePicker
from agentwatch.tui.waterfall import WaterfallScreen
from agentwatch.tui.widgets import AgentTable
from tests.helpers import async_wait_until, entry_lines, header, log_lines, screen_lines, screen_text
from tests.otlp_fixtures import variant
from tests.test_claude_code import replay

SIZE = (120, 30)
#: The trace's first start: a whole second, a minute ago (the collector keeps what arrived in 24 h).
T0 = float(math.floor(time.time()) - 60)


def span(span_id: str, parent: str | None, end: float, latency_ms: float, **fields: Any) -> dict[str, Any]:
    """An SDK-style span event of trace ``t-1``, stamped when it ends (``end`` seconds after T0)."""
    return {
        "agent_id": "agent-1",
        "trace_id": "t-1",
        "span_id": span_id,
        "parent_span_id": parent,
        "timestamp": T0 + end,
        "latency_ms": latency_ms,
        **fields,
    }


#: Posted as an SDK sends them, each span when it ends, children first. Wall time 1 s:
#: a decision 0–1.0 ⊃ search 0.3–0.4, gpt-4o 0.5–0.9 (failed) ⊃ fetch 0.6–0.8.
SPANS = [
    span("tool", "root", 0.4, 100.0, span_type="tool_call", tool_name="search", message="search docs"),
    span("fetch", "llm", 0.8, 200.0, span_type="tool_call", tool_name="fetch", message="fetch page"),
    span(
        "llm",
        "root",
        0.9,
        400.0,
        span_type="llm_call",
        model="gpt-4o",
        tokens_input=100,
        tokens_output=20,
        cost_usd=0.01,
        error="Timeout: slow",
        message="answer",
    ),
    span("root", None, 1.0, 1000.0, span_type="decision", decision_made="answer", message="plan"),
    {
        "agent_id": "agent-2",
        "span_type": "llm_call",
        "model": "claude-sonnet",
        "message": "unrelated",
        "timestamp": T0 + 1.0,
    },
]


def waterfall_rows(app: AgentWatchApp) -> list[str]:
    """The waterfall's span rows as the terminal shows them (inside the box's border and padding)."""
    screen = app.screen
    assert isinstance(screen, WaterfallScreen)
    lines = screen_lines(app)
    heads = [i for i, line in enumerate(lines) if "timeline" in line and "model / tool" in line]
    assert heads, "\n".join(lines)
    rows = lines[heads[0] + 1 : heads[0] + 1 + len(screen.rows)]
    return [row[2:] for row in rows]


def expected_bar(start: float, end: float, width: int) -> str:
    first, last = math.floor(start * width), math.ceil(end * width)
    return " " * first + "█" * (last - first) + " " * (width - last)


async def open_waterfall(app: AgentWatchApp, pilot: Any, trace_id: str, spans: int) -> WaterfallScreen:
    """Open the waterfall of ``trace_id`` as ``w`` does and wait until its ``spans`` rows are drawn. A viewer
    that does not connect (no streams: a lighter screen for the large fixtures) gets one that fetches."""
    if app.connect:
        app.open_trace(trace_id)
    else:
        app.push_screen(WaterfallScreen(trace_id, url=app.url, tz=app.tz))
    await async_wait_until(lambda: isinstance(app.screen, WaterfallScreen) and len(app.screen.rows) == spans,
                           pilot=pilot)  # fmt: skip
    screen = app.screen
    assert isinstance(screen, WaterfallScreen)
    await async_wait_until(
        lambda: screen._widths is not None and "slowest path" in screen_text(app), pilot=pilot
    )
    return screen


# ---------------------------------------------------------------- the waterfall of SDK spans
async def test_the_waterfall_nests_spans_under_their_parents_on_a_time_axis_with_totals(collector):
    assert collector.post(SPANS).status_code == 202
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_waterfall(app, pilot, "t-1", 4)
        rows = waterfall_rows(app)
        widths = screen._widths
        assert widths is not None and widths.bar >= 40
        # Nesting: each child under its parent, siblings by start; indented by depth.
        assert [row[: widths.tree].rstrip() for row in rows] == [
            "decision",
            "  tool_call",
            "  ✗ llm_call",
            "    tool_call",
        ]
        labels = [row[widths.tree + 1 + widths.bar + 1 :].split()[0] for row in rows]
        assert labels == ["answer", "search", "gpt-4o", "fetch"]  # decision, tool, model
        # Bars: start and duration scaled to the 1 s wall time.
        bars = [row[widths.tree + 1 : widths.tree + 1 + widths.bar] for row in rows]
        assert bars == [
            expected_bar(0.0, 1.0, widths.bar),
            expected_bar(0.3, 0.4, widths.bar),
            expected_bar(0.5, 0.9, widths.bar),
            expected_bar(0.6, 0.8, widths.bar),
        ]
        assert rows[2].rstrip(" │").endswith("gpt-4o            400 ms    120    $0.01")
        text = screen_text(app)
        assert "Trace t-1  4 spans · agent-1" in text
        assert "total wall 1.00 s · tokens 100 in / 20 out · $0.01 · 1 error" in text
        assert "slowest path answer 1.00 s › gpt-4o 400 ms › fetch 200 ms" in text
        assert "unrelated" not in text


async def test_the_error_row_is_red_and_keys_move_between_spans_and_open_one(collector):
    assert collector.post(SPANS).status_code == 202
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_waterfall(app, pilot, "t-1", 4)
        options = screen.query_one(OptionList)
        styles = {str(options.get_option_at_index(i).prompt.style) for i in (0, 1, 3)}
        assert options.get_option_at_index(2).prompt.style == "bold red" and "bold red" not in styles
        assert options.highlighted == 0
        await pilot.press("j", "j")
        assert options.highlighted == 2
        await pilot.press("k")
        await pilot.press("down")
        assert options.highlighted == 2
        await pilot.press("enter")  # the failed call's detail
        assert isinstance(app.screen, LineDetailScreen)
        text = screen_text(app)
        for shown in ("span 3 of 4 of trace t-1", "agent-1", "gpt-4o", "Timeout: slow", "llm_call", "400"):
            assert shown in text, shown
        await pilot.press("right")  # the next span in the waterfall's order
        await async_wait_until(lambda: "span 4 of 4" in screen_text(app) and "fetch" in screen_text(app),
                               pilot=pilot)  # fmt: skip
        await pilot.press("escape")
        assert app.screen is screen
        await pilot.press("escape")
        assert not isinstance(app.screen, WaterfallScreen)


async def test_an_unknown_trace_says_so(collector):
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        app.open_trace("no-such-trace")
        await async_wait_until(
            lambda: "holds no event of trace no-such-trace" in screen_text(app), pilot=pilot
        )


async def test_the_waterfall_fits_80_by_24_and_the_bar_shrinks_first(collector):
    assert collector.post(SPANS).status_code == 202
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_waterfall(app, pilot, "t-1", 4)
        widths = screen._widths
        assert widths is not None and widths.bar < 20 and widths.tree == 20
        rows = waterfall_rows(app)
        assert all(len(line.rstrip()) <= 80 for line in screen_lines(app))
        assert rows[2].rstrip(" │").endswith("$0.01") and "gpt-4o" in rows[2]
        assert "slowest path" in screen_text(app)


# ---------------------------------------------------------------- the coding agents' own telemetry
async def test_claude_code_traces_and_prompt_grouped_events_make_waterfalls(collector):
    replay(collector, variant("claude/protobuf-tool"))
    replay(collector, variant("claude/protobuf-tool-notraces"))
    app = AgentWatchApp(url=collector.url, connect=False, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_waterfall(app, pilot, "3b98f9e35e0a28f0f8e61af315ff86ba", 20)
        depths = [depth for _, depth in screen.rows]
        assert max(depths) >= 1  # its beta traces carry parents
        assert "tool_call" in screen_text(app) and "slowest path" in screen_text(app)
        await pilot.press("escape")
        screen = await open_waterfall(app, pilot, "c2b54921-90f5-4542-8825-5ba1f23d644c", 10)
        assert {depth for _, depth in screen.rows} == {0}  # one prompt's events, no parents: all roots
        starts = [span.start for span, _ in screen.rows]
        assert starts == sorted(starts)


async def test_codex_traces_make_a_waterfall(collector):
    replay(collector, variant("codex/binary-tool"))
    app = AgentWatchApp(url=collector.url, connect=False, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_waterfall(app, pilot, "93347c08d469d3991c4009b7d0b4c47c", 161)
        assert max(depth for _, depth in screen.rows) >= 1
        assert len({span.id for span, _ in screen.rows}) == 161  # each span once
        await pilot.press("end")
        assert screen.query_one(OptionList).highlighted == 160


# ---------------------------------------------------------------- from the live viewer
async def test_w_in_a_line_detail_opens_its_trace_and_w_on_the_agents_table_the_agents_latest(collector):
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: "● live" in header(app), pilot=pilot)
        assert (await collector.apost(SPANS)).status_code == 202
        await async_wait_until(lambda: any("unrelated" in line for line in log_lines(app)), pilot=pilot)
        app.log_pane.focus()
        for _ in range(
            2
        ):  # the newest line in view is agent-2's, without a trace; the one before is the decision
            await pilot.press("enter")
            assert isinstance(app.screen, LineDetailScreen)
            if "t-1" in screen_text(app):
                break
            await pilot.press("w")
            assert isinstance(app.screen, LineDetailScreen)  # no trace: it stays, and says so
            await pilot.press("left")
            assert "t-1" in screen_text(app)
            break
        await pilot.press("w")
        await async_wait_until(lambda: isinstance(app.screen, WaterfallScreen) and len(app.screen.rows) == 4,
                               pilot=pilot)  # fmt: skip
        await pilot.press("escape", "escape")
        assert not isinstance(app.screen, WaterfallScreen | LineDetailScreen)
        table = app.query_one(AgentTable)
        await async_wait_until(lambda: "agent-1" in table.row_agents(), pilot=pilot)
        table.focus()
        table.move_cursor(row=table.row_agents().index("agent-1"))
        await pilot.press("W")
        await async_wait_until(lambda: isinstance(app.screen, WaterfallScreen) and len(app.screen.rows) == 4,
                               pilot=pilot)  # fmt: skip
        assert app.screen.trace_id == "t-1"
        await pilot.press("escape")
        table.move_cursor(row=table.row_agents().index("agent-2"))
        await pilot.press("W")  # agent-2 sent no trace
        assert not isinstance(app.screen, WaterfallScreen)


# ---------------------------------------------------------------- filtering the log from a line
async def test_line_detail_keys_filter_the_log_by_the_lines_values(collector):
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: "● live" in header(app), pilot=pilot)
        newest = {"agent_id": "agent-3", "span_type": "llm_call", "model": "gpt-4o", "tokens_output": 5,
                  "attributes": {"region": "eu-west"}}  # fmt: skip
        assert (await collector.apost([*SPANS, newest])).status_code == 202
        await async_wait_until(lambda: len(entry_lines(app)) == 6, pilot=pilot)
        app.log_pane.focus()

        async def detail_of_the_newest_line() -> None:
            await pilot.press("enter")
            assert isinstance(app.screen, LineDetailScreen) and "agent-3" in screen_text(app)

        await detail_of_the_newest_line()
        await pilot.press("m")
        await async_wait_until(lambda: "filter: model=gpt-4o" in header(app), pilot=pilot)
        assert len(app.screen_stack) == 1
        await async_wait_until(
            lambda: len(entry_lines(app)) == 2, pilot=pilot
        )  # agent-1's call and agent-3's
        assert all("gpt-4o" in line for line in entry_lines(app))
        await pilot.press("c")
        await async_wait_until(lambda: len(entry_lines(app)) == 6, pilot=pilot)
        assert "model=" not in header(app)
        await detail_of_the_newest_line()
        await pilot.press("t")  # it called no tool: nothing changes
        assert isinstance(app.screen, LineDetailScreen)
        await pilot.press("a")
        await async_wait_until(lambda: "filter: agent=agent-3" in header(app), pilot=pilot)
        await async_wait_until(lambda: len(entry_lines(app)) == 1, pilot=pilot)
        await pilot.press("c")
        await async_wait_until(lambda: len(entry_lines(app)) == 6, pilot=pilot)
        await detail_of_the_newest_line()
        await pilot.press("f")  # any of its values, an attribute here
        assert isinstance(app.screen, ValuePicker)
        assert ("region", "eu-west") in app.screen.values and ("model", "gpt-4o") in app.screen.values
        for _ in range(app.screen.values.index(("region", "eu-west"))):
            await pilot.press("down")
        await pilot.press("enter")
        await async_wait_until(lambda: "filter: region=eu-west" in header(app), pilot=pilot)
        assert len(app.screen_stack) == 1
        await async_wait_until(lambda: len(entry_lines(app)) == 1, pilot=pilot)


async def test_text_from_agents_is_shown_as_data_never_markup(collector):
    hostile = span("h", None, 0.5, 500.0, span_type="tool_call", tool_name="[red]x[/]", error="\x1b[31mboom")
    assert collector.post([hostile]).status_code == 202
    app = AgentWatchApp(url=collector.url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await open_waterfall(app, pilot, "t-1", 1)
        assert "[red]x[/]" in screen_text(app)
        await pilot.press("enter")
        await async_wait_until(lambda: "␛[31mboom" in screen_text(app), pilot=pilot)
        await pilot.press("v")  # its level, and above: back to the log
        await async_wait_until(lambda: "level≥error" in header(app), pilot=pilot)
        assert len(app.screen_stack) == 1
