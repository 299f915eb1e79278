"""The alert ledger's queue under overload: only the events that can still be folded are queued.

The ledger folds at most ``fold_limit`` events a tick, the newest. When the last interval brought
more than twice that, a batch arriving early in the next interval would be pushed out of the queue
before the fold anyway: it is only counted (in the sampling weight, as before), and freed with its
request instead of a few batches later.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from agentwatch.collector.config import AlertSettings
from agentwatch.collector.ledger import QUEUE_MARGIN, Ledger
from agentwatch.protocol import Event
from tests.helpers import NOW, Clock, RunningCollector, wait_until

LIMIT = 100


def batch(count: int, at: float) -> list[Event]:
    return [
        Event(f"agent-{i % 3}", timestamp=at, span_type="llm_call", latency_ms=10.0) for i in range(count)
    ]


def overloaded_ledger(clock: Clock) -> Ledger:
    """A ledger whose last interval (1 s) brought 10 × its fold limit, planned for a fold at NOW + 1."""
    ledger = Ledger(AlertSettings(fold_limit=LIMIT), clock=clock)
    for _ in range(10):
        ledger.add_many(batch(LIMIT, clock()))
    ledger.fold()
    ledger.plan(NOW + 1.0, 1.0)
    return ledger


def test_under_the_margin_every_event_is_queued() -> None:
    clock = Clock()
    ledger = Ledger(AlertSettings(fold_limit=LIMIT), clock=clock)
    ledger.add_many(batch(QUEUE_MARGIN * LIMIT, NOW))
    ledger.fold()
    ledger.plan(NOW + 1.0, 1.0)
    assert ledger.queue_from == -math.inf
    ledger.add_many(batch(7, NOW))
    assert ledger.round_left == 7


def test_over_it_only_the_part_of_the_interval_that_can_be_folded_is_queued() -> None:
    clock = Clock()
    ledger = overloaded_ledger(clock)
    # 1 000 events a second: the last 2 × 100 are expected in the last 0.2 s before the fold.
    assert math.isclose(ledger.queue_from, NOW + 0.8)
    received = ledger.received
    ledger.add_many(batch(50, NOW))  # early: counted, not queued
    clock.advance(0.5)
    ledger.add_many(batch(50, clock()))
    assert ledger.round_left == 0 and ledger.received == received + 100
    clock.advance(0.35)
    ledger.add_many(batch(60, clock()))  # within the last 0.2 s: queued
    assert ledger.round_left == 60
    sampled = ledger.sampled_out
    assert ledger.fold() == 60
    assert ledger.sampled_out == sampled + 100  # the early ones count in the weight, as dropped ones did


def test_a_clock_set_back_does_not_stop_the_queue() -> None:
    clock = Clock()
    ledger = overloaded_ledger(clock)
    clock.advance(-3600.0)  # the next fold looks an hour away: not believed
    ledger.add_many(batch(5, clock()))
    assert ledger.round_left == 5


def test_when_the_load_falls_every_event_is_queued_again() -> None:
    clock = Clock()
    ledger = overloaded_ledger(clock)
    clock.advance(0.9)
    ledger.add_many(batch(10, clock()))
    ledger.fold()
    ledger.plan(clock() + 1.0, 1.0)  # an interval of 10 events
    assert ledger.queue_from == -math.inf
    ledger.add_many(batch(3, clock()))
    assert ledger.round_left == 3


def test_the_collectors_tick_plans_the_ledgers_queue(
    start_collector: Callable[..., RunningCollector],
) -> None:
    collector = start_collector(alerts=AlertSettings(fold_limit=LIMIT))
    ledger = collector.service.ledger
    events = [{"agent_id": f"a{i % 5}", "span_type": "tool_call", "latency_ms": 5.0} for i in range(1000)]
    assert collector.post(events).status_code == 202
    wait_until(lambda: ledger.limited_intervals == 1)  # the next tick saw 1 000 > 2 × 100 arrive
    wait_until(lambda: ledger.queue_from == -math.inf)  # and a later one saw none
    assert ledger.limited_intervals == 1
