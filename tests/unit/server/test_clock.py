"""The clocks: the real one starts loop timers; the fake one runs its timers in order as it moves."""

from __future__ import annotations

import asyncio
import time

import pytest

from hubbub.server.clock import SystemClock
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
