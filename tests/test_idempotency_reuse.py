"""An ``Idempotency-Key`` names one batch: sent again with another batch, it is refused (422).

Answering the second batch with the first one's answer would tell its sender "accepted" while
its events were dropped. The same batch again (even compressed anew) still gets the original
answer. Real collector, real HTTP; the restart test runs ``agentwatch serve`` with a store.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from agentwatch.protocol import HEADER_IDEMPOTENCY_KEY, PATH_EVENTS, PATH_HEALTH
from tests.helpers import CollectorProcess, RunningCollector


def send(url: str, events: list[dict[str, Any]], key: str, *, compress: int | None = None) -> httpx.Response:
    body = json.dumps(events).encode()
    headers = {HEADER_IDEMPOTENCY_KEY: key, "Content-Type": "application/json"}
    if compress is not None:
        body = gzip.compress(body, compresslevel=compress, mtime=compress)
        headers["Content-Encoding"] = "gzip"
    return httpx.post(url + PATH_EVENTS, content=body, headers=headers, timeout=10)


def events_total(url: str) -> int:
    return int(httpx.get(url + PATH_HEALTH, timeout=10).json()["events_total"])


FIRST = [{"agent_id": "a", "message": "first"}, {"agent_id": "a", "message": "also first"}]
SECOND = [{"agent_id": "a", "message": "second"}]


def test_a_key_sent_again_with_another_batch_is_refused_with_422_naming_it(
    collector: RunningCollector,
) -> None:
    first = send(collector.url, FIRST, "batch-7")
    assert first.status_code == 202 and first.json()["accepted"] == 2
    reused = send(collector.url, SECOND, "batch-7")
    assert reused.status_code == 422, reused.text
    problem = reused.json()
    assert "'batch-7'" in problem["error"] and "different batch" in problem["error"], problem
    assert events_total(collector.url) == 2  # the second batch was not taken in silence either
    # The first batch's own retry is still answered as before.
    again = send(collector.url, FIRST, "batch-7")
    assert again.status_code == 202 and again.content == first.content
    assert events_total(collector.url) == 2


def test_the_same_batch_compressed_anew_is_the_same_batch(collector: RunningCollector) -> None:
    first = send(collector.url, FIRST, "k", compress=1)
    retry = send(collector.url, FIRST, "k", compress=9)
    assert retry.status_code == 202 and retry.content == first.content
    assert events_total(collector.url) == 2


def test_a_reused_key_is_refused_after_a_crash_too(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    collector = start_collector_process("--store", str(tmp_path / "store.db"), "--sync")
    assert send(collector.url, FIRST, "batch-1").status_code == 202
    collector.kill9()
    collector.restart()
    reused = send(collector.url, SECOND, "batch-1")
    assert reused.status_code == 422 and "'batch-1'" in reused.json()["error"], reused.text
    assert send(collector.url, FIRST, "batch-1").status_code == 202
    assert events_total(collector.url) == 2
