"""Several collectors: each agent sends to one, chosen by rendezvous hashing, with failover.

Rendezvous (highest random weight) hashing ranks the collector URLs for an agent by a hash of
(URL, agent id), and the agent sends to the first of its ranking. Each process ranks alone,
without coordination: the same URLs, in any order, give every process the same answer.
Adding a collector moves only the agents that rank the new one first (about one in N);
removing one moves only its own agents, each to its next choice.

:class:`FailoverTransport` holds one :class:`~agentwatch.sdk.transport.Transport` per URL, in
the agent's order, and sends to the first collector not marked down. A collector that refuses
the connection, resets it, times out or answers 5xx is marked down and the same body goes at
once to the next one. A collector marked down is tried again once its delay has passed (the
delay doubles with each failure in a row, from ``failback_interval`` up to ``failback_max``),
and sending returns to it as soon as it connects again. When no collector can be reached the
error goes back to the sender, which retries with its backoff and finally counts the batch as
failed, as it does with one collector.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from agentwatch.sdk.transport import Transport, TransportError

#: Collector URLs one agent may be given.
MAX_COLLECTORS: Final = 64


def normalize_url(url: str) -> str:
    """The spelling that is hashed: surrounding blanks and trailing slashes removed."""
    return url.strip().rstrip("/")


def parse_urls(text: str) -> list[str]:
    """Collector URLs from a comma-separated list (``AGENTWATCH_URLS``); empty items skipped."""
    return [url for url in (normalize_url(item) for item in text.split(",")) if url]


def _weight(url: str, agent_id: str) -> int:
    digest = hashlib.blake2b(f"{url}\n{agent_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rank(agent_id: str, urls: Iterable[str]) -> list[str]:
    """The collector URLs in ``agent_id``'s order of preference; each URL once.

    Raises:
        ValueError: no URL, or more than :data:`MAX_COLLECTORS`.
    """
    unique = list(dict.fromkeys(url for url in map(normalize_url, urls) if url))
    if not unique:
        raise ValueError("at least one collector URL is needed")
    if len(unique) > MAX_COLLECTORS:
        raise ValueError(f"at most {MAX_COLLECTORS} collector URLs")
    return sorted(unique, key=lambda url: (-_weight(url, agent_id), url))


class _Target:
    __slots__ = ("down_until", "failures", "transport")

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.down_until = 0.0
        self.failures = 0  # in a row


class FailoverTransport:
    """POSTs to the first live collector of a ranked list. Not thread-safe: the sender thread's.

    It offers :class:`~agentwatch.sdk.transport.Transport`'s ``connect``/``post``/``close``.
    Counters: ``failovers`` moves to a collector further down the ranking, ``failbacks``
    moves back up, ``collector_errors`` attempts at a collector that failed (each marks it
    down). A batch whose answer was lost to a timeout or a reset may have been stored by the
    collector it was sent to before it goes to the next: its idempotency key holds within
    one collector only.

    Raises:
        ValueError: at construction, for a URL the transport refuses, or non-positive delays.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        headers: dict[str, str],
        timeout: float,
        *,
        failback_interval: float = 1.0,
        failback_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one collector URL is needed")
        if failback_interval <= 0 or failback_max < failback_interval:
            raise ValueError("need 0 < failback_interval <= failback_max")
        self._targets = [_Target(Transport(endpoint, headers, timeout)) for endpoint in endpoints]
        self._interval = failback_interval
        self._max = failback_max
        self._clock = clock
        #: Index (in the ranking) of the collector sent to now.
        self.current = 0
        self.failovers = 0
        self.failbacks = 0
        self.collector_errors = 0

    @property
    def down(self) -> int:
        """Collectors marked down now."""
        now = self._clock()
        return sum(1 for target in self._targets if target.down_until > now)

    def connect(self) -> bool:
        """Open a connection to the first collector that takes one; True when it is new.

        A higher-ranked collector whose delay has passed is tried before the current one.

        Raises:
            TransportError: none could be reached.
        """
        return self._connect(set())

    def post(
        self, body: bytes, headers: dict[str, str], *, fresh: bool | None = None
    ) -> tuple[int, str | None, bytes]:
        """POST to the current collector, and on a failure to the next ones, each at most once.

        Returns the first answer below 500, else the last 5xx answer.

        Raises:
            TransportError: no collector gave an answer.
        """
        tried: set[int] = set()
        if fresh is None:
            fresh = self._connect(tried)
        answer: tuple[int, str | None, bytes] | None = None
        while True:
            index = self.current
            tried.add(index)
            try:
                answer = self._targets[index].transport.post(body, headers, fresh=fresh)
            except TransportError as exc:
                error: TransportError = exc
            else:
                if answer[0] < 500:
                    self._targets[index].failures = 0
                    return answer
                error = TransportError(f"HTTP {answer[0]}")
            self._mark_down(index)
            try:
                fresh = self._connect(tried)
            except TransportError:
                if answer is not None:
                    return answer
                raise error from None

    def close(self) -> None:
        for target in self._targets:
            target.transport.close()

    # ------------------------------------------------------------------ internals
    def _connect(self, tried: set[int]) -> bool:
        now = self._clock()
        targets = self._targets
        order = [i for i in range(len(targets)) if i not in tried and targets[i].down_until <= now]
        if not order and not tried:  # every collector is down: try them all, the sender paces
            order = list(range(len(targets)))
        error = TransportError("no collector left to try")
        for index in order:
            try:
                fresh = targets[index].transport.connect()
            except TransportError as exc:
                tried.add(index)
                self._mark_down(index)
                error = exc
                continue
            self._use(index)
            return fresh
        raise error

    def _mark_down(self, index: int) -> None:
        target = self._targets[index]
        target.failures += 1
        self.collector_errors += 1
        delay = min(self._max, self._interval * 2 ** min(target.failures - 1, 30))
        target.down_until = self._clock() + delay
        target.transport.close()

    def _use(self, index: int) -> None:
        current = self.current
        if index == current:
            return
        if index > current:
            self.failovers += 1
        else:
            self.failbacks += 1
        self._targets[current].transport.close()  # its kept-alive connection is not needed now
        self.current = index
