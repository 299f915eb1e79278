"""Fan-out of log entries to Server-Sent Events subscribers: sequence ids, a shared ring, cursors.

:class:`LogHub` gives each log entry a sequence id and keeps it in a bounded ring. Entries
published as events (:meth:`LogHub.publish_events`, the ingest path) are kept as their batch,
packed (:mod:`~agentwatch.collector.logbatches`: every slot of a batch refers to one
:class:`~agentwatch.collector.logbatches.HeldBatch`): the log line and its SSE frame are built the
first time a subscriber or :meth:`LogHub.entries_after` needs them, then cached in the slot, so
each entry is encoded **once**, and never when nobody reads it. A :class:`Subscription` is only a
cursor into that ring: it reads from the last id it delivered, so a frame is shared (the same
``bytes`` object) by every subscriber, and publishing never waits for, nor grows with, a slow
subscriber. A subscriber that falls more than ``max_lag`` entries behind skips ahead and is told
how many entries it lost (``event: dropped``); a reconnecting one that asks for entries the ring
no longer holds gets them from the hub's :attr:`LogHub.backfill` (the store) where it has them,
read in a worker thread, and is told how many it missed (``event: gap``) for the rest.

Ids are never reused, even across a crash: with :attr:`LogHub.reserve` set (the store's
:meth:`~agentwatch.collector.store.Store.reserve_ids`), no id is handed out before it is durably
recorded, and a restarted hub continues after the recorded mark (:meth:`LogHub.preload_events`).
The ids between the last stored entry and that mark are a *hole*: they were handed out and lost
in the crash; a subscriber reading into it is sent ``event: gap`` for them. Ingest that must be
durable before it is shown allocates ids first (:meth:`LogHub.allocate`) and settles them later
(:meth:`LogHub.publish_allocated` or :meth:`LogHub.cancel`); entries become visible in id order,
whatever order they settle in.

Restarts are visible: every hub has a random :attr:`LogHub.run` and belongs to an id
:attr:`LogHub.sequence` (the store's, while ids continue from its mark; a new one otherwise).
Frames carry ``id: <sequence>:<n>``, and every stream begins with ``event: hello`` naming both. A
subscriber resuming after an id of another sequence (the collector restarted without its ids) is
sent ``event: reset`` and then everything this run still holds.

A slow subscriber is told promptly: besides falling ``max_lag`` entries behind, a subscriber whose
next live entry was published more than ``max_delay`` seconds ago skips what is that old
(``event: dropped``). With the bytes in flight to it bounded (see
:func:`~agentwatch.collector.sse.bound_stream`), that happens soon after it stops keeping up.

Single-threaded: call every method from the event loop's thread. Nothing here knows about HTTP:
the web layer wraps ``frames()`` in a streaming response.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

import msgspec

from agentwatch.collector.compiled import load_wanted
from agentwatch.collector.idmark import new_sequence, valid_sequence
from agentwatch.collector.logbatches import HeldBatch, HeldBatches, Redo
from agentwatch.collector.loglines import event_to_log_entry, log_rank, log_rows
from agentwatch.collector.logsubscription import MAX_BATCH, Subscription, log_frame
from agentwatch.collector.sse import sse_frame
from agentwatch.collector.traceindex import TraceIndex, entry_trace_key, trace_key
from agentwatch.protocol import (
    SSE_GAP,
    SSE_HELLO,
    SSE_RESET,
    Event,
    Gap,
    Hello,
    LogEntry,
    Reset,
    json_encoder,
    level_rank,
)

__all__ = ["MAX_BATCH", "Backfill", "LogHub", "Subscription", "held_entry", "parse_event_id"]

#: Most bytes of log frames in one such batch (a batch stops after the frame that reaches it).
#: A viewer that lags holds one unsent batch in the server's write buffer, beside the buffer's
#: own 64 KiB, so this bounds what lagging viewers pin; a viewer that keeps up with a high rate
#: may get two writes where one would do.
MAX_BATCH_BYTES: Final = 64 * 1024
#: Restart holes remembered for gap notices (one per restart after a crash; the oldest go first).
MAX_HOLES: Final = 64
#: Seconds a live entry may wait for a subscriber before it is skipped (``LogHub(max_delay=)``).
MAX_DELAY: Final = 1.0
#: Seconds between two publish-time marks (how finely the age of entries is known).
AGE_MARK_INTERVAL: Final = 0.05
#: Longest event id accepted on resume (``<sequence>:<n>``).
MAX_EVENT_ID_LENGTH: Final = 64

_log_decoder: Final = msgspec.json.Decoder(LogEntry)
_LOG_PREFIX_MARK: Final = b"\ndata: "

# One ring slot as read: (id, agent_id, level rank, encoded SSE frame — or the Event it is built from).
_Slot = tuple[int, str, int, "bytes | Event"]
# One ring slot as kept: the same, with the batch holding its event in place of the event.
_RawSlot = tuple[int, str, int, "bytes | HeldBatch"]
# What a slot of the held column holds: a frame, or the batch holding its event (None: never used).
_Held = bytes | HeldBatch
# Entries with consecutive ids as written: (agent ids, level ranks, frames or held batches), one
# column each. The ring keeps the same columns, so publishing makes no object per entry.
_Rows = tuple[list[str], list[int], "Sequence[_Held]"]


def _replace_slice(ring: list[_Held | None], start: int, items: Sequence[_Held]) -> None:
    """``ring[start:start + len(items)] = items`` (the evicted entries are freed)."""
    ring[start : start + len(items)] = items


def _load_replace() -> Callable[[list[_Held | None], int, Sequence[_Held]], None]:
    """``_ingestscan.replace`` where built and wanted: the same, with the evicted entries (long out of
    the cache, and most of what publishing costs) fetched ahead of freeing them."""
    scan = load_wanted("_ingestscan")
    if scan is None:
        return _replace_slice
    compiled: Callable[[list[_Held | None], int, list[_Held]], None] = scan.replace

    def replace(ring: list[_Held | None], start: int, items: Sequence[_Held]) -> None:
        compiled(ring, start, items if isinstance(items, list) else list(items))

    return replace


_replace = _load_replace()

Backfill = Callable[[int, int, int, "str | None", int], tuple[int, list[LogEntry]]]
"""``backfill(after, before, limit, agent, min_rank) -> (first_held, entries)``: older log lines.

``entries``: held lines with ``after < id < before`` matching the filters (agent, rank ≥
``min_rank``), ascending, at most ``limit``; ``first_held``: the smallest id > ``after`` held at
all (``before`` if none), so ids ``after+1 … first_held-1`` are known to be gone. Blocking: the
hub calls it in a worker thread. May raise; the subscriber is then told of a gap instead.
"""


def parse_event_id(text: str) -> tuple[str | None, int]:
    """A resume point: ``<sequence>:<n>`` (what the stream sends) or a bare ``n`` (sequence None).

    Raises ValueError, with a message fit for a 400, for anything else.
    """
    text = text.strip()
    if len(text) > MAX_EVENT_ID_LENGTH or not text.isascii():
        raise ValueError("must be <sequence>:<n> or a non-negative integer")
    sequence, colon, number = text.rpartition(":")
    if not number.isdigit() or len(number) > 18 or (colon and not valid_sequence(sequence)):
        raise ValueError("must be <sequence>:<n> or a non-negative integer")
    return (sequence if colon else None), int(number)


def held_entry(entry_id: int, held: bytes | Event) -> LogEntry:
    """The log line of a held ring entry: decoded from its frame, or built from its event."""
    if held.__class__ is bytes:
        frame: bytes = held
        return _log_decoder.decode(frame[frame.index(_LOG_PREFIX_MARK) + len(_LOG_PREFIX_MARK) : -2])
    entry = event_to_log_entry(held)  # type: ignore[arg-type]  # not bytes: the Event
    entry.id = entry_id
    return entry


class LogHub:
    """Sequence numbers, a shared ring of encoded log frames, and the subscriptions reading it.

    ``history``: entries kept for replay and resume (older ones are forgotten, oldest first).
    ``max_lag``: how far (in entries) a subscriber may fall behind the newest entry before it
    skips ahead and is sent ``event: dropped``. ``replay``: entries sent first to a subscriber
    that does not resume from an id. ``first_id``: id of the first published entry.
    ``max_delay``: seconds a live entry may wait for a subscriber before it skips it (and is told
    with ``event: dropped``), on the ``monotonic`` clock.
    Memory is O(history); publish is O(entries + subscribers) and never awaits.
    """

    def __init__(
        self,
        *,
        history: int = 50_000,
        max_lag: int = 10_000,
        replay: int = 1000,
        first_id: int = 1,
        clock: Callable[[], float] = time.time,
        max_delay: float = MAX_DELAY,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if history < 1 or max_lag < 1 or replay < 0 or first_id < 1 or not max_delay > 0:
            raise ValueError("history and max_lag must be ≥ 1, replay ≥ 0, first_id ≥ 1, max_delay > 0")
        self.history = history
        self.max_lag = max_lag
        self.replay = replay
        self.max_delay = max_delay
        self._clock = clock
        self._monotonic = monotonic
        #: (monotonic time, last id then), at most one per AGE_MARK_INTERVAL, oldest first.
        self._age_marks: deque[tuple[float, int]] = deque()
        #: Random, new at every start of the collector (told in ``event: hello``).
        self.run = secrets.token_hex(4)
        #: The id sequence: ids of frames read ``<sequence>:<n>``; see :meth:`preload_events`.
        self.sequence = new_sequence()
        #: Ids continue an earlier run's (set by a preload that restores ids).
        self.continued = False
        #: Ids up to here may include some never handed out: gap counts reaching them are bounds.
        self.exact_after = 0
        self._id_prefix = b"id: %b:" % self.sequence.encode()
        self._run_first = first_id  # the first id this run hands out
        # The ring, one list per column: slot ``id % history`` holds entry ``id`` of the held ids
        # (oldest_held…last_id), or None in the held column where that id never was an entry (ids
        # are implied by the slot, so no int object per entry is made, kept and freed).
        self._agents: list[str] = [""] * history
        self._ranks: list[int] = [0] * history
        self._held: list[_Held | None] = [None] * history
        #: The held batches' packing, and the few of them decoded for readers.
        self.batches = HeldBatches()
        self._first_held = first_id  # lowest id ever put in the ring (ids below it never existed here)
        self.last_id = first_id - 1
        self.published_total = 0
        self.dropped_total = 0
        self.gap_total = 0
        #: Subscribers resuming after an id of another sequence (told ``event: reset``).
        self.resets_total = 0
        self.last_publish_time: float | None = None
        self._subscriptions: set[Subscription] = set()
        #: Where entries older than the ring are read on resume (None: they are a gap).
        self.backfill: Backfill | None = None
        self.backfilled_total = 0
        self.backfill_errors = 0
        #: ``reserve(last) -> limit``: makes ids up to ``last`` durably reserved and returns the id
        #: up to which the hub may hand out ids without asking again (≥ ``last``); None: no store.
        self.reserve: Callable[[int], int] | None = None
        self._reserved_until = 0
        self._next_id = first_id  # next id to hand out (allocated ids may be unsettled)
        self._settled = first_id - 1  # every id up to here is published or cancelled
        self._pending: dict[int, tuple[int, _Rows | None]] = {}  # first id → (count, rows | None)
        #: (first, last) id ranges skipped at a restart: never stored, told to readers as gaps.
        self._holes: list[tuple[int, int]] = []
        self.traces = TraceIndex(history)  # trace key → held ids, caught up when read

    # ----------------------------------------------------------------- writing
    def publish(self, entries: Sequence[LogEntry]) -> None:
        """Number ``entries`` (sets ``entry.id``), encode each once, store, wake subscribers."""
        if not entries:
            return
        first = self._take_ids(len(entries), reserve=True)
        for entry_id, entry in enumerate(entries, first):
            entry.id = entry_id
            self.traces.built(entry_id, entry_trace_key(entry))
        prefix = self._id_prefix
        rows: _Rows = (
            [e.agent_id for e in entries],
            [level_rank(e.level) for e in entries],
            [log_frame(prefix, e.id, json_encoder.encode(e)) for e in entries],
        )
        self._settle(first, len(entries), rows)

    def publish_events(self, events: Sequence[Event], redo: Redo | None = None) -> int:
        """Give each event's log line the next id and hold the events; returns the first id.

        Ids are consecutive: event ``i`` gets ``first + i``. The events are packed at once (see
        :mod:`~agentwatch.collector.logbatches`), or with ``redo`` (a way to make the same events
        again, e.g. decoding their request body anew) only that is kept: the hub keeps no reference
        to them. The log line
        (:func:`~agentwatch.collector.loglines.event_to_log_entry`) and its frame are built only
        when first read; the level filters compare is :func:`~agentwatch.collector.loglines.log_rank`,
        the same rule the log line's level follows.
        O(len(events)), one msgpack encoding; never awaits. With no events, returns the next id.
        While earlier allocated ids are unsettled, the entries wait for them (see :meth:`allocate`).
        """
        if not events:
            return self._next_id
        first = self._take_ids(len(events), reserve=True)
        self._settle(first, len(events), self._event_rows(first, events, redo))
        return first

    def allocate(self, count: int) -> int:
        """Hand out ``count`` consecutive ids now, for entries shown later; returns the first.

        Settle them with :meth:`publish_allocated` or :meth:`cancel` — until then every later
        entry waits, so subscribers see ids in order. Not reserved with :attr:`reserve`: meant for
        entries stored before they are shown (an id no one saw may be reused after a crash).
        """
        if count < 1:
            raise ValueError("count must be ≥ 1")
        return self._take_ids(count, reserve=False)

    def publish_allocated(self, first: int, events: Sequence[Event]) -> None:
        """Show events under ids from :meth:`allocate` (event ``i`` gets ``first + i``)."""
        self._settle(first, len(events), self._event_rows(first, events))

    def cancel(self, first: int, count: int) -> None:
        """Give up allocated ids: they are never shown (nor handed out again)."""
        self._settle(first, count, None)

    def _event_rows(self, first: int, events: Sequence[Event], redo: Redo | None = None) -> _Rows:
        agents, ranks = log_rows(events)
        return agents, ranks, self.batches.pack(first, events, keep=bool(self._subscriptions), redo=redo)

    def _take_ids(self, count: int, *, reserve: bool) -> int:
        first = self._next_id
        last = first + count - 1
        if reserve and last > self._reserved_until and self.reserve is not None:
            self._reserved_until = self.reserve(last)
        self._next_id = last + 1
        return first

    def _settle(self, first: int, count: int, rows: _Rows | None) -> None:
        """Publish (or skip, for ``None``) ids ``first…`` once every earlier id is settled."""
        if first == self._settled + 1 and not self._pending:  # the common case: nothing waits
            if rows is not None:
                self._put(first, rows)
            self._settled = first + count - 1
            return
        self._pending[first] = (count, rows)
        while (item := self._pending.pop(self._settled + 1, None)) is not None:
            count, waiting = item
            if waiting is not None:
                self._put(self._settled + 1, waiting)
            self._settled += count

    def _put(self, first: int, rows: _Rows) -> None:
        """Store rows for ids ``first…`` (consecutive, above :attr:`last_id`), wake subscribers."""
        size = self.history
        if first > self.last_id + 1:  # ids skipped (cancelled): their slots must not show older entries
            self._clear(self.last_id + 1, first - 1)
        agents, ranks, held = rows
        count = len(held)
        kept = min(count, size)  # only the newest ``history`` can be held
        if kept < count:
            agents, ranks, held = agents[count - size :], ranks[count - size :], held[count - size :]
        low = first + count - kept
        start = low % size
        stop = start + kept
        if stop <= size:
            self._agents[start:stop] = agents
            self._ranks[start:stop] = ranks
            _replace(self._held, start, held)
        else:
            split, wrapped = size - start, stop - size
            self._agents[start:] = agents[:split]
            self._agents[:wrapped] = agents[split:]
            self._ranks[start:] = ranks[:split]
            self._ranks[:wrapped] = ranks[split:]
            _replace(self._held, start, held[:split])
            _replace(self._held, 0, held[split:])
        self.last_id = first + count - 1
        self.published_total += count
        self.last_publish_time = self._clock()
        now = self._monotonic()
        marks = self._age_marks
        if not marks or now - marks[-1][0] >= AGE_MARK_INTERVAL:
            marks.append((now, self.last_id))
            self._stale_id(now)  # keeps the marks bounded
        for subscription in self._subscriptions:
            subscription._wake.set()

    def _clear(self, low: int, high: int) -> None:
        """Empty the slots of ids ``low..high`` (never entries), about to enter the held range."""
        size, held = self.history, self._held
        for entry_id in range(max(low, high - size + 1), high + 1):
            held[entry_id % size] = None

    def preload(
        self,
        entries: Sequence[LogEntry],
        *,
        last_id: int | None = None,
        sequence: str | None = None,
        exact_after: int = 0,
    ) -> None:
        """Restore history (e.g. from the store) keeping its ids; call before publishing.

        Entries must be in ascending id order; any whose id is not above the current
        :attr:`last_id` is ignored. Later ids continue after the largest one seen, or after
        ``last_id`` when that is larger (ids are never reused, even if the entries are gone);
        the ids between the largest held entry and ``last_id`` are a hole, told as a gap.
        ``sequence`` names the id sequence these ids belong to (the store's); ``exact_after``:
        ids up to it may include some never handed out (gaps reaching them are upper bounds).
        Call it before anything is published or allocated.
        """
        self._set_sequence(sequence, exact_after)
        prefix = self._id_prefix
        for entry in entries:
            self.traces.built(entry.id, entry_trace_key(entry))
        self._preload(
            [
                (e.id, e.agent_id, level_rank(e.level), log_frame(prefix, e.id, json_encoder.encode(e)))
                for e in entries
                if e.id > self.last_id
            ],
            last_id,
        )

    def preload_events(
        self,
        items: Sequence[tuple[int, Event]],
        *,
        last_id: int | None = None,
        sequence: str | None = None,
        exact_after: int = 0,
    ) -> None:
        """Like :meth:`preload` for (log id, event) pairs (e.g. the store's rows); lines built lazily.

        The events are packed as published ones are, a run of consecutive ids at a time.
        """
        self._set_sequence(sequence, exact_after)
        items = [(i, e) for i, e in items if i > self.last_id]
        slots: list[_RawSlot] = []
        at = 0
        while at < len(items):  # each step packs one run of consecutive ids
            first = items[at][0]
            end = at + 1
            while end < len(items) and items[end][0] == first + end - at:
                end += 1
            events = [event for _, event in items[at:end]]
            held = self.batches.pack(first, events)
            slots += [(first + n, e.agent_id, log_rank(e), held[n]) for n, e in enumerate(events)]
            at = end
        self._preload(slots, last_id)

    def _set_sequence(self, sequence: str | None, exact_after: int) -> None:
        if sequence is not None:
            if not valid_sequence(sequence):
                raise ValueError(f"not a sequence name: {sequence!r}")
            self.sequence = sequence
            self._id_prefix = b"id: %b:" % sequence.encode()
        self.exact_after = max(self.exact_after, exact_after)

    def _preload(self, slots: Sequence[_RawSlot], last_id: int | None) -> None:
        size = self.history
        for slot_id, agent_id, rank, held in slots:
            if slot_id <= self.last_id:
                continue
            if self.published_total == 0 and self.last_id < self._first_held:
                self._first_held = slot_id  # nothing held yet: history starts here
            elif slot_id > self.last_id + 1:
                self._clear(self.last_id + 1, slot_id - 1)
            at = slot_id % size
            self._agents[at], self._ranks[at], self._held[at] = agent_id, rank, held
            self.last_id = slot_id
        if last_id is not None and last_id > self.last_id:
            if self.last_id < self._first_held:
                self._first_held = last_id + 1
            else:  # ids after the last held entry were reserved but never stored
                self._holes = [*self._holes[-(MAX_HOLES - 1) :], (self.last_id + 1, last_id)]
                self._clear(self.last_id + 1, last_id)
            self.last_id = last_id
        self._next_id = self._run_first = self.last_id + 1
        self._settled = self.last_id
        self.continued = self.last_id > 0
        for subscription in self._subscriptions:
            subscription._wake.set()

    # ----------------------------------------------------------------- reading
    def _stale_id(self, now: float) -> int:
        """Ids up to the returned one were published at least :attr:`max_delay` seconds ago."""
        marks = self._age_marks
        horizon = now - self.max_delay
        while len(marks) > 1 and marks[1][0] <= horizon:
            marks.popleft()
        return marks[0][1] if marks and marks[0][0] <= horizon else 0

    @property
    def oldest_held(self) -> int:
        """Smallest id the ring can still hold (``last_id + 1`` when it is empty)."""
        return max(self._first_held, self.last_id - self.history + 1)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def _slots(self, low: int, high: int) -> list[_RawSlot | None]:
        """Ring slots for ids ``low..high`` (inclusive, within the held range), in id order; None
        for an id that never was an entry (cancelled, or a hole left by a preload)."""
        if high < low:
            return []
        size = self.history
        start, stop = low % size, high % size
        agents, ranks, held = self._agents, self._ranks, self._held
        ids = range(low, high + 1)
        end = stop + 1
        if start <= stop:
            slots = zip(ids, agents[start:end], ranks[start:end], held[start:end], strict=True)
        else:
            slots = zip(
                ids,
                agents[start:] + agents[:end],
                ranks[start:] + ranks[:end],
                held[start:] + held[:end],
                strict=True,
            )
        return [None if slot[3] is None else slot for slot in slots]  # type: ignore[misc]

    def _matching(self, low: int, high: int, agent: str | None, min_rank: int) -> list[_RawSlot]:
        slots = self._slots(low, high)
        if agent is None:
            return [s for s in slots if s is not None and s[2] >= min_rank]
        return [s for s in slots if s is not None and s[1] == agent and s[2] >= min_rank]

    def _frames(
        self, low: int, high: int, agent: str | None, min_rank: int, budget: int = MAX_BATCH_BYTES
    ) -> tuple[list[bytes], int]:
        """Frames of the matching held entries in ``low..high``, built (and cached) where needed.

        Stops after the frame that brings the total to ``budget`` bytes; returns the frames and
        the last id they cover (``high`` when nothing was left out).
        """
        frames = []
        size = 0
        for slot in self._matching(low, high, agent, min_rank):
            frame = slot[3]
            if frame.__class__ is not bytes:
                frame = self._build(slot)
            frames.append(frame)
            size += len(frame)
            if size >= budget:
                return frames, slot[0]
        return frames, high

    def _build(self, slot: _RawSlot) -> bytes:
        """Encode a slot's log line once and cache the frame in the ring in place of its batch."""
        entry_id, _, _, batch = slot
        event = self.batches.event(batch, entry_id)  # type: ignore[arg-type]  # a slot to build: a batch
        self.traces.built(entry_id, trace_key(event))
        entry = event_to_log_entry(event)
        entry.id = entry_id
        frame = log_frame(self._id_prefix, entry_id, json_encoder.encode(entry))
        self._held[entry_id % self.history] = frame
        return frame

    def entries_after(self, after: int, limit: int) -> list[LogEntry]:
        """Held entries with id > ``after``, oldest first, at most ``limit``."""
        low = max(after + 1, self.oldest_held)
        high = min(self.last_id, low + max(limit, 0) - 1)
        return [held_entry(entry_id, held) for entry_id, _, _, held in self.held(low, high)]

    def held(self, low: int, high: int) -> list[_Slot]:
        """``(id, agent, level rank, frame or event)`` of the held entries with ids in ``low..high``.

        Events are decoded from their batches (see :meth:`HeldBatches.events
        <agentwatch.collector.logbatches.HeldBatches.events>`): do not change them.
        """
        decode = self.batches.events
        slots: list[_Slot] = []
        append = slots.append
        batch: HeldBatch | None = None
        events: list[Event] = []
        for slot in self.held_slots(low, high):
            held = slot[3]
            if held.__class__ is bytes:
                append(slot)  # type: ignore[arg-type]  # a frame
                continue
            if held is not batch:
                batch = held  # type: ignore[assignment]  # not bytes: a batch
                events = decode(batch)  # type: ignore[arg-type]
            entry_id = slot[0]
            append((entry_id, slot[1], slot[2], events[entry_id - batch.first]))  # type: ignore[union-attr]
        return slots

    def held_slots(self, low: int, high: int) -> list[_RawSlot]:
        """Like :meth:`held`, with the :class:`~agentwatch.collector.logbatches.HeldBatch` of each
        entry not yet built in place of its event: nothing is decoded (a worker thread may read the
        events with a :class:`~agentwatch.collector.logbatches.BatchReader`)."""
        low, high = max(low, self.oldest_held), min(high, self.last_id)
        return [s for s in self._slots(low, high) if s is not None]

    # ------------------------------------------------------------- subscribing
    def subscribe(
        self,
        *,
        agent: str | None = None,
        min_level: str | None = None,
        after: int | None = None,
        replay: int | None = None,
        sequence: str | None = None,
        hello: bool = False,
    ) -> Subscription:
        """A new subscription (counted at once; ``close()`` it, or iterate its frames to the end).

        With ``hello`` its stream begins with ``event: hello`` (what the web layer sends every
        viewer). ``after`` = N resumes: every held matching entry
        with id > N. Entries N+1… that the ring no longer holds come from :attr:`backfill` when
        set (before any from the ring); ``event: gap`` counts those that neither holds.
        ``sequence``: the sequence ``after`` belongs to (None: a bare number, taken as this one's).
        An ``after`` of another sequence, or above :attr:`last_id`, is from a run whose ids are
        gone: ``event: reset``, then every held entry of this run (as if resuming before its
        first id). Without ``after``: the last ``replay`` (default: the hub's) matching
        entries, then live ones. ``min_level`` is ranked with
        :func:`agentwatch.protocol.level_rank` (unknown → info).
        """
        if (after is not None and after < 0) or (replay is not None and replay < 0):
            raise ValueError("after and replay must be ≥ 0")
        min_rank = level_rank(min_level) if min_level is not None else 0
        notices = [self._hello()] if hello else []
        gap: Gap | None = None
        older: tuple[int, int] | None = None
        if after is not None and (after > self.last_id or sequence not in (None, self.sequence)):
            reset = Reset(
                sequence=self.sequence,
                previous=sequence or "",
                after=after,
                first_id=max(self._run_first, self.oldest_held),
            )
            notices.append(sse_frame(SSE_RESET, json_encoder.encode(reset)))
            self.resets_total += 1
            after = self._run_first - 1
        if after is not None:
            oldest = self.oldest_held
            cursor = after
            if after + 1 < oldest:
                if self.backfill is not None:
                    older = (after, oldest)
                else:
                    gap = self._gap(after, oldest)
                cursor = oldest - 1
        else:
            cursor = self._replay_start(agent, min_rank, self.replay if replay is None else replay)
        if gap is not None:
            notices.append(sse_frame(SSE_GAP, json_encoder.encode(gap)))
        subscription = Subscription(self, agent, min_rank, cursor, notices)
        subscription._older = older
        subscription._tell_holes = after is not None
        self._subscriptions.add(subscription)
        return subscription

    def _hello(self) -> bytes:
        hello = Hello(run=self.run, sequence=self.sequence, continued=self.continued, last_id=self.last_id)
        return sse_frame(SSE_HELLO, json_encoder.encode(hello))

    def _gap(self, after: int, before: int) -> Gap:
        """The notice for ids ``after+1 … before-1``, counted in :attr:`gap_total`.

        Exact unless some of the ids are at or below :attr:`exact_after`.
        """
        gap = Gap(
            missed=before - 1 - after,
            first_missing=after + 1,
            last_missing=before - 1,
            exact=after >= self.exact_after,
        )
        self.gap_total += gap.missed
        return gap

    def _replay_start(self, agent: str | None, min_rank: int, count: int) -> int:
        """Cursor from which exactly the last ``count`` matching held entries follow."""
        if count <= 0:
            return self.last_id
        low = self.oldest_held
        holes_in_replay = any(last > self.last_id - count for _, last in self._holes)
        if agent is None and min_rank == 0 and not holes_in_replay:
            return max(low - 1, self.last_id - count)
        found = 0
        for slot in reversed(self._slots(low, self.last_id)):
            if slot is None:
                continue
            if (agent is None or slot[1] == agent) and slot[2] >= min_rank:
                found += 1
                if found == count:
                    return slot[0] - 1
        return low - 1

    def close_all(self) -> None:
        """End every subscription's frame stream (e.g. on shutdown)."""
        for subscription in list(self._subscriptions):
            subscription.close()
