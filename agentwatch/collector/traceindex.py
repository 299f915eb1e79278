"""Which trace an event belongs to, and an index of the log ring by it.

:func:`trace_key` is the one rule: an event's ``trace_id``, or, when it has none, the prompt or turn
id its attributes name (:data:`~agentwatch.protocol.PROMPT_ID_ATTRIBUTES`), so programs that send
events and no traces (Claude Code without its beta traces) still group one prompt's events. The
store keys its rows by the same rule (:func:`trace_hash`).

:class:`TraceIndex` maps keys to the ids the log hub's ring holds. It is brought up to date when
read (:meth:`TraceIndex.catch_up`), never on the ingest path: publishing stays as cheap as before.
A ring slot whose event was encoded into its frame (and freed) before the index read it left its key
behind (:meth:`TraceIndex.built`). Ids leave the index as they leave the ring, so it holds at most
as many ids as the ring; a key whose ids are all gone is forgotten.
"""

from __future__ import annotations

import zlib
from array import array
from collections import deque
from collections.abc import Iterable
from typing import Final

from agentwatch.protocol import MAX_SHORT_FIELD_LENGTH, PROMPT_ID_ATTRIBUTES, Event, LogEntry

__all__ = ["TraceIndex", "entry_trace_key", "trace_hash", "trace_key"]

#: Held ids of a key are compacted once its list holds this many more than are still held.
_COMPACT_SLACK: Final = 16


def trace_key(event: Event) -> str | None:
    """The id an event is found under by ``/api/traces``: its ``trace_id``, else its prompt/turn id."""
    key = event.trace_id
    if key:
        return key
    attributes = event.attributes
    return _prompt_id(attributes) if attributes else None


def entry_trace_key(entry: LogEntry) -> str | None:
    """:func:`trace_key` of the event a log line was built from (its metadata holds the attributes)."""
    if entry.trace_id:
        return entry.trace_id
    attributes = entry.metadata.get("attributes")
    return _prompt_id(attributes) if isinstance(attributes, dict) else None


def _prompt_id(attributes: dict[str, object]) -> str | None:
    for name in PROMPT_ID_ATTRIBUTES:
        value = attributes.get(name)
        if value.__class__ is str and value and len(value) <= MAX_SHORT_FIELD_LENGTH:
            return value
    return None


def trace_hash(key: str) -> int:
    """The store's index value for a key (CRC-32: stable across runs, a small integer to index;
    rows it finds are checked against the key itself)."""
    return zlib.crc32(key.encode())


class TraceIndex:
    """Trace key → ids held by the log ring (see the module docstring). ``capacity``: the ring's size.

    Single-threaded, like the hub.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        #: Every held id up to here has been read into the index.
        self.indexed_until = 0
        # No container per id (ints, strs and arrays are not tracked by the garbage collector, so
        # indexing a whole ring triggers no full collection): a key's ids are an int, or an array.
        self._ids: dict[str, int | array[int]] = {}
        self._live: dict[str, int] = {}  # how many of a key's listed ids are still held
        self._order_ids: deque[int] = deque()  # ids in order, for eviction
        self._order_keys: deque[str] = deque()  # and their keys
        self._built: dict[int, str] = {}  # keys of slots encoded before they were indexed

    def built(self, entry_id: int, key: str | None) -> None:
        """A slot is losing its event (encoded into its frame): keep its key until it is indexed."""
        if key is None or entry_id <= self.indexed_until:
            return
        built = self._built
        built[entry_id] = key
        if len(built) > self.capacity:  # nobody reads the index: keep what the ring can still hold
            floor = entry_id - self.capacity
            self._built = {i: k for i, k in built.items() if i > floor}

    def catch_up(
        self, slots: Iterable[tuple[int, str, int, bytes | Event]], last_id: int, oldest_held: int
    ) -> None:
        """Read the hub's held slots (ascending, above :attr:`indexed_until`) up to ``last_id``, then
        forget ids below ``oldest_held``. Costs O(len(slots)): call it in steps to bound a pause."""
        ids, live, built = self._ids, self._live, self._built
        order_ids, order_keys = self._order_ids, self._order_keys
        for entry_id, _, _, held in slots:
            if held.__class__ is bytes:
                key = built.pop(entry_id, None)
            else:
                key = held.trace_id  # type: ignore[union-attr]  # not bytes: the Event
                if not key:
                    attributes = held.attributes  # type: ignore[union-attr]
                    key = _prompt_id(attributes) if attributes else None
            if key is None:
                continue
            listed = ids.get(key)
            if listed is None:
                ids[key] = entry_id
                live[key] = 1
            elif listed.__class__ is int:
                ids[key] = array("q", (listed, entry_id))
                live[key] += 1
            else:
                listed.append(entry_id)  # type: ignore[union-attr]  # not an int: an array
                count = live[key] = live[key] + 1
                if len(listed) > 2 * count + _COMPACT_SLACK:  # type: ignore[arg-type]
                    ids[key] = array("q", [i for i in listed if i >= oldest_held])  # type: ignore[union-attr]
            order_ids.append(entry_id)
            order_keys.append(key)
        self.indexed_until = max(self.indexed_until, last_id)
        while order_ids and order_ids[0] < oldest_held:
            order_ids.popleft()
            key = order_keys.popleft()
            left = live[key] - 1
            if left:
                live[key] = left
            else:
                del live[key], ids[key]

    def ids(self, key: str, oldest_held: int) -> list[int]:
        """Held ids of ``key``, ascending (call :meth:`catch_up` first)."""
        listed = self._ids.get(key, ())
        if listed.__class__ is int:
            return [listed] if listed >= oldest_held else []
        return [i for i in listed if i >= oldest_held]  # type: ignore[union-attr]

    def __len__(self) -> int:
        """Ids indexed now (at most the ring's size once caught up)."""
        return len(self._order_ids)
