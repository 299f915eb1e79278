"""Why an ingest body or item is refused: the errors the web layer turns into responses (each with
its HTTP ``status``), and the wording of per-item rejections (``"<field>: <reason>"``). Messages
are precise (line, column, byte, field) and safe to show the sender.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final, NoReturn

import msgspec

from agentwatch.protocol import MAX_NESTING_DEPTH

_raw_decoder: Final = msgspec.json.Decoder(msgspec.Raw)


class IngestError(Exception):
    """A body the collector will not take. ``status`` is the HTTP status, ``message`` says why."""

    status: int = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(IngestError):
    status = 400


class PayloadTooLarge(IngestError):
    status = 413


class UnsupportedMediaType(IngestError):
    status = 415


# ------------------------------------------------------------------- wording
_PATH = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
_LEADING_INDEX = re.compile(r"^\[\d+\]")
_KINDS: Final = {
    "dict": "object",
    "list": "array",
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "NoneType": "null",
}


def type_name(value: Any) -> str:
    """A value's type as a rejection names it: its JSON kind, negative and non-finite numbers called out."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value.__class__ is int:
            return "int" if 0 <= value else "negative int"
        return "float" if math.isfinite(value) and value >= 0 else "negative or non-finite number"
    return json_kind(type(value).__name__)


def json_kind(python_type: str) -> str:
    """The JSON name of a decoded value's Python type name (``dict`` → ``object``)."""
    return _KINDS.get(python_type, python_type)


def describe(exc: msgspec.ValidationError) -> str:
    """Rephrase msgspec's message as ``<field>: <reason>``.

    ``Expected `int | null`, got `str` - at `$[3].tokens_input``` → ``tokens_input: expected int, got str``.
    """
    text = str(exc)
    match = _PATH.match(text)
    what = match.group("what") if match else text
    path = _LEADING_INDEX.sub("", (match.group("path") if match else None) or "").lstrip(".")
    missing = _MISSING.match(what)
    if missing:
        field = missing.group("field")
        return f"{path + '.' if path else ''}{field}: required field missing"
    what = what.replace("`", "").replace(" | null", "").replace("Expected ", "expected ")
    what = what.replace("Number out of range", "number out of range")
    if path and what.startswith("expected bool | int | float | str"):
        what = f"nested deeper than {MAX_NESTING_DEPTH} levels"
    return f"{path or 'item'}: {what}"


def raise_bad_body(body: bytes, exc: Exception, *, line_number: int | None = None) -> NoReturn:
    """Raise :class:`BadRequest` for a body the decoder refused, naming the position."""
    raise_if_not_json(body, line_number=line_number)
    where = f"line {line_number}: " if line_number is not None else ""
    if isinstance(exc, RecursionError):
        raise BadRequest(f"{where}JSON is nested too deeply") from None
    raise BadRequest(f"{where}invalid JSON: {exc}") from None


def raise_if_not_json(body: bytes, *, line_number: int | None = None) -> None:
    """Raise :class:`BadRequest` naming the position if ``body`` is not one JSON value.

    Returns quietly when the body is JSON (the caller then reports item-level problems).
    """
    raise_if_not_utf8(body, line_number=line_number)
    where = f"line {line_number}: " if line_number is not None else ""
    try:
        _raw_decoder.decode(body)
    except RecursionError:
        raise BadRequest(f"{where}JSON is nested too deeply") from None
    except msgspec.DecodeError as exc:
        text = str(exc)
        found = re.search(r"\(byte (\d+)\)", text)
        reason = re.sub(r"^JSON is malformed: ", "", re.sub(r"\s*\(byte \d+\)", "", text))
        if found:
            position = _position(body, int(found.group(1)), line_number)
        else:
            position = f"at byte {len(body)} (end of input)"
            reason = "input ends before the JSON value is complete"
        raise BadRequest(f"{where}invalid JSON {position}: {reason}") from None


def raise_if_not_utf8(body: bytes, *, line_number: int | None = None) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = f"line {line_number}: " if line_number is not None else ""
        raise BadRequest(f"{where}invalid UTF-8 {_position(body, exc.start, line_number)}") from None


def _position(body: bytes, offset: int, line_number: int | None) -> str:
    if line_number is not None:
        return f"at column {offset + 1}"
    line = body.count(b"\n", 0, offset) + 1
    column = offset - (body.rfind(b"\n", 0, offset) + 1) + 1
    return f"at line {line}, column {column} (byte {offset})"
