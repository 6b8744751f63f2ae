"""Pacing what the client sends to a server's flood limits, without I/O or a clock of its own.

Servers count a client's commands in token buckets and either hold back (hubbub, "fake lag") or
disconnect (``Excess Flood``) a client that sends faster. A paste of forty lines sent at once is
the usual way to get there. The client keeps buckets of its own with the server's shape, as irssi
and HexChat queue, and sends a line only when its bucket has a token: a burst, then a steady rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import ProtocolError, format_message, parse

# The commands a server counts as messages to people (hubbub: flood_burst and flood_rate).
_MESSAGE_COMMANDS = frozenset({b"PRIVMSG", b"NOTICE", b"TAGMSG", b"BATCH"})
# Rounding slack: a wait of exactly :meth:`_Bucket.wait` seconds finds the token there.
_SLACK = 1e-9
# A paced line waits for a quarter of a token more than it needs: the server's bucket starts when
# it handles the first line, so a later line that travels (or is read) faster than that one would
# otherwise arrive a little early and be held back (or counted against the client) after all.
_MARGIN = 0.25


@dataclass(frozen=True, slots=True)
class SendPacing:
    """How fast a :class:`~hubbub.client.Client` sends, to stay within a server's flood control.

    Messages (PRIVMSG, NOTICE, TAGMSG, and the two BATCH lines around a draft/multiline message,
    whose inner lines are free) go ``burst`` at once, then ``rate`` per second; every other
    command ``command_burst`` at once, then ``command_rate`` per second. The defaults are those
    of hubbub's own flood control (``flood_burst`` 5, ``flood_rate`` 2, ``flood_command_burst``
    20, ``flood_command_rate`` 5), which are also within what common IRC networks allow.
    ``enabled=False`` sends everything at once: for a server run with ``--no-flood-control``, or
    a bot the server exempts.
    """

    enabled: bool = True
    burst: int = 5
    rate: float = 2.0
    command_burst: int = 20
    command_rate: float = 5.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.command_burst < 1:
            raise ValueError("burst and command_burst must be at least 1")
        if not (self.rate > 0 and self.command_rate > 0):
            raise ValueError("rate and command_rate must be more than 0")


def line_cost(line: bytes) -> tuple[float, float]:
    """What one formatted client line costs: ``(messages, commands)`` tokens.

    A line inside a client batch (tagged ``batch``) costs nothing: the server paces the batch by
    its BATCH lines, as hubbub does (IRCv3 multiline: "clients might send an entire batched
    multiline message all at once").
    """
    start = 0
    if line.startswith(b"@"):
        end = line.find(b" ")
        if end < 0:
            return (0.0, 1.0)
        tags = line[1:end].split(b";")
        if any(t == b"batch" or t.startswith(b"batch=") for t in tags):
            return (0.0, 0.0)
        start = end + 1
    command = line[start : start + 8].split(b" ", 1)[0].upper()
    return (1.0, 0.0) if command in _MESSAGE_COMMANDS else (0.0, 1.0)


class _Bucket:
    """A token bucket that may be charged below zero (for lines that had to go at once)."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst = float(burst)
        self.rate = rate
        self._tokens = self.burst
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def tokens(self, now: float) -> float:
        """Tokens available at ``now``."""
        self._refill(now)
        return self._tokens

    def wait(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` tokens are there (0 for a free line)."""
        if cost <= 0:
            return 0.0
        self._refill(now)
        wanted = min(cost, self.burst)
        missing = wanted - self._tokens
        if missing <= _SLACK:
            return 0.0
        return (min(wanted + _MARGIN, self.burst) - self._tokens) / self.rate

    def spend(self, cost: float, now: float) -> None:
        """Take ``cost`` tokens, going below zero if they are not there."""
        self._refill(now)
        self._tokens -= cost


class Pacer:
    """The client's two buckets (messages, other commands); time is passed in by the caller."""

    def __init__(self, pacing: SendPacing, now: float) -> None:
        self.pacing = pacing
        self.reset(now)

    def reset(self, now: float) -> None:
        """A new connection: the server's buckets for it start full, and so do ours."""
        p = self.pacing
        self._messages = _Bucket(p.burst, p.rate, now)
        self._commands = _Bucket(p.command_burst, p.command_rate, now)

    def delay(self, line: bytes, now: float) -> float:
        """Seconds to wait before ``line`` may be sent (0: now)."""
        if not self.pacing.enabled:
            return 0.0
        messages, commands = line_cost(line)
        return max(self._messages.wait(messages, now), self._commands.wait(commands, now))

    def spend(self, data: bytes, now: float) -> None:
        """Count the lines of ``data`` as sent at ``now`` (also those that could not wait)."""
        if not self.pacing.enabled:
            return
        for line in data.split(b"\r\n"):
            if line:
                messages, commands = line_cost(line)
                self._messages.spend(messages, now)
                self._commands.spend(commands, now)

    def spare_messages(self, now: float) -> float:
        """Message tokens available at ``now`` (infinite when pacing is off)."""
        if not self.pacing.enabled:
            return float("inf")
        return self._messages.tokens(now)


def unbatched(lines: tuple[bytes, ...]) -> list[bytes]:
    """The lines of a draft/multiline batch as plain messages, one per line.

    For a batch queued while the server offered draft/multiline, sent after a reconnect to a
    server that no longer does: its lines go one by one rather than into a batch it would refuse.
    """
    out: list[bytes] = []
    for raw in lines:
        try:
            msg = parse(raw.rstrip(b"\r\n"))
        except ProtocolError:
            continue
        if msg.command == "BATCH":
            continue
        tags = {k: v for k, v in msg.tags.items() if k not in ("batch", "draft/multiline-concat")}
        if msg.command in ("PRIVMSG", "NOTICE") and not msg.param(1):
            continue  # a blank line of the batch: alone it would be an empty message
        out.append(format_message(IRCMessage(msg.command, msg.params, msg.source, tags)))
    return out
