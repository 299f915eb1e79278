"""A log line's strip built straight from the line's known columns.

The log pane's lines come from :func:`agentwatch.tui.formatting.log_line`: the level token and
the message start at fixed offsets, so the spans a :class:`~agentwatch.tui.widgets.LogHighlighter`
would put on a :class:`rich.text.Text` are known without building one. :class:`LogStrips` cuts
the line at those offsets and gives each piece a style combined once and kept, the same
segments, styles and cell length that Textual's ``Log`` gets from a highlighted ``Text``
rendered by the console (``Text.stylize`` with the widget's style, the highlighter's spans,
``Text.render``), without the ``Text``, its copy for the highlighter, the spans or the render.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from itertools import pairwise

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

__all__ = ["LogStrips", "cells", "printable_row"]

_sub_escape = re.compile("[\u0000-\u0014]").sub


def printable_row(line: str) -> str:
    """The line as Textual's ``Log`` draws it: tabs expanded, control characters up to U+0014 shown
    as U+FFFD (``Log._process_line``)."""
    return _sub_escape("\ufffd", line.expandtabs())


#: Printable ASCII characters, one cell each, dropped before the rest of a line is measured.
_ONE_CELL = dict.fromkeys(range(0x20, 0x7F))


def cells(text: str) -> int:
    """``rich.cells.cell_len(text)``, measuring only the characters that are not printable ASCII:
    a line with one such character (an agent id's "·") is not measured character by character
    in Python. Rich's width is a sum over characters except around a zero-width joiner or a
    variation selector, where the whole text is measured."""
    if "\u200d" in text or "\ufe0f" in text:
        return cell_len(text)
    rest = text.translate(_ONE_CELL)
    return len(text) - len(rest) + cell_len(rest)


class LogStrips:
    """Strips of log lines for one console and one widget style (both change rarely: the styles
    are combined again when either does).

    ``level_styles`` maps a level token (``level_width`` characters) to a style name, ``marker_prefix``/``marker_style`` style a
    whole marker line, ``search_style`` the (start, end) matches ``spans`` finds in a message: the
    arguments :class:`~agentwatch.tui.widgets.LogHighlighter` colours with.
    """

    def __init__(
        self,
        *,
        level_styles: Mapping[str, str],
        level_width: int,
        marker_prefix: str,
        marker_style: str,
        search_style: str,
    ) -> None:
        self._level_names = dict(level_styles)
        self._level_width = level_width
        self._marker_prefix = marker_prefix
        self._marker_name = marker_style
        self._search_name = search_style
        self._console: Console | None = None
        self._style: Style | None = None
        #: (level style name or "", search matches covering the piece) -> the piece's style.
        self._combined: dict[tuple[str, int], Style] = {}
        self._parsed: dict[str, Style] = {}

    def _reset(self, console: Console, style: Style) -> None:
        self._console = console
        self._style = style
        self._combined.clear()
        self._parsed.clear()

    def _piece_style(self, level: str, searches: int) -> Style:
        """What ``Text.render`` gives a piece: the text's own (empty) style, the widget's style
        when it is not null, the level's or the marker's, then one search style per match over it,
        combined in that order (the order the spans were added)."""
        key = (level, searches)
        style = self._combined.get(key)
        if style is None:
            console = self._console
            assert console is not None and self._style is not None
            get = console.get_style
            stack = [get("", default=Style.null())]
            if self._style:
                stack.append(self._style)
            if level:
                stack.append(get(level, default=Style.null()))
            stack.extend(get(self._search_name, default=Style.null()) for _ in range(searches))
            style = self._combined[key] = Style.combine(stack)
        return style

    def strip(
        self,
        line: str,
        console: Console,
        style: Style,
        *,
        level_start: int,
        message_start: int,
        spans: Callable[[str], list[tuple[int, int]]],
    ) -> Strip:
        """The strip of ``line`` (a row of the pane, as written to it), uncropped."""
        if console is not self._console or style != self._style:
            self._reset(console, style)
        text = printable_row(line)
        length = len(text)
        width = length if text.isascii() and text.isprintable() else cells(text)
        if not length:
            return Strip([Segment(text)], width)
        level = ""
        level_end = level_start
        if text.startswith(self._marker_prefix):
            return Strip([Segment(text, self._piece_style(self._marker_name, 0))], width)
        name = self._level_names.get(text[level_start : level_start + self._level_width])
        if name is not None:
            level = name
            level_end = level_start + self._level_width
        found = spans(text[message_start:])
        if not found:
            if not level:
                if not self._style:  # no span at all: Text.render gives the text unstyled
                    return Strip([Segment(text)], width)
                return Strip([Segment(text, self._piece_style("", 0))], width)
            base = self._piece_style("", 0)
            pieces = [Segment(text[:level_start], base)] if level_start else []
            pieces.append(Segment(text[level_start:level_end], self._piece_style(level, 0)))
            if level_end < length:
                pieces.append(Segment(text[level_end:], base))
            return Strip(pieces, width)
        return Strip(self._cut(text, level, level_start, level_end, message_start, found), width)

    def _cut(
        self,
        text: str,
        level: str,
        level_start: int,
        level_end: int,
        message_start: int,
        found: list[tuple[int, int]],
    ) -> list[Segment]:
        """The pieces of a line with search matches: cut at every span's ends, as ``Text.render``."""
        length = len(text)
        matches = []
        for start, end in found:
            start += message_start
            end = min(length, end + message_start)
            if start < length and end > start:  # what Text.stylize keeps
                matches.append((start, end))
        edges = {0, length, *(edge for match in matches for edge in match)}
        if not matches and not level and not self._style:  # no span at all, as above
            return [Segment(text)]
        if level:
            edges.update((level_start, level_end))
        cuts = sorted(edges)
        pieces = []
        for start, end in pairwise(cuts):
            over = sum(1 for first, last in matches if first <= start < last)
            name = level if level and level_start <= start < level_end else ""
            pieces.append(Segment(text[start:end], self._piece_style(name, over)))
        return pieces
