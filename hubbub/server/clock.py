"""The server's clock: the time it reads and the timers it starts, in one injectable object.

Sessions and connections never read ``time`` or start loop timers themselves; they ask the
server's :class:`Clock` (DESIGN.md: time from an injected clock). The default,
:class:`SystemClock`, reads :mod:`time` and starts timers on the running asyncio loop; tests pass
a clock they advance by hand, so flood pacing, pings and registration timeouts are tested without
waiting in real time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol


class Timer(Protocol):
    """A callback started with :meth:`Clock.call_later`, not yet run."""

    def cancel(self) -> None:
        """Do not run the callback (nothing happens if it ran already)."""


class Clock(Protocol):
    """Where the server reads the time and starts its timers."""

    def now(self) -> float:
        """Wall-clock time in seconds since the epoch (for timestamps people read)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for idle times, rates and deadlines)."""

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        """Run ``callback(*args)`` once, ``delay`` seconds of :meth:`monotonic` time from now."""


class SystemClock:
    """The real clock: :func:`time.time`, :func:`time.monotonic` and the running loop's timers."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop  # found when the first timer starts, if not given

    def now(self) -> float:
        """See :meth:`Clock.now`."""
        return time.time()

    def monotonic(self) -> float:
        """See :meth:`Clock.monotonic`."""
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        """See :meth:`Clock.call_later`."""
        loop = self._loop
        if loop is None:
            # Asking asyncio costs a getpid() system call: ask once.
            loop = self._loop = asyncio.get_running_loop()
        return loop.call_later(delay, callback, *args)
