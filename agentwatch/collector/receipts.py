"""Idempotency receipts: the answer given to each batch sent with an ``Idempotency-Key``.

A sender that never got the answer to a batch (the collector died after committing it, a timeout)
sends the same batch again with the same key; the collector answers with the original body and
ingests nothing. :class:`Receipts` holds the recent answers in memory, bounded by count
(``max_keys``, oldest dropped first) and age (``seconds``); the store persists them with their
batch, so the promise holds across a restart for every committed batch.

Each answer is kept with a digest of the batch it answered (:func:`body_digest`, of the body
once inflated, so a retry compressed anew still matches). A key sent again with another batch
is :class:`KeyReused`: answering it with the first batch's answer would drop the new events
without a word. A receipt kept without a digest (written by an earlier version) matches any body.

Single-threaded: call every method from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Final

from agentwatch.protocol import MAX_IDEMPOTENCY_KEY_LENGTH

#: Answers at most this long (bytes) are shared between keys (most are ``{"accepted":N,"rejected":[]}``).
_SHARED_BODY_BYTES: Final = 64
_MAX_SHARED_BODIES: Final = 10_000


#: Bytes of a body digest (BLAKE2b): collisions out of reach for any sender by accident.
DIGEST_BYTES: Final = 16


class KeyReused(Exception):
    """An ``Idempotency-Key`` already answered for a different batch; the message names the key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Idempotency-Key {key!r} was already used for a different batch")
        self.key = key


def body_digest(body: bytes) -> bytes:
    """The digest a receipt keeps of the batch it answered."""
    return hashlib.blake2b(body, digest_size=DIGEST_BYTES).digest()


def valid_key(key: str) -> bool:
    """True for 1 to :data:`~agentwatch.protocol.MAX_IDEMPOTENCY_KEY_LENGTH` printable ASCII characters."""
    return 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH and key.isascii() and key.isprintable()


class Receipts:
    """Recent answers by idempotency key, and the keys whose batch is being ingested right now.

    ``max_keys`` ≥ 1 keys are kept for ``seconds`` each. Memory: O(max_keys) small objects (short
    answers are shared).
    """

    def __init__(
        self, *, max_keys: int = 100_000, seconds: float = 900.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.max_keys = max(int(max_keys), 1)
        self.seconds = seconds
        self._clock = clock
        self._answers: OrderedDict[str, tuple[float, bytes, bytes | None]] = OrderedDict()
        self._bodies: dict[bytes, bytes] = {}
        self._in_flight: dict[str, asyncio.Event] = {}
        self.repeats = 0  # batches answered from a receipt instead of being ingested again

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: str, digest: bytes | None = None) -> bytes | None:
        """The answer given for ``key``, or None when there is none (or it has expired).

        Raises :class:`KeyReused` when ``digest`` (of the batch sent now) and the receipt's are
        both known and differ.
        """
        held = self._answers.get(key)
        if held is None:
            return None
        at, answer, answered = held
        if at < self._clock() - self.seconds:
            return None
        if digest is not None and answered is not None and digest != answered:
            raise KeyReused(key)
        return answer

    def add(
        self, key: str, body: bytes, at: float | None = None, digest: bytes | None = None
    ) -> tuple[str, float, bytes, bytes | None]:
        """Remember ``body`` as the answer for ``key`` to the batch of ``digest`` (given at ``at``,
        default now); returns the receipt as the store keeps it."""
        at = self._clock() if at is None else at
        if len(body) <= _SHARED_BODY_BYTES:
            shared = self._bodies.get(body)
            if shared is None and len(self._bodies) < _MAX_SHARED_BODIES:
                self._bodies[body] = shared = body
            body = shared or body
        answers = self._answers
        answers[key] = (at, body, digest)
        answers.move_to_end(key)
        cutoff = self._clock() - self.seconds
        while answers and (len(answers) > self.max_keys or next(iter(answers.values()))[0] < cutoff):
            answers.popitem(last=False)
        return key, at, body, digest

    def load(self, receipts: Iterable[tuple[str, float, bytes, bytes | None]]) -> None:
        """Restore receipts (oldest first), e.g. from the store at start-up."""
        for key, at, body, digest in receipts:
            self.add(key, body, at, digest)

    async def claim(self, key: str, digest: bytes | None = None) -> bytes | None:
        """The answer already given for ``key``; else None, and ``key`` is in flight until :meth:`release`.

        A second request with a key in flight waits for the first to finish, then gets its answer
        (or, when the first failed, becomes the one in flight). Raises :class:`KeyReused` when
        the answer was given to another batch than the one of ``digest``.
        """
        while True:
            body = self.get(key, digest)
            if body is not None:
                self.repeats += 1
                return body
            waiter = self._in_flight.get(key)
            if waiter is None:
                self._in_flight[key] = asyncio.Event()
                return None
            await waiter.wait()

    def release(self, key: str) -> None:
        """End the flight of ``key`` (answered or failed); waiting requests go on. Idempotent."""
        waiter = self._in_flight.pop(key, None)
        if waiter is not None:
            waiter.set()
