"""The log pane draws a row's strip itself (:class:`~agentwatch.tui.logstrips.LogStrips`): the same
segments, styles and cell length as Textual's Log highlighting a rich Text, for every kind of line."""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.dom import DOMNode
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Log

from agentwatch.protocol import LogEntry
from agentwatch.tui import formatting as fmt
from agentwatch.tui.linewrap import wrap_lines
from agentwatch.tui.logstrips import cells, printable_row
from agentwatch.tui.logview import LogView
from agentwatch.tui.state import MARKER_DROPPED, LogLine, Marker
from agentwatch.tui.textual_internals import replace_log_rows

LEVELS = ["debug", "info", "warning", "error", "critical", "trace", "fatal", "notice", ""]
PIECES = [
    "plain words",
    "[bold]x[/]",
    "[red]not markup[/red]",
    "\x1b[31mescape\x1b[0m",
    "tab\there",
    "bell\x07 back\x08 cr\r ff\x0c nul\x00",
    "wide 漢字テスト",
    "emoji 🚀🎉",
    "combining e\u0301 a\u0308",
    "zero\u200bwidth",
    "rtl שלום",
    "INFO ",
    "ERROR",
    "⚠ ",
    "   ",
    "",
    "x" * 150,
    "needle",
    "nee",
    "\u0085\u2028",
    "zwj 👩\u200d💻 vs16 ❤\ufe0f",
    "\x7f del \x1b",
]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 6)))


def random_entries(rng: random.Random, count: int) -> list[LogLine]:
    """Entries of every level (odd agents and messages among them) and markers."""
    entries: list[LogLine] = []
    for _ in range(count):
        if rng.random() < 0.1:
            entries.append(Marker(kind=MARKER_DROPPED, count=rng.randint(1, 9), timestamp=1_700_000_000.0))
        else:
            entries.append(
                LogEntry(
                    timestamp=1_700_000_000 + rng.random() * 1e5,
                    agent_id=rng.choice(
                        ["agent-1", "claude-code·dfe22c9b", "x" * 40, "漢字", "[b]a[/b]", ""]
                    ),
                    level=rng.choice(LEVELS),
                    message=random_text(rng),
                )
            )
    return entries


def random_lines(rng: random.Random, count: int, *, timestamps: bool) -> list[str]:
    """Formatted lines and raw rows (what a wrap or an odd writer makes)."""
    lines = [fmt.log_line(entry, timestamps=timestamps) for entry in random_entries(rng, count)]
    return lines + [random_text(rng) for _ in range(count // 5)]


def finder(needle: str, *, overlapping: bool) -> Callable[[str], list[tuple[int, int]]]:
    def spans(message: str) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        start = message.find(needle)
        while start != -1:
            found.append((start, start + len(needle)))
            start = message.find(needle, start + (1 if overlapping else len(needle)))
        return found

    return spans


def beyond_the_end(message: str) -> list[tuple[int, int]]:
    """Matches a careless search might give: empty, reversed, past the message's end."""
    return [(0, 0), (3, 2), (len(message), len(message) + 4), (max(0, len(message) - 2), len(message) + 9)]


class LogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=2_000, id="log")


def textual_strip(pane: LogView, y: int, style: Style) -> Strip:
    """What Textual's Log draws for row ``y`` (its cache emptied first: it would return ours)."""
    pane._render_line_cache.clear()
    return Log._render_line_strip(pane, y, style)


def cell_styles(strip: Strip) -> list[tuple[str, Style | None]]:
    return [(char, segment.style) for segment in strip for char in segment.text]


async def test_the_pane_draws_every_row_as_textuals_log_does() -> None:
    rng = random.Random(15)
    app = LogApp()
    async with app.run_test(size=(120, 36)) as pilot:
        pane = app.query_one(LogView)
        widget_style = pane.rich_style
        styles = [widget_style, Style(), Style(color="red", bgcolor="black", italic=True), Style(bold=True)]
        searches: list[Callable[[str], list[tuple[int, int]]]] = [
            lambda _message: [],
            finder("needle", overlapping=False),
            finder("ee", overlapping=True),
            finder("x", overlapping=False),
            finder("漢", overlapping=False),
            beyond_the_end,
        ]
        compared = 0
        for timestamps in (True, False):
            pane.set_columns(timestamps)
            colours = pane.log_highlighter
            lines = random_lines(rng, 300, timestamps=timestamps)
            rows = list(lines) + list(wrap_lines(lines, 60, colours.message_start))
            pane.replace(rows)
            await pilot.pause()
            assert len(pane.lines) >= len(rows)  # a raw row with a line break in it is two
            for search in searches:
                colours.spans = search
                for y, row in enumerate(pane.lines):
                    for style in styles:
                        ours = pane.line_strip(row, style)
                        theirs = textual_strip(pane, y, style)
                        assert ours is not None
                        assert list(ours) == list(theirs), (row, search, style)
                        assert ours.cell_length == theirs.cell_length, row
                        compared += 1
        assert compared > 10_000


async def test_the_rows_on_screen_are_textuals_in_wrapped_mode_with_a_mark_and_a_search() -> None:
    """Whole rows as the pane renders them (cropped, scrolled sideways, offsets, the mark, the
    scrollbar), with our strips and the widget's style worked out once, and as Textual renders them."""
    rng = random.Random(7)
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogView)
        pane.log_highlighter.spans = finder("ee", overlapping=True)
        for wrap in (False, True):
            pane.set_wrap(wrap)
            entries = random_entries(rng, 120)
            pane.replace_entries(entries, [fmt.log_line(entry) for entry in entries])
            await pilot.pause()
            pane.set_mark(3)
            for scroll_x in (0, 5):
                pane.scroll_to(x=scroll_x, animate=False, immediate=True)
                await pilot.pause()
                whole = Region(0, 0, *pane.size)
                pane.notify_style_update()  # nothing kept: every row drawn now
                ours = pane.render_lines(whole)
                textual: Any = pane
                textual.line_strip = lambda _line, _style: None  # Textual's Log draws every row
                pane.notify_style_update()
                try:
                    theirs = Widget.render_lines(pane, whole)  # the widget's style asked at every row
                finally:
                    del textual.line_strip
                assert len(ours) == len(theirs) == pane.size.height
                assert [cell_styles(strip) for strip in ours] == [cell_styles(strip) for strip in theirs]
                assert any(strip.cell_length for strip in ours)


def test_printable_row_and_its_width_are_what_textuals_log_draws() -> None:
    rng = random.Random(3)
    for _ in range(2_000):
        line = random_text(rng) + "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randint(0, 8)))
        assert printable_row(line) == Log._process_line(line)
        assert printable_row(line) == Text(Log._process_line(line)).plain  # nothing more for Text to strip
        row = printable_row(line)
        assert cells(row) == cell_len(row), row


async def test_a_paint_works_out_the_widgets_style_once_and_a_changed_style_shows(monkeypatch: Any) -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogView)
        entries = random_entries(random.Random(1), 40)
        pane.replace_entries(entries, [fmt.log_line(entry) for entry in entries])
        await pilot.pause()
        asked: list[int] = []
        real = DOMNode.rich_style

        def counted(node: DOMNode) -> Style:
            asked.append(1)
            return real.fget(node)  # type: ignore[attr-defined,no-any-return]

        monkeypatch.setattr(DOMNode, "rich_style", property(counted))
        pane.render_lines(Region(0, 0, *pane.size))
        assert asked == []  # every row kept
        pane.notify_style_update()
        pane._styles_cache.clear()
        before = pane.render_lines(Region(0, 0, *pane.size))
        assert len(asked) == 1  # Textual's Log: once a row
        monkeypatch.undo()
        pane.styles.background = "darkblue"
        pane.styles.color = "yellow"
        await pilot.pause()
        after = pane.render_lines(Region(0, 0, *pane.size))
        new = pane.rich_style.bgcolor
        assert new is not None
        assert not any(segment.style and segment.style.bgcolor == new for segment in before[0])
        assert any(segment.style and segment.style.bgcolor == new for segment in after[0])


async def test_a_full_log_keeps_its_lines_strips_under_their_numbers_and_moves_none_on_a_prune() -> None:
    """Each write to a full log drops its oldest lines: the strips kept for the others stay where
    they are (Log moved every strip it kept to the line's new index, at each write), and every row
    still shows its own line."""
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogView)
        pane.max_lines = 50
        texts = random_lines(random.Random(5), 400, timestamps=True)
        texts = [" ".join(text.splitlines()) + f" #{n}" for n, text in enumerate(texts)]  # one row each
        style = pane.rich_style
        kept: dict[str, Strip] = {}
        for start in range(0, len(texts), 7):
            pane.append(texts[start : start + 7])
            for y in range(len(pane.lines)):
                strip = pane._render_line_strip(y, style)
                assert strip.text == printable_row(pane.lines[y])[: len(strip.text)]
                assert kept.setdefault(pane.lines[y], strip) is strip  # drawn once, found again after prunes
            assert not pane._render_line_cache  # nothing for Log to move on the next prune
        assert len(pane.lines) == 50
        await pilot.pause()
        # A line rewritten in place (a collapsed line's count) is drawn again, in view or not.
        assert pane._render_line_strip(3, style) is kept[pane.lines[3]]
        replace_log_rows(pane, 3, ["rewritten"])
        assert pane._render_line_strip(3, style).text == "rewritten"


async def test_selected_text_is_drawn_by_textuals_log_and_the_rows_come_back_after() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogView)
        entries = random_entries(random.Random(9), 60)
        pane.replace_entries(entries, [fmt.log_line(entry) for entry in entries])
        await pilot.pause()
        whole = Region(0, 0, *pane.size)
        before = [cell_styles(strip) for strip in pane.render_lines(whole)]
        pane.text_select_all()
        await pilot.pause()
        assert pane.text_selection is not None
        selected = pane.screen.get_component_rich_style("screen--selection")
        drawn = pane.render_lines(whole)
        top = pane.scroll_offset.y
        rows = [y for y in range(pane.scrollable_content_region.height) if pane.lines[top + y]]
        assert rows
        for y in rows:
            assert any(style and style.bgcolor == selected.bgcolor for _, style in cell_styles(drawn[y])), y
        pane.screen.clear_selection()
        await pilot.pause()
        assert pane.text_selection is None
        assert [cell_styles(strip) for strip in pane.render_lines(whole)] == before


class SmallLogApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LogView(max_lines=60, id="log")


async def test_a_full_log_at_its_end_takes_writes_without_scrolling_and_keeps_showing_the_newest_line() -> (
    None
):
    """Each write to a full log drops as many lines as it adds: the end does not move, and Log's
    scroll to it (which posted a callback for after the next refresh at every write) is not made;
    the pane still shows the newest line, also after a line wider than the pane."""
    app = SmallLogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogView)

        def write(*texts: str) -> None:
            pane.append_entries(
                [LogEntry(timestamp=0.0, agent_id="a", level="info", message=t) for t in texts], texts
            )

        write(*(f"line {n}" for n in range(60)))
        await pilot.pause()
        assert pane.is_vertical_scroll_end
        posted: list[object] = []
        real = pane.call_after_refresh

        def counting(callback: Any, *args: Any, **kwargs: Any) -> bool:
            posted.append(callback)
            return real(callback, *args, **kwargs)

        pane.call_after_refresh = counting  # type: ignore[method-assign]
        for n in range(60, 90, 3):
            write(*(f"line {m}" for m in range(n, n + 3)))
            assert pane.is_vertical_scroll_end
        await pilot.pause()
        assert posted == []
        bottom = pane.scrollable_content_region.height - 1
        assert pane.render_line(bottom).text.startswith("line 89")
        write("wide " + "x" * 200, "line 90")
        await pilot.pause()
        assert pane.is_vertical_scroll_end
        bottom = pane.scrollable_content_region.height - 1
        assert pane.render_line(bottom).text.startswith("line 90")
        assert pane.render_line(bottom - 1).text.startswith("wide x")
        pane.scroll_to(y=0, animate=False, immediate=True)  # a reader scrolled back stays there
        write("line 91")
        await pilot.pause()
        assert pane.scroll_offset.y == 0 and pane.render_line(0).text.startswith("line 33")


async def test_wrapped_the_pane_scrolls_to_the_newest_lines_last_row() -> None:
    """The log view counts a wrapped line once (``line_count``); the pane's height is its rows, so
    the newest line's last row is on the bottom row (it was out of reach, the view stopping at the
    row as far down as there were lines)."""
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LogView)
        await pilot.pause()
        pane.set_wrap(True)

        def entries(first: int, count: int) -> list[LogLine]:
            return [
                LogEntry(
                    timestamp=0.0, agent_id="a", level="info", message=f"m{n} " + "word " * 40 + f"end{n}"
                )
                for n in range(first, first + count)
            ]

        def bottom_row() -> str:
            return pane.render_line(pane.scrollable_content_region.height - 1).text.rstrip()

        written = entries(0, 30)
        pane.append_entries(written, [fmt.log_line(entry) for entry in written])
        await pilot.pause()
        assert len(pane.lines) > pane.line_count == 30
        assert pane.virtual_size.height == len(pane.lines)
        assert bottom_row().endswith("end29")
        more = entries(30, 3)
        pane.append_entries(more, [fmt.log_line(entry) for entry in more])
        await pilot.pause()
        assert bottom_row().endswith("end32")
        pane.set_wrap(False)
        pane.set_wrap(True)
        await pilot.pause()
        assert bottom_row().endswith("end32")


def shown(strips: list[Strip]) -> list[tuple[int, list[tuple[str, Style | None]]]]:
    """Each row's cells and their styles, less the offsets metadata (only text selection reads it,
    from ``render_line``), with its cell length."""
    return [
        (
            strip.cell_length,
            [
                (char, None if style is None else style.clear_meta_and_links())
                for char, style in cell_styles(strip)
            ],
        )
        for strip in strips
    ]


class BorderedLogApp(App[None]):
    """The pane as the viewer styles it (a top border), beside a plain one in turn."""

    CSS = "#log.bordered { border-top: solid $primary 60%; }"

    def compose(self) -> ComposeResult:
        yield LogView(max_lines=2_000, id="log")


def textual_rows(pane: LogView, crop: Region) -> list[Strip]:
    """What Textual's StylesCache renders for ``crop`` with nothing kept."""
    pane._styles_cache.clear()
    return Widget.render_lines(pane, crop)


def rows_drawn_by_textual(pane: LogView, monkeypatch: Any) -> list[int]:
    """Records the rows of ``pane`` that go through ``StylesCache.render_line`` from now on."""
    drawn: list[int] = []
    real = StylesCache.render_line

    def counted(cache: StylesCache, styles: Any, y: int, *args: Any) -> Strip:
        if cache is pane._styles_cache:
            drawn.append(y)
        return real(cache, styles, y, *args)

    monkeypatch.setattr(StylesCache, "render_line", counted)
    return drawn


async def test_the_rows_the_pane_draws_are_the_rows_textuals_styles_cache_renders(monkeypatch: Any) -> None:
    """Over random lines, sizes, borders, wrap, marks, searches, sideways and vertical scrolls and
    themes: the rows the pane puts in its styles cache itself are the cells StylesCache renders from
    Log.render_line, and only border rows and rows past the last line still go through StylesCache."""
    rng = random.Random(21)
    app = BorderedLogApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(LogView)
        drawn = rows_drawn_by_textual(pane, monkeypatch)
        compared = 0
        for round_number in range(30):
            if round_number % 6 == 0:
                await pilot.resize_terminal(rng.choice([60, 100, 133]), rng.choice([12, 30]))
            app.theme = rng.choice(["textual-dark", "textual-light", "nord"])
            pane.set_class(rng.random() < 0.6, "bordered")
            pane.log_highlighter.spans = rng.choice(
                [lambda _m: [], finder("ee", overlapping=True), beyond_the_end]
            )
            pane.set_wrap(rng.random() < 0.4)
            entries = random_entries(rng, rng.choice([5, 80]))
            pane.replace_entries(entries, [fmt.log_line(entry) for entry in entries])
            await pilot.pause()
            if rng.random() < 0.5 and pane.line_count > 2:
                pane.set_mark(rng.randint(1, pane.line_count))
            pane.scroll_to(
                x=rng.choice([0, 3, 40]),
                y=rng.randint(0, max(0, len(pane.lines) - 3)),
                animate=False,
                immediate=True,
            )
            await pilot.pause()
            whole = Region(0, 0, *pane.region.size)
            crops = [whole, Region(0, rng.randrange(whole.height), whole.width, 1), Region(2, 1, 9, 4)]
            for crop in crops:
                pane._styles_cache.clear()
                drawn.clear()
                ours = pane.render_lines(crop)
                by_textual = set(drawn)
                top = pane.styles.gutter.top
                content = {
                    y
                    for y in crop.line_range
                    if top <= y < top + pane.size.height and pane.scroll_offset.y + y - top < len(pane.lines)
                }
                assert not by_textual & content and by_textual == set(crop.line_range) - content
                assert shown(ours) == shown(textual_rows(pane, crop)), (round_number, crop)
                compared += len(content)
        assert compared > 300


async def test_rows_of_a_pane_with_padding_a_side_border_tint_or_opacity_are_textuals(
    monkeypatch: Any,
) -> None:
    app = BorderedLogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogView)
        entries = random_entries(random.Random(4), 40)
        pane.replace_entries(entries, [fmt.log_line(entry) for entry in entries])
        await pilot.pause()
        drawn = rows_drawn_by_textual(pane, monkeypatch)
        for rule, value in [
            ("padding", (0, 1)),
            ("border_left", ("solid", "red")),
            ("border_right", ("solid", "red")),
            ("outline_left", ("solid", "green")),
            ("outline_top", ("solid", "green")),
            ("tint", "red 30%"),
            ("opacity", 0.5),
            ("text_opacity", 0.7),
            ("hatch", ("right", "blue")),
        ]:
            setattr(pane.styles, rule, value)
            await pilot.pause()
            assert not pane.plain_rows(), rule
            whole = Region(0, 0, *pane.region.size)
            pane._styles_cache.clear()
            drawn.clear()
            ours = pane.render_lines(whole)
            assert sorted(drawn) == list(whole.line_range), rule  # every row Textual's
            assert [list(strip) for strip in ours] == [list(strip) for strip in textual_rows(pane, whole)], (
                rule
            )
            pane.styles.clear_rule(rule)
            await pilot.pause()
            assert pane.plain_rows(), rule


async def test_rows_that_only_moved_are_not_drawn_again_nor_is_the_border() -> None:
    """New lines at the tail move every row up: the rows kept are the strips drawn before (the
    same objects, one row per new line higher), the top border row too; only the new lines' rows
    are drawn."""
    app = BorderedLogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogView)
        pane.add_class("bordered")

        def write(first: int, count: int) -> None:
            entries = [
                LogEntry(timestamp=0.0, agent_id="a", level="info", message=f"line {n}")
                for n in range(first, first + count)
            ]
            pane.append_entries(entries, [fmt.log_line(entry) for entry in entries])

        write(0, 40)
        await pilot.pause()
        cache = pane._styles_cache._cache
        top, height = pane.content_offset.y, pane.scrollable_content_region.height
        assert top == 1
        for first, count in ((40, 3), (43, 1), (44, 5)):
            before = dict(cache)
            assert all(y in before for y in range(top + height))
            was = pane.scroll_offset.y
            write(first, count)
            await pilot.pause()
            shift = pane.scroll_offset.y - was
            assert 0 < shift < height
            assert cache[0] is before[0]  # the border
            for y in range(top, top + height - shift):
                assert cache[y] is before[y + shift], y
            for y in range(top, top + height):
                assert cache[y].text.rstrip() == pane.lines[pane.scroll_offset.y + y - top].rstrip(), y
            bottom = pane.render_line(height - 1).text
            assert bottom.rstrip().endswith(f"line {first + count - 1}")
        assert pane.rows_kept >= 3


class ClickedLogApp(BorderedLogApp):
    def __init__(self) -> None:
        super().__init__()
        self.chosen: list[int] = []

    def on_log_view_line_chosen(self, message: LogView.LineChosen) -> None:
        self.chosen.append(message.from_end)


async def test_double_click_and_text_selection_find_their_line_on_rows_the_pane_drew() -> None:
    """The rows drawn without offsets metadata: a double click still opens the line under it, and
    a selection dragged over the pane still selects the text under the pointer."""
    app = ClickedLogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogView)
        pane.add_class("bordered")
        texts = [f"row number {n:03d} tail" for n in range(60)]
        entries = [LogEntry(timestamp=0.0, agent_id="a", level="info", message=t) for t in texts]
        pane.replace_entries(entries, texts)
        await pilot.pause()
        chosen = app.chosen
        await pilot.click(pane, offset=(4, 5), times=2)
        await pilot.pause()
        assert chosen and pane.entry(chosen[-1]) is not None
        row = pane.scroll_offset.y + 5 - pane.content_offset.y
        assert pane._source[-chosen[-1]] == pane.lines[row]
        pane.screen.clear_selection()
        await pilot.pause()
        assert pane.text_selection is None
        widget, offset = pane.screen.get_widget_and_offset_at(pane.region.x + 4, pane.region.y + 5)
        assert widget is pane and offset is not None
        assert offset.y == row and offset.x == 4


async def test_the_private_textual_parts_the_drawn_rows_rely_on_are_there() -> None:
    """What :class:`~agentwatch.tui.textual_internals.CachedLogLines` reads and writes of Textual's,
    and that the offsets text selection reads still come from ``render_line``."""
    app = BorderedLogApp()
    async with app.run_test(size=(80, 20)) as pilot:
        pane = app.query_one(LogView)
        entries = random_entries(random.Random(2), 30)
        pane.replace_entries(entries, [fmt.log_line(entry) for entry in entries])
        await pilot.pause()
        cache = pane._styles_cache
        assert isinstance(cache, StylesCache), "Widget._styles_cache is no StylesCache"
        assert isinstance(cache._cache, dict) and isinstance(cache._dirty_lines, set), (
            "StylesCache's rows moved"
        )
        assert cache._width == pane.region.width, "StylesCache._width is not the widget's width"
        assert list(inspect.signature(StylesCache.render_line).parameters)[:9] == [
            "self", "styles", "y", "size", "content_size", "padding", "base_background", "background",
            "render_content_line",
        ], "StylesCache.render_line changed: check the rows drawn without it"  # fmt: skip
        row = pane.render_line(0)
        assert all(segment.style and "offset" in segment.style.meta for segment in row), (
            "offsets left render_line"
        )
