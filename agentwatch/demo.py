"""``agentwatch demo``: an embedded collector, a simulated fleet and the TUI, in one command.

The collector listens on 127.0.0.1 (at a free port unless ``--port`` names one), keeps
everything in memory (the demo never writes to your data directory) and is fed by the
simulator over real HTTP, through the same ingest path real agents use. The screen says the
data is simulated.

Alert rules compare the present with a baseline that takes minutes of data to form, so before
going live the demo feeds the alert engine the simulated fleet's recent past
(:func:`warm_alerts`): the same agents, steady, over the last :func:`history_seconds`, with
their past timestamps, evaluated interval by interval as if they had arrived then. A scenario's
incident then fires its alert as it would on a collector that has watched the fleet for a
while. The history only builds baselines: the dashboard and the log start empty.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

import uvicorn

from agentwatch.collector import ingest
from agentwatch.collector.app import create_app
from agentwatch.collector.server import run_event_loop
from agentwatch.collector.service import Collector, Settings
from agentwatch.protocol import Event, json_encoder
from agentwatch.simulator.fleet import EVENTS_PER_STEP, Fleet
from agentwatch.simulator.sender import run as run_simulator

BANNER = "SIMULATED DATA — agentwatch demo"
#: Simulated history (seconds) fed to the alert engine before going live: at least this much …
HISTORY_MIN: Final = 600.0
#: … and at most this much, however slow the fleet.
HISTORY_MAX: Final = 3600.0
#: History events at most (a fast fleet gets a shorter history, never under the baselines' need).
HISTORY_EVENTS: Final = 400_000


def history_seconds(collector: Collector, agents: int, rate: float) -> float:
    """How much steady history gives every alert rule what it needs to judge at once.

    Baselines need ``min_samples`` evaluations and the longest window full; the new-decision
    rule needs every agent to have made ``new_decision.min_history`` decisions (an agent makes
    one a step, and the slowest agent about half the average number of steps, hence ×4).
    """
    alerts = collector.settings.alerts
    baseline = (alerts.min_samples + 2) * alerts.interval + max(alerts.cost_window, alerts.latency_window)
    decisions = 4 * alerts.new_decision_min_history * agents * EVENTS_PER_STEP / rate
    wanted = min(HISTORY_MAX, max(HISTORY_MIN, baseline, decisions))
    return max(min(wanted, HISTORY_EVENTS / rate), (alerts.min_samples + 2) * alerts.interval)


def warm_alerts(collector: Collector, *, agents: int, rate: float, seed: int, now: float) -> float:
    """Feed ``collector``'s alert engine the steady fleet's last :func:`history_seconds` before
    ``now``; returns those seconds.

    The events are the fleet's own (same seed: same agents and models), decoded as the ingest
    path decodes them, and reach the alert engine only, in steps short enough that no fold
    samples them out.
    """
    seconds = history_seconds(collector, agents, rate)
    fleet = Fleet(agents, seed=seed, scenario="steady", start=now - seconds, rate=rate)
    step = max(0.05, min(1.0, collector.settings.alerts.fold_limit / (2 * rate)))

    def batches() -> Iterator[tuple[float, Sequence[Event]]]:
        t = now - seconds
        while t < now:
            t = min(now, t + step)
            produced = fleet.events_until(t)
            body = json_encoder.encode(produced)
            yield t, ingest.decode_events(body, "application/json", now=t)[0] if produced else []

    collector.alerts.warm(batches())
    return seconds


@dataclass
class EmbeddedCollector:
    """A collector (and optionally a simulator) running in a background thread's event loop."""

    agents: int = 12
    rate: float = 60.0
    seed: int | None = None
    scenario: str = "steady"
    simulate: bool = True
    port: int = 0
    url: str = ""
    #: Seconds of simulated history the alert baselines were built from (0 when not simulating).
    history: float = 0.0
    #: The collector's and the simulator's clock (unix seconds); a test may run it faster.
    clock: Callable[[], float] = time.time
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    errors: list[str] = field(default_factory=list)

    def start(self, timeout: float = 10.0) -> str:
        """Bind, build the alert baselines from the fleet's history, serve; returns the URL.
        Raises ``OSError`` when the port is taken."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError:
            sock.close()
            raise
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        if self.seed is None:
            self.seed = int(time.time())
        collector = Collector(Settings(store_path=None, clock=self.clock))
        if self.simulate:
            self.history = warm_alerts(
                collector, agents=self.agents, rate=self.rate, seed=self.seed, now=self.clock()
            )
        config = uvicorn.Config(
            create_app(collector=collector),
            log_level="critical",
            access_log=False,
            timeout_graceful_shutdown=1,
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, args=(sock,), name="agentwatch-demo", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the embedded collector did not start: " + "; ".join(self.errors))
            time.sleep(0.01)
        return self.url

    def _run(self, sock: socket.socket) -> None:
        try:
            run_event_loop(self._serve(sock))
        except Exception as exc:  # reported by start() or stop()
            self.errors.append(repr(exc))

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started and not server_task.done():
            await asyncio.sleep(0.01)
        sim_task = None
        if self.simulate:
            sim_task = asyncio.create_task(
                run_simulator(
                    self.url,
                    token=None,
                    agents=self.agents,
                    rate=self.rate,
                    seed=self.seed if self.seed is not None else 0,
                    duration=None,
                    scenario=self.scenario,
                    clock=self.clock,
                    stop=self._stop,
                )
            )
        await self._stop.wait()
        if sim_task is not None:
            await asyncio.wait({sim_task}, timeout=2)
        self._server.should_exit = True
        await server_task

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)


def main(namespace: argparse.Namespace) -> int:
    from agentwatch.config import ConfigError, load_config
    from agentwatch.tui.run import run_viewer

    embedded = EmbeddedCollector(
        agents=namespace.agents,
        rate=namespace.rate,
        seed=namespace.seed,
        scenario=namespace.scenario,
        port=getattr(namespace, "port", 0),
    )
    print(
        "agentwatch demo: building the alert baselines from the fleet's simulated history…", file=sys.stderr
    )
    try:
        url = embedded.start()
    except OSError as exc:
        print(
            f"agentwatch demo: cannot listen on 127.0.0.1:{embedded.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    try:
        namespace.url = url
        namespace.token = None
        namespace.config = None
        try:
            config = load_config(namespace)
        except ConfigError as exc:
            print(f"agentwatch: {exc}")
            return 2
        config.url, config.token = url, None
        return run_viewer(config, banner=BANNER)
    finally:
        embedded.stop()
