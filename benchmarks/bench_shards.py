"""Sharding on this machine: 1 against 2 collectors under the same load, and what watching both costs.

    python benchmarks/bench_shards.py                          # ~2 minutes
    python benchmarks/bench_shards.py --seconds 4 --rounds 1   # a quicker look

Every process is real, on 127.0.0.1: collectors are ``agentwatch serve --port 0 --no-store``.

* **Ingest**: the same saturating load, ``--loaders`` processes of 4 keep-alive connections each
  posting batches of 200 events (``bench_http.py``'s raw-socket client, so the client is not what
  is measured), all at one collector, then split evenly over two. Events/s are counted by the
  collectors (``/healthz``). Rounds alternate one and two collectors, so drift hits both.
* **Viewer**: the same simulated fleet (:class:`agentwatch.simulator.fleet.Fleet`, ``--agents`` at
  ``--rate`` events/s) sent whole to one collector, then sharded over two as the SDK shards
  (rendezvous hashing of the agent id); the real viewer (``agentwatch URL…``) on a 120×36
  pseudo-terminal, given one URL, then both: its CPU over ``--seconds``.
* **Fan-out**: ``--followers`` headless fleet clients (the viewer's
  :class:`~agentwatch.client.fleet.FleetFollower`, metrics and logs, without the screen) in one
  process following both collectors, under the same fleet: each collector's CPU with them against
  without, i.e. what one more viewer costs each collector — what an aggregating tier
  (``serve --upstream``) would save them — and the followers' own CPU per follower.

The machine is shared and has 2 cores: the load generators, the collectors and the viewer compete
for them, so the ratio says what a second collector buys *here*; figures move by several per cent
from run to run (compare the rows of one run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import COLLECTOR, cpu_seconds, start_server, stop
from bench_http import events_total, load_process, make_events, request_bytes
from bench_viewer_cost import Terminal, measure_steady

HERE = Path(__file__).resolve()
BATCH = 200


# ---------------------------------------------------------------- ingest
def saturate(urls: list[str], loaders: int, seconds: float) -> tuple[float, list[float]]:
    """(events/s ingested by all, CPU % of each collector) under ``loaders`` load processes split
    evenly over ``urls``. Each collector's agents are its own (``c<i>-agent-N``): sharded by agent."""
    queue: multiprocessing.Queue[int] = multiprocessing.Queue()
    workers = []
    for index in range(loaders):
        url = urls[index % len(urls)]
        port = int(url.rsplit(":", 1)[1])
        events = make_events(BATCH, 200, seed=index)
        for event in events:
            event["agent_id"] = f"c{urls.index(url)}-{event['agent_id']}"
        payload = request_bytes(port, json.dumps(events).encode())
        workers.append(
            multiprocessing.Process(target=load_process, args=(port, payload, 4, seconds, None, queue))
        )
    pids = [pid_of(url) for url in urls]
    before = [events_total(url) for url in urls]
    cpu0 = [cpu_seconds(pid) for pid in pids]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for _ in workers:
        queue.get()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    cpu1 = [cpu_seconds(pid) for pid in pids]
    total = sum(events_total(url) - first for url, first in zip(urls, before, strict=True))
    return total / elapsed, [100 * (b - a) / elapsed for a, b in zip(cpu0, cpu1, strict=True)]


_PIDS: dict[str, int] = {}


def pid_of(url: str) -> int:
    return _PIDS[url]


def collectors(count: int) -> list[tuple[subprocess.Popen[str], str]]:
    """``count`` collector processes (no store, no OTLP/gRPC listener, which would share a port)."""
    started = [start_server(COLLECTOR) for _ in range(count)]
    for process, url in started:
        _PIDS[url] = process.pid
    return started


# ---------------------------------------------------------------- roles (child processes)
def role_feed(urls: list[str], agents: int, rate: float, seconds: float) -> None:
    """The simulated fleet, each agent's events to the collector its id ranks first (as the SDK)."""
    from agentwatch.protocol import PATH_EVENTS, json_encoder
    from agentwatch.sdk.shards import rank
    from agentwatch.simulator.fleet import Fleet

    fleet = Fleet(agents, rate=rate, start=time.time())
    home = {agent: rank(agent, urls)[0] for agent in fleet.agent_ids}
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            by_url: dict[str, list[Any]] = defaultdict(list)
            for event in fleet.events_until(time.time()):
                by_url[home.get(event.agent_id, urls[0])].append(event)
            for url, batch in by_url.items():
                client.post(url + PATH_EVENTS, content=json_encoder.encode(batch),
                            headers={"Content-Type": "application/json"})  # fmt: skip
            time.sleep(0.05)


def role_followers(urls: list[str], count: int, seconds: float) -> None:
    """``count`` headless fleet clients following ``urls`` for ``seconds``."""
    from agentwatch.client.fleet import FleetFollower

    async def run() -> None:
        views = 0

        def on_view(view: object) -> None:
            nonlocal views
            views += 1

        followers = [
            FleetFollower(urls, on_view=on_view, on_entries=lambda entries: None) for _ in range(count)
        ]
        tasks = [asyncio.create_task(f.run_metrics()) for f in followers]
        tasks += [asyncio.create_task(f.run_logs()) for f in followers]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())


def child(role: str, urls: list[str], options: argparse.Namespace, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HERE), "--role", role, "--urls", ",".join(urls), "--agents", str(options.agents),
         "--rate", str(options.rate), "--seconds", str(options.child_seconds), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


# ---------------------------------------------------------------- viewer and fan-out
def viewer_cpu(urls: list[str], options: argparse.Namespace) -> float:
    """CPU % of the real viewer given ``urls``, under the simulated fleet sharded over them."""
    feeder = child("feed", urls, options)
    terminal = Terminal([sys.executable, "-m", "agentwatch", *urls, "--no-bell"])
    try:
        if not terminal.wait_for(b"sort: ", 30):
            raise RuntimeError("the viewer drew no header within 30 s")
        time.sleep(options.warmup)
        cpu, _ = measure_steady(terminal, options.seconds)
        if terminal.process.poll() is not None:
            raise RuntimeError(f"the viewer of {' '.join(urls)} exited while measured")
        return cpu
    finally:
        terminal.close()
        stop(feeder)


def fan_out(urls: list[str], options: argparse.Namespace) -> tuple[float, float, float]:
    """(collectors' CPU % without followers, with ``--followers``, the followers' process CPU %)."""
    feeder = child("feed", urls, options)
    try:
        time.sleep(options.warmup)
        pids = [pid_of(url) for url in urls]

        def collectors_cpu() -> float:
            start = [cpu_seconds(pid) for pid in pids]
            began = time.monotonic()
            time.sleep(options.seconds)
            elapsed = time.monotonic() - began
            return sum(
                100 * (cpu_seconds(pid) - first) / elapsed for pid, first in zip(pids, start, strict=True)
            )

        alone = collectors_cpu()
        followers = child("followers", urls, options, "--followers", str(options.followers))
        try:
            time.sleep(options.warmup)
            mine = cpu_seconds(followers.pid)
            began = time.monotonic()
            loaded = collectors_cpu()
            theirs = 100 * (cpu_seconds(followers.pid) - mine) / (time.monotonic() - began)
        finally:
            stop(followers)
        return alone, loaded, theirs
    finally:
        stop(feeder)


# ---------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="per measurement (default 6)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="ingest rounds of 1 then 2 collectors (default 2)"
    )
    parser.add_argument("--loaders", type=int, default=2, help="load processes for ingest (default 2)")
    parser.add_argument("--agents", type=int, default=200, help="simulated agents (default 200)")
    parser.add_argument("--rate", type=float, default=2000.0, help="simulated events/s (default 2000)")
    parser.add_argument("--followers", type=int, default=20, help="headless fleet clients (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring (default 3)")
    parser.add_argument("--role", choices=("feed", "followers"), help=argparse.SUPPRESS)
    parser.add_argument("--urls", default="", help=argparse.SUPPRESS)
    parser.add_argument("--child-seconds", type=float, default=600.0, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    if options.role == "feed":
        role_feed(options.urls.split(","), options.agents, options.rate, options.child_seconds)
        return 0
    if options.role == "followers":
        role_followers(options.urls.split(","), options.followers, options.child_seconds)
        return 0

    rates: dict[int, list[float]] = {1: [], 2: []}
    cpus: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(options.rounds):
        for count in (1, 2):
            started = collectors(count)
            try:
                rate, cpu = saturate([url for _, url in started], options.loaders, options.seconds)
                rates[count].append(rate)
                cpus[count].append(sum(cpu))
            finally:
                for process, _ in started:
                    stop(process)
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    print(f"\ningest, {options.loaders} load processes x 4 connections, batches of {BATCH} "
          f"({options.rounds} rounds, medians)")  # fmt: skip
    print(f"{'collectors':<12}{'events/s':>12}{'ratio':>8}{'collectors CPU %':>18}{'CPU µs/event':>14}")
    for count, rate in ((1, one), (2, two)):
        cpu = statistics.median(cpus[count])
        print(f"{count:<12}{rate:>12,.0f}{rate / one:>8.2f}{cpu:>18.0f}{cpu * 1e4 / rate:>14.2f}")
    ratios = ", ".join(f"{b / a:.2f}" for a, b in zip(rates[1], rates[2], strict=True))
    print(f"ratio 2/1 in each round: {ratios}")

    shown: dict[int, float] = {}
    fan: tuple[float, float, float] | None = None
    for count in (1, 2):
        started = collectors(count)
        try:
            urls = [url for _, url in started]
            shown[count] = viewer_cpu(urls, options)
            if count == 2:
                fan = fan_out(urls, options)
        finally:
            for process, _ in started:
                stop(process)
    print(f"\nviewer, {options.agents} simulated agents at {options.rate:,.0f} events/s, sharded by agent id")
    print(f"{'collectors':<12}{'viewer CPU %':>14}{'ratio':>8}")
    print(f"{'1':<12}{shown[1]:>14.1f}{1.0:>8.2f}")
    print(f"{'2 (merged)':<12}{shown[2]:>14.1f}{shown[2] / shown[1] if shown[1] else float('nan'):>8.2f}")
    if fan is not None:
        alone, loaded, theirs = fan
        per = (loaded - alone) / options.followers
        print(f"\nfan-out, {options.followers} headless fleet clients on 2 collectors (same fleet)")
        print(f"{'':<34}{'CPU %':>8}")
        print(f"{'both collectors, no follower':<34}{alone:>8.1f}")
        print(f"{f'both collectors, {options.followers} followers':<34}{loaded:>8.1f}")
        print(f"{'per follower, on the collectors':<34}{per:>8.2f}")
        print(f"{'per follower, its own process':<34}{theirs / options.followers:>8.2f}")
        print(f"{'100 viewers, on the collectors':<34}{alone + 100 * per:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
