"""A :class:`logging.Handler` that forwards log records as agentwatch log events."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentwatch.sdk import AgentTelemetry


class LoggingHandler(logging.Handler):
    """Record each log record as a ``log`` event of ``telemetry``.

    Level comes from ``levelname`` (``WARNING`` → ``warning``; unknown → ``info``), the
    message is the formatted record, and metadata carries ``logger``, ``module``,
    ``lineno`` and, when there is one, ``exc_text``. Records emitted by the SDK's own
    sender thread are skipped, so HTTP client debug logs cannot feed back into the queue.
    Never raises: errors go to :meth:`logging.Handler.handleError`.
    """

    def __init__(self, telemetry: AgentTelemetry, level: int | str = logging.NOTSET) -> None:
        super().__init__(level)
        self.telemetry = telemetry
        self._exc_formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if threading.get_ident() == self.telemetry.sender_thread_ident:
                return
            message = self.format(record)
            metadata: dict[str, Any] = {
                "logger": record.name,
                "module": record.module,
                "lineno": record.lineno,
            }
            if record.exc_info:
                metadata["exc_text"] = record.exc_text or self._exc_formatter.formatException(record.exc_info)
            self.telemetry.log(record.levelname, message, **metadata)
        except Exception:
            self.handleError(record)
