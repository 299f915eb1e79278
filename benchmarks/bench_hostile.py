"""Does any one request stall everyone? A ``/healthz`` probe beside each hostile request, in one run.

    python benchmarks/bench_hostile.py                 # ~1 minute
    python benchmarks/bench_hostile.py --seconds 5     # longer cases
    python benchmarks/bench_hostile.py --source DIR    # the collector of another checkout (before/after)

It starts the real collector (``agentwatch serve --no-store`` on 127.0.0.1, an ephemeral port,
its own process) and a prober (its own process) that sends ``GET /healthz`` over one keep-alive
connection every 10 ms and times each answer. While the prober runs, the driver plays each case for
``--seconds`` (at least once), one hostile request after another, and the probe samples sent during
a case are its figures: p50, p99 and max, and p99 against the idle baseline's. The goal is a probe
p99 of at most 50 ms in every case.

The cases, in order (the collector's state grows as they go):

* idle, no agents (the baseline);
* 1 000 connections that send nothing and 200 slowloris clients sending a header byte a second, each
  held ``--hold`` seconds (past the header timeout), then what each had got; requests with a 1 MB
  header (the HTTP layer's limits: ``serve --help``);
* a 4 MB body of 195 047 one-byte gzip members (each member ~21 bytes);
* 400 stacked ``Content-Encoding: gzip`` layers;
* a gzip bomb: 4 KB on the wire, 4 MB of zeros inflated (two layers: 4 MB twice);
* then 10 000 agents are added (one model each), and: idle again; ``GET /metrics``;
  ``GET /api/agents``; ``GET /api/snapshot``;
* a big valid batch (16 000 events, 3.4 MB of JSON), plain and gzip.

For each case it also prints what the hostile requests got: their count, status codes, the median
time of one and the size of its answer. The machine is shared: compare ratios within one run.
Linux only (``/proc``). Binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import multiprocessing
import random
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _procs import COLLECTOR, start_server

ROOT = Path(__file__).resolve().parent.parent
PROBE_INTERVAL_S = 0.010
GOAL_P99_MS = 50.0
AGENTS = 10_000


# ------------------------------------------------------------------------- the prober
def probe(port: int, stop: EventType, out: Connection) -> None:
    """Time ``GET /healthz`` every :data:`PROBE_INTERVAL_S` until ``stop``; send (sent at, seconds)."""
    samples: list[tuple[float, float]] = []
    failures: list[float] = []
    connection: http.client.HTTPConnection | None = None
    while not stop.is_set():
        sent = time.monotonic()
        try:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise http.client.HTTPException(f"status {response.status}")
        except (OSError, http.client.HTTPException):
            failures.append(sent)
            if connection is not None:
                connection.close()
            connection = None
            stop.wait(PROBE_INTERVAL_S)
            continue
        samples.append((sent, time.monotonic() - sent))
        stop.wait(PROBE_INTERVAL_S)
    out.send((samples, failures))


class Prober:
    def __init__(self, port: int) -> None:
        self._stop = multiprocessing.Event()
        self._receive, send = multiprocessing.Pipe(duplex=False)
        self._process = multiprocessing.Process(target=probe, args=(port, self._stop, send), daemon=True)
        self._process.start()

    def finish(self) -> tuple[list[tuple[float, float]], list[float]]:
        self._stop.set()
        result: tuple[list[tuple[float, float]], list[float]] = self._receive.recv()
        self._process.join()
        return result


# --------------------------------------------------------------------------- the cases
@dataclass
class Outcome:
    """What the hostile requests of one case got."""

    statuses: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    answer_bytes: int = 0
    #: The statuses are what each connection held had got by the case's end.
    held: bool = False

    def summary(self) -> str:
        if not self.seconds:
            return "-"
        if self.held:
            got = ", ".join(f"{n} {code}" for code, n in sorted(self.statuses.items()))
            return f"at the end: {got}"
        codes = ",".join(f"{code}" if n == 1 else f"{code}×{n}" for code, n in sorted(self.statuses.items()))
        size = _size(self.answer_bytes)
        return f"{len(self.seconds)} × {codes}, {statistics.median(self.seconds) * 1e3:,.0f} ms each, {size}"


Request = Callable[[httpx.Client], httpx.Response]


def post(body: bytes, encoding: str | None = None, content_type: str = "application/json") -> Request:
    headers = {"Content-Type": content_type}
    if encoding:
        headers["Content-Encoding"] = encoding
    return lambda client: client.post("/api/events", content=body, headers=headers)


def get(path: str) -> Request:
    return lambda client: client.get(path)


def event(agent: int, rng: random.Random) -> dict[str, object]:
    return {
        "agent_id": f"agent-{agent:05d}",
        "span_type": "llm_call",
        "model": "gpt-4o",
        "tokens_input": rng.randint(100, 3000),
        "tokens_output": rng.randint(10, 400),
        "latency_ms": round(rng.lognormvariate(6.5, 0.5), 1),
        "cost_usd": 0.01,
        "message": "x" * 40,
    }


def many_members() -> bytes:
    return gzip.compress(b" ") * 195_047


def stacked_layers(layers: int) -> bytes:
    body = b"{}"
    for _ in range(layers):
        body = gzip.compress(body)
    return body


def bomb() -> bytes:
    return gzip.compress(gzip.compress(b"[" + b" " * (4 * 1024 * 1024 - 2) + b"]", 9), 9)


def big_batch(rng: random.Random) -> bytes:
    return json.dumps([event(rng.randrange(AGENTS), rng) for _ in range(16_000)]).encode()


def add_agents(client: httpx.Client, rng: random.Random) -> None:
    for start in range(0, AGENTS, 1000):
        batch = [event(agent, rng) for agent in range(start, start + 1000)]
        client.post("/api/events", json=batch).raise_for_status()
    agents = client.get("/healthz").json()["agents"]
    assert agents == AGENTS, f"{agents} agents tracked, not {AGENTS}"


Load = Callable[[httpx.Client, float], Outcome]


def repeat(request: Request) -> Load:
    """One hostile request after another for ``seconds`` (at least one)."""

    def load(client: httpx.Client, seconds: float) -> Outcome:
        outcome = Outcome()
        started = time.monotonic()
        while not outcome.seconds or time.monotonic() - started < seconds:
            sent = time.perf_counter()
            response = request(client)
            outcome.seconds.append(time.perf_counter() - sent)
            outcome.statuses[str(response.status_code)] += 1
            outcome.answer_bytes = len(response.content)
        return outcome

    return load


def held(load: Load, seconds: float) -> Load:
    """``load`` for ``seconds`` whatever the case duration (long enough for the server's timeouts)."""
    return lambda client, _: load(client, seconds)


def idle(client: httpx.Client, seconds: float) -> Outcome:
    time.sleep(seconds)
    return Outcome()


def answer_of(sock: socket.socket) -> str:
    """The status code a connection was answered with, "closed" or "open" (nothing yet)."""
    sock.setblocking(False)
    try:
        head = sock.recv(64)
    except BlockingIOError:
        return "open"
    except OSError:
        return "reset"
    if not head:
        return "closed"
    parts = head.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 else "?"


def idle_connections(port: int, count: int) -> Load:
    """``count`` connections that send nothing, held for the case; what each got at its end."""

    def load(client: httpx.Client, seconds: float) -> Outcome:
        outcome = Outcome(held=True)
        sockets = []
        started = time.perf_counter()
        for _ in range(count):
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        time.sleep(seconds)
        for sock in sockets:
            outcome.statuses[answer_of(sock)] += 1
            sock.close()
        outcome.seconds.append(time.perf_counter() - started)
        return outcome

    return load


def slowloris(port: int, count: int) -> Load:
    """``count`` clients sending their headers one byte a second, never finishing them."""

    def load(client: httpx.Client, seconds: float) -> Outcome:
        outcome = Outcome(held=True)
        started = time.perf_counter()
        sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        for sock in sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for sock in sockets:
                try:
                    sock.send(b"a")
                except OSError:
                    pass
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
        for sock in sockets:
            outcome.statuses[answer_of(sock)] += 1
            sock.close()
        outcome.seconds.append(time.perf_counter() - started)
        return outcome

    return load


def huge_header(port: int, size: int) -> Load:
    """Requests whose one header is ``size`` bytes, one after another."""
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: " + b"a" * size + b"\r\n\r\n"

    def load(client: httpx.Client, seconds: float) -> Outcome:
        outcome = Outcome()
        started = time.monotonic()
        while not outcome.seconds or time.monotonic() - started < seconds:
            sent = time.perf_counter()
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                try:
                    sock.sendall(head)
                except OSError:
                    pass  # the server answered and closed before reading it all
                sock.setblocking(True)
                try:
                    answer = sock.recv(64)
                except OSError:
                    answer = b""
            parts = answer.split(b" ", 2)
            outcome.statuses[parts[1].decode() if len(parts) > 1 else "reset"] += 1
            outcome.seconds.append(time.perf_counter() - sent)
        return outcome

    return load


# ------------------------------------------------------------------------------ report
def _size(count: int) -> str:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count} B"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per case, at least one request")
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout whose collector runs")
    parser.add_argument("--connections", type=int, default=1000, help="idle connections held in that case")
    parser.add_argument(
        "--hold",
        type=float,
        default=12.0,
        help="seconds idle and slowloris connections are held (default 12)",
    )
    options = parser.parse_args()
    rng = random.Random(1)
    print("building bodies ...", flush=True)
    bodies = {
        "members": many_members(),
        "layers": stacked_layers(400),
        "bomb": bomb(),
        "batch": big_batch(rng),
    }
    batch_gzip = gzip.compress(bodies["batch"], 5)
    process, url = start_server(COLLECTOR, options.source.resolve())
    port = int(url.rsplit(":", 1)[1])
    cases: list[tuple[str, Load | None]] = [
        ("idle, no agents (baseline)", idle),
        (
            f"{options.connections:,}".replace(",", " ") + f" idle connections, {options.hold:g} s",
            held(idle_connections(port, options.connections), options.hold),
        ),
        (f"200 slowloris clients, {options.hold:g} s", held(slowloris(port, 200), options.hold)),
        ("1 MB header", huge_header(port, 1 << 20)),
        (f"gzip: 195 047 members, {_size(len(bodies['members']))}", repeat(post(bodies["members"], "gzip"))),
        ("gzip: 400 stacked layers", repeat(post(bodies["layers"], ", ".join(["gzip"] * 400)))),
        (
            f"gzip bomb, 2 layers: {_size(len(bodies['bomb']))} → 4.2 MB",
            repeat(post(bodies["bomb"], "gzip, gzip")),
        ),
        ("(add 10 000 agents)", None),
        ("idle, 10 000 agents", idle),
        ("GET /metrics, 10 000 agents", repeat(get("/metrics"))),
        ("GET /api/agents, 10 000 agents", repeat(get("/api/agents"))),
        ("GET /api/snapshot, 10 000 agents", repeat(get("/api/snapshot"))),
        (f"big valid batch: 16 000 events, {_size(len(bodies['batch']))}", repeat(post(bodies["batch"]))),
        (f"big valid batch, gzip: {_size(len(batch_gzip))}", repeat(post(batch_gzip, "gzip"))),
    ]
    windows: list[tuple[str, float, float, Outcome]] = []
    try:
        with httpx.Client(base_url=url, timeout=120) as client:
            prober = Prober(port)
            time.sleep(0.5)  # the prober's first connection
            for name, load in cases:
                if load is None:
                    add_agents(client, rng)
                    continue
                print(f"  {name} ...", flush=True)
                started = time.monotonic()
                outcome = load(client, options.seconds)
                windows.append((name, started, time.monotonic(), outcome))
                time.sleep(0.5)  # let the collector settle before the next case
            samples, failures = prober.finish()
    finally:
        process.terminate()
        process.wait()

    print()
    print(
        f"collector: {options.source.resolve()}, probe every {PROBE_INTERVAL_S * 1e3:.0f} ms, goal p99 ≤ {GOAL_P99_MS:.0f} ms"
    )
    header = f"{'case':<48} {'probes':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>9} {'p99 ×idle':>9}  hostile requests"
    print(header)
    print("-" * len(header))
    baseline: float | None = None
    missed = []
    for name, started, ended, outcome in windows:
        latencies = [seconds * 1e3 for sent, seconds in samples if started <= sent < ended]
        lost = sum(1 for sent in failures if started <= sent < ended)
        if not latencies:
            print(f"{name:<48} {'0':>6}  (no probe answered; {lost} failed)  {outcome.summary()}")
            missed.append(name)
            continue
        p50, p99, worst = percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)
        baseline = baseline or p99
        ratio = p99 / baseline
        failed = f" ({lost} failed)" if lost else ""
        print(
            f"{name:<48} {len(latencies):>6} {p50:>8.1f} {p99:>8.1f} {worst:>9.1f} {ratio:>9.1f}  "
            f"{outcome.summary()}{failed}"
        )
        if p99 > GOAL_P99_MS or lost:
            missed.append(name)
    print()
    print("goal met in every case" if not missed else f"goal missed: {'; '.join(missed)}")


if __name__ == "__main__":
    main()
