"""A terminal driver whose input thread sleeps until there is input: no polling while idle.

Textual's :class:`~textual.drivers.linux_driver.LinuxDriver` reads the terminal in a thread that
waits in ``select`` for at most 0.1 s at a time, only to look at its exit flag between two waits:
ten wake-ups a second, all day, in a viewer left open with nothing to read. :class:`QuietDriver`
waits without a timeout and is woken through a pipe when the flag is set (exit, ``ctrl+z``), so an
idle viewer's input thread does not run at all. The one wait that keeps a timeout is the
parser's own: after a lone ``Esc`` the thread waits as long as Textual's escape delay for the
rest of a sequence, then reports the key.

What it relies on is private to Textual (``tests/tui/test_quietdriver.py`` checks each against the
installed Textual):

* ``LinuxDriver.exit_event``: the exit flag; ``disable_input`` sets it, joins the input thread
  (whose target calls ``run_input_thread``), then clears it. Here it is a :class:`WakingEvent`,
  whose ``set`` also writes to the pipe the thread waits on.
* ``LinuxDriver.run_input_thread``: replaced by :meth:`QuietDriver.run_input_thread`, Textual's
  loop with the pipe in the wait and the timeout taken from the parser.
* ``Parser._timeout_time`` (``textual._parser``): when the parser wants ``tick()`` to end a
  pending sequence (a monotonic time from ``textual._time.get_time``), or None.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from codecs import getincrementaldecoder
from typing import TYPE_CHECKING, Any

from textual._parser import ParseError
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.driver import Driver

__all__ = ["QuietDriver", "WakingEvent", "quiet_driver_class"]

#: Bytes read from the terminal at a time (as Textual reads).
_READ_SIZE = 4 * 1024


class WakingEvent(threading.Event):
    """An :class:`threading.Event` that also makes :attr:`wake_fd` readable when set, so a thread
    waiting in ``select`` on it wakes. :meth:`clear` empties the pipe again."""

    def __init__(self) -> None:
        super().__init__()
        self.wake_fd, self._write_fd = os.pipe()  # (not inherited by child processes)
        for fd in (self.wake_fd, self._write_fd):
            os.set_blocking(fd, False)

    def set(self) -> None:
        super().set()
        with contextlib.suppress(OSError):  # full (already readable) or closed: nothing to wake
            os.write(self._write_fd, b"\0")

    def clear(self) -> None:
        super().clear()
        self.drain()

    def drain(self) -> None:
        """Empty the pipe (its bytes only say "look at the flag")."""
        with contextlib.suppress(OSError):
            while os.read(self.wake_fd, 512):
                pass

    def close(self) -> None:
        for fd in (self.wake_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class QuietDriver(LinuxDriver):
    """Textual's Linux/macOS driver, its input thread blocked in ``select`` until input or exit.

    ``selector_class`` is the selector the input thread waits with (Textual's: ``select``). The
    flag's pipe lasts as long as the driver: Textual's ``close`` comes at each suspend too.
    """

    selector_class: type[selectors.BaseSelector] = selectors.SelectSelector

    def __init__(self, app: Any, **options: Any) -> None:
        super().__init__(app, **options)
        self.exit_event: WakingEvent = WakingEvent()

    def run_input_thread(self) -> None:
        """Wait for input and dispatch its events until the exit flag is set (Textual's loop, without
        its 0.1 s poll: the wait ends on input, on the flag's pipe, or when the parser's timeout is up)."""
        exit_event = self.exit_event
        wake_fd = exit_event.wake_fd
        fileno = self.fileno
        selector = self.selector_class()
        selector.register(fileno, selectors.EVENT_READ)
        selector.register(wake_fd, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        feed = parser.feed
        tick = parser.tick
        decode = getincrementaldecoder("utf-8")().decode

        def dispatch(ready: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            for key, mask in ready:
                if key.fd == wake_fd:
                    exit_event.drain()
                elif mask & selectors.EVENT_READ:
                    text = decode(os.read(fileno, _READ_SIZE), final=final)
                    if not text:  # end of input (a closed pipe)
                        break
                    for event in feed(text):
                        self.process_message(event)
            for event in tick():
                self.process_message(event)

        def timeout() -> float | None:
            due = parser._timeout_time
            return None if due is None else max(0.0, due - get_time())

        try:
            while not exit_event.is_set():
                dispatch(selector.select(timeout()))
            selector.unregister(wake_fd)
            dispatch(selector.select(0), final=True)  # what is already there, without waiting for more
        finally:
            selector.close()
            try:
                for _event in feed(""):
                    pass
            except (EOFError, ParseError):
                pass


def quiet_driver_class(driver_class: type[Driver]) -> type[Driver]:
    """:class:`QuietDriver` in place of Textual's :class:`LinuxDriver`; any other driver (Windows,
    one chosen with ``TEXTUAL_DRIVER``, a test's) as it is."""
    return QuietDriver if driver_class is LinuxDriver else driver_class
