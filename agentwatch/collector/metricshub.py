"""Fan-out of metrics frames to Server-Sent Events subscribers.

Snapshots reach each subscriber latest-wins: a snapshot not yet taken is replaced and counted as
coalesced, so a slow viewer costs one frame, never a queue. One-off events (alerts) go through a
small bounded queue per subscriber. Single-threaded: call every method from the event loop's
thread. Nothing here knows about HTTP: the web layer wraps ``frames()`` in a streaming response.

A subscriber that asked for deltas gets a scope's :class:`~agentwatch.collector.metricsframes.MetricsFrames`
as a delta when it took the frame just before, else whole (its first frame, and after frames it
skipped: counted in ``resyncs``). A gzip subscriber gets gzip segments
(:mod:`agentwatch.collector.streamgzip`) after the gzip header.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

from agentwatch.collector.metricsframes import MetricsFrames
from agentwatch.collector.sse import HEARTBEAT, Heartbeat, wait_writable
from agentwatch.collector.streamgzip import GZIP_HEADER, deflate_segment

_GZIP_HEARTBEAT = deflate_segment(HEARTBEAT)


class MetricsSubscription:
    """One viewer of metrics frames for one agent filter (None = the whole fleet).

    ``delta``: it takes ``metrics-delta`` frames; ``gzip``: its stream is gzip.
    """

    def __init__(
        self, hub: MetricsHub, agent: str | None, event_queue: int, *, delta: bool = False, gzip: bool = False
    ) -> None:
        self._hub = hub
        self.agent = agent
        self.delta = delta
        self.gzip = gzip
        self._latest: MetricsFrames | None = None
        self._events: deque[bytes] = deque()
        self._event_queue = event_queue
        self._seq = 0  # the id of the last frame taken (delta subscribers)
        self._chain: int | None = None  # the deflate chain generation it follows (gzip deltas)
        self._started = False
        self.coalesced = 0
        self.events_dropped = 0
        self.resyncs = 0
        self.closed = False
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()

    def _offer(self, frame: MetricsFrames) -> None:
        if self._latest is not None:
            self.coalesced += 1
            self._hub.coalesced_total += 1
        self._latest = frame
        self._wake.set()

    def _offer_event(self, frame: bytes) -> None:
        if len(self._events) >= self._event_queue:
            self._events.popleft()  # the oldest one-off event goes; newer ones matter more
            self.events_dropped += 1
            self._hub.events_dropped_total += 1
        self._events.append(frame)
        self._wake.set()

    def _take(self) -> bytes:
        events = b"".join(self._events)
        self._events.clear()
        parts = [self._segment(events) if self.gzip else events] if events else []
        frames, self._latest = self._latest, None
        if frames is not None:
            kind = self._kind(frames)
            parts.append(self._gzip_frame(frames, kind) if self.gzip else frames.frame(kind))
        if parts and self.gzip and not self._started:
            parts.insert(0, GZIP_HEADER)
        self._started = self._started or bool(parts)
        return b"".join(parts)

    def _segment(self, data: bytes) -> bytes:
        """``data`` compressed on its own: this viewer leaves its scope's deflate chain."""
        self._chain = None
        return deflate_segment(data)

    def _gzip_frame(self, frames: MetricsFrames, kind: str) -> bytes:
        """A delta as a segment of the scope's deflate chain when this viewer can decode it (it took
        every segment of that generation, or the segment begins one), else compressed on its own."""
        chained = frames.chained() if kind == "delta" else None
        if chained is not None:
            segment, generation, fresh = chained
            if fresh or generation == self._chain:
                self._chain = generation
                return segment
        if self.delta:
            frames.restart_chain()  # join at the next frame
        self._chain = None
        return frames.frame(kind, gzip=True)

    def _kind(self, frames: MetricsFrames) -> str:
        """Which of ``frames`` this subscriber takes: plain, full (with its id) or delta."""
        if not self.delta or frames.snapshot is None:
            return "plain"
        previous, self._seq = self._seq, frames.seq
        if frames.has_delta and previous == frames.seq - 1:
            return "delta"
        if previous and frames.has_delta:  # it skipped a frame: a whole one puts it back in step
            self.resyncs += 1
            self._hub.resyncs_total += 1
        return "full"

    def _heartbeat(self) -> bytes:
        if not self.gzip:
            return HEARTBEAT
        self._chain = None
        if self._started:
            return _GZIP_HEARTBEAT
        self._started = True
        return GZIP_HEADER + _GZIP_HEARTBEAT

    def close(self) -> None:
        """Stop the stream and leave the hub. Idempotent."""
        if not self.closed:
            self.closed = True
            self._hub._remove(self)
            self._wake.set()
            self._closing.set()

    async def frames(
        self, heartbeat: float = 15.0, *, writable: Callable[[], bool] | None = None
    ) -> AsyncIterator[bytes]:
        """Queued events, then the newest metrics frame, per wake-up; heartbeat after silence.

        ``writable``: whether the connection has room (see
        :func:`~agentwatch.collector.sse.bound_stream`); while it has none nothing is taken, so a
        slow viewer gets the newest snapshot when it has room (the others are coalesced).
        """
        keepalive = Heartbeat(heartbeat)
        try:
            while not self.closed:
                if writable is not None and not writable():
                    await wait_writable(writable, self._closing)
                    continue
                batch = self._take()
                if batch:
                    yield batch
                    keepalive.sent()
                    continue
                if await keepalive.wait(self._wake):
                    continue
                if self.closed:
                    break
                yield self._heartbeat()
                keepalive.sent()
        finally:
            self.close()


class MetricsHub:
    """Metrics subscribers grouped by agent filter; latest-wins snapshots, queued events.

    ``event_queue``: one-off events (alerts) held per subscriber; beyond it the oldest is dropped
    and counted in ``events_dropped_total``.
    """

    def __init__(self, *, event_queue: int = 100) -> None:
        if event_queue < 1:
            raise ValueError("event_queue must be ≥ 1")
        self._event_queue = event_queue
        self._by_filter: dict[str | None, set[MetricsSubscription]] = {}
        self.coalesced_total = 0
        self.events_dropped_total = 0
        #: Whole frames sent to delta subscribers because they had skipped one.
        self.resyncs_total = 0

    @property
    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._by_filter.values())

    def subscribe(
        self,
        agent: str | None,
        *,
        first: MetricsFrames | None = None,
        delta: bool = False,
        gzip: bool = False,
    ) -> MetricsSubscription:
        """A new subscriber of filter ``agent``; ``first``: the frames it gets at once."""
        subscription = MetricsSubscription(self, agent, self._event_queue, delta=delta, gzip=gzip)
        self._by_filter.setdefault(agent, set()).add(subscription)
        if first is not None:
            subscription._offer(first)
        return subscription

    def _remove(self, subscription: MetricsSubscription) -> None:
        subs = self._by_filter.get(subscription.agent)
        if subs is not None:
            subs.discard(subscription)
            if not subs:
                del self._by_filter[subscription.agent]

    def filters(self) -> set[str | None]:
        """Agent filters that currently have at least one subscriber."""
        return set(self._by_filter)

    def publish(self, agent: str | None, frame: MetricsFrames | bytes) -> None:
        """Give ``frame`` to the subscribers of filter ``agent``, replacing any not yet taken
        (bytes: the same frame for every subscriber)."""
        frames = MetricsFrames.fixed(frame) if isinstance(frame, bytes) else frame
        for subscription in self._by_filter.get(agent, ()):
            subscription._offer(frames)

    def publish_event(self, frame: bytes) -> None:
        """Queue ``frame`` for every subscriber, whatever its filter (bounded, overflow counted)."""
        for subs in self._by_filter.values():
            for subscription in subs:
                subscription._offer_event(frame)

    def close_all(self) -> None:
        """End every subscription's frame stream (e.g. on shutdown)."""
        for subs in list(self._by_filter.values()):
            for subscription in list(subs):
                subscription.close()
