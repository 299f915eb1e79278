"""Shared fixtures: the collector served in a thread or run as a process, on 127.0.0.1 and an
ephemeral port. Helpers that are not fixtures live in ``tests/helpers.py``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from tests.helpers import CollectorProcess, RunningCollector, start_in_thread

# CI runs the property tests on a fixed seed (a red build is reproducible), without time
# deadlines (a loaded 2-core runner is slow, not wrong); local runs keep exploring.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

# pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their environment: a viewer a test
# starts in a terminal (tmux, a pseudo-terminal) would take its size from them, not from the terminal.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


@pytest.fixture(autouse=True)
def forget_what_programs_said() -> None:
    """Each test starts as a fresh collector process would: the coding agents' mappers learn which
    session a trace or turn belongs to (per process), and the fixtures replay the same ids."""
    from agentwatch.collector.otlp.sessions import forget_all

    forget_all()


@pytest.fixture
def start_collector() -> Iterator[Callable[..., RunningCollector]]:
    """Factory: ``start_collector(token="t", store_path=None, window_seconds=60, ...)``."""
    running: list[RunningCollector] = []

    def start(**settings: Any) -> RunningCollector:
        instance = start_in_thread(**settings)
        running.append(instance)
        return instance

    yield start
    for instance in running:
        instance.stop()


@pytest.fixture
def collector(start_collector: Callable[..., RunningCollector]) -> RunningCollector:
    """A collector with default settings, no store."""
    return start_collector()


@pytest.fixture
def start_collector_process() -> Iterator[Callable[..., CollectorProcess]]:
    """Factory: ``start_collector_process(*serve_args, launcher=...)``, an ``agentwatch serve``
    process (see :class:`tests.helpers.CollectorProcess`), stopped when the test ends."""
    started: list[CollectorProcess] = []

    def start(*args: str, **kwargs: Any) -> CollectorProcess:
        process = CollectorProcess(*args, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG runtime directory (the figures files go there, as platformdirs says)."""
    directory = tmp_path / "run"
    directory.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    return directory
