"""A log subscription: a cursor into the :class:`~agentwatch.collector.loghub.LogHub`'s ring.

:class:`Subscription` reads the hub's ring from the last id it delivered, with its filters, and
streams SSE frames (:meth:`Subscription.frames`): backfill from the store first where it resumes
before the ring, then what the ring holds, then live entries, with ``event: dropped`` / ``gap``
notices. The hub makes them (:meth:`~agentwatch.collector.loghub.LogHub.subscribe`) and wakes them;
they read its ring through its methods. Single-threaded, like the hub.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Final

from agentwatch.collector.sse import HEARTBEAT, Heartbeat, sse_frame, wait_writable
from agentwatch.protocol import SSE_DROPPED, SSE_GAP, SSE_LOG, Dropped, json_encoder

if TYPE_CHECKING:
    from agentwatch.collector.loghub import LogHub

__all__ = ["MAX_BATCH", "Subscription", "log_frame"]

log = logging.getLogger(__name__)

#: Most log entries put in one batch by one wake-up of a subscription (bounds a single write).
MAX_BATCH: Final = 2_000


def log_frame(id_prefix: bytes, entry_id: int, data: bytes) -> bytes:
    """The SSE frame of one log line (``data``: its JSON) with id ``<id_prefix><entry_id>``."""
    return b"%b%d\nevent: %b\ndata: %b\n\n" % (id_prefix, entry_id, SSE_LOG.encode(), data)


class Subscription:
    """A cursor into a :class:`LogHub`'s ring with filters; stream it with :meth:`frames`."""

    def __init__(
        self, hub: LogHub, agent: str | None, min_rank: int, cursor: int, notices: list[bytes]
    ) -> None:
        self._hub = hub
        self.agent = agent
        self.min_rank = min_rank
        self.cursor = cursor  # the last id delivered (or skipped by a filter)
        self._live_from = hub.last_id  # history up to here is delivered in full, never skipped
        self._notices = notices  # frames due before anything else (hello, reset, gap)
        self._older: tuple[int, int] | None = None  # (after, before): ids to read from the backfill
        self._tell_holes = False  # a resuming subscriber asked for the ids of a hole: tell it of them
        self.dropped_total = 0
        self.closed = False
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()

    def close(self) -> None:
        """Stop the stream and leave the hub. Idempotent."""
        if not self.closed:
            self.closed = True
            self._hub._subscriptions.discard(self)
            self._wake.set()
            self._closing.set()

    def _take(self) -> bytes:
        """Everything due now, as one bytes object (b"" when nothing is)."""
        hub = self._hub
        parts = self._notices
        self._notices = []
        if self.cursor < hub.last_id:
            dropped = 0
            oldest = hub.oldest_held
            if self.cursor + 1 < oldest:  # the ring wrapped past us while we were away
                dropped += oldest - 1 - self.cursor
                self.cursor = oldest - 1
            if self.cursor >= self._live_from:  # too far behind, or what is next is too old
                skip_to = max(hub.last_id - hub.max_lag, hub._stale_id(hub._monotonic()))
                if skip_to > self.cursor:
                    dropped += len(hub._matching(self.cursor + 1, skip_to, self.agent, self.min_rank))
                    self.cursor = skip_to
            if dropped:
                self.dropped_total += dropped
                hub.dropped_total += dropped
                notice = Dropped(dropped=dropped, total_dropped=self.dropped_total)
                parts.append(sse_frame(SSE_DROPPED, json_encoder.encode(notice)))
            high = min(hub.last_id, self.cursor + MAX_BATCH)
            for first, last in hub._holes:
                if last > self.cursor and first <= high:
                    if first > self.cursor + 1:
                        high = first - 1  # up to the hole now; the hole's gap next time
                    else:
                        if self._tell_holes:
                            gap = hub._gap(self.cursor, last + 1)
                            parts.append(sse_frame(SSE_GAP, json_encoder.encode(gap)))
                        self.cursor = last
                        return b"".join(parts)
                    break
            frames, self.cursor = hub._frames(self.cursor + 1, high, self.agent, self.min_rank)
            parts.extend(frames)
        return b"".join(parts)

    async def _backfilled(self) -> AsyncIterator[bytes]:
        """Entries older than the ring, from the hub's backfill, in batches of at most MAX_BATCH."""
        assert self._older is not None
        after, before = self._older
        self._older = None
        hub = self._hub
        backfill = hub.backfill
        first = True
        while not self.closed and backfill is not None and after + 1 < before:
            try:
                first_held, entries = await asyncio.to_thread(
                    backfill, after, before, MAX_BATCH, self.agent, self.min_rank
                )
            except Exception as exc:  # the store failed: what it would have sent is a gap
                hub.backfill_errors += 1
                log.warning("log backfill failed, sending a gap instead: %s", exc)
                yield sse_frame(SSE_GAP, json_encoder.encode(hub._gap(after, before)))
                return
            parts: list[bytes] = []
            if first and first_held > after + 1:
                parts.append(
                    sse_frame(SSE_GAP, json_encoder.encode(hub._gap(after, min(first_held, before))))
                )
            first = False
            prefix = hub._id_prefix
            for entry in entries:
                parts.append(log_frame(prefix, entry.id, json_encoder.encode(entry)))
            hub.backfilled_total += len(entries)
            if parts:
                yield b"".join(parts)
            if len(entries) < MAX_BATCH:
                return
            after = entries[-1].id

    async def frames(
        self, heartbeat: float = 15.0, *, coalesce: float = 0.02, writable: Callable[[], bool] | None = None
    ) -> AsyncIterator[bytes]:
        """Batches of SSE bytes: history (or backfill / gap + resume), then live entries, until closed.

        One batch per wake-up; after a batch that caught up it waits ``coalesce`` seconds so a
        burst of small publishes costs one write, not one each (a subscriber still behind after a
        batch — cut by :data:`MAX_BATCH` or :data:`MAX_BATCH_BYTES` — only yields to the loop).
        After ``heartbeat`` seconds without output a comment line is sent (see
        :class:`~agentwatch.collector.sse.Heartbeat`: the interval is bounded below, so it can never spin).
        ``writable``: whether the connection has room (:func:`~agentwatch.collector.sse.bound_stream`);
        while it has none, no batch is taken, so what goes out next is what is due when it has.
        Leaving the loop (close, cancel, generator close) unsubscribes.
        """
        try:
            if self._older is not None:
                if self._notices:  # hello (and reset) go out before the store is read
                    yield b"".join(self._notices)
                    self._notices = []
                async for older in self._backfilled():
                    yield older
            keepalive = Heartbeat(heartbeat)
            while not self.closed:
                if writable is not None and not writable():
                    await wait_writable(writable, self._closing)
                    continue
                batch = self._take()
                if batch:
                    yield batch
                    keepalive.sent()
                    if self.cursor < self._hub.last_id:
                        await asyncio.sleep(0)  # more is due already: nothing to coalesce
                    elif coalesce > 0 and not self.closed:
                        try:
                            async with asyncio.timeout(coalesce):
                                await self._closing.wait()
                        except TimeoutError:
                            pass
                    continue
                if self.cursor < self._hub.last_id:
                    continue  # a full batch of filtered-out entries: keep reading
                if await keepalive.wait(self._wake):
                    continue
                if self.closed:
                    break
                yield HEARTBEAT
                keepalive.sent()
        finally:
            self.close()
