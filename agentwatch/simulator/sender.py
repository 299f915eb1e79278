"""The simulator's sender: drives a :class:`~agentwatch.simulator.fleet.Fleet` from the wall
clock and POSTs its events to a collector, as a fleet of real agents would.

Batches go out every ``batch_interval`` seconds; while the collector is down or throttling,
new events wait in a bounded backlog and the sender backs off (:mod:`agentwatch.retry`). The
fleet reports its calls' starts, as the SDK does, so the collector shows them in flight.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import httpx
import msgspec

from agentwatch.protocol import PATH_EVENTS, Event, IngestResponse, json_encoder
from agentwatch.retry import RETRYABLE_STATUSES, Backoff, parse_retry_after
from agentwatch.simulator.fleet import Fleet


@dataclass
class RunStats:
    """What :func:`run` did. ``dropped`` counts events never sent: backlog overflow and
    whatever was still unsent at the end. ``rejected`` counts events the collector refused
    (per-item errors, or a whole batch refused with a 4xx other than 429)."""

    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    dropped: int = 0
    failed_requests: int = 0
    requests: int = 0
    last_error: str | None = None
    fatal: str | None = None


class _RetryLater(Exception):
    """The batch may succeed later (connection error, 5xx, 429)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _Refused(Exception):
    """The collector refused the batch for good (a 4xx other than 429)."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


MAX_BATCH_EVENTS: Final = 5_000
GZIP_MIN_BYTES: Final = 32_768
#: Retry delays: from BACKOFF_INITIAL seconds, doubling up to BACKOFF_MAX, each scaled by a
#: factor drawn from BACKOFF_JITTER.
BACKOFF_INITIAL: Final = 0.25
BACKOFF_MAX: Final = 5.0
BACKOFF_JITTER: Final = (0.8, 1.2)
#: A Retry-After longer than this (seconds) is clamped.
MAX_RETRY_AFTER: Final = 30.0
#: A wall-clock jump larger than this (seconds) is skipped instead of replayed.
MAX_CATCH_UP: Final = 10.0
#: Seconds between two calls of ``on_drop`` while events are being dropped.
DROP_REPORT_INTERVAL: Final = 5.0
_ingest_decoder: Final = msgspec.json.Decoder(IngestResponse)


class _Sender:
    """POSTs batches; keeps the bounded backlog and the gzip fallback."""

    def __init__(
        self, client: httpx.AsyncClient, url: str, token: str | None, stats: RunStats, backlog_limit: int
    ) -> None:
        self.client = client
        self.url = url.rstrip("/") + PATH_EVENTS
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.stats = stats
        self.backlog: deque[Event] = deque()
        self.backlog_limit = backlog_limit
        self.use_gzip = True

    def add(self, events: Iterable[Event]) -> None:
        self.backlog.extend(events)
        overflow = len(self.backlog) - self.backlog_limit
        for _ in range(max(0, overflow)):
            self.backlog.popleft()
        self.stats.dropped += max(0, overflow)

    async def flush(self) -> None:
        """Send the whole backlog in batches; raises ``_RetryLater`` leaving the rest queued."""
        while self.backlog:
            batch = [self.backlog[i] for i in range(min(MAX_BATCH_EVENTS, len(self.backlog)))]
            try:
                await self._post(batch)
            except _Refused as refused:
                self.stats.rejected += len(batch)
                self.stats.last_error = str(refused)
                if refused.status in (401, 403):
                    self.stats.fatal = str(refused)
            for _ in batch:
                self.backlog.popleft()
            if self.stats.fatal:
                return

    async def _post(self, batch: list[Event]) -> None:
        body = json_encoder.encode(batch)
        headers = dict(self.headers)
        gzipped = self.use_gzip and len(body) >= GZIP_MIN_BYTES
        if gzipped:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        self.stats.requests += 1
        try:
            response = await self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.stats.failed_requests += 1
            raise _RetryLater(f"{type(exc).__name__}: {exc}") from exc
        if gzipped and response.status_code == 415:
            self.use_gzip = False  # this collector takes plain JSON only
            self.stats.failed_requests += 1
            raise _RetryLater("collector does not accept gzip; sending plain JSON", 0.0)
        if response.status_code in RETRYABLE_STATUSES:
            self.stats.failed_requests += 1
            retry_after = parse_retry_after(response.headers.get("retry-after"), cap=MAX_RETRY_AFTER)
            raise _RetryLater(f"HTTP {response.status_code}", retry_after)
        if response.status_code >= 400:
            self.stats.failed_requests += 1
            detail = response.text[:200].strip()
            raise _Refused(f"HTTP {response.status_code}: {detail}", response.status_code)
        self.stats.sent += len(batch)
        try:
            answer = _ingest_decoder.decode(response.content)
        except msgspec.DecodeError:  # a collector that answers without a body: trust the status
            self.stats.accepted += len(batch)
            return
        self.stats.accepted += answer.accepted
        self.stats.rejected += len(answer.rejected)
        if answer.rejected:
            self.stats.last_error = f"rejected: {answer.rejected[0].error}"


async def run(
    url: str,
    *,
    token: str | None,
    agents: int,
    rate: float,
    seed: int,
    duration: float | None,
    scenario: str,
    batch_interval: float = 0.25,
    clock: Callable[[], float] = time.time,
    stop: asyncio.Event | None = None,
    backlog_limit: int = 50_000,
    transport: httpx.AsyncBaseTransport | None = None,
    on_drop: Callable[[RunStats, int], None] | None = None,
) -> RunStats:
    """Drive a :class:`Fleet` from ``clock`` and POST its events to ``url`` until done.

    Every ``batch_interval`` seconds the events up to ``clock()`` go out as one JSON array
    (several when more than :data:`MAX_BATCH_EVENTS`; gzip above :data:`GZIP_MIN_BYTES`,
    falling back to plain JSON on 415). Connection errors, 5xx and 429 are retried with
    exponential backoff (``Retry-After`` honoured) while new events wait in a backlog of at
    most ``backlog_limit`` events; beyond it the oldest are dropped and counted. A 401/403
    ends the run (``RunStats.fatal``). Ends after ``duration`` seconds of ``clock`` or when
    ``stop`` is set, with one last attempt to send what is left. While events are being
    dropped, ``on_drop(stats, backlog)`` is called at most every :data:`DROP_REPORT_INTERVAL`
    seconds, so the drops are told as they happen.
    """
    stop = stop or asyncio.Event()
    started = clock()
    end = None if duration is None else started + duration
    fleet = Fleet(agents, seed=seed, scenario=scenario, start=started, rate=rate, span_starts=True)
    stats = RunStats()
    backoff = Backoff(
        base=BACKOFF_INITIAL, cap=BACKOFF_MAX, jitter=BACKOFF_JITTER, rng=random.Random(seed ^ 0x5EED)
    )
    next_attempt = started
    reported_drops, next_report = 0, started
    timeout = httpx.Timeout(10.0, connect=3.0)
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
        sender = _Sender(client, url, token, stats, backlog_limit)
        while True:
            now = clock()
            finished = stop.is_set() or (end is not None and now >= end)
            target = now if end is None else min(now, end)
            if target - fleet.now > MAX_CATCH_UP:
                fleet.skip_to(target - batch_interval)
            sender.add(fleet.events_until(target))
            if on_drop is not None and stats.dropped > reported_drops and now >= next_report:
                on_drop(stats, len(sender.backlog))
                reported_drops, next_report = stats.dropped, now + DROP_REPORT_INTERVAL
            if finished or now >= next_attempt:
                try:
                    await sender.flush()
                    backoff.reset()
                except _RetryLater as retry:
                    stats.last_error = str(retry)
                    next_attempt = now + backoff.next_delay(retry.retry_after)
            if finished or stats.fatal:
                break
            try:
                await asyncio.wait_for(stop.wait(), timeout=batch_interval)
            except TimeoutError:
                pass  # the normal tick: nothing asked us to stop
        stats.dropped += len(sender.backlog)
    return stats


async def send_forever(
    url: str,
    *,
    token: str | None = None,
    agents: int = 12,
    rate: float = 60.0,
    seed: int = 0,
    scenario: str = "steady",
    stop: asyncio.Event | None = None,
    clock: Callable[[], float] = time.time,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RunStats:
    """:func:`run` with no duration: sends until ``stop`` is set (or the task is cancelled)."""
    return await run(
        url,
        token=token,
        agents=agents,
        rate=rate,
        seed=seed,
        duration=None,
        scenario=scenario,
        stop=stop,
        clock=clock,
        transport=transport,
    )
