"""Strips without their caches until used (agentwatch/tui/leanstrip.py): the same fields as Textual's,
the same results, and the viewer installs it."""

from __future__ import annotations

import random

from rich.segment import Segment
from rich.style import Style
from textual.cache import FIFOCache
from textual.strip import Strip

from agentwatch.tui import leanstrip
from agentwatch.tui.app import AgentWatchApp

STYLES = [None, Style(bold=True), Style(color="red", bgcolor="blue"), Style(italic=True, underline=True)]


def _fields(strip: Strip) -> dict[str, object]:
    """The slots of a strip that are set (read through the slot itself: no cache is made by reading)."""
    fields = {}
    for name in Strip.__slots__:
        try:
            fields[name] = Strip.__dict__[name].__get__(strip, Strip)
        except AttributeError:
            continue
    return fields


def _segments(rng: random.Random) -> list[Segment]:
    words = ["a", "hello", " ", "日本", "é", "xyz  ", "[b]x[/]"]
    return [
        Segment(rng.choice(words) * rng.randint(1, 3), rng.choice(STYLES)) for _ in range(rng.randint(0, 6))
    ]


def test_textual_strip_has_exactly_the_fields_leanstrip_knows() -> None:
    """Textual's own __init__ sets every slot: the plain fields and the seven caches of the sizes
    listed. A new cache or field in Textual fails here (leanstrip would not set it)."""
    assert set(Strip.__slots__) == {
        "_segments",
        "_cell_length",
        *leanstrip.PLAIN_FIELDS,
        *leanstrip.LAZY_CACHES,
    }
    strip = object.__new__(Strip)
    leanstrip._ORIGINAL_INIT(strip, [Segment("x")], 1)
    fields = _fields(strip)
    assert set(fields) == {"_segments", "_cell_length", *leanstrip.PLAIN_FIELDS, *leanstrip.LAZY_CACHES}
    for name in leanstrip.PLAIN_FIELDS:
        assert fields[name] is None, name
    for name, size in leanstrip.LAZY_CACHES.items():
        assert isinstance(fields[name], FIFOCache), name
        assert fields[name]._maxsize == size, name


def test_caches_are_made_on_first_use_and_results_are_the_same() -> None:
    rng = random.Random(11)
    was = leanstrip.installed()
    try:
        for _ in range(300):
            segments = _segments(rng)
            leanstrip.uninstall()
            eager = Strip(segments)
            leanstrip.install()
            lean = Strip(segments)
            assert not set(leanstrip.LAZY_CACHES) & set(_fields(lean))
            length = eager.cell_length
            assert lean.cell_length == length
            cuts = sorted({rng.randint(0, length) for _ in range(3)} | {length})
            assert lean.divide(cuts) == eager.divide(cuts)
            start = rng.randint(0, length)
            assert list(lean.crop(start, length)) == list(eager.crop(start, length))
            assert list(lean.apply_style(Style(dim=True))) == list(eager.apply_style(Style(dim=True)))
            assert list(lean.adjust_cell_length(length + 3)) == list(eager.adjust_cell_length(length + 3))
            assert lean.render(_console()) == eager.render(_console())
            made = {name: value for name, value in _fields(lean).items() if name in leanstrip.LAZY_CACHES}
            assert "_divide_cache" in made
            for name, cache in made.items():
                assert isinstance(cache, FIFOCache)
                assert cache._maxsize == leanstrip.LAZY_CACHES[name]
    finally:
        (leanstrip.install if was else leanstrip.uninstall)()


def test_an_unknown_attribute_is_still_missing() -> None:
    strip = Strip([Segment("x")])
    assert not hasattr(strip, "_no_such_field")


def test_the_viewer_installs_it() -> None:
    leanstrip.uninstall()
    AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    assert leanstrip.installed()
    assert "_divide_cache" not in _fields(Strip([Segment("x")]))


def _console():  # type: ignore[no-untyped-def]
    from rich.console import Console

    return Console(color_system="truecolor", width=80, force_terminal=True)
