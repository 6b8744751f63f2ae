"""A raw WebSocket IRC client for tests: the ``websockets`` sans-IO client over a real socket.

Raw, so a test can do what a polite library would not: send a frame of the wrong type, never
read, or drop the socket without a close frame. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterable, Sequence

from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from hubbub.protocol import Message, parse
from tests.support.matching import matcher

DEFAULT_TIMEOUT = 5.0


class Rejected(Exception):
    """The server answered the upgrade with another status than 101."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body!r}")
        self.status = status
        self.body = body


class WSClient:
    """One WebSocket connection speaking IRC, one line per message."""

    unclosed: set[WSClient] = set()

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ws: ClientProtocol, name: str
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.ws = ws
        self.name = name
        self.nick = name
        self.messages: list[bytes] = []  # received, not consumed yet
        self.buffer: list[Message] = []
        self.log: list[str] = []
        self.close_frame: Close | None = None
        self.eof = False
        self.subprotocol: str | None = None
        self._parts: list[bytes] = []
        self.kinds: list[Opcode] = []  # the type of each message received
        WSClient.unclosed.add(self)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        subprotocols: Sequence[str] = (),
        origin: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        name: str = "ws",
        rcvbuf: int | None = None,
    ) -> WSClient:
        """Connect and upgrade; raise :class:`Rejected` when the server refuses."""
        uri = parse_uri(url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (uri.host, uri.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
        ws = ClientProtocol(
            uri,
            origin=origin,  # type: ignore[arg-type]
            subprotocols=[Subprotocol(s) for s in subprotocols] or None,
            max_size=None,
        )
        request = ws.connect()
        for key, value in headers:
            if key in request.headers:
                del request.headers[key]
            request.headers[key] = value
        ws.send_request(request)
        client = cls(reader, writer, ws, name)
        client._write()
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while True:
            events = await client._receive(deadline)
            response = next((e for e in events if isinstance(e, Response)), None)
            if response is not None:
                break
            if client.eof:
                raise AssertionError("closed during the handshake")
        if response.status_code != 101:
            await client.close()
            raise Rejected(response.status_code, bytes(response.body or b""))
        client.subprotocol = ws.subprotocol
        client._frames([e for e in events if isinstance(e, Frame)])
        return client

    # the socket ------------------------------------------------------------------------------

    def _write(self) -> None:
        for chunk in self.ws.data_to_send():
            if chunk:
                self.writer.write(chunk)
            elif self.writer.can_write_eof() and not self.writer.is_closing():
                self.writer.write_eof()

    async def _receive(self, deadline: float) -> list[object]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        try:
            data = await asyncio.wait_for(self.reader.read(65536), remaining)
        except ConnectionError:
            data = b""
        if data:
            self.ws.receive_data(data)
        else:
            self.eof = True
            self.ws.receive_eof()
        events = self.ws.events_received()
        self._write()
        return events

    def _frames(self, frames: list[Frame]) -> None:
        for frame in frames:
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                self.kinds.append(frame.opcode)
                self._parts = [bytes(frame.data)]
            elif frame.opcode is Opcode.CONT:
                self._parts.append(bytes(frame.data))
            elif frame.opcode is Opcode.CLOSE:
                self.close_frame = Close.parse(frame.data)
                continue
            else:
                continue
            if frame.fin:
                message = b"".join(self._parts)
                self.log.append(f"{self.name} << {message!r}")
                self.messages.append(message)

    async def recv(self, timeout: float = DEFAULT_TIMEOUT) -> bytes | None:
        """The next message, or None once the connection is closed."""
        deadline = time.monotonic() + timeout
        while not self.messages:
            if self.eof or self.close_frame is not None:
                return None
            self._frames([e for e in await self._receive(deadline) if isinstance(e, Frame)])
        return self.messages.pop(0)

    # IRC -------------------------------------------------------------------------------------

    def send(self, line: str | bytes, *, binary: bool | None = None) -> None:
        """Send one message (binary on binary.ircv3.net unless told)."""
        data = line.encode() if isinstance(line, str) else line
        if binary is None:
            binary = self.subprotocol == "binary.ircv3.net"
        self.log.append(f"{self.name} >> {data!r}")
        if binary:
            self.ws.send_binary(data)
        else:
            self.ws.send_text(data)
        self._write()

    async def expect(
        self, command: str | Callable[[Message], bool], *params: str, timeout: float = DEFAULT_TIMEOUT
    ) -> Message:
        """Wait for a message with ``command`` (and leading ``params``), skipping others."""
        pred = matcher(command, params)

        for i, m in enumerate(self.buffer):
            if pred(m):
                del self.buffer[: i + 1]
                return m
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = await self.recv(max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise AssertionError(f"{self.name}: timed out waiting for {command} {params}") from None
            if raw is None:
                raise AssertionError(f"{self.name}: closed while waiting for {command} {params}")
            assert not raw.endswith((b"\r", b"\n")), raw
            m = parse(raw)
            if pred(m):
                return m
            self.buffer.append(m)

    async def expect_closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[bytes]:
        """Read until the server closes; return the messages that came first."""
        out: list[bytes] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = await self.recv(max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                raise AssertionError(f"{self.name}: connection still open") from None
            if raw is None:
                return out
            out.append(raw)

    async def register(self, nick: str) -> None:
        """Register and wait for the end of the welcome burst."""
        self.nick = nick
        self.send(f"NICK {nick}")
        self.send("USER web 0 * :Web User")
        await self.expect("001")
        await self.expect(lambda m: m.command in ("376", "422"))
        self.buffer.clear()

    async def join(self, channel: str) -> None:
        """Join and wait for the end of NAMES."""
        self.send(f"JOIN {channel}")
        await self.expect("366", self.nick, channel)
        self.buffer.clear()

    def transcript(self) -> str:
        """Everything sent and received."""
        return "\n".join(self.log)

    def drop(self) -> None:
        """Cut the socket without a close frame."""
        WSClient.unclosed.discard(self)
        self.writer.transport.abort()

    async def close(self) -> None:
        """Close the socket (politely enough for a test)."""
        WSClient.unclosed.discard(self)
        if not self.writer.is_closing():
            self.writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)
