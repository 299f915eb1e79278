"""Garbage collection at moments the viewer chooses, not in the middle of drawing a key's effect.

CPython's automatic full collection walks every object the collector tracks (Textual's widgets,
styles, caches and rendered strips: tens of thousands) and comes whenever allocations tip the
count over, which is most often while the viewer allocates the most: drawing what a key asked
for. :class:`GcPacing` takes the full collections over: it freezes what start-up built (no
collection walks it again), turns the automatic full collection off and runs one itself from the
frame tick at most every :data:`FULL_EVERY` seconds, put off while keys are being pressed, and
only once there is something to collect: as many younger collections since the last full one as
CPython would have waited for (an idle viewer allocates little and never gets there). Young
collections stay automatic: they are short. :meth:`GcPacing.stop` puts everything back.

The collector's state is the process's: one viewer per process (``agentwatch URL``) uses it;
tests that run many apps in one process leave it alone.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Callable
from typing import Final

__all__ = ["FIRST_AFTER", "FULL_EVERY", "GcPacing"]

#: Seconds from start to the first full collection, after which what is left is frozen: start-up
#: (imports, styles, widgets, the streams' connections) is over by then.
FIRST_AFTER: Final = 2.0
#: Seconds between two full collections the viewer runs itself.
FULL_EVERY: Final = 10.0
#: A full collection waits while keys come less than this many seconds apart ...
QUIET_SECONDS: Final = 1.0
#: ... but no longer than this many seconds after it was due.
MAX_DELAY: Final = 20.0
#: The oldest generation's threshold while paced: never reached, so never collected automatically.
_NEVER: Final = 1 << 30


class GcPacing:
    """Full collections from :meth:`collect_if_due`, between :meth:`start` and :meth:`stop`.

    ``monotonic`` is injectable for tests; :attr:`collections` counts the full collections run.
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._saved: tuple[int, int, int] | None = None
        self._due = math.inf
        self._froze = False
        #: Full collections run so far.
        self.collections = 0

    @property
    def running(self) -> bool:
        return self._saved is not None

    def start(self) -> None:
        if self._saved is not None:
            return
        young, middle, _old = self._saved = gc.get_threshold()
        gc.set_threshold(young, middle, _NEVER)
        self._due = self._monotonic() + FIRST_AFTER

    def collect_if_due(self, last_input: float = -math.inf) -> bool:
        """Run a full collection if one is due and no key came within :data:`QUIET_SECONDS` (or it
        is :data:`MAX_DELAY` late); ``last_input`` is the last key's monotonic time."""
        now = self._monotonic()
        if self._saved is None or now < self._due:
            return False
        if self._froze and gc.get_count()[2] < self._saved[2]:
            return False  # too few younger collections since the last full one: nothing to gain
        if now - last_input < QUIET_SECONDS and now < self._due + MAX_DELAY:
            return False
        gc.collect()
        if not self._froze:
            self._froze = True
            gc.freeze()
        self.collections += 1
        self._due = now + FULL_EVERY
        return True

    def stop(self) -> None:
        """Automatic full collections again; what was frozen is collectable again."""
        if self._saved is None:
            return
        gc.set_threshold(*self._saved)
        self._saved = None
        self._due = math.inf
        if self._froze:
            self._froze = False
            gc.unfreeze()
