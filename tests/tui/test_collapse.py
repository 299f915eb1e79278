"""Repeated lines collapse: one row with ×N and first/last seen, updated in place, exact counts; `x` again
shows every line, and a search still finds each line.

The Pilot tests drive the viewer's state directly (the network is not the point here): lines are fed as
the log stream would feed them, and what is asserted is what the log pane shows.
"""

from __future__ import annotations

import re
from datetime import UTC

from agentwatch.protocol import LogEntry
from agentwatch.tui import formatting as fmt
from agentwatch.tui.collapse import Collapser, mask, repeat_key
from agentwatch.tui.screenshots import NOW, demo_app
from tests.helpers import async_wait_until, entry_lines, log_lines

SIZE = (120, 36)
COUNT = re.compile(r"×(\d+) to ")


def retry(i: int, agent: str = "worker-9") -> LogEntry:
    return LogEntry(
        timestamp=NOW + i,
        agent_id=agent,
        level="warning",
        message=f"retry {i} for req-{1000 + i} trace 0x{i:08x}ab id 123e4567-e89b-12d3-a456-{i:012d}",
    )


def at(i: int) -> str:
    return fmt.clock_time(NOW + i, UTC)


def other(i: int) -> LogEntry:
    return LogEntry(
        timestamp=NOW + i, agent_id="planner-01", level="info", message=f"step {i} done: {'ab' * i}"
    )


# ---------------------------------------------------------------- pure pieces
def test_mask_hides_numbers_ids_hex_and_uuids():
    assert mask("retry 12 of req-4711 in 0.25 s") == "retry # of req-# in # s"
    assert mask("id 123e4567-e89b-12d3-a456-426614174000 sha deadbeef01 at 0x1F") == "id # sha # at #"
    assert mask("cafe latte") == "cafe latte"  # words made of hex letters stay
    assert repeat_key(retry(1)) == repeat_key(retry(2)) != repeat_key(retry(1, agent="other"))


def test_counts_add_up_to_every_line_and_markers_are_never_grouped():
    from agentwatch.tui.state import Marker

    lines = [retry(i) if i % 3 else other(i) for i in range(60)]
    lines.insert(30, Marker(kind="gap", count=3, timestamp=NOW))
    collapser = Collapser(reach=200)
    rows = collapser.rebuild(lines)
    assert sum(row.count for row in rows) == len(lines)
    assert sum(isinstance(row.first, Marker) for row in rows) == 1


def test_a_repeat_beyond_reach_starts_a_row_and_add_reports_the_rows_it_joined():
    collapser = Collapser(reach=3)
    rows = collapser.rebuild([retry(0), other(1), other(2)])
    assert len(rows) == 3
    new, joined = collapser.add([retry(3)])  # row 1 is within the last 3 rows
    assert not new and [row.number for row in joined] == [1] and rows[0].count == 2
    collapser.add([other(10), other(11), other(12)])
    new, joined = collapser.add([retry(4)])  # row 1 is out of reach now: a new row
    assert [row.count for row in new] == [1] and not joined


# ---------------------------------------------------------------- on screen
async def test_x_collapses_repeats_with_exact_counts_updated_in_place_and_expands_again():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        before = len(log_lines(app))
        app.state.add_log_entries(
            [retry(i) if i % 4 else other(i) for i in range(40)]
        )  # 30 retries, 10 others
        await async_wait_until(lambda: len(log_lines(app)) == before + 40, pilot=pilot)
        await pilot.press("x")
        await async_wait_until(lambda: any(COUNT.search(line) for line in log_lines(app)), pilot=pilot)
        rows = [line for line in log_lines(app) if " worker-9 " in line]
        assert len(rows) == 1
        assert rows[0].startswith(f"{at(1)} worker-9")  # first seen: the first retry's time
        assert f"×30 to {at(39)} · retry 39 for req-1039" in rows[0]  # last seen, the latest message
        shown = len(log_lines(app))
        # More repeats: the same row counts them, where it is; no line is added.
        app.state.add_log_entries([retry(i) for i in range(40, 45)])
        await async_wait_until(
            lambda: any(f"×35 to {at(44)}" in line for line in log_lines(app)), pilot=pilot
        )
        assert len(log_lines(app)) == shown
        assert sum(" worker-9 " in line for line in log_lines(app)) == 1
        await pilot.press("x")
        await async_wait_until(lambda: not any(COUNT.search(line) for line in log_lines(app)), pilot=pilot)
        assert sum(" worker-9 " in line for line in entry_lines(app)) == 35  # every line, in full
        assert any(line.endswith("retry 17 for req-1017 trace 0x00000011ab id 123e4567-e89b-12d3-a456-000000000017")
                   for line in entry_lines(app))  # fmt: skip


async def test_search_finds_each_collapsed_line():
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        app.state.add_log_entries([retry(i) for i in range(30)])
        await async_wait_until(lambda: any("retry 29" in line for line in log_lines(app)), pilot=pilot)
        await pilot.press("x")
        await async_wait_until(lambda: any("×30" in line for line in log_lines(app)), pilot=pilot)
        for wanted in ("req-1007", "req-1023"):
            app.state.set_search(wanted)
            app.frame()
            await async_wait_until(lambda w=wanted: any(w in line for line in log_lines(app)), pilot=pilot)
            assert next(line for line in log_lines(app) if " worker-9 " in line).endswith(
                f"{wanted} trace 0x{int(wanted[-2:]):08x}ab id 123e4567-e89b-12d3-a456-{int(wanted[-2:]):012d}"
            )
        # A search every retry matches: one row again, counting exactly the matching lines.
        app.state.set_search("/req-10[0-1]/")
        app.frame()
        await async_wait_until(lambda: any("×20 to" in line for line in log_lines(app)), pilot=pilot)
