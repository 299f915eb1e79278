import subprocess
import sys

from agentwatch import __version__
from agentwatch.cli import _with_default_command, build_parser


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
    assert "between 1 and 30" in result.stderr
