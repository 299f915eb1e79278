"""Pure text formatting for the viewer: numbers, ages, statuses and log lines.

Everything an agent sent (ids, messages, model names) goes through :func:`safe` before it
is shown, so Rich markup and terminal escapes appear as plain characters. Functions here
return ``str`` or :class:`rich.text.Text` and never raise on odd input: missing values
render as :data:`MISSING`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Final

from rich.text import Text

from agentwatch.protocol import (
    STATUS_DEGRADED,
    STATUS_FAILING,
    STATUS_IDLE,
    STATUS_OFFLINE,
    STATUS_OK,
    LogEntry,
    Work,
    normalize_level,
)
from agentwatch.textsafe import printable
from agentwatch.tui.state import MARKER_DROPPED, MARKER_RESET, MARKER_RESTART, LogLine, Marker

MISSING: Final = "—"

#: Error-rate thresholds (fraction of events): warning at 5 %, error at 25 %.
ERROR_RATE_WARNING: Final = 0.05
ERROR_RATE_ERROR: Final = 0.25
#: p99 latency thresholds in milliseconds.
LATENCY_WARNING_MS: Final = 2_000.0
LATENCY_ERROR_MS: Final = 10_000.0

#: Width of the agent column in log lines (longer ids are cut with "…").
AGENT_WIDTH: Final = 14
#: Level tokens, all :data:`LEVEL_WIDTH` characters wide so the message column lines up.
LEVEL_TOKENS: Final = {
    "debug": "DEBUG",
    "info": "INFO ",
    "warning": "WARN ",
    "error": "ERROR",
    "critical": "CRIT ",
}
LEVEL_WIDTH: Final = 5
TIME_WIDTH: Final = 8  # "HH:MM:SS"
MARKER_PREFIX: Final = "⚠ "

STATUS_LABELS: Final = {
    STATUS_OK: ("✓", "ok", "status-ok"),
    STATUS_DEGRADED: ("▲", "degraded", "status-degraded"),
    STATUS_FAILING: ("✗", "failing", "status-failing"),
    STATUS_IDLE: ("◌", "idle", "status-idle"),
    STATUS_OFFLINE: ("○", "offline", "status-offline"),
}


def threshold_class(value: float | None, warning: float, error: float) -> str:
    """CSS class for a value against two thresholds: "-error", "-warning" or ""."""
    if value is None or not math.isfinite(value):
        return ""
    if value >= error:
        return "-error"
    if value >= warning:
        return "-warning"
    return ""


def safe(text: object, limit: int | None = None) -> str:
    """Agent-supplied text made safe to show (see :func:`agentwatch.textsafe.printable`).

    ``limit`` cuts the result to that many characters with a trailing "…".
    """
    shown = printable(text if isinstance(text, str) else str(text))
    if limit is not None and len(shown) > limit:
        shown = shown[: max(0, limit - 1)] + "…"
    return shown


def number(value: float | None, digits: int = 1) -> str:
    """``1 234.5``; thousands separated by a space; missing or non-finite → "—"."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:,.{digits}f}".replace(",", " ")


def latency(ms: float | None) -> str:
    """Milliseconds as "850 ms", "1.24 s" or "142 s" (at most 7 cells below 28 h); missing → "—"."""
    if ms is None or not math.isfinite(ms):
        return MISSING
    if ms >= 99_995:
        return f"{ms / 1000:.0f} s"
    if ms >= 999.5:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.0f} ms"


def compact(value: float | None, digits: int = 3) -> str:
    """A count in a few cells, ``digits`` significant: "950", "45.1k", "4.48k", "1.23M" (2: "45k",
    "4.5k"); missing → "—"."""
    if value is None or not math.isfinite(value):
        return MISSING
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale * 0.9995:
            scaled = value / scale
            whole = len(str(int(abs(round(scaled, max(0, digits - 1))))))
            return f"{scaled:.{max(0, digits - whole)}f}{suffix}"
    return f"{value:.0f}"


def rate(value: float | None) -> str:
    """A per-second rate for a 9-cell column: :func:`number` below a million, :func:`compact` above."""
    if value is not None and math.isfinite(value) and abs(value) >= 999_999.95:
        return compact(value)
    return number(value)


def percent(rate: float | None) -> str:
    """A 0..1 rate as "4.2 %"; missing → "—"."""
    if rate is None or not math.isfinite(rate):
        return MISSING
    return f"{rate * 100:.1f} %"


def usd(value: float | None) -> str:
    """Dollars: "$0.0042" below a cent, "$12.34" above; missing → "—"."""
    if value is None or not math.isfinite(value):
        return MISSING
    if abs(value) < 0.01 and value != 0:
        return f"${value:.4f}"
    return "$" + f"{value:,.2f}".replace(",", " ")


def age(seconds: float | None) -> str:
    """A relative age: "3s ago", "4m ago", "2h ago", "3d ago"; missing → "—"."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def duration(seconds: float) -> str:
    """A length of time: "45s", "4m 12s", "2h 05m"."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


def work(done: Work) -> str:
    """A coding-agent session's work, its non-zero parts: "+8 −2 lines · active 1m 45s · 2 commits"."""
    parts = []
    if done.lines_added or done.lines_removed:
        parts.append(f"+{number(done.lines_added, 0)} −{number(done.lines_removed, 0)} lines")
    if done.active_seconds:
        parts.append(f"active {duration(done.active_seconds)}")
    for count, noun in ((done.sessions, "session"), (done.commits, "commit"), (done.pull_requests, "PR")):
        if count:
            parts.append(f"{number(count, 0)} {noun}{'s' if count != 1 else ''}")
    return " · ".join(parts)


def status_cell(status: str | None) -> tuple[str, str]:
    """(text, Rich style) of a status: symbol and word (never colour alone); missing → "—"."""
    if status is None:
        return (MISSING, "")
    label = STATUS_LABELS.get(status)
    if label is None:
        return (safe(status, 12), "")
    symbol, word, style = label
    return (f"{symbol} {word}", _STATUS_STYLES[style])


def status_text(status: str | None) -> Text:
    """:func:`status_cell` as a Text."""
    text, style = status_cell(status)
    return Text(text, style=style)


_STATUS_STYLES: Final = {
    "status-ok": "green",
    "status-degraded": "yellow",
    "status-failing": "bold red",
    "status-idle": "dim",
    "status-offline": "dim",
}


def marker_text(marker: Marker) -> str:
    """The one-line notice shown in the log for a gap, a collector-side drop or a restart."""
    count = number(marker.count, 0)
    noun = "line" if marker.count == 1 else "lines"
    if marker.kind == MARKER_DROPPED:
        return f"{MARKER_PREFIX}{count} {noun} dropped by the collector (slow viewer)"
    if marker.kind == MARKER_RESTART:
        return f"{MARKER_PREFIX}collector restarted — its log goes on"
    if marker.kind == MARKER_RESET:
        since = f" after #{number(marker.after, 0)}" if marker.after else ""
        return f"{MARKER_PREFIX}collector restarted, history not kept — lines{since} are not available"
    bound = "" if marker.exact else "up to "
    return f"{MARKER_PREFIX}{bound}{count} {noun} missed while disconnected (no longer held by the collector)"


def clock_time(timestamp: float, tz: tzinfo | None = None) -> str:
    """Unix seconds as "HH:MM:SS" in ``tz`` (None = local time); bad values → "--:--:--".

    A busy stream's lines share a few recent seconds, so recent whole seconds are
    remembered (a bounded cache, cleared when full).
    """
    try:
        second = math.floor(timestamp)
    except (OverflowError, ValueError, TypeError):
        return "--:--:--"
    key = (second, tz)
    shown = _CLOCK_CACHE.get(key)
    if shown is None:
        try:
            shown = datetime.fromtimestamp(second, tz).strftime("%H:%M:%S")
        except (OverflowError, OSError, ValueError):
            shown = "--:--:--"
        if len(_CLOCK_CACHE) >= _CLOCK_CACHE_SIZE:
            _CLOCK_CACHE.clear()
        _CLOCK_CACHE[key] = shown
    return shown


_CLOCK_CACHE_SIZE: Final = 256
_CLOCK_CACHE: dict[tuple[int, tzinfo | None], str] = {}


def message_start(timestamps: bool) -> int:
    """Character offset of the message in a formatted log line."""
    return (TIME_WIDTH + 1 if timestamps else 0) + AGENT_WIDTH + 1 + LEVEL_WIDTH + 1


def level_start(timestamps: bool) -> int:
    """Character offset of the level token in a formatted log line."""
    return (TIME_WIDTH + 1 if timestamps else 0) + AGENT_WIDTH + 1


def log_line(line: LogLine, *, timestamps: bool = True, tz: tzinfo | None = None) -> str:
    """One plain log line: ``HH:MM:SS agent-id…     LEVEL message`` (columns fixed width).

    The message is made printable, so a multi-line message stays on one line (``␤``).
    """
    if isinstance(line, Marker):
        return marker_text(line)
    return _entry_line(line, timestamps=timestamps, tz=tz)


def log_lines(lines: Sequence[LogLine], *, timestamps: bool = True, tz: tzinfo | None = None) -> list[str]:
    """:func:`log_line` for a whole batch: the same strings, with the per-line work inlined.

    A frame formats every line received since the last one, so each function call saved
    per line counts under a busy stream.
    """
    out: list[str] = []
    append = out.append
    tokens = LEVEL_TOKENS
    agents = _AGENT_CACHE
    for line in lines:
        if isinstance(line, Marker):
            append(marker_text(line))
            continue
        level = tokens.get(line.level) or tokens[normalize_level(line.level)]
        message = line.message
        if not message.isprintable():
            message = printable(message)
        agent = agents.get(line.agent_id) or agent_column(line.agent_id)
        if timestamps:
            append(f"{clock_time(line.timestamp, tz)} {agent} {level} {message}")
        else:
            append(f"{agent} {level} {message}")
    return out


def agent_column(agent_id: str) -> str:
    """An agent id as the fixed-width log column (made safe, padded; a long one keeps its start
    and its last 8 characters around a "…": ``claud…d0615065``).

    A fleet has far fewer agents than lines, so columns are cached
    (bounded: the cache is cleared when it holds :data:`_AGENT_CACHE_SIZE` ids).
    """
    column = _AGENT_CACHE.get(agent_id)
    if column is None:
        shown = safe(agent_id)
        if len(shown) > AGENT_WIDTH:  # keep the end: sessions of one program differ only there
            head = AGENT_WIDTH - 1 - _AGENT_TAIL
            shown = f"{shown[:head]}…{shown[-_AGENT_TAIL:]}"
        column = shown.ljust(AGENT_WIDTH)
        if len(_AGENT_CACHE) >= _AGENT_CACHE_SIZE:
            _AGENT_CACHE.clear()
        _AGENT_CACHE[agent_id] = column
    return column


#: Characters kept from the end of a long agent id (a short session id's length).
_AGENT_TAIL: Final = 8
_AGENT_CACHE_SIZE: Final = 4096
_AGENT_CACHE: dict[str, str] = {}


def _entry_line(entry: LogEntry, *, timestamps: bool, tz: tzinfo | None) -> str:
    level = LEVEL_TOKENS.get(entry.level) or LEVEL_TOKENS[normalize_level(entry.level)]
    message = safe(entry.message)
    agent = agent_column(entry.agent_id)
    if timestamps:
        return f"{clock_time(entry.timestamp, tz)} {agent} {level} {message}"
    return f"{agent} {level} {message}"
