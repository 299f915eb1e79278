"""Ingest through HTTP against a bare endpoint that only decodes and counts, in one run.

    python benchmarks/bench_ingest_bare.py                  # ~1.5 minutes
    python benchmarks/bench_ingest_bare.py --rounds 5 --seconds 4
    python benchmarks/bench_ingest_bare.py --before DIR   # plus the collector of another checkout

The baseline is the least any collector must do: a Starlette route that reads the body, decodes it
with msgspec into ``list[Event]`` and adds the count, served exactly as ``agentwatch serve`` is (the
same uvicorn settings, the bounded HTTP protocol of collector/httpguard.py, the heap trimmer), so
the ratio is about the collector's own work: checks, the window, totals, the log ring, the alert
ledger. Beside it, ``agentwatch serve --no-store`` and ``agentwatch serve`` with a store, and
``agentwatch serve --no-store`` with the window's compiled pass turned off (``AGENTWATCH_PURE_PYTHON=1``:
what an install without a C compiler gets); with ``--before DIR``, also ``agentwatch serve --no-store``
of the checkout in DIR (before/after in one run).

Every server runs in its own process on 127.0.0.1; the load is bench_http.py's, from a separate
process over keep-alive connections, and every server gets the same batches: ``--batch`` events of
the simulator's fleet (200 agents: LLM and tool calls, completions, decisions, logs, heartbeats)
as plain JSON, their timestamps moved to the present every 0.1 s (as the simulator's are) so they
land in the current second. Events are counted by each server (``/healthz``). Rounds alternate
between the servers; the best round of each is compared, as events/s and as events per CPU-second
of the server process (steadier on a busy machine).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).parent))

from _load import drive
from _procs import cpu_seconds, start_server
from bench_http import events_total, request_bytes

from agentwatch.collector import compiled
from agentwatch.collector.compiled import PURE_PYTHON_ENV
from agentwatch.protocol import Event
from agentwatch.simulator.fleet import Fleet

#: Seconds between two re-stampings of the batch's timestamps in the load process.
RESTAMP_EVERY = 0.1
BARE = "bare endpoint (decode + count)"
BEFORE = "--no-store, --before checkout"
PURE = "--no-store, Python window pass"


def fleet_batch(batch: int, agents: int = 200, seed: int = 7) -> list[Event]:
    """``batch`` consecutive events of a simulated fleet, as its sender would post them."""
    start = time.time()
    fleet = Fleet(agents, seed=seed, start=start, rate=20_000.0)
    events: list[Event] = []
    step = 0.05
    while len(events) < batch:
        events.extend(fleet.events_until(fleet.now + step))
    return events[:batch]


# ------------------------------------------------------------------------- the bare endpoint
def serve_bare() -> None:
    """The baseline server: decode into ``list[Event]``, count, answer as the collector does."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from agentwatch.collector.httpguard import CollectorServer, guarded_protocol
    from agentwatch.collector.httplimits import HttpLimits
    from agentwatch.collector.server import SHUTDOWN_GRACE, HeapTrimmer, bind_socket
    from agentwatch.protocol import PATH_EVENTS, PATH_HEALTH, IngestResponse

    decoder = msgspec.json.Decoder(list[Event])
    encode = msgspec.json.Encoder().encode
    counted = [0]

    async def post_events(request: Request) -> Response:
        events = decoder.decode(await request.body())
        counted[0] += len(events)
        answer = encode(IngestResponse(accepted=len(events), rejected=[]))
        return Response(answer, status_code=202, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(encode({"events_total": counted[0]}), media_type="application/json")

    app = Starlette(routes=[Route(PATH_EVENTS, post_events, methods=["POST"]), Route(PATH_HEALTH, health)])
    sock = bind_socket("127.0.0.1", 0)
    print(f"bare endpoint on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(
        app,
        log_level="warning",
        http=guarded_protocol(HttpLimits()),
        ws="none",
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        access_log=False,
    )
    trimmer = HeapTrimmer().start()
    try:
        CollectorServer(config, on_stopping=lambda: None).run(sockets=[sock])
    finally:
        trimmer.stop()


# ---------------------------------------------------------------------------------- the load
async def _drive(port: int, events: list[Event], connections: int, seconds: float) -> int:
    """Post ``events`` over keep-alive connections for ``seconds``, timestamps kept current."""
    encode = msgspec.json.Encoder().encode
    stamps = [event.timestamp for event in events if isinstance(event.timestamp, float)]
    offsets = [stamp - max(stamps) for stamp in stamps]
    request, stamped = b"", 0.0

    def current() -> bytes:
        nonlocal request, stamped
        now = time.time()
        if now - stamped >= RESTAMP_EVERY:
            for event, offset in zip(events, offsets, strict=True):
                event.timestamp = now + offset
            request, stamped = request_bytes(port, encode(events)), now
        return request

    return await drive(port, lambda _: current(), connections, seconds)


def _load(port: int, events: list[Event], connections: int, seconds: float, out) -> None:
    out.put(asyncio.run(_drive(port, events, connections, seconds)))


def measure(url: str, pid: int, events: list[Event], seconds: float, connections: int) -> tuple[float, float]:
    """(events/s, events per CPU-second of the server) over one load of ``seconds``."""
    port = int(url.rsplit(":", 1)[1])
    before, cpu = events_total(url), cpu_seconds(pid)
    started = time.monotonic()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    worker = multiprocessing.Process(target=_load, args=(port, events, connections, seconds, queue))
    worker.start()
    queue.get()
    worker.join()
    elapsed = time.monotonic() - started
    counted = events_total(url) - before
    return counted / elapsed, counted / max(cpu_seconds(pid) - cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server")
    parser.add_argument("--batch", type=int, default=1000, help="events per request")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections of the load")
    parser.add_argument("--before", type=Path, help="also run agentwatch serve --no-store of this checkout")
    parser.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.bare_server:
        serve_bare()
        return
    events = fleet_batch(options.batch)
    body = msgspec.json.encode(events)
    serve = [sys.executable, "-m", "agentwatch", "serve", "--port", "0", "--otlp-grpc-port", "0"]
    with tempfile.TemporaryDirectory() as tmp:
        servers: dict[str, tuple[list[str], Path | None, dict[str, str] | None]] = {
            BARE: ([sys.executable, str(Path(__file__).resolve()), "--bare-server"], None, None),
            "agentwatch serve --no-store": ([*serve, "--no-store"], None, None),
            "agentwatch serve + store": ([*serve, "--store", os.path.join(tmp, "bench.db")], None, None),
            PURE: ([*serve, "--no-store"], None, {PURE_PYTHON_ENV: "1"}),
        }
        if options.before is not None:
            servers[BEFORE] = ([*serve, "--no-store"], options.before.resolve(), None)
        print(
            f"batch {options.batch} events of the simulator's fleet, {len(body) / len(events):.0f} bytes/event, "
            f"{options.connections} connections, {options.seconds:g} s a round; "
            f"{compiled.note() or 'the compiled per-event passes in use'}",
            flush=True,
        )
        best: dict[str, tuple[float, float]] = {}
        running = {
            name: start_server(command, source, env=env) for name, (command, source, env) in servers.items()
        }
        try:
            for round_number in range(1, options.rounds + 1):
                for name, (process, url) in running.items():
                    rate, per_cpu = measure(url, process.pid, events, options.seconds, options.connections)
                    old_rate, old_cpu = best.get(name, (0.0, 0.0))
                    best[name] = (max(old_rate, rate), max(old_cpu, per_cpu))
                    print(
                        f"  round {round_number}  {name:<31} {rate:>10,.0f} events/s {per_cpu:>10,.0f} events/CPU-s",
                        flush=True,
                    )
        finally:
            for process, _ in running.values():
                process.terminate()
                process.wait()

    bare_rate, bare_cpu = best[BARE]
    print()
    print(f"{'server':<31} {'events/s':>10} {'× bare':>7} {'events/CPU-s':>13} {'× bare':>7} {'µs/event':>9}")
    for name, (rate, per_cpu) in best.items():
        print(
            f"{name:<31} {rate:>10,.0f} {rate / bare_rate:>7.2f} {per_cpu:>13,.0f} "
            f"{per_cpu / bare_cpu:>7.2f} {1e6 / per_cpu:>9.2f}"
        )


if __name__ == "__main__":
    main()
