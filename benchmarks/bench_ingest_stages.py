"""CPU cost per event of each stage of the collector's ingest path, in process.

    python benchmarks/bench_ingest_stages.py            # ~10 s
    python benchmarks/bench_ingest_stages.py --batch 100

The body is ``bench_http.make_events(batch, 200)`` encoded as JSON, as the HTTP benchmark
sends it. Each stage runs on its own over the same decoded batch (aggregators on a fresh
instance, warmed up first) and is timed in CPU time (``time.process_time``); each figure is
the best of ``--repeats`` rounds, since the machine is shared. The ledger fold is timed the
way the tick runs it: all events queued since the last tick, up to ``fold_limit``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_http import make_events

from agentwatch.collector import ingest
from agentwatch.collector.ledger import Ledger
from agentwatch.collector.loghub import LogHub
from agentwatch.collector.service import Collector, Settings
from agentwatch.collector.totals import Totals
from agentwatch.collector.window import Window
from agentwatch.protocol import Event


def best_us_per_event(run: Callable[[], int], repeats: int, rounds: int) -> float:
    """Best over ``repeats`` of the CPU µs per event of ``rounds`` calls of ``run`` (returns events)."""
    best = float("inf")
    for _ in range(repeats):
        events = 0
        started = time.process_time()
        for _ in range(rounds):
            events += run()
        elapsed = time.process_time() - started
        best = min(best, elapsed * 1e6 / max(events, 1))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--events", type=int, default=50_000, help="events per timed round set")
    parser.add_argument("--rate", type=float, default=300_000, help="events/s the ticks are paced for")
    options = parser.parse_args()
    batch = options.batch
    rounds = max(1, options.events // batch)
    body = json.dumps(make_events(batch, 200)).encode()
    now = time.time()
    events, rejected = ingest.decode_events(body, "application/json", now=now)
    assert not rejected and len(events) == batch

    def fresh() -> list[Event]:
        return ingest.decode_events(body, "application/json", now=time.time())[0]

    batches = [fresh() for _ in range(rounds)]
    results: dict[str, float] = {}

    results["decode_events"] = best_us_per_event(
        lambda: len(ingest.decode_events(body, "application/json", now=now)[0]), options.repeats, rounds
    )

    window = Window(totals=Totals())  # as the collector runs it: the totals counted in its pass
    cursor = iter(range(1 << 62))

    def window_add() -> int:
        window.add_many(batches[next(cursor) % rounds])
        return batch

    window_add()
    results["Window.add_many (+ totals)"] = best_us_per_event(window_add, options.repeats, rounds)

    totals = Totals()

    def totals_add() -> int:
        totals.add_many(batches[next(cursor) % rounds])
        return batch

    totals_add()
    alone = {"Totals.add_many (alone, not summed)": best_us_per_event(totals_add, options.repeats, rounds)}

    hub = LogHub(history=50_000)

    def publish() -> int:
        hub.publish_events(batches[next(cursor) % rounds])
        return batch

    results["LogHub.publish_events"] = best_us_per_event(publish, options.repeats, rounds)

    ledger = Ledger()
    limit = ledger.settings.fold_limit

    def fold() -> int:
        queued = 0
        while queued < limit:
            ledger.add_many(batches[next(cursor) % rounds])
            queued += batch
        return ledger.fold()

    fold()
    results["Ledger.fold (per analysed event)"] = best_us_per_event(
        fold, options.repeats, max(1, options.events // limit)
    )

    # The whole collector in steady state: a fresh decode per batch (so evicted log entries
    # are freed, as in the server), the log ring already full, and the tick (alerts fold,
    # snapshots) run as often as it would at ``--rate`` events/s.
    collector = Collector(Settings())
    batches_per_tick = max(1, round(options.rate / collector.settings.ticks_per_second / batch))
    for _ in range(collector.settings.log_history // batch + 1):
        collector.ingest(fresh())
    tick_cursor = iter(range(1 << 62))

    def whole() -> int:
        collector.ingest(ingest.decode_events(body, "application/json", now=time.time())[0])
        if next(tick_cursor) % batches_per_tick == 0:
            collector.evaluate_alerts()
            collector.publish_metrics()
        return batch

    whole_result = best_us_per_event(whole, options.repeats, rounds)

    print(
        f"batch {batch}, {len(body) / batch:.0f} bytes/event, CPU µs per event (best of {options.repeats}):"
    )
    for name, value in (results | alone).items():
        print(f"  {name:<36} {value:6.2f}")
    inline = sum(v for k, v in results.items() if not k.startswith("Ledger.fold"))
    print(f"  {'in-request total':<36} {inline:6.2f}")
    print(f"  {'collector steady state, with ticks':<36} {whole_result:6.2f}")
    print(f"  → one core at this cost: {1e6 / whole_result:,.0f} events/s (before HTTP)")


if __name__ == "__main__":
    main()
