"""The collector as a separate process: restart with a store, and ``kill -9`` after the flush interval."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec

from agentwatch.protocol import PATH_EVENTS, PATH_HEALTH, PATH_SNAPSHOT, Snapshot
from tests.helpers import CollectorProcess, all_logs, store_has_written, wait_until


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


def test_log_history_and_window_survive_a_restart(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = start_collector_process("--store", str(tmp_path / "store.db"))
    post(collector.url, 0, 30)
    before = all_logs(collector.url, 30)
    collector.stop()

    collector.restart()
    after = all_logs(collector.url, 30)
    assert [(e.id, e.message) for e in after] == [(e.id, e.message) for e in before]
    snap = msgspec.json.decode(httpx.get(collector.url + PATH_SNAPSHOT).content, type=Snapshot)
    assert snap.events == 30
    post(collector.url, 30, 1)
    newest = all_logs(collector.url, 31)[-1]
    assert newest.id == before[-1].id + 1


def test_accepted_events_survive_kill_9_after_the_flush_interval(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = start_collector_process("--store", str(tmp_path / "store.db"))
    post(collector.url, 0, 500)
    wait_until(lambda: store_has_written(collector.url, 500))  # flushed by the interval, not a shutdown
    collector.kill9()

    collector.restart()
    entries = all_logs(collector.url, 500)
    assert len({e.id for e in entries}) == 500


def test_sync_makes_every_accepted_event_durable_at_once(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = start_collector_process("--store", str(tmp_path / "store.db"), "--sync")
    post(collector.url, 0, 50)
    collector.kill9()
    collector.restart()
    assert len(all_logs(collector.url, 50)) == 50


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
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = start_collector_process("--store", str(tmp_path / "store.db"))
    post(collector.url, 0, 100)
    wait_until(lambda: store_has_written(collector.url, 100))  # the 100 rows leave the queue once written
    health = httpx.get(collector.url + PATH_HEALTH).json()
    assert health["store"] == "ok"
    assert health["store_written_rows"] == 100
    assert health["store_dropped_rows"] == 0
