"""Faults: the collector killed under load, and a store that is locked, full or corrupt.

The kill test runs the real ``agentwatch serve`` as a subprocess, two real SDK clients
(:class:`agentwatch.sdk.AgentTelemetry`) sending log lines, and three real viewers
(:func:`agentwatch.client.stream.follow`) following the log stream. The store tests start the
collector in-process (``start_collector``) or as a subprocess and read what it says on
stderr and in ``/healthz``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from agentwatch.client.stream import Backoff, ServerSentEvent, follow
from agentwatch.protocol import (
    HEADER_IDEMPOTENCY_KEY,
    PATH_EVENTS,
    PATH_HEALTH,
    PATH_LOGS_STREAM,
    SSE_GAP,
    SSE_HELLO,
    SSE_LOG,
    Gap,
    LogEntry,
)
from agentwatch.sdk import AgentTelemetry
from tests.helpers import (
    CollectorProcess,
    RunningCollector,
    all_logs,
    async_wait_until,
    store_has_written,
    wait_until,
)

ENV_WITHOUT_TOKEN = {key: value for key, value in os.environ.items() if key != "AGENTWATCH_TOKEN"}


# --------------------------------------------------------------------- viewers


class Viewers:
    """N real log-stream followers on one event loop in a background thread."""

    def __init__(self, url: str, count: int) -> None:
        self.seen: list[list[LogEntry]] = [[] for _ in range(count)]
        self.phases: list[list[str]] = [[] for _ in range(count)]
        self.other_events: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url, count), daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def _run(self, url: str, count: int) -> None:
        asyncio.set_event_loop(self._loop)

        def on_event(index: int) -> Any:
            def handle(sse: ServerSentEvent) -> None:
                if sse.event == SSE_LOG:
                    self.seen[index].append(msgspec.json.decode(sse.data, type=LogEntry))
                elif sse.event != SSE_HELLO:  # each connection opens with one
                    self.other_events.append(f"{sse.event}: {sse.data}")

            return handle

        def on_state(index: int) -> Any:
            return lambda state: self.phases[index].append(state.phase)

        for index in range(count):
            coroutine = follow(
                url,
                PATH_LOGS_STREAM,
                params={"after": "0"},
                on_event=on_event(index),
                on_state=on_state(index),
                backoff=Backoff(base=0.05, cap=0.5),
                read_timeout=30,
            )
            self._tasks.append(self._loop.create_task(coroutine))
        self._ready.set()
        try:
            self._loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
        finally:
            self._loop.close()

    def stop(self) -> None:
        for task in self._tasks:
            self._loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout=10)


def run_agent(telemetry: AgentTelemetry, name: str, count: int, pause: float, done: threading.Event) -> None:
    for i in range(count):
        telemetry.log("info", f"{name}-{i}")
        if i % 10 == 9:
            time.sleep(pause)  # a steady trickle, so the kill lands mid-stream
    done.set()


def test_kill_9_under_load_loses_nothing_and_viewers_resume_without_duplicates(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    """Two agents send, three viewers follow, the collector is killed (-9) and restarted.

    Run with ``--sync``: a 202 means "committed", so every message an agent was told was
    accepted must be in the restarted collector's history — exactly once: a batch committed just
    before the kill whose 202 never reached the agent is resent with the same ``Idempotency-Key``,
    and the restarted collector answers it from the receipt stored with the batch.
    """
    collector = start_collector_process("--store", str(tmp_path / "store.db"), "--sync")
    url = collector.url
    viewers = Viewers(url, 3)
    per_agent, batch_size = 600, 20
    agents = {
        name: AgentTelemetry(
            name,
            url,
            batch_size=batch_size,
            flush_interval=0.05,
            max_retries=60,
            timeout=2.0,
            heartbeat_interval=None,
            max_queue=100_000,
        )
        for name in ("agent-a", "agent-b")
    }
    finished = {name: threading.Event() for name in agents}
    try:
        threads = [
            threading.Thread(target=run_agent, args=(t, name, per_agent, 0.02, finished[name]), daemon=True)
            for name, t in agents.items()
        ]
        for thread in threads:
            thread.start()
        wait_until(lambda: all(len(seen) >= 200 for seen in viewers.seen), timeout=30)
        collector.kill9()
        down_at = len(viewers.seen[0])
        retried = {name: t.stats()["retried"] for name, t in agents.items()}
        # The collector stays down until every agent has had a send refused, while they keep recording.
        wait_until(
            lambda: all(t.stats()["retried"] > retried[name] for name, t in agents.items()), timeout=30
        )
        collector.restart()  # same port, same store
        for name, event in finished.items():
            assert event.wait(60), name
        for telemetry in agents.values():
            assert telemetry.flush(timeout=60)
        stats = {name: t.stats() for name, t in agents.items()}
        for name, counters in stats.items():
            assert counters["sent"] == per_agent, (name, counters)
            assert counters["dropped"] == counters["failed"] == counters["rejected"] == 0, (name, counters)
        history = all_logs(url, 2 * per_agent)
        newest_id = httpx.get(url + PATH_HEALTH).json()["last_log_id"]
        expected_ids = [entry.id for entry in history]
        wait_until(lambda: all(len(seen) >= len(history) for seen in viewers.seen), timeout=30)
    finally:
        for telemetry in agents.values():
            telemetry.close(timeout=1)
        viewers.stop()

    # History: every message exactly once.
    counts = Counter(entry.message for entry in history)
    for name in agents:
        expected = {f"{name}-{i}" for i in range(per_agent)}
        assert expected <= set(counts), f"{name} lost {sorted(expected - set(counts))[:5]}"
    assert len(history) == 2 * per_agent and history[-1].id == newest_id, "nothing stored after the last"
    assert [m for m, n in counts.items() if n > 1] == [], "a message was stored twice"
    assert len(expected_ids) == len(set(expected_ids)) and expected_ids == sorted(expected_ids)

    # Viewers: every entry of the history exactly once, in order, across the restart.
    assert down_at < len(history)
    for index, seen in enumerate(viewers.seen):
        ids = [entry.id for entry in seen]
        assert len(ids) == len(set(ids)), f"viewer {index} saw duplicates"
        assert [(e.id, e.message) for e in seen] == [(e.id, e.message) for e in history], f"viewer {index}"
        assert "reconnecting" in viewers.phases[index]
    assert viewers.other_events == []


# ----------------------------------------------------------------- store faults


def assert_serves_live_data(url: str) -> None:
    """Ingest is accepted, the log stream and /healthz answer: the store is not needed for live data."""
    response = httpx.post(
        url + PATH_EVENTS, json=[{"agent_id": "live", "message": f"m{i}"} for i in range(3)]
    )
    assert response.status_code == 202 and response.json()["accepted"] == 3
    assert [entry.message for entry in all_logs(url, 3)] == ["m0", "m1", "m2"]
    assert httpx.get(url + PATH_HEALTH).status_code == 200


def test_locked_store_at_startup_is_reported_and_live_data_keeps_flowing(
    tmp_path: Path, start_collector: Any
) -> None:
    path = tmp_path / "store.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE IF NOT EXISTS hold (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        collector = start_collector(store_path=path)
        health = httpx.get(collector.url + PATH_HEALTH).json()
        assert "locked" in health["store"] and str(path) in health["store"], health["store"]
        assert any("running in memory only" in w and "locked" in w for w in collector.service.warnings)
        assert_serves_live_data(collector.url)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_locked_store_is_said_clearly_on_stderr_by_the_serve_command(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    path = tmp_path / "store.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE IF NOT EXISTS hold (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        process = start_collector_process("--store", str(path))
        health = httpx.get(process.url + PATH_HEALTH).json()
        assert "locked" in health["store"]
        response = httpx.post(process.url + PATH_EVENTS, json={"agent_id": "a", "message": "hi"})
        assert response.status_code == 202
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    process.stop()
    assert process.process.stderr is not None
    stderr = process.process.stderr.read()
    assert "store unavailable, running in memory only" in stderr and "locked" in stderr, stderr


def test_corrupt_store_at_startup_is_moved_aside_reported_and_replaced(
    tmp_path: Path, start_collector: Any
) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    collector = start_collector(store_path=path)
    warnings = " ".join(collector.service.warnings)
    assert "unreadable" in warnings and "moved to" in warnings, warnings
    assert list(tmp_path.glob("store.db.corrupt-*")), "the corrupt file is kept for inspection"
    assert httpx.get(collector.url + PATH_HEALTH).json()["store"] == "ok"
    assert_serves_live_data(collector.url)
    assert collector.service.store is not None and collector.service.store.flush(5)


#: Runs ``agentwatch serve`` (the arguments after the first) in a process whose files may not grow
#: past the first argument, in bytes (RLIMIT_FSIZE): a write beyond fails with EFBIG, as on a full
#: disk, and SQLite reports a disk I/O error. Needs neither root nor a mount.
CAPPED_FILES = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of being killed
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv.pop(1)), hard))
from agentwatch.cli import main
sys.exit(main())
"""
#: Room for an empty store (its first pages and write-ahead log), not for 1.6 MB of messages.
SMALL_FILES = 64 * 1024


@pytest.fixture
def capped_collector(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> Iterator[Callable[..., CollectorProcess]]:
    """Factory: ``capped_collector(*serve_args, max_file_bytes=...)``, a collector whose store is
    ``tmp_path/store.db`` and whose files cannot grow past ``max_file_bytes``. The cap is lifted
    before the collector is stopped, so what it writes on the way out (a coverage data file) fits."""
    started: list[CollectorProcess] = []

    def start(*args: str, max_file_bytes: int) -> CollectorProcess:
        store = str(tmp_path / "store.db")
        launcher = ("-c", CAPPED_FILES, str(max_file_bytes))
        collector = start_collector_process("--store", store, *args, launcher=launcher)
        started.append(collector)
        return collector

    yield start
    for collector in started:
        allow_file_growth(collector)


def allow_file_growth(collector: CollectorProcess) -> None:
    """Lift the file-size cap of a running collector: the disk has room again."""
    if collector.process.poll() is None:
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.prlimit(collector.process.pid, resource.RLIMIT_FSIZE, (hard, hard))


def health(url: str) -> dict[str, Any]:
    return httpx.get(url + PATH_HEALTH, timeout=10).json()


def post_big(url: str, round_: int, key: str | None = None) -> httpx.Response:
    """20 messages of 2 KB each."""
    events = [{"agent_id": "big", "message": f"{round_}-{i}-{'x' * 2000}"} for i in range(20)]
    headers = {HEADER_IDEMPOTENCY_KEY: key} if key else {}
    return httpx.post(url + PATH_EVENTS, json=events, headers=headers, timeout=10)


def stderr_after_stop(collector: CollectorProcess) -> str:
    allow_file_growth(collector)
    collector.stop()
    assert collector.process.stderr is not None
    return collector.process.stderr.read()


def test_full_disk_at_startup_is_reported_and_live_data_keeps_flowing(
    capped_collector: Callable[..., CollectorProcess],
) -> None:
    collector = capped_collector(max_file_bytes=0)
    store_state = health(collector.url)["store"]
    assert store_state.startswith("error") and ("full" in store_state or "disk" in store_state), store_state
    assert_serves_live_data(collector.url)
    assert "running in memory only" in stderr_after_stop(collector)


def test_disk_filling_up_while_running_never_stops_ingest(
    capped_collector: Callable[..., CollectorProcess],
) -> None:
    collector = capped_collector(max_file_bytes=SMALL_FILES)
    assert health(collector.url)["store"] == "ok"
    for round_ in range(20):
        response = post_big(collector.url, round_)
        assert response.status_code == 202 and response.json()["accepted"] == 20
    failing = wait_until(lambda: (h := health(collector.url))["store"].startswith("error") and h, timeout=10)
    assert "disk" in failing["store"] or "full" in failing["store"], failing["store"]
    assert failing["store_written_rows"] == 0
    # Still live: new events are accepted and reach a viewer.
    response = httpx.post(collector.url + PATH_EVENTS, json={"agent_id": "after", "message": "still here"})
    assert response.status_code == 202
    entries = all_logs(collector.url, 401)
    assert entries[-1].message == "still here"
    assert health(collector.url)["events_total"] == 401


def test_disk_full_with_sync_answers_a_precise_5xx_and_keeps_serving(
    capped_collector: Callable[..., CollectorProcess],
) -> None:
    """``--sync`` promises "202 = durable": when the store cannot write, the answer must not be 202,
    must not be an opaque 500, and the collector keeps serving health and streams."""
    collector = capped_collector("--sync", max_file_bytes=SMALL_FILES)
    statuses: list[int] = []
    answers: list[str] = []
    for round_ in range(40):
        response = post_big(collector.url, round_)
        statuses.append(response.status_code)
        answers.append(response.text)
        if response.status_code != 202:
            break
    assert statuses[-1] != 202, "64 KiB cannot hold 1.6 MB of messages"
    assert statuses[-1] == 503, (statuses[-1], answers[-1][:200])
    assert "store" in answers[-1]
    assert httpx.get(collector.url + PATH_HEALTH).status_code == 200
    accepted = 20 * (len(statuses) - 1)
    if accepted:
        assert len(all_logs(collector.url, accepted)) == accepted
    with httpx.stream("GET", collector.url + PATH_LOGS_STREAM, timeout=5) as stream:
        assert stream.status_code == 200


def test_a_batch_refused_for_durability_leaves_no_trace(
    capped_collector: Callable[..., CollectorProcess],
) -> None:
    collector = capped_collector("--sync", max_file_bytes=SMALL_FILES)
    accepted = 0
    for round_ in range(40):
        response = post_big(collector.url, round_)
        if response.status_code != 202:
            break
        accepted += response.json()["accepted"]
    assert response.status_code == 503
    after = health(collector.url)
    assert after["events_total"] == accepted
    assert after["last_log_id"] == accepted


# ------------------------------------------------------------------------- soak


@pytest.mark.soak
def test_soak_keeps_memory_fds_and_tasks_flat_and_tells_every_viewer_what_it_dropped() -> None:
    """``pytest -m soak``: the short soak (3 min, 20 viewers, 20 000 events/s, one TUI).

    The 30-minute run is ``python benchmarks/soak.py --minutes 30 --viewers 20 --rate 20000 --tui``.
    """
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"
    result = subprocess.run(
        [sys.executable, str(script), "--minutes", "3", "--viewers", "20", "--rate", "20000", "--tui"],
        capture_output=True, text=True, timeout=600, env=ENV_WITHOUT_TOKEN,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "verdict: PASS" in result.stdout


def read_stream(url: str, last_event_id: str | None, last_message: str) -> list[tuple[str, str, str]]:
    """(event, id, data) of the events the log stream sends, up to the log entry whose message is
    ``last_message`` (what came within 10 s, if it never comes)."""
    from httpx_sse import connect_sse

    events: list[tuple[str, str, str]] = []
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    deadline = time.monotonic() + 10
    with httpx.Client(timeout=httpx.Timeout(10, connect=5)) as client:
        try:
            with connect_sse(client, "GET", url + PATH_LOGS_STREAM, headers=headers) as source:
                for sse in source.iter_sse():
                    if sse.data:
                        events.append((sse.event, sse.id, sse.data))
                    if (
                        sse.event == SSE_LOG
                        and msgspec.json.decode(sse.data, type=LogEntry).message == last_message
                    ):
                        break
                    if time.monotonic() > deadline:
                        break
        except httpx.ReadTimeout:
            pass
    return events


def test_viewer_that_saw_entries_lost_in_a_crash_misses_nothing_after_restart(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    """Without ``--sync`` the last flush interval may be lost (documented); what must never happen
    is a viewer silently missing entries accepted *after* the restart."""
    collector = start_collector_process("--store", str(tmp_path / "store.db"))
    httpx.post(
        collector.url + PATH_EVENTS, json=[{"agent_id": "a", "message": f"durable-{i}"} for i in range(20)]
    )
    assert wait_until(lambda: len(all_logs(collector.url, 20)) == 20)
    wait_until(lambda: store_has_written(collector.url, 20))  # these 20 are on disk
    httpx.post(
        collector.url + PATH_EVENTS, json=[{"agent_id": "a", "message": f"lost-{i}"} for i in range(30)]
    )
    seen = all_logs(collector.url, 50)
    collector.kill9()  # well within the flush interval of the last post
    resume_id = str(seen[-1].id)

    collector.restart()  # same port, same store
    httpx.post(
        collector.url + PATH_EVENTS, json=[{"agent_id": "a", "message": f"after-{i}"} for i in range(30)]
    )
    history = [
        msgspec.json.decode(data, type=LogEntry)
        for event, _, data in read_stream(collector.url, None, "after-29")
        if event == SSE_LOG
    ]
    kept = list(itertools.takewhile(lambda entry: not entry.message.startswith("after-"), history))
    if any(entry.message.startswith("lost-") for entry in kept):
        pytest.skip("the last batch was flushed before the kill; nothing was lost to test with")
    first_after = next(entry for entry in history if entry.message.startswith("after-"))
    assert first_after.id > seen[-1].id, "ids continue past"
    events = read_stream(collector.url, resume_id, "after-29")
    messages = [
        msgspec.json.decode(data, type=LogEntry).message for event, _, data in events if event == SSE_LOG
    ]
    told = [event for event, _, _ in events if event in ("gap", "dropped")]
    missing = [f"after-{i}" for i in range(30) if f"after-{i}" not in messages]
    assert not missing or told, f"silently missed {len(missing)} entries accepted after the restart"
    assert not missing, f"missed {len(missing)} entries accepted after the restart"
    gaps = [msgspec.json.decode(data, type=Gap) for event, _, data in events if event == SSE_GAP]
    assert not gaps, f"it had seen every id handed out before the crash, yet was told {gaps}"
    assert all(
        int(event_id.rpartition(":")[2]) > seen[-1].id for event, event_id, _ in events if event == SSE_LOG
    )


# ------------------------------------------------------------- retried batches


def post_keyed(url: str, key: str, messages: list[str]) -> httpx.Response:
    events = [{"agent_id": "keyed", "message": message} for message in messages]
    return httpx.post(url + PATH_EVENTS, json=events, headers={HEADER_IDEMPOTENCY_KEY: key}, timeout=10)


def test_a_batch_resent_with_its_idempotency_key_is_answered_the_same_and_stored_once(
    collector: RunningCollector,
) -> None:
    first = post_keyed(collector.url, "k-1", ["one", "two"])
    again = post_keyed(collector.url, "k-1", ["one", "two"])
    other = post_keyed(collector.url, "k-2", ["three"])
    assert first.status_code == again.status_code == other.status_code == 202
    assert again.content == first.content and first.json()["accepted"] == 2
    health = httpx.get(collector.url + PATH_HEALTH).json()
    assert health["events_total"] == 3 and health["last_log_id"] == 3
    assert collector.service.receipts.repeats == 1


@pytest.mark.parametrize("key", ["", "x" * 129, "tab\there", "é-not-ascii"])
def test_a_malformed_idempotency_key_is_refused_with_400_naming_the_header(
    collector: RunningCollector, key: str
) -> None:
    response = httpx.post(
        collector.url + PATH_EVENTS,
        json={"agent_id": "a", "message": "m"},
        headers={HEADER_IDEMPOTENCY_KEY: key.encode("utf-8")},  # type: ignore[dict-item]
    )
    assert response.status_code == 400 and HEADER_IDEMPOTENCY_KEY in response.json()["error"]
    assert httpx.get(collector.url + PATH_HEALTH).json()["events_total"] == 0


async def test_the_same_key_sent_twice_at_once_is_ingested_once(
    tmp_path: Path, start_collector: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first batch's commit is held until four copies of it have asked for its key, so they
    arrive while it is in flight and must wait for its answer."""
    collector = start_collector(store_path=tmp_path / "store.db", sync=True)
    service = collector.service
    store = service.store
    assert store is not None
    release = threading.Event()
    commits = claims = 0
    append_durable, claim = store.append_durable, service.receipts.claim

    async def held_append_durable(*args: Any, **kwargs: Any) -> None:
        nonlocal commits
        commits += 1
        await asyncio.to_thread(release.wait, 10)
        await append_durable(*args, **kwargs)

    async def counted_claim(key: str, digest: bytes | None = None) -> bytes | None:
        nonlocal claims
        claims += 1
        return await claim(key, digest)

    monkeypatch.setattr(store, "append_durable", held_append_durable)
    monkeypatch.setattr(service.receipts, "claim", counted_claim)

    events = [{"agent_id": "a", "message": f"m{i}"} for i in range(50)]
    async with httpx.AsyncClient(timeout=20) as client:

        def send() -> asyncio.Task[httpx.Response]:
            headers = {HEADER_IDEMPOTENCY_KEY: "same"}
            return asyncio.create_task(client.post(collector.url + PATH_EVENTS, json=events, headers=headers))

        first = send()
        await async_wait_until(lambda: commits == 1)  # the first batch is being committed, and held
        copies = [send() for _ in range(4)]
        await async_wait_until(lambda: claims == 5)  # every copy has asked for the key while it is in flight
        release.set()
        answers = [await first, *await asyncio.gather(*copies)]
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.content for answer in answers}) == 1
    assert commits == 1 and service.receipts.repeats == 4
    assert service.health().events_total == 50


def test_a_refused_batch_keeps_no_receipt_so_its_retry_is_ingested(
    capped_collector: Callable[..., CollectorProcess],
) -> None:
    collector = capped_collector("--sync", max_file_bytes=SMALL_FILES)
    accepted = 0
    for round_ in range(40):
        response = post_big(collector.url, round_, key=f"r-{round_}")
        if response.status_code != 202:
            break
        accepted += 20
    assert response.status_code == 503
    allow_file_growth(collector)
    retry = post_big(collector.url, round_, key=f"r-{round_}")
    assert retry.status_code == 202 and retry.json()["accepted"] == 20
    assert health(collector.url)["events_total"] == accepted + 20  # ingested, not answered from a receipt


def test_a_committed_batch_whose_answer_was_lost_is_not_stored_again_after_kill_9(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    """The exact case of a crash between commit and answer: the receipt is committed with the batch."""
    collector = start_collector_process("--store", str(tmp_path / "store.db"), "--sync")
    answer = post_keyed(collector.url, "lost-answer", ["a", "b", "c"])
    assert answer.status_code == 202
    collector.kill9()  # as if the 202 never reached the sender
    collector.restart()
    again = post_keyed(collector.url, "lost-answer", ["a", "b", "c"])
    assert again.status_code == 202 and again.content == answer.content
    assert [entry.message for entry in all_logs(collector.url, 3)] == ["a", "b", "c"]
    assert httpx.get(collector.url + PATH_HEALTH).json()["last_log_id"] == 3
    post_keyed(collector.url, "next", ["d"])
    assert [entry.message for entry in all_logs(collector.url, 4)] == ["a", "b", "c", "d"]
