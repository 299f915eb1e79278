"""What the viewer's work outside painting costs: stream bytes into state, lines formatted, frame ticks.

    python benchmarks/bench_viewer_feed.py                    # ~1 minute
    python benchmarks/bench_viewer_feed.py --seconds 10 --ticks 300

Recorded first, replayed after: a real collector (``agentwatch serve --port 0 --no-store``) fed by
``agentwatch simulate`` (``--agents`` at ``--rate`` events/s), whose log and metrics streams are read
for ``--seconds`` as the viewer reads them (``?delta=1`` on the metrics stream), each network read
kept as it came. Then, in this process:

* per line: every read of the log stream through the viewer's path — the SSE decoder, the feed
  (:func:`~agentwatch.tui.feed.apply_log_events`: entries decoded, counted, filtered into the
  state), the pending lines taken and formatted (:func:`~agentwatch.tui.formatting.log_lines`);
* per metrics update: every read of the metrics stream through the SSE decoder and
  :func:`~agentwatch.tui.feed.apply_metrics_events` (a delta applied, the state marked);
* per frame tick and per paint's wait: ``--ticks`` ticks of a headless Textual app, each setting
  the next one as the viewer's frame timer and a screen's paint gate
  (:class:`~agentwatch.tui.pacing.PaintGate`) do: through a Textual timer (``set_timer``: a task,
  an event, and the callback handed on through ``call_next``) as both did before; as an event-loop
  callback (``loop.call_later``) as the frame timer does now; and as an event-loop callback that
  posts the callback to the app's message loop, as the paint gate does now. CPU of the whole
  process per tick, the waits excluded.

Each figure is the best of ``--repeat`` passes (the machine is shared: the best is the least
disturbed). The last column puts the figure per second of a viewer under the recorded load
(lines/s, updates/s, frame ticks at 15/s: 10 fps and the ticks that wait for the paint, and
paints at 10/s).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import start_collector, stop
from textual import events
from textual.app import App

from agentwatch.client.sse import SSEDecoder
from agentwatch.protocol import PARAM_DELTA, PATH_DASHBOARD_STREAM, PATH_LOGS_STREAM, SSE_LOG
from agentwatch.tui import feed
from agentwatch.tui import formatting as fmt
from agentwatch.tui.state import ViewState

#: Frame ticks a second of a viewer at 10 fps under load (measured: a third of ticks find the paint
#: not yet due and wait again).
TICKS_PER_SECOND = 15
#: Paints a second of a viewer at 10 fps under load.
PAINTS_PER_SECOND = 10
#: The ways a tick can be set.
TIMER, CALLBACK, POSTED = "textual timer", "loop callback", "loop callback, posted"


async def record(url: str, seconds: float) -> tuple[list[bytes], list[bytes]]:
    """The network reads of the log and the metrics stream over ``seconds``."""
    reads: dict[str, list[bytes]] = {"logs": [], "metrics": []}

    async def read(name: str, path: str, params: dict[str, str]) -> None:
        async with httpx.AsyncClient() as client:
            async with client.stream("GET", url + path, params=params, timeout=None) as response:
                async for chunk in response.aiter_bytes():
                    reads[name].append(chunk)

    tasks = [
        asyncio.create_task(read("logs", PATH_LOGS_STREAM, {})),
        asyncio.create_task(read("metrics", PATH_DASHBOARD_STREAM, {PARAM_DELTA: "1"})),
    ]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return reads["logs"], reads["metrics"]


def replay_logs(reads: list[bytes]) -> tuple[float, int]:
    """CPU seconds of the log stream's reads into the state and formatted; lines."""
    state = ViewState(max_lines=10_000)
    decoder = SSEDecoder()
    lines = 0
    started = time.process_time()
    for chunk in reads:
        feed.apply_log_events(state, decoder.feed(chunk))
        pending = state.take_pending_lines()
        lines += len(fmt.log_lines(pending))
    return time.process_time() - started, lines


def replay_metrics(reads: list[bytes]) -> tuple[float, int]:
    """CPU seconds of the metrics stream's reads into the state; updates (snapshots and deltas)."""
    state = ViewState()
    decoder = SSEDecoder()
    updates = 0
    started = time.process_time()
    for chunk in reads:
        events = decoder.feed(chunk)
        feed.apply_metrics_events(state, events)
        updates += len(events)
    return time.process_time() - started, updates


class Ticker(App[None]):
    """Ticks that set the next one, as the viewer's frame timer does; CPU per tick."""

    def __init__(self, way: str, ticks: int) -> None:
        super().__init__()
        self.way = way
        self.ticks = ticks
        self.count = 0
        self.cpu: float | None = None
        self._started = 0.0

    def on_mount(self) -> None:
        self._started = time.process_time()
        self._next()

    def _next(self) -> None:
        if self.way == TIMER:
            self.set_timer(0.001, self._tick, name="frame")
        elif self.way == CALLBACK:
            asyncio.get_running_loop().call_later(0.001, self._tick)
        else:
            asyncio.get_running_loop().call_later(0.001, self._post)

    def _post(self) -> None:
        self.post_message(events.Callback(callback=self._tick))

    def _tick(self) -> None:
        self.count += 1
        if self.count >= self.ticks:
            self.cpu = time.process_time() - self._started
            self.exit()
            return
        self._next()


async def tick_cost(way: str, ticks: int) -> float:
    """CPU seconds per frame tick set the ``way`` given."""
    app = Ticker(way, ticks)
    async with app.run_test(headless=True):
        deadline = time.monotonic() + 60
        while app.cpu is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    assert app.cpu is not None, "the ticks did not finish"
    return app.cpu / ticks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=12)
    parser.add_argument("--rate", type=float, default=50.0, help="events/s of the simulated fleet")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of the streams recorded")
    parser.add_argument("--ticks", type=int, default=500, help="frame ticks timed per way and pass")
    parser.add_argument("--repeat", type=int, default=5, help="passes; the best counts")
    options = parser.parse_args()

    collector, url = start_collector()
    simulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "agentwatch", "simulate", "--url", url),
            *("--agents", str(options.agents), "--rate", str(options.rate)),
            *("--duration", str(options.seconds + 10)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2.0)  # the fleet is sending
        log_reads, metric_reads = asyncio.run(record(url, options.seconds))
    finally:
        stop(simulator)
        stop(collector)
    # The lines that arrived live (the stream's first read is the history the collector holds).
    live_lines = sum(chunk.count(f"event: {SSE_LOG}\n".encode()) for chunk in log_reads[1:])
    per_line = min(replay_logs(log_reads)[0] for _ in range(options.repeat))
    lines = replay_logs(log_reads)[1]
    per_update = min(replay_metrics(metric_reads)[0] for _ in range(options.repeat))
    updates = replay_metrics(metric_reads)[1]
    ticks = {way: 1.0 for way in (TIMER, CALLBACK, POSTED)}
    for _ in range(options.repeat):
        for way in ticks:
            ticks[way] = min(ticks[way], asyncio.run(tick_cost(way, options.ticks)))

    seconds = options.seconds
    print(
        f"{options.agents} agents at {options.rate:g} events/s, {seconds:g} s recorded: "
        f"{len(log_reads)} log reads ({lines} lines, {live_lines / seconds:.1f} live lines/s), "
        f"{len(metric_reads)} metrics reads ({updates} updates, {updates / seconds:.1f}/s)"
    )
    print()
    print(f"{'work':<44} {'µs each':>9} {'ms per second of load':>22}")
    line_us = per_line * 1e6 / max(lines, 1)
    update_us = per_update * 1e6 / max(updates, 1)
    print(
        f"{'log line: SSE → state → formatted':<44} {line_us:>9.1f} {line_us * live_lines / seconds / 1000:>22.2f}"
    )
    print(
        f"{'metrics update: SSE → delta → state':<44} {update_us:>9.1f} {update_us * updates / seconds / 1000:>22.2f}"
    )
    old, new, posted = (ticks[way] * 1e6 for way in (TIMER, CALLBACK, POSTED))
    rows = (
        ("frame tick, before: Textual timer", old, TICKS_PER_SECOND),
        ("frame tick, now: event-loop callback", new, TICKS_PER_SECOND),
        ("paint's wait, before: Textual timer", old, PAINTS_PER_SECOND),
        ("paint's wait, now: loop callback + message", posted, PAINTS_PER_SECOND),
    )
    for name, each, rate in rows:
        print(f"{name:<44} {each:>9.1f} {each * rate / 1000:>22.2f}")
    print(f"{'frame tick, before / now':<44} {old / new:>8.2f}x")
    print(f"{'paint wait, before / now':<44} {old / posted:>8.2f}x")


if __name__ == "__main__":
    main()
