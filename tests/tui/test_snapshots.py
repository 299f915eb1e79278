"""Visual regression: the deterministic screens must render exactly as committed.

Update after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the report before committing.
"""

from __future__ import annotations

from agentwatch.tui.screenshots import demo_app


def test_overview_120x36(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(120, 36))


def test_help_screen(snap_compare):
    assert snap_compare(demo_app(), press=["question_mark"], terminal_size=(120, 36))


def test_small_terminal_80x24(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(80, 24))


def test_small_terminal_60x15(snap_compare):
    assert snap_compare(demo_app(), terminal_size=(60, 15))
