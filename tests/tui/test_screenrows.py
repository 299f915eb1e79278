"""Only what differs from the terminal is written; a log band that moved up is scrolled by the terminal.

The bytes :class:`ScreenRows` writes are played on a small model of a terminal (cursor moves,
style sequences, a scroll region and a scroll up, nothing else), which must end up showing what
was painted: no row left over from before a scroll, none written twice for nothing.
"""

from __future__ import annotations

import random
import re

from agentwatch.tui.screenrows import Chop, ScreenRows, scroll_region

WIDTH, HEIGHT = 12, 8
BAND = (2, 7)  # rows 2-6 scroll, like the log pane between the table and the footer

_SEQUENCE = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")


class CellTerminal:
    """Characters on a grid: cursor position (``H``, CR, LF), scroll region (``r``), scroll up (``S``,
    or IND or LF on the region's last row); style sequences (``m``) are ignored. Text is one cell
    per character."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.cells = [[" "] * width for _ in range(height)]
        self.x = self.y = 0
        self.top, self.bottom = 0, height

    def play(self, data: str) -> None:
        at = 0
        while at < len(data):
            match = _SEQUENCE.match(data, at) if data[at] == "\x1b" else None
            if data.startswith("\x1bD", at):  # IND: down a row; on the region's last row, scroll it
                if self.y == self.bottom - 1:
                    self.scroll(1)
                else:
                    self.y = min(self.y + 1, self.height - 1)
                at += 2
                continue
            if (
                match is None and data[at] in "\r\n"
            ):  # CR: first column; LF: down a row (scrolling on the region's last)
                if data[at] == "\r":
                    self.x = 0
                elif self.y == self.bottom - 1:
                    self.scroll(1)
                else:
                    self.y = min(self.y + 1, self.height - 1)
                at += 1
                continue
            if match is None:
                if self.x < self.width:
                    self.cells[self.y][self.x] = data[at]
                self.x += 1
                at += 1
                continue
            at = match.end()
            numbers = [int(n) for n in match.group(1).split(";") if n]
            final = match.group(2)
            if final == "H":
                self.y, self.x = numbers[0] - 1, numbers[1] - 1
            elif final == "r":
                self.top, self.bottom = (numbers[0] - 1, numbers[1]) if numbers else (0, self.height)
                self.x = self.y = 0
            elif final == "S":
                self.scroll(numbers[0] if numbers else 1)
            else:
                assert final == "m", f"unexpected sequence {match.group(0)!r}"

    def scroll(self, lines: int) -> None:
        band = self.cells[self.top : self.bottom]
        band = band[lines:] + [[" "] * self.width for _ in range(min(lines, len(band)))]
        self.cells[self.top : self.bottom] = band

    def rows(self) -> list[str]:
        return ["".join(row) for row in self.cells]


def row_chops(y: int, text: str) -> list[Chop]:
    """A row drawn as two chops, as a log line and its scrollbar are: text, then the last column."""
    text = text.ljust(WIDTH)[:WIDTH]
    body, edge = text[:-1], text[-1]
    return [Chop(y, 0, WIDTH - 1, body, source=((WIDTH - 1, "", body),)), Chop(y, WIDTH - 1, 1, edge)]


def runs_of(source: object) -> tuple[tuple[int, str, str], ...] | None:
    return source if isinstance(source, tuple) else None


def paint(rows: list[str]) -> list[Chop]:
    return [chop for y, text in enumerate(rows) for chop in row_chops(y, text)]


def screen(lines: list[str], *, top: str = "header", bottom: str = "footer") -> list[str]:
    """A screen of two header rows, the band's rows, a footer row."""
    return [top, "table", *lines, bottom]


def test_a_band_that_moved_up_is_scrolled_by_the_terminal_and_only_the_new_rows_are_written() -> None:
    rows, terminal = ScreenRows(WIDTH, HEIGHT), CellTerminal(WIDTH, HEIGHT)
    before = screen([f"line {n}" for n in range(1, 6)])
    terminal.play(rows.paint(paint(before), full=True))

    after = screen([f"line {n}" for n in range(3, 8)])  # two new lines at the bottom
    written = rows.paint(paint(after), band=BAND)
    terminal.play(written)

    assert written.startswith(scroll_region(2, 7, 2))  # region set, scroll by two, region reset
    assert written.startswith("\x1b[3;7r\x1b[7;1H\x1bD\x1bD\x1b[r")
    assert "line 6" in written and "line 7" in written
    assert "\r\nline 7" in written and "\x1b[7;1Hline 7" not in written  # the next row: CR LF, not a move
    for moved in ("line 3", "line 4", "line 5", "header", "table", "footer"):
        assert moved not in written
    assert terminal.rows() == [row.ljust(WIDTH) for row in after]
    assert rows.scrolls == 1


def test_text_already_on_screen_is_not_written_again() -> None:
    rows = ScreenRows(WIDTH, HEIGHT)
    lines = screen([f"line {n}" for n in range(1, 6)])
    rows.paint(paint(lines), full=True)

    assert rows.paint(paint(lines), band=BAND) == ""
    changed = [*lines[:-1], "footer 2"]
    written = rows.paint(paint(changed), band=BAND)
    assert written == "\x1b[8;1Hfooter 2   "  # the footer's changed chop only, no scroll


def test_a_row_of_the_band_that_also_changed_is_written_after_the_scroll() -> None:
    rows, terminal = ScreenRows(WIDTH, HEIGHT), CellTerminal(WIDTH, HEIGHT)
    terminal.play(rows.paint(paint(screen([f"line {n}" for n in range(1, 6)])), full=True))

    after = screen(["line 2", "LINE 3", "line 4", "line 5", "line 6"])  # a mark moved onto line 3
    written = rows.paint(paint(after), band=BAND)
    terminal.play(written)

    assert written.startswith(scroll_region(2, 7, 1))
    assert "LINE 3" in written and "line 6" in written and "line 4" not in written
    assert terminal.rows() == [row.ljust(WIDTH) for row in after]


def test_nothing_is_skipped_or_scrolled_until_every_row_was_written_through_the_model() -> None:
    rows = ScreenRows(WIDTH, HEIGHT)
    lines = screen([f"line {n}" for n in range(1, 6)])
    rows.paint(paint(lines), full=True)
    rows.forget()  # another screen wrote

    written = rows.paint(paint(screen([f"line {n}" for n in range(2, 7)])), band=BAND)
    assert "\x1b[3;7r" not in written
    assert all(f"line {n}" in written for n in range(2, 7)) and "header" in written

    # A whole-screen paint writes everything, whatever the model holds.
    again = rows.paint(paint(lines), full=True)
    assert all(text in again for text in lines)


def test_what_was_known_of_a_row_before_forget_is_not_used_after() -> None:
    """A row's key for the scroll is kept between paints (by the row's identity): forget drops it."""
    rows = ScreenRows(WIDTH, HEIGHT)
    lines = screen([f"line {n}" for n in range(1, 6)])
    rows.paint(paint(lines), full=True)
    assert rows.paint(paint(lines), band=BAND) == ""  # every band row compared: their keys are kept
    rows.forget()

    written = rows.paint(paint(screen([f"line {n}" for n in range(2, 7)])), band=BAND)
    assert "\x1b[3;7r" not in written
    assert all(f"line {n}" in written for n in range(2, 7))


def test_a_row_cut_short_is_written_but_not_trusted() -> None:
    rows = ScreenRows(WIDTH, HEIGHT)
    lines = screen([f"line {n}" for n in range(1, 6)])
    rows.paint(paint(lines), full=True)

    rows.paint([Chop(3, 0, 4, "LINE", whole=False)], band=BAND)  # row 3 only partly known now
    written = rows.paint(paint(screen([f"line {n}" for n in range(2, 7)])), band=BAND)
    assert "\x1b[3;7r" not in written  # no scroll over a row it does not know whole
    assert "line 3" in written


def test_random_paints_leave_the_terminal_showing_what_was_painted() -> None:
    rng = random.Random(7)
    rows, terminal = ScreenRows(WIDTH, HEIGHT, runs_of=runs_of), CellTerminal(WIDTH, HEIGHT)
    counter = 0

    def line() -> str:
        nonlocal counter
        counter += 1
        return f"l{counter}"

    band = [line() for _ in range(5)]
    header = "h0"
    terminal.play(rows.paint(paint(screen(band, top=header)), full=True))
    for step in range(400):
        choice = rng.random()
        if choice < 0.6:
            for _ in range(rng.choice([1, 1, 2, 3, 5, 7])):
                band = [*band[1:], line()]
        elif choice < 0.7:
            band[rng.randrange(5)] = line().upper()
        elif choice < 0.8:
            header = f"h{step}"
        elif choice < 0.85:
            rows.forget()  # (the terminal keeps what it shows; the model no longer trusts it)
        elif choice < 0.9:
            y = rng.randrange(HEIGHT)
            partial = Chop(y, 0, 3, "xyz", whole=False)
            terminal.play(rows.paint([partial], band=BAND))
            continue
        shown = screen(band, top=header)
        painted = paint(shown)
        if rng.random() < 0.3:  # only the changed rows asked for, as Textual does for a small change
            dirty = {y for y, text in enumerate(shown) if terminal.rows()[y] != text.ljust(WIDTH)}
            painted = [chop for chop in painted if chop.y in dirty or chop.y in range(*BAND)]
        terminal.play(rows.paint(painted, full=rng.random() < 0.05, band=BAND))
        assert terminal.rows() == [row.ljust(WIDTH) for row in shown], step
    assert rows.scrolls > 50


def test_a_chop_that_changed_in_a_few_cells_is_written_from_its_first_changed_cell_to_its_last() -> None:
    rows, terminal = ScreenRows(24, 1, runs_of=runs_of), CellTerminal(24, 1)

    def header(seconds: int) -> tuple[Chop, str]:
        ago = f"· {seconds} s ago "
        runs = ((2, "1", "● "), (len(ago), "2", ago), (22 - len(ago), "3", "agentwatch".ljust(22 - len(ago))))
        text = "".join(f"\x1b[{sgr}m{chars}\x1b[0m" for _w, sgr, chars in runs)
        return Chop(0, 0, 24, text, source=runs), "".join(chars for _w, _s, chars in runs)

    chop, _shown = header(0)
    terminal.play(rows.paint([chop], full=True))
    chop, shown = header(1)
    written = rows.paint([chop])
    terminal.play(written)
    assert written == "\x1b[1;5H\x1b[2m1\x1b[0m"  # the one cell that changed, in its style
    assert terminal.rows() == [shown]

    chop, shown = header(10)  # a longer number moves what follows it
    written = rows.paint([chop])
    terminal.play(written)
    assert terminal.rows() == [shown]
    assert (
        written == "\x1b[1;6H\x1b[2m0 s ago \x1b[0m\x1b[3magentwatch\x1b[0m"
    )  # from "· 1" on, the rest moved
