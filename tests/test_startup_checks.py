"""What ``agentwatch serve`` does with a store it cannot open and a token it is given.

A collector that starts must keep its promises: with ``--sync`` a 202 means "committed", so a
store that could not be opened turns every batch into a 503 naming the store; a token is
trimmed as every client trims it (a newline from ``$(cat file)``), and one that cannot work is
refused at start. Each test runs the real ``agentwatch serve`` and talks HTTP to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from agentwatch.collector.compiled import MODULES, PURE_PYTHON_ENV, load
from agentwatch.protocol import HEADER_IDEMPOTENCY_KEY, PATH_EVENTS, PATH_HEALTH
from agentwatch.sdk import AgentTelemetry
from tests.helpers import CollectorProcess, all_logs

ENV_WITHOUT_TOKEN = {key: value for key, value in os.environ.items() if key != "AGENTWATCH_TOKEN"}


def unopenable_store(tmp_path: Path) -> Path:
    """A store path no process can create, root included: its directory is a regular file."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be\n")
    return blocker / "store.db"


def stderr_after_stop(collector: CollectorProcess) -> str:
    collector.stop()
    assert collector.process.stderr is not None
    return collector.process.stderr.read()


# ----------------------------------------------------------------- the store at start


def test_sync_with_an_unopenable_store_answers_503_naming_the_store(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    store = unopenable_store(tmp_path)
    collector = start_collector_process("--store", str(store), "--sync")
    for batch in range(3):
        response = httpx.post(
            collector.url + PATH_EVENTS,
            json=[{"agent_id": "a", "message": f"{batch}-{i}"} for i in range(5)],
            headers={HEADER_IDEMPOTENCY_KEY: f"batch-{batch}"},
            timeout=10,
        )
        assert response.status_code == 503, response.text
        problem = response.json()
        assert "store" in problem["error"] and "durable" in problem["error"], problem
        assert str(store.parent) in problem["detail"], problem
        assert response.headers["Retry-After"]
    health = httpx.get(collector.url + PATH_HEALTH, timeout=10).json()
    assert health["store"].startswith("error") and "503" in health["store"], health["store"]
    assert health["events_total"] == 0 and health["last_log_id"] == 0  # nothing refused is counted
    stderr = stderr_after_stop(collector)
    assert stderr.count("store unavailable") == 1, stderr
    assert "--sync" in stderr and str(store.parent) in stderr, stderr


def test_without_sync_an_unopenable_store_runs_in_memory_and_says_so(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    store = unopenable_store(tmp_path)
    collector = start_collector_process("--store", str(store))
    response = httpx.post(collector.url + PATH_EVENTS, json={"agent_id": "a", "message": "kept"}, timeout=10)
    assert response.status_code == 202 and response.json()["accepted"] == 1
    assert [entry.message for entry in all_logs(collector.url, 1)] == ["kept"]
    health = httpx.get(collector.url + PATH_HEALTH, timeout=10).json()
    assert "running in memory only" in health["store"] and str(store.parent) in health["store"], health
    stderr = stderr_after_stop(collector)
    assert stderr.count("store unavailable, running in memory only") == 1, stderr


def test_a_corrupt_store_is_reported_once(
    tmp_path: Path, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    store = tmp_path / "store.db"
    store.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 32)
    collector = start_collector_process("--store", str(store))
    assert httpx.get(collector.url + PATH_HEALTH, timeout=10).json()["store"] == "ok"
    stderr = stderr_after_stop(collector)
    assert stderr.count("was unreadable") == 1, stderr


# ----------------------------------------------------------------------- tokens


def authorized(url: str, token: str) -> int:
    return httpx.get(url + PATH_HEALTH, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_a_token_with_surrounding_whitespace_is_trimmed_on_the_command_line(
    start_collector_process: Callable[..., CollectorProcess],
) -> None:
    collector = start_collector_process("--token", "s3cret ")
    assert authorized(collector.url, "s3cret") == 200
    assert authorized(collector.url, "wrong") == 401


def test_a_token_from_the_environment_loses_its_newline(
    monkeypatch: pytest.MonkeyPatch, start_collector_process: Callable[..., CollectorProcess]
) -> None:
    monkeypatch.setenv("AGENTWATCH_TOKEN", "s3cret\n")  # as from AGENTWATCH_TOKEN=$(cat file)
    collector = start_collector_process("--no-store")
    assert authorized(collector.url, "s3cret") == 200
    # Every client trims the same way: an SDK given the token with its newline gets in.
    telemetry = AgentTelemetry("trimmed", collector.url, heartbeat_interval=None)
    try:
        telemetry.log("info", "through")
        assert telemetry.flush(10)
    finally:
        telemetry.close()
    entries = all_logs(collector.url, 1, headers={"Authorization": "Bearer s3cret"})
    assert entries[0].agent_id == "trimmed"


@pytest.mark.parametrize(
    ("args", "env_token", "said"),
    [
        (["--token", "   "], None, "--token is empty"),
        (["--token", "\n"], None, "--token is empty"),
        ([], " \n", "AGENTWATCH_TOKEN is empty"),
        (["--token", "sécret"], None, "--token must be printable ASCII"),
        (["--token", "a\tb"], None, "--token must be printable ASCII"),
    ],
)
def test_a_token_that_cannot_work_is_refused_at_start(
    args: list[str], env_token: str | None, said: str
) -> None:
    env = dict(ENV_WITHOUT_TOKEN)
    if env_token is not None:
        env["AGENTWATCH_TOKEN"] = env_token
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "serve", "--port", "0", "--no-store", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert said in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_status_and_simulate_trim_the_token_as_the_collector_does(
    start_collector_process: Callable[..., CollectorProcess],
) -> None:
    collector = start_collector_process("--token", "s3cret")
    for command in (
        ["status", collector.url, "--token", "s3cret\n"],
        ["simulate", "--url", collector.url, "--token", " s3cret\n", "--agents", "1", "--duration", "0.3"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "agentwatch", *command],
            capture_output=True,
            text=True,
            timeout=30,
            env=ENV_WITHOUT_TOKEN,
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    health = httpx.get(collector.url + PATH_HEALTH, headers={"Authorization": "Bearer s3cret"}, timeout=10)
    assert health.json()["events_total"] > 0  # the simulator's events got in


# ------------------------------------------------------------- the window's compiled pass


def test_serve_says_when_it_runs_the_python_passes(
    start_collector_process: Callable[..., CollectorProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PURE_PYTHON_ENV, "1")  # the collector process inherits it
    collector = start_collector_process("--no-store")
    response = httpx.post(collector.url + PATH_EVENTS, json={"agent_id": "a", "tokens_input": 5}, timeout=10)
    assert response.status_code == 202 and response.json()["accepted"] == 1
    stderr = stderr_after_stop(collector)
    assert f"running the Python passes ({PURE_PYTHON_ENV} is set)" in stderr, stderr


def test_serve_is_quiet_about_the_compiled_pass_when_it_is_used(
    start_collector_process: Callable[..., CollectorProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    if any(load(name) is None for name in MODULES):
        pytest.skip("the compiled passes were not built here (no C compiler at install)")
    monkeypatch.delenv(PURE_PYTHON_ENV, raising=False)
    collector = start_collector_process("--no-store")
    stderr = stderr_after_stop(collector)
    assert "Python passes" not in stderr, stderr
