"""What the terminal shows, row by row, so a paint writes only what differs from it.

A paint of the screen is a list of :class:`Chop` writes: a run of cells at ``(x, y)`` and the
text (escape sequences included) that draws it. :class:`ScreenRows` keeps the text last written
at each place and turns the next paint into the bytes that bring the terminal up to date:

* a chop whose text is already there (same row, same column, same text) is not written again;
  one that differs in a few of its runs of one style (a header's seconds, a panel's value) is
  written from its first changed cell to its last;
* when a band of rows (the log pane) shows what it showed before moved up by ``n`` rows, the
  terminal scrolls that band itself (a scroll region, DECSTBM ``CSI top;bottom r``, then
  ``n`` IND (``ESC D``) on its last row, then the region reset) and only the rows whose text is not
  already there after
  the move are written — the new lines at the bottom, and whatever else changed;
* a write that starts the row after the previous write's row, in its first column, gets there with
  CR LF (two bytes) instead of a cursor move; one that follows another on its row, or starts the
  next row after it with CR LF, starts from the style the other left (``join``) rather than with a
  reset and its whole style.

Nothing is skipped on a guess: a row is compared only where every one of its cells was written
through this model, and :meth:`ScreenRows.forget` (another screen wrote, the size changed, the
terminal was handed to something else) makes every row unknown again. A whole-screen paint
(``full``) is always written whole: it is how Textual redraws after anything it did not draw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len

__all__ = ["Chop", "Run", "ScreenRows", "changed_runs", "scroll_region"]

#: Index (``ESC D``): the cursor down a row, scrolling the region when on its last row.
IND = "\x1bD"

#: The style reset every chop's text ends with.
RESET = "\x1b[0m"

#: Bytes of a cursor move (``CSI y;x H``) counted per chop written, when weighing a scroll.
MOVE_COST = 8


@dataclass(frozen=True, slots=True)
class Chop:
    """A run of ``width`` cells at column ``x`` of row ``y``, drawn by ``text``.

    ``whole`` is False for a chop cut short by the paint's extent: its cells are written, but
    what it leaves on screen is not known as a whole chop, so nothing is compared against it.
    ``source`` is what :class:`ScreenRows`' ``runs_of`` reads the chop's runs from.
    """

    y: int
    x: int
    width: int
    text: str
    whole: bool = True
    source: object = None


#: A run of cells of one style: (width in cells, SGR parameters ("": none), text).
Run = tuple[int, str, str]


def move_to(x: int, y: int) -> str:
    return f"\x1b[{y + 1};{x + 1}H"


def scroll_region(top: int, bottom: int, lines: int) -> str:
    """Scroll rows ``top`` … ``bottom - 1`` (0-based) up by ``lines``, then reset the region.

    The region is set (DECSTBM), the cursor put on its last row and moved down ``lines`` times
    with IND (``ESC D``: there it scrolls the region, in every VT100 descendant, the Linux
    console included, which has no ``CSI n S``; unlike a line feed, the terminal's output
    settings do not turn it into two bytes), then the region is reset. The rows that come in at
    the bottom are blank; the cursor ends at the home position (the writes after it all start
    with a cursor move).
    """
    return f"\x1b[{top + 1};{bottom}r\x1b[{bottom};1H" + IND * lines + "\x1b[r"


# A row as written: column → (width, text, source).
Row = dict[int, tuple[int, str, object]]
# A row's writes as (column, text), left to right.
RowKey = tuple[tuple[int, str], ...]

#: Entries kept in each of :class:`ScreenRows`' identity caches before they are emptied.
CACHE_LIMIT = 1024


class ScreenRows:
    """The text last written at each place of a ``width`` × ``height`` terminal."""

    def __init__(
        self,
        width: int,
        height: int,
        runs_of: Callable[[object], Sequence[Run] | None] | None = None,
        join: Callable[[object, object], str | None] | None = None,
    ) -> None:
        self.width = width
        self.height = height
        #: A chop's runs from its ``source`` (None: not known): a chop that differs from what is
        #: there in a few runs is written from its first changed cell to its last.
        self._runs_of = runs_of
        #: The style sequence from the end of one chop (its ``source``) to the start of the next,
        #: None when not known: a chop written right after another starts with that instead of
        #: the other's reset and its own whole style.
        self._join = join
        self._rows: list[Row] = [{} for _ in range(height)]
        #: A row's key for :meth:`_best_scroll` (its columns and texts, or None when not every cell
        #: of it is known), by the row's identity: a row no paint touched is the same dict again.
        self._keys: dict[int, tuple[Row, RowKey | None]] = {}
        #: A chop source's runs (``runs_of``), by identity: a kept strip is compared more than once.
        self._runs_cache: dict[int, tuple[object, Sequence[Run] | None]] = {}
        #: Paints written, and of them how many scrolled a band of rows.
        self.paints = 0
        self.scrolls = 0

    def forget(self) -> None:
        """Every row unknown: the next paint writes all it has."""
        self._rows = [{} for _ in range(self.height)]
        self._keys.clear()

    def _complete(self, row: Row) -> bool:
        return sum(entry[0] for entry in row.values()) == self.width

    @staticmethod
    def _place(row: Row, chop: Chop, whole: bool = True) -> None:
        """Record a write of ``chop`` (not ``whole``: its cells written, but not known as a whole)."""
        x, end = chop.x, chop.x + chop.width
        for other in [o for o, (w, _t, _s) in row.items() if o < end and o + w > x]:
            del row[other]
        if whole and chop.whole:
            row[x] = (chop.width, chop.text, chop.source)

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
                    self._place(self._rows[chop.y], chop)
                at = (chop.x, chop.y)
                written.append(chop.text if cursor == at else move_to(*at) + chop.text)
                end = chop.x + chop.width
                cursor = (end, chop.y) if end < self.width else (-1, -1)
            return "".join(written)

        old = self._rows
        new = list(old)  # a row is copied when a chop lands on it: the others stay the same dicts
        touched: set[int] = set()
        partial: list[Chop] = []
        for chop in chops:
            y = chop.y
            if not 0 <= y < self.height:
                partial.append(chop)
                continue
            if y not in touched:
                touched.add(y)
                new[y] = dict(old[y])
            self._place(new[y], chop)
            if not chop.whole:
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
        moving = range(*band) if band else range(0)
        cursor = (-1, -1)
        last_row = -1  # the row the last write ended on (its cursor may wait to wrap)
        last_source: object = None  # the chop just written whole, ending with a reset
        for y in rows_to_check:
            there = shown[y]
            for x, (width, text, source) in sorted(new[y].items()):
                before = there.get(x)
                if before is not None and before[1] == text:
                    continue
                # (No move needed right after the previous write on this row; never after
                # the last column, where the cursor waits to wrap. The first column of the next
                # row is CR LF away: no scroll region is in force here, and the row is not the last.)
                joined: str | None = None  # the piece starts from the style the write before left
                if cursor == (x, y):
                    joined = self._joined(out, last_source, source, text)
                    start, piece = x, text if joined is None else joined
                elif x == 0 and last_row >= 0 and last_row == y - 1:
                    # The style stays in force across CR LF (no scroll here): a row that starts in the
                    # style the row above ended in (a log line after a log line) says only the change.
                    joined = self._joined(out, last_source, source, text)
                    start, piece = x, "\r\n" + (text if joined is None else joined)
                else:
                    start, piece = x, move_to(x, y) + text
                whole = True  # the piece draws all of the chop and ends with a reset (when its text does)
                # (Not for the band's rows: a log row that changed is a new line, seldom a few cells.)
                if (
                    before is not None
                    and before[0] == width
                    and self._runs_of is not None
                    and y not in moving
                ):
                    change = self._change(before[2], source)
                    if change is not None and len(move_to(x + change[0], y)) + len(change[2]) < len(piece):
                        if joined is not None:
                            out[-1] += RESET  # the write before ends as it did: this one starts with a move
                        start, width, piece = x + change[0], change[1], move_to(x + change[0], y) + change[2]
                        whole = False
                out.append(piece)
                cursor = (start + width, y) if start + width < self.width else (-1, -1)
                last_row = y
                last_source = source if whole and text.endswith(RESET) else None
        for chop in partial:
            out.append(move_to(chop.x, chop.y) + chop.text)
        self._rows = new
        return "".join(out)

    def _joined(self, out: list[str], before: object, after: object, text: str) -> str | None:
        """``text`` (a chop written right after the one ``before`` drew) started from where that one
        left the style, the reset at the end of ``out`` taken off; None when not known or not shorter."""
        if self._join is None or before is None or after is None or not text.startswith("\x1b["):
            return None
        opening = text.find("m") + 1
        change = self._join(before, after)
        if change is None or not opening or len(change) >= opening + len(RESET):
            return None
        out[-1] = out[-1][: -len(RESET)]
        return change + text[opening:]

    def _best_scroll(self, old: Sequence[Row], new: Sequence[Row], band: tuple[int, int]) -> int:
        """Rows to scroll the band up by (0: none) for the fewest bytes, when every row is known."""
        top, bottom = max(0, band[0]), min(self.height, band[1])
        if bottom - top < 2:
            return 0
        keys_old: list[RowKey] = []
        keys_new: list[RowKey] = []
        for y in range(top, bottom):
            key_old, key_new = self._key(old[y]), self._key(new[y])
            if key_old is None or key_new is None:
                return 0
            keys_old.append(key_old)
            keys_new.append(key_new)
        where: dict[RowKey, list[int]] = {}
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

    def _key(self, row: Row) -> RowKey | None:
        """The row's writes as (column, text), left to right; None when a cell of it is not known."""
        cached = self._keys.get(id(row))
        if cached is not None and cached[0] is row:
            return cached[1]
        key = tuple((x, t) for x, (_w, t, _s) in sorted(row.items())) if self._complete(row) else None
        if len(self._keys) >= CACHE_LIMIT:
            self._keys.clear()
        self._keys[id(row)] = (row, key)
        return key

    def _runs(self, source: object) -> Sequence[Run] | None:
        assert self._runs_of is not None
        cached = self._runs_cache.get(id(source))
        if cached is not None and cached[0] is source:
            return cached[1]
        runs = self._runs_of(source)
        if len(self._runs_cache) >= CACHE_LIMIT:
            self._runs_cache.clear()
        self._runs_cache[id(source)] = (source, runs)
        return runs

    def _change(self, before: object, after: object) -> tuple[int, int, str] | None:
        old, new = self._runs(before), self._runs(after)
        if old is None or new is None:
            return None
        return changed_runs(old, new)


def changed_runs(old: Sequence[Run], new: Sequence[Run]) -> tuple[int, int, str] | None:
    """Where two chops of one width differ: (offset, width, text that draws ``new`` there), from the
    first cell that differs to the last; None when they do not differ or the runs do not say.

    Runs equal at the start or the end are left out (at the end they sit in the same cells, the
    widths being equal), then the characters the first and last changed runs share in one style.
    """
    if sum(run[0] for run in old) != sum(run[0] for run in new):
        return None
    first = 0
    while first < min(len(old), len(new)) and old[first] == new[first]:
        first += 1
    if first == len(old) == len(new):
        return None
    last = 0
    while last < min(len(old), len(new)) - first and old[-1 - last] == new[-1 - last]:
        last += 1
    head = sum(run[0] for run in new[:first])
    tail = sum(run[0] for run in new[len(new) - last :])
    middle = [(sgr, text) for _width, sgr, text in new[first : len(new) - last]]
    was = [(sgr, text) for _width, sgr, text in old[first : len(old) - last]]
    if not middle or not was:
        return None
    if not all(cell_len(chars) == len(chars) for _sgr, chars in (middle[0], was[0], middle[-1], was[-1])):
        pass  # (a character of two cells or none: whole runs only)
    elif middle[0][0] == was[0][0]:  # one style: the characters both start with stay
        shared = _shared_prefix(middle[0][1], was[0][1])
        head += cell_len(middle[0][1][:shared])
        middle[0] = (middle[0][0], middle[0][1][shared:])
        was[0] = (was[0][0], was[0][1][shared:])
    if middle[-1][0] == was[-1][0] and cell_len(middle[-1][1]) == len(
        middle[-1][1]
    ):  # and those both end with
        shared = _shared_prefix(middle[-1][1][::-1], was[-1][1][::-1])
        if shared:
            tail += cell_len(middle[-1][1][-shared:])
            middle[-1] = (middle[-1][0], middle[-1][1][:-shared])
    width = sum(run[0] for run in new) - head - tail
    if width <= 0:
        return None
    text = "".join(f"\x1b[{sgr}m{chars}\x1b[0m" if sgr else chars for sgr, chars in middle if chars)
    return head, width, text


def _shared_prefix(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count
