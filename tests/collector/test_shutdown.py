"""Stopping ``agentwatch serve`` with viewers connected: their streams end cleanly, the process exits at
once with no traceback, and what was accepted before the signal is in the store after a restart."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agentwatch.protocol import PATH_DASHBOARD_STREAM, PATH_EVENTS, PATH_HEALTH, PATH_LOGS_STREAM
from tests.helpers import CollectorProcess, all_logs, serve_in_thread, wait_until

EVENTS = 500


class Viewer:
    """One SSE viewer in a thread: it reads its stream until the server ends it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connected = threading.Event()
        self.outcome: str | None = None
        self.lines = 0
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        try:
            with httpx.Client(timeout=30) as client, client.stream("GET", self.url) as response:
                assert response.status_code == 200
                self.connected.set()
                for _ in response.iter_lines():
                    self.lines += 1
            self.outcome = "ended"  # the stream's end arrived (the last chunk), not a cut connection
        except Exception as exc:
            self.outcome = f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize(
    ("stop_signal", "exit_code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)], ids=["SIGTERM", "Ctrl-C"]
)
def test_stopping_with_viewers_ends_their_streams_flushes_the_store_and_prints_no_traceback(
    start_collector_process: Callable[..., CollectorProcess],
    tmp_path: Path,
    stop_signal: signal.Signals,
    exit_code: int,
) -> None:
    process = start_collector_process("--store", str(tmp_path / "collector.db"))
    viewers = [
        Viewer(process.url + PATH_LOGS_STREAM),
        Viewer(process.url + PATH_LOGS_STREAM + "?level=error"),
        Viewer(process.url + PATH_DASHBOARD_STREAM),
    ]
    for viewer in viewers:
        assert viewer.connected.wait(10)
    wait_until(lambda: httpx.get(process.url + PATH_HEALTH).json()["subscribers"] == 3)
    events = [{"agent_id": f"agent-{i % 7}", "message": f"line {i}"} for i in range(EVENTS)]
    assert httpx.post(process.url + PATH_EVENTS, json=events, timeout=10).json()["accepted"] == EVENTS

    process.process.send_signal(stop_signal)  # at once: the store has not necessarily written them yet
    assert process.process.wait(timeout=10) == exit_code
    assert process.process.stderr is not None
    stderr = process.process.stderr.read()
    assert "Traceback" not in stderr and "CancelledError" not in stderr, stderr
    assert "timeout graceful shutdown exceeded" not in stderr, stderr  # streams ended, none cancelled
    for viewer in viewers:
        viewer.thread.join(timeout=10)
        assert viewer.outcome == "ended", viewer.outcome
    assert viewers[0].lines > 0  # it was reading live entries when the stream ended

    process.restart()
    entries = all_logs(process.url, EVENTS)
    assert [entry.message for entry in entries] == [event["message"] for event in events]


#: ``agentwatch serve`` started as a shell starts a background job: with SIGINT ignored.
SIGINT_IGNORED = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "from agentwatch.cli import main; sys.exit(main())"
)


def test_ctrl_c_exits_130_even_when_sigint_was_ignored_at_start(
    start_collector_process: Callable[..., CollectorProcess],
) -> None:
    # uvicorn stops on the signal, then raises it again once its own handler is gone; with SIGINT
    # ignored (a background job of a non-interactive shell, and every process it starts) that raise
    # did nothing and the exit code was 0.
    process = start_collector_process("--no-store", launcher=("-c", SIGINT_IGNORED))
    process.process.send_signal(signal.SIGINT)
    assert process.process.wait(timeout=10) == 130
    assert process.process.stderr is not None
    assert "Traceback" not in process.process.stderr.read()


def test_a_viewer_arriving_while_the_collector_stops_is_answered_503() -> None:
    """Between the start of a stop and the closing of the listener a stream request is refused, not
    opened and left for the grace period to cancel."""
    from agentwatch.collector.app import create_app, stop_streams
    from agentwatch.collector.service import Settings

    app = create_app(Settings())
    server, thread, port = serve_in_thread(app)
    try:
        url = f"http://127.0.0.1:{port}"
        stop_streams(app)  # no viewer yet, so nothing of the event loop's is touched from here
        for path in (PATH_LOGS_STREAM, PATH_DASHBOARD_STREAM):
            response = httpx.get(url + path, timeout=10)
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"] == "collector is stopping"
        assert httpx.get(url + PATH_HEALTH, timeout=10).status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)
