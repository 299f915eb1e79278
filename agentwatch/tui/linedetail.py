"""One log line in full: the whole message, its time, agent, level, type, ids and every attribute.

Opened with Enter on the log (or a double click on a line). ←/→ step to the older / newer line;
the text scrolls (↑/↓, j/k, PageUp/PageDown). Everything shown came from agents and is data: it is
made printable (:func:`~agentwatch.tui.formatting.safe`) and put in a :class:`rich.text.Text`,
never read as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any, ClassVar, Final

import msgspec
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from agentwatch.protocol import LogEntry, normalize_level
from agentwatch.tui import formatting as fmt
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
    if isinstance(value, str):
        return value
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


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
    others = sorted((str(key), value) for key, value in metadata.items() if key not in ID_KEYS)
    text.append(
        f"\nattributes ({len(others)})\n" if others else "\nno other attributes\n", style=_LABEL_STYLE
    )
    width = min(28, max((len(fmt.safe(key)) for key, _ in others), default=0) + 2)
    for key, value in others:
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
    ]

    def __init__(
        self,
        line_at: Callable[[int], LogLine | None],
        number: int,
        newest: Callable[[], int],
        *,
        tz: tzinfo | None = None,
    ) -> None:
        super().__init__()
        self._line_at = line_at
        self._newest = newest
        self.number = number
        self._tz = tz

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="line-detail-box"):
            yield Static("", id="line-detail-title", markup=False)
            yield Static("", id="line-detail-text", markup=False)
            yield Static(
                "←/→ older / newer line · ↑/↓ j/k PgUp/PgDn scroll · Esc closes",
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
