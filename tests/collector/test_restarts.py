"""Restarts are visible to viewers, and what a viewer is told about them is true.

Each test runs ``agentwatch serve`` as a real process (:class:`tests.helpers.CollectorProcess`),
stops or kills it, starts it again on the same port and resumes a viewer over real HTTP/SSE with
the ``Last-Event-ID`` it had.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
from httpx_sse import connect_sse

from agentwatch.protocol import (
    PATH_EVENTS,
    PATH_LOGS_STREAM,
    SSE_GAP,
    SSE_HELLO,
    SSE_LOG,
    SSE_RESET,
    Gap,
    Hello,
    LogEntry,
    Reset,
)
from tests.helpers import CollectorProcess, store_has_written, wait_until

Events = list[tuple[str, str, str]]


def post(url: str, messages: list[str]) -> None:
    response = httpx.post(
        url + PATH_EVENTS, json=[{"agent_id": "a", "message": m} for m in messages], timeout=10
    )
    assert response.status_code == 202, response.text


def read(url: str, logs: int, last_event_id: str | None = None) -> Events:
    """(event, id, data) of what the log stream sends until ``logs`` log entries have come."""
    events: Events = []
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with httpx.Client(timeout=10) as client:
        with connect_sse(client, "GET", url + PATH_LOGS_STREAM, headers=headers) as source:
            source.response.raise_for_status()
            for sse in source.iter_sse():
                if sse.data:
                    events.append((sse.event, sse.id, sse.data))
                if sum(event == SSE_LOG for event, _, _ in events) >= logs:
                    break
    return events


def of(events: Events, name: str) -> list[str]:
    return [data for event, _, data in events if event == name]


def messages(events: Events) -> list[str]:
    return [msgspec.json.decode(data, type=LogEntry).message for data in of(events, SSE_LOG)]


def hello(events: Events) -> Hello:
    assert events and events[0][0] == SSE_HELLO, events[:2]
    return msgspec.json.decode(events[0][2], type=Hello)


def last_id(events: Events) -> str:
    return [event_id for event, event_id, _ in events if event == SSE_LOG][-1]


def test_a_viewer_resuming_after_a_restart_without_a_store_is_told_reset_then_gets_the_new_run(
    start_collector_process: Callable[..., CollectorProcess],
) -> None:
    collector = start_collector_process("--no-store")
    post(collector.url, [f"old-{i}" for i in range(30)])
    before = read(collector.url, 30)
    resume = last_id(before)
    old = hello(before)
    assert resume == f"{old.sequence}:30" and not old.continued

    collector.stop()
    collector.restart()
    post(collector.url, [f"new-{i}" for i in range(5)])
    after = read(collector.url, 5, resume)

    new = hello(after)
    assert new.run != old.run and new.sequence != old.sequence and not new.continued
    (reset,) = [msgspec.json.decode(data, type=Reset) for data in of(after, SSE_RESET)]
    assert reset == Reset(sequence=new.sequence, previous=old.sequence, after=30, first_id=1)
    assert messages(after) == [f"new-{i}" for i in range(5)]
    assert [event_id for event, event_id, _ in after if event == SSE_LOG] == [
        f"{new.sequence}:{n}" for n in range(1, 6)
    ]


def test_ids_and_their_sequence_go_on_when_a_corrupt_store_is_moved_aside(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    db = tmp_path / "store.db"
    collector = start_collector_process("--store", str(db))
    post(collector.url, [f"old-{i}" for i in range(10)])
    wait_until(lambda: store_has_written(collector.url, 10))
    before = read(collector.url, 10)
    collector.stop()
    for leftover in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    db.write_bytes(b"this is not an SQLite database " * 200)

    collector.restart()
    post(collector.url, ["new"])
    after = read(collector.url, 1, last_id(before))

    assert list(tmp_path.glob("store.db.corrupt-*")), "the unreadable file was moved aside"
    assert hello(after).sequence == hello(before).sequence and hello(after).continued
    assert not of(after, SSE_RESET) and not of(after, SSE_GAP)
    assert [(event, event_id) for event, event_id, _ in after if event == SSE_LOG] == [
        (SSE_LOG, f"{hello(before).sequence}:11")
    ]


def test_a_viewer_that_had_everything_before_a_kill_9_is_told_of_no_gap(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    """Ids handed out are recorded before use, not reserved in blocks: nothing lost, nothing told."""
    collector = start_collector_process("--store", str(tmp_path / "store.db"))
    post(collector.url, [f"old-{i}" for i in range(20)])
    wait_until(lambda: store_has_written(collector.url, 20))
    before = read(collector.url, 20)
    collector.kill9()

    collector.restart()
    post(collector.url, ["new"])
    after = read(collector.url, 1, last_id(before))

    assert of(after, SSE_GAP) == [], "every id it was told of was stored: it missed nothing"
    assert messages(after) == ["new"] and last_id(after) == f"{hello(before).sequence}:21"


def test_a_gap_over_ids_an_older_collector_reserved_ahead_is_an_upper_bound(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    db = tmp_path / "store.db"
    collector = start_collector_process("--store", str(db))
    post(collector.url, [f"old-{i}" for i in range(5)])
    wait_until(lambda: store_has_written(collector.url, 5))
    collector.stop()
    Path(f"{db}-ids").write_bytes(b"%20d\n" % 10_005)  # an earlier version's mark, left by a crash

    collector.restart()
    post(collector.url, ["new"])
    after = read(collector.url, 3, "3")  # a bare id, as an earlier viewer sends it

    assert messages(after) == ["old-3", "old-4", "new"]
    (gap,) = [msgspec.json.decode(data, type=Gap) for data in of(after, SSE_GAP)]
    assert gap == Gap(missed=10_000, first_missing=6, last_missing=10_005, exact=False)
