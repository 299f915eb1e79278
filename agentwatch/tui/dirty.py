"""What changed since the viewer's last frame: a set of marks whose first one wakes the frame timer."""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["DirtyMarks", "nothing"]


def nothing() -> None:
    pass


class DirtyMarks(set[str]):
    """What changed since the last frame: a set whose first mark calls ``wake``.

    The viewer's frame timer slows to the clock's seconds while frames find nothing to move;
    the first change after that brings the next frame back within one frame interval.
    """

    __slots__ = ("wake",)

    def __init__(self, wake: Callable[[], None], marks: Iterable[str] = ()) -> None:
        super().__init__(marks)
        self.wake = wake

    def add(self, mark: str) -> None:
        if not self:
            self.wake()
        set.add(self, mark)

    def update(self, *marks: Iterable[str]) -> None:
        if not self:
            self.wake()
        set.update(self, *marks)
