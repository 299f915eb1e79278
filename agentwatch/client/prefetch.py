"""Fetch the collector's current snapshot while the viewer is still starting.

The viewer spends most of its start-up importing Textual; the network sits idle meanwhile.
:func:`prefetch_snapshot` asks ``GET /api/snapshot`` from a daemon thread with the standard
library's ``http.client`` (cheap to import, releases the GIL while it waits), so the first
paint can already show the fleet. Anything unusual — a minimal collector without that
route, a refused connection, a slow answer, a body that is not a snapshot — just yields
``None``: the metrics stream brings the same data a moment later.
"""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

import msgspec

from agentwatch.protocol import PATH_SNAPSHOT, Snapshot

#: Largest snapshot body read; a larger one is ignored (the stream brings the fleet).
MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024


class SnapshotPrefetch:
    """A snapshot request running in the background; :meth:`result` waits a bounded time."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 2.0) -> None:
        self._base_url = base_url
        self._token = token
        self._timeout = timeout
        self._body: bytes | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._fetch, name="agentwatch-prefetch", daemon=True)
        self._thread.start()

    def _fetch(self) -> None:
        try:
            parts = urlsplit(self._base_url)
            connection_type = (
                http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
            )
            connection = connection_type(parts.hostname or "127.0.0.1", parts.port, timeout=self._timeout)
            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            try:
                connection.request("GET", parts.path.rstrip("/") + PATH_SNAPSHOT, headers=headers)
                response = connection.getresponse()
                if response.status == 200:
                    self._body = response.read(MAX_SNAPSHOT_BYTES + 1)
            finally:
                connection.close()
        except (OSError, http.client.HTTPException, ValueError):
            self._body = None  # the stream will bring the snapshot; nothing to report
        finally:
            self._done.set()

    def result(self, timeout: float) -> Snapshot | None:
        """The snapshot if it arrived within ``timeout`` seconds and decodes, else None."""
        if not self._done.wait(timeout) or not self._body or len(self._body) > MAX_SNAPSHOT_BYTES:
            return None
        try:
            return msgspec.json.decode(self._body, type=Snapshot)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None


def prefetch_snapshot(base_url: str, token: str | None = None) -> SnapshotPrefetch:
    """Start fetching the fleet snapshot now; see :class:`SnapshotPrefetch`."""
    return SnapshotPrefetch(base_url, token)
