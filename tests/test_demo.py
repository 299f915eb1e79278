"""``agentwatch demo`` as a user runs it: the real command in a pseudo-terminal, quit with ``q``."""

from __future__ import annotations

import os
import re

from tests.helpers import PtyCommand

COLUMNS, LINES = 120, 36
AGENT_ID = re.compile(rb"\b[a-z]+-\d\d\b")  # the simulator's agents: planner-01, coder-03…
LOG_TIME = re.compile(rb"\b\d\d:\d\d:\d\d\b")  # the time at the start of each log line
LEAVE_ALTERNATE_SCREEN = b"\x1b[?1049l"
ESCAPE_SEQUENCE = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[@-_]")


class Terminal(PtyCommand):
    """``agentwatch ARGS`` in a pseudo-terminal of COLUMNS x LINES."""

    def __init__(self, *args: str) -> None:
        super().__init__(*args, columns=COLUMNS, lines=LINES)

    def text(self) -> bytes:
        """The output without escape sequences: the characters written, in order."""
        return ESCAPE_SEQUENCE.sub(b"", self.output)


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
