"""Entry points of the viewer: ``agentwatch [URL]`` (:func:`main`) and the demo (:func:`run_viewer`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentwatch.config import ViewerConfig


def main(namespace: Any) -> int:
    """Load the configuration (file < environment < flags) and run the viewer.

    A bad setting prints ``agentwatch: <what is wrong>`` on stderr and returns 2.
    """
    from agentwatch.config import ConfigError, load_config

    try:
        config = load_config(namespace)
    except ConfigError as exc:
        print(f"agentwatch: {exc}", file=sys.stderr)
        return 2
    return run_viewer(config)


def run_viewer(config: ViewerConfig, *, banner: str | None = None) -> int:
    """Run the viewer until the user quits; returns the exit code: 0, or 1 when the app crashed
    (Textual has then shown the traceback, once, after restoring the terminal).

    ``banner`` is shown in the header on every frame (the demo passes "SIMULATED DATA …").
    """
    from agentwatch.tui.app import AgentWatchApp
    from agentwatch.tui.notify import parse_command

    app = AgentWatchApp(
        url=config.url,
        token=config.token,
        fps=config.fps,
        max_lines=config.max_lines,
        agent=config.agent,
        level=config.level,
        bell=config.bell,
        timestamps=config.timestamps,
        wrap=config.wrap,
        banner=banner,
        notify=config.notify,
        notify_command=parse_command(config.notify_command),
        urls=config.urls,
        viewer_name=config.name,
    )
    if config.theme:
        if config.theme not in app.available_themes:
            known = ", ".join(sorted(app.available_themes))
            print(f"agentwatch: unknown theme {config.theme!r} (known: {known})", file=sys.stderr)
            return 2
        app.theme = config.theme
    if sys.platform != "win32":  # Textual's driver there has no input thread to quieten
        from agentwatch.tui.quietdriver import quiet_driver_class

        app.driver_class = quiet_driver_class(app.driver_class)
    result = app.run()
    if app.return_code:  # an exception ended the app
        return app.return_code
    return int(result or 0)
