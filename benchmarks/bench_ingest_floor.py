"""The ingest endpoint's own CPU per event above the bare endpoint's, in process, without HTTP.

    python benchmarks/bench_ingest_floor.py                  # ~30 s
    python benchmarks/bench_ingest_floor.py --before DIR     # and the checkout in DIR, alternating

``POST /v1/events`` of the collector's app, called as an ASGI app with the body in 64 KiB chunks (as
uvicorn hands it over), its collector's ``ingest`` a no-op (no window, log ring or ledger): what is
left is the floor of ``bench_ingest_bare.py``'s ratio, the route with the decode, the checks and the
answer. Beside it in the same process, the bare endpoint of ``bench_ingest_bare.py`` (a plain msgspec
decode into ``list[Event]`` and the count); both on the same batches of the simulator's fleet, in CPU
time, the best of ``--rounds`` alternating rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).parent))

from bench_ingest_bare import fleet_batch

CHUNK = 64 * 1024
App = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


def bare_app() -> App:
    """The bare endpoint of bench_ingest_bare.py: decode, count, answer."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from agentwatch.protocol import PATH_EVENTS, Event, IngestResponse

    decoder = msgspec.json.Decoder(list[Event])
    encode = msgspec.json.Encoder().encode

    async def post_events(request: Request) -> Response:
        events = decoder.decode(await request.body())
        answer = encode(IngestResponse(accepted=len(events), rejected=[]))
        return Response(answer, status_code=202, media_type="application/json")

    return Starlette(routes=[Route(PATH_EVENTS, post_events, methods=["POST"])])


def collector_app() -> App:
    """The collector's app, its collector counting nothing."""
    from agentwatch.collector.app import create_app
    from agentwatch.collector.service import Collector, Settings

    collector = Collector(Settings())
    collector.ingest = lambda events, receipt=None: None  # type: ignore[method-assign]
    return create_app(collector=collector)


async def post(app: App, scope: dict[str, Any], chunks: list[bytes]) -> None:
    """One request, its body in ``chunks``; fails unless answered 202."""
    sent = 0
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        return {"type": "http.request", "body": chunks[sent - 1], "more_body": sent < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [202]:
        raise RuntimeError(f"answered {status}")


async def measure(batch: int, rounds: int, requests: int) -> dict[str, float]:
    """Best CPU µs per event of each app over ``rounds`` alternating rounds of ``requests`` posts."""
    from agentwatch.protocol import PATH_EVENTS

    events = fleet_batch(batch)
    newest = max(event.timestamp for event in events)  # type: ignore[type-var]
    now = time.time()
    for event in events:
        event.timestamp = now + event.timestamp - newest  # type: ignore[operator]
    body = msgspec.json.encode(events)
    chunks = [body[at : at + CHUNK] for at in range(0, len(body), CHUNK)]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": PATH_EVENTS, "raw_path": PATH_EVENTS.encode(), "query_string": b"", "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
    }  # fmt: skip
    apps = {"bare": bare_app(), "collector": collector_app()}
    best = dict.fromkeys(apps, float("inf"))
    for _ in range(rounds):
        for name, app in apps.items():
            started = time.process_time()
            for _ in range(requests):
                await post(app, scope, chunks)
            best[name] = min(best[name], (time.process_time() - started) / requests / batch * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=100, help="posts per round")
    parser.add_argument("--runs", type=int, default=2, help="with --before: alternating runs of each tree")
    parser.add_argument("--before", type=Path, help="also measure the checkout in DIR")
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.before is None:
        best = asyncio.run(measure(options.batch, options.rounds, options.requests))
        above = (best["collector"] - best["bare"]) * 1000
        if options.quiet:
            print(f"{best['bare']} {best['collector']}")
            return
        print(f"batch {options.batch}, CPU µs per event (best of {options.rounds} rounds):")
        print(f"  bare endpoint                 {best['bare']:6.3f}")
        print(
            f"  collector, ingest a no-op     {best['collector']:6.3f}   ({above:.0f} ns an event above bare)"
        )
        return
    here = Path(__file__).resolve().parent.parent
    trees = {"this checkout": here, "--before checkout": options.before.resolve()}
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for _ in range(options.runs):
        for name, tree in trees.items():
            command = [sys.executable, str(Path(__file__).resolve()), "--quiet"]
            command += ["--batch", str(options.batch), "--rounds", str(options.rounds)]
            command += ["--requests", str(options.requests)]
            env = {**os.environ, "PYTHONPATH": str(tree)}
            out = subprocess.run(
                command, cwd=tree, env=env, capture_output=True, text=True, check=True
            ).stdout
            bare, collector = map(float, out.split())
            found[name].append((bare, collector))
    print(
        f"batch {options.batch}, CPU µs per event, best of {options.runs} runs (each the best of its rounds):"
    )
    for name, runs in found.items():
        bare = min(run[0] for run in runs)
        collector = min(run[1] for run in runs)
        above = min((run[1] - run[0]) * 1000 for run in runs)
        print(
            f"  {name:<18} bare {bare:6.3f}  collector {collector:6.3f}  above bare {above:4.0f} ns an event"
        )


if __name__ == "__main__":
    main()
