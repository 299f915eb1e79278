"""The high-water mark of reserved log ids, in a small file of its own (``<store path>-ids``).

A file apart from the database, so reserving ids never waits for SQLite's write lock: one
``pwrite`` of a few bytes overwrites the mark in place (no new block is needed, even on a full
disk). Like a commit with ``synchronous=NORMAL``, a write survives a crash of the process, not a
power cut. Thread-safe.
"""

from __future__ import annotations

import os
import threading


class IdMark:
    """The mark file at ``path``: :meth:`open` reads it, :meth:`write` moves it, :meth:`close` ends."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._lock = threading.Lock()

    def open(self, warnings: list[str]) -> int:
        """Open (or create) the file and return the mark it holds.

        0 when the file is new, unreadable or cannot be opened; ``warnings`` then says why.
        An already open file (from an attempt that failed further on) is closed first.
        """
        self.close()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            warnings.append(f"store cannot open {self.path} (log ids may be reused after a crash): {exc}")
            return 0
        self._fd = fd
        text = os.pread(fd, 32, 0).strip()
        if text and not text.isdigit():
            warnings.append(f"store: ignored an unreadable id mark in {self.path}")
            return 0
        return int(text or 0)

    def write(self, mark: int) -> None:
        """Overwrite the mark in place. Raises OSError (also when the file is not open)."""
        with self._lock:
            if self._fd is None:
                raise OSError("the id mark file is not open")
            os.pwrite(self._fd, b"%20d\n" % mark, 0)

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
