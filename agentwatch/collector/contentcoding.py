"""Undo a request body's ``Content-Encoding``: identity or gzip, bounded in size, layers and members.

Pure functions over bytes, no HTTP: the web layer calls :func:`decode_content_cheaply` on the
event loop and, when that declines (a large or expensive body), :func:`decode_content` in a worker
thread. Errors are :class:`~agentwatch.collector.ingest_errors.IngestError` subclasses whose
``status`` and ``message`` go back to the sender as they are.

Bounds, each refused with a message naming it:

* the decoded size: at most ``limit`` bytes (:class:`PayloadTooLarge`, 413); gzip is inflated
  incrementally with a ``max_length``, so a compression bomb costs at most ``limit + 1`` bytes of
  output per layer before it is refused;
* the codings: identity, ``gzip`` / ``x-gzip``, at most :data:`MAX_CODINGS` gzip layers
  (:class:`UnsupportedMediaType`, 415, for an unknown coding or too many layers);
* the gzip members of one layer: at most :data:`MAX_GZIP_MEMBERS` (:class:`BadRequest`, 400).

Time is linear in the body. zlib copies whatever follows a member's end into ``unused_data``;
fed the whole rest of the body, every member would copy it again (quadratic in the member
count). Input is therefore fed through a ``memoryview`` in pieces that start small and double
while a member lasts, so a member's end copies at most about its own size.
"""

from __future__ import annotations

import zlib
from typing import Final

from agentwatch.collector.ingest_errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

__all__ = [
    "CHEAP_INPUT_BYTES",
    "CHEAP_OUTPUT_BYTES",
    "MAX_CODINGS",
    "MAX_GZIP_MEMBERS",
    "content_codings",
    "decode_content",
    "decode_content_cheaply",
]

#: gzip layers one body may stack (``Content-Encoding: gzip, gzip`` is two).
MAX_CODINGS: Final = 2
#: gzip members one layer may hold (concatenated gzip streams).
MAX_GZIP_MEMBERS: Final = 1000
#: :func:`decode_content_cheaply` declines encoded bodies at least this large (bytes on the wire) ...
CHEAP_INPUT_BYTES: Final = 64 * 1024
#: ... and stops, declining, once it has inflated more than this many bytes.
CHEAP_OUTPUT_BYTES: Final = 256 * 1024

_GZIP: Final = frozenset({"gzip", "x-gzip"})
_IDENTITY: Final = frozenset({"", "identity"})
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
#: First piece of input fed to a member's decompressor, then doubled up to the largest.
_FIRST_PIECE: Final = 256
_LARGEST_PIECE: Final = 1 << 20


class _OverBudget(Exception):
    """Raised inside :func:`decode_content_cheaply` when the body turns out to be expensive."""


def content_codings(content_encoding: str | None) -> list[str]:
    """The gzip layers of a ``Content-Encoding`` header, in the order applied (identity dropped).

    Raises :class:`UnsupportedMediaType` for any other coding or more than :data:`MAX_CODINGS`.
    """
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c not in _IDENTITY]
    for coding in codings:
        if coding not in _GZIP:
            raise UnsupportedMediaType(f"unsupported Content-Encoding {coding[:40]!r}: send identity or gzip")
    if len(codings) > MAX_CODINGS:
        raise UnsupportedMediaType(
            f"Content-Encoding has {len(codings)} gzip layers: at most {MAX_CODINGS} are accepted"
        )
    return codings


def decode_content(body: bytes, content_encoding: str | None, *, limit: int) -> bytes:
    """``body`` with its ``Content-Encoding`` undone, at most ``limit`` bytes (see the module)."""
    return _decode(body, content_codings(content_encoding), limit, budget=None)


def decode_content_cheaply(body: bytes, content_encoding: str | None, *, limit: int) -> bytes | None:
    """:func:`decode_content` when that is cheap enough for the event loop, else None.

    Identity bodies are always cheap. An encoded body is declined when it is at least
    :data:`CHEAP_INPUT_BYTES` long, or once its output passes :data:`CHEAP_OUTPUT_BYTES` (the
    work done so far is dropped; the caller decodes it again in a thread). Errors found within
    that budget are raised as :func:`decode_content` would.
    """
    codings = content_codings(content_encoding)
    if codings and len(body) >= CHEAP_INPUT_BYTES:
        return None
    try:
        return _decode(body, codings, limit, budget=CHEAP_OUTPUT_BYTES)
    except _OverBudget:
        return None


def _decode(body: bytes, codings: list[str], limit: int, budget: int | None) -> bytes:
    data = body
    for _ in reversed(codings):
        data = _gunzip(data, limit, budget)
    if len(data) > limit:
        raise PayloadTooLarge(f"body is larger than the limit of {limit} bytes")
    return data


def _gunzip(data: bytes, limit: int, budget: int | None) -> bytes:
    """Inflate every member of ``data``; linear in ``len(data)`` (see the module docstring)."""
    cap = limit if budget is None else min(limit, budget)
    parts: list[bytes] = []
    size = 0
    view = memoryview(data)
    end = len(data)
    offset = 0
    members = 0
    try:
        while True:
            members += 1
            if members > MAX_GZIP_MEMBERS:
                raise BadRequest(f"gzip body has more than {MAX_GZIP_MEMBERS} members (the limit)")
            decompressor = zlib.decompressobj(wbits=_GZIP_WBITS)
            piece = _FIRST_PIECE
            fed = offset  # input handed to this member's decompressor ends here
            while not decompressor.eof:
                pending: bytes | memoryview = decompressor.unconsumed_tail
                if not pending:
                    if fed >= end:
                        raise BadRequest("gzip body is truncated")
                    pending = view[fed : fed + piece]
                    fed += len(pending)
                    piece = min(piece * 2, _LARGEST_PIECE)
                chunk = decompressor.decompress(pending, cap - size + 1)
                size += len(chunk)
                if size > cap:
                    if size > limit:
                        raise PayloadTooLarge(f"decompressed body is larger than the limit of {limit} bytes")
                    raise _OverBudget
                parts.append(chunk)
            offset = fed - len(decompressor.unused_data)
            if offset >= end:
                break
    except zlib.error as exc:
        raise BadRequest(f"gzip body is corrupt: {exc}") from None
    finally:
        view.release()
    return b"".join(parts)
