"""What a collector really sent in its snapshots, and sparklines from the snapshots received.

Decoding fills every field a collector left out with its default, so a collector speaking
only the minimal protocol would read as "0 errors" and "0.0 events/s". :func:`sent_fields`
tells which fields were in the JSON, so the viewer shows "—" for the others.
:class:`ReceivedHistory` builds the per-second series from the snapshots themselves when a
collector sends no ``history``, so its sparklines still move.
"""

from __future__ import annotations

from collections import deque
from typing import Final

import msgspec

from agentwatch.protocol import History, Snapshot

#: Seconds of received values kept for a sparkline (as many as a full collector's history).
SERIES_SECONDS: Final = 120
#: Scopes (the fleet and drilled agents) whose series are kept; the oldest is forgotten.
MAX_SCOPES: Final = 4

#: The snapshot's fields, each read as raw JSON: present or not, never converted.
_Presence = msgspec.defstruct(
    "_Presence",
    [(name, msgspec.Raw, msgspec.field(default_factory=msgspec.Raw)) for name in Snapshot.__struct_fields__],
)
_presence_decoder: Final = msgspec.json.Decoder(_Presence)
_NULL: Final = b"null"

#: What a snapshot carried: the names of the fields present, or None when that is not known
#: (a snapshot not decoded from the stream is taken as whole).
SentFields = frozenset[str] | None


def sent_fields(data: str | bytes) -> SentFields:
    """The snapshot fields present (and not ``null``) in this JSON; None when it cannot be read."""
    try:
        presence = _presence_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return frozenset(
        name
        for name in Snapshot.__struct_fields__
        if (raw := getattr(presence, name)) and bytes(raw).strip() != _NULL
    )


def was_sent(sent: SentFields, field: str) -> bool:
    """True when the collector sent ``field`` (always, when what it sent is not known)."""
    return sent is None or field in sent


_HISTORY: Final = "history"
#: The snapshot fields History keeps a per-second series of (tokens/s, p99, error rate, events/s).
_SERIES: Final = tuple(name for name in History.__struct_fields__ if name in Snapshot.__struct_fields__)


class ReceivedHistory:
    """Per scope (fleet or one agent): which fields its snapshots carry, and per-second series.

    :meth:`add` takes each decoded snapshot with its :func:`sent_fields`. When the snapshot
    has no ``history``, one is made from the last :data:`SERIES_SECONDS` seconds of snapshots
    received (a second without one repeats the value before it); fields the collector does
    not send stay empty series. Bounded: :data:`SERIES_SECONDS` values for at most
    :data:`MAX_SCOPES` scopes.
    """

    def __init__(self) -> None:
        self._sent: dict[str | None, SentFields] = {}
        self._series: dict[str | None, deque[tuple[int, tuple[float | None, ...]]]] = {}

    def sent(self, snapshot: Snapshot | None) -> SentFields:
        """The fields the last snapshot of this snapshot's scope carried (None: not known)."""
        if snapshot is None:
            return None
        return self._sent.get(snapshot.agent)

    def add(self, snapshot: Snapshot, sent: SentFields) -> None:
        scope = snapshot.agent
        self._sent.pop(scope, None)
        self._sent[scope] = sent
        while len(self._sent) > MAX_SCOPES:
            forgotten = next(iter(self._sent))
            del self._sent[forgotten]
            self._series.pop(forgotten, None)
        if sent is None or _HISTORY in sent:
            self._series.pop(scope, None)
            return
        series = self._series.setdefault(scope, deque(maxlen=SERIES_SECONDS))
        second = int(snapshot.timestamp)
        values = tuple(getattr(snapshot, name) if name in sent else None for name in _SERIES)
        if series and second < series[-1][0]:
            series.clear()  # the collector's clock went back: start again
        if series and series[-1][0] == second:
            series.pop()
        elif series:
            last_second, last_values = series[-1]
            for gap in range(max(last_second + 1, second - SERIES_SECONDS), second):
                series.append((gap, last_values))
        series.append((second, values))
        snapshot.history = self._history(series, second, sent)

    @staticmethod
    def _history(
        series: deque[tuple[int, tuple[float | None, ...]]], end: int, sent: frozenset[str]
    ) -> History:
        columns = zip(*(values for _, values in series), strict=True)
        history = History(end=float(end))
        for name, column in zip(_SERIES, columns, strict=True):
            if name in sent:
                setattr(history, name, list(column))
        return history
