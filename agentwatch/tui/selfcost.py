"""What the viewer itself costs: its CPU, frame time, event → screen lag, bytes to the terminal, drops.

A :class:`SelfCostMeter` is fed by cheap hooks (a few additions per frame and per terminal write,
into preallocated rings) and sampled once a second into :class:`SelfCost` figures. A viewer in a
terminal writes its figures every :data:`PUBLISH_SECONDS` to ``<pid>.json`` in :func:`figures_dir`
(atomically, removed at exit); :func:`live_figures` reads the files of the viewers still running, for
``agentwatch status --self``. No Textual here: ``status`` imports this without paying for it.

The figures:

* ``cpu_percent``: the process's CPU time (every thread: event loop, terminal writer) over wall
  time, over the last :data:`RATE_SECONDS`; 100 is one core.
* ``frame_p95_ms``: the 95th percentile, over the last :data:`WINDOW_SECONDS`, of the time one
  screen update takes: rendering the changed widgets into the compositor's update, turning it into
  escape sequences and handing them to the terminal writer.
* ``lag_p95_ms``: the 95th percentile, over the last :data:`WINDOW_SECONDS`, of the time from a log
  line's timestamp (when the event happened, or when the collector received it if the sender gave
  no time) to the screen write that follows the frame that added it to the log pane. Lines stamped
  more than :data:`MAX_LAG` seconds earlier (a backfill, a replay) or in the future (a sender's
  clock ahead of this one) are left out. It includes the sender's and collector's part, the stream
  and the frame pacing; across machines it includes their clock difference.
* ``bytes_per_second``: what the viewer wrote to the terminal (UTF-8 bytes), over the last
  :data:`RATE_SECONDS`; ``bytes_total`` since the hooks were installed.
* ``lines_dropped``: log lines the viewer did not get (the collector dropped them because the
  viewer read too slowly, or no longer held them on resume), since start.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from array import array
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

__all__ = [
    "SelfCost",
    "SelfCostFile",
    "SelfCostMeter",
    "figures_dir",
    "format_bytes_rate",
    "format_ms",
    "live_figures",
    "readout",
]

#: Seconds between two samples.
SAMPLE_SECONDS: Final = 1.0
#: Seconds between two writes of the figures file: a rename is dearer than a sample, and its
#: readers (``agentwatch status --self``) keep a file for :data:`STALE_SECONDS`.
PUBLISH_SECONDS: Final = 5.0
#: CPU and bytes/s are averaged over this many seconds.
RATE_SECONDS: Final = 5.0
#: Frame time and lag percentiles cover this many seconds.
WINDOW_SECONDS: Final = 10.0
#: Frames (and lag samples) kept: more than :data:`WINDOW_SECONDS` at the highest frame rate.
RING_SIZE: Final = 512
#: Lines stamped longer ago than this (seconds) are not a lag: a backfill, a replay.
MAX_LAG: Final = 60.0
#: A figures file not rewritten for this long (seconds) belongs to no running viewer.
STALE_SECONDS: Final = 10.0
_SUFFIX: Final = ".json"


class SelfCost(msgspec.Struct, kw_only=True):
    """One sample of a viewer's own cost (see the module's docstring for each figure)."""

    pid: int
    updated: float
    url: str = ""
    cpu_percent: float = 0.0
    frame_p95_ms: float | None = None
    frames: int = 0
    lag_p95_ms: float | None = None
    bytes_per_second: float = 0.0
    bytes_total: int = 0
    lines_dropped: int = 0


class _Ring:
    """The last :data:`RING_SIZE` (monotonic time, value) pairs, in preallocated arrays."""

    __slots__ = ("_at", "_next", "_values")

    def __init__(self) -> None:
        self._at = array("d", [-math.inf]) * RING_SIZE
        self._values = array("d", [0.0]) * RING_SIZE
        self._next = 0

    def add(self, at: float, value: float) -> None:
        index = self._next
        self._at[index] = at
        self._values[index] = value
        self._next = (index + 1) % RING_SIZE

    def since(self, start: float) -> list[float]:
        """The values added at ``start`` or later, newest first: read back from the newest until an
        older one (times only grow), so a quiet ring costs a few steps, not :data:`RING_SIZE`."""
        found: list[float] = []
        at, values, index = self._at, self._values, self._next
        for _ in range(RING_SIZE):
            index = index - 1 if index else RING_SIZE - 1
            if at[index] < start:
                break
            found.append(values[index])
        return found


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    values.sort()
    return values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)]


class SelfCostMeter:
    """Counts what the hooks report and turns it into :class:`SelfCost` once a second.

    ``clock`` is the wall clock log lines are stamped against (the viewer's); ``monotonic`` and
    ``cpu`` (process CPU seconds) are injectable for tests.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        cpu: Callable[[], float] = time.process_time,
    ) -> None:
        self.clock = clock
        self._monotonic = monotonic
        self._cpu = cpu
        #: UTF-8 bytes written to the terminal since the hooks were installed.
        self.bytes_total = 0
        #: Screen writes since start.
        self.paints = 0
        self._frames = _Ring()
        self._lags = _Ring()
        self._newest_line: float | None = None
        self._rates: deque[tuple[float, float, int]] = deque(maxlen=int(RATE_SECONDS / SAMPLE_SECONDS) + 1)
        self._rates.append((monotonic(), cpu(), 0))
        #: The last sample taken (None before the first).
        self.last: SelfCost | None = None

    def wrote(self, data: str) -> None:
        """``data`` went to the terminal."""
        self.bytes_total += len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))

    def lines_queued(self, newest_timestamp: float) -> None:
        """A frame added lines to the log pane, the newest stamped ``newest_timestamp`` (wall clock)."""
        self._newest_line = newest_timestamp

    def painted(self) -> None:
        """The screen was written: the lines queued since the last write are on it now."""
        self.paints += 1
        stamped = self._newest_line
        if stamped is not None:
            self._newest_line = None
            lag = self.clock() - stamped
            if 0.0 <= lag <= MAX_LAG:
                self._lags.add(self._monotonic(), lag)

    def frame_drawn(self, seconds: float) -> None:
        """One screen update took ``seconds``."""
        self._frames.add(self._monotonic(), seconds)

    def sample(self, *, pid: int, url: str = "", lines_dropped: int = 0) -> SelfCost:
        """The figures now (kept as :attr:`last`)."""
        now, cpu = self._monotonic(), self._cpu()
        rates = self._rates
        rates.append((now, cpu, self.bytes_total))
        then, cpu_then, bytes_then = rates[0]
        elapsed = now - then
        frames = self._frames.since(now - WINDOW_SECONDS)
        frame_p95 = _p95(frames)
        lag_p95 = _p95(self._lags.since(now - WINDOW_SECONDS))
        self.last = SelfCost(
            pid=pid,
            updated=time.time(),  # the files' clock, whatever clock the lines are read against
            url=url,
            cpu_percent=round(100 * (cpu - cpu_then) / elapsed, 1) if elapsed > 0 else 0.0,
            frame_p95_ms=None if frame_p95 is None else round(frame_p95 * 1000, 2),
            frames=len(frames),
            lag_p95_ms=None if lag_p95 is None else round(lag_p95 * 1000, 1),
            bytes_per_second=round((self.bytes_total - bytes_then) / elapsed, 1) if elapsed > 0 else 0.0,
            bytes_total=self.bytes_total,
            lines_dropped=lines_dropped,
        )
        return self.last


# ---------------------------------------------------------------------- figures as text
def format_ms(ms: float | None) -> str:
    """``4.2 ms``, ``1.3 s``, or "—" for no figure."""
    if ms is None:
        return "—"
    if ms < 10:
        return f"{ms:.1f} ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


def format_bytes_rate(per_second: float) -> str:
    """``812 B/s``, ``18.4 KiB/s``, ``1.2 MiB/s``."""
    if per_second < 1024:
        return f"{per_second:.0f} B/s"
    if per_second < 1024 * 1024:
        return f"{per_second / 1024:.1f} KiB/s"
    return f"{per_second / (1024 * 1024):.1f} MiB/s"


def readout(figures: SelfCost) -> str:
    """The figures in one line, as the footer readout shows them."""
    return " · ".join(
        (
            f"viewer CPU {figures.cpu_percent:.1f}%",
            f"frame p95 {format_ms(figures.frame_p95_ms)}",
            f"event→screen p95 {format_ms(figures.lag_p95_ms)}",
            f"terminal {format_bytes_rate(figures.bytes_per_second)}",
            f"dropped {figures.lines_dropped:,} lines",
        )
    )


# ---------------------------------------------------------------------- the figures file
def figures_dir() -> Path:
    """Where running viewers write their figures: the user's runtime directory (platformdirs)."""
    import platformdirs

    with warnings.catch_warnings():
        # Without a usable XDG_RUNTIME_DIR platformdirs warns, then falls back to a private
        # directory of its own; a warning printed here would land on the viewer's screen.
        warnings.simplefilter("ignore")
        return platformdirs.user_runtime_path("agentwatch") / "viewers"


class SelfCostFile:
    """A viewer's ``<pid>.json``: rewritten atomically (a temporary file renamed over it), removed by
    :meth:`remove`. A write that fails (a full disk, a removed directory) is counted, not raised."""

    def __init__(self, pid: int, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else figures_dir()
        self.path = self.directory / f"{pid}{_SUFFIX}"
        self._temporary = self.directory / f".{pid}{_SUFFIX}.tmp"
        self.failed_writes = 0
        #: Writes that reached the file.
        self.writes = 0

    def write(self, figures: SelfCost) -> bool:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._temporary.write_bytes(msgspec.json.encode(figures))
            os.replace(self._temporary, self.path)
        except OSError:
            self.failed_writes += 1
            return False
        self.writes += 1
        return True

    def remove(self) -> None:
        for path in (self.path, self._temporary):
            with contextlib.suppress(OSError):
                path.unlink()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user has that pid now
        return False
    return True


_decoder: Final = msgspec.json.Decoder(SelfCost)


def live_figures(directory: Path | None = None, *, now: float | None = None) -> list[SelfCost]:
    """The figures of every viewer still running, by pid. A file whose process is gone, that was not
    rewritten for :data:`STALE_SECONDS`, or that cannot be read is removed."""
    directory = directory if directory is not None else figures_dir()
    now = time.time() if now is None else now
    found: list[SelfCost] = []
    try:
        paths = sorted(directory.glob(f"*{_SUFFIX}"))
    except OSError:
        return found
    for path in paths:
        stem = path.name.removesuffix(_SUFFIX)
        figures: SelfCost | None = None
        if stem.isdigit():
            try:
                figures = _decoder.decode(path.read_bytes())
            except (OSError, msgspec.DecodeError):
                figures = None
        if (
            figures is None
            or figures.pid != int(stem)
            or now - figures.updated > STALE_SECONDS
            or not _running(figures.pid)
        ):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        found.append(figures)
    return sorted(found, key=lambda figures: figures.pid)
