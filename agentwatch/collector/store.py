"""Embedded persistence: an SQLite file (stdlib, WAL) written in batches by one background thread.

The store exists so that a restarted collector still has its log history (ids continue where they
stopped) and can refill its metrics window. It is never on the ingest path: :meth:`Store.append`
hands the accepted events to a writer thread in O(1) and returns; the rows are encoded in that
thread. If the disk fails or the queue is full, rows are counted in ``dropped_rows`` and ingest
carries on.

One row per event, keyed by the id of its log line (the database and its queries:
:mod:`~agentwatch.collector.storedb`): the log line is a deterministic function of the event
(:func:`~agentwatch.collector.loglines.event_to_log_entry`), so log history, resume
(:meth:`Store.logs_after`) and the window refill all read the same rows.

Durability: an event passed to :meth:`Store.append` is committed within ``flush_interval`` seconds
(plus the write time). With ``synchronous=NORMAL`` a commit survives a crash of the process
(SIGKILL included) but the last commits may be lost on power failure. Rows of a durable append
(:meth:`Store.append_durable`) whose commit fails are discarded (the caller was told), never
written later.

Ids are never reused across a crash: :meth:`Store.reserve_ids` records the highest id the log hub
hands out before it hands it out, in ``<path>-ids`` (:class:`~agentwatch.collector.idmark.IdMark`,
which also names the id sequence). :meth:`Store.open` reports ``last_log_id`` as the larger of the
newest row and that mark, so after a crash the ids between them are exactly those handed out and
never stored. With ``reserve_block`` > 0 the mark runs that many ids ahead (fewer writes) and gap
counts over a crash become upper bounds. A clean :meth:`Store.close` lowers the mark to the last id
appended.

Idempotency receipts (the answer given to a batch sent with an ``Idempotency-Key``, with the
digest of the batch it answered) are written in the same transaction as the batch's rows, kept
``receipt_seconds`` and at most ``max_receipts``, and returned by :meth:`Store.open`, so a batch
committed just before a crash is not stored twice when its sender retries it.

Retention runs every ``retention_interval`` seconds in the writer (and at open): rows older than
``max_age_seconds`` or beyond the newest ``max_log_rows``, deleted at most ``retention_step`` at a
time with the queued rows written in between, so a large deletion never holds up the writer.

Memory: the rows of one transaction are encoded together, at most ``transaction_rows`` of them
(the rest wait in the queue as events). A backlog therefore never turns into a burst of encoded
rows: such a burst makes the interpreter take new memory arenas, which the long-lived objects
allocated meanwhile then keep from ever being returned (the collector's RSS would ratchet up).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

import msgspec

from agentwatch.collector import storedb
from agentwatch.collector.idmark import IdMark
from agentwatch.collector.loglines import event_to_log_entry
from agentwatch.collector.storedb import LogRow, OldSchema, event_decoder
from agentwatch.protocol import Event, LogEntry

log = logging.getLogger(__name__)

#: A batch is written as soon as this many rows are queued, without waiting for the interval.
BATCH_ROWS: Final = 5_000

# A durable append's completion callback: called from the writer thread with None or the error.
_Done = Callable[[BaseException | None], None]

#: An idempotency receipt: (key, unix time it was given, the answer's body, the digest of the batch
#: it answered or None; see :mod:`~agentwatch.collector.receipts`).
Receipt = tuple[str, float, bytes, bytes | None]

# One queued append: events, the id of the first, durable completion callback, receipt.
_Item = tuple[Sequence[Event], int, "_Done | None", "Receipt | None"]

#: After a failed synchronous id reservation, the next attempt waits this long (seconds).
RESERVE_RETRY_SECONDS: Final = 1.0
#: Rows of an earlier schema indexed by trace in one step of the writer (between its writes).
TRACE_INDEX_STEP: Final = 5_000
_T = TypeVar("_T")


class StoreError(Exception):
    """The store cannot be used (locked, unwritable, closed); the message says why."""


@dataclass
class Restored:
    """What a restarted collector gets back from :meth:`Store.open`.

    ``logs``: the newest ``restore_logs`` rows as (log id, event), ascending ids — the log hub
    turns them into log lines (:meth:`~agentwatch.collector.loghub.LogHub.preload_events`).
    ``events``: events stamped within the last ``refill_seconds``, in arrival order.
    ``last_log_id``: the id after which new ids start (the newest row or the reserved mark).
    ``receipts``: idempotency receipts younger than ``receipt_seconds``, oldest first.
    ``sequence``: the id sequence's name (the id mark's); ``continued``: ids go on from an
    earlier run's; ``exact_after``: ids up to it may include some never handed out (gap counts
    reaching them are upper bounds).
    """

    last_log_id: int = 0
    sequence: str = ""
    continued: bool = False
    exact_after: int = 0
    logs: list[tuple[int, Event]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)


@dataclass
class _Batch:
    """Encoded rows waiting for one transaction, and who waits for them.

    Rows and receipts of durable appends are kept apart: when a write fails they are discarded
    (their senders are told), while the others stay for the retry.
    """

    logs: list[LogRow] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    durable_logs: list[LogRow] = field(default_factory=list)
    durable_receipts: list[Receipt] = field(default_factory=list)
    done: list[_Done] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.logs) + len(self.durable_logs)

    @property
    def empty(self) -> bool:
        return not (self.logs or self.durable_logs or self.receipts or self.durable_receipts or self.done)


class Store:
    """SQLite persistence for log entries and events; see the module docstring for the contract.

    ``flush_interval`` is clamped to [0, 1] seconds. ``restore_logs`` / ``restore_events`` bound
    what :meth:`open` loads. ``max_queued_rows`` bounds memory while the disk is slow or failing.
    ``reserve_block``: ids reserved ahead per write of the high-water mark (0: none, every id
    handed out is recorded exactly).
    ``receipt_seconds`` / ``max_receipts``: how long and how many idempotency receipts are kept.
    ``retention_step``: most rows (of each table) one retention transaction deletes (≥ 1).
    ``transaction_rows``: most queued rows written in one transaction (an append is never split).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval: float = 0.5,
        max_age_seconds: float = 7 * 86400,
        max_log_rows: int = 2_000_000,
        refill_seconds: float = 180.0,
        clock: Callable[[], float] = time.time,
        restore_logs: int = 50_000,
        restore_events: int = 1_000_000,
        max_queued_rows: int = 500_000,
        retention_interval: float = 60.0,
        busy_timeout: float = 2.0,
        reserve_block: int = 0,
        receipt_seconds: float = 900.0,
        max_receipts: int = 100_000,
        retention_step: int = 50_000,
        transaction_rows: int = 20_000,
    ) -> None:
        self.path = Path(path)
        self.flush_interval = min(max(flush_interval, 0.0), 1.0)
        self.max_age_seconds = max_age_seconds
        self.max_log_rows = max_log_rows
        self.refill_seconds = refill_seconds
        self.restore_logs = restore_logs
        self.restore_events = restore_events
        self.max_queued_rows = max_queued_rows
        self.retention_interval = retention_interval
        self.retention_step = max(int(retention_step), 1)
        self.transaction_rows = max(int(transaction_rows), 1)
        self.busy_timeout = busy_timeout
        self.reserve_block = max(int(reserve_block), 0)
        self.receipt_seconds = receipt_seconds
        self.max_receipts = max_receipts
        self._clock = clock
        self.status = "not open"
        self.written_rows = 0
        self.dropped_rows = 0
        self.errors = 0
        #: Rows of durable appends whose commit failed: discarded, their senders were told.
        self.refused_rows = 0
        #: Synchronous writes of the id mark (the writer thread did not get ahead in time).
        self.reserve_writes = 0
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0  # queued + encoded-but-uncommitted rows
        self._first_queued_at: float | None = None  # monotonic time of the oldest unwritten row
        self._urgent = False
        self._markers: list[threading.Event] = []
        self._retention_requested = False
        self._stopping = False
        self._opened = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self._reserved = 0  # ids up to here are reserved in the mark file
        self._reserve_retry_at = 0.0  # monotonic time before which a failed reservation is not retried
        self._mark = IdMark(f"{self.path}-ids")
        self._highest_appended = 0  # the largest id passed to an append
        self._has_receipts = False  # the receipts table exists
        self.trace_indexing = False  # rows of an earlier schema not all indexed by trace yet

    # ------------------------------------------------------------------ opening
    def _connect(self) -> sqlite3.Connection:
        return storedb.connect(self.path, self.busy_timeout)

    def open(self) -> Restored:
        """Create or open the database, start the writer, return what it holds.

        A corrupt file is moved aside (``<path>.corrupt-<unix time>``), as is a file of an older
        schema (``<path>.v1-<unix time>``), and a fresh one started; ``warnings`` says so (the
        caller reports it: nothing is logged here, so it is said once). Raises
        :class:`StoreError` if the path cannot be created or written or the database is locked
        by another process.
        """
        if self._opened:
            raise StoreError("store already opened")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create directory {self.path.parent}: {exc.strerror or exc}") from exc
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a directory")
        warnings: list[str] = []
        try:
            conn, restored = self._open_once()
        except sqlite3.OperationalError as exc:
            self._close_mark()
            raise self._open_error(exc) from exc
        except (sqlite3.DatabaseError, OldSchema) as exc:  # not a database, malformed, old schema
            self._close_mark()
            if isinstance(exc, OldSchema):
                moved = storedb.move_aside(self.path, "v1", self._clock())
                warnings.append(f"store {self.path} has an older schema; moved to {moved}, started afresh")
            else:
                moved = storedb.move_aside(self.path, "corrupt", self._clock())
                warnings.append(f"store {self.path} was unreadable ({exc}); moved to {moved}, started afresh")
            try:
                conn, restored = self._open_once()
            except (sqlite3.Error, OldSchema) as again:
                self._close_mark()
                raise self._open_error(again) from again
        restored.warnings[:0] = warnings
        self._reader = conn
        self._opened = True
        self.status = "ok"
        self._thread = threading.Thread(target=self._run, name="agentwatch-store-writer", daemon=True)
        self._thread.start()
        return restored

    def _open_error(self, exc: sqlite3.Error | OldSchema) -> StoreError:
        reason = str(exc)
        if "locked" in reason or "busy" in reason:
            return StoreError(f"database {self.path} is locked by another process")
        return StoreError(f"cannot open database {self.path}: {reason}")

    def _open_once(self) -> tuple[sqlite3.Connection, Restored]:
        conn = self._connect()
        try:
            return conn, self._prepare(conn)
        except BaseException:
            conn.close()
            raise

    def _prepare(self, conn: sqlite3.Connection) -> Restored:
        restored = Restored()
        warning = storedb.create_schema(conn)
        if warning is not None:
            restored.warnings.append(warning)
        self._has_receipts = storedb.table_exists(conn, "receipts")
        if self._has_receipts:
            storedb.add_receipt_digests(conn)
        self.trace_indexing = storedb.trace_backfill_pending(conn)
        while self._retain(conn):
            pass
        restored.last_log_id = max(storedb.last_log_id(conn), self._mark.open(restored.warnings))
        restored.sequence = self._mark.sequence
        restored.continued = restored.last_log_id > 0
        restored.exact_after = self._mark.exact_after if self._mark.continued else restored.last_log_id
        self._reserved = self._highest_appended = restored.last_log_id
        if self._has_receipts:
            since = self._clock() - self.receipt_seconds
            restored.receipts = storedb.read_receipts(conn, since, max(self.max_receipts, 0))
        restored.logs, bad_logs = storedb.read_newest(conn, self.restore_logs)
        restored.events, bad_events = storedb.read_since(
            conn, self._clock() - self.refill_seconds, self.restore_events
        )
        bad = bad_logs + bad_events
        if bad:
            restored.warnings.append(f"store: skipped {bad} unreadable rows")
        return restored

    # ------------------------------------------------------------------ writing
    def append(self, events: Sequence[Event], first_id: int, receipt: Receipt | None = None) -> None:
        """Queue events for the writer, event ``i`` under log id ``first_id + i``.

        O(1): encoding happens in the writer thread, so the events must not be changed
        afterwards. Never raises for a full queue or a failing disk: rows beyond
        ``max_queued_rows`` (or after :meth:`close`) are counted in ``dropped_rows``.
        An id already stored is replaced. ``receipt`` is committed in the same transaction.
        """
        self._enqueue(events, first_id, None, receipt)

    async def append_durable(
        self, events: Sequence[Event], first_id: int, receipt: Receipt | None = None
    ) -> None:
        """Queue rows and return once they are committed (written promptly, not after the interval).

        Raises :class:`StoreError` if the store is closed, its queue is full, or the write fails;
        the rows (and ``receipt``) are then discarded, never written later, and counted in
        ``refused_rows``. ``receipt`` is committed in the same transaction as the rows.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def resolve(error: BaseException | None) -> None:
            if future.done():
                return
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(StoreError(f"store write failed: {error}"))

        def done(error: BaseException | None) -> None:
            loop.call_soon_threadsafe(resolve, error)

        if not events and receipt is None:
            return
        if not self._enqueue(events, first_id, done, receipt):
            raise StoreError("store is closed" if self._closed else "store queue is full")
        await future

    def _enqueue(
        self, events: Sequence[Event], first_id: int, done: _Done | None, receipt: Receipt | None
    ) -> bool:
        rows = len(events)
        if rows == 0 and receipt is None:
            return True
        with self._cond:
            if rows:
                self._highest_appended = max(self._highest_appended, first_id + rows - 1)
            if self._closed or not self._opened or self._queued_rows + rows > self.max_queued_rows:
                if done is None:
                    self.dropped_rows += rows
                else:
                    self.refused_rows += rows
                return False
            wake = not self._queue or done is not None
            if not self._queue:
                self._first_queued_at = time.monotonic()
            self._queue.append((events, first_id, done, receipt))
            self._queued_rows += rows
            if done is not None:
                self._urgent = True
            if wake or self._queued_rows >= BATCH_ROWS:
                self._cond.notify()
        return True

    def reserve_ids(self, last: int) -> int:
        """Durably record log ids up to ``last`` as handed out; return the id up to which the caller
        may go on handing out ids before calling again (≥ ``last``).

        When ``last`` passes the mark, the mark moves to ``last + reserve_block`` with one small
        write to the mark file (counted in ``reserve_writes``); otherwise no I/O. Never raises:
        when the mark cannot be written (disk full, store closed) the failure is counted in
        ``errors`` and ``last`` is returned, so ids keep flowing (and may then be reused after a
        crash); a failed write is retried at most once per :data:`RESERVE_RETRY_SECONDS`.
        """
        if last <= self._reserved:
            return self._reserved
        if self._closed or time.monotonic() < self._reserve_retry_at:
            return last
        mark = last + self.reserve_block
        try:
            self._mark.write(mark, reserved_ahead=self.reserve_block > 0)
        except OSError as exc:
            self.errors += 1
            self._reserve_retry_at = time.monotonic() + RESERVE_RETRY_SECONDS
            log.warning("store could not reserve log ids (they may be reused after a crash): %s", exc)
            return last
        self.reserve_writes += 1
        self._reserved = mark
        return mark

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until everything queued before the call is committed; False on timeout/failure."""
        marker = threading.Event()
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                return self._queued_rows == 0
            self._markers.append(marker)
            self._cond.notify()
        return marker.wait(timeout)

    def prune(self, timeout: float = 5.0) -> bool:
        """Run retention now (after committing what is queued); False on timeout."""
        with self._cond:
            self._retention_requested = True
        return self.flush(timeout)

    @property
    def queued_rows(self) -> int:
        """Rows accepted but not yet committed (bounded by ``max_queued_rows``)."""
        return self._queued_rows

    def close(self) -> None:
        """Commit what is queued (one last attempt), stop the writer, close the files. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        self._close_mark()
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
        if self._opened and not self.status.startswith("error"):
            self.status = "closed"

    def _close_mark(self) -> None:
        """Lower the mark to the last id appended (every id handed out), close the file.

        When opening failed, the mark on disk stays as it was.
        """
        try:
            self._mark.close(self._highest_appended if self._opened else None)
        except OSError as exc:
            self.errors += 1
            log.warning("store could not record the last log id at close: %s", exc)

    # ------------------------------------------------------------------ reading
    def read(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        """``query(connection)`` on the reader connection, one reader at a time (see
        :mod:`~agentwatch.collector.storedb` for the queries). Blocking: call it off the event loop.
        Raises :class:`StoreError` when the store is not open or the read fails."""
        with self._reader_lock:
            if self._reader is None:
                raise StoreError("store is not open")
            try:
                return query(self._reader)
            except sqlite3.Error as exc:
                self.errors += 1
                raise StoreError(f"store read failed: {exc}") from exc

    def get_meta(self, key: str) -> bytes | None:
        """One value of the ``meta`` table (None: not set). Blocking; raises like :meth:`read`."""
        return self.read(lambda conn: storedb.get_meta(conn, key))

    def put_meta(self, key: str, value: bytes) -> None:
        """Set one ``meta`` value, committed on return (small, rare writes such as the alerts'
        acknowledgements, beside the writer's transactions). Blocking; raises like :meth:`read`."""
        self.read(lambda conn: storedb.set_meta(conn, key, value))

    def backfill(
        self, after: int, before: int, limit: int, agent: str | None, min_rank: int
    ) -> tuple[int, list[LogEntry]]:
        """Older log lines for a resuming subscriber (the log hub's ``Backfill`` contract).

        Returns (smallest id > ``after`` committed, or ``before`` if none; the matching lines with
        ``after`` < id < ``before``). Blocking; raises :class:`StoreError` like :meth:`logs_after`.
        """
        row = self.read(
            lambda conn: conn.execute(
                "SELECT min(id) FROM logs WHERE id > ? AND id < ?", (after, before)
            ).fetchone()
        )
        first_held = before if row is None or row[0] is None else int(row[0])
        if first_held >= before:
            return before, []
        return first_held, self.logs_after(after, limit, before=before, agent=agent, min_rank=min_rank)

    def logs_after(
        self,
        after: int,
        limit: int,
        *,
        before: int | None = None,
        agent: str | None = None,
        min_rank: int = 0,
    ) -> list[LogEntry]:
        """Committed log lines with ``after`` < id (< ``before`` when given), ascending, at most ``limit``.

        ``agent`` and ``min_rank`` (a :data:`~agentwatch.protocol.LEVEL_RANK` value) narrow the
        rows like a log-stream filter. Blocking (an SQLite read): call it off the event loop.
        Raises :class:`StoreError` when the store is not open or the read fails; an unreadable
        row is skipped and counted in ``errors``.
        """
        sql = "SELECT id, body FROM logs WHERE id > ?"
        params: list[object] = [after]
        if before is not None:
            sql += " AND id < ?"
            params.append(before)
        if agent is not None:
            sql += " AND agent_id = ?"
            params.append(agent)
        if min_rank > 0:
            sql += " AND level >= ?"
            params.append(min_rank)
        params.append(max(limit, 0))
        rows = self.read(lambda conn: conn.execute(sql + " ORDER BY id LIMIT ?", params).fetchall())
        entries = []
        for entry_id, body in rows:
            try:
                entry = event_to_log_entry(event_decoder.decode(body))
            except msgspec.DecodeError:
                self.errors += 1
                continue
            entry.id = entry_id
            entries.append(entry)
        return entries

    # ------------------------------------------------------------- writer thread
    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        pending = _Batch()
        failures = 0
        retry_at = 0.0
        next_retention = time.monotonic() + self.retention_interval
        retention_more = False  # a retention pass has rows left: its next step follows the next write
        while True:
            with self._cond:
                while True:
                    if self._stopping or self._markers or self._retention_requested:
                        break
                    if (retention_more or self.trace_indexing) and not failures:
                        break
                    now = time.monotonic()
                    wait: float | None = None
                    if failures and pending.rows:  # back off after a failed write
                        if now >= retry_at:
                            break
                        wait = retry_at - now
                    elif self._queue:
                        if self._urgent or self._queued_rows >= BATCH_ROWS:
                            break
                        due = (self._first_queued_at or now) + self.flush_interval
                        if now >= due:
                            break
                        wait = due - now
                    self._cond.wait(wait)
                stopping = self._stopping
                items = self._take(everything=stopping)
                markers: list[threading.Event] = []
                requested = False
                if not self._queue:  # what was queued before a flush or prune is all taken
                    self._first_queued_at = None
                    self._urgent = False
                    markers, self._markers = self._markers, []
                    requested, self._retention_requested = self._retention_requested, False
                retention = requested or retention_more or time.monotonic() >= next_retention
            self._encode(items, pending)
            ok = True
            if not pending.empty:
                try:
                    conn = conn or self._connect()
                    self._write(conn, pending)
                except (sqlite3.Error, OSError) as exc:
                    ok = False
                    failures += 1
                    retry_at = time.monotonic() + min(max(self.flush_interval, 0.1) * 2**failures, 5.0)
                    self._fail(exc, pending)
                    self._close_quietly(conn)
                    conn = None
                else:
                    failures = 0
                    self.status = "ok"
                    self._commit_done(pending)
                    pending = _Batch()
            if ok and retention and conn is not None:
                next_retention = time.monotonic() + self.retention_interval
                try:
                    retention_more = self._retain(conn)
                    while requested and retention_more:  # prune(): the whole pass now
                        retention_more = self._retain(conn)
                except sqlite3.Error as exc:
                    retention_more = False
                    self.errors += 1
                    log.warning("store retention failed: %s", exc)
            if ok and self.trace_indexing:
                try:
                    conn = conn or self._connect()
                    self.trace_indexing = storedb.index_traces_step(conn, TRACE_INDEX_STEP)
                except sqlite3.Error as exc:
                    self.trace_indexing = False
                    self.errors += 1
                    log.warning("store could not index older rows by trace: %s", exc)
            if ok:
                for marker in markers:
                    marker.set()
            if stopping:
                if not ok:
                    with self._cond:
                        self.dropped_rows += pending.rows
                        self._queued_rows -= pending.rows
                self._close_quietly(conn)
                return

    def _take(self, *, everything: bool) -> list[_Item]:
        """Queued appends for one transaction: at least one, up to ``transaction_rows`` rows (all
        of them when ``everything``). Call with ``_cond`` held."""
        queue, rows, limit = self._queue, 0, self.transaction_rows
        items: list[_Item] = []
        while queue and (everything or not items or rows + len(queue[0][0]) <= limit):
            item = queue.popleft()
            items.append(item)
            rows += len(item[0])
        return items

    def _encode(self, items: list[_Item], batch: _Batch) -> None:
        """Turn queued events into rows (in this thread, off the event loop)."""
        for events, first_id, done, receipt in items:
            try:
                rows = storedb.log_rows(events, first_id, self._clock())
            except (msgspec.EncodeError, TypeError, ValueError) as exc:
                self.errors += 1
                log.warning("store: dropped %d unencodable rows: %s", len(events), exc)
                with self._cond:
                    self.dropped_rows += len(events)
                    self._queued_rows -= len(events)
                if done is not None:
                    done(exc)
                continue
            if done is None:
                batch.logs.extend(rows)
                if receipt is not None:
                    batch.receipts.append(receipt)
            else:
                batch.durable_logs.extend(rows)
                if receipt is not None:
                    batch.durable_receipts.append(receipt)
                batch.done.append(done)

    def _write(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        conn.execute("BEGIN")
        try:
            for rows in (batch.logs, batch.durable_logs):
                if rows:
                    conn.executemany(storedb.INSERT_LOG, rows)
                    conn.execute(storedb.UPDATE_LAST_ID, (max(row[0] for row in rows),))
            for receipts in (batch.receipts, batch.durable_receipts):
                if receipts:
                    if not self._has_receipts:
                        conn.execute(storedb.CREATE_RECEIPTS)
                    conn.executemany(storedb.INSERT_RECEIPT, receipts)
            conn.execute("COMMIT")
            if batch.receipts or batch.durable_receipts:
                self._has_receipts = True
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as exc:
                    self.errors += 1
                    log.warning("store rollback failed: %s", exc)
            raise

    def _commit_done(self, batch: _Batch) -> None:
        with self._cond:
            self.written_rows += batch.rows
            self._queued_rows -= batch.rows
        for done in batch.done:
            done(None)

    def _fail(self, exc: BaseException, batch: _Batch) -> None:
        """Tell durable appenders, discard their rows; keep the other rows for the retry."""
        self.errors += 1
        self.status = f"error: {exc}"
        refused = len(batch.durable_logs)
        log.warning(
            "store write failed (%d rows kept for retry, %d refused): %s", len(batch.logs), refused, exc
        )
        with self._cond:
            self._queued_rows -= refused
            self.refused_rows += refused
        batch.durable_logs = []
        batch.durable_receipts = []
        for done in batch.done:
            done(exc)
        batch.done = []

    def _close_quietly(self, conn: sqlite3.Connection | None) -> None:
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                self.errors += 1
                log.warning("store close failed: %s", exc)

    def _retain(self, conn: sqlite3.Connection) -> bool:
        """One step of retention (:func:`~agentwatch.collector.storedb.retain`): rows older than
        ``max_age_seconds`` or beyond ``max_log_rows``, receipts older than ``receipt_seconds`` or
        beyond ``max_receipts``, at most ``retention_step`` of each. True when more are due."""
        now = self._clock()
        receipt_cutoff = now - self.receipt_seconds if self._has_receipts else None
        return storedb.retain(
            conn,
            log_cutoff=now - self.max_age_seconds,
            max_log_rows=self.max_log_rows,
            receipt_cutoff=receipt_cutoff,
            max_receipts=self.max_receipts,
            step=self.retention_step,
        )
