"""The log ring's events, held a batch at a time as one msgpack message, decoded when read.

A decoded :class:`~agentwatch.protocol.Event` is a dozen Python objects or so. Held in the ring
until it is evicted, long after it left the CPU cache, freeing those objects (and reusing their
cold memory for the next decode) is most of what holding it costs. So the ring holds a
:class:`HeldBatch` per published batch instead: the batch's events packed into one ``bytes``
(msgspec's msgpack, which gives back events equal to those packed: floats bit for bit, -0.0, NaN
and infinities included, 64-bit ints, any unicode, nested attributes; a tuple or set an event was
built with in process comes back a list, the same JSON), and every ring slot of the batch refers
to that one object, so the decoded events are freed at once, while still hot, and eviction frees
one object per batch. A batch with a value msgpack cannot carry (an int beyond 64 bits, a type
of its own) is kept decoded, as the ring held every event before (counted in
:attr:`HeldBatches.unpacked_total`).

Readers on the event loop decode a batch when they need its events (:meth:`HeldBatches.events`);
the last few decoded are kept (least recently used first out), so a reader walking the ring decodes
each batch once and memory stays bounded. A batch's times (what a search by time reads) are kept
beside it once it was decoded (:func:`batch_times`), a few bytes per event.

:class:`HeldBatches` is single-threaded, like the hub. :func:`unpack`, :func:`batch_times` and a
:class:`BatchReader` (a worker thread's own) may run in any thread: a packed batch never changes,
and its times are set once (two threads computing them set equal ones).
"""

from __future__ import annotations

from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Final

import msgspec

from agentwatch.protocol import Event

__all__ = [
    "BATCH_EVENTS",
    "DECODED_BATCHES",
    "BatchReader",
    "HeldBatch",
    "HeldBatches",
    "Redo",
    "batch_times",
    "unpack",
]

#: Most events in one held batch (a larger published batch is split): what reading one entry decodes.
BATCH_EVENTS: Final = 2048
#: Held batches kept decoded at once (so at most this many times :data:`BATCH_EVENTS` events).
DECODED_BATCHES: Final = 8

_encode: Final = msgspec.msgpack.Encoder().encode
_decode: Final = msgspec.msgpack.Decoder(list[Event]).decode


#: Makes a batch's events again, equal to those published (e.g. decoding the request body they came in).
Redo = Callable[[], list[Event]]


class HeldBatch:
    """Events with consecutive log ids from ``first``: packed (``data``), made again when read
    (``redo``: the publisher's recipe, e.g. its request body decoded again), or kept as they are
    (``events``) when they cannot be packed. ``times``: each event's timestamp (0.0 where it is not
    a float, and then ``odd_times``), once decoded."""

    __slots__ = ("__weakref__", "count", "data", "events", "first", "odd_times", "redo", "times")

    def __init__(
        self, first: int, count: int, data: bytes | None, events: list[Event] | None, redo: Redo | None = None
    ) -> None:
        self.first = first
        self.count = count
        self.data = data
        self.events = events
        self.redo = redo
        self.times: array[float] | None = None
        self.odd_times = False

    def __repr__(self) -> str:
        if self.redo is not None:
            packed = "made again when read"
        else:
            packed = "unpacked" if self.data is None else f"{len(self.data)} bytes"
        return f"HeldBatch(first={self.first}, count={self.count}, {packed})"


def unpack(batch: HeldBatch) -> list[Event]:
    """The batch's events, decoded anew (kept ones as they are); notes its times. Any thread."""
    events = batch.events
    if events is None:
        if batch.redo is not None:
            events = batch.redo()
            if len(events) != batch.count:  # not the batch published: a recipe that broke its promise
                raise RuntimeError(f"a held batch of {batch.count} events was made again as {len(events)}")
        else:
            assert batch.data is not None  # not kept as events: packed
            events = _decode(batch.data)
    if batch.times is None:
        stamps: list[Any] = [event.timestamp for event in events]
        odd = any(stamp.__class__ is not float for stamp in stamps)
        if odd:
            stamps = [stamp if stamp.__class__ is float else 0.0 for stamp in stamps]
        times: array[float] = array("d", stamps)
        batch.odd_times = odd
        batch.times = times  # set last: a reader seeing times sees odd_times too
    return events


def batch_times(batch: HeldBatch) -> array[float]:
    """Each event's timestamp (see :class:`HeldBatch`), decoding the batch the first time. Any thread."""
    times = batch.times
    if times is None:
        unpack(batch)
        times = batch.times
        assert times is not None
    return times


class BatchReader:
    """Events of held batches for one reader (e.g. a worker thread): the last batch decoded is kept,
    so reading entries in id order decodes each batch once."""

    def __init__(self) -> None:
        self._batch: HeldBatch | None = None
        self._events: list[Event] = []
        #: Batches this reader decoded.
        self.decoded = 0

    def event(self, batch: HeldBatch, entry_id: int) -> Event:
        """The event of log id ``entry_id`` (one of the batch's)."""
        if batch is not self._batch:
            self._events = unpack(batch)
            self._batch = batch
            self.decoded += 1
        return self._events[entry_id - batch.first]


class HeldBatches:
    """Packs published events into :class:`HeldBatch` records and decodes them, the last
    ``decoded`` of them cached (see the module docstring)."""

    def __init__(self, decoded: int = DECODED_BATCHES) -> None:
        if decoded < 1:
            raise ValueError("decoded must be ≥ 1")
        self.capacity = decoded
        self._decoded: OrderedDict[HeldBatch, list[Event]] = OrderedDict()
        #: Batches decoded for readers (a cache miss each).
        self.decoded_total = 0
        #: Batches kept as events because msgpack could not carry one of their values.
        self.unpacked_total = 0
        #: Batches held as their publisher's recipe (not packed).
        self.redone_total = 0

    def pack(
        self, first: int, events: Sequence[Event], *, keep: bool = False, redo: Redo | None = None
    ) -> list[HeldBatch]:
        """The held batch of each event (event ``i`` has id ``first + i``): one per
        :data:`BATCH_EVENTS` events, the same object for all of its events.

        ``keep``: the events are about to be read (a viewer follows the log), so they go into the
        decoded cache as they are, and their readers do not decode what was just packed.
        ``redo``: how to make ``events`` again (equal, in order); then nothing is packed at all, the
        batch keeps the recipe (for at most :data:`BATCH_EVENTS` events; more are packed)."""
        count = len(events)
        if redo is not None and count <= BATCH_EVENTS:
            self.redone_total += 1
            batch = HeldBatch(first, count, None, None, redo)
            if keep:
                self._remember(batch, list(events))
            return [batch] * count
        if count <= BATCH_EVENTS:
            return [self._batch(first, events, keep)] * count
        slots: list[HeldBatch] = []
        for start in range(0, count, BATCH_EVENTS):
            part = events[start : start + BATCH_EVENTS]
            slots += [self._batch(first + start, part, keep)] * len(part)
        return slots

    def _batch(self, first: int, events: Sequence[Event], keep: bool) -> HeldBatch:
        try:
            batch = HeldBatch(first, len(events), _encode(events), None)
        except (OverflowError, TypeError, ValueError, msgspec.EncodeError):
            self.unpacked_total += 1
            return HeldBatch(first, len(events), None, list(events))
        if keep:
            self._remember(batch, list(events))
        return batch

    def events(self, batch: HeldBatch) -> list[Event]:
        """The batch's events (do not change them: they are shared with later readers)."""
        kept = batch.events
        if kept is not None:
            return kept
        decoded = self._decoded
        events = decoded.get(batch)
        if events is not None:
            decoded.move_to_end(batch)
            return events
        events = unpack(batch)
        self.decoded_total += 1
        self._remember(batch, events)
        return events

    def _remember(self, batch: HeldBatch, events: list[Event]) -> None:
        decoded = self._decoded
        decoded[batch] = events
        if len(decoded) > self.capacity:
            decoded.popitem(last=False)

    def event(self, batch: HeldBatch, entry_id: int) -> Event:
        """The event of log id ``entry_id`` (one of the batch's)."""
        return self.events(batch)[entry_id - batch.first]

    @property
    def decoded_count(self) -> int:
        """Batches held decoded now (at most the capacity)."""
        return len(self._decoded)
