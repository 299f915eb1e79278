"""``agentwatch simulate`` against a collector that is killed and restarted: the rate the restarted
collector shows matches the simulator's true rate (its backlog of the outage, sent with the events'
own timestamps, widens the watched part of the window instead of inflating it), and a simulator
whose backlog overflows says so on stderr while it runs."""

from __future__ import annotations

import select
import subprocess
import sys
import time

import httpx

from agentwatch.protocol import PATH_SNAPSHOT
from tests.helpers import CollectorProcess, wait_until

RATE = 400.0


def simulator(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentwatch",
            "simulate",
            "--url",
            url,
            "--rate",
            f"{RATE:g}",
            "--seed",
            "4",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rates(url: str) -> tuple[float, float]:
    """(events per second, USD per minute) the collector shows; zeros while it does not answer."""
    try:
        snapshot = httpx.get(url + PATH_SNAPSHOT, params={"limit": "0"}, timeout=5).json()
    except httpx.TransportError:
        return 0.0, 0.0
    return float(snapshot["events_per_second"]), float(snapshot["cost_per_minute"])


def events_per_second(url: str) -> float:
    return rates(url)[0]


def test_rates_after_a_restart_match_the_true_rate_once_the_backlog_is_in() -> None:
    collector = CollectorProcess("--no-store")
    sim = simulator(collector.url)
    try:
        wait_until(lambda: events_per_second(collector.url) > 0.9 * RATE, timeout=30)
        cost_before = rates(collector.url)[1]
        collector.kill9()
        outage = time.monotonic()
        wait_until(lambda: time.monotonic() - outage > 4, timeout=10)  # events pile up in the simulator
        collector.restart()
        wait_until(lambda: events_per_second(collector.url) > 0, timeout=30)
        # The backlog arrives at once; before the fix it showed 2-3x the rate for a minute.
        # Once the backlog is in (a few seconds of retry backoff), read the rate for 4 s.
        wait_until(lambda: events_per_second(collector.url) > 0.9 * RATE, timeout=30)
        readings, costs = [], []
        for _ in range(8):
            events, cost = rates(collector.url)
            readings.append(events)
            costs.append(cost)
            due = time.monotonic() + 0.5
            wait_until(lambda due=due: time.monotonic() >= due)
        assert all(0.9 * RATE <= r <= 1.1 * RATE for r in readings), readings
        # Cost per minute is noisier (token counts vary call to call) but no longer doubled.
        assert all(0.75 * cost_before <= c <= 1.25 * cost_before for c in costs), (cost_before, costs)
    finally:
        sim.terminate()
        sim.communicate(timeout=30)
        collector.close()


def test_simulator_says_it_is_dropping_events_while_it_runs() -> None:
    collector = CollectorProcess("--no-store")
    sim = simulator(collector.url, "--backlog", "200")
    try:
        wait_until(lambda: events_per_second(collector.url) > 0, timeout=30)
        collector.kill9()
        stderr = sim.stderr
        assert stderr is not None
        said: list[str] = []

        def dropping() -> bool:
            if select.select([stderr], [], [], 0.1)[0]:
                said.append(stderr.readline())
            return any("dropping events" in line for line in said)

        wait_until(dropping, timeout=20)
        assert sim.poll() is None  # told while running, not at exit
        line = next(line for line in said if "dropping events" in line)
        assert "dropped so far" in line and "backlog holds 200" in line
    finally:
        sim.terminate()
        sim.communicate(timeout=30)
        collector.close()
