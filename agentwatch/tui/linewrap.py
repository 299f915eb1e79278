"""Wrapping formatted log lines to the pane's width (the ``w`` key), as plain text.

A line breaks at the last space that fits; a word longer than a whole line is cut where the line
ends. Continuation lines start under the message column, so the time, agent and level columns
stay clear; a marker line (``⚠ …``) continues under its text. Widths count characters: the lines
are already made printable (:func:`agentwatch.tui.formatting.safe`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from agentwatch.tui.formatting import MARKER_PREFIX

#: Narrowest room a continuation line keeps for text; a narrower pane indents by two instead.
MIN_ROOM: Final = 16


def continuation_indent(width: int, message_start: int) -> int:
    """Spaces before a continuation line: the message column, or 2 when that leaves too little room."""
    return message_start if width - message_start >= MIN_ROOM else min(2, max(0, width - 1))


def wrap_line(line: str, width: int, indent: int, *, first_break_at: int = 0) -> list[str]:
    """``line`` as rows of at most ``width`` characters, broken at spaces.

    Continuation rows start with ``indent`` spaces. The first row never breaks at a space before
    ``first_break_at`` (the spaces between a line's columns are not places to break). Spaces at a
    break are dropped; a word longer than a row's room is cut at the row's end.
    """
    if len(line) <= width:
        return [line]
    width = max(1, width)
    indent = min(indent, width - 1)
    rows: list[str] = []
    rest = line
    room = width
    lowest = first_break_at
    prefix = ""
    while len(rest) > room:
        cut = rest.rfind(" ", lowest + 1, room + 1)
        if cut < 0:
            piece, rest = rest[:room], rest[room:]
        else:
            piece, rest = rest[:cut].rstrip(" "), rest[cut + 1 :].lstrip(" ")
        rows.append(prefix + piece)
        prefix = " " * indent
        room = width - indent
        lowest = 0
    if rest or not rows:
        rows.append(prefix + rest)
    return rows


def wrap_lines(lines: Sequence[str], width: int, message_start: int) -> Sequence[str]:
    """Every line wrapped (:func:`wrap_line`); the same sequence when none is longer than ``width``."""
    if all(len(line) <= width for line in lines):
        return lines
    indent = continuation_indent(width, message_start)
    marker_indent = len(MARKER_PREFIX)
    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line)
        elif line.startswith(MARKER_PREFIX):
            out.extend(wrap_line(line, width, marker_indent, first_break_at=marker_indent))
        else:
            out.extend(wrap_line(line, width, indent, first_break_at=min(message_start, width - 1)))
    return out


def row_count(line: str, width: int, message_start: int) -> int:
    """How many rows :func:`wrap_lines` makes of ``line``."""
    if len(line) <= width:
        return 1
    return len(wrap_lines([line], width, message_start))
