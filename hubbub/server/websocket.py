"""IRC over WebSocket: a client's WebSocket seen by its Connection as an asyncio transport.

DESIGN.md principle 1: only framing differs. After the web door (``web.py``) has upgraded a
request, a :class:`WebSocketTransport` stands between the socket and an ordinary
:class:`~hubbub.server.connection.Connection`: each WebSocket message received is one IRC line,
handed on with its CRLF; each CRLF-ended line the server writes goes out as one message (IRCv3
WebSocket support, ircv3.net/specs/extensions/websocket). Flood control, the sendq, per-address
limits, timeouts and everything after the framer are the Connection's, unchanged. The frames
themselves are the ``websockets`` library's sans-IO ``ServerProtocol``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from .outbox import Part, Segment

if TYPE_CHECKING:
    from .clock import Clock, Timer
    from .connection import Connection

log = logging.getLogger(__name__)

TEXT = "text.ircv3.net"
BINARY = "binary.ircv3.net"
SUBPROTOCOLS = (TEXT, BINARY)

# Seconds a closing WebSocket waits for the client's close frame before the socket is cut.
CLOSE_TIMEOUT = 5.0


# The last bytes framed, whether as binary messages, and their frames: the members of a channel
# are flushed one after the other with the same bytes object (a shared Segment's), so each line is
# framed once per fan-out, not once per WebSocket member.
_last_framed: tuple[bytes, bool, bytes] = (b"", False, b"")


def framed(data: bytes, binary: bool) -> bytes:
    """The WebSocket frames of the CRLF-ended lines in ``data``: one unfragmented message each.

    A server's frames are not masked and no extension is negotiated, so they depend on the
    lines alone and may be shared by every connection that is sent the same bytes; they are the
    frames ``ServerProtocol.send_text`` (``send_binary``) would queue, made here without a
    ``Frame`` per line (a fan-out frames every line it sends). A text message is always UTF-8
    (IRCv3 WebSocket: browsers drop the connection otherwise): bytes that are not become U+FFFD.
    """
    global _last_framed
    last, last_binary, frames = _last_framed
    if last is data and last_binary is binary:
        return frames
    lines = data
    if binary:
        heads, first = _BINARY_HEADS, 0x82
    else:
        heads, first = _TEXT_HEADS, 0x81
        try:
            data.decode()
        except UnicodeDecodeError:
            # Line by line as well: CR and LF are never part of a UTF-8 sequence.
            lines = data.decode(errors="replace").encode()
    out: list[bytes] = []
    append = out.append
    for line in lines.split(b"\r\n"):
        size = len(line)
        if size < 126:
            if size:
                append(heads[size])
                append(line)
        else:
            append(_long_head(first, size))
            append(line)
    frames = b"".join(out)
    _last_framed = (data, binary, frames)
    return frames


# The frames of recently flushed shared segments, by their joined bytes' id() (an entry keeps the
# bytes alive, so the id cannot be reused while it is there), text and binary apart; emptied when
# it passes SHARED_FRAMES_BYTES. A member's outbox may hold several segments (the turns its output
# waited for one commit), each joined once but never joined together the same way twice.
SHARED_FRAMES_BYTES = 1 << 20
_shared: dict[tuple[int, bool], tuple[bytes, bytes]] = {}
_shared_size = 0


def _shared_frames(data: bytes, binary: bool) -> bytes:
    global _shared_size
    key = (id(data), binary)
    entry = _shared.get(key)
    if entry is not None and entry[0] is data:
        return entry[1]
    frames = framed(data, binary)
    if _shared_size > SHARED_FRAMES_BYTES:
        _shared.clear()
        _shared_size = 0
    _shared[key] = (data, frames)
    _shared_size += len(data) + len(frames)
    return frames


# RFC 6455 5.2: FIN and the opcode, then the payload length in 7 bits when under 126.
_TEXT_HEADS = [bytes((0x81, size)) for size in range(126)]
_BINARY_HEADS = [bytes((0x82, size)) for size in range(126)]


def _long_head(first: int, size: int) -> bytes:
    """A frame header whose payload length takes 16 or 64 more bits."""
    if size < 1 << 16:
        return bytes((first, 126)) + size.to_bytes(2, "big")
    return bytes((first, 127)) + size.to_bytes(8, "big")


class WebSocketTransport(asyncio.Transport):
    """One upgraded WebSocket, as the transport of its Connection.

    ``binary`` is the subprotocol's choice of message type: True for ``binary.ircv3.net``,
    False for ``text.ircv3.net``, None when none was negotiated (then the server sends text
    and takes either, as the spec suggests for older clients).
    """

    def __init__(
        self,
        ws: ServerProtocol,
        sock: asyncio.Transport,
        peername: tuple[str, int],
        clock: Clock,
        ping_interval: float,
    ) -> None:
        super().__init__()
        self.ws = ws
        self.sock = sock
        self.peername = peername
        self.clock = clock
        self.ping_interval = ping_interval
        subprotocol = ws.subprotocol
        self.binary: bool | None = None if subprotocol is None else subprotocol == BINARY
        self.conn: Connection | None = None
        self.closing = False
        self.close_code: int = CloseCode.NORMAL_CLOSURE
        self._parts: list[bytes] = []  # the frames so far of a fragmented message
        self._text = False  # the message being received is a text message
        self._heard = True  # anything received since the last ping
        self._pinger: Timer | None = None
        self._cutoff: Timer | None = None

    def attach(self, conn: Connection) -> None:
        """Hand the socket to ``conn`` (it may refuse it at a connection limit) and start pinging."""
        self.conn = conn
        conn.web = self
        conn.connection_made(self)
        if not self.closing:
            self._pinger = self.clock.call_later(self.ping_interval, self._ping)

    # from the socket -------------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Bytes from the socket: parse frames, hand complete messages to the Connection."""
        self.ws.receive_data(data)
        self.handle(self.ws.events_received())

    def handle(self, events: Iterable[object]) -> None:
        """Act on frames the protocol parsed (also those that came with the upgrade request)."""
        for event in events:
            if isinstance(event, Frame):
                self._heard = True
                self._frame(event)
        self._send()

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            wrong = self.binary if opcode is Opcode.TEXT else self.binary is False
            if wrong:
                # RFC 6455 7.4.1: 1003, "a type of data it cannot accept (e.g., an endpoint that
                # understands only text data MAY send this if it receives a binary message)".
                kind = "text" if opcode is Opcode.TEXT else "binary"
                self.fail(CloseCode.UNSUPPORTED_DATA, f"{kind} message on {self.ws.subprotocol}")
                return
            self._parts = [bytes(frame.data)]
            self._text = opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:
            self._parts.append(bytes(frame.data))
        else:
            return  # ping and pong are answered by the protocol, close as well
        if frame.fin:
            parts, self._parts = self._parts, []
            self._message(parts[0] if len(parts) == 1 else b"".join(parts))

    def _message(self, message: bytes) -> None:
        if self._text:
            try:
                message.decode()
            except UnicodeDecodeError:
                # RFC 6455 8.1: a text message that is not UTF-8 fails the connection, with 1007.
                self.fail(CloseCode.INVALID_DATA, "invalid UTF-8 in a text message")
                return
        # IRCv3 WebSocket: one line per message, without CR or LF; a trailing one is forgiven.
        line = message.rstrip(b"\r\n")
        if b"\n" in line or b"\r" in line:
            self.fail(CloseCode.POLICY_VIOLATION, "one IRC line per message")
            return
        conn = self.conn
        if line and conn is not None and not self.closing:
            conn.data_received(line + b"\r\n")

    def eof_received(self) -> None:
        """The client closed its side (with or without a close frame first)."""
        self.ws.receive_eof()
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is gone: so is the Connection."""
        self.closing = True
        self._stop_timers()
        if self.conn is not None:
            self.conn.connection_lost(exc)

    def fail(self, code: int, reason: str) -> None:
        """Close at once with ``code`` (the client broke the protocol): no IRC goodbye."""
        log.info("%s: WebSocket closed %d: %s", self.peername[0], code, reason)
        self.closing = True
        if self.ws.state is State.OPEN:
            self.ws.fail(code, reason)
        self._send()
        self._cut_off_later()

    # keepalive -------------------------------------------------------------------------------

    def _ping(self) -> None:
        self._pinger = None
        if self.closing:
            return
        if not self._heard:
            # Nothing, not even the last ping's pong, since the last ping: the client is gone.
            self.close_code = CloseCode.INTERNAL_ERROR  # as websockets' own keepalive timeout
            session = self.conn.session if self.conn is not None else None
            if session is not None:
                session.disconnect(f"Ping timeout: {self.ping_interval:g} seconds")
            else:
                self.close()
            return
        self._heard = False
        self.ws.send_ping(b"hubbub")
        self._send()
        self._pinger = self.clock.call_later(self.ping_interval, self._ping)

    def _stop_timers(self) -> None:
        for timer in (self._pinger, self._cutoff):
            if timer is not None:
                timer.cancel()
        self._pinger = self._cutoff = None

    def _cut_off_later(self) -> None:
        if self._cutoff is None:
            self._cutoff = self.clock.call_later(CLOSE_TIMEOUT, self.sock.abort)

    # asyncio.Transport: what the Connection uses ---------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send each CRLF-ended line in ``data`` as one message."""
        if self.closing or self.ws.state is not State.OPEN:
            return
        frames = framed(data if isinstance(data, bytes) else bytes(data), self.binary is True)
        self._send()  # what the protocol has queued (a pong, say) goes first
        if frames and not self.sock.is_closing():
            self.sock.write(frames)

    def write_parts(self, parts: list[Part]) -> int:
        """Send the lines of ``parts``; a shared Segment's are framed once for all its members."""
        if self.closing or self.ws.state is not State.OPEN:
            return 0
        binary = self.binary is True
        out = []
        size = 0
        for part in parts:
            if isinstance(part, Segment):
                data = part.joined()
                frames = _shared_frames(data, binary)
            else:
                data = part
                frames = framed(data, binary)
            size += len(data)
            out.append(frames)
        self._send()  # what the protocol has queued (a pong, say) goes first
        if not self.sock.is_closing():
            self.sock.write(out[0] if len(out) == 1 else b"".join(out))
        return size

    def _send(self) -> None:
        chunks = self.ws.data_to_send()
        if not chunks:
            return
        sock = self.sock
        data = b"".join(chunks)
        if data and not sock.is_closing():
            sock.write(data)
        if chunks[-1] == b"":
            # The protocol ended the stream (a close handshake done, or failed): a server
            # closes the TCP connection first (RFC 6455 7.1.1).
            self.closing = True
            sock.close()

    def close(self) -> None:
        """Say goodbye with a close frame after what was written; cut off a client that never answers."""
        if self.closing:
            return
        self.closing = True
        if self.ws.state is State.OPEN:
            self.ws.send_close(self.close_code)
            self._send()
        else:
            self.sock.close()
        self._cut_off_later()

    def abort(self) -> None:
        """Drop the socket now."""
        self.closing = True
        self.sock.abort()

    def is_closing(self) -> bool:
        """Whether the socket is closing or closed."""
        return self.closing or self.sock.is_closing()

    def can_write_eof(self) -> bool:
        """No half-close: a WebSocket ends with a close frame (Connection.shut then closes)."""
        return False

    def write_eof(self) -> None:
        """Not possible on a WebSocket (see :meth:`can_write_eof`)."""
        raise NotImplementedError("a WebSocket has no half-close")

    def get_write_buffer_size(self) -> int:
        """Bytes the socket has not sent yet: what the sendq is checked against."""
        return self.sock.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """The socket's high and low water marks."""
        return self.sock.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the socket's water marks (its pause_writing and resume_writing reach the Connection)."""
        self.sock.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        """Stop reading the socket (flood control holds the client's input)."""
        self.sock.pause_reading()

    def resume_reading(self) -> None:
        """Read the socket again."""
        self.sock.resume_reading()

    def is_reading(self) -> bool:
        """Whether the socket is being read."""
        return self.sock.is_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``peername`` is the client's address (a trusted proxy's X-Forwarded-For); the rest the socket's."""
        if name == "peername":
            return self.peername
        return self.sock.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Not supported: the Connection stays the protocol for the WebSocket's life."""
        raise NotImplementedError("a WebSocket's Connection is fixed")

    def get_protocol(self) -> asyncio.BaseProtocol:
        """The Connection."""
        assert self.conn is not None
        return self.conn
