"""The viewer's terminal driver (agentwatch/tui/quietdriver.py): its input thread waits for input
without polling, still reads every key (a lone Esc included), and ends at once when asked.

The first checks pin what the driver relies on in Textual's private code; the others run its input
thread on a real pseudo-terminal, and the real viewer on one against a real collector.
"""

from __future__ import annotations

import fcntl
import inspect
import os
import pty
import select
import selectors
import signal
import struct
import termios
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual import constants, events
from textual._xterm_parser import XTermParser
from textual.app import App
from textual.drivers.linux_driver import LinuxDriver
from textual.message import Message

from agentwatch.tui.quietdriver import QuietDriver, WakingEvent, quiet_driver_class
from tests.helpers import PtyCommand, RunningCollector, wait_until


def broken(what: str) -> str:
    return f"Textual changed under QuietDriver (agentwatch/tui/quietdriver.py): {what}"


# ---------------------------------------------------------------------- what it relies on
def test_the_input_thread_runs_run_input_thread_and_disable_input_sets_joins_and_clears_exit_event() -> None:
    start = inspect.getsource(LinuxDriver.start_application_mode)
    assert "target=self._run_input_thread" in start, broken("the input thread's target changed")
    assert "self.run_input_thread()" in inspect.getsource(LinuxDriver._run_input_thread), broken(
        "_run_input_thread no longer calls run_input_thread"
    )
    assert list(inspect.signature(LinuxDriver.run_input_thread).parameters) == ["self"]
    disable = inspect.getsource(LinuxDriver.disable_input)
    steps = ["self.exit_event.set()", "self._key_thread.join()", "self.exit_event.clear()"]
    found = [disable.find(step) for step in steps]
    assert -1 not in found and found == sorted(found), broken(f"disable_input no longer does {steps} in turn")


def test_the_parser_says_when_a_lone_escape_becomes_the_escape_key() -> None:
    parser = XTermParser()
    assert getattr(parser, "_timeout_time", "gone") is None, broken("Parser._timeout_time is gone")
    assert list(parser.feed("\x1b")) == []
    due = parser._timeout_time
    assert isinstance(due, float), broken("a lone Esc no longer sets Parser._timeout_time")
    wait_until(lambda: time.monotonic() >= due)
    keys = [event.key for event in parser.tick() if isinstance(event, events.Key)]
    assert keys == ["escape"], broken(f"tick() after the timeout gave {keys}")
    assert parser._timeout_time is None


def test_only_textuals_linux_driver_is_replaced() -> None:
    assert quiet_driver_class(LinuxDriver) is QuietDriver
    from textual.drivers.headless_driver import HeadlessDriver

    assert quiet_driver_class(HeadlessDriver) is HeadlessDriver


# ---------------------------------------------------------------------- its input thread
class CountingSelector(selectors.SelectSelector):
    """Records the timeout of each wait and what woke it."""

    waits: list[float | None]
    woken_by: list[set[int]]

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.waits.append(timeout)
        ready = super().select(timeout)
        self.woken_by.append({key.fd for key, _ in ready})
        return ready


class RecordingDriver(QuietDriver):
    """The driver on a pseudo-terminal of the test's, keeping the messages it would post to the app."""

    def __init__(self, terminal: int) -> None:
        super().__init__(App())
        self.fileno = terminal
        self.received: list[Message] = []
        waits: list[float | None] = []
        woken_by: list[set[int]] = []
        self.waits, self.woken_by = waits, woken_by
        self.selector_class = type("Selector", (CountingSelector,), {"waits": waits, "woken_by": woken_by})

    def process_message(self, message: Message) -> None:
        self.received.append(message)

    def keys(self) -> list[str]:
        return [message.key for message in self.received if isinstance(message, events.Key)]


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    """(the program's side, the user's side) of a pseudo-terminal in raw mode (as Textual sets it: each
    key readable at once), closed after the test."""
    user, program = pty.openpty()
    tty.setraw(program)
    yield program, user
    os.close(user)
    os.close(program)


@pytest.fixture
async def driver(terminal: tuple[int, int]) -> Any:
    """A :class:`RecordingDriver` (it needs a running loop) on ``terminal``; Textual's SIGTSTP and
    SIGCONT handlers, which it installs, are taken back after the test."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTSTP, signal.SIGCONT)}
    made = RecordingDriver(terminal[0])
    yield made
    made.exit_event.close()
    for number, handler in saved.items():
        signal.signal(number, handler)


def start(driver: RecordingDriver) -> threading.Thread:
    thread = threading.Thread(target=driver.run_input_thread, daemon=True)
    thread.start()
    return thread


def stop(driver: RecordingDriver, thread: threading.Thread) -> None:
    """As ``disable_input`` does: set the flag, join the thread, clear the flag."""
    driver.exit_event.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    driver.exit_event.clear()


async def test_the_input_thread_waits_without_a_timeout_reads_keys_and_is_woken_to_exit(
    driver: RecordingDriver, terminal: tuple[int, int]
) -> None:
    thread = start(driver)
    wait_until(lambda: driver.waits)
    os.write(terminal[1], b"q?")
    wait_until(lambda: driver.keys() == ["q", "question_mark"])
    os.write(terminal[1], b"\x1b[<0;10;5M\x1b[<0;10;5m")  # a click, as a terminal reports it (SGR)
    wait_until(
        lambda: [type(message) for message in driver.received][-2:] == [events.MouseDown, events.MouseUp]
    )
    wait_until(lambda: len(driver.waits) >= 2)
    assert driver.waits == [None] * len(driver.waits), "the input thread polls instead of waiting for input"
    waits = len(driver.waits)
    stop(driver, thread)
    # The wait under way was ended by the flag's pipe (not by a timeout), then one look without
    # waiting at what is left to read.
    assert driver.woken_by[waits - 1] == {driver.exit_event.wake_fd}
    assert driver.waits[waits:] == [0]


async def test_a_lone_escape_is_reported_after_the_escape_delay_then_waits_are_untimed_again(
    driver: RecordingDriver, terminal: tuple[int, int]
) -> None:
    thread = start(driver)
    wait_until(lambda: driver.waits)
    os.write(terminal[1], b"\x1b")
    wait_until(lambda: driver.keys() == ["escape"])
    timed = [wait for wait in driver.waits if wait is not None]
    assert timed and all(0 <= wait <= constants.ESCAPE_DELAY for wait in timed)
    wait_until(lambda: driver.waits[-1] is None)  # nothing pending: back to waiting for input
    os.write(terminal[1], b"\x1b[A")  # a whole sequence is one key, at once
    wait_until(lambda: driver.keys() == ["escape", "up"])
    stop(driver, thread)


async def test_after_a_stop_and_a_new_start_as_on_suspend_and_resume_the_thread_waits_and_reads_again(
    driver: RecordingDriver, terminal: tuple[int, int]
) -> None:
    stop(driver, start(driver))
    assert not driver.exit_event.is_set()
    assert not _readable(driver.exit_event.wake_fd)
    waits = len(driver.waits)
    thread = start(driver)
    os.write(terminal[1], b"x")
    wait_until(lambda: driver.keys() == ["x"])
    assert driver.waits[waits:] and set(driver.waits[waits:]) == {None}
    stop(driver, thread)


def _readable(fd: int) -> bool:
    with selectors.SelectSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        return bool(selector.select(0))


def test_the_waking_event_is_readable_once_set_and_empty_once_cleared() -> None:
    event = WakingEvent()
    try:
        assert not _readable(event.wake_fd)
        for _ in range(100_000):  # more than a pipe holds: a set never blocks
            event.set()
        assert event.is_set() and _readable(event.wake_fd)
        event.clear()
        assert not event.is_set() and not _readable(event.wake_fd)
    finally:
        event.close()


# ---------------------------------------------------------------------- the real viewer
def waiting_in_select(where: str) -> bool:
    return ("select" in where or "poll" in where) and "ep_poll" not in where


def wchan_names_select() -> bool:
    """Whether this kernel names where a thread waits (``/proc/.../wchan``; some show only 0)."""
    if not Path("/proc/self/wchan").exists():
        return False
    read, write = os.pipe()
    waiter = threading.Thread(target=lambda: select.select([read], [], []), daemon=True)
    waiter.start()
    try:
        task = Path(f"/proc/self/task/{waiter.native_id}/wchan")
        return bool(wait_until(lambda: waiting_in_select(task.read_text()) or None, timeout=2))
    except AssertionError:
        return False
    finally:
        os.write(write, b"x")
        waiter.join()
        os.close(read)
        os.close(write)


def input_thread(pid: int) -> Path | None:
    """The /proc task of the viewer's thread waiting in select or poll (the event loop waits in
    epoll, the writer on a lock): Textual's input thread. None where the kernel does not say."""
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        try:
            where = (task / "wchan").read_text()
        except OSError:
            continue
        if waiting_in_select(where):
            return task
    return None


def voluntary_switches(task: Path) -> int:
    for line in (task / "status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError(f"no voluntary_ctxt_switches in {task}/status")


@pytest.mark.skipif(not wchan_names_select(), reason="needs /proc/PID/task/TID/wchan naming select")
def test_the_idle_viewers_input_thread_sleeps_keys_and_a_resize_work_and_q_restores_the_terminal(
    collector: RunningCollector,
) -> None:
    viewer = PtyCommand(collector.url, "--no-bell", columns=100, lines=30)
    try:
        assert viewer.read_until(lambda: b"sort: " in viewer.output), viewer.tail()
        task = wait_until(lambda: input_thread(viewer.process.pid))
        before = voluntary_switches(task)
        viewer.read_until(lambda: False, timeout=2.0)  # two idle seconds, the output drained
        woke = voluntary_switches(task) - before
        assert woke <= 2, f"the input thread woke {woke} times in 2 idle seconds: it polls"
        shown = len(viewer.output)
        os.write(viewer.master, b"?")
        assert viewer.read_until(lambda: "— keys".encode() in viewer.output[shown:]), viewer.tail()
        # A resize (the terminal's SIGWINCH) is drawn: the new last row is written to.
        shown = len(viewer.output)
        fcntl.ioctl(viewer.master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.kill(viewer.process.pid, signal.SIGWINCH)
        assert viewer.read_until(lambda: b"\x1b[40;" in viewer.output[shown:]), viewer.tail()
        os.write(viewer.master, b"?q")
        leaves(viewer)
    finally:
        viewer.close()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_viewer_suspended_and_continued_reads_keys_again(collector: RunningCollector) -> None:
    viewer = PtyCommand(collector.url, "--no-bell", columns=100, lines=30)
    try:
        assert viewer.read_until(lambda: b"sort: " in viewer.output), viewer.tail()
        os.kill(viewer.process.pid, signal.SIGTSTP)  # what ctrl+z does where the terminal signals it
        assert viewer.read_until(lambda: b"\x1b[?1049l" in viewer.output), viewer.tail()
        wait_until(lambda: _state(viewer.process.pid) == "T")
        shown = len(viewer.output)
        os.kill(viewer.process.pid, signal.SIGCONT)
        assert viewer.read_until(lambda: b"\x1b[?1049h" in viewer.output[shown:]), viewer.tail()
        shown = len(viewer.output)
        os.write(viewer.master, b"?")
        assert viewer.read_until(lambda: "— keys".encode() in viewer.output[shown:]), viewer.tail()
        os.write(viewer.master, b"?q")
        leaves(viewer)
    finally:
        viewer.close()


def leaves(viewer: PtyCommand) -> None:
    """The viewer exits with 0, its terminal restored. (Read while it leaves: a terminal not read
    would hold its last writes, and it, back.)"""
    viewer.read_until(lambda: viewer.process.poll() is not None)  # or until its terminal closes
    assert viewer.process.wait(timeout=10) == 0, viewer.tail()
    leaving = viewer.output[viewer.output.rfind(b"\x1b[?1049l") :]
    assert leaving.startswith(b"\x1b[?1049l") and b"\x1b[?25h" in leaving, viewer.tail()


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
