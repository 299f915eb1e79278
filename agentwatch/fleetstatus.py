"""``agentwatch status URL1 URL2 …``: several collectors read as one fleet, one line, exit.

Each collector's snapshot and latency sketch are read at the same time; the line is the merged
fleet's (totals summed, p50/p99 from the merged sketches: :mod:`agentwatch.client.fleetmerge`)
followed by how many collectors answered (``2/3 collectors``). A collector that is down gets one
line on stderr naming it and why, while the others still print. ``--json`` prints the merged
snapshot with each agent row naming its ``collector`` and a ``collectors`` list (url, up, error);
``--format`` applies to the merged snapshot (``{url}`` is the collectors that answered).

Exit codes: 0 every collector answered; 4 some did not (the line covers those that did); 1 none
answered; 3 every one refused the token; 2 bad configuration or template.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any, Final

import msgspec

from agentwatch.client.fleet import Down, fetch_fleet
from agentwatch.client.fleetmerge import Part, merge_snapshots
from agentwatch.config import ViewerConfig
from agentwatch.protocol import Snapshot, json_encoder
from agentwatch.status import (
    EXIT_OK,
    EXIT_UNAUTHORIZED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    TemplateError,
    format_line,
    format_template,
)
from agentwatch.textsafe import json_safe, printable

#: Some collectors answered and were printed; others are down (named on stderr).
EXIT_PARTIAL: Final = 4


def _say(message: str) -> None:
    print(f"agentwatch: {printable(message)}", file=sys.stderr)


def fleet_json(parts: list[Part], down: list[Down], merged: Snapshot, collector_of: dict[str, str]) -> str:
    """The merged snapshot as JSON, each agent row with its ``collector``, and the collectors' states."""
    document: dict[str, Any] = msgspec.to_builtins(merged)
    for row in document["agents"]:
        row["collector"] = collector_of.get(row["agent_id"])
    document["collectors"] = [{"url": part.name, "up": True} for part in parts] + [
        {"url": one.name, "up": False, "error": one.reason} for one in down
    ]
    return json_safe(json_encoder.encode(document).decode())


def main(namespace: argparse.Namespace, config: ViewerConfig) -> int:
    """``agentwatch status`` over ``config.urls``; returns the exit code (see the module docstring)."""
    template = getattr(namespace, "format", None)
    if template is not None:
        try:
            format_template(template, Snapshot(timestamp=0.0))
        except TemplateError as exc:
            _say(f"bad --format template: {exc}")
            return EXIT_USAGE
    timeout = float(getattr(namespace, "timeout", None) or 3.0)
    answers = asyncio.run(fetch_fleet(config.urls, token=config.token, timeout=timeout))
    parts = [answer for answer in answers if isinstance(answer, Part)]
    down = [answer for answer in answers if isinstance(answer, Down)]
    for one in down:
        _say(f"{one.name} is down: {one.reason}")
    if not parts:
        return EXIT_UNAUTHORIZED if all(one.unauthorized for one in down) else EXIT_UNREACHABLE
    fleet = merge_snapshots(parts)
    if fleet.bad_sketches:
        _say(f"{fleet.bad_sketches} latency sketch(es) unreadable: their percentiles are left out")
    if getattr(namespace, "json", False):
        line = fleet_json(parts, down, fleet.snapshot, fleet.collector_of)
    elif template is not None:
        try:
            line = format_template(template, fleet.snapshot, url=", ".join(part.name for part in parts))
        except TemplateError as exc:
            _say(f"bad --format template: {exc}")
            return EXIT_USAGE
    else:
        colour = not os.environ.get("NO_COLOR") and sys.stdout.isatty()
        line = f"{format_line(fleet.snapshot, colour=colour)} · {len(parts)}/{len(answers)} collectors"
    print(line)
    return EXIT_PARTIAL if down else EXIT_OK
