"""Ingest throughput through real HTTP, side by side with the first article's design, and RSS over time.

    python benchmarks/bench_http.py              # ~1 minute
    python benchmarks/bench_http.py --soak 600   # plus 10 minutes at 20 000 events/s, RSS sampled

Each server runs in its own process on 127.0.0.1; the load comes from a separate process
speaking plain HTTP/1.1 keep-alive over raw sockets (httpx tops out near 1 250 requests/s
per core, which would measure the client, not the server). Events/s are counted by the
server (``/healthz``), not by the client. The baseline is the first article's design
behind the same kind of endpoint: stdlib ``json`` and an aggregator that rescans and
sorts its whole window on every event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _load import drive
from _procs import rss_mb, start_server

HERE = Path(__file__).parent
#: Seconds of a soak before RSS is held to the ±10 % bound: the window's ring of one-second
#: buckets (the snapshot's 120-second history) is full by then.
WARM_UP_S = 120.0
#: The alert ledger's longest windows (cost, latency: 300 s of ten-second intervals) are full by
#: then; between WARM_UP_S and this they add about 1 KB per scope per interval.
LEDGER_FULL_S = 310.0


def make_events(count: int, agents: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "gemini-2.0-flash"]
    events = []
    for i in range(count):
        kind = rng.random()
        agent = f"agent-{rng.randrange(agents)}"
        if kind < 0.6:
            events.append(
                {
                    "agent_id": agent,
                    "span_type": "llm_call",
                    "model": rng.choice(models),
                    "tokens_input": rng.randint(100, 3000),
                    "tokens_output": rng.randint(10, 400),
                    "latency_ms": round(rng.lognormvariate(6.5, 0.5), 1),
                    "cost_usd": 0.01,
                    "trace_id": f"{rng.getrandbits(128):032x}",
                }
            )
        elif kind < 0.85:
            events.append(
                {
                    "agent_id": agent,
                    "span_type": "tool_call",
                    "tool_name": "search",
                    "latency_ms": round(rng.uniform(20, 300), 1),
                }
            )
        else:
            events.append(
                {"agent_id": agent, "span_type": "log", "level": "info", "message": f"step {i} done"}
            )
    return events


def request_bytes(port: int, body: bytes, path: str = "/api/events") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _drive(port: int, payload: bytes, connections: int, seconds: float, pace: float | None) -> int:
    """Send ``payload`` over keep-alive connections until ``seconds`` pass; returns responses."""
    return await drive(port, lambda _: payload, connections, seconds, pace)


def load_process(
    port: int, payload: bytes, connections: int, seconds: float, pace: float | None, out
) -> None:
    out.put(asyncio.run(_drive(port, payload, connections, seconds, pace)))


def events_total(url: str) -> int:
    return int(httpx.get(url + "/healthz", timeout=120).json()["events_total"])


def measure(url: str, batch: int, seconds: float, connections: int = 4, pace: float | None = None) -> float:
    port = int(url.rsplit(":", 1)[1])
    body = json.dumps(make_events(batch, 200)).encode()
    payload = request_bytes(port, body)
    before = events_total(url)
    started = time.monotonic()
    queue: multiprocessing.Queue = multiprocessing.Queue()
    worker = multiprocessing.Process(
        target=load_process, args=(port, payload, connections, seconds, pace, queue)
    )
    worker.start()
    queue.get()
    worker.join()
    elapsed = time.monotonic() - started
    return (events_total(url) - before) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0, help="per measurement")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds at 20 000 events/s, RSS sampled")
    options = parser.parse_args()
    serve = [sys.executable, "-m", "agentwatch", "serve", "--port", "0"]
    rows: list[tuple[str, str, float]] = []

    with tempfile.TemporaryDirectory() as tmp:
        servers = {
            "agentwatch": [*serve, "--no-store"],
            "agentwatch + store": [*serve, "--store", os.path.join(tmp, "bench.db")],
            "article design": [sys.executable, str(HERE / "article_server.py")],
        }
        for name, command in servers.items():
            process, url = start_server(command)
            try:
                for batch in (1, 100, 1000):
                    rate = measure(url, batch, options.seconds)
                    rows.append((name, str(batch), rate))
                    print(f"  {name:<20} batch {batch:>5}: {rate:>12,.0f} events/s", flush=True)
            finally:
                process.terminate()
                process.wait()

        print()
        print(f"{'server':<20} {'batch':>6} {'events/s':>12} {'× article':>10}")
        baseline = {batch: rate for name, batch, rate in rows if name == "article design"}
        for name, batch, rate in rows:
            ratio = rate / baseline[batch] if baseline.get(batch) else float("nan")
            print(f"{name:<20} {batch:>6} {rate:>12,.0f} {ratio:>10.1f}")

        if options.soak:
            process, url = start_server([*serve, "--store", os.path.join(tmp, "soak.db")])
            try:
                print(f"\nsoak: 20 000 events/s from 200 agents for {options.soak:.0f} s")
                samples: list[tuple[float, float]] = []
                port = int(url.rsplit(":", 1)[1])
                payload = request_bytes(port, json.dumps(make_events(1000, 200)).encode())
                queue: multiprocessing.Queue = multiprocessing.Queue()
                worker = multiprocessing.Process(
                    target=load_process, args=(port, payload, 2, options.soak, 0.1, queue)
                )
                started = time.monotonic()
                worker.start()
                while worker.is_alive():
                    samples.append((time.monotonic() - started, rss_mb(process.pid)))
                    worker.join(timeout=10)
                queue.get()
                # Warm-up: the window's ring fills first, then (more slowly, and a little) the
                # alert ledger's five-minute windows; growth after both would be a leak.
                for label, since in (
                    ("the window's ring is full", WARM_UP_S),
                    ("the ledger is full", LEDGER_FULL_S),
                ):
                    warm = [rss for t, rss in samples if t >= min(since, options.soak / 2)]
                    print(
                        f"RSS once {label} ({min(since, options.soak / 2):.0f} s on): min {min(warm):.1f} MB, "
                        f"max {max(warm):.1f} MB, spread {100 * (max(warm) - min(warm)) / min(warm):.1f} %"
                    )
                for t, rss in samples[:: max(1, len(samples) // 20)]:
                    print(f"  t={t:6.0f} s  RSS {rss:6.1f} MB")
            finally:
                process.terminate()
                process.wait()


if __name__ == "__main__":
    main()
