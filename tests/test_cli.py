import argparse
import subprocess
import sys

import pytest

from agentwatch import __version__
from agentwatch.cli import SCENARIO_HELP, SCENARIOS, _with_default_command, build_parser, parse


def test_version_flag_prints_package_version():
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == f"agentwatch {__version__}"


def test_bare_url_means_watch():
    namespace = build_parser().parse_args(_with_default_command(["http://127.0.0.1:9000", "--fps", "5"]))
    assert namespace.command == "watch"
    assert namespace.url == "http://127.0.0.1:9000"
    assert namespace.fps == 5


def test_fps_outside_range_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "agentwatch", "--fps", "99"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "expected a whole number from 1 to 30, got '99'" in result.stderr


def agentwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentwatch", *args], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("args", "usage", "complaint"),
    [
        (("serve", "--port", "99999"), "agentwatch serve", "--port: expected a whole number from 0 to 65535"),
        (("serve", "--log-level", "loud"), "agentwatch serve", "--log-level: invalid choice: 'loud'"),
        (("serve", "--bogus"), "agentwatch serve", "unrecognized arguments: --bogus"),
        (("--fps", "abc"), "agentwatch watch", "--fps: expected a whole number from 1 to 30, got 'abc'"),
        (("demo", "--port", "-1"), "agentwatch demo", "--port: expected a whole number from 0 to 65535"),
        (("status", "--url", "http://a", "http://b"), "agentwatch status", "two collector URLs"),
    ],
)
def test_a_bad_option_is_one_error_line_under_its_own_command_usage(args, usage, complaint) -> None:
    result = agentwatch(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"usage: {usage} ")
    assert complaint in result.stderr.splitlines()[-1]


def test_status_takes_url_as_an_option_like_simulate() -> None:
    namespace = parse(["status", "--url", "http://127.0.0.1:9000"])
    assert namespace.url == "http://127.0.0.1:9000"
    assert parse(["simulate", "--url", "http://127.0.0.1:9000"]).url == "http://127.0.0.1:9000"
    assert parse(["--url", "http://127.0.0.1:9000"]).url == "http://127.0.0.1:9000"


def test_every_option_says_what_it_does_and_its_default() -> None:
    parser = build_parser()
    for name, command in parser.commands.items():
        if name in ("hook", "hooks"):
            continue  # a program runs those, not a person
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, (name, action.dest)
            assert "default" in action.help, (name, action.dest, action.help)


def test_top_level_help_shows_the_viewer_and_its_options() -> None:
    text = agentwatch("--help").stdout
    assert "agentwatch [URL]" in text and "opens the viewer" in text
    for option in ("--fps", "--max-lines", "--agent", "--level", "--no-bell", "--token"):
        assert option in text


@pytest.mark.parametrize("command", ["demo", "simulate"])
def test_scenarios_are_described_in_the_help(command: str) -> None:
    text = agentwatch(command, "--help").stdout
    for scenario, words in SCENARIO_HELP.items():
        assert scenario in text and words in " ".join(text.split())


def test_cli_scenarios_are_the_simulators() -> None:
    from agentwatch.simulator import SCENARIOS as FLEET_SCENARIOS

    assert SCENARIOS == FLEET_SCENARIOS == tuple(SCENARIO_HELP)


def test_demo_takes_a_port() -> None:
    assert parse(["demo", "--port", "8799"]).port == 8799


def test_status_with_url_option_reads_the_real_collector(collector) -> None:
    result = agentwatch("status", "--url", collector.url, "--format", "{events}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_output_piped_into_a_reader_that_leaves_early_is_no_traceback() -> None:
    # `agentwatch hooks print claude-code | head -3`: the reader is gone before the output is written
    process = subprocess.Popen(
        [sys.executable, "-m", "agentwatch", "hooks", "print", "claude-code"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=30) == 141  # as a program killed by SIGPIPE
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
