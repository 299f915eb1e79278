"""Specification of the log and metrics fan-out (agentwatch.collector.loghub, .metricshub, .sse)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest

from agentwatch.collector.loghub import MAX_BATCH, MAX_BATCH_BYTES, LogHub, parse_event_id
from agentwatch.collector.loglines import event_to_log_entry
from agentwatch.collector.metricshub import MetricsHub
from agentwatch.collector.sse import HEARTBEAT, sse_frame
from agentwatch.protocol import (
    LEVEL_RANK,
    LEVELS,
    SPAN_LOG,
    SSE_ALERT,
    SSE_DROPPED,
    SSE_GAP,
    SSE_HELLO,
    SSE_LOG,
    SSE_METRICS,
    SSE_RESET,
    Dropped,
    Event,
    Gap,
    Hello,
    LogEntry,
    Reset,
)
from tests.helpers import Clock

WAIT = 3.0  # seconds: upper bound for anything that should happen at once


@dataclass
class Message:
    event: str | None
    id: int | None
    data: bytes
    comment: bool = False


def parse(batch: bytes) -> list[Message]:
    """Split a batch of SSE bytes into messages (comments included, marked as such; ``hello``
    left out: it opens every log stream). Ids ``<sequence>:<n>`` are read as ``n``."""
    assert batch.endswith(b"\n\n"), batch[-40:]
    messages = []
    for block in batch[:-2].split(b"\n\n"):
        if block.startswith(b":"):
            messages.append(Message(None, None, b"", comment=True))
            continue
        fields: dict[bytes, bytes] = {}
        for line in block.split(b"\n"):
            name, _, value = line.partition(b": ")
            fields[name] = value
        if fields[b"event"] == SSE_HELLO.encode():
            continue
        entry_id = fields.get(b"id")
        messages.append(
            Message(
                fields[b"event"].decode(),
                int(entry_id.rpartition(b":")[2]) if entry_id else None,
                fields[b"data"],
            )
        )
    return messages


def entries(n: int, agent: str = "a", level: str = "info", start: int = 0) -> list[LogEntry]:
    return [LogEntry(1000.0 + i, agent, level, f"message {start + i}") for i in range(n)]


async def next_batch(stream: AsyncIterator[bytes]) -> bytes:
    return await asyncio.wait_for(stream.__anext__(), WAIT)


async def read_logs(stream: AsyncIterator[bytes], count: int) -> list[Message]:
    """Messages (logs and notices) until ``count`` log messages have arrived; fails after WAIT."""
    messages: list[Message] = []
    async with asyncio.timeout(WAIT):
        while sum(m.event == SSE_LOG for m in messages) < count:
            messages.extend(m for m in parse(await stream.__anext__()) if not m.comment)
    return messages


def log_ids(messages: list[Message]) -> list[int]:
    return [m.id for m in messages if m.event == SSE_LOG and m.id is not None]


# --------------------------------------------------------------------------- frames
def test_sse_frame_has_id_event_and_one_data_line() -> None:
    assert sse_frame("log", b'{"a":1}', id=7) == b'id: 7\nevent: log\ndata: {"a":1}\n\n'
    assert sse_frame("metrics", b"{}") == b"event: metrics\ndata: {}\n\n"


def test_sse_frame_splits_data_holding_line_breaks_so_no_field_is_forged() -> None:
    frame = sse_frame("log", b"one\nevent: evil\r\nthree")
    assert frame == b"event: log\ndata: one\ndata: event: evil\ndata: three\n\n"
    with pytest.raises(ValueError):
        sse_frame("log\nid: 9", b"{}")


def test_heartbeat_is_an_sse_comment() -> None:
    assert HEARTBEAT.startswith(b":") and HEARTBEAT.endswith(b"\n\n")


# ------------------------------------------------------------------------------ ids
def test_publish_assigns_consecutive_ids_across_batches() -> None:
    hub = LogHub(first_id=41)
    first, second = entries(3), entries(2)
    hub.publish(first)
    hub.publish([])
    hub.publish(second)
    assert [e.id for e in first + second] == [41, 42, 43, 44, 45]
    assert hub.last_id == 45 and hub.published_total == 5
    assert [e.id for e in hub.entries_after(42, 10)] == [43, 44, 45]
    assert [e.message for e in hub.entries_after(0, 2)] == ["message 0", "message 1"]


def test_preload_keeps_ids_and_publish_continues_after_the_largest() -> None:
    hub = LogHub(history=100)
    restored = entries(3)
    for entry, entry_id in zip(restored, (7, 8, 9), strict=True):
        entry.id = entry_id
    hub.preload(restored)
    fresh = entries(1)
    hub.publish(fresh)
    assert fresh[0].id == 10
    assert [e.id for e in hub.entries_after(0, 100)] == [7, 8, 9, 10]


def test_preload_with_a_larger_last_id_never_reuses_ids() -> None:
    hub = LogHub()
    hub.preload([], last_id=500)
    fresh = entries(1)
    hub.publish(fresh)
    assert fresh[0].id == 501


# ------------------------------------------------------------------ lazy log lines
def events(n: int, agent: str = "a", **fields: Any) -> list[Event]:
    return [
        Event(agent_id=agent, timestamp=1000.0 + i, span_type="tool_call", tool_name=f"t{i}", **fields)
        for i in range(n)
    ]


def test_publish_events_numbers_them_like_log_lines_and_returns_the_first_id() -> None:
    hub = LogHub(first_id=11)
    assert hub.publish_events(events(3)) == 11
    assert hub.publish_events([]) == 14
    hub.publish(entries(1))
    assert hub.publish_events(events(2)) == 15
    assert hub.last_id == 16 and hub.published_total == 6
    lines = hub.entries_after(0, 100)
    assert [e.id for e in lines] == [11, 12, 13, 14, 15, 16]
    expected = event_to_log_entry(events(3)[2])
    expected.id = 13
    assert lines[2] == expected


def test_a_batch_larger_than_the_ring_keeps_only_the_newest() -> None:
    hub = LogHub(history=4)
    hub.publish_events(events(3))
    hub.publish_events(events(10))  # ids 4..13, the ring holds 10..13
    assert [e.id for e in hub.entries_after(0, 100)] == [10, 11, 12, 13]
    assert [e.message for e in hub.entries_after(0, 100)] == [
        "tool_call t6",
        "tool_call t7",
        "tool_call t8",
        "tool_call t9",
    ]


async def test_level_filter_on_events_uses_the_level_of_their_log_line() -> None:
    hub = LogHub()
    batch = [
        Event(agent_id="a", span_type="heartbeat"),
        Event(agent_id="a", span_type="llm_call", error="boom"),
        Event(agent_id="a", span_type="log", level="WARN", message="careful"),
        Event(agent_id="a", span_type="log", level="odd", message="odd level"),
        Event(agent_id="a", span_type="error"),
    ]
    hub.publish_events(batch)
    for min_level in LEVELS:
        stream = hub.subscribe(min_level=min_level).frames()
        want = [
            i + 1
            for i, e in enumerate(batch)
            if LEVEL_RANK[event_to_log_entry(e).level] >= LEVEL_RANK[min_level]
        ]
        got = log_ids(parse(await next_batch(stream))) if want else []
        assert got == want, min_level
        await stream.aclose()


async def test_event_lines_are_built_once_and_shared_by_every_subscriber() -> None:
    hub = LogHub()
    hub.publish_events(events(2))
    one, two = hub.subscribe().frames(), hub.subscribe().frames()
    first, second = await next_batch(one), await next_batch(two)
    assert first == second and parse(first)[1].id == 2
    slots = hub._slots(1, 2)
    assert all(slot is not None and slot[3].__class__ is bytes for slot in slots)
    await one.aclose()
    await two.aclose()


# ------------------------------------------------------------------- history/resume
async def test_new_subscriber_gets_the_last_replay_entries_then_live_ones() -> None:
    hub = LogHub(replay=5)
    hub.publish(entries(20))
    stream = hub.subscribe().frames()
    assert log_ids(await read_logs(stream, 5)) == [16, 17, 18, 19, 20]
    hub.publish(entries(2))
    assert log_ids(await read_logs(stream, 2)) == [21, 22]
    await stream.aclose()


async def test_resume_after_last_event_id_sends_no_duplicates_and_no_holes() -> None:
    hub = LogHub(replay=3)
    hub.publish(entries(10))
    first = hub.subscribe().frames()
    seen = log_ids(await read_logs(first, 3))
    await first.aclose()
    hub.publish(entries(4))  # published while the viewer was away
    resumed = hub.subscribe(after=seen[-1]).frames()
    got = log_ids(await read_logs(resumed, 4))
    hub.publish(entries(3))
    got += log_ids(await read_logs(resumed, 3))
    await resumed.aclose()
    assert seen + got == list(range(8, 18))


async def test_resume_beyond_the_ring_sends_gap_with_exact_counts_then_what_is_held() -> None:
    hub = LogHub(history=10)
    hub.publish(entries(25))  # ids 1..25, held 16..25
    stream = hub.subscribe(after=5).frames()
    messages = await read_logs(stream, 10)
    await stream.aclose()
    assert messages[0].event == SSE_GAP
    assert msgspec.json.decode(messages[0].data, type=Gap) == Gap(missed=10, first_missing=6, last_missing=15)
    assert log_ids(messages) == list(range(16, 26))
    assert hub.gap_total == 10


async def test_resume_from_an_id_this_hub_never_issued_is_told_a_reset_then_gets_everything_of_this_run() -> (
    None
):
    hub = LogHub(replay=2)
    hub.publish(entries(5))
    stream = hub.subscribe(after=9_999).frames()
    messages = await read_logs(stream, 5)
    await stream.aclose()
    assert messages[0].event == SSE_RESET
    assert msgspec.json.decode(messages[0].data, type=Reset) == Reset(
        sequence=hub.sequence, previous="", after=9_999, first_id=1
    )
    assert log_ids(messages) == [1, 2, 3, 4, 5] and hub.resets_total == 1


async def test_resume_after_an_id_of_another_sequence_is_told_a_reset_even_below_the_last_id() -> None:
    """A collector restarted without its store numbers from 1 again: id 3 of the old run is not ours."""
    hub = LogHub(replay=0)
    hub.publish(entries(5))
    stream = hub.subscribe(after=3, sequence="0ldrun").frames()
    messages = await read_logs(stream, 5)
    await stream.aclose()
    reset = msgspec.json.decode(messages[0].data, type=Reset)
    assert (messages[0].event, reset.previous, reset.after, reset.first_id) == (SSE_RESET, "0ldrun", 3, 1)
    assert log_ids(messages) == [1, 2, 3, 4, 5]


async def test_resume_in_the_same_sequence_is_no_reset_and_frames_carry_the_sequence_in_their_id() -> None:
    hub = LogHub(replay=0)
    hub.publish(entries(5))
    stream = hub.subscribe(after=3, sequence=hub.sequence, hello=True).frames()
    batch = await next_batch(stream)
    await stream.aclose()
    first, *rest = batch.split(b"\n\n")
    assert first.startswith(b"event: " + SSE_HELLO.encode())
    hello = msgspec.json.decode(first.partition(b"data: ")[2], type=Hello)
    assert hello == Hello(run=hub.run, sequence=hub.sequence, continued=False, last_id=5)
    assert [block.split(b"\n")[0] for block in rest if block] == [
        b"id: %b:4" % hub.sequence.encode(),
        b"id: %b:5" % hub.sequence.encode(),
    ]


def test_a_preload_takes_the_stores_sequence_and_says_ids_continue() -> None:
    hub = LogHub()
    hub.preload_events([(7, event) for event in events_for(1)], last_id=9, sequence="abc123")
    assert (hub.sequence, hub.continued, hub.publish_events(events_for(1))) == ("abc123", True, 10)
    with pytest.raises(ValueError):
        LogHub().preload_events([], sequence="not a name")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("42", (None, 42)), (" ab12:7 ", ("ab12", 7)), ("a-b_C:0", ("a-b_C", 0))],
)
def test_event_ids_are_a_bare_number_or_sequence_colon_number(
    text: str, expected: tuple[str | None, int]
) -> None:
    assert parse_event_id(text) == expected


@pytest.mark.parametrize(
    "text", ["12abc", "-1", "a:b", ":5", "a b:5", "x" * 60 + ":1", "1" * 19, "ab:", "é:1"]
)
def test_other_event_ids_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_event_id(text)


async def test_resume_delivers_more_than_max_lag_of_held_history_without_dropping() -> None:
    hub = LogHub(history=10_000, max_lag=100)
    hub.publish(entries(3 * MAX_BATCH))
    stream = hub.subscribe(after=0).frames(coalesce=0)
    messages = await read_logs(stream, 3 * MAX_BATCH)
    await stream.aclose()
    assert log_ids(messages) == list(range(1, 3 * MAX_BATCH + 1))
    assert not [m for m in messages if m.event == SSE_DROPPED]


async def test_a_batch_of_long_lines_is_cut_at_the_byte_cap_and_the_rest_follows_at_once() -> None:
    """A lagging viewer holds one unsent batch: bounded in bytes, not only in entries."""
    hub = LogHub(history=10_000, max_lag=10_000)
    long_lines = [LogEntry(1000.0 + i, "a", "info", f"{i} " + "x" * 4_000) for i in range(1_000)]
    hub.publish(long_lines)  # ~4 MB: more than ten batches' worth
    frame_size = max(len(frame) for frame in hub._frames(1, 1_000, None, 0, budget=10**9)[0])
    stream = hub.subscribe(after=0).frames(coalesce=60.0)  # a wait after each batch would time out
    batches: list[bytes] = []
    ids: list[int] = []
    async with asyncio.timeout(WAIT):
        while not ids or ids[-1] < 1_000:
            batches.append(await stream.__anext__())
            ids.extend(log_ids(parse(batches[-1])))
    await stream.aclose()
    assert len(batches) > 10
    assert max(len(b) for b in batches) < MAX_BATCH_BYTES + frame_size
    assert ids == list(range(1, 1_001))
    assert hub.dropped_total == 0


# -------------------------------------------------------------------- slow consumers
async def test_slow_subscriber_gets_dropped_with_exact_count_while_fast_one_gets_everything() -> None:
    hub = LogHub(max_lag=10, replay=0)
    fast = hub.subscribe().frames(coalesce=0)
    slow_subscription = hub.subscribe()
    slow = slow_subscription.frames(coalesce=0)
    fast_ids: list[int] = []
    for _ in range(10):  # the fast one keeps up batch by batch; the slow one never reads
        hub.publish(entries(10))
        fast_ids += log_ids(await read_logs(fast, 10))
    assert fast_ids == list(range(1, 101))

    messages = await read_logs(slow, 10)
    assert messages[0].event == SSE_DROPPED
    assert msgspec.json.decode(messages[0].data, type=Dropped) == Dropped(dropped=90, total_dropped=90)
    assert log_ids(messages) == list(range(91, 101))

    hub.publish(entries(15))  # falls behind again: 5 more lost, total 95
    messages = await read_logs(slow, 10)
    assert msgspec.json.decode(messages[0].data, type=Dropped) == Dropped(dropped=5, total_dropped=95)
    assert log_ids(messages) == list(range(106, 116))
    assert hub.dropped_total == 95 and slow_subscription.dropped_total == 95
    await fast.aclose()
    await slow.aclose()


async def test_live_entries_older_than_max_delay_are_skipped_and_counted_as_dropped() -> None:
    """However few entries it lags by, a subscriber is not fed entries that waited too long for it."""
    clock = Clock(0.0)
    hub = LogHub(max_lag=10_000, replay=0, max_delay=1.0, monotonic=clock)
    stream = hub.subscribe().frames(coalesce=0)
    hub.publish(entries(10))  # at t = 0
    clock.now = 0.5
    hub.publish(entries(5))  # at t = 0.5
    clock.now = 1.2  # the first ten have waited 1.2 s, the next five 0.7 s
    messages = await read_logs(stream, 5)
    assert msgspec.json.decode(messages[0].data, type=Dropped) == Dropped(dropped=10, total_dropped=10)
    assert log_ids(messages) == list(range(11, 16))
    clock.now = 60.0  # nothing new: nothing to skip
    hub.publish(entries(1))
    assert log_ids(await read_logs(stream, 1)) == [16]
    await stream.aclose()


async def test_history_older_than_max_delay_is_still_delivered_in_full() -> None:
    clock = Clock(0.0)
    hub = LogHub(replay=5, max_delay=1.0, monotonic=clock)
    hub.publish(entries(5))
    clock.now = 10.0
    stream = hub.subscribe().frames(coalesce=0)
    messages = await read_logs(stream, 5)
    await stream.aclose()
    assert [m.event for m in messages] == [SSE_LOG] * 5


async def test_entries_that_left_the_ring_while_a_subscriber_was_away_are_counted_as_dropped() -> None:
    hub = LogHub(history=10, max_lag=10, replay=0)
    stream = hub.subscribe().frames(coalesce=0)
    hub.publish(entries(25))  # ids 1..25; the ring holds 16..25
    messages = await read_logs(stream, 10)
    assert msgspec.json.decode(messages[0].data, type=Dropped) == Dropped(dropped=15, total_dropped=15)
    assert log_ids(messages) == list(range(16, 26))
    await stream.aclose()


async def test_a_zero_heartbeat_does_not_spin() -> None:
    hub = LogHub(replay=0)
    stream = hub.subscribe().frames(heartbeat=0)
    started = asyncio.get_running_loop().time()
    for _ in range(3):
        assert await next_batch(stream) == HEARTBEAT
    assert asyncio.get_running_loop().time() - started >= 0.02
    await stream.aclose()


async def test_dropped_count_for_a_filtered_subscriber_counts_only_matching_entries() -> None:
    hub = LogHub(max_lag=4, replay=0)
    stream = hub.subscribe(agent="x").frames(coalesce=0)
    batch = entries(6, agent="x") + entries(20, agent="y") + entries(2, agent="x")
    hub.publish(batch)  # ids 1..6 x, 7..26 y, 27..28 x; newest 4 = 25..28
    messages = await read_logs(stream, 2)
    assert msgspec.json.decode(messages[0].data, type=Dropped) == Dropped(dropped=6, total_dropped=6)
    assert log_ids(messages) == [27, 28]
    await stream.aclose()


# ------------------------------------------------------------------------- filters
async def test_filters_by_agent_and_level_apply_to_history_and_live_alike() -> None:
    hub = LogHub(replay=100)
    hub.publish(
        entries(2, agent="a", level="error")
        + entries(2, agent="b", level="error")
        + entries(2, agent="a", level="debug")
        + entries(1, agent="a", level="CRITICAL")
    )
    stream = hub.subscribe(agent="a", min_level="warn").frames()
    assert log_ids(await read_logs(stream, 3)) == [1, 2, 7]
    hub.publish(entries(1, agent="a", level="info") + entries(1, agent="b", level="fatal"))
    hub.publish(entries(1, agent="a", level="warning"))
    assert log_ids(await read_logs(stream, 1)) == [10]
    await stream.aclose()


async def test_replay_counts_matching_entries_not_ring_slots() -> None:
    hub = LogHub(replay=2)
    hub.publish(
        entries(1, agent="x") + entries(50, agent="y") + entries(2, agent="x") + entries(5, agent="y")
    )
    stream = hub.subscribe(agent="x").frames()
    assert log_ids(await read_logs(stream, 2)) == [52, 53]
    await stream.aclose()


# ------------------------------------------------------------------ serialised once
async def test_each_entry_is_serialised_once_and_shared_by_every_subscriber() -> None:
    hub = LogHub(replay=0)
    streams = [hub.subscribe().frames() for _ in range(3)]
    hub.publish(entries(1))
    batches = [await next_batch(s) for s in streams]
    assert batches[0] is batches[1] is batches[2]  # one frame object, no copy per subscriber
    assert parse(batches[0])[0].id == 1
    for stream in streams:
        await stream.aclose()


# ----------------------------------------------------------------------- heartbeat
async def test_heartbeat_after_silence_and_only_then() -> None:
    hub = LogHub(replay=0)
    stream = hub.subscribe().frames(heartbeat=0.05)
    assert await next_batch(stream) == HEARTBEAT
    hub.publish(entries(1))
    assert parse(await next_batch(stream))[0].event == SSE_LOG
    assert await next_batch(stream) == HEARTBEAT
    await stream.aclose()


async def test_heartbeat_still_comes_while_only_filtered_out_entries_flow() -> None:
    hub = LogHub(replay=0)
    stream = hub.subscribe(agent="quiet").frames(heartbeat=0.1, coalesce=0)
    waiting = asyncio.ensure_future(next_batch(stream))
    for _ in range(200):
        if waiting.done():
            break
        hub.publish(entries(1, agent="busy"))
        await asyncio.sleep(0.01)  # the pace of the filtered-out flow under test
    assert await waiting == HEARTBEAT
    await stream.aclose()


# ---------------------------------------------------------------------- disconnect
async def test_thousand_subscribe_iterate_close_cycles_leave_nothing_behind() -> None:
    hub = LogHub(replay=1)
    hub.publish(entries(1))
    for i in range(1000):
        subscription = hub.subscribe()
        stream = subscription.frames()
        assert parse(await next_batch(stream))[0].id == 1
        if i % 2:
            await stream.aclose()
        else:
            subscription.close()  # closing the subscription ends the stream
            with pytest.raises(StopAsyncIteration):
                await next_batch(stream)
    assert hub.subscriber_count == 0
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_cancelling_the_consuming_task_unsubscribes() -> None:
    hub = LogHub(replay=0)
    subscription = hub.subscribe()

    async def consume() -> None:
        async for _ in subscription.frames():
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)  # let it start waiting
    assert hub.subscriber_count == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert hub.subscriber_count == 0 and subscription.closed


async def test_close_all_ends_every_stream() -> None:
    hub = LogHub()
    streams = [hub.subscribe().frames(heartbeat=60) for _ in range(3)]
    waiting = [asyncio.ensure_future(next_batch(s)) for s in streams]
    await asyncio.sleep(0)
    hub.close_all()
    for future in waiting:
        with pytest.raises(StopAsyncIteration):
            await future
    assert hub.subscriber_count == 0


def test_subscribe_rejects_negative_positions() -> None:
    hub = LogHub()
    with pytest.raises(ValueError):
        hub.subscribe(after=-1)
    with pytest.raises(ValueError):
        hub.subscribe(replay=-1)
    assert hub.subscriber_count == 0


# --------------------------------------------------------------------------- metrics
def metrics_frame(n: int) -> bytes:
    return sse_frame(SSE_METRICS, b'{"n":%d}' % n)


async def test_metrics_are_latest_wins_and_coalescing_is_counted() -> None:
    hub = MetricsHub()
    subscription = hub.subscribe(None)
    stream = subscription.frames()
    for n in range(3):
        hub.publish(None, metrics_frame(n))
    hub.publish("other", metrics_frame(99))  # no subscriber for that filter: nothing happens
    assert await next_batch(stream) == metrics_frame(2)
    assert subscription.coalesced == 2 and hub.coalesced_total == 2
    hub.publish(None, metrics_frame(3))
    assert await next_batch(stream) == metrics_frame(3)
    await stream.aclose()


async def test_a_metrics_viewer_whose_connection_is_full_gets_only_the_newest_snapshot_once_it_has_room() -> (
    None
):
    hub = MetricsHub()
    subscription = hub.subscribe(None)
    room = False
    stream = subscription.frames(writable=lambda: room)
    waiting = asyncio.ensure_future(next_batch(stream))
    for n in range(5):
        hub.publish(None, metrics_frame(n))
        await asyncio.sleep(0)  # the stream runs in between, and must take nothing
    assert not waiting.done() and subscription.coalesced == 4
    room = True
    assert await waiting == metrics_frame(4)
    await stream.aclose()


async def test_a_log_viewer_whose_connection_is_full_takes_nothing_until_it_has_room() -> None:
    hub = LogHub(replay=0, max_lag=3)
    room = False
    stream = hub.subscribe().frames(coalesce=0, writable=lambda: room)
    waiting = asyncio.ensure_future(next_batch(stream))
    hub.publish(entries(10))
    await asyncio.sleep(0.05)  # several looks at the full connection
    assert not waiting.done()
    room = True
    messages = parse(await waiting)
    assert messages[0].event == SSE_DROPPED and log_ids(messages) == [8, 9, 10]
    await stream.aclose()


async def test_metrics_filters_track_who_is_subscribed() -> None:
    hub = MetricsHub()
    fleet, one, two = hub.subscribe(None), hub.subscribe("a"), hub.subscribe("a")
    assert hub.filters() == {None, "a"} and hub.subscriber_count == 3
    hub.publish("a", metrics_frame(1))
    streams = [s.frames() for s in (one, two)]
    assert [await next_batch(s) for s in streams] == [metrics_frame(1)] * 2
    one.close()
    assert hub.filters() == {None, "a"}
    await streams[1].aclose()
    await streams[0].aclose()
    assert hub.filters() == {None}
    fleet.close()
    fleet.close()
    assert hub.filters() == set() and hub.subscriber_count == 0


async def test_events_reach_every_subscriber_in_order_and_overflow_is_counted() -> None:
    hub = MetricsHub(event_queue=3)
    fleet, narrow = hub.subscribe(None), hub.subscribe("a")
    alerts = [sse_frame(SSE_ALERT, b'{"n":%d}' % n) for n in range(5)]
    for alert in alerts:
        hub.publish_event(alert)
    hub.publish("a", metrics_frame(1))
    fleet_stream, narrow_stream = fleet.frames(), narrow.frames()
    assert await next_batch(fleet_stream) == b"".join(alerts[2:])
    assert await next_batch(narrow_stream) == b"".join([*alerts[2:], metrics_frame(1)])
    assert fleet.events_dropped == 2 and hub.events_dropped_total == 4
    await fleet_stream.aclose()
    await narrow_stream.aclose()
    assert hub.subscriber_count == 0


async def test_metrics_heartbeat_after_silence() -> None:
    hub = MetricsHub()
    stream = hub.subscribe(None).frames(heartbeat=0.05)
    assert await next_batch(stream) == HEARTBEAT
    await stream.aclose()
    assert hub.subscriber_count == 0


# ------------------------------------------------------------ resume beyond the ring
class OlderLines:
    """A backfill over a plain list of older log lines (what a store would hold)."""

    def __init__(self, lines: list[LogEntry], fail: bool = False) -> None:
        self.lines = lines
        self.fail = fail
        self.calls = 0

    def __call__(
        self, after: int, before: int, limit: int, agent: str | None, min_rank: int
    ) -> tuple[int, list[LogEntry]]:
        self.calls += 1
        if self.fail:
            raise OSError("disk gone")
        held = [e for e in self.lines if after < e.id < before]
        first_held = held[0].id if held else before
        matching = [
            e for e in held if (agent is None or e.agent_id == agent) and LEVEL_RANK[e.level] >= min_rank
        ]
        return first_held, matching[:limit]


def older_than_ring(hub: LogHub, count: int) -> list[LogEntry]:
    """Publish ``count`` entries to ``hub`` and return copies of them (ids set)."""
    published = entries(count)
    hub.publish(published)
    return [msgspec.structs.replace(e) for e in published]


async def test_resume_beyond_the_ring_reads_older_entries_from_the_backfill_without_gap() -> None:
    hub = LogHub(history=10)
    hub.backfill = OlderLines(older_than_ring(hub, 3 * MAX_BATCH))
    stream = hub.subscribe(after=5).frames()
    messages = await read_logs(stream, 3 * MAX_BATCH - 5)
    assert [m.event for m in messages if m.event != SSE_LOG] == []
    assert log_ids(messages) == list(range(6, 3 * MAX_BATCH + 1))
    assert hub.gap_total == 0 and hub.backfilled_total == 3 * MAX_BATCH - 5 - 10
    hub.publish(entries(1))
    assert log_ids(await read_logs(stream, 1)) == [3 * MAX_BATCH + 1]
    await stream.aclose()


async def test_backfill_sends_gap_only_for_what_neither_the_ring_nor_the_store_holds() -> None:
    hub = LogHub(history=10)
    lines = older_than_ring(hub, 40)  # ring holds 31..40
    hub.backfill = OlderLines(lines[19:])  # the store lost 1..19, holds 20..
    stream = hub.subscribe(after=5, min_level="info").frames()
    messages = await read_logs(stream, 40 - 19)
    assert messages[0].event == SSE_GAP
    assert msgspec.json.decode(messages[0].data, type=Gap) == Gap(missed=14, first_missing=6, last_missing=19)
    assert log_ids(messages) == list(range(20, 41))
    await stream.aclose()


async def test_a_failing_backfill_becomes_a_gap_and_is_counted() -> None:
    hub = LogHub(history=10)
    hub.backfill = OlderLines(older_than_ring(hub, 30), fail=True)
    stream = hub.subscribe(after=0).frames()
    messages = await read_logs(stream, 10)
    assert msgspec.json.decode(messages[0].data, type=Gap) == Gap(missed=20, first_missing=1, last_missing=20)
    assert log_ids(messages) == list(range(21, 31))
    assert hub.backfill_errors == 1
    await stream.aclose()


# ----------------------------------------------------- ids never reused, shown in order
def events_for(n: int, prefix: str = "e") -> list[Event]:
    return [
        Event(agent_id="a", span_type=SPAN_LOG, message=f"{prefix}{i}", timestamp=1000.0 + i)
        for i in range(n)
    ]


def messages_of(messages: list[Message]) -> list[str]:
    return [msgspec.json.decode(m.data, type=LogEntry).message for m in messages if m.event == SSE_LOG]


async def test_allocated_ids_are_shown_in_id_order_whatever_order_they_settle_in() -> None:
    hub = LogHub(replay=0)
    stream = hub.subscribe().frames(coalesce=0)
    first = hub.allocate(2)  # ids 1-2, committing
    later = hub.publish_events(events_for(1, "later"))  # id 3 waits for 1-2
    assert (first, later) == (1, 3) and hub.last_id == 0
    hub.publish_allocated(first, events_for(2, "early"))
    messages = await read_logs(stream, 3)
    await stream.aclose()
    assert log_ids(messages) == [1, 2, 3] and messages_of(messages) == ["early0", "early1", "later0"]


async def test_cancelled_ids_are_never_shown_nor_handed_out_again() -> None:
    hub = LogHub(replay=0)
    stream = hub.subscribe().frames(coalesce=0)
    refused = hub.allocate(3)
    hub.cancel(refused, 3)
    assert hub.last_id == 0, "nothing was shown"
    assert hub.publish_events(events_for(2)) == 4
    messages = await read_logs(stream, 2)
    await stream.aclose()
    assert log_ids(messages) == [4, 5] and not [m for m in messages if m.event != SSE_LOG]


def test_no_id_is_handed_out_beyond_what_the_reserve_hook_granted() -> None:
    hub = LogHub()
    asked: list[int] = []

    def reserve(last: int) -> int:
        asked.append(last)
        return last + 9  # ids up to here may go out before the next call

    hub.reserve = reserve
    for _ in range(5):
        hub.publish_events(events_for(4))  # ids 1..20
    assert asked == [4, 16]
    assert all(last >= 1 for last in asked) and hub.last_id == 20


async def test_a_viewer_resuming_inside_ids_lost_in_a_crash_is_told_a_gap_then_gets_new_entries() -> None:
    hub = LogHub(replay=0)
    stored = [(i, event) for i, event in enumerate(events_for(5, "old"), 1)]  # ids 1..5 committed
    hub.preload_events(stored, last_id=100)  # ids up to 100 were reserved before the crash
    assert hub.publish_events(events_for(2, "new")) == 101
    stream = hub.subscribe(after=7).frames(coalesce=0)  # it had seen id 7 before the crash
    messages = await read_logs(stream, 2)
    await stream.aclose()
    assert messages[0].event == SSE_GAP
    assert msgspec.json.decode(messages[0].data, type=Gap) == Gap(
        missed=93, first_missing=8, last_missing=100
    )
    assert messages_of(messages) == ["new0", "new1"] and log_ids(messages) == [101, 102]


async def test_a_gap_reaching_ids_that_may_never_have_been_handed_out_says_it_is_an_upper_bound() -> None:
    hub = LogHub(replay=0)
    hub.preload_events([(i, e) for i, e in enumerate(events_for(5), 1)], last_id=100, exact_after=100)
    hub.publish_events(events_for(1))
    stream = hub.subscribe(after=7).frames(coalesce=0)
    messages = await read_logs(stream, 1)
    await stream.aclose()
    assert msgspec.json.decode(messages[0].data, type=Gap) == Gap(
        missed=93, first_missing=8, last_missing=100, exact=False
    )


async def test_a_viewer_resuming_before_a_crash_hole_gets_the_stored_entries_the_gap_then_the_new() -> None:
    hub = LogHub(replay=0)
    hub.preload_events([(i, event) for i, event in enumerate(events_for(3, "old"), 1)], last_id=50)
    hub.publish_events(events_for(1, "new"))
    stream = hub.subscribe(after=1).frames(coalesce=0)
    messages = await read_logs(stream, 3)
    await stream.aclose()
    assert [m.event for m in messages] == [SSE_LOG, SSE_LOG, SSE_GAP, SSE_LOG]
    assert msgspec.json.decode(messages[2].data, type=Gap) == Gap(missed=47, first_missing=4, last_missing=50)
    assert messages_of(messages) == ["old1", "old2", "new0"]


async def test_a_new_viewer_after_a_crash_gets_history_without_a_gap() -> None:
    hub = LogHub(replay=3)
    hub.preload_events([(i, event) for i, event in enumerate(events_for(3, "old"), 1)], last_id=50)
    hub.publish_events(events_for(1, "new"))
    stream = hub.subscribe().frames(coalesce=0)
    messages = await read_logs(stream, 3)
    await stream.aclose()
    assert [m.event for m in messages] == [SSE_LOG] * 3
    assert messages_of(messages) == ["old1", "old2", "new0"]
