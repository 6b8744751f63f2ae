"""A clock for tests: time stands still until the test moves it, and timers run when it passes them.

Give it to a :class:`~hubbub.server.app.Server` (``Server(settings, clock=FakeClock())``) and
flood pacing, pings and registration timeouts happen exactly when the test says, in microseconds
of real time::

    clock.advance(29.9)   # nothing due yet
    clock.advance(0.1)    # the registration timer runs now, inside advance()
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from typing import Any


class FakeTimer:
    """One callback waiting for the fake clock to reach ``when``."""

    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run the callback."""
        self.cancelled = True

    def __repr__(self) -> str:
        name = getattr(self.callback, "__qualname__", self.callback)
        state = " cancelled" if self.cancelled else ""
        return f"<FakeTimer at {self.when:.6f} {name}{state}>"


class FakeClock:
    """A :class:`hubbub.server.clock.Clock` moved by hand with :meth:`advance`.

    Wall time starts at the real time (so timestamps look sane next to ones the store makes) and
    moves together with the monotonic time, which starts at 1000.
    """

    def __init__(self, wall: float | None = None, monotonic: float = 1000.0) -> None:
        self._wall_offset = (time.time() if wall is None else wall) - monotonic
        self._now = monotonic
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._seq = itertools.count()  # timers due at the same time run in the order they were set

    def now(self) -> float:
        """Wall-clock seconds since the epoch."""
        return self._now + self._wall_offset

    def monotonic(self) -> float:
        """Seconds on the monotonic clock."""
        return self._now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> FakeTimer:
        """Run ``callback(*args)`` when the clock has moved ``delay`` seconds on."""
        timer = FakeTimer(self._now + max(delay, 0.0), callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> int:
        """Move the clock on by ``seconds``, running every timer that falls due, in order.

        Each timer runs with the clock at its own due time, so what it reads and the timers it sets
        are as they would be in real time; timers it sets that fall due within ``seconds`` run too.
        Returns how many callbacks ran.
        """
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        return self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> int:
        """Move the clock on to monotonic time ``when`` (see :meth:`advance`)."""
        ran = 0
        timers = self._timers
        while timers and timers[0][0] <= when:
            due, _, timer = heapq.heappop(timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, due)
            timer.callback(*timer.args)
            ran += 1
        self._now = max(self._now, when)
        return ran

    def next_due(self) -> float | None:
        """The monotonic time of the next timer still waiting, or None."""
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    @property
    def waiting(self) -> list[FakeTimer]:
        """The timers not yet run or cancelled, soonest first."""
        return [t for _, _, t in sorted(self._timers) if not t.cancelled]
