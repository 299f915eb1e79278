"""What one viewer of the metrics stream costs on the wire, and what a tick costs the collector.

    python benchmarks/bench_metrics_stream.py                 # 12, 500 and 2 000 agents: ~1.5 min
    python benchmarks/bench_metrics_stream.py --agents 12 --seconds 60

Each case is a collector in process on a simulated clock, fed by a simulated fleet
(:class:`~agentwatch.simulator.fleet.Fleet`) at ``--rate`` events/s, whose window and history
are warmed up first (a full window, as after a minute of watching). Four viewers follow the fleet
scope through the collector's real subscriptions, as ``GET /api/dashboard/stream`` serves them:

* ``full``: no ``?delta=1`` and no gzip (an old viewer, ``curl``) — the baseline;
* ``full+gzip``: no deltas, ``Accept-Encoding: gzip`` (what an older agentwatch viewer gets now);
* ``delta``: ``?delta=1``, no gzip;
* ``delta+gzip``: what the viewer asks for.

Then the clock moves on a tick (0.25 s) at a time for ``--seconds``: the fleet's events go in,
the tick runs (alerts, snapshots, frames) and every viewer takes what it is sent (the whole frame
a delta stream gets every 60 s included). Bytes per
viewer count what the HTTP layer writes (frames and their chunked-encoding framing); the first
frame (the whole snapshot a viewer gets at connect) is shown apart. Collector CPU per tick: the
snapshot, the delta and every encoding and compression the four viewers take, beside the tick as
it was before deltas (the snapshot encoded twice: once to see whether it changed, once to send),
measured on the same collector, on the same snapshots, in the same run.
Viewer CPU per frame: decoding a whole snapshot against applying a delta
(:mod:`agentwatch.client.deltas`).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import msgspec

from agentwatch.client.deltas import SnapshotAssembler
from agentwatch.client.sse import SSEDecoder
from agentwatch.client.stream import decode_snapshot
from agentwatch.collector.service import Collector, Settings
from agentwatch.collector.sse import sse_frame
from agentwatch.protocol import SSE_METRICS, SSE_METRICS_DELTA
from agentwatch.simulator.fleet import Fleet

NOW = 1_700_000_000.0
TICK = 0.25
CASES = ((12, 50.0), (500, 500.0), (2000, 2000.0))
VIEWERS = (
    ("full", False, False),
    ("full+gzip", False, True),
    ("delta", True, False),
    ("delta+gzip", True, True),
)
#: What the issue asks of a viewer of deltas with gzip (bytes/s) at each fleet size.
TARGETS = {12: 5_000, 500: 60_000, 2000: 150_000}
#: Frames kept per viewer to time the viewer's decoding afterwards.
KEPT_FRAMES = 40


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Viewer:
    name: str
    stream: AsyncIterator[bytes]
    first: int = 0
    steady: int = 0
    frames: int = 0
    #: CPU seconds of its takes: what encoding and compressing its kind of frame costs (the
    #: viewers take in the order of VIEWERS, and a frame encoded once is cached for the others).
    cpu: float = 0.0
    raw: list[bytes] = field(default_factory=list)


def chunked(batch: bytes) -> int:
    """Bytes an HTTP/1.1 chunk of ``batch`` takes on the wire (size line, data, CRLF)."""
    return len(f"{len(batch):x}\r\n") + len(batch) + 2


async def take(viewer: Viewer, *, first: bool) -> None:
    started = time.process_time()
    batch = await asyncio.wait_for(viewer.stream.__anext__(), 10)
    if not first:
        viewer.cpu += time.process_time() - started
    if first:
        viewer.first += chunked(batch)
    else:
        viewer.steady += chunked(batch)
        viewer.frames += 1
    if viewer.name in ("delta", "full") and len(viewer.raw) <= KEPT_FRAMES:
        viewer.raw.append(batch)  # the first frames, for the viewer's CPU


def old_publish(collector: Collector) -> None:
    """The tick's frame work as it was before deltas: the snapshot encoded to compare, then sent."""
    snapshot = collector.snapshot(None)
    stamp, end = snapshot.timestamp, snapshot.history.end
    snapshot.timestamp = snapshot.history.end = 0.0
    msgspec.json.encode(snapshot)
    snapshot.timestamp, snapshot.history.end = stamp, end
    sse_frame(SSE_METRICS, msgspec.json.encode(snapshot))


async def run_case(agents: int, rate: float, seconds: float, warmup: float) -> dict[str, object]:
    clock = Clock(NOW - warmup)
    collector = Collector(Settings(store_path=None, clock=clock))
    collector.window.origin = NOW - warmup - 120  # a full window from the start
    fleet = Fleet(agents, seed=7, start=clock.now, rate=rate)
    while clock.now < NOW:  # warm-up: no viewer yet, so the ticks send nothing
        clock.now += TICK
        collector.ingest(fleet.events_until(clock.now))
        collector.tick()
    viewers = []
    for name, delta, gzip in VIEWERS:
        subscription = collector.subscribe_metrics(None, delta=delta, gzip=gzip)
        viewers.append(Viewer(name, subscription.frames(heartbeat=3600)))
    for viewer in viewers:
        await take(viewer, first=True)
    ticks = int(seconds / TICK)
    tick_cpu = old_cpu = 0.0
    for tick in range(ticks):
        clock.now += TICK
        collector.ingest(fleet.events_until(clock.now))
        collector.release_metric_events()
        collector.evaluate_alerts()
        # Both ways on the same snapshot; which goes first alternates (the first pays the
        # window's per-second caches).
        for way in ("old", "new") if tick % 2 else ("new", "old"):
            started = time.process_time()
            if way == "old":
                old_publish(collector)
                old_cpu += time.process_time() - started
                continue
            sent = collector.publish_metrics()  # the snapshot and the delta
            tick_cpu += time.process_time() - started
            if sent:  # frames are encoded and compressed as viewers take them
                for viewer in viewers:
                    await take(viewer, first=False)
    for viewer in viewers:
        await viewer.stream.aclose()  # type: ignore[attr-defined]
    full_decode, delta_apply = viewer_cpu(viewers)
    return {
        "viewers": viewers,
        "seconds": ticks * TICK,
        "tick_ms": tick_cpu * 1000 / ticks,
        "old_tick_ms": old_cpu * 1000 / ticks,
        "full_decode_ms": full_decode,
        "delta_apply_ms": delta_apply,
        "resyncs": collector.metrics.resyncs_total,
    }


def viewer_cpu(viewers: list[Viewer]) -> tuple[float, float]:
    """CPU ms per frame: the full viewer's frames decoded whole; the delta viewer's applied."""
    by_name = {viewer.name: viewer for viewer in viewers}
    full_events = [
        e for batch in by_name["full"].raw for e in SSEDecoder().feed(batch) if e.event == SSE_METRICS
    ]
    decoder = SSEDecoder()
    delta_events = [e for batch in by_name["delta"].raw for e in decoder.feed(batch)]
    started = time.process_time()
    for event in full_events[1:]:
        decode_snapshot(event.data)
    full_ms = (time.process_time() - started) * 1000 / max(1, len(full_events) - 1)
    assembler = SnapshotAssembler()
    applied = 0
    started = time.process_time()
    for event in delta_events:
        if event.event == SSE_METRICS_DELTA:
            assembler.delta(event.data, event.id)
            applied += 1
        elif event.event == SSE_METRICS:
            assembler.whole(decode_snapshot(event.data), event.id)
    delta_ms = (time.process_time() - started) * 1000 / max(1, applied)
    return full_ms, delta_ms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--agents", type=int, action="append", help="fleet size (repeatable; default 12, 500, 2000)"
    )
    parser.add_argument("--rate", type=float, help="events/s of the fleet (default: 50, 500, 2000 by size)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=120.0,
        help="simulated seconds measured per case (120: two whole frames)",
    )
    parser.add_argument("--warmup", type=float, default=65.0, help="simulated seconds before viewers connect")
    options = parser.parse_args()
    cases = (
        [(a, options.rate or dict(CASES).get(a, float(a))) for a in options.agents]
        if options.agents
        else CASES
    )
    print("metrics stream per viewer (fleet scope), simulated clock, 4 ticks/s; KB = 1000 bytes")
    print()
    print("| agents | events/s | viewer | first frame | KB/s per viewer | vs full | target |")
    print("| ---: | ---: | --- | ---: | ---: | ---: | --- |")
    cpu_rows = []
    for agents, rate in cases:
        result = asyncio.run(run_case(agents, rate, options.seconds, options.warmup))
        seconds = result["seconds"]
        viewers: list[Viewer] = result["viewers"]  # type: ignore[assignment]
        full_rate = viewers[0].steady / seconds  # type: ignore[operator]
        for viewer in viewers:
            per_second = viewer.steady / seconds  # type: ignore[operator]
            target = ""
            if viewer.name == "delta+gzip":
                limit = TARGETS.get(agents)
                target = f"≤ {limit / 1000:g} KB/s {'✓' if per_second <= limit else '✗'}" if limit else ""
            print(
                f"| {agents:,} | {rate:g} | {viewer.name} | {viewer.first / 1000:,.1f} KB | "
                f"{per_second / 1000:,.1f} | {per_second / full_rate:.3f} | {target} |"
            )
        cpu_rows.append((agents, result))
    print()
    print(
        "collector CPU per tick (ms): before = the tick as it was (snapshot, whole JSON twice); now = "
        "snapshot and delta, then what each kind of viewer adds (once per scope, whatever their number)"
    )
    print()
    print(
        "| agents | before | now: snapshot + delta | + whole JSON | + whole gzip | + delta JSON | + delta gzip "
        "| now, delta+gzip viewers only | vs before | all four kinds | vs before |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for agents, result in cpu_rows:
        ticks = result["seconds"] / TICK  # type: ignore[operator]
        old, publish = result["old_tick_ms"], result["tick_ms"]
        adds = {viewer.name: viewer.cpu * 1000 / ticks for viewer in result["viewers"]}  # type: ignore[attr-defined]
        delta_only = publish + adds["delta"] + adds["delta+gzip"]  # type: ignore[operator]
        everything = publish + sum(adds.values())  # type: ignore[operator]
        print(
            f"| {agents:,} | {old:.2f} | {publish:.2f} | {adds['full']:.2f} | {adds['full+gzip']:.2f} | "
            f"{adds['delta']:.2f} | {adds['delta+gzip']:.2f} | {delta_only:.2f} | {delta_only / old:.2f} | "  # type: ignore[operator]
            f"{everything:.2f} | {everything / old:.2f} |"  # type: ignore[operator]
        )
    print()
    print("viewer CPU per frame (ms): a whole snapshot decoded, against a delta applied")
    print()
    print("| agents | whole decode | delta apply | ratio | resyncs |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for agents, result in cpu_rows:
        full, delta = result["full_decode_ms"], result["delta_apply_ms"]
        print(f"| {agents:,} | {full:.2f} | {delta:.2f} | {delta / full:.2f} | {result['resyncs']} |")  # type: ignore[operator]


if __name__ == "__main__":
    main()
