"""``agentwatch serve``: run the collector under uvicorn (uvloop + httptools when installed).

The HTTP connections are bounded before any route (:mod:`agentwatch.collector.httpguard`, with the
numbers of :mod:`agentwatch.collector.httplimits`); a stop ends the viewers' streams at once, so
SIGTERM or Ctrl-C exits as soon as the store is flushed.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import errno
import importlib
import ipaddress
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final

import uvicorn

from agentwatch.collector import compiled, httplimits
from agentwatch.collector.app import create_app, stop_streams
from agentwatch.collector.budgets import Budgets
from agentwatch.collector.config import AlertSettings, ConfigError, load_config
from agentwatch.collector.httpguard import CollectorServer, guarded_protocol
from agentwatch.collector.service import Settings, default_store_path
from agentwatch.collector.totals import DEFAULT_EXPORTED_AGENTS
from agentwatch.pricing import set_prices
from agentwatch.protocol import DEFAULT_OTLP_GRPC_PORT, normalize_token, token_problem

#: Seconds between two returns of the C heap's free memory to the system (see :class:`HeapTrimmer`).
HEAP_TRIM_INTERVAL: Final = 1.0
#: Seconds requests under way get to finish once a stop begins (viewers' streams end at once).
SHUTDOWN_GRACE: Final = 1


class ServeError(Exception):
    """A setting the collector refuses to start with; the message says why and what to do."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_from_args(namespace: argparse.Namespace) -> str | None:
    """The token ``--token`` (else ``AGENTWATCH_TOKEN``) gives, trimmed as clients trim it.

    An empty variable means none; a token that is blank once trimmed, or not printable ASCII,
    is a :class:`ServeError`: the collector would start, then refuse every client.
    """
    for source, raw in (
        ("--token", namespace.token),
        ("AGENTWATCH_TOKEN", os.environ.get("AGENTWATCH_TOKEN")),
    ):
        if raw is None or (raw == "" and source != "--token"):
            continue
        token = normalize_token(raw)
        if token is None:
            raise ServeError(f"{source} is empty once surrounding whitespace is removed: give a real token")
        problem = token_problem(token)
        if problem is not None:
            raise ServeError(f"{source} {problem}")
        return token
    return None


def settings_from_args(namespace: argparse.Namespace) -> Settings:
    token = token_from_args(namespace)
    if not is_loopback(namespace.host) and not token and not namespace.insecure:
        raise ServeError(
            f"refusing to listen on {namespace.host} without a token: anyone who can reach this address "
            "could send events and read every agent's logs. Set --token (or AGENTWATCH_TOKEN), "
            "or pass --insecure if the network is trusted."
        )
    if namespace.no_store:
        store_path = None
    else:
        store_path = Path(namespace.store) if namespace.store else default_store_path()
    window = namespace.window
    alerts = AlertSettings()
    budgets = Budgets()
    config_path = getattr(namespace, "config", None)
    if config_path:
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            raise ServeError(str(exc)) from None
        alerts = config.alerts
        budgets = config.budgets
        if config.prices:  # one table per process: ``serve`` runs one collector
            set_prices(config.prices, cache_prices=config.cache_prices)
        if config.window_seconds is not None:
            window = config.window_seconds
    return Settings(
        window_seconds=window,
        ticks_per_second=namespace.tick,
        max_body=namespace.max_body,
        token=token,
        store_path=store_path,
        sync=namespace.sync,
        alerts=alerts,
        budgets=budgets,
        metrics_agents=getattr(namespace, "metrics_agents", None) or DEFAULT_EXPORTED_AGENTS,
    )


def run_event_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """Run ``main`` in a new event loop — uvloop when installed, as ``uvicorn.run`` would.

    For collectors served from a background thread (the demo, tests). The standard loop
    answers keep-alive requests here late (a delayed-ACK stall), uvloop does not.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    loop = uvloop.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main)
    finally:
        loop.close()


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before starting uvicorn so the real port (for ``--port 0``) can be printed."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.set_inheritable(True)
    return sock


def otlp_grpc_missing() -> str | None:
    """Why OTLP/gRPC cannot run here (a package of the ``otlp`` extra is missing), or None."""
    for module, package in (
        ("grpc", "grpcio"),
        ("opentelemetry.proto.collector.trace.v1.trace_service_pb2", "opentelemetry-proto"),
    ):
        try:
            importlib.import_module(module)
        except ImportError:
            return f"{package} is not installed (pip install 'agentwatch[otlp]')"
    return None


def plan_otlp_grpc(namespace: argparse.Namespace, settings: Settings, http_port: int) -> int | None:
    """Whether OTLP/gRPC listens, and on which port: set in ``settings`` and returned (None = off).

    It binds the HTTP host. The default port is taken when grpcio is installed and the port is
    free; otherwise the collector runs without gRPC and says why on stderr. A port asked for with
    ``--otlp-grpc-port`` that cannot be bound is a :class:`ServeError`; 0 turns gRPC off silently.
    """
    requested: int | None = getattr(namespace, "otlp_grpc_port", None)
    port = DEFAULT_OTLP_GRPC_PORT if requested is None else requested
    if port == 0:
        return None
    missing = otlp_grpc_missing()
    if missing is not None:
        print(f"agentwatch: OTLP/gRPC is off: {missing}", file=sys.stderr)
        return None
    host = namespace.host
    try:
        if port == http_port:
            raise OSError(errno.EADDRINUSE, "the HTTP port")
        bind_socket(host, port).close()  # grpc binds in the event loop: find out now, and say so
    except OSError as exc:
        problem = f"cannot listen on {host}:{port} for OTLP/gRPC: {exc.strerror}"
        if requested is not None:
            raise ServeError(problem) from None
        print(
            f"agentwatch: OTLP/gRPC is off: {problem} (--otlp-grpc-port N takes another port, 0 turns it off)",
            file=sys.stderr,
        )
        return None
    settings.otlp_grpc_host = host.strip("[]")
    settings.otlp_grpc_port = port
    return port


def glibc_malloc_trim() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)`` as a function, or None where there is none (not glibc: macOS, musl…)."""
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return None
        trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, ValueError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


class HeapTrimmer:
    """A daemon thread that hands the C heap's free pages back to the system every ``interval`` s.

    Why: while the collector is short of CPU (a busy machine), buffers larger than Python's
    small-object allocator takes (request bodies, SSE batches, big lists) pile up in glibc's heap.
    Once they are freed, glibc keeps the pages — it returns only the top of the heap, and only past
    a threshold it raises as it goes — so RSS rose by the size of each new worst burst and stayed
    there. ``malloc_trim(0)`` releases the free pages anywhere in the heap (``madvise``); it runs
    without the GIL and is cheap enough to run once a second. Does nothing where
    :func:`glibc_malloc_trim` finds no glibc.
    """

    def __init__(self, interval: float = HEAP_TRIM_INTERVAL) -> None:
        self.interval = interval
        self.trims = 0
        self._trim = glibc_malloc_trim()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return self._trim is not None

    def start(self) -> HeapTrimmer:
        if self._trim is not None and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="agentwatch-heap-trim", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        assert self._trim is not None
        while not self._stop.wait(self.interval):
            self._trim()
            self.trims += 1


def _stop_quietly(signum: int, frame: object) -> None:
    """SIGTERM once uvicorn has stopped (it sends the signal it stopped on again): exit 0."""


def main(namespace: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(namespace)
        limits, limits_note = httplimits.fit_open_files(httplimits.from_arguments(namespace))
    except (ServeError, httplimits.LimitError) as exc:
        print(f"agentwatch: {exc}", file=sys.stderr)
        return 2
    try:
        sock = bind_socket(namespace.host, namespace.port)
    except OSError as exc:
        print(
            f"agentwatch: cannot listen on {namespace.host}:{namespace.port}: {exc.strerror}", file=sys.stderr
        )
        return 1
    host, port = sock.getsockname()[:2]
    try:
        grpc_port = plan_otlp_grpc(namespace, settings, port)
    except ServeError as exc:
        sock.close()
        print(f"agentwatch: {exc}", file=sys.stderr)
        return 1
    shown_host = f"[{host}]" if ":" in host else host
    store = settings.store_path or "off (--no-store)"
    grpc = f"  OTLP/gRPC on {shown_host}:{grpc_port}" if grpc_port is not None else ""
    print(f"agentwatch collector on http://{shown_host}:{port}{grpc}  store: {store}", flush=True)
    if limits_note is not None:
        print(f"agentwatch: {limits_note}", file=sys.stderr)
    compiled_note = compiled.note()
    if compiled_note is not None:
        print(f"agentwatch: {compiled_note}", file=sys.stderr)
    app = create_app(settings)
    protocol = guarded_protocol(limits)
    app.state.connections = protocol.counts
    config = uvicorn.Config(
        app,
        log_level=namespace.log_level,
        http=protocol,
        ws="none",
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
        access_log=False,
    )
    server = CollectorServer(config, on_stopping=lambda: stop_streams(app))
    trimmer = HeapTrimmer().start()
    previous = signal.signal(signal.SIGTERM, _stop_quietly)
    try:
        server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
        trimmer.stop()
    # uvicorn raises the signal again once stopped: Ctrl-C is normally a KeyboardInterrupt (130) from
    # there, but with SIGINT ignored at start (a shell's background job) the raise does nothing.
    return 130 if server.stop_signal == signal.SIGINT else 0
