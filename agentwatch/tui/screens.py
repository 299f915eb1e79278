"""The main screen, the modal screens (help, agent picker, search) and the command-palette provider.

The help screen and the palette are generated from the app's ``BINDINGS``, so a key
declared once shows up in the footer, in help and in the palette.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from agentwatch.tui import formatting as fmt
from agentwatch.tui.textual_internals import FramePaced

#: The picker's first option: show every agent.
ALL_AGENTS_LABEL = "all agents"

#: What the agent picker returns: None = cancelled, (None,) = all agents, (agent_id,) = one.
PickResult = tuple[str | None] | None


def key_label(key: str) -> str:
    """A binding's key as a person reads it: "space", "End", "G", "?"."""
    names = {"question_mark": "?", "slash": "/", "escape": "Esc", "enter": "Enter", "end": "End"}
    return ", ".join(names.get(part, part) for part in key.split(","))


def binding_rows(bindings: Sequence[BindingType]) -> list[tuple[str, str]]:
    """(keys, what it does) for every declared binding with a description."""
    rows: list[tuple[str, str]] = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            rows.append((key_label(binding.key), binding.tooltip or binding.description))
    return rows


class MainScreen(FramePaced, Screen[Any]):
    """The viewer's default screen."""


class HelpScreen(FramePaced, ModalScreen[None]):
    """Every key binding, generated from the app's ``BINDINGS``. Any of Esc, q, ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close help"),
    ]

    def __init__(self, bindings: Sequence[BindingType]) -> None:
        super().__init__()
        self._rows = binding_rows(bindings)

    def compose(self) -> ComposeResult:
        text = Text()
        text.append("agentwatch — keys\n\n", style="bold")
        width = max((len(keys) for keys, _ in self._rows), default=4)
        for keys, description in self._rows:
            text.append(keys.ljust(width + 2), style="bold")
            text.append(description + "\n")
        text.append("\nEnter on an agent row drills down; Esc goes back. Tab moves focus.", style="dim")
        text.append("\n1–4 and A also switch between analysis screens and alert history;", style="dim")
        text.append("\nin Failures, k groups errors by an attribute key. Drilled in: one agent.", style="dim")
        with Vertical(id="help-box"):
            yield Static(text, id="help-text", markup=False)

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
