"""The main screen's keys: one list, which the footer, the help screen and the README's Keys table follow.

Each binding's ``tooltip`` is its line in the help (:mod:`~agentwatch.tui.screens`); ``show=False``
keeps a key out of the footer, not out of the help.
"""

from __future__ import annotations

from typing import Final

from textual.binding import Binding, BindingType

from agentwatch.protocol import VIEW_COSTS, VIEW_DECISIONS, VIEW_FAILURES, VIEW_LATENCY
from agentwatch.tui.alerts import ALERT_BINDINGS

__all__ = ["MAIN_BINDINGS"]

MAIN_BINDINGS: Final[list[BindingType]] = [
    Binding("q", "quit", "Quit", tooltip="Leave agentwatch"),
    Binding("question_mark", "help", "Help", tooltip="This help: every key"),
    Binding("a", "pick_agent", "Agent", tooltip="Show the log of one agent, or of all"),
    Binding("l", "cycle_level", "Level", tooltip="Hide lower levels: debug → info → warning → error"),
    Binding("e", "toggle_errors", "Errors", tooltip="Only error and critical lines (again: every line)"),
    Binding(
        "slash",
        "search",
        "Search",
        tooltip="Show only lines whose message matches: text, /regex/ or re:regex",
    ),
    Binding("c", "clear_filters", "Clear filters", show=False, tooltip="Agent, level, errors and search off"),
    Binding("space", "toggle_pause", "Pause", tooltip="Freeze the log; new lines are kept and counted"),
    Binding("end", "live", "Live", key_display="End", priority=True, tooltip="Back to the live tail"),
    Binding("j", "down", "Down", show=False, tooltip="Agents table: next row · log: scroll down a line"),
    Binding("k", "up", "Up", show=False, tooltip="Agents table: previous row · log: scroll up a line"),
    Binding("g", "top", "Top", show=False, tooltip="Agents table: first row · log: the oldest line"),
    Binding("G", "bottom", "Bottom", show=False, tooltip="Agents table: last row · log: the live tail"),
    Binding(
        "enter",
        "open_line",
        "Line details",
        show=False,
        tooltip="Log: open the marked line (else the newest in view) — message, attributes, ids",
    ),
    Binding(
        "n",
        "next_match('older')",
        "Older match",
        show=False,
        tooltip="After a search (/): mark the match above, the older one",
    ),
    Binding(
        "N",
        "next_match('newer')",
        "Newer match",
        show=False,
        tooltip="After a search (/): mark the match below, the newer one",
    ),
    Binding("t", "toggle_timestamps", "Timestamps", show=False, tooltip="Show or hide log timestamps"),
    Binding(
        "x",
        "toggle_collapse",
        "Collapse repeats",
        show=False,
        tooltip="Show a repeated line once with ×N, first and last seen (numbers and ids masked); again: every line",
    ),
    Binding(
        "left_square_bracket",
        "scrub(-1)",
        "Back 1 s",
        show=False,
        tooltip="Time scrub: a cursor on the sparklines one second back — that second's values, top agents and lines",
    ),
    Binding(
        "right_square_bracket",
        "scrub(1)",
        "Forward 1 s",
        show=False,
        tooltip="Time scrub: one second forward",
    ),
    Binding(
        "left_curly_bracket",
        "scrub(-10)",
        "Back 10 s",
        show=False,
        tooltip="Time scrub: ten seconds back",
    ),
    Binding(
        "right_curly_bracket",
        "scrub(10)",
        "Forward 10 s",
        show=False,
        tooltip="Time scrub: ten seconds forward",
    ),
    Binding(
        "less_than_sign",
        "spike('older')",
        "Previous spike",
        show=False,
        tooltip="Time scrub: to the previous spike in any sparkline (from live: the newest) and its lines",
    ),
    Binding(
        "greater_than_sign",
        "spike('newer')",
        "Next spike",
        show=False,
        tooltip="Time scrub: to the next spike",
    ),
    Binding("w", "toggle_wrap", "Wrap", show=False, tooltip="Wrap long log lines at words (toggle)"),
    Binding("s", "cycle_sort", "Sort", show=False, tooltip="Sort the agents table by the next column"),
    Binding("S", "reverse_sort", "Reverse sort", show=False, tooltip="Reverse the agents table order"),
    Binding("A", "alert_history", "Alerts", show=False, tooltip="Alert history: what fired and resolved"),
    *ALERT_BINDINGS,
    Binding(
        "W",
        "agent_trace",
        "Trace",
        show=False,
        tooltip="Waterfall of the trace (or prompt, turn) of the newest line of the agent under the table's cursor",
    ),
    Binding(
        "exclamation_mark",
        "bundle",
        "Incident bundle",
        show=False,
        tooltip="Write an incident bundle here: screen, snapshot, alerts, analysis, last 15 min of logs, summary",
    ),
    Binding(
        "p",
        "jump_to_session",
        "Jump to session",
        show=False,
        tooltip="Sessions: go to the tmux pane of the most urgent session (in the sessions pane: the one under its cursor)",
    ),
    Binding(
        "1",
        f"analysis({VIEW_COSTS!r})",
        "Costs",
        show=False,
        tooltip="Costs by model, agent and decision path; cost per inference over time",
    ),
    Binding(
        "2",
        f"analysis({VIEW_DECISIONS!r})",
        "Decisions",
        show=False,
        tooltip="Decisions per agent: counts, mean confidence, new ones marked",
    ),
    Binding(
        "3",
        f"analysis({VIEW_LATENCY!r})",
        "Latency",
        show=False,
        tooltip="p50 / p95 / p99 per model against its baseline, regressions marked",
    ),
    Binding(
        "4",
        f"analysis({VIEW_FAILURES!r})",
        "Failures",
        show=False,
        tooltip="Errors by type, model, tool, decision and an attribute key (k)",
    ),
    Binding(
        "dollar_sign",
        "toggle_self_cost",
        "Viewer cost",
        show=False,
        tooltip="What the viewer itself costs, above the footer: CPU, frame time p95, event → screen lag p95, bytes/s to the terminal, lines dropped (toggle)",
    ),
    Binding(
        "escape",
        "leave_drill_down",
        "Back to fleet",
        show=False,
        tooltip="Back to the whole fleet from one agent (on another screen: close it)",
    ),
]
