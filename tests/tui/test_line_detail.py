"""The line detail on the real app: every attribute of a line on its own line."""

from __future__ import annotations

from agentwatch.tui.linedetail import LineDetailScreen
from agentwatch.tui.screenshots import demo_app, detailed_line
from tests.helpers import async_wait_until, log_lines, screen_lines


async def test_a_lines_nested_attributes_are_each_shown_on_a_line_of_their_own():
    app = demo_app()
    async with app.run_test(size=(120, 40)) as pilot:
        app.state.add_log_entries([detailed_line()])  # OTLP and SDK attributes come nested
        await async_wait_until(lambda: log_lines(app)[-1].endswith("no answer in 2 s"), pilot=pilot)
        app.log_pane.focus()
        await pilot.press("enter")
        assert isinstance(app.screen, LineDetailScreen)
        # Each row from the box's left border: the main screen shows beside the box.
        rows = [line[line.find("│") :].strip() for line in screen_lines(app)]
        for key, value in (("prompt.template", "edit_file_v3"), ("repo", "billing-service"), ("retry", "0")):
            assert any(row.startswith("│") and row.split()[1:3] == [key, value] for row in rows), (key, rows)
        assert any("attributes (3)" in row for row in rows) and any("fields (4)" in row for row in rows)
        assert not any('{"retry"' in row for row in rows)  # not one JSON blob
