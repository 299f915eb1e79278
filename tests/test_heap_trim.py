"""The collector hands the C heap's free pages back to the system (agentwatch.collector.server)."""

from __future__ import annotations

import time

import pytest

from agentwatch.collector.server import HeapTrimmer, glibc_malloc_trim

MIB = 1024 * 1024
needs_glibc = pytest.mark.skipif(glibc_malloc_trim() is None, reason="malloc_trim is glibc's")


def rss_anon_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon in /proc/self/status")


@needs_glibc
def test_trim_returns_freed_pages_from_the_middle_of_the_heap() -> None:
    trim = glibc_malloc_trim()
    assert trim is not None
    trim()
    # 24 MiB of 64 KiB buffers, each followed by a 4 KB one that stays (too big for the free lists,
    # so it comes from the top of the heap), so that once the big ones are freed their space is in
    # the middle of the heap, where glibc keeps it.
    buffers, pins = [], []
    for i in range(384):
        buffers.append(b"x" * (64 * 1024 - i))
        pins.append(b"y" * (4000 + i))
    before_free = rss_anon_mib()
    del buffers
    held = rss_anon_mib()
    assert held > before_free - 6  # glibc kept (nearly) all of it
    trim()
    assert held - rss_anon_mib() >= 12
    assert len(pins) == 384


@needs_glibc
def test_heap_trimmer_trims_every_interval_until_stopped() -> None:
    trimmer = HeapTrimmer(interval=0.01).start()
    try:
        deadline = time.monotonic() + 10
        while trimmer.trims < 3:
            assert time.monotonic() < deadline, "the trimmer did not run"
            time.sleep(0.01)
    finally:
        trimmer.stop()
    trims = trimmer.trims
    time.sleep(0.05)
    assert trimmer.trims == trims


def test_heap_trimmer_is_a_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agentwatch.collector.server.glibc_malloc_trim", lambda: None)
    trimmer = HeapTrimmer(interval=0.01)
    assert not trimmer.available
    trimmer.start()
    trimmer.stop()
    assert trimmer.trims == 0
