"""``agentwatch replay FILE``: serve a recording (:mod:`agentwatch.record`) as a collector.

The routes the viewer reads answer from the recording at the recorded pace times ``speed``:
``/api/dashboard/stream`` (the latest snapshot and every alert's latest state at once, then each
recorded message when its time comes), ``/api/logs/stream`` (``hello``, then the lines recorded so
far — the last :data:`BACKFILL` of them — or those after ``Last-Event-ID`` / ``?after=``, then the
rest in time), ``/api/snapshot``, ``/api/alerts``, ``/api/logs?from=&to=``, ``/healthz`` (with a
``replay`` object: file, position, duration, speed, ended). Any other path answers 404 saying a
recording holds the streams only. There is one clock for every viewer: a viewer that reconnects
comes back to where the recording now is. At the end the server stays up, showing the last state.

A recording of ``FILE`` is ``FILE`` and the rotated parts beside it (``FILE.1`` …), played oldest
first. A file that is not gzip, or a line that is not a recorded message, is refused with its
name and line; a file cut short (a recorder killed) plays up to its last whole line, and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentwatch import __version__
from agentwatch.protocol import (
    DEFAULT_HOST,
    DEFAULT_LOG_RANGE_LIMIT,
    MAX_LOG_RANGE_LIMIT,
    PATH_ALERTS,
    PATH_DASHBOARD_STREAM,
    PATH_HEALTH,
    PATH_LOGS,
    PATH_LOGS_STREAM,
    PATH_SNAPSHOT,
    SSE_ALERT,
    SSE_HELLO,
    SSE_LOG,
    SSE_METRICS,
    Alert,
    AlertsResponse,
    LogEntry,
    LogRange,
    level_rank,
)
from agentwatch.record import STREAM_LOGS, STREAM_METRICS, STREAMS, Frame, part_paths

DEFAULT_REPLAY_PORT: Final = 8788
#: Log lines a new log-stream subscriber gets first (as a collector's stream sends its last ones).
BACKFILL: Final = 1000
#: Largest recording held (decompressed bytes): a longer one is refused; replay one part of it.
MAX_RECORDING_BYTES: Final = 1 << 30
HEARTBEAT_SECONDS: Final = 15.0
#: Alert history entries /api/alerts returns (newest first).
ALERT_HISTORY: Final = 100
_CHUNK: Final = 1 << 16
_frame_decoder: Final = msgspec.json.Decoder(Frame)
_alert_decoder: Final = msgspec.json.Decoder(Alert)
_entry_decoder: Final = msgspec.json.Decoder(LogEntry)


class _SnapshotAlerts(msgspec.Struct):
    alerts: list[Alert] = []


_snapshot_alerts_decoder: Final = msgspec.json.Decoder(_SnapshotAlerts)
_encoder: Final = msgspec.json.Encoder()


class RecordingError(Exception):
    """A recording cannot be played; the message names the file (and line) and says why."""


@dataclass
class Recording:
    """The frames of a recording, oldest first, split by stream; ``warnings`` say what was cut."""

    frames: list[Frame]
    files: list[Path]
    warnings: list[str] = field(default_factory=list)
    metrics: list[Frame] = field(init=False)
    logs: list[Frame] = field(init=False)

    def __post_init__(self) -> None:
        self.metrics = [f for f in self.frames if f.stream == STREAM_METRICS]
        self.logs = [f for f in self.frames if f.stream == STREAM_LOGS]
        self.start = self.frames[0].t if self.frames else 0.0
        self.duration = self.frames[-1].t - self.start if self.frames else 0.0
        self.metrics_times = [f.t - self.start for f in self.metrics]
        self.logs_times = [f.t - self.start for f in self.logs]
        self.log_index = {f.id: i for i, f in enumerate(self.logs) if f.id}
        self._entries: list[tuple[int, LogEntry]] | None = None

    def log_entries(self) -> list[tuple[int, LogEntry]]:
        """(index in :attr:`logs`, entry) of every readable log line, decoded once on first use."""
        if self._entries is None:
            self._entries = []
            for index, frame in enumerate(self.logs):
                if frame.event == SSE_LOG:
                    try:
                        self._entries.append((index, _entry_decoder.decode(frame.data)))
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        continue  # shown by the stream as the collector sent it; not in ranges
        return self._entries


def _add_frame(frames: list[Frame], line: bytes, path: Path, line_no: int) -> None:
    if not line.strip():
        return
    try:
        frame = _frame_decoder.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RecordingError(f"{path}: line {line_no} is not a recorded message ({exc})") from None
    if frame.stream not in STREAMS:
        raise RecordingError(f"{path}: line {line_no}: unknown stream {frame.stream!r}")
    if frames and frame.t < frames[-1].t:
        frame.t = frames[-1].t  # a clock stepped back: keep the order, never wait backwards
    frames.append(frame)


def _read_part(path: Path, budget: int, warnings: list[str]) -> tuple[list[Frame], int]:
    """The frames of one file and the decompressed bytes it held; raises :class:`RecordingError`."""
    frames: list[Frame] = []
    used = 0
    line_no = 0
    tail = b""
    decompressor = zlib.decompressobj(31)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        ended = False
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            try:
                data = decompressor.decompress(chunk)
                while decompressor.eof and decompressor.unused_data:  # concatenated gzip members
                    rest = decompressor.unused_data
                    decompressor = zlib.decompressobj(31)
                    data += decompressor.decompress(rest)
            except zlib.error as exc:
                where = "not a gzip file" if not frames and not tail else f"corrupt after line {line_no}"
                raise RecordingError(f"{path}: {where} ({exc})") from None
            used += len(data)
            if used > budget:
                raise RecordingError(
                    f"{path}: the recording holds more than {MAX_RECORDING_BYTES >> 20} MiB of messages; "
                    "replay one part of it (FILE.1, FILE.2 …) on its own"
                )
            lines = (tail + data).split(b"\n")
            tail = lines.pop()
            for line in lines:
                line_no += 1
                _add_frame(frames, line, path, line_no)
        ended = decompressor.eof
    if ended and tail.strip():  # a whole file whose last line has no newline
        _add_frame(frames, tail, path, line_no + 1)
    elif not ended:
        warnings.append(
            f"{path} ends early (the recorder stopped without closing it): playing the "
            f"{len(frames)} messages before that"
        )
    return frames, used


def load(path: Path) -> Recording:
    """``path`` and its rotated parts (``path.1`` …, oldest played first); raises :class:`RecordingError`."""
    if not path.exists():
        raise RecordingError(f"{path}: no such file")
    parts = [path]
    for older in part_paths(path, 1000)[1:]:
        if not older.exists():
            break
        parts.append(older)
    parts.reverse()
    frames: list[Frame] = []
    warnings: list[str] = []
    budget = MAX_RECORDING_BYTES
    for part in parts:
        found, used = _read_part(part, budget, warnings)
        budget -= used
        if frames and found and found[0].t < frames[-1].t:
            raise RecordingError(
                f"{part}: begins before the part played before it ends; replay it on its own"
            )
        frames.extend(found)
    if not frames:
        raise RecordingError(f"{path}: holds no recorded message")
    return Recording(frames, parts, warnings)


def sse_bytes(frame: Frame) -> bytes:
    """The frame as the collector sent it."""
    head = f"event: {frame.event}\n" + (f"id: {frame.id}\n" if frame.id else "")
    data = "".join(f"data: {line}\n" for line in frame.data.split("\n"))
    return (head + data + "\n").encode()


class Player:
    """The one clock of a replay: seconds into the recording, ``speed`` times real time."""

    def __init__(
        self,
        recording: Recording,
        *,
        speed: float = 1.0,
        start: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be greater than 0")
        self.recording = recording
        self.speed = speed
        self.offset = max(0.0, min(start, recording.duration))
        self.clock = clock
        self.began = clock()

    def position(self) -> float:
        return min(self.offset + (self.clock() - self.began) * self.speed, self.recording.duration)

    def wait_for(self, at: float) -> float:
        """Real seconds until recording time ``at`` (≤ 0: due)."""
        return (at - self.offset) / self.speed - (self.clock() - self.began)

    def seen(self, times: list[float]) -> int:
        """How many of ``times`` (sorted) are at or before the position."""
        return bisect.bisect_right(times, self.position())

    def ended(self) -> bool:
        return self.position() >= self.recording.duration

    def latest_snapshot(self) -> Frame | None:
        for frame in reversed(self.recording.metrics[: self.seen(self.recording.metrics_times)]):
            if frame.event == SSE_METRICS:
                return frame
        return None

    def alerts(self) -> tuple[dict[str, Frame], list[Alert]]:
        """Each alert's latest frame so far (by id), and every alert state change so far, oldest first."""
        latest: dict[str, Frame] = {}
        changes: list[Alert] = []
        for frame in self.recording.metrics[: self.seen(self.recording.metrics_times)]:
            if frame.event != SSE_ALERT:
                continue
            try:
                alert = _alert_decoder.decode(frame.data)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue
            if not changes or changes[-1] != alert:
                changes.append(alert)
            latest[alert.id] = frame
        return latest, changes


async def _follow(
    player: Player, frames: list[Frame], times: list[float], cursor: int, first: list[bytes]
) -> AsyncIterator[bytes]:
    """``first``, then frames from ``cursor`` on, each when its time comes; heartbeats between."""
    if first:
        yield b"".join(first)
    beat = time.monotonic()
    while True:
        due = player.seen(times)
        if cursor < due:
            yield b"".join(sse_bytes(frame) for frame in frames[cursor:due])
            cursor = due
            beat = time.monotonic()
            continue
        wait = player.wait_for(times[cursor]) if cursor < len(times) else HEARTBEAT_SECONDS
        idle = HEARTBEAT_SECONDS - (time.monotonic() - beat)
        if idle <= 0:
            yield b": replay\n\n"
            beat = time.monotonic()
            continue
        await asyncio.sleep(max(0.0, min(wait, idle, 1.0)))


def _event_stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


def _problem(status: int, error: str, detail: str | None = None) -> JSONResponse:
    body: dict[str, str] = {"error": error}
    if detail:
        body["detail"] = detail
    return JSONResponse(body, status_code=status)


def create_app(player: Player, *, name: str = "recording") -> Starlette:
    """A Starlette app serving ``player``'s recording on the routes the viewer reads."""
    recording = player.recording
    started = time.monotonic()

    async def dashboard_stream(request: Request) -> Response:
        first: list[bytes] = []
        snapshot = player.latest_snapshot()
        if snapshot is not None:
            first.append(sse_bytes(snapshot))
        first.extend(sse_bytes(frame) for frame in player.alerts()[0].values())
        cursor = player.seen(recording.metrics_times)
        return _event_stream(_follow(player, recording.metrics, recording.metrics_times, cursor, first))

    async def logs_stream(request: Request) -> Response:
        logs, seen = recording.logs, player.seen(recording.logs_times)
        hello = next((f for f in reversed(logs[:seen]) if f.event == SSE_HELLO), None)
        if hello is None:
            hello = next((f for f in logs if f.event == SSE_HELLO), None)
        first = [sse_bytes(hello)] if hello is not None else []
        resume = request.headers.get("last-event-id") or request.query_params.get("after")
        if resume:
            known = recording.log_index.get(resume.strip())
            if known is None and resume.strip().isdigit():
                known = next(
                    (i for f, i in recording.log_index.items() if f.rpartition(":")[2] == resume.strip()),
                    None,
                )
            if known is None:
                return _problem(
                    400, "Last-Event-ID: not an id of this recording", f"got {resume.strip()[:40]!r}"
                )
            cursor = known + 1
        else:
            cursor = seen
            entries = [i for i in range(seen) if logs[i].event == SSE_LOG][-BACKFILL:]
            first.extend(sse_bytes(logs[i]) for i in entries)
        return _event_stream(_follow(player, logs, recording.logs_times, cursor, first))

    async def snapshot(request: Request) -> Response:
        frame = player.latest_snapshot()
        if frame is None:
            return _problem(503, "no snapshot recorded yet at this point of the recording")
        return Response(frame.data, media_type="application/json")

    async def alerts(request: Request) -> Response:
        # What fires is in every snapshot (alerts that fired before the recording began too);
        # the history is the state changes the stream carried, and those firing alerts.
        _, changes = player.alerts()
        frame = player.latest_snapshot()
        firing = _snapshot_alerts_decoder.decode(frame.data).alerts if frame is not None else []
        told = {(a.id, a.started_at) for a in changes}
        history = [a for a in firing if (a.id, a.started_at) not in told] + changes
        answer = AlertsResponse(firing=firing, history=history[::-1][:ALERT_HISTORY])
        return Response(_encoder.encode(answer), media_type="application/json")

    async def logs_range(request: Request) -> Response:
        query = request.query_params
        try:
            start = float(query.get("from", "0"))
            end = float(query.get("to", "inf"))
            limit = int(query.get("limit", str(DEFAULT_LOG_RANGE_LIMIT)))
        except ValueError:
            return _problem(400, "from, to: unix seconds; limit: a whole number")
        if not 0 < limit <= MAX_LOG_RANGE_LIMIT:
            return _problem(400, f"limit: must be from 1 to {MAX_LOG_RANGE_LIMIT}")
        agent = query.get("agent") or None
        level = query.get("level")
        min_rank = level_rank(level) if level else 0
        entries: list[LogEntry] = []
        truncated = False
        seen = player.seen(recording.logs_times)
        for index, entry in recording.log_entries():
            if index >= seen:
                break
            if agent is not None and entry.agent_id != agent:
                continue
            if start <= entry.timestamp < end and level_rank(entry.level) >= min_rank:
                if len(entries) == limit:
                    truncated = True
                    break
                entries.append(entry)
        answer = LogRange(start=start, end=end, entries=entries, truncated=truncated)
        return Response(_encoder.encode(answer), media_type="application/json")

    async def health(request: Request) -> Response:
        seen = player.seen(recording.logs_times)
        lines = [f for f in recording.logs[:seen] if f.event == SSE_LOG]
        last_id = lines[-1].id.rpartition(":")[2] if lines else "0"
        snap = player.latest_snapshot()
        agents = len(msgspec.json.decode(snap.data).get("agents", [])) if snap is not None else 0
        body = {
            "status": "ok",
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - started, 3),
            "events_total": 0,
            "log_entries_total": len(lines),
            "last_log_id": int(last_id) if last_id.isdigit() else 0,
            "agents": agents,
            "subscribers": 0,
            "store": "replay",
            "replay": {
                "file": name,
                "position_seconds": round(player.position(), 3),
                "duration_seconds": round(recording.duration, 3),
                "speed": player.speed,
                "ended": player.ended(),
            },
        }
        return JSONResponse(body)

    async def not_here(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status == 405:
            return _problem(405, f"{request.method} {request.url.path}: a replay is read-only")
        return _problem(
            404,
            f"{request.url.path}: not in a recording",
            "a replay serves the streams, snapshot, alerts, logs by time and /healthz only",
        )

    routes = [
        Route(PATH_DASHBOARD_STREAM, dashboard_stream, methods=["GET"]),
        Route(PATH_LOGS_STREAM, logs_stream, methods=["GET"]),
        Route(PATH_SNAPSHOT, snapshot, methods=["GET"]),
        Route(PATH_ALERTS, alerts, methods=["GET"]),
        Route(PATH_LOGS, logs_range, methods=["GET"]),
        Route(PATH_HEALTH, health, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_here, 405: not_here})


def main(namespace: argparse.Namespace) -> int:
    """``agentwatch replay FILE``: serve it on 127.0.0.1 until Ctrl-C."""
    from agentwatch.collector.server import bind_socket

    path = Path(namespace.file)
    try:
        recording = load(path)
    except RecordingError as exc:
        print(f"agentwatch replay: {exc}", file=sys.stderr)
        return 2
    for warning in recording.warnings:
        print(f"agentwatch replay: {warning}", file=sys.stderr)
    try:
        sock = bind_socket(DEFAULT_HOST, namespace.port)
    except OSError as exc:
        print(
            f"agentwatch replay: cannot listen on {DEFAULT_HOST}:{namespace.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    port = sock.getsockname()[1]
    player = Player(recording, speed=namespace.speed, start=namespace.start)
    app = create_app(player, name=str(path))
    counts = f"{len(recording.metrics)} metrics and {len(recording.logs)} log messages"
    print(
        f"agentwatch replay of {path} ({counts}, {recording.duration:.0f} s at {namespace.speed:g}x) "
        f"on http://{DEFAULT_HOST}:{port}\n  watch it: agentwatch http://{DEFAULT_HOST}:{port}",
        flush=True,
    )
    config = uvicorn.Config(
        app, log_level="warning", ws="none", access_log=False, timeout_graceful_shutdown=1
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


__all__: Sequence[str] = ("Player", "Recording", "RecordingError", "create_app", "load", "main")
