"""The ``agentwatch`` command: argument parsing only; each subcommand lives in its own module.

``agentwatch [URL]`` watches a collector; ``serve``, ``demo``, ``simulate`` and ``status``
are subcommands. Imports are lazy so ``agentwatch status`` never pays for Textual.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agentwatch import __version__, hookcmd
from agentwatch.collector import httplimits
from agentwatch.protocol import DEFAULT_HOST, DEFAULT_OTLP_GRPC_PORT, DEFAULT_PORT

SUBCOMMANDS = ("watch", "serve", "demo", "simulate", "status", "hook", "hooks")
SCENARIOS = ("steady", "burst", "error-spike", "latency-degradation", "cost-drift", "new-decision")
LEVEL_CHOICES = ("debug", "info", "warning", "error")

#: subcommand → "module:function" taking the parsed namespace and returning an exit code.
_HANDLERS = {
    "watch": "agentwatch.tui.run:main",
    "serve": "agentwatch.collector.server:main",
    "demo": "agentwatch.demo:main",
    "simulate": "agentwatch.simulator.command:main",
    "status": "agentwatch.status:main",
    "hook": "agentwatch.hookcmd:main",
    "hooks": "agentwatch.hookcmd:main",
}


def _fps(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 30:
        raise argparse.ArgumentTypeError("must be between 1 and 30")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be between 0 and 65535")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _add_view_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``watch`` and ``demo`` (None = not given, so config/env can apply)."""
    parser.add_argument("--fps", type=_fps, default=None, help="frames per second, 1–30 (default 10)")
    parser.add_argument(
        "--max-lines", type=_positive_int, default=None, help="log lines kept in the pane (default 10000)"
    )
    parser.add_argument("--agent", default=None, help="start with the log filtered to this agent")
    parser.add_argument("--level", choices=LEVEL_CHOICES, default=None, help="start with this minimum level")
    parser.add_argument("--no-bell", action="store_true", default=None, help="never ring the terminal bell")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agentwatch",
        description="Watch a fleet of AI agents live: throughput, latency, errors, cost, health and logs.",
        epilog="Run 'agentwatch demo' to see it on simulated data with nothing to set up.",
    )
    parser.add_argument("--version", action="version", version=f"agentwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    watch = sub.add_parser("watch", help="watch a collector (the default command)")
    watch.add_argument("url", nargs="?", default=None, help="collector URL (default http://127.0.0.1:8787)")
    watch.add_argument("--token", default=None, help="bearer token (or AGENTWATCH_TOKEN)")
    watch.add_argument("--config", default=None, help="config file (default: platform config dir)")
    _add_view_options(watch)

    serve = sub.add_parser("serve", help="run the collector")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    serve.add_argument(
        "--otlp-grpc-port",
        type=_port,
        default=None,
        help=f"OTLP/gRPC port on the same host (default {DEFAULT_OTLP_GRPC_PORT}; 0 turns it off)",
    )
    serve.add_argument("--window", type=_positive_int, default=60, help="window in seconds (default 60)")
    serve.add_argument("--tick", type=_positive_float, default=4.0, help="metrics per second (default 4)")
    store = serve.add_mutually_exclusive_group()
    store.add_argument("--store", default=None, help="SQLite store path (default: platform data dir)")
    store.add_argument("--no-store", action="store_true", help="keep everything in memory only")
    serve.add_argument("--sync", action="store_true", help="make every accepted event durable before 202")
    serve.add_argument("--token", default=None, help="require this bearer token (or AGENTWATCH_TOKEN)")
    serve.add_argument(
        "--max-body", type=_positive_int, default=4 * 1024 * 1024, help="largest request body in bytes"
    )
    serve.add_argument(
        "--metrics-agents",
        type=_positive_int,
        default=None,
        help="agents named at /metrics, the busiest (default 100); the others are summed as _other",
    )
    httplimits.add_arguments(serve)
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback bind without a token")
    serve.add_argument("--config", default=None, help="collector TOML config (alert thresholds)")
    serve.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")

    demo = sub.add_parser("demo", help="collector + simulated fleet + TUI in one command")
    demo.add_argument("--agents", type=_positive_int, default=12, help="simulated agents (default 12)")
    demo.add_argument("--rate", type=_positive_float, default=60.0, help="events per second (default 60)")
    demo.add_argument("--seed", type=int, default=None, help="simulator seed")
    demo.add_argument("--scenario", choices=SCENARIOS, default="steady")
    _add_view_options(demo)

    sim = sub.add_parser("simulate", help="send a simulated fleet's events to a collector")
    sim.add_argument("--url", default=None, help="collector URL (default http://127.0.0.1:8787)")
    sim.add_argument("--token", default=None, help="bearer token (or AGENTWATCH_TOKEN)")
    sim.add_argument("--agents", type=_positive_int, default=12)
    sim.add_argument("--rate", type=_positive_float, default=100.0, help="events per second")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--duration", type=_positive_float, default=None, help="seconds (default: forever)")
    sim.add_argument("--scenario", choices=SCENARIOS, default="steady")

    status = sub.add_parser("status", help="print one snapshot line and exit")
    status.add_argument("url", nargs="?", default=None, help="collector URL (default http://127.0.0.1:8787)")
    status.add_argument("--token", default=None, help="bearer token (or AGENTWATCH_TOKEN)")
    status.add_argument("--format", default=None, help="template, e.g. '{tokens_per_second:.0f} tok/s'")
    status.add_argument("--json", action="store_true", help="print the snapshot as JSON")
    status.add_argument("--timeout", type=_positive_float, default=3.0, help="seconds to wait (default 3)")
    hookcmd.add_parsers(sub)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """``agentwatch [URL] [options]`` means ``agentwatch watch [URL] [options]``."""
    if not argv:
        return ["watch"]
    first = argv[0]
    if first in SUBCOMMANDS or first in ("-h", "--help", "--version"):
        return argv
    return ["watch", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    namespace = build_parser().parse_args(_with_default_command(args))
    module_name, _, function_name = _HANDLERS[namespace.command].partition(":")
    handler = getattr(importlib.import_module(module_name), function_name)
    try:
        return int(handler(namespace) or 0)
    except KeyboardInterrupt:
        return 130
