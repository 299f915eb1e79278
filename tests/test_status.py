"""``agentwatch status``: one line from one snapshot, clear failures with distinct exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentwatch.cli import build_parser
from agentwatch.protocol import SSE_METRICS, AgentRow, Snapshot
from agentwatch.status import format_line, format_template, main, overall_status
from tests.helpers import RunningCollector
from tests.sseserver import SSE, SSEServer, Status, Stream

SNAPSHOT: dict[str, object] = {
    "timestamp": 1_700_000_000.0,
    "tokens_per_second": 1234.4,
    "tool_calls_total": 50,
    "error_rate": 0.012,
    "completions": 900,
    "p50_latency_ms": 420.0,
    "p99_latency_ms": 2100.0,
    "active_agents": 12,
    "cost_per_minute": 0.84,
    "cost_estimated": True,
    "events": 4000,
}
EXPECTED_LINE = (
    "agentwatch ok · 12 agents · 1 234 tok/s · p50 420 ms · p99 2.1 s (est.) · err 1.2% · $0.84/min (est.)"
)


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user config file or AGENTWATCH_* variables leak into a test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in ("AGENTWATCH_URL", "AGENTWATCH_TOKEN", "AGENTWATCH_FPS", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[SSEServer]:
    with SSEServer() as running:
        yield running


def metrics(document: dict[str, object] = SNAPSHOT) -> Stream:
    return Stream([SSE(None, SSE_METRICS, json.dumps(document))], ending="hold")


def run_cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentwatch", "status", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def run_main(*argv: str) -> int:
    return main(build_parser().parse_args(["status", *argv]))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------ as a subprocess


def test_prints_one_summary_line_and_exits_0(server: SSEServer) -> None:
    server.play(metrics())
    result = run_cli(server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXPECTED_LINE + "\n"  # piped: no colour
    assert result.stderr == ""


def test_url_and_token_come_from_the_environment(server: SSEServer) -> None:
    server.play(metrics())
    result = run_cli(env={"AGENTWATCH_URL": server.url, "AGENTWATCH_TOKEN": "env-token"})
    assert result.returncode == 0, result.stderr
    assert server.requests[0].authorization == "Bearer env-token"


def test_unreachable_collector_exits_1_with_one_clear_line() -> None:
    result = run_cli(f"http://127.0.0.1:{closed_port()}", "--timeout", "2")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "cannot reach" in result.stderr and "connection refused" in result.stderr


def test_refused_token_exits_3(server: SSEServer) -> None:
    server.play(Status(401, "no"))
    result = run_cli(server.url, "--token", "wrong")
    assert result.returncode == 3
    assert "refused the token" in result.stderr and "AGENTWATCH_TOKEN" in result.stderr


# ------------------------------------------------------------ in process


def test_silent_collector_times_out_with_exit_1(
    server: SSEServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.play(Stream(ending="hold", heartbeat=0.05))
    assert run_main(server.url, "--timeout", "0.4") == 1
    assert "no snapshot" in capsys.readouterr().err


def test_format_template_over_snapshot_fields(server: SSEServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(metrics())
    template = "{status} {tokens_per_second:.0f} tok/s p95={p95_latency_ms:.0f} x={agent:>5} {url}"
    assert run_main(server.url, "--format", template) == 0
    assert capsys.readouterr().out == f"ok 1234 tok/s p95=— x=— {server.url}\n"


def test_format_template_reads_the_agents_of_a_real_collector(
    collector: RunningCollector, capsys: pytest.CaptureFixture[str]
) -> None:
    assert collector.post({"agent_id": "planner", "message": "hello"}).status_code == 202
    template = (
        "{agents[0].agent_id} {agents[0].status} {agents[1].agent_id} {history.tokens_per_second[0]:.0f}"
    )
    assert run_main(collector.url, "--format", template) == 0
    assert capsys.readouterr().out == "planner ok — 0\n"  # an index past the end prints "—"


@pytest.mark.parametrize(
    ("template", "said"),
    [
        ("{no_such_field}", "unknown field 'no_such_field'"),
        ("{agents[0].no_such_field}", "agents[0] has no field 'no_such_field'"),
        ("{agents.__class__}", "agents has no fields"),
        ("{history.tokens_per_second[x]}", "cannot be indexed"),
        ("{agent:>{width}}", "unknown field 'width'"),
    ],
)
def test_a_template_naming_what_the_snapshot_lacks_is_refused_clearly(
    template: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(f"http://127.0.0.1:{closed_port()}", "--format", template) == 2
    err = capsys.readouterr().err
    assert "bad --format template" in err and said in err and err.count("\n") == 1, err


@pytest.mark.parametrize("template", ["{tokens_per_second", "{}", "{0}", "{error_rate:%%%}", "{agents:.1f}"])
def test_bad_template_exits_2_with_reason_without_contacting_collector(
    template: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(f"http://127.0.0.1:{closed_port()}", "--format", template) == 2
    err = capsys.readouterr().err
    assert "bad --format template" in err and err.count("\n") == 1


def test_json_prints_the_snapshot(server: SSEServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(metrics({**SNAPSHOT, "agents": [{"agent_id": "evil\u202egnp", "status": "ok"}]}))
    assert run_main(server.url, "--json") == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    document = json.loads(out)
    assert document["tokens_per_second"] == 1234.4 and document["active_agents"] == 12
    assert document["agents"][0]["agent_id"] == "evil\u202egnp"  # same value once decoded…
    assert "\u202e" not in out  # …but the override never reaches the terminal raw


def test_agent_text_is_made_printable(server: SSEServer, capsys: pytest.CaptureFixture[str]) -> None:
    server.play(metrics({**SNAPSHOT, "agent": "\x1b]0;pwned\x07"}), metrics({**SNAPSHOT, "model": "x"}))
    assert run_main(server.url) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "agent ␛]0;pwned␇" in out


def test_config_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "xdg" / "agentwatch" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("url = = 1\n")
    assert run_main() == 2
    assert str(config) in capsys.readouterr().err


# ------------------------------------------------------------ formatting


def test_minimal_snapshot_shows_dashes_for_missing_latency() -> None:
    line = format_line(Snapshot(timestamp=0.0, active_agents=1, tokens_per_second=5))
    assert line == "agentwatch ok · 1 agent · 5 tok/s · p50 — · p99 — · err 0.0% · $0.00/min"


def test_colour_only_on_the_status_word() -> None:
    snapshot = Snapshot(
        timestamp=0.0, active_agents=2, agents=[AgentRow("a", status="failing"), AgentRow("b")]
    )
    line = format_line(snapshot, colour=True)
    assert line.startswith("agentwatch \x1b[31mfailing\x1b[0m · 2 agents")
    assert line.count("\x1b") == 2


@pytest.mark.parametrize(
    ("rows", "active", "expected"),
    [
        ([], 0, "idle"),
        ([], 3, "ok"),
        (["ok", "degraded", "idle"], 3, "degraded"),
        (["degraded", "failing"], 2, "failing"),
    ],
)
def test_overall_status_is_the_worst_agent(rows: list[str], active: int, expected: str) -> None:
    snapshot = Snapshot(
        timestamp=0.0, active_agents=active, agents=[AgentRow(f"a{i}", status=s) for i, s in enumerate(rows)]
    )
    assert overall_status(snapshot) == expected


@pytest.mark.parametrize(
    ("ms", "shown"), [(0.42, "0.42 ms"), (420.0, "420 ms"), (2100.0, "2.1 s"), (125_000.0, "125 s")]
)
def test_latency_units_read_naturally(ms: float, shown: str) -> None:
    assert f"p50 {shown} " in format_line(Snapshot(timestamp=0.0, p50_latency_ms=ms))


def test_small_costs_keep_significant_digits() -> None:
    assert "$0.0042/min" in format_line(Snapshot(timestamp=0.0, cost_per_minute=0.0042))


def test_template_strings_from_agents_are_printable() -> None:
    snapshot = Snapshot(timestamp=0.0, agent="a\x1b[2Jb")
    assert format_template("[{agent}]", snapshot) == "[a␛[2Jb]"


# ---------------------------------------------------------------- --self: what the running viewers cost
def test_status_self_prints_a_row_per_running_viewer_as_a_table_or_json(runtime_dir, capsys) -> None:
    from agentwatch.tui.selfcost import SelfCost, SelfCostFile, figures_dir

    assert figures_dir().is_relative_to(runtime_dir)
    figures = SelfCost(
        pid=os.getpid(),
        updated=time.time(),
        url="http://127.0.0.1:8787",
        cpu_percent=2.5,
        frame_p95_ms=3.44,
        lag_p95_ms=180.0,
        bytes_per_second=6400.0,
        lines_dropped=1234,
    )
    SelfCostFile(os.getpid()).write(figures)
    assert main(build_parser().parse_args(["status", "--self"])) == 0
    assert capsys.readouterr().out.splitlines() == [
        "PID".ljust(len(str(os.getpid())))
        + "  CPU   FRAME P95  EVENT→SCREEN P95  TERMINAL   DROPPED  COLLECTOR",
        f"{os.getpid()}  2.5%  3.4 ms     180 ms            6.2 KiB/s  1,234    http://127.0.0.1:8787",
    ]
    assert main(build_parser().parse_args(["status", "--self", "--json"])) == 0
    (printed,) = json.loads(capsys.readouterr().out)
    assert (
        printed["pid"] == os.getpid() and printed["frame_p95_ms"] == 3.44 and printed["lines_dropped"] == 1234
    )


def test_status_self_without_a_running_viewer_says_so_and_exits_1(runtime_dir, capsys) -> None:
    assert main(build_parser().parse_args(["status", "--self"])) == 1
    captured = capsys.readouterr()
    assert not captured.out
    assert captured.err.startswith("agentwatch: no viewer is running (none has written its figures to ")


def test_status_self_pays_for_no_textual() -> None:
    check = "import agentwatch.status, sys; assert 'textual' not in sys.modules, sorted(sys.modules)"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True).returncode == 0
