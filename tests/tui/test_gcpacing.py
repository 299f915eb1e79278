"""Full garbage collections run by the viewer at moments it chooses, never while keys are pressed."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.gcpacing import FIRST_AFTER, FULL_EVERY, MAX_DELAY, QUIET_SECONDS, GcPacing
from tests.tui.test_selfcost_ui import SIZE, terminal_app


@pytest.fixture
def pacing() -> Iterator[tuple[GcPacing, list[float]]]:
    clock = [100.0]
    pacing = GcPacing(monotonic=lambda: clock[0])
    yield pacing, clock
    pacing.stop()


def test_paced_the_automatic_full_collection_is_off_and_stop_puts_the_thresholds_back(pacing) -> None:
    pacing, _clock = pacing
    before = gc.get_threshold()
    pacing.start()
    young, middle, old = gc.get_threshold()
    assert (young, middle) == before[:2] and old > 1_000_000
    pacing.stop()
    assert gc.get_threshold() == before


def test_the_first_full_collection_comes_after_start_up_then_only_when_there_is_garbage_to_find(
    pacing,
) -> None:
    pacing, clock = pacing
    old_threshold = gc.get_threshold()[2]
    pacing.start()
    assert not pacing.collect_if_due()
    clock[0] += FIRST_AFTER
    assert pacing.collect_if_due() and pacing.collections == 1
    assert gc.get_freeze_count() > 0
    assert not pacing.collect_if_due()  # the next one is FULL_EVERY later
    clock[0] += FULL_EVERY
    assert not pacing.collect_if_due()  # and only once younger collections could have left garbage
    for _ in range(old_threshold):  # each collection of the middle generation counts one
        gc.collect(1)
    assert pacing.collect_if_due() and pacing.collections == 2
    pacing.stop()
    assert gc.get_freeze_count() == 0


def test_a_full_collection_waits_while_keys_are_pressed_but_not_for_ever(pacing) -> None:
    pacing, clock = pacing
    pacing.start()
    clock[0] += FIRST_AFTER
    while clock[0] < 100.0 + FIRST_AFTER + MAX_DELAY:  # a key just before every frame tick
        assert not pacing.collect_if_due(last_input=clock[0] - QUIET_SECONDS / 2)
        clock[0] += 0.5
    assert pacing.collect_if_due(last_input=clock[0] - QUIET_SECONDS / 2)


def test_not_started_it_never_collects(pacing) -> None:
    pacing, clock = pacing
    clock[0] += FIRST_AFTER + FULL_EVERY
    assert not pacing.collect_if_due() and pacing.collections == 0


async def test_a_viewer_in_a_terminal_paces_full_collections_and_a_headless_one_does_not() -> None:
    before = gc.get_threshold()
    app = terminal_app()
    async with app.run_test(size=SIZE, headless=False):
        assert app.gc_pacing.running and gc.get_threshold()[2] > 1_000_000
    assert not app.gc_pacing.running and gc.get_threshold() == before
    headless = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with headless.run_test(size=SIZE):
        assert not headless.gc_pacing.running and gc.get_threshold() == before
