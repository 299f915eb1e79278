"""What the terminal shows, row by row, so a paint writes only what differs from it.

A paint of the screen is a list of :class:`Chop` writes: a run of cells at ``(x, y)`` and the
text (escape sequences included) that draws it. :class:`ScreenRows` keeps the text last written
at each place and turns the next paint into the bytes that bring the terminal up to date:

* a chop whose text is already there (same row, same column, same text) is not written again;
* when a band of rows (the log pane) shows what it showed before moved up by ``n`` rows, the
  terminal scrolls that band itself (a scroll region, DECSTBM ``CSI top;bottom r``, then
  ``CSI n S``, then the region reset) and only the rows whose text is not already there after
  the move are written — the new lines at the bottom, and whatever else changed.

Nothing is skipped on a guess: a row is compared only where every one of its cells was written
through this model, and :meth:`ScreenRows.forget` (another screen wrote, the size changed, the
terminal was handed to something else) makes every row unknown again. A whole-screen paint
(``full``) is always written whole: it is how Textual redraws after anything it did not draw.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Chop", "ScreenRows", "scroll_region"]

#: Bytes of a cursor move (``CSI y;x H``) counted per chop written, when weighing a scroll.
MOVE_COST = 8


@dataclass(frozen=True, slots=True)
class Chop:
    """A run of ``width`` cells at column ``x`` of row ``y``, drawn by ``text``.

    ``whole`` is False for a chop cut short by the paint's extent: its cells are written, but
    what it leaves on screen is not known as a whole chop, so nothing is compared against it.
    """

    y: int
    x: int
    width: int
    text: str
    whole: bool = True


def move_to(x: int, y: int) -> str:
    return f"\x1b[{y + 1};{x + 1}H"


def scroll_region(top: int, bottom: int, lines: int) -> str:
    """Scroll rows ``top`` … ``bottom - 1`` (0-based) up by ``lines``, then reset the region.

    The rows that come in at the bottom are blank; the cursor ends at the home position (the
    writes after it all start with a cursor move).
    """
    return f"\x1b[{top + 1};{bottom}r\x1b[{lines}S\x1b[r"


# A row as written: column → (width, text).
Row = dict[int, tuple[int, str]]


class ScreenRows:
    """The text last written at each place of a ``width`` × ``height`` terminal."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self._rows: list[Row] = [{} for _ in range(height)]
        #: Paints written, and of them how many scrolled a band of rows.
        self.paints = 0
        self.scrolls = 0

    def forget(self) -> None:
        """Every row unknown: the next paint writes all it has."""
        for row in self._rows:
            row.clear()

    def _complete(self, row: Row) -> bool:
        return sum(width for width, _text in row.values()) == self.width

    @staticmethod
    def _place(row: Row, x: int, width: int, text: str | None) -> None:
        """Record a write of ``width`` cells at ``x`` (``text`` None: written, but not as a whole)."""
        end = x + width
        for other in [o for o, (w, _t) in row.items() if o < end and o + w > x]:
            del row[other]
        if text is not None:
            row[x] = (width, text)

    def paint(self, chops: Iterable[Chop], *, full: bool = False, band: tuple[int, int] | None = None) -> str:
        """The bytes that bring the terminal from what it shows to ``chops`` painted on it.

        ``full``: the chops cover the whole screen and are all written (every row known after).
        ``band``: rows ``top`` … ``bottom - 1`` that may have scrolled (the log pane's rows).
        """
        self.paints += 1
        chops = list(chops)
        if full:
            self.forget()
            written: list[str] = []
            cursor = (-1, -1)
            for chop in chops:
                if 0 <= chop.y < self.height:
                    self._place(self._rows[chop.y], chop.x, chop.width, chop.text if chop.whole else None)
                at = (chop.x, chop.y)
                written.append(chop.text if cursor == at else move_to(*at) + chop.text)
                end = chop.x + chop.width
                cursor = (end, chop.y) if end < self.width else (-1, -1)
            return "".join(written)

        old = self._rows
        new = [dict(row) for row in old]
        touched: set[int] = set()
        partial: list[Chop] = []
        for chop in chops:
            if not 0 <= chop.y < self.height:
                partial.append(chop)
                continue
            touched.add(chop.y)
            if chop.whole:
                self._place(new[chop.y], chop.x, chop.width, chop.text)
            else:
                self._place(new[chop.y], chop.x, chop.width, None)
                partial.append(chop)

        shown = old  # what the terminal shows before the chops are written
        out: list[str] = []
        lines = self._best_scroll(old, new, band) if band else 0
        rows_to_check: Iterable[int] = sorted(touched)
        if lines and band:
            top, bottom = band
            out.append(scroll_region(top, bottom, lines))
            shown = list(old)
            shown[top:bottom] = [*old[top + lines : bottom], *({} for _ in range(lines))]
            rows_to_check = sorted(touched | set(range(top, bottom)))
            self.scrolls += 1
        cursor = (-1, -1)
        for y in rows_to_check:
            there = shown[y]
            for x, (width, text) in sorted(new[y].items()):
                if there.get(x, (0, None))[1] != text:
                    # (No move needed right after the previous write on this row; never after
                    # the last column, where the cursor waits to wrap.)
                    out.append(text if cursor == (x, y) else move_to(x, y) + text)
                    cursor = (x + width, y) if x + width < self.width else (-1, -1)
        for chop in partial:
            out.append(move_to(chop.x, chop.y) + chop.text)
        self._rows = new
        return "".join(out)

    def _best_scroll(self, old: Sequence[Row], new: Sequence[Row], band: tuple[int, int]) -> int:
        """Rows to scroll the band up by (0: none) for the fewest bytes, when every row is known."""
        top, bottom = max(0, band[0]), min(self.height, band[1])
        if bottom - top < 2:
            return 0
        keys_old: list[tuple[tuple[int, str], ...]] = []
        keys_new: list[tuple[tuple[int, str], ...]] = []
        for y in range(top, bottom):
            if not (self._complete(old[y]) and self._complete(new[y])):
                return 0
            keys_old.append(tuple((x, t) for x, (_w, t) in sorted(old[y].items())))
            keys_new.append(tuple((x, t) for x, (_w, t) in sorted(new[y].items())))
        where: dict[tuple[tuple[int, str], ...], list[int]] = {}
        for index, key in enumerate(keys_old):
            places = where.setdefault(key, [])
            if len(places) < 4:
                places.append(index)
        votes: dict[int, int] = {}
        for index, key in enumerate(keys_new):
            if key == keys_old[index]:
                continue
            for place in where.get(key, ()):
                if place > index:
                    votes[place - index] = votes.get(place - index, 0) + 1
        if not votes:
            return 0
        height = bottom - top

        def cost(lines: int) -> int:
            total = len(scroll_region(top, bottom, lines)) if lines else 0
            for index, key in enumerate(keys_new):
                there = keys_old[index + lines] if index + lines < height else ()
                if key != there:
                    before = dict(there)
                    total += sum(len(t) + MOVE_COST for x, t in key if before.get(x) != t)
            return total

        best, best_cost = 0, cost(0)
        for lines in sorted(votes, key=votes.__getitem__, reverse=True)[:3]:
            candidate = cost(lines)
            if candidate < best_cost:
                best, best_cost = lines, candidate
        return best
