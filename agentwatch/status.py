"""``agentwatch status``: read one snapshot from a collector, print one line, exit.

Made for shell prompts, tmux status bars and scripts::

    agentwatch ok · 12 agents · 1 234 tok/s · p50 420 ms · p99 2.1 s (est.) · err 1.2% · $0.84/min (est.)

``--format`` takes a ``str.format`` template over the snapshot's fields (plus ``status``
and ``url``); a field that is missing or has no value prints as "—", whatever its format
spec. ``--json`` prints the snapshot as JSON. Agent-supplied text goes through
:func:`agentwatch.textsafe.printable` (JSON through :func:`~agentwatch.textsafe.json_safe`).

Exit codes: 0 printed; 1 collector unreachable, timed out or unreadable; 2 bad
configuration or template; 3 token refused (HTTP 401/403). Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import string
import sys
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

__all__ = ["format_line", "format_template", "main", "overall_status"]

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


_ABSENT: Final = _Missing()


class _SnapshotFormatter(string.Formatter):
    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int):
            raise TemplateError("positional fields like {} or {0} are not supported; name a field")
        value = kwargs.get(key)
        return _ABSENT if value is None else value

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None or isinstance(value, _Missing):
            return MISSING
        if isinstance(value, (bool, int, float)):
            return format(value, format_spec)
        return format(printable(str(value)), format_spec)


def format_template(template: str, snapshot: Snapshot, *, url: str = "") -> str:
    """Apply a ``str.format`` template to the snapshot's fields; raise :class:`TemplateError`."""
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


def main(namespace: argparse.Namespace) -> int:
    """Entry point of ``agentwatch status``; returns the process exit code."""
    try:
        config = load_config(namespace)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
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
