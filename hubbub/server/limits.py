"""Limits on clients: the per-client command rate and the connection counts per address.

DESIGN.md principle 7: every limit is a setting, enforced with the reply the specs give. The
numbers come from :class:`~hubbub.server.config.Settings`; this module only does the counting.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
from collections import Counter

try:
    import resource
except ImportError:  # not on every platform (Windows)
    resource = None  # type: ignore[assignment]


@functools.lru_cache(maxsize=4096)  # every connection asks, mostly for a few addresses
def is_loopback(ip: str) -> bool:
    """Whether ``ip`` (possibly with an IPv6 zone) is a loopback address."""
    try:
        return ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


# BATCH opens and closes a draft/multiline message, whose lines are then not paced one by one.
_MESSAGE_COMMANDS = (b"PRIVMSG", b"NOTICE", b"TAGMSG", b"BATCH")


def in_batch(line: bytes) -> bool:
    """Whether a raw client line carries a ``batch`` tag (a line of a client batch)."""
    if not line.startswith(b"@"):
        return False
    end = line.find(b" ")
    tags = line[1:end] if end > 0 else line[1:]
    return any(t == b"batch" or t.startswith(b"batch=") for t in tags.split(b";"))


def message_command(line: bytes) -> bool:
    """Whether a raw client line is a PRIVMSG, NOTICE, TAGMSG or BATCH (tags and source skipped).

    Spaces the parser skips are skipped here too, so a message with a leading space is still
    paced as a message.
    """
    start = 0
    while line[start : start + 1] == b" ":
        start += 1
    for marker in (b"@", b":"):
        if line[start : start + 1] == marker:
            space = line.find(b" ", start)
            if space < 0:
                return False
            start = space + 1
            while line[start : start + 1] == b" ":
                start += 1
    word = line[start : start + 8].split(b" ", 1)[0].upper()
    return word in _MESSAGE_COMMANDS


# Rounding slack when counting tokens: a timer set for :meth:`TokenBucket.wait` seconds finds the
# token there even when ``(t + wait - t) * rate`` rounds to just under one.
_TOKEN_SLACK = 1e-9


class TokenBucket:
    """A token bucket: ``burst`` commands at once, then ``rate`` per second.

    It reads no clock: the caller passes the time (the server clock's ``monotonic``).
    """

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst = float(burst)
        self.rate = rate
        self._tokens = self.burst
        self._at = now

    def take(self, now: float) -> bool:
        """Spend a token if there is one."""
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0 - _TOKEN_SLACK:
            self._tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token."""
        return max(0.0, (1.0 - self._tokens) / self.rate)


class ConnectionCounter:
    """Connections in total and per IP address, with loopback optionally exempt per address."""

    def __init__(self, max_total: int, max_per_ip: int, exempt_loopback: bool) -> None:
        self.max_total = max_total
        self.max_per_ip = max_per_ip
        self.exempt_loopback = exempt_loopback
        self.total = 0
        self.per_ip: Counter[str] = Counter()
        # One string for each address with two or more connections (address()).
        self._addresses: dict[str, str] = {}

    def admit(self, ip: str) -> str | None:
        """Count a new connection from ``ip``; return why it is refused, or None."""
        if self.total >= self.max_total:
            return "Server full"
        exempt = self.exempt_loopback and is_loopback(ip)
        if not exempt and self.per_ip[ip] >= self.max_per_ip:
            return "Too many connections from your address"
        self.total += 1
        self.per_ip[ip] += 1
        return None

    def release(self, ip: str) -> None:
        """A connection from ``ip`` closed."""
        self.total -= 1
        self.per_ip[ip] -= 1
        if self.per_ip[ip] <= 0:
            del self.per_ip[ip]
            self._addresses.pop(ip, None)

    def address(self, ip: str) -> str:
        """``ip`` (admitted) as one string shared by the connections from it, once it has several.

        Every connection keeps its address (and its session, as its host): the connections of one
        NAT, bouncer or load test then share one string, and an address with one connection costs
        nothing more, as interning it would.
        """
        if self.per_ip[ip] < 2:
            return ip
        return self._addresses.setdefault(ip, ip)


REFUSAL_LOG_INTERVAL = 10.0
"""Seconds between two log lines about refused connections (a flood is summed up, not echoed)."""

# Addresses a RefusalLog tells apart within one interval (a flood from many sources is bounded).
_REFUSAL_ADDRESSES = 1000


class RefusalLog:
    """When to log refused connections, so that a flood of them cannot flood the log.

    The first refusal is logged at once; those that follow within ``interval`` seconds are
    counted, and the first refusal after the interval logs them in one line: how many, why, and
    the address refused most. It reads no clock: the caller passes the time.
    """

    def __init__(self, interval: float = REFUSAL_LOG_INTERVAL) -> None:
        self.interval = interval
        self._logged_at: float | None = None
        self._reasons: Counter[str] = Counter()
        self._addresses: Counter[str] = Counter()

    def note(self, reason: str, ip: str, now: float) -> str | None:
        """Count one refusal of a connection from ``ip`` (may be empty); the text to log now, or None."""
        self._reasons[reason] += 1
        if ip in self._addresses or len(self._addresses) < _REFUSAL_ADDRESSES:
            self._addresses[ip] += 1
        if self._logged_at is not None and now - self._logged_at < self.interval:
            return None
        total = sum(self._reasons.values())
        if total == 1:
            line = f"a connection{' from ' + ip if ip else ''}: {reason}"
        else:
            assert self._logged_at is not None
            why = ", ".join(f"{count} {text}" for text, count in self._reasons.most_common())
            line = f"{total} connections in the last {now - self._logged_at:.0f} s ({why})"
            worst, count = self._addresses.most_common(1)[0]
            if worst:
                line += f"; the most ({count}) from {worst}"
        self._logged_at = now
        self._reasons.clear()
        self._addresses.clear()
        return line


DESCRIPTOR_RESERVE = 64
"""File descriptors kept for the server's own use (store, listeners, logs, connections being
refused) beyond its connections: past ``soft limit - DESCRIPTOR_RESERVE`` connections, new ones
are refused with ``ERROR :Server full`` instead of failing to be accepted at all."""


def descriptor_limits() -> tuple[int | None, int | None]:
    """The process's (soft, hard) limits on open files; None where unlimited or unknown."""
    if resource is None:
        return None, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    return (None if soft == unlimited else soft), (None if hard == unlimited else hard)


def raise_descriptor_limit(wanted: int) -> tuple[int | None, int | None]:
    """Raise the soft limit on open files towards ``wanted`` (up to the hard limit).

    Returns the (soft, hard) limits in force afterwards, None where unlimited or unknown.
    """
    soft, hard = descriptor_limits()
    if resource is not None and soft is not None and soft < wanted:
        target = wanted if hard is None else min(wanted, hard)
        # On failure the limits stay as they are; the caller reports what they allow.
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (target, resource.RLIM_INFINITY if hard is None else hard)
            )
        soft, hard = descriptor_limits()
    return soft, hard


def connection_room() -> int | None:
    """How many connections the soft limit on open files leaves room for (None: no limit)."""
    soft, _ = descriptor_limits()
    return None if soft is None else max(1, soft - DESCRIPTOR_RESERVE)
