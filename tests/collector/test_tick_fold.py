"""The tick's fold of the alert ledger: one round a tick, in steps, at most ``fold_limit`` events."""

from __future__ import annotations

import asyncio

from agentwatch.collector.config import AlertSettings
from agentwatch.collector.service import FOLD_STEP, Collector, Settings
from agentwatch.protocol import Event
from tests.helpers import Clock

NOW = 1_700_000_000.0


def _batch(clock: Clock, count: int) -> list[Event]:
    return [
        Event(f"agent-{i % 7}", timestamp=clock.now, span_type="llm_call", model="gpt-4o", cost_usd=0.01)
        for i in range(count)
    ]


async def test_a_tick_analyses_one_round_while_batches_arrive_between_its_steps() -> None:
    clock = Clock(NOW)
    limit = 4 * FOLD_STEP
    collector = Collector(Settings(clock=clock, alerts=AlertSettings(fold_limit=limit)))
    collector.ingest(_batch(clock, limit))
    arrived = 0

    async def sender() -> None:  # a batch between each two steps, as requests come in under load
        nonlocal arrived
        for _ in range(3 * limit // FOLD_STEP):
            collector.ingest(_batch(clock, FOLD_STEP))
            arrived += FOLD_STEP
            await asyncio.sleep(0)

    sending = asyncio.create_task(sender())
    await collector.fold_in_steps()
    collector.tick()
    await sending
    ledger = collector.ledger
    assert ledger.analysed == limit  # the round queued when the tick began, and no other
    assert ledger.round_left == min(arrived, limit)  # the rest waits for the next tick's round
    collector.tick()
    assert ledger.analysed == 2 * limit
    assert ledger.analysed + ledger.sampled_out == limit + arrived  # every event counted once


async def test_a_small_queue_is_folded_by_the_tick_itself() -> None:
    clock = Clock(NOW)
    collector = Collector(Settings(clock=clock))
    collector.ingest(_batch(clock, FOLD_STEP))
    await collector.fold_in_steps()
    assert collector.ledger.analysed == 0  # one step's worth: the tick's own fold takes it
    collector.tick()
    assert collector.ledger.analysed == FOLD_STEP and collector.ledger.round_left == 0
