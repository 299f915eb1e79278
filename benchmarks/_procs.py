"""The processes the benchmarks start and watch: a server that answers on a free port, its CPU and
memory from ``/proc``, and its end. Linux only; binds 127.0.0.1 only (the servers' defaults)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: ``agentwatch serve`` on an ephemeral port, no store, no OTLP/gRPC listener (which would need a
#: port of its own, and two collectors would share it).
COLLECTOR = [
    sys.executable,
    "-m",
    "agentwatch",
    "serve",
    "--port",
    "0",
    "--otlp-grpc-port",
    "0",
    "--no-store",
]


def start_server(
    command: list[str],
    source: Path | None = None,
    *,
    stderr: int | None = subprocess.DEVNULL,
    timeout: float = 20.0,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """Start a server that prints its URL on its first line and wait until ``/healthz`` answers
    (the URL is printed before uvicorn accepts); (process, URL). With ``source``, that checkout's
    code. ``stderr=subprocess.STDOUT`` puts a start-up error into the message raised, ``None`` shows it.
    ``env``: variables set for the server on top of this process's."""
    environment = {**os.environ, **(env or {})} if source is not None or env else None
    if environment is not None and source is not None:
        environment["PYTHONPATH"] = str(source)
    process = subprocess.Popen(
        command, cwd=source, env=environment, stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    url = next((word for word in line.split() if word.startswith("http://")), None)
    if url is None:
        stop(process)
        raise RuntimeError(f"server did not print its URL: {line!r}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/healthz", timeout=1)
            return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"server did not answer at {url} within {timeout:g} s")


def start_collector(
    source: Path | None = None, *, stderr: int | None = subprocess.DEVNULL
) -> tuple[subprocess.Popen[str], str]:
    """:data:`COLLECTOR` started by :func:`start_server`; (process, URL)."""
    return start_server(COLLECTOR, source, stderr=stderr)


def stop(process: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """Terminate ``process`` and wait for it; kill it if it does not end within ``timeout`` s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def cpu_seconds(pid: int | str = "self") -> float:
    """utime + stime of a process, in seconds (``/proc/PID/stat`` fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size of a process, in MiB (``VmRSS`` of ``/proc/PID/status``)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def json_from_tree(tree: Path, script: Path, args: list[str]) -> Any:
    """Run ``script`` with ``args`` in a process that imports ``agentwatch`` from the source tree
    ``tree`` (a ``--before`` checkout, or this one); the JSON on the last line it prints."""
    environment = dict(os.environ, PYTHONPATH=str(tree))
    argv = [sys.executable, str(script), *args]
    result = subprocess.run(argv, cwd=tree, env=environment, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])
