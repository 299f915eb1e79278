"""What span starts cost: the agent's thread, and the collector's ingest.

    python benchmarks/bench_span_starts.py            # ~20 s
    python benchmarks/bench_span_starts.py --spans 20000 --rounds 5

1. SDK, caller's thread: µs per ``with telemetry.span("llm_call", model=...)`` with span starts
   off (``span_starts=False``, as before) and on; median of each round's median, rounds in turn.
   The sender is idle (long flush interval): only the caller's work is measured (a start is
   made in the sender thread).
2. Collector, in process (a :class:`Collector` without a store): CPU µs per span to decode and
   ingest a JSON batch the way ``POST /api/events`` does, the best of ``--rounds``, taken in turn:

   * ``before``: the batch of ends, decoded and ingested without looking for starts (the path
     before span starts existed);
   * ``ends only``: the same batch through the path of now (``split_starts`` finds none): what
     every sender pays;
   * ``start + end``: each span's start in one batch, its end in the next (a span that outlived
     a batch: what a long step costs; the SDK sends no start for a span that has ended by the
     time its sender takes it).

The machine is shared: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import statistics
import time

from agentwatch.collector import ingest
from agentwatch.collector.service import Collector, Settings
from agentwatch.protocol import EVENT_SPAN_START, Event, json_encoder
from agentwatch.sdk import AgentTelemetry

BATCH = 500


def caller_cost(spans: int, rounds: int) -> dict[str, float]:
    """Median µs per span of the caller's thread, starts off and on."""
    medians: dict[str, list[float]] = {"starts off": [], "starts on": []}
    agents = {
        name: AgentTelemetry(
            "bench",
            "http://127.0.0.1:9",
            max_queue=rounds * spans * 2 + 10,
            flush_interval=3600,
            batch_size=rounds * spans * 2 + 10,
            heartbeat_interval=None,
            max_retries=0,
            span_starts=name == "starts on",
        )
        for name in medians
    }
    for _ in range(rounds):
        for name, telemetry in agents.items():
            samples = []
            clock = time.perf_counter_ns
            for _ in range(spans):
                began = clock()
                with telemetry.span("llm_call", model="gpt-4o"):
                    pass
                samples.append((clock() - began) / 1000)
            medians[name].append(statistics.median(samples))
    for telemetry in agents.values():
        telemetry._sender._queue.clear()  # nothing to send: the port is closed
        telemetry.close(timeout=0.1)
    return {name: statistics.median(values) for name, values in medians.items()}


def bodies(spans: int) -> tuple[list[bytes], list[bytes]]:
    """JSON batches of span starts and of their ends (``BATCH`` spans each)."""
    now = time.time()
    starts, ends = [], []
    for first in range(0, spans, BATCH):
        ids = [f"{first + i + 1:016x}" for i in range(min(BATCH, spans - first))]
        starts.append(
            json_encoder.encode(
                [
                    Event(f"agent-{i % 20}", now, span_id=span_id, model="gpt-4o",
                          event_type=EVENT_SPAN_START, payload={"span_type": "llm_call"})
                    for i, span_id in enumerate(ids)
                ]
            )
        )  # fmt: skip
        ends.append(
            json_encoder.encode(
                [
                    Event(f"agent-{i % 20}", now, "llm_call", span_id=span_id, model="gpt-4o",
                          tokens_input=100, tokens_output=20, latency_ms=800.0)
                    for i, span_id in enumerate(ids)
                ]
            )
        )  # fmt: skip
    return starts, ends


def ingest_cost(spans: int, rounds: int) -> dict[str, float]:
    """Best CPU µs per span of each way in (see the module docstring)."""
    starts, ends = bodies(spans)

    def before(collector: Collector) -> None:
        for body in ends:
            events, _ = ingest.decode_events(body, "application/json", now=time.time())
            collector.ingest(events)

    def ends_only(collector: Collector) -> None:
        for body in ends:
            events, _ = ingest.decode_events(body, "application/json", now=time.time())
            events, found = ingest.split_starts(events)
            if found:
                collector.open_steps(found)
            collector.ingest(events)

    def start_and_end(collector: Collector) -> None:
        for opening, closing in zip(starts, ends, strict=True):
            for body in (opening, closing):
                events, _ = ingest.decode_events(body, "application/json", now=time.time())
                events, found = ingest.split_starts(events)
                if found:
                    collector.open_steps(found)
                collector.ingest(events)

    ways = {"before": before, "ends only": ends_only, "start + end": start_and_end}
    best = {name: float("inf") for name in ways}
    for _ in range(rounds):
        for name, run in ways.items():
            collector = Collector(Settings(store_path=None))
            run(collector)  # warm: agents, buckets, scopes exist
            began = time.process_time()
            run(collector)
            best[name] = min(best[name], (time.process_time() - began) * 1e6 / spans)
            assert not collector.window.steps(), "every start was closed by its end"
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    caller = caller_cost(args.spans, args.rounds)
    print("SDK, caller's thread (median µs per span)")
    print(f"{'':<14}{'µs':>8}{'ratio':>8}")
    for name, value in caller.items():
        print(f"{name:<14}{value:>8.2f}{value / caller['starts off']:>8.2f}")

    cost = ingest_cost(args.spans, args.rounds)
    print(f"\nCollector, decode + ingest (best CPU µs per span, {args.spans} spans, batches of {BATCH})")
    print(f"{'':<14}{'µs':>8}{'ratio':>8}")
    for name, value in cost.items():
        print(f"{name:<14}{value:>8.2f}{value / cost['before']:>8.2f}")


if __name__ == "__main__":
    main()
