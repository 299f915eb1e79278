"""The main screen, the modal screens (help, agent picker, search) and the command-palette provider.

The help screen and the palette are generated from the app's ``BINDINGS``, so a key
declared once shows up in the footer, in help and in the palette.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from agentwatch.tui import formatting as fmt
from agentwatch.tui.textual_internals import FramePaced

#: The picker's first option: show every agent.
ALL_AGENTS_LABEL = "all agents"

#: What the agent picker returns: None = cancelled, (None,) = all agents, (agent_id,) = one.
PickResult = tuple[str | None] | None


def key_label(key: str) -> str:
    """A binding's key as a person reads it: "space", "End", "G", "?"."""
    return ", ".join(_KEY_NAMES.get(part, part) for part in key.split(","))


_KEY_NAMES: Final = {
    "question_mark": "?",
    "exclamation_mark": "!",
    "dollar_sign": "$",
    "slash": "/",
    "escape": "Esc",
    "enter": "Enter",
    "end": "End",
    "home": "Home",
    "pageup": "PageUp",
    "pagedown": "PageDown",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "left_curly_bracket": "{",
    "right_curly_bracket": "}",
    "less_than_sign": "<",
    "greater_than_sign": ">",
}


def binding_rows(bindings: Sequence[BindingType]) -> list[tuple[str, str]]:
    """(keys, what it does) for every declared binding with a description."""
    rows: list[tuple[str, str]] = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            rows.append((key_label(binding.key), binding.tooltip or binding.description))
    return rows


#: Help sections in order; each app binding is listed under the section of its action.
HELP_SECTIONS: Final = (
    "Anywhere",
    "Moving around",
    "Agents table",
    "Sessions",
    "Log",
    "Time scrub",
    "Filters",
    "Alerts",
    "Screens",
)
ACTION_SECTION: Final = {
    "quit": "Anywhere",
    "help": "Anywhere",
    "leave_drill_down": "Anywhere",
    "down": "Moving around",
    "up": "Moving around",
    "top": "Moving around",
    "bottom": "Moving around",
    "cycle_sort": "Agents table",
    "reverse_sort": "Agents table",
    "agent_trace": "Agents table",
    "jump_to_session": "Sessions",
    "toggle_pause": "Log",
    "live": "Log",
    "open_line": "Log",
    "next_match": "Log",
    "toggle_timestamps": "Log",
    "toggle_wrap": "Log",
    "toggle_collapse": "Log",
    "scrub": "Time scrub",
    "spike": "Time scrub",
    "pick_agent": "Filters",
    "cycle_level": "Filters",
    "toggle_errors": "Filters",
    "search": "Filters",
    "clear_filters": "Filters",
    "act_on_alert": "Alerts",
    "alert_history": "Screens",
    "analysis": "Screens",
    "bundle": "Screens",
}
_HELP_HINT: Final = "↑/↓ j/k PageUp/PageDown: scroll this help · Esc, q or ?: close it"
_HELP_NOTES: Final = (
    "Filters apply to every line already received, not only to new ones.",
    "Drilled in: the metrics and the log show one agent; Esc goes back to the fleet.",
)
#: Columns of the help box that are not text: borders, padding and the scrollbar.
_HELP_BOX_FRAME: Final = 8
#: Keys handled by widgets rather than app bindings, by section: (keys, what they do).
WIDGET_KEYS: Final = {
    "Anywhere": [
        ("Tab", "Focus the next pane: sessions, agents table, log (shift+Tab: back)"),
        ("ctrl+p", "Command palette: find any action by name"),
        ("ctrl+q", "Quit at once"),
    ],
    "Moving around": [
        ("↑, ↓", "Agents table: previous / next row · log: scroll a line"),
        ("PageUp, PageDown", "A page up / down (the log pauses while you read back)"),
        ("Home", "First row / oldest line"),
        ("mouse wheel", "Scroll the log; back at the bottom, the tail goes live again"),
    ],
    "Agents table": [
        ("Enter", "Drill into the agent under the cursor: its metrics, and the log of it alone"),
        ("click", "Move the cursor to a row; a click on the cursor's row drills in"),
    ],
    "Sessions": [
        ("Enter", "Sessions pane (Tab to it): go to the tmux pane of the session under the cursor"),
        ("↑, ↓, j, k", "Sessions pane: the previous / next session"),
    ],
    "Log": [("double click", "Open that line in full")],
    "Time scrub": [
        ("click", "A click on a sparkline puts the cursor on the second that column draws (its peak)"),
        ("End", "Back to live: the panels, the agents table and the log show the present again"),
    ],
    "Alerts": [("K, z, Z, U", "Alert history (A): the same on the alert under the cursor")],
    "Screens": [
        ("r", "Analysis screens: fetch again"),
        ("k", "Failures screen: group errors by an attribute key"),
        ("←, →", "Line details: the older / newer line"),
        ("a, m, t, y, v", "Line details: only log lines of its agent, model, tool, type, level (and above)"),
        (
            "f",
            "Line details: only log lines with one of its values (an id, an attribute), picked from a list",
        ),
        ("w", "Line details: its trace (or prompt, turn) as a waterfall"),
        ("j, k, ↑, ↓", "Waterfall: the next / previous span (Enter: its line in full)"),
    ],
}


def help_rows(bindings: Sequence[BindingType]) -> list[tuple[str, list[tuple[str, str]]]]:
    """(section, [(keys, what they do)]) for the help screen: every app binding with a description,
    grouped by what it acts on, then the keys widgets handle themselves."""
    sections: dict[str, list[tuple[str, str]]] = {name: [] for name in HELP_SECTIONS}
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            action = binding.action.split("(", 1)[0]
            section = ACTION_SECTION.get(action, "Anywhere")
            sections[section].append((key_label(binding.key), binding.tooltip or binding.description))
    for section, rows in WIDGET_KEYS.items():
        sections[section].extend(rows)
    return [(name, rows) for name, rows in sections.items() if rows]


class MainScreen(FramePaced, Screen[Any]):
    """The viewer's default screen.

    The agents table keeps its cursor row bold and tinted while the log has focus, so it is always
    clear which agent Enter would drill into.
    """

    #: The agents table has the focus at start, even when the sessions pane above it is shown.
    AUTO_FOCUS = "#agents"

    DEFAULT_CSS = """
    MainScreen #agents > .datatable--cursor {
        background: $primary 45%;
        color: $foreground;
        text-style: bold;
    }
    MainScreen #agents:focus > .datatable--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """


class KeyFooter(Footer):
    """The footer, rebuilt only when the keys it shows change.

    Textual's footer rebuilds its keys (new widgets, a layout and a paint of the whole screen) each
    time the bindings may have changed: each focus move, and each screen pushed over its screen or
    popped off it. Opening the help and closing it change none of the keys shown, so neither
    rebuilds it; a footer under another screen is looked at again when its screen is back on top.
    """

    #: What the keys shown were when the footer was last rebuilt (None: not yet).
    _shown: tuple[object, ...] | None = None

    def shown_keys(self) -> tuple[object, ...]:
        """What the footer draws of its screen's bindings: each key shown, its label and state."""
        return (
            self.compact,
            self.show_command_palette,
            *(
                (key, binding.action, binding.description, binding.key_display, enabled, tooltip)
                for key, (_node, binding, enabled, tooltip) in self.screen.active_bindings.items()
                if binding.show or key == self.app.COMMAND_PALETTE_BINDING
            ),
        )

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if not self.is_attached or screen is not self.screen or screen is not self.app.screen:
            return  # (under another screen: looked at again when its screen resumes)
        if not self.app.app_focus:  # (Textual's footer waits for the focus to come back)
            super().bindings_changed(screen)
            return
        shown = self.shown_keys()
        if shown != self._shown:
            self._shown = shown
            super().bindings_changed(screen)


class HelpScreen(FramePaced, ModalScreen[None]):
    """Every key, grouped, from the app's ``BINDINGS`` and the keys widgets handle. It scrolls
    (↑/↓, j/k, PageUp/PageDown, Home/End) at any terminal size; Esc, q or ? closes it.

    Its background is opaque: a modal's translucent one is drawn by blending the colours of every
    cell of the screen below, at each ``?`` and again whenever data moves under it.
    """

    DEFAULT_CSS = """
    HelpScreen {
        background: $background;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close help"),
        Binding("j", "scroll('down')", "Scroll down", show=False),
        Binding("k", "scroll('up')", "Scroll up", show=False),
        Binding("g", "scroll('home')", "Top", show=False),
        Binding("G", "scroll('end')", "Bottom", show=False),
    ]

    def __init__(self, bindings: Sequence[BindingType]) -> None:
        super().__init__()
        self._sections = help_rows(bindings)
        self._width = 0

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self._text(self.app.size.width), id="help-text", markup=False)

    def on_resize(self, event: Resize) -> None:
        if event.size.width != self._width:
            self.query_one("#help-text", Static).update(self._text(event.size.width))

    def _text(self, screen_width: int) -> Text:
        """The help as lines no wider than the box can be on this screen (descriptions wrap, indented)."""
        self._width = screen_width
        keys_width = max((len(keys) for _, rows in self._sections for keys, _ in rows), default=4) + 2
        room = max(24, int(screen_width * 0.9) - _HELP_BOX_FRAME)
        described = max(12, room - keys_width)
        text = Text()
        text.append("agentwatch — keys\n", style="bold")
        text.append("\n".join(textwrap.wrap(_HELP_HINT, room)) + "\n", style="dim")
        for section, rows in self._sections:
            text.append(f"\n{section}\n", style="bold underline")
            for keys, description in rows:
                lines = textwrap.wrap(description, described) or [""]
                text.append(keys.ljust(keys_width), style="bold")
                text.append(lines[0] + "\n")
                for line in lines[1:]:
                    text.append(" " * keys_width + line + "\n")
        for note in _HELP_NOTES:
            text.append("\n" + "\n".join(textwrap.wrap(note, room)), style="dim")
        return text

    def on_mount(self) -> None:
        self.query_one("#help-box").focus()

    def action_scroll(self, where: str) -> None:
        box = self.query_one("#help-box", VerticalScroll)
        if where == "down":
            box.scroll_down(animate=False)
        elif where == "up":
            box.scroll_up(animate=False)
        elif where == "home":
            box.scroll_home(animate=False)
        else:
            box.scroll_end(animate=False)

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]  # a sync key action
        self.dismiss(None)


class AgentPicker(FramePaced, ModalScreen[PickResult]):
    """A list of "all agents" and the known agent ids; Enter picks, Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, agents: Sequence[str], current: str | None) -> None:
        super().__init__()
        self._agents = list(agents)
        self._current = current

    def compose(self) -> ComposeResult:
        options = [Option(ALL_AGENTS_LABEL, id="\x00all")]
        options += [Option(Text(fmt.safe(agent, 60)), id=f"agent:{agent}") for agent in self._agents]
        with Vertical(id="picker-box"):
            yield Static("Show the log of", id="picker-title")
            yield OptionList(*options, id="picker-list")

    def on_mount(self) -> None:
        picker = self.query_one(OptionList)
        if self._current in self._agents:
            picker.highlighted = self._agents.index(self._current) + 1
        else:
            picker.highlighted = 0
        picker.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        index = event.option_index
        self.dismiss((None,) if index == 0 else (self._agents[index - 1],))

    def action_cancel(self) -> None:
        self.dismiss(None)


class SearchScreen(FramePaced, ModalScreen[str | None]):
    """A one-line search box. Enter applies (empty clears), Esc cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="search-box"):
            yield Static("Search messages — text, /regex/ or re:regex", id="search-title")
            yield Input(value=self._current, placeholder="text, /regex/ or re:regex", id="search-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ActionsProvider(Provider):
    """Offers every described binding of the app as a palette command."""

    def _commands(self) -> list[tuple[str, str, str]]:
        app = self.app
        rows: list[tuple[str, str, str]] = []
        for binding in getattr(app, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.description:
                help_text = f"{binding.tooltip} — key: {key_label(binding.key)}"
                rows.append((binding.description, binding.action, help_text))
        return rows

    async def discover(self) -> Hits:
        for description, action, help_text in self._commands():
            yield DiscoveryHit(description, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for description, action, help_text in self._commands():
            score = matcher.match(f"{description} {help_text}")
            if score > 0:
                yield Hit(score, matcher.highlight(description), partial(self._run, action), help=help_text)

    async def _run(self, action: str) -> None:
        await self.app.run_action(action)
