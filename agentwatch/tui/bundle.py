"""The viewer's ``!`` key: an incident bundle (:mod:`agentwatch.client.bundle`) with what the viewer
itself shows added — the screen as SVG and the log lines as filtered on screen — written in the
current directory; the path (or why it failed) is shown as a notice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from agentwatch.client.bundle import DEFAULT_SINCE_SECONDS, write_bundle
from agentwatch.tui import formatting as fmt

if TYPE_CHECKING:
    from agentwatch.tui.app import AgentWatchApp

SCREEN_FILE = "screen.svg"
LOG_FILE = "logs-on-screen.txt"


def _stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y%m%dT%H%M%SZ")


def filtered_log(app: AgentWatchApp) -> str:
    """The log as the pane shows it (its filters named first), without taking pending lines."""
    state = app.state
    shown = [line for line in state.buffer if state.matches(line)]
    filters = [
        f"agent={state.agent_filter}" if state.agent_filter else "",
        f"level>={state.min_level}" if state.min_level != "debug" else "",
        "errors only" if state.errors_only else "",
        f"search={state.search_text!r}" if state.search_text else "",
    ]
    named = ", ".join(f for f in filters if f) or "none"
    head = f"# {len(shown)} of {len(state.buffer)} lines held by the viewer; filters: {named}\n"
    return head + "\n".join(fmt.log_lines(shown, timestamps=True, tz=app.tz)) + "\n"


async def save_bundle(app: AgentWatchApp, directory: Path | None = None) -> Path | None:
    """Write the bundle for ``app``'s collector (or each of its collectors); tell the path on screen and
    return it (None: failed)."""
    extra = {
        SCREEN_FILE: app.export_screenshot().encode(),
        LOG_FILE: filtered_log(app).encode(),
    }
    folder = (directory or Path.cwd()) / f"agentwatch-incident-{_stamp(app.state.clock())}"
    try:
        if app.fleet_feed is not None:  # several collectors: a folder for each and a summary over them
            from agentwatch.client.fleetbundle import write_fleet_bundle

            bundle = await write_fleet_bundle(
                [link.name for link in app.fleet_feed.follower.links],
                token=app.token,
                since=DEFAULT_SINCE_SECONDS,
                output=folder,
                extra=extra,
                clock=app.state.clock,
            )
        else:
            bundle = await write_bundle(
                app.url,
                token=app.token,
                since=DEFAULT_SINCE_SECONDS,
                output=folder,
                extra=extra,
                clock=app.state.clock,
            )
    except OSError as exc:
        app.notify(
            f"Incident bundle not written: {exc.strerror or exc}", severity="error", timeout=8, markup=False
        )
        return None
    missing = f" ({len(bundle.problems)} parts not read: see summary.md)" if bundle.problems else ""
    app.notify(
        f"Incident bundle written: {bundle.path.resolve()}{missing}", title="bundle", timeout=10, markup=False
    )
    return bundle.path
