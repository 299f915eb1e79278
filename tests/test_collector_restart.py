"""The collector as a separate process: restart with a store, and ``kill -9`` after the flush interval."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import msgspec
import pytest
from conftest import wait_for
from httpx_sse import connect_sse

from agentwatch.protocol import PATH_EVENTS, PATH_HEALTH, PATH_LOGS_STREAM, PATH_SNAPSHOT, LogEntry, Snapshot


class CollectorProcess:
    """``agentwatch serve --port 0 *args``; ``launcher`` is what follows the interpreter (``-m agentwatch``
    by default, or ``-c CODE ...`` for code that prepares the process, then runs the command line)."""

    def __init__(self, *args: str, launcher: Sequence[str] = ("-m", "agentwatch")) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *launcher, "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert "http://" in line, line + (self.process.stderr.read() if self.process.stderr else "")
        self.url = next(word for word in line.split() if word.startswith("http://"))
        wait_for(self._healthy, timeout=15)

    def _healthy(self) -> bool:
        try:
            return httpx.get(self.url + PATH_HEALTH, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def processes() -> Iterator[list[CollectorProcess]]:
    started: list[CollectorProcess] = []
    yield started
    for process in started:
        process.stop()


def all_logs(url: str, expected: int) -> list[LogEntry]:
    entries: list[LogEntry] = []
    with httpx.Client(timeout=10) as client:
        with connect_sse(client, "GET", url + PATH_LOGS_STREAM, params={"after": "0"}) as source:
            for sse in source.iter_sse():
                if sse.data:
                    entries.append(msgspec.json.decode(sse.data, type=LogEntry))
                    if len(entries) >= expected:
                        break
    return entries


def post(url: str, start: int, count: int) -> None:
    events = [
        {
            "agent_id": f"agent-{i % 3}",
            "span_type": "llm_call",
            "model": "gpt-4o",
            "tokens_input": 10,
            "tokens_output": 5,
            "latency_ms": 100.0,
            "message": f"call {i}",
        }
        for i in range(start, start + count)
    ]
    response = httpx.post(url + PATH_EVENTS, json=events, timeout=10)
    assert response.status_code == 202
    assert response.json()["accepted"] == count


def test_log_history_and_window_survive_a_restart(tmp_path: Path, processes: list[CollectorProcess]) -> None:
    store = str(tmp_path / "store.db")
    first = CollectorProcess("--store", store)
    processes.append(first)
    post(first.url, 0, 30)
    before = all_logs(first.url, 30)
    first.stop()

    second = CollectorProcess("--store", store)
    processes.append(second)
    after = all_logs(second.url, 30)
    assert [(e.id, e.message) for e in after] == [(e.id, e.message) for e in before]
    snap = msgspec.json.decode(httpx.get(second.url + PATH_SNAPSHOT).content, type=Snapshot)
    assert snap.events == 30
    post(second.url, 30, 1)
    newest = all_logs(second.url, 31)[-1]
    assert newest.id == before[-1].id + 1


def test_accepted_events_survive_kill_9_after_the_flush_interval(
    tmp_path: Path, processes: list[CollectorProcess]
) -> None:
    store = str(tmp_path / "store.db")
    first = CollectorProcess("--store", store)
    processes.append(first)
    post(first.url, 0, 500)
    time.sleep(1.5)  # the documented flush interval is ≤ 1 s: this waits it out, it does not hope
    first.kill9()

    second = CollectorProcess("--store", store)
    processes.append(second)
    entries = all_logs(second.url, 500)
    assert len({e.id for e in entries}) == 500


def test_sync_makes_every_accepted_event_durable_at_once(
    tmp_path: Path, processes: list[CollectorProcess]
) -> None:
    store = str(tmp_path / "store.db")
    first = CollectorProcess("--store", store, "--sync")
    processes.append(first)
    post(first.url, 0, 50)
    first.kill9()
    second = CollectorProcess("--store", store)
    processes.append(second)
    assert len(all_logs(second.url, 50)) == 50


def test_non_loopback_bind_without_token_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "serve", "--host", "0.0.0.0", "--port", "0", "--no-store"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "AGENTWATCH_TOKEN": ""},
    )
    assert result.returncode == 2
    assert "--token" in result.stderr and "--insecure" in result.stderr


def test_health_reports_what_the_store_wrote_and_holds(
    tmp_path: Path, processes: list[CollectorProcess]
) -> None:
    collector = CollectorProcess("--store", str(tmp_path / "store.db"))
    processes.append(collector)
    post(collector.url, 0, 100)

    def written() -> dict | None:
        health = httpx.get(collector.url + PATH_HEALTH).json()
        return health if health["store_written_rows"] >= 100 and health["store_queued_rows"] == 0 else None

    health = wait_for(written, timeout=10)  # the 100 rows leave the queue once written
    assert health["store"] == "ok"
    assert health["store_written_rows"] == 100
    assert health["store_dropped_rows"] == 0
