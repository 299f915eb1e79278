"""The shared retry policy: the ``Retry-After`` parser and the exponential backoff."""

from __future__ import annotations

import random
import time
from email.utils import formatdate
from typing import Any

import pytest

from agentwatch.retry import MAX_RETRY_AFTER, Backoff, parse_retry_after
from tests.helpers import NOW


def http_date(unix_time: float) -> str:
    """``unix_time`` as an RFC 9110 HTTP-date (IMF-fixdate, always GMT)."""
    return formatdate(unix_time, usegmt=True)


# ------------------------------------------------------------------ Retry-After
@pytest.mark.parametrize(("value", "expected"), [("0", 0.0), ("3", 3.0), (" 7 ", 7.0), ("1.5", 1.5)])
def test_retry_after_in_delta_seconds_is_that_many_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_as_a_future_http_date_is_the_seconds_until_then() -> None:
    assert parse_retry_after(http_date(NOW + 12), now=NOW) == pytest.approx(12.0)


def test_retry_after_as_a_past_http_date_is_zero() -> None:
    assert parse_retry_after(http_date(NOW - 3600), now=NOW) == 0.0


def test_retry_after_accepts_the_obsolete_http_date_forms() -> None:
    # RFC 9110 §5.6.7: recipients also accept the RFC 850 and asctime forms.
    assert parse_retry_after("Tuesday, 14-Nov-23 22:13:30 GMT", now=NOW) == pytest.approx(10.0)
    assert parse_retry_after("Tue Nov 14 22:13:30 2023", now=NOW) == pytest.approx(10.0)


def test_retry_after_as_an_http_date_counts_from_the_wall_clock_by_default() -> None:
    delay = parse_retry_after(http_date(time.time() + 30))
    assert delay is not None and 25.0 <= delay <= 30.0


@pytest.mark.parametrize(
    "value", [None, "", "   ", "soon", "3 seconds", "nan", "Mon, 99 Foo 2023 25:61:00 GMT", "Thu, 01 Jan"]
)
def test_retry_after_that_cannot_be_read_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


@pytest.mark.parametrize("value", ["99999", "1e400", "inf", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_huge_retry_after_is_bounded_by_the_cap(value: str) -> None:
    assert parse_retry_after(value, now=NOW) == MAX_RETRY_AFTER
    assert parse_retry_after(value, now=NOW, cap=30.0) == 30.0


@pytest.mark.parametrize("value", ["-5", "-0.5", "-inf"])
def test_negative_retry_after_is_zero(value: str) -> None:
    assert parse_retry_after(value, now=NOW) == 0.0


# ---------------------------------------------------------------------- backoff
def test_backoff_ceiling_grows_by_the_factor_up_to_the_cap() -> None:
    backoff = Backoff(base=0.25, factor=2.0, cap=5.0, rng=random.Random(1))
    ceilings = []
    for _ in range(8):
        ceilings.append(backoff.ceiling())
        backoff.next_delay()
    assert ceilings == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert backoff.attempts == 8


@pytest.mark.parametrize("jitter", [(0.0, 1.0), (0.5, 1.0), (0.8, 1.2)])
def test_backoff_delays_stay_within_the_jitter_range_of_the_ceiling(jitter: tuple[float, float]) -> None:
    low, high = jitter
    backoff = Backoff(base=1.0, cap=1.0, jitter=jitter, rng=random.Random(2))
    delays = [backoff.next_delay() for _ in range(500)]
    assert all(low <= delay <= high for delay in delays)
    assert min(delays) < low + 0.05 and max(delays) > high - 0.05  # the whole range is used


def test_a_server_delay_is_used_as_given_and_counts_as_an_attempt() -> None:
    backoff = Backoff(base=0.1, cap=10.0, jitter=(0.5, 1.0), rng=random.Random(3))
    assert backoff.next_delay(retry_after=2.5) == 2.5
    assert backoff.next_delay(retry_after=0.0) == 0.0
    assert backoff.attempts == 2
    assert backoff.ceiling() == pytest.approx(0.4)


def test_backoff_slow_delay_is_between_half_the_cap_and_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=15.0, rng=random.Random(4))
    delays = [backoff.slow_delay() for _ in range(200)]
    assert all(7.5 <= delay <= 15.0 for delay in delays)
    assert backoff.attempts == 0


def test_backoff_reset_starts_from_base_again() -> None:
    backoff = Backoff(base=0.25, cap=5.0, rng=random.Random(5))
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0 and backoff.ceiling() == 0.25


@pytest.mark.parametrize(
    "arguments",
    [
        {"base": 0},
        {"base": -1},
        {"factor": 0.5},
        {"base": 2, "cap": 1},
        {"jitter": (-0.1, 1.0)},
        {"jitter": (1.0, 0.5)},
    ],
)
def test_backoff_rejects_nonsense_parameters(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**arguments)
