"""What the tests share: a fixed time and a clock moved by hand, waiting for a condition, the
collector run for real on 127.0.0.1 (served in a thread, or as an ``agentwatch serve`` process),
and what the viewer shows.

Import from any test as ``from tests.helpers import ...``; fixtures stay in ``conftest.py``. The
collector and the viewer are imported where they are used, so a child process can take
:func:`wait_until` without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx
import msgspec
import uvicorn
from httpx_sse import connect_sse

from agentwatch.protocol import PATH_EVENTS, PATH_HEALTH, PATH_LOGS_STREAM, SSE_LOG, LogEntry

if TYPE_CHECKING:
    from textual.app import App

    from agentwatch.collector.service import Collector
    from agentwatch.protocol import Alert
    from agentwatch.simulator import Fleet

T = TypeVar("T")

#: A fixed unix time (2023-11-14 22:13:20 UTC) for tests in simulated time.
NOW = 1_700_000_000.0

#: Seconds any awaited condition gets by default: generous, a loaded 2-core machine is slow, not wrong.
WAIT_TIMEOUT = 10.0
POLL_INTERVAL = 0.005


class Clock:
    """A clock the test moves by hand, in unix seconds: pass it wherever code takes ``clock=``."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# ---------------------------------------------------------------- waiting for a condition
class _Deadline:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._end = time.monotonic() + timeout

    def check(self) -> None:
        if time.monotonic() > self._end:
            raise AssertionError(f"condition not met within {self.timeout} s")


def wait_until(condition: Callable[[], T], timeout: float = WAIT_TIMEOUT) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail after ``timeout`` s."""
    deadline = _Deadline(timeout)
    while not (result := condition()):
        deadline.check()
        time.sleep(POLL_INTERVAL)
    return result


class _Pilot(Protocol):
    def pause(self, delay: float | None = None) -> Awaitable[None]: ...


async def async_wait_until(
    condition: Callable[[], T], timeout: float = WAIT_TIMEOUT, *, pilot: _Pilot | None = None
) -> T:
    """:func:`wait_until` inside a coroutine: the event loop (with a Textual ``pilot``, the app and
    its timers) runs between checks."""
    deadline = _Deadline(timeout)
    while not (result := condition()):
        deadline.check()
        if pilot is not None:
            await pilot.pause(POLL_INTERVAL * 4)
        else:
            await asyncio.sleep(POLL_INTERVAL)
    return result


# ---------------------------------------------------------------- a collector in a thread
@dataclass
class RunningCollector:
    """A collector serving on 127.0.0.1; ``service`` is its in-process state for white-box checks."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    service: Any
    token: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def post(self, events: list[dict[str, Any]] | dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POST events to the real ingest endpoint (synchronously)."""
        return httpx.post(self.url + PATH_EVENTS, json=events, headers=self.headers(), timeout=10, **kwargs)

    async def apost(self, events: list[dict[str, Any]] | dict[str, Any]) -> httpx.Response:
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.url + PATH_EVENTS, json=events, headers=self.headers())

    def stop(self) -> None:
        if isinstance(self.server, _Server):
            self.server.exit()
        self.server.should_exit = True
        self.thread.join(timeout=10)


class _Server(uvicorn.Server):
    """uvicorn's server, which also looks at ``should_exit`` as soon as :meth:`exit` sets it, instead
    of at its next tick (every 0.1 s: half of that on average, at each collector a test stops)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _wake: asyncio.Event | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864_000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    def exit(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop has already ended
                loop.call_soon_threadsafe(wake.set)


def serve_in_thread(app: Any, *, host: str = "127.0.0.1") -> tuple[uvicorn.Server, threading.Thread, int]:
    """Run ``app`` under uvicorn in a daemon thread on an ephemeral port; return once it accepts."""
    from agentwatch.collector.server import run_event_loop

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, access_log=False)
    server = _Server(config)
    thread = threading.Thread(target=lambda: run_event_loop(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive())
    except AssertionError:
        raise RuntimeError("server did not start") from None
    if not server.started:
        raise RuntimeError("server stopped while starting")
    return server, thread, port


def start_in_thread(**settings: Any) -> RunningCollector:
    """A collector of ``Settings(**settings)`` (no store unless ``store_path`` names one) served in
    a thread; for fixtures that outlive one test (the ``start_collector`` fixture uses it too)."""
    from agentwatch.collector.app import create_app
    from agentwatch.collector.service import Collector, Settings

    settings.setdefault("store_path", None)
    service = Collector(Settings(**settings))
    server, thread, port = serve_in_thread(create_app(collector=service))
    return RunningCollector(f"http://127.0.0.1:{port}", server, thread, service, token=settings.get("token"))


# ---------------------------------------------------------------- a collector process
class CollectorProcess:
    """``agentwatch serve`` as a real process on 127.0.0.1; the constructor returns once it accepts.

    ``args`` follow ``serve --host 127.0.0.1 --port 0 --otlp-grpc-port 0`` (a later option wins, so no
    gRPC listener unless asked for); ``launcher`` is what follows the interpreter: ``-m agentwatch``
    by default, or ``-c CODE ...`` for code that prepares the process, then runs the command line.
    :meth:`kill9` and :meth:`stop` end it; :meth:`restart` starts it again with the same arguments on
    the same port.
    """

    def __init__(
        self, *args: str, launcher: Sequence[str] = ("-m", "agentwatch"), timeout: float = 15.0
    ) -> None:
        self.args = args
        self.launcher = tuple(launcher)
        self.timeout = timeout
        self.process = self._start(*args)
        self.url = self._read_url()
        self.port = int(self.url.rsplit(":", 1)[1])
        wait_until(self._accepts, timeout=timeout)

    def _start(self, *args: str) -> subprocess.Popen[str]:
        command = ["serve", "--host", "127.0.0.1", "--port", "0", "--otlp-grpc-port", "0", *args]
        return subprocess.Popen(
            [sys.executable, *self.launcher, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _read_url(self) -> str:
        """The URL the command prints on its first line once its socket is bound."""
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], self.timeout)
        line = stdout.readline() if ready else ""
        if "http://" not in line:
            self.stop()
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"collector did not start: {line!r} {stderr}")
        return next(word for word in line.split() if word.startswith("http://"))

    def _accepts(self) -> bool:
        try:  # 401: up, and asking for its token
            return httpx.get(self.url + PATH_HEALTH, timeout=1).status_code in (200, 401)
        except httpx.TransportError:
            return False

    def kill9(self) -> None:
        """``kill -9``: no flush, no shutdown."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Ctrl-C (SIGINT) and wait for a clean exit; SIGKILL if it takes over 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def close(self) -> None:
        """Stop, and close the pipes of its output."""
        self.stop()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def restart(self) -> None:
        """Start again, stopped or killed first, with the same arguments on the same port."""
        if self.process.poll() is None:
            raise AssertionError("restart a collector process once it is stopped or killed")
        url = self.url
        self.close()
        self.process = self._start(*self.args, "--port", str(self.port))
        self.url = self._read_url()
        assert self.url == url, (self.url, url)
        wait_until(self._accepts, timeout=self.timeout)


class PtyCommand:
    """``python -m agentwatch ARGS`` in a pseudo-terminal of ``columns`` x ``lines``, free of the
    caller's AGENTWATCH_* and size settings; ``output`` is every byte it wrote."""

    def __init__(self, *args: str, columns: int, lines: int, env: dict[str, str] | None = None) -> None:
        import fcntl  # POSIX only: imported where a pseudo-terminal is opened
        import termios

        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AGENTWATCH_") and key not in ("COLUMNS", "LINES", "NO_COLOR")
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentwatch", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**inherited, "TERM": "xterm-256color", **(env or {})},
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def read_until(self, condition: Callable[[], object], timeout: float = 15.0) -> bool:
        """Collect output until ``condition()`` holds (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.1))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the command has exited and closed the terminal
                    chunk = b""
                if not chunk:
                    return bool(condition())
                self.output += chunk
        return True

    def tail(self) -> str:
        """The last of the output, for an assertion's message."""
        return self.output[-2000:].decode("utf-8", "replace")

    def close(self, quit_key: bytes | None = None) -> None:
        """End the command: with ``quit_key``, typed first and given 10 s; killed if still running."""
        if self.process.poll() is None and quit_key is not None:
            os.write(self.master, quit_key)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)


def all_logs(url: str, expected: int, headers: dict[str, str] | None = None) -> list[LogEntry]:
    """The first ``expected`` entries of the collector's log history, read from its log stream."""
    entries: list[LogEntry] = []
    with httpx.Client(timeout=10, headers=headers) as client:
        with connect_sse(client, "GET", url + PATH_LOGS_STREAM, params={"after": "0"}) as source:
            for sse in source.iter_sse():
                if sse.data and sse.event == SSE_LOG:
                    entries.append(msgspec.json.decode(sse.data, type=LogEntry))
                    if len(entries) >= expected:
                        break
    return entries


def store_has_written(url: str, rows: int) -> bool:
    """The collector's ``/healthz`` says its store has committed ``rows`` rows and queues none."""
    health = httpx.get(url + PATH_HEALTH, timeout=10).json()
    return health["store_written_rows"] >= rows and health["store_queued_rows"] == 0


# ---------------------------------------------------------------- what the viewer shows
def header(app: App[Any]) -> str:
    """The viewer's header line, as plain text."""
    from agentwatch.tui.widgets import HeaderBar

    return app.query_one(HeaderBar).plain


def table_row(app: App[Any], agent_id: str) -> str:
    """One agent's row of the agents table as drawn, its cells joined by " | " ("" when absent)."""
    from agentwatch.tui.widgets import AGENT_COLUMNS, AgentTable

    table = app.query_one(AgentTable)
    if agent_id not in table.row_agents():
        return ""
    shown = table.layout_shown.widths if table.layout_shown is not None else {}
    return " | ".join(str(table.get_cell(agent_id, column)) for column, _ in AGENT_COLUMNS if column in shown)


def screen_lines(app: App[Any]) -> list[str]:
    """The current screen as the terminal would show it, one string per row (colour left out)."""
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]


def log_lines(app: App[Any]) -> list[str]:
    """Every line of the log pane, top to bottom."""
    from textual.widgets import Log

    return list(app.query_one(Log).lines)


def screen_text(app: App[Any]) -> str:
    """Every character of every strip the current screen would write to the terminal, row by row."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def entry_lines(app: App[Any]) -> list[str]:
    """The log pane's lines without its ⚠ marker lines (gaps, dropped entries)."""
    return [line for line in log_lines(app) if not line.startswith("⚠")]


#: Seconds of steady fleet before a scenario: every alert baseline has its minimum of samples by then.
SCENARIO_PREFIX = 600.0
#: Seconds between alert evaluations in :func:`run_scenario`.
SCENARIO_TICK = 10.0


def run_scenario(
    scenario: str, seconds: float, *, prefix: float = SCENARIO_PREFIX
) -> tuple[list[tuple[float, Alert]], Collector, Fleet]:
    """Alert rules in simulated time: feed ``prefix`` s of steady fleet then ``seconds`` of ``scenario``; returns
    (time since scenario start, alert frame) for every state change, the collector, the fleet."""
    from agentwatch.collector import ingest
    from agentwatch.collector.service import Collector, Settings
    from agentwatch.protocol import json_encoder
    from agentwatch.simulator import Fleet

    clock = Clock()
    collector = Collector(Settings(clock=clock))
    steady = Fleet(12, seed=3, scenario="steady", start=NOW, rate=40)
    fleet = Fleet(12, seed=3, scenario=scenario, start=NOW + prefix, rate=40)
    changes: list[tuple[float, Alert]] = []
    collector.evaluate_alerts()
    t = NOW
    for _ in range(int((prefix + seconds) / SCENARIO_TICK)):
        t += SCENARIO_TICK
        clock.now = t
        source = steady if t <= NOW + prefix else fleet
        events, rejected = ingest.decode_events(
            json_encoder.encode(source.events_until(t)), "application/json", now=t
        )
        assert not rejected
        collector.ingest(events)
        changes.extend((t - NOW - prefix, alert) for alert in collector.evaluate_alerts())
    return changes, collector, fleet


# ---------------------------------------------------------------- coding agents' hooks
#: Hook requests captured from the real Claude Code CLI (and its documentation), one JSON line each.
HOOK_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hooks"


def hook_requests(name: str, program: str = "claude-code") -> list[dict[str, Any]]:
    """A fixture's hook requests in order, each ``{"headers": {...}, "body": {...}}``."""
    lines = (HOOK_FIXTURES / program / f"{name}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


async def apost_hook(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None, program: str = "claude-code"
) -> None:
    """POST one hook payload as its program does; fails unless the collector answers 200 ``{}``."""
    from agentwatch.protocol import PATH_HOOKS

    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            f"{url}{PATH_HOOKS}/{program}",
            content=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
    assert (answer.status_code, answer.content) == (200, b"{}"), answer.text
