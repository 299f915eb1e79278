"""Agent-supplied text is data: make it safe to put on a terminal.

Agents send arbitrary strings (log messages, agent ids, model names, error text). Written
to a terminal as they are, escape sequences in them could retitle the window (OSC 0/2),
plant hyperlinks (OSC 8), write the clipboard (OSC 52), move the cursor or recolour the
screen (CSI), and bidi overrides could make a line read differently from what it holds.
:func:`printable` turns every such character into a visible stand-in.

The mapping (documented contract, stable):

* tab → one space (keeps columns readable; a tab has no meaning inside a log line);
* newline → ``␤`` and carriage return → ``␍`` (a message stays on its one line, and the
  line break is still visible);
* every other C0 control and DEL → its Unicode *control picture*: NUL → ``␀``,
  ESC → ``␛``, BEL → ``␇``, DEL → ``␡`` …  So ``"\\x1b]0;pwned\\x07"`` shows as
  ``␛]0;pwned␇`` and nothing reaches the terminal as a control;
* C1 controls (U+0080–U+009F, including the 8-bit CSI U+009B and OSC U+009D), format
  characters (Unicode category Cf: bidi embeddings/overrides U+202A–U+202E and isolates
  U+2066–U+2069, LRM/RLM, zero-width space, BOM, tag characters U+E0000–U+E007F …),
  line/paragraph separators (U+2028/U+2029) and lone surrogates → a backslash escape:
  ``\\x9b``, ``\\u202e``, ``\\U000e0041``.
* Zero-width joiner and non-joiner (U+200D, U+200C) are kept: emoji sequences and several
  scripts need them and they cannot reorder or hide text.

Everything else — CJK, emoji, combining marks, private-use glyphs, non-ASCII spaces — is
returned unchanged. ``printable`` never raises on any ``str`` and is idempotent.

Cost: one ``str.isprintable()`` scan for the common case, otherwise one ``str.translate``
with a table built once, on first use.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Final

__all__ = ["json_safe", "printable"]

#: Code points kept although Unicode files them under Cf.
_KEPT_FORMAT_CHARS: Final = frozenset({0x200C, 0x200D})
#: Unicode categories escaped outside the C0/DEL range.
_ESCAPED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})
#: Format characters live in the BMP, the SMP and the tag block; nothing else needs scanning.
_SCAN_RANGES: Final = ((0x80, 0x20000), (0xE0000, 0xE1000))
_SURROGATES: Final = range(0xD800, 0xE000)


def _backslash_escape(code: int) -> str:
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escaped_code_points() -> list[int]:
    """Every code point above ASCII that :func:`printable` rewrites (C0 and DEL aside)."""
    codes = [
        code
        for start, stop in _SCAN_RANGES
        for code in range(start, stop)
        if code not in _KEPT_FORMAT_CHARS and unicodedata.category(chr(code)) in _ESCAPED_CATEGORIES
    ]
    codes.extend(_SURROGATES)
    return codes


@functools.cache
def _terminal_table() -> dict[int, str]:
    table: dict[int, str] = {code: chr(0x2400 + code) for code in range(0x20)}
    table[0x09] = " "
    table[0x0A] = "\u2424"  # ␤
    table[0x0D] = "\u240d"  # ␍
    table[0x7F] = "\u2421"  # ␡
    for code in _escaped_code_points():
        table[code] = _backslash_escape(code)
    return table


@functools.cache
def _json_table() -> dict[int, str]:
    table = {0x7F: "\\u007f"}
    for code in _escaped_code_points():
        if code <= 0xFFFF:
            table[code] = f"\\u{code:04x}"
        else:
            table[code] = "\\u{:04x}\\u{:04x}".format(*_utf16_pair(code))
    return table


def _utf16_pair(code: int) -> tuple[int, int]:
    offset = code - 0x10000
    return 0xD800 + (offset >> 10), 0xDC00 + (offset & 0x3FF)


def printable(text: str) -> str:
    """Return ``text`` with every terminal control and invisible format character made visible.

    See the module docstring for the exact mapping. Plain text (``text.isprintable()``) is
    returned as the same object, so the common case costs one C-level scan.
    """
    if text.isprintable():
        return text
    return text.translate(_terminal_table())


def json_safe(json_text: str) -> str:
    """Escape C1 controls, format characters and separators inside JSON text as ``\\uXXXX``.

    JSON encoders escape C0 controls but pass DEL, U+0080–U+009F, bidi overrides and the like
    through raw, and those still act on a terminal. Such characters can only occur inside
    JSON strings, where ``\\uXXXX`` means the same character, so the result decodes to the
    same value and is safe to print.
    """
    if json_text.isascii() and "\x7f" not in json_text:
        return json_text
    return json_text.translate(_json_table())
