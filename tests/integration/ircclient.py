"""A small raw-socket IRC client for tests: every wait has a deadline, and it keeps a transcript."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import ClassVar

from hubbub.protocol import Message, parse
from tests.support.matching import matcher

DEFAULT_TIMEOUT = 5.0


class IRCClient:
    """Sends lines and waits for messages matching a predicate, with a timeout."""

    unclosed: ClassVar[set[IRCClient]] = set()
    """Clients not closed yet; the integration fixtures close those a test leaves open."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str) -> None:
        IRCClient.unclosed.add(self)
        self.reader = reader
        self.writer = writer
        self.name = name
        self.nick = name
        self.buffer: list[Message] = []
        self.log: list[str] = []
        self.closed = False

    @classmethod
    async def open(cls, host: str, port: int, name: str = "client", source: str | None = None) -> IRCClient:
        """Connect to ``host:port``, from the local address ``source`` if given (on Linux any
        127.0.0.0/8 address reaches a server on 127.0.0.1: a second client address)."""
        local_addr = (source, 0) if source is not None else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=1 << 20, local_addr=local_addr), DEFAULT_TIMEOUT
        )
        return cls(reader, writer, name)

    # sending --------------------------------------------------------------------------------

    def send(self, line: str | bytes) -> None:
        """Send one line (CRLF added)."""
        data = line.encode() if isinstance(line, str) else line
        self.log.append(f"{self.name} >> {data!r}")
        self.writer.write(data + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        """Send bytes exactly as given."""
        self.log.append(f"{self.name} >> raw {data[:200]!r}")
        self.writer.write(data)

    async def drain(self) -> None:
        """Wait until the socket accepted what was sent."""
        await self.writer.drain()

    # receiving ------------------------------------------------------------------------------

    async def _read_one(self, deadline: float) -> Message | None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        line = await asyncio.wait_for(self.reader.readline(), remaining)
        if not line:
            self.closed = True
            return None
        self.log.append(f"{self.name} << {line!r}")
        return parse(line)

    async def expect(
        self,
        command: str | Callable[[Message], bool],
        *params: str,
        timeout: float = DEFAULT_TIMEOUT,
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
                m = await self._read_one(deadline)
            except TimeoutError:
                raise AssertionError(f"{self.name}: timed out waiting for {command} {params}") from None
            if m is None:
                raise AssertionError(f"{self.name}: connection closed while waiting for {command} {params}")
            if pred(m):
                return m
            self.buffer.append(m)

    async def collect_until(
        self, command: str, *params: str, timeout: float = DEFAULT_TIMEOUT
    ) -> list[Message]:
        """Everything up to and including the first ``command`` message."""
        out: list[Message] = []
        want = command.upper()

        def pred(m: Message) -> bool:
            out.append(m)
            return m.command == want and all(m.param(i) == p for i, p in enumerate(params))

        buffered, self.buffer = self.buffer, []
        for i, m in enumerate(buffered):
            if pred(m):
                self.buffer = buffered[i + 1 :]
                return out
        await self.expect(pred, timeout=timeout)
        self.buffer.clear()  # everything read on the way is in ``out``: consumed
        return out

    async def expect_closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
        """Read until the server closes the connection; return what came."""
        out = list(self.buffer)
        self.buffer.clear()
        deadline = time.monotonic() + timeout
        while True:
            try:
                m = await self._read_one(deadline)
            except TimeoutError:
                raise AssertionError(f"{self.name}: connection still open") from None
            except ConnectionError:
                return out
            if m is None:
                return out
            out.append(m)

    async def assert_silent(self, command: str | None = None) -> None:
        """Check nothing (or no ``command``) arrived, using a PING round trip as the barrier."""
        token = f"barrier-{time.monotonic_ns()}"
        self.send(f"PING {token}")
        got = await self.collect_until("PONG", self.server_name(), token)
        unexpected = [m for m in got[:-1] if command is None or m.command == command]
        assert not unexpected, f"{self.name}: unexpected {unexpected}"

    async def drain_messages(self, timeout: float = DEFAULT_TIMEOUT) -> list[Message]:
        """Everything the server sends before answering a PING sent now (the PONG excluded)."""
        token = f"drain-{time.monotonic_ns()}"
        self.send(f"PING {token}")
        got = await self.collect_until("PONG", self.server_name(), token, timeout=timeout)
        return got[:-1]

    async def sync(self) -> None:
        """Round-trip a PING so everything sent before has been processed."""
        token = f"sync-{time.monotonic_ns()}"
        self.send(f"PING {token}")
        await self.expect("PONG", None, token)  # type: ignore[arg-type]

    def server_name(self) -> str:
        return "hubbub.local"

    # conveniences ---------------------------------------------------------------------------

    async def register(
        self, nick: str, *, caps: Iterable[str] = (), user: str = "user", real: str = "Real Name"
    ) -> None:
        """Register (negotiating ``caps``) and wait for the end of the welcome burst."""
        caps = list(caps)
        self.nick = nick
        if caps:
            self.send("CAP LS 302")
            self.send(f"CAP REQ :{' '.join(caps)}")
        self.send(f"NICK {nick}")
        self.send(f"USER {user} 0 * :{real}")
        if caps:
            await self.expect("CAP", None, "ACK")  # type: ignore[arg-type]
            self.send("CAP END")
        await self.expect("001")
        await self.expect(lambda m: m.command in ("376", "422"))
        self.buffer.clear()  # the welcome burst is checked by the registration tests

    async def join(self, channel: str) -> None:
        """Join and wait for the end of NAMES."""
        self.send(f"JOIN {channel}")
        await self.expect("366", self.nick, channel)
        self.buffer.clear()

    async def cap_ls(self) -> list[str]:
        """Every capability of a CAP LS 302 reply, across its continuation lines ("CAP * LS * :...")."""
        self.send("CAP LS 302")
        caps: list[str] = []
        while True:
            reply = await self.expect("CAP", None, "LS")  # type: ignore[arg-type]
            caps += reply.params[-1].split()
            if len(reply.params) < 4 or reply.params[2] != "*":
                return caps

    def transcript(self) -> str:
        """Everything sent and received, for failure reports."""
        return "\n".join(self.log)

    async def close(self) -> None:
        """Close the socket."""
        IRCClient.unclosed.discard(self)
        if not self.writer.is_closing():
            self.writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)
