"""What the collector's SSE streams say, decoded into the viewer's state. No Textual here.

The stream workers hand each network read's messages to :func:`apply_metrics_events` or
:func:`apply_log_events`; those decode them with the protocol types and update a
:class:`~agentwatch.tui.state.ViewState`. The app only draws what the state then holds.

* Metrics stream: ``metrics`` (or unnamed) messages are snapshots, ``metrics-delta`` messages the
  change since the frame before (made whole by :mod:`agentwatch.client.deltas`; one that does not
  follow raises :class:`~agentwatch.client.deltas.MissedDelta` once the read is applied, so the
  stream reconnects and starts again whole), ``alert`` messages are one alert's state change;
  any other name is ignored.
* Log stream: ``log`` (or unnamed) messages are entries; ``gap`` (lines no longer held by the
  collector when resuming; "up to" when not exact) and ``dropped`` (lines the collector dropped
  for a slow reader) become markers at the place they arrived, counted in ``lines_missed``.
  ``hello`` names the collector's run: a new run after an earlier one is a restart, told by a
  ``restart`` marker when its ids go on; ``reset`` (the viewer resumed from ids the restarted
  collector no longer has) becomes a ``reset`` marker naming the last line the viewer had.

Undecodable data is counted (``ViewState.decode_errors``) and skipped; it never ends a
subscription. The lenient decoders live in :mod:`agentwatch.client.stream`, imported on first
use so that the first frame does not wait for httpx.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from types import ModuleType
from typing import Final, Protocol

import msgspec

from agentwatch.client.deltas import MissedDelta
from agentwatch.client.sse import DEFAULT_EVENT, ServerSentEvent
from agentwatch.protocol import (
    SSE_ALERT,
    SSE_DROPPED,
    SSE_GAP,
    SSE_HELLO,
    SSE_LOG,
    SSE_METRICS,
    SSE_METRICS_DELTA,
    SSE_RESET,
    Alert,
    Dropped,
    Gap,
    Hello,
    Reset,
)
from agentwatch.tui.received import sent_fields
from agentwatch.tui.state import MARKER_DROPPED, MARKER_GAP, MARKER_RESET, MARKER_RESTART, ViewState

__all__ = [
    "SSEMessage",
    "apply_log_event",
    "apply_log_events",
    "apply_metrics_event",
    "apply_metrics_events",
    "stream_client",
]

_alert_decoder: Final = msgspec.json.Decoder(Alert)
_gap_decoder: Final = msgspec.json.Decoder(Gap)
_dropped_decoder: Final = msgspec.json.Decoder(Dropped)
_hello_decoder: Final = msgspec.json.Decoder(Hello)
_reset_decoder: Final = msgspec.json.Decoder(Reset)


class SSEMessage(Protocol):
    """One server-sent message as any SSE client hands it out: its event name and its data."""

    @property
    def event(self) -> str: ...

    @property
    def data(self) -> str: ...


@functools.cache
def stream_client() -> ModuleType:
    """The stream client module (:mod:`agentwatch.client.stream`), imported on first use."""
    from agentwatch.client import stream

    return stream


# ---------------------------------------------------------------------- metrics stream
def apply_metrics_event(state: ViewState, event: str, data: str, id: str = "") -> None:
    """One metrics-stream message into ``state``: a snapshot (``metrics`` or unnamed), a delta
    (``metrics-delta``, with its ``id``) or an alert. Raises :class:`MissedDelta` for a delta that
    does not follow the frame before."""
    if event == SSE_ALERT:
        try:
            state.apply_alert(_alert_decoder.decode(data))
        except (msgspec.DecodeError, msgspec.ValidationError):
            state.count_decode_error()
        return
    frames = state.metrics_frames
    if event == SSE_METRICS_DELTA:
        snapshot = frames.delta(data, id)
        state.received.add(snapshot, state.received.sent(frames.snapshot))
        state.apply_snapshot(snapshot)
        return
    if event not in (SSE_METRICS, DEFAULT_EVENT):
        return
    stream = stream_client()
    try:
        snapshot = stream.decode_snapshot(data, clock=state.clock)
    except (stream.DecodeError, msgspec.DecodeError, msgspec.ValidationError):
        state.count_decode_error()
        return
    state.received.add(snapshot, sent_fields(data))  # fields left out show "—", not a default
    state.apply_snapshot(frames.whole(snapshot, id))


def apply_metrics_events(state: ViewState, messages: Iterable[SSEMessage]) -> None:
    """One network read's worth of metrics-stream messages into ``state``, in order.

    A delta that does not follow is skipped, and the rest applied; then :class:`MissedDelta` is
    raised, so the stream reconnects for a whole snapshot.
    """
    missed: MissedDelta | None = None
    for message in messages:
        try:
            apply_metrics_event(state, message.event, message.data, getattr(message, "id", ""))
        except MissedDelta as exc:
            missed = missed or exc
    if missed is not None:
        raise missed


# ---------------------------------------------------------------------- log stream
def apply_log_event(state: ViewState, event: str, data: str) -> None:
    """One log-stream message (entry, gap or dropped notice) into ``state``."""
    apply_log_events(state, (ServerSentEvent(event, data),))


def apply_log_events(state: ViewState, messages: Iterable[SSEMessage]) -> None:
    """One network read's worth of log-stream messages into ``state``, in order.

    Runs of entries are decoded together (:func:`~agentwatch.client.stream.decode_log_entries`);
    a gap or dropped notice ends a run, so each marker sits where it happened among the lines.
    """
    payloads: list[str] = []
    for message in messages:
        event = message.event
        if event == SSE_LOG or event == DEFAULT_EVENT:
            payloads.append(message.data)
            continue
        if payloads:
            _add_entries(state, payloads)
            payloads = []
        try:
            if event == SSE_GAP:
                gap = _gap_decoder.decode(message.data)
                state.add_marker(MARKER_GAP, gap.missed, exact=gap.exact)
            elif event == SSE_DROPPED:
                state.add_marker(MARKER_DROPPED, _dropped_decoder.decode(message.data).dropped)
            elif event == SSE_HELLO:
                hello = _hello_decoder.decode(message.data)
                previous, state.collector_run = state.collector_run, hello.run
                if previous is not None and previous != hello.run and hello.continued:
                    state.add_marker(MARKER_RESTART, 0)
            elif event == SSE_RESET:
                state.add_marker(MARKER_RESET, 0, after=_reset_decoder.decode(message.data).after)
        except (msgspec.DecodeError, msgspec.ValidationError):
            state.count_decode_error()
    if payloads:
        _add_entries(state, payloads)


def _add_entries(state: ViewState, payloads: list[str]) -> None:
    entries, unreadable = stream_client().decode_log_entries(payloads, clock=state.clock)
    state.add_log_entries(entries)
    for _ in range(unreadable):
        state.count_decode_error()
