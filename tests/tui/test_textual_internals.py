"""Textual's private API that ``agentwatch/tui/textual_internals.py`` relies on is still there and still behaves.

Each failure names the override it breaks: upgrading Textual past what these checks know
means reading that override again, not updating a snapshot.
"""

from __future__ import annotations

import inspect
import re
import time
from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from rich.text import Text
from textual._compositor import ChopsUpdate, Compositor, LayoutUpdate
from textual._two_way_dict import TwoWayDict
from textual.app import App, ComposeResult
from textual.cache import LRUCache
from textual.geometry import Region
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Log, Static
from textual.widgets.data_table import ColumnKey, RowKey

from agentwatch.tui import textual_internals
from agentwatch.tui.pacing import PaintGate
from agentwatch.tui.screenrows import ScreenRows
from agentwatch.tui.textual_internals import (
    FramePaced,
    dirty_regions,
    render_strip,
    set_cells,
    write_to_terminal,
)
from agentwatch.tui.textual_paint import _chops, _partial_update
from agentwatch.tui.widgets import LogPane
from tests.helpers import async_wait_until
from tests.tui.test_terminal_scroll import Screen as Terminal

SIZE = (60, 12)


def broken(override: str, what: str) -> str:
    """The failure message: which override of agentwatch/tui/textual_internals.py broke, and how."""
    return f"Textual changed under {override} (agentwatch/tui/textual_internals.py): {what}"


# ---------------------------------------------------------------------- what exists
#: (override, Textual class, private method, its parameters as the override expects them)
PRIVATE_METHODS = [
    ("FixedSizeScrolling", Widget, "_scroll_update", ["self", "virtual_size"]),
    ("FixedSizeScrolling", Widget, "refresh", ["self", "regions", "repaint", "layout", "recompose"]),
    ("TransientDirtyRegions", Widget, "_set_dirty", ["self", "regions"]),
    ("LogWidthInPlace", Log, "_update_size", ["self", "updates", "lines"]),
    ("LogWidthInPlace", Log, "_update_maximum_width", ["self", "updates", "size"]),
    ("CachedLogLines", Log, "_render_line_strip", ["self", "y", "rich_style"]),
    ("FramePaced", Screen, "_compositor_refresh", ["self"]),
    ("FramePaced", Screen, "_on_timer_update", ["self"]),
    ("paint_screen", App, "_display", ["self", "screen", "renderable"]),
    ("paint_screen", App, "_update_mouse_over", ["self", "screen"]),
    ("paint_screen", Compositor, "render_update", ["self", "full", "screen_stack", "simplify"]),
    ("paint_screen", Compositor, "_regions_to_spans", ["regions"]),
    ("paint_screen", Widget, "render_lines", ["self", "crop"]),
    ("QuietScrollbars", App, "_start_widget", ["self", "parent", "widget"]),
    ("QuietScrollBar", Widget, "refresh", ["self", "regions", "repaint", "layout", "recompose"]),
    (
        "KeptCells",
        DataTable,
        "_render_cell",
        ["self", "row_index", "column_index", "base_style", "width", "cursor", "hover"],
    ),
    ("KeptCells", DataTable, "_clear_caches", ["self"]),
    ("KeptCells", DataTable, "notify_style_update", ["self"]),
    ("KeptCells", DataTable, "_render_line", ["self", "y", "x1", "x2", "base_style"]),
    ("KeptCells", DataTable, "_get_offsets", ["self", "y"]),
    ("KeptCells", DataTable, "_get_row_style", ["self", "row_index", "base_style"]),
    (
        "KeptCells",
        DataTable,
        "_get_styles_to_render_cell",
        [
            "self",
            "is_header_cell",
            "is_row_label_cell",
            "is_fixed_style_cell",
            "hover",
            "cursor",
            "show_cursor",
            "show_hover_cursor",
            "has_css_foreground_priority",
            "has_css_background_priority",
        ],
    ),
    ("KeptCells", DataTable, "render_lines", ["self", "crop"]),
    ("KeptCells", DataTable, "render_line", ["self", "y"]),
]


@pytest.mark.parametrize(("override", "owner", "name", "parameters"), PRIVATE_METHODS)
def test_each_private_method_still_exists_with_the_same_parameters(
    override: str, owner: type, name: str, parameters: list[str]
) -> None:
    method = getattr(owner, name, None)
    assert callable(method), broken(override, f"{owner.__name__}.{name} no longer exists")
    found = list(inspect.signature(method).parameters)
    assert found == parameters, broken(
        override, f"{owner.__name__}.{name} now takes {found}, the override was written for {parameters}"
    )
    ours = getattr(textual_internals, override).__dict__.get(name)
    if ours is not None:  # an override, not only a call: it must accept what Textual passes
        assert list(inspect.signature(ours).parameters) == parameters, broken(override, f"{name} differs")


#: (override, Textual class, private instance attribute, its type)
PRIVATE_ATTRIBUTES = [
    ("set_cells", DataTable, "_data", dict),
    ("set_cells", DataTable, "_updated_cells", set),
    ("set_cells", DataTable, "_require_update_dimensions", bool),
    ("set_cells", DataTable, "_update_count", int),
    ("set_row_order", DataTable, "_row_locations", TwoWayDict),
    ("set_row_order", DataTable, "_update_count", int),
    ("TransientDirtyRegions", Log, "_dirty_regions", set),
    ("TransientDirtyRegions", Log, "_repaint_regions", set),
    ("dirty_regions", Log, "_dirty_regions", set),
    ("CachedLogLines", Log, "_render_line_cache", LRUCache),
    ("CachedLogLines", Log, "_lines", list),
    ("FramePaced", Screen, "_dirty_widgets", set),
    ("paint_screen", App, "_batch_count", int),
    ("paint_screen", App, "_running", bool),
    ("paint_screen", App, "_closed", bool),
    ("paint_screen", Screen, "_compositor", Compositor),
    ("paint_screen", Compositor, "_dirty_regions", set),
    ("KeptCells", DataTable, "_show_hover_cursor", bool),
    ("KeptCells", DataTable, "_header_row_key", RowKey),
    ("KeptCells", DataTable, "_cell_render_cache", LRUCache),
    ("KeptCells", DataTable, "_row_render_cache", LRUCache),
    ("KeptCells", DataTable, "_row_renderable_cache", LRUCache),
    ("KeptCells", DataTable, "_line_cache", LRUCache),
    ("KeptCells", DataTable, "_pseudo_class_state", object),
    ("KeptCells", DataTable, "_labelled_row_exists", bool),
    ("KeptCells", DataTable, "_data", dict),
    ("QuietScrollbars", Widget, "_vertical_scrollbar", type(None)),
    ("QuietScrollbars", Widget, "_horizontal_scrollbar", type(None)),
]


@pytest.mark.parametrize(("override", "owner", "name", "kind"), PRIVATE_ATTRIBUTES)
def test_each_private_attribute_still_exists_with_the_same_type(
    override: str, owner: type, name: str, kind: type
) -> None:
    instance = owner()
    assert name in vars(instance), broken(override, f"a {owner.__name__} no longer has {name}")
    value = vars(instance)[name]
    assert isinstance(value, kind), broken(
        override, f"{owner.__name__}.{name} is now a {type(value).__name__}, not a {kind.__name__}"
    )


def test_screen_update_timer_is_still_a_property_textual_only_pauses_and_resumes() -> None:
    source = inspect.getsource(Screen)
    uses = {line.strip() for line in source.splitlines() if "self._update_timer" in line}
    assert isinstance(inspect.getattr_static(Screen, "_update_timer", None), property), broken(
        "FramePaced", "Screen._update_timer is no longer a property"
    )
    assert uses == {"self._update_timer.resume()", "self._update_timer.pause()"}, broken(
        "FramePaced", f"Screen uses _update_timer beyond pause() and resume(): {sorted(uses)}"
    )


# ---------------------------------------------------------------------- what it does
class PaneApp(App[None]):
    """A note, a log pane and a table on a frame-paced screen; records what it writes to the terminal."""

    frame_interval = 0.05

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []

    def _display(self, screen: Screen[Any], renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is not None:
            self.writes.append((time.monotonic(), renderable.render_segments(self.console)))

    def written(self, text: str) -> bool:
        return any(text in output for _, output in self.writes)

    def get_default_screen(self) -> Screen[Any]:
        return PacedScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield Static("before", id="note")
        yield LogPane(max_lines=100, id="log")
        yield DataTable[Any](id="table")


class PacedScreen(FramePaced, Screen[Any]):
    pass


def rendered(widget: Widget, y: int) -> str:
    return widget.render_line(y).text


async def comes_true(condition: Callable[[], object], pilot: Any, override: str, what: str) -> None:
    """Wait for ``condition``; fail naming ``override`` and what Textual no longer does."""
    try:
        await async_wait_until(condition, pilot=pilot)
    except AssertionError:
        pytest.fail(broken(override, what))


async def test_fixed_size_scrolling_updates_the_scrollbar_and_skips_the_layout_pass() -> None:
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(LogPane)
        await async_wait_until(lambda: pane.container_size.height > 0, pilot=pilot)
        for count in range(1, 6):
            skipped = pane.layouts_skipped
            pane.append([f"line {count}"])
            assert pane.layouts_skipped > skipped, broken(
                "FixedSizeScrolling",
                "a larger virtual size no longer calls Widget._watch_virtual_size and then refresh(layout=True)",
            )
            assert not pane._virtual_size_changed, broken(
                "FixedSizeScrolling", "Widget._watch_virtual_size was not followed by refresh()"
            )
            assert pane.vertical_scrollbar.window_virtual_size == pane.virtual_size.height == count, broken(
                "FixedSizeScrolling", "Widget._scroll_update no longer sizes the scrollbar"
            )


async def test_set_cells_changes_what_the_table_draws_and_widens_a_column() -> None:
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(DataTable)
        table.add_column("name", key="name")
        table.add_column("value", key="value")
        table.add_row("a", "1", key="row-a")
        table.add_row("b", "2", key="row-b")
        # The rows' own measuring (on idle) is done before any cell changes.
        await async_wait_until(
            lambda: table.virtual_size.height == 3 and "2" in rendered(table, 2), pilot=pilot
        )
        set_cells(table, [("row-a", "value", Text("10"), False), ("row-b", "value", Text("20"), False)])
        assert str(table.get_cell("row-a", "value")) == "10"
        await comes_true(
            lambda: "10" in rendered(table, 1) and "20" in rendered(table, 2),
            pilot,
            "set_cells",
            "DataTable no longer redraws cells changed through _data and _update_count",
        )
        wide = "a much wider value"
        width = table.virtual_size.width
        set_cells(table, [("row-b", "value", Text(wide), True)])
        await comes_true(
            lambda: wide in rendered(table, 2), pilot, "set_cells", "a widened cell is no longer drawn whole"
        )
        assert table.columns[ColumnKey("value")].content_width >= len(wide), broken(
            "set_cells", "DataTable._updated_cells no longer widens the column"
        )
        await comes_true(
            lambda: table.virtual_size.width > width,
            pilot,
            "set_cells",
            "DataTable._require_update_dimensions no longer widens the table",
        )


async def test_transient_dirty_regions_keeps_no_region_and_the_paint_still_shows_the_lines() -> None:
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(LogPane)
        await async_wait_until(lambda: pane.container_size.height > 0, pilot=pilot)
        pane._set_dirty(Region(0, 0, 10, 1))
        assert pane._dirty_regions == set(), broken(
            "TransientDirtyRegions", "Widget._dirty_regions not cleared"
        )
        assert pane._repaint_regions, broken(
            "TransientDirtyRegions", "Widget._set_dirty no longer leaves the region for the next paint"
        )
        pane.append(["first line", "second line"])
        await comes_true(
            lambda: app.written("second line"),
            pilot,
            "TransientDirtyRegions",
            "lines written are no longer painted",
        )
        assert len(pane._dirty_regions) <= 1


async def test_dirty_regions_reads_what_textual_keeps_for_a_widget() -> None:
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        note = app.query_one("#note", Static)
        await async_wait_until(lambda: note.size.height > 0, pilot=pilot)
        region = Region(0, 0, 3, 1)
        note._set_dirty(region)  # a plain widget keeps its dirty regions until it renders them
        assert region in dirty_regions(note), broken(
            "dirty_regions", "Widget._set_dirty no longer keeps the region in Widget._dirty_regions"
        )
        assert dirty_regions(note) == note._dirty_regions


async def test_log_width_in_place_widens_the_log_in_the_same_call() -> None:
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(LogPane)
        await async_wait_until(lambda: pane.container_size.height > 0, pilot=pilot)
        pane.append(["x" * 150, "short", "é" * 20 + "界" * 70])
        assert pane.virtual_size.width == 160, broken(
            "LogWidthInPlace",
            "Log.write_lines no longer measures through Log._update_size and Log._update_maximum_width",
        )
        assert not [worker for worker in app.workers if worker.node is pane], broken(
            "LogWidthInPlace", "Log still measures lines in a worker"
        )


async def test_frame_paced_screen_paints_through_its_gate_no_sooner_than_the_interval() -> None:
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, PacedScreen)
        await comes_true(
            lambda: screen._paint_gate is not None and screen._paint_gate.paints > 0,
            pilot,
            "FramePaced",
            "Textual no longer paints through Screen._update_timer",
        )
        gate = screen._paint_gate
        assert isinstance(gate, PaintGate)
        assert gate.period == app.frame_interval

        # A write that comes too soon is deferred: the whole screen is marked for the gate's paint.
        # Long enough that the layout pass the update causes runs well inside it on a loaded machine:
        # past the interval, that pass may write directly, which is allowed but not what is tested here.
        gate.period = 1.5
        gate.last_paint = written = time.monotonic()
        paints, writes = gate.paints, len(app.writes)
        app.query_one("#note", Static).update("after")
        screen._compositor_refresh()
        assert len(app.writes) == writes, broken("FramePaced", "Screen._compositor_refresh wrote too soon")
        assert screen in screen._dirty_widgets, broken(
            "FramePaced", "Screen._dirty_widgets no longer marks the screen for the deferred paint"
        )
        await comes_true(
            lambda: app.written("after"),
            pilot,
            "FramePaced",
            "Screen._on_timer_update no longer paints the deferred screen",
        )
        assert gate.paints > paints
        assert gate.last_paint >= app.writes[-1][0]  # the next interval runs from the end of this write
        # Timers may fire up to a clock tick early; a write a whole interval too soon is what matters.
        assert all(at >= written + gate.period - 0.02 for at, _ in app.writes[writes:])
        assert screen not in screen._dirty_widgets


async def test_write_to_terminal_goes_through_the_apps_driver_and_not_when_headless() -> None:
    app: App[None] = App()
    assert "_driver" in vars(app), broken("write_to_terminal", "an App no longer has _driver")
    assert write_to_terminal(app, "\x07") is False, "not running: nothing to write to"
    async with app.run_test():
        driver = vars(app)["_driver"]
        assert callable(getattr(driver, "write", None)), broken(
            "write_to_terminal", "App._driver has no write()"
        )
        assert write_to_terminal(app, "\x07") is False, "headless: the test terminal gets nothing"


async def test_set_cells_writes_only_the_rows_that_changed() -> None:
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(DataTable)
        table.add_column("name", key="name")
        table.add_column("value", key="value")
        table.add_row("alpha", "1", key="row-a")
        table.add_row("beta", "2", key="row-b")
        await async_wait_until(lambda: app.written("beta"), pilot=pilot)
        writes = len(app.writes)
        set_cells(table, [("row-a", "value", Text("7"), False)])
        await comes_true(
            lambda: any("7" in output for _, output in app.writes[writes:]),
            pilot,
            "set_cells",
            "a changed row is no longer written",
        )
        written = "".join(output for _, output in app.writes[writes:])
        assert "alpha" in written and "beta" not in written  # the row that did not change is not rewritten


def shown(*writes: str) -> list[str]:
    """The characters a terminal of SIZE shows after ``writes``."""
    terminal = Terminal(*SIZE)
    for data in writes:
        terminal.play(data.encode())
    return terminal.rows()


async def test_paint_screen_reads_textuals_paints_as_textual_writes_them() -> None:
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        app.query_one(LogPane).append([f"line {n}" for n in range(30)])
        await pilot.pause()
        assert isinstance(app._background_screens, list), broken(
            "paint_screen", "App._background_screens changed"
        )
        compositor = app.screen._compositor
        full = compositor.render_update(full=True)
        assert isinstance(full, LayoutUpdate), broken(
            "paint_screen", "a full update is no longer a LayoutUpdate"
        )
        rows = ScreenRows(*SIZE)
        ours = rows.paint(_chops(full, app.console), full=True)
        textual = full.render_segments(app.console)
        assert shown(ours) == shown(textual) and "line 29" in "".join(shown(ours)), broken(
            "paint_screen", "LayoutUpdate.strips / region no longer hold the screen's rows"
        )

        note = app.query_one("#note", Static)
        note.update("after")
        await pilot.pause()
        note.refresh()
        compositor.update_widgets({note})
        partial = compositor.render_partial_update()
        assert isinstance(partial, ChopsUpdate), broken(
            "paint_screen", "a partial update is no longer a ChopsUpdate"
        )
        textual = partial.render_segments(app.console)
        assert shown(textual, rows.paint(_chops(partial, app.console))) == shown(textual), broken(
            "paint_screen", "ChopsUpdate.spans / chops / chop_ends no longer say what is written where"
        )
        assert shown(textual, textual) == shown(textual)


def test_render_strip_writes_what_strip_render_writes_with_fewer_style_sequences() -> None:
    from rich.console import Console
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    console = Console(color_system="truecolor", force_terminal=True)
    grey = Style(color="#e0e0e0", bgcolor="#1e1e1e")
    green = Style(color="#98e024", bgcolor="#1e1e1e")
    bold = Style(bold=True, color="#f40050", bgcolor="#1e1e1e")
    segments = [
        Segment("12:00 ", grey),
        Segment("a-1 ", grey + Style(meta={"@click": "x"})),  # drawn alike: one run
        Segment("INFO ", green),  # only the colour changes
        Segment("ERROR", bold),  # an attribute turned on, and a colour
        Segment(" text", grey),  # bold turned off: a reset and the whole style
    ]
    plain = Strip(segments).render(console)
    ours = render_strip(Strip(segments), console)
    assert plain.count("\x1b[") == 10 and ours.count("\x1b[") == 5
    assert ours == (
        "\x1b[38;2;224;224;224;48;2;30;30;30m12:00 a-1 "
        "\x1b[38;2;152;224;36mINFO "
        "\x1b[1;38;2;244;0;80mERROR"
        "\x1b[22;38;2;224;224;224m text\x1b[0m"  # bold turned off by its own code
    )
    strip = Strip(segments)
    assert render_strip(strip, console) == strip.render(console), broken(
        "render_strip", "Strip.render no longer uses Strip._render_cache"
    )


class SgrState:
    """The attributes and colours a terminal draws with after SGR sequences (what a style change must reach)."""

    ON: ClassVar[dict[str, str]] = {
        "1": "bold",
        "2": "dim",
        "3": "italic",
        "4": "underline",
        "5": "blink",
        "6": "blink2",
        "7": "reverse",
        "8": "conceal",
        "9": "strike",
        "21": "underline2",
        "51": "frame",
        "52": "encircle",
        "53": "overline",
    }
    OFF: ClassVar[dict[str, tuple[str, ...]]] = {
        "22": ("bold", "dim"),
        "23": ("italic",),
        "24": ("underline", "underline2"),
        "25": ("blink", "blink2"),
        "27": ("reverse",),
        "28": ("conceal",),
        "29": ("strike",),
        "54": ("frame", "encircle"),
        "55": ("overline",),
    }

    def __init__(self) -> None:
        self.attributes: set[str] = set()
        self.colours: dict[str, str] = {}

    def play(self, text: str) -> None:
        for params in re.findall(r"\x1b\[([0-9;]*)m", text):
            codes = params.split(";") if params else ["0"]
            while codes:
                code = codes.pop(0)
                if code == "0":
                    self.attributes.clear()
                    self.colours.clear()
                elif code in self.ON:
                    self.attributes.add(self.ON[code])
                elif code in self.OFF:
                    self.attributes.difference_update(self.OFF[code])
                elif code in ("38", "48"):
                    size = 2 if codes[0] == "5" else 4
                    self.colours[code] = ";".join(codes[:size])
                    del codes[:size]
                elif code in ("39", "49"):
                    self.colours.pop("38" if code == "39" else "48", None)
                else:
                    raise AssertionError(f"unexpected SGR code {code} in {text!r}")

    def key(self) -> tuple[frozenset[str], tuple[tuple[str, str], ...]]:
        return frozenset(self.attributes), tuple(sorted(self.colours.items()))


def test_a_style_change_reaches_what_a_reset_and_the_whole_style_would() -> None:
    import random

    from rich.color import ColorSystem
    from rich.console import Console
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    rng = random.Random(5)
    names = list(SgrState.ON.values())
    colours = [None, "#e0e0e0", "#1e1e1e", "#f40050", "#98e024"]
    for system in ("truecolor", "256"):
        console = Console(color_system=system, force_terminal=True)
        for _ in range(300):
            styles = [
                Style(
                    color=rng.choice(colours),
                    bgcolor=rng.choice(colours),
                    **{name: True for name in rng.sample(names, rng.randint(0, 3))},
                )
                for _ in range(3)
            ]
            segments = [Segment(f"r{n}", style) for n, style in enumerate(styles)]
            ours = render_strip(Strip(segments), console)
            for n, style in enumerate(styles):  # the state where each run's text starts
                shown, wanted = SgrState(), SgrState()
                shown.play(ours[: ours.index(f"r{n}")])
                wanted.play(
                    Strip.render_ansi(
                        style, ColorSystem.TRUECOLOR if system == "truecolor" else ColorSystem.EIGHT_BIT
                    ).join(["\x1b[", "m"])
                )
                assert shown.key() == wanted.key(), (styles, ours)


def test_render_strip_erases_a_runs_trailing_blanks_instead_of_writing_spaces() -> None:
    from rich.console import Console
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    console = Console(color_system="256", force_terminal=True)
    line = Style(color="#e0e0e0", bgcolor="#1e1e1e")
    bar = Style(bgcolor="#303030")
    segments = [Segment("12:00 INFO ok" + " " * 40, line), Segment("  ", bar)]
    padded = Strip(segments)  # Textual's own writing, below, of another strip of the same segments
    ours = render_strip(Strip(segments), console)
    assert "12:00 INFO ok\x1b[40X\x1b[40C" in ours and " " * 13 not in ours
    assert len(ours) < len(padded.render(console)) - 25
    terminal_ours, terminal_textual = Terminal(60, 2), Terminal(60, 2)
    terminal_ours.play(ours.encode())
    terminal_textual.play(padded.render(console).encode())
    assert terminal_ours.rows() == terminal_textual.rows() and terminal_ours.x == terminal_textual.x == 55
    # Blanks that show their style (underline, reverse …) and short runs stay spaces.
    underlined = render_strip(Strip([Segment("a" + " " * 40, line + Style(underline=True))]), console)
    assert "X" not in underlined.replace("\x1b[0m", "") and " " * 40 in underlined
    short = render_strip(Strip([Segment("a" + " " * 12, line)]), console)
    assert " " * 12 in short and "\x1b[12X" not in short


async def test_cached_log_lines_renders_a_line_in_view_once_not_at_every_paint() -> None:
    from rich.style import Style
    from textual.strip import Strip

    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(LogPane)
        highlighted: list[str] = []
        real = pane.line_strip

        def counting(line: str, rich_style: Style) -> Strip | None:
            highlighted.append(line)
            return real(line, rich_style)

        pane.line_strip = counting  # type: ignore[method-assign]
        pane.append([f"line {n}" for n in range(30)])
        await async_wait_until(lambda: app.written("line 29"), pilot=pilot)
        for n in range(30, 36):  # one line a paint: every row in view moves each time
            pane.append([f"line {n}"])
            await async_wait_until(lambda n=n: app.written(f"line {n}"), pilot=pilot)
        rows = pane.scrollable_content_region.height
        assert rows >= 4
        again = [text for text in highlighted if text in {f"line {n}" for n in range(30 - rows, 35)}]
        assert len(again) <= len(set(again)) + 1, broken(
            "CachedLogLines", f"lines rendered again at each paint: {sorted(again)}"
        )
        cached = pane._render_line_strip(35, pane.rich_style)
        assert pane._render_line_strip(35, pane.rich_style) is cached
        assert pane._render_line_strip(35, Style(color="red")) is not cached  # another style: drawn again


# ---------------------------------------------------------------------- rows rendered per paint
def screen_text(app: App[Any]) -> list[str]:
    """What the app's screen shows, row by row (Textual's own full render)."""
    full = app.screen._compositor.render_update(full=True)
    assert isinstance(full, LayoutUpdate)
    return shown(ScreenRows(*SIZE).paint(_chops(full, app.console), full=True))


def log_rows(app: App[Any]) -> list[str]:
    """The log lines the screen shows, top to bottom (a row's scrollbar cell left out)."""
    import re

    return [found.group(1) for row in screen_text(app) if (found := re.match(r"(line \d+)", row))]


async def thirty_lines_shown(app: PaneApp, pilot: Any) -> LogPane:
    """The app's log pane once thirty lines are written to it and painted."""
    pane = app.query_one(LogPane)
    pane.append([f"line {n}" for n in range(30)])
    await async_wait_until(lambda: app.written("line 29"), pilot=pilot)
    await pilot.pause()
    return pane


def counting_render_lines(app: App[Any]) -> dict[str, list[int]]:
    """Rows each widget (by id) is asked to render from now on, through ``Widget.render_lines``."""
    asked: dict[str, list[int]] = {}
    for widget in app.screen.walk_children(Widget, with_self=True):
        real = widget.render_lines

        def render_lines(crop: Region, _real: Any = real, _widget: Widget = widget) -> Any:
            asked.setdefault(_widget.id or type(_widget).__name__, []).extend(crop.line_range)
            return _real(crop)

        widget.render_lines = render_lines  # type: ignore[method-assign]
    return asked


async def test_a_partial_paint_renders_only_the_widgets_and_rows_that_changed_and_writes_what_textual_would() -> (
    None
):
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        pane = await thirty_lines_shown(app, pilot)
        compositor = app.screen._compositor
        for name in ("_dirty_regions", "cuts", "visible_widgets", "_regions_to_spans"):
            assert hasattr(compositor, name), broken("paint_screen", f"Compositor.{name} no longer exists")
        asked = counting_render_lines(app)
        note = app.query_one("#note", Static)
        note.update("after")  # the top row …
        pane.refresh_lines(29, 1)  # … and the log's last row: Textual would render every row between
        await pilot.pause()
        note.refresh()
        compositor.update_widgets({note, pane})
        dirty = set(compositor._dirty_regions)
        ours = _partial_update(compositor)
        assert ours is not None
        assert "table" not in asked, f"a widget that did not change was rendered: {asked}"
        assert "_default" not in asked, f"the screen behind the changed widgets was rendered: {asked}"
        assert len(asked["log"]) < pane.size.height, asked  # the rows of the dirty line, not the whole pane
        compositor._dirty_regions.update(dirty)
        theirs = compositor.render_partial_update()
        assert isinstance(theirs, ChopsUpdate)
        assert ours.spans == theirs.spans
        assert ours.render_segments(app.console) == theirs.render_segments(app.console)


async def test_new_log_lines_render_only_the_new_rows_the_rest_moved_up() -> None:
    from textual._styles_cache import StylesCache

    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        pane = await thirty_lines_shown(app, pilot)
        cache = pane._styles_cache
        assert isinstance(cache, StylesCache) and isinstance(cache._cache, dict), broken(
            "RenderedRows", "Widget._styles_cache / StylesCache._cache changed"
        )
        assert isinstance(cache._dirty_lines, set), broken("RenderedRows", "StylesCache._dirty_lines changed")
        rendered: list[int] = []
        real = StylesCache.render_line

        def counting(self: StylesCache, styles: Any, y: int, *args: Any, **kwargs: Any) -> Any:
            if self is cache:
                rendered.append(y)
            return real(self, styles, y, *args, **kwargs)

        StylesCache.render_line = counting  # type: ignore[method-assign]
        decorate = pane.decorate_row  # (a content row the pane draws itself goes through it too)

        def drawing(y: int, strip: Any) -> Any:
            rendered.append(y + pane.content_offset.y)
            return decorate(y, strip)

        pane.decorate_row = drawing  # type: ignore[method-assign]
        try:
            kept = pane.rows_kept
            pane.append(["line 30", "line 31"])
            await async_wait_until(lambda: app.written("line 31"), pilot=pilot)
            await pilot.pause()
        finally:
            StylesCache.render_line = real  # type: ignore[method-assign]
            del pane.decorate_row
        rows = pane.scrollable_content_region.height
        assert pane.rows_kept == kept + 1
        assert 2 <= len(set(rendered)) <= 3, rendered  # the two new rows (and the border, if asked again)
        assert log_rows(app)[-rows:] == [f"line {n}" for n in range(32 - rows, 32)]

        # A full log (max_lines) drops its oldest lines: the rows move up without a scroll.
        pane.append([f"line {n}" for n in range(32, 100)])
        await async_wait_until(lambda: app.written("line 99"), pilot=pilot)
        await pilot.pause()
        assert len(pane.lines) == 100
        kept = pane.rows_kept
        pane.append(["line 100"])
        await async_wait_until(lambda: app.written("line 100"), pilot=pilot)
        await pilot.pause()
        assert pane.rows_kept == kept + 1
        assert log_rows(app)[-rows:] == [f"line {n}" for n in range(101 - rows, 101)]


async def test_a_scrollbar_is_repainted_only_when_what_it_draws_changes() -> None:
    app = PaneApp()
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(LogPane)
        pane.max_lines = 1_000
        pane.append([f"line {n}" for n in range(400)])
        await async_wait_until(lambda: app.written("line 399"), pilot=pilot)
        await pilot.pause()
        bar = pane.vertical_scrollbar
        assert isinstance(bar, textual_internals.QuietScrollBar), broken(
            "QuietScrollbars", "Widget.vertical_scrollbar is no longer the property that makes the bar"
        )
        drawn = bar.look()
        assert bar._drawn == drawn
        bar._repaint_required = False
        renders = 0
        real = bar.render

        def counting() -> Any:
            nonlocal renders
            renders += 1
            return real()

        bar.render = counting  # type: ignore[method-assign]
        pane.append(["line 400"])  # a long log's thumb does not move for one more line
        await pilot.pause()
        await pilot.pause()
        assert bar.window_virtual_size == 401 and bar.look() == drawn
        assert renders == 0 and not bar._repaint_required
        pane.scroll_home(animate=False, immediate=True)  # the thumb moves to the top: drawn again
        assert bar.look() != drawn
        await async_wait_until(lambda: renders == 1 and bar._drawn == bar.look(), pilot=pilot)


def test_equal_scrollbar_looks_draw_the_same_cells() -> None:
    """The thumb :class:`QuietScrollBar` computes is the one ``ScrollBarRender.render_bar`` draws."""
    import random

    from textual.scrollbar import ScrollBarRender

    bar = textual_internals.QuietScrollBar
    parameters = list(inspect.signature(ScrollBarRender.render_bar).parameters)
    assert parameters[:7] == [
        "size",
        "virtual_size",
        "window_size",
        "position",
        "thickness",
        "vertical",
        "back_color",
    ]
    rng = random.Random(7)
    drawn: dict[tuple[object, ...], list[Any]] = {}
    for _ in range(4_000):
        vertical = rng.random() < 0.5
        size = rng.randint(1, 40)
        virtual = rng.choice([rng.randint(0, 60), rng.randint(0, 20_000)])
        window = rng.randint(0, size)
        position = int(rng.uniform(0, max(0, virtual - window)) * 8) / 8
        thumb = bar.thumb(size, virtual, window, position, vertical)
        segments = ScrollBarRender.render_bar(
            size, virtual, window if window < virtual else 0, position, 1, vertical
        ).segments
        cells = [(segment.text, segment.style) for segment in segments]
        key = (size, vertical, thumb)
        assert drawn.setdefault(key, cells) == cells, broken(
            "QuietScrollBar", f"ScrollBarRender.render_bar draws differently for the same thumb {key}"
        )


class KeptTable(textual_internals.KeptCells, DataTable[Any]):
    pass


class KeptTableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield KeptTable(id="table")


async def test_a_cell_is_rendered_again_only_when_its_value_or_place_changes() -> None:
    app = KeptTableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(KeptTable)
        for name in ("name", "value", "note"):
            table.add_column(name, key=name)
        table.add_row("alpha", "1", "x", key="row-a")
        table.add_row("beta", "2", "y", key="row-b")
        await async_wait_until(
            lambda: "alpha" in rendered(table, 1) and "beta" in rendered(table, 2), pilot=pilot
        )
        await pilot.pause()
        assert "alpha" in rendered(table, 1) and "beta" in rendered(table, 2)  # the cells as laid out
        rendered_cells: list[tuple[int, int]] = []
        real = DataTable._render_cell
        real_built = KeptTable._one_line  # a cell of one style: built, not rendered through Rich

        def counting(
            self: DataTable[Any], row_index: int, column_index: int, *args: Any, **kwargs: Any
        ) -> Any:
            rendered_cells.append((row_index, column_index))
            return real(self, row_index, column_index, *args, **kwargs)

        def counting_built(self: KeptTable, text: Text, row_index: int, column_index: int, *args: Any) -> Any:
            rendered_cells.append((row_index, column_index))
            return real_built(self, text, row_index, column_index, *args)

        DataTable._render_cell = counting  # type: ignore[method-assign]
        KeptTable._one_line = counting_built  # type: ignore[method-assign]
        try:
            set_cells(table, [("row-a", "value", Text("7"), False)])
            await async_wait_until(lambda: "7" in rendered(table, 1), pilot=pilot)
            assert set(rendered_cells) == {(0, 1)}, broken(
                "KeptCells", f"cells whose value did not change were rendered again: {rendered_cells}"
            )
            assert "alpha" in rendered(table, 1) and "x" in rendered(table, 1)
            rendered_cells.clear()
            table.move_cursor(row=1)  # the cursor's row is drawn in another style: both rows again
            await async_wait_until(lambda: {(0, 0), (1, 0)} <= set(rendered_cells), pilot=pilot)
        finally:
            DataTable._render_cell = real  # type: ignore[method-assign]
            del KeptTable._one_line
        assert table._cell_render_cache.maxsize <= table.kept_cells // 4  # past updates' cells are not kept
        table._clear_caches()
        assert not table.__dict__["_kept"], broken("KeptCells", "DataTable._clear_caches is no longer called")
        assert not table.__dict__["_kept_lines"], broken("KeptCells", "_clear_caches left a row's line kept")


def test_a_chop_written_right_after_another_starts_from_the_style_it_left() -> None:
    from rich.color import ColorSystem
    from rich.console import Console
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    from agentwatch.tui import textual_paint
    from agentwatch.tui.screenrows import Chop

    console = Console(color_system="truecolor", force_terminal=True)
    line = Strip(
        [
            Segment("12:00 ", Style(color="#e0e0e0", bgcolor="#1e1e1e")),
            Segment("ERROR", Style(bold=True, color="#f40050", bgcolor="#1e1e1e")),
            Segment(" ok", Style(color="#e0e0e0", bgcolor="#1e1e1e")),  # a log line ends in the pane's style
        ]
    )
    bar = Strip([Segment("  ", Style(color="#e0e0e0", bgcolor="#000000"))])
    chops = [
        Chop(0, 0, 11, render_strip(line, console), source=line),
        Chop(0, 11, 2, render_strip(bar, console), source=bar),
    ]
    plain = ScreenRows(13, 1).paint(chops)
    joined = ScreenRows(13, 1, join=lambda a, b: textual_paint._join(a, b, ColorSystem.TRUECOLOR)).paint(
        chops
    )
    assert len(joined) < len(plain) - 20 and joined.count("\x1b[0m") == 1, (plain, joined)
    state, wanted = SgrState(), SgrState()
    state.play(joined[: joined.index("  ")])
    wanted.play("\x1b[" + Strip.render_ansi(bar._segments[0].style, ColorSystem.TRUECOLOR) + "m")
    assert state.key() == wanted.key()
    assert shown(joined)[0].startswith("12:00 ERROR ok  ")
    # A strip that ends with a link or unstyled is not joined.
    linked = Strip([Segment("x", Style(link="https://example.com"))])
    assert textual_paint._join(linked, bar, ColorSystem.TRUECOLOR) is None


def test_a_chop_written_as_its_changed_cells_after_a_joined_write_starts_from_no_style() -> None:
    """A chop joined to the write before (that write's reset taken off), then written as only its
    changed cells after a cursor move: the reset is put back, so those cells are not drawn in the
    style the write before left (bold here)."""
    from rich.color import ColorSystem
    from rich.console import Console
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    from agentwatch.tui import textual_paint
    from agentwatch.tui.screenrows import Chop

    console = Console(color_system="truecolor", force_terminal=True)
    pane, error = (
        Style(color="#e0e0e0", bgcolor="#1e1e1e"),
        Style(bold=True, color="#f40050", bgcolor="#1e1e1e"),
    )
    cells = Style(color="#000000", bgcolor="#e0e0e0")

    def row(time: str, value: str) -> list[Chop]:
        line = Strip([Segment(time, pane), Segment("ERROR", error)])
        box = Strip([Segment(value, cells)])
        return [
            Chop(0, 0, 11, render_strip(line, console), source=line),
            Chop(0, 11, 12, render_strip(box, console), source=box),
        ]

    rows = ScreenRows(
        23,
        1,
        runs_of=lambda source: textual_paint._strip_runs(source, ColorSystem.TRUECOLOR),
        join=lambda a, b: textual_paint._join(a, b, ColorSystem.TRUECOLOR),
    )
    first = Strip([Segment("12:00", pane)]), Strip([Segment(" INFO ", pane)])  # the line in two chops
    rows.paint(
        [
            Chop(0, 0, 5, render_strip(first[0], console), source=first[0]),
            Chop(0, 5, 6, render_strip(first[1], console), source=first[1]),
            row("", "abcdefghijkl")[1],
        ]
    )
    written = rows.paint(row("12:01 ", "abcdefXhijkl"))  # the line whole, then the box's one cell
    assert "abcdef" not in written, written  # the box is written as its changed cell only
    state, wanted = SgrState(), SgrState()
    state.play(written[: written.index("X")])
    wanted.play("\x1b[" + Strip.render_ansi(cells, ColorSystem.TRUECOLOR) + "m")
    assert state.key() == wanted.key(), written


def test_a_row_written_after_the_row_above_with_cr_lf_starts_from_the_style_that_row_left() -> None:
    """Two log lines on consecutive rows: the second says no style the first left in force (the
    whole style and a reset before it were 38 bytes a line), and still shows in its own style."""
    from rich.color import ColorSystem
    from rich.console import Console
    from rich.segment import Segment
    from rich.style import Style
    from textual.strip import Strip

    from agentwatch.tui import textual_paint
    from agentwatch.tui.screenrows import Chop

    console = Console(color_system="truecolor", force_terminal=True)
    pane, level = Style(color="#e0e0e0", bgcolor="#1e1e1e"), Style(color="#98e024", bgcolor="#1e1e1e")
    lines = [
        Strip([Segment("12:00 a ", pane), Segment("INFO", level), Segment(" done", pane)]),
        Strip(
            [
                Segment("12:01 b ", pane),
                Segment("WARN", Style(bold=True, color="#fa8419")),
                Segment(" x", pane),
            ]
        ),
    ]
    rows = ScreenRows(17, 2, join=lambda a, b: textual_paint._join(a, b, ColorSystem.TRUECOLOR))
    chops = [Chop(y, 0, 17, render_strip(line, console), source=line) for y, line in enumerate(lines)]
    written = rows.paint(chops)
    second = written[written.index("\r\n") + 2 :]
    assert second.startswith("12:01 b "), written  # the pane's style is still in force
    assert written.count("\x1b[0m") == 1, written  # one reset, at the very end
    state = SgrState()
    state.play(written[: written.index("12:01")])
    wanted = SgrState()
    wanted.play("\x1b[" + Strip.render_ansi(pane, ColorSystem.TRUECOLOR) + "m")
    assert state.key() == wanted.key()
    assert shown(written)[0].startswith("12:00 a INFO done") and shown(written)[1].startswith(
        "12:01 b WARN x"
    )
