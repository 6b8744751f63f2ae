"""The login and registration throttles on their own, on a clock the test moves."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hubbub.server.config import Settings
from hubbub.server.throttle import LoginAttempt, LoginThrottle, RegistrationThrottle, Throttled, address_key


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def login_throttle(clock: Clock, **overrides: Any) -> LoginThrottle:
    values: dict[str, Any] = {
        "login_max_failures": 3,
        "login_delay": 2.0,
        "login_max_delay": 60.0,
        "login_failure_window": 300.0,
        "login_concurrent_per_ip": 10,
        "login_concurrent_per_account": 10,
        **overrides,
    }
    return LoginThrottle(Settings(**values).validate(), clock)


async def fail(throttle: LoginThrottle, account: str = "account:alice", ip: str = "192.0.2.1") -> None:
    (await throttle.begin(account, ip)).finish(False)


async def refused(throttle: LoginThrottle, account: str = "account:alice", ip: str = "192.0.2.1") -> float:
    """The wait an attempt is refused with (it must be refused, not let through)."""
    with pytest.raises(Throttled) as caught:
        await throttle.begin(account, ip)
    return caught.value.retry_after


async def waiting(throttle: LoginThrottle, account: str, ip: str) -> asyncio.Task[LoginAttempt]:
    """An attempt that is neither let through nor refused yet: it waits for a place."""
    task = asyncio.create_task(throttle.begin(account, ip))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    return task


def test_an_address_is_its_ipv4_address_or_its_ipv6_slash_64() -> None:
    assert address_key("192.0.2.1") == "192.0.2.1"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("fe80::1%eth0") == "fe80::/64"
    assert address_key("not an address") == "not an address"


async def test_free_failures_then_a_wait_that_doubles_up_to_the_maximum() -> None:
    clock = Clock()
    throttle = login_throttle(clock)
    for _ in range(3):
        await fail(throttle)
    waits = []
    for _ in range(7):
        waits.append(await refused(throttle))
        clock.now += waits[-1]
        await fail(throttle)
    assert waits == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]


async def test_attempts_in_flight_count_before_their_hash_returns() -> None:
    throttle = login_throttle(Clock())
    attempts = [await throttle.begin("account:alice", "192.0.2.1") for _ in range(3)]
    # Three in flight could use up the address's free failures: a fourth waits for them, on any
    # account, and is refused once they have failed.
    fourth = await waiting(throttle, "account:bob", "192.0.2.1")
    for attempt in attempts:
        attempt.finish(False)
    with pytest.raises(Throttled):
        await fourth


async def test_an_attempt_not_decided_counts_no_failure() -> None:
    throttle = login_throttle(Clock())
    attempts = [await throttle.begin("account:alice", "192.0.2.1") for _ in range(3)]
    fourth = await waiting(throttle, "account:alice", "192.0.2.1")
    attempts[0].finish(None)  # the server stopped before the hash returned
    (await fourth).finish(True)
    for attempt in attempts[1:]:
        attempt.finish(True)
    (await throttle.begin("account:alice", "192.0.2.1")).finish(True)


async def test_concurrent_checks_are_bounded_per_address_and_per_account() -> None:
    throttle = login_throttle(
        Clock(), login_max_failures=50, login_concurrent_per_ip=2, login_concurrent_per_account=3
    )
    first = [await throttle.begin("account:alice", "192.0.2.1") for _ in range(2)]
    by_address = await waiting(throttle, "account:bob", "192.0.2.1")
    await throttle.begin("account:alice", "192.0.2.2")
    by_account = await waiting(throttle, "account:alice", "192.0.2.3")
    first[0].finish(True)
    # One place came free for the address and one for the account: both go on, neither refused.
    assert isinstance(await by_address, LoginAttempt)
    assert isinstance(await by_account, LoginAttempt)


async def test_another_address_is_not_held_up_by_an_accounts_failures_until_it_fails_itself() -> None:
    clock = Clock()
    throttle = login_throttle(clock)
    for _ in range(3):
        await fail(throttle, ip="192.0.2.1")
    await refused(throttle, ip="192.0.2.1")
    # The owner elsewhere goes straight through, and so does a guess from a new address ...
    (await throttle.begin("account:alice", "198.51.100.7")).finish(True)
    await fail(throttle, ip="203.0.113.5")
    # ... but an address that failed on the account waits the account's delay, which grew with
    # every failure on it, wherever they came from.
    assert await refused(throttle, ip="203.0.113.5") == 4.0
    # A success makes an address the owner's again.
    clock.now += 4.0
    (await throttle.begin("account:alice", "203.0.113.5")).finish(True)
    assert isinstance(await throttle.begin("account:alice", "203.0.113.5"), LoginAttempt)


async def test_failures_are_forgotten_a_window_after_the_wait_is_over() -> None:
    for quiet, next_wait in ((4.0 + 300.0 - 0.001, 8.0), (4.0 + 300.0, None)):
        clock = Clock()
        throttle = login_throttle(clock)
        for _ in range(4):
            await fail(throttle)
            clock.now += 4.0  # the fourth failure makes the next attempt wait 4 s
        clock.now += quiet - 4.0
        await fail(throttle)
        if next_wait is None:  # forgotten: this was a first failure again
            (await throttle.begin("account:alice", "192.0.2.1")).finish(None)
        else:
            assert await refused(throttle) == next_wait


async def test_records_of_addresses_and_names_that_went_away_are_swept() -> None:
    clock = Clock()
    throttle = login_throttle(clock)
    for i in range(100):
        await fail(throttle, account=f"account:name{i}", ip=f"192.0.2.{i}")
    assert len(throttle) == 200
    clock.now += 301.0
    (await throttle.begin("account:alice", "198.51.100.1")).finish(True)
    assert len(throttle) <= 2


async def test_a_huge_number_of_failures_keeps_the_wait_at_the_maximum() -> None:
    clock = Clock()
    throttle = login_throttle(clock, login_max_failures=1)
    for _ in range(5000):
        await fail(throttle)
        clock.now += 60.0
    await fail(throttle)
    assert await refused(throttle) == 60.0


def registration_throttle(clock: Clock, **overrides: Any) -> RegistrationThrottle:
    values: dict[str, Any] = {"register_max_per_ip": 2, "register_window": 3600.0, "exempt_loopback": False}
    return RegistrationThrottle(Settings(**{**values, **overrides}).validate(), clock)


def test_registrations_per_address_in_a_sliding_window() -> None:
    clock = Clock()
    throttle = registration_throttle(clock)
    throttle.begin("192.0.2.1")
    clock.now += 1000.0
    throttle.begin("192.0.2.1")
    with pytest.raises(Throttled) as refused:
        throttle.begin("192.0.2.1")
    assert refused.value.retry_after == 2600.0
    throttle.begin("192.0.2.2")  # another address
    throttle.begin("2001:db8::1")
    throttle.begin("2001:db8::2")
    with pytest.raises(Throttled):
        throttle.begin("2001:db8::3")  # the same /64
    clock.now += 2600.0
    throttle.begin("192.0.2.1")


def test_a_registration_that_made_no_account_gives_its_place_back() -> None:
    throttle = registration_throttle(Clock())
    token = throttle.begin("192.0.2.1")
    throttle.cancel("192.0.2.1", token)
    throttle.begin("192.0.2.1")
    throttle.begin("192.0.2.1")
    with pytest.raises(Throttled):
        throttle.begin("192.0.2.1")


def test_loopback_is_exempt_only_when_exempt_loopback_says_so() -> None:
    exempt = registration_throttle(Clock(), exempt_loopback=True)
    for _ in range(10):
        exempt.begin("127.0.0.1")
    with pytest.raises(Throttled):
        for _ in range(3):
            exempt.begin("192.0.2.1")
    strict = registration_throttle(Clock())
    with pytest.raises(Throttled):
        for _ in range(3):
            strict.begin("127.0.0.1")
