"""CPU cost per event of each stage of the collector's ingest path, in process.

    python benchmarks/bench_ingest_stages.py            # ~20 s
    python benchmarks/bench_ingest_stages.py --batch 100

The batches are those of ``bench_ingest_bare.py`` (the simulator's fleet of 200 agents: LLM and
tool calls, completions, decisions, logs, heartbeats), encoded as JSON and stamped with the
present, as that benchmark posts them. Every stage is timed the way the server runs it: on a
batch decoded just before (so it is in the cache, as it is after a request's decode), one
collector in steady state (its log ring full), the tick (the alert ledger's fold in steps, alerts,
snapshots) run as often as it would at ``--rate`` events/s, in CPU time (``time.process_time``). As in
the server, the log ring is given each batch's request body to keep (``ingest.events_again``) and the
ledger's queue is planned after each tick (``Ledger.plan``). Each figure is the best of ``--repeats``
rounds, since the machine is shared.

The first line is what the bare endpoint of ``bench_ingest_bare.py`` does per event besides HTTP
(a plain msgspec decode into ``list[Event]``); the total of the collector's stages beside it is
what ingest costs above HTTP. ``decode_batch`` is the server's decode (msgspec, the checks, the span
starts taken out); the two decodes beside it are its first step alone, with every limit checked by
msgspec and with the text limits left to the compiled pass (what the server runs where it is built). ``Window.add_many, Python pass`` is the window with its compiled pass
turned off, on the same batches beside the collector's (what an install without a C compiler runs),
and is not in the total. The ledger fold is sampled (at most ``fold_limit`` events a tick),
so its cost per event falls as the rate rises.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent))

from bench_ingest_bare import fleet_batch

from agentwatch.collector import ingest
from agentwatch.collector.service import FOLD_STEP, Collector, Settings
from agentwatch.collector.totals import Totals
from agentwatch.collector.window import Window
from agentwatch.protocol import Event

BARE = "bare: msgspec decode into list[Event]"
CHECKED = "checked decode (beside)"
UNCHECKED = "unchecked decode (beside)"
PURE = "Window.add_many, Python pass (beside)"
FOLD = f"ledger fold (steps of {FOLD_STEP}, as the tick)"
TICK = "tick (alerts, budgets, snapshots)"
PUBLISH = "LogHub.publish_events"
JSON = "application/json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, default=200, help="batches per round")
    parser.add_argument("--rate", type=float, default=400_000, help="events/s the ticks are paced for")
    options = parser.parse_args()
    events = fleet_batch(options.batch)
    encode = msgspec.json.Encoder().encode
    plain = msgspec.json.Decoder(list[Event])
    newest = max(event.timestamp for event in events)  # type: ignore[type-var]
    offsets = [event.timestamp - newest for event in events]  # type: ignore[operator]

    def body() -> bytes:
        now = time.time()
        for event, offset in zip(events, offsets, strict=True):
            event.timestamp = now + offset
        return encode(events)

    collector = Collector(Settings())
    ticks_every = max(1, round(options.rate / collector.settings.ticks_per_second / options.batch))
    stages: dict[str, Callable[[list[Event]], object]] = {
        **{
            getattr(aggregate, "__qualname__", repr(aggregate)): aggregate
            for aggregate in collector.aggregators
        },
        "LogHub.publish_events": collector.logs.publish_events,
    }
    # The window's Python pass on the same batches (what an install without a C compiler runs): a
    # baseline beside the collector's window, left out of the collector's total.
    pure = Window(totals=Totals(), compiled=False)
    beside = {CHECKED: ingest._batch_decoder.decode, UNCHECKED: ingest._unchecked_batch_decoder.decode}
    spent = dict.fromkeys([BARE, "decode_batch", *beside, *stages, PURE, FOLD, TICK, "gc"], 0.0)
    best = dict.fromkeys(spent, float("inf"))
    gc_started = [0.0]
    last_tick = [time.time()]

    def gc_timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.process_time()
        else:
            spent["gc"] += time.process_time() - gc_started[0]

    def one_round(count: int) -> float:
        for name in spent:
            spent[name] = 0.0
        clock = time.process_time
        payload = body()
        started = clock()
        for number in range(count):
            if number % 10 == 0:
                payload = body()  # timestamps kept current, as the HTTP load does
            at = clock()
            plain.decode(payload)
            spent[BARE] += clock() - at
            for name, decode in beside.items():
                at = clock()
                decode(payload)
                spent[name] += clock() - at
            at = clock()
            stamped = time.time()
            batch, _, _ = ingest.decode_batch(payload, JSON, now=stamped)
            spent["decode_batch"] += clock() - at
            for name, stage in stages.items():
                at = clock()
                if name == PUBLISH:  # as the server publishes a batch of one request: with its body
                    collector.logs.publish_events(batch, partial(ingest.events_again, payload, JSON, stamped))
                else:
                    stage(batch)
                spent[name] += clock() - at
            at = clock()
            pure.add_many(batch)
            spent[PURE] += clock() - at
            if number % ticks_every == 0:  # as the collector's tick loop, without its awaits
                at = clock()
                for _ in range(collector.ledger.settings.fold_limit // FOLD_STEP + 1):
                    if not collector.fold_step():
                        break
                spent[FOLD] += clock() - at
                at = clock()
                collector.tick()
                wall = time.time()  # the next tick as far ahead as this one came after the last
                collector.ledger.plan(wall + (wall - last_tick[0]), wall - last_tick[0])
                last_tick[0] = wall
                spent[TICK] += clock() - at
        return clock() - started - spent[BARE] - spent[PURE] - spent[CHECKED] - spent[UNCHECKED]

    for _ in range(collector.settings.log_history // options.batch + 1):  # the log ring full
        one_round(1)
    gc.callbacks.append(gc_timer)
    whole = float("inf")
    for _ in range(options.repeats):
        elapsed = one_round(options.batches)
        whole = min(whole, elapsed)
        for name, value in spent.items():
            best[name] = min(best[name], value)
    gc.callbacks.remove(gc_timer)

    per_event = 1e6 / (options.batches * options.batch)
    print(
        f"batch {options.batch}, {len(body()) / options.batch:.0f} bytes/event, tick every {ticks_every} batches"
    )
    print(f"CPU µs per event (best of {options.repeats}):")
    print(f"  {BARE:<42} {best[BARE] * per_event:6.3f}")
    collector_stages = [name for name in best if name != BARE]
    for name in collector_stages:
        note = {"gc": "  (inside the stages above)", PURE: "  (not in the total)"}.get(name, "")
        note = "  (not in the total)" if name in beside else note
        print(f"  {name:<42} {best[name] * per_event:6.3f}{note}")
    total = whole * per_event
    print(f"  {'collector, all stages (one round)':<42} {total:6.3f}")
    print(f"  {'collector above the bare decode':<42} {total - best[BARE] * per_event:6.3f}")
    print(f"  → one core at this cost: {1e6 / total:,.0f} events/s (before HTTP)")


if __name__ == "__main__":
    main()
