"""What the SDK costs an agent, and how fast OTLP decodes compared with the native path.

    python benchmarks/bench_sdk.py [--calls 100000]

1. Caller-thread cost per record: a span (``with`` + ``set``, a bare ``with``, a decorated
   function), ``llm_call`` and ``log``; median and p99 in µs, median of 3 runs taken in
   turn. The sender is idle (long flush interval) so only the caller's work is measured.
   Target: span median ≤ 5 µs.
2. Collector down (closed port, default settings but a 50 ms flush interval and a heartbeat
   a second, so the sender is busier than by default): every call over ``--calls`` calls,
   against a loop without the SDK run for the same time in the same rounds, in alternating
   order. Each call over 0.25 ms is explained from thread CPU clocks, context-switch counts
   and GC runs: the SDK's sender thread, the hand-over of the interpreter lock to it, or the
   machine. Target: no call over 1 ms caused by the SDK.
3. Decode throughput, spans/s: OTLP protobuf and OTLP JSON in batches of 512 GenAI chat
   spans (16 distinct batches in turn: random token counts, ids and times; agents, models
   and providers drawn from a fleet), against the native JSON ingest decoder on the
   equivalent events.
4. Through real HTTP (``--http``): a collector subprocess (``agentwatch serve --port 0
   --no-store``) takes those protobuf batches on /v1/traces and the equivalent JSON
   batches on /api/events, one after the other; accepted events are counted server-side
   (/healthz ``events_total``) and the collector's CPU time is read from /proc, so the
   ratio holds on a shared, noisy machine. Target: OTLP protobuf ≥ 50 000 spans/s.

The machine is shared: compare ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import socket
import statistics
import time
from collections import deque
from collections.abc import Callable

import httpx
from _procs import cpu_seconds, start_collector

from agentwatch.collector import ingest, otlp
from agentwatch.protocol import PATH_EVENTS, PATH_HEALTH, PATH_OTLP_TRACES, SPAN_LLM_CALL, Event, json_encoder
from agentwatch.sdk import AgentTelemetry

BATCH = 512


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def time_calls(call: Callable[[], object], n: int) -> list[float]:
    """Per-call wall time in µs (perf_counter overhead, ~0.1 µs, included)."""
    clock = time.perf_counter
    samples = [0.0] * n
    for i in range(n):
        start = clock()
        call()
        samples[i] = (clock() - start) * 1e6
    return samples


def bench_caller_cost(n: int, runs: int = 3) -> None:
    """Median and p99 of each kind of record, ``runs`` runs of ``n`` calls taken in turn."""
    telemetry = AgentTelemetry(
        "bench",
        closed_port_url(),
        max_queue=2 * runs * 5 * (n + 2000),  # a span queues its start too
        flush_interval=3600,
        batch_size=10 * runs * n,
        heartbeat_interval=None,
        max_retries=0,
    )

    def span() -> None:
        with telemetry.span("llm_call", model="gpt-4o") as s:
            s.set(tokens_output=10)

    def bare_span() -> None:
        with telemetry.span("tool_call"):
            pass

    @telemetry.span("tool_call", tool_name="search")
    def decorated() -> None:
        pass

    def llm() -> None:
        telemetry.llm_call("gpt-4o", 100, 20, 12.5)

    def log() -> None:
        telemetry.log("info", "step done")

    calls = {
        "span (with + set)": span,
        "span (bare with)": bare_span,
        "decorated function": decorated,
        "llm_call": llm,
        "log": log,
    }
    medians: dict[str, list[float]] = {name: [] for name in calls}
    p99s: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            time_calls(call, 2000)  # warm up
            samples = time_calls(call, n)
            medians[name].append(statistics.median(samples))
            p99s[name].append(percentile(samples, 0.99))
    for name in calls:
        runs_text = ", ".join(f"{median:.2f}" for median in medians[name])
        print(
            f"  {name:<19} median {statistics.median(medians[name]):5.2f} µs (runs: {runs_text})   "
            f"p99 {statistics.median(p99s[name]):6.2f} µs"
        )
    assert telemetry.stats()["dropped"] == 0
    # With no retries the queued events fail at once: nothing of this section is left running.
    assert telemetry.close(timeout=10)


#: A call this slow (seconds) is explained: what ran meanwhile, and where.
EXPLAIN_OVER = 0.25e-3
CAUSES = {
    "sender": "the SDK's sender thread ran (holding the interpreter lock)",
    "handover": (
        "this thread blocked (handing the interpreter lock to the sender thread) and the sender "
        "did not run: the OS had not scheduled it"
    ),
    "gc": "this thread ran a garbage collection",
    "own": (
        "this thread was on its CPU, no GC: its own work, a page fault, or the host stalling the VM "
        "(the guest cannot tell them apart)"
    ),
    "preempted": "the OS ran another process on this thread's CPU",
    "no CPU": "no thread of this process ran and none was switched out: the VM lost its CPU (host) or the kernel took it",
}


def explained_calls(
    call: Callable[[], object], n: int, sender_ident: int | None
) -> tuple[list[float], list[tuple[float, str]]]:
    """Wall time in µs of ``n`` iterations of ``call``, timestamp to timestamp (a thread switch
    between two calls is counted too), and ``(µs, cause)`` for each iteration over
    :data:`EXPLAIN_OVER`, judged from counters read every 64 iterations and right after a slow
    one: the sender thread's and this thread's CPU time, this thread's voluntary and involuntary
    context switches, garbage collections. Reading them (clock_gettime, getrusage) does not
    release the interpreter lock, so it lets no other thread run."""
    clock = time.perf_counter
    own_cpu = time.thread_time
    sender_clock = time.pthread_getcpuclockid(sender_ident) if sender_ident else None
    clock_gettime = time.clock_gettime
    usage = resource.getrusage
    collections = [0]

    def sender_cpu() -> float:
        if sender_clock is None:
            return 0.0
        try:
            return clock_gettime(sender_clock)
        except OSError:  # the sender thread has ended
            return 0.0

    def count_collections(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections[0] += 1

    def counters() -> tuple[float, float, int, int, int]:
        switches = usage(resource.RUSAGE_THREAD)
        return own_cpu(), sender_cpu(), switches.ru_nvcsw, switches.ru_nivcsw, collections[0]

    samples = [0.0] * n
    slow: list[tuple[float, str]] = []
    gc.callbacks.append(count_collections)
    try:
        before = counters()
        last = clock()
        for i in range(n):
            if not i & 63:
                before = counters()
            call()
            now = clock()
            elapsed = now - last
            samples[i] = elapsed * 1e6
            if elapsed > EXPLAIN_OVER:
                after = counters()
                half = elapsed / 2
                if after[1] - before[1] >= half:
                    cause = "sender"
                elif after[2] > before[2]:  # it blocked: on the lock, the sender not yet running
                    cause = "handover"
                elif after[0] - before[0] >= half:
                    cause = "gc" if after[4] > before[4] else "own"
                elif after[3] > before[3]:
                    cause = "preempted"
                else:
                    cause = "no CPU"
                slow.append((elapsed * 1e6, cause))
                before = after
            last = now
    finally:
        gc.callbacks.remove(count_collections)
    return samples, slow


def over_1ms(slow: list[tuple[float, str]]) -> str:
    causes = [cause for elapsed, cause in slow if elapsed > 1000]
    tally = ", ".join(f"{causes.count(cause)} {cause}" for cause in CAUSES if cause in causes)
    return f">1 ms: {len(causes):3d}" + (f" ({tally})" if tally else "")


def distribution(samples: list[float], slow: list[tuple[float, str]]) -> str:
    return (
        f"p50 {statistics.median(samples):5.2f} µs  p99 {percentile(samples, 0.99):6.2f} µs  "
        f"p99.9 {percentile(samples, 0.999):7.2f} µs  max {max(samples) / 1000:6.2f} ms  {over_1ms(slow)}"
    )


def sdk_loop(n: int) -> tuple[list[float], list[tuple[float, str]]]:
    """``n`` llm_call records on a fresh telemetry object whose collector is down."""
    telemetry = AgentTelemetry("bench-down", closed_port_url(), flush_interval=0.05, heartbeat_interval=1.0)

    def record() -> None:
        telemetry.llm_call("gpt-4o", 100, 20, 12.5)

    try:
        return explained_calls(record, n, telemetry.sender_thread_ident)
    finally:
        telemetry.close(timeout=0.1)


def baseline_loop(seconds: float) -> tuple[list[float], list[tuple[float, str]]]:
    """The same Event built and kept in a bounded deque, no SDK, for ``seconds`` of calls."""
    ring: deque[Event] = deque(maxlen=10_000)
    append = ring.append

    def record() -> None:
        append(Event("bench-down", time.time(), SPAN_LLM_CALL, model="gpt-4o", tokens_input=100))

    samples, slow = explained_calls(record, 20_000, None)
    while sum(samples) / 1e6 < seconds:
        more, more_slow = explained_calls(record, 20_000, None)
        samples += more
        slow += more_slow
    return samples, slow


def bench_collector_down(n: int, rounds: int) -> None:
    """:func:`sdk_loop` against :func:`baseline_loop` for the same wall time, in the same
    rounds, in alternating order. Every call over 0.25 ms is explained (see
    :func:`explained_calls`), so the machine's stalls are told from the SDK's."""
    totals: dict[str, list[float]] = {"SDK": [], "no SDK": []}
    explained: dict[str, list[tuple[float, str]]] = {"SDK": [], "no SDK": []}
    seconds = 0.0
    for round_number in range(1, rounds + 1):
        results: dict[str, tuple[list[float], list[tuple[float, str]]]] = {}
        if round_number % 2 or not seconds:
            results["SDK"] = sdk_loop(n)
            seconds = sum(results["SDK"][0]) / 1e6
            results["no SDK"] = baseline_loop(seconds)
        else:  # the baseline first, for as long as the last SDK loop took
            results["no SDK"] = baseline_loop(seconds)
            results["SDK"] = sdk_loop(n)
            seconds = sum(results["SDK"][0]) / 1e6
        order = "SDK first" if round_number % 2 else "no SDK first"
        print(f"  round {round_number} ({order}): {n} SDK calls in {seconds:.2f} s, the baseline for as long")
        for name, label in (("SDK", "SDK, collector down"), ("no SDK", "same time, no SDK")):
            samples, slow = results[name]
            print(f"    {label:<20} {distribution(samples, slow)}")
            totals[name].append(max(samples))
            explained[name] += slow
    print(f"  all {rounds} rounds, calls over {EXPLAIN_OVER * 1000:.2f} ms by cause (count, worst):")
    for name in ("SDK", "no SDK"):
        slow = explained[name]
        by_cause = "; ".join(
            f"{cause} {sum(1 for _, c in slow if c == cause)}, {max(e for e, c in slow if c == cause) / 1000:.2f} ms"
            for cause in CAUSES
            if any(c == cause for _, c in slow)
        )
        print(
            f"    {name:<7} max {max(totals[name]) / 1000:6.2f} ms  {over_1ms(slow)}  [{by_cause or 'none'}]"
        )
    for cause, meaning in CAUSES.items():
        print(f"    {cause}: {meaning}")


#: Distinct batches each OTLP measurement cycles through: sending one batch over and over
#: would let every token count and id repeat, which real traffic does not.
DISTINCT_BATCHES = 16
AGENTS = 50
MODELS = (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4"))


def genai_attributes(rng: random.Random) -> dict[str, object]:
    """A GenAI chat span's attributes: categorical values from a fleet, counts drawn at random."""
    provider, model = rng.choice(MODELS)
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": rng.randint(50, 12_000),
        "gen_ai.usage.output_tokens": rng.randint(5, 1_500),
        "gen_ai.agent.name": f"agent-{rng.randrange(AGENTS)}",
    }


def recent_ns() -> int:
    """Where a benchmark's spans start: 20 s ago, so that they end within the collector's
    window (60 s) as a live exporter's do, and count as on time."""
    return time.time_ns() - 20_000_000_000


def chat_spans(seed: int, anchor_ns: int) -> list[tuple[bytes, bytes, int, int, dict[str, object]]]:
    """One batch of spans from ``anchor_ns`` on: (trace id, span id, start ns, end ns, attributes)."""
    rng = random.Random(seed)
    base = anchor_ns + seed * 1_000_000_000
    spans = []
    for i in range(BATCH):
        start = base + i * 1_000_000 + rng.randrange(1_000_000)
        spans.append(
            (
                rng.randbytes(16),
                rng.randbytes(8),
                start,
                start + rng.randint(50_000_000, 3_000_000_000),
                genai_attributes(rng),
            )
        )
    return spans


def otlp_protobuf_batch(seed: int, anchor_ns: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    def kv(key: str, value: object) -> KeyValue:
        any_value = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=str(value))
        return KeyValue(key=key, value=any_value)

    spans = [
        Span(
            trace_id=trace_id,
            span_id=span_id,
            name=f"chat {attributes['gen_ai.request.model']}",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
            attributes=[kv(k, v) for k, v in attributes.items()],
        )
        for trace_id, span_id, start, end, attributes in chat_spans(seed, anchor_ns)
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=[kv("service.name", "bench")]),
                scope_spans=[ScopeSpans(spans=spans)],
            )
        ]
    )
    return request.SerializeToString()


def otlp_json_batch(seed: int, anchor_ns: int) -> bytes:
    """The same request in OTLP JSON (hex ids, int64 as strings)."""
    spans = []
    for trace_id, span_id, start, end, attributes in chat_spans(seed, anchor_ns):
        pairs = []
        for key, value in attributes.items():
            typed = {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}
            pairs.append({"key": key, "value": typed})
        spans.append(
            {
                "traceId": trace_id.hex(),
                "spanId": span_id.hex(),
                "name": f"chat {attributes['gen_ai.request.model']}",
                "kind": 3,
                "startTimeUnixNano": str(start),
                "endTimeUnixNano": str(end),
                "attributes": pairs,
            }
        )
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "bench"}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}).encode()


def native_batch(pb_body: bytes) -> bytes:
    """The events an OTLP batch maps to, as a native /api/events body."""
    return json_encoder.encode(otlp.decode_traces(pb_body, otlp.PROTOBUF).events)


def throughput(decode: Callable[[bytes], object], bodies: list[bytes], seconds: float = 1.0) -> float:
    """Spans decoded per second of this thread's CPU time (time the OS gave to other
    processes on a shared machine does not count), best of three runs; ``bodies`` in turn."""
    decode(bodies[0])
    best = 0.0
    for _ in range(3):
        rounds, start = 0, time.thread_time()
        while time.thread_time() - start < seconds / 3:
            decode(bodies[rounds % len(bodies)])
            rounds += 1
        best = max(best, rounds * BATCH / (time.thread_time() - start))
    return best


def bench_decoders() -> None:
    anchor = recent_ns()
    pb_bodies = [otlp_protobuf_batch(seed, anchor) for seed in range(DISTINCT_BATCHES)]
    json_bodies = [otlp_json_batch(seed, anchor) for seed in range(DISTINCT_BATCHES)]
    native_bodies = [native_batch(body) for body in pb_bodies]
    for pb_body, json_body, native_body in zip(pb_bodies, json_bodies, native_bodies, strict=True):
        events = otlp.decode_traces(pb_body, otlp.PROTOBUF).events
        assert len(events) == BATCH and otlp.decode_traces(json_body, otlp.JSON).events == events
        assert ingest.decode_events(native_body, "application/json", now=time.time())[0] == events
    routes: dict[str, tuple[Callable[[bytes], object], list[bytes]]] = {
        "OTLP protobuf": (lambda body: otlp.decode_traces(body, otlp.PROTOBUF), pb_bodies),
        "OTLP JSON": (lambda body: otlp.decode_traces(body, otlp.JSON), json_bodies),
        "native JSON ingest": (
            lambda body: ingest.decode_events(body, "application/json", now=time.time()),
            native_bodies,
        ),
    }
    rates = {name: throughput(decode, bodies) for name, (decode, bodies) in routes.items()}
    native = rates["native JSON ingest"]
    for name, rate in rates.items():
        per_span = sum(map(len, routes[name][1])) / len(routes[name][1]) / BATCH
        print(
            f"  {name:<20} {rate:>10,.0f} spans/CPU-s  ({1e6 / rate:5.1f} µs/span, {per_span:.0f} B/span, "
            f"{rate / native:.2f}x native)"
        )


def events_total(client: httpx.Client, url: str) -> int:
    return int(client.get(url + PATH_HEALTH).json()["events_total"])


def bench_http(batches: int) -> None:
    anchor = recent_ns()
    pb_bodies = [otlp_protobuf_batch(seed, anchor) for seed in range(DISTINCT_BATCHES)]
    native_bodies = [native_batch(body) for body in pb_bodies]
    process, url = start_collector(stderr=None)
    routes = {
        "OTLP protobuf /v1/traces": (PATH_OTLP_TRACES, pb_bodies, otlp.PROTOBUF),
        "native JSON /api/events": (PATH_EVENTS, native_bodies, "application/json"),
    }
    results: dict[str, tuple[float, float]] = {}
    try:
        with httpx.Client(timeout=30) as client:
            for _ in range(2):  # warm up both routes
                for path, bodies, media in routes.values():
                    headers = {"content-type": media}
                    client.post(url + path, content=bodies[0], headers=headers).raise_for_status()
            for name, (path, bodies, media) in routes.items():
                headers = {"content-type": media}
                before, cpu_before = events_total(client, url), cpu_seconds(process.pid)
                start = time.perf_counter()
                for i in range(batches):
                    body = bodies[i % len(bodies)]
                    client.post(url + path, content=body, headers=headers).raise_for_status()
                expected = before + batches * BATCH
                deadline = time.monotonic() + 30
                while (total := events_total(client, url)) < expected and time.monotonic() < deadline:
                    time.sleep(0.01)
                elapsed = time.perf_counter() - start
                cpu = cpu_seconds(process.pid) - cpu_before
                accepted = total - before
                assert accepted == batches * BATCH, f"{name}: {accepted} accepted of {batches * BATCH}"
                results[name] = (accepted / elapsed, cpu / accepted * 1e6)
    finally:
        process.terminate()
        process.wait(timeout=10)
    native_rate, native_cpu = results["native JSON /api/events"]
    print(
        f"  {batches} batches of {BATCH} per route ({DISTINCT_BATCHES} distinct), counted by the collector:"
    )
    columns = ("spans/s (wall)", "vs native", "collector CPU/span", "vs native")
    print(f"  {'route':<26} {columns[0]:>15} {columns[1]:>10} {columns[2]:>19} {columns[3]:>10}")
    for name, (rate, cpu_per_span) in results.items():
        print(
            f"  {name:<26} {rate:>15,.0f} {rate / native_rate:>9.2f}x "
            f"{cpu_per_span:>16.1f} µs {cpu_per_span / native_cpu:>9.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=4, help="collector-down rounds")
    parser.add_argument(
        "--http", type=int, default=40, metavar="BATCHES", help="batches per HTTP route (0: skip)"
    )
    args = parser.parse_args()
    print("caller-thread cost per record (sender idle):")
    bench_caller_cost(min(args.calls, 50_000))
    print("collector down, default settings:")
    bench_collector_down(args.calls, args.rounds)
    print(f"decode throughput, batches of {BATCH}:")
    bench_decoders()
    if args.http:
        print("through HTTP, collector subprocess:")
        bench_http(args.http)


if __name__ == "__main__":
    main()
