"""gzip for a stream that never ends, made of segments compressed once and shared by every viewer.

A gzip body is a 10-byte header, then raw deflate blocks (then a trailer, which an endless stream
never reaches). Each segment here is the deflate blocks of one piece of the stream, ended by a
flush onto a byte boundary, so it is decoded as soon as it arrives.

* :func:`deflate_segment` compresses with nothing before it: any sequence of such segments after
  :data:`GZIP_HEADER` is a valid gzip stream, so a frame compressed once can go to every viewer of
  its scope, whatever each got before. It pays for its own field names.
* :class:`DeflateChain` compresses a scope's deltas one after the other into one deflate stream,
  each with the ones before it as history (a delta repeats the last one's field names: it costs a
  fraction). Its segments are shared too, but only a viewer that took every segment of the chain
  since it began (a *generation*) can decode the next one; any other gets the frame's
  :func:`deflate_segment` and asks for a new generation, which it joins at the next frame.
"""

from __future__ import annotations

import threading
import zlib
from typing import Any, Final

#: gzip magic, deflate, no flags, no modification time, no extra flags, unknown OS.
GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
#: zlib level: 6 is zlib's default; frames are small, and each is compressed once per scope.
LEVEL: Final = 6
#: One compressor per thread (collectors in several threads of one process each use their own).
_local = threading.local()


def deflate_segment(data: bytes) -> bytes:
    """``data`` as raw deflate blocks that refer to nothing before them, ending byte-aligned."""
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        compressor = _local.compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    # A full flush ends the blocks on a byte boundary and forgets the history: the next segment
    # starts as if from a fresh compressor, without the cost of making one.
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


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


class DeflateChain:
    """One scope's deltas as one deflate stream; see the module docstring. Single-threaded."""

    def __init__(self) -> None:
        self.generation = 0
        self._compressor: Any = None
        self._last_seq: int | None = None
        self._restart = False

    def restart(self) -> None:
        """Begin a new generation at the next frame (a viewer wants to join)."""
        self._restart = True

    def segment(self, seq: int, data: bytes) -> tuple[bytes, int, bool]:
        """``data`` (frame ``seq``) compressed after frame ``seq - 1``'s, or first of a new
        generation when that was not the last one compressed (or a restart was asked for).
        Returns the segment, its generation, and whether it begins the generation (then any
        viewer can decode it)."""
        fresh = self._compressor is None or self._restart or self._last_seq != seq - 1
        if fresh:
            self.generation += 1
            self._compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
            self._restart = False
        self._last_seq = seq
        return (
            self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH),
            self.generation,
            fresh,
        )
