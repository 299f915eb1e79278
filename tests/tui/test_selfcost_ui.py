"""What the viewer costs: the ``$`` readout, the hooks that measure it, and the figures file."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import time
from typing import Any

from textual.app import App
from textual.drivers.headless_driver import HeadlessDriver
from textual.screen import Screen

from agentwatch.protocol import LogEntry
from agentwatch.status import EXIT_OK, EXIT_UNREACHABLE
from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screens import HelpScreen
from agentwatch.tui.selfcost import SelfCost, SelfCostFile, figures_dir, live_figures
from agentwatch.tui.selfcostbar import SelfCostBar
from tests.helpers import async_wait_until, screen_text

SIZE = (120, 36)
#: The readout with every figure measured (frame time and lag are numbers, not "—").
FULL_READOUT = re.compile(
    r"viewer CPU \d+\.\d% · frame p95 [\d.]+ m?s · event→screen p95 [\d.]+ m?s · terminal [\d.]+ [KM]?i?B/s"
    r" · dropped \d+ lines"
)


class RecordingDriver(HeadlessDriver):
    """A terminal that keeps what the app writes to it (a headless app writes nothing)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.written: list[str] = []

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        self.written.append(data)


def terminal_app(**kwargs: Any) -> AgentWatchApp:
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False, **kwargs)
    app.driver_class = RecordingDriver
    return app


def readout_line(app: AgentWatchApp) -> str:
    return next((line for line in screen_text(app).splitlines() if "viewer CPU" in line), "")


# ---------------------------------------------------------------- the readout
async def test_dollar_shows_the_viewer_cost_readout_with_every_figure_and_hides_it_again(collector):
    app = AgentWatchApp(url=collector.url, fps=20)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: "● live" in screen_text(app), pilot=pilot)
        assert "viewer CPU" not in screen_text(app)
        await pilot.press("dollar_sign")
        await async_wait_until(lambda: app.query_one(SelfCostBar).display, pilot=pilot)
        response = await collector.apost(
            [
                {"agent_id": "alpha", "span_type": "log", "level": "info", "message": f"line {n}"}
                for n in range(5)
            ]
        )
        assert response.status_code < 300
        # A second later the sample has the lines' lag and the frames that drew them.
        await async_wait_until(lambda: FULL_READOUT.search(readout_line(app)), pilot=pilot)
        assert "dropped 0 lines" in readout_line(app)
        await pilot.press("dollar_sign")
        await async_wait_until(lambda: "viewer CPU" not in screen_text(app), pilot=pilot)


async def test_the_readout_counts_the_lines_the_collector_dropped():
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        app.state.add_marker("dropped", 1234)
        await pilot.press("dollar_sign")
        await async_wait_until(lambda: "dropped 1,234 lines" in readout_line(app), pilot=pilot)


async def test_the_help_lists_the_readout_key():
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await async_wait_until(lambda: isinstance(app.screen, HelpScreen), pilot=pilot)
        text = str(app.screen.query_one("#help-text").render())
        assert re.search(r"^\$\s+What the viewer itself costs", text, re.MULTILINE), text


async def test_a_hidden_readout_is_not_redrawn():
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.query_one(SelfCostBar)
        app.self_cost.tick()
        app.self_cost.tick()
        await pilot.pause()
        assert not bar.display and bar._shown_text == ""


# ---------------------------------------------------------------- the hooks
async def test_the_byte_counter_counts_every_byte_the_driver_wrote(runtime_dir):
    app = terminal_app()
    async with app.run_test(size=SIZE, headless=False) as pilot:
        driver = app._driver
        assert isinstance(driver, RecordingDriver)
        meter = app.self_cost.meter
        await async_wait_until(lambda: meter.paints > 0, pilot=pilot)
        written_before, counted_before = len(driver.written), meter.bytes_total
        now = app.state.clock()
        app.state.add_log_entries(
            [
                LogEntry(timestamp=now, agent_id="ünïcode-✓", level="info", message=f"日本語 {n} é")
                for n in range(30)
            ]
        )
        await async_wait_until(lambda: "日本語 29" in screen_text(app), pilot=pilot)
        await pilot.press("dollar_sign")
        await async_wait_until(lambda: "viewer CPU" in screen_text(app), pilot=pilot)
        new = driver.written[written_before:]
        assert new and any(not chunk.isascii() for chunk in new)
        assert meter.bytes_total - counted_before == sum(len(chunk.encode()) for chunk in new)


async def test_frames_and_lag_are_measured_for_the_lines_a_frame_drew():
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        meter = app.self_cost.meter
        stamped = app.state.clock() - 0.25
        app.state.add_log_entries([LogEntry(timestamp=stamped, agent_id="a", level="info", message="hello")])
        await async_wait_until(lambda: meter.sample(pid=1).lag_p95_ms is not None, pilot=pilot)
        figures = meter.sample(pid=1)
        assert figures.lag_p95_ms is not None and 250 <= figures.lag_p95_ms < 250 + 30_000
        assert figures.frames > 0 and figures.frame_p95_ms is not None and figures.frame_p95_ms > 0


def test_the_textual_internals_the_hooks_wrap_are_still_there():
    """``App._display(screen, renderable)`` writes a screen, ``Screen._compositor_refresh()`` updates
    one, ``App._driver`` holds the driver whose ``write(data)`` the hooks wrap."""
    assert list(inspect.signature(App._display).parameters) == ["self", "screen", "renderable"]
    assert list(inspect.signature(Screen._compositor_refresh).parameters) == ["self"]
    assert "_driver" in inspect.getsource(App.__init__)
    assert list(inspect.signature(HeadlessDriver.write).parameters) == ["self", "data"]


# ---------------------------------------------------------------- the figures file and status --self
def status_self(*args: str) -> subprocess.CompletedProcess[str]:
    """``agentwatch status --self`` as a script runs it (the environment says where the files are)."""
    return subprocess.run(
        [sys.executable, "-m", "agentwatch", "status", "--self", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_status_self_prints_the_figures_a_running_viewer_wrote_and_fails_once_it_quit(runtime_dir):
    app = terminal_app()
    async with app.run_test(size=SIZE, headless=False) as pilot:
        path = figures_dir() / f"{os.getpid()}.json"
        assert figures_dir().is_relative_to(runtime_dir)
        await async_wait_until(lambda: live_figures() and live_figures()[0].bytes_total > 0, pilot=pilot)
        printed = status_self("--json")
        assert printed.returncode == EXIT_OK, printed.stderr
        (figures,) = json.loads(printed.stdout)
        assert figures["pid"] == os.getpid() and figures["url"] == "http://127.0.0.1:9"
        assert figures["bytes_total"] > 0 and figures["lines_dropped"] == 0
        printed = status_self()
        assert printed.returncode == EXIT_OK, printed.stderr
        table = printed.stdout.splitlines()
        assert table[0].split()[:3] == ["PID", "CPU", "FRAME"]
        assert table[1].startswith(f"{os.getpid()} ") and table[1].endswith("http://127.0.0.1:9")
    assert not path.exists()  # removed at exit
    printed = status_self()
    assert printed.returncode == EXIT_UNREACHABLE and not printed.stdout
    assert printed.stderr.startswith("agentwatch: no viewer is running")


async def test_a_headless_viewer_writes_no_figures_file(runtime_dir):
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE):
        app.self_cost.tick()
        assert app.self_cost.file is None
        assert not figures_dir().exists()


def test_status_self_reads_a_viewer_running_in_a_terminal_which_removes_its_file_when_it_quits(
    collector, runtime_dir
):
    from tests.test_demo import Terminal

    terminal = Terminal(collector.url, "--no-bell")
    try:

        def figures() -> Any:
            found = live_figures()
            return found[0] if found else None

        assert terminal.read_until(lambda: (one := figures()) and one.bytes_total > 0), terminal.tail()
        collector.post([{"agent_id": "alpha", "span_type": "log", "level": "info", "message": "hello"}])
        assert terminal.read_until(lambda: (one := figures()) and one.lag_p95_ms is not None), terminal.tail()
        measured = figures()
        assert measured.pid == terminal.process.pid and measured.url == collector.url
        assert 0 <= measured.lag_p95_ms < 60_000 and measured.frame_p95_ms is not None
        # What it counted went to its terminal (and the terminal got more: the start-up sequences before).
        assert terminal.read_until(lambda: len(terminal.output) > measured.bytes_total), terminal.tail()
        printed = status_self()
        assert printed.returncode == EXIT_OK, printed.stderr
        assert printed.stdout.splitlines()[1].startswith(f"{terminal.process.pid} ")
        os.write(terminal.master, b"$")
        assert terminal.read_until(lambda: b"viewer CPU" in terminal.text()), terminal.tail()
        os.write(terminal.master, b"q")
        terminal.read_until(lambda: terminal.process.poll() is not None, timeout=30)
        assert terminal.process.wait(timeout=30) == 0, terminal.tail()
    finally:
        terminal.close()
    assert not any(figures_dir().iterdir())
    assert status_self().returncode == EXIT_UNREACHABLE


async def test_a_viewer_removes_the_figures_files_that_killed_viewers_left(runtime_dir):
    from tests.test_selfcost import a_dead_pid

    dead = a_dead_pid()
    SelfCostFile(dead).write(SelfCost(pid=dead, updated=time.time()))
    app = terminal_app()
    async with app.run_test(size=SIZE, headless=False) as pilot:
        mine = figures_dir() / f"{os.getpid()}.json"
        await async_wait_until(mine.exists, pilot=pilot)
        assert [path.name for path in figures_dir().iterdir()] == [mine.name]
