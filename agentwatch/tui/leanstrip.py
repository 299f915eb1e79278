"""Textual's :class:`~textual.strip.Strip` without its seven caches until one is used.

Every strip Textual makes (a row of a widget, each piece a row is cut into) builds seven small
caches (``_divide_cache``, ``_crop_cache``, ``_style_cache``, ``_filter_cache``,
``_line_length_cache``, ``_crop_extend_cache``, ``_offsets_cache``) in ``Strip.__init__``, and most
strips never use more than one of them. Each cache is an object with a dict inside that the
garbage collector walks as long as the strip lives (the rows a pane keeps: thousands), and that
counts toward the allocations which trigger a collection. :func:`install` makes ``Strip.__init__``
set only the plain fields and creates a cache on its first use (``Strip.__getattr__``, which
Python calls only for an attribute the instance does not have yet), of the size Textual gives it.

The private fields are pinned by ``tests/tui/test_leanstrip.py``: a Textual that adds a cache or a
field fails there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from rich.segment import Segment
from textual.cache import FIFOCache
from textual.strip import Strip

__all__ = ["LAZY_CACHES", "PLAIN_FIELDS", "install", "installed", "uninstall"]

#: The caches ``Strip.__init__`` makes, and their sizes.
LAZY_CACHES: Final[dict[str, int]] = {
    "_divide_cache": 4,
    "_crop_cache": 16,
    "_style_cache": 16,
    "_filter_cache": 4,
    "_line_length_cache": 4,
    "_crop_extend_cache": 4,
    "_offsets_cache": 4,
}
#: The other fields ``Strip.__init__`` sets (besides ``_segments`` and ``_cell_length``), all None.
PLAIN_FIELDS: Final = ("_render_cache", "_link_ids", "_cell_count")

_ORIGINAL_INIT: Final = Strip.__init__


def _lean_init(self: Strip, segments: Iterable[Segment], cell_length: int | None = None) -> None:
    self._segments = list(segments)
    self._cell_length = cell_length
    self._render_cache = None
    self._link_ids = None
    self._cell_count = None


def _cache_on_first_use(self: Strip, name: str) -> Any:
    size = LAZY_CACHES.get(name)
    if size is None:
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
    cache: FIFOCache[Any, Any] = FIFOCache(size)
    setattr(self, name, cache)
    return cache


def install() -> None:
    """Make strips build their caches on first use (idempotent; process-wide)."""
    Strip.__init__ = _lean_init  # type: ignore[method-assign]
    Strip.__getattr__ = _cache_on_first_use  # type: ignore[attr-defined]


def uninstall() -> None:
    """Textual's own ``Strip.__init__`` again (strips made meanwhile keep working)."""
    Strip.__init__ = _ORIGINAL_INIT  # type: ignore[method-assign]
    # Strips made while installed may still lack caches: keep creating them on first use.


def installed() -> bool:
    return Strip.__init__ is _lean_init
