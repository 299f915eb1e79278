"""``agentwatch status``: read one snapshot from a collector, print one line, exit.

Made for shell prompts, tmux status bars and scripts::

    agentwatch ok · 12 agents · 1 234 tok/s · p50 420 ms · p99 2.1 s (est.) · err 1.2% · $0.84/min (est.)

``--format`` takes a ``str.format`` template over the snapshot's fields (plus ``status``
and ``url``), including their parts (``{agents[0].agent_id}``, ``{history.tokens_per_second[0]}``);
a field with no value, or an index past the end of a list, prints as "—", whatever its format
spec. A name the snapshot does not have is refused before anything is fetched (checked
against the snapshot's types, not its values). ``--json`` prints the snapshot as JSON. Agent-supplied text goes through
:func:`agentwatch.textsafe.printable` (JSON through :func:`~agentwatch.textsafe.json_safe`).

``--self`` prints what each viewer running on this machine (as this user) costs, from the figures
file it rewrites each second (:mod:`agentwatch.tui.selfcost`): a table, or ``--json`` a list.

Exit codes: 0 printed; 1 collector unreachable, timed out or unreadable (``--self``: no viewer
running); 2 bad configuration or template; 3 token refused (HTTP 401/403). Errors are one line on
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import string
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Final, TextIO

import msgspec

from agentwatch.client.stream import CollectorUnreachable, Unauthorized, fetch_snapshot
from agentwatch.config import ConfigError, load_config
from agentwatch.protocol import (
    STATUS_DEGRADED,
    STATUS_FAILING,
    STATUS_IDLE,
    STATUS_OK,
    Snapshot,
    json_encoder,
)
from agentwatch.textsafe import json_safe, printable
from agentwatch.tui.selfcost import SelfCost, figures_dir, format_bytes_rate, format_ms, live_figures

__all__ = [
    "check_template",
    "format_line",
    "format_template",
    "main",
    "overall_status",
    "self_cost_table",
    "self_main",
]

MISSING: Final = "—"
EXIT_OK: Final = 0
EXIT_UNREACHABLE: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNAUTHORIZED: Final = 3

_COLOURS: Final = {STATUS_OK: "32", STATUS_DEGRADED: "33", STATUS_FAILING: "31", STATUS_IDLE: "2"}


class TemplateError(ValueError):
    """A ``--format`` template that cannot be applied; the message says why."""


def overall_status(snapshot: Snapshot) -> str:
    """The fleet in one word: the worst agent status (failing > degraded), else ok or idle."""
    statuses = {row.status for row in snapshot.agents}
    if STATUS_FAILING in statuses:
        return STATUS_FAILING
    if STATUS_DEGRADED in statuses:
        return STATUS_DEGRADED
    if snapshot.active_agents == 0 and not snapshot.events:
        return STATUS_IDLE
    return STATUS_OK


def _count(value: float) -> str:
    """``1234.4`` → ``"1 234"`` (space-grouped thousands, read easily at a glance)."""
    return f"{round(value):,}".replace(",", " ")


def _latency(ms: float | None) -> str:
    if ms is None:
        return MISSING
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds:.0f} s"


def _money(usd: float) -> str:
    return f"${usd:.2f}" if usd == 0 or abs(usd) >= 0.01 else f"${usd:.4f}"


def format_line(snapshot: Snapshot, *, colour: bool = False) -> str:
    """The default one-line summary. ``colour`` adds ANSI colour to the status word only."""
    status = overall_status(snapshot)
    word = f"\x1b[{_COLOURS[status]}m{status}\x1b[0m" if colour and status in _COLOURS else status
    agents = snapshot.active_agents
    latency_note = (
        " (est.)" if snapshot.p50_latency_ms is not None or snapshot.p99_latency_ms is not None else ""
    )
    cost_note = " (est.)" if snapshot.cost_estimated else ""
    parts = [
        f"agentwatch {word}",
        f"{_count(agents)} agent{'' if agents == 1 else 's'}",
        f"{_count(snapshot.tokens_per_second)} tok/s",
        f"p50 {_latency(snapshot.p50_latency_ms)}",
        f"p99 {_latency(snapshot.p99_latency_ms)}{latency_note}",
        f"err {snapshot.error_rate * 100:.1f}%",
        f"{_money(snapshot.cost_per_minute)}/min{cost_note}",
    ]
    if snapshot.agent:
        parts.insert(1, f"agent {printable(snapshot.agent)}")
    return " · ".join(parts)


class _Missing:
    """Stands in for an absent value; formats as "—" under any format spec."""

    def __format__(self, spec: str) -> str:
        return MISSING

    def __str__(self) -> str:
        return MISSING

    def __repr__(self) -> str:
        return MISSING


_ABSENT: Final = _Missing()


#: One part of a field name after its first name: ``.name`` or ``[index]`` (as ``str.format`` reads it).
_PART: Final = re.compile(r"\.([^.\[]+)|\[([^\]]+)\]")


def _split_field(field_name: str) -> tuple[str, list[tuple[bool, int | str]]]:
    """``"agents[0].agent_id"`` → ``("agents", [(False, 0), (True, "agent_id")])``; ValueError
    for what ``str.format`` would not read either."""
    end = len(field_name)
    for stop in (field_name.find("."), field_name.find("[")):
        if stop != -1:
            end = min(end, stop)
    first, position, parts = field_name[:end], end, []
    while position < len(field_name):
        match = _PART.match(field_name, position)
        if match is None:
            raise ValueError(f"cannot read the field name {field_name!r}")
        name, index = match.groups()
        parts.append((True, name) if name is not None else (False, int(index) if index.isdigit() else index))
        position = match.end()
    return first, parts


#: The names a template may start with, and their types.
_TOP_LEVEL: Final[dict[str, Any]] = {**typing.get_type_hints(Snapshot), "status": str, "url": str}


def _field_type(owner: Any, is_attribute: bool, key: int | str, path: str) -> Any:
    """The type of ``owner.key`` (``is_attribute``) or ``owner[key]``; :class:`TemplateError`
    when a value of type ``owner`` has no such part."""
    if typing.get_origin(owner) in (typing.Union, types.UnionType):
        present = [arg for arg in typing.get_args(owner) if arg is not type(None)]
        owner = present[0] if len(present) == 1 else owner
    if is_attribute:
        if isinstance(owner, type) and issubclass(owner, msgspec.Struct):
            hints = typing.get_type_hints(owner)
            if key in hints:
                return hints[key]
            raise TemplateError(f"{path} has no field {key!r} (it has: {', '.join(hints)})")
        raise TemplateError(f"{path} has no fields: .{key} cannot be read")
    origin, args = typing.get_origin(owner), typing.get_args(owner)
    if origin in (list, tuple) and isinstance(key, int) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    raise TemplateError(f"{path} cannot be indexed with [{key}]")


def check_template(template: str) -> None:
    """Refuse a template that names anything the snapshot cannot have, whatever its values.

    Checks each field's name and its chain of ``.field`` / ``[index]`` against the snapshot's
    types (an empty snapshot's values would refuse ``{agents[0].agent_id}``), and the syntax.
    Raises :class:`TemplateError`.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(str(exc)) from None
    for _, field_name, spec, _ in parsed:
        if field_name is None:
            continue
        try:
            first, chain = _split_field(field_name)
        except ValueError as exc:
            raise TemplateError(str(exc)) from None
        if first == "" or first.isdigit():
            raise TemplateError("positional fields like {} or {0} are not supported; name a field")
        if first not in _TOP_LEVEL:
            raise TemplateError(f"unknown field {first!r} (fields: {', '.join(_TOP_LEVEL)})")
        owner, path = _TOP_LEVEL[first], first
        for is_attribute, key in chain:
            owner = _field_type(owner, is_attribute, key, path)
            path += f".{key}" if is_attribute else f"[{key}]"
        if spec:
            check_template(spec)


class _SnapshotFormatter(string.Formatter):
    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int):
            raise TemplateError("positional fields like {} or {0} are not supported; name a field")
        value = kwargs.get(key)
        return _ABSENT if value is None else value

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        """Like ``str.format``, but only a struct's fields are read as attributes, and an index
        past the end (an empty list of agents) is a missing value, not an error."""
        try:
            first, chain = _split_field(field_name)
        except ValueError as exc:
            raise TemplateError(str(exc)) from None
        value = self.get_value(first, args, kwargs)
        for is_attribute, key in chain:
            if value is _ABSENT:
                break
            if is_attribute:
                if not (isinstance(value, msgspec.Struct) and key in value.__struct_fields__):
                    raise TemplateError(f"no field {key!r} in {field_name!r}")
                value = getattr(value, key)
            else:
                try:
                    value = value[key]
                except (IndexError, KeyError):
                    value = _ABSENT
            if value is None:
                value = _ABSENT
        return value, first

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None or isinstance(value, _Missing):
            return MISSING
        if isinstance(value, (bool, int, float)):
            return format(value, format_spec)
        return format(printable(str(value)), format_spec)


def format_template(template: str, snapshot: Snapshot, *, url: str = "") -> str:
    """Apply a ``str.format`` template to the snapshot's fields; raise :class:`TemplateError`."""
    check_template(template)
    fields: dict[str, Any] = msgspec.structs.asdict(snapshot)
    fields["status"] = overall_status(snapshot)
    fields["url"] = url
    try:
        return _SnapshotFormatter().vformat(template, (), fields)
    except TemplateError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise TemplateError(str(exc) or type(exc).__name__) from None


def _use_colour(stream: TextIO, environ: Mapping[str, str]) -> bool:
    if environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _fail(message: str, code: int) -> int:
    print(f"agentwatch: {printable(message)}", file=sys.stderr)
    return code


def self_cost_table(figures: Sequence[SelfCost]) -> str:
    """The running viewers' own figures, one row each (``agentwatch status --self``)."""
    rows = [("PID", "CPU", "FRAME P95", "EVENT→SCREEN P95", "TERMINAL", "DROPPED", "COLLECTOR")]
    rows += [
        (
            str(one.pid),
            f"{one.cpu_percent:.1f}%",
            format_ms(one.frame_p95_ms),
            format_ms(one.lag_p95_ms),
            format_bytes_rate(one.bytes_per_second),
            f"{one.lines_dropped:,}",
            printable(one.url),
        )
        for one in figures
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]).rstrip()
        for row in rows
    )


def self_main(namespace: argparse.Namespace) -> int:
    """``agentwatch status --self``: what each running viewer costs, from the files they write."""
    directory = figures_dir()
    figures = live_figures(directory)
    if not figures:
        return _fail(f"no viewer is running (none has written its figures to {directory})", EXIT_UNREACHABLE)
    if getattr(namespace, "json", False):
        print(json_safe(msgspec.json.encode(figures).decode()))
    else:
        print(self_cost_table(figures))
    return EXIT_OK


def main(namespace: argparse.Namespace) -> int:
    """Entry point of ``agentwatch status``; returns the process exit code."""
    if getattr(namespace, "self_cost", False):
        return self_main(namespace)
    try:
        config = load_config(namespace)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    if len(config.urls) > 1:  # several collectors: one fleet
        from agentwatch.fleetstatus import main as fleet_main

        return fleet_main(namespace, config)
    template = getattr(namespace, "format", None)
    if template is not None:
        try:  # a bad template is a usage error even when the collector is down
            format_template(template, Snapshot(timestamp=0.0))
        except TemplateError as exc:
            return _fail(f"bad --format template: {exc}", EXIT_USAGE)
    timeout = float(getattr(namespace, "timeout", None) or 3.0)
    try:
        snapshot = asyncio.run(fetch_snapshot(config.url, token=config.token, timeout=timeout))
    except Unauthorized as exc:
        return _fail(f"{exc} — pass --token or set AGENTWATCH_TOKEN", EXIT_UNAUTHORIZED)
    except CollectorUnreachable as exc:
        return _fail(str(exc), EXIT_UNREACHABLE)

    if getattr(namespace, "json", False):
        line = json_safe(json_encoder.encode(snapshot).decode())
    elif template is not None:
        try:
            line = format_template(template, snapshot, url=config.url)
        except TemplateError as exc:
            return _fail(f"bad --format template: {exc}", EXIT_USAGE)
    else:
        line = format_line(snapshot, colour=_use_colour(sys.stdout, os.environ))
    print(line)
    return EXIT_OK
