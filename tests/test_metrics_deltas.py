"""Specification of the metrics stream's deltas and gzip (collector/metricsframes.py,
collector/streamgzip.py, client/deltas.py): whole snapshots for viewers that did not ask, deltas
that make exactly the same snapshots for those that did, a whole frame after a missed one."""

from __future__ import annotations

import asyncio
import socket
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest

from agentwatch.client.deltas import MissedDelta, SnapshotAssembler, apply_delta
from agentwatch.client.sse import SSEDecoder
from agentwatch.client.stream import ConnectionState, follow
from agentwatch.collector.metricsframes import MetricsFramer, snapshot_delta
from agentwatch.collector.service import Collector, Settings
from agentwatch.collector.streamgzip import GZIP_HEADER, accepts_gzip, deflate_segment
from agentwatch.protocol import (
    PATH_DASHBOARD_STREAM,
    SSE_ALERT,
    SSE_METRICS,
    SSE_METRICS_DELTA,
    AgentRow,
    Event,
    History,
    Snapshot,
    SnapshotDelta,
)
from agentwatch.simulator.fleet import Fleet
from agentwatch.tui import feed
from agentwatch.tui.state import ViewState
from tests.helpers import NOW, Clock, RunningCollector, async_wait_until
from tests.sseserver import SSE, SSEServer, Stream

WAIT = 5.0
_snapshot = msgspec.json.Decoder(Snapshot)


class Viewer:
    """One subscription of an in-process collector, read the way a viewer reads its stream."""

    def __init__(
        self, collector: Collector, *, delta: bool, gzip: bool = False, agent: str | None = None
    ) -> None:
        self.subscription = collector.subscribe_metrics(agent, delta=delta, gzip=gzip)
        self.stream: AsyncIterator[bytes] = self.subscription.frames(heartbeat=3600)
        self.decoder = SSEDecoder()
        self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self.assembler = SnapshotAssembler()
        self.events: list[str] = []
        self.wire_bytes = 0

    async def read(self) -> Snapshot:
        """The snapshot of the next batch the stream yields."""
        raw = await asyncio.wait_for(self.stream.__anext__(), WAIT)
        self.wire_bytes += len(raw)
        data = self.inflate.decompress(raw) if self.inflate is not None else raw
        snapshot: Snapshot | None = None
        for sse in self.decoder.feed(data):
            self.events.append(sse.event)
            if sse.event == SSE_METRICS_DELTA:
                snapshot = self.assembler.delta(sse.data, sse.id)
            elif sse.event == SSE_METRICS:
                snapshot = self.assembler.whole(_snapshot.decode(sse.data), sse.id)
        assert snapshot is not None, data
        return snapshot

    async def close(self) -> None:
        await self.stream.aclose()  # type: ignore[attr-defined]


def fleet_collector(agents: int = 12, rate: float = 60.0) -> tuple[Collector, Clock, Fleet]:
    clock = Clock(NOW)
    collector = Collector(Settings(store_path=None, clock=clock))
    return collector, clock, Fleet(agents, seed=3, start=NOW, rate=rate)


# ------------------------------------------------------------------- every tick, exactly
async def test_a_delta_viewer_makes_exactly_the_snapshot_a_full_viewer_gets_at_every_tick() -> None:
    collector, clock, fleet = fleet_collector()
    collector.window.agent_retention_seconds = 40.0  # agents that stop are evicted: rows removed
    full, delta, gzipped = (
        Viewer(collector, delta=False),
        Viewer(collector, delta=True),
        Viewer(collector, delta=True, gzip=True),
    )
    narrow = Viewer(collector, delta=True, agent=fleet.agent_ids[0])
    viewers = (full, delta, gzipped)
    for viewer in (*viewers, narrow):
        await viewer.read()  # the first frame: whole for everyone
    quiet = set(fleet.agent_ids[6:])  # these stop after 20 s, go idle, then offline, then are evicted
    steps = 0
    rows: list[int] = []
    for tick in range(4 * 150):
        clock.advance(0.25)
        events = [e for e in fleet.events_until(clock.now) if tick < 80 or e.agent_id not in quiet]
        if tick % 40 == 7:  # a late event: a second already sent changes in the history
            events.append(
                Event(agent_id="late", timestamp=clock.now - 30, span_type="llm_call", latency_ms=5.0)
            )
        if tick == 300:
            collector.apply_hook("claude-code", {"hook_event_name": "SessionStart", "session_id": "s1"})
        collector.ingest(events)
        if tick % 9 == 0:
            clock.advance(2.0)  # a few seconds without a tick: the history moves by more than one
        sent = collector.tick()  # frames for the fleet, and for the agent if its numbers changed
        if sent == 0:
            continue
        steps += 1
        whole = await full.read()
        rows.append(len(whole.agents))
        assert await delta.read() == whole
        assert await gzipped.read() == whole
        if sent == 2:
            assert await narrow.read() == collector.snapshot(fleet.agent_ids[0])
    assert steps > 400
    assert delta.events.count(SSE_METRICS_DELTA) > 0.9 * steps
    assert SSE_METRICS_DELTA not in full.events and SSE_ALERT in full.events
    assert delta.assembler.missed == 0 and collector.metrics.resyncs_total == 0
    assert delta.wire_bytes < full.wire_bytes / 3 and gzipped.wire_bytes < delta.wire_bytes / 2
    assert max(rows) > rows[-1] and whole.sessions  # rows were removed, a session came on the way
    for viewer in (*viewers, narrow):
        await viewer.close()


def test_an_idle_agents_row_is_not_resent() -> None:
    collector, clock, _ = fleet_collector()
    collector.window.origin = NOW - 120  # a full window: rates no longer divide by a growing time
    collector.ingest(
        [Event(agent_id=name, timestamp=NOW, span_type="llm_call") for name in ("busy", "still")]
    )
    framer = MetricsFramer(clock)
    framer.next(None, collector.snapshot(None))
    for _ in range(8):
        clock.advance(0.25)
        collector.ingest([Event(agent_id="busy", timestamp=clock.now, span_type="llm_call")])
        frames = framer.next(None, collector.snapshot(None))
        assert frames is not None and frames.has_delta
        data = frames.frame("delta").split(b"data: ", 1)[1]
        assert [row.agent_id for row in msgspec.json.decode(data, type=SnapshotDelta).agents] == ["busy"]


def test_a_snapshot_that_changed_only_its_time_sends_nothing_until_a_keepalive_is_due() -> None:
    collector, clock, _ = fleet_collector()
    framer = MetricsFramer(clock, alive_every=10.0)
    assert framer.next(None, collector.snapshot(None)) is not None
    clock.advance(5.0)
    assert framer.next(None, collector.snapshot(None)) is None
    clock.advance(5.0)  # an idle fleet still gets a frame every alive_every: the viewer is not stale
    alive = framer.next(None, collector.snapshot(None))
    assert alive is not None and alive.snapshot is not None and alive.snapshot.timestamp == clock.now
    assert framer.next(None, collector.snapshot(None)) is None


def test_the_history_tail_is_the_newest_second_and_whatever_else_changed() -> None:
    def history(end: float, values: list[float]) -> History:
        return History(
            end=end,
            tokens_per_second=values,
            p99_latency_ms=[None] * len(values),
            error_rate=[0.0] * len(values),
            events_per_second=values,
            cost_per_second=[0.0] * len(values),
        )

    old = Snapshot(timestamp=10.0, history=history(10.0, [1.0, 2.0, 3.0, 4.0]))
    cases = [
        (history(10.0, [1.0, 2.0, 3.0, 5.0]), [5.0]),  # the current second grew
        (history(11.0, [2.0, 3.0, 4.5, 6.0]), [4.5, 6.0]),  # a new second, the last one settled
        (history(11.0, [9.0, 3.0, 4.0, 6.0]), [9.0, 3.0, 4.0, 6.0]),  # a late event, long ago
        (history(20.0, [0.0, 0.0, 0.0, 1.0]), [0.0, 0.0, 0.0, 1.0]),  # more seconds than held
    ]
    for new_history, tail in cases:
        new = Snapshot(timestamp=new_history.end, history=new_history)
        changed, delta = snapshot_delta(old, new)
        assert changed and delta is not None
        assert delta.history.tokens_per_second == tail
        assert apply_delta(old, delta) == new
    back = Snapshot(timestamp=9.0, history=history(9.0, [0.0, 1.0, 2.0, 3.0]))
    assert snapshot_delta(old, back) == (True, None)  # the clock went back: a whole frame


def test_rows_added_and_removed_keep_the_order_of_agent_ids() -> None:
    old = Snapshot(timestamp=1.0, agents=[AgentRow("b"), AgentRow("d")])
    new = Snapshot(timestamp=2.0, agents=[AgentRow("a"), AgentRow("c", events=3), AgentRow("d")])
    changed, delta = snapshot_delta(old, new)
    assert changed and delta is not None
    assert [row.agent_id for row in delta.agents] == ["a", "c"] and delta.removed == ["b"]
    made = apply_delta(old, delta)
    assert made == new and made.agents[2] is old.agents[1]  # an unchanged row is the same object


async def test_gzip_delta_viewers_share_one_deflate_chain_and_a_late_one_joins_at_the_next_frame() -> None:
    collector, clock, fleet = fleet_collector()
    early = Viewer(collector, delta=True, gzip=True)
    await early.read()

    async def tick() -> None:
        clock.advance(0.25)
        collector.ingest(fleet.events_until(clock.now) or [Event(agent_id="x", timestamp=clock.now)])
        assert collector.tick() == 1

    async def bytes_of_next(viewer: Viewer) -> int:
        before = viewer.wire_bytes
        await viewer.read()
        return viewer.wire_bytes - before

    for _ in range(3):
        await tick()
        await early.read()
    late = Viewer(collector, delta=True, gzip=True)
    await late.read()  # whole: it is outside the chain, and asks for a new generation
    await tick()
    await early.read(), await late.read()  # both decode the first segment of the new generation
    for _ in range(5):
        await tick()
        sizes = [await bytes_of_next(viewer) for viewer in (early, late)]
        assert sizes[0] == sizes[1]  # the same shared segment
        assert early.assembler.snapshot == late.assembler.snapshot
    frames = collector.framer.current(None)
    assert frames is not None and (chained := frames.chained()) is not None
    assert len(chained[0]) < len(frames.frame("delta", gzip=True)) / 2  # the chain's history pays
    for viewer in (early, late):
        await viewer.close()


# ------------------------------------------------------------------------ missed frames
async def test_a_delta_viewer_that_skipped_frames_gets_a_whole_one_then_deltas_again() -> None:
    collector, clock, fleet = fleet_collector()
    subscription = collector.subscribe_metrics(None, delta=True)
    room = True
    stream = subscription.frames(heartbeat=3600, writable=lambda: room)
    decoder = SSEDecoder()

    async def next_events() -> list[tuple[str, str]]:
        raw = await asyncio.wait_for(stream.__anext__(), WAIT)
        return [(sse.event, sse.id) for sse in decoder.feed(raw)]

    def tick() -> None:
        clock.advance(0.25)
        collector.ingest(fleet.events_until(clock.now) or [Event(agent_id="x", timestamp=clock.now)])
        assert collector.tick() == 1

    assert (await next_events())[0][0] == SSE_METRICS
    tick()
    assert (await next_events())[0][0] == SSE_METRICS_DELTA
    room = False  # the viewer's connection is full: the next ticks' frames are coalesced
    waiting = asyncio.ensure_future(next_events())
    for _ in range(3):
        tick()
        await asyncio.sleep(0)
    assert not waiting.done()
    room = True
    [(event, frame_id)] = await waiting
    assert event == SSE_METRICS and subscription.resyncs == 1 and collector.health().metrics_resyncs == 1
    tick()
    assert await next_events() == [(SSE_METRICS_DELTA, str(int(frame_id) + 1))]
    await stream.aclose()


def test_a_delta_that_does_not_follow_raises_missed_delta_and_the_next_whole_snapshot_heals() -> None:
    assembler = SnapshotAssembler()
    base = Snapshot(timestamp=1.0, agents=[AgentRow("a")])
    assembler.whole(base, "5")
    delta = msgspec.json.encode(SnapshotDelta(timestamp=2.0, agents=[AgentRow("a", events=1)]))
    with pytest.raises(MissedDelta):
        assembler.delta(delta, "7")
    with pytest.raises(MissedDelta):  # nothing to apply to until a whole snapshot comes
        assembler.delta(delta, "8")
    assembler.whole(base, "8")
    assert assembler.delta(delta, "9").agents[0].events == 1
    assert assembler.missed == 2
    assembler.whole(base, "")  # a collector without deltas: whole snapshots without ids
    with pytest.raises(MissedDelta):
        assembler.delta(delta, "1")


async def test_the_viewer_reconnects_for_a_whole_snapshot_after_a_missed_delta() -> None:
    first = Snapshot(timestamp=NOW, agents=[AgentRow("a", events=1)])
    later = Snapshot(timestamp=NOW + 5, agents=[AgentRow("a", events=9)])
    gap = SnapshotDelta(timestamp=NOW + 1, agents=[AgentRow("a", events=2)])
    state = ViewState(clock=lambda: NOW)
    phases: list[ConnectionState] = []
    with SSEServer() as server:
        server.play(
            Stream(
                [SSE("1", SSE_METRICS, _json(first)), SSE("3", SSE_METRICS_DELTA, _json(gap))], ending="hold"
            ),
            Stream([SSE("40", SSE_METRICS, _json(later))], ending="hold"),
        )
        task = asyncio.create_task(
            follow(
                server.url,
                PATH_DASHBOARD_STREAM,
                on_events=lambda events: feed.apply_metrics_events(state, events),
                on_state=phases.append,
            )
        )
        try:
            await async_wait_until(
                lambda: state.fleet is not None and state.fleet.timestamp == later.timestamp
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert state.fleet == later and state.metrics_frames.missed == 1
    assert any(phase.phase == "reconnecting" and "MissedDelta" in (phase.error or "") for phase in phases)


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


# ------------------------------------------------------------------------------ gzip
def test_gzip_segments_decode_in_any_order_after_the_header() -> None:
    one, two = deflate_segment(b"event: a\n\n"), deflate_segment(b"event: b\n\n" * 50)
    for order in ((one, two, one), (two, one, two)):
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = b"".join(inflate.decompress(segment) for segment in (GZIP_HEADER, *order))
        assert out == b"".join(
            b"event: a\n\n" if segment is one else b"event: b\n\n" * 50 for segment in order
        )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip, deflate", True),
        ("br;q=1.0, gzip;q=0.5", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("*;q=0.1", True),
        ("identity", False),
        ("", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_with_its_q_values(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


# ------------------------------------------------------------------ over real HTTP SSE
class StreamReader:
    """A real metrics stream read into a list of events (a task), with the bytes of the wire."""

    def __init__(self, url: str, params: dict[str, str], accept_encoding: str) -> None:
        self.events: list[Any] = []
        self.headers: httpx.Headers | None = None
        self.wire = 0
        self._task = asyncio.create_task(self._read(url, params, accept_encoding))

    async def _read(self, url: str, params: dict[str, str], accept_encoding: str) -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            headers = {"Accept-Encoding": accept_encoding}
            async with client.stream(
                "GET", url + PATH_DASHBOARD_STREAM, params=params, headers=headers
            ) as response:
                self.headers = response.headers
                decoder = SSEDecoder()
                inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                gzipped = response.headers.get("content-encoding") == "gzip"
                async for chunk in response.aiter_raw():
                    self.wire += len(chunk)
                    self.events.extend(decoder.feed(inflate.decompress(chunk) if gzipped else chunk))

    def frames(self) -> list[Any]:
        return [e for e in self.events if e.event in (SSE_METRICS, SSE_METRICS_DELTA)]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def test_over_http_old_viewers_get_whole_snapshots_and_delta_viewers_make_the_same_ones(
    start_collector: Callable[..., RunningCollector],
) -> None:
    clock = Clock(NOW)
    running = start_collector(clock=clock, ticks_per_second=1e-4)  # ticks come from the test alone
    loop = running.service._tick_task.get_loop()
    fleet = Fleet(12, seed=5, start=NOW, rate=40.0)
    readers = [
        StreamReader(running.url, {}, "identity"),  # an old viewer: no deltas
        StreamReader(running.url, {"delta": "1"}, "identity"),
        StreamReader(running.url, {"delta": "1"}, "gzip, deflate"),
    ]
    try:
        for step in range(1, 25):
            await async_wait_until(lambda step=step: all(len(r.frames()) >= step for r in readers))
            clock.advance(0.5)
            await running.apost([msgspec.to_builtins(e) for e in fleet.events_until(clock.now)])
            loop.call_soon_threadsafe(running.service.tick)
        await async_wait_until(lambda: all(len(r.frames()) >= 25 for r in readers))
    finally:
        for reader in readers:
            await reader.close()
    old, deltas, gzipped = readers
    assert old.headers is not None and "content-encoding" not in old.headers
    assert gzipped.headers is not None and gzipped.headers["content-encoding"] == "gzip"
    assert {e.event for e in old.frames()} == {SSE_METRICS} and {e.id for e in old.frames()} == {""}
    wholes = [_snapshot.decode(e.data) for e in old.frames()]
    for reader in (deltas, gzipped):
        assembler = SnapshotAssembler()
        made = [
            assembler.delta(e.data, e.id)
            if e.event == SSE_METRICS_DELTA
            else assembler.whole(_snapshot.decode(e.data), e.id)
            for e in reader.frames()
        ]
        assert made == wholes
        assert assembler.deltas == len(wholes) - 1
    assert gzipped.wire < deltas.wire / 2 and deltas.wire < old.wire


def test_a_bad_delta_parameter_is_400(collector: RunningCollector) -> None:
    response = httpx.get(collector.url + PATH_DASHBOARD_STREAM, params={"delta": "yes"})
    assert response.status_code == 400 and "delta" in response.json()["error"]


# ------------------------------------------------------- a stalled viewer over real HTTP
class Dechunker:
    """The body of an HTTP/1.1 chunked response, from its bytes as they arrive."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        body = b""
        while True:
            size_line, found, rest = self._buffer.partition(b"\r\n")
            if not found:
                return body
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return body
            body += rest[:size]
            self._buffer = rest[size + 2 :]


def test_over_http_a_delta_viewer_that_stopped_reading_gets_a_whole_snapshot_then_deltas_again(
    start_collector: Callable[..., RunningCollector],
) -> None:
    clock = Clock(NOW)
    running = start_collector(clock=clock, ticks_per_second=1e-4)  # ticks come from the test alone
    service = running.service
    loop = service._tick_task.get_loop()
    fleet = Fleet(300, seed=9, start=NOW, rate=600.0)  # a delta of ~300 rows: more than the buffers hold

    def tick() -> None:
        clock.advance(0.5)
        running.post([msgspec.to_builtins(e) for e in fleet.events_until(clock.now)])

        async def run() -> int:
            return int(service.tick())

        asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=10)

    tick()
    parts = urlsplit(running.url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the viewer stalls soon
    sock.settimeout(10)
    sock.connect((parts.hostname, parts.port))
    sock.sendall(
        f"GET {PATH_DASHBOARD_STREAM}?delta=1 HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Accept: text/event-stream\r\nAccept-Encoding: identity\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head[:100]
    dechunk, decoder, events = Dechunker(), SSEDecoder(), []
    events.extend(decoder.feed(dechunk.feed(head.partition(b"\r\n\r\n")[2])))
    try:
        for _ in range(40):  # the viewer reads nothing while the collector ticks on
            tick()
            if service.metrics.coalesced_total >= 3:
                break
        assert service.metrics.coalesced_total >= 3
        for _ in range(2):  # reading again: what was in flight, the newest snapshot whole, then deltas
            tick()
        frames: list[Any] = []
        asked = ""
        for _ in range(10_000):
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise AssertionError([(e.event, e.id, len(e.data)) for e in events]) from None
            events.extend(decoder.feed(dechunk.feed(chunk)))
            frames = [e for e in events if e.event in (SSE_METRICS, SSE_METRICS_DELTA)]
            if len(frames) > 2 and [e.event for e in frames[-2:]] == [SSE_METRICS, SSE_METRICS_DELTA]:
                break
            if len(frames) > 1 and frames[-1].event == SSE_METRICS and frames[-1].id != asked:
                asked = frames[-1].id
                tick()  # one more frame after the whole one: a delta
        assert [e.event for e in frames[-2:]] == [SSE_METRICS, SSE_METRICS_DELTA]
    finally:
        sock.close()
    ids = [int(e.id) for e in frames]
    assert ids[-2] > ids[-3] + 1 and ids[-1] == ids[-2] + 1  # frames skipped, then whole, then in step
    assembler = SnapshotAssembler()
    for e in frames:
        if e.event == SSE_METRICS_DELTA:
            assembler.delta(e.data, e.id)
        else:
            assembler.whole(_snapshot.decode(e.data), e.id)
    assert assembler.missed == 0

    async def now_snapshot() -> Snapshot:
        return service.snapshot(None)

    assert assembler.snapshot == asyncio.run_coroutine_threadsafe(now_snapshot(), loop).result(timeout=10)
    assert httpx.get(running.url + "/healthz").json()["metrics_resyncs"] >= 1
