"""The store's SQLite database: its schema, the checks made on opening, and the queries restore,
refill and retention run. Plain functions over a connection; the queue, the writer thread and the
durability contract belong to :class:`~agentwatch.collector.store.Store`.

Schema (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`)::

    logs(id INTEGER PRIMARY KEY, ts REAL, agent_id TEXT, level INTEGER, body BLOB,  -- Event JSON
         trace_hash INTEGER)                              -- indexed where not NULL; ts indexed
    meta(key TEXT PRIMARY KEY, value)                       -- last_log_id, trace_backfill_below,
                                                            -- alert_acks (JSON)
    receipts(key TEXT PRIMARY KEY, ts REAL, body BLOB)      -- idempotency key → answer given

One row per event, keyed by the id of its log line; ``level`` is
:func:`~agentwatch.collector.loglines.log_rank` of the event. ``receipts`` is created with the
first receipt, so a store that never gets one stays as small as before. A file of an older schema
(a ``logs`` table of log-line JSON beside an ``events`` table) is refused with :class:`OldSchema`.

``trace_hash`` is :func:`~agentwatch.collector.traceindex.trace_hash` of the event's
:func:`~agentwatch.collector.traceindex.trace_key` (NULL for an event of no trace): a small integer
keeps the partial index cheap to write; a lookup checks each row it finds against the key itself.
A file of schema 2 (no ``trace_hash``) is upgraded in place on opening: the column and index are
added at once, and its rows are indexed afterwards, newest first, a step at a time
(:func:`index_traces_step`); ``meta.trace_backfill_below`` marks how far that has come.

Retention, the refill and time ranges (:func:`rows_between`) take rows to arrive roughly in time
order (ids and rowids grow with arrival). The index on ``ts`` (``logs_time``, added to a file of
schema 3 on opening, in one statement) only narrows a time range's reading to the rows between its
first and last match: what it answers is what reading the whole arrival window answers.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import msgspec

from agentwatch.collector.loglines import log_ranks
from agentwatch.collector.traceindex import trace_hash, trace_key
from agentwatch.protocol import Event

#: ``PRAGMA user_version`` of the current schema (0 = a file written before versions were kept).
SCHEMA_VERSION: Final = 4
#: The schemas upgraded in place (:func:`create_schema`); older ones are moved aside.
_UPGRADABLE_VERSIONS: Final = (2, 3)
#: Rows a time range may hold and still be narrowed by the time index (more: read by arrival).
TIME_INDEX_SCAN: Final = 50_000

_TRACE_INDEX: Final = (
    "CREATE INDEX IF NOT EXISTS logs_trace ON logs (trace_hash) WHERE trace_hash IS NOT NULL"
)
_TIME_INDEX: Final = "CREATE INDEX IF NOT EXISTS logs_time ON logs (ts)"
_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS logs"
    " (id INTEGER PRIMARY KEY, ts REAL, agent_id TEXT, level INTEGER, body BLOB, trace_hash INTEGER)",
    _TRACE_INDEX,
    _TIME_INDEX,
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)",
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('last_log_id', 0)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
INSERT_LOG: Final = (
    "INSERT OR REPLACE INTO logs (id, ts, agent_id, level, body, trace_hash) VALUES (?, ?, ?, ?, ?, ?)"
)
UPDATE_LAST_ID: Final = "UPDATE meta SET value = max(value, ?) WHERE key = 'last_log_id'"
CREATE_RECEIPTS: Final = (
    "CREATE TABLE IF NOT EXISTS receipts (key TEXT PRIMARY KEY, ts REAL, body BLOB, digest BLOB)"
)
INSERT_RECEIPT: Final = "INSERT OR REPLACE INTO receipts (key, ts, body, digest) VALUES (?, ?, ?, ?)"

#: The files that make up one store, by suffix of its path (the database, SQLite's, the id mark).
FILE_SUFFIXES: Final = ("", "-wal", "-shm", "-ids")
#: The database's own files: what is moved aside when it is unreadable (the id mark stays).
DATABASE_SUFFIXES: Final = ("", "-wal", "-shm")

log = logging.getLogger(__name__)
event_decoder: Final = msgspec.json.Decoder(Event)
_events_decoder: Final = msgspec.json.Decoder(list[Event])
_encoder: Final = msgspec.json.Encoder()

#: One ``logs`` row: (id, ts, agent_id, level, body, trace_hash).
LogRow = tuple[int, float, str, int, bytes, int | None]


class OldSchema(Exception):
    """The file holds tables of an older schema."""


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), ``synchronous=NORMAL``."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-16000")  # KiB: keeps the b-tree pages of big batches in memory
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def create_schema(conn: sqlite3.Connection) -> str | None:
    """Switch to WAL and create the tables; returns a warning when WAL could not be had.

    Takes the write lock at once, so it fails fast (busy timeout) while another process writes.
    Raises :class:`OldSchema` for a file of an older schema, ``sqlite3.Error`` for the rest.
    """
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    warning = f"store journal mode is {mode}, not WAL" if str(mode).lower() != "wal" else None
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version == 2 and table_exists(conn, "logs"):
            _add_trace_column(conn)  # and, below, the time index (schema 3 → 4)
        elif (
            version not in (SCHEMA_VERSION, *_UPGRADABLE_VERSIONS)
            and conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name IN ('logs', 'events')"
            ).fetchone()
        ):
            raise OldSchema(f"schema version {version}")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return warning


def _add_trace_column(conn: sqlite3.Connection) -> None:
    """Schema 2 → 3 (in the caller's transaction): the column and its index now (no row is
    rewritten, so this is quick at any size), the rows' values later (:func:`index_traces_step`)."""
    conn.execute("ALTER TABLE logs ADD COLUMN trace_hash INTEGER")
    conn.execute(_TRACE_INDEX)
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value)"
        " SELECT 'trace_backfill_below', coalesce(max(id), 0) + 1 FROM logs"
    )


def move_aside(path: Path, reason: str, now: float) -> Path:
    """Rename the database's files to ``<path>.<reason>-<unix time>…``; returns the new base path.

    The id mark (``-ids``) stays: the new database's ids go on after it, in the same sequence,
    so no id a viewer saw is handed out again.
    """
    moved = Path(f"{path}.{reason}-{int(now)}")
    for suffix in DATABASE_SUFFIXES:
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{moved}{suffix}"))
    return moved


def table_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return row is not None


# --------------------------------------------------------------------- rows
def log_rows(events: Sequence[Event], first_id: int, now: float) -> list[LogRow]:
    """The ``logs`` rows of ``events``, event ``i`` under id ``first_id + i``.

    ``ts`` is ``now`` for an event with no usable time. Raises ``msgspec.EncodeError``,
    ``TypeError`` or ``ValueError`` for an event that cannot be encoded.
    """
    encode = _encoder.encode
    return [
        (
            row_id,
            ts if (ts := ev.timestamp).__class__ is float else _event_time(ev, now),
            ev.agent_id,
            rank,
            encode(ev),
            None if (key := trace_key(ev)) is None else trace_hash(key),
        )
        for row_id, ev, rank in zip(
            range(first_id, first_id + len(events)), events, log_ranks(events), strict=True
        )
    ]


def _event_time(event: Event, now: float) -> float:
    """The event's unix time, or ``now`` when it has none usable (not yet normalised, NaN…)."""
    stamp = event.timestamp
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and math.isfinite(stamp):
        return float(stamp)
    return now


# ------------------------------------------------------------------ restore
def last_log_id(conn: sqlite3.Connection) -> int:
    """The larger of the newest row's id and the recorded ``last_log_id``."""
    (max_id,) = conn.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()
    (meta_id,) = conn.execute("SELECT value FROM meta WHERE key = 'last_log_id'").fetchone()
    return max(int(max_id), int(meta_id or 0))


def get_meta(conn: sqlite3.Connection, key: str) -> bytes | None:
    """One ``meta`` value (None when not set)."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def set_meta(conn: sqlite3.Connection, key: str, value: bytes) -> None:
    """Set one ``meta`` value, committed at once (the connection is in autocommit mode)."""
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def add_receipt_digests(conn: sqlite3.Connection) -> None:
    """Give a receipts table of an earlier version its ``digest`` column (NULL: matches any batch)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(receipts)")}
    if "digest" not in columns:
        conn.execute("ALTER TABLE receipts ADD COLUMN digest BLOB")


def read_receipts(
    conn: sqlite3.Connection, since: float, limit: int
) -> list[tuple[str, float, bytes, bytes | None]]:
    """The newest ``limit`` receipts given at ``since`` or later, oldest first: (key, time, answer,
    digest of the batch answered, None when not recorded)."""
    rows = conn.execute(
        "SELECT key, ts, body, digest FROM receipts WHERE ts >= ? ORDER BY rowid DESC LIMIT ?", (since, limit)
    ).fetchall()
    return [
        (str(key), float(ts), bytes(body), None if digest is None else bytes(digest))
        for key, ts, body, digest in reversed(rows)
    ]


def read_newest(conn: sqlite3.Connection, limit: int) -> tuple[list[tuple[int, Event]], int]:
    """The newest ``limit`` rows as (log id, event), ascending ids, and how many were unreadable."""
    rows = conn.execute("SELECT id, body FROM logs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    items: list[tuple[int, Event]] = []
    bad = 0
    for entry_id, body in reversed(rows):
        try:
            items.append((entry_id, event_decoder.decode(body)))
        except msgspec.DecodeError:
            bad += 1
    return items, bad


def read_since(conn: sqlite3.Connection, since: float, limit: int) -> tuple[list[Event], int]:
    """At most ``limit`` events stamped ``since`` or later (the newest), in arrival order, and how
    many were unreadable."""
    rows = conn.execute(
        "SELECT body FROM logs WHERE id >= ? AND ts >= ? ORDER BY id DESC LIMIT ?",
        (first_arrived_at_or_after(conn, since), since, limit),
    ).fetchall()
    events: list[Event] = []
    bad = 0
    for (body,) in reversed(rows):
        try:
            events.append(event_decoder.decode(body))
        except msgspec.DecodeError:
            bad += 1
    return events, bad


def first_arrived_at_or_after(conn: sqlite3.Connection, since: float) -> int:
    """Smallest id from which rows are stamped ``since`` or later, assuming arrival order.

    A binary search over ids (O(log rows) point reads, no time index): like retention, it takes
    the rows to arrive roughly in time order, so a row stamped long before the rows around it
    may be taken for older. Returns 0 for an empty table. One statement (a recursive query), so a
    reader thread does not wait for the interpreter lock between its steps.
    """
    (low,) = conn.execute(_BISECT_ARRIVAL, (since,)).fetchone()
    return int(low)


#: :func:`first_arrived_at_or_after`'s search: the answer lies in [low, high]; each step reads the
#: first row at or after the middle id: stamped ``since`` or later (or none) → high = middle, else
#: low = its id + 1 (a row of no time counts as older).
_BISECT_ARRIVAL: Final = """
WITH RECURSIVE search(low, high) AS (
    SELECT coalesce((SELECT min(id) FROM logs), 0), coalesce((SELECT max(id) FROM logs), 0) + 1
    UNION ALL
    SELECT
        coalesce((SELECT CASE WHEN ts >= ?1 THEN low ELSE id + 1 END
                  FROM logs WHERE id >= (low + high) / 2 ORDER BY id LIMIT 1), low),
        coalesce((SELECT CASE WHEN ts >= ?1 THEN (low + high) / 2 ELSE high END
                  FROM logs WHERE id >= (low + high) / 2 ORDER BY id LIMIT 1), (low + high) / 2)
    FROM search WHERE low < high
)
SELECT low FROM search WHERE low >= high LIMIT 1
"""


# ---------------------------------------------------------------- retention
def retain(
    conn: sqlite3.Connection,
    *,
    log_cutoff: float,
    max_log_rows: int,
    receipt_cutoff: float | None,
    max_receipts: int,
    step: int,
) -> bool:
    """One step of retention in one transaction: delete logs stamped before ``log_cutoff`` or beyond
    the newest ``max_log_rows``, and (unless ``receipt_cutoff`` is None: no receipts table) receipts
    likewise, at most ``step`` rows of each table. True when more are due.

    Age follows arrival order (rowid / id), so the cost is proportional to what is deleted and no
    time index slows the writes: a row goes once it and every row that arrived before it are older
    than the limit (a row stamped far in the future holds back those after it).
    """
    conn.execute("BEGIN")
    try:
        more = delete_oldest(conn, "logs", "id", log_cutoff, max_log_rows, step)
        if receipt_cutoff is not None:
            more |= delete_oldest(conn, "receipts", "rowid", receipt_cutoff, max_receipts, step)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return more


def delete_oldest(
    conn: sqlite3.Connection, table: str, key: str, cutoff: float, keep: int, step: int
) -> bool:
    """Delete, oldest ``key`` first, the rows of ``table`` that arrived before the first one stamped at
    or after ``cutoff`` or are beyond the newest ``keep`` keys, looking at the ``step`` oldest keys
    only (so at most ``step`` rows go, and as many are read). True when rows past them may be due.
    """
    # Two subqueries: each is one b-tree seek, where ``min(k), max(k)`` together scan the table.
    low, high = conn.execute(
        f"SELECT (SELECT min({key}) FROM {table}), (SELECT max({key}) FROM {table})"
    ).fetchone()
    if low is None:
        return False
    stop = low + step  # this step looks at keys in [low, stop)
    first_by_count = high - keep + 1
    if first_by_count >= stop:
        first_kept, more = stop, True
    else:
        row = conn.execute(
            f"SELECT {key} FROM {table} WHERE {key} >= ? AND {key} < ? AND ts >= ? ORDER BY {key} LIMIT 1",
            (max(low, first_by_count), stop, cutoff),
        ).fetchone()
        first_kept, more = (row[0], False) if row is not None else (stop, stop <= high)
    if first_kept > low:
        conn.execute(f"DELETE FROM {table} WHERE {key} < ?", (first_kept,))
    return more


# ------------------------------------------------------------------- history
def index_traces_step(conn: sqlite3.Connection, step: int) -> bool:
    """Index up to ``step`` rows an earlier schema wrote, newest first, in one transaction; True while
    rows are left (``meta.trace_backfill_below``: rows below that id are not indexed yet)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'trace_backfill_below'").fetchone()
    if row is None:
        return False
    conn.execute("BEGIN")
    try:
        rows = conn.execute(
            "SELECT id, body FROM logs WHERE id < ? ORDER BY id DESC LIMIT ?", (int(row[0]), step)
        ).fetchall()
        hashes = []
        bad = 0
        for row_id, body in rows:
            try:
                key = trace_key(event_decoder.decode(body))
            except msgspec.DecodeError:
                bad += 1
                continue
            if key is not None:
                hashes.append((trace_hash(key), row_id))
        if bad:
            log.warning("store: %d unreadable rows left out of the trace index", bad)
        conn.executemany("UPDATE logs SET trace_hash = ? WHERE id = ?", hashes)
        more = len(rows) == step
        if more:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'trace_backfill_below'", (rows[-1][0],))
        else:
            conn.execute("DELETE FROM meta WHERE key = 'trace_backfill_below'")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return more


def trace_backfill_pending(conn: sqlite3.Connection) -> bool:
    """Rows an earlier schema wrote are not all indexed by trace yet."""
    return conn.execute("SELECT 1 FROM meta WHERE key = 'trace_backfill_below'").fetchone() is not None


def trace_rows(
    conn: sqlite3.Connection, key: str, since: float, below: int, limit: int
) -> tuple[list[tuple[int, Event]], int]:
    """The newest ``limit`` rows of trace ``key`` with id < ``below`` that arrived since ``since`` (by
    arrival order, as :func:`first_arrived_at_or_after`), ascending ids, and how many there are.

    Rows of another key with the same hash are left out (and not counted), as are unreadable ones.
    """
    hashed = trace_hash(key)
    low = first_arrived_at_or_after(conn, since)
    (total,) = conn.execute(
        "SELECT count(*) FROM logs WHERE trace_hash = ? AND id >= ? AND id < ?", (hashed, low, below)
    ).fetchone()
    rows = decoded_rows(
        conn,
        "SELECT id, body FROM logs WHERE trace_hash = ? AND id >= ? AND id < ? ORDER BY id DESC LIMIT ?",
        (hashed, low, below, max(limit, 0)),
    )
    found: list[tuple[int, Event]] = []
    for row_id, event in reversed(rows):
        if event is None:
            log.warning("store: skipped an unreadable row (id %d) of trace %r", row_id, key)
            total -= 1
            continue
        if trace_key(event) == key:
            found.append((row_id, event))
        else:
            total -= 1
    return found, max(int(total), len(found))


def rows_between(
    conn: sqlite3.Connection,
    start: float,
    end: float,
    *,
    below: int,
    agent: str | None,
    min_rank: int,
    limit: int,
    slack: float,
    scan: int,
    after: int = 0,
    use_index: bool = True,
) -> tuple[list[tuple[int, Event]], int | None]:
    """Rows stamped in [``start``, ``end``) with ``after`` < id < ``below`` (and of ``agent``, level
    rank ≥ ``min_rank``), the first ``limit`` to arrive, ascending ids; and where to resume when some
    were left out (the last id read: a next call with ``after`` set to it goes on), else None.

    Rows are found by arrival order (:func:`first_arrived_at_or_after`): those that arrived between
    the first stamped ``start - slack`` and the first stamped ``end + slack``, at most ``scan`` of
    them (the rest left out). A row that arrived more than ``slack`` seconds before or after the
    rows stamped like it is missed. Within that window only the rows from the first to the last
    stamped in the range are read, found by the time index (:func:`_stamped_span`) when the range
    holds at most :data:`TIME_INDEX_SCAN` rows (``use_index`` False: the whole window is read).
    """
    low = max(first_arrived_at_or_after(conn, start - slack), after + 1)
    high = min(first_arrived_at_or_after(conn, end + slack), below)
    resume = low + scan - 1 if high - low > scan else None
    high = min(high, low + scan)
    first, last = low, high
    if use_index and high > low:
        span = _stamped_span(conn, start, end, low, high)
        if span is not None:
            first, last = span
    sql = "SELECT id, body FROM logs WHERE id >= ? AND id < ? AND ts >= ? AND ts < ?"
    params: list[object] = [first, last, start, end]
    if agent is not None:
        sql += " AND agent_id = ?"
        params.append(agent)
    if min_rank > 0:
        sql += " AND level >= ?"
        params.append(min_rank)
    params.append(limit + 1)
    rows = decoded_rows(conn, sql + " ORDER BY id LIMIT ?", params)
    if len(rows) > limit:
        resume = rows[limit - 1][0]
    found: list[tuple[int, Event]] = []
    for row_id, event in rows[:limit]:
        if event is None:
            log.warning("store: skipped an unreadable row (id %d) of a time range", row_id)
        else:
            found.append((row_id, event))
    return found, resume


def decoded_rows(
    conn: sqlite3.Connection, sql: str, params: Sequence[object]
) -> list[tuple[int, Event | None]]:
    """The (id, event) rows ``sql`` (a query of ``id, body``) selects, in its order; None for an
    unreadable body.

    Read in one step, their bodies joined into one JSON array (decoded at once): a reader thread
    gives up the interpreter lock once, not once per row, and does not queue for it again per row
    while the event loop is busy. When that array does not decode into one event per row, the rows
    are read again one by one.
    """
    count, ids, bodies = conn.execute(
        "SELECT count(*), group_concat(id), CAST('[' || group_concat(body, ',') || ']' AS BLOB)"
        f" FROM ({sql})",
        params,
    ).fetchone()
    if not count:
        return []
    try:
        events = _events_decoder.decode(bodies)
    except msgspec.DecodeError:
        events = []
    if len(events) == count:
        return list(zip(map(int, ids.split(",")), events, strict=True))
    rows: list[tuple[int, Event | None]] = []
    for row_id, body in conn.execute(sql, params):
        try:
            rows.append((row_id, event_decoder.decode(body)))
        except msgspec.DecodeError:
            rows.append((row_id, None))
    return rows


def _stamped_span(
    conn: sqlite3.Connection, start: float, end: float, low: int, high: int
) -> tuple[int, int] | None:
    """Ids [first, last + 1) of the rows in ``low <= id < high`` stamped in [``start``, ``end``), by the
    time index, reading at most :data:`TIME_INDEX_SCAN` + 1 of its entries; None when the range
    holds more (then the caller reads the window). (low, low) when no row matches."""
    count, first, last = conn.execute(
        "SELECT count(*), min(CASE WHEN id >= ?1 AND id < ?2 THEN id END),"
        " max(CASE WHEN id >= ?1 AND id < ?2 THEN id END)"
        " FROM (SELECT id FROM logs INDEXED BY logs_time WHERE ts >= ?3 AND ts < ?4 LIMIT ?5)",
        (low, high, start, end, TIME_INDEX_SCAN + 1),
    ).fetchone()
    if count > TIME_INDEX_SCAN:
        return None
    if first is None:
        return low, low
    return int(first), int(last) + 1
