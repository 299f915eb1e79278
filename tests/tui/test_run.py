"""The viewer's entry points: configuration errors are reported, not raised."""

from __future__ import annotations

import argparse

from agentwatch.config import ViewerConfig
from agentwatch.tui.run import main, run_viewer


def test_bad_configuration_prints_the_reason_and_returns_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("AGENTWATCH_FPS", "999")
    namespace = argparse.Namespace(
        url=None, token=None, config=str(tmp_path / "none.toml"), fps=None, max_lines=None, agent=None,
        level=None, no_bell=None,
    )  # fmt: skip
    (tmp_path / "none.toml").write_text("")
    assert main(namespace) == 2
    err = capsys.readouterr().err
    assert err.startswith("agentwatch: ") and "AGENTWATCH_FPS" in err


def test_unknown_theme_is_refused_before_the_screen_starts(capsys):
    assert run_viewer(ViewerConfig(theme="no-such-theme")) == 2
    assert "unknown theme 'no-such-theme'" in capsys.readouterr().err


CRASHING_VIEWER = """
import sys

import agentwatch.tui.app as app_module


class Crashing(app_module.AgentWatchApp):
    def on_mount(self) -> None:
        super().on_mount()
        raise RuntimeError("the viewer broke here")


app_module.AgentWatchApp = Crashing
from agentwatch.cli import main

sys.exit(main(["--url", sys.argv[1]]))
"""


def test_a_crash_exits_non_zero_with_the_traceback_shown_once(tmp_path):
    """The real viewer on a terminal (a pty), its app made to raise on mount: the process exits 1,
    and the traceback Textual prints after restoring the screen is there once."""
    import os
    import pty
    import re
    import select
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens: never reached anyway
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30", "HOME": str(tmp_path)}
    env.pop("AGENTWATCH_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_VIEWER, url],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # read until the pty closes (the process is gone)
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    code = process.wait(timeout=30)
    text = re.sub(r"\x1b\[[0-9;?<>=$]*[A-Za-z~]", "", output.decode(errors="replace"))
    assert code == 1, text[-2000:]
    assert text.count("RuntimeError: the viewer broke here") == 1, text[-2000:]
    assert text.count("Traceback") == 1, text[-2000:]
