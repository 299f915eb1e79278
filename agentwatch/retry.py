"""When to try again: one backoff policy and one ``Retry-After`` parser for every sender.

The SDK's sender, the simulator's sender and the stream client retry the same way and differ
only in their numbers (base, cap, jitter), which each passes in. This module sits at the bottom
of the house beside :mod:`agentwatch.protocol` and imports nothing of the project.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from datetime import UTC
from typing import Final

#: HTTP statuses worth retrying: throttling and server-side trouble.
RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
#: Default bound (seconds) on a ``Retry-After``, so one answer cannot stall a sender for long.
MAX_RETRY_AFTER: Final = 60.0


def parse_retry_after(
    value: str | None, *, now: float | None = None, cap: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value, measured from ``now`` (unix time).

    Accepts delta-seconds (``"120"``) and an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``,
    RFC 9110 §10.2.3; a date without a zone is read as GMT). The result is clamped to
    ``[0, cap]``: a date in the past or a negative number is 0, a huge value is ``cap``.
    None when the header is absent or unreadable (including NaN). ``now`` defaults to
    :func:`time.time`.
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        try:
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (ValueError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap)


class Backoff:
    """Exponential backoff with jitter, counted from the last :meth:`reset`.

    The n-th delay is ``min(cap, base·factor^n)`` (the :meth:`ceiling`) times a factor drawn
    uniformly from ``jitter = (low, high)``: ``(0, 1)`` is full jitter, ``(0.5, 1)`` keeps at
    least half the ceiling, ``(0.8, 1.2)`` spreads around it. Jitter keeps many clients that
    failed together from retrying together. A delay the server asked for (``Retry-After``)
    is used as given instead, and still counts as an attempt. Pass a seeded
    ``random.Random`` for reproducible delays.

    Raises ``ValueError`` unless ``base > 0``, ``factor >= 1``, ``cap >= base`` and
    ``0 <= low <= high``.
    """

    def __init__(
        self,
        base: float = 0.5,
        factor: float = 2.0,
        cap: float = 15.0,
        rng: random.Random | None = None,
        *,
        jitter: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        if not (base > 0 and factor >= 1 and cap >= base):
            raise ValueError("need base > 0, factor >= 1 and cap >= base")
        low, high = jitter
        if not 0 <= low <= high:
            raise ValueError("need 0 <= jitter low <= jitter high")
        self.base = base
        self.factor = factor
        self.cap = cap
        self.jitter = (low, high)
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempts(self) -> int:
        """Delays handed out since the last :meth:`reset`."""
        return self._attempt

    def ceiling(self) -> float:
        """The next delay before jitter."""
        return min(self.cap, self.base * self.factor ** min(self._attempt, 64))

    def next_delay(self, retry_after: float | None = None) -> float:
        """The wait before the next attempt (seconds); counts one attempt.

        ``retry_after``, when not None, is what the server asked for (already bounded by
        :func:`parse_retry_after`) and is returned unchanged.
        """
        ceiling = self.ceiling()
        self._attempt += 1
        if retry_after is not None:
            return retry_after
        low, high = self.jitter
        return ceiling * self._rng.uniform(low, high)

    def slow_delay(self) -> float:
        """A delay for failures that will not fix themselves soon (bad token): U(cap/2, cap)."""
        return self._rng.uniform(self.cap / 2, self.cap)

    def reset(self) -> None:
        self._attempt = 0
