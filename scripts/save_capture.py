#!/usr/bin/env python3
"""Turn one run of run_claude.sh, run_codex.sh (../shared/coding_agents) or scripts/run_gemini.sh
into a test fixture.

Usage: save_capture.py RUN_DIR DEST_DIR --program claude|codex|gemini [--variant NAME]
       [--setting KEY=VALUE ...] [--cli-version TEXT] [--keep-metrics N] [--leave-out SIGNAL ...]

RUN_DIR is the script's OUT directory: ``capture/`` as written by otlp_capture.py
(``NNNN-<signal>.pb|.json`` with a ``.meta.json`` each, bodies already un-gzipped) and the
CLI's standard output (``claude.stdout``: one JSON result; ``codex.stdout``: JSON lines;
``gemini.stdout``: one JSON result with its ``stats``, or, when the run failed, nothing there and
the JSON error at the end of ``gemini.stderr``).

DEST_DIR receives, after its old ``*.pb``/``*.json`` files are removed:

- ``NNNN-<signal>.pb`` / ``.json``: each request body in arrival order, decompressed;
- ``requests.json``: the index (program, variant, settings, and per request its order, signal,
  path, content type, content encoding, whether it arrived gzipped, raw length and the headers
  that matter), plus the requests left out (periodic metrics exports beyond ``--keep-metrics``,
  and every export of a ``--leave-out`` signal, for a CLI that cannot be told not to send it);
- ``cli_result.json``: what the CLI said about itself (``output``) and its ``totals``
  (``cost_usd``, input/output/cache/reasoning tokens; ``cost_usd`` is null for Codex and Gemini
  CLI, which report none, and their ``input_tokens`` include their cached ones; Gemini CLI's
  totals add ``by_model``, the same counts per model, from which its cost is estimated).

Personal values are scrubbed from bodies and results: this machine's host name and user name
(whole string values, replaced by ``host`` and ``user``) and the home directory (at path
boundaries, replaced by ``/home/user``); the superuser's name and ``/root`` are kept, as
Codex names its main agent ``/root``. A body is re-encoded only when a scrub hit it; its
``scrubbed`` flag in ``requests.json`` says so.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HEADERS_KEPT = ("content-type", "content-encoding", "content-length", "transfer-encoding", "user-agent")
CLI_STDOUT = {"claude": "claude.stdout", "codex": "codex.stdout", "gemini": "gemini.stdout"}
CLI_RC = {"claude": "claude.rc", "codex": "codex.rc", "gemini": "gemini.rc"}


# ------------------------------------------------------------------------------- scrubbing
def scrubber() -> Callable[[str], str]:
    """A function that replaces the personal values in one string."""
    whole: dict[str, str] = {}
    for name in {socket.gethostname(), socket.getfqdn()}:
        if name and name not in ("localhost", "localhost.localdomain"):
            whole[name] = "host"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "root"
    if user != "root":  # the superuser's name and home (/root) say nothing about a person
        whole[user] = "user"
    home = os.path.expanduser("~").rstrip("/")
    # The home directory at a path boundary only: "/home/ann" in "/home/ann/x", not in "/home/anna".
    home_re = None
    if home.count("/") >= 2:
        home_re = re.compile(r"(?<![\w.-])" + re.escape(home) + r"(?![\w.-])")

    def scrub(text: str) -> str:
        if text in whole:
            return whole[text]
        return home_re.sub("/home/user", text) if home_re is not None else text

    return scrub


def scrub_json(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [scrub_json(v, scrub) for v in value]
    if isinstance(value, dict):
        return {k: scrub_json(v, scrub) for k, v in value.items()}
    return value


def scrub_message(message: Any, scrub: Callable[[str], str]) -> bool:
    """Scrub every string field of a protobuf message in place; True if anything changed."""
    changed = False
    for field, value in message.ListFields():
        repeated = getattr(field, "is_repeated", None)
        if repeated is None:  # protobuf < 5
            repeated = field.label == field.LABEL_REPEATED
        if field.type == field.TYPE_MESSAGE:
            items = value if repeated else [value]
            for item in items:
                changed |= scrub_message(item, scrub)
        elif field.type == field.TYPE_STRING:
            if repeated:
                new = [scrub(v) for v in value]
                if new != list(value):
                    del value[:]
                    value.extend(new)
                    changed = True
            elif scrub(value) != value:
                setattr(message, field.name, scrub(value))
                changed = True
    return changed


def protobuf_classes() -> dict[str, Any]:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    return {
        "logs": ExportLogsServiceRequest,
        "metrics": ExportMetricsServiceRequest,
        "traces": ExportTraceServiceRequest,
    }


def scrub_body(signal: str, is_json: bool, body: bytes, scrub: Callable[[str], str]) -> tuple[bytes, bool]:
    if is_json:
        doc = json.loads(body)
        clean = scrub_json(doc, scrub)
        if clean == doc:
            return body, False
        return json.dumps(clean, separators=(",", ":"), ensure_ascii=False).encode(), True
    message = protobuf_classes()[signal]()
    message.ParseFromString(body)
    if not scrub_message(message, scrub):
        return body, False
    return message.SerializeToString(), True


# ------------------------------------------------------------------------------ CLI result
def read_cli_result(run_dir: Path, program: str) -> dict[str, Any]:
    """What the CLI printed about its own run, with its totals in one shape for every program."""
    text = (run_dir / CLI_STDOUT[program]).read_text(errors="replace")
    rc_file = run_dir / CLI_RC[program]
    exit_code = int(rc_file.read_text().strip()) if rc_file.exists() else None
    if program == "gemini":
        output, totals = gemini_result(run_dir, text, exit_code)
    elif program == "claude":
        try:
            output: Any = json.loads(text)
        except ValueError:
            output = text
        result = output if isinstance(output, dict) else {}
        usage = result.get("usage") or {}
        totals = {
            "cost_usd": result.get("total_cost_usd"),
            "input_tokens": usage.get("input_tokens", 0),
            "output_tokens": usage.get("output_tokens", 0),
            "cache_read_tokens": usage.get("cache_read_input_tokens", 0),
            "cache_creation_tokens": usage.get("cache_creation_input_tokens", 0),
            "reasoning_tokens": 0,
            "input_includes_cache_read": False,
            "is_error": bool(result.get("is_error")),
        }
    else:
        output = []
        for line in text.splitlines():
            try:
                output.append(json.loads(line))
            except ValueError:
                output.append(line)
        totals = {
            "cost_usd": None,
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_tokens": 0,
            "cache_creation_tokens": 0,
            "reasoning_tokens": 0,
            "input_includes_cache_read": True,
            "is_error": any(isinstance(e, dict) and e.get("type") == "turn.failed" for e in output),
        }
        for event in output:
            if isinstance(event, dict) and event.get("type") == "turn.completed":
                usage = event.get("usage") or {}
                totals["input_tokens"] += usage.get("input_tokens", 0)
                totals["output_tokens"] += usage.get("output_tokens", 0)
                totals["cache_read_tokens"] += usage.get("cached_input_tokens", 0)
                totals["cache_creation_tokens"] += usage.get("cache_write_input_tokens", 0)
                totals["reasoning_tokens"] += usage.get("reasoning_output_tokens", 0)
    return {"program": program, "exit_code": exit_code, "totals": totals, "output": output}


def gemini_result(run_dir: Path, text: str, exit_code: int | None) -> tuple[Any, dict[str, Any]]:
    """Gemini CLI's JSON result and its totals, summed over ``stats.models``.

    A failed run prints its JSON (``session_id`` and ``error``) at the end of standard error,
    after the stack traces, and reports no tokens; run with ``--output-format text`` it prints no
    JSON at all, and its exit code says it failed.
    """
    if not text.strip():
        stderr = (run_dir / "gemini.stderr").read_text(errors="replace")
        start = stderr.rfind("\n{\n")
        text = stderr[start + 1 :] if start >= 0 else ""
    try:
        output: Any = json.loads(text)
    except ValueError:
        output = text
    result = output if isinstance(output, dict) else {}
    by_model: dict[str, dict[str, int]] = {}
    for model, stats in ((result.get("stats") or {}).get("models") or {}).items():
        tokens = stats.get("tokens") or {}
        by_model[model] = {
            "input_tokens": tokens.get("prompt", 0),
            "output_tokens": tokens.get("candidates", 0),
            "cache_read_tokens": tokens.get("cached", 0),
            "reasoning_tokens": tokens.get("thoughts", 0),
            "requests": (stats.get("api") or {}).get("totalRequests", 0),
            "errors": (stats.get("api") or {}).get("totalErrors", 0),
        }
    totals: dict[str, Any] = {
        "cost_usd": None,
        "input_tokens": sum(m["input_tokens"] for m in by_model.values()),
        "output_tokens": sum(m["output_tokens"] for m in by_model.values()),
        "cache_read_tokens": sum(m["cache_read_tokens"] for m in by_model.values()),
        "cache_creation_tokens": 0,
        "reasoning_tokens": sum(m["reasoning_tokens"] for m in by_model.values()),
        "input_includes_cache_read": True,
        "is_error": "error" in result or exit_code not in (0, None),
        "by_model": by_model,
    }
    return output, totals


# ------------------------------------------------------------------------------- the index
def captured_requests(capture: Path) -> list[dict[str, Any]]:
    metas = []
    for meta_file in sorted(capture.glob("*.meta.json")):
        meta = json.loads(meta_file.read_text())
        base = meta_file.name[: -len(".meta.json")]
        ext = "json" if "json" in meta["content_type"] else "pb"
        meta["source"] = capture / f"{base}.{ext}"
        metas.append(meta)
    return sorted(metas, key=lambda m: m["index"])


def left_out(metas: list[dict[str, Any]], keep_metrics: int) -> set[int]:
    """Periodic metrics exports beyond the first ``keep_metrics - 1`` and the last one."""
    metrics = [m["index"] for m in metas if m["signal"] == "metrics"]
    if len(metrics) <= keep_metrics:
        return set()
    return set(metrics[keep_metrics - 1 : -1])


def save(args: argparse.Namespace) -> dict[str, Any]:
    run_dir, dest = Path(args.run_dir), Path(args.dest)
    metas = captured_requests(run_dir / "capture")
    drop = left_out(metas, args.keep_metrics)
    scrub = scrubber()
    dest.mkdir(parents=True, exist_ok=True)
    for old in [*dest.glob("*.pb"), *dest.glob("*.json")]:
        old.unlink()
    requests, dropped = [], []
    for meta in metas:
        headers = {k.lower(): v for k, v in meta["headers"].items() if k.lower() in HEADERS_KEPT}
        entry = {
            "order": meta["index"],
            "signal": meta["signal"],
            "path": meta["path"],
            "content_type": meta["content_type"],
            "content_encoding": meta["content_encoding"],
            "arrived_gzipped": meta["content_encoding"] == "gzip",
            "raw_length": meta["raw_length"],
            "headers": headers,
        }
        if meta["index"] in drop:
            dropped.append({**entry, "reason": "periodic metrics export left out to keep the fixture small"})
            continue
        if meta["signal"] in args.leave_out:
            dropped.append({**entry, "reason": f"{meta['signal']} left out to keep the fixture small"})
            continue
        is_json = meta["source"].suffix == ".json"
        body, scrubbed = scrub_body(meta["signal"], is_json, meta["source"].read_bytes(), scrub)
        name = f"{meta['index']:04d}-{meta['signal']}.{'json' if is_json else 'pb'}"
        (dest / name).write_bytes(body)
        requests.append({"file": name, **entry, "scrubbed": scrubbed})
    index = {
        "program": args.program,
        "variant": args.variant or dest.name,
        "cli_version": args.cli_version,
        "settings": dict(setting.split("=", 1) for setting in args.setting),
        "requests": requests,
        "left_out": dropped,
    }
    (dest / "requests.json").write_text(json.dumps(index, indent=1) + "\n")
    result = scrub_json(read_cli_result(run_dir, args.program), scrub)
    (dest / "cli_result.json").write_text(json.dumps(result, indent=1) + "\n")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("dest")
    parser.add_argument("--program", choices=sorted(CLI_STDOUT), required=True)
    parser.add_argument("--variant", default="")
    parser.add_argument("--setting", action="append", default=[], help="a knob of the run, e.g. MODE=tool")
    parser.add_argument("--cli-version", default="")
    parser.add_argument("--keep-metrics", type=int, default=4, help="metrics exports kept per run")
    parser.add_argument(
        "--leave-out",
        action="append",
        default=[],
        choices=["logs", "metrics", "traces"],
        help="a signal whose exports are not kept (listed in requests.json's left_out)",
    )
    args = parser.parse_args(argv)
    if not (Path(args.run_dir) / "capture").is_dir():
        print(f"save_capture: no capture/ in {args.run_dir}", file=sys.stderr)
        return 1
    index = save(args)
    size = sum(f.stat().st_size for f in Path(args.dest).iterdir())
    print(
        f"{args.dest}: {len(index['requests'])} requests"
        f" ({len(index['left_out'])} left out), {size / 1024:.0f} KiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
