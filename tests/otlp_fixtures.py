"""OTLP payloads captured from the real Claude Code, Codex and Gemini CLIs, as test data.

Each variant lives in ``tests/fixtures/otlp/<program>/<variant>/``: one file per request body
as received (``.pb`` protobuf, ``.json`` OTLP/JSON; gzip already undone), ``requests.json``
(the index, in arrival order) and ``cli_result.json`` (what the CLI reported about its own run,
with its ``totals``). ``scripts/real_agents.sh --capture tests/fixtures/otlp`` refreshes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "otlp"


@dataclass(frozen=True)
class CapturedRequest:
    """One OTLP export as the CLI sent it."""

    order: int
    signal: str
    path: str
    content_type: str
    content_encoding: str
    arrived_gzipped: bool
    headers: dict[str, str]
    body: bytes

    @property
    def is_json(self) -> bool:
        return "json" in self.content_type


@dataclass(frozen=True)
class Variant:
    """One run of one CLI: its requests, in arrival order, and its own report."""

    program: str
    name: str
    directory: Path

    @property
    def id(self) -> str:
        return f"{self.program}/{self.name}"

    @cached_property
    def index(self) -> dict[str, Any]:
        return json.loads((self.directory / "requests.json").read_text())

    @cached_property
    def cli_result(self) -> dict[str, Any]:
        return json.loads((self.directory / "cli_result.json").read_text())

    @property
    def totals(self) -> dict[str, Any]:
        """``cost_usd`` (None for Codex and Gemini CLI) and input/output/cache/reasoning tokens, as
        the CLI said; Gemini CLI's add ``by_model``, the same counts per model."""
        return self.cli_result["totals"]

    def requests(self, signal: str | None = None) -> Iterator[CapturedRequest]:
        for entry in sorted(self.index["requests"], key=lambda e: e["order"]):
            if signal is not None and entry["signal"] != signal:
                continue
            yield CapturedRequest(
                order=entry["order"],
                signal=entry["signal"],
                path=entry["path"],
                content_type=entry["content_type"],
                content_encoding=entry["content_encoding"],
                arrived_gzipped=entry["arrived_gzipped"],
                headers=entry["headers"],
                body=(self.directory / entry["file"]).read_bytes(),
            )


def variants(program: str | None = None) -> list[Variant]:
    """Every captured variant (of one program if given), sorted by id."""
    found = [
        Variant(program=folder.parent.name, name=folder.name, directory=folder)
        for folder in sorted(FIXTURES.glob("*/*"))
        if (folder / "requests.json").is_file()
    ]
    return [v for v in found if program is None or v.program == program]


def variant(variant_id: str) -> Variant:
    """The variant named ``<program>/<variant>``, e.g. ``claude/protobuf-tool``."""
    program, name = variant_id.split("/", 1)
    folder = FIXTURES / program / name
    if not (folder / "requests.json").is_file():
        raise KeyError(f"no OTLP fixture {variant_id!r} in {FIXTURES}")
    return Variant(program=program, name=name, directory=folder)
