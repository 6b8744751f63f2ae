"""Throttles on password guessing and account registration, per address and per account.

A login is counted as an attempt when it is let through, before its password is hashed, so
attempts sent at once on many connections are counted as they arrive, not once their hashes
return. Failed logins slow an address down and, for the addresses that failed on it, an account:
the first ``login_max_failures`` failures are free, then each further attempt must come a delay
after the last failure that doubles with every failure (``login_delay``, at most
``login_max_delay``); one that comes sooner is refused unchecked. An address that has not failed
on an account is not held up by that account's delay, so whoever guesses from one address cannot
keep the owner out who logs in from another.

Attempts being checked at once are bounded per address and per account. One past the bound, or
one that could be past the free failures if those in flight fail, waits for them to end rather
than being refused: a burst of logins from one address (an office behind one NAT, every client
coming back after a restart) is checked a few at a time, while a burst of guesses gets no more
checks than the failures it has free.

Registration is limited to ``register_max_per_ip`` accounts per address within
``register_window`` seconds (loopback exempt when ``exempt_loopback``).

An IPv6 address counts as its /64, which one subscriber usually holds whole; an IPv4-mapped
IPv6 address counts as the IPv4 address. Nothing here reads the clock itself: the server passes
its monotonic time (clock.py).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from .limits import is_loopback

if TYPE_CHECKING:
    from .config import Settings

# Doubling stops here: 2**62 times any delay is past any sane maximum, and the arithmetic stays
# small.
_MAX_DOUBLINGS = 62


@functools.lru_cache(maxsize=4096)
def address_key(ip: str) -> str:
    """The key an address is throttled under: IPv4 as is, IPv6 by its /64."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip  # not an IP address (a test transport, a Unix socket): itself
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Throttled(Exception):
    """Refused for now; ``retry_after`` says in how many seconds to try again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"try again in {retry_after:.0f} s")
        self.retry_after = retry_after

    @property
    def seconds(self) -> int:
        """The wait in whole seconds, at least one (for the texts people read)."""
        return max(1, int(self.retry_after + 0.999))


class _Record:
    """Failures of one address or one account, and its attempts being checked now."""

    __slots__ = ("expires", "failures", "in_flight", "last", "suspects")

    def __init__(self) -> None:
        self.failures = 0
        self.last = 0.0  # time of the latest failure
        self.in_flight = 0
        self.expires = 0.0  # forgotten after this, when nothing is in flight
        # For an account: the addresses that failed on it and have not logged in since.
        self.suspects: set[str] = set()


class LoginAttempt:
    """A password check the throttle let through; :meth:`finish` it exactly once."""

    __slots__ = ("_done", "_throttle", "account", "address")

    def __init__(self, throttle: LoginThrottle, account: str, address: str) -> None:
        self._throttle = throttle
        self._done = False
        self.account = account
        self.address = address

    def finish(self, ok: bool | None) -> None:
        """The check is over: ``ok`` True (right password), False (wrong), None (not decided)."""
        if not self._done:
            self._done = True
            self._throttle._finish(self, ok)


class LoginThrottle:
    """Failed logins per address and per account: delays that grow, and bounded concurrency."""

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._swept = clock()
        # Set, and replaced, whenever an attempt ends: what attempts waiting for a place await.
        self._released: asyncio.Event | None = None
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        """Take the limits from ``settings`` (start-up and REHASH)."""
        self.free = settings.login_max_failures
        self.window = settings.login_failure_window
        self.delay = settings.login_delay
        self.max_delay = settings.login_max_delay
        self.per_address = settings.login_concurrent_per_ip
        self.per_account = settings.login_concurrent_per_account

    # the policy -------------------------------------------------------------------------------

    def _delay(self, failures: int) -> float:
        """How long after its latest failure a key with ``failures`` may try again."""
        over = failures - self.free
        if over < 0:
            return 0.0
        return min(self.max_delay, self.delay * 2.0 ** min(over, _MAX_DOUBLINGS))

    def _wait(self, record: _Record | None, now: float) -> float:
        """Seconds ``record`` must wait before another attempt; 0 if it may go now."""
        if record is None or record.failures < self.free:
            return 0.0
        return max(0.0, record.last + self._delay(record.failures) - now)

    def _busy(self, record: _Record | None, limit: int) -> bool:
        """Whether an attempt must wait for one of ``record``'s attempts in flight to end: its
        places are taken, or its attempts in flight would use up its free failures."""
        if record is None or not record.in_flight:
            return False
        return record.in_flight >= limit or record.failures + record.in_flight >= self.free

    def _get(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and not record.in_flight and now >= record.expires:
            del self._records[key]
            return None
        return record

    async def begin(self, account: str, ip: str) -> LoginAttempt:
        """Let an attempt on ``account`` from ``ip`` be checked, or raise :class:`Throttled`.

        ``account`` is a key of its own kind (``account:alice``, ``oper:admin``). The attempt
        counts from the moment it is let through; :meth:`LoginAttempt.finish` records how it
        ended. While the address's or the account's places are taken, or its attempts in flight
        could use up its free failures, it waits for one of them to end (the caller holds the
        client's later input meanwhile), and is then judged on what they came to.
        """
        address = address_key(ip)
        while True:
            now = self.clock()
            self._sweep(now)
            by_address = self._get("ip:" + address, now)
            by_account = self._get(account, now)
            # An account's failures slow down only the addresses that failed on it.
            suspect = by_account is not None and address in by_account.suspects
            if (
                self._busy(by_address, self.per_address)
                or (by_account is not None and by_account.in_flight >= self.per_account)
                or (suspect and self._busy(by_account, self.per_account))
            ):
                if self._released is None:
                    self._released = asyncio.Event()
                await self._released.wait()
                continue
            wait = self._wait(by_address, now)
            if suspect:
                wait = max(wait, self._wait(by_account, now))
            if wait > 0:
                raise Throttled(wait)
            for key in ("ip:" + address, account):
                self._records.setdefault(key, _Record()).in_flight += 1
            return LoginAttempt(self, account, address)

    def _finish(self, attempt: LoginAttempt, ok: bool | None) -> None:
        now = self.clock()
        by_address = self._records["ip:" + attempt.address]
        by_account = self._records[attempt.account]
        for record in (by_address, by_account):
            record.in_flight -= 1
            if ok is False:
                record.failures += 1
                record.last = now
            # Forgotten a window after its next attempt is allowed.
            record.expires = max(record.expires, record.last + self._delay(record.failures) + self.window)
        if ok is False:
            by_account.suspects.add(attempt.address)
        elif ok:
            # Success does not clear the counts: an attacker could log in to an account of its
            # own between guesses. It does tell the account this address is its owner's.
            by_account.suspects.discard(attempt.address)
        if self._released is not None:
            # Every attempt waiting for a place looks again (each connection has one at most).
            self._released.set()
            self._released = None

    def _sweep(self, now: float) -> None:
        """Drop the records that are over, once a window (addresses and names come and go)."""
        if now - self._swept < self.window:
            return
        self._swept = now
        for key in [k for k, r in self._records.items() if not r.in_flight and now >= r.expires]:
            del self._records[key]

    def __len__(self) -> int:
        return len(self._records)


class RegistrationThrottle:
    """Accounts registered per address within a sliding window."""

    def __init__(self, settings: Settings, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._times: dict[str, deque[float]] = {}
        self._swept = clock()
        self.configure(settings)

    def configure(self, settings: Settings) -> None:
        """Take the limits from ``settings`` (start-up and REHASH)."""
        self.limit = settings.register_max_per_ip
        self.window = settings.register_window
        self.exempt_loopback = settings.exempt_loopback

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._times.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        return times

    def begin(self, ip: str) -> float | None:
        """Count a registration from ``ip`` before it is made; raise :class:`Throttled` past the
        limit. Returns what :meth:`cancel` needs if the account is not made after all."""
        if self.exempt_loopback and is_loopback(ip):
            return None
        now = self.clock()
        self._sweep(now)
        key = address_key(ip)
        times = self._recent(key, now)
        if times is not None and len(times) >= self.limit:
            raise Throttled(times[0] + self.window - now)
        self._times.setdefault(key, deque()).append(now)
        return now

    def cancel(self, ip: str, token: float | None) -> None:
        """The registration counted at ``token`` did not make an account: it does not count."""
        if token is None:
            return
        times = self._times.get(address_key(ip))
        if times is not None and token in times:
            times.remove(token)
            if not times:
                del self._times[address_key(ip)]

    def _sweep(self, now: float) -> None:
        if now - self._swept < self.window:
            return
        self._swept = now
        for key in list(self._times):
            self._recent(key, now)
