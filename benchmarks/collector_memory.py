"""Where the collector's memory goes under steady load, in one process and without HTTP.

    python benchmarks/collector_memory.py                       # 5 min at 20 000 events/s, SQLite store
    python benchmarks/collector_memory.py --minutes 8 --tracemalloc --types
    GLIBC_TUNABLES=glibc.malloc.arena_max=2 python benchmarks/collector_memory.py

It feeds the real :class:`~agentwatch.collector.service.Collector` (with its store in a temporary
directory) the soak's events (:func:`soak.event_bodies`), decoded as the ingest route decodes them,
at ``--rate`` events/s, while ``--viewers`` log subscriptions read the hub's frames in this process,
``--slow`` of them too slowly (so they skip ahead and are told), and the metrics tick runs. Every
``--interval`` seconds it prints one row that separates the kinds of memory:

* ``RSS`` and its anonymous part (``anon``) from ``/proc/self/status``;
* ``blocks``: millions of Python objects alive (``sys.getallocatedblocks()``); ``pyarena``: MiB of
  pymalloc arenas held, ``pyused``: MiB of small objects in them (``sys._debugmallocstats``) — the
  difference is free space pinned in arenas that still hold a live object;
* ``heap``: MiB glibc malloc holds from the system outside mmapped chunks, all its arenas together
  (``mallinfo2().arena``), ``used`` of it, ``free`` in it (kept, not returned), ``mmap``: MiB in
  mmapped chunks, ``arenas``: malloc arenas (``malloc_info``) — the store's writer thread has its own;
* ``sqlite``: MiB SQLite has allocated (``sqlite3_memory_used``), page caches included;
* ``queued``: the most rows waiting for the store's writer since the last row.

``--tracemalloc`` adds the top growth by line between the end of the warm-up and the end;
``--types`` the object types whose count grew. Both slow the run down. The knobs to test a
cause: ``--cache-kib`` (the store's page cache per connection), ``--trim`` (return free heap pages
once a second, as ``agentwatch serve`` does: :class:`~agentwatch.collector.server.HeapTrimmer`),
``--no-store``; glibc's own through ``GLIBC_TUNABLES``.

Linux and glibc only (the malloc figures read ``nan`` elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import os
import re
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from soak import event_bodies

from agentwatch.collector import store as store_module
from agentwatch.collector.ingest import decode_events
from agentwatch.collector.server import HeapTrimmer
from agentwatch.collector.service import Collector, Settings

MIB = 1024 * 1024


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _Mallinfo2
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        return libc
    except (OSError, AttributeError):
        return None


def _libsqlite() -> ctypes.CDLL | None:
    """The SQLite library the ``sqlite3`` module uses (the same loaded copy, so the same counters)."""
    name = ctypes.util.find_library("sqlite3")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return lib
    except (OSError, AttributeError):
        return None


LIBC = _libc()
SQLITE = _libsqlite()


def proc_status() -> dict[str, float]:
    """VmRSS / RssAnon / RssFile / RssShmem in MiB."""
    values: dict[str, float] = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                values[key] = int(rest.split()[0]) / 1024
    return values


def pymalloc_mib() -> tuple[float, float]:
    """MiB of pymalloc arenas held, and of blocks in use in them (``sys._debugmallocstats``, on fd 2)."""
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    held = re.search(r"arenas \* \d+ bytes/arena\s*=\s*([\d,]+)", text)
    used = re.search(r"# bytes in allocated blocks\s*=\s*([\d,]+)", text)
    if not held or not used:
        return float("nan"), float("nan")
    return int(held.group(1).replace(",", "")) / MIB, int(used.group(1).replace(",", "")) / MIB


def malloc_arenas() -> int:
    """How many malloc arenas (heaps) glibc has, from ``malloc_info``; -1 when unknown."""
    if LIBC is None:
        return -1
    with tempfile.NamedTemporaryFile(suffix=".xml") as out:
        stream = LIBC.fopen(out.name.encode(), b"w")
        if not stream:
            return -1
        LIBC.malloc_info(0, stream)
        LIBC.fclose(stream)
        return len(re.findall(rb"<heap nr=", Path(out.name).read_bytes()))


def sample(started: float, events: int) -> dict[str, float]:
    row: dict[str, float] = {"t": time.monotonic() - started, "events": events}
    status = proc_status()
    row["rss"] = status.get("VmRSS", float("nan"))
    row["anon"] = status.get("RssAnon", float("nan"))
    row["blocks"] = sys.getallocatedblocks() / 1e6
    row["pyarena"], row["pyused"] = pymalloc_mib()
    nan = float("nan")
    info = LIBC.mallinfo2() if LIBC is not None else None
    row["heap"] = info.arena / MIB if info else nan
    row["used"] = info.uordblks / MIB if info else nan
    row["free"] = info.fordblks / MIB if info else nan
    row["mmap"] = info.hblkhd / MIB if info else nan
    row["arenas"] = malloc_arenas()
    row["sqlite"] = SQLITE.sqlite3_memory_used() / MIB if SQLITE is not None else nan
    return row


COLUMNS = (
    ("t", "{:6.0f}"),
    ("events", "{:10.0f}"),
    ("rss", "{:7.1f}"),
    ("anon", "{:7.1f}"),
    ("blocks", "{:7.3f}"),
    ("pyarena", "{:7.1f}"),
    ("pyused", "{:7.1f}"),
    ("heap", "{:7.1f}"),
    ("used", "{:7.1f}"),
    ("free", "{:7.1f}"),
    ("mmap", "{:6.1f}"),
    ("arenas", "{:6.0f}"),
    ("sqlite", "{:6.1f}"),
    ("queued", "{:7.0f}"),
)


def print_row(row: dict[str, float]) -> None:
    print(" ".join(fmt.format(row[name]).rjust(len(fmt.format(0))) for name, fmt in COLUMNS), flush=True)


def type_counts() -> Counter[str]:
    return Counter(type(obj).__qualname__ for obj in gc.get_objects())


async def read_slowly(frames: object, per_second: float) -> None:
    """Consume a subscription at about ``per_second`` entries (lines counted by their ``id:``)."""
    started = time.monotonic()
    taken = 0
    async for batch in frames:  # type: ignore[attr-defined]  # the stream object is typed loosely here
        taken += batch.count(b"\nevent: log")
        ahead = taken / per_second - (time.monotonic() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)


async def drive(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="agentwatch-memory-"))
    if args.cache_kib is not None:
        original = store_module.Store._connect

        def connect(self: store_module.Store) -> object:
            conn = original(self)
            conn.execute(f"PRAGMA cache_size=-{args.cache_kib}")
            return conn

        store_module.Store._connect = connect  # type: ignore[method-assign]  # measure the store's connection on purpose
    settings = Settings(store_path=None if args.no_store else workdir / "memory.db")
    collector = Collector(settings)
    await collector.start()
    per_request = max(1, int(args.rate / 20))
    bodies = event_bodies(per_request)
    tasks = []
    for index in range(args.viewers):
        subscription = collector.logs.subscribe(after=collector.logs.last_id)
        speed = args.slow_rate if index < args.slow else args.rate * 2
        tasks.append(asyncio.create_task(read_slowly(subscription.frames(), speed)))
    for _ in range(2):
        tasks.append(asyncio.create_task(read_slowly(collector.metrics.subscribe(None).frames(), 1e9)))
    seconds = args.minutes * 60
    warmup = args.warmup if args.warmup is not None else min(300.0, seconds / 3)
    interval = per_request / args.rate
    started = time.monotonic()
    next_at = next_sample = started
    fed = requests = peak_queued = 0
    rows: list[dict[str, float]] = []
    baseline_types: Counter[str] | None = None
    baseline_trace: tracemalloc.Snapshot | None = None
    trimmer = HeapTrimmer().start() if args.trim else None
    if args.tracemalloc:
        tracemalloc.start(1)
    print(" ".join(name.rjust(len(fmt.format(0))) for name, fmt in COLUMNS))
    try:
        while (now := time.monotonic()) - started < seconds:
            events, _ = decode_events(
                bodies[requests % len(bodies)], "application/json", now=collector.clock()
            )
            collector.ingest(events)
            fed += len(events)
            requests += 1
            if collector.store is not None:
                peak_queued = max(peak_queued, collector.store.queued_rows)
            next_at += interval
            if now >= next_sample:
                next_sample += args.interval
                rows.append(sample(started, fed))
                rows[-1]["queued"], peak_queued = peak_queued, 0
                print_row(rows[-1])
                if baseline_types is None and now - started >= warmup:
                    if args.types:
                        baseline_types = type_counts()
                    if args.tracemalloc:
                        baseline_trace = tracemalloc.take_snapshot()
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)
                if delay < -1.0:
                    next_at = time.monotonic()
        rows.append(sample(started, fed))
        rows[-1]["queued"] = peak_queued
        print_row(rows[-1])
        report(rows, warmup, seconds, fed)
        if args.types and baseline_types is not None:
            grown = type_counts()
            grown.subtract(baseline_types)
            print("\nobject types whose count grew after the warm-up:")
            for name, count in grown.most_common(15):
                if count > 0:
                    print(f"  {count:+10d}  {name}")
        if args.tracemalloc and baseline_trace is not None:
            print("\ntracemalloc: top growth by line after the warm-up:")
            for stat in tracemalloc.take_snapshot().compare_to(baseline_trace, "lineno")[:15]:
                print(f"  {stat}")
    finally:
        if trimmer is not None:
            trimmer.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        collector.logs.close_all()
        collector.metrics.close_all()
        await collector.stop()
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return 0


def report(rows: list[dict[str, float]], warmup: float, seconds: float, fed: int) -> None:
    after = [row for row in rows if row["t"] >= warmup] or rows[-1:]
    print(f"\n{fed} events in {seconds:.0f} s ({fed / seconds:.0f}/s); after the {warmup:.0f} s warm-up:")
    for name in ("rss", "anon", "pyarena", "pyused", "heap", "used", "free", "mmap", "sqlite"):
        first, values = after[0][name], [row[name] for row in after]
        low = min(values)
        spread = (max(values) - low) / low * 100 if low > 0 else float("nan")
        print(
            f"  {name:8} {first:7.1f} → {after[-1][name]:7.1f} MiB (range {low:.1f}–{max(values):.1f}, {spread:.1f} %)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=20_000.0, help="events per second")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=None, help="seconds (default: a third, ≤ 300)")
    parser.add_argument("--viewers", type=int, default=20, help="log subscriptions read in this process")
    parser.add_argument("--slow", type=int, default=10, help="how many of them read slowly")
    parser.add_argument("--slow-rate", type=float, default=12_000.0, help="entries/s a slow viewer reads")
    parser.add_argument("--no-store", action="store_true")
    parser.add_argument("--cache-kib", type=int, default=None, help="the store's page cache per connection")
    parser.add_argument("--trim", action="store_true", help="return free heap pages once a second")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--types", action="store_true", help="count objects by type (gc)")
    args = parser.parse_args()
    return asyncio.run(drive(args))


if __name__ == "__main__":
    sys.exit(main())
