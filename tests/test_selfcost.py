"""What the viewer costs, without a viewer: the meter's figures and the figures files."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import msgspec

from agentwatch.tui.selfcost import (
    MAX_LAG,
    RING_SIZE,
    STALE_SECONDS,
    SelfCost,
    SelfCostFile,
    SelfCostMeter,
    live_figures,
    readout,
)
from tests.helpers import Clock


class Times:
    """Monotonic and CPU clocks moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0
        self.cpu = 5.0

    def monotonic(self) -> float:
        return self.now

    def process_time(self) -> float:
        return self.cpu


def meter(times: Times, clock: Clock) -> SelfCostMeter:
    return SelfCostMeter(clock=clock, monotonic=times.monotonic, cpu=times.process_time)


def test_cpu_and_bytes_per_second_are_averaged_over_the_last_seconds() -> None:
    times, clock = Times(), Clock()
    cost = meter(times, clock)
    for _ in range(10):  # 20 % of a core and 1 000 B/s for 10 s…
        times.now += 1
        times.cpu += 0.2
        cost.wrote("x" * 1000)
        cost.sample(pid=1)
    for _ in range(5):  # …then 60 % and 2 000 B/s (with 2-byte characters) for the last 5
        times.now += 1
        times.cpu += 0.6
        cost.wrote("é" * 1000)
        figures = cost.sample(pid=1)
    assert figures.cpu_percent == 60.0
    assert figures.bytes_per_second == 2000.0
    assert figures.bytes_total == 20_000
    cost.wrote("\ud800")  # a lone surrogate is counted (as the 3 bytes it takes), never raised on
    assert cost.bytes_total == 20_003


def test_frame_time_p95_covers_the_frames_of_the_last_ten_seconds() -> None:
    times, clock = Times(), Clock()
    cost = meter(times, clock)
    cost.frame_drawn(0.5)  # long ago: not counted
    times.now += 30
    for millisecond in range(1, 101):
        cost.frame_drawn(millisecond / 1000)
    figures = cost.sample(pid=1)
    assert figures.frames == 100
    assert figures.frame_p95_ms == 95.0


def test_the_frames_kept_are_the_newest_ring_size_whichever_way_the_ring_has_turned() -> None:
    times, clock = Times(), Clock()
    cost = meter(times, clock)
    for count in (RING_SIZE + 100, 7, RING_SIZE - 1, 3 * RING_SIZE):
        times.now += 30  # what came before is out of the window
        for millisecond in range(1, count + 1):
            cost.frame_drawn(millisecond / 1000)
        figures = cost.sample(pid=1)
        kept = min(count, RING_SIZE)
        assert figures.frames == kept
        newest = list(range(count - kept + 1, count + 1))
        assert figures.frame_p95_ms == float(newest[math.ceil(0.95 * kept) - 1])


def test_lag_runs_from_the_newest_line_queued_to_the_next_screen_write() -> None:
    times, clock = Times(), Clock()
    cost = meter(times, clock)
    assert cost.sample(pid=1).lag_p95_ms is None
    cost.lines_queued(clock() - 0.2)
    clock.advance(0.05)
    cost.painted()
    cost.painted()  # nothing queued since: no sample
    cost.lines_queued(clock() - MAX_LAG - 1)  # a backfill
    cost.painted()
    cost.lines_queued(clock() + 5)  # a sender's clock ahead
    cost.painted()
    figures = cost.sample(pid=1)
    assert figures.lag_p95_ms == 250.0
    assert cost.paints == 4


def test_the_readout_says_every_figure_and_a_dash_for_none() -> None:
    figures = SelfCost(pid=1, updated=0.0, cpu_percent=2.5, bytes_per_second=6400.0, lines_dropped=1234)
    assert readout(figures) == (
        "viewer CPU 2.5% · frame p95 — · event→screen p95 — · terminal 6.2 KiB/s · dropped 1,234 lines"
    )
    figures = SelfCost(pid=1, updated=0.0, frame_p95_ms=3.44, lag_p95_ms=1800.0)
    assert "frame p95 3.4 ms · event→screen p95 1.8 s · terminal 0 B/s" in readout(figures)


def a_dead_pid() -> int:
    process = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(process.stdout)


def test_live_figures_are_the_running_viewers_and_stale_files_are_removed(tmp_path: Path) -> None:
    mine = SelfCostFile(os.getpid(), tmp_path)
    assert mine.write(SelfCost(pid=os.getpid(), updated=time.time(), bytes_total=7))
    dead = a_dead_pid()
    SelfCostFile(dead, tmp_path).write(SelfCost(pid=dead, updated=time.time()))
    (tmp_path / "123.json").write_text("not json")
    (tmp_path / "notes.json").write_text("{}")
    old = SelfCostFile(os.getppid(), tmp_path)
    old.write(SelfCost(pid=os.getppid(), updated=time.time() - STALE_SECONDS - 1))
    (figures,) = live_figures(tmp_path)
    assert figures.pid == os.getpid() and figures.bytes_total == 7
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{os.getpid()}.json"]
    mine.remove()
    assert live_figures(tmp_path) == [] and not any(tmp_path.iterdir())


def test_a_figures_file_is_replaced_whole(tmp_path: Path) -> None:
    file = SelfCostFile(os.getpid(), tmp_path / "viewers")
    for total in range(20):
        assert file.write(SelfCost(pid=os.getpid(), updated=time.time(), bytes_total=total))
    assert msgspec.json.decode(file.path.read_bytes(), type=SelfCost).bytes_total == 19
    assert [path.name for path in (tmp_path / "viewers").iterdir()] == [f"{os.getpid()}.json"]
    assert (tmp_path / "viewers").stat().st_mode & 0o777 == 0o700


def test_a_write_that_fails_is_counted_not_raised(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    file = SelfCostFile(os.getpid(), tmp_path / "file")  # a directory that cannot be made
    assert not file.write(SelfCost(pid=os.getpid(), updated=time.time()))
    assert file.failed_writes == 1
