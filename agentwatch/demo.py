"""``agentwatch demo``: an embedded collector, a simulated fleet and the TUI, in one command.

The collector listens on 127.0.0.1 at a free port, keeps everything in memory (the demo
never writes to your data directory) and is fed by the simulator over real HTTP, through
the same ingest path real agents use. The screen says the data is simulated.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn

from agentwatch.collector.app import create_app
from agentwatch.collector.server import run_event_loop
from agentwatch.collector.service import Settings
from agentwatch.simulator.sender import run as run_simulator

BANNER = "SIMULATED DATA — agentwatch demo"


@dataclass
class EmbeddedCollector:
    """A collector (and optionally a simulator) running in a background thread's event loop."""

    agents: int = 12
    rate: float = 60.0
    seed: int | None = None
    scenario: str = "steady"
    simulate: bool = True
    url: str = ""
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    errors: list[str] = field(default_factory=list)

    def start(self, timeout: float = 10.0) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            create_app(Settings(store_path=None)),
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
                    seed=self.seed if self.seed is not None else int(time.time()),
                    duration=None,
                    scenario=self.scenario,
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
        agents=namespace.agents, rate=namespace.rate, seed=namespace.seed, scenario=namespace.scenario
    )
    url = embedded.start()
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
