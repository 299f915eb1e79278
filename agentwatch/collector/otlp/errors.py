"""Why OTLP input is refused: the whole request, one resource's items, or one item; or why an
item is left out without being refused."""

from __future__ import annotations


class OtlpError(Exception):
    """The whole request is unusable: ``status`` 400 (undecodable) or 415 (content type)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BadResource(Exception):
    """A resource whose attributes cannot be read: every item under it is rejected."""


class Reject(Exception):
    """One span or log record cannot be mapped (the message says why)."""


class Skip(Exception):
    """One item is valid but shows nothing of use (a program's span of no known session): it is
    accepted, counted as ignored, and makes no event."""
