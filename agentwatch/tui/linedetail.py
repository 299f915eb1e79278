"""One log line in full: the whole message, its time, agent, level, type, ids and every attribute.

Opened with Enter on the log (or a double click on a line). ←/→ step to the older / newer line;
the text scrolls (↑/↓, j/k, PageUp/PageDown). ``a``, ``m``, ``t``, ``y`` and ``v`` show only the
log lines with this line's agent, model, tool, type or level (and above); ``f`` picks any other value
of the line (an id, an attribute) to filter by; ``w`` opens the line's trace (its ``trace_id``, else its
prompt/turn id) as a waterfall. The app applies a filter (:class:`LineDetailScreen.FilterBy`) and opens
a trace (:class:`LineDetailScreen.OpenTrace`). Everything shown came from agents and is data: it is
made printable (:func:`~agentwatch.tui.formatting.safe`) and put in a :class:`rich.text.Text`,
never read as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any, ClassVar, Final

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from agentwatch.protocol import LogEntry, normalize_level
from agentwatch.tui import formatting as fmt
from agentwatch.tui.linefields import field_value, line_trace_key, value_text
from agentwatch.tui.state import LogLine
from agentwatch.tui.textual_internals import FramePaced

__all__ = ["LineDetailScreen", "line_detail_text"]

#: Attribute names that are ids: shown with the ids, before the other attributes.
ID_KEYS: Final = ("span_id", "parent_span_id", "parent_id", "session_id", "conversation_id", "request_id")
_LABEL_WIDTH: Final = 16
_LABEL_STYLE: Final = "bold"


def full_time(timestamp: float, tz: tzinfo | None) -> str:
    """``2026-12-04 14:37:33.123 UTC``, in ``tz`` (None = local time); bad values → "—"."""
    try:
        moment = datetime.fromtimestamp(timestamp, tz).astimezone(tz)
    except (OverflowError, OSError, ValueError, TypeError):
        return fmt.MISSING
    return f"{moment.isoformat(sep=' ', timespec='milliseconds')[:23]} {moment.tzname() or ''}".rstrip()


def attribute_value(value: Any) -> str:
    """An attribute as text: strings as they are, anything else as JSON."""
    return value_text(value)


#: The keys that filter by one of the line's values: key → (the value's name, what the footer says).
FILTER_KEYS: Final = {
    "a": ("agent", "This agent"),
    "m": ("model", "This model"),
    "t": ("tool_name", "This tool"),
    "y": ("type", "This type"),
    "v": ("level", "This level+"),
}


def filterable_values(line: LogEntry) -> list[tuple[str, str]]:
    """Every ``(name, value)`` of ``line`` a filter can match exactly: its fields, then its metadata
    and attributes (values longer than 200 characters left out)."""
    names = ["agent", "level", "type", "trace_id"]
    metadata = line.metadata if isinstance(line.metadata, dict) else {}
    names += sorted(str(key) for key in metadata if key != "attributes")
    attributes = metadata.get("attributes")
    if isinstance(attributes, dict):
        names += sorted(str(key) for key in attributes if key not in metadata)
    found: list[tuple[str, str]] = []
    for name in names:
        value = normalize_level(line.level) if name == "level" else field_value(line, name)
        if value is not None and 0 < len(value) <= 200 and (name, value) not in found:
            found.append((name, value))
    return found


def _field(text: Text, label: str, value: str, style: str = "") -> None:
    text.append(label.ljust(_LABEL_WIDTH), style=_LABEL_STYLE)
    text.append(fmt.safe(value), style=style)
    text.append("\n")


def line_detail_text(line: LogLine, tz: tzinfo | None = None) -> Text:
    """What the detail screen shows of one line (plain data in a Text, no markup)."""
    text = Text()
    if not isinstance(line, LogEntry):
        _field(text, "notice", fmt.log_line(line))
        _field(text, "time", full_time(line.timestamp, tz))
        return text
    _field(text, "time", full_time(line.timestamp, tz))
    _field(text, "agent", line.agent_id, "cyan")
    _field(text, "level", fmt.LEVEL_TOKENS[normalize_level(line.level)].strip())
    if line.span_type:
        _field(text, "type", line.span_type)
    if line.id:
        _field(text, "line id", f"#{fmt.number(line.id, 0)}")
    if line.trace_id:
        _field(text, "trace id", line.trace_id)
    metadata = line.metadata if isinstance(line.metadata, dict) else {}
    for key in ID_KEYS:
        if key in metadata:
            _field(text, key.replace("_", " "), attribute_value(metadata[key]))
    text.append("\nmessage\n", style=_LABEL_STYLE)
    text.append(fmt.safe(line.message) or fmt.MISSING)
    text.append("\n")
    attributes = metadata.get("attributes")
    nested = attributes if isinstance(attributes, dict) else {}
    others = sorted(
        (str(key), value)
        for key, value in metadata.items()
        if key not in ID_KEYS and not (key == "attributes" and nested)
    )
    named = sorted((str(key), value) for key, value in nested.items())  # each its own line
    pairs = others + named
    width = min(28, max((len(fmt.safe(key)) for key, _ in pairs), default=0) + 2)
    if not pairs:
        text.append("\nno other fields\n", style=_LABEL_STYLE)
    for heading, rows in ((f"fields ({len(others)})", others), (f"attributes ({len(named)})", named)):
        if rows:
            text.append(f"\n{heading}\n", style=_LABEL_STYLE)
        for key, value in rows:
            text.append(fmt.safe(key).ljust(width), style="cyan")
            text.append(fmt.safe(attribute_value(value)))
            text.append("\n")
    return text


class LineDetailScreen(FramePaced, ModalScreen[None]):
    """One line in full. ``line_at(n)`` gives line number ``n`` (None when not held), ``newest()`` the
    newest line's number: numbers stay on their lines while the tail moves on."""

    DEFAULT_CSS = """
    LineDetailScreen {
        align: center middle;
    }
    LineDetailScreen #line-detail-box {
        width: 90%;
        max-width: 140;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    LineDetailScreen #line-detail-text {
        height: auto;
    }
    LineDetailScreen #line-detail-hint {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "close", "Close"),
        Binding("left,h", "step(-1)", "Older line"),
        Binding("right,l", "step(1)", "Newer line"),
        Binding("j", "scroll('down')", "Scroll down", show=False),
        Binding("k", "scroll('up')", "Scroll up", show=False),
        Binding("w", "open_trace", "Trace", tooltip="This line's trace (or prompt, turn) as a waterfall"),
        *(
            Binding(
                key, f"filter_by({name!r})", label, show=key == "a", tooltip=f"Log: only lines of {label[5:]}"
            )
            for key, (name, label) in FILTER_KEYS.items()
        ),
        Binding("f", "pick_filter", "Filter by…", tooltip="Log: only lines with one of this line's values"),
    ]

    class FilterBy(Message):
        """Show only log lines whose ``name`` is ``value`` (``agent``: that agent; ``level``: it and
        above)."""

        def __init__(self, name: str, value: str) -> None:
            super().__init__()
            self.name = name
            self.value = value

    class OpenTrace(Message):
        """Open the trace (or prompt, turn) ``trace_id`` as a waterfall."""

        def __init__(self, trace_id: str) -> None:
            super().__init__()
            self.trace_id = trace_id

    def __init__(
        self,
        line_at: Callable[[int], LogLine | None],
        number: int,
        newest: Callable[[], int],
        *,
        tz: tzinfo | None = None,
        heading: Callable[[int], str] | None = None,
    ) -> None:
        super().__init__()
        self._line_at = line_at
        self._newest = newest
        self.number = number
        self._tz = tz
        self._heading = heading

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="line-detail-box"):
            yield Static("", id="line-detail-title", markup=False)
            yield Static("", id="line-detail-text", markup=False)
            yield Static(
                "←/→ older / newer · a m t y v f filter the log · w trace · Esc closes",
                id="line-detail-hint",
                markup=False,
            )

    def on_mount(self) -> None:
        self._show()
        self.query_one("#line-detail-box").focus()

    def _show(self) -> None:
        line = self._line_at(self.number)
        before = self._newest() - self.number
        title = "the newest line" if before <= 0 else f"{fmt.number(before, 0)} lines before the newest"
        if self._heading is not None:
            title = self._heading(self.number)
        self.query_one("#line-detail-title", Static).update(Text(f"Log line — {title}", style="bold"))
        body = line_detail_text(line, self._tz) if line is not None else Text("(no longer held)")
        self.query_one("#line-detail-text", Static).update(body)
        self.query_one("#line-detail-box", VerticalScroll).scroll_home(animate=False)

    def action_step(self, delta: int) -> None:
        """Show the newer (``1``) or older (``-1``) line, if there is one."""
        target = self.number + delta
        if self._line_at(target) is not None:
            self.number = target
            self._show()
        else:
            self.app.bell()

    def action_scroll(self, direction: str) -> None:
        box = self.query_one("#line-detail-box", VerticalScroll)
        if direction == "down":
            box.scroll_down(animate=False)
        else:
            box.scroll_up(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)

    def _entry(self) -> LogEntry | None:
        line = self._line_at(self.number)
        return line if isinstance(line, LogEntry) else None

    def action_filter_by(self, name: str) -> None:
        """Ask the app to show only lines with this line's ``name`` (bell when the line has none)."""
        line = self._entry()
        value = None
        if line is not None:
            value = normalize_level(line.level) if name == "level" else field_value(line, name)
        if value is None:
            self.app.bell()
            self.notify(f"This line has no {name.replace('_', ' ')}", timeout=2)
            return
        self.post_message(self.FilterBy(name, value))

    def action_pick_filter(self) -> None:
        """Choose any of the line's values to filter the log by."""
        line = self._entry()
        if line is None:
            self.app.bell()
            return

        def picked(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                self.post_message(self.FilterBy(*choice))

        self.app.push_screen(ValuePicker(filterable_values(line)), picked)

    def action_open_trace(self) -> None:
        """Ask the app to open this line's trace (bell when it has neither a trace nor a prompt id)."""
        line = self._entry()
        key = line_trace_key(line) if line is not None else None
        if key is None:
            self.app.bell()
            self.notify("This line has no trace id and no prompt or turn id", timeout=3)
            return
        self.post_message(self.OpenTrace(key))


class ValuePicker(FramePaced, ModalScreen["tuple[str, str] | None"]):
    """A list of a line's ``name = value`` pairs; Enter picks one, Esc picks none."""

    DEFAULT_CSS = """
    ValuePicker {
        align: center middle;
    }
    ValuePicker #value-picker {
        width: 80%;
        max-width: 100;
        height: auto;
        max-height: 80%;
        border: round $primary;
        background: $surface;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "cancel", "Cancel")]

    def __init__(self, values: list[tuple[str, str]]) -> None:
        super().__init__()
        self.values = values

    def compose(self) -> ComposeResult:
        options = []
        for name, value in self.values:
            prompt = Text(no_wrap=True, overflow="ellipsis")
            prompt.append(fmt.safe(name, 40), style="cyan")
            prompt.append(" = ")
            prompt.append(fmt.safe(value, 120))
            options.append(Option(prompt))
        picker = OptionList(*options, id="value-picker")
        picker.border_title = "Show only log lines with"
        yield picker

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.values[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
