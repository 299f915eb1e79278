"""Textual's private API used to write a screen's paint: part of :mod:`~agentwatch.tui.textual_internals`.

:class:`ScrollsTerminal` and :func:`paint_screen` — a screen's paint written as only what differs
from what the terminal shows, its log pane scrolled by the terminal, and rendered from only the
rows that changed (``Screen._compositor``, ``Compositor.render_update``, ``_dirty_regions``,
``cuts``, ``visible_widgets``, ``_regions_to_spans``, ``ChopsUpdate`` and ``LayoutUpdate``'s
fields, ``App._display``, ``App._update_mouse_over``, ``App._background_screens``,
``App._running``, ``App._closed``, ``App._batch_count``, ``App._driver``); :func:`render_strip`
writes a strip with fewer style sequences (``Strip._segments``, ``Strip._render_cache``,
``Style._ansi``, ``Style._attributes``, ``Style._set_attributes``, ``Style._color``,
``Style._bgcolor``, ``Style._link``; ``textual.strip.SGR_STYLES``).
``tests/tui/test_textual_internals.py`` pins each of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import Any, cast

from rich.cells import cell_len
from rich.color import ColorSystem
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, Compositor, CompositorUpdate, LayoutUpdate
from textual._context import visible_screen_stack
from textual.geometry import Region, Size
from textual.strip import SGR_STYLES, Strip
from textual.widget import Widget

from agentwatch.tui.screenrows import Chop, Run, ScreenRows

__all__ = ["ScrollsTerminal", "paint_screen", "render_strip"]


class ScrollsTerminal:
    """Marks a widget whose rows the terminal may scroll itself (the log pane): see :func:`paint_screen`."""


class _Written(CompositorUpdate):
    """A paint already turned into the bytes to write."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Segment(self.text)

    def render_segments(self, console: Console) -> str:
        return self.text


#: Trailing blanks of a run written as an erase (``CSI n X``) and a step right (``CSI n C``) rather
#: than as spaces when there are more than this many (the two sequences take up to 12 bytes).
ERASE_FROM = 12

#: Rich's attribute bits that show on a blank cell (underline, reverse, strike, double underline,
#: frame, encircle, overline): a run with one of them is written as spaces.
_SHOWN_ON_BLANK = sum(1 << bit for bit in (3, 6, 8, 9, 10, 11, 12))


def render_strip(strip: Strip, console: Console) -> str:
    """What :meth:`Strip.render` writes, with fewer style sequences.

    Textual writes each segment as ``CSI style m`` text ``CSI 0 m``, so a row of one colour
    drawn cell by cell (a scrollbar) repeats its style once per cell, and a log line resets and
    restates its background at each colour change. Here segments of one style are written as
    one run, and from one run to the next only what changes is said (a new colour; an attribute
    turned on or off), unless that is not shorter than a reset and the whole style; a run's trailing
    blanks (a log line padded to the pane's width) are erased in its background colour (ECH, which
    xterm, tmux, VTE and the Linux console fill with the current background) instead of written
    as spaces. The text starts
    and ends with every attribute off, as Textual's does, so it draws the same wherever it is
    written. It is kept where ``Strip.render`` keeps its own (``Strip._render_cache``).
    """
    cached: str | None = strip._render_cache
    if cached is not None:
        return cached
    color_system = console._color_system or ColorSystem.TRUECOLOR
    runs: list[tuple[Style | None, str]] = []
    keys: list[tuple[str, str | None] | None] = []
    for text, style, _control in strip._segments:
        key = None if style is None else (_ansi(style, color_system), style._link)
        if runs and key == keys[-1]:
            runs[-1] = (runs[-1][0], runs[-1][1] + text)
        else:
            runs.append((style, text))
            keys.append(key)
    parts: list[str] = []
    previous: Style | None = None  # the style in force (None: every attribute off)
    for (style, text), key in zip(runs, keys, strict=True):
        if style is None or key is None or not key[0] or style._link:
            if previous is not None:
                parts.append("\x1b[0m")
                previous = None
            parts.append(text if style is None else Strip.render_style(style, text, color_system))
            continue
        full = f"\x1b[{key[0]}m"
        if previous is None:
            parts.append(full)
        else:
            change = _sgr_change(previous, style, color_system)
            parts.append(change if change is not None and len(change) < len(full) + 4 else "\x1b[0m" + full)
        blank = len(text) - len(text.rstrip(" "))
        if blank > ERASE_FROM and not style._attributes & style._set_attributes & _SHOWN_ON_BLANK:
            # Erase them in the background colour (ECH) and step over them: fewer bytes than spaces.
            parts.append(f"{text[:-blank]}\x1b[{blank}X\x1b[{blank}C")
        else:
            parts.append(text)
        previous = style
    if previous is not None:
        parts.append("\x1b[0m")
    cached = strip._render_cache = "".join(parts)
    return cached


def _ansi(style: Style, color_system: ColorSystem) -> str:
    ansi: str | None = style._ansi
    return ansi if ansi is not None else Strip.render_ansi(style, color_system)


#: Rich attribute bit → the SGR code that turns it off, and the bits that code turns off with it.
_SGR_OFF: dict[int, tuple[str, int]] = {
    0: ("22", 0b11),  # bold and dim: normal intensity
    1: ("22", 0b11),
    2: ("23", 1 << 2),
    3: ("24", (1 << 3) | (1 << 9)),  # underline and double underline
    4: ("25", 0b110000),  # blink and rapid blink
    5: ("25", 0b110000),
    6: ("27", 1 << 6),
    7: ("28", 1 << 7),
    8: ("29", 1 << 8),
    9: ("24", (1 << 3) | (1 << 9)),
    10: ("54", (1 << 10) | (1 << 11)),  # framed and encircled
    11: ("54", (1 << 10) | (1 << 11)),
    12: ("55", 1 << 12),
}


def _sgr_change(before: Style, after: Style, color_system: ColorSystem) -> str | None:
    """The SGR sequence that takes the terminal from ``before`` to ``after`` without a reset: an
    attribute turned off by its own code (bold by 22, which also ends dim: one that stays is
    turned on again), one turned on, a colour changed. None for an attribute Rich knows and this
    does not."""
    on_before = before._attributes & before._set_attributes
    on_after = after._attributes & after._set_attributes
    codes: list[str] = []
    off = on_before & ~on_after
    again = 0  # attributes a code turned off along with another that must stay on
    for bit in range(off.bit_length()):
        if off & (1 << bit):
            if bit not in _SGR_OFF:
                return None
            code, group = _SGR_OFF[bit]
            if code not in codes:
                codes.append(code)
            again |= group & on_after
    turn_on = (on_after & ~on_before) | again
    codes.extend(SGR_STYLES[bit] for bit in range(turn_on.bit_length()) if turn_on & (1 << bit))
    if after._color != before._color:
        codes.extend(after._color.downgrade(color_system).get_ansi_codes() if after._color else ["39"])
    if after._bgcolor != before._bgcolor:
        codes.extend(
            after._bgcolor.downgrade(color_system).get_ansi_codes(False) if after._bgcolor else ["49"]
        )
    return f"\x1b[{';'.join(codes)}m" if codes else ""


def _chops(update: CompositorUpdate, console: Console) -> list[Chop]:
    """The writes of a Textual paint (``ChopsUpdate``: changed regions; ``LayoutUpdate``: all)."""
    chops: list[Chop] = []
    if isinstance(update, LayoutUpdate):
        for y, line in enumerate(update.strips, update.region.y):
            x = update.region.x
            for strip in line:
                if strip is not None:
                    chops.append(Chop(y, x, strip.cell_length, render_strip(strip, console), source=strip))
                    x += strip.cell_length
        return chops
    assert isinstance(update, ChopsUpdate)
    for y, x1, x2 in update.spans:
        for end, (x, piece) in zip(update.chop_ends[y], update.chops[y].items(), strict=False):
            if piece is None or x >= x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                chops.append(Chop(y, x, piece.cell_length, render_strip(piece, console), source=piece))
            else:  # as Textual writes it: from the chop's start to the region's end
                cut = piece.crop(0, min(end, x2) - x)
                chops.append(Chop(y, x, cut.cell_length, render_strip(cut, console), whole=False))
    return chops


def _strip_runs(source: object, color_system: ColorSystem) -> list[Run] | None:
    """A strip's runs of one style: (cells, SGR parameters, text); None for a strip with a link."""
    if not isinstance(source, Strip):
        return None
    runs: list[Run] = []
    for text, style, _control in source._segments:
        if style is not None and style._link:
            return None
        sgr = "" if style is None else _ansi(style, color_system)
        if runs and runs[-1][1] == sgr:
            width, _sgr, joined = runs[-1]
            runs[-1] = (width + cell_len(text), sgr, joined + text)
        else:
            runs.append((cell_len(text), sgr, text))
    return runs


def _join(before: object, after: object, color_system: ColorSystem) -> str | None:
    """The style sequence from the last style :func:`render_strip` leaves ``before`` in to the
    first it starts ``after`` with; None where a strip ends or starts unstyled or with a link."""
    if not isinstance(before, Strip) or not isinstance(after, Strip):
        return None
    if not before._segments or not after._segments:
        return None
    last, first = before._segments[-1].style, after._segments[0].style  # (as render_strip runs them)
    for style in (last, first):
        if style is None or style._link or not _ansi(style, color_system):
            return None
    assert last is not None and first is not None
    return _sgr_change(last, first, color_system)


def _screen_rows(app: Any, screen: Any, size: Size) -> ScreenRows:
    """The app's model of its terminal, forgotten when another screen wrote last or the size changed."""
    rows: ScreenRows | None = getattr(app, "_agentwatch_screen_rows", None)
    if rows is None or (rows.width, rows.height) != tuple(size):
        color_system = app.console._color_system or ColorSystem.TRUECOLOR
        rows = ScreenRows(
            size.width,
            size.height,
            runs_of=lambda source: _strip_runs(source, color_system),
            join=lambda before, after: _join(before, after, color_system),
        )
        app._agentwatch_screen_rows = rows
    elif getattr(app, "_agentwatch_screen_rows_owner", None) is not screen:
        rows.forget()
    app._agentwatch_screen_rows_owner = screen
    return rows


def _scroll_band(screen: Any) -> tuple[int, int] | None:
    """The rows of the first visible :class:`ScrollsTerminal` widget's content, on screen."""
    for widget, (_region, clip) in screen._compositor.visible_widgets.items():
        if isinstance(widget, ScrollsTerminal):
            band = cast(Widget, widget).scrollable_content_region.intersection(clip)
            return (band.y, band.bottom) if band.height >= 2 else None
    return None


def _partial_update(compositor: Compositor) -> ChopsUpdate | None:
    """What ``Compositor.render_partial_update`` returns, rendering only the rows that are painted.

    Textual crops a partial paint to the box around every dirty region, then renders every row
    of each widget that overlaps that box and keeps only the rows of the dirty regions: a clock
    in the header and a new log line at the bottom render every widget of the screen between
    them. Here a widget is rendered only when it overlaps a dirty region, and then only the rows
    from the first to the last row of its visible part that a dirty region covers (a whole row:
    the compositor's cuts start at the widget's left edge) and where widgets in front of it left
    one of its cuts empty (the screen behind a full row of widgets is not rendered at all). What
    is written is the same.
    Reads ``Compositor._dirty_regions``, ``cuts``, ``visible_widgets`` and ``_regions_to_spans``.
    """
    regions = [region for region in compositor._dirty_regions if region]
    compositor._dirty_regions.clear()
    screen_region = compositor.size.region
    regions = [region.intersection(screen_region) for region in regions]
    regions = [region for region in regions if region]
    if not regions:
        return None
    spans = list(compositor._regions_to_spans(regions))
    painted: dict[int, list[tuple[int, int]]] = {}  # row → its spans' (x1, x2)
    for y, x1, x2 in spans:
        painted.setdefault(y, []).append((x1, x2))
    cuts = compositor.cuts
    chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
    dirty_top, dirty_bottom = min(painted), max(painted) + 1
    for widget, (region, clip) in compositor.visible_widgets.items():
        shown = region.intersection(clip)
        if not shown:
            continue
        first_cut, last_cut = shown.x, shown.right
        # Rows of the widget a dirty region covers (a span of it overlaps the widget) where a painted
        # cut of the widget is still empty: what is in front filled the rest.
        rows = [
            y
            for y in range(max(shown.y, dirty_top), min(shown.bottom, dirty_bottom))
            if y in painted and _open_cut(chops[y], cuts[y], first_cut, last_cut, painted[y])
        ]
        if not rows:
            continue
        top, bottom = rows[0], rows[-1] + 1
        wanted = set(rows)
        strips = widget.render_lines(Region(shown.x - region.x, top - region.y, shown.width, bottom - top))
        for y, strip in zip(range(top, bottom), strips, strict=False):
            if y not in wanted:
                continue
            line = chops[y]
            line_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
            if len(line_cuts) == 2 and strip.cell_length == last_cut - first_cut:
                pieces: Iterable[Strip] = (strip,)  # one cut: the strip itself (what divide returns)
            else:
                pieces = strip.divide([cut - first_cut for cut in line_cuts[1:]])
            for cut, piece in zip(line_cuts, pieces, strict=False):
                if line.get(cut) is None:  # front to back: the first widget to fill a cut wins
                    line[cut] = piece
    return ChopsUpdate(chops, spans, [cut_set[1:] for cut_set in cuts])


def _open_cut(
    line: dict[int, Strip | None], cuts: list[int], first: int, last: int, spans: Iterable[tuple[int, int]]
) -> bool:
    """Whether a cut of a widget spanning ``first`` … ``last`` on this row is still empty where it is painted."""
    for cut, end in pairwise(cuts):
        if cut >= last:
            break
        if cut >= first and line.get(cut) is None and any(x1 < end and cut < x2 for x1, x2 in spans):
            return True
    return False


def _render_update(screen: Any) -> CompositorUpdate | None:
    """The screen's next paint: Textual's own when it is whole, :func:`_partial_update` otherwise."""
    compositor: Compositor = screen._compositor
    if compositor.size.region in compositor._dirty_regions:
        return cast(
            CompositorUpdate | None, compositor.render_update(screen_stack=screen.app._background_screens)
        )
    visible_screen_stack.set(screen.app._background_screens)
    return _partial_update(compositor)


def paint_screen(screen: Any) -> None:
    """Write the top screen's paint as what ``Screen._compositor_refresh`` writes, minus what the
    terminal already shows (see :mod:`agentwatch.tui.screenrows`).

    The model of the terminal is the app's: a paint by another screen, a size change, or a paint
    that is not written (headless, not running, inside a batch) makes every row unknown, so
    nothing is skipped or scrolled until it is written again. Headless (tests' ``run_test``), the
    paint is Textual's own.
    """
    app = screen.app
    update = _render_update(screen)
    writes = (
        update is not None
        and app._running
        and not app._closed
        and not app.is_headless
        and app._driver is not None
        and not app._batch_count
    )
    if not writes:
        rows: ScreenRows | None = getattr(app, "_agentwatch_screen_rows", None)
        if rows is not None and update is not None:
            rows.forget()
    elif isinstance(update, ChopsUpdate | LayoutUpdate):
        rows = _screen_rows(app, screen, screen._compositor.size)
        full = isinstance(update, LayoutUpdate)
        chops = _chops(update, app.console)
        text = rows.paint(chops, full=full, band=None if full else _scroll_band(screen))
        update = _Written(text) if text else None  # None: everything painted is on screen already
    app._display(screen, update)
    screen._dirty_widgets.clear()
    app._update_mouse_over(screen)
