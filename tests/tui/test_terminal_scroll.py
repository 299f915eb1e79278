"""The real viewer on a pseudo-terminal: new log lines scroll the pane in the terminal, and the
screen the bytes draw is the right one.

The viewer (``python -m agentwatch URL``) follows a real collector on 127.0.0.1; what it writes to
its terminal is played on a small terminal model (cursor moves, scroll region, scroll up, text;
styles and modes ignored). With tmux installed, the same is checked on a real terminal.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.cells import cell_len

from agentwatch.protocol import LogEntry
from agentwatch.tui.app import AgentWatchApp
from tests.helpers import NOW, PtyCommand, RunningCollector, async_wait_until, screen_lines, wait_until

COLUMNS, LINES = 100, 30
SEQUENCE = re.compile(
    rb"\x1b\[([?>=<]?)([0-9;:]*)([ -/$]*)([@-~])"  # CSI
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
    rb"|\x1b[@-Z\\-_]"  # other escapes
)
SCROLL = re.compile(rb"\x1b\[(\d+);(\d+)r\x1b\[\d+;1H((?:\x1bD)+)\x1b\[r")
MOVE = re.compile(rb"\x1b\[(\d+);(\d+)H")


def log_lines(first: int, count: int) -> list[dict[str, object]]:
    return [
        {"agent_id": "agent-1", "span_type": "log", "level": "info", "message": f"scrolled line {n:03d}"}
        for n in range(first, first + count)
    ]


class Screen:
    """The characters a terminal of ``columns`` × ``lines`` shows after the bytes played on it."""

    def __init__(self, columns: int, lines: int) -> None:
        self.columns, self.lines = columns, lines
        self.cells = [[" "] * columns for _ in range(lines)]
        self.x = self.y = 0
        self.top, self.bottom = 0, lines

    def play(self, data: bytes) -> None:
        at = 0
        for match in SEQUENCE.finditer(data):
            self._text(data[at : match.start()].decode("utf-8", "replace"))
            self._escape(match)
            at = match.end()
        self._text(data[at:].decode("utf-8", "replace"))

    def _text(self, text: str) -> None:
        for char in text:
            if char == "\n":  # down a row; on the scroll region's last row, the region scrolls
                if self.y == self.bottom - 1:
                    self._scroll(1)
                else:
                    self.y = min(self.y + 1, self.lines - 1)
            elif char == "\r":
                self.x = 0
            elif char >= " ":
                width = cell_len(char)
                if self.x < self.columns:
                    self.cells[self.y][self.x] = char
                    for extra in range(1, width):
                        if self.x + extra < self.columns:
                            self.cells[self.y][self.x + extra] = ""
                self.x += width

    def _escape(self, match: re.Match[bytes]) -> None:
        if match.group(0) == b"\x1bD":  # IND: down a row; on the scroll region's last row, the region scrolls
            if self.y == self.bottom - 1:
                self._scroll(1)
            else:
                self.y = min(self.y + 1, self.lines - 1)
            return
        if match.group(4) is None or match.group(1):
            return  # OSC, a private mode, a key protocol query: nothing drawn
        numbers = [int(n) for n in match.group(2).split(b";") if n]
        final = match.group(4)
        if final == b"H":
            self.y, self.x = (numbers[0] - 1, numbers[1] - 1) if numbers else (0, 0)
        elif final == b"r":
            self.top, self.bottom = (numbers[0] - 1, numbers[1]) if numbers else (0, self.lines)
            self.x = self.y = 0
        elif final == b"S":
            self._scroll(numbers[0] if numbers else 1)
        elif final == b"X":  # ECH: blank n cells from the cursor, which stays
            count = numbers[0] if numbers else 1
            row = self.cells[self.y]
            row[self.x : min(self.x + count, self.columns)] = [" "] * max(
                0, min(count, self.columns - self.x)
            )
        elif final == b"C":  # CUF: right n cells, no further than the last column
            self.x = min(self.x + (numbers[0] if numbers else 1), self.columns - 1)
        elif final == b"J" and numbers[:1] == [2]:
            self.cells = [[" "] * self.columns for _ in range(self.lines)]

    def _scroll(self, count: int) -> None:
        band = self.cells[self.top : self.bottom]
        band = band[count:] + [[" "] * self.columns for _ in range(min(count, len(band)))]
        self.cells[self.top : self.bottom] = band

    def rows(self) -> list[str]:
        return ["".join(row) for row in self.cells]


class Viewer(PtyCommand):
    """``agentwatch URL`` on a pseudo-terminal of COLUMNS x LINES."""

    def __init__(self, url: str) -> None:
        super().__init__(url, "--no-bell", columns=COLUMNS, lines=LINES, env={"COLORTERM": "truecolor"})


def writes_at(paint: bytes) -> list[tuple[int, int, int]]:
    """(offset, row, column) of each place a write starts (1-based): a cursor move, or CR LF to the
    next row's first column."""
    places: list[tuple[int, int, int]] = []
    row = 0
    for match in re.finditer(rb"\x1b\[(\d+);(\d+)H|\r\n", paint):
        if match.group(1) is not None:
            row = int(match.group(1))
            places.append((match.start(), row, int(match.group(2))))
        else:
            row += 1
            places.append((match.start(), row, 1))
    return places


def band_writes(paint: bytes, top: int, bottom: int) -> list[tuple[int, int]]:
    """(row, column) of each write into rows ``top`` … ``bottom`` (1-based, as written)."""
    return [(row, column) for _at, row, column in writes_at(paint) if top <= row <= bottom]


def test_new_log_lines_scroll_the_pane_in_the_terminal_and_only_they_are_written(
    collector: RunningCollector,
) -> None:
    viewer = Viewer(collector.url)
    try:
        assert viewer.read_until(lambda: b"sort: " in viewer.output), viewer.output[-500:]
        assert collector.post(log_lines(1, 40)).status_code == 202
        assert viewer.read_until(lambda: b"scrolled line 040" in viewer.output)
        start = len(viewer.output)
        for first in range(41, 51, 2):  # two lines at a time, each pair on screen before the next
            assert collector.post(log_lines(first, 2)).status_code == 202
            assert viewer.read_until(
                lambda first=first: f"scrolled line {first + 1:03d}".encode() in viewer.output
            )
        assert viewer.read_until(lambda: len(SCROLL.findall(viewer.output[start:])) >= 1)
        time.sleep(0.3)  # (a frame or two more, so the last paint is whole in the output)
        viewer.read_until(lambda: False, timeout=0.3)
    finally:
        viewer.close(quit_key=b"q")

    tail = viewer.output[start:]
    scrolls = list(SCROLL.finditer(tail))
    assert scrolls, "no scroll region written"
    for index, scroll in enumerate(scrolls):
        top, bottom, count = int(scroll.group(1)), int(scroll.group(2)), len(scroll.group(3)) // 2
        end = scrolls[index + 1].start() if index + 1 < len(scrolls) else len(tail)
        writes = band_writes(tail[scroll.end() : end], top, bottom)
        new_rows = set(range(bottom - count + 1, bottom + 1))
        assert new_rows <= {row for row, _column in writes}
        # Besides the new rows, only the scrollbar (the last two columns) where its thumb moved.
        assert all(column >= COLUMNS - 1 for row, column in writes if row not in new_rows), writes
    # Ten lines came in pairs: every row of the pane moved each time, but only new rows were written.
    top, bottom = int(scrolls[0].group(1)), int(scrolls[0].group(2))
    assert (
        len(
            {
                at
                for at, row, column in writes_at(
                    SCROLL.sub(b"", tail)
                )  # (a scroll's own move is not a write)
                if top <= row <= bottom and column == 1
            }
        )
        <= 10 + 2
    )

    screen = Screen(COLUMNS, LINES)
    screen.play(viewer.output)
    shown = [int(n) for row in screen.rows() for n in re.findall(r"INFO  scrolled line (\d{3})", row)]
    assert shown == list(range(50 - len(shown) + 1, 51)) and len(shown) >= 8, screen.rows()


async def test_a_live_tail_shows_the_newest_line_after_the_terminal_shrinks_and_grows() -> None:
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, bell=False)
    async with app.run_test(size=(80, 24)) as pilot:
        count = 0

        async def add(lines: int) -> None:
            nonlocal count
            app.state.add_log_entries(
                [
                    LogEntry(
                        timestamp=NOW,
                        agent_id="a",
                        level="info",
                        message=f"scrolled line {count + n + 1:03d}",
                    )
                    for n in range(lines)
                ]
            )
            count += lines
            app.frame()
            await async_wait_until(lambda: newest_shown() == count, pilot=pilot)

        def newest_shown() -> int:
            shown = [
                int(n) for row in screen_lines(app) for n in re.findall(r"INFO  scrolled line (\d{3})", row)
            ]
            return shown[-1] if shown else 0

        await add(30)
        for size in ((60, 15), (120, 36), (80, 24)):
            await pilot.resize_terminal(*size)
            await async_wait_until(lambda size=size: len(screen_lines(app)) == size[1], pilot=pilot)
            await pilot.pause()
            assert newest_shown() == count, size  # still at the end, as it was before the resize
            await add(3)  # and it follows what comes next


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_real_terminal_shows_the_log_right_after_scrolls_resizes_and_the_help(
    collector: RunningCollector, tmp_path: Path
) -> None:
    socket = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", socket, "-f", "/dev/null"]
    command = f"{sys.executable} -m agentwatch {collector.url} --no-bell"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTWATCH_", "TMUX"))}
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", "v", "-x", "80", "-y", "24", command],
        check=True,
        timeout=10,
        env={**env, "TERM": "xterm-256color"},
    )

    def pane() -> list[str]:
        result = subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", "v"], capture_output=True, text=True, timeout=10
        )
        return result.stdout.splitlines()

    def numbers() -> list[int]:
        return [int(n) for row in pane() for n in re.findall(r"INFO  scrolled line (\d{3})", row)]

    def log_is_right(last: int) -> bool:
        shown = numbers()
        return len(shown) >= 3 and shown == list(range(last - len(shown) + 1, last + 1))

    try:
        wait_until(lambda: any("sort: " in row for row in pane()))
        collector.post(log_lines(1, 30))
        wait_until(lambda: log_is_right(30))
        last = 30
        for size in ((60, 15), (120, 36), (80, 24)):
            for _ in range(4):
                collector.post(log_lines(last + 1, 3))
                last += 3
                wait_until(lambda last=last: log_is_right(last))
            subprocess.run(
                [*tmux, "resize-window", "-t", "v", "-x", str(size[0]), "-y", str(size[1])], timeout=10
            )
            wait_until(lambda size=size, last=last: len(pane()) == size[1] and log_is_right(last))
        subprocess.run([*tmux, "send-keys", "-t", "v", "?"], timeout=10)
        wait_until(lambda: any("— keys" in row for row in pane()))
        collector.post(log_lines(last + 1, 3))
        last += 3
        subprocess.run([*tmux, "send-keys", "-t", "v", "?"], timeout=10)
        wait_until(lambda: not any("— keys" in row for row in pane()) and log_is_right(last))
        for _ in range(3):
            collector.post(log_lines(last + 1, 2))
            last += 2
            wait_until(lambda last=last: log_is_right(last))
    finally:
        subprocess.run([*tmux, "kill-server"], timeout=10, check=False)
