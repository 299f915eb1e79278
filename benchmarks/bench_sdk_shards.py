"""The SDK given several collectors: what sharding costs an agent, and how fast it fails over.

    python benchmarks/bench_sdk_shards.py [--events 20000] [--rounds 5]

1. Sending: one agent records ``--events`` inference events as fast as it can, then flushes,
   into real collectors (``agentwatch serve --no-store`` subprocesses): with one URL (the
   baseline) and with three URLs, all up (the agent sends to the one its id ranks first). Per
   round, in alternating order: the wall time from the first record to the end of the flush and
   the sender thread's CPU time (its own clock), per event. Medians over the rounds, and the
   ratio to the baseline.
2. Failover and back: three collectors, batches of 100 events recorded and flushed every 20 ms.
   The agent's collector is killed (SIGKILL) and, a second later, started again on its port. It
   prints how long the first flush after the kill took (the batch went to the next collector),
   how long after the restarted collector answered the agent's batches were on it again, and
   the events recorded against those the three collectors counted (none lost).

The machine is shared: compare within one run, not across runs.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time

import httpx

from agentwatch.protocol import PATH_HEALTH
from agentwatch.sdk import AgentTelemetry
from agentwatch.sdk.shards import rank


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Collector:
    """``agentwatch serve`` on a fixed port, so it can be killed and started again there."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = self.start()

    def start(self) -> subprocess.Popen[bytes]:
        command = ["serve", "--port", str(self.port), "--otlp-grpc-port", "0", "--no-store"]
        process = subprocess.Popen(
            [sys.executable, "-m", "agentwatch", *command],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.events() is not None:
                return process
            time.sleep(0.02)
        process.kill()
        raise RuntimeError(f"collector did not answer at {self.url}")

    def events(self) -> int | None:
        try:
            return int(httpx.get(self.url + PATH_HEALTH, timeout=1).json()["events_total"])
        except httpx.TransportError:
            return None

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def sender_cpu_seconds(telemetry: AgentTelemetry) -> float:
    """The sender thread's own CPU clock."""
    ident = telemetry.sender_thread_ident
    assert ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(ident))


def agent_preferring(url: str, urls: list[str]) -> str:
    return next(f"bench-{i}" for i in range(10_000) if rank(f"bench-{i}", urls)[0] == url)


def send_round(urls: list[str], agent_id: str, events: int) -> tuple[float, float]:
    """(wall seconds, sender CPU seconds) to record and flush ``events`` events."""
    if len(urls) == 1:
        telemetry = AgentTelemetry(agent_id, url=urls[0], heartbeat_interval=None, max_queue=events + 1)
    else:
        telemetry = AgentTelemetry(agent_id, urls=urls, heartbeat_interval=None, max_queue=events + 1)
    try:
        cpu = sender_cpu_seconds(telemetry)
        start = time.perf_counter()
        for i in range(events):
            telemetry.llm_call("gpt-4o", 1200, 300, 800.0 + i % 100)
        assert telemetry.flush(60.0)
        wall = time.perf_counter() - start
        cpu = sender_cpu_seconds(telemetry) - cpu
        stats = telemetry.stats()
        assert stats["sent"] == events and stats.get("failovers", 0) == 0, stats
        return wall, cpu
    finally:
        telemetry.close(1.0)


def bench_sending(collectors: list[Collector], events: int, rounds: int) -> None:
    urls = [collector.url for collector in collectors]
    agent_id = agent_preferring(urls[0], urls)
    setups = {"one URL (baseline)": [urls[0]], "three URLs, all up": urls}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in setups}
    for round_ in range(rounds):
        order = list(setups) if round_ % 2 == 0 else list(reversed(setups))
        for name in order:
            results[name].append(send_round(setups[name], agent_id, events))
    print(f"1. sending {events} events, medians of {rounds} rounds in alternating order")
    print(f"   {'':<22}{'wall ms':>10}{'µs/event':>10}{'sender CPU µs/event':>21}{'ratio':>8}")
    base_cpu = statistics.median(cpu for _, cpu in results["one URL (baseline)"])
    for name, samples in results.items():
        wall = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        print(
            f"   {name:<22}{wall * 1000:>10.1f}{wall / events * 1e6:>10.2f}"
            f"{cpu / events * 1e6:>21.2f}{cpu / base_cpu if base_cpu else float('nan'):>8.2f}"
        )


def bench_failover(collectors: list[Collector]) -> None:
    urls = [collector.url for collector in collectors]
    first = collectors[0]
    telemetry = AgentTelemetry(
        agent_preferring(first.url, urls), urls=urls, heartbeat_interval=None, flush_interval=0.02
    )
    before = {collector.url: collector.events() or 0 for collector in collectors}
    recorded = 0

    def batch() -> float:
        nonlocal recorded
        start = time.perf_counter()
        for i in range(100):
            telemetry.llm_call("gpt-4o", 1200, 300, 800.0 + i)
        recorded += 100
        assert telemetry.flush(30.0)
        return time.perf_counter() - start

    steady = statistics.median(batch() for _ in range(20))
    first_counted = (first.events() or 0) - before[first.url]
    first.kill()
    after_kill = batch()
    moved_to = telemetry.collector
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        batch()
        time.sleep(0.02)
    first.process = first.start()
    answered = time.perf_counter()
    while telemetry.collector != first.url and time.perf_counter() - answered < 60:
        batch()
        time.sleep(0.02)
    back_after = time.perf_counter() - answered
    for _ in range(10):
        batch()
    telemetry.close(5.0)
    stats = telemetry.stats()
    counted = first_counted + (first.events() or 0)  # the restarted collector counts from zero
    counted += sum((collector.events() or 0) - before[collector.url] for collector in collectors[1:])
    print("2. failover and back (batches of 100 events, a flush after each)")
    print(f"   flush of a batch, steady:              {steady * 1000:8.2f} ms")
    print(
        f"   first flush after kill -9:             {after_kill * 1000:8.2f} ms  (went to the next: {moved_to != first.url})"
    )
    print(f"   back on the restarted collector:       {back_after * 1000:8.0f} ms  after it answered again")
    print(f"   events recorded {recorded}, sent {stats['sent']}, counted by the collectors {counted}")
    print(f"   failovers {stats['failovers']}, failbacks {stats['failbacks']}, failed {stats['failed']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    collectors = [Collector() for _ in range(3)]
    try:
        bench_sending(collectors, args.events, args.rounds)
        bench_failover(collectors)
    finally:
        for collector in collectors:
            collector.stop()


if __name__ == "__main__":
    main()
