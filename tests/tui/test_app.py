"""The viewer on screen: every key and what it changes, hostile text, small terminals, live data.

Most tests feed the state directly (no network, frozen clock); the last ones run the app
against a real collector on 127.0.0.1.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from textual.widgets import Log

from agentwatch.protocol import AgentRow, LogEntry, Snapshot
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screens import AgentPicker, HelpScreen, SearchScreen
from agentwatch.tui.screenshots import NOW, FixedConnection, demo_app
from agentwatch.tui.state import STREAM_LOGS, STREAM_METRICS
from agentwatch.tui.widgets import AgentTable, MetricPanel
from tests.helpers import async_wait_until, entry_lines, header, log_lines

SIZE = (120, 36)
HOSTILE = ["[bold red]x[/]", "\x1b[31mred", "\x1b]0;title\x07", "\x1b]52;c;AAAA\x07", "\u202eevil"]
TIME_PREFIX = re.compile(r"^\d\d:\d\d:\d\d ")


async def test_overview_shows_header_panels_table_and_log():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = header(app)
        assert "http://127.0.0.1:8787" in text and "● live" in text
        assert "SIMULATED DATA" in text
        latency = app.query_one("#m-latency", MetricPanel)
        assert "840 ms" in latency.value_text and latency.has_class("-warning")
        assert "≈" in str(latency.border_title) and "±" in str(latency.border_subtitle)  # an estimate
        assert app.query_one("#m-errors", MetricPanel).has_class("-warning")  # 6.8 % ≥ 5 %
        assert "est." in app.query_one("#m-cost", MetricPanel).value_text
        table = app.query_one(AgentTable)
        assert table.row_count == 6
        statuses = {str(table.get_cell(agent, "status")) for agent in table.row_agents()}
        assert statuses == {"✓ ok", "▲ degraded", "✗ failing", "◌ idle", "○ offline"}
        assert str(table.get_cell("summarizer-05", "p50")) == "—"
        assert str(table.get_cell("summarizer-05", "last seen")) == "1m ago"
        lines = log_lines(app)
        assert len(lines) == 61
        assert "⚠ 1 234 lines dropped by the collector (slow viewer)" in lines
        assert lines[-1].startswith("11:59:59 retriever-02   ERROR timeout fetching")


async def test_idle_frames_touch_no_widget():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.frame()
        refreshes = 0
        widgets = [app.header_bar, app.agent_table, app.log_pane, *app.query(MetricPanel)]
        originals = {}
        for widget in widgets:
            originals[widget] = widget.refresh

            def counting(*args: Any, _original=widget.refresh, **kwargs: Any) -> Any:
                nonlocal refreshes
                refreshes += 1
                return _original(*args, **kwargs)

            widget.refresh = counting  # type: ignore[method-assign]
        for _ in range(5):
            app.frame()
        assert refreshes == 0
        app.state.add_log_entries(
            [LogEntry(timestamp=NOW, agent_id="planner-01", level="info", message="new")]
        )
        app.frame()
        assert refreshes > 0
        assert log_lines(app)[-1].endswith("INFO  new")


async def test_l_cycles_minimum_level_and_refilters_the_log():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        assert "level≥info" in header(app)
        assert not any(" DEBUG " in line for line in log_lines(app))
        await pilot.press("l")
        assert all(" WARN " in line or " ERROR " in line or " CRIT " in line for line in entry_lines(app))
        await pilot.press("l", "l")  # error → debug
        assert any(" DEBUG " in line for line in log_lines(app))


async def test_e_toggles_errors_only():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        lines = entry_lines(app)
        assert lines and all(" ERROR " in line or " CRIT " in line for line in lines)
        assert "errors only" in header(app)
        await pilot.press("e")
        assert len(log_lines(app)) == 61


async def test_slash_searches_text_and_highlights_matches():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        assert isinstance(app.screen, SearchScreen)
        await pilot.press(*"timeout", "enter")
        lines = entry_lines(app)
        assert lines and all("timeout" in line.lower() for line in lines)
        assert "search=timeout" in header(app)
        strip = app.log_pane._render_line_strip(1, app.log_pane.rich_style)
        styled = [seg.text for seg in strip if seg.style and seg.style.reverse]
        assert "timeout" in styled


async def test_slash_regex_and_bad_regex_shows_a_message_not_a_crash():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"re:tim.out|429", "enter")
        assert entry_lines(app) and all(re.search("tim.out|429", line) for line in entry_lines(app))
        await pilot.press("slash", "ctrl+u", *"/a(b/", "enter")
        await pilot.pause()
        assert "bad regex" in header(app)
        assert entry_lines(app) == []
        assert app.is_running


async def test_c_clears_every_filter():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e", "l", "slash", *"zzz", "enter")
        assert entry_lines(app) == []
        await pilot.press("c")
        assert len(log_lines(app)) == 61
        assert "filter:" not in header(app)


async def test_a_picks_one_agent_and_all():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        assert isinstance(app.screen, AgentPicker)
        await pilot.press("down", "enter")  # first agent after "all agents": coder-03
        lines = entry_lines(app)
        assert lines and all(" coder-03 " in line for line in lines)
        assert "agent=coder-03" in header(app)
        await pilot.press("a", "home", "enter")
        assert len(log_lines(app)) == 61
        await pilot.press("a", "escape")
        assert not isinstance(app.screen, AgentPicker)


async def test_space_pauses_the_tail_counts_new_lines_and_end_or_g_goes_live():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        before = log_lines(app)
        await pilot.press("space")
        new = [
            LogEntry(timestamp=NOW, agent_id="planner-01", level="info", message=f"n{i}") for i in range(3)
        ]
        app.state.add_log_entries(new)
        await async_wait_until(lambda: "PAUSED 3 new" in header(app), pilot=pilot)
        assert log_lines(app) == before
        await pilot.press("end")
        assert [line.rsplit(" ", 1)[-1] for line in log_lines(app)[-3:]] == ["n0", "n1", "n2"]
        assert log_lines(app)[-1].endswith("n2") and "PAUSED" not in header(app)
        await pilot.press("space")
        app.state.add_log_entries([LogEntry(timestamp=NOW, agent_id="a", level="info", message="later")])
        app.log_pane.focus()  # G in the log: the live tail (in the agents table: its last row)
        await pilot.press("G")
        assert log_lines(app)[-1].endswith("later")


async def test_t_toggles_timestamps():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        assert TIME_PREFIX.match(entry_lines(app)[0])
        await pilot.press("t")
        assert not any(TIME_PREFIX.match(line) for line in log_lines(app))
        assert entry_lines(app)[0].startswith("planner-01")
        await pilot.press("t")
        assert TIME_PREFIX.match(entry_lines(app)[0])


async def test_w_wraps_long_lines_to_the_pane_width():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        app.state.add_log_entries([LogEntry(timestamp=NOW, agent_id="a", level="info", message="x" * 300)])
        await async_wait_until(lambda: log_lines(app)[-1].endswith("x" * 300), pilot=pilot)
        count = len(log_lines(app))
        await pilot.press("w")
        width = app.log_pane.scrollable_content_region.width
        wrapped = log_lines(app)
        assert len(wrapped) >= count + 2
        assert all(len(line) <= width for line in wrapped)
        await pilot.press("w")
        assert len(log_lines(app)) == count


async def test_s_cycles_sort_column_and_capital_s_reverses():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(AgentTable)
        assert table.row_agents()[0] == "coder-03"  # by agent id
        await pilot.press("s")  # status: worst first
        assert table.row_agents()[:2] == ["reviewer-04", "coder-03"]
        assert "sort: status" in header(app)
        await pilot.press("s")  # tok/s ascending
        await pilot.press("S")
        assert table.row_agents()[0] == "coder-03"  # the busiest first
        assert "↓" in header(app)


async def test_enter_drills_into_the_agent_and_escape_goes_back():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        app.agent_table.focus()
        await pilot.press("down", "enter")  # planner-01
        assert "▶ agent planner-01" in header(app)
        assert all(" planner-01 " in line for line in entry_lines(app))
        app.state.apply_snapshot(Snapshot(timestamp=NOW, agent="planner-01", tokens_per_second=42.0))
        await async_wait_until(
            lambda: app.query_one("#m-tokens", MetricPanel).value_text == "42.0", pilot=pilot
        )
        await pilot.press("escape")
        assert "fleet" in header(app) and "▶" not in header(app)
        assert app.query_one("#m-tokens", MetricPanel).value_text == "1 305.8"
        assert len(log_lines(app)) == 61


async def test_question_mark_lists_every_binding_and_escape_closes():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for key in ("q", "?", "a", "l", "e", "/", "c", "space", "End", "G", "t", "w", "s", "S", "Esc"):
            assert re.search(rf"^{re.escape(key)}\s", text, re.MULTILINE), key
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_q_quits():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await async_wait_until(lambda: not app.is_running, pilot=pilot)


async def test_command_palette_offers_the_bindings():
    from agentwatch.tui.screens import ActionsProvider

    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        provider = ActionsProvider(app.screen)
        titles = [hit.text async for hit in provider.discover()]
        assert {"Quit", "Search", "Pause", "Reverse sort"} <= set(titles)
        hits = [hit async for hit in provider.search("errors")]
        assert hits
        await hits[0].command()
        await pilot.pause()
        assert app.state.errors_only


async def test_hostile_agent_text_is_shown_literally():
    app = AgentWatchApp(url="http://x", clock=lambda: NOW, tz=UTC, connect=False)
    async with app.run_test(size=SIZE) as pilot:
        app.state.apply_snapshot(
            Snapshot(timestamp=NOW, agents=[AgentRow("[red]agent[/]\x1b[2J", last_activity="\x1b]0;t\x07x")])
        )
        app.state.add_log_entries(
            [
                LogEntry(timestamp=NOW, agent_id="\x1b]8;;http://e\x07", level="error", message=m)
                for m in HOSTILE
            ]
        )
        await async_wait_until(lambda: len(log_lines(app)) >= len(HOSTILE), pilot=pilot)
        await async_wait_until(lambda: app.query_one(AgentTable).row_count == 2, pilot=pilot)
        lines = log_lines(app)
        assert lines[0].endswith("[bold red]x[/]")
        assert lines[1].endswith("␛[31mred")
        assert lines[2].endswith("␛]0;title␇")
        assert lines[3].endswith("␛]52;c;AAAA␇")
        assert lines[4].endswith("\\u202eevil")
        assert all("\x1b" not in line and "\x07" not in line for line in lines)
        table = app.query_one(AgentTable)
        agent = "[red]agent[/]\x1b[2J"
        assert set(table.row_agents()) == {agent, "\x1b]8;;http://e\x07"}
        assert str(table.get_cell(agent, "agent")) == "[red]agent[/]␛[2J"
        assert str(table.get_cell("\x1b]8;;http://e\x07", "agent")) == "␛]8;;http://e␇"
        assert str(table.get_cell(agent, "activity")) == "␛]0;t␇x"
        rendered = "".join(seg.text for seg in app.log_pane._render_line_strip(0, app.log_pane.rich_style))
        assert "[bold red]x[/]" in rendered


async def test_80x24_fits_every_panel_on_screen():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-narrow")
        for widget in (app.header_bar, app.query_one("#metrics"), app.agent_table, app.log_pane):
            region = widget.region
            assert region.height > 0 and region.right <= 80 and region.bottom <= 23, widget
        assert app.log_pane.region.height >= 5
        assert app.agent_table.region.height >= 4
        assert "● live" in header(app).splitlines()[0]
        assert not app.query_one("#m-tokens .metric-spark").display


async def test_decode_errors_are_counted_and_shown():
    from httpx_sse import ServerSentEvent

    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        app.on_log_event(ServerSentEvent(event="log", data="not json"))
        app.on_metrics_event(ServerSentEvent(event="metrics", data="[1,2"))
        app.on_log_event(ServerSentEvent(event="dropped", data='{"dropped": 7, "total_dropped": 7}'))
        app.on_log_event(
            ServerSentEvent(event="gap", data='{"missed": 3, "first_missing": 1, "last_missing": 3}')
        )
        await async_wait_until(
            lambda: "2 undecodable" in header(app) and len(log_lines(app)) >= 2, pilot=pilot
        )
        assert log_lines(app)[-2:] == [
            "⚠ 7 lines dropped by the collector (slow viewer)",
            "⚠ 3 lines missed while disconnected (no longer held by the collector)",
        ]


async def test_reconnecting_and_stale_are_shown():
    now = [NOW]
    app = AgentWatchApp(url="http://x", clock=lambda: now[0], connect=False)
    async with app.run_test(size=SIZE) as pilot:
        app.state.set_connection(
            STREAM_METRICS, FixedConnection("reconnecting", retry_at=NOW + 3, error="refused")
        )
        app.state.set_connection(STREAM_LOGS, FixedConnection("reconnecting", retry_at=NOW + 3))
        await async_wait_until(lambda: "reconnecting in 3 s" in header(app), pilot=pilot)
        app.state.set_connection(STREAM_METRICS, FixedConnection("live"))
        app.state.set_connection(STREAM_LOGS, FixedConnection("live"))
        app.state.apply_snapshot(Snapshot(timestamp=NOW))
        now[0] += 12
        await async_wait_until(lambda: "stale for 12 s" in header(app), pilot=pilot)
        app.state.set_connection(STREAM_LOGS, FixedConnection("unauthorized"))
        await async_wait_until(lambda: "unauthorized" in header(app), pilot=pilot)


# ---------------------------------------------------------------- against a real collector
async def test_live_collector_feeds_header_table_and_log(collector):
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: "● live" in header(app), pilot=pilot)
        response = await collector.apost(
            [
                {"agent_id": "alpha", "span_type": "log", "level": "error", "message": HOSTILE[0]},
                {"agent_id": "alpha", "span_type": "llm_call", "model": "gpt-4o", "tokens_input": 100,
                 "tokens_output": 20, "latency_ms": 850},
                {"agent_id": "beta", "span_type": "log", "level": "info", "message": HOSTILE[1]},
            ]
        )  # fmt: skip
        assert response.status_code < 300
        await async_wait_until(lambda: any(line.endswith("␛[31mred") for line in log_lines(app)), pilot=pilot)
        assert any(line.endswith("[bold red]x[/]") for line in log_lines(app))
        table = app.query_one(AgentTable)
        await async_wait_until(lambda: {"alpha", "beta"} <= set(table.row_agents()), pilot=pilot)
        await pilot.press("e")
        assert entry_lines(app) and all(" alpha " in line for line in entry_lines(app))


async def test_drill_down_restarts_metrics_narrowed_to_the_agent(collector):
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await collector.apost(
            [
                {
                    "agent_id": name,
                    "span_type": "llm_call",
                    "model": "gpt-4o",
                    "tokens_output": 50,
                    "latency_ms": 100,
                }
                for name in ("alpha", "beta")
            ]
        )
        table = app.query_one(AgentTable)
        await async_wait_until(lambda: {"alpha", "beta"} <= set(table.row_agents()), pilot=pilot)
        table.focus()
        table.move_cursor(row=table.row_agents().index("beta"))
        await pilot.press("enter")
        await async_wait_until(lambda: app.state.drilled is not None, pilot=pilot)
        assert app.state.drilled.agent == "beta"
        assert "▶ agent beta" in header(app)
        await pilot.press("escape")
        assert app.state.drilled_agent is None
        fleet_before = app.state.fleet
        await async_wait_until(lambda: app.state.fleet is not fleet_before, pilot=pilot)


async def test_tail_keeps_following_new_lines_after_a_filter_change():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        app.state.add_log_entries(
            [
                LogEntry(timestamp=NOW, agent_id="planner-01", level="info", message=f"m{i}")
                for i in range(200)
            ]
        )
        await async_wait_until(lambda: log_lines(app)[-1].endswith("m199"), pilot=pilot)
        await pilot.press("l", "c")
        app.state.add_log_entries([LogEntry(timestamp=NOW, agent_id="a", level="info", message="newest")])
        log = app.query_one(Log)
        await async_wait_until(lambda: log.lines and log.lines[-1].endswith("newest"), pilot=pilot)
        await async_wait_until(lambda: log.scroll_y == log.max_scroll_y > 0, pilot=pilot)
