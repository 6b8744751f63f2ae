"""One client connection: framing, the bounded outbox, flood control and timers.

The Door hands every accepted socket to a :class:`Connection` (an ``asyncio.Protocol``). It turns
bytes into lines for its :class:`~hubbub.server.session.Session` and queues what the session sends
in an outbox that the server flushes once per loop turn, after the turn's messages are committed
(DESIGN.md principles 4, 5 and 6).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, cast

from hubbub.protocol import LineFramer, ProtocolError

from .limits import TokenBucket, message_command

if TYPE_CHECKING:
    from .app import Server
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

    __slots__ = ("_joined", "_joined_parts", "first", "recipients", "room", "size", "view")

    def __init__(self, data: bytes, view: int) -> None:
        super().__init__((data,))
        self.view = view
        self.first = self.size = len(data)
        self.room = 0  # how large ``size`` may grow before a member would pass the turn cap
        self.recipients: list[Session] = []
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
        "_commands",
        "_flood_handle",
        "_framer",
        "_messages",
        "_pending",
        "_waiting",
        "capture",
        "closed",
        "dirty",
        "last_seen",
        "outbox",
        "outbox_size",
        "peer_ip",
        "peer_port",
        "server",
        "session",
        "transport",
    )

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self._framer = LineFramer()
        self.outbox: list[bytes | Segment] = []
        self.outbox_size = 0
        self.dirty = False
        self.closed = False
        self.capture: list[bytes] | None = None  # labeled-response: replies to one command
        self.peer_ip = ""
        self.peer_port = 0
        self.last_seen = time.monotonic()
        settings = server.settings
        self._messages = TokenBucket(settings.flood_burst, settings.flood_rate, self.last_seen)
        self._commands = TokenBucket(
            settings.flood_command_burst, settings.flood_command_rate, self.last_seen
        )
        self._waiting: TokenBucket | None = None  # the bucket a held line waits for
        self._pending: deque[bytes] = deque()
        self._flood_handle: asyncio.TimerHandle | None = None

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
        from .session import Session

        self.session = Session(self.server, self)

    def data_received(self, data: bytes) -> None:
        """Split into lines and hand them to the session, within the flood limits."""
        if self.closed or self.session is None:
            return
        self.last_seen = time.monotonic()
        try:
            lines = self._framer.receive_data(data)
        except ProtocolError:
            self.session.input_too_long()
            return
        if not lines:
            return
        if self._pending or self._limited():
            self._queue(lines)
            return
        self._process(lines)

    def connection_lost(self, exc: Exception | None) -> None:
        """The peer went away (or we closed): make sure the session is gone."""
        self.closed = True
        self.outbox.clear()
        self.outbox_size = 0
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
        limited = self._limited()
        for i, line in enumerate(lines):
            if self.closed:
                return
            if limited and not self._take_token(line):
                self._queue(lines[i:])
                return
            session.handle_line(line)
            if not limited and self._limited():
                limited = True  # registration just completed

    def _bucket_for(self, line: bytes) -> TokenBucket:
        # Messages to people have the strict bucket (flood_burst, flood_rate); every other
        # command the generous one, so a client syncing a channel (MODE, WHO, NAMES ...) is not
        # slowed down like a flooder.
        return self._messages if message_command(line) else self._commands

    def _take_token(self, line: bytes) -> bool:
        bucket = self._bucket_for(line)
        if bucket.take(time.monotonic()):
            self._waiting = None
            return True
        self._waiting = bucket
        return False

    def _queue(self, lines: list[bytes]) -> None:
        self._pending.extend(lines)
        if len(self._pending) > self.server.settings.flood_max_pending:
            self._pending.clear()
            if self.session is not None:
                self.session.disconnect("Excess Flood")
            return
        assert self.transport is not None
        self.transport.pause_reading()
        self._schedule_drain()

    def _schedule_drain(self) -> None:
        if self._flood_handle is None and not self.closed:
            wait = self._waiting.wait() if self._waiting is not None else 0.0
            self._flood_handle = self.server.loop.call_later(wait, self._drain)

    def _drain(self) -> None:
        self._flood_handle = None
        session = self.session
        if self.closed or session is None:
            return
        while self._pending and not self.closed:
            if self._limited() and not self._take_token(self._pending[0]):
                self._schedule_drain()
                return
            session.handle_line(self._pending.popleft())
        if not self.closed and self.transport is not None:
            self.transport.resume_reading()

    # output -----------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue ``data`` for the next flush (or for the labeled reply being collected)."""
        if self.capture is not None:
            self.capture.append(data)
            return
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

    def flush(self) -> None:
        """Write the outbox to the socket in one call; drop the peer if its sendq overflows."""
        self.dirty = False
        if self.closed or not self.outbox:
            return
        transport = self.transport
        assert transport is not None
        data = outbox_bytes(self.outbox)
        self.outbox.clear()
        self.outbox_size = 0
        transport.write(data)
        if transport.get_write_buffer_size() > self.server.settings.sendq:
            self.overflow()

    def overflow(self) -> None:
        """The peer does not read fast enough: drop it alone (principle 6)."""
        if self.closed:
            return
        self.outbox.clear()
        self.outbox_size = 0
        if self.session is not None:
            self.server.loop.call_soon(self.session.disconnect, "SendQ exceeded")
        self.close_with_error("SendQ exceeded")

    def close_with_error(self, reason: str) -> None:
        """Send ``ERROR :reason`` after whatever is queued, and close."""
        if self.closed:
            return
        transport = self.transport
        assert transport is not None
        self.closed = True
        if self.outbox:
            transport.write(outbox_bytes(self.outbox))
            self.outbox.clear()
            self.outbox_size = 0
        transport.write(f"ERROR :{reason}\r\n".encode())
        loop = self.server.loop
        if transport.can_write_eof():
            # Half-close and keep reading (and discarding) until the peer closes: closing a socket
            # with unread input resets the connection, and the peer may lose the ERROR line that
            # says why (RFC 2812 3.1.7). The peer's EOF, or the linger timer, closes it for good.
            transport.write_eof()
            transport.resume_reading()
            loop.call_later(CLOSE_LINGER, transport.close)
        else:
            transport.close()
        loop.call_later(CLOSE_GRACE, transport.abort)
