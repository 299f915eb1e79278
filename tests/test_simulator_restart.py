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


def events_per_second(url: str) -> float:
    try:
        return float(
            httpx.get(url + PATH_SNAPSHOT, params={"limit": "0"}, timeout=5).json()["events_per_second"]
        )
    except httpx.TransportError:
        return 0.0


def test_rates_after_a_restart_match_the_true_rate_once_the_backlog_is_in() -> None:
    collector = CollectorProcess("--no-store")
    sim = simulator(collector.url)
    try:
        wait_until(lambda: events_per_second(collector.url) > 0.8 * RATE, timeout=30)
        collector.kill9()
        outage = time.monotonic()
        wait_until(lambda: time.monotonic() - outage > 4, timeout=10)  # events pile up in the simulator
        collector.restart()
        wait_until(lambda: events_per_second(collector.url) > 0, timeout=30)
        # The backlog arrives at once; before the fix it showed 2-3x the rate for a minute.
        # Once the backlog is in (a few seconds of retry backoff), read the rate for 4 s.
        wait_until(lambda: events_per_second(collector.url) > 0.9 * RATE, timeout=30)
        readings = []
        for _ in range(8):
            readings.append(events_per_second(collector.url))
            due = time.monotonic() + 0.5
            wait_until(lambda due=due: time.monotonic() >= due)
        assert all(0.9 * RATE <= r <= 1.1 * RATE for r in readings), readings
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
