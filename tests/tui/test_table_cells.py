"""The agents table's cells and lines, built without Rich's layout, draw what DataTable draws.

:class:`~agentwatch.tui.textual_internals.KeptCells` builds a one-row cell of one style from its
text and keeps a row's cells while their values are the same objects; over random values,
styles, widths, cursor, hover and focus both must give the very segments DataTable gives.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.widgets import DataTable

from agentwatch.protocol import AgentRow, InFlight
from agentwatch.tui import formatting as fmt
from agentwatch.tui.agenttable import AgentTable
from agentwatch.tui.state import AgentView
from agentwatch.tui.textual_internals import KeptCells, set_cells

#: Every style a table cell is drawn with, and a few more.
STYLES = ["", "dim", "bold red", "yellow", "dim yellow", "bold yellow", "italic", "green", "red",
          "reverse", "underline", "bold", "on blue", "magenta on white", *fmt._STATUS_STYLES.values()]  # fmt: skip
PIECES = ["a", "Z", "0", " ", "  ", "…", "—", "⟳", "⚠", "▲", "●", "日本", "語", "🙂", "e\u0301", "[bold]x[/]",
          "[red]", "\\[", "$", "%", "≥", "\x1b[31m", "\n", "\t", "\x00", "\u200b", "\u00a0", "ﾟ", "mcp__x"]  # fmt: skip
JUSTIFY: list[Any] = [None, None, "right", "left", "center", "default"]
#: Rows of the tables: more than they show, so they scroll.
ROWS = 16


def random_text(rng: random.Random) -> Text:
    text = "".join(rng.choice(PIECES) for _ in range(rng.choice([0, 1, 2, 3, 6, 12, 30])))
    if rng.random() < 0.5:  # printable pieces only: what the fast path takes
        text = "".join(ch for ch in text if ch.isprintable())
    value = Text(text, style=rng.choice(STYLES), justify=rng.choice(JUSTIFY))
    if rng.random() < 0.05:
        value.stylize("bold", 0, 1)  # a span: DataTable's own rendering
    if rng.random() < 0.05:
        value.overflow = rng.choice(["ellipsis", "crop"])
    if rng.random() < 0.05:
        value.no_wrap = rng.choice([True, False])
    return value


class KeptTable(KeptCells, DataTable[Any]):
    pass


#: (cursor foreground priority, cursor background priority): DataTable's default, and the other way.
PRIORITIES: list[Any] = [("css", "renderable"), ("renderable", "css")]


class TwoTables(App[None]):
    CSS = "DataTable { height: 12; }"
    AUTO_FOCUS = None  # the two tables look the same: neither has focus (one at most could)

    def __init__(self, priorities: tuple[Any, Any] = PRIORITIES[0]) -> None:
        super().__init__()
        self.priorities = priorities

    def compose(self) -> ComposeResult:
        foreground, background = self.priorities
        for table in (KeptTable, DataTable):
            yield table(id="kept" if table is KeptTable else "reference", cursor_type="row", cell_padding=1,
                        cursor_foreground_priority=foreground, cursor_background_priority=background)  # fmt: skip


def same_table(app: TwoTables, rng: random.Random) -> tuple[DataTable[Any], DataTable[Any]]:
    tables = (app.query_one("#kept", DataTable), app.query_one("#reference", DataTable))
    for table in tables:
        table.clear(columns=True)
    widths = [rng.choice([0, 1, 2, 5, 7, 10, 24]) for _ in range(rng.randint(1, 6))]
    labels = [random_text(rng) for _ in widths]
    for table in tables:
        for index, (width, label) in enumerate(zip(widths, labels, strict=True)):
            table.add_column(label, width=width, key=f"c{index}")
        for row in range(ROWS):
            table.add_row(*(Text("") for _ in widths), key=f"r{row}")
    return tables


@pytest.mark.parametrize("priorities", PRIORITIES)
async def test_a_one_line_cell_is_the_segments_datatable_renders(priorities: tuple[Any, Any]) -> None:
    app = TwoTables(priorities)
    rng = random.Random(7)
    taken = 0
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        same_table(app, rng)
        kept = app.query_one(KeptTable)
        for step in range(3_000):
            if step % 500 == 0:  # with focus and without
                (kept.focus if step % 1_000 else kept.blur)()
                await pilot.pause()
            value = random_text(rng)
            row, column = rng.randrange(9), rng.randrange(len(kept.columns))
            set_cells(kept, [(f"r{row}", f"c{column}", value, False)])
            base = rng.choice([kept.rich_style, Style(bgcolor="red"), Style(color="blue", bold=True)])
            width = rng.choice([0, 2, 3, 4, 8, 12, 26])
            cursor, hover = rng.random() < 0.3, rng.random() < 0.3
            kept.show_cursor = rng.random() < 0.8
            kept._show_hover_cursor = rng.random() < 0.5
            kept._pseudo_class_state = kept.get_pseudo_class_state()
            kept._cell_render_cache.clear()
            expected = DataTable._render_cell(kept, row, column, base, width, cursor, hover)
            built = kept._one_line_cell(value, kept._row_locations.get_key(row), row, column, base, width,
                                        cursor, hover)  # fmt: skip
            if built is not None:
                taken += 1
                assert built == expected, (value, value.style, value.justify, width, cursor, hover)
            assert kept._render_cell(row, column, base, width, cursor, hover) == expected
    assert taken > 1_000  # most random cells were built directly


@pytest.mark.parametrize("priorities", PRIORITIES)
async def test_every_line_of_the_table_is_the_line_datatable_draws(priorities: tuple[Any, Any]) -> None:
    app = TwoTables(priorities)
    rng = random.Random(11)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for _ in range(12):
            tables = same_table(app, rng)
            columns = len(tables[0].columns)
            await pilot.pause()  # the tables measure their rows
            scrolled = 0
            for _ in range(25):
                changes = [(f"r{rng.randrange(ROWS)}", f"c{rng.randrange(columns)}", random_text(rng), False)
                           for _ in range(rng.choice([0, 1, 3, 10]))]  # fmt: skip
                cursor = Coordinate(rng.randrange(ROWS), 0)
                hover = Coordinate(rng.randrange(-1, ROWS), rng.randrange(columns))
                scroll = rng.randrange(8)
                show_cursor, show_hover = rng.random() < 0.8, rng.random() < 0.5
                zebra = rng.random() < 0.2
                for table in tables:
                    set_cells(table, changes)
                    table.move_cursor(row=cursor.row, animate=False)
                    table.hover_coordinate = hover
                    table.show_cursor, table._show_hover_cursor = show_cursor, show_hover
                    table.zebra_stripes = zebra
                    table.scroll_to(y=scroll, animate=False, immediate=True)
                    table._pseudo_class_state = table.get_pseudo_class_state()
                scrolled += tables[0].scroll_y > 0
                for y in range(12):
                    kept, reference = (list(table.render_line(y)) for table in tables)
                    assert kept == reference, (y, changes)
                # As a paint draws them: every line of the widget at once.
                painted = []
                for table in tables:
                    table._styles_cache.clear()
                    painted.append([list(strip) for strip in table.render_lines(Region(0, 0, *table.size))])
                assert painted[0] == painted[1]
            assert scrolled  # lines were drawn scrolled too


class AgentsApp(App[None]):
    CSS = "AgentTable { height: 14; }"

    def compose(self) -> ComposeResult:
        yield AgentTable(id="agents")


def agent_views(now: float, scale: float) -> list[AgentView]:
    rows = [
        AgentRow(agent_id=f"agent-{index:02d}", tokens_per_second=scale * (index + 1), p50_latency_ms=scale * 3,
                 p99_latency_ms=scale * 9, error_rate=0.01 * index, cost_usd=scale / 7, last_seen=now - index,
                 in_flight=InFlight(what="tool_call Bash", since=now - scale) if index % 2 else None)
        for index in range(12)
    ]  # fmt: skip
    return [AgentView(agent_id=row.agent_id, row=row, last_seen=row.last_seen, errors=0) for row in rows]


async def test_a_table_update_renders_no_cell_through_rich() -> None:
    app = AgentsApp()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(AgentTable)
        table.update_from(agent_views(1_000.0, 10.0), 1_000.0)
        await pilot.pause()
        through_rich: list[object] = []
        render_lines = app.console.render_lines

        def counting(renderable: Any, *args: Any, **kwargs: Any) -> Any:
            through_rich.append(renderable)
            return render_lines(renderable, *args, **kwargs)

        app.console.render_lines = counting  # type: ignore[method-assign]
        table.update_from(agent_views(1_001.0, 20.0), 1_001.0)
        painted = ["".join(s.text for s in strip) for strip in table.render_lines(Region(0, 0, *table.size))]
        assert "240.0" in painted[12] and "2.86" in painted[12]  # the last agent's new tok/s and cost
        assert through_rich == []
