"""Several collectors as one fleet: ``agentwatch status URL1 URL2 …`` and the merge behind it (real
collectors on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentwatch.cli import parse
from agentwatch.client.fleet import FleetFollower, FleetView
from agentwatch.client.fleetmerge import Part, merge_history, merge_snapshots
from agentwatch.client.stream import ConnectionState
from agentwatch.config import ConfigError, load_config
from agentwatch.protocol import PATH_EVENTS, SSE_METRICS, AgentRow, Alert, History, LogEntry, Snapshot
from agentwatch.retry import Backoff
from agentwatch.sketchwire import PATH_SKETCH, WireSketch
from agentwatch.status import main
from tests.helpers import CollectorProcess, RunningCollector, async_wait_until, wait_until
from tests.sseserver import SSE, RecordedRequest, SSEServer, Status, Stream


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user config file or AGENTWATCH_* variables leak into a test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("AGENTWATCH_URL", "AGENTWATCH_TOKEN", "AGENTWATCH_FPS", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


def llm_call(agent: str, latency_ms: float, **fields: Any) -> dict[str, Any]:
    return {
        "agent_id": agent,
        "span_type": "llm_call",
        "latency_ms": latency_ms,
        "tokens_input": 10,
        **fields,
    }


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def run_status(*argv: str) -> int:
    return main(parse(["status", *argv]))


@pytest.fixture
def three(start_collector: Callable[..., RunningCollector]) -> list[RunningCollector]:
    """Three collectors, agents sharded over them; the third has two agents, one of them failing."""
    collectors = [start_collector() for _ in range(3)]
    batches = [
        [llm_call("alpha", 100.0) for _ in range(10)],
        [llm_call("beta", 1000.0) for _ in range(10)],
        [llm_call("gamma", 10_000.0) for _ in range(10)]
        + [llm_call("delta", 50.0, error="rate limited")] * 10,
    ]
    for running, batch in zip(collectors, batches, strict=True):
        assert running.post(batch).status_code == 202
        count = len(batch)
        wait_until(lambda running=running, count=count: running.service.window.events_total == count)
    return collectors


def test_status_of_several_collectors_sums_totals_and_merges_percentiles(
    three: list[RunningCollector], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_status(*(c.url for c in three), "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["events"] == 40 and document["errors"] == 10
    assert document["error_rate"] == pytest.approx(0.25)
    assert document["active_agents"] == 4
    # 40 latencies, 10 each of 50, 100, 1000 and 10 000 ms: p50 is 100 ms,
    # p99 is 10 s. No average of the collectors' own percentiles says that.
    assert document["p50_latency_ms"] == pytest.approx(100.0, rel=0.01)
    assert document["p99_latency_ms"] == pytest.approx(10_000.0, rel=0.01)
    by_agent = {row["agent_id"]: row["collector"] for row in document["agents"]}
    assert by_agent == {
        "alpha": three[0].url,
        "beta": three[1].url,
        "delta": three[2].url,
        "gamma": three[2].url,
    }
    assert [c["up"] for c in document["collectors"]] == [True, True, True]


def test_status_line_says_how_many_collectors_answered(
    three: list[RunningCollector], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_status(*(c.url for c in three)) == 0
    line = capsys.readouterr().out
    assert line.startswith("agentwatch failing · 4 agents")
    assert "p50 100 ms" in line and "p99 10.0 s" in line
    assert line.rstrip().endswith("· 3/3 collectors")


def test_a_down_collector_is_named_while_the_rest_print_and_the_exit_code_says_partial(
    three: list[RunningCollector], capsys: pytest.CaptureFixture[str]
) -> None:
    dead = closed_port_url()
    assert run_status(three[0].url, dead, three[1].url, "--timeout", "2") == 4
    out, err = capsys.readouterr()
    assert out.rstrip().endswith("· 2/3 collectors") and "2 agents" in out
    assert f"{dead} is down" in err
    assert run_status(three[0].url, dead, "--json", "--timeout", "2") == 4
    document = json.loads(capsys.readouterr().out)
    assert [c["up"] for c in document["collectors"]] == [True, False]
    assert document["events"] == 10


def test_a_collector_without_sketches_leaves_the_fleets_percentiles_out_not_averaged(
    three: list[RunningCollector], capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = {"timestamp": 1.0, "events": 5, "p50_latency_ms": 7.0, "p99_latency_ms": 9.0, "agents": []}

    def older_collector(request: RecordedRequest) -> Stream | Status:
        if request.path == PATH_SKETCH:
            return Status(404)
        return Stream([SSE(None, SSE_METRICS, json.dumps(snapshot))], ending="hold")

    with SSEServer(otherwise=older_collector) as older:
        assert run_status(three[0].url, older.url, "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["events"] == 15
    assert document["p50_latency_ms"] is None and document["p99_latency_ms"] is None


def test_every_collector_down_exits_1() -> None:
    assert run_status(closed_port_url(), closed_port_url(), "--timeout", "2") == 1


def test_a_refused_token_everywhere_exits_3(start_collector: Callable[..., RunningCollector]) -> None:
    collectors = [start_collector(token="right-token") for _ in range(2)]
    assert run_status(*(c.url for c in collectors), "--token", "wrong-token") == 3


def test_urls_come_from_the_config_file_and_one_later_url_beats_them(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('urls = ["c1:8787", "http://c2:8787/"]\n')
    config = load_config(path=path, environ={})
    assert config.urls == ("http://c1:8787", "http://c2:8787")
    assert config.url == "http://c1:8787"
    config = load_config(path=path, environ={"AGENTWATCH_URL": "http://c3:1"})
    assert (config.url, config.urls) == ("http://c3:1", ())
    config = load_config(parse(["status", "a:1", "b:2"]), path=path, environ={})
    assert config.urls == ("http://a:1", "http://b:2")


@pytest.mark.parametrize(
    "value", ['["c1:1", "c1:1"]', '"c1:1"', "[1]", "[" + ", ".join(['"h:1"'] * 40) + "]"]
)
def test_bad_url_lists_are_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"urls = {value}\n")
    with pytest.raises(ConfigError, match="urls"):
        load_config(path=path, environ={})


def test_history_adds_up_aligned_on_the_newest_second() -> None:
    one = History(
        end=10.0,
        tokens_per_second=[1.0, 2.0],
        p99_latency_ms=[5.0, None],
        error_rate=[0.5, 0.0],
        events_per_second=[2.0, 4.0],
        cost_per_second=[0.1, 0.2],
    )
    two = History(
        end=10.0,
        tokens_per_second=[3.0],
        p99_latency_ms=[7.0],
        error_rate=[1.0],
        events_per_second=[4.0],
        cost_per_second=[0.3],
    )
    merged = merge_history([one, two])
    assert merged.tokens_per_second == [1.0, 5.0]
    assert merged.p99_latency_ms == [5.0, 7.0]
    assert merged.error_rate == [0.5, 0.5]
    assert merged.events_per_second == [2.0, 8.0]


def test_sketches_of_another_accuracy_leave_the_percentiles_out() -> None:
    parts = [
        Part(
            "a",
            Snapshot(timestamp=1.0, events=1, agents=[AgentRow("x")]),
            WireSketch(gamma=1.02, count=1, keys=[5], counts=[1]),
        ),
        Part("b", Snapshot(timestamp=2.0, events=1), WireSketch(gamma=1.05, count=1, keys=[5], counts=[1])),
    ]
    fleet = merge_snapshots(parts)
    assert fleet.snapshot.p99_latency_ms is None and fleet.bad_sketches == 2
    assert fleet.snapshot.events == 2 and fleet.collector_of == {"x": "a"}


# ---------------------------------------------------------------- the live fleet client


class Watched:
    """What a :class:`FleetFollower` reported, for the test to wait on."""

    def __init__(self) -> None:
        self.view: FleetView | None = None
        self.entries: list[LogEntry] = []
        self.releases = 0

    def on_view(self, view: FleetView) -> None:
        self.view = view

    def on_entries(self, entries: list[LogEntry]) -> None:
        self.entries.extend(entries)
        self.releases += 1

    def up(self) -> int:
        return -1 if self.view is None else self.view.up


def fast_backoff() -> Backoff:
    return Backoff(base=0.05, factor=1.5, cap=0.3, jitter=(0.5, 1.0))


async def apost(url: str, event: dict[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(url + PATH_EVENTS, json=[event])).status_code == 202


def log_line(agent: str, timestamp: float, text: str) -> dict[str, Any]:
    return {"agent_id": agent, "span_type": "log", "message": text, "timestamp": timestamp}


async def test_the_fleet_client_merges_live_collectors_and_interleaves_their_logs_by_time(
    start_collector: Callable[..., RunningCollector],
) -> None:
    collectors = [start_collector() for _ in range(3)]
    now = time.time()
    for index, running in enumerate(collectors):  # collector i logs at now-10+i, now-7+i, now-4+i
        lines = [log_line(f"agent-{index}", now - 10 + index + 3 * k, f"c{index} line {k}") for k in range(3)]
        response = await running.apost([*lines, llm_call(f"agent-{index}", 100.0 * 10**index)])
        assert response.status_code == 202
    watched = Watched()
    follower = FleetFollower(
        [c.url for c in collectors],
        on_view=watched.on_view,
        on_entries=watched.on_entries,
        backoff=fast_backoff,
        hold=0.3,
    )
    tasks = [asyncio.create_task(follower.run_metrics()), asyncio.create_task(follower.run_logs())]
    try:
        await async_wait_until(lambda: watched.up() == 3 and watched.view.snapshot.p99_latency_ms is not None)
        assert watched.view is not None
        snapshot = watched.view.snapshot
        assert snapshot.events == 12 and snapshot.completions == 3
        # Latencies 100, 1000 and 10 000 ms, one on each collector: the merged sketch's p50 and p99
        # (rank q * (n - 1)) are the middle one; none of the collectors says 1000 for p50 on its own.
        assert snapshot.p50_latency_ms == pytest.approx(1000.0, rel=0.01)
        assert snapshot.p99_latency_ms == pytest.approx(1000.0, rel=0.01)
        assert watched.view.collector_of == {f"agent-{i}": collectors[i].url for i in range(3)}
        await async_wait_until(lambda: len(watched.entries) == 12)  # 9 log lines and 3 calls
        times = [entry.timestamp for entry in watched.entries]
        assert times == sorted(times)
        assert [entry.message for entry in watched.entries][:4] == [
            "c0 line 0",
            "c1 line 0",
            "c2 line 0",
            "c0 line 1",
        ]

        await asyncio.to_thread(collectors[1].stop)  # one goes down: marked so, the others keep going
        await async_wait_until(lambda: watched.up() == 2)
        assert watched.view is not None
        assert [phase != "live" for _, phase, _ in watched.view.collectors] == [False, True, False]
        assert watched.view.snapshot.events == 8
        assert set(watched.view.collector_of) == {"agent-0", "agent-2"}
        await collectors[2].apost([log_line("agent-2", time.time(), "still here"), llm_call("agent-2", 5.0)])
        await async_wait_until(lambda: watched.view is not None and watched.view.snapshot.events == 10)
        await async_wait_until(lambda: "still here" in [entry.message for entry in watched.entries])
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_killed_collector_rejoins_and_its_log_resumes_where_it_stopped(
    start_collector_process: Callable[..., CollectorProcess], tmp_path: Path
) -> None:
    stored = start_collector_process("--store", str(tmp_path / "one.db"))
    other = start_collector_process("--no-store")
    watched = Watched()
    follower = FleetFollower(
        [stored.url, other.url], on_view=watched.on_view, on_entries=watched.on_entries, backoff=fast_backoff
    )
    tasks = [asyncio.create_task(follower.run_metrics()), asyncio.create_task(follower.run_logs())]
    try:
        for k in range(3):
            await apost(stored.url, log_line("a", time.time(), f"before {k}"))
        await async_wait_until(lambda: watched.up() == 2 and len(watched.entries) == 3)
        stored.stop()
        await async_wait_until(lambda: watched.up() == 1)
        stored.restart()
        await async_wait_until(lambda: watched.up() == 2, timeout=20)
        await apost(stored.url, log_line("a", time.time(), "after"))
        await async_wait_until(lambda: [e.message for e in watched.entries][-1:] == ["after"])
        assert [e.message for e in watched.entries] == ["before 0", "before 1", "before 2", "after"]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_a_collector_down_keeps_its_last_alerts_in_the_fleet_and_its_numbers_out() -> None:
    follower = FleetFollower(
        ["http://a", "http://b"], on_view=lambda view: None, on_entries=lambda entries: None
    )
    alert = Alert(id="error_rate:fleet", rule="error_rate", scope="fleet", value=0.5, threshold=0.1)
    up, down = follower.links
    up.metrics = ConnectionState("live", 0.0)
    up.snapshot = Snapshot(timestamp=1.0, events=5, agents=[AgentRow("x")])
    down.metrics = ConnectionState("reconnecting", 0.0, retry_at=1.0, error="refused")
    down.snapshot = Snapshot(timestamp=1.0, events=7, alerts=[alert], agents=[AgentRow("y")])
    view = follower.view()
    assert view.snapshot.events == 5 and view.collector_of == {"x": "http://a"}
    assert view.snapshot.alerts == [alert]
    assert view.collectors == [("http://a", "live", None), ("http://b", "reconnecting", "refused")]
    assert view.up == 1


def test_one_agent_heard_by_two_collectors_is_one_row_with_both_collectors_counts() -> None:
    """An agent that failed over (or two agents of one name) shows once: counts summed, not one hidden."""
    early = AgentRow("planner", status="ok", events=30, errors=3, events_per_second=3.0, tokens_per_second=100.0,
                     p50_latency_ms=200.0, p99_latency_ms=900.0, cost_usd=0.5, last_seen=100.0, model="gpt-4o")  # fmt: skip
    late = AgentRow("planner", status="degraded", events=10, errors=0, events_per_second=1.0, tokens_per_second=50.0,
                    p50_latency_ms=300.0, p99_latency_ms=700.0, cost_usd=0.25, last_seen=110.0, model="gpt-4.1")  # fmt: skip
    parts = [
        Part("a", Snapshot(timestamp=110.0, events=30, active_agents=2, agents=[early, AgentRow("solo")])),
        Part("b", Snapshot(timestamp=110.0, events=10, active_agents=1, agents=[late])),
    ]
    fleet = merge_snapshots(parts)
    assert [row.agent_id for row in fleet.snapshot.agents] == ["planner", "solo"]
    row = fleet.snapshot.agents[0]
    assert (row.events, row.errors, row.error_rate) == (40, 3, pytest.approx(0.075))
    assert (row.events_per_second, row.tokens_per_second, row.cost_usd) == (4.0, 150.0, 0.75)
    assert (row.p50_latency_ms, row.p99_latency_ms) == (300.0, 900.0), "the larger: an upper bound"
    assert (row.status, row.model, row.last_seen) == ("degraded", "gpt-4.1", 110.0)
    assert fleet.collector_of["planner"] == "b", "the collector that heard from it last"
    assert fleet.snapshot.active_agents == 2
