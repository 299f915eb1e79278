"""gzip for a stream that never ends, made of segments compressed once and shared by every viewer.

A gzip body is a 10-byte header, then raw deflate blocks (then a trailer, which an endless stream
never reaches). Each segment here is the deflate blocks of one piece of the stream, compressed
with nothing before it and ended by a flush onto a byte boundary, so any sequence of segments
after :data:`GZIP_HEADER` is a valid gzip stream, decoded as it arrives: a frame compressed once
can go to every viewer of its scope, whatever each got before. The price is that a segment
cannot refer back to earlier frames (each pays for its own field names).
"""

from __future__ import annotations

import zlib
from typing import Final

#: gzip magic, deflate, no flags, no modification time, no extra flags, unknown OS.
GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: zlib level: 6 is zlib's default; frames are small, and each is compressed once per scope.
LEVEL: Final = 6
_compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)


def deflate_segment(data: bytes) -> bytes:
    """``data`` as raw deflate blocks that refer to nothing before them, ending byte-aligned."""
    # A full flush ends the blocks on a byte boundary and forgets the history: the next segment
    # starts as if from a fresh compressor, without the cost of making one.
    return _compressor.compress(data) + _compressor.flush(zlib.Z_FULL_FLUSH)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True when an ``Accept-Encoding`` header value accepts gzip (``gzip`` or ``x-gzip`` with a
    q-value above 0, or ``*`` above 0 and gzip not refused)."""
    if not accept_encoding:
        return False
    star = False
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding in ("gzip", "x-gzip"):
            return quality > 0
        if coding == "*":
            star = quality > 0
    return star
