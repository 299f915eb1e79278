"""The viewer's frame discipline: one screen write per frame, no layout pass for a growing log."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from textual.geometry import Region
from textual.screen import Screen

from agentwatch.protocol import AgentRow, History, LogEntry, Snapshot
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.textual_internals import dirty_regions
from agentwatch.tui.widgets import LogPane
from tests.helpers import async_wait_until

SIZE = (120, 36)


class CountingApp(AgentWatchApp):
    """The viewer without network, counting screen writes (compositor updates)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(url="http://127.0.0.1:9", connect=False, bell=False, **kwargs)
        self.writes = 0
        self.write_times: list[float] = []

    def _display(self, screen: Screen[Any], renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is not None:
            self.writes += 1
            self.write_times.append(time.monotonic())


def entries(start: int, count: int) -> list[LogEntry]:
    return [
        LogEntry(timestamp=time.time(), agent_id=f"agent-{n % 50:03d}", level="info", message=f"step {n} ok")
        for n in range(start, start + count)
    ]


def snapshot(n: int, agents: int = 50) -> Snapshot:
    rows = [AgentRow(agent_id=f"agent-{i:03d}", tokens_per_second=float((n * i) % 97)) for i in range(agents)]
    history = History(end=time.time(), tokens_per_second=[float((n + i) % 9) for i in range(30)])
    return Snapshot(
        timestamp=time.time(), tokens_per_second=float(n), agents=rows, active_agents=agents, history=history
    )


async def test_a_growing_log_needs_no_layout_pass_and_its_scrollbar_follows() -> None:
    app = CountingApp(max_lines=5_000)
    async with app.run_test(size=SIZE) as pilot:
        log = app.query_one(LogPane)
        for batch in range(10):
            app.state.add_log_entries(entries(batch * 100, 100))
            app.frame()
            writes = app.writes
            await pilot.pause()
        await async_wait_until(lambda: app.writes > writes, pilot=pilot)  # the last batch is painted
        assert log.line_count == 1_000
        assert log.layouts_skipped >= 8  # the first write shows the scrollbar: a real layout change
        assert log.vertical_scrollbar.window_virtual_size == 1_000
        assert log.is_vertical_scroll_end
        assert "step 999 ok" in log.lines[-1]


async def test_writes_are_a_frame_interval_apart_whatever_changes() -> None:
    """Snapshots whose fleet grows (a layout pass), log lines, key presses and a resize all
    arrive between frames; the terminal still gets at most one write per frame interval, but
    for what a key press does (input is drawn at once, not paced)."""
    app = CountingApp(fps=10)
    async with app.run_test(size=SIZE) as pilot:
        app.state.apply_snapshot(snapshot(0))
        app.state.add_log_entries(entries(0, 40))
        await async_wait_until(
            lambda: app.agent_table.row_count == 50 and "step 39 ok" in app.log_pane.lines[-1], pilot=pilot
        )
        writes_before, frames_before = app.writes, app.frames
        app.write_times.clear()
        pressed: list[float] = []
        for n in range(1, 31):  # 30 steps of 30 ms; pilot.pause would force a write, so sleep
            app.state.add_log_entries(entries(n * 40, 40))
            app.state.apply_snapshot(snapshot(n, agents=50 + n))  # a new row each time
            if n % 10 == 0:
                pressed.append(time.monotonic())
                await pilot.press("t")  # timestamps on/off: every log line re-laid out
            if n == 15:
                await pilot.resize_terminal(SIZE[0] - 10, SIZE[1] - 4)
            await asyncio.sleep(0.03)  # the pace of the changes under test, not a wait for something
        writes, frames = app.writes - writes_before, app.frames - frames_before
        times = app.write_times
        assert frames >= 5 and writes >= 5
        paced = [  # writes not within an interval of a key press
            (earlier, later)
            for earlier, later in itertools.pairwise(times)
            if not any(0 <= later - at < app.frame_interval for at in pressed)
        ]
        gaps = [later - earlier for earlier, later in paced]
        assert len(gaps) >= 4 and min(gaps) >= app.frame_interval * 0.99, gaps
        # Nothing deferred is lost: the last state reaches the screen.
        await async_wait_until(
            lambda: app.agent_table.row_count == 80 and "step 1239 ok" in app.log_pane.lines[-1], pilot=pilot
        )


async def test_a_full_log_keeps_few_distinct_refreshed_regions() -> None:
    """A tail written in batches of many sizes (as a busy stream delivers them) refreshes the
    rows in view, not a region as tall as each batch: Textual's region caches would keep every
    distinct one, and the pane's own set of refreshed regions is emptied only by a full refresh."""
    app = CountingApp(max_lines=1_000)
    async with app.run_test(size=SIZE) as pilot:
        log = app.query_one(LogPane)
        app.state.add_log_entries(entries(0, 1_000))
        app.frame()
        await pilot.pause()
        refreshed: set[Region] = set()
        set_dirty = log._set_dirty

        def recording(*regions: Region) -> None:
            refreshed.update(regions)
            set_dirty(*regions)

        log._set_dirty = recording  # type: ignore[method-assign]
        written = 1_000
        for size in range(1, 201):
            app.state.add_log_entries(entries(written, size))
            written += size
            app.frame()
            writes = app.writes
            if size % 20 == 0:
                await pilot.pause()
        await async_wait_until(lambda: app.writes > writes, pilot=pilot)  # the last batch is painted
        assert log.line_count == 1_000
        assert f"step {written - 1} ok" in log.lines[-1]
        assert len(refreshed) <= 2
        assert len(dirty_regions(log)) <= 1


async def test_a_full_log_shows_its_newest_lines() -> None:
    """Once ``max_lines`` is reached each write drops the oldest lines: the rows in view all
    move up and are drawn again, not only the rows the new lines were written to."""
    app = CountingApp(max_lines=500)
    async with app.run_test(size=SIZE) as pilot:
        log = app.query_one(LogPane)
        written = 0
        for size in (600, 7, 1, 40):
            app.state.add_log_entries(entries(written, size))
            written += size
            writes = app.writes
            app.frame()
            await async_wait_until(lambda w=writes: app.writes > w, pilot=pilot)  # painted before the next
        shown = ["".join(seg.text for seg in strip) for strip in log.render_lines(log.region.reset_offset)]
        assert any(f"step {written - 1} ok" in row for row in shown)
        assert not any(f"step {written - 41} ok" in row for row in shown[-10:])


def test_batch_formatting_gives_exactly_the_lines_formatted_one_by_one() -> None:
    from agentwatch.tui import formatting as fmt
    from agentwatch.tui.state import Marker

    lines = [
        LogEntry(timestamp=1_700_000_000.5, agent_id="planner", level="info", message="plain"),
        LogEntry(timestamp=float("nan"), agent_id="x" * 200, level="WARN", message="bell\x07 esc\x1b[31m"),
        Marker(kind="gap", count=3, timestamp=5.0),
        LogEntry(timestamp=-5.0, agent_id="a\u202eb", level="odd", message="multi\nline [b]markup[/b]"),
        Marker(kind="dropped", count=1, timestamp=6.0),
    ]
    for timestamps in (True, False):
        expected = [fmt.log_line(line, timestamps=timestamps) for line in lines]
        assert fmt.log_lines(lines, timestamps=timestamps) == expected
