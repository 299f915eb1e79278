"""The collector over real HTTP on 127.0.0.1: ingest, snapshots, streams, limits and errors."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import httpx
import msgspec
import pytest
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families

from agentwatch.protocol import (
    PATH_AGENTS,
    PATH_DASHBOARD_STREAM,
    PATH_EVENTS,
    PATH_HEALTH,
    PATH_LOGS_STREAM,
    PATH_METRICS,
    PATH_SNAPSHOT,
    SSE_DROPPED,
    SSE_GAP,
    SSE_HELLO,
    SSE_LOG,
    SSE_METRICS,
    Gap,
    LogEntry,
    Snapshot,
)
from tests.helpers import RunningCollector, wait_until


def llm_call(agent: str = "agent-1", **fields: Any) -> dict[str, Any]:
    event = {
        "agent_id": agent,
        "span_type": "llm_call",
        "model": "gpt-4o",
        "tokens_input": 100,
        "tokens_output": 50,
        "latency_ms": 200.0,
        "cost_usd": 0.01,
    }
    event.update(fields)
    return event


def log_event(i: int, agent: str = "agent-1", level: str = "info") -> dict[str, Any]:
    return {"agent_id": agent, "span_type": "log", "level": level, "message": f"line {i}"}


def snapshot(collector: RunningCollector, agent: str | None = None) -> Snapshot:
    params = {"agent": agent} if agent else {}
    response = httpx.get(collector.url + PATH_SNAPSHOT, params=params, headers=collector.headers())
    assert response.status_code == 200
    return msgspec.json.decode(response.content, type=Snapshot)


def number(event_id: str) -> int:
    """The ``n`` of a log stream id ``<sequence>:<n>``."""
    return int(event_id.rpartition(":")[2])


def read_log_stream(
    collector: RunningCollector, count: int, headers: dict[str, str] | None = None, **params: Any
) -> list[tuple[str, str, str]]:
    """(event, id, data) of the first ``count`` non-heartbeat events of the log stream."""
    seen: list[tuple[str, str, str]] = []
    all_headers = {**collector.headers(), **(headers or {})}
    with httpx.Client(timeout=10) as client:
        with connect_sse(
            client, "GET", collector.url + PATH_LOGS_STREAM, params=params, headers=all_headers
        ) as source:
            source.response.raise_for_status()
            for sse in source.iter_sse():
                if not sse.data or sse.event == SSE_HELLO:
                    continue
                seen.append((sse.event, sse.id, sse.data))
                if len(seen) >= count:
                    break
    return seen


# --------------------------------------------------------------------------- ingest


def test_ingest_single_object_array_and_ndjson_are_all_accepted(collector: RunningCollector) -> None:
    assert collector.post(llm_call()).json() == {"accepted": 1, "rejected": []}
    assert collector.post([llm_call(), llm_call("agent-2")]).json()["accepted"] == 2
    ndjson = "\n".join(json.dumps(llm_call(f"agent-{i}")) for i in range(3)) + "\n"
    response = httpx.post(
        collector.url + PATH_EVENTS, content=ndjson, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 202
    assert response.json()["accepted"] == 3
    assert snapshot(collector).events == 6


def test_gzip_body_is_accepted(collector: RunningCollector) -> None:
    body = gzip.compress(json.dumps([llm_call() for _ in range(100)]).encode())
    response = httpx.post(
        collector.url + PATH_EVENTS,
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 202
    assert response.json()["accepted"] == 100


def test_snapshot_counts_real_tokens_and_cost(collector: RunningCollector) -> None:
    collector.post([llm_call(tokens_input=1000, tokens_output=200, cost_usd=0.5) for _ in range(6)])
    snap = snapshot(collector)
    # A collector started a moment ago divides by the seconds it has watched, not the whole window.
    covered = snap.events / snap.events_per_second
    assert 1.0 <= covered < snap.window_seconds
    assert snap.tokens_per_second == pytest.approx(6 * 1200 / covered)
    assert snap.window_cost_usd == pytest.approx(3.0)
    assert snap.cost_per_minute == pytest.approx(3.0 * 60 / covered)
    assert snap.completions == 6
    assert snap.active_agents == 1
    assert snap.p50_latency_ms == pytest.approx(200.0, rel=0.01)


def test_bad_item_rejects_that_item_not_the_batch(collector: RunningCollector) -> None:
    response = collector.post([llm_call(), llm_call(tokens_input=-5), {"agent_id": ""}, llm_call()])
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [item["index"] for item in body["rejected"]] == [1, 2]
    assert "tokens_input" in body["rejected"][0]["error"]
    assert "agent_id" in body["rejected"][1]["error"]


def test_not_json_is_400_naming_the_position(collector: RunningCollector) -> None:
    response = httpx.post(
        collector.url + PATH_EVENTS,
        content=b'[{"agent_id": "a"}, {oops}]',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert any(ch.isdigit() for ch in response.json()["error"])


def test_body_over_max_body_is_413_even_without_content_length(start_collector: Any) -> None:
    small = start_collector(max_body=10_000)

    def chunks():
        for _ in range(100):
            yield b" " * 1000

    response = httpx.post(
        small.url + PATH_EVENTS, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    response = httpx.post(small.url + PATH_EVENTS, content=b" " * 20_000)
    assert response.status_code == 413
    assert small.post(llm_call()).status_code == 202


def test_gzip_bomb_is_413_and_collector_keeps_serving(start_collector: Any) -> None:
    small = start_collector(max_body=1_000_000)
    bomb = gzip.compress(b"[" + b" " * 50_000_000 + b"]")
    response = httpx.post(
        small.url + PATH_EVENTS, content=bomb, headers={"Content-Encoding": "gzip"}, timeout=30
    )
    assert response.status_code == 413
    assert small.post(llm_call()).status_code == 202


def test_token_is_required_everywhere_when_configured(start_collector: Any) -> None:
    guarded = start_collector(token="s3cret")
    for method, path in [
        ("POST", PATH_EVENTS),
        ("GET", PATH_SNAPSHOT),
        ("GET", PATH_AGENTS),
        ("GET", PATH_HEALTH),
        ("GET", PATH_METRICS),
        ("GET", PATH_LOGS_STREAM),
        ("GET", PATH_DASHBOARD_STREAM),
    ]:
        response = httpx.request(method, guarded.url + path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, path
        assert "s3cret" not in response.text
    assert guarded.post(llm_call()).status_code == 202


@pytest.mark.parametrize(
    ("params", "headers", "needle"),
    [
        ({"level": "loud"}, {}, "level"),
        ({"after": "-1"}, {}, "after"),
        ({"after": "x"}, {}, "after"),
        ({}, {"Last-Event-ID": "12abc"}, "Last-Event-ID"),
        ({"agent": "a" * 500}, {}, "agent"),
    ],
)
def test_bad_stream_parameters_are_400(collector: RunningCollector, params, headers, needle) -> None:
    response = httpx.get(collector.url + PATH_LOGS_STREAM, params=params, headers=headers)
    assert response.status_code == 400
    assert needle in response.json()["error"]


# -------------------------------------------------------------------------- streams


def test_metrics_stream_sends_snapshot_with_sse_headers(collector: RunningCollector) -> None:
    collector.post([llm_call("agent-1"), llm_call("agent-2", error="Timeout: slow")])
    with httpx.Client(timeout=10) as client:
        with connect_sse(client, "GET", collector.url + PATH_DASHBOARD_STREAM) as source:
            assert source.response.headers["content-type"].startswith("text/event-stream")
            assert source.response.headers["cache-control"] == "no-cache"
            assert source.response.headers["x-accel-buffering"] == "no"
            sse = next(event for event in source.iter_sse() if event.data)
    assert sse.event == SSE_METRICS
    snap = msgspec.json.decode(sse.data, type=Snapshot)
    assert snap.events == 2
    assert snap.error_rate == pytest.approx(0.5)
    assert sorted(row.agent_id for row in snap.agents) == ["agent-1", "agent-2"]


def test_metrics_stream_narrowed_to_one_agent(collector: RunningCollector) -> None:
    collector.post([llm_call("agent-1"), llm_call("agent-1"), llm_call("agent-2")])
    with httpx.Client(timeout=10) as client:
        with connect_sse(
            client, "GET", collector.url + PATH_DASHBOARD_STREAM, params={"agent": "agent-1"}
        ) as source:
            sse = next(event for event in source.iter_sse() if event.data)
    snap = msgspec.json.decode(sse.data, type=Snapshot)
    assert snap.agent == "agent-1"
    assert snap.events == 2


def test_metrics_stream_pushes_new_snapshot_after_ingest(collector: RunningCollector) -> None:
    with httpx.Client(timeout=10) as client:
        with connect_sse(client, "GET", collector.url + PATH_DASHBOARD_STREAM) as source:
            events = source.iter_sse()
            first = msgspec.json.decode(next(e for e in events if e.data).data, type=Snapshot)
            assert first.events == 0
            collector.post([llm_call() for _ in range(5)])
            for sse in events:
                if sse.data and msgspec.json.decode(sse.data, type=Snapshot).events == 5:
                    break


def test_log_stream_sends_history_then_live_with_ids(collector: RunningCollector) -> None:
    collector.post([log_event(i) for i in range(5)])
    seen = read_log_stream(collector, 5)
    assert [event for event, _, _ in seen] == [SSE_LOG] * 5
    ids = [number(id_) for _, id_, _ in seen]
    assert ids == list(range(ids[0], ids[0] + 5))
    assert msgspec.json.decode(seen[0][2], type=LogEntry).message == "line 0"


def test_every_event_yields_a_summary_log_line(collector: RunningCollector) -> None:
    collector.post([llm_call(tokens_input=2840, tokens_output=156, latency_ms=1245, cost_usd=0.047)])
    [(_, _, data)] = read_log_stream(collector, 1)
    entry = msgspec.json.decode(data, type=LogEntry)
    assert "llm_call" in entry.message and "gpt-4o" in entry.message
    assert "2840" in entry.message and "156" in entry.message


def test_resume_after_last_event_id_sends_no_duplicates_and_no_holes(collector: RunningCollector) -> None:
    collector.post([log_event(i) for i in range(10)])
    first = read_log_stream(collector, 10)
    last_id = first[4][1]
    collector.post([log_event(i) for i in range(10, 15)])
    resumed = read_log_stream(collector, 10, headers={"Last-Event-ID": last_id})
    ids = [number(id_) for _, id_, _ in first[:5] + resumed]
    assert ids == list(range(ids[0], ids[0] + 15))
    via_query = read_log_stream(collector, 10, after=last_id)
    assert [id_ for _, id_, _ in via_query] == [id_ for _, id_, _ in resumed]


def test_log_stream_filters_by_agent_and_level_server_side(collector: RunningCollector) -> None:
    collector.post(
        [
            log_event(0, "a", "debug"),
            log_event(1, "b", "error"),
            log_event(2, "a", "error"),
            log_event(3, "a", "info"),
        ]
    )
    seen = read_log_stream(collector, 2, agent="a", level="info")
    messages = [msgspec.json.decode(data, type=LogEntry).message for _, _, data in seen]
    assert messages == ["line 2", "line 3"]


def test_gap_is_sent_when_asked_for_entries_are_gone(start_collector: Any) -> None:
    small = start_collector(log_history=20)
    small.post([log_event(i) for i in range(50)])
    seen = read_log_stream(small, 2, after="5")
    event, _, data = seen[0]
    assert event == SSE_GAP
    gap = msgspec.json.decode(data, type=Gap)
    assert gap.first_missing == 6
    assert gap.missed == gap.last_missing - gap.first_missing + 1
    assert seen[1][0] == SSE_LOG
    assert number(seen[1][1]) == gap.last_missing + 1


def test_slow_viewer_is_told_what_it_dropped_and_others_are_not_slowed(start_collector: Any) -> None:
    server = start_collector(subscriber_max_lag=100, log_history=200_000)
    with httpx.Client(timeout=30) as slow_client, httpx.Client(timeout=30) as fast_client:
        with connect_sse(slow_client, "GET", server.url + PATH_LOGS_STREAM, params={"after": "0"}) as slow:
            slow_events = slow.iter_sse()
            # Publish far more than the socket buffers hold while the slow viewer reads nothing.
            filler = "x" * 400
            for batch in range(20):
                server.post([{"agent_id": "a", "message": f"{batch}-{i} {filler}"} for i in range(2000)])
            with connect_sse(
                fast_client, "GET", server.url + PATH_LOGS_STREAM, params={"after": "39990"}
            ) as fast:
                first = next(e for e in fast.iter_sse() if e.data and e.event == SSE_LOG)
                assert number(first.id) == 39991
            dropped = 0
            received = 0
            for sse in slow_events:
                if sse.event == SSE_DROPPED:
                    dropped += json.loads(sse.data)["dropped"]
                elif sse.event == SSE_LOG:
                    received += 1
                    if number(sse.id) == 40_000:
                        break
    assert dropped > 0
    assert received + dropped == 40_000


def test_disconnecting_viewers_leave_nothing_behind(collector: RunningCollector) -> None:
    service = collector.service
    collector.post(log_event(0))  # so each log stream has a first frame to read
    with httpx.Client(timeout=10) as client:
        for i in range(1000):
            path = PATH_LOGS_STREAM if i % 2 else PATH_DASHBOARD_STREAM
            with client.stream("GET", collector.url + path) as response:
                assert response.status_code == 200
                next(response.iter_bytes())
    wait_until(
        lambda: service.logs.subscriber_count == 0 and service.metrics.subscriber_count == 0, timeout=10
    )


# ------------------------------------------------------------------------ read APIs


def test_health_agents_and_prometheus_metrics(collector: RunningCollector) -> None:
    collector.post([llm_call("agent-1"), llm_call("agent-2", model="claude-sonnet-4", latency_ms=3000.0)])
    health = httpx.get(collector.url + PATH_HEALTH).json()
    assert health["status"] == "ok"
    assert health["events_total"] == 2
    agents = httpx.get(collector.url + PATH_AGENTS).json()
    assert [row["agent_id"] for row in agents] == ["agent-1", "agent-2"]
    text = httpx.get(collector.url + PATH_METRICS).text
    assert "# TYPE agentwatch_latency_seconds histogram" in text
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    sonnet = (("agent", "agent-2"), ("model", "claude-sonnet-4"))
    assert samples[("agentwatch_events_total", (("agent", "agent-1"), ("model", "gpt-4o")))] == 1
    assert samples[("agentwatch_latency_seconds_bucket", (*sonnet[:1], ("le", "5.12"), *sonnet[1:]))] == 1
    assert samples[("agentwatch_latency_seconds_bucket", (*sonnet[:1], ("le", "2.56"), *sonnet[1:]))] == 0
    assert samples[("agentwatch_latency_seconds_sum", sonnet)] == pytest.approx(3.0)


def test_unknown_route_and_wrong_method_are_4xx(collector: RunningCollector) -> None:
    assert httpx.get(collector.url + "/nope").status_code == 404
    assert httpx.get(collector.url + PATH_EVENTS).status_code == 405


def test_hostile_text_round_trips_as_data(collector: RunningCollector) -> None:
    hostile = "[bold red]boom[/] \x1b[31mred\x1b[0m \x1b]0;title\x07 \u202eevil 你好 🎉"
    response = collector.post({"agent_id": "agent-☃", "span_type": "log", "message": hostile})
    assert response.status_code == 202
    [(_, _, data)] = read_log_stream(collector, 1)
    entry = msgspec.json.decode(data, type=LogEntry)
    assert entry.message == hostile
    assert entry.agent_id == "agent-☃"


def test_event_timestamp_accepts_rfc3339_and_unix_seconds(collector: RunningCollector) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + "Z"
    response = collector.post([llm_call(timestamp=stamp), llm_call(timestamp=now)])
    assert response.json()["accepted"] == 2
    assert snapshot(collector).events == 2
