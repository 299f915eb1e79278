"""The SDK given several collectors: rendezvous ranking by agent id, failover and failback,
against real collectors on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from agentwatch.protocol import PATH_EVENTS, PATH_HEALTH
from agentwatch.sdk import ENV_URL, ENV_URLS, AgentTelemetry
from agentwatch.sdk.shards import FailoverTransport, parse_urls, rank
from tests.helpers import CollectorProcess, RunningCollector, wait_until

URLS = [f"http://collector-{i}.internal:8787" for i in range(3)]
AGENTS = [f"agent-{i}" for i in range(3000)]


def events_on(url: str) -> int:
    """Events the collector at ``url`` has taken since it started."""
    response = httpx.get(url + PATH_HEALTH, timeout=5)
    response.raise_for_status()
    return int(response.json()["events_total"])


def agent_preferring(first: str, urls: list[str]) -> str:
    """An agent id whose ranking of ``urls`` starts with ``first``."""
    return next(f"agent-{i}" for i in range(10_000) if rank(f"agent-{i}", urls)[0] == first)


def telemetry_for(
    agent_id: str, urls: list[str], *, timeout: float = 2.0, failback_interval: float = 0.2
) -> AgentTelemetry:
    """An agent without heartbeats (every event counted is one recorded here), short delays."""
    return AgentTelemetry(
        agent_id,
        urls=urls,
        heartbeat_interval=None,
        max_retries=2,
        flush_interval=0.05,
        timeout=timeout,
        failback_interval=failback_interval,
    )


def record(telemetry: AgentTelemetry, n: int) -> None:
    for i in range(n):
        telemetry.llm_call("gpt-4o", 10, 5, latency_ms=100.0 + i)
    assert telemetry.flush(10.0)


@pytest.fixture
def agents_made() -> Iterator[list[AgentTelemetry]]:
    made: list[AgentTelemetry] = []
    yield made
    for telemetry in made:
        telemetry.close(timeout=0.5)


@pytest.fixture
def agent_for(agents_made: list[AgentTelemetry]) -> Callable[..., AgentTelemetry]:
    """Makes the agent of :func:`telemetry_for` whose ranking of ``urls`` starts with ``preferring``,
    closed when the test ends."""

    def make(*, preferring: str, urls: list[str], **options: float) -> AgentTelemetry:
        telemetry = telemetry_for(agent_preferring(preferring, urls), urls, **options)
        agents_made.append(telemetry)
        return telemetry

    return make


# ---------------------------------------------------------------- the ranking
def test_ranking_is_the_same_whatever_the_order_and_spelling_of_the_urls() -> None:
    for agent_id in AGENTS[:200]:
        ranked = rank(agent_id, URLS)
        assert sorted(ranked) == sorted(URLS)
        assert rank(agent_id, reversed(URLS)) == ranked
        assert rank(agent_id, [url + "/" for url in URLS] + URLS) == ranked


def test_agents_spread_evenly_over_the_collectors() -> None:
    firsts = [rank(agent_id, URLS)[0] for agent_id in AGENTS]
    shares = [firsts.count(url) / len(AGENTS) for url in URLS]
    assert all(0.28 < share < 0.39 for share in shares), shares


def test_adding_a_collector_moves_only_the_agents_that_now_prefer_it() -> None:
    added = "http://collector-3.internal:8787"
    before = {agent_id: rank(agent_id, URLS)[0] for agent_id in AGENTS}
    after = {agent_id: rank(agent_id, [*URLS, added])[0] for agent_id in AGENTS}
    moved = [agent_id for agent_id in AGENTS if before[agent_id] != after[agent_id]]
    assert all(after[agent_id] == added for agent_id in moved)
    assert 0.19 < len(moved) / len(AGENTS) < 0.31, len(moved)


def test_removing_a_collector_moves_only_its_agents_each_to_its_second_choice() -> None:
    gone = URLS[1]
    for agent_id in AGENTS[:500]:
        ranked = rank(agent_id, URLS)
        remaining = rank(agent_id, [url for url in URLS if url != gone])
        assert remaining == [url for url in ranked if url != gone]


def test_collector_urls_come_from_the_argument_then_agentwatch_urls_then_agentwatch_url(
    monkeypatch: pytest.MonkeyPatch, agents_made: list[AgentTelemetry]
) -> None:
    monkeypatch.setenv(ENV_URLS, " http://127.0.0.1:9/, ,http://127.0.0.1:10 ")
    monkeypatch.setenv(ENV_URL, "http://127.0.0.1:11")
    from_env = AgentTelemetry("a", heartbeat_interval=None)
    agents_made.append(from_env)
    assert sorted(from_env.urls) == ["http://127.0.0.1:10", "http://127.0.0.1:9"]
    assert from_env.urls == tuple(rank("a", parse_urls(" http://127.0.0.1:9/, ,http://127.0.0.1:10 ")))
    assert from_env.url == from_env.urls[0] == from_env.collector
    given = AgentTelemetry("a", urls=["http://127.0.0.1:12"], heartbeat_interval=None)
    agents_made.append(given)
    assert given.urls == ("http://127.0.0.1:12",)
    one = AgentTelemetry("a", url="http://127.0.0.1:13", heartbeat_interval=None)
    agents_made.append(one)
    assert one.urls == ("http://127.0.0.1:13",) and "failovers" not in one.stats()
    monkeypatch.delenv(ENV_URLS)
    fallback = AgentTelemetry("a", heartbeat_interval=None)
    agents_made.append(fallback)
    assert fallback.urls == ("http://127.0.0.1:11",)


@pytest.mark.parametrize(
    ("url", "urls", "reason"),
    [
        ("http://127.0.0.1:9", ["http://127.0.0.1:10"], "not both"),
        (None, [], "at least one"),
        (None, [" ", "/"], "at least one"),
        (None, [f"http://127.0.0.1:{port}" for port in range(1000, 1065)], "at most 64"),
        (None, ["http://127.0.0.1:9", "ftp://127.0.0.1:10"], "http:// or https://"),
    ],
)
def test_bad_collector_lists_are_refused_at_construction(
    url: str | None, urls: list[str], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        AgentTelemetry("a", url=url, urls=urls, heartbeat_interval=None)


def test_failback_delays_must_be_positive_and_ordered() -> None:
    with pytest.raises(ValueError):
        FailoverTransport(["http://127.0.0.1:9/v1"], {}, 1.0, failback_interval=0)
    with pytest.raises(ValueError):
        FailoverTransport(["http://127.0.0.1:9/v1"], {}, 1.0, failback_interval=5, failback_max=1)


# ---------------------------------------------------------------- real collectors
def test_each_agent_sends_all_its_events_to_the_collector_it_ranks_first(
    start_collector: Callable[..., RunningCollector], agents_made: list[AgentTelemetry]
) -> None:
    collectors = [start_collector() for _ in range(3)]
    urls = [collector.url for collector in collectors]
    expected = dict.fromkeys(urls, 0)
    for i in range(12):
        telemetry = telemetry_for(f"planner-{i}", urls)
        agents_made.append(telemetry)
        record(telemetry, 5 + i)
        expected[rank(f"planner-{i}", urls)[0]] += 5 + i
        assert telemetry.collector == telemetry.urls[0]
        assert telemetry.stats()["failovers"] == 0
    assert {url: events_on(url) for url in urls} == expected


def test_a_killed_collector_fails_over_to_the_next_and_back_when_it_returns_nothing_lost(
    start_collector_process: Callable[..., CollectorProcess], agent_for: Callable[..., AgentTelemetry]
) -> None:
    first, second = start_collector_process("--no-store"), start_collector_process("--no-store")
    urls = [first.url, second.url]
    telemetry = agent_for(preferring=first.url, urls=urls)

    record(telemetry, 40)
    before_kill = events_on(first.url)
    assert before_kill == 40 and events_on(second.url) == 0

    first.kill9()
    record(telemetry, 60)  # all of it on the second collector, none lost
    assert telemetry.collector == second.url
    assert events_on(second.url) == 60
    stats = telemetry.stats()
    assert stats["failovers"] == 1 and stats["collector_errors"] >= 1 and stats["collectors_down"] == 1

    first.restart()
    moved_back = 0

    def returned() -> bool:  # one event at a time until a batch goes to the first collector again
        nonlocal moved_back
        record(telemetry, 1)
        moved_back += 1
        return telemetry.collector == first.url

    wait_until(returned)
    record(telemetry, 30)
    stats = telemetry.stats()
    assert stats["failbacks"] == 1 and stats["failovers"] == 1
    assert stats["failed"] == stats["dropped"] == stats["rejected"] == 0
    assert stats["sent"] == 40 + 60 + moved_back + 30
    assert before_kill + events_on(second.url) + events_on(first.url) == stats["sent"]
    assert events_on(first.url) >= 30


def test_a_collector_answering_503_fails_over_and_the_batch_is_sent_once_elsewhere(
    start_collector: Callable[..., RunningCollector], tmp_path: Path, agent_for: Callable[..., AgentTelemetry]
) -> None:
    (tmp_path / "not-a-directory").write_text("")
    refusing = start_collector(store_path=tmp_path / "not-a-directory" / "store.db", sync=True)
    healthy = start_collector()
    assert refusing.post({"agent_id": "probe", "span_type": "log"}).status_code == 503
    urls = [refusing.url, healthy.url]
    telemetry = agent_for(preferring=refusing.url, urls=urls, failback_interval=30.0)

    record(telemetry, 25)
    stats = telemetry.stats()
    assert telemetry.collector == healthy.url
    assert stats["sent"] == 25 and stats["failovers"] == 1 and stats["retried"] == 0
    assert events_on(healthy.url) == 25


def test_a_collector_that_never_answers_times_out_and_fails_over(
    collector: RunningCollector, agent_for: Callable[..., AgentTelemetry]
) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        urls = [silent_url, collector.url]
        telemetry = agent_for(preferring=silent_url, urls=urls, timeout=0.5)
        record(telemetry, 10)
        stats = telemetry.stats()
    assert telemetry.collector == collector.url
    assert stats["sent"] == 10 and stats["failovers"] == 1 and stats["failed"] == 0
    assert events_on(collector.url) == 10


def test_with_every_collector_down_batches_fail_counted_then_flow_when_one_returns(
    start_collector_process: Callable[..., CollectorProcess], agent_for: Callable[..., AgentTelemetry]
) -> None:
    first, second = start_collector_process("--no-store"), start_collector_process("--no-store")
    urls = [first.url, second.url]
    telemetry = agent_for(preferring=first.url, urls=urls)
    first.kill9()
    second.kill9()

    record(telemetry, 20)  # retried with the sender's backoff, then given up and counted
    stats = telemetry.stats()
    assert stats["failed"] == 20 and stats["sent"] == 0 and stats["collectors_down"] == 2

    second.restart()
    wait_until(lambda: telemetry.stats()["collectors_down"] == 0)  # both delays run out
    record(telemetry, 15)
    assert telemetry.collector == second.url
    assert telemetry.stats()["sent"] == 15 and events_on(second.url) == 15


def test_failover_posts_go_to_the_ingest_path_of_each_collector(collector: RunningCollector) -> None:
    """The endpoint list is base URL + the ingest path: a direct FailoverTransport POST lands."""
    transport = FailoverTransport(
        ["http://127.0.0.1:9" + PATH_EVENTS, collector.url + PATH_EVENTS],
        {"content-type": "application/json"},
        2.0,
    )
    try:
        status, _, _ = transport.post(b'[{"agent_id": "direct", "span_type": "log"}]', {})
    finally:
        transport.close()
    assert status == 202 and transport.current == 1 and transport.failovers == 1
    assert events_on(collector.url) == 1
