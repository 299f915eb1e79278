"""The store's writer keeps its work per transaction bounded (agentwatch.collector.store).

A backlog is written in transactions of at most ``transaction_rows`` rows, and retention deletes
at most ``retention_step`` rows per transaction, with queued rows written between its steps, so
neither a slow disk nor a large deletion makes the writer encode a burst of rows at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentwatch.collector.store import Store
from agentwatch.protocol import Event
from tests.helpers import NOW, wait_until


def logs(n: int, *, ts: float = NOW) -> list[Event]:
    return [
        Event(agent_id="a", timestamp=ts, span_type="log", level="info", message=f"line {i}")
        for i in range(n)
    ]


def ids(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT id FROM logs ORDER BY id")]


class RecordingStore(Store):
    """A real store that notes each transaction the writer makes: ("write", rows) or ("retain", rows)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.transactions: list[tuple[str, int]] = []
        self.during_first_retention: Callable[[], None] | None = None

    def _write(self, conn: sqlite3.Connection, batch: object) -> None:
        super()._write(conn, batch)  # type: ignore[arg-type]
        self.transactions.append(("write", batch.rows))  # type: ignore[attr-defined]

    def _retain(self, conn: sqlite3.Connection) -> bool:
        before = conn.total_changes
        more = super()._retain(conn)
        self.transactions.append(("retain", conn.total_changes - before))
        if self.during_first_retention is not None:
            hook, self.during_first_retention = self.during_first_retention, None
            hook()
        return more


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "agentwatch.db"


def test_a_backlog_is_written_in_transactions_of_at_most_transaction_rows(db: Path) -> None:
    store = RecordingStore(db, transaction_rows=100, flush_interval=1.0, clock=lambda: NOW)
    store.open()
    try:
        with store._cond:  # the writer cannot take anything until all ten appends are queued
            for block in range(10):
                store.append(logs(30), 1 + 30 * block)
        assert store.flush()
        writes = [rows for kind, rows in store.transactions if kind == "write"]
        assert sum(writes) == 300 and max(writes) <= 100 and len(writes) >= 3
        assert ids(db) == list(range(1, 301))
    finally:
        store.close()


def test_one_append_larger_than_transaction_rows_is_not_split(db: Path) -> None:
    store = RecordingStore(db, transaction_rows=10, clock=lambda: NOW)
    store.open()
    try:
        store.append(logs(25), 1)
        assert store.flush()
        assert ("write", 25) in store.transactions
    finally:
        store.close()


def test_retention_deletes_at_most_retention_step_rows_per_transaction(db: Path) -> None:
    store = RecordingStore(
        db, max_log_rows=10, retention_step=40, retention_interval=0.0, flush_interval=0.01, clock=lambda: NOW
    )
    store.open()
    try:
        store.append(logs(300), 1)
        wait_until(lambda: ids(db) == list(range(291, 301)))
        deleted = [rows for kind, rows in store.transactions if kind == "retain"]
        assert sum(deleted) == 290 and max(deleted) <= 40
    finally:
        store.close()


def test_rows_queued_during_a_retention_pass_are_written_between_its_steps(db: Path) -> None:
    store = RecordingStore(
        db, max_log_rows=10, retention_step=40, retention_interval=0.0, flush_interval=0.01, clock=lambda: NOW
    )
    store.open()
    try:
        store.transactions.clear()  # the pass at open
        store.during_first_retention = lambda: store.append(logs(5), 301)
        store.append(logs(300), 1)
        wait_until(lambda: ids(db) == list(range(296, 306)))
        kinds = [kind for kind, _ in store.transactions]
        assert kinds[:3] == ["write", "retain", "write"]  # the 5 rows did not wait for the pass to end
        assert kinds[3:].count("retain") >= 6
    finally:
        store.close()


def test_retention_by_age_in_steps_keeps_every_row_from_the_first_recent_one(db: Path) -> None:
    store = Store(db, max_age_seconds=3600, retention_step=7, clock=lambda: NOW)
    store.open()
    try:
        store.append(logs(30, ts=NOW - 7200), 1)
        store.append(logs(10, ts=NOW - 60), 31)
        assert store.prune()
        assert ids(db) == list(range(31, 41))
    finally:
        store.close()
