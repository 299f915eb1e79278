"""The bounded queue and the daemon thread that ships events to the collector.

Recording an event costs the caller a length check and a :class:`collections.deque` append
(both atomic in CPython): no lock is shared with the sender thread, so the caller never
waits for the sender, whatever it is doing. It never blocks on I/O and never raises. A
single daemon thread drains the queue in batches (by size, or every ``flush_interval``
seconds), POSTs them as a JSON array to ``url + PATH_EVENTS`` over one kept-alive
connection (:mod:`agentwatch.sdk.transport`; given several collector URLs, to the first live
one of them, see :mod:`agentwatch.sdk.shards`), and retries with exponential backoff on
connection errors, 429 and 5xx, honouring ``Retry-After`` (:mod:`agentwatch.retry`). A batch
that still fails after ``max_retries`` is counted as ``failed`` and dropped; a 4xx other
than 429 is counted as ``rejected`` and not retried. Events that arrive while the queue is
full are counted as ``dropped``.

Span starts (:data:`~agentwatch.protocol.EVENT_SPAN_START`) share the queue but are not events:
a span is queued as it begins (:meth:`BatchSender.put_start`) and its start is made here, when
a batch takes it, only if the span is still running (the end says all a start would); starts go
after the batch's events and none counts as sent, failed or rejected. A start lost (queue full,
batch failed or refused) is counted in ``starts_dropped`` only.

The sender thread shares the interpreter lock with the agent: whatever Python it runs between
two system calls, the agent's thread may wait for. So it keeps those stretches short: it
encodes a batch in slices of :data:`ENCODE_SLICE` events, yielding the lock between slices;
it encodes a batch once, and only once a connection is open (while the collector is down an
attempt is one refused connect); it gzips in one zlib call, which releases the lock; and its
HTTP is :mod:`http.client` (see :mod:`agentwatch.sdk.transport`).
"""

from __future__ import annotations

import gzip
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import msgspec

from agentwatch.protocol import HEADER_IDEMPOTENCY_KEY, PATH_EVENTS, Event, IngestResponse
from agentwatch.retry import RETRYABLE_STATUSES, Backoff, parse_retry_after
from agentwatch.sdk.shards import FailoverTransport
from agentwatch.sdk.transport import Transport, TransportError

#: A Retry-After longer than this (seconds) is clamped, so one answer cannot stall a sender.
MAX_RETRY_AFTER = 60.0
#: Jitter of the retry delays: each is between half and all of its exponential ceiling.
BACKOFF_JITTER = (0.5, 1.0)
#: Events encoded between two yields of the interpreter lock.
ENCODE_SLICE = 100


class Started(Protocol):
    """A span queued as it began (:class:`agentwatch.sdk.spans.Span`)."""

    def start_event(self) -> Event | None: ...


class _FlushMarker:
    """Queued by :meth:`BatchSender.flush`: set once every event queued before it is resolved."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


def _fallback_encode(value: Any) -> str:
    """Encode values msgspec does not know (objects, sets of odd things...) as their ``str``."""
    return str(value)


_encoder = msgspec.json.Encoder(enc_hook=_fallback_encode)
_response_decoder = msgspec.json.Decoder(IngestResponse)


class BatchSender:
    """Owns the event queue, the sender thread and the delivery counters.

    Counters (all monotonic, read with :meth:`stats`):
    ``sent`` accepted by the collector, ``dropped`` never queued (queue full, closed, or
    unencodable), ``retried`` retry attempts, ``failed`` given up after retries,
    ``rejected`` refused by the collector (4xx, or per-item rejections in a 2xx answer),
    ``queued`` waiting right now.

    Threads: the sender thread alone writes ``sent``, ``retried``, ``failed``, ``rejected``
    and its own drop count; callers' drops are counted under a lock that only callers take,
    for one increment at a time. ``max_queue`` is checked without a lock, so threads
    recording at the same instant may overshoot it by one event each.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        token: str | None,
        *,
        batch_size: int,
        flush_interval: float,
        max_queue: int,
        timeout: float,
        gzip_min_bytes: int,
        max_retries: int = 5,
        backoff_base: float = 0.1,
        backoff_max: float = 10.0,
        heartbeat_interval: float | None = None,
        heartbeat_factory: Callable[[dict[str, int]], Event | None] | None = None,
        failback_interval: float = 1.0,
    ) -> None:
        #: Collector base URLs in order of preference (one unless sharded).
        self.collectors: tuple[str, ...] = (url,) if isinstance(url, str) else tuple(url)
        endpoints = [collector.rstrip("/") + PATH_EVENTS for collector in self.collectors]
        self._headers = {"content-type": "application/json", "user-agent": "agentwatch-sdk"}
        if token:
            self._headers["authorization"] = f"Bearer {token}"
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._timeout = timeout
        self._gzip_min_bytes = gzip_min_bytes
        self._max_retries = max_retries
        # Used by the sender thread only, reset for each batch.
        self._backoff = Backoff(base=backoff_base, cap=backoff_max, jitter=BACKOFF_JITTER)
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat_factory = heartbeat_factory

        self._queue: deque[Event | _FlushMarker | Started] = deque()
        self._append = self._queue.append
        self._wake = threading.Event()
        self._wake_is_set = self._wake.is_set
        self._stop = threading.Event()
        self._closed = False
        self._limit = max_queue  # 0 once closed: every put is refused
        self._wake_at = batch_size - 1  # queue length before the append that fills a batch
        self._caller_drops_lock = threading.Lock()  # never taken by the sender thread
        self._caller_dropped = 0
        self._sender_dropped = 0  # written by the sender thread only
        self.starts_dropped = 0  # span starts lost; racy increments (a hint, not an event)

        self.sent = 0
        self.retried = 0
        self.failed = 0
        self.rejected = 0
        self.internal_errors = 0

        # Built here, in the constructing thread: an https transport loads the TLS trust store
        # (work holding the interpreter lock), which would otherwise land on the sender thread
        # just as the agent starts recording, and stall it.
        self._failover: FailoverTransport | None = None
        self._transport: Transport | FailoverTransport
        if len(endpoints) == 1:
            self._transport = Transport(endpoints[0], self._headers, self._timeout)
        else:  # several collectors: the first live one of the ranking (agentwatch.sdk.shards)
            self._failover = FailoverTransport(
                endpoints, self._headers, self._timeout, failback_interval=failback_interval
            )
            self._transport = self._failover
        self._thread = threading.Thread(target=self._run, name="agentwatch-sdk-sender", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ caller side
    def put(self, event: Event) -> bool:
        """Queue one event without blocking or locking; False (and ``dropped`` + 1) when full or closed.

        Callers' threads only (the sender thread queues its heartbeats itself).
        """
        queue = self._queue
        queued = len(queue)
        if queued >= self._limit:
            with self._caller_drops_lock:
                self._caller_dropped += 1
            return False
        queue.append(event)
        if queued >= self._wake_at and not self._wake_is_set():
            self._wake.set()
        return True

    def put_start(self, span: Started) -> None:
        """Queue a span that began, like :meth:`put`; when full it is counted in ``starts_dropped``."""
        queue = self._queue
        queued = len(queue)
        if queued >= self._limit:
            self.starts_dropped += 1
            return
        queue.append(span)
        if queued >= self._wake_at and not self._wake_is_set():
            self._wake.set()

    def count_dropped(self, n: int = 1) -> None:
        """Count events lost before they reached the queue (e.g. a bad field at record time)."""
        if threading.get_ident() == self._thread.ident:
            self._sender_dropped += n
            return
        with self._caller_drops_lock:
            self._caller_dropped += n

    @property
    def dropped(self) -> int:
        return self._caller_dropped + self._sender_dropped

    @property
    def thread_ident(self) -> int | None:
        return self._thread.ident

    @property
    def collector(self) -> str:
        """The collector batches go to now."""
        return self.collectors[0 if self._failover is None else self._failover.current]

    def stats(self) -> dict[str, int]:
        """Delivery counters: sent, dropped, retried, failed, rejected, queued, starts_dropped,
        and with several collectors failovers, failbacks, collector_errors and collectors_down."""
        failover = self._failover
        if failover is not None:
            return {
                **self._counters(),
                "failovers": failover.failovers,
                "failbacks": failover.failbacks,
                "collector_errors": failover.collector_errors,
                "collectors_down": failover.down,
            }
        return self._counters()

    def _counters(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "dropped": self.dropped,
            "retried": self.retried,
            "failed": self.failed,
            "rejected": self.rejected,
            "queued": len(self._queue),  # a pending flush adds one for its marker
            "starts_dropped": self.starts_dropped,
        }

    def flush(self, timeout: float = 5.0) -> bool:
        """Block until every event queued before this call is resolved, or ``timeout`` seconds pass.

        Returns True when all of them were sent, failed or rejected (see :meth:`stats` for
        which), False on timeout. Called from the sender thread itself it returns False at
        once unless the queue is empty.
        """
        if threading.get_ident() == self._thread.ident or not self._thread.is_alive():
            return not self._queue
        marker = _FlushMarker()
        self._append(marker)
        self._wake.set()
        return marker.done.wait(max(0.0, timeout))

    def close(self, timeout: float = 5.0) -> bool:
        """Stop accepting events, flush for up to ``timeout`` seconds, then stop the thread.

        Whatever is still queued after the timeout is discarded and counted as ``dropped``.
        Idempotent; returns True when everything queued was resolved in time.
        """
        if self._stop.is_set():
            return True
        if self._heartbeat_factory is not None and not self._closed:
            self._put_heartbeat()
        self._closed = True
        self._limit = 0
        flushed = self.flush(timeout)
        self._stop.set()
        self._wake.set()
        if threading.get_ident() != self._thread.ident:
            self._thread.join(timeout=max(0.1, min(1.0, timeout)))
        return flushed

    # ------------------------------------------------------------------ sender thread
    def _run(self) -> None:
        transport = self._transport
        next_heartbeat = time.monotonic()
        try:
            while not self._stop.is_set():
                if self._heartbeat_interval is not None and time.monotonic() >= next_heartbeat:
                    self._put_heartbeat()
                    next_heartbeat = time.monotonic() + self._heartbeat_interval
                self._wake.wait(self._flush_interval)
                self._wake.clear()
                self._drain(transport)
        finally:
            self._discard_rest()
            transport.close()

    def _put_heartbeat(self) -> None:
        """Queue a heartbeat, past ``max_queue``: it reports the drops, which matter most when
        the queue is full."""
        factory = self._heartbeat_factory
        if factory is None:
            return
        try:
            event = factory(self.stats())
        except Exception:  # a broken factory must not kill the sender thread
            self.internal_errors += 1
            return
        if event is not None and not self._closed:
            self._append(event)

    def _take_batch(self) -> tuple[list[Event], list[_FlushMarker], list[Event]]:
        """Up to ``batch_size`` items from the head of the queue: the events, the flush markers
        and the starts of the queued spans still running (one per span)."""
        batch: list[Event] = []
        markers: list[_FlushMarker] = []
        starts: dict[str | None, Event] = {}
        popleft = self._queue.popleft
        size = self._batch_size
        event_class = Event
        try:
            while len(batch) + len(starts) < size:
                item = popleft()
                cls = item.__class__
                if cls is event_class:
                    batch.append(item)  # type: ignore[arg-type]  # an Event by the class check
                elif cls is _FlushMarker:
                    markers.append(item)  # type: ignore[arg-type]  # a _FlushMarker by the class check
                elif isinstance(item, Event):
                    batch.append(item)
                else:
                    start = self._start_of(item)
                    if start is not None:
                        starts[start.span_id] = start
        except IndexError:  # queue empty
            pass
        return batch, markers, list(starts.values())

    def _start_of(self, span: Any) -> Event | None:
        """The start of a queued span still running; None once ended or when it cannot be made."""
        try:
            start: Event | None = span.start_event()
        except Exception:  # a hint only: never the sender thread's end
            self.internal_errors += 1
            return None
        return start

    def _release(self, markers: list[_FlushMarker]) -> None:
        for marker in markers:
            marker.done.set()

    def _drain(self, transport: Transport | FailoverTransport) -> None:
        while self._queue and not self._stop.is_set():
            batch, markers, starts = self._take_batch()
            try:
                if batch or starts:
                    self._send(transport, batch, starts)
            finally:
                self._release(markers)

    def _discard_rest(self) -> None:
        while self._queue:
            batch, markers, starts = self._take_batch()
            self._sender_dropped += len(batch)
            self.starts_dropped += len(starts)
            self._release(markers)

    def _encode(self, batch: list[Event]) -> tuple[bytes, int]:
        """JSON array of the batch; events that cannot be encoded are dropped and counted.

        Encoded :data:`ENCODE_SLICE` events at a time, yielding the interpreter lock between
        slices (``time.sleep(0)``) so that recording threads are not held up by a big batch.
        """
        parts: list[bytes] = []
        n = 0
        for start in range(0, len(batch), ENCODE_SLICE):
            if start:
                time.sleep(0)
            chunk = batch[start : start + ENCODE_SLICE]
            try:
                parts.append(_encoder.encode(chunk)[1:-1])
                n += len(chunk)
            except Exception:  # an enc_hook or an out-of-range number: find the culprits one by one
                for event in chunk:
                    try:
                        parts.append(_encoder.encode(event))
                        n += 1
                    except Exception:
                        self._sender_dropped += 1
        return b"[" + b",".join(parts) + b"]", n

    def _send(
        self, transport: Transport | FailoverTransport, batch: list[Event], starts: list[Event] | None = None
    ) -> None:
        """POST one batch, retrying as documented; counts the outcome.

        Each attempt first makes sure a connection is open: while the collector is down an
        attempt costs a refused connect and nothing more. The batch is encoded (and gzipped)
        once, at the first attempt that has a connection, and that body is resent on retries.
        """
        body: bytes | None = None
        n = 0
        starts = starts or []
        # One key per batch, kept across retries: a committed batch whose answer was lost is not stored twice.
        headers: dict[str, str] = {HEADER_IDEMPOTENCY_KEY: os.urandom(16).hex()}
        backoff = self._backoff
        backoff.reset()
        while True:
            delay: float | None = None
            try:
                fresh = transport.connect()
                if body is None:
                    body, n = self._encode(batch + starts if starts else batch)
                    if n == 0:
                        return
                    if starts:  # encoded after the events (they are plain: never dropped)
                        n -= len(starts)
                    if len(body) >= self._gzip_min_bytes:
                        body = gzip.compress(
                            body, compresslevel=5, mtime=0
                        )  # one zlib call, which releases the lock
                        headers["content-encoding"] = "gzip"
                status, retry_after, answer = transport.post(body, headers, fresh=fresh)
            except TransportError:
                pass  # connection refused, reset, timeout: retry below
            else:
                if 200 <= status < 300:
                    self._count_accepted(answer, n)
                    return
                if status not in RETRYABLE_STATUSES:
                    self.rejected += n
                    self.starts_dropped += len(starts)
                    return
                delay = parse_retry_after(retry_after, cap=MAX_RETRY_AFTER)
            if backoff.attempts >= self._max_retries or self._stop.is_set():
                self.failed += n if body is not None else len(batch)  # never encoded: all of it
                self.starts_dropped += len(starts)
                return
            self.retried += 1
            if self._stop.wait(backoff.next_delay(delay)):
                self.failed += n if body is not None else len(batch)
                self.starts_dropped += len(starts)
                return

    def _count_accepted(self, body: bytes, n: int) -> None:
        """2xx: trust an IngestResponse body when there is one, else count all as sent."""
        try:
            answer = _response_decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self.sent += n
            return
        rejected = sum(1 for item in answer.rejected if item.index < n) if n else 0
        self.starts_dropped += len(answer.rejected) - rejected
        self.rejected += rejected
        self.sent += n - rejected
