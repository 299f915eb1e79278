"""The resilient SSE client against a real uvicorn server, and the lenient decoders."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentwatch.client.sse import SSEDecoder
from agentwatch.client.stream import (
    Backoff,
    CollectorUnreachable,
    ConnectionState,
    DecodeError,
    ServerSentEvent,
    Unauthorized,
    decode_log_entries,
    decode_log_entry,
    decode_snapshot,
    fetch_snapshot,
    follow,
)
from agentwatch.protocol import PATH_LOGS_STREAM, SSE_LOG, SSE_METRICS, AgentRow, History, LogEntry, Snapshot
from tests.helpers import async_wait_until
from tests.sseserver import SSE, SSEServer, Status, Stream, resuming

WAIT = 10.0  # seconds: generous bound for any awaited condition, shorter than a held stream (30 s)


@pytest.fixture
def server() -> Iterator[SSEServer]:
    with SSEServer() as running:
        yield running


def fast_backoff(seed: int = 1) -> Backoff:
    return Backoff(base=0.01, cap=0.05, rng=random.Random(seed))


class Recorder:
    """Collects what follow() reports, and runs it as a task."""

    def __init__(self) -> None:
        self.events: list[ServerSentEvent] = []
        self.states: list[ConnectionState] = []

    def on_event(self, sse: ServerSentEvent) -> None:
        self.events.append(sse)

    def on_state(self, state: ConnectionState) -> None:
        self.states.append(state)

    @property
    def phases(self) -> list[str]:
        return [state.phase for state in self.states]

    @property
    def ids(self) -> list[str]:
        return [event.id for event in self.events]

    def start(self, server: SSEServer, **kwargs: object) -> asyncio.Task[None]:
        options: dict[str, object] = {"backoff": fast_backoff()}
        options.update(kwargs)
        return asyncio.create_task(
            follow(
                server.url,
                PATH_LOGS_STREAM,
                on_event=self.on_event,
                on_state=self.on_state,
                **options,  # type: ignore[arg-type]
            )
        )


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=WAIT)


def log_events(count: int) -> list[SSE]:
    return [
        SSE(
            str(n),
            SSE_LOG,
            json.dumps({"timestamp": n, "agent_id": "a", "level": "info", "message": f"m{n}"}),
        )
        for n in range(1, count + 1)
    ]


# ------------------------------------------------------------------- resuming


@pytest.mark.parametrize("ending", ["end", "drop"])
async def test_resume_after_last_event_id_sends_no_duplicates(server: SSEServer, ending: str) -> None:
    events = log_events(12)
    server.otherwise = resuming(events, per_connection=3, ending=ending)  # type: ignore[arg-type]
    recorder = Recorder()
    task = recorder.start(server)
    await async_wait_until(lambda: len(recorder.events) >= 12)
    await async_wait_until(lambda: recorder.phases[-1] == "live")
    await stop(task)

    assert recorder.ids == [str(n) for n in range(1, 13)]
    assert server.last_event_ids == [None, "3", "6", "9"]  # three forced disconnects, each resumed
    assert recorder.phases == ["connecting", "live", *["reconnecting", "connecting", "live"] * 3]
    expected_error = "stream ended" if ending == "end" else "connection lost"
    assert {s.error for s in recorder.states if s.phase == "reconnecting"} == {expected_error}


async def test_first_request_carries_given_last_event_id_and_token(server: SSEServer) -> None:
    recorder = Recorder()
    task = recorder.start(server, last_event_id="41", token="s3cret", params={"agent": "planner"})
    await async_wait_until(lambda: recorder.phases[-1:] == ["live"])
    await stop(task)
    request = server.requests[0]
    assert request.last_event_id == "41"
    assert request.authorization == "Bearer s3cret"
    assert request.query == {"agent": "planner"}
    assert request.path == PATH_LOGS_STREAM


async def test_states_carry_times_from_the_injected_clock(server: SSEServer) -> None:
    server.play(Status(503))
    ticks = iter(range(1000, 2000))
    recorder = Recorder()
    task = recorder.start(server, clock=lambda: float(next(ticks)))
    await async_wait_until(lambda: recorder.phases[-1:] == ["live"])
    await stop(task)
    reconnecting = next(s for s in recorder.states if s.phase == "reconnecting")
    assert 1000 <= reconnecting.since < 2000
    assert (
        reconnecting.retry_at is not None
        and reconnecting.since <= reconnecting.retry_at <= reconnecting.since + 0.05
    )
    assert reconnecting.attempts == 1 and reconnecting.error == "HTTP 503"


# --------------------------------------------------------------- failure modes


async def test_http_503_is_retried_with_error_and_attempt_count(server: SSEServer) -> None:
    server.play(Status(503), Status(502), Stream(log_events(1), ending="hold"))
    recorder = Recorder()
    task = recorder.start(server)
    await async_wait_until(lambda: len(recorder.events) == 1)
    await stop(task)
    failures = [(s.error, s.attempts) for s in recorder.states if s.phase == "reconnecting"]
    assert failures == [("HTTP 503", 1), ("HTTP 502", 2)]
    assert recorder.phases[-1] == "live"


async def test_401_reports_unauthorized_and_keeps_retrying(server: SSEServer) -> None:
    server.play(Status(401, "bad token"), Status(403), Stream(log_events(1), ending="hold"))
    recorder = Recorder()
    task = recorder.start(server, token="wrong")
    await async_wait_until(lambda: len(recorder.events) == 1)
    await stop(task)
    unauthorized = [s for s in recorder.states if s.phase == "unauthorized"]
    assert [s.error for s in unauthorized] == ["HTTP 401", "HTTP 403"]
    assert all(
        s.retry_at is not None and s.retry_at - s.since >= 0.025 for s in unauthorized
    )  # slow: ≥ cap/2


async def test_wrong_content_type_reconnects_instead_of_crashing(server: SSEServer) -> None:
    server.play(Status(200, "<html>proxy login</html>", "text/html"), Stream(log_events(2), ending="hold"))
    recorder = Recorder()
    task = recorder.start(server)
    await async_wait_until(lambda: len(recorder.events) == 2)
    await stop(task)
    assert recorder.phases[:4] == ["connecting", "reconnecting", "connecting", "live"]
    assert recorder.states[1].error == "not an event stream (text/html)"


async def test_connection_refused_is_reported_and_retried() -> None:
    server = SSEServer().start()
    url = server.url
    server.stop()  # nothing listens on this port any more
    recorder = Recorder()
    task = asyncio.create_task(
        follow(
            url,
            PATH_LOGS_STREAM,
            on_event=recorder.on_event,
            on_state=recorder.on_state,
            backoff=fast_backoff(),
        )
    )
    await async_wait_until(lambda: sum(p == "reconnecting" for p in recorder.phases) >= 3)
    await stop(task)
    reconnecting = [s for s in recorder.states if s.phase == "reconnecting"]
    assert reconnecting[0].error == "connection refused"
    assert [s.attempts for s in reconnecting[:3]] == [1, 2, 3]
    assert "live" not in recorder.phases


async def test_silent_stream_times_out_and_reconnects(server: SSEServer) -> None:
    server.play(Stream(ending="hold", heartbeat=None))
    recorder = Recorder()
    task = recorder.start(server, read_timeout=0.3)
    await async_wait_until(lambda: "reconnecting" in recorder.phases)
    await stop(task)
    assert next(s for s in recorder.states if s.phase == "reconnecting").error == "no data for 0.3 s"


async def test_empty_data_phantom_event_is_skipped(server: SSEServer) -> None:
    # httpx-sse issue #35: a comment after an id: line yields an event with empty data.
    raw = 'id: 7\nevent: log\ndata: {"message":"real"}\n\n: keep-alive\n\nid: 8\n\n'
    server.play(Stream([raw], ending="end"))
    recorder = Recorder()
    task = recorder.start(server)
    await async_wait_until(lambda: len(server.requests) >= 2)
    await stop(task)
    assert [(e.id, e.data) for e in recorder.events] == [("7", '{"message":"real"}')]
    assert server.requests[1].last_event_id == "8"  # an id-only block still moves the cursor


async def test_failing_event_callback_is_reported_not_raised(server: SSEServer) -> None:
    server.play(Stream(log_events(1), ending="hold"))
    states: list[ConnectionState] = []

    def explode(sse: ServerSentEvent) -> None:
        raise ValueError("renderer bug")

    task = asyncio.create_task(
        follow(server.url, PATH_LOGS_STREAM, on_event=explode, on_state=states.append, backoff=fast_backoff())
    )
    await async_wait_until(lambda: any(s.phase == "reconnecting" for s in states))
    assert not task.done()
    await stop(task)
    assert next(s for s in states if s.phase == "reconnecting").error == "ValueError: renderer bug"


async def test_cancel_stops_promptly_while_live_and_while_waiting(server: SSEServer) -> None:
    recorder = Recorder()
    task = recorder.start(server)
    await async_wait_until(lambda: recorder.phases[-1:] == ["live"])
    await stop(task)  # within WAIT, while the server would hold the stream open for longer
    assert len(server.requests) == 1

    server.play(Status(503))
    waiting = Recorder()
    task = waiting.start(server, backoff=Backoff(base=60, cap=60))  # next try would be up to a minute away
    await async_wait_until(lambda: waiting.phases[-1:] == ["reconnecting"])
    await stop(task)  # within WAIT: it did not sit out the backoff
    assert len(server.requests) == 2  # and it never tried again


# ------------------------------------------------------------------- backoff


def test_backoff_grows_exponentially_and_is_capped() -> None:
    backoff = Backoff(base=0.5, factor=2, cap=15, rng=random.Random(3))
    ceilings = []
    for _ in range(10):
        ceilings.append(backoff.ceiling())
        assert 0 <= backoff.next_delay() <= ceilings[-1]
    assert ceilings == [0.5, 1, 2, 4, 8, 15, 15, 15, 15, 15]


def test_backoff_has_full_jitter_and_is_reproducible_with_a_seed() -> None:
    def delays(seed: int) -> list[float]:
        backoff = Backoff(base=1, cap=1, rng=random.Random(seed))
        return [backoff.next_delay() for _ in range(200)]

    sample = delays(5)
    assert sample == delays(5)
    assert sample != delays(6)
    assert min(sample) < 0.1 and max(sample) > 0.9  # spread over the whole [0, ceiling] range
    assert len(set(sample)) == len(sample)


def test_backoff_reset_starts_from_base_again() -> None:
    backoff = Backoff(base=0.5, cap=15, rng=random.Random(0))
    for _ in range(6):
        backoff.next_delay()
    backoff.reset()
    assert backoff.ceiling() == 0.5


def test_backoff_rejects_nonsense_parameters() -> None:
    with pytest.raises(ValueError):
        Backoff(base=0)
    with pytest.raises(ValueError):
        Backoff(base=2, cap=1)


async def test_backoff_resets_after_a_connection_delivers(server: SSEServer) -> None:
    backoff = fast_backoff()
    server.play(Status(503), Status(503), Stream(log_events(1), ending="end"), Status(503))
    recorder = Recorder()
    task = recorder.start(server, backoff=backoff)
    await async_wait_until(lambda: len(server.requests) >= 5)
    await stop(task)
    attempts = [s.attempts for s in recorder.states if s.phase == "reconnecting"]
    assert attempts[:4] == [1, 2, 1, 2]


# ------------------------------------------------------------------ snapshot


MINIMAL_SNAPSHOT = {
    "timestamp": 1_700_000_000.5,
    "tokens_per_second": 812.5,
    "tool_calls_total": 40,
    "error_rate": 0.012,
    "completions": 300,
    "p50_latency_ms": 420.0,
    "p99_latency_ms": 2100.0,
    "active_agents": 12,
}


def test_minimal_snapshot_with_only_the_article_fields_decodes() -> None:
    snapshot = decode_snapshot(json.dumps(MINIMAL_SNAPSHOT))
    assert snapshot.tokens_per_second == 812.5 and snapshot.active_agents == 12
    assert snapshot.p99_latency_ms == 2100.0
    assert snapshot.agents == [] and snapshot.cost_per_minute == 0.0 and snapshot.p95_latency_ms is None


def test_snapshot_ignores_unknown_fields_and_drops_badly_typed_ones() -> None:
    data = {
        **MINIMAL_SNAPSHOT,
        "from_the_future": {"x": 1},
        "tokens_per_second": "fast",
        "p50_latency_ms": None,
        "active_agents": "7",
        "error_rate": "nan",
        "agents": [{"agent_id": "ok-agent", "p99_latency_ms": "slow"}, {"status": "no id"}, "junk"],
        "history": {"p99_latency_ms": [1.0, "x", None, 3.0]},
    }
    snapshot = decode_snapshot(json.dumps(data))
    assert snapshot.tokens_per_second == 0.0
    assert snapshot.p50_latency_ms is None
    assert snapshot.active_agents == 7
    assert snapshot.error_rate == 0.0
    assert [row.agent_id for row in snapshot.agents] == ["ok-agent"]
    assert snapshot.agents[0].p99_latency_ms is None
    assert snapshot.history.p99_latency_ms == [1.0, None, 3.0]


def test_snapshot_without_timestamp_uses_the_clock() -> None:
    assert decode_snapshot(b"{}", clock=lambda: 123.0).timestamp == 123.0
    assert decode_snapshot('{"timestamp": "2024-01-01T00:00:00Z"}').timestamp == 1_704_067_200.0


@pytest.mark.parametrize("data", ["", "not json", "[1, 2]", "null", b"\xff\xfe", '{"timestamp": 1e999}'])
def test_hopeless_snapshot_raises_decode_error(data: str | bytes) -> None:
    with pytest.raises(DecodeError):
        decode_snapshot(data)


@settings(max_examples=60)
@given(
    st.dictionaries(
        st.sampled_from([*MINIMAL_SNAPSHOT, "agents", "history", "cost_per_minute", "agent", "x"]),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(),
            lambda c: st.lists(c) | st.dictionaries(st.text(), c),
            max_leaves=8,
        ),
    )
)
def test_snapshot_decoder_never_raises_anything_but_decode_error(document: dict[str, object]) -> None:
    try:
        snapshot = decode_snapshot(json.dumps(document))
    except DecodeError:
        return
    assert isinstance(snapshot, Snapshot)
    msgspec.json.encode(snapshot)  # and it is a valid snapshot again


def test_full_snapshot_round_trips_unchanged() -> None:
    snapshot = Snapshot(
        timestamp=5.0,
        tokens_per_second=9.5,
        p50_latency_ms=1.0,
        agents=[AgentRow("a", status="degraded", p99_latency_ms=7.0)],
        history=History(end=5.0, p99_latency_ms=[None, 2.0]),
    )
    assert decode_snapshot(msgspec.json.encode(snapshot)) == snapshot


# ------------------------------------------------------------------ log entries


def test_minimal_log_entry_without_id_level_or_metadata_decodes() -> None:
    entry = decode_log_entry('{"timestamp": 1700000000.0, "agent_id": "planner", "message": "hello"}')
    assert entry == LogEntry(timestamp=1_700_000_000.0, agent_id="planner", level="info", message="hello")
    assert entry.id == 0 and entry.metadata == {}


def test_full_log_entry_round_trips_unchanged() -> None:
    entry = LogEntry(
        timestamp=1.5, agent_id="a", level="error", message="boom", metadata={"k": 1}, id=9, span_type="error"
    )
    assert decode_log_entry(msgspec.json.encode(entry)) == entry


def test_well_typed_entry_with_foreign_level_name_is_still_normalized() -> None:
    entry = decode_log_entry('{"timestamp": 1, "agent_id": "a", "level": "FATAL", "message": "x"}')
    assert entry.level == "critical"


def test_log_entry_odd_types_are_coerced_not_fatal() -> None:
    entry = decode_log_entry(
        json.dumps({"agent_id": 42, "level": "WARN", "message": {"k": [1]}, "metadata": [1, 2], "id": "17"}),
        clock=lambda: 99.0,
    )
    assert entry.timestamp == 99.0
    assert entry.agent_id == "42"
    assert entry.level == "warning"
    assert entry.message == '{"k":[1]}'
    assert entry.metadata == {"value": [1, 2]}
    assert entry.id == 17


def test_log_entry_text_is_cut_to_protocol_limits() -> None:
    entry = decode_log_entry(json.dumps({"agent_id": "a" * 1000, "message": "m" * 100_000}))
    assert len(entry.agent_id) == 128 and len(entry.message) == 16_384


@given(
    st.dictionaries(
        st.sampled_from(["timestamp", "agent_id", "level", "message", "metadata", "id", "x"]),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(),
            lambda c: st.lists(c, max_size=3),
            max_leaves=5,
        ),
    )
)
def test_log_decoder_never_raises_on_any_object(document: dict[str, object]) -> None:
    entry = decode_log_entry(json.dumps(document))
    assert isinstance(entry, LogEntry)
    msgspec.json.encode(entry)


@pytest.mark.parametrize("data", ["", "[]", '"text"', "{bad"])
def test_non_object_log_entry_raises_decode_error(data: str) -> None:
    with pytest.raises(DecodeError):
        decode_log_entry(data)


# --------------------------------------------------------------- fetch_snapshot


async def test_fetch_snapshot_reads_the_first_metrics_event(server: SSEServer) -> None:
    server.play(
        Stream(
            [
                ": hello\n\n",
                SSE(None, "alert", '{"x":1}'),
                SSE(None, SSE_METRICS, json.dumps(MINIMAL_SNAPSHOT)),
            ],
            ending="hold",
        )
    )
    snapshot = await fetch_snapshot(server.url, token="t", timeout=5)
    assert snapshot.active_agents == 12
    assert server.requests[0].authorization == "Bearer t"


async def test_fetch_snapshot_unauthorized_and_unreachable_raise_clear_errors(server: SSEServer) -> None:
    server.play(Status(401), Status(500), Stream(ending="hold", heartbeat=None), Stream(ending="end"))
    with pytest.raises(Unauthorized, match="refused the token"):
        await fetch_snapshot(server.url)
    with pytest.raises(CollectorUnreachable, match="HTTP 500"):
        await fetch_snapshot(server.url)
    with pytest.raises(CollectorUnreachable, match=r"within 0\.3 s"):
        await fetch_snapshot(server.url, timeout=0.3)
    with pytest.raises(CollectorUnreachable, match="closed the stream"):
        await fetch_snapshot(server.url)


# ------------------------------------------------------------------ SSE parser


def parse(*chunks: bytes, decoder: SSEDecoder | None = None) -> list[tuple[str, str, str]]:
    decoder = decoder or SSEDecoder()
    return [(e.event, e.data, e.id) for chunk in chunks for e in decoder.feed(chunk)]


def test_parser_reads_lf_crlf_and_cr_line_ends_alike() -> None:
    for end in (b"\n", b"\r\n", b"\r"):
        stream = end.join([b"id: 1", b"event: log", b"data: a", b"", b"data: b", b"", b""])
        assert parse(stream) == [("log", "a", "1"), ("message", "b", "1")], end


def test_parser_gives_the_same_events_however_the_bytes_are_split() -> None:
    stream = (
        "\ufeffid: 1\r\nevent: log\r\ndata: é1\r\n\r\n: ping\r\rdata: x\rdata: y\r\r"
        "id: 2\ndata:no-space\n\nevent: gap\ndata: {}\n\n"
    ).encode()
    whole = parse(stream)
    assert whole == [
        ("log", "é1", "1"),
        ("message", "x\ny", "1"),
        ("message", "no-space", "2"),
        ("gap", "{}", "2"),
    ]
    for size in (1, 2, 3, 5, 7):
        assert parse(*(stream[i : i + size] for i in range(0, len(stream), size))) == whole, size


@settings(max_examples=60)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_parser_result_does_not_depend_on_chunk_boundaries(cuts: list[int]) -> None:
    stream = (
        b"id: 7\r\nevent: log\r\ndata: one\r\ndata: two\r\n\r\n:c\r\rretry: 50\ndata: \xff\n\nid\ndata: z\n\n"
    )
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert (
        parse(*chunks)
        == parse(stream)
        == [("log", "one\ntwo", "7"), ("message", "\ufffd", "7"), ("message", "z", "")]
    )


def test_parser_id_is_sticky_empty_id_resets_and_nul_id_is_ignored() -> None:
    decoder = SSEDecoder()
    events = parse(b"id: 5\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid:\ndata: d\n\n", decoder=decoder)
    assert [i for _, _, i in events] == ["5", "5", "5", ""]
    assert decoder.last_event_id == ""


def test_parser_block_without_data_never_fires_but_moves_the_cursor() -> None:
    decoder = SSEDecoder(last_event_id="3")
    assert parse(b": heartbeat\n\nid: 9\n\nevent: log\n\n", decoder=decoder) == []
    assert decoder.last_event_id == "9"


def test_parser_unterminated_block_is_never_dispatched() -> None:
    decoder = SSEDecoder()
    assert parse(b"id: 4\ndata: half", b"\n", decoder=decoder) == []
    assert decoder.last_event_id == ""  # its id only counts once the block is complete


def test_parser_retry_takes_ascii_digits_only() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: 1500\ndata: a\n\n")
    assert decoder.retry == 1500
    decoder.feed(b"retry: 2s\ndata: b\n\nretry: \xd9\xa3\ndata: c\n\n")
    assert decoder.retry == 1500


def test_parser_refuses_an_event_that_never_ends() -> None:
    decoder = SSEDecoder(max_buffer=1000)
    with pytest.raises(ValueError, match="longer than 1000 bytes"):
        for _ in range(20):
            decoder.feed(b"data: " + b"x" * 100 + b"\n")


async def test_on_events_gets_every_event_in_order_in_batches(server: SSEServer) -> None:
    server.play(Stream(["".join(sse.encode() for sse in log_events(200))], ending="hold"))  # one write
    batches: list[list[ServerSentEvent]] = []
    states: list[ConnectionState] = []
    task = asyncio.create_task(
        follow(
            server.url,
            PATH_LOGS_STREAM,
            on_events=batches.append,
            on_state=states.append,
            backoff=fast_backoff(),
        )
    )
    await async_wait_until(lambda: sum(map(len, batches)) >= 200)
    await stop(task)
    assert [e.id for batch in batches for e in batch] == [str(n) for n in range(1, 201)]
    assert all(batches) and len(batches) < 20  # many events per network read


async def test_follow_needs_exactly_one_event_callback() -> None:
    with pytest.raises(TypeError):
        await follow("http://127.0.0.1:9", PATH_LOGS_STREAM, on_state=lambda s: None)
    with pytest.raises(TypeError):
        await follow(
            "http://127.0.0.1:9", PATH_LOGS_STREAM, on_event=print, on_events=print, on_state=lambda s: None
        )


# ------------------------------------------------------------- batched log decoding


def test_batch_of_well_formed_entries_decodes_like_one_by_one() -> None:
    entries = [
        LogEntry(timestamp=n, agent_id=f"a{n}", level="info", message=f"m{n}", id=n) for n in range(50)
    ]
    payloads = [msgspec.json.encode(e).decode() for e in entries]
    assert decode_log_entries(payloads) == (entries, 0)
    assert decode_log_entries([]) == ([], 0)


def test_one_bad_payload_in_a_batch_is_counted_and_the_rest_survive() -> None:
    payloads = [
        '{"timestamp": 1, "agent_id": "a", "level": "info", "message": "ok"}',
        "not json",
        '{"agent_id": "b", "level": "WARN", "message": "lenient"}',
        '{"timestamp": 2, "agent_id": "c", "level": "error", "message": "ok"}',
    ]
    entries, unreadable = decode_log_entries(payloads, clock=lambda: 9.0)
    assert unreadable == 1
    assert [(e.agent_id, e.level, e.timestamp) for e in entries] == [
        ("a", "info", 1.0),
        ("b", "warning", 9.0),
        ("c", "error", 2.0),
    ]


def test_payloads_that_only_parse_when_joined_are_read_one_by_one() -> None:
    payloads = ['{"timestamp": 1, "agent_id": "a", "level": "info", "message": "x"}, {"timestamp": 2', '"y"]']
    entries, unreadable = decode_log_entries(payloads)
    assert unreadable == 2 and entries == []


@settings(max_examples=60)
@given(
    st.lists(
        st.one_of(
            st.builds(
                lambda n, level, message: msgspec.json.encode(
                    {"timestamp": n, "agent_id": f"a{n}", "level": level, "message": message, "id": n}
                ).decode(),
                st.integers(0, 10**6),
                st.sampled_from(["info", "error", "WARN", "odd"]),
                st.text(max_size=20),
            ),
            st.sampled_from(["", "[]", "{", "null", '{"message": 5}', "1,2"]),
        ),
        max_size=8,
    )
)
def test_batch_decoding_equals_decoding_each_payload(payloads: list[str]) -> None:
    expected: list[LogEntry] = []
    bad = 0
    for payload in payloads:
        try:
            expected.append(decode_log_entry(payload, clock=lambda: 1.0))
        except DecodeError:
            bad += 1
    assert decode_log_entries(payloads, clock=lambda: 1.0) == (expected, bad)


def test_parser_reads_the_collectors_own_shape_like_any_other() -> None:
    stream = b"id: 1\nevent: log\ndata: a\n\nid: 2\nevent: \ndata: \n\nid: 3\x00\nevent: log\ndata: c\n\n"
    assert parse(stream) == [("log", "a", "1"), ("message", "", "2"), ("log", "c", "2")]
    assert parse(*(stream[i : i + 1] for i in range(len(stream)))) == parse(stream)
