"""Specification of the SQLite store (agentwatch.collector.store)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import agentwatch.collector.store as store_module
from agentwatch.collector.loghub import LogHub
from agentwatch.collector.loglines import event_to_log_entry
from agentwatch.collector.store import Store, StoreError
from agentwatch.collector.storedb import SCHEMA_VERSION
from agentwatch.protocol import Event
from tests.helpers import NOW, WAIT_TIMEOUT, Clock, wait_until

ROOT = str(Path(__file__).resolve().parent.parent)


def logs(
    n: int, *, start_id: int = 1, ts: float = NOW, agent: str = "a", level: str = "info"
) -> tuple[list[Event], int]:
    """``n`` log events and the log id of the first: ``store.append(*logs(n))``."""
    rows = [
        Event(agent_id=agent, timestamp=ts, span_type="log", level=level, message=f"line {start_id + i}")
        for i in range(n)
    ]
    return rows, start_id


def events(n: int, *, ts: float = NOW, agent: str = "a") -> list[Event]:
    return [Event(agent_id=agent, timestamp=ts, span_type="llm_call", tokens_output=i) for i in range(n)]


def count(path: Path, table: str) -> int:
    """Rows committed to ``table``, read through an independent connection."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.fixture
def writer_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The store's monotonic clock (flush interval, retries, retention), frozen until the test
    moves it: time passes for the writer only when the test says so."""
    clock = Clock(now=1_000.0)
    monkeypatch.setattr(store_module, "time", SimpleNamespace(monotonic=clock))
    return clock


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "agentwatch.db"


@pytest.fixture
def open_stores() -> Iterator[list[Store]]:
    stores: list[Store] = []
    yield stores
    for store in stores:
        store.close()


def opened(db: Path, stores: list[Store], **kwargs: object) -> Store:
    store = Store(db, **kwargs)  # type: ignore[arg-type]
    store.open()
    stores.append(store)
    return store


# ------------------------------------------------------------------------ round trip
def test_round_trip_across_close_and_reopen_ids_continue(db: Path) -> None:
    clock = Clock()
    hub = LogHub()
    store = Store(db, clock=clock)
    assert store.open().last_log_id == 0
    first = logs(3)[0] + events(3)
    first_id = hub.publish_events(first)
    store.append(first, first_id)
    store.close()
    assert store.written_rows == 6 and store.dropped_rows == 0

    store = Store(db, clock=clock)
    restored = store.open()
    assert restored.last_log_id == 6 and restored.warnings == []
    assert [(i, event_to_log_entry(e)) for i, e in restored.logs] == [
        (i, event_to_log_entry(e)) for i, e in enumerate(first, 1)
    ]
    assert restored.events == first
    fresh_hub = LogHub()
    fresh_hub.preload_events(restored.logs, last_id=restored.last_log_id)
    assert fresh_hub.entries_after(0, 100) == hub.entries_after(0, 100)
    assert fresh_hub.publish_events(events(2)) == 7
    store.close()


def test_log_lines_read_back_equal_the_lines_built_at_ingest(db: Path, open_stores: list[Store]) -> None:
    store = opened(db, open_stores)
    rows = [
        Event(agent_id="a", timestamp=NOW, span_type="llm_call", model="gpt-4o", tokens_input=10,
              tokens_output=2, latency_ms=12.5, cost_usd=0.002, cost_estimated=True, trace_id="t"),
        Event(agent_id="b", timestamp=NOW, span_type="error", error="boom", attributes={"k": [{"x": None}]}),
        Event(agent_id="c", timestamp=NOW, span_type="log", level="warning", message="\x1b[31m[b]hi[/b]"),
    ]  # fmt: skip
    store.append(rows, 41)
    assert store.flush()
    expected = []
    for entry_id, event in enumerate(rows, 41):
        entry = event_to_log_entry(event)
        entry.id = entry_id
        expected.append(entry)
    assert store.logs_after(0, 10) == expected


def test_open_restores_only_the_newest_logs_in_ascending_order(db: Path, open_stores: list[Store]) -> None:
    store = opened(db, open_stores, restore_logs=3, clock=Clock())
    store.append(*logs(10))
    assert store.flush()
    store.close()
    restored = Store(db, restore_logs=3, clock=Clock()).open()
    assert [i for i, _ in restored.logs] == [8, 9, 10]


def test_open_refills_events_newer_than_refill_seconds(db: Path) -> None:
    clock = Clock()
    store = Store(db, clock=clock, refill_seconds=180)
    store.open()
    store.append(events(2, ts=NOW - 300) + events(3, ts=NOW - 100) + events(1, ts=NOW - 1), 1)
    store.close()
    clock.now = NOW + 30  # restarted 30 s later: window reaches back to NOW - 150
    store = Store(db, clock=clock, refill_seconds=180)
    restored = store.open()
    store.close()
    assert [e.timestamp for e in restored.events] == [NOW - 100] * 3 + [NOW - 1]


def test_last_log_id_survives_even_when_every_log_has_aged_out(db: Path) -> None:
    clock = Clock()
    store = Store(db, clock=clock, max_age_seconds=60)
    store.open()
    store.append(*logs(4, start_id=40))
    store.close()
    clock.now = NOW + 3600
    store = Store(db, clock=clock, max_age_seconds=60)
    restored = store.open()
    store.close()
    assert restored.logs == [] and restored.last_log_id == 43


# ------------------------------------------------------------------------- retention
def test_retention_deletes_logs_older_than_max_age(db: Path, open_stores: list[Store]) -> None:
    clock = Clock()
    store = opened(db, open_stores, clock=clock, max_age_seconds=3600)
    store.append(*logs(3, start_id=1, ts=NOW - 7200))
    store.append(*logs(2, start_id=4, ts=NOW - 60))
    assert store.prune()
    assert [e.id for e in store.logs_after(0, 100)] == [4, 5]


def test_retention_keeps_only_the_newest_max_log_rows(db: Path, open_stores: list[Store]) -> None:
    store = opened(db, open_stores, max_log_rows=100, clock=Clock())
    store.append(*logs(250))
    assert store.prune()
    kept = store.logs_after(0, 1000)
    assert len(kept) == 100 and kept[0].id == 151 and kept[-1].id == 250


def test_refill_finds_the_window_start_in_a_long_history(db: Path) -> None:
    clock = Clock()
    store = Store(db, clock=clock, refill_seconds=60)
    store.open()
    for second in range(600):  # ten minutes, five events a second, in arrival order
        store.append(events(5, ts=NOW - 600 + second), 1 + 5 * second)
    store.close()
    restored = Store(db, clock=clock, refill_seconds=60).open()
    assert len(restored.events) == 60 * 5
    assert min(e.timestamp for e in restored.events) == NOW - 60  # type: ignore[type-var]


def test_retention_runs_periodically_in_the_writer(db: Path, open_stores: list[Store]) -> None:
    store = opened(
        db, open_stores, max_log_rows=10, retention_interval=0.0, flush_interval=0.01, clock=Clock()
    )
    store.append(*logs(30))
    wait_until(lambda: count(db, "logs") == 10)


# -------------------------------------------------------------------- opening errors
def test_corrupt_file_is_moved_aside_and_a_fresh_store_starts(db: Path) -> None:
    db.parent.mkdir(parents=True)
    garbage = b"this is not an sqlite database\n" * 200
    db.write_bytes(garbage)
    store = Store(db, clock=Clock())
    restored = store.open()
    store.append(*logs(1))
    store.close()
    aside = list(db.parent.glob("agentwatch.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    assert len(restored.warnings) == 1 and "moved to" in restored.warnings[0]
    assert restored.last_log_id == 0 and count(db, "logs") == 1


def test_a_file_of_the_older_two_table_schema_is_moved_aside_with_a_warning(db: Path) -> None:
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as old:
        old.execute(
            "CREATE TABLE logs (id INTEGER PRIMARY KEY, ts REAL, agent_id TEXT, level INTEGER, body BLOB)"
        )
        old.execute("CREATE TABLE events (ts REAL, body BLOB)")
        old.execute("INSERT INTO logs VALUES (1, 1.0, 'a', 1, '{}')")
    old.close()
    store = Store(db, clock=Clock())
    restored = store.open()
    store.close()
    assert len(list(db.parent.glob("agentwatch.db.v1-*"))) == 1
    assert len(restored.warnings) == 1 and "older schema" in restored.warnings[0]
    assert restored.logs == [] and count(db, "logs") == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_unwritable_path_raises_store_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "plain-file"
    not_a_dir.write_text("x")
    with pytest.raises(StoreError, match="cannot create directory"):
        Store(not_a_dir / "sub" / "agentwatch.db").open()
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path).open()


def test_locked_database_raises_store_error(db: Path) -> None:
    store = Store(db)
    store.open()
    store.close()
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match="locked"):  # the lock is held throughout: open gave up
            Store(db, busy_timeout=0.2).open()
    finally:
        other.execute("ROLLBACK")
        other.close()


# ------------------------------------------------------------------------ durability
def test_entries_are_committed_within_the_flush_interval(
    db: Path, open_stores: list[Store], writer_clock: Clock
) -> None:
    store = opened(db, open_stores, flush_interval=0.2)
    store.append(events(10), 1)
    assert count(db, "logs") == 0  # the writer's clock has not moved: the interval has not passed
    writer_clock.advance(0.2)
    wait_until(lambda: count(db, "logs") == 10)  # no flush, no close: the interval alone
    assert store.written_rows == 10 and store.status == "ok"


def test_a_full_batch_is_written_without_waiting_for_the_interval(
    db: Path, open_stores: list[Store], writer_clock: Clock
) -> None:
    store = opened(db, open_stores, flush_interval=1.0)
    store.append(*logs(6000))
    wait_until(lambda: store.written_rows == 6000)  # the writer's clock never moves


def test_flush_returns_once_everything_queued_is_committed(db: Path, open_stores: list[Store]) -> None:
    store = opened(db, open_stores, flush_interval=1.0)
    store.append(*logs(3))
    store.append(events(4), 4)
    assert store.flush(timeout=5)
    assert count(db, "logs") == 7


async def test_append_durable_resolves_only_once_committed(
    db: Path, open_stores: list[Store], writer_clock: Clock
) -> None:
    store = opened(db, open_stores, flush_interval=1.0)
    # The writer's clock never moves: durable rows do not wait for the interval.
    await asyncio.wait_for(store.append_durable(events(2), 1), WAIT_TIMEOUT)
    assert count(db, "logs") == 2
    await store.append_durable([], 3)


async def test_append_durable_raises_when_the_store_is_closed(db: Path) -> None:
    store = Store(db)
    store.open()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.append_durable(*logs(1))


def test_rows_beyond_the_queue_bound_are_dropped_and_counted(db: Path, open_stores: list[Store]) -> None:
    store = opened(db, open_stores, max_queued_rows=10)
    store.append(*logs(11))
    store.append(*logs(8, start_id=12))
    assert store.flush()
    assert store.dropped_rows == 11 and store.written_rows == 8


def test_append_after_close_is_dropped_and_close_is_idempotent(db: Path) -> None:
    store = Store(db)
    store.open()
    store.close()
    store.append(*logs(2))
    store.close()
    assert store.dropped_rows == 2 and store.status == "closed"


def test_logs_after_reads_committed_entries_beyond_an_id(db: Path, open_stores: list[Store]) -> None:
    store = opened(db, open_stores)
    store.append(*logs(20))
    assert store.flush()
    assert [e.id for e in store.logs_after(15, 3)] == [16, 17, 18]
    assert store.logs_after(20, 10) == []
    assert store.logs_after(0, 1)[0].message == "line 1"
    assert [e.id for e in store.logs_after(2, 100, before=6)] == [3, 4, 5]


def test_logs_after_narrows_by_agent_and_level_like_a_stream_filter(
    db: Path, open_stores: list[Store]
) -> None:
    store = opened(db, open_stores)
    store.append(*logs(3, agent="a"))
    store.append(*logs(3, start_id=4, agent="b", level="warn"))
    store.append([Event(agent_id="b", timestamp=NOW, span_type="error", error="x")], 7)
    assert store.flush()
    assert [e.id for e in store.logs_after(0, 100, agent="b")] == [4, 5, 6, 7]
    assert [e.id for e in store.logs_after(0, 100, min_rank=3)] == [7]
    assert [(e.id, e.level) for e in store.logs_after(4, 100, agent="b", min_rank=2)] == [
        (5, "warning"),
        (6, "warning"),
        (7, "error"),
    ]


def test_logs_after_on_a_store_that_is_not_open_raises(db: Path) -> None:
    with pytest.raises(StoreError):
        Store(db).logs_after(0, 10)


# ---------------------------------------------------------------- processes and disks
CHILD_PRELUDE = textwrap.dedent(
    """
    import json, os, resource, signal, sys, time
    from agentwatch.collector.store import Store
    from agentwatch.protocol import Event

    def logs(n, start):
        line = dict(agent_id="a", span_type="log", message="x" * 200)
        return [Event(timestamp=time.time(), **line) for _ in range(n)], start

    def events(n):
        return [Event(agent_id="a", timestamp=time.time(), tokens_output=i) for i in range(n)]

    from tests.helpers import wait_until
    """
)
#: The children import the tests' helpers from the repository's root.
CHILD_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}


def run_child(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD_PRELUDE + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=CHILD_ENV,
    )


def test_sigkill_after_the_flush_interval_loses_no_appended_entry(db: Path) -> None:
    flush_interval = 0.2
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD_PRELUDE
            + textwrap.dedent(
                """
                store = Store(sys.argv[1], flush_interval=float(sys.argv[2]))
                store.open()
                for batch in range(10):
                    store.append(*logs(100, 1 + batch * 150))
                    store.append(events(50), 101 + batch * 150)
                print("appended", flush=True)
                time.sleep(120)  # killed long before this ends; never flushes or closes
                """
            ),
            str(db),
            str(flush_interval),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "appended"
        wait_until(lambda: count(db, "logs") == 1500)  # committed by the writer alone: no flush, no close
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    store = Store(db, restore_logs=5000)
    restored = store.open()
    store.close()
    assert [i for i, _ in restored.logs] == list(range(1, 1501))
    assert restored.last_log_id == 1500 and len(restored.events) == 1500


def test_writer_survives_a_disk_full_error_and_recovers(db: Path) -> None:
    """The child caps its file size (RLIMIT_FSIZE): writes fail like on a full disk, then succeed."""
    result = run_child(
        """
        store = Store(sys.argv[1], flush_interval=0.05)
        store.open()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        size = max(os.path.getsize(sys.argv[1] + suffix) for suffix in ("", "-wal"))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 64 * 1024, hard))
        store.append(*logs(3000, 1))
        store.append(events(3000), 3001)
        wait_until(lambda: store.errors > 0)
        failing = {"status": store.status, "errors": store.errors, "written": store.written_rows}
        store.append(*logs(10, 6001))  # ingest carries on while the disk is full
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space again
        wait_until(lambda: store.status == "ok" and store.written_rows == 6010)
        store.close()
        print(json.dumps({"failing": failing, "written": store.written_rows, "dropped": store.dropped_rows}))
        """,
        str(db),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["failing"]["status"].startswith("error: ")
    assert report["failing"]["errors"] >= 1 and report["failing"]["written"] == 0
    assert report["written"] == 6010 and report["dropped"] == 0
    assert count(db, "logs") == 6010


# ------------------------------------------------------------------ collector wiring
async def test_collector_resumes_a_viewer_from_the_store_beyond_its_log_ring(tmp_path: Path) -> None:
    from agentwatch.collector.service import Collector, Settings

    collector = Collector(Settings(store_path=tmp_path / "c.db", log_history=100, flush_interval=0.05))
    await collector.start()
    try:
        collector.ingest(logs(1000)[0])
        assert collector.store is not None and collector.store.flush()
        subscription = collector.logs.subscribe(after=10)
        ids: list[int] = []
        stream = subscription.frames()
        async with asyncio.timeout(5):
            while len(ids) < 990:
                batch = await stream.__anext__()
                assert b"event: gap" not in batch
                ids.extend(
                    int(line.rpartition(b":")[2]) for line in batch.split(b"\n") if line.startswith(b"id: ")
                )
        assert ids == list(range(11, 1001))
        assert collector.logs.backfilled_total == 890
        await stream.aclose()
    finally:
        await collector.stop()


# ------------------------------------------------ ids never reused, receipts, refusals
def mark(db: Path) -> int:
    """The reserved id mark as a crash would leave it."""
    return int(Path(f"{db}-ids").read_bytes()[:32].strip() or 0)


def crash_copy(db: Path, target: Path) -> Path:
    """The files as a SIGKILL would leave them now (committed pages, WAL included)."""
    import shutil

    for suffix in ("", "-wal", "-ids"):
        if Path(f"{db}{suffix}").exists():
            shutil.copyfile(f"{db}{suffix}", f"{target}{suffix}")
    return target


def test_reserved_ids_are_on_disk_before_reserve_returns_and_a_crash_restart_continues_past_them(
    db: Path, tmp_path: Path, open_stores: list[Store]
) -> None:
    store = opened(db, open_stores, reserve_block=100, clock=Clock())
    assert store.reserve_ids(5) == mark(db) == 105
    assert store.reserve_ids(100) == 105 and store.reserve_writes == 1  # within the block: no write
    store.append(*logs(5))
    assert store.flush()
    crashed = Store(crash_copy(db, tmp_path / "crashed.db"), clock=Clock())
    open_stores.append(crashed)
    restored = crashed.open()
    assert restored.last_log_id == 105 and [i for i, _ in restored.logs] == [1, 2, 3, 4, 5]


def test_a_clean_close_lowers_the_mark_so_ids_continue_after_the_last_appended(db: Path) -> None:
    store = Store(db, reserve_block=1000)
    store.open()
    store.reserve_ids(3)
    store.append(*logs(3))
    store.close()
    assert mark(db) == 3
    reopened = Store(db)
    assert reopened.open().last_log_id == 3
    reopened.close()


def test_a_store_that_failed_to_open_leaves_the_mark_alone(db: Path, tmp_path: Path) -> None:
    store = Store(db, reserve_block=1000)
    store.open()
    store.reserve_ids(10)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            Store(db, busy_timeout=0.1).open()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert mark(db) == 1010
    store.close()


def test_receipts_are_committed_with_their_rows_and_restored_after_a_crash(
    db: Path, tmp_path: Path, open_stores: list[Store]
) -> None:
    store = opened(db, open_stores, clock=Clock())
    store.append(*logs(2), receipt=("key-1", NOW, b'{"accepted":2,"rejected":[]}', b"digest-1"))
    store.append([], 3, receipt=("key-2", NOW + 1, b'{"accepted":0,"rejected":[]}', None))
    assert store.flush()
    crashed = Store(crash_copy(db, tmp_path / "crashed.db"), clock=Clock(NOW + 10))
    open_stores.append(crashed)
    restored = crashed.open()
    assert restored.receipts == [
        ("key-1", NOW, b'{"accepted":2,"rejected":[]}', b"digest-1"),
        ("key-2", NOW + 1, b'{"accepted":0,"rejected":[]}', None),
    ]


def test_receipts_older_than_receipt_seconds_or_beyond_max_receipts_are_pruned(
    db: Path, open_stores: list[Store]
) -> None:
    clock = Clock()
    store = opened(db, open_stores, clock=clock, receipt_seconds=60, max_receipts=2)
    for i in range(3):
        store.append([], 1, receipt=(f"k{i}", NOW, b"{}", None))
    assert store.prune()
    assert count(db, "receipts") == 2
    clock.now += 61
    assert store.prune()
    assert count(db, "receipts") == 0


def test_a_store_without_receipts_has_no_receipts_table(db: Path, open_stores: list[Store]) -> None:
    store = opened(db, open_stores)
    store.append(*logs(1))
    assert store.flush()
    with sqlite3.connect(db) as conn:
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'receipts'").fetchone()


async def test_a_durable_append_that_fails_is_discarded_never_written_later(db: Path) -> None:
    store = Store(db, busy_timeout=0.1, flush_interval=0.05)
    store.open()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError):
            await store.append_durable(*logs(4), receipt=("refused", NOW, b"{}", None))
        store.append(*logs(2, start_id=5))  # not durable: kept for the retry
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.flush(10)
    store.close()
    with sqlite3.connect(db) as conn:
        assert [row[0] for row in conn.execute("SELECT id FROM logs ORDER BY id")] == [5, 6]
        assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'receipts'").fetchone()
    assert store.refused_rows == 4 and store.dropped_rows == 0
