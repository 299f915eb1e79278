"""Looking back over real HTTP: ``GET /api/traces/<id>`` and ``GET /api/logs?from=&to=``, from the
log ring and the store, with the collector in a thread or as a process restarted over its store."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from agentwatch.collector import storedb
from agentwatch.collector.history import TIME_BLOCK, LogQuery, RingTimes, _held_time, _ring_matches
from agentwatch.collector.loghub import LogHub
from agentwatch.collector.store import Store
from agentwatch.collector.traceindex import TraceIndex
from agentwatch.protocol import (
    MAX_TRACE_SPANS,
    PATH_LOGS,
    PATH_TRACES,
    Event,
    LogRange,
    Trace,
)
from tests.helpers import NOW, Clock, CollectorProcess, RunningCollector, store_has_written, wait_until
from tests.otlp_fixtures import variant

Start = Callable[..., RunningCollector]


def get_trace(url: str, key: str, headers: dict[str, str] | None = None) -> Trace:
    response = httpx.get(f"{url}{PATH_TRACES}/{key}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=Trace)


def get_logs(url: str, headers: dict[str, str] | None = None, **params: Any) -> LogRange:
    response = httpx.get(url + PATH_LOGS, params=params, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=LogRange)


def span(
    trace: str, span: str, parent: str | None, end: float, latency_ms: float, **fields: Any
) -> dict[str, Any]:
    return {
        "agent_id": "agent-1",
        "trace_id": trace,
        "span_id": span,
        "parent_span_id": parent,
        "timestamp": end,
        "latency_ms": latency_ms,
        **fields,
    }


def lines(count: int, start: float, step: float = 1.0, **fields: Any) -> list[dict[str, Any]]:
    return [
        {"agent_id": "a", "span_type": "log", "message": f"line {i}", "timestamp": start + i * step, **fields}
        for i in range(count)
    ]


# ----------------------------------------------------------------------------- traces
def test_a_trace_lists_its_spans_by_start_with_parents_and_totals(start_collector: Start) -> None:
    collector = start_collector(clock=Clock())
    events = [  # posted as an SDK sends them: each span when it ends, children first
        span("t1", "tool", "root", NOW + 0.4, 100.0, span_type="tool_call", tool_name="search"),
        span(
            "t1",
            "llm",
            "root",
            NOW + 0.9,
            400.0,
            span_type="llm_call",
            model="gpt-4o",
            tokens_input=100,
            tokens_output=20,
            cost_usd=0.01,
            error="Timeout: slow",
        ),
        span("t1", "root", None, NOW + 1.0, 1000.0, span_type="decision", decision_made="answer"),
        span("t2", "other", None, NOW + 1.0, 5.0, span_type="tool_call"),
    ]
    assert collector.post(events).status_code == 202
    trace = get_trace(collector.url, "t1")
    assert [s.span_id for s in trace.spans] == ["root", "tool", "llm"]
    assert [s.parent_span_id for s in trace.spans] == [None, "root", "root"]
    assert trace.spans[0].start == pytest.approx(NOW) and trace.spans[1].start == pytest.approx(NOW + 0.3)
    assert trace.spans[2].model == "gpt-4o" and trace.spans[2].error == "Timeout: slow"
    assert trace.spans[1].tool_name == "search" and trace.spans[1].duration_ms == 100.0
    assert (trace.spans_total, trace.spans_dropped, trace.incomplete) == (3, 0, None)
    assert trace.duration_ms == pytest.approx(1000.0)
    assert (trace.tokens_input, trace.tokens_output, trace.errors) == (100, 20, 1)
    assert trace.cost_usd == pytest.approx(0.01)
    assert all(s.id > 0 for s in trace.spans)


def test_events_with_no_trace_are_grouped_by_their_prompt_or_turn_id(start_collector: Start) -> None:
    collector = start_collector()
    events = [
        {"agent_id": "cc", "message": "user_prompt", "attributes": {"prompt.id": "p-1"}},
        {"agent_id": "cc", "span_type": "llm_call", "tokens_input": 5, "attributes": {"prompt.id": "p-1"}},
        {"agent_id": "cc", "message": "other prompt", "attributes": {"prompt.id": "p-2"}},
        {"agent_id": "gm", "message": "gemini", "attributes": {"prompt_id": "p-3"}},
        {"agent_id": "cx", "message": "codex", "attributes": {"turn.id": "turn-9"}},
    ]
    assert collector.post(events).status_code == 202
    assert [s.name for s in get_trace(collector.url, "p-1").spans] == ["user_prompt", "llm_call 5 tok in"]
    assert [s.name for s in get_trace(collector.url, "p-3").spans] == ["gemini"]
    assert [s.name for s in get_trace(collector.url, "turn-9").spans] == ["codex"]


@pytest.mark.parametrize(
    ("fixture", "key", "spans"),
    [
        ("claude/protobuf-tool-notraces", "c2b54921-90f5-4542-8825-5ba1f23d644c", 10),  # by prompt.id
        ("claude/protobuf-tool", "3b98f9e35e0a28f0f8e61af315ff86ba", 20),  # its beta traces
        ("codex/binary-tool", "93347c08d469d3991c4009b7d0b4c47c", 161),
    ],
)
def test_the_coding_agents_own_telemetry_makes_traces(
    start_collector: Start, fixture: str, key: str, spans: int
) -> None:
    collector = start_collector()
    for request in variant(fixture).requests():
        answer = httpx.post(
            collector.url + request.path,
            content=request.body,
            headers={"Content-Type": request.content_type},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    trace = get_trace(collector.url, key)
    assert len(trace.spans) == trace.spans_total == spans
    assert "tool_call" in {s.span_type for s in trace.spans}
    assert [s.start for s in trace.spans] == sorted(s.start for s in trace.spans)


@pytest.mark.parametrize(
    "bad",
    ["a b", "x" * 257, "trace%00", "caf%C3%A9", "..%2F..%2Fetc", "a/b", "'%20OR%201=1%20--", ";"],
)
def test_a_hostile_trace_id_is_refused_with_400_naming_it(collector: RunningCollector, bad: str) -> None:
    response = httpx.get(f"{collector.url}{PATH_TRACES}/{bad}", timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("trace_id: ")


def test_a_trace_id_with_a_line_break_is_not_a_route(collector: RunningCollector) -> None:
    response = httpx.get(f"{collector.url}{PATH_TRACES}/%0Aevil", timeout=10)
    assert response.status_code == 404 and b"evil" not in response.content


def test_an_unknown_trace_is_404_and_the_routes_want_the_token(start_collector: Start) -> None:
    collector = start_collector(token="secret")
    assert collector.post([span("t1", "s", None, NOW, 1.0)]).status_code == 202
    assert httpx.get(f"{collector.url}{PATH_TRACES}/t1", timeout=10).status_code == 401
    assert httpx.get(collector.url + PATH_LOGS, params={"from": 1}, timeout=10).status_code == 401
    unknown = httpx.get(f"{collector.url}{PATH_TRACES}/t9", headers=collector.headers(), timeout=10)
    assert unknown.status_code == 404 and "no events" in unknown.json()["error"]
    assert len(get_trace(collector.url, "t1", collector.headers()).spans) == 1


def test_a_trace_is_bounded_and_says_how_many_it_left_out(start_collector: Start, tmp_path: Path) -> None:
    collector = start_collector(
        store_path=tmp_path / "s.db", log_history=500, flush_interval=0.01, clock=Clock()
    )
    total = MAX_TRACE_SPANS + 300
    events = [span("big", f"s{i}", None, NOW + i, 1.0, message=f"step {i}") for i in range(total)]
    assert collector.post(events).status_code == 202
    wait_until(lambda: store_has_written(collector.url, total))
    trace = get_trace(collector.url, "big")
    assert (len(trace.spans), trace.spans_total, trace.spans_dropped) == (MAX_TRACE_SPANS, total, 300)
    assert trace.spans[0].span_id == "s300" and trace.spans[-1].span_id == f"s{total - 1}"  # the newest


def test_a_trace_beyond_the_ring_comes_from_the_store_and_without_one_only_what_the_ring_holds(
    start_collector: Start, tmp_path: Path
) -> None:
    events = [span("old", f"s{i}", None, NOW + i, 1.0) for i in range(50)]
    filler = [span(f"f{i}", "x", None, NOW + 100, 1.0) for i in range(200)]
    with_store = start_collector(
        store_path=tmp_path / "s.db", log_history=100, flush_interval=0.01, clock=Clock()
    )
    in_memory = start_collector(log_history=100)
    for collector in (with_store, in_memory):
        assert collector.post(events).status_code == 202
        assert get_trace(collector.url, "old").spans_total == 50  # indexed while held
        assert collector.post(filler[:30]).status_code == 202
        assert collector.post(filler[30:]).status_code == 202
    wait_until(lambda: store_has_written(with_store.url, 250))
    trace = get_trace(with_store.url, "old")
    assert [s.span_id for s in trace.spans] == [f"s{i}" for i in range(50)]
    assert httpx.get(f"{in_memory.url}{PATH_TRACES}/old", timeout=10).status_code == 404
    ring = in_memory.service.logs
    assert len(ring.traces) <= ring.history  # ids left the index with the ring


def test_traces_and_time_ranges_are_served_after_a_restart_over_the_store(tmp_path: Path) -> None:
    store = tmp_path / "agentwatch.db"
    process = CollectorProcess("--store", str(store))
    try:
        now = time.time()  # the process runs on the real clock: its traces look back a day from it
        events = [span("t1", f"s{i}", None if i == 0 else "s0", now + i, 10.0) for i in range(5)]
        assert httpx.post(process.url + "/api/events", json=events, timeout=10).status_code == 202
        wait_until(lambda: store_has_written(process.url, 5))
        before = get_trace(process.url, "t1")
        process.kill9()
        process.restart()
        after = get_trace(process.url, "t1")
        assert [s.id for s in after.spans] == [s.id for s in before.spans] and after.spans_total == 5
        logs = get_logs(process.url, **{"from": now, "to": now + 3})
        assert [e.metadata["span_id"] for e in logs.entries] == ["s0", "s1", "s2"]
    finally:
        process.close()


def schema_2_store(path: Path, rows: int) -> None:
    """A store as the previous version wrote it: row ``i`` is a span of trace ``t{i % 3}``."""
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE logs (id INTEGER PRIMARY KEY, ts REAL, agent_id TEXT, level INTEGER, body BLOB)"
        )
        old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
        old.execute("INSERT INTO meta VALUES ('last_log_id', 0)")
        rows = [
            (
                i,
                NOW + i,
                "a",
                1,
                msgspec.json.encode(Event("a", NOW + i, trace_id=f"t{i % 3}", span_id=f"s{i}")),
            )
            for i in range(1, rows + 1)
        ]
        old.executemany("INSERT INTO logs VALUES (?, ?, ?, ?, ?)", rows)
        old.execute("PRAGMA user_version = 2")
    old.close()


def test_a_store_of_the_previous_schema_is_indexed_newest_first_a_step_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "agentwatch.db"
    schema_2_store(path, 30)
    conn = storedb.connect(path, 1.0)
    try:
        storedb.create_schema(conn)
        assert storedb.trace_backfill_pending(conn)
        assert storedb.trace_rows(conn, "t1", 0.0, 100, 100) == ([], 0)  # nothing indexed yet
        assert storedb.index_traces_step(conn, 9)  # rows 22..30
        found, total = storedb.trace_rows(conn, "t1", 0.0, 100, 100)
        assert [row_id for row_id, _ in found] == [22, 25, 28] and total == 3
        while storedb.index_traces_step(conn, 9):
            pass
        assert not storedb.trace_backfill_pending(conn)
        assert storedb.trace_rows(conn, "t1", 0.0, 100, 100)[1] == 10
    finally:
        conn.close()


def test_a_store_of_the_previous_schema_is_upgraded_and_its_rows_indexed(tmp_path: Path) -> None:
    path = tmp_path / "agentwatch.db"
    schema_2_store(path, 12_000)
    store = Store(path, clock=lambda: NOW + 12_000, restore_logs=10)
    restored = store.open()
    try:
        assert restored.warnings == [] and restored.last_log_id == 12_000
        wait_until(lambda: not store.trace_indexing)
        found, total = store.read(lambda conn: storedb.trace_rows(conn, "t1", 0.0, 20_000, 10))
        assert total == 4000 and [row_id for row_id, _ in found] == list(range(11_971, 11_999, 3))
    finally:
        store.close()


# ------------------------------------------------------------------------ time ranges
def test_log_lines_of_a_time_range_come_oldest_first_from_the_ring_and_the_store(
    start_collector: Start, tmp_path: Path
) -> None:
    collector = start_collector(store_path=tmp_path / "s.db", log_history=50, flush_interval=0.01)
    assert collector.post(lines(200, NOW)).status_code == 202  # one a second: 150 left the ring
    wait_until(lambda: store_has_written(collector.url, 200))
    page = get_logs(collector.url, **{"from": NOW + 140, "to": NOW + 160})
    assert [e.message for e in page.entries] == [f"line {i}" for i in range(140, 160)]
    assert [e.id for e in page.entries] == list(range(141, 161)) and not page.truncated
    cut = get_logs(collector.url, **{"from": NOW, "to": NOW + 200, "limit": 30})
    assert [e.message for e in cut.entries] == [f"line {i}" for i in range(30)] and cut.truncated
    assert get_logs(collector.url, **{"from": NOW + 1000, "to": NOW + 1001}).entries == []


def test_a_time_range_filters_by_agent_and_level_without_a_store(collector: RunningCollector) -> None:
    events = lines(10, NOW) + lines(10, NOW, agent_id="b") + lines(10, NOW, agent_id="b", level="error")
    assert collector.post(events).status_code == 202
    page = get_logs(collector.url, **{"from": NOW + 2, "to": NOW + 4, "agent": "b"})
    assert [(e.agent_id, e.level, e.message) for e in page.entries] == [
        ("b", "info", "line 2"), ("b", "error", "line 2"), ("b", "info", "line 3"), ("b", "error", "line 3"),
    ]  # fmt: skip
    errors = get_logs(collector.url, **{"from": NOW, "to": NOW + 100, "level": "warning"})
    assert len(errors.entries) == 10 and {e.level for e in errors.entries} == {"error"}


def test_a_time_range_is_paged_by_its_cursor_each_line_once_across_the_store_and_the_ring(
    start_collector: Start, tmp_path: Path
) -> None:
    collector = start_collector(store_path=tmp_path / "s.db", log_history=50, flush_interval=0.01)
    events = lines(200, NOW) + lines(200, NOW, agent_id="b")  # 350 left the ring for the store
    assert collector.post(events).status_code == 202
    wait_until(lambda: store_has_written(collector.url, 400))
    for params, expected in [
        ({}, [("a", f"line {i}") for i in range(200)] + [("b", f"line {i}") for i in range(200)]),
        ({"agent": "b"}, [("b", f"line {i}") for i in range(200)]),
    ]:
        url: str | None = collector.url + PATH_LOGS
        query: dict[str, Any] | None = {"from": NOW, "to": NOW + 200, "limit": 70, **params}
        got: list[tuple[str, str]] = []
        pages = 0
        while url is not None and pages < 20:
            response = httpx.get(url, params=query, timeout=10)
            assert response.status_code == 200, response.text
            page = msgspec.json.decode(response.content, type=LogRange)
            got += sorted(
                ((e.agent_id, e.message) for e in page.entries), key=lambda x: (x[0], int(x[1][5:]))
            )
            assert page.truncated == (page.next_after is not None) == ("next" in response.links)
            assert page.next_after is None or page.next_after == max(e.id for e in page.entries)
            url = collector.url + response.links["next"]["url"] if "next" in response.links else None
            query, pages = None, pages + 1  # the link says it all
        assert got == expected and pages == -(-len(expected) // 70)


def test_a_cursor_past_the_ring_reads_only_the_ring_and_past_everything_is_empty(
    collector: RunningCollector,
) -> None:
    assert collector.post(lines(10, NOW)).status_code == 202
    first = get_logs(collector.url, **{"from": NOW, "to": NOW + 10, "limit": 4})
    assert [e.id for e in first.entries] == [1, 2, 3, 4] and first.next_after == 4
    rest = get_logs(collector.url, **{"from": NOW, "to": NOW + 10, "after": 4})
    assert (
        [e.id for e in rest.entries] == list(range(5, 11)) and not rest.truncated and rest.next_after is None
    )
    assert get_logs(collector.url, **{"from": NOW, "to": NOW + 10, "after": 10**15}).entries == []


def test_the_store_resumes_where_its_scan_bound_stopped(tmp_path: Path) -> None:
    path = tmp_path / "agentwatch.db"
    schema_2_store(path, 30)
    conn = storedb.connect(path, 1.0)
    try:
        storedb.create_schema(conn)
        read = partial(
            storedb.rows_between,
            conn,
            NOW,
            NOW + 100,
            below=100,
            agent=None,
            min_rank=0,
            limit=100,
            slack=1.0,
        )
        assert [row_id for row_id, _ in read(scan=10)[0]] == list(range(1, 11)) and read(scan=10)[1] == 10
        assert [row_id for row_id, _ in read(scan=10, after=10)[0]] == list(range(11, 21))
        assert read(scan=100, after=20)[1] is None and len(read(scan=100, after=20)[0]) == 10
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from": "100", "to": "200", "after": "-1"}, "after"),
        ({"from": "100", "to": "200", "after": "ten"}, "after"),
        ({"from": "100", "to": "200", "after": "9" * 19}, "after"),
        ({"from": "100", "to": "200", "form": "100"}, "form"),
        ({}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"from": "nan"}, "from"),
        ({"from": "-1"}, "from"),
        ({"from": "1e20"}, "from"),
        ({"from": "100", "to": "50"}, "to"),
        ({"from": "100", "to": "100000"}, "to"),
        ({"from": "100", "to": "200", "limit": "0"}, "limit"),
        ({"from": "100", "to": "200", "limit": "10001"}, "limit"),
        ({"from": "100", "to": "200", "limit": "ten"}, "limit"),
        ({"from": "100", "to": "200", "level": "loud"}, "level"),
        ({"from": "100", "to": "200", "agent": "x" * 129}, "agent"),
    ],
)
def test_bad_time_range_parameters_are_400_naming_them(
    collector: RunningCollector, params: dict[str, str], named: str
) -> None:
    response = httpx.get(collector.url + PATH_LOGS, params=params, timeout=10)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"{named}: ")


# ------------------------------------------------------------------------- the index
def test_the_ring_index_forgets_ids_as_the_ring_does_and_stays_bounded() -> None:
    hub = LogHub(history=100)
    for batch in range(30):
        hub.publish_events([Event("a", NOW, trace_id=f"t{batch}-{i}") for i in range(20)])
        hub.publish_events([Event("a", NOW, trace_id="forever") for _ in range(20)])
        if batch % 3 == 0:
            hub.traces.catch_up(
                hub.held(hub.traces.indexed_until + 1, hub.last_id), hub.last_id, hub.oldest_held
            )
    hub.traces.catch_up(hub.held(hub.traces.indexed_until + 1, hub.last_id), hub.last_id, hub.oldest_held)
    assert len(hub.traces) == 100
    held = [*range(1101, 1121), *range(1141, 1161), *range(1181, 1201)]  # the last three batches
    assert hub.traces.ids("forever", hub.oldest_held) == held
    assert (
        hub.traces.ids("t29-0", hub.oldest_held) == [1161] and hub.traces.ids("t0-0", hub.oldest_held) == []
    )
    assert len(hub.traces._ids["forever"]) <= 2 * len(held) + 16  # evicted ids compacted away


def test_a_slot_encoded_before_it_was_indexed_keeps_its_trace() -> None:
    hub = LogHub(history=10)
    hub.publish_events([Event("a", NOW, trace_id="t", span_id=str(i)) for i in range(5)])
    subscription = hub.subscribe(after=0)
    assert subscription._take()  # a viewer read them: the ring now holds frames, not events
    hub.traces.catch_up(hub.held(1, hub.last_id), hub.last_id, hub.oldest_held)
    assert hub.traces.ids("t", hub.oldest_held) == [1, 2, 3, 4, 5]
    index = TraceIndex(capacity=10)
    for entry_id in range(1, 1000):
        index.built(entry_id, "k")
    assert len(index._built) <= 11  # nobody read the index: the keys left behind stay bounded


# ------------------------------------------------------------------- the time index
def shuffled_store(conn: sqlite3.Connection, rows: int, seed: int) -> None:
    """``rows`` rows a second apart in arrival order, some stamped out of order (within the slack and
    beyond it), of three agents and all levels."""
    rng = random.Random(seed)
    events = []
    for i in range(rows):
        late = rng.random()
        stamp = (
            NOW + i * 0.5 + (rng.uniform(-8, 8) if late < 0.1 else rng.uniform(-40, 40) if late < 0.13 else 0)
        )
        events.append(
            Event(f"agent-{rng.randrange(3)}", stamp, level=rng.choice(["debug", "info", "warning", "error"]))
        )
    if not conn.in_transaction:
        conn.execute("BEGIN")
    conn.executemany(storedb.INSERT_LOG, storedb.log_rows(events, 1, NOW))
    conn.execute("COMMIT")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_time_index_finds_what_reading_the_arrival_window_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    conn = storedb.connect(tmp_path / "agentwatch.db", 1.0)
    try:
        storedb.create_schema(conn)
        shuffled_store(conn, 3000, seed)
        rng = random.Random(seed)
        for round_ in range(300):
            if round_ == 150:  # the rest: ranges of more rows than the index narrows are read whole
                monkeypatch.setattr(storedb, "TIME_INDEX_SCAN", 40)
            start = NOW + rng.uniform(-60, 1600)
            query = partial(
                storedb.rows_between,
                conn,
                start,
                start + rng.choice([0.2, 1, 5, 30, 300]),
                below=rng.choice([3001, rng.randrange(1, 3001)]),
                agent=rng.choice([None, "agent-1"]),
                min_rank=rng.choice([0, 0, 2]),
                limit=rng.choice([1, 5, 100, 5000]),
                slack=10.0,
                scan=rng.choice([50, 200_000]),
                after=rng.choice([0, 0, rng.randrange(3000)]),
            )
            assert query(use_index=True) == query(use_index=False)
    finally:
        conn.close()


def test_a_store_of_schema_3_gets_its_time_index_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "agentwatch.db"
    with sqlite3.connect(path) as old:  # as the previous version created it
        old.execute(
            "CREATE TABLE logs (id INTEGER PRIMARY KEY, ts REAL, agent_id TEXT, level INTEGER, body BLOB,"
            " trace_hash INTEGER)"
        )
        old.execute("CREATE INDEX logs_trace ON logs (trace_hash) WHERE trace_hash IS NOT NULL")
        old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value)")
        old.execute("INSERT INTO meta VALUES ('last_log_id', 0)")
        old.execute("PRAGMA user_version = 3")
        shuffled_store(old, 500, 7)
        old.execute("UPDATE meta SET value = 500 WHERE key = 'last_log_id'")
    old.close()
    store = Store(path, clock=lambda: NOW + 500, restore_logs=10)
    restored = store.open()
    try:
        assert restored.warnings == [] and restored.last_log_id == 500
        assert (
            store.read(lambda conn: conn.execute("PRAGMA user_version").fetchone()[0])
            == storedb.SCHEMA_VERSION
        )
        indexes = store.read(
            lambda conn: conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
        )
        assert ("logs_time",) in indexes and ("logs_trace",) in indexes
        query = partial(
            storedb.rows_between,
            start=NOW + 100,
            end=NOW + 110,
            below=501,
            agent=None,
            min_rank=0,
            limit=1000,
            slack=10.0,
            scan=200_000,
        )
        found, resume = store.read(query)
        assert resume is None and (found, resume) == store.read(partial(query, use_index=False))
        assert 15 <= len(found) <= 25 and all(NOW + 100 <= event.timestamp < NOW + 110 for _, event in found)
    finally:
        store.close()


def first_arrived_stepwise(conn: sqlite3.Connection, since: float) -> int:
    """The arrival-order binary search a step per statement, as it was written first."""
    (low, high) = conn.execute(
        "SELECT coalesce((SELECT min(id) FROM logs), 0), coalesce((SELECT max(id) FROM logs), 0)"
    ).fetchone()
    low, high = int(low), int(high) + 1
    while low < high:
        middle = (low + high) // 2
        row = conn.execute("SELECT id, ts FROM logs WHERE id >= ? ORDER BY id LIMIT 1", (middle,)).fetchone()
        if row is None or (row[1] is not None and row[1] >= since):
            high = middle
        else:
            low = int(row[0]) + 1
    return low


@pytest.mark.parametrize("seed", [4, 5])
def test_the_one_statement_search_by_arrival_finds_what_the_stepwise_one_found(
    tmp_path: Path, seed: int
) -> None:
    conn = storedb.connect(tmp_path / "agentwatch.db", 1.0)
    try:
        storedb.create_schema(conn)
        assert storedb.first_arrived_at_or_after(conn, NOW) == first_arrived_stepwise(conn, NOW) == 0
        shuffled_store(conn, 3000, seed)
        conn.execute("UPDATE logs SET ts = NULL WHERE id % 97 = 0")  # rows of no time, and gaps
        conn.execute("DELETE FROM logs WHERE id % 13 = 0 OR id < 40 OR id > 2990")
        rng = random.Random(seed)
        for since in [0.0, NOW + 10**6, *(NOW + rng.uniform(-100, 1600) for _ in range(500))]:
            assert storedb.first_arrived_at_or_after(conn, since) == first_arrived_stepwise(conn, since)
    finally:
        conn.close()


def test_rows_read_at_once_are_the_rows_read_one_by_one_and_unreadable_ones_are_skipped(
    tmp_path: Path,
) -> None:
    conn = storedb.connect(tmp_path / "agentwatch.db", 1.0)
    try:
        storedb.create_schema(conn)
        shuffled_store(conn, 400, 6)
        bad = {
            50: b"{}",  # not an event
            51: b"\xff\xfe not utf-8",
            52: b'{"agent_id":"x","timestamp":1.0},{"agent_id":"y","timestamp":2.0}',  # two objects
            53: b"[",
        }
        conn.executemany("UPDATE logs SET body = ? WHERE id = ?", [(body, i) for i, body in bad.items()])
        sql = "SELECT id, body FROM logs WHERE id >= ? AND id < ? ORDER BY id DESC LIMIT ?"
        for low, high in [(1, 50), (40, 60), (53, 54), (500, 600)]:
            one_by_one = []
            for row_id, body in conn.execute(sql, (low, high, 1000)):
                try:
                    one_by_one.append((row_id, storedb.event_decoder.decode(body)))
                except msgspec.DecodeError:
                    one_by_one.append((row_id, None))
            assert storedb.decoded_rows(conn, sql, (low, high, 1000)) == one_by_one
        found, resume = storedb.rows_between(
            conn, NOW, NOW + 1000, below=401, agent=None, min_rank=0, limit=1000, slack=10.0, scan=10**6
        )
        ids = [row_id for row_id, _ in found]
        assert resume is None and 390 <= len(ids) <= 396 and not set(bad) & set(ids) and ids == sorted(ids)
    finally:
        conn.close()


@pytest.mark.parametrize("seed", [8, 9])
def test_ring_blocks_outside_a_time_range_are_skipped_and_the_matches_stay_the_same(seed: int) -> None:
    rng = random.Random(seed)
    hub = LogHub(history=5000)
    for batch in range(14):  # ids 1..7000: the ring holds 2001..7000, some as frames, some as events
        hub.publish_events(
            [
                Event(
                    f"agent-{rng.randrange(3)}",
                    NOW + (batch * 500 + i) * 0.01 + (rng.uniform(-30, 30) if rng.random() < 0.02 else 0),
                    level=rng.choice(["debug", "info", "error"]),
                )
                for i in range(500)
            ]
        )
        if batch % 4 == 0:
            subscription = hub.subscribe(after=max(hub.last_id - 700, 0))
            while subscription._take():  # a viewer read these: their slots now hold frames
                pass
            subscription.close()
    held = hub.held(hub.oldest_held, hub.last_id)
    times = RingTimes()
    for round_ in range(200):
        start = NOW + rng.uniform(0, 75)
        query = LogQuery(
            start,
            start + rng.choice([0.05, 0.5, 3, 30]),
            agent=rng.choice([None, "agent-2"]),
            min_rank=rng.choice([0, 2]),
            limit=rng.choice([1, 20, 10_000]),
        )
        low = rng.choice([0, rng.randrange(len(held))])
        window = held[low:]
        expected = [
            (entry_id, slot)
            for entry_id, agent, rank, slot in window
            if (query.agent is None or agent == query.agent)
            and rank >= query.min_rank
            and query.start <= _held_time(slot) < query.end
        ][: query.limit + 1]
        assert _ring_matches(window, query, times) == expected
        if round_ == 100:
            assert len(times._blocks) > 3
            times.forget_below(hub.oldest_held + 2000)
            assert times._blocks and min(times._blocks) >= (hub.oldest_held + 2000) // TIME_BLOCK
