"""Repeated lines, collapsed: the same message shown once with ``×N`` and when it was first and last seen.

No Textual here. Two lines repeat when their agent, level and message are the same once numbers,
ids, hex and UUIDs are masked (:func:`repeat_key`). :class:`Collapser` turns the lines the log
pane would show into rows: a line that repeats a row among the newest :attr:`Collapser.reach`
rows joins it (its count grows, its text is updated in place), any other line starts a row. Each
line joins exactly one row, so the counts add up to the lines shown; markers (gaps, drops) are
never grouped. The work per line is a mask and a dictionary look-up, so the pane's cost stays
flat however long the tail.

Collapsing only changes what the pane shows: the buffer keeps every full line, the filters and
the search test every line (a row stands for the lines that passed them), and turning it off
shows each line again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo
from typing import Final

import msgspec

from agentwatch.protocol import LogEntry
from agentwatch.tui import formatting as fmt
from agentwatch.tui.state import LogLine

__all__ = ["REACH", "Collapser", "Row", "mask", "repeat_key", "row_text"]

#: Rows back (from the newest) that a repeat may still join; older rows stay as they are.
REACH: Final = 200

_MASKED: Final = re.compile(
    r"\b(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"  # UUID
    r"|0[xX][0-9a-fA-F]+\b"  # 0x…
    r"|(?=[a-fA-F]*[0-9])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{6,}\b)"  # hex ids, digests: a digit and a letter
    r"|\d+(?:[.,]\d+)*"  # numbers
)


def mask(message: str) -> str:
    """The message with numbers, ids, hex and UUIDs replaced by ``#``."""
    return _MASKED.sub("#", message)


RepeatKey = tuple[str, str, str]


def repeat_key(entry: LogEntry) -> RepeatKey:
    """What makes two lines the same line: agent, level, masked message."""
    return (entry.agent_id, entry.level, mask(entry.message))


@dataclass(slots=True)
class Row:
    """One row of the collapsed pane: ``count`` lines, the first and the latest of them.

    ``number`` is the row's place in the pane, 1 for the first row written since the pane was
    last rewritten.
    """

    number: int
    first: LogLine
    last: LogLine
    count: int = 1


def row_text(row: Row, *, timestamps: bool, tz: tzinfo | None) -> str:
    """The row as the pane shows it: the line alone, or (repeated) the first time, ``×N``, the
    last time and the latest message: ``12:00:01 alpha  INFO  ×42 to 12:03:10 · retry 7 of 9``."""
    last = row.last
    if row.count == 1 or not isinstance(last, LogEntry) or not isinstance(row.first, LogEntry):
        return fmt.log_line(last, timestamps=timestamps, tz=tz)
    shown = msgspec.structs.replace(
        last,
        timestamp=row.first.timestamp,
        message=f"×{fmt.number(row.count, 0)} to {fmt.clock_time(last.timestamp, tz)} · {last.message}",
    )
    return fmt.log_line(shown, timestamps=timestamps, tz=tz)


class Collapser:
    """Groups repeated lines into rows, as they come (:meth:`add`) or all again (:meth:`rebuild`)."""

    def __init__(self, reach: int = REACH) -> None:
        self.reach = max(1, reach)
        self.rows_written = 0
        self._open: dict[RepeatKey, Row] = {}

    def rebuild(self, lines: Iterable[LogLine]) -> list[Row]:
        """Every row for ``lines`` (the pane is rewritten from them), oldest first."""
        self.rows_written = 0
        self._open.clear()
        rows: list[Row] = []
        for line in lines:
            row, is_new = self._take(line)
            if is_new:
                rows.append(row)
        return rows

    def add(self, lines: Iterable[LogLine]) -> tuple[list[Row], list[Row]]:
        """Lines after those already shown: (the new rows, oldest first; the earlier rows they joined)."""
        new: list[Row] = []
        joined: dict[int, Row] = {}
        first_new = self.rows_written + 1
        for line in lines:
            row, is_new = self._take(line)
            if is_new:
                new.append(row)
            elif row.number < first_new:
                joined[row.number] = row
        return new, list(joined.values())

    def _take(self, line: LogLine) -> tuple[Row, bool]:
        """Put ``line`` in its row: (the row, whether it is a new one)."""
        if not isinstance(line, LogEntry):
            self.rows_written += 1
            return Row(self.rows_written, line, line), True
        key = repeat_key(line)
        row = self._open.get(key)
        if row is not None and row.number > self.rows_written - self.reach:
            row.count += 1
            row.last = line
            return row, False
        self.rows_written += 1
        row = self._open[key] = Row(self.rows_written, line, line)
        if len(self._open) > 4 * self.reach:
            oldest = self.rows_written - self.reach
            self._open = {k: r for k, r in self._open.items() if r.number > oldest}
        return row, True
