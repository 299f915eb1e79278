"""The footer is rebuilt only when the keys it shows change: not for opening and closing the help."""

from __future__ import annotations

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from agentwatch.tui.app import AgentWatchApp
from agentwatch.tui.screens import HelpScreen, MainScreen
from tests.helpers import async_wait_until, screen_text

SIZE = (120, 36)


async def test_opening_and_closing_the_help_leaves_the_footer_as_it_was_built() -> None:
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        footer = app.query_one(Footer)
        await async_wait_until(lambda: len(footer.children) > 0, pilot=pilot)
        keys = list(footer.children)
        for _ in range(2):
            await pilot.press("question_mark")
            await async_wait_until(lambda: isinstance(app.screen, HelpScreen), pilot=pilot)
            await pilot.press("question_mark")
            await async_wait_until(lambda: isinstance(app.screen, MainScreen), pilot=pilot)
            await pilot.pause()
        assert list(footer.children) == keys  # the same widgets: not rebuilt
        assert "Help" in screen_text(app).splitlines()[-1]


async def test_a_key_added_to_the_bindings_is_shown_in_the_footer() -> None:
    app = AgentWatchApp(url="http://127.0.0.1:9", connect=False)
    async with app.run_test(size=SIZE) as pilot:
        footer = app.query_one(Footer)
        await async_wait_until(lambda: len(footer.children) > 0, pilot=pilot)
        app.bind("f9", "bell", description="Ring")
        app.refresh_bindings()
        await async_wait_until(
            lambda: any(key.description == "Ring" for key in footer.query(FooterKey)), pilot=pilot
        )
