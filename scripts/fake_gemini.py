#!/usr/bin/env python3
"""Fake Gemini API (generativelanguage v1beta) for driving the real Gemini CLI offline.

stdlib only, like the fake Anthropic and OpenAI servers beside run_claude.sh. Serves

  POST /v1beta/models/<model>:generateContent            one JSON response
  POST /v1beta/models/<model>:streamGenerateContent      SSE with ?alt=sse, else a JSON array
  POST /v1beta/models/<model>:countTokens                {"totalTokens": ...}
  POST /v1beta/models/<model>:embedContent / :batchEmbedContents
  GET  /v1beta/models, /v1beta/models/<model>            a minimal model list / model

Every model call carries ``usageMetadata`` with fixed counts: prompt 100 (20 of them cached),
candidates 7, thoughts 3, total 110. A request asking for JSON (``responseMimeType``
``application/json``, as Gemini CLI's router and next-speaker checks do) gets an object built from
its schema. Every request is appended to --log as one JSON line (the key redacted); a path this
server does not know is logged, answered 404 and named on standard error.

Modes (--mode):
  text   the answer is the text "hi".
  tool   if the request declares run_shell_command (else write_file) and holds no functionResponse
         yet, the answer is a functionCall running ``echo hi`` (writing hi.txt); afterwards text.
  error  every model call answers HTTP --error-status (500 or 429) with a Google error body.
  flaky  the first --fail-count model calls fail, then behave like ``tool``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ARGS: argparse.Namespace
_lock = threading.Lock()
_calls = itertools.count(1)
SECRET_HEADERS = {"authorization", "cookie", "x-goog-api-key", "api-key"}
USAGE = {
    "promptTokenCount": 100,
    "candidatesTokenCount": 7,
    "cachedContentTokenCount": 20,
    "thoughtsTokenCount": 3,
    "totalTokenCount": 110,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}],
    "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 20}],
}
STATUS_NAMES = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def log_request(handler: BaseHTTPRequestHandler, body: Any, raw_len: int, known: bool) -> None:
    headers = {k: ("<redacted>" if k.lower() in SECRET_HEADERS else v) for k, v in handler.headers.items()}
    path = handler.path.split("key=", 1)[0] + ("key=<redacted>" if "key=" in handler.path else "")
    with _lock, open(ARGS.log, "a") as f:
        f.write(
            json.dumps(
                {
                    "t": time.time(),
                    "method": handler.command,
                    "path": path,
                    "known": known,
                    "headers": headers,
                    "body_len": raw_len,
                    "body": body,
                }
            )
            + "\n"
        )
    sys.stderr.write(
        f"[fake_gemini] {handler.command} {path} ({raw_len}B){'' if known else ' UNKNOWN PATH'}\n"
    )


def declared_functions(req: dict[str, Any]) -> list[str]:
    names = []
    for tool in req.get("tools") or []:
        for declaration in (tool or {}).get("functionDeclarations") or []:
            if isinstance(declaration, dict) and isinstance(declaration.get("name"), str):
                names.append(declaration["name"])
    return names


def function_responses(req: dict[str, Any]) -> int:
    found = 0
    for content in req.get("contents") or []:
        for part in (content or {}).get("parts") or []:
            if isinstance(part, dict) and "functionResponse" in part:
                found += 1
    return found


def tool_call(req: dict[str, Any]) -> dict[str, Any] | None:
    """A functionCall for a tool the CLI declared, or None."""
    names = declared_functions(req)
    if "run_shell_command" in names:
        return {"name": "run_shell_command", "args": {"command": "echo hi", "description": "Say hi."}}
    if "write_file" in names:
        return {
            "name": "write_file",
            "args": {"file_path": ARGS.cwd.rstrip("/") + "/hi.txt", "content": "hi\n"},
        }
    return None


def from_schema(schema: Any) -> Any:
    """The smallest value that fits a JSON schema: first enum, empty list, every property filled."""
    if not isinstance(schema, dict):
        return "fake"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type", "string")).lower()
    if kind == "object":
        return {name: from_schema(sub) for name, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return False
    return "fake"


def json_wanted(req: dict[str, Any]) -> Any | None:
    config = req.get("generationConfig") or {}
    if config.get("responseMimeType") != "application/json":
        return None
    return from_schema(config.get("responseJsonSchema") or config.get("responseSchema") or {"type": "object"})


def candidate(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        out["finishReason"] = finish
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-gemini/1"

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def _read(self) -> tuple[bytes, Any]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(parts)
        else:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
        try:
            return raw, (json.loads(raw) if raw else None)
        except ValueError:
            return raw, raw.decode("utf-8", "replace")[:2000]

    def _json(self, code: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        if code == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def do_GET(self) -> None:
        raw, body = self._read()
        path = self.path.split("?", 1)[0].rstrip("/")
        if path.endswith("/models"):
            log_request(self, body, len(raw), True)
            self._json(200, {"models": [self._model(ARGS.model)]})
        elif "/models/" in path:
            log_request(self, body, len(raw), True)
            self._json(200, self._model(path.rsplit("/", 1)[1]))
        else:
            log_request(self, body, len(raw), False)
            self._json(404, {"error": {"code": 404, "message": "fake: not found", "status": "NOT_FOUND"}})

    @staticmethod
    def _model(name: str) -> dict[str, Any]:
        return {
            "name": f"models/{name}",
            "displayName": name,
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }

    def do_POST(self) -> None:
        raw, req = self._read()
        path = self.path.split("?", 1)[0]
        action = path.rsplit(":", 1)[1] if ":" in path.rsplit("/", 1)[-1] else ""
        req = req if isinstance(req, dict) else {}
        known = action in (
            "generateContent",
            "streamGenerateContent",
            "countTokens",
            "embedContent",
            "batchEmbedContents",
        )
        log_request(self, req, len(raw), known)
        if action == "countTokens":
            self._json(200, {"totalTokens": USAGE["promptTokenCount"]})
        elif action == "embedContent":
            self._json(200, {"embedding": {"values": [0.0] * 8}})
        elif action == "batchEmbedContents":
            self._json(200, {"embeddings": [{"values": [0.0] * 8} for _ in req.get("requests") or []]})
        elif action in ("generateContent", "streamGenerateContent"):
            self._generate(path, req, stream=action == "streamGenerateContent", sse="alt=sse" in self.path)
        else:
            self._json(404, {"error": {"code": 404, "message": "fake: not found", "status": "NOT_FOUND"}})

    def _generate(self, path: str, req: dict[str, Any], stream: bool, sse: bool) -> None:
        number = next(_calls)
        if ARGS.latency_ms:
            time.sleep(ARGS.latency_ms / 1000.0)
        if ARGS.mode == "error" or (ARGS.mode == "flaky" and number <= ARGS.fail_count):
            status = ARGS.error_status
            self._json(
                status,
                {
                    "error": {
                        "code": status,
                        "message": f"fake {status} error",
                        "status": STATUS_NAMES.get(status, "UNKNOWN"),
                    }
                },
            )
            return
        model = path.rsplit("/", 1)[-1].split(":", 1)[0]
        wanted = json_wanted(req)
        call = None
        if wanted is None and ARGS.mode in ("tool", "flaky") and function_responses(req) == 0:
            call = tool_call(req)
        if wanted is not None:
            chunks = [[{"text": json.dumps(wanted)}]]
        elif call is not None:
            chunks = [[{"functionCall": call}]]
        else:
            chunks = [[{"text": "h"}], [{"text": "i"}]]
        head = {"modelVersion": model, "responseId": uuid.uuid4().hex[:22]}
        responses = [dict(head, candidates=[candidate(parts, None)]) for parts in chunks]
        responses[-1]["candidates"][0]["finishReason"] = "STOP"
        responses[-1]["usageMetadata"] = USAGE
        if not stream:
            whole = [part for parts in chunks for part in parts]
            merged = (
                [{"text": "".join(p["text"] for p in whole)}] if all("text" in p for p in whole) else whole
            )
            self._json(200, dict(head, candidates=[candidate(merged, "STOP")], usageMetadata=USAGE))
            return
        if not sse:
            self._json(200, responses)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for response in responses:
            self._chunk(f"data: {json.dumps(response)}\r\n\r\n".encode())
        self._chunk(b"")


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=19050)
    parser.add_argument("--mode", default="tool", choices=["text", "tool", "error", "flaky"])
    parser.add_argument("--error-status", type=int, default=500)
    parser.add_argument("--fail-count", type=int, default=1)
    parser.add_argument("--latency-ms", type=int, default=0, help="sleep before answering each model call")
    parser.add_argument("--model", default="gemini-2.5-flash", help="the model GET /models lists")
    parser.add_argument("--cwd", default=".", help="directory of the file the write_file call names")
    parser.add_argument("--log", default="fake_gemini.requests.jsonl")
    ARGS = parser.parse_args()
    server = ThreadingHTTPServer((ARGS.host, ARGS.port), Handler)
    server.daemon_threads = True
    sys.stderr.write(f"[fake_gemini] mode={ARGS.mode} on http://{ARGS.host}:{ARGS.port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
