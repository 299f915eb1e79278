"""The metric panels' own drawing writes exactly what Textual's rendering of them wrote.

The sparklines are drawn straight from their values (:func:`sparkline_rows`), not through Textual's
Sparkline and Rich: their rows are compared, segment for segment and style for style, with what
Textual's path renders for the same values, size, colours, base style and cursor — over random
series, widths and heights, in a real app with the viewer's stylesheet and with other styles.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.color import Color as RichColor
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.strip import Strip
from textual.widget import Widget, _Styled
from textual.widgets import Sparkline

from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.sparkcursor import _CURSOR_STYLE, CursorSparkline, column_of, sparkline_rows
from agentwatch.tui.widgets import LogPane, MetricPanel
from tests.helpers import async_wait_until, screen_text

SIZE = (120, 36)
STYLES = [
    Style(),
    Style(color="#e0e0e0", bgcolor="#1e1e1e"),
    Style(color="white", bgcolor="black", bold=True),
    Style(color="#808080", bgcolor="#101820", dim=True, italic=True),
    Style(bgcolor="#202020", reverse=False),
    Style(color="#ffffff", bgcolor="#000000"),  # a bar of its colour has its style: joined with blanks
    Style(color="#000000", reverse=True, bold=True),  # the cursor's style adds nothing to it
]


def cells(strip: Strip) -> list[tuple[str, Style | None]]:
    return [(character, segment.style) for segment in strip for character in segment.text]


def rich_rows(
    data: Sequence[float],
    width: int,
    height: int,
    low: RichColor,
    high: RichColor,
    base: Style,
    cursor: tuple[int, int],
) -> list[Strip]:
    """What Textual's Sparkline widget draws: its renderable through Rich, as ``Visual.to_strips`` does it."""
    console = Console(width=width, color_system="truecolor", force_terminal=True, legacy_windows=False)
    renderable = SparklineRenderable(data, width=width, height=height, min_color=low, max_color=high)
    options = console.options.update(width=width, height=height, highlight=False)
    segments = console.render(_Styled(renderable, base, None), options)  # type: ignore[arg-type]
    lines = list(Segment.split_and_crop_lines(segments, width, include_new_lines=False, pad=False))[:height]
    rows = []
    for line in lines:
        strip = Strip(line)._apply_link_style(Style())
        start, end = cursor
        if data and end > start:
            before, at, after = strip.divide([start, end, strip.cell_length])
            strip = Strip.join([before, at.apply_style(_CURSOR_STYLE), after])
        rows.append(strip.simplify())
    return rows


colours = st.sampled_from(
    [RichColor.from_rgb(0, 0, 0), RichColor.from_rgb(255, 255, 255), RichColor.from_rgb(12, 200, 99),
     RichColor.from_rgb(71, 35, 160), RichColor.parse("red")]
)  # fmt: skip
values = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(
    data=st.one_of(
        st.lists(values, max_size=200),
        st.lists(st.sampled_from([0.0, 1.0, 2.5, 1e6]), max_size=300),
        st.lists(st.integers(0, 3).map(float), min_size=1, max_size=5),
    ),
    width=st.integers(1, 60),
    height=st.integers(1, 4),
    low=colours,
    high=colours,
    base=st.sampled_from(STYLES),
    cursor=st.tuples(st.integers(0, 60), st.integers(0, 8)),
)
def test_sparkline_rows_are_the_cells_and_styles_rich_renders(
    data: list[float],
    width: int,
    height: int,
    low: RichColor,
    high: RichColor,
    base: Style,
    cursor: tuple[int, int],
) -> None:
    start = min(cursor[0], width)
    span = (start, min(width, start + cursor[1]))  # the columns of one data index: within the width
    ours = sparkline_rows(data, width, height, low, high, base, cursor=span)
    theirs = rich_rows(data, width, height, low, high, base, span)
    assert [list(strip) for strip in ours] == [list(strip) for strip in theirs]
    assert [strip.cell_length for strip in ours] == [strip.cell_length for strip in theirs]


def textual_row(sparkline: CursorSparkline, y: int) -> Strip:
    """Row ``y`` as Textual's Sparkline widget renders it, with the cursor drawn as before, joined."""
    Widget._render_content(sparkline)
    strip = Widget.render_line(sparkline, y)
    data = sparkline.data or []
    if sparkline.cursor is not None and data:
        columns = list(column_of(sparkline.cursor, len(data), sparkline.size.width))
        if columns:
            before, at, after = strip.divide([columns[0], columns[-1] + 1, strip.cell_length])
            strip = Strip.join([before, at.apply_style(_CURSOR_STYLE), after])
    return strip.simplify()


def random_series(rng: random.Random) -> list[float]:
    kind = rng.randrange(4)
    length = rng.choice([0, 1, 2, 3, rng.randrange(200)])
    if kind == 0:
        return [rng.uniform(0, 1000) for _ in range(length)]
    if kind == 1:
        return [float(rng.randrange(3)) for _ in range(length)]
    if kind == 2:
        return [0.0] * length
    return [rng.choice([0.0, 1e-9, 5e8]) for _ in range(length)]


async def test_the_panels_sparklines_draw_what_textual_drew_in_the_viewer() -> None:
    """In the viewer, at 120 and 150 columns, stale or not, warning or error, with a cursor or not."""
    rng = random.Random(7)
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False)
    async with app.run_test(size=SIZE) as pilot:
        panels = list(app.query(MetricPanel))
        compared = 0
        for round_ in range(24):
            if round_ == 12:
                await pilot.resize_terminal(150, 36)
            app.metrics_bar.set_class(round_ % 3 == 1, "-stale")
            for panel in panels:
                level = ("", "-warning", "-error")[rng.randrange(3)]
                panel.show(Text(str(round_)), random_series(rng), level)
                panel.query_one(CursorSparkline).set_cursor(rng.choice([None, 0, rng.randrange(200)]))
            await pilot.pause()
            for panel in panels:
                sparkline = panel.query_one(CursorSparkline)
                width, height = sparkline.size
                if not panel.series:
                    assert width == 0  # hidden: no series, no flat line
                    continue
                assert height == 2 and width >= 20
                for y in range(height + 1):  # and a row below it: blank, as Textual's is
                    fast = sparkline.render_line(y)
                    assert list(fast) == list(textual_row(sparkline, y)), (round_, y, sparkline.data)
                    assert fast.cell_length == width
                    assert y == height or sparkline.render_line(y) is fast  # kept: nothing it draws changed
                    compared += 1
        assert compared > 24 * 3 * 3


class Styled(App[None]):
    CSS = """
    CursorSparkline { width: 33; height: 3; }
    #b { background: #335577; color: #ffee00; text-style: bold italic; }
    #c { background: red 40%; text-opacity: 60%; }
    #c > .sparkline--max-color { color: #00ff00; }
    #c > .sparkline--min-color { color: blue 20%; }
    """

    def compose(self) -> ComposeResult:
        yield CursorSparkline([], classes="a")
        yield Sparkline()
        spark = CursorSparkline([1.0, 2.0])
        spark.id = "b"
        yield spark
        other = CursorSparkline([3.0])
        other.id = "c"
        yield other


async def test_sparklines_of_other_styles_and_sizes_draw_what_textual_drew() -> None:
    rng = random.Random(11)
    app = Styled()
    async with app.run_test(size=(80, 24)) as pilot:
        sparklines = list(app.query(CursorSparkline))
        for round_ in range(30):
            for sparkline in sparklines:
                sparkline.styles.width = rng.randrange(1, 70)
                sparkline.styles.height = rng.randrange(1, 5)
                sparkline.data = random_series(rng)
                sparkline.set_cursor(rng.choice([None, rng.randrange(200)]))
            await pilot.pause()
            for sparkline in sparklines:
                for y in range(sparkline.size.height):
                    assert list(sparkline.render_line(y)) == list(textual_row(sparkline, y)), (
                        round_,
                        sparkline.id,
                    )


async def test_a_new_detail_repaints_only_the_panels_bottom_border() -> None:
    """The detail under a panel changes every second: its row is drawn again, not the box and title."""
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.query_one("#m-agents", MetricPanel)
        panel.show(
            Text("12 active"), [1.0, 4.0, 2.0], detail=("31.0 events/s", "31.0 ev/s"), second=(1, None)
        )
        await async_wait_until(lambda: "31.0 events/s" in screen_text(app), pilot=pilot)
        whole = Region(0, 0, *panel.outer_size)
        before = panel.render_lines(whole)
        panel.show(
            Text("12 active"), [1.0, 4.0, 2.0], detail=("42.5 events/s", "42.5 ev/s"), second=(2, None)
        )
        await async_wait_until(lambda: "42.5 events/s" in screen_text(app), pilot=pilot)
        after = panel.render_lines(whole)
        assert len(after) == 5 and all(after[y] is before[y] for y in range(4))  # kept: title, sides
        assert "42.5 events/s" in after[4].text and after[4].text.startswith("╰")
        panel.refresh()  # the whole box drawn again, as the border_subtitle setter had it
        assert [list(strip) for strip in after] == [list(strip) for strip in panel.render_lines(whole)]


def random_text(rng: random.Random) -> str:
    pieces = ["12.5", "—", "1 234 567", "$0.03/min est.", "漢字", "🚀", "é", "e\u0301", "[bold]x[/]",
              "[link=http://x]y[/link]", "[@click=app.quit]q[/]", "\x1b[31m", "\t", "\x00", " ", "%", "≈", "/"]  # fmt: skip
    return "".join(rng.choice(pieces) for _ in range(rng.choice([0, 1, 2, 5, 12])))


async def test_the_panels_and_the_header_render_the_same_without_link_styles() -> None:
    """Their text has no links, so the link style Textual looks up at each render is left out:
    the same strips as with it, for any text (markup-like, wide, combining, escapes, empty)."""
    rng = random.Random(5)
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False)
    async with app.run_test(size=SIZE) as pilot:
        header = app.query_one("#header", Widget)
        panels = list(app.query(MetricPanel))
        for round_ in range(40):
            if round_ == 20:
                await pilot.resize_terminal(80, 24)  # the one-line panels, with their labels
            styles = ["", "bold", "dim", "bold white on red", "yellow", "bold reverse"]
            app.header_bar.show([Text(random_text(rng), style=rng.choice(styles)), Text(random_text(rng))])
            for panel in panels:
                panel.show(Text(random_text(rng)), [1.0, 2.0], rng.choice(["", "-warning", "-error"]))
            app.metrics_bar.set_class(round_ % 3 == 0, "-stale")
            await pilot.pause()
            widgets = [header, *(child for panel in panels for child in (panel, *panel.children))]
            for widget in widgets:
                whole = Region(0, 0, *widget.outer_size)
                assert not widget.auto_links
                without = widget.render_lines(whole)
                widget.auto_links = True
                with_links = widget.render_lines(whole)
                widget.auto_links = False
                assert [list(strip) for strip in without] == [list(strip) for strip in with_links], widget


async def test_a_scrollbars_kept_strips_are_what_textual_renders_for_it() -> None:
    """A bar's strips are handed out again only while they are what a render would give: over lines
    written, scrolling, hover, a resize and the stale look, each ask compared with Textual's render."""
    rng = random.Random(3)
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False)
    async with app.run_test(size=SIZE) as pilot:
        log = app.query_one("#log", LogPane)
        log.append([f"line {n} " + "x" * (n % 150) for n in range(300)])
        await pilot.pause()
        made = 0

        def counted(render_widget: Any) -> Any:
            def render(widget: Widget, crop: Region) -> list[Strip]:
                nonlocal made
                made += 1
                return render_widget(widget, crop)

            return render

        asked = 0
        for round_ in range(60):
            step = rng.randrange(6)
            if step == 0:
                log.append(
                    [f"more {round_} " + "y" * rng.randrange(200) for _ in range(rng.randrange(1, 30))]
                )
            elif step == 1:
                log.scroll_to(y=rng.randrange(0, 300), animate=False, immediate=True)
            elif step == 2:
                log.vertical_scrollbar.mouse_over = not log.vertical_scrollbar.mouse_over
            elif step == 3 and round_ in (20, 40):
                await pilot.resize_terminal(*((150, 40) if round_ == 20 else SIZE))
            elif step == 4:
                app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
            await pilot.pause()
            for bar in (log.vertical_scrollbar, log.horizontal_scrollbar):
                if not bar.display or not bar.size:
                    continue
                if not isinstance(bar._styles_cache.render_widget, type(counted)):
                    bar._styles_cache.render_widget = counted(bar._styles_cache.render_widget)  # type: ignore[method-assign]
                for crop in (Region(0, 0, *bar.size), Region(0, bar.size.height - 1, bar.size.width, 1)):
                    for _ in range(2):
                        given = bar.render_lines(crop)
                        asked += 1
                        assert [list(s) for s in given] == [list(s) for s in Widget.render_lines(bar, crop)]
                        made -= 1  # Textual's own render, just above
        assert 0 < made < asked / 2  # the kept strips were handed out, and made again when needed
