"""The clocks: the real one starts loop timers; the fake one runs its timers in order as it moves."""

from __future__ import annotations

import asyncio
import time

import pytest

from hubbub.server.clock import STALE_SLACK, Deadlines, SystemClock
from tests.support.clock import FakeClock


async def test_the_system_clock_reads_time_and_starts_timers_on_the_running_loop():
    clock = SystemClock()
    before = time.time()
    assert before <= clock.now() <= time.time()
    assert clock.monotonic() <= time.monotonic()
    fired = asyncio.get_running_loop().create_future()
    clock.call_later(0, fired.set_result, "ran")
    cancelled = clock.call_later(0, fired.set_result, "must not run")
    cancelled.cancel()
    assert await asyncio.wait_for(fired, 2) == "ran"


def test_timers_run_in_due_order_each_with_the_clock_at_its_due_time():
    clock = FakeClock(monotonic=100.0)
    seen: list[tuple[str, float]] = []
    clock.call_later(2.0, lambda: seen.append(("b", clock.monotonic())))
    clock.call_later(1.0, lambda: seen.append(("a", clock.monotonic())))
    clock.call_later(2.0, lambda: seen.append(("c", clock.monotonic())))  # same time: set later
    assert clock.advance(1.5) == 1
    assert seen == [("a", 101.0)]
    assert clock.monotonic() == 101.5
    clock.advance(0.5)
    assert seen == [("a", 101.0), ("b", 102.0), ("c", 102.0)]


def test_a_timer_set_by_a_timer_runs_in_the_same_advance_when_it_falls_due():
    clock = FakeClock(monotonic=0.0)
    ticks: list[float] = []

    def tick() -> None:
        ticks.append(clock.monotonic())
        clock.call_later(0.25, tick)

    clock.call_later(0.25, tick)
    clock.advance(1.0)
    assert ticks == [0.25, 0.5, 0.75, 1.0]
    assert clock.next_due() == 1.25


def test_a_cancelled_timer_does_not_run_and_time_never_goes_back():
    clock = FakeClock(wall=1_000_000.0, monotonic=10.0)
    ran: list[int] = []
    clock.call_later(1.0, ran.append, 1).cancel()
    clock.advance(5.0)
    assert ran == []
    assert clock.waiting == []
    assert clock.now() == 1_000_005.0
    with pytest.raises(ValueError):
        clock.advance(-1.0)


class Item:
    """A thing with a deadline that notes when it was called."""

    def __init__(self, name: str, clock: FakeClock, seen: list[tuple[str, float]]) -> None:
        self.name = name
        self.due_at: float | None = None
        self._clock = clock
        self._seen = seen

    def deadline_passed(self) -> None:
        self._seen.append((self.name, self._clock.monotonic()))

    def __repr__(self) -> str:
        return f"<Item {self.name}>"


def test_deadlines_run_each_item_at_its_own_time_on_one_timer():
    clock = FakeClock(monotonic=0.0)
    deadlines: Deadlines[Item] = Deadlines(clock)
    seen: list[tuple[str, float]] = []
    a, b, c, d = (Item(n, clock, seen) for n in "abcd")
    deadlines.set(b, 2.0)
    deadlines.set(a, 1.0)
    deadlines.set(c, 2.0)  # the same time as b, set later: runs after it
    deadlines.set(d, 3.0)
    assert len(clock.waiting) == 1 and len(deadlines) == 4
    clock.advance(1.0 - 2**-10)
    assert seen == []
    clock.advance(2**-10)
    assert seen == [("a", 1.0)]
    assert a.due_at is None
    clock.advance(5.0)
    assert seen == [("a", 1.0), ("b", 2.0), ("c", 2.0), ("d", 3.0)]
    assert clock.waiting == [] and len(deadlines) == 0


def test_a_deadline_moved_or_cancelled_runs_only_at_its_new_time_or_not_at_all():
    clock = FakeClock(monotonic=0.0)
    deadlines: Deadlines[Item] = Deadlines(clock)
    seen: list[tuple[str, float]] = []
    a, b, c = (Item(n, clock, seen) for n in "abc")
    deadlines.set(a, 5.0)
    deadlines.set(b, 5.0)
    deadlines.set(c, 6.0)
    deadlines.set(a, 1.0)  # earlier than the timer was set for
    deadlines.set(c, 9.0)  # later
    deadlines.cancel(b)
    deadlines.cancel(b)  # twice is harmless
    clock.advance(10.0)
    assert seen == [("a", 1.0), ("c", 9.0)]


def test_an_item_may_set_its_next_deadline_or_cancel_another_when_called():
    clock = FakeClock(monotonic=0.0)
    deadlines: Deadlines[Item] = Deadlines(clock)
    seen: list[tuple[str, float]] = []
    victim = Item("victim", clock, seen)

    class Ticker(Item):
        def deadline_passed(self) -> None:
            super().deadline_passed()
            deadlines.cancel(victim)
            deadlines.set(self, self._clock.monotonic() + 0.5)

    ticker = Ticker("tick", clock, seen)
    deadlines.set(ticker, 1.0)
    deadlines.set(victim, 1.0)  # due with the ticker, which runs first and cancels it
    clock.advance(2.0)
    assert seen == [("tick", 1.0), ("tick", 1.5), ("tick", 2.0)]
    assert ticker.due_at == 2.5


@pytest.mark.allow_error_log("a deadline of <Item bad> failed")
def test_an_item_that_raises_does_not_stop_the_others():
    clock = FakeClock(monotonic=0.0)
    deadlines: Deadlines[Item] = Deadlines(clock)
    seen: list[tuple[str, float]] = []

    class Bad(Item):
        def deadline_passed(self) -> None:
            raise RuntimeError("broken")

    deadlines.set(Bad("bad", clock, seen), 1.0)
    deadlines.set(Item("good", clock, seen), 1.0)
    deadlines.set(Item("later", clock, seen), 2.0)
    clock.advance(3.0)
    assert seen == [("good", 1.0), ("later", 2.0)]


def test_times_left_by_cancelled_items_do_not_pile_up():
    clock = FakeClock(monotonic=0.0)
    deadlines: Deadlines[Item] = Deadlines(clock)
    seen: list[tuple[str, float]] = []
    keep = Item("keep", clock, seen)
    deadlines.set(keep, 10_000.0)
    for i in range(10_000):
        item = Item(str(i), clock, seen)
        deadlines.set(item, 1.0 + i / 100)
        deadlines.cancel(item)
    assert len(deadlines._heap) <= len(deadlines) * 5 // 4 + STALE_SLACK + 1
    clock.advance(20_000.0)
    assert seen == [("keep", 10_000.0)]
