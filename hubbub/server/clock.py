"""The server's clock: the time it reads and the timers it starts, in one injectable object.

Sessions and connections never read ``time`` or start loop timers themselves; they ask the
server's :class:`Clock` (DESIGN.md: time from an injected clock). The default,
:class:`SystemClock`, reads :mod:`time` and starts timers on the running asyncio loop; tests pass
a clock they advance by hand, so flood pacing, pings and registration timeouts are tested without
waiting in real time. :class:`Deadlines` keeps the deadline of every client on one of its timers.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)


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


class Due(Protocol):
    """Something :class:`Deadlines` keeps a time for: a client's registration or ping deadline."""

    due_at: float | None  # the monotonic time it is due, while it waits in a Deadlines; kept there

    def deadline_passed(self) -> None:
        """Its time came (``due_at`` is None again): do what was due, perhaps set a new one."""


D = TypeVar("D", bound=Due)

# Times left in a Deadlines' heap by items cancelled or moved (every client that registers leaves
# one), beyond a quarter of those still waiting, before the heap is rebuilt without them.
STALE_SLACK = 1024


class Deadlines(Generic[D]):
    """Many deadlines on one clock timer: at most one waiting time per item, each met exactly.

    Every client has a deadline at all times (to register, or to answer a PING), and most are
    never met: a loop timer for each (an ``asyncio.TimerHandle``, a copied context, a bound method,
    and a libuv timer under uvloop) costs several hundred bytes per idle connection and stays in
    the loop's heap after it is cancelled. Here an item costs a float and its place in one dict and
    one heap, and one timer, set for the earliest time, serves them all; each item still runs at
    its own due time, read from the injected clock, so a fake clock sees it exactly as it would
    a timer of its own. Items due at the same time run in the order their times were set.
    """

    __slots__ = ("_armed", "_at", "_clock", "_heap", "_timer")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        # due time -> the item due then, or a list of them when several share the time (rare with a
        # real clock); the heap holds the times, a time whose items all moved on stays until popped.
        self._at: dict[float, D | list[D]] = {}
        self._heap: list[float] = []
        self._timer: Timer | None = None
        self._armed = math.inf  # when the timer is set for

    def __len__(self) -> int:
        """How many items wait."""
        return sum(len(v) if isinstance(v, list) else 1 for v in self._at.values())

    def set(self, item: D, when: float) -> None:
        """Call ``item.deadline_passed()`` at monotonic time ``when``, instead of any earlier time set."""
        if item.due_at is not None:
            self._forget(item, item.due_at)
        item.due_at = when
        waiting = self._at.get(when)
        if waiting is None:
            self._at[when] = item
            heapq.heappush(self._heap, when)
        elif isinstance(waiting, list):
            waiting.append(item)
        else:
            self._at[when] = [waiting, item]
        if when < self._armed:
            self._arm(when)

    def cancel(self, item: D) -> None:
        """Do not call ``item`` (nothing happens if it waits for nothing)."""
        if item.due_at is not None:
            self._forget(item, item.due_at)
            item.due_at = None

    def _forget(self, item: D, when: float) -> None:
        at = self._at
        waiting = at.get(when)
        if waiting is item:
            del at[when]  # its time stays in the heap, and is skipped when it comes
        elif isinstance(waiting, list) and item in waiting:
            waiting.remove(item)
            if not waiting:
                del at[when]
        heap = self._heap
        if len(heap) > len(at) + len(at) // 4 + STALE_SLACK:
            # Mostly times nobody waits for any more (clients that registered or left): drop them.
            heap[:] = at
            heapq.heapify(heap)

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = when
        self._timer = self._clock.call_later(when - self._clock.monotonic(), self._expire)

    def _expire(self) -> None:
        """The timer ran: call every item whose time has come, in order, then wait for the next."""
        self._timer = None
        self._armed = math.inf
        now = self._clock.monotonic()
        heap, at = self._heap, self._at
        while heap and heap[0] <= now:
            when = heapq.heappop(heap)
            waiting = at.pop(when, None)
            if waiting is None:
                continue  # every item due then was cancelled or set for another time
            for item in waiting if isinstance(waiting, list) else (waiting,):
                # An item called before this one may have cancelled or moved it.
                if item.due_at == when:
                    item.due_at = None
                    try:
                        item.deadline_passed()
                    except Exception:
                        log.exception("a deadline of %r failed", item)
        while heap and heap[0] not in at:
            heapq.heappop(heap)
        # An item called above may have armed the timer already, perhaps for a later time.
        if heap and heap[0] < self._armed:
            self._arm(heap[0])
