"""One client connection: framing, the bounded outbox, flood control and timers.

The Door hands every accepted socket to a :class:`Connection` (an ``asyncio.Protocol``). It turns
bytes into lines for its :class:`~hubbub.server.session.Session` and queues what the session sends
in an outbox that the server flushes once per loop turn, after the turn's messages are committed
(DESIGN.md principles 4, 5 and 6).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
from typing import TYPE_CHECKING, Protocol, cast

from hubbub.protocol import ProtocolError, split_lines

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
        """Count a connection just accepted (its TLS handshake not begun); why it is refused, or None."""

    def handshake_failed(self, conn: Connection, reason: str) -> None:
        """A TLS handshake failed or took too long (the connection is closed)."""

    def new_session(self, conn: Connection) -> Session:
        """The session of a connection just admitted (after its TLS handshake)."""

    def connection_closed(self, conn: Connection) -> None:
        """Forget a closed connection; called at least once for each, however it ends."""


class PartWriter(Protocol):
    """A transport that frames what it is sent (a WebSocket), taking a flush's parts one by one."""

    def write_parts(self, parts: list[Part]) -> int:
        """Write the CRLF-ended lines of ``parts``, in order; return their bytes (unframed)."""


class Connection(Intake, asyncio.Protocol):
    """The transport side of one client."""

    __slots__ = (
        "_partial",
        "_writer",
        "admitted",
        "closed",
        "dirty",
        "door",
        "handshake",
        "hold",
        "last_seen",
        "lost",
        "outbox",
        "outbox_size",
        "overflowed",
        "peer_ip",
        "server",
        "session",
        "transport",
        "web",
        "write_paused",
    )
    server: Host

    def __init__(self, server: Host) -> None:
        self.server = self.intake_host = server
        self.admitted = False  # counted against the connection limits
        self.door = "plain"  # the name of the door it came through (/metrics counts by door)
        self.handshake: asyncio.Task[None] | None = None  # the TLS handshake, while it runs
        self.transport: asyncio.Transport | None = None
        # The same transport when it is a WebSocket: it frames queued parts itself (send_parts).
        self.web: PartWriter | None = None
        self.session: Session | None = None
        self._partial = b""  # the unfinished line received so far (protocol.split_lines)
        self.outbox: list[Part] | None = None  # made by the first write of a turn, dropped at flush
        self.outbox_size = 0
        self.dirty = False
        self.closed = False
        self.lost = False  # the transport is gone: nothing can be written any more
        self.overflowed = False  # dropped for its sendq: what still waits for commits is not sent
        # The newest epoch whose commit this connection's output waits for (delivery.Epoch); it
        # no longer holds anything once that epoch is committed.
        self.hold: Epoch | None = None
        self.peer_ip = ""
        self.write_paused = False  # the transport's buffer is past its high-water mark
        self._writer: asyncio.Future[None] | None = None  # a long reply waiting for resume_writing
        self.last_seen = self.server.clock.monotonic()
        self._start_intake()

    # asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the socket just accepted and start its session, or refuse it at a connection limit.

        A TLS connection was counted when it was accepted (:meth:`tls_accepted`) and arrives
        here once its handshake is done.
        """
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        transport = self.transport
        if self.admitted:
            # The handshake is done: from here the connection closes as any other, ERROR and all
            # (the TLS layer may hand it lines, a QUIT even, before the handshake's task resumes).
            self.handshake = None
            self.session = self.server.new_session(self)
            return
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.peer_ip = str(peer[0])  # shared with others from it once admitted (Server.admit)
        refusal = self.server.admit(self)
        if refusal:
            transport.write(f"ERROR :Closing link: {refusal}\r\n".encode())
            self.closed = True
            transport.close()
            return
        self.admitted = True
        self.session = self.server.new_session(self)

    def tls_accepted(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        """Count a socket the TLS door accepted, then run its handshake within the time allowed.

        A handshake holds a descriptor and memory before the client has said anything, so it is
        counted against ``max_per_ip`` and ``max_connections`` from the accept. A refused one
        is closed without a handshake: a TLS client could not read a plain-text ERROR, and a
        handshake only to refuse would spend on the refused what the limit is there to save.
        """
        self.door = "tls"
        try:
            peer = sock.getpeername()
        except OSError:  # reset between accept and now
            sock.close()
            return
        if isinstance(peer, tuple):
            self.peer_ip = str(peer[0])
        if self.server.admit(self) is not None:
            self.closed = self.lost = True
            sock.close()
            return
        self.admitted = True
        self.handshake = self.server.loop.create_task(self._handshake(sock, context))

    async def _handshake(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        """Hand ``sock`` to the loop's TLS; connection_made follows a handshake that succeeds.

        One that fails, takes longer than ``tls_handshake_timeout`` or is cancelled (the server
        stopping) never reaches the protocol, so it gives its place back here.
        """
        timeout = self.server.settings.tls_handshake_timeout
        try:
            await self.server.loop.connect_accepted_socket(
                lambda: self, sock, ssl=context, ssl_handshake_timeout=timeout
            )
        except ConnectionAbortedError:
            self._handshake_failed(f"did not finish within {timeout:g} s")
        except (OSError, EOFError) as exc:  # ssl.SSLError is an OSError
            self._handshake_failed(f"failed ({exc.__class__.__name__})")
        except BaseException:
            self._handshake_failed("")
            raise
        else:
            if self.transport is None:  # the TLS layer lost the socket without saying why
                self._handshake_failed("failed (the connection was lost)")
        finally:
            self.handshake = None

    def _handshake_failed(self, reason: str) -> None:
        """The socket is the loop's and closed by it; give the connection's place back."""
        if reason and not self.closed:
            self.server.handshake_failed(self, reason)
        self.closed = True
        self.connection_lost(None)

    def data_received(self, data: bytes) -> None:
        """Split into lines and hand them to the session, within the flood limits."""
        pacing = self._pacing
        if self.closed or self.session is None or (pacing is not None and pacing.flooded):
            return
        self.last_seen = self.server.clock.monotonic()
        try:
            lines, self._partial = split_lines(self._partial, data)
        except ProtocolError:
            self._partial = b""
            self.session.input_too_long()
            return
        if not lines:
            return
        if pacing is not None and pacing.pending:
            self._queue(lines)
            self._drain()
            return
        self._process(lines)

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer went away (or we closed): make sure the session is gone.

        Called by the transport, or by a TLS handshake that failed (whose connection never
        reached :meth:`connection_made`); a second call finds nothing left to do.
        """
        if self.lost:
            return
        self.closed = True
        self.lost = True
        self.outbox = None
        self.outbox_size = 0
        self._stop_intake()
        self.server.connection_closed(self)
        self._wake_writer()
        if self.session is not None:
            self.session.disconnect("Connection reset by peer" if exc else "Connection closed")

    def pause_writing(self) -> None:
        """The transport's buffer passed its high-water mark: long replies wait (:meth:`writable`).

        The sendq check sees the transport's buffer itself; nothing else waits for this.
        """
        self.write_paused = True

    def resume_writing(self) -> None:
        """The transport's buffer fell below its low-water mark: a long reply may go on."""
        self.write_paused = False
        self._wake_writer()

    async def writable(self) -> None:
        """Return once the client has taken most of what it was sent, or is gone.

        That is: this turn's output is flushed, it waits for no commit, and the socket's buffer
        holds no more than a quarter of the sendq (its high-water mark). A long reply sent a
        quarter of the sendq at a time after each return keeps within the sendq
        (``Answering.send_paced``).
        """
        loop = self.server.loop
        while not self.closed:
            waiter: asyncio.Future[None] = loop.create_future()
            if self.dirty:
                # The end of this turn writes the outbox; that flush was scheduled before this.
                loop.call_soon(_wake, waiter)
            elif self.held() is not None:
                if not self.server.delivery.after_commit(functools.partial(_wake, waiter)):
                    continue
            else:
                transport = self.transport
                if transport is None:
                    return
                # Set each time: REHASH may have changed the sendq. Past the high-water mark the
                # transport calls pause_writing, and resume_writing below the low one (a quarter).
                transport.set_write_buffer_limits(high=max(self.server.settings.sendq // 4, 4))
                if not self.write_paused:
                    return
                self._writer = waiter
            await waiter

    def _wake_writer(self) -> None:
        waiter, self._writer = self._writer, None
        if waiter is not None:
            _wake(waiter)

    @property
    def peer_port(self) -> int:
        """The client's port, for the logs: asked of the transport, 0 when it has none.

        Not kept: an int per connection (32 bytes) for what only a log line reads.
        """
        transport = self.transport
        try:
            peer = transport.get_extra_info("peername") if transport is not None else None
        except (OSError, AttributeError):  # a transport torn down under it: a log line must not fail
            peer = None
        return int(peer[1]) if isinstance(peer, tuple) and len(peer) > 1 else 0

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
        if outbox is None:
            self.outbox = [data]
        else:
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
        outbox = self.outbox
        if self.closed or not outbox:
            return
        self.outbox = None
        self.outbox_size = 0
        hold = self.held()
        if hold is not None:
            hold.hold_output(self, outbox)  # handed over, not copied: a list per member per turn
            return
        self.send_parts(outbox)

    def send_parts(self, parts: list[Part]) -> None:
        """Write queued parts: joined into one write, or framed part by part on a WebSocket.

        The parts of a fan-out are the same objects in every member's outbox, so a WebSocket
        frames each once for all its members (websocket.WebSocketTransport.write_parts); joined
        first, they would be new bytes per member, framed per member.
        """
        web = self.web
        if web is None:
            self.send_now(outbox_bytes(parts))
        elif not self.lost and parts:
            self.stats.bytes_out += web.write_parts(parts)
            self.check_sendq()

    def send_now(self, data: bytes) -> None:
        """Write ``data`` to the socket; drop the peer if its sendq overflows."""
        transport = self.transport
        if self.lost or transport is None or not data:
            return
        transport.write(data)
        self.stats.bytes_out += len(data)
        self.check_sendq()

    def check_sendq(self) -> None:
        """Drop the peer if what its socket has not taken yet is past the sendq."""
        transport = self.transport
        if self.closed or transport is None:
            return
        if transport.get_write_buffer_size() > self.server.settings.sendq:
            self.overflow()

    def overflow(self) -> None:
        """The peer does not read fast enough: drop it alone (principle 6)."""
        if self.closed:
            return
        self.outbox = None
        self.outbox_size = 0
        self.overflowed = True
        self.stats.sendq_drops += 1
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
        self._wake_writer()
        if self.handshake is not None:
            # No TLS session yet to say it in: ending the handshake closes the socket.
            self.handshake.cancel()
            return
        final = [*(self.outbox or ()), f"ERROR :{reason}\r\n".encode()]
        self.outbox = None
        self.outbox_size = 0
        hold = self.held()
        if hold is not None:
            hold.hold_output(self, final)
            hold.closing.append(self)
            return
        self.send_parts(final)
        self.shut()

    def shut(self) -> None:
        """Close the socket after the last lines (``close_with_error`` has queued them)."""
        transport = self.transport
        if self.lost or transport is None:
            return
        clock = self.server.clock
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


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
