"""``agentwatch record`` and ``replay`` against the real collector: what the viewer showed live, it
shows again from the recording; files rotate within their bound; a damaged recording is refused
(or, cut short, played up to its last whole line) with a message naming the file."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentwatch.client.sse import ServerSentEvent
from agentwatch.collector.budgets import Budgets
from agentwatch.protocol import (
    PATH_ALERTS,
    PATH_EVENTS,
    PATH_HEALTH,
    PATH_LOGS,
    PATH_LOGS_STREAM,
    PATH_SNAPSHOT,
)
from agentwatch.record import Frame, Recorder, part_paths, record
from agentwatch.replay import Player, Recording, RecordingError, create_app, load
from agentwatch.tui import formatting as fmt
from agentwatch.tui.app import AgentWatchApp
from tests.helpers import async_wait_until, entry_lines, header, serve_in_thread, table_row, wait_until

SIZE = (120, 36)
AGENTS = ("planner-01", "coder-03", "critic-07")


def events(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "agent_id": AGENTS[i % len(AGENTS)],
            "span_type": "llm_call",
            "model": "gpt-4o",
            "tokens_input": 100 + i,
            "tokens_output": 10,
            "latency_ms": 200.0 + i,
            "message": f"call number {i}",
            **({"error": f"Timeout {i}"} if i % 5 == 4 else {}),
        }
        for i in range(first, first + count)
    ]


def recorded_lines(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt") as handle:
        return [json.loads(line) for line in handle]


async def watch(url: str, expected_lines: int) -> tuple[list[str], dict[str, str]]:
    """What a viewer of ``url`` shows once ``expected_lines`` log lines are on screen."""
    app = AgentWatchApp(url=url, fps=20, tz=UTC)
    async with app.run_test(size=SIZE) as pilot:
        await async_wait_until(lambda: len(entry_lines(app)) >= expected_lines, pilot=pilot)
        await async_wait_until(lambda: all(table_row(app, agent) for agent in AGENTS), pilot=pilot)
        return entry_lines(app), {agent: table_row(app, agent).split(" | ")[0] for agent in AGENTS}


async def test_a_replayed_recording_shows_the_viewer_what_it_showed_live(collector, tmp_path: Path) -> None:
    path = tmp_path / "fleet.ndjson.gz"
    recorder = Recorder(path)
    stop = asyncio.Event()
    assert collector.post(events(0, 10)).status_code == 202  # held by the collector: sent as backfill
    task = asyncio.create_task(record(collector.url, recorder, stop=stop))
    await async_wait_until(lambda: recorder.counts().get("metrics", 0) >= 1)
    async with httpx.AsyncClient() as http:
        for start in (10, 20, 30):  # while recording, over time
            assert (await http.post(collector.url + PATH_EVENTS, json=events(start, 10))).status_code == 202
            await async_wait_until(lambda s=start: recorder.counts().get("logs", 0) >= s + 10)
    live_lines, live_agents = await watch(collector.url, 40)
    stop.set()
    await asyncio.wait_for(task, 10)
    recorder.close()

    frames = recorded_lines(path)
    assert {f["stream"] for f in frames} == {"metrics", "logs"}
    assert all(isinstance(f["t"], float) and isinstance(f["data"], str) for f in frames)
    recording = load(path)
    assert recording.warnings == []
    server, thread, port = serve_in_thread(create_app(Player(recording, speed=20.0)))
    try:
        replay_lines, replay_agents = await watch(f"http://127.0.0.1:{port}", 40)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert len(live_lines) == 40
    assert replay_lines == live_lines
    assert replay_agents == live_agents


def test_replay_answers_the_collector_routes_and_refuses_others(start_collector, tmp_path: Path) -> None:
    collector = start_collector(budgets=Budgets(session_usd=0.5))
    path = tmp_path / "r.gz"
    recorder = Recorder(path)
    assert collector.post(events(0, 6)).status_code == 202
    assert (
        collector.post([{"agent_id": "planner-01", "span_type": "llm_call", "cost_usd": 1.0}]).status_code
        == 202
    )
    wait_until(lambda: collector.service.firing_alerts())

    def budget_recorded() -> bool:
        try:  # flushed once a second: the file may not hold a whole message yet
            return any('"budget"' in frame.data for frame in load(path).metrics)
        except RecordingError:
            return False

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(record(collector.url, recorder, stop=stop))
        await async_wait_until(lambda: recorder.counts().get("logs", 0) >= 8)
        await async_wait_until(budget_recorded)
        stop.set()
        await task

    asyncio.run(run())
    recorder.close()
    player = Player(load(path), speed=1000.0)
    server, thread, port = serve_in_thread(create_app(player, name=str(path)))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(player.ended)
        snapshot = httpx.get(base + PATH_SNAPSHOT).json()
        assert {row["agent_id"] for row in snapshot["agents"]} == set(AGENTS)
        alerts = httpx.get(base + PATH_ALERTS).json()
        assert [(a["rule"], a["scope"]) for a in alerts["firing"]] == [("budget", "agent:planner-01")]
        assert [a["rule"] for a in alerts["history"]] == ["budget"]
        health = httpx.get(base + PATH_HEALTH).json()
        assert health["store"] == "replay" and health["log_entries_total"] == 7
        assert health["replay"]["ended"] is True and health["replay"]["file"] == str(path)
        # The time scrub's question: the lines of a time range, of one agent, at a level and above.
        every = httpx.get(base + PATH_LOGS, params={"from": "0", "to": "1e10"}).json()
        assert len(every["entries"]) == 7 and every["truncated"] is False
        mine = httpx.get(base + PATH_LOGS, params={"from": "0", "to": "1e10", "agent": "coder-03"}).json()
        assert [e["message"].rsplit(" ", 1)[1] for e in mine["entries"]] == ["1", "4"]
        failed = httpx.get(base + PATH_LOGS, params={"from": "0", "to": "1e10", "level": "error"}).json()
        assert [e["agent_id"] for e in failed["entries"]] == ["coder-03"]  # event 4: the one error
        cut = httpx.get(base + PATH_LOGS, params={"from": "0", "to": "1e10", "limit": "2"}).json()
        assert len(cut["entries"]) == 2 and cut["truncated"] is True
        missing = httpx.get(base + "/api/analysis?view=costs")
        assert missing.status_code == 404
        assert "not in a recording" in missing.json()["error"]
        assert httpx.post(base + PATH_EVENTS, json=[]).status_code == 404
        # Resuming after the third line sends the rest, nothing twice.
        ids = [f.id for f in player.recording.logs if f.event == "log"]
        with httpx.stream("GET", base + PATH_LOGS_STREAM, headers={"Last-Event-ID": ids[2]}) as response:
            assert response.status_code == 200
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if body.count(b"event: log") >= 3:
                    break
        assert len(ids) == 7 and body.count(b"event: log") == 4 and f"id: {ids[3]}".encode() in body
        assert f"id: {ids[2]}\n".encode() not in body
        unknown = httpx.get(base + PATH_LOGS_STREAM, headers={"Last-Event-ID": "nope:9"})
        assert unknown.status_code == 400 and "not an id of this recording" in unknown.json()["error"]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sse(i: int) -> ServerSentEvent:
    return ServerSentEvent("log", json.dumps({"message": f"line {i} " + os.urandom(40).hex()}), f"s:{i}")


def test_rotation_keeps_at_most_max_files_each_within_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "rot.gz"
    clock = iter(range(10**6))
    recorder = Recorder(path, max_bytes=4096, max_files=3, clock=lambda: float(next(clock)))
    recorder.write(
        "logs", ServerSentEvent("hello", '{"run":"r","sequence":"s","continued":false,"last_id":0}')
    )
    for i in range(400):
        recorder.write("logs", sse(i))
    recorder.close()
    assert recorder.rotations > 3
    files = sorted(tmp_path.iterdir())
    assert files == sorted(part_paths(path, 3))
    for part in files:
        assert part.stat().st_size <= 4096
        frames = recorded_lines(part)
        assert frames[0]["event"] == "hello"  # each part plays on its own
    newest = recorded_lines(path)
    assert newest[-1]["data"].startswith('{"message": "line 399 ')
    # The kept parts are the newest messages, in order, nothing twice.
    numbers = [int(json.loads(f.data)["message"].split()[1]) for f in load(path).logs if f.event == "log"]
    assert numbers == list(range(numbers[0], 400))


def test_a_damaged_recording_is_refused_with_its_name_and_line(tmp_path: Path) -> None:
    not_gzip = tmp_path / "plain.txt"
    not_gzip.write_text('{"t": 1}\n')
    with pytest.raises(RecordingError, match=r"plain\.txt: not a gzip file"):
        load(not_gzip)
    bad_line = tmp_path / "bad.gz"
    good = json.dumps({"t": 1.0, "stream": "logs", "event": "log", "data": "{}"})
    bad_line.write_bytes(gzip.compress(f"{good}\nnot json\n".encode()))
    with pytest.raises(RecordingError, match=r"bad\.gz: line 2 is not a recorded message"):
        load(bad_line)
    wrong_stream = tmp_path / "stream.gz"
    wrong_stream.write_bytes(
        gzip.compress(json.dumps({"t": 1.0, "stream": "x", "event": "e", "data": ""}).encode())
    )
    with pytest.raises(RecordingError, match="unknown stream 'x'"):
        load(wrong_stream)
    with pytest.raises(RecordingError, match="no such file"):
        load(tmp_path / "missing.gz")


def test_a_recording_cut_short_plays_to_its_last_whole_line_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    recorder = Recorder(path)
    for i in range(50):
        recorder.write("logs", sse(i))
    recorder._flush()  # what a killed recorder leaves: flushed, never finished
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    recording = load(path)
    assert 0 < len(recording.logs) < 50
    assert recording.warnings and "cut.gz ends early" in recording.warnings[0]


def test_the_record_command_survives_a_collector_restart_and_stops_cleanly_on_sigterm(
    start_collector_process, tmp_path: Path
) -> None:
    store = tmp_path / "store.db"
    collector = start_collector_process("--store", str(store))
    path = tmp_path / "cli.gz"
    process = subprocess.Popen(
        [sys.executable, "-m", "agentwatch", "record", collector.url, "-o", str(path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        httpx.post(collector.url + PATH_EVENTS, json=events(0, 5), timeout=10).raise_for_status()

        def logged() -> int:
            try:
                return sum(1 for f in load(path).logs if f.event == "log")
            except RecordingError:
                return 0

        wait_until(lambda: logged() >= 5)
        collector.stop()
        collector.restart()
        httpx.post(collector.url + PATH_EVENTS, json=events(5, 5), timeout=10).raise_for_status()
        wait_until(lambda: logged() >= 10)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "reconnecting" in stderr
    recording = load(path)
    assert recording.warnings == []  # closed cleanly
    messages = [json.loads(f.data)["message"] for f in recording.logs if f.event == "log"]
    numbers = [int(m.rsplit("call number ", 1)[1]) for m in messages if "call number " in m]
    assert numbers == list(range(10))  # resumed after the restart: nothing lost, nothing twice


def test_frames_keep_the_fields_of_the_documented_format() -> None:
    assert set(Frame.__struct_fields__) == {"t", "stream", "event", "data", "id"}


def test_the_player_moves_at_speed_times_real_time_from_its_start() -> None:
    frames = [Frame(t=1000.0 + i, stream="logs", event="log", data="{}", id=f"s:{i}") for i in range(11)]
    now = [0.0]
    player = Player(Recording(frames, []), speed=4.0, start=2.0, clock=lambda: now[0])
    assert player.position() == 2.0 and player.seen(player.recording.logs_times) == 3
    assert player.wait_for(6.0) == 1.0  # 4 recorded seconds at 4x
    now[0] = 1.0
    assert player.position() == 6.0 and player.seen(player.recording.logs_times) == 7
    now[0] = 100.0
    assert player.position() == 10.0 and player.ended()


def test_the_replay_command_serves_on_the_port_it_prints_and_refuses_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "one.gz"
    recorder = Recorder(path)
    recorder.write(
        "logs", ServerSentEvent("hello", '{"run":"r","sequence":"s","continued":false,"last_id":1}')
    )
    recorder.write(
        "logs", ServerSentEvent("log", '{"timestamp":1.0,"agent_id":"a","message":"m","id":1}', "s:1")
    )
    recorder.close()
    process = subprocess.Popen(
        [sys.executable, "-m", "agentwatch", "replay", str(path), "--port", "0", "--speed", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "0 metrics and 2 log messages" in first and "at 2x" in first
        url = next(word for word in first.split() if word.startswith("http://"))
        health = wait_until(lambda: _health(url))
        assert health["replay"]["ended"] is True and health["last_log_id"] == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(b"\x1f\x8b not really")
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "replay", str(damaged), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"agentwatch replay: {damaged}: ")


def _health(url: str) -> dict[str, Any] | None:
    try:
        return httpx.get(url + PATH_HEALTH, timeout=2).json()
    except httpx.TransportError:
        return None


async def test_the_time_scrub_works_on_a_replay(collector, tmp_path: Path) -> None:
    """`<` on a replayed recording: the spike's second, and its lines from the replay's /api/logs."""
    spike = int(time.time()) - 20
    await collector.apost(
        [{"agent_id": "beta", "span_type": "log", "message": "quiet", "timestamp": spike - 12.0}]
        + [
            {"agent_id": "alpha", "span_type": "log", "level": "error", "message": f"boom {i}",
             "error": "timeout", "timestamp": spike + 0.01 * i}
            for i in range(30)
        ]
    )  # fmt: skip
    path = tmp_path / "spike.gz"
    recorder = Recorder(path)
    stop = asyncio.Event()
    task = asyncio.create_task(record(collector.url, recorder, stop=stop))
    await async_wait_until(
        lambda: recorder.counts().get("logs", 0) >= 32 and recorder.counts().get("metrics")
    )
    stop.set()
    await asyncio.wait_for(task, 10)
    recorder.close()
    server, thread, port = serve_in_thread(create_app(Player(load(path), speed=20.0)))
    try:
        app = AgentWatchApp(url=f"http://127.0.0.1:{port}", fps=20, tz=UTC)
        async with app.run_test(size=SIZE) as pilot:
            await async_wait_until(lambda: len(entry_lines(app)) == 31, pilot=pilot)
            await async_wait_until(lambda: app.state.fleet is not None, pilot=pilot)
            await pilot.press("less_than_sign")
            await async_wait_until(lambda: f"⏪ at {fmt.clock_time(spike, UTC)}" in header(app), pilot=pilot)
            await async_wait_until(
                lambda: any(line.endswith("boom 29") for line in entry_lines(app)), pilot=pilot
            )
            shown = entry_lines(app)
            assert sum(" boom " in line for line in shown) == 30
            assert not any("quiet" in line for line in shown)  # 12 s before: outside the spread
    finally:
        server.should_exit = True
        thread.join(timeout=10)
