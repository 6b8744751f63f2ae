"""A connection's input: framed lines paced by flood control, held in order while they must wait.

DESIGN.md principle 7 and docs/architecture.md ("Nothing is written before it is committed").
Lines past the rate wait and run at the rate (fake lag), bounded by ``recvq`` bytes; a client's
later lines also wait while one of its commands finishes off the loop (``hold_input``), while a
command that reads history waits for the commit of what came before it (``after_commit``), and
while the store is behind (``store_backlog``). Only input past the recvq ends a connection, after
what came before it. :class:`Intake` is that part of :class:`~hubbub.server.connection.Connection`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Protocol

from .limits import TokenBucket, in_batch, message_command

if TYPE_CHECKING:
    from .clock import Clock, Timer
    from .config import Settings
    from .delivery import Delivery
    from .session import Session

log = logging.getLogger(__name__)


class IntakeHost(Protocol):
    """What a connection's input needs of the server: its limits, the store's progress, the loop."""

    settings: Settings
    delivery: Delivery
    clock: Clock

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on."""


class Intake:
    """Pacing and holding a client's lines before its session handles them."""

    __slots__ = (
        "_bypass",
        "_commands",
        "_flood_handle",
        "_flooded",
        "_holds",
        "_messages",
        "_pending",
        "_pending_bytes",
        "_read_paused",
        "_waiting",
        "_waiting_store",
    )
    _messages: TokenBucket | None
    _commands: TokenBucket | None
    _waiting: TokenBucket | None
    _pending: deque[bytes] | None
    _pending_bytes: int
    _flood_handle: Timer | None
    _holds: int
    _bypass: bytes | None
    _waiting_store: bool
    _flooded: bool
    _read_paused: bool

    if TYPE_CHECKING:
        server: IntakeHost
        session: Session | None
        transport: asyncio.Transport | None
        closed: bool

    def _start_intake(self) -> None:
        # Most clients are idle most of the time: the flood buckets are made at their first use
        # (full, as a bucket made earlier would have refilled to be) and the queue of held lines
        # when a line is first held, not for every connection.
        self._messages = None
        self._commands = None
        self._waiting = None  # the bucket a held line waits for
        self._pending = None
        self._pending_bytes = 0
        self._flood_handle = None
        self._holds = 0  # commands of this client being finished off the loop (replies in order)
        self._bypass = None  # a line that waited for the store and may now run
        self._waiting_store = False
        self._flooded = False  # past the recvq: what came before is processed, then it is dropped
        self._read_paused = False

    # pacing ------------------------------------------------------------------------------------

    @property
    def held_lines(self) -> int:
        """Lines received and not handled yet (paced, or waiting for the store or an earlier command)."""
        return len(self._pending) if self._pending is not None else 0

    def _limited(self) -> bool:
        session = self.session
        return (
            self.server.settings.flood_control
            and session is not None
            and session.registered
            and not session.flood_exempt
        )

    def _process(self, lines: list[bytes]) -> None:
        session = self.session
        assert session is not None
        for i, line in enumerate(lines):
            if self.closed:
                return
            if not self._may_handle(line):
                self._queue(lines[i:])
                return
            session.handle_line(line)

    def _may_handle(self, line: bytes) -> bool:
        """Whether ``line`` may be handled now; if not, arrange to try again when it may."""
        if self._holds:
            return False  # an earlier command of this client is not finished yet
        backlogged = self.server.delivery.backlogged
        limited = self._limited()
        if not (backlogged or limited):
            return True
        is_message = message_command(line)
        if is_message and backlogged:
            # The store is behind (slow or locked): senders wait for it, nothing is dropped.
            if not self._waiting_store:
                self._waiting_store = True
                self.server.delivery.after_commit(self._store_caught_up)
            return False
        if not limited:
            return True
        session = self.session
        batch = session.multiline if session is not None else None
        if batch is not None and not batch.failed and in_batch(line):
            # A line of an open draft/multiline batch: the batch is one message, paced as one by
            # its BATCH lines (IRCv3 multiline: "clients might send an entire batched multiline
            # message all at once"); its size is bounded by max-lines and max-bytes instead, and
            # once it breaks them (failed) its lines are paced again.
            return True
        # Messages to people have the strict bucket (flood_burst, flood_rate); every other
        # command the generous one, so a client syncing a channel (MODE, WHO, NAMES ...) is not
        # slowed down like a flooder.
        now = self.server.clock.monotonic()
        bucket = self._messages if is_message else self._commands
        if bucket is None:
            settings = self.server.settings
            if is_message:
                bucket = self._messages = TokenBucket(settings.flood_burst, settings.flood_rate, now)
            else:
                bucket = self._commands = TokenBucket(
                    settings.flood_command_burst, settings.flood_command_rate, now
                )
        if bucket.take(now):
            self._waiting = None
            return True
        self._waiting = bucket
        self._schedule_drain()
        return False

    def _store_caught_up(self) -> None:
        self._waiting_store = False
        self._drain()

    def _queue(self, lines: list[bytes]) -> None:
        """Hold ``lines`` after those already waiting, within the recvq."""
        limit = self.server.settings.recvq
        session = self.session
        if session is not None and session.multiline is not None:
            # The text of an open multiline batch is input held for this client too: it counts
            # against the same bound.
            limit -= session.multiline.size
        pending = self._pending
        if pending is None:
            pending = self._pending = deque()
        for line in lines:
            size = len(line) + 2
            if self._pending_bytes + size > limit and not (self._holds or self._waiting_store):
                # Past the bound: everything before it is still processed, at the rate; the rest
                # is dropped and the client after it (fake lag delays, only the bound drops).
                self._flooded = True
                self._pause_reading()
                self._schedule_drain()
                log.info("%r flooded past the recvq of %d bytes", self.session, self.server.settings.recvq)
                return
            pending.append(line)
            self._pending_bytes += size
        if self._pending_bytes > limit:
            # Held for the server's own reasons (the store, a password check): slow the client
            # down through TCP instead of dropping it.
            self._pause_reading()

    def _pause_reading(self) -> None:
        if not self._read_paused and self.transport is not None and not self.closed:
            self._read_paused = True
            self.transport.pause_reading()

    def _schedule_drain(self) -> None:
        if self._flood_handle is None and not self.closed:
            wait = self._waiting.wait() if self._waiting is not None else 0.0
            self._flood_handle = self.server.clock.call_later(wait, self._timed_drain)

    def _timed_drain(self) -> None:
        self._flood_handle = None
        self._drain()

    def _drain(self) -> None:
        """Handle the held lines that may run now, in order."""
        session = self.session
        if self.closed or session is None:
            return
        while not self.closed:
            pending = self._pending  # read again each time: a line handled may hold its own again
            if not pending:
                break
            line = pending[0]
            if line is not self._bypass and not self._may_handle(line):
                return
            pending.popleft()
            self._pending_bytes -= len(line) + 2
            session.handle_line(line)
        if self.closed:
            return
        self._pending = None  # all handled: its block of 64 lines goes back until one is held again
        if self._flooded:
            session.disconnect("Excess Flood")
        elif self._read_paused and self.transport is not None:
            self._read_paused = False
            self.transport.resume_reading()

    def hold_input(self) -> None:
        """Handle no further command of this client until :meth:`release_input`."""
        self._holds += 1

    def release_input(self) -> None:
        """The command that held input is finished: go on with the lines that waited."""
        self._holds -= 1
        if not self._holds and self._pending and not self.closed:
            self.server.loop.call_soon(self._drain)

    def after_commit(self, line: bytes) -> bool:
        """Run ``line`` (being handled) again once everything recorded so far is committed.

        False when nothing is waiting to be committed: go ahead now. Otherwise ``line`` and
        everything after it wait (a history read then sees every message sent before it).
        """
        if line is self._bypass:
            self._bypass = None
            return False
        if not self.server.delivery.after_commit(self.release_input):
            return False
        if self._pending is None:
            self._pending = deque()
        self._pending.appendleft(line)
        self._pending_bytes += len(line) + 2
        self._bypass = line
        self._holds += 1
        return True
