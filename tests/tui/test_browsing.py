"""Reading the log as a person would: scrolling back pauses the tail, help scrolls at any size, wrap breaks
at words, the keys people try first (j/k/g/G, n/N) work, and Enter on the log opens the line.

The viewer runs on the fixed demo state (no network, clock frozen); what is asserted is what the screen shows.
"""

from __future__ import annotations

import asyncio
import re

import pytest
from textual import events

from agentwatch.protocol import LogEntry
from agentwatch.tui import formatting as fmt
from agentwatch.tui.linedetail import LineDetailScreen
from agentwatch.tui.screens import HelpScreen
from agentwatch.tui.screenshots import NOW, demo_app
from tests.helpers import async_wait_until, header, log_lines, screen_text

SIZE = (120, 36)


def entries(count: int, prefix: str = "m", agent: str = "planner-01") -> list[LogEntry]:
    return [
        LogEntry(timestamp=NOW, agent_id=agent, level="info", message=f"{prefix}{i}") for i in range(count)
    ]


async def filled(app, pilot, count: int = 200) -> None:
    """Give the log ``count`` more lines than fit, and wait until the pane shows the last one."""
    app.state.add_log_entries(entries(count))
    await async_wait_until(lambda: log_lines(app)[-1].endswith(f"m{count - 1}"), pilot=pilot)


# ---------------------------------------------------------------- scrolling back pauses the tail
async def test_wheel_up_in_the_log_pauses_the_tail_and_counts_new_lines():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await filled(app, pilot)
        assert "● live" in header(app) and "⏸" not in header(app)
        await pilot._post_mouse_events([events.MouseScrollUp], widget=app.log_pane, offset=(10, 3))
        await async_wait_until(lambda: "⏸ scrolled · 0 new (End: live)" in header(app), pilot=pilot)
        shown = log_lines(app)
        top = app.log_pane.scroll_y
        app.state.add_log_entries(entries(3, prefix="later"))
        await async_wait_until(lambda: "⏸ scrolled · 3 new (End: live)" in header(app), pilot=pilot)
        assert log_lines(app) == shown and app.log_pane.scroll_y == top  # what is read stays put
        await pilot.press("end")
        await async_wait_until(lambda: log_lines(app)[-1].endswith("later2"), pilot=pilot)
        assert "⏸" not in header(app)
        await async_wait_until(lambda: app.log_pane.is_vertical_scroll_end, pilot=pilot)


async def test_page_up_pauses_and_scrolling_back_to_the_bottom_resumes_live():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await filled(app, pilot)
        app.log_pane.focus()
        await pilot.press("pageup")
        await async_wait_until(lambda: "⏸ scrolled" in header(app), pilot=pilot)
        app.state.add_log_entries(entries(2, prefix="new"))
        await async_wait_until(lambda: "scrolled · 2 new" in header(app), pilot=pilot)
        for _ in range(10):
            if app.log_pane.is_vertical_scroll_end:
                break
            await pilot.press("pagedown")
            await pilot.wait_for_scheduled_animations()
        await async_wait_until(lambda: log_lines(app)[-1].endswith("new1"), pilot=pilot)
        assert "⏸" not in header(app)


async def test_space_pause_is_not_resumed_by_scrolling_to_the_bottom():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await filled(app, pilot)
        app.log_pane.focus()
        await pilot.press("space", "pageup", "pagedown", "pagedown", "pagedown")
        await pilot.wait_for_scheduled_animations()
        app.state.add_log_entries(entries(1, prefix="held"))
        await async_wait_until(lambda: "PAUSED 1 new" in header(app), pilot=pilot)
        assert not log_lines(app)[-1].endswith("held0")


async def test_a_filter_change_while_scrolled_back_shows_the_new_view_live():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await filled(app, pilot)
        app.log_pane.focus()
        await pilot.press("pageup")
        await async_wait_until(lambda: "⏸ scrolled" in header(app), pilot=pilot)
        await pilot.press("e")  # errors only: the pane is rewritten, and ends at the newest line
        app.state.add_log_entries([LogEntry(timestamp=NOW, agent_id="a", level="error", message="fresh")])
        await async_wait_until(lambda: log_lines(app)[-1].endswith("fresh"), pilot=pilot)
        assert "⏸" not in header(app)


# ---------------------------------------------------------------- help: complete, grouped, scrolls
HELP_KEYS = ("Enter", "Tab", "ctrl+p", "s", "S", "j", "k", "g", "G", "n", "N", "w", "t", "space", "End",
             "PageUp", "/", "a", "l", "e", "c", "A", "1", "2", "3", "4", "Esc", "q", "?")  # fmt: skip


def row_styles(app, y: int) -> set[tuple[object, bool]]:
    """(background, bold) of the drawn characters on screen row ``y``."""
    strip = app.screen._compositor.render_strips()[y]
    return {(seg.style.bgcolor, bool(seg.style.bold)) for seg in strip if seg.text.strip() and seg.style}


def help_text(app) -> str:
    return str(app.screen.query_one("#help-text").render())


async def test_help_lists_every_key_grouped():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = help_text(app)
        for key in HELP_KEYS:
            assert re.search(rf"(^|[ ,/]){re.escape(key)}([ ,/]|$)", text, re.MULTILINE), key
        for group in ("Log", "Agents table", "Screens", "Anywhere"):
            assert re.search(rf"^{group}$", text, re.MULTILINE), group


@pytest.mark.parametrize("size", [(80, 24), (60, 15)])
async def test_help_scrolls_to_its_last_line_on_a_small_terminal(size: tuple[int, int]):
    app = demo_app()
    app.animation_level = "none"  # where the help ends up is asserted, not how it slides there
    async with app.run_test(size=size) as pilot:
        await pilot.press("question_mark")
        last = help_text(app).rstrip().splitlines()[-1].strip()
        assert last not in screen_text(app)  # longer than the screen at first
        box = app.screen.query_one("#help-box")
        assert box.region.bottom <= size[1] and box.region.right <= size[0]
        await pilot.press("j")
        await async_wait_until(lambda: box.scroll_y >= 1, pilot=pilot)
        for _ in range(60):
            if box.scroll_y >= box.max_scroll_y:
                break
            await pilot.press("pagedown")
            await pilot.wait_for_scheduled_animations()
        shown = screen_text(app).splitlines()[box.region.y : box.region.bottom]
        assert any(last in row for row in shown)  # its last line is on screen now
        await pilot.press("k", "home")
        await pilot.wait_for_scheduled_animations()
        await async_wait_until(lambda: box.scroll_y == 0, pilot=pilot)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_a_screen_under_the_help_is_not_painted_over_and_over():
    """The main screen under the help, with a change handed to the help: Textual asked for a whole
    repaint of the screen below after each hand-over, which handed everything over again, in a loop
    at the paint gate's pace (hundreds of paints a second, every key then waited out Textual's idle
    check). Now it paints when something under the help changes."""
    app = demo_app()
    app.animation_level = "none"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")  # at once: the main screen still has regions to hand over
        main = app.screen_stack[0]
        await pilot.pause(0.2)
        before = main._paint_gate.paints
        await asyncio.sleep(0.5)
        assert main._paint_gate.paints - before <= 1, main._paint_gate.paints - before
        assert isinstance(app.screen, HelpScreen)


# ---------------------------------------------------------------- wrap at word boundaries
async def test_w_wraps_at_word_boundaries_with_continuations_under_the_message():
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        words = [f"word{i:02d}" for i in range(40)] + ["deadline", "exceeded", "x" * 150, "end"]
        message = " ".join(words)
        app.state.add_log_entries([LogEntry(timestamp=NOW, agent_id="a", level="info", message=message)])
        await async_wait_until(lambda: log_lines(app)[-1].endswith(" end"), pilot=pilot)
        await pilot.press("w")
        width = app.log_pane.scrollable_content_region.width
        start = fmt.message_start(True)
        lines = log_lines(app)
        first = max(i for i, line in enumerate(lines) if line.startswith(fmt.clock_time(NOW, app.tz)))
        wrapped = lines[first:]
        assert len(wrapped) > 3 and all(len(line) <= width for line in wrapped)
        for line in wrapped[1:]:  # every continuation starts exactly under the message column
            assert line[:start] == " " * start and line[start] != " ", line
        joined = [wrapped[0][start:]] + [line[start:] for line in wrapped[1:]]
        pieces = " ".join(joined).split(" ")
        for word in [*words[:-2], "end"]:  # whole words are never split
            assert word in pieces, word
        assert "x" * 150 in "".join(joined)  # a token longer than a line still breaks, nothing lost


# ---------------------------------------------------------------- keys people try first
async def test_j_k_g_capital_g_move_the_agents_table_cursor():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.agent_table
        table.focus()
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == table.row_count - 1
        await pilot.press("g")
        assert table.cursor_row == 0


async def test_j_k_g_capital_g_scroll_the_log():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await filled(app, pilot)
        log = app.log_pane
        log.focus()
        bottom = log.scroll_y
        await pilot.press("k", "k")
        await async_wait_until(lambda: log.scroll_y == bottom - 2, pilot=pilot)
        assert "⏸ scrolled" in header(app)
        await pilot.press("j")
        await async_wait_until(lambda: log.scroll_y == bottom - 1, pilot=pilot)
        await pilot.press("g")
        await async_wait_until(lambda: log.scroll_y == 0, pilot=pilot)
        await pilot.press("G")
        await async_wait_until(lambda: log.is_vertical_scroll_end and "⏸" not in header(app), pilot=pilot)


async def test_n_and_capital_n_jump_between_search_matches():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        app.state.add_log_entries(entries(300, prefix="needle "))
        await async_wait_until(lambda: log_lines(app)[-1].endswith("needle 299"), pilot=pilot)
        app.log_pane.focus()
        await pilot.press("n")  # no search yet: nothing marked, nothing paused
        assert app.log_pane.marked_text() == "" and "⏸" not in header(app)
        await pilot.press("slash", *"needle", "enter")
        await pilot.press("n")
        await async_wait_until(lambda: app.log_pane.marked_text().endswith("needle 299"), pilot=pilot)
        assert "⏸ scrolled" in header(app)  # the tail holds while matches are read
        for _ in range(39):
            await pilot.press("n")
        await async_wait_until(lambda: app.log_pane.marked_text().endswith("needle 260"), pilot=pilot)
        assert "needle 260" in screen_text(app) and "needle 299" not in screen_text(app)  # scrolled to it
        rows = screen_text(app).splitlines()
        marked = next(y for y, row in enumerate(rows) if row.rstrip().endswith("needle 260"))
        assert row_styles(app, marked) != row_styles(app, marked + 1)  # the match stands out
        await pilot.press("N")
        await async_wait_until(lambda: app.log_pane.marked_text().endswith("needle 261"), pilot=pilot)
        await pilot.press("end")
        await async_wait_until(
            lambda: app.log_pane.marked_text() == "" and "⏸" not in header(app), pilot=pilot
        )


async def test_enter_on_the_log_opens_the_line_with_every_attribute():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        entry = LogEntry(
            timestamp=NOW,
            agent_id="coder-03",
            level="error",
            message="[bold]tool failed[/bold] \x1b[31m " + "detail " * 40 + "THE-END",
            metadata={"span_id": "00f067aa0ba902b7", "tool": "[red]shell[/]", "exit_code": 2},
            id=4321,
            span_type="tool_call",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        )
        app.state.add_log_entries([entry])
        await async_wait_until(lambda: log_lines(app)[-1].endswith("THE-END"), pilot=pilot)
        before = log_lines(app)[-2]
        app.log_pane.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, LineDetailScreen)
        text = screen_text(app)
        expected = ("coder-03", "ERROR", "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "4 321",
                    "tool_call", "[red]shell[/]", "exit_code", "[bold]tool failed[/bold] ␛[31m",
                    fmt.clock_time(NOW, app.tz))  # fmt: skip
        for shown in expected:
            assert shown in text, shown
        detail = app.screen.query_one("#line-detail-text")
        assert "THE-END" in str(detail.render())  # the whole message, however long
        app.state.add_log_entries(entries(5, prefix="meanwhile"))  # the tail moves on while it is open
        await async_wait_until(lambda: log_lines(app)[-1].endswith("meanwhile4"), pilot=pilot)
        await pilot.press("left")  # the line before the one opened
        await async_wait_until(lambda: before[fmt.message_start(True) :] in screen_text(app), pilot=pilot)
        await pilot.press("escape")
        assert not isinstance(app.screen, LineDetailScreen)


async def test_table_cursor_stays_visible_when_the_log_has_focus():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        table = app.agent_table
        table.focus()
        await pilot.press("j")
        app.log_pane.focus()
        await pilot.pause()
        cursor = table.cursor_row
        row_y = table.region.y + 1 + cursor  # one header line
        other_y = row_y + 1
        assert any(bold for _, bold in row_styles(app, row_y))  # the cursor row stands out: bold
        assert row_styles(app, row_y) != row_styles(app, other_y)


def test_readme_keys_table_lists_every_key_the_help_screen_lists():
    from pathlib import Path

    from agentwatch.tui.app import AgentWatchApp
    from agentwatch.tui.screens import help_rows

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    keys_table = readme.split("### Keys", 1)[1].split("\n## ", 1)[0]
    for section, rows in help_rows(AgentWatchApp.BINDINGS):
        assert f"**{section}**" in keys_table, section
        for keys, _ in rows:
            for key in keys.split(", "):
                shown = f"`{key}`" if len(key) == 1 else key
                assert shown in keys_table, (section, key)
