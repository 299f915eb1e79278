"""The collector hands the C heap's free pages back to the system (agentwatch.collector.server)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import pytest

from agentwatch.collector.server import HeapTrimmer, glibc_malloc_trim
from tests.helpers import wait_until

needs_glibc = pytest.mark.skipif(glibc_malloc_trim() is None, reason="malloc_trim is glibc's")

#: Run in a fresh interpreter: after other tests, the heap's free lists and arenas hold space from
#: earlier allocations, and whether these buffers grow and shrink the resident set is anyone's guess.
MIDDLE_OF_THE_HEAP = """
    import json
    from agentwatch.collector.server import glibc_malloc_trim

    def rss_anon_mib():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
        raise SystemExit("no RssAnon in /proc/self/status")

    trim = glibc_malloc_trim()
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
    released = trim()
    after = rss_anon_mib()
    print(json.dumps({"before_free": before_free, "held": held, "released": released, "after": after}))
    assert len(pins) == 384
"""


@needs_glibc
def test_trim_returns_freed_pages_from_the_middle_of_the_heap() -> None:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MIDDLE_OF_THE_HEAP)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rss = json.loads(result.stdout)
    assert rss["held"] > rss["before_free"] - 6, rss  # glibc kept (nearly) all of it
    assert rss["released"] == 1, rss  # malloc_trim says it gave memory back
    assert rss["held"] - rss["after"] >= 12, rss


@needs_glibc
def test_heap_trimmer_trims_every_interval_until_stopped() -> None:
    trimmer = HeapTrimmer(interval=0.01).start()
    try:
        wait_until(lambda: trimmer.trims >= 3)
    finally:
        trimmer.stop()
    # Stopped means joined: no thread is left to trim again.
    assert not any(thread.name == "agentwatch-heap-trim" for thread in threading.enumerate())


def test_heap_trimmer_is_a_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agentwatch.collector.server.glibc_malloc_trim", lambda: None)
    trimmer = HeapTrimmer(interval=0.01)
    assert not trimmer.available
    trimmer.start()
    trimmer.stop()
    assert trimmer.trims == 0
