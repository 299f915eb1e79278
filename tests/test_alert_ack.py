"""Acknowledging and snoozing alerts: kept by the collector, seen by every viewer, kept in the store."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
import pytest
from httpx_sse import connect_sse

from agentwatch.collector.alertacks import ACK_GRACE_SECONDS, CHECK_SECONDS, AlertAcks
from agentwatch.collector.config import AlertSettings
from agentwatch.protocol import (
    ALERT_FIRING,
    ALERT_RESOLVED,
    PATH_ALERTS,
    PATH_DASHBOARD_STREAM,
    RULE_SILENT_AGENT,
    SSE_ALERT,
    SSE_METRICS,
    Alert,
    AlertsResponse,
    Snapshot,
)
from tests.helpers import Clock, RunningCollector, start_in_thread, wait_until

#: The silent-agent rule in a second and a half: an agent that spoke once fires soon, and resolves
#: at the first evaluation after it speaks again.
QUICK = AlertSettings(interval=0.5, silent_after=1.5, silent_min_events=1, fire_after=1, resolve_after=1)
SILENT = f"{RULE_SILENT_AGENT}:agent:gone-1"


def action_url(running: RunningCollector, alert_id: str, kind: str) -> str:
    return f"{running.url}{PATH_ALERTS}/{quote(alert_id, safe='')}/{kind}"


def alerts(running: RunningCollector) -> AlertsResponse:
    response = httpx.get(running.url + PATH_ALERTS, headers=running.headers(), timeout=5)
    return msgspec.json.decode(response.content, type=AlertsResponse)


def firing(running: RunningCollector, alert_id: str = SILENT) -> Alert | None:
    return next((a for a in alerts(running).firing if a.id == alert_id), None)


def fire(running: RunningCollector) -> Alert:
    """Make ``gone-1`` speak once and fall silent: its silent-agent alert fires."""
    running.post([{"agent_id": "gone-1", "span_type": "log", "message": "bye"}])
    return wait_until(lambda: firing(running))


def resolved(running: RunningCollector) -> bool:
    return any(a.id == SILENT and a.state == ALERT_RESOLVED for a in alerts(running).history)


def post(running: RunningCollector, alert_id: str, kind: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        action_url(running, alert_id, kind), json=body, headers=running.headers(), timeout=5, **kwargs
    )


@pytest.fixture
def running(start_collector: Callable[..., RunningCollector]) -> RunningCollector:
    return start_collector(alerts=QUICK, token="s3cret")


@pytest.fixture(scope="module")
def fired() -> Iterator[RunningCollector]:
    """One collector of the module whose silent-agent alert fires, for the tests that leave it as it
    was (each checks it is still firing, neither acknowledged nor snoozed)."""
    collector = start_in_thread(alerts=QUICK, token="s3cret")
    try:
        fire(collector)
        yield collector
    finally:
        collector.stop()


def test_ack_from_one_viewer_is_seen_by_another_on_its_metrics_stream(running: RunningCollector) -> None:
    fire(running)
    answer = post(running, SILENT, "ack", {"by": "ana@laptop"})
    assert answer.status_code == 200, answer.text
    acked = msgspec.json.decode(answer.content, type=Alert)
    assert (acked.id, acked.acked_by, acked.state) == (SILENT, "ana@laptop", ALERT_FIRING)
    assert acked.acked_at is not None

    # The other viewer reads the stream it already follows: the snapshot's alert says who acknowledged.
    with httpx.Client(timeout=10) as client:
        with connect_sse(
            client, "GET", running.url + PATH_DASHBOARD_STREAM, headers=running.headers()
        ) as source:
            sse = next(e for e in source.iter_sse() if e.event == SSE_METRICS and e.data)
    snapshot = msgspec.json.decode(sse.data, type=Snapshot)
    [shown] = [a for a in snapshot.alerts if a.id == SILENT]
    assert (shown.acked_by, shown.acked_at) == ("ana@laptop", acked.acked_at)
    assert alerts(running).history[0].acked_by == "ana@laptop"


def test_snooze_then_undo_both(running: RunningCollector) -> None:
    fire(running)
    answer = post(running, SILENT, "snooze", {"by": "bo", "for_s": 900})
    assert answer.status_code == 200, answer.text
    snoozed = msgspec.json.decode(answer.content, type=Alert)
    assert snoozed.snoozed_by == "bo"
    assert snoozed.snoozed_until == pytest.approx(running.service.clock() + 900, abs=5)
    assert post(running, SILENT, "ack", {"by": "bo"}).status_code == 200
    alert = firing(running)
    assert alert is not None and alert.acked_by == "bo" and alert.snoozed_by == "bo"

    for kind in ("ack", "snooze"):
        undone = httpx.delete(action_url(running, SILENT, kind), headers=running.headers(), timeout=5)
        assert undone.status_code == 200, undone.text
        again = httpx.delete(action_url(running, SILENT, kind), headers=running.headers(), timeout=5)
        assert again.status_code == 404
    alert = firing(running)
    assert alert is not None and alert.acked_by is None and alert.snoozed_until is None


def test_an_acknowledgement_ends_when_its_alert_resolves(running: RunningCollector) -> None:
    first = fire(running)
    assert post(running, SILENT, "ack", {"by": "ana"}).status_code == 200
    running.post([{"agent_id": "gone-1", "span_type": "log", "message": "back"}])
    wait_until(lambda: resolved(running))  # it spoke: resolved; silent again: a new firing
    again = wait_until(lambda: (a := firing(running)) is not None and a.started_at > first.started_at and a)
    assert again.acked_by is None
    assert not running.service.acks.acks


@pytest.mark.parametrize(
    ("kind", "body", "status", "says"),
    [
        ("ack", {}, 400, "'by' must name who acts"),
        ("ack", {"by": "   "}, 400, "'by' must name who acts"),
        ("ack", {"by": "x" * 65}, 400, "at most 64"),
        ("ack", {"by": "a\x1b[31mb"}, 400, "printable"),
        ("ack", {"by": 5}, 400, "Expected `str | null`"),
        ("snooze", {"by": "ana"}, 400, "'for_s' must be a number of seconds from 1 to 86400"),
        ("snooze", {"by": "ana", "for_s": 0}, 400, "from 1 to 86400 seconds (24 h), got 0"),
        ("snooze", {"by": "ana", "for_s": 86401}, 400, "got 86401"),
        ("snooze", {"by": "ana", "for_s": "1h"}, 400, "Expected `float | null`"),
        ("snooze", [1, 2], 400, "Expected `object`"),
    ],
)
def test_bad_requests_get_a_precise_400(fired: RunningCollector, kind, body, status, says) -> None:
    answer = post(fired, SILENT, kind, body)
    assert answer.status_code == status
    assert says in answer.json()["error"]
    alert = firing(fired)
    assert alert is not None and alert.acked_by is None and alert.snoozed_until is None


def test_unknown_alert_wrong_token_and_large_body(fired: RunningCollector) -> None:
    answer = post(fired, "error_rate:agent:nobody", "ack", {"by": "ana"})
    assert answer.status_code == 404
    assert answer.json()["error"] == "no firing alert 'error_rate:agent:nobody'"
    assert post(fired, "error_rate:agent:nobody", "snooze", {"by": "a", "for_s": 60}).status_code == 404
    refused = httpx.post(action_url(fired, SILENT, "ack"), json={"by": "eve"}, timeout=5)
    assert refused.status_code == 401
    big = post(fired, SILENT, "ack", None, content=b'{"by": "' + b"x" * 5000 + b'"}')
    assert big.status_code == 413
    alert = firing(fired)
    assert alert is not None and alert.acked_by is None


def test_a_resolved_alert_can_be_snoozed_and_fires_again_quiet(running: RunningCollector) -> None:
    fire(running)
    running.post([{"agent_id": "gone-1", "span_type": "log", "message": "back"}])
    wait_until(lambda: resolved(running))
    answer = post(running, SILENT, "snooze", {"by": "ana", "for_s": 3600})
    assert answer.status_code == 200, answer.text
    # Its next firing comes already quiet: in the alert frame every viewer gets, and the snapshots.
    with httpx.Client(timeout=10) as client:
        with connect_sse(
            client, "GET", running.url + PATH_DASHBOARD_STREAM, headers=running.headers()
        ) as source:
            running.post([{"agent_id": "gone-1", "span_type": "log", "message": "bye again"}])
            sse = next(e for e in source.iter_sse() if e.event == SSE_ALERT)
    frame = msgspec.json.decode(sse.data, type=Alert)
    assert (frame.id, frame.state, frame.snoozed_by) == (SILENT, ALERT_FIRING, "ana")
    again = wait_until(lambda: firing(running))
    assert again.snoozed_by == "ana"


def test_acks_and_snoozes_survive_a_restart_with_a_store(
    start_collector: Callable[..., RunningCollector], tmp_path
) -> None:
    store = tmp_path / "collector.db"
    first = start_collector(alerts=QUICK, store_path=store)
    fire(first)
    assert post(first, SILENT, "ack", {"by": "ana"}).status_code == 200
    assert post(first, SILENT, "snooze", {"by": "bo", "for_s": 3600}).status_code == 200
    first.stop()

    second = start_collector(alerts=QUICK, store_path=store)
    # The restarted collector's rule fires again from the refilled events, still acknowledged.
    alert = wait_until(lambda: firing(second))
    assert (alert.acked_by, alert.snoozed_by) == ("ana", "bo")


def test_a_store_written_before_acknowledgements_opens_and_keeps_them(
    start_collector: Callable[..., RunningCollector], tmp_path
) -> None:
    store = tmp_path / "collector.db"
    first = start_collector(alerts=QUICK, store_path=store)
    fire(first)
    first.stop()
    with sqlite3.connect(store) as conn:  # as an earlier version left it: no alert_acks
        conn.execute("DELETE FROM meta WHERE key = 'alert_acks'")
    second = start_collector(alerts=QUICK, store_path=store)
    wait_until(lambda: firing(second))
    assert second.service.warnings == []
    assert post(second, SILENT, "snooze", {"by": "cy", "for_s": 60}).status_code == 200
    with sqlite3.connect(store) as conn:
        (value,) = conn.execute("SELECT value FROM meta WHERE key = 'alert_acks'").fetchone()
    assert b'"cy"' in value


# ------------------------------------------------------------------ in simulated time
def test_snooze_ends_and_acks_are_bounded() -> None:
    clock = Clock()
    acks = AlertAcks(clock=clock, max_marks=3)
    alert = Alert(id="stuck:agent:a/step:1", rule="stuck", scope="agent:a/step:1")
    acks.snooze(alert.id, "ana", 60)
    assert acks.mark([alert])[0].snoozed_until == clock.now + 60
    clock.advance(61)
    assert acks.mark([alert])[0].snoozed_until is None
    assert not acks.snoozes
    for n in range(5):
        acks.ack(f"silent_agent:agent:{n}", "ana")
    assert list(acks.acks) == ["silent_agent:agent:2", "silent_agent:agent:3", "silent_agent:agent:4"]
    assert acks.dropped == 2


def test_an_ack_not_seen_firing_for_its_grace_ends() -> None:
    clock = Clock()
    acks = AlertAcks(clock=clock)
    acks.ack("a", "ana")
    acks.ack("b", "ana")
    for _ in range(int(ACK_GRACE_SECONDS / CHECK_SECONDS) + 2):
        clock.advance(CHECK_SECONDS)
        acks.observe([], lambda: ["a"])
    assert list(acks.acks) == ["a"]


# ------------------------------------------------------------------ the viewer's name
def test_the_viewers_name_comes_from_the_config_file_then_the_flag(tmp_path) -> None:
    from agentwatch.cli import _with_default_command, build_parser
    from agentwatch.client.alertactions import default_viewer_name
    from agentwatch.config import ConfigError, load_config

    config = tmp_path / "config.toml"
    config.write_text('fps = 5\n\n[viewer]\nname = "ana@laptop"\n')
    assert load_config(path=config, environ={}).name == "ana@laptop"
    namespace = build_parser().parse_args(_with_default_command(["--name", "bo", "--config", str(config)]))
    assert load_config(namespace, environ={}).name == "bo"
    assert "@" in default_viewer_name() and len(default_viewer_name()) <= 64
    for bad in ('[viewer]\nname = "a\\u001b[31m"\n', '[viewer]\ncolour = "red"\n', "viewer = 3\n"):
        config.write_text(bad)
        with pytest.raises(ConfigError, match=r"viewer|name"):
            load_config(path=config, environ={})
