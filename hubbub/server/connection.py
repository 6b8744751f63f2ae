"""One client connection: framing, the bounded outbox, flood control and timers.

The Door hands every accepted socket to a :class:`Connection` (an ``asyncio.Protocol``). It turns
bytes into lines for its :class:`~hubbub.server.session.Session` and queues what the session sends
in an outbox that the server flushes once per loop turn, after the turn's messages are committed
(DESIGN.md principles 4, 5 and 6).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, cast

from hubbub.protocol import LineFramer, ProtocolError

from .limits import TokenBucket, message_command

if TYPE_CHECKING:
    from .app import Server
    from .clock import Timer
    from .delivery import Epoch
    from .session import Session

log = logging.getLogger(__name__)

# Seconds a closing connection gets to flush its last lines before it is cut off.
CLOSE_GRACE = 5.0
# Seconds a half-closed connection waits for the peer to close its side.
CLOSE_LINGER = 2.0
# How many sendqs one loop turn may queue for a client before it is dropped regardless.
TURN_SENDQ_FACTOR = 8


class Segment(list[bytes]):
    """Lines of one loop turn queued once and shared by the outboxes of many recipients.

    A fan-out to a large recipient list puts one Segment into every outbox instead of the bytes.
    While nothing else is queued to those recipients, the next message to the same list is
    appended to the Segment alone: one append instead of one per member (``delivery.fanout``).
    At flush every member sends the same joined bytes.
    """

    __slots__ = ("_joined", "_joined_parts", "first", "hold", "recipients", "room", "size", "view")

    def __init__(self, data: bytes, view: int) -> None:
        super().__init__((data,))
        self.view = view
        self.first = self.size = len(data)
        self.room = 0  # how large ``size`` may grow before a member would pass the turn cap
        self.recipients: list[Session] = []
        self.hold: Epoch | None = None  # the epoch whose messages these are, if they are kept
        self._joined = data
        self._joined_parts = 1

    def joined(self) -> bytes:
        """All lines as one bytes object, joined once however many outboxes ask."""
        if self._joined_parts != len(self):
            self._joined = b"".join(self)
            self._joined_parts = len(self)
        return self._joined


def outbox_bytes(outbox: list[bytes | Segment]) -> bytes:
    """The queued parts of one outbox as the bytes to write."""
    if len(outbox) == 1:
        part = outbox[0]
        return part.joined() if isinstance(part, Segment) else part
    return b"".join([part.joined() if isinstance(part, Segment) else part for part in outbox])


class Connection(asyncio.Protocol):
    """The transport side of one client."""

    __slots__ = (
        "_bypass",
        "_clock",
        "_commands",
        "_flood_handle",
        "_flooded",
        "_framer",
        "_holds",
        "_messages",
        "_pending",
        "_pending_bytes",
        "_read_paused",
        "_waiting",
        "_waiting_store",
        "closed",
        "dirty",
        "hold",
        "last_seen",
        "lost",
        "outbox",
        "outbox_size",
        "overflowed",
        "peer_ip",
        "peer_port",
        "server",
        "session",
        "transport",
    )

    def __init__(self, server: Server) -> None:
        self.server = server
        self._clock = server.clock
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self._framer = LineFramer()
        self.outbox: list[bytes | Segment] = []
        self.outbox_size = 0
        self.dirty = False
        self.closed = False
        self.lost = False  # the transport is gone: nothing can be written any more
        self.overflowed = False  # dropped for its sendq: what still waits for commits is not sent
        # The newest epoch whose commit this connection's output waits for (delivery.Epoch); it
        # no longer holds anything once that epoch is committed.
        self.hold: Epoch | None = None
        self.peer_ip = ""
        self.peer_port = 0
        self.last_seen = self._clock.monotonic()
        settings = server.settings
        self._messages = TokenBucket(settings.flood_burst, settings.flood_rate, self.last_seen)
        self._commands = TokenBucket(
            settings.flood_command_burst, settings.flood_command_rate, self.last_seen
        )
        self._waiting: TokenBucket | None = None  # the bucket a held line waits for
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        self._flood_handle: Timer | None = None
        self._holds = 0  # commands of this client being finished off the loop (replies in order)
        self._bypass: bytes | None = None  # a line that waited for the store and may now run
        self._waiting_store = False
        self._flooded = False  # past the recvq: what came before is processed, then it is dropped
        self._read_paused = False

    # asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Accept the socket, or refuse it when a connection limit is reached."""
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer_ip, self.peer_port = str(peer[0]), int(peer[1])
        refusal = self.server.admit(self)
        if refusal:
            transport.write(f"ERROR :Closing link: {refusal}\r\n".encode())
            self.closed = True
            transport.close()
            return
        self.session = self.server.new_session(self)

    def data_received(self, data: bytes) -> None:
        """Split into lines and hand them to the session, within the flood limits."""
        if self.closed or self.session is None or self._flooded:
            return
        self.last_seen = self._clock.monotonic()
        try:
            lines = self._framer.receive_data(data)
        except ProtocolError:
            self.session.input_too_long()
            return
        if not lines:
            return
        if self._pending:
            self._queue(lines)
            self._drain()
            return
        self._process(lines)

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer went away (or we closed): make sure the session is gone."""
        self.closed = True
        self.lost = True
        self.outbox.clear()
        self.outbox_size = 0
        self._pending.clear()
        self._pending_bytes = 0
        if self._flood_handle is not None:
            self._flood_handle.cancel()
        self.server.connection_closed(self)
        if self.session is not None:
            self.session.disconnect("Connection reset by peer" if exc else "Connection closed")

    def pause_writing(self) -> None:  # transport buffer above its high-water mark
        """Nothing to do: the sendq check sees the transport's buffer."""

    def resume_writing(self) -> None:
        """Nothing to do: see :meth:`pause_writing`."""

    # input ------------------------------------------------------------------------------------

    @property
    def held_lines(self) -> int:
        """Lines received and not handled yet (paced, or waiting for the store or an earlier command)."""
        return len(self._pending)

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
        bucket = self._messages if is_message else self._commands
        # Messages to people have the strict bucket (flood_burst, flood_rate); every other
        # command the generous one, so a client syncing a channel (MODE, WHO, NAMES ...) is not
        # slowed down like a flooder.
        if bucket.take(self._clock.monotonic()):
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
        for line in lines:
            size = len(line) + 2
            if self._pending_bytes + size > limit and not (self._holds or self._waiting_store):
                # Past the bound: everything before it is still processed, at the rate; the rest
                # is dropped and the client after it (fake lag delays, only the bound drops).
                self._flooded = True
                self._pause_reading()
                self._schedule_drain()
                log.info("%r flooded past the recvq of %d bytes", self.session, limit)
                return
            self._pending.append(line)
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
            self._flood_handle = self._clock.call_later(wait, self._timed_drain)

    def _timed_drain(self) -> None:
        self._flood_handle = None
        self._drain()

    def _drain(self) -> None:
        """Handle the held lines that may run now, in order."""
        session = self.session
        if self.closed or session is None:
            return
        pending = self._pending
        while pending and not self.closed:
            line = pending[0]
            if line is not self._bypass and not self._may_handle(line):
                return
            pending.popleft()
            self._pending_bytes -= len(line) + 2
            session.handle_line(line)
        if self.closed:
            return
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
        self._pending.appendleft(line)
        self._pending_bytes += len(line) + 2
        self._bypass = line
        self._holds += 1
        return True

    # output -----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the next flush."""
        if self.closed:
            return
        outbox = self.outbox
        if outbox and outbox[-1] is self.server.segment:
            # Later lines of the shared segment must not overtake this one (delivery.fanout).
            self.server.close_segment()
        outbox.append(data)
        self.outbox_size += len(data)
        if not self.dirty:
            self.dirty = True
            self.server.mark_dirty(self)
        # The sendq proper is checked at flush time against what the socket could not take; within
        # one loop turn a burst may queue more, up to a hard cap that protects memory.
        if self.outbox_size > self.server.settings.sendq * TURN_SENDQ_FACTOR:
            self.overflow()

    def held(self) -> Epoch | None:
        """The uncommitted epoch this connection's output must wait for, if any."""
        hold = self.hold
        if hold is not None and hold.seq > self.server.delivery.committed_seq:
            return hold
        return None

    def flush(self) -> None:
        """Write the outbox (or, while a commit it depends on is out, add it to that hold)."""
        self.dirty = False
        if self.closed or not self.outbox:
            return
        hold = self.held()
        if hold is not None:
            hold.hold_output(self, self.outbox)
            self.outbox.clear()
            self.outbox_size = 0
            return
        data = outbox_bytes(self.outbox)
        self.outbox.clear()
        self.outbox_size = 0
        self.send_now(data)

    def send_now(self, data: bytes) -> None:
        """Write ``data`` to the socket; drop the peer if its sendq overflows."""
        transport = self.transport
        if self.lost or transport is None or not data:
            return
        transport.write(data)
        if not self.closed and transport.get_write_buffer_size() > self.server.settings.sendq:
            self.overflow()

    def overflow(self) -> None:
        """The peer does not read fast enough: drop it alone (principle 6)."""
        if self.closed:
            return
        self.outbox.clear()
        self.outbox_size = 0
        self.overflowed = True
        if self.session is not None:
            self.server.loop.call_soon(self.session.disconnect, "SendQ exceeded")
        self.close_with_error("SendQ exceeded")

    def close_with_error(self, reason: str) -> None:
        """Send ``ERROR :reason`` after whatever is queued, and close.

        What is queued may wait for a commit: then the ERROR and the close wait with it, so a
        client never sees the end of its connection before the lines in front of it.
        """
        if self.closed:
            return
        self.closed = True
        final = [*self.outbox, f"ERROR :{reason}\r\n".encode()]
        self.outbox.clear()
        self.outbox_size = 0
        hold = self.held()
        if hold is not None:
            hold.hold_output(self, final)
            hold.closing.append(self)
            return
        self.send_now(outbox_bytes(final))
        self.shut()

    def shut(self) -> None:
        """Close the socket after the last lines (``close_with_error`` has queued them)."""
        transport = self.transport
        if self.lost or transport is None:
            return
        clock = self._clock
        if transport.can_write_eof():
            # Half-close and keep reading (and discarding) until the peer closes: closing a socket
            # with unread input resets the connection, and the peer may lose the ERROR line that
            # says why (RFC 2812 3.1.7). The peer's EOF, or the linger timer, closes it for good.
            transport.write_eof()
            transport.resume_reading()
            clock.call_later(CLOSE_LINGER, transport.close)
        else:
            transport.close()
        clock.call_later(CLOSE_GRACE, transport.abort)
