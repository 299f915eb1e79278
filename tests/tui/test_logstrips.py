"""The log pane draws a row's strip itself (:class:`~agentwatch.tui.logstrips.LogStrips`): the same
segments, styles and cell length as Textual's Log highlighting a rich Text, for every kind of line."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
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
        pane.notify_style_update()
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
