"""Looking back: one trace's events (``GET /api/traces/<id>``) and the log lines of a time range
(``GET /api/logs``), from the log hub's ring and the store.

The ring's entries are taken first, at once, on the event loop (a trace's through its index, a
time range's by a binary search): the ring is bounded and may move on as soon as the loop does.
Then, in a worker thread (at most :data:`READERS` at a time, so lookups never crowd out the log
stream's own store reads), a time range's entries are filtered, the entries found are decoded, and
the store is asked only for ids older than the ring held then, so no line is counted twice and none
falls between the two. An event belongs to a trace by
:func:`~agentwatch.collector.traceindex.trace_key`: the ring is searched through its
:class:`~agentwatch.collector.traceindex.TraceIndex`, the store through its ``trace_hash`` index.
Time ranges follow arrival order on both sides, as the store's refill does (see
:func:`~agentwatch.collector.storedb.rows_between`).

Parameters are checked here (:func:`parse_trace_id`, :func:`parse_log_query`), with no HTTP:
:class:`BadParameter` names the one at fault, for the web layer's 400.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, cast

import anyio

from agentwatch.collector import storedb
from agentwatch.collector.logbatches import BatchReader, HeldBatch, batch_times
from agentwatch.collector.loghub import LogHub, held_entry
from agentwatch.collector.loglines import event_to_log_entry
from agentwatch.collector.store import StoreError
from agentwatch.protocol import (
    DEFAULT_LOG_RANGE_LIMIT,
    DEFAULT_SPAN_TYPE,
    LEVEL_RANK,
    LEVELS,
    MAX_AGENT_ID_LENGTH,
    MAX_LOG_RANGE_LIMIT,
    MAX_LOG_RANGE_SECONDS,
    MAX_SHORT_FIELD_LENGTH,
    MAX_TIMESTAMP,
    MAX_TRACE_AGE_SECONDS,
    MAX_TRACE_SPANS,
    Event,
    LogEntry,
    LogRange,
    Trace,
    TraceSpan,
    json_encoder,
    parse_level,
)

if TYPE_CHECKING:
    from agentwatch.collector.service import Collector

#: What a trace, prompt or turn id may be: letters, digits and ``. _ : -`` (hex ids, UUIDs, the
#: SDK's), at most :data:`~agentwatch.protocol.MAX_SHORT_FIELD_LENGTH` characters.
TRACE_ID_PATTERN: Final = re.compile(rf"[A-Za-z0-9._:\-]{{1,{MAX_SHORT_FIELD_LENGTH}}}")
#: Seconds a line may arrive before or after the lines stamped like it and still be found by time.
LOG_RANGE_SLACK: Final = 10.0
#: Rows one ``/api/logs`` answer reads at most, on each side (ring, store): more → ``truncated``.
MAX_LOG_RANGE_SCAN: Final = 200_000
#: Ring slots read into the trace index in one step on the event loop; a lookup yields between steps.
INDEX_STEP: Final = 4096
#: Lookups running at once (each in a worker thread); more wait their turn.
READERS: Final = 2
#: Ring ids summarised together by :class:`RingTimes` (a block of consecutive ids).
TIME_BLOCK: Final = 512

_FRAME_TIME: Final = b'data: {"timestamp":'
#: The query parameters ``/api/logs`` knows; any other is a 400 (a typo would otherwise be ignored).
LOG_QUERY_PARAMETERS: Final = ("from", "to", "agent", "level", "limit", "after")


class BadParameter(ValueError):
    """A query parameter (or the id in the path) that cannot be used: ``name`` says which."""

    def __init__(self, name: str, problem: str, got: str | None = None) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.detail = None if got is None else f"got {got[:40]!r}"


@dataclass(frozen=True)
class LogQuery:
    """``/api/logs``: lines stamped in [``start``, ``end``), of ``agent`` (None: all) at level rank
    ``min_rank`` or above, with ids above ``after`` (the cursor of the previous page), at most
    ``limit``."""

    start: float
    end: float
    agent: str | None = None
    min_rank: int = 0
    limit: int = DEFAULT_LOG_RANGE_LIMIT
    after: int = 0


def parse_trace_id(text: str) -> str:
    """The id of ``/api/traces/<id>``, or :class:`BadParameter`."""
    if TRACE_ID_PATTERN.fullmatch(text) is None:
        raise BadParameter(
            "trace_id",
            f"must be 1 to {MAX_SHORT_FIELD_LENGTH} letters, digits, '.', '_', ':' or '-'",
            text,
        )
    return text


def parse_log_query(params: Mapping[str, str], now: float) -> LogQuery:
    """``from`` (required) and ``to`` (default ``now``) in unix seconds, ``agent``, ``level``
    (the lowest shown), ``limit`` and ``after`` (a previous answer's ``next_after``);
    :class:`BadParameter` for an unknown name or the first value that is wrong."""
    unknown = sorted(set(params) - set(LOG_QUERY_PARAMETERS))
    if unknown:
        raise BadParameter(unknown[0], f"unknown parameter; one of {', '.join(LOG_QUERY_PARAMETERS)}")
    start = _time_param(params, "from", None)
    end = _time_param(params, "to", now)
    if end <= start:
        raise BadParameter("to", "must be later than from", params.get("to"))
    if end - start > MAX_LOG_RANGE_SECONDS:
        raise BadParameter("to", f"at most {MAX_LOG_RANGE_SECONDS:g} seconds after from", params.get("to"))
    agent = params.get("agent") or None
    if agent is not None and len(agent) > MAX_AGENT_ID_LENGTH:
        raise BadParameter("agent", f"at most {MAX_AGENT_ID_LENGTH} characters")
    level = params.get("level") or None
    min_rank = 0
    if level is not None:
        name = parse_level(level)
        if name is None:
            raise BadParameter("level", f"one of {', '.join(LEVELS)}", level)
        min_rank = LEVEL_RANK[name]
    limit = DEFAULT_LOG_RANGE_LIMIT
    raw = params.get("limit")
    if raw:
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= MAX_LOG_RANGE_LIMIT):
            raise BadParameter("limit", f"an integer from 1 to {MAX_LOG_RANGE_LIMIT}", raw)
        limit = int(raw)
    after = 0
    raw = params.get("after")
    if raw:
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise BadParameter("after", "an entry id (a previous answer's next_after)", raw)
        after = int(raw)
    return LogQuery(start, end, agent, min_rank, limit, after)


def _time_param(params: Mapping[str, str], name: str, default: float | None) -> float:
    raw = params.get(name)
    if not raw:
        if default is None:
            raise BadParameter(name, "required (unix seconds)")
        return default
    try:
        value = float(raw) if len(raw) <= 32 else math.nan
    except ValueError:
        value = math.nan
    if not 0 <= value < MAX_TIMESTAMP:  # NaN fails too
        raise BadParameter(name, f"unix seconds from 0 to {MAX_TIMESTAMP:g}", raw)
    return value


class History:
    """The lookups over one collector's log hub and store (the store read when the call is made)."""

    def __init__(self, collector: Collector) -> None:
        self._collector = collector
        self._readers = anyio.CapacityLimiter(READERS)
        self._times = RingTimes()

    async def trace(self, key: str) -> Trace:
        """Every held event of trace (or prompt, turn) ``key``, bounded; see :class:`Trace`."""
        collector = self._collector
        hub = collector.logs
        await _index_ring(hub)
        oldest = hub.oldest_held
        ids = hub.traces.ids(key, oldest)
        held = [(i, slot[3]) for i in ids[-MAX_TRACE_SPANS:] for slot in hub.held(i, i)]
        store = collector.store
        since = collector.clock() - MAX_TRACE_AGE_SECONDS

        def answer() -> Trace:  # in a worker thread: what it reads is immutable or the store's
            entries = [held_entry(entry_id, slot) for entry_id, slot in held]
            total, incomplete = len(ids), None
            if store is not None:
                query = partial(
                    storedb.trace_rows, key=key, since=since, below=oldest, limit=MAX_TRACE_SPANS - len(held)
                )
                try:
                    rows, older = store.read(query)
                except StoreError as exc:
                    incomplete = str(exc)
                else:
                    total += older
                    entries[:0] = [_entry(row_id, event) for row_id, event in rows]
                if store.trace_indexing and incomplete is None:
                    incomplete = "the store is still indexing rows an earlier version wrote"
            return _trace(key, entries, total, incomplete)

        return await anyio.to_thread.run_sync(answer, limiter=self._readers)

    async def logs(self, query: LogQuery) -> tuple[bytes, int | None]:
        """The lines stamped in the query's range, bounded: a :class:`LogRange`, as JSON (encoded in
        the worker thread too: an answer may be megabytes), and its ``next_after`` cursor.

        The lines are the first ``limit`` to arrive after ``after`` (the store's, then the ring's);
        the cursor is the last id accounted for, so the next page neither repeats nor skips one.
        """
        collector = self._collector
        hub = collector.logs
        held = hub.held_slots(hub.oldest_held, hub.last_id)  # events read in the worker thread
        oldest = held[0][0] if held else hub.last_id + 1
        low = bisect_left(held, query.start - LOG_RANGE_SLACK, key=_slot_time)
        before_ring = low == 0 and query.after + 1 < oldest  # the range may begin in the store
        store = collector.store if before_ring else None
        low = max(low, bisect_right(held, query.after, key=_slot_id))
        high = bisect_left(held, query.end + LOG_RANGE_SLACK, lo=low, key=_slot_time)
        scanned = min(high, low + MAX_LOG_RANGE_SCAN)
        ring_resume = held[scanned - 1][0] if high > scanned else None  # the scan bound cut the ring
        times = self._times
        times.forget_below(oldest)

        def answer() -> tuple[bytes, int | None]:  # in a worker thread: immutable or the store's
            entries: list[LogEntry] = []
            resume, incomplete = None, None
            if store is not None:
                read = partial(
                    storedb.rows_between,
                    start=query.start,
                    end=query.end,
                    below=oldest,
                    agent=query.agent,
                    min_rank=query.min_rank,
                    limit=query.limit,
                    slack=LOG_RANGE_SLACK,
                    scan=MAX_LOG_RANGE_SCAN,
                    after=query.after,
                )
                try:
                    rows, resume = store.read(read)
                except StoreError as exc:
                    incomplete = str(exc)
                else:
                    entries = [_entry(row_id, event) for row_id, event in rows]
            if resume is None:  # the store had no more: the ring's lines follow (else none is read)
                matches = _ring_matches(held[low:scanned], query, times)
                room = query.limit - len(entries)
                if len(matches) > room:
                    resume = matches[room - 1][0] if room else entries[-1].id
                else:
                    resume = ring_resume
                reader = BatchReader()
                entries.extend(_held_line(reader, entry_id, slot) for entry_id, slot in matches[:room])
            entries.sort(key=lambda entry: (entry.timestamp, entry.id))
            page = LogRange(query.start, query.end, entries, resume is not None, incomplete, resume)
            return json_encoder.encode(page), resume

        return await anyio.to_thread.run_sync(answer, limiter=self._readers)


async def _index_ring(hub: LogHub) -> None:
    """Bring the ring's trace index up to date in steps of :data:`INDEX_STEP` slots, yielding to the
    event loop between them (at most enough steps for twice the ring: ingest cannot keep it here)."""
    index = hub.traces
    for _ in range(2 * hub.history // INDEX_STEP + 2):
        low = max(index.indexed_until + 1, hub.oldest_held)
        high = min(hub.last_id, low + INDEX_STEP - 1)
        index.catch_up(hub.held(low, high), high, hub.oldest_held)
        if high >= hub.last_id:
            return
        await asyncio.sleep(0)


class RingTimes:
    """The earliest and latest time of each block of :data:`TIME_BLOCK` consecutive ring ids, read
    once: a time range skips the blocks it cannot hold instead of reading each of their slots
    (a whole ring's may lie within the range's slack). Shared by the worker threads (a lock guards
    the table); ids leave it as they leave the ring."""

    def __init__(self) -> None:
        self._blocks: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def span(self, block: Sequence[tuple[int, str, int, bytes | Event | HeldBatch]]) -> tuple[float, float]:
        """(earliest, latest) time of a whole block's slots (ids ``n * TIME_BLOCK …``, in order)."""
        key = block[0][0] // TIME_BLOCK
        known = self._blocks.get(key)
        if known is None:
            stamps = [_held_time(slot[3], slot[0]) for slot in block]
            known = (min(stamps), max(stamps))
            if any(_odd_time(slot[3]) for slot in block):
                known = (-math.inf, math.inf)  # its frame may tell another time: never skipped
            with self._lock:
                self._blocks[key] = known
        return known

    def forget_below(self, oldest: int) -> None:
        """Drop the blocks of ids below ``oldest`` (no longer all held)."""
        floor = oldest // TIME_BLOCK
        with self._lock:
            if self._blocks and min(self._blocks) < floor:
                self._blocks = {key: span for key, span in self._blocks.items() if key >= floor}


def _ring_matches(
    held: Sequence[tuple[int, str, int, bytes | Event | HeldBatch]], query: LogQuery, times: RingTimes
) -> list[tuple[int, bytes | Event | HeldBatch]]:
    """The held entries of the query's agent, level and time range, at most ``limit + 1``, in id
    order (read off the event loop); whole blocks of ids outside the range are skipped."""
    matches: list[tuple[int, bytes | Event | HeldBatch]] = []
    start, end, agent_wanted, min_rank = query.start, query.end, query.agent, query.min_rank
    at, count = 0, len(held)
    while at < count:
        entry_id = held[at][0]
        stop = at + TIME_BLOCK
        if entry_id % TIME_BLOCK == 0 and stop <= count and held[stop - 1][0] == entry_id + TIME_BLOCK - 1:
            earliest, latest = times.span(held[at:stop])
            if latest < start or earliest >= end:
                at = stop
                continue
        else:
            stop = min(count, at + TIME_BLOCK - entry_id % TIME_BLOCK)
        for entry_id, agent, rank, slot in held[at:stop]:
            if (agent_wanted is None or agent == agent_wanted) and rank >= min_rank:
                if start <= _held_time(slot, entry_id) < end:
                    matches.append((entry_id, slot))
                    if len(matches) > query.limit:
                        return matches
        at = stop
    return matches


def _held_line(reader: BatchReader, entry_id: int, held: bytes | Event | HeldBatch) -> LogEntry:
    """The log line of a held ring entry, its event read from its batch by ``reader`` where it is one."""
    if isinstance(held, HeldBatch):
        return held_entry(entry_id, reader.event(held, entry_id))
    return held_entry(entry_id, held)


def _entry(entry_id: int, event: Event) -> LogEntry:
    entry = event_to_log_entry(event)
    entry.id = entry_id
    return entry


def _held_time(held: bytes | Event | HeldBatch, entry_id: int = 0) -> float:
    """A held entry's time: its event's (from its batch's times for entry ``entry_id`` of a batch),
    or read from its frame (the line's first field)."""
    if held.__class__ is HeldBatch:
        return batch_times(held)[entry_id - held.first]
    if held.__class__ is bytes:
        frame = held
        at = frame.find(_FRAME_TIME)
        if at < 0:
            return 0.0
        at += len(_FRAME_TIME)
        return float(frame[at : frame.index(b",", at)])
    stamp = cast(Event, held).timestamp
    return stamp if stamp.__class__ is float else 0.0


def _odd_time(held: bytes | Event | HeldBatch) -> bool:
    """Whether a held entry's event may have a time that is not a float (its frame tells another)."""
    if held.__class__ is HeldBatch:
        return held.odd_times  # known once its times are read
    return isinstance(held, Event) and held.timestamp.__class__ is not float


def _slot_time(slot: tuple[int, str, int, bytes | Event | HeldBatch]) -> float:
    return _held_time(slot[3], slot[0])


def _slot_id(slot: tuple[int, str, int, bytes | Event | HeldBatch]) -> int:
    return slot[0]


def _trace(key: str, entries: list[LogEntry], total: int, incomplete: str | None) -> Trace:
    spans = sorted((_span(entry) for entry in entries), key=lambda span: (span.start, span.id))
    trace = Trace(
        key, spans, spans_total=total, spans_dropped=max(total - len(spans), 0), incomplete=incomplete
    )
    if spans:
        trace.start = spans[0].start
        end = max(span.start + (span.duration_ms or 0.0) / 1000 for span in spans)
        trace.duration_ms = (end - trace.start) * 1000
    for span in spans:
        trace.tokens_input += span.tokens_input or 0
        trace.tokens_output += span.tokens_output or 0
        trace.cost_usd += span.cost_usd or 0.0
        trace.errors += span.error is not None or LEVEL_RANK.get(span.level, 1) >= LEVEL_RANK["error"]
    return trace


def _span(entry: LogEntry) -> TraceSpan:
    meta = entry.metadata
    latency = meta.get("latency_ms")
    duration = float(latency) if isinstance(latency, int | float) and not isinstance(latency, bool) else None
    return TraceSpan(
        id=entry.id,
        agent_id=entry.agent_id,
        start=entry.timestamp - (duration or 0.0) / 1000,
        span_type=entry.span_type or DEFAULT_SPAN_TYPE,
        name=entry.message,
        level=entry.level,
        duration_ms=duration,
        trace_id=entry.trace_id,
        span_id=meta.get("span_id"),
        parent_span_id=meta.get("parent_span_id"),
        model=meta.get("model"),
        tool_name=meta.get("tool_name"),
        tokens_input=meta.get("tokens_input"),
        tokens_output=meta.get("tokens_output"),
        cost_usd=meta.get("cost_usd"),
        cost_estimated=meta.get("cost_estimated"),
        error=meta.get("error"),
        decision_made=meta.get("decision_made"),
        attributes=meta.get("attributes"),
    )
