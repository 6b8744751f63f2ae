"""Clients with no socket: a real Connection of a real Server, fed and read in memory.

:class:`MemoryClient` makes a :class:`~hubbub.server.connection.Connection` of the server, attaches
a :class:`MemoryTransport` to it and calls ``data_received`` itself, so a line sent is handled
before ``send`` returns. What the server writes lands in the transport and is parsed back into
messages. With a :class:`tests.support.clock.FakeClock` on the server, timers run only when the
test advances the clock: nothing in such a test waits in real time but for the store's commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from hubbub.protocol import Message, parse
from hubbub.server.app import Server
from hubbub.server.connection import Connection
from tests.support.matching import matcher

DEFAULT_TIMEOUT = 5.0


class MemoryTransport:
    """Enough of an ``asyncio.Transport`` for a Connection: it keeps what is written."""

    def __init__(self, protocol: Connection, peer: tuple[str, int]) -> None:
        self.protocol = protocol
        self.peer = peer
        self.data = bytearray()  # everything written, in order
        self.reading = True
        self.eof = False  # the server half-closed (write_eof)
        self.closing = False
        self.aborted = False
        self.buffered = 0  # what get_write_buffer_size reports (a peer that does not read)
        self.changed = asyncio.Event()

    def write(self, data: bytes) -> None:
        assert not self.eof, "written after write_eof"
        if self.closing:
            return  # as asyncio's transports do after close()
        self.data += data
        self.changed.set()

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        # The peer reads up to the end and closes its side, as a well-behaved client does.
        self.eof = True
        self.changed.set()
        self.close()

    def close(self) -> None:
        if self.closing:
            return
        self.closing = True
        self.changed.set()
        asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.peer
        if name == "sockname":
            return ("127.0.0.1", 6667)
        return default


class MemoryClient:
    """One client of ``server`` in memory; its ``expect`` waits on a deadline, never sleeps."""

    _ports = iter(range(40000, 60000))

    def __init__(self, server: Server, name: str = "client", ip: str = "127.0.0.1") -> None:
        self.server = server
        self.name = name
        self.nick = name
        self.conn = Connection(server)
        self.transport = MemoryTransport(self.conn, (ip, next(self._ports)))
        self.conn.connection_made(self.transport)  # type: ignore[arg-type]
        self.buffer: list[Message] = []  # parsed, not yet consumed by expect
        self.log: list[str] = []
        self._read = 0  # bytes of transport.data parsed so far

    @property
    def session(self) -> Any:
        """The server's Session of this client."""
        return self.conn.session

    @property
    def closed(self) -> bool:
        """Whether the server closed (or half-closed) the connection."""
        return self.transport.closing

    # input --------------------------------------------------------------------------------------

    def send(self, line: str) -> None:
        """Send one line; the server handles it (or holds it, when paced) before this returns."""
        self.send_raw(line.encode() + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        """Hand ``data`` to the connection as one read from the socket."""
        self.log.append(f">> {data!r}")
        self.conn.data_received(data)

    # output -------------------------------------------------------------------------------------

    def _parse_new(self) -> None:
        data = self.transport.data
        end = data.rfind(b"\r\n", self._read)
        if end < 0:
            return
        chunk = bytes(data[self._read : end])
        self._read = end + 2
        for line in chunk.split(b"\r\n"):
            self.log.append(f"<< {line.decode(errors='replace')}")
            self.buffer.append(parse(line))

    def messages(self) -> list[Message]:
        """Everything written so far that no ``expect`` consumed; consumes it."""
        self._parse_new()
        out, self.buffer = self.buffer, []
        return out

    async def expect(
        self, command: str | Callable[[Message], bool], *params: str, timeout: float = DEFAULT_TIMEOUT
    ) -> Message:
        """Wait for a message with ``command`` (and leading ``params``); skip and drop the others."""
        pred = matcher(command, params)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._parse_new()
            for i, m in enumerate(self.buffer):
                if pred(m):
                    del self.buffer[: i + 1]
                    return m
            if self.closed and self._read == len(self.transport.data):
                raise AssertionError(f"{self.name}: closed while waiting for {command} {params}")
            self.transport.changed.clear()
            try:
                await asyncio.wait_for(self.transport.changed.wait(), max(deadline - loop.time(), 0))
            except TimeoutError:
                raise AssertionError(f"{self.name}: timed out waiting for {command} {params}") from None

    async def expect_closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
        """Wait until the server closes the connection; everything unread that came before."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.closed:
            self.transport.changed.clear()
            try:
                await asyncio.wait_for(self.transport.changed.wait(), max(deadline - loop.time(), 0))
            except TimeoutError:
                raise AssertionError(f"{self.name}: connection still open") from None
        return self.messages()

    async def settle(self) -> list[Message]:
        """Let the server finish all it has to do now (see :func:`settle`); what came, unread."""
        await settle(self.server)
        return self.messages()

    # conveniences -------------------------------------------------------------------------------

    async def register(self, nick: str, *, caps: Iterable[str] = ()) -> None:
        """Register (negotiating ``caps``) and drop the welcome burst."""
        self.nick = nick
        caps = list(caps)
        if caps:
            self.send("CAP LS 302")
            self.send(f"CAP REQ :{' '.join(caps)}")
        self.send(f"NICK {nick}")
        self.send("USER user 0 * :Real Name")
        if caps:
            self.send("CAP END")
        await self.expect(lambda m: m.command in ("376", "422"))
        await self.settle()

    def transcript(self) -> str:
        """Everything sent and received, for failure reports."""
        self._parse_new()
        return f"--- {self.name}\n" + "\n".join(self.log)


async def settle(server: Server, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait (on a deadline) until ``server`` has committed, flushed and finished its off-loop work.

    Only the fake clock's timers are left then: nothing more happens until the test moves it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delivery = server.delivery
    while True:
        await asyncio.sleep(0)  # the turn's flush, and callbacks it scheduled
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError("the server did not settle")
        if delivery.pending:
            committed = loop.create_future()

            def done(committed: asyncio.Future[None] = committed) -> None:
                if not committed.done():
                    committed.set_result(None)

            if delivery.after_commit(done):
                await asyncio.wait_for(committed, left)
            continue
        if server.tasks:
            await asyncio.wait(list(server.tasks), timeout=left)
            continue
        if any(conn.dirty for conn in server.connections) or loop_has_ready(loop):
            continue
        return


def loop_has_ready(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether callbacks wait to run in this loop turn (the standard loop only; else False)."""
    ready = getattr(loop, "_ready", None)
    return bool(ready)
