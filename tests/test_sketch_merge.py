"""Collectors expose their latency sketch in a mergeable form; the merge of several equals one collector
fed every event (real collectors on 127.0.0.1, real HTTP)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest

from agentwatch.client.fleet import FleetFollower, FleetView
from agentwatch.collector.sketch import LatencySketch
from agentwatch.collector.sketchapi import MAX_AGENT_SKETCHES, from_wire, to_wire
from agentwatch.collector.window import Window
from agentwatch.protocol import PATH_SNAPSHOT, Event, Snapshot
from agentwatch.sketchwire import PATH_SKETCH, BadSketch, SketchResponse, WireSketch, merge, quantiles
from tests.helpers import NOW, Clock, RunningCollector, async_wait_until, wait_until

SHARDS = 3
QS = (0.5, 0.95, 0.99)


def llm_call(agent: str, latency_ms: float, timestamp: float = NOW - 5) -> dict[str, Any]:
    return {"agent_id": agent, "span_type": "llm_call", "latency_ms": latency_ms, "timestamp": timestamp}


def fetch_sketch(collector: RunningCollector, **params: Any) -> SketchResponse:
    response = httpx.get(collector.url + PATH_SKETCH, params=params, timeout=10)
    assert response.status_code == 200, response.text
    return msgspec.json.decode(response.content, type=SketchResponse)


def fetch_snapshot(collector: RunningCollector) -> Snapshot:
    response = httpx.get(collector.url + PATH_SNAPSHOT, timeout=10)
    return msgspec.json.decode(response.content, type=Snapshot)


def test_merged_percentiles_of_three_collectors_match_one_collector_fed_every_event(
    start_collector: Callable[..., RunningCollector],
) -> None:
    rng = random.Random(7)
    events = [llm_call(f"agent-{rng.randrange(30)}", rng.lognormvariate(6.0, 1.2)) for _ in range(3000)]
    everything = start_collector(clock=Clock(NOW))
    shards = [start_collector(clock=Clock(NOW)) for _ in range(SHARDS)]
    for start in range(0, len(events), 500):
        assert everything.post(events[start : start + 500]).status_code == 202
    for event in events:  # by agent, as sharding does: all of one agent's events on one collector
        event["_shard"] = int(event["agent_id"].split("-")[1]) % SHARDS
    for index, shard in enumerate(shards):
        part = [{k: v for k, v in e.items() if k != "_shard"} for e in events if e["_shard"] == index]
        assert part and shard.post(part).status_code == 202

    for running in (everything, *shards):
        wait_until(
            lambda running=running: fetch_snapshot(running).events == running.service.window.events_total
        )
    merged = merge(fetch_sketch(shard).fleet for shard in shards)
    alone = fetch_sketch(everything).fleet
    assert merged is not None and merged.count == alone.count == len(events)
    one = fetch_snapshot(everything)
    want = (one.p50_latency_ms, one.p95_latency_ms, one.p99_latency_ms)
    for got, expected in zip(quantiles(merged, QS), want, strict=True):
        assert got is not None and expected is not None
        assert got == pytest.approx(expected, rel=0.01)
    assert quantiles(merged, QS) == quantiles(alone, QS) == list(want)  # exact, in fact
    # What averaging the shards' own p99 would say is not what the fleet's p99 is.
    exact = sorted(e["latency_ms"] for e in events)
    for got, q in zip(quantiles(merged, QS), QS, strict=True):
        assert got == pytest.approx(exact[round(q * (len(exact) - 1))], rel=0.011)


def test_a_page_of_agents_sketches_matches_their_rows(
    start_collector: Callable[..., RunningCollector],
) -> None:
    collector = start_collector(clock=Clock(NOW))
    assert collector.post([llm_call(f"a{i}", 100.0 * (i + 1)) for i in range(5) for _ in range(4)]).is_success
    wait_until(lambda: fetch_snapshot(collector).events == 20)
    page = fetch_sketch(collector, agents=1, offset=1, limit=2)
    assert page.agents_total == 5
    assert sorted(page.agents) == ["a1", "a2"]
    assert quantiles(page.agents["a2"], (0.5,))[0] == pytest.approx(300.0, rel=0.01)
    assert fetch_sketch(collector).agents == {}
    one = fetch_sketch(collector, agent="a4").fleet
    assert one.count == 4 and quantiles(one, (0.99,))[0] == pytest.approx(500.0, rel=0.01)
    assert fetch_sketch(collector, agent="nobody").fleet.count == 0


@pytest.mark.parametrize(
    "query", ["agents=2", "agents=yes", "limit=-1", "offset=x", "agent=" + "x" * 300, "since=-1", "since=1.5"]
)
def test_bad_sketch_parameters_are_a_400(collector: RunningCollector, query: str) -> None:
    response = httpx.get(f"{collector.url}{PATH_SKETCH}?{query}", timeout=10)
    assert response.status_code == 400
    assert response.json()["error"]


def test_wire_form_round_trips_and_merges_as_the_sketch_does() -> None:
    rng = random.Random(3)
    parts = [LatencySketch() for _ in range(4)]
    whole = LatencySketch()
    for _ in range(2000):
        value = rng.choice([0.0, rng.expovariate(0.01), 1e13])
        parts[rng.randrange(4)].add(value)
        whole.add(value)
    merged = merge(to_wire(part) for part in parts)
    assert merged is not None
    assert msgspec.structs.replace(merged, sum=0.0) == msgspec.structs.replace(to_wire(whole), sum=0.0)
    assert merged.sum == pytest.approx(whole.sum)
    assert from_wire(merged).counts == whole.counts
    assert quantiles(merged, (0.0, 0.3, 0.5, 0.99, 1.0, 1.5)) == whole.quantiles(
        (0.0, 0.3, 0.5, 0.99, 1.0, 1.5)
    )
    assert merge([]) is None
    assert quantiles(None, (0.5,)) == [None]


@pytest.mark.parametrize(
    "bad",
    [
        WireSketch(gamma=1.5, count=1, keys=[3], counts=[1]),  # another accuracy than the first
        WireSketch(gamma=0.5, count=1, keys=[3], counts=[1]),
        WireSketch(gamma=1.0202020202020203, count=2, keys=[3, 0], counts=[1, 1]),  # not ascending
        WireSketch(gamma=1.0202020202020203, count=1, keys=[3], counts=[1, 1]),
        WireSketch(gamma=1.0202020202020203, count=5, keys=[3], counts=[1]),  # count disagrees
        WireSketch(gamma=1.0202020202020203, count=0, keys=[3], counts=[0]),
        WireSketch(gamma=1.0202020202020203, count=1, zero=1, sum=float("nan")),
    ],
)
def test_merge_refuses_a_malformed_sketch_or_another_accuracy(bad: WireSketch) -> None:
    good = to_wire(LatencySketch())
    with pytest.raises(BadSketch):
        merge([good, bad])


def test_the_windows_sketch_gives_the_snapshots_percentiles_as_the_window_slides() -> None:
    clock = Clock(NOW)
    window = Window(10, clock=clock)
    rng = random.Random(5)
    for step in range(40):
        events = [
            Event(
                agent_id=f"a{rng.randrange(3)}",
                span_type="llm_call",
                latency_ms=rng.expovariate(0.01),
                timestamp=clock(),
            )
            for _ in range(rng.randrange(0, 30))
        ]
        window.add_many(events)
        if step % 3 == 0:  # a late event lands in an already merged second
            window.add(Event(agent_id="a0", span_type="llm_call", latency_ms=5.0, timestamp=clock() - 2))
        for agent in (None, "a0", "a1"):
            snapshot = window.snapshot(agent)
            sketch = window.latency_sketch(agent)
            assert sketch.quantiles((0.5, 0.95, 0.99)) == [
                snapshot.p50_latency_ms,
                snapshot.p95_latency_ms,
                snapshot.p99_latency_ms,
            ]
        clock.advance(rng.choice([0.3, 1.0, 2.0]))


def test_a_page_of_agents_sketches_is_bounded(start_collector: Callable[..., RunningCollector]) -> None:
    collector = start_collector(clock=Clock(NOW))
    assert collector.post(
        [llm_call(f"agent-{i:03d}", 10.0) for i in range(MAX_AGENT_SKETCHES + 20)]
    ).is_success
    wait_until(lambda: fetch_snapshot(collector).events == MAX_AGENT_SKETCHES + 20)
    page = fetch_sketch(collector, agents=1, limit=1000)
    assert len(page.agents) == MAX_AGENT_SKETCHES and page.agents_total == MAX_AGENT_SKETCHES + 20


def second_p99(view: FleetView, second: int) -> float | None:
    history = view.snapshot.history
    return history.p99_latency_ms[len(history.p99_latency_ms) - 1 - (int(history.end) - second)]


async def test_the_fleets_p99_of_each_second_is_the_merge_of_the_collectors_sketches_of_it(
    start_collector: Callable[..., RunningCollector],
) -> None:
    """300 calls of 10 ms on one collector and 2 of 1 s on the other in the same second: that second's
    p99 is 10 ms (the largest collector's p99, 1 s, is only a bound); the seconds come from ?since=."""
    fast, slow = start_collector(clock=Clock(NOW)), start_collector(clock=Clock(NOW))
    assert fast.post([llm_call("fast", 10.0)] * 300).status_code == 202
    assert slow.post([llm_call("slow", 1000.0)] * 2).status_code == 202
    answer = fetch_sketch(slow, since=int(NOW) - 10)
    assert answer.seconds_end == int(NOW) and len(answer.seconds) == 10
    assert [one.count for one in answer.seconds] == [0] * 4 + [2] + [0] * 5  # NOW - 5 holds the calls
    assert len(fetch_sketch(slow, since=0).seconds) == slow.service.window.history_seconds
    views: list[FleetView] = []
    follower = FleetFollower([fast.url, slow.url], on_view=views.append, on_entries=lambda _: None)
    task = asyncio.create_task(follower.run_metrics())
    try:
        await async_wait_until(lambda: bool(views) and views[-1].up == 2 and not views[-1].p99_bound)
        assert second_p99(views[-1], int(NOW) - 5) == pytest.approx(10.0, rel=0.01)
        assert second_p99(views[-1], int(NOW) - 4) is None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # Without one collector's seconds, the largest collector's p99 stands in, and is said to be a bound.
    links = {link.name: link for link in follower.links}
    links[slow.url].seconds = None
    view = follower.view()
    assert view.p99_bound and second_p99(view, int(NOW) - 5) == pytest.approx(1000.0, rel=0.01)
