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
from .stats import Stats

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


class Pacing:
    """What only a client whose lines are paced or held needs: made the first time it is.

    Its flood buckets (each made at its first use, full, as a bucket made earlier would have
    refilled to be), the bytes of its held lines, the drain timer and the rest. An idle client,
    or one never paced, has none of it.
    """

    __slots__ = (
        "bypass",
        "commands",
        "flood_handle",
        "flooded",
        "holds",
        "messages",
        "pending",
        "pending_bytes",
        "read_paused",
        "waiting",
        "waiting_store",
    )

    def __init__(self) -> None:
        self.pending: deque[bytes] | None = None  # the held lines, while there are any
        self.holds = 0  # commands of this client being finished off the loop (replies in order)
        self.flooded = False  # past the recvq: what came before is processed, then it is dropped
        self.messages: TokenBucket | None = None  # messages to people: flood_burst, flood_rate
        self.commands: TokenBucket | None = None  # every other command: the generous bucket
        self.waiting: TokenBucket | None = None  # the bucket a held line waits for
        self.pending_bytes = 0  # of the held lines, each with its CRLF
        self.flood_handle: Timer | None = None
        self.bypass: bytes | None = None  # a line that waited for a commit and may now run
        self.waiting_store = False
        self.read_paused = False


class Intake:
    """Pacing and holding a client's lines before its session handles them."""

    # intake_host is the server, as intake sees it: Connection.server under a name of its own,
    # as mypyc (which compiles both classes in the optional build) lets no subclass narrow the
    # type of an attribute it inherits, as Connection's Host would narrow IntakeHost.
    __slots__ = ("_pacing", "intake_host", "stats")
    _pacing: Pacing | None
    stats: Stats  # the server's counters (Delivery.stats), kept here for the hot paths
    intake_host: IntakeHost

    # Connection's: declared here rather than in an ``if TYPE_CHECKING:`` block, which mypyc
    # refuses in a class body.
    session: Session | None
    transport: asyncio.Transport | None
    closed: bool

    def _start_intake(self) -> None:
        # Most clients are idle most of the time: what pacing and holding lines need is made when
        # a client is first paced or has a line held, the queue of held lines when one is held.
        self._pacing = None
        self.stats = self.intake_host.delivery.stats

    def _paced(self) -> Pacing:
        pacing = self._pacing
        if pacing is None:
            pacing = self._pacing = Pacing()
        return pacing

    def _stop_intake(self) -> None:
        """The connection is gone: forget the held lines and stop the drain timer."""
        pacing = self._pacing
        if pacing is not None:
            pacing.pending = None
            pacing.pending_bytes = 0
            if pacing.flood_handle is not None:
                pacing.flood_handle.cancel()
                pacing.flood_handle = None

    # pacing ------------------------------------------------------------------------------------

    @property
    def held_lines(self) -> int:
        """Lines received and not handled yet (paced, or waiting for the store or an earlier command)."""
        pacing = self._pacing
        return len(pacing.pending) if pacing is not None and pacing.pending is not None else 0

    def _limited(self) -> bool:
        session = self.session
        return (
            self.intake_host.settings.flood_control
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
        pacing = self._pacing
        if pacing is not None and pacing.holds:
            return False  # an earlier command of this client is not finished yet
        backlogged = self.intake_host.delivery.backlogged
        limited = self._limited()
        if not (backlogged or limited):
            return True
        is_message = message_command(line)
        if is_message and backlogged:
            # The store is behind (slow or locked): senders wait for it, nothing is dropped.
            pacing = self._paced()
            if not pacing.waiting_store:
                pacing.waiting_store = True
                self.intake_host.delivery.after_commit(self._store_caught_up)
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
        now = self.intake_host.clock.monotonic()
        pacing = self._paced()
        bucket = pacing.messages if is_message else pacing.commands
        if bucket is None:
            settings = self.intake_host.settings
            if is_message:
                bucket = pacing.messages = TokenBucket(settings.flood_burst, settings.flood_rate, now)
            else:
                bucket = pacing.commands = TokenBucket(
                    settings.flood_command_burst, settings.flood_command_rate, now
                )
        if bucket.take(now):
            pacing.waiting = None
            return True
        pacing.waiting = bucket
        self.stats.flood_delays += 1
        self._schedule_drain()
        return False

    def _store_caught_up(self) -> None:
        self._paced().waiting_store = False
        self._drain()

    def _queue(self, lines: list[bytes]) -> None:
        """Hold ``lines`` after those already waiting, within the recvq."""
        limit = self.intake_host.settings.recvq
        session = self.session
        if session is not None and session.multiline is not None:
            # The text of an open multiline batch is input held for this client too: it counts
            # against the same bound.
            limit -= session.multiline.size
        pacing = self._paced()
        pending = pacing.pending
        if pending is None:
            pending = pacing.pending = deque()
        for line in lines:
            size = len(line) + 2
            if pacing.pending_bytes + size > limit and not (pacing.holds or pacing.waiting_store):
                # Past the bound: everything before it is still processed, at the rate; the rest
                # is dropped and the client after it (fake lag delays, only the bound drops).
                pacing.flooded = True
                self._pause_reading()
                self._schedule_drain()
                recvq = self.intake_host.settings.recvq
                log.info("%r flooded past the recvq of %d bytes", self.session, recvq)
                return
            pending.append(line)
            pacing.pending_bytes += size
        if pacing.pending_bytes > limit:
            # Held for the server's own reasons (the store, a password check): slow the client
            # down through TCP instead of dropping it.
            self._pause_reading()

    def _pause_reading(self) -> None:
        pacing = self._paced()
        if not pacing.read_paused and self.transport is not None and not self.closed:
            pacing.read_paused = True
            self.transport.pause_reading()

    def _schedule_drain(self) -> None:
        pacing = self._paced()
        if pacing.flood_handle is None and not self.closed:
            wait = pacing.waiting.wait() if pacing.waiting is not None else 0.0
            pacing.flood_handle = self.intake_host.clock.call_later(wait, self._timed_drain)

    def _timed_drain(self) -> None:
        self._paced().flood_handle = None
        self._drain()

    def _drain(self) -> None:
        """Handle the held lines that may run now, in order."""
        session = self.session
        if self.closed or session is None:
            return
        pacing = self._paced()
        while not self.closed:
            pending = pacing.pending  # read again each time: a line handled may hold its own again
            if not pending:
                break
            line = pending[0]
            if line is not pacing.bypass and not self._may_handle(line):
                return
            pending.popleft()
            pacing.pending_bytes -= len(line) + 2
            session.handle_line(line)
        if self.closed:
            return
        pacing.pending = None  # all handled: its block of 64 lines goes back until one is held again
        if pacing.flooded:
            session.disconnect("Excess Flood")
        elif pacing.read_paused and self.transport is not None:
            pacing.read_paused = False
            self.transport.resume_reading()

    def hold_input(self) -> None:
        """Handle no further command of this client until :meth:`release_input`."""
        self._paced().holds += 1

    def release_input(self) -> None:
        """The command that held input is finished: go on with the lines that waited."""
        pacing = self._paced()
        pacing.holds -= 1
        if not pacing.holds and pacing.pending and not self.closed:
            self.intake_host.loop.call_soon(self._drain)

    def after_commit(self, line: bytes) -> bool:
        """Run ``line`` (being handled) again once everything recorded so far is committed.

        False when nothing is waiting to be committed: go ahead now. Otherwise ``line`` and
        everything after it wait (a history read then sees every message sent before it).
        """
        pacing = self._pacing
        if pacing is not None and line is pacing.bypass:
            pacing.bypass = None
            return False
        if not self.intake_host.delivery.after_commit(self.release_input):
            return False
        pacing = self._paced()
        if pacing.pending is None:
            pacing.pending = deque()
        pacing.pending.appendleft(line)
        pacing.pending_bytes += len(line) + 2
        pacing.bypass = line
        pacing.holds += 1
        return True
