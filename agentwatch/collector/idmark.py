"""The high-water mark of handed-out log ids, in a small file of its own (``<store path>-ids``).

A file apart from the database, so recording ids never waits for SQLite's write lock: one
``pwrite`` of a few bytes overwrites the mark in place (no new block is needed, even on a full
disk). Like a commit with ``synchronous=NORMAL``, a write survives a crash of the process, not a
power cut. Thread-safe. The file outlives the database: a store moved aside as corrupt leaves it
in place, so ids go on from the mark.

Layout: bytes 0–31 hold the mark as text (a 20-column number, then spaces: what earlier versions
wrote and read); from byte 32, one line ``<sequence> <exact after>``. ``sequence`` names the id
sequence the mark belongs to (the log stream's ids read ``<sequence>:<n>``); ``exact after``: ids
above it were all handed out, ids up to it may include some only reserved ahead (by an earlier
version, or with a reservation block), so gap counts reaching them are upper bounds. A file
without that line (an earlier version's) gets a new sequence and ``exact after`` = its mark.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from typing import Final

#: Where the sequence line starts; the mark's text fits before it.
_TAIL_OFFSET: Final = 32
_SEQUENCE: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")


def new_sequence() -> str:
    """A random name for a new id sequence (8 hex digits)."""
    return secrets.token_hex(4)


def valid_sequence(text: str) -> bool:
    """True for a sequence name as the log stream carries it: 1–32 of ``A-Z a-z 0-9 _ -``."""
    return _SEQUENCE.fullmatch(text) is not None


class IdMark:
    """The mark file at ``path``: :meth:`open` reads it, :meth:`write` moves it, :meth:`close` ends.

    After :meth:`open`: ``sequence`` (read, or new), ``exact_after`` and ``continued`` (the file
    held a mark or a sequence: the ids of an earlier run go on).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()
        self.sequence = new_sequence()
        self.exact_after = 0
        self.continued = False

    def open(self, warnings: list[str]) -> int:
        """Open (or create) the file and return the mark it holds.

        0 when the file is new, unreadable or cannot be opened; ``warnings`` then says why (a new
        sequence is then started). An already open file (from an attempt that failed further on)
        is closed first.
        """
        self.close()
        self.sequence, self.exact_after, self.continued = new_sequence(), 0, False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            warnings.append(f"store cannot open {self.path} (log ids may be reused after a crash): {exc}")
            return 0
        self._fd = fd
        raw = os.pread(fd, _TAIL_OFFSET + 64, 0)
        text = raw[:_TAIL_OFFSET].strip()
        if text and not text.isdigit():
            warnings.append(f"store: ignored an unreadable id mark in {self.path}")
            text = b""
        mark = int(text or 0)
        tail = raw[_TAIL_OFFSET:].split(b"\n", 1)[0].decode("ascii", "replace").split()
        if len(tail) == 2 and valid_sequence(tail[0]) and tail[1].isdigit():
            self.sequence, self.exact_after, self.continued = tail[0], min(int(tail[1]), mark), True
        else:  # an earlier version's file: its mark reserved ahead, so ids up to it are not exact
            self.exact_after, self.continued = mark, mark > 0
        try:
            os.pwrite(fd, b"%20d\n" % mark + self._tail(), 0)
        except OSError as exc:
            warnings.append(f"store could not record the id sequence in {self.path}: {exc}")
        return mark

    def _tail(self) -> bytes:
        """Bytes 21 on: blanks up to the sequence line, then the line."""
        return b" " * (_TAIL_OFFSET - 22) + b"\n" + f"{self.sequence} {self.exact_after}\n".encode()

    def write(self, mark: int, *, reserved_ahead: bool = False) -> None:
        """Overwrite the mark in place. Raises OSError (also when the file is not open).

        ``reserved_ahead``: ids up to ``mark`` are reserved, not all handed out; the sequence
        line then records that counts up to ``mark`` are upper bounds.
        """
        with self._lock:
            if self._fd is None:
                raise OSError("the id mark file is not open")
            record = b"%20d\n" % mark
            if reserved_ahead and mark > self.exact_after:
                self.exact_after = mark
                record += self._tail()
            os.pwrite(self._fd, record, 0)

    def close(self, final: int | None = None) -> None:
        """Write ``final`` as the mark (when given) and close the file. Idempotent.

        The file is closed even when that write fails; the OSError is then raised.
        """
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if final is not None:
                os.pwrite(fd, b"%20d\n" % final, 0)
        finally:
            os.close(fd)
