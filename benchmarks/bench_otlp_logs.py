"""CPU cost of OTLP log ingest per record, against the native path in the same run, in process.

    python benchmarks/bench_otlp_logs.py                # ~20 s
    python benchmarks/bench_otlp_logs.py --repeats 9 --bodies 30

Four workloads, each a set of ``--bodies`` distinct request bodies of ``--batch`` records:

- Claude Code log records (``claude_code.*`` events), built from the capture in
  ``tests/fixtures/otlp/claude/protobuf-tool/`` (user prompt, tool decisions and results, API
  requests, assistant responses): the turn repeats, each with its own session (one of
  ``--sessions``), user, prompt and request ids, trace and span ids, timestamps, token
  counts, costs and durations, so no two bodies are alike. Sent as OTLP protobuf and as
  OTLP/JSON (the JavaScript exporter's style: hex ids, times as strings).
- Generic log records: a plain string body and a severity, no convention, from services
  drawn from a fleet of ``--sessions``; OTLP protobuf.
- The native path on the equivalent events: each OTLP body is decoded once beforehand and
  its events encoded as a native JSON array, so both paths carry the same events.

A path's cost is the CPU time (``time.process_time``) of decoding the body
(``otlp.decode_logs`` or ``ingest.decode_events``) and ingesting its events
(``Collector.ingest``), as the HTTP routes do, without HTTP. Each path has its own collector,
warmed up first (log ring full); the tick (alerts, snapshots) runs between rounds, untimed.
Rounds alternate between the paths, the garbage collector is paused while timing, and each
figure is the best of ``--repeats`` rounds. The machine is shared: compare ratios within
one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from agentwatch.collector import ingest, otlp
from agentwatch.collector.service import Collector, Settings

try:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
except ImportError:  # pragma: no cover - the otlp extra
    sys.exit("needs opentelemetry-proto: pip install 'agentwatch[otlp]'")

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "otlp" / "claude" / "protobuf-tool"
MODELS = ["claude-opus-4-8", "claude-sonnet-4-5", "claude-haiku-4-5"]
LEVELS = [(9, "INFO"), (9, "INFO"), (9, "INFO"), (5, "DEBUG"), (13, "WARN"), (17, "ERROR")]


@dataclass
class IngestPath:
    """One ingest path: its bodies, how it decodes them, and its own collector."""

    name: str
    bodies: list[bytes]
    decode: Callable[[bytes], list[Any]]
    records: int
    collector: Collector
    best: float = float("inf")
    best_decode: float = 0.0


def fixture_logs() -> ExportLogsServiceRequest:
    index = json.loads((FIXTURE / "requests.json").read_text())
    entry = next(e for e in index["requests"] if e["signal"] == "logs")
    request = ExportLogsServiceRequest()
    request.ParseFromString((FIXTURE / entry["file"]).read_bytes())
    return request


def claude_bodies(
    template: ExportLogsServiceRequest, bodies: int, batch: int, sessions: int, seed: int
) -> list[bytes]:
    """``bodies`` ExportLogsServiceRequests of ``batch`` Claude Code records each, all distinct."""
    rng = random.Random(seed)
    turn = [record for rl in template.resource_logs for sl in rl.scope_logs for record in sl.log_records]
    resource = template.resource_logs[0].resource
    scope = template.resource_logs[0].scope_logs[0].scope
    session_ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(sessions)]
    user_ids = {s: f"{rng.getrandbits(256):064x}" for s in session_ids}
    sequence = dict.fromkeys(session_ids, 0)
    clock_ns = time.time_ns() - 60_000_000_000
    out = []
    for _ in range(bodies):
        records = []
        while len(records) < batch:
            session = rng.choice(session_ids)
            prompt_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            trace_id = rng.randbytes(16)
            model = rng.choice(MODELS)
            request_id = tool_use_id = ""
            for original in turn[: batch - len(records)]:
                clock_ns += rng.randrange(1_000_000, 40_000_000)
                record = LogRecord()
                record.CopyFrom(original)
                record.time_unix_nano = record.observed_time_unix_nano = clock_ns
                record.trace_id = trace_id
                record.span_id = rng.randbytes(8)
                stamp = datetime.fromtimestamp(clock_ns / 1e9, UTC).isoformat(timespec="milliseconds")
                event = next(a.value.string_value for a in record.attributes if a.key == "event.name")
                if event == "api_request":
                    request_id = f"req_{rng.getrandbits(96):024x}"
                elif event == "tool_decision":
                    tool_use_id = f"toolu_{rng.getrandbits(96):024x}"
                tokens_in, tokens_out = rng.randint(10, 20_000), rng.randint(1, 2_000)
                cache_read, cache_creation = rng.randint(0, 50_000), rng.randint(0, 5_000)
                cost = round(
                    (tokens_in * 5 + tokens_out * 25 + cache_read * 0.5 + cache_creation * 6.25) / 1e6, 6
                )
                for attribute in record.attributes:
                    key, value = attribute.key, attribute.value
                    if key == "session.id":
                        value.string_value = session
                    elif key == "user.id":
                        value.string_value = user_ids[session]
                    elif key == "prompt.id":
                        value.string_value = prompt_id
                    elif key == "event.timestamp":
                        value.string_value = stamp.replace("+00:00", "Z")
                    elif key == "event.sequence":
                        value.int_value = sequence[session]
                    elif key == "model":
                        value.string_value = model
                    elif key == "input_tokens":
                        value.int_value = tokens_in
                    elif key == "output_tokens":
                        value.int_value = tokens_out
                    elif key == "cache_read_tokens":
                        value.int_value = cache_read
                    elif key == "cache_creation_tokens":
                        value.int_value = cache_creation
                    elif key == "cost_usd":
                        value.double_value = cost
                    elif key == "cost_usd_micros":
                        value.int_value = round(cost * 1e6)
                    elif key == "duration_ms":
                        duration = rng.randint(5, 30_000)
                        if value.HasField("string_value"):
                            value.string_value = str(duration)
                        else:
                            value.int_value = duration
                    elif key == "request_id":
                        value.string_value = request_id
                    elif key == "tool_use_id":
                        value.string_value = tool_use_id
                    elif key in ("response_length", "prompt_length"):
                        length = rng.randint(1, 4000)
                        if value.HasField("string_value"):
                            value.string_value = str(length)
                        else:
                            value.int_value = length
                sequence[session] += 1
                records.append(record)
        request = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(resource=resource, scope_logs=[ScopeLogs(scope=scope, log_records=records)])
            ]
        )
        out.append(request.SerializeToString())
    return out


def generic_bodies(bodies: int, batch: int, services: int, seed: int) -> list[bytes]:
    """``bodies`` requests of ``batch`` plain log records (string body, severity), ten services each."""
    rng = random.Random(seed)
    names = [f"worker-{i:03d}" for i in range(services)]
    verbs = ["fetched", "parsed", "retried", "stored", "skipped", "queued"]
    clock_ns = time.time_ns() - 60_000_000_000
    out = []
    per_resource = max(1, batch // 10)
    for _ in range(bodies):
        resource_logs = []
        left = batch
        while left:
            count = min(per_resource, left)
            left -= count
            records = []
            for _ in range(count):
                clock_ns += rng.randrange(100_000, 5_000_000)
                number, text = rng.choice(LEVELS)
                records.append(
                    LogRecord(
                        time_unix_nano=clock_ns,
                        observed_time_unix_nano=clock_ns,
                        severity_number=number,
                        severity_text=text,
                        body=AnyValue(
                            string_value=f"{rng.choice(verbs)} item {rng.getrandbits(32)} in {rng.randint(1, 900)} ms"
                        ),
                        trace_id=rng.randbytes(16),
                        span_id=rng.randbytes(8),
                    )
                )
            resource = Resource(
                attributes=[KeyValue(key="service.name", value=AnyValue(string_value=rng.choice(names)))]
            )
            resource_logs.append(ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=records)]))
        out.append(ExportLogsServiceRequest(resource_logs=resource_logs).SerializeToString())
    return out


def _json_value(value: AnyValue) -> dict[str, Any]:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return {"stringValue": value.string_value}
    if kind == "int_value":
        return {"intValue": value.int_value}
    if kind == "double_value":
        return {"doubleValue": value.double_value}
    if kind == "bool_value":
        return {"boolValue": value.bool_value}
    raise ValueError(f"no JSON for {kind}")


def _json_attributes(attributes: Any) -> list[dict[str, Any]]:
    return [{"key": a.key, "value": _json_value(a.value)} for a in attributes]


def as_otlp_json(body: bytes) -> bytes:
    """The same request as OTLP/JSON, the way the JavaScript exporter writes it."""
    request = ExportLogsServiceRequest()
    request.ParseFromString(body)
    resource_logs = []
    for rl in request.resource_logs:
        scope_logs = []
        for sl in rl.scope_logs:
            records = []
            for r in sl.log_records:
                record: dict[str, Any] = {
                    "timeUnixNano": str(r.time_unix_nano),
                    "observedTimeUnixNano": str(r.observed_time_unix_nano),
                }
                if r.severity_number:
                    record["severityNumber"] = r.severity_number
                    record["severityText"] = r.severity_text
                record["body"] = _json_value(r.body)
                record["attributes"] = _json_attributes(r.attributes)
                record["droppedAttributesCount"] = 0
                record["flags"] = r.flags
                record["traceId"] = r.trace_id.hex()
                record["spanId"] = r.span_id.hex()
                records.append(record)
            scope = {"name": sl.scope.name, "version": sl.scope.version}
            scope_logs.append({"scope": scope, "logRecords": records})
        resource = {"attributes": _json_attributes(rl.resource.attributes), "droppedAttributesCount": 0}
        resource_logs.append({"resource": resource, "scopeLogs": scope_logs})
    return json.dumps({"resourceLogs": resource_logs}, separators=(",", ":")).encode()


def decode_otlp(content_type: str) -> Callable[[bytes], list[Any]]:
    def decode(body: bytes) -> list[Any]:
        result = otlp.decode_logs(body, content_type)
        return result.events

    return decode


def decode_native(body: bytes) -> list[Any]:
    return ingest.decode_events(body, "application/json", now=time.time())[0]


def native_bodies(otlp_bodies: list[bytes]) -> list[bytes]:
    """Each OTLP body's events, decoded once, as a native JSON array."""
    return [msgspec.json.encode(otlp.decode_logs(b, otlp.PROTOBUF).events) for b in otlp_bodies]


def check(path: IngestPath) -> None:
    """Every record of every body becomes one event, nothing rejected."""
    total = 0
    for body in path.bodies:
        total += len(path.decode(body))
    if total != path.records:
        raise SystemExit(f"{path.name}: {total} events from {path.records} records")


def warm(path: IngestPath) -> None:
    """Fill the collector's log ring and let every agent appear once."""
    collector = path.collector
    needed = collector.settings.log_history + path.records
    seen = 0
    while seen < needed:
        for body in path.bodies:
            events = path.decode(body)
            collector.ingest(events)
            seen += len(events)
        tick(collector)


def tick(collector: Collector) -> None:
    collector.evaluate_alerts()
    collector.publish_metrics()


def one_round(path: IngestPath) -> None:
    """Decode and ingest every body once; keep the round if it is the path's cheapest so far."""
    decode, ingest_events, clock = path.decode, path.collector.ingest, time.process_time
    decoding = 0.0
    gc.collect()
    gc.disable()
    try:
        started = clock()
        for body in path.bodies:
            before = clock()
            events = decode(body)
            decoding += clock() - before
            ingest_events(events)
        elapsed = clock() - started
    finally:
        gc.enable()
    tick(path.collector)
    if elapsed * 1e6 / path.records < path.best:
        path.best = elapsed * 1e6 / path.records
        path.best_decode = decoding * 1e6 / path.records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=1000, help="log records per request")
    parser.add_argument("--bodies", type=int, default=20, help="distinct requests per path (one round)")
    parser.add_argument("--repeats", type=int, default=9, help="rounds per path; the best counts")
    parser.add_argument("--sessions", type=int, default=200, help="Claude Code sessions / generic services")
    options = parser.parse_args()
    started = time.monotonic()
    records = options.batch * options.bodies

    claude_pb = claude_bodies(fixture_logs(), options.bodies, options.batch, options.sessions, seed=1)
    claude_json = [as_otlp_json(b) for b in claude_pb]
    generic_pb = generic_bodies(options.bodies, options.batch, options.sessions, seed=2)

    def path(name: str, bodies: list[bytes], decode: Callable[[bytes], list[Any]]) -> IngestPath:
        return IngestPath(name, bodies, decode, records, Collector(Settings()))

    paths = [
        path("native JSON (Claude Code events)", native_bodies(claude_pb), decode_native),
        path("OTLP protobuf, Claude Code", claude_pb, decode_otlp(otlp.PROTOBUF)),
        path("OTLP JSON, Claude Code", claude_json, decode_otlp(otlp.JSON)),
        path("native JSON (generic log events)", native_bodies(generic_pb), decode_native),
        path("OTLP protobuf, generic logs", generic_pb, decode_otlp(otlp.PROTOBUF)),
    ]
    baseline = {paths[1].name: paths[0], paths[2].name: paths[0], paths[4].name: paths[3]}
    for p in paths:
        check(p)
        warm(p)

    for repeat in range(options.repeats):
        shift = repeat % len(paths)
        for p in paths[shift:] + paths[:shift]:
            one_round(p)

    print(
        f"{options.bodies} distinct requests x {options.batch} records per path, {options.sessions} sessions; "
        f"CPU time of decode + Collector.ingest, best of {options.repeats} alternating rounds, GC paused"
    )
    print(
        f"  {'path':<36} {'bytes/rec':>9} {'µs/rec':>7} {'decode':>7} {'ingest':>7}"
        f" {'records/s/core':>15} {'x native':>9}"
    )
    for p in paths:
        size = sum(len(b) for b in p.bodies) / p.records
        native = baseline.get(p.name)
        ratio = f"{p.best / native.best:8.2f}x" if native else f"{'1.00x':>9}"
        print(
            f"  {p.name:<36} {size:9.0f} {p.best:7.2f} {p.best_decode:7.2f} {p.best - p.best_decode:7.2f}"
            f" {1e6 / p.best:15,.0f} {ratio}"
        )
    print(
        "  (µs/rec = decode (+ OTLP mapping) + Collector.ingest; 'x native': µs/rec over the native path"
        f" on the same events; run took {time.monotonic() - started:.0f} s)"
    )


if __name__ == "__main__":
    main()
