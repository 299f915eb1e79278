"""The snapshot fetched while the viewer starts: data on the first paint, never an error."""

from __future__ import annotations

import socket

from agentwatch.client.prefetch import SnapshotPrefetch, prefetch_snapshot
from tests.helpers import WAIT_TIMEOUT, RunningCollector


def test_prefetch_returns_the_collectors_current_snapshot(collector: RunningCollector) -> None:
    collector.post(
        [{"agent_id": "planner-1", "span_type": "llm_call", "model": "gpt-4o", "tokens_output": 9}]
    )
    snapshot = prefetch_snapshot(collector.url).result(timeout=5)
    assert snapshot is not None
    assert [row.agent_id for row in snapshot.agents] == ["planner-1"]


def test_prefetch_sends_the_token(start_collector) -> None:
    guarded = start_collector(token="s3cret")
    assert prefetch_snapshot(guarded.url, "wrong").result(timeout=5) is None
    assert prefetch_snapshot(guarded.url, "s3cret").result(timeout=5) is not None


def test_prefetch_from_nothing_listening_is_none_at_once() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The fetch may wait a minute for an answer: a refused connection ends it at once, not its timeout.
    prefetch = SnapshotPrefetch(f"http://127.0.0.1:{port}", timeout=60)
    assert prefetch.result(timeout=WAIT_TIMEOUT) is None
    assert prefetch._done.is_set(), "still waiting on a refused connection"


def test_prefetch_from_a_collector_without_the_route_is_none(collector: RunningCollector) -> None:
    assert prefetch_snapshot(collector.url + "/nowhere").result(timeout=5) is None
