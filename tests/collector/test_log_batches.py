"""The log ring's packed batches: one record per published batch, freed as the ring moves past it,
decoded into events equal to those published (hostile values too), a bounded number decoded at once,
and read back across records and the ring's wrap by every reader."""

from __future__ import annotations

import gc
import math
import struct
import time
import weakref
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.collector.history import RingTimes, _held_time
from agentwatch.collector.logbatches import BATCH_EVENTS, BatchReader, HeldBatch, HeldBatches, batch_times
from agentwatch.collector.loghub import LogHub
from agentwatch.collector.loglines import event_to_log_entry
from agentwatch.protocol import EVENT_SPAN_START, PATH_LOGS, Event, LogEntry, LogRange
from tests.helpers import NOW, RunningCollector

Start = Callable[..., RunningCollector]


def make(count: int, start: int = 0, agents: int = 3) -> list[Event]:
    return [
        Event(
            f"agent-{(start + i) % agents}",
            timestamp=NOW + (start + i) * 0.01,
            span_type="tool_call",
            tool_name=f"tool-{start + i}",
            latency_ms=float(i),
            trace_id=f"t{(start + i) % 5}",
        )
        for i in range(count)
    ]


def line(entry_id: int, event: Event) -> LogEntry:
    entry = event_to_log_entry(event)
    entry.id = entry_id
    return entry


def batches_in_ring(hub: LogHub) -> list[HeldBatch]:
    seen: dict[int, HeldBatch] = {}
    for held in hub._held:
        if isinstance(held, HeldBatch):
            seen.setdefault(id(held), held)
    return list(seen.values())


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down, floats bit for bit (NaN, -0.0 included)."""
    if a.__class__ is not b.__class__:
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Event):
        return all(same(getattr(a, f), getattr(b, f)) for f in Event.__struct_fields__)
    return bool(a == b)


# ------------------------------------------------------------------------- records
def test_each_published_batch_is_one_record_shared_by_its_slots() -> None:
    hub = LogHub(history=100)
    first = hub.publish_events(make(7))
    second = hub.publish_events(make(5, start=7))
    records = batches_in_ring(hub)
    assert [(r.first, r.count) for r in records] == [(first, 7), (second, 5)]
    assert all(r.data is not None and r.events is None for r in records)  # packed, no events kept
    assert all(hub._held[i % 100] is records[0] for i in range(first, first + 7))


def test_a_batch_larger_than_a_record_is_split_into_records_of_consecutive_ids() -> None:
    hub = LogHub(history=3 * BATCH_EVENTS)
    events = make(2 * BATCH_EVENTS + 5)
    first = hub.publish_events(events)
    records = batches_in_ring(hub)
    assert [(r.first, r.count) for r in records] == [
        (first, BATCH_EVENTS),
        (first + BATCH_EVENTS, BATCH_EVENTS),
        (first + 2 * BATCH_EVENTS, 5),
    ]
    assert [slot[3] for slot in hub.held(first, hub.last_id)] == events


def test_the_hub_keeps_no_reference_to_published_events() -> None:
    hub = LogHub()
    events = make(3)
    hub.publish_events(events)
    events[1].tool_name = "changed afterwards"
    assert [slot[3].tool_name for slot in hub.held(1, 3)] == ["tool-0", "tool-1", "tool-2"]  # type: ignore[union-attr]


def test_ids_are_implied_by_the_slot_and_ids_never_shown_leave_their_slots_empty() -> None:
    hub = LogHub(history=4)
    hub.publish_events(make(4))
    hub.cancel(hub.allocate(2), 2)  # ids 5 and 6: their slots still hold entries 1 and 2
    assert [slot[0] for slot in hub.held(1, 6)] == [1, 2, 3, 4]
    hub.publish_events(make(1, start=4))  # id 7: ids 4..7 are the held range, 5 and 6 never entries
    assert [(slot[0], slot[3]) for slot in hub.held(1, 7)] == [(4, make(4)[3]), (7, make(1, start=4)[0])]
    assert [e.id for e in hub.entries_after(0, 10)] == [4, 7]


# ------------------------------------------------------------------------- eviction
def test_the_ring_frees_a_record_once_it_moved_past_all_of_its_entries() -> None:
    hub = LogHub(history=10)
    hub.publish_events(make(4))
    oldest = weakref.ref(batches_in_ring(hub)[0])
    hub.held(1, 4)  # decoded once: the cache holds it too, for a while
    hub.publish_events(make(6, start=4))
    assert oldest() is not None  # ids 1..4 still held
    hub.publish_events(make(3, start=10))  # ids 1..3 leave the ring; 4 is still held
    assert oldest() is not None
    hub.publish_events(make(1, start=13))
    for _ in range(hub.batches.capacity):  # the cache lets go of it too as other records are read
        hub.publish_events(make(1))
        hub.held(hub.last_id, hub.last_id)
    gc.collect()
    assert oldest() is None
    assert hub.held(1, 4) == []


def test_a_pending_batch_waits_as_a_record_and_is_shown_in_id_order() -> None:
    hub = LogHub()
    first_a, first_b = hub.allocate(2), hub.allocate(3)
    a, b = make(2), make(3, start=2)
    hub.publish_allocated(first_b, b)
    assert hub.last_id == 0
    hub.publish_allocated(first_a, a)
    assert hub.entries_after(0, 10) == [line(i, e) for i, e in enumerate(a + b, 1)]


# ------------------------------------------------------------------------- decoding
def test_decoded_records_are_bounded_and_least_recently_used_go_first() -> None:
    hub = LogHub(history=1000)
    hub.batches = HeldBatches(decoded=3)
    for start in range(0, 100, 10):
        hub.publish_events(make(10, start=start))
    assert hub.batches.decoded_count == 0  # publishing decodes nothing
    hub.held(1, 100)
    assert hub.batches.decoded_count == 3 and hub.batches.decoded_total == 10  # each record once
    hub.held(95, 100)  # the newest record: still decoded
    assert hub.batches.decoded_total == 10
    hub.held(1, 1)
    assert hub.batches.decoded_total == 11 and hub.batches.decoded_count == 3
    hub.held(81, 81)  # still decoded: 71..80 went out for 1..10, being the least recently used
    assert hub.batches.decoded_total == 11
    hub.held(71, 71)  # decoded again; 91..100 goes out (81..90 and 1..10 were used since)
    assert hub.batches.decoded_total == 12
    hub.held(1, 1)
    hub.held(81, 81)
    assert hub.batches.decoded_total == 12
    hub.held(91, 91)
    assert hub.batches.decoded_total == 13 and hub.batches.decoded_count == 3


def test_a_worker_threads_reader_decodes_each_record_once_in_id_order_and_no_more() -> None:
    hub = LogHub()
    for start in range(0, 30, 10):
        hub.publish_events(make(10, start=start))
    reader = BatchReader()
    got = [reader.event(slot[3], slot[0]) for slot in hub.held_slots(1, 30)]  # type: ignore[arg-type]
    assert got == make(10) + make(10, start=10) + make(10, start=20) and reader.decoded == 3
    assert hub.batches.decoded_total == 0  # the hub's cache untouched


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-0.0, math.nan, -math.inf, 5e-324, 1.7976931348623157e308]),
    st.text(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
optional_float = st.none() | st.floats(allow_nan=True, allow_infinity=True)
events = st.builds(
    Event,
    agent_id=st.text(max_size=20),
    timestamp=st.none() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=10),
    span_type=st.none() | st.text(max_size=10),
    trace_id=st.none() | st.text(max_size=10),
    tokens_input=st.none() | st.integers(-(2**63), 2**63 - 1),
    tokens_output=st.none() | st.integers(0, 2**64 - 1),
    latency_ms=optional_float,
    cost_usd=optional_float,
    cost_estimated=st.none() | st.booleans(),
    confidence=optional_float,
    message=st.none() | st.text(),
    attributes=st.none() | st.dictionaries(st.text(max_size=8), values, max_size=4),
    payload=st.none() | st.dictionaries(st.text(max_size=8), values, max_size=3),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(events, min_size=1, max_size=12))
def test_a_packed_batch_decodes_to_exactly_the_events_published(batch: list[Event]) -> None:
    batches = HeldBatches()
    record = batches.pack(7, batch)[0]
    assert record.data is not None and batches.unpacked_total == 0
    decoded = batches.events(record)
    assert len(decoded) == len(batch)
    assert all(same(a, b) for a, b in zip(decoded, batch, strict=True))


@pytest.mark.parametrize(
    "hostile",
    [
        Event("a", attributes={"big": 2**64}),  # beyond what msgpack carries
        Event("a", attributes={"neg": -(2**63) - 1}),
        Event("a\ud800"),  # a lone surrogate: no UTF-8 for it
        Event("a", payload={"x": object()}),  # not a wire type at all
    ],
)
def test_a_batch_msgpack_cannot_carry_is_kept_as_its_events_and_counted(hostile: Event) -> None:
    hub = LogHub()
    hub.publish_events([Event("b"), hostile])
    record = batches_in_ring(hub)[0]
    assert record.data is None and hub.batches.unpacked_total == 1
    assert hub.held(2, 2)[0][3] is hostile
    assert [slot[3] for slot in hub.held(1, 2)] == [Event("b"), hostile]


def test_a_tuple_or_set_an_event_was_built_with_comes_back_a_list_with_the_same_log_line() -> None:
    made = Event("a", attributes={"pair": (1, 2), "tags": {"x"}})  # in-process only: JSON has neither
    hub = LogHub()
    hub.publish_events([made])
    assert hub.held(1, 1)[0][3].attributes == {"pair": [1, 2], "tags": ["x"]}  # type: ignore[union-attr]
    assert hub.entries_after(0, 1) == [msgspec.json.decode(msgspec.json.encode(line(1, made)), type=LogEntry)]


def test_times_of_a_record_are_kept_once_read_and_odd_ones_never_let_a_block_be_skipped() -> None:
    hub = LogHub()
    hub.publish_events([Event("a", timestamp=NOW), Event("a", timestamp="2024-01-01T00:00:00Z")])
    slots = hub.held_slots(1, 2)
    record = slots[0][3]
    assert isinstance(record, HeldBatch) and record.times is None
    assert [_held_time(slot[3], slot[0]) for slot in slots] == [NOW, 0.0]
    assert list(batch_times(record)) == [NOW, 0.0] and record.odd_times
    assert RingTimes().span(slots) == (-math.inf, math.inf)


# ------------------------------------------------------------------------- readers
def test_every_reader_sees_the_published_lines_across_records_and_the_rings_wrap() -> None:
    hub = LogHub(history=25, replay=25)
    published: list[Event] = []
    for size in (3, 7, 1, 9, 4, 8, 6):  # 38 events: the ring wrapped, the oldest record cut in two
        batch = make(size, start=len(published))
        hub.publish_events(batch)
        published.extend(batch)
    expected = [line(i, e) for i, e in enumerate(published, 1)][-25:]
    assert hub.oldest_held == 14
    assert hub.entries_after(0, 100) == expected
    assert [slot[3] for slot in hub.held(1, 38)] == published[-25:]
    reader = BatchReader()
    assert [reader.event(s[3], s[0]) for s in hub.held_slots(1, 38)] == published[-25:]  # type: ignore[arg-type]
    subscription = hub.subscribe(agent="agent-1")
    frames = subscription._take()
    subscription.close()
    sent = [
        msgspec.json.decode(part.split(b"data: ", 1)[1], type=LogEntry)
        for part in frames.split(b"\n\n")
        if part.startswith(b"id: ")
    ]
    assert sent == [e for e in expected if e.agent_id == "agent-1"]
    assert hub.entries_after(0, 100) == expected  # read again from the frames built meanwhile
    hub.traces.catch_up(hub.held(hub.oldest_held, hub.last_id), hub.last_id, hub.oldest_held)
    assert hub.traces.ids("t2", hub.oldest_held) == [e.id for e in expected if e.trace_id == "t2"]


def test_a_followed_log_is_read_from_the_published_events_without_decoding_them() -> None:
    hub = LogHub(history=100, replay=0)
    hub.publish_events(make(5))  # nobody follows: packed, nothing kept decoded
    assert hub.batches.decoded_count == 0
    subscription = hub.subscribe()
    batch = make(6, start=5)
    hub.publish_events(batch)
    frames = subscription._take()
    subscription.close()
    sent = [
        msgspec.json.decode(part.split(b"data: ", 1)[1], type=LogEntry)
        for part in frames.split(b"\n\n")
        if part.startswith(b"id: ")
    ]
    assert sent == [line(i, e) for i, e in enumerate(batch, 6)]
    assert hub.batches.decoded_total == 0  # the frames were built from the events as published
    assert hub.batches.decoded_count == 1  # kept among the decoded, so bounded like them
    hub.publish_events(make(4, start=11))  # the last follower left: packed only again
    assert hub.batches.decoded_count == 1


def test_preloaded_rows_are_packed_by_runs_of_consecutive_ids() -> None:
    hub = LogHub(history=20)
    rows = [(i, e) for i, e in zip([3, 4, 5, 9, 10, 14], make(6), strict=True)]
    hub.preload_events(rows, last_id=15)
    assert [(r.first, r.count) for r in batches_in_ring(hub)] == [(3, 3), (9, 2), (14, 1)]
    assert [(slot[0], slot[3]) for slot in hub.held(1, 15)] == rows
    assert hub.entries_after(0, 20) == [line(i, e) for i, e in rows]


def test_api_logs_reads_a_wrapped_ring_of_packed_batches(start_collector: Start) -> None:
    collector = start_collector(log_history=3000)
    sent = []
    for batch in range(4):  # 4000 events of 4 requests: the ring holds the last 3000
        events = [
            {
                "agent_id": f"agent-{i % 4}",
                "span_type": "log",
                "message": f"m{batch}-{i}",
                "timestamp": NOW + batch * 1000 + i,
            }
            for i in range(1000)
        ]
        assert collector.post(events).status_code == 202
        sent.extend(events)
    response = httpx.get(
        collector.url + PATH_LOGS,
        params={"from": NOW + 900, "to": NOW + 3500, "agent": "agent-1", "limit": 10000},
    )
    assert response.status_code == 200, response.text
    page = msgspec.json.decode(response.content, type=LogRange)
    want = [e for e in sent[1000:] if e["agent_id"] == "agent-1" and e["timestamp"] < NOW + 3500]
    assert [(e.message, e.timestamp) for e in page.entries] == [(e["message"], e["timestamp"]) for e in want]


# ------------------------------------------------------------------- batches kept as their body
def test_an_ingest_body_is_kept_as_itself_and_its_lines_made_again_from_it(start_collector: Start) -> None:
    collector = start_collector()
    now = time.time()  # the collector's clock: the unstamped line gets the receipt time
    body = [
        {
            "agent_id": "a",
            "timestamp": now - 5,
            "span_type": "llm_call",
            "model": "gpt-4o",
            "tokens_input": 900,
        },
        {"agent_id": "b", "span_type": "log", "level": "WARN", "message": "no timestamp: stamped at receipt"},
        {"agent_id": "c", "timestamp": now - 4, "event_type": "token", "payload": {"tokens": 5}},
        {"agent_id": "", "timestamp": now - 3},  # rejected: not in the ring
        {
            "agent_id": "d",
            "timestamp": now - 3,
            "event_type": EVENT_SPAN_START,
            "span_id": "s1",
            "payload": {"span_type": "tool_call"},
        },  # a span start: not a line either
        {"agent_id": "é😀", "timestamp": now - 2, "span_type": "log", "message": "\x1b[31mdata\x1b[0m ünï"},
    ]
    before = time.time()
    answer = collector.post(body)
    after = time.time()
    assert answer.status_code == 202, answer.text
    hub = collector.service.logs
    (record,) = batches_in_ring(hub)
    assert record.redo is not None and record.data is None and record.events is None  # nothing packed
    assert hub.batches.redone_total == 1
    response = httpx.get(collector.url + PATH_LOGS, params={"from": now - 60, "to": after + 60, "limit": 100})
    assert response.status_code == 200, response.text
    lines = msgspec.json.decode(response.content, type=LogRange).entries
    by_agent = {e.agent_id: e for e in lines}  # oldest first: the unstamped line is the newest
    assert [(e.agent_id, e.level) for e in lines] == [
        ("a", "info"),
        ("c", "info"),
        ("é😀", "info"),
        ("b", "warning"),
    ]
    assert "~$" in by_agent["a"].message  # the cost estimated at ingest, estimated again the same
    assert before <= by_agent["b"].timestamp <= after  # the receipt time of the request, not of the read
    assert by_agent["é😀"].message == body[5]["message"]
    metadata = by_agent["a"].metadata  # the cost the window counted, to the bit
    assert (
        metadata["cost_estimated"] is True and metadata["cost_usd"] == collector.service.window.total_cost_usd
    )


def test_a_body_large_for_its_events_is_packed_instead(start_collector: Start) -> None:
    collector = start_collector()
    padding = "x" * 2000  # more body than the ring keeps per event: the accepted events are packed
    answer = collector.post([{"agent_id": "a", "timestamp": NOW, "span_type": "log", "message": padding}])
    assert answer.status_code == 202, answer.text
    (record,) = batches_in_ring(collector.service.logs)
    assert record.redo is None and record.data is not None
