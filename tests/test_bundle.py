"""Incident bundles over a real collector: every part written and readable, the log lines of the
time range only, a summary that names what fired and who cost and failed most, a .tar.gz with the
same files, and a collector out of reach told, not crashed on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from agentwatch.client.bundle import MAX_LINES, parse_since, write_bundle
from agentwatch.collector.budgets import Budgets
from agentwatch.protocol import ANALYSIS_VIEWS, PATH_ALERTS
from tests.helpers import wait_until

PARTS = {"snapshot.json", "alerts.json", "health.json", "logs.ndjson", "summary.md"} | {
    f"analysis-{view}.json" for view in ANALYSIS_VIEWS
}


def fleet(now: float) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for i in range(30):
        agent = ("spender", "failer", "quiet")[i % 3]
        event: dict[str, Any] = {
            "agent_id": agent,
            "span_type": "llm_call",
            "model": "gpt-4o",
            "tokens_input": 100,
            "tokens_output": 10,
            "latency_ms": 300.0,
            "cost_usd": 0.2 if agent == "spender" else 0.001,
            "message": f"event {i}",
        }
        if agent == "failer":
            event["error"] = f"Timeout {i}"
        events.append(event)
    # A line from two hours ago: outside a 15-minute bundle.
    events.append({"agent_id": "quiet", "span_type": "log", "message": "long ago", "timestamp": now - 7200})
    return events


@pytest.fixture
def incident(start_collector):
    collector = start_collector(budgets=Budgets(session_usd=0.5))
    assert collector.post(fleet(time.time())).status_code == 202

    def budget_firing() -> bool:
        import httpx

        firing = httpx.get(collector.url + PATH_ALERTS, timeout=10).json()["firing"]
        return any(a["rule"] == "budget" for a in firing)

    wait_until(budget_firing)
    return collector


def test_a_bundle_holds_every_part_and_a_summary_of_the_incident(incident, tmp_path: Path) -> None:
    out = tmp_path / "incident"
    bundle = asyncio.run(write_bundle(incident.url, since=900, output=out))
    assert bundle.path == out and bundle.problems == {}
    assert {p.name for p in out.iterdir()} == PARTS
    snapshot = json.loads((out / "snapshot.json").read_text())
    assert {row["agent_id"] for row in snapshot["agents"]} == {"spender", "failer", "quiet"}
    alerts = json.loads((out / "alerts.json").read_text())
    assert [a["rule"] for a in alerts["firing"]] == ["budget"]
    for view in ANALYSIS_VIEWS:
        assert json.loads((out / f"analysis-{view}.json").read_text())["view"] == view
    lines = [json.loads(line) for line in (out / "logs.ndjson").read_text().splitlines()]
    messages = [line["message"] for line in lines]
    assert len(lines) == 30 and bundle.lines == 30
    assert "long ago" not in messages
    assert [line["id"] for line in lines] == sorted(line["id"] for line in lines)
    summary = (out / "summary.md").read_text()
    assert "FIRING" in summary and "budget (agent:spender)" in summary
    cost = summary.split("## Top agents by cost")[1].split("##")[0]
    assert cost.strip().splitlines()[2].startswith("- spender: $2.0000")
    errors = summary.split("## Top agents by errors")[1].split("##")[0]
    assert errors.strip().splitlines()[0].startswith("- failer: 10 error lines in the range")
    assert "Time range:" in summary and "(15 min)" in summary


def test_the_command_writes_a_tar_gz_and_prints_its_path(incident, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentwatch",
            "bundle",
            incident.url,
            "--since",
            "5m",
            "-o",
            str(tmp_path / "b"),
            "--tar",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path == tmp_path / "b.tar.gz"
    with tarfile.open(path) as archive:
        names = {Path(name).name for name in archive.getnames()}
        summary = archive.extractfile("b/summary.md").read().decode()  # type: ignore[union-attr]
    assert names == PARTS
    assert "(5 min)" in summary
    assert not (tmp_path / "b").exists()


def test_a_collector_out_of_reach_is_told_and_nothing_is_half_written(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once it closes
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "bundle", f"http://127.0.0.1:{port}", "-o", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "snapshot.json:" in result.stderr and "logs.ndjson:" in result.stderr
    summary = (tmp_path / "x" / "summary.md").read_text()
    assert "## Not read" in summary and "Alerts could not be read" in summary


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("1h30m", 5400), ("1d", 86400)]
)
def test_since_reads_durations(text: str, seconds: float) -> None:
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "2d", "15x", "m", "-5m"])
def test_since_refuses_what_is_not_a_duration_up_to_a_day(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_since(text)


def test_a_bad_since_on_the_command_line_exits_2_with_the_reason() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "bundle", "--since", "soon"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "expected a duration such as 15m" in result.stderr


def test_the_line_bound_is_large_enough_for_a_busy_quarter_hour() -> None:
    assert MAX_LINES >= 100_000


def test_lines_on_a_page_boundary_are_neither_missed_nor_repeated(collector, tmp_path: Path) -> None:
    """A full page (the collector's limit) of recent lines arrives first, then older lines arrive
    late: paging by the last timestamp would skip the late ones; the ``after`` cursor does not."""
    from agentwatch.protocol import MAX_LOG_RANGE_LIMIT

    now = time.time()
    first = MAX_LOG_RANGE_LIMIT + 500
    recent = [
        {"agent_id": "a", "span_type": "log", "message": f"recent {i}", "timestamp": now - 60 + i / first}
        for i in range(first)
    ]
    late = [
        {"agent_id": "a", "span_type": "log", "message": f"late {i}", "timestamp": now - 300 + i / 1000}
        for i in range(700)
    ]
    for chunk in range(0, len(recent), 2000):
        assert collector.post(recent[chunk : chunk + 2000]).status_code == 202
    assert collector.post(late).status_code == 202
    total = first + len(late)
    wait_until(lambda: collector.service.logs.last_id >= total)
    bundle = asyncio.run(write_bundle(collector.url, since=900, output=tmp_path / "b"))
    lines = [json.loads(line) for line in (tmp_path / "b" / "logs.ndjson").read_text().splitlines()]
    ids = [line["id"] for line in lines]
    assert len(ids) == len(set(ids)) == total and bundle.lines == total
    assert sum(line["message"].startswith("late") for line in lines) == len(late)
    assert [line["timestamp"] for line in lines] == sorted(line["timestamp"] for line in lines)
