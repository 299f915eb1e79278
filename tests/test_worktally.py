"""Coding agents' work metrics (lines changed, active time, sessions, commits) summed per session."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from agentwatch.collector.otlp.metrics import KIND_SUM, TEMPORALITY_DELTA
from agentwatch.collector.worktally import WorkTally
from agentwatch.protocol import Work
from tests.test_temporality import counter


def work_point(name: str, value: Any, unit: str = "", **attributes: Any) -> Any:
    point = counter(value, 2, temporality=TEMPORALITY_DELTA)
    return dataclasses.replace(point, name=name, kind=KIND_SUM, unit=unit, attributes=attributes)


def test_lines_time_sessions_and_commits_add_up_per_agent() -> None:
    tally = WorkTally()
    tally.add("claude-code·a", work_point("claude_code.lines_of_code.count", 3, type="added"))
    tally.add("claude-code·a", work_point("claude_code.lines_of_code.count", 5, type="added"))
    tally.add("claude-code·a", work_point("claude_code.lines_of_code.count", 2, type="removed"))
    tally.add("claude-code·a", work_point("claude_code.active_time.total", 0.25, "s", type="cli"))
    tally.add("claude-code·a", work_point("claude_code.active_time.total", 1500, "ms", type="user"))
    tally.add("claude-code·a", work_point("claude_code.session.count", 1))
    tally.add("claude-code·a", work_point("claude_code.commit.count", 2))
    tally.add("claude-code·a", work_point("claude_code.pull_request.count", 1))
    tally.add("gemini-cli·b", work_point("gemini_cli.lines.changed", 7, type="added"))
    assert tally.get("claude-code·a") == Work(
        lines_added=8, lines_removed=2, active_seconds=1.75, sessions=1, commits=2, pull_requests=1
    )
    assert tally.get("gemini-cli·b") == Work(lines_added=7)
    assert tally.get("nobody") is None


@pytest.mark.parametrize("value", [-1, math.inf, math.nan, 1e300, True, None])
def test_a_value_that_would_break_a_total_is_left_out(value: Any) -> None:
    tally = WorkTally()
    tally.add("a", work_point("claude_code.lines_of_code.count", value, type="added"))
    tally.add("a", work_point("claude_code.lines_of_code.count", 1, type="sideways"))
    tally.add("a", work_point("claude_code.token.usage", 5, type="input"))  # not a work metric
    assert tally.get("a") is None


def test_the_least_recently_updated_agent_goes_first_when_full() -> None:
    tally = WorkTally(max_agents=2)
    for agent in ("a", "b", "a", "c"):
        tally.add(agent, work_point("claude_code.session.count", 1))
    assert (tally.get("a"), tally.get("b"), tally.get("c")) == (Work(sessions=2), None, Work(sessions=1))
    assert tally.evicted == 1 and len(tally) == 2
