"""The tutorial door: the original tutorial chat app's ``name~text`` protocol, bridged into a channel.

DESIGN.md principle 1, one engine, many doors: a tutorial client is an ordinary
:class:`~hubbub.server.connection.Connection` and Session. :class:`TutorialBridge` is the
socket's protocol; it stands between the socket and the connection and translates both ways.

Inbound (the client's chunks, a chunk being what one read returns): the first line is the
client's name and becomes ``CAP REQ :echo-message``, ``NICK``, ``USER`` and ``CAP END``; once
the server welcomes it (001) the bridge sends ``JOIN <channel>``; every later line is a
message and becomes ``PRIVMSG <channel> :text``, split to fit the line limit. Outbound (the IRC
lines the server writes for that session): a channel PRIVMSG or NOTICE becomes ``nick~text``,
a JOIN ``SERVER~nick joined the chat app``, a PART or QUIT ``SERVER~nick left the chat app``,
an ERROR (or a refused name or join) one ``SERVER~...`` line, and the connection closes;
everything else is dropped. Each line the server sends ends in a line feed. docs/tutorial.md
describes the protocol as a client sees it.

Nothing here is on the path of an IRC client: the bridge exists only for the tutorial door.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from hubbub.protocol import Casemapping, Message, ProtocolError, casefold, format_message, parse, valid_nick

from .connection import Connection

if TYPE_CHECKING:
    from .connection import Host

log = logging.getLogger(__name__)

SERVER_NAME = "SERVER"
"""The name in front of what the server itself says (``SERVER~...``), as the tutorial had it."""

# The longest IRC line body (without CRLF) the server accepts from a client (Modern IRC).
_MAX_BODY = 510
# The registration replies that end a tutorial client's attempt, and how each is said.
_NAME_TAKEN = {"433", "436"}
_NAME_REFUSED = {"431", "432"}
# JOIN failures (Modern IRC): the client cannot be in the channel, so it cannot chat at all.
_JOIN_REFUSED = {"403", "405", "471", "473", "474", "475", "476", "477", "489"}
# "Closing Link: host (reason)", the ERROR a session's end sends: the reason is what matters.
_CLOSING = re.compile(r"^Closing [Ll]ink: \S+ \((.*)\)$")
# IRC formatting (mIRC colours with their numbers, bold, italics ...) and every other control
# character: a tutorial client prints what it receives to a terminal, where they would be noise
# at best and terminal escape sequences at worst.
_CONTROLS = re.compile(r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6})?|[\x00-\x1f\x7f]")


def plain(text: str) -> str:
    """``text`` without IRC formatting or control characters, safe to print to a terminal."""
    return _CONTROLS.sub("", text)


def shown_name(nick: str) -> str:
    """How a sender's nick is shown in front of ``~``: never so that it reads as ``SERVER~``.

    A nick may hold ``~`` (just not first): ``SERVER~x`` or ``Server`` would pass for the server
    itself, so such a nick is shown in brackets.
    """
    nick = plain(nick)
    if nick.partition("~")[0].casefold() == SERVER_NAME.casefold():
        return f"[{nick}]"
    return nick


def _closing_reason(text: str) -> str:
    match = _CLOSING.match(text)
    return match.group(1) if match else text.removeprefix("Closing link: ")


def split_text(text: str, budget: int) -> list[str]:
    """Split ``text`` into pieces of at most ``budget`` UTF-8 bytes, at a space where one is near.

    A piece never ends inside a character; the space a piece is split at is dropped.
    """
    pieces: list[str] = []
    data = text.encode("utf-8")
    while len(data) > budget:
        cut = budget
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # not inside a character
            cut -= 1
        space = data.rfind(b" ", max(cut - 64, 1), cut)
        if space > 0:
            pieces.append(data[:space].decode("utf-8"))
            data = data[space + 1 :]
        else:
            pieces.append(data[:cut].decode("utf-8"))
            data = data[cut:]
    if data:
        pieces.append(data.decode("utf-8"))
    return pieces


class _BridgeTransport(asyncio.Transport):
    """The transport the Connection writes to: IRC lines in, tutorial lines to the real socket.

    Everything but ``write`` goes to the real transport unchanged (closing, flow control, the
    peer's address, the write buffer the sendq is measured against). A subclass of
    ``asyncio.Transport``, as the compiled Connection checks the type of what it is given.
    """

    def __init__(self, bridge: TutorialBridge, real: asyncio.Transport) -> None:
        super().__init__()
        self._bridge = bridge
        self._real = real

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._bridge.from_server(bytes(data))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._real.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._real.is_closing()

    def close(self) -> None:
        self._real.close()

    def abort(self) -> None:
        self._real.abort()

    def can_write_eof(self) -> bool:
        return self._real.can_write_eof()

    def write_eof(self) -> None:
        self._real.write_eof()

    def is_reading(self) -> bool:
        return self._real.is_reading()

    def pause_reading(self) -> None:
        self._real.pause_reading()

    def resume_reading(self) -> None:
        self._real.resume_reading()

    def get_write_buffer_size(self) -> int:
        return self._real.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._real.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._real.set_write_buffer_limits(high, low)


class TutorialBridge(asyncio.Protocol):
    """One tutorial client: its socket's protocol, translating for the Connection behind it."""

    def __init__(self, server: Host, channel: str) -> None:
        self.server = server
        self.channel = channel
        self._mapping: Casemapping = "rfc1459" if server.settings.casemapping == "rfc1459" else "ascii"
        self._folded_channel = casefold(channel, self._mapping)
        self.conn = Connection(server)
        self.conn.door = "tutorial"  # /metrics counts connections by door
        self.transport: asyncio.Transport | None = None
        self.name = ""  # the name the client gave, once it did
        self.joined = False  # its JOIN of the channel was seen: its messages may go
        self.done = False  # its last SERVER~ line is out: nothing more is written to it
        self._waiting: list[str] = []  # messages typed before the JOIN, sent after it
        self._waiting_bytes = 0
        self._partial = b""  # the unfinished IRC line the connection wrote
        self._budget = 0  # bytes of text per PRIVMSG, known from the client's own JOIN

    # asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep TCP keepalive on (the client answers no PING), then start the connection."""
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        real = self.transport = cast(asyncio.Transport, transport)
        self._keepalive(real)
        self.conn.connection_made(_BridgeTransport(self, real))

    def data_received(self, data: bytes) -> None:
        """One chunk from the client: its name first, then messages, a line each."""
        conn = self.conn
        if conn.closed or self.done:
            return
        settings = self.server.settings
        if b"\x00" in data:
            self.refuse("binary data is not a message; send text")
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.refuse("messages must be UTF-8 text")
            return
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if any(len(line.encode("utf-8")) > settings.tutorial_message_max for line in lines):
            self.refuse(f"a message may be at most {settings.tutorial_message_max} bytes long")
            return
        lines = [line for line in lines if line.strip()]
        if not lines:
            return
        if not self.name:
            self._give_name(lines[0].strip())
            lines = lines[1:]
            if conn.closed or self.done:
                return
        if not self.joined:
            size = sum(len(line.encode("utf-8")) for line in lines)
            if self._waiting_bytes + size > settings.recvq:
                self.refuse("too much typed before joining the chat")
                return
            self._waiting += lines
            self._waiting_bytes += size
            return
        self._send_messages(lines)

    def eof_received(self) -> bool | None:
        """The client closed its side: close ours (the connection's end does the rest)."""
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is gone: so is the session (its QUIT goes to the channel)."""
        self.done = True
        self.conn.connection_lost(exc)

    def pause_writing(self) -> None:
        """The socket's buffer is full: the connection's long replies wait."""
        self.conn.pause_writing()

    def resume_writing(self) -> None:
        """The socket's buffer drained."""
        self.conn.resume_writing()

    # inbound ------------------------------------------------------------------------------------

    def _give_name(self, name: str) -> None:
        settings = self.server.settings
        if not valid_nick(name, settings.nicklen) or "~" in name:
            self.refuse(
                f'"{plain(name[:64])}" cannot be a name here: a name has 1 to {settings.nicklen} characters,'
                " no spaces or any of , * ? ! @ . : ~, and does not start with a digit, - or #"
            )
            return
        if name.casefold() == SERVER_NAME.casefold():
            self.refuse(f'"{name}" cannot be a name here: it is what the server calls itself')
            return
        self.name = name
        self._feed(
            [
                Message.build("CAP", "REQ", "echo-message"),
                Message.build("NICK", name),
                Message.build("USER", name, "0", "*", name),
                Message.build("CAP", "END"),
            ]
        )

    def _send_messages(self, lines: list[str]) -> None:
        budget = self._budget
        messages = [
            Message.build("PRIVMSG", self.channel, piece)
            for line in lines
            for piece in split_text(line, budget)
        ]
        self._feed(messages)

    def _feed(self, messages: list[Message]) -> None:
        """Hand IRC lines to the connection as if the client had sent them (paced as any client's)."""
        try:
            data = b"".join(format_message(m) for m in messages)
        except ProtocolError:  # text that cannot be written as a line (a lone surrogate)
            self.refuse("that message cannot be sent")
            return
        if data and not self.conn.closed:
            self.conn.data_received(data)

    def _feed_soon(self, messages: list[Message]) -> None:
        # The connection writes from inside its flush: what that output makes the client "send"
        # (JOIN after 001, PONG) is handed over on the next loop turn, not in the middle of it.
        self.server.loop.call_soon(self._feed, messages)

    def refuse(self, why: str, quit_reason: str | None = None) -> None:
        """Tell the client why in one ``SERVER~`` line, then end its session and close.

        Others in the channel see it quit with ``quit_reason`` (by default ``why``).
        """
        if self.done:
            return
        # DEBUG: a stream of bad clients must not flood the log (the name and reason are theirs).
        log.debug("tutorial client %r from %s refused: %r", self.name, self.conn.peer_ip, why)
        self._say(f"{SERVER_NAME}~{why}")
        self.done = True
        self.server.loop.call_soon(self._end, quit_reason or why)

    def _end(self, reason: str) -> None:
        session = self.conn.session
        if session is not None and not session.gone:
            session.disconnect(reason)
        elif not self.conn.closed:
            self.conn.close_with_error(reason)

    # outbound -----------------------------------------------------------------------------------

    def from_server(self, data: bytes) -> None:
        """IRC lines the connection writes: translate each one for the client (most are dropped)."""
        data = self._partial + data
        *lines, self._partial = data.split(b"\r\n")
        for line in lines:
            if not line:
                continue
            try:
                message = parse(line)
            except ProtocolError:
                continue
            self._translate(message)

    def _translate(self, m: Message) -> None:
        command = m.command
        nick = (m.source or "").split("!", 1)[0]
        source = shown_name(nick)
        if command in ("PRIVMSG", "NOTICE"):
            if len(m.params) >= 2 and self._is_channel(m.params[0]):
                text = m.params[1]
                if text.startswith("\x01"):
                    body = text.strip("\x01")
                    if not body.startswith("ACTION "):
                        return  # a CTCP request other than an action means nothing here
                    text = "* " + body[len("ACTION ") :]
                self._say(f"{source}~{plain(text)}")
        elif command == "JOIN":
            if m.params and self._is_channel(m.params[0]):
                self._say(f"{SERVER_NAME}~{source} joined the chat app")
                if not self.joined and self._is_me(nick):
                    self._joined(m.source or source)
        elif command == "PART":
            if m.params and self._is_channel(m.params[0]):
                if self._is_me(nick):  # parted by the server: nowhere left to chat
                    self.refuse("you were removed from the chat app", "Removed from the channel")
                else:
                    self._say(f"{SERVER_NAME}~{source} left the chat app")
        elif command == "QUIT":
            self._say(f"{SERVER_NAME}~{source} left the chat app")
        elif command == "KICK":
            if len(m.params) >= 2 and self._is_channel(m.params[0]):
                if self._is_me(m.params[1]):
                    self.refuse(f"you were removed from the chat app by {source}", f"Kicked by {source}")
                else:
                    self._say(f"{SERVER_NAME}~{shown_name(m.params[1])} left the chat app")
        elif command == "NICK":
            if m.params:
                self._say(f"{SERVER_NAME}~{source} is now known as {shown_name(m.params[0])}")
                if self._is_me(nick):  # renamed by the server
                    self.name = m.params[0]
        elif command == "PING":
            # The tutorial protocol has no PING: the bridge answers for the client, whose
            # liveness TCP keepalive checks instead (connection_made).
            self._feed_soon([Message.build("PONG", *m.params[:1])])
        elif command == "001":
            self._feed_soon([Message.build("JOIN", self.channel)])
        elif command in _NAME_TAKEN and not self.joined:
            self.refuse(f"the name {self.name} is taken; connect again with another")
        elif command in _NAME_REFUSED and not self.joined:
            reason = plain(m.params[-1]) if m.params else "refused"
            self.refuse(f'"{self.name}" cannot be a name here ({reason})')
        elif command in _JOIN_REFUSED and not self.joined:
            reason = plain(m.params[-1]) if m.params else "refused"
            self.refuse(f"you cannot join {self.channel} ({reason})")
        elif command == "404":
            reason = plain(m.params[-1]) if m.params else "refused"
            self._say(f"{SERVER_NAME}~your message was not sent ({reason})")
        elif command == "ERROR" and not self.done:
            reason = _closing_reason(m.params[0]) if m.params else "closed"
            self._say(f"{SERVER_NAME}~disconnected: {plain(reason)}")
            self.done = True

    def _joined(self, mask: str) -> None:
        self.joined = True
        # What an IRC client sees of a message is ":mask PRIVMSG #channel :text": the text gets
        # what is left of the line limit, so a relayed piece is never cut short.
        overhead = len(f":{mask} PRIVMSG {self.channel} :".encode())
        self._budget = max(_MAX_BODY - overhead, 64)
        waiting, self._waiting, self._waiting_bytes = self._waiting, [], 0
        if waiting:
            self.server.loop.call_soon(self._send_messages, waiting)

    def _is_channel(self, name: str) -> bool:
        return casefold(name, self._mapping) == self._folded_channel

    def _is_me(self, nick: str) -> bool:
        mapping = self._mapping
        return bool(self.name) and casefold(nick, mapping) == casefold(self.name, mapping)

    def _say(self, line: str) -> None:
        """Write one tutorial line, ended by a line feed, to the socket."""
        transport = self.transport
        if self.done or transport is None or transport.is_closing():
            return
        transport.write(line.encode("utf-8", "replace") + b"\n")

    @staticmethod
    def _keepalive(transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is None:
            return
        with contextlib.suppress(OSError, AttributeError, ValueError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
