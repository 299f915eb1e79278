"""Without colour and in 16 colours the viewer still says everything: words, not hues."""

from __future__ import annotations

from rich.segment import Segment
from textual.color import Color

from agentwatch.tui.screenshots import demo_app
from agentwatch.tui.widgets import AgentTable

SIZE = (120, 36)


def _is_grey(color: object) -> bool:
    if color is None or getattr(color, "triplet", None) is None:
        return True  # default colour: the terminal's own
    red, green, blue = color.triplet  # type: ignore[attr-defined]
    return red == green == blue


async def test_no_color_env_drops_every_colour_and_keeps_the_words(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = demo_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.no_color
        table = app.query_one(AgentTable)
        segments: list[Segment] = []
        for strip in table.render_lines(table.region.reset_offset):
            line = list(strip)
            for colour_filter in app._filters:
                line = colour_filter.apply(line, Color(0, 0, 0))
            segments.extend(line)
        styled = [seg for seg in segments if seg.style is not None]
        assert styled and all(_is_grey(seg.style.color) and _is_grey(seg.style.bgcolor) for seg in styled)
        shown = "".join(seg.text for seg in segments)
        for word in ("✗ failing", "▲ degraded", "✓ ok", "◌ idle", "○ offline"):
            assert word in shown
        assert "● live" in app.header_bar.plain


async def test_ansi_dark_theme_renders_the_overview_in_16_colours():
    app = demo_app()
    app.theme = "ansi-dark"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.theme == "ansi-dark"
        table = app.query_one(AgentTable)
        shown = "".join(seg.text for strip in table.render_lines(table.region.reset_offset) for seg in strip)
        assert "✗ failing" in shown and "planner-01" in shown
        assert "SIMULATED DATA" in app.header_bar.plain
        assert app.export_screenshot()
