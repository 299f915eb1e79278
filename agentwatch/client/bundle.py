"""Incident bundles: what a collector knows about the last minutes, in one folder (or ``.tar.gz``).

:func:`write_bundle` reads over HTTP: ``/api/snapshot``, ``/api/alerts`` (firing and history),
``/api/analysis`` for each view, ``/healthz``, and the log lines of the last ``since`` seconds
(``GET /api/logs?from=&to=``, paged, at most :data:`MAX_LINES`; what is left out is said in the
summary), and writes them with a ``summary.md``: the time range, what fired, the top agents by
cost and by errors. The viewer adds its own files (``extra``: the screen as SVG, the log as
filtered on screen). A route that fails is written as ``<name>.error.txt`` and named in the
summary: a bundle is made while things are going wrong, so it never gives up on one answer.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
import msgspec

from agentwatch.protocol import (
    ANALYSIS_VIEWS,
    DEFAULT_URL,
    LEVEL_RANK,
    MAX_LOG_RANGE_LIMIT,
    MAX_LOG_RANGE_SECONDS,
    PATH_ALERTS,
    PATH_ANALYSIS,
    PATH_HEALTH,
    PATH_LOGS,
    PATH_SNAPSHOT,
    AlertsResponse,
    LogEntry,
    LogRange,
    Snapshot,
    normalize_token,
)

#: Log lines written at most (the newest are kept).
MAX_LINES: Final = 100_000
#: Longest ``since`` (seconds).
MAX_SINCE_SECONDS: Final = 86_400.0
DEFAULT_SINCE_SECONDS: Final = 900.0
TOP: Final = 5
_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNITS: Final = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
_encoder: Final = msgspec.json.Encoder()
_range_decoder: Final = msgspec.json.Decoder(LogRange)


def parse_since(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h30m``, ``1d`` → seconds; ValueError with the reason otherwise."""
    value = text.strip().lower()
    total, pos = 0.0, 0
    while pos < len(value):
        match = _DURATION.match(value, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"expected a duration such as 15m, 90s or 1h, got {text!r}")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not 0 < total <= MAX_SINCE_SECONDS:
        raise ValueError(f"expected a duration from 1s to 24h, got {text!r}")
    return total


@dataclass
class Bundle:
    """What was written: ``path`` (a folder or a ``.tar.gz``), and what could not be read."""

    path: Path
    files: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    lines: int = 0
    lines_left_out: int = 0


async def _get_json(http: httpx.AsyncClient, url: str, params: Mapping[str, str] | None = None) -> bytes:
    response = await http.get(url, params=params)
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
    msgspec.json.decode(response.content)  # JSON, or the route's answer is not usable
    return response.content


async def fetch_logs(
    http: httpx.AsyncClient, url: str, start: float, end: float
) -> tuple[list[LogEntry], int, str | None]:
    """The log lines stamped in [start, end), oldest first: (lines, left out, why incomplete).

    The range is read in chunks the collector accepts; a chunk's pages follow its ``next_after``
    cursor (the id of the last line accounted for), so a line on a page boundary is neither
    missed nor read twice, whatever order the lines arrived in.
    """
    lines: list[LogEntry] = []
    left_out = 0
    incomplete: str | None = None
    low = start
    after: int | None = None
    for _ in range(10_000):  # bounded: each page moves the cursor on or ends a chunk
        if low >= end or len(lines) >= MAX_LINES:
            break
        high = min(end, low + MAX_LOG_RANGE_SECONDS)
        params = {"from": repr(low), "to": repr(high), "limit": str(MAX_LOG_RANGE_LIMIT)}
        if after is not None:
            params["after"] = str(after)
        answer = _range_decoder.decode(await _get_json(http, url + PATH_LOGS, params))
        incomplete = incomplete or answer.incomplete
        lines.extend(answer.entries)
        if answer.next_after is not None and answer.next_after != after:
            after = answer.next_after  # the same chunk, from the cursor on
        else:
            low, after = high, None
    lines.sort(key=lambda e: (e.timestamp, e.id))
    if len(lines) > MAX_LINES:
        left_out += len(lines) - MAX_LINES
        lines = lines[-MAX_LINES:]
    return lines, left_out, incomplete


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def summary(
    url: str,
    start: float,
    end: float,
    snapshot: Snapshot | None,
    alerts: AlertsResponse | None,
    lines: list[LogEntry],
    bundle: Bundle,
) -> str:
    """``summary.md``: time range, what fired, top agents by cost and errors, what is missing."""
    out = [
        "# agentwatch incident bundle",
        "",
        f"- Collector: {url}",
        f"- Time range: {_utc(start)} to {_utc(end)} ({(end - start) / 60:g} min)",
        f"- Log lines: {len(lines)}"
        + (f" ({bundle.lines_left_out} left out: the bound)" if bundle.lines_left_out else ""),
        "",
        "## What fired",
        "",
    ]
    if alerts is None:
        out.append("Alerts could not be read (see alerts.error.txt).")
    else:
        firing_ids = {a.id for a in alerts.firing}
        for alert in alerts.firing:
            out.append(
                f"- FIRING {alert.severity} {alert.rule} ({alert.scope}) since {_utc(alert.started_at)}: {alert.message}"
            )
        recent = [
            a for a in alerts.history if a.id not in firing_ids and (a.resolved_at or a.started_at) >= start
        ]
        for alert in recent:
            when = _utc(alert.resolved_at) if alert.resolved_at else _utc(alert.started_at)
            out.append(
                f"- {alert.state} {alert.severity} {alert.rule} ({alert.scope}) at {when}: {alert.message}"
            )
        if not alerts.firing and not recent:
            out.append("Nothing fired in this time range.")
    out += ["", "## Top agents by cost (the collector's window)", ""]
    rows = snapshot.agents if snapshot is not None else []
    by_cost = sorted((r for r in rows if r.cost_usd > 0), key=lambda r: -r.cost_usd)[:TOP]
    out += [f"- {r.agent_id}: ${r.cost_usd:.4f}" for r in by_cost] or ["No cost recorded."]
    out += ["", "## Top agents by errors", ""]
    error_rank = LEVEL_RANK["error"]
    logged = Counter(e.agent_id for e in lines if LEVEL_RANK.get(e.level, 1) >= error_rank)
    window = {r.agent_id: r for r in rows}
    ranked = sorted(
        set(logged) | {r.agent_id for r in rows if r.errors},
        key=lambda a: (-logged[a], -(window[a].errors if a in window else 0), a),
    )
    for agent in ranked[:TOP]:
        row = window.get(agent)
        rate = f", {row.errors} in the window ({row.error_rate:.0%})" if row is not None else ""
        out.append(f"- {agent}: {logged[agent]} error lines in the range{rate}")
    if not ranked:
        out.append("No errors.")
    if bundle.problems:
        out += ["", "## Not read", ""]
        out += [f"- {name}: {why}" for name, why in bundle.problems.items()]
    out += ["", "## Files", ""] + [f"- {name}" for name in sorted([*bundle.files, "summary.md"])]
    return "\n".join(out) + "\n"


def _default_path(now: float) -> Path:
    return Path(f"agentwatch-incident-{datetime.fromtimestamp(now, UTC).strftime('%Y%m%dT%H%M%SZ')}")


async def write_bundle(
    url: str,
    *,
    token: str | None = None,
    since: float = DEFAULT_SINCE_SECONDS,
    output: Path | None = None,
    tar: bool = False,
    extra: Mapping[str, bytes] | None = None,
    clock: Callable[[], float] = time.time,
    timeout: float = 10.0,
) -> Bundle:
    """Read the collector at ``url`` and write the bundle; returns what was written.

    ``output``: the folder (default ``agentwatch-incident-<UTC time>``); with ``tar`` the files go
    in ``<output>.tar.gz`` instead. Raises OSError when nothing can be written there.
    """
    end = clock()
    start = end - since
    base = url.rstrip("/")
    folder = output or _default_path(end)
    files: dict[str, bytes] = dict(extra or {})
    bundle = Bundle(folder.with_name(folder.name + ".tar.gz") if tar else folder)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    snapshot: Snapshot | None = None
    alerts: AlertsResponse | None = None
    lines: list[LogEntry] = []
    async with httpx.AsyncClient(headers=headers, timeout=timeout) as http:
        reads: list[tuple[str, str, dict[str, str] | None]] = [
            ("snapshot.json", PATH_SNAPSHOT, None),
            ("alerts.json", PATH_ALERTS, None),
            ("health.json", PATH_HEALTH, None),
        ] + [(f"analysis-{view}.json", PATH_ANALYSIS, {"view": view}) for view in ANALYSIS_VIEWS]
        answers = await asyncio.gather(
            *(_get_json(http, base + path, params) for _, path, params in reads), return_exceptions=True
        )
        for (name, _, _), answer in zip(reads, answers, strict=True):
            if isinstance(answer, BaseException):
                bundle.problems[name] = _why(answer)
                files[name.replace(".json", ".error.txt")] = (bundle.problems[name] + "\n").encode()
            else:
                files[name] = answer
        try:
            lines, bundle.lines_left_out, incomplete = await fetch_logs(http, base, start, end)
            if incomplete:
                bundle.problems["logs.ndjson"] = f"the collector could not read all of them: {incomplete}"
        except (httpx.HTTPError, RuntimeError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            bundle.problems["logs.ndjson"] = _why(exc)
    bundle.lines = len(lines)
    files["logs.ndjson"] = b"".join(_encoder.encode(entry) + b"\n" for entry in lines)
    if "snapshot.json" in files:
        snapshot = msgspec.json.decode(files["snapshot.json"], type=Snapshot, strict=False)
    if "alerts.json" in files:
        alerts = msgspec.json.decode(files["alerts.json"], type=AlertsResponse, strict=False)
    bundle.files = sorted(files)
    files["summary.md"] = summary(url, start, end, snapshot, alerts, lines, bundle).encode()
    bundle.files = sorted(files)
    _write(bundle.path, folder.name, files, tar=tar, mtime=end)
    return bundle


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _write(path: Path, name: str, files: Mapping[str, bytes], *, tar: bool, mtime: float) -> None:
    if tar:
        partial = path.with_name(path.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            for file_name, data in sorted(files.items()):
                info = tarfile.TarInfo(f"{name}/{file_name}")
                info.size, info.mtime, info.mode = len(data), int(mtime), 0o644
                archive.addfile(info, io.BytesIO(data))
        os.replace(partial, path)
        return
    path.mkdir(parents=True, exist_ok=True)
    for file_name, data in files.items():
        (path / file_name).write_bytes(data)


def main(namespace: argparse.Namespace) -> int:
    """``agentwatch bundle URL… --since 15m [-o DIR] [--tar]`` (several URLs: a folder for each collector)."""
    url = namespace.url or os.environ.get("AGENTWATCH_URL") or DEFAULT_URL
    urls = list(getattr(namespace, "urls", None) or ())
    token = normalize_token(namespace.token or os.environ.get("AGENTWATCH_TOKEN"))
    output = Path(namespace.output) if namespace.output else None
    try:
        if len(urls) > 1:
            from agentwatch.client.fleetbundle import write_fleet_bundle

            bundle = asyncio.run(
                write_fleet_bundle(urls, token=token, since=namespace.since, output=output, tar=namespace.tar)
            )
        else:
            bundle = asyncio.run(
                write_bundle(url, token=token, since=namespace.since, output=output, tar=namespace.tar)
            )
    except OSError as exc:
        print(f"agentwatch bundle: cannot write {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    for name, why in bundle.problems.items():
        print(f"agentwatch bundle: {name}: {why}", file=sys.stderr)
    print(bundle.path)
    unreadable = {"snapshot.json", "alerts.json"} & {name.rsplit("/", 1)[-1] for name in bundle.problems}
    return 1 if unreadable else 0


__all__ = ["Bundle", "fetch_logs", "main", "parse_since", "summary", "write_bundle"]
