"""Acknowledge and snooze alerts at the collector, as a viewer does (``POST /api/alerts/<id>/ack``,
``/snooze``; ``DELETE`` undoes), and what a viewer reads of an alert's acknowledgement.

The collector keeps them and puts them on the alerts every viewer receives (see
:mod:`agentwatch.collector.alertacks`); a viewer only asks, then shows what comes back.
"""

from __future__ import annotations

import getpass
import socket
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

import msgspec

from agentwatch.protocol import (
    ALERT_ACK,
    ALERT_SNOOZE,
    MAX_VIEWER_NAME_LENGTH,
    PATH_ALERTS,
    Alert,
    AlertAction,
)

if TYPE_CHECKING:
    from httpx import AsyncClient

#: Seconds of the quick snooze (15 min), and what the "snooze for…" box offers first.
SNOOZE_SHORT: Final = 900.0
SNOOZE_PRESET: Final = "1h"
#: Seconds a request to act on an alert may take.
TIMEOUT: Final = 5.0
_alert_decoder: Final = msgspec.json.Decoder(Alert)


class AlertActionError(Exception):
    """The collector did not take the action; the message says why (one line, for the screen)."""


def default_viewer_name() -> str:
    """``login@host``, cut to the collector's bound: who acts when the config names nobody."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid
        login = "viewer"
    name = f"{login}@{socket.gethostname() or 'localhost'}"
    return "".join(ch for ch in name if ch.isprintable())[:MAX_VIEWER_NAME_LENGTH]


def parse_snooze(text: str) -> float:
    """``15m``, ``1h``, ``90s``, ``1h30m`` → seconds (1 s to 24 h); ValueError with the reason."""
    from agentwatch.client.bundle import parse_since  # imports httpx: not before a viewer needs it

    return parse_since(text)


def is_quiet(alert: Alert, now: float) -> bool:
    """Acknowledged, or snoozed until later than ``now``: no toast, bell or notification for it."""
    return alert.acked_by is not None or (alert.snoozed_until is not None and alert.snoozed_until > now)


async def act(
    client: AsyncClient,
    url: str,
    alert_id: str,
    kind: str,
    *,
    by: str,
    seconds: float | None = None,
    undo: bool = False,
    token: str | None = None,
) -> Alert:
    """Acknowledge (``kind`` :data:`~agentwatch.protocol.ALERT_ACK`) or snooze for ``seconds``
    (:data:`~agentwatch.protocol.ALERT_SNOOZE`) the alert ``alert_id``, or undo it; returns the
    alert as every viewer now sees it. Raises :class:`AlertActionError` naming the problem."""
    import httpx

    if kind not in (ALERT_ACK, ALERT_SNOOZE):
        raise ValueError(f"unknown action {kind!r}")
    target = f"{url.rstrip('/')}{PATH_ALERTS}/{quote(alert_id, safe='')}/{kind}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        if undo:
            response = await client.delete(target, headers=headers, timeout=TIMEOUT)
        else:
            body = msgspec.json.encode(AlertAction(by=by, for_s=seconds))
            headers["Content-Type"] = "application/json"
            response = await client.post(target, content=body, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise AlertActionError(f"cannot reach {url}: {exc.__class__.__name__}") from None
    if response.status_code != 200:
        try:
            reason = str(msgspec.json.decode(response.content).get("error", ""))
        except (msgspec.DecodeError, AttributeError):
            reason = ""
        raise AlertActionError(f"{response.status_code} {reason or response.reason_phrase}"[:200])
    try:
        return _alert_decoder.decode(response.content)
    except msgspec.DecodeError as exc:
        raise AlertActionError(f"unreadable answer: {exc}") from None
