"""``agentwatch record``: the collector's metrics and log streams to a gzip NDJSON file.

Each line is one stream message as it arrived: ``{"t": unix seconds when received, "stream":
"metrics"|"logs", "event": name, "id": SSE id, "data": the data text exactly as sent}``. The
metrics stream is asked for whole snapshots (no deltas), so any point of a recording can be shown
on its own. Both streams are followed with :func:`agentwatch.client.stream.follow`, so a collector
restart or a dropped connection is survived the way the viewer survives it (the log stream resumes
after its last id: nothing lost, nothing twice).

Bounded: a file is closed and rotated (``FILE`` → ``FILE.1`` → … → ``FILE.<K-1>``, the oldest
removed) before its compressed size would pass ``max_bytes``; a single message larger than that
gets a file of its own. Every rotated file begins with the log stream's latest ``hello``, so each
part replays on its own. The compressor is flushed at least once a second, so a recorder that is
killed leaves a file readable up to its last second (:mod:`agentwatch.replay` tells it was cut).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from agentwatch.client.sse import ServerSentEvent
from agentwatch.client.stream import ConnectionState, follow
from agentwatch.protocol import (
    DEFAULT_URL,
    PATH_DASHBOARD_STREAM,
    PATH_LOGS_STREAM,
    SSE_HELLO,
    normalize_token,
)

STREAM_METRICS: Final = "metrics"
STREAM_LOGS: Final = "logs"
STREAMS: Final = (STREAM_METRICS, STREAM_LOGS)
DEFAULT_MAX_BYTES: Final = 16 * 1024 * 1024
DEFAULT_MAX_FILES: Final = 4
#: Least size of one file: below it, nearly every snapshot would need a file of its own.
MIN_MAX_BYTES: Final = 4096
#: Seconds between two flushes of the compressor (what a killed recorder can lose).
FLUSH_SECONDS: Final = 1.0
#: Bytes of a gzip member's end (an empty final block and the 8-byte trailer), kept free.
_TRAILER_BYTES: Final = 16


class Frame(msgspec.Struct, omit_defaults=True):
    """One recorded stream message (one line of a recording)."""

    t: float
    stream: str
    event: str
    data: str
    id: str = ""


_encoder: Final = msgspec.json.Encoder()


def part_paths(path: Path, max_files: int) -> list[Path]:
    """``FILE, FILE.1, … FILE.<max_files-1>``: newest first."""
    return [path] + [path.with_name(f"{path.name}.{n}") for n in range(1, max_files)]


@dataclass
class Recorder:
    """Writes frames to ``path``, rotating before a file passes ``max_bytes`` (compressed).

    ``clock`` gives the receive time written as ``t`` and paces the flushes.
    """

    path: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES
    clock: Callable[[], float] = time.time
    frames: int = 0
    rotations: int = 0
    _file: Any = None
    _compressor: Any = None
    _written: int = 0  # compressed bytes in the current file
    _pending: int = 0  # uncompressed bytes given to the compressor since its last flush
    _frames_in_file: int = 0
    _flushed_at: float = 0.0
    _hello: Frame | None = None
    _counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.max_bytes < MIN_MAX_BYTES:
            raise ValueError(f"max_bytes must be at least {MIN_MAX_BYTES}")
        if self.max_files < 1:
            raise ValueError("max_files must be at least 1")
        self._open()

    def _open(self) -> None:
        self._file = open(self.path, "wb")
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip member
        self._written = self._pending = self._frames_in_file = 0
        self._flushed_at = self.clock()

    def _emit(self, data: bytes) -> None:
        if data:
            self._file.write(data)
            self._written += len(data)

    def _flush(self) -> None:
        self._emit(self._compressor.flush(zlib.Z_SYNC_FLUSH))
        self._file.flush()
        self._pending = 0
        self._flushed_at = self.clock()

    def _close_file(self) -> None:
        self._emit(self._compressor.flush(zlib.Z_FINISH))
        self._file.close()

    def _rotate(self, at: float) -> None:
        self._close_file()
        parts = part_paths(self.path, self.max_files)
        for older, newer in zip(reversed(parts[1:]), reversed(parts[:-1]), strict=True):
            if newer.exists():
                os.replace(newer, older)
        if self.max_files == 1:
            self.path.unlink(missing_ok=True)
        self._open()
        self.rotations += 1
        if self._hello is not None:
            hello = msgspec.structs.replace(self._hello, t=at)  # the part begins now
            self._write_line(_encoder.encode(hello) + b"\n")

    def _write_line(self, line: bytes) -> None:
        self._emit(self._compressor.compress(line))
        self._pending += len(line)
        self._frames_in_file += 1

    def _fits(self, size: int) -> bool:
        # Compressed output never exceeds its input by more than a few bytes per block.
        return self._written + self._pending + size + _TRAILER_BYTES <= self.max_bytes

    def write(self, stream: str, sse: ServerSentEvent, received: float | None = None) -> None:
        """Append one stream message (``received`` defaults to the clock)."""
        frame = Frame(
            t=self.clock() if received is None else received,
            stream=stream,
            event=sse.event,
            data=sse.data,
            id=sse.id or "",
        )
        line = _encoder.encode(frame) + b"\n"
        if self._frames_in_file and not self._fits(len(line)):
            self._flush()  # the exact compressed size so far
            if not self._fits(len(line)):
                self._rotate(frame.t)
        if stream == STREAM_LOGS and sse.event == SSE_HELLO:
            self._hello = frame
        self._write_line(line)
        self.frames += 1
        self._counts[stream] = self._counts.get(stream, 0) + 1
        if self.clock() - self._flushed_at >= FLUSH_SECONDS:
            self._flush()

    def counts(self) -> dict[str, int]:
        """Frames written per stream."""
        return dict(self._counts)

    def close(self) -> None:
        if self._file is not None and not self._file.closed:
            self._close_file()


async def record(
    url: str,
    recorder: Recorder,
    *,
    token: str | None = None,
    stop: asyncio.Event | None = None,
    duration: float | None = None,
    on_state: Callable[[str, ConnectionState], None] | None = None,
) -> None:
    """Follow both streams of ``url`` into ``recorder`` until ``stop`` is set or ``duration`` passes."""
    stop = stop or asyncio.Event()

    def writer(stream: str) -> Callable[[list[ServerSentEvent]], None]:
        def on_events(events: list[ServerSentEvent]) -> None:
            received = time.time()
            for sse in events:
                recorder.write(stream, sse, received)

        return on_events

    def state_of(stream: str) -> Callable[[ConnectionState], None]:
        return lambda state: on_state(stream, state) if on_state is not None else None

    import httpx

    async with httpx.AsyncClient() as client:
        tasks = [
            asyncio.create_task(
                follow(
                    url,
                    path,
                    token=token,
                    client=client,
                    on_events=writer(stream),
                    on_state=state_of(stream),
                )
            )
            for stream, path in ((STREAM_METRICS, PATH_DASHBOARD_STREAM), (STREAM_LOGS, PATH_LOGS_STREAM))
        ]
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


def main(namespace: argparse.Namespace) -> int:
    """``agentwatch record URL -o FILE``: record until Ctrl-C, SIGTERM or ``--duration``."""
    url = namespace.url or os.environ.get("AGENTWATCH_URL") or DEFAULT_URL
    token = normalize_token(namespace.token or os.environ.get("AGENTWATCH_TOKEN"))
    path = Path(namespace.output)
    try:
        recorder = Recorder(path, max_bytes=namespace.max_bytes, max_files=namespace.max_files)
    except (OSError, ValueError) as exc:
        print(f"agentwatch record: {exc}", file=sys.stderr)
        return 2
    print(f"agentwatch: recording {url} to {path} (Ctrl-C stops)", file=sys.stderr, flush=True)
    seen: dict[str, str] = {}

    def tell(stream: str, state: ConnectionState) -> None:
        if seen.get(stream) != state.phase:
            seen[stream] = state.phase
            why = f" ({state.error})" if state.error else ""
            print(f"agentwatch: {stream} stream {state.phase}{why}", file=sys.stderr, flush=True)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        await record(url, recorder, token=token, stop=stop, duration=namespace.duration, on_state=tell)

    try:
        asyncio.run(run())
    finally:
        recorder.close()
    counts = recorder.counts()
    print(
        f"agentwatch: recorded {counts.get(STREAM_METRICS, 0)} metrics and {counts.get(STREAM_LOGS, 0)} "
        f"log messages to {path}" + (f" ({recorder.rotations} rotations)" if recorder.rotations else ""),
        file=sys.stderr,
    )
    return 0


__all__: Sequence[str] = ("Frame", "Recorder", "main", "part_paths", "record")
