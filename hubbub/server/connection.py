"""One client connection: framing, the bounded outbox, flood control and timers.

The Door hands every accepted socket to a :class:`Connection` (an ``asyncio.Protocol``). It turns
bytes into lines for its :class:`~hubbub.server.session.Session` and queues what the session sends
in an outbox that the server flushes once per loop turn, after the turn's messages are committed
(DESIGN.md principles 4, 5 and 6).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, Protocol, cast

from hubbub.protocol import LineFramer, ProtocolError

from .intake import Intake, IntakeHost
from .outbox import Epoch, Part, outbox_bytes

if TYPE_CHECKING:
    from .clock import Clock
    from .outbox import Outboxes
    from .session import Session

log = logging.getLogger(__name__)

# Seconds a closing connection gets to flush its last lines before it is cut off.
CLOSE_GRACE = 5.0
# Seconds a half-closed connection waits for the peer to close its side.
CLOSE_LINGER = 2.0


class Host(IntakeHost, Protocol):
    """What a connection needs of the server (:class:`hubbub.server.app.Server` is the one)."""

    clock: Clock
    outboxes: Outboxes

    def admit(self, conn: Connection) -> str | None:
        """Count a new connection; why it is refused, or None."""

    def new_session(self, conn: Connection) -> Session:
        """The session of a connection just admitted."""

    def connection_closed(self, conn: Connection) -> None:
        """Forget a closed connection."""


class Connection(Intake, asyncio.Protocol):
    """The transport side of one client."""

    __slots__ = (
        "_clock",
        "_framer",
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
    server: Host

    def __init__(self, server: Host) -> None:
        self.server = server
        self._clock = server.clock
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self._framer = LineFramer()
        self.outbox: list[Part] = []
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
        self._start_intake(server.settings, self.last_seen)

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

    def tls_info(self) -> ssl.SSLObject | None:
        """The TLS session's ``ssl_object``, or None on a plain connection."""
        transport = self.transport
        return cast("ssl.SSLObject | None", transport.get_extra_info("ssl_object")) if transport else None

    # output -----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the next flush."""
        if self.closed:
            return
        outbox = self.outbox
        outboxes = self.server.outboxes
        if outbox and outbox[-1] is outboxes.segment:
            # Later lines of the shared segment must not overtake this one (Delivery.fanout).
            outboxes.close_segment()
        outbox.append(data)
        self.outbox_size += len(data)
        if not self.dirty:
            self.dirty = True
            outboxes.mark_dirty(self)
        # The sendq proper is checked at flush time against what the socket could not take; within
        # one loop turn a burst may queue more, up to a hard cap that protects memory.
        if self.outbox_size > outboxes.turn_limit:
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
            hold.hold_output(self, self.outbox)  # handed over, not copied: a list per member per turn
            self.outbox = []
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
