"""An incident bundle of several collectors: each collector's bundle (:func:`write_bundle`) in a folder
of its own, named after it, and a ``summary.md`` over all of them beside those folders.

The fleet's summary is the one-collector summary of the merged answers: what fired on any collector,
the top agents by cost and errors over all rows (:func:`~agentwatch.client.fleetmerge.merge_snapshots`),
the log lines of all collectors; what could not be read is named with its collector's folder. The
viewer's own files (``extra``: the screen, the log as filtered) go beside the summary, once.
"""

from __future__ import annotations

import asyncio
import heapq
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import msgspec

from agentwatch.client.bundle import (
    DEFAULT_SINCE_SECONDS,
    Bundle,
    _default_path,
    _write,
    summary,
    write_bundle,
)
from agentwatch.client.fleetmerge import Part, merge_snapshots
from agentwatch.protocol import AlertsResponse, LogEntry, Snapshot

__all__ = ["collector_folder", "write_fleet_bundle"]


def collector_folder(url: str) -> str:
    """``http://10.0.0.7:8787/`` → ``10.0.0.7_8787``: a folder name that says which collector."""
    name = url.split("://", 1)[-1].rstrip("/")
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name) or "collector"


def _read(path: Path, kind: type[Snapshot] | type[AlertsResponse]) -> Snapshot | AlertsResponse | None:
    try:
        return msgspec.json.decode(path.read_bytes(), type=kind, strict=False)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def _lines(path: Path) -> list[LogEntry]:
    try:
        raw = path.read_bytes().splitlines()
    except OSError:
        return []
    decoder = msgspec.json.Decoder(LogEntry)
    out: list[LogEntry] = []
    for line in raw:
        try:
            out.append(decoder.decode(line))
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
    return out


async def write_fleet_bundle(
    urls: Sequence[str],
    *,
    token: str | None = None,
    since: float = DEFAULT_SINCE_SECONDS,
    output: Path | None = None,
    tar: bool = False,
    extra: Mapping[str, bytes] | None = None,
    clock: Callable[[], float] = time.time,
    timeout: float = 10.0,
) -> Bundle:
    """Read every collector of ``urls`` at once and write the fleet's bundle; returns what was written
    (``problems`` keyed ``<folder>/<file>``). Raises OSError when nothing can be written there."""
    end = clock()
    folder = output or _default_path(end)
    names = [collector_folder(url) for url in urls]
    names = [name if names.count(name) == 1 else f"{name}-{i + 1}" for i, name in enumerate(names)]
    work = Path(tempfile.mkdtemp(prefix="agentwatch-bundle-")) if tar else folder
    try:
        answers = await asyncio.gather(
            *(
                write_bundle(
                    url, token=token, since=since, output=work / name, clock=lambda: end, timeout=timeout
                )
                for url, name in zip(urls, names, strict=True)
            ),
            return_exceptions=True,
        )
        bundle = Bundle(folder.with_name(folder.name + ".tar.gz") if tar else folder)
        parts: list[Part] = []
        alerts = AlertsResponse()
        runs: list[list[LogEntry]] = []
        for url, name, answer in zip(urls, names, answers, strict=True):
            if isinstance(answer, OSError):
                raise answer
            if isinstance(answer, BaseException):
                bundle.problems[f"{name}/"] = str(answer) or type(answer).__name__
                continue
            bundle.problems.update({f"{name}/{file}": why for file, why in answer.problems.items()})
            bundle.lines += answer.lines
            bundle.lines_left_out += answer.lines_left_out
            snapshot = _read(work / name / "snapshot.json", Snapshot)
            if isinstance(snapshot, Snapshot):
                parts.append(Part(url, snapshot))
            fired = _read(work / name / "alerts.json", AlertsResponse)
            if isinstance(fired, AlertsResponse):
                alerts.firing.extend(fired.firing)
                alerts.history.extend(fired.history)
            runs.append(_lines(work / name / "logs.ndjson"))
        files: dict[str, bytes] = dict(extra or {})
        bundle.files = sorted([*files, *(f"{name}/" for name in names)])
        lines = list(heapq.merge(*runs, key=lambda entry: entry.timestamp))
        merged = merge_snapshots(parts).snapshot if parts else None
        title = f"{len(urls)} collectors: " + ", ".join(urls)
        files["summary.md"] = summary(title, end - since, end, merged, alerts, lines, bundle).encode()
        bundle.files = sorted([*files, *(f"{name}/" for name in names)])
        _write(work, folder.name, files, tar=False, mtime=end)
        if tar:
            _write(bundle.path, folder.name, _tree(work), tar=True, mtime=end)
        return bundle
    finally:
        if tar:
            shutil.rmtree(work, ignore_errors=True)


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by its path relative to it (for the tar)."""
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }
