"""Fitting a table's columns to the width it has: names give way, then whole columns, never a number.

Used by the analysis tables and the alert history (the agents table has its own fixed layout,
:mod:`agentwatch.tui.agenttable`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len

#: Cells DataTable adds around each column (one each side).
CELL_PADDING = 2


def fit_columns(
    labels: Sequence[str],
    rows: Sequence[Sequence[str]],
    room: int,
    *,
    drop_first: Sequence[str] = (),
    shrink: int = 0,
    shrink_min: int = 16,
    grow: int | None = None,
    grow_min: int = 16,
) -> list[tuple[int, int]]:
    """(column index, width) of the columns shown in ``room`` cells, in order.

    Each column is as wide as its widest cell or label. When they do not all fit, column
    ``shrink`` (names, which can end in "…") gives way down to ``shrink_min``, then whole
    columns are left out in ``drop_first`` order (by label; one left out early comes back if
    it fits beside those kept), then ``shrink`` gives way further. Column ``grow`` (a message)
    counts as ``grow_min`` wide and takes whatever width is left.
    """
    natural = {
        index: max([cell_len(label), *(cell_len(row[index]) for row in rows)])
        for index, label in enumerate(labels)
    }
    widths = dict(natural)
    if grow is not None:
        widths[grow] = min(widths[grow], grow_min)

    def excess() -> int:
        return sum(width + CELL_PADDING for width in widths.values()) - room

    widths[shrink] -= max(0, min(excess(), widths[shrink] - min(widths[shrink], shrink_min)))
    dropped: list[int] = []
    for label in drop_first:
        if excess() <= 0:
            break
        index = labels.index(label) if label in labels else -1
        if index in widths and index != shrink:
            dropped.append(index)
            del widths[index]
    for index in reversed(dropped):
        widths[index] = natural[index] if index != grow else min(natural[index], grow_min)
        if excess() > 0:
            del widths[index]
    widths[shrink] = max(4, min(natural[shrink], widths[shrink] - excess()))
    if grow is not None and grow in widths:
        widths[grow] = max(widths[grow], min(natural[grow], widths[grow] - excess()))
    return sorted(widths.items())
