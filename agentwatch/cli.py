"""The ``agentwatch`` command: argument parsing only; each subcommand lives in its own module.

``agentwatch [URL]`` watches a collector; ``serve``, ``demo``, ``simulate`` and ``status``
are subcommands. Imports are lazy so ``agentwatch status`` never pays for Textual.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final

from agentwatch import __version__, hookcmd
from agentwatch.collector import httplimits
from agentwatch.protocol import DEFAULT_HOST, DEFAULT_OTLP_GRPC_PORT, DEFAULT_PORT

SUBCOMMANDS = ("watch", "serve", "demo", "simulate", "status", "hook", "hooks", "record", "replay", "bundle")
#: What each scenario does (times from the start of the run) and the alert it raises.
SCENARIO_HELP: Final = {
    "steady": "a healthy fleet, 1-2 % of calls failing; raises no alert",
    "burst": "from 30 s, every 60 s: 5x the traffic for 20 s, providers throttle it (429s): error_rate",
    "error-spike": "20-50 s: a third of the agents fail 40 % of their calls: error_rate, critical",
    "latency-degradation": "from 15 s: one model becomes 5x slower within 10 s: latency_regression",
    "cost-drift": "from 15 s: tokens per call grow to 2.5x within 20 s: cost_per_inference",
    "new-decision": "from 30 s: one agent starts deciding issue_refund_without_approval: new_decision",
    "stuck-step": "from 8 s: one agent's LLM call hangs for 150 s, shown in flight and marked stuck past 60 s: stuck",
}
#: The simulator's scenarios, named here so that parsing the command line does not import it.
SCENARIOS = tuple(SCENARIO_HELP)
LEVEL_CHOICES = ("debug", "info", "warning", "error")
SERVER_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
DEFAULT_URL_TEXT = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"

#: subcommand → "module:function" taking the parsed namespace and returning an exit code.
_HANDLERS = {
    "watch": "agentwatch.tui.run:main",
    "serve": "agentwatch.collector.server:main",
    "demo": "agentwatch.demo:main",
    "simulate": "agentwatch.simulator.command:main",
    "status": "agentwatch.status:main",
    "hook": "agentwatch.hookcmd:main",
    "hooks": "agentwatch.hookcmd:main",
    "record": "agentwatch.record:main",
    "replay": "agentwatch.replay:main",
    "bundle": "agentwatch.client.bundle:main",
}


def _number(text: str, kind: type[int] | type[float], what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` (to ``high``); the error says which."""
    what = f"a whole number from {low} to {high}" if high is not None else f"a whole number, at least {low}"

    def convert(text: str) -> int:
        value = int(_number(text, int, what))
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return convert


def _seconds_or_rate(text: str) -> float:
    value = _number(text, float, "a number greater than 0")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number greater than 0, got {text!r}")
    return value


def _any_int(text: str) -> int:
    return int(_number(text, int, "a whole number"))


_fps = _whole(1, 30)
_positive_int = _whole(1)
_port = _whole(0, 65535)
_positive_float = _seconds_or_rate


class _Urls(argparse.Action):
    """Positional collector URLs: all of them in ``urls`` (None when none), the first in ``url``."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        urls = list(values or ())
        namespace.urls = urls or None
        namespace.url = urls[0] if urls else None


def _add_url_options(parser: argparse.ArgumentParser, *, positional: bool, many: bool = False) -> None:
    if positional and many:
        parser.set_defaults(url=None)
        parser.add_argument(
            "urls",
            nargs="*",
            action=_Urls,
            metavar="URL",
            help=f"collector URL; several are watched as one fleet (default {DEFAULT_URL_TEXT})",
        )
    elif positional:
        parser.add_argument(
            "url", nargs="?", default=None, help=f"collector URL (default {DEFAULT_URL_TEXT})"
        )
    parser.add_argument(
        "--url",
        dest="url_option" if positional else "url",
        default=None,
        metavar="URL",
        help=f"collector URL (default $AGENTWATCH_URL, else {DEFAULT_URL_TEXT})",
    )
    parser.add_argument("--token", default=None, help="bearer token (default $AGENTWATCH_TOKEN, else none)")


def _add_view_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``watch`` and ``demo`` (None = not given, so config/env can apply)."""
    parser.add_argument("--fps", type=_fps, default=None, help="frames per second, 1-30 (default 10)")
    parser.add_argument(
        "--max-lines", type=_positive_int, default=None, help="log lines kept in the pane (default 10000)"
    )
    parser.add_argument(
        "--agent", default=None, help="start with the log filtered to this agent (default all)"
    )
    parser.add_argument(
        "--level",
        choices=LEVEL_CHOICES,
        default=None,
        help="start with this minimum log level (default debug)",
    )
    parser.add_argument(
        "--no-bell",
        action="store_true",
        default=None,
        help="never ring the terminal bell (default: ring on alerts)",
    )
    parser.add_argument(
        "--notify",
        default=None,
        metavar="CHANNELS",
        help="tell when a coding-agent session needs you or failed, and when an alert fires: "
        "a comma list of bell, osc9, osc777, tmux (default none)",
    )
    parser.add_argument(
        "--name",
        default=None,
        help="who acknowledges and snoozes alerts from this viewer (default: [viewer] name, else login@host)",
    )
    parser.add_argument(
        "--notify-command",
        default=None,
        metavar="CMD",
        help="also run CMD (split like a shell, never run by one) with each notification as JSON on standard input (default none)",
    )


def _scenario_epilog() -> str:
    width = max(len(name) for name in SCENARIOS)
    lines = [f"  {name:<{width}}  {SCENARIO_HELP[name]}" for name in SCENARIOS]
    return "scenarios (times from the start; the alert each raises):\n" + "\n".join(lines)


def _add_scenario_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="steady",
        metavar="SCENARIO",
        help="what the fleet goes through, see below (default steady)",
    )


def _since(text: str) -> float:
    from agentwatch.client.bundle import parse_since

    try:
        return parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_record_replay_bundle(sub: Any) -> None:
    """``record``, ``replay`` and ``bundle`` (defaults as in agentwatch.record, .replay, .client.bundle)."""
    record = sub.add_parser(
        "record",
        help="record a collector's metrics and log streams to a file",
        description="Record the collector's metrics and log streams as gzip NDJSON (one message a line, with "
        "the time it arrived), in rotating files; survives a collector restart. Replay it with "
        "'agentwatch replay FILE'.",
    )
    _add_url_options(record, positional=True)
    record.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="recording file, FILE.1 … when rotated (required, no default)",
    )
    record.add_argument(
        "--max-bytes",
        type=_whole(4096),
        default=16 * 1024 * 1024,
        help="largest compressed size of one file in bytes, at least 4096 (default 16777216)",
    )
    record.add_argument(
        "--max-files",
        type=_positive_int,
        default=4,
        help="files kept: FILE, FILE.1 …; the oldest is removed (default 4)",
    )
    record.add_argument(
        "--duration", type=_positive_float, default=None, help="seconds to record (default: until Ctrl-C)"
    )
    replay = sub.add_parser(
        "replay",
        help="serve a recording as a collector, for the viewer",
        description="Serve a recording (agentwatch record) on 127.0.0.1 as a collector, at the recorded "
        "pace: watch it with 'agentwatch http://127.0.0.1:PORT'.",
    )
    replay.add_argument(
        "file",
        metavar="FILE",
        help="the recording; its rotated parts FILE.1 … play first (required, no default)",
    )
    replay.add_argument(
        "--speed", type=_positive_float, default=1.0, help="times the recorded pace (default 1)"
    )
    replay.add_argument(
        "--port", type=_port, default=8788, help="port on 127.0.0.1, 0 for any free one (default 8788)"
    )
    replay.add_argument(
        "--start",
        type=_whole(0),
        default=0,
        metavar="SECONDS",
        help="begin this many seconds into the recording (default 0)",
    )
    bundle = sub.add_parser(
        "bundle",
        help="write an incident bundle: snapshot, alerts, analysis, recent logs, summary",
        description="Write what the collector knows about the last minutes to a folder (or .tar.gz): the "
        "snapshot, the alerts and their history, the analysis views, the log lines of the time range and a "
        "summary.md. Prints the path.",
    )
    _add_url_options(bundle, positional=True, many=True)
    bundle.add_argument(
        "--since",
        type=_since,
        default=900.0,
        metavar="DURATION",
        help="how far back the log lines go: 90s, 15m, 1h (default 15m, at most 24h)",
    )
    bundle.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="DIR",
        help="folder to write (default agentwatch-incident-<UTC time>)",
    )
    bundle.add_argument(
        "--tar", action="store_true", help="write DIR.tar.gz instead of a folder (default: a folder)"
    )


class Parser(argparse.ArgumentParser):
    """The top-level parser; ``commands`` maps each subcommand to its own parser, so an option
    a subcommand does not know is reported with that subcommand's usage."""

    commands: dict[str, argparse.ArgumentParser]


def build_parser() -> Parser:
    watch_help = (
        "agentwatch [URL] [options] opens the viewer on the collector at URL (default "
        + DEFAULT_URL_TEXT
        + ")"
    )
    parser = Parser(
        prog="agentwatch",
        usage="agentwatch [URL] [viewer options]\n       agentwatch COMMAND [options]   (agentwatch COMMAND -h)",
        description="Watch a fleet of AI agents live: throughput, latency, errors, cost, health and logs.\n\n"
        + watch_help
        + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"agentwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", prog="agentwatch")
    raw = argparse.RawDescriptionHelpFormatter

    watch = sub.add_parser("watch", help="watch a collector (the default command)", description=watch_help)
    _add_url_options(watch, positional=True, many=True)
    watch.add_argument("--config", default=None, help="viewer config file (default: the platform config dir)")
    _add_view_options(watch)

    serve = sub.add_parser("serve", help="run the collector", description="Run the collector.")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    serve.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port, 0 for any free one (default {DEFAULT_PORT})"
    )
    serve.add_argument(
        "--otlp-grpc-port",
        type=_port,
        default=None,
        help=f"OTLP/gRPC port on the same host (default {DEFAULT_OTLP_GRPC_PORT}; 0 turns it off)",
    )
    serve.add_argument(
        "--window", type=_positive_int, default=60, help="dashboard window in seconds (default 60)"
    )
    serve.add_argument(
        "--tick", type=_positive_float, default=4.0, help="metrics frames per second (default 4)"
    )
    store = serve.add_mutually_exclusive_group()
    store.add_argument("--store", default=None, help="SQLite store path (default: the platform data dir)")
    store.add_argument(
        "--no-store", action="store_true", help="keep everything in memory only (default: store)"
    )
    serve.add_argument(
        "--sync", action="store_true", help="make every accepted event durable before 202 (default: batched)"
    )
    serve.add_argument(
        "--token", default=None, help="require this bearer token (default $AGENTWATCH_TOKEN, else none)"
    )
    serve.add_argument(
        "--max-body",
        type=_positive_int,
        default=4 * 1024 * 1024,
        help="largest request body in bytes (default 4194304)",
    )
    serve.add_argument(
        "--metrics-agents",
        type=_positive_int,
        default=None,
        help="agents named at /metrics, the busiest (default 100); the others are summed as _other",
    )
    httplimits.add_arguments(serve)
    serve.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback bind without a token (default: refuse)"
    )
    serve.add_argument(
        "--config", default=None, help="collector TOML config: alert thresholds, prices (default none)"
    )
    serve.add_argument(
        "--log-level", choices=SERVER_LOG_LEVELS, default="warning", help="server log level (default warning)"
    )

    demo = sub.add_parser(
        "demo",
        help="collector + simulated fleet + viewer in one command",
        description="A collector in memory, a simulated fleet and the viewer in one command. Alert baselines "
        "are built from the fleet's simulated recent past first, so each scenario's alert fires within 90 s.",
        epilog=_scenario_epilog(),
        formatter_class=raw,
    )
    demo.add_argument("--agents", type=_positive_int, default=12, help="simulated agents (default 12)")
    demo.add_argument("--rate", type=_positive_float, default=60.0, help="events per second (default 60)")
    demo.add_argument("--seed", type=_any_int, default=None, help="simulator seed (default: the clock)")
    demo.add_argument(
        "--port",
        type=_port,
        default=0,
        help="port of the demo's collector on 127.0.0.1 (default 0: any free one)",
    )
    _add_scenario_option(demo)
    _add_view_options(demo)

    sim = sub.add_parser(
        "simulate",
        help="send a simulated fleet's events to a collector",
        description="Send a simulated fleet's events to a running collector over HTTP.",
        epilog=_scenario_epilog(),
        formatter_class=raw,
    )
    _add_url_options(sim, positional=False)
    sim.add_argument("--agents", type=_positive_int, default=12, help="simulated agents (default 12)")
    sim.add_argument("--rate", type=_positive_float, default=100.0, help="events per second (default 100)")
    sim.add_argument("--seed", type=_any_int, default=0, help="simulator seed (default 0)")
    sim.add_argument(
        "--duration", type=_positive_float, default=None, help="seconds to run (default: until Ctrl-C)"
    )
    sim.add_argument(
        "--backlog",
        type=_positive_int,
        default=50_000,
        help="events kept while the collector does not answer; older ones are dropped and told (default 50000)",
    )
    _add_scenario_option(sim)

    status = sub.add_parser(
        "status", help="print one snapshot line and exit", description="Print one snapshot line and exit."
    )
    _add_url_options(status, positional=True, many=True)
    status.add_argument(
        "--format",
        default=None,
        help="template, e.g. '{tokens_per_second:.0f} tok/s' (default: a summary line)",
    )
    status.add_argument(
        "--json",
        action="store_true",
        help="print as JSON: the snapshot, or with --self the viewers' figures (default: one line, or a table)",
    )
    status.add_argument("--timeout", type=_positive_float, default=3.0, help="seconds to wait (default 3)")
    status.add_argument(
        "--self",
        dest="self_cost",
        action="store_true",
        help="print what each viewer running here costs itself: CPU, frame time, event-to-screen lag, "
        "bytes/s to the terminal, lines dropped (default: the collector's snapshot)",
    )
    hookcmd.add_parsers(sub)
    _add_record_replay_bundle(sub)
    parser.commands = dict(sub.choices)
    viewer = "\n".join(watch.format_help().split("\n\n", 2)[2:]).rstrip()
    parser.epilog = (
        f"viewer ({watch_help}):\n{viewer}\n\n"
        "Run 'agentwatch demo' to see it on simulated data with nothing to set up."
    )
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    """``agentwatch [URL] [options]`` means ``agentwatch watch [URL] [options]``."""
    if not argv:
        return ["watch"]
    first = argv[0]
    if first in SUBCOMMANDS or first in ("-h", "--help", "--version"):
        return argv
    return ["watch", *argv]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The namespace of a command line; a mistake exits 2 with the usage of the (sub)command it is in."""
    parser = build_parser()
    namespace, extra = parser.parse_known_args(_with_default_command(list(argv)))
    command = parser.commands.get(namespace.command, parser)
    if extra:
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    option = getattr(namespace, "url_option", None)
    if option is not None:
        if namespace.url is not None and namespace.url != option:
            command.error(f"two collector URLs: {namespace.url} and --url {option}")
        namespace.url = option
    return namespace


def main(argv: Sequence[str] | None = None) -> int:
    try:
        namespace = parse(sys.argv[1:] if argv is None else argv)
        module_name, _, function_name = _HANDLERS[namespace.command].partition(":")
        handler = getattr(importlib.import_module(module_name), function_name)
        return int(handler(namespace) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of our output left early (`| head`): quiet, as in a pipeline
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141
