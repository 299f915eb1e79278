"""A large fleet over real HTTP: /metrics names the busiest agents and sums the rest; listings are paged."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentwatch.client.prefetch import SnapshotPrefetch
from agentwatch.collector.app import MAX_PAGE_AGENTS
from agentwatch.collector.metricingest import MetricIngest, MetricIngestExporter
from agentwatch.collector.totals import EXPORTED_MODELS_PER_AGENT, OTHER, Totals, TotalsExporter
from agentwatch.protocol import HEADER_TOTAL_COUNT, PATH_AGENTS, PATH_METRICS, PATH_SNAPSHOT, Event, Snapshot
from tests.helpers import RunningCollector


def call(agent: str, model: str = "gpt-4o", **fields: Any) -> dict[str, Any]:
    event = {
        "agent_id": agent,
        "span_type": "llm_call",
        "model": model,
        "tokens_input": 10,
        "tokens_output": 5,
        "latency_ms": 120.0,
        "cost_usd": 0.25,
    }
    event.update(fields)
    return event


def scrape(collector: RunningCollector) -> dict[str, list[tuple[dict[str, str], float]]]:
    """``/metrics`` as sample name → [(labels, value)]."""
    response = httpx.get(collector.url + PATH_METRICS, headers=collector.headers(), timeout=30)
    assert response.status_code == 200
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def by_agent(samples: list[tuple[dict[str, str], float]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for labels, value in samples:
        totals[labels["agent"]] += value
    return totals


@pytest.fixture
def fleet(start_collector: Callable[..., RunningCollector]) -> RunningCollector:
    """20 agents, agent-i sending i + 1 calls (agent-19 is the busiest), metrics naming 5."""
    collector = start_collector(metrics_agents=5)
    events = [call(f"agent-{i:02d}") for i in range(20) for _ in range(i + 1)]
    assert collector.post(events).json()["accepted"] == len(events) == 210
    return collector


# -------------------------------------------------------------------------- /metrics
def test_metrics_names_the_busiest_agents_and_sums_the_rest_under_other(fleet: RunningCollector) -> None:
    samples = scrape(fleet)
    events = by_agent(samples["agentwatch_events_total"])
    busiest = {f"agent-{i:02d}": i + 1 for i in range(15, 20)}
    assert events == Counter({**busiest, OTHER: sum(range(1, 16))})
    assert sum(events.values()) == 210, "the totals over every label value are the events sent"
    assert samples["agentwatch_metrics_agents_summed"] == [({}, 15.0)]


def test_every_counter_and_the_histogram_add_up_over_the_label_values(fleet: RunningCollector) -> None:
    samples = scrape(fleet)
    assert sum(by_agent(samples["agentwatch_input_tokens_total"]).values()) == 210 * 10
    assert sum(by_agent(samples["agentwatch_output_tokens_total"]).values()) == 210 * 5
    assert sum(by_agent(samples["agentwatch_cost_usd_total"]).values()) == pytest.approx(210 * 0.25)
    counts = by_agent(samples["agentwatch_latency_seconds_count"])
    assert counts[OTHER] == sum(range(1, 16)) and sum(counts.values()) == 210
    top = [v for labels, v in samples["agentwatch_latency_seconds_bucket"] if labels["le"] == "+Inf"]
    assert sorted(top) == sorted(counts.values()), "each histogram's +Inf bucket is its count"
    assert by_agent(samples["agentwatch_latency_seconds_sum"])[OTHER] == pytest.approx(0.12 * counts[OTHER])


def test_one_agent_with_many_models_names_only_its_busiest_models(
    start_collector: Callable[..., RunningCollector],
) -> None:
    collector = start_collector()
    events = [call("router", f"model-{m:02d}") for m in range(30) for _ in range(m + 1)]
    collector.post(events)
    samples = scrape(collector)["agentwatch_events_total"]
    models = {labels["model"]: value for labels, value in samples if labels["agent"] == "router"}
    assert len(models) == EXPORTED_MODELS_PER_AGENT
    named = {f"model-{m:02d}": m + 1.0 for m in range(30 - EXPORTED_MODELS_PER_AGENT + 1, 30)}
    assert models == {**named, OTHER: sum(range(1, 30 - EXPORTED_MODELS_PER_AGENT + 2))}
    assert sum(models.values()) == len(events)


def test_metrics_at_the_default_cap_has_at_most_that_many_agents_plus_other(
    start_collector: Callable[..., RunningCollector],
) -> None:
    collector = start_collector()
    cap = collector.service.settings.metrics_agents
    events = [call(f"agent-{i:04d}") for i in range(cap + 400)]
    collector.post(events)
    samples = scrape(collector)
    events_by_agent = by_agent(samples["agentwatch_events_total"])
    assert len(events_by_agent) == cap + 1 and OTHER in events_by_agent
    assert sum(events_by_agent.values()) == len(events)


# ------------------------------------------------------------- the exporters' copies
def test_the_totals_exporter_reads_the_copy_made_with_it_not_later_counts() -> None:
    totals = Totals()
    totals.add_many([Event(agent_id="a", model="m", latency_ms=5.0, span_type="llm_call")])
    exporter = TotalsExporter(totals, agents=10)
    totals.add_many([Event(agent_id="a", model="m", latency_ms=5.0, span_type="llm_call")] * 3)
    totals.add_many([Event(agent_id="b", model="m")])
    assert {key: values[0] for key, values in exporter.exported().items()} == {("a", "m"): 1}


def test_the_metric_ingest_exporter_reads_the_copy_made_with_it() -> None:
    ingest = MetricIngest()
    ingest.counts.requests = 3
    ingest.counts.points["gen_ai"] = 7
    exporter = MetricIngestExporter(ingest)
    ingest.counts.requests = 4
    ingest.counts.points["gen_ai"] = 9
    values = {s.name: s.value for family in exporter.collect() for s in family.samples if not s.labels}
    points = {s.labels.get("family"): s.value for family in exporter.collect() for s in family.samples}
    assert values["agentwatch_otlp_metric_requests_total"] == 3
    assert points["gen_ai"] == 7


# ------------------------------------------------------------------------- listings
@pytest.fixture
def crowd(start_collector: Callable[..., RunningCollector]) -> RunningCollector:
    """More agents than one page holds; agent-i sends one call, agent-0000 two."""
    collector = start_collector()
    events = [call(f"agent-{i:04d}") for i in range(MAX_PAGE_AGENTS * 2 + 500)]
    assert collector.post([call("agent-0000"), *events]).status_code == 202
    return collector


def get(collector: RunningCollector, path: str, **params: Any) -> httpx.Response:
    return httpx.get(collector.url + path, params=params, headers=collector.headers(), timeout=30)


def test_agents_answers_one_page_says_the_total_and_links_the_next(crowd: RunningCollector) -> None:
    total = MAX_PAGE_AGENTS * 2 + 500
    response = get(crowd, PATH_AGENTS)
    rows = response.json()
    assert len(rows) == MAX_PAGE_AGENTS
    assert [row["agent_id"] for row in rows[:2]] == ["agent-0000", "agent-0001"]
    assert response.headers[HEADER_TOTAL_COUNT] == str(total)
    assert (
        response.headers["Link"]
        == f'<{PATH_AGENTS}?offset={MAX_PAGE_AGENTS}&limit={MAX_PAGE_AGENTS}>; rel="next"'
    )


def test_following_the_links_lists_every_agent_once_in_order(crowd: RunningCollector) -> None:
    seen: list[str] = []
    response = get(crowd, PATH_AGENTS, limit=700)
    for _ in range(10):
        seen += [row["agent_id"] for row in response.json()]
        link = response.headers.get("Link")
        if link is None:
            break
        response = httpx.get(crowd.url + link[1 : link.index(">")], headers=crowd.headers(), timeout=30)
    assert seen == [f"agent-{i:04d}" for i in range(MAX_PAGE_AGENTS * 2 + 500)]


def test_offset_and_limit_take_a_slice_sorted_by_agent_id(crowd: RunningCollector) -> None:
    rows = get(crowd, PATH_AGENTS, offset=5, limit=3).json()
    assert [row["agent_id"] for row in rows] == ["agent-0005", "agent-0006", "agent-0007"]
    assert get(crowd, PATH_AGENTS, offset=10**6).json() == []


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": MAX_PAGE_AGENTS + 1}, f"limit: must be an integer from 0 to {MAX_PAGE_AGENTS}"),
        ({"limit": -1}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "1e3"}, "offset"),
    ],
)
def test_a_bad_page_parameter_is_a_400_naming_it(
    collector: RunningCollector, params: dict[str, Any], named: str
) -> None:
    for path in (PATH_AGENTS, PATH_SNAPSHOT):
        response = get(collector, path, **params)
        assert response.status_code == 400
        assert named in response.json()["error"]


def test_snapshot_pages_its_rows_but_its_numbers_cover_every_agent(crowd: RunningCollector) -> None:
    total = MAX_PAGE_AGENTS * 2 + 500
    response = get(crowd, PATH_SNAPSHOT)
    snapshot = msgspec.json.decode(response.content, type=Snapshot)
    assert len(snapshot.agents) == MAX_PAGE_AGENTS
    assert snapshot.events == total + 1 and snapshot.active_agents == total
    assert response.headers[HEADER_TOTAL_COUNT] == str(total)
    bare = msgspec.json.decode(get(crowd, PATH_SNAPSHOT, limit=0).content, type=Snapshot)
    assert bare.agents == [] and bare.events == total + 1
    one = get(crowd, PATH_SNAPSHOT, agent="agent-0000")
    assert [row.events for row in msgspec.json.decode(one.content, type=Snapshot).agents] == [2]
    assert one.headers[HEADER_TOTAL_COUNT] == "1"


def test_the_viewers_first_snapshot_still_arrives_from_a_large_fleet(crowd: RunningCollector) -> None:
    prefetch = SnapshotPrefetch(crowd.url, crowd.token, timeout=10)
    snapshot = prefetch.result(timeout=10)
    assert snapshot is not None and len(snapshot.agents) == MAX_PAGE_AGENTS
