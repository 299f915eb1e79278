"""``agentwatch demo`` as a user runs it: the real command in a pseudo-terminal, quit with ``q``."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable

COLUMNS, LINES = 120, 36
AGENT_ID = re.compile(rb"\b[a-z]+-\d\d\b")  # the simulator's agents: planner-01, coder-03…
LOG_TIME = re.compile(rb"\b\d\d:\d\d:\d\d\b")  # the time at the start of each log line
LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"
ESCAPE_SEQUENCE = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[@-_]")


class Terminal:
    """A command running in a pseudo-terminal of COLUMNS x LINES; ``output`` is every byte it wrote."""

    def __init__(self, *args: str) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AGENTWATCH_") and key not in ("COLUMNS", "LINES", "NO_COLOR")
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentwatch", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def read_until(self, condition: Callable[[], object], timeout: float = 15.0) -> bool:
        """Collect output until ``condition()`` holds (True) or ``timeout`` seconds pass (False)."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.1))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the command has exited and closed the terminal
                    chunk = b""
                if not chunk:
                    return bool(condition())
                self.output += chunk
        return True

    def text(self) -> bytes:
        """The output without escape sequences: the characters written, in order."""
        return ESCAPE_SEQUENCE.sub(b"", self.output)

    def tail(self) -> str:
        return self.output[-2000:].decode("utf-8", "replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self.master)


def test_demo_starts_shows_simulated_agents_and_log_lines_arriving_and_quits_on_q() -> None:
    terminal = Terminal("demo", "--seed", "7", "--rate", "200")
    try:
        assert terminal.read_until(lambda: b"SIMULATED DATA" in terminal.output), terminal.tail()
        assert terminal.read_until(
            lambda: len(set(AGENT_ID.findall(text := terminal.text()))) >= 3 and LOG_TIME.search(text)
        ), terminal.tail()
        os.write(terminal.master, b"q")
        # The terminal closes a moment before the process can be reaped: read to its end, then wait for it.
        terminal.read_until(lambda: terminal.process.poll() is not None, timeout=30)
        assert terminal.process.wait(timeout=30) == 0, terminal.tail()
        assert LEAVE_ALTERNATE_SCREEN in terminal.output  # the terminal is given back as it was
    finally:
        terminal.close()
