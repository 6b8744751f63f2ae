"""The bus's hot path: one plain Redis connection that pipelines commands, for XADD and XREAD.

Cluster mode (docs/cluster.md) sends every batch for another node's users with ``XADD`` and
reads what others sent with a blocking ``XREAD``. Through redis-py each command costs its
pipeline or command object, the connection pool, a lock and an awaited drain: about a fifth of a
millisecond of CPU per command on this project's benchmark machine, most of a cross-node
delivery's cost (docs/performance.md, *Cluster*). Here a command is encoded straight into the
transport and its reply parsed from the bytes that come back, in order: a few microseconds. The
protocol is Redis's own (RESP2); everything else the cluster asks of Redis (claims, leases,
hashes, scripts) stays with redis-py.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit


class BusError(ConnectionError):
    """The connection to Redis failed, or Redis answered a command with an error."""


class Reply(Exception):
    """An error reply from Redis (``-ERR ...``), as the command's result."""


def _command(args: tuple[bytes | str | int, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n" % len(data))
        parts.append(data)
        parts.append(b"\r\n")
    return b"".join(parts)


class _Incomplete(Exception):
    """Not all of a reply is here yet; ``need``: how many bytes it takes at least, if known."""

    def __init__(self, need: int = 0) -> None:
        super().__init__(need)
        self.need = need


class _Span(tuple[int, int]):
    """Where a bulk string lies in the buffer: nothing is copied while a long reply arrives."""


def _parse(buf: bytes | bytearray, at: int) -> tuple[Any, int]:
    """One RESP2 value from ``buf`` at ``at``: (value, the index after it); _Incomplete if cut.

    Bulk strings come back as :class:`_Span` positions in ``buf``; :func:`_owned` makes them bytes
    once the reply is whole.
    """
    end = buf.find(b"\r\n", at)
    if end < 0:
        raise _Incomplete
    kind = buf[at]
    line = bytes(buf[at + 1 : end])
    at = end + 2
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, at
        if len(buf) < at + size + 2:
            raise _Incomplete(at + size + 2)
        return _Span((at, at + size)), at + size + 2
    if kind == 0x2A:  # * array
        count = int(line)
        if count < 0:
            return None, at
        items = []
        for _ in range(count):
            item, at = _parse(buf, at)
            items.append(item)
        return items, at
    if kind == 0x2B:  # + simple string
        return line, at
    if kind == 0x3A:  # : integer
        return int(line), at
    if kind == 0x2D:  # - error
        return Reply(line.decode(errors="replace")), at
    raise BusError(f"unexpected reply from Redis: {bytes([kind]) + line!r}")


def _owned(value: Any, buf: bytes | bytearray) -> Any:
    """``value`` with every bulk string's span in ``buf`` made bytes."""
    if isinstance(value, _Span):
        return bytes(buf[value[0] : value[1]])
    if isinstance(value, list):
        return [_owned(item, buf) for item in value]
    return value


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.buf = bytearray()
        self.need = 0  # how long buf must be before a parse can finish the reply it stopped in
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport

    def data_received(self, data: bytes) -> None:
        # A long reply (a blocking read's many batches) arrives in many pieces: it is parsed
        # again only once the bytes its parse last stopped at are all here.
        buf = self.buf
        buf += data
        if len(buf) < self.need:
            return
        at = 0
        waiting = self.waiting
        try:
            while at < len(buf) and waiting:
                value, at = _parse(buf, at)
                future = waiting.popleft()
                if not future.done():
                    if isinstance(value, Reply):
                        future.set_exception(value)
                    else:
                        future.set_result(_owned(value, buf))
            self.need = 0
        except _Incomplete as cut:
            self.need = cut.need
        except (BusError, ValueError) as exc:
            self._fail(BusError(str(exc)))
            if self.transport is not None:
                self.transport.abort()
            return
        if at:
            del buf[:at]
            self.need = max(0, self.need - at)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(BusError(f"the connection to Redis was lost: {exc or 'closed'}"))

    def _fail(self, error: BaseException) -> None:
        self.lost = error
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)


class BusConnection:
    """One connection to Redis; ``send`` writes a command at once, its reply comes in order."""

    def __init__(self, protocol: _Protocol) -> None:
        self._protocol = protocol

    @classmethod
    async def open(cls, url: str, timeout: float = 5.0) -> BusConnection:
        """Connect to ``url`` (``redis://[:password@]host:port/db``, ``rediss://``, ``unix://path``)."""
        parts = urlsplit(url)
        loop = asyncio.get_running_loop()
        try:
            if parts.scheme == "unix":
                _transport, protocol = await asyncio.wait_for(
                    loop.create_unix_connection(_Protocol, parts.path), timeout
                )
            else:
                context = ssl.create_default_context() if parts.scheme == "rediss" else None
                _transport, protocol = await asyncio.wait_for(
                    loop.create_connection(
                        _Protocol, parts.hostname or "127.0.0.1", parts.port or 6379, ssl=context
                    ),
                    timeout,
                )
        except (OSError, TimeoutError) as exc:
            raise BusError(f"cannot connect to Redis: {exc}") from exc
        connection = cls(protocol)
        try:
            if parts.password is not None:
                user = unquote(parts.username) if parts.username else None
                auth = ("AUTH", user, unquote(parts.password)) if user else ("AUTH", unquote(parts.password))
                await asyncio.wait_for(connection.send(*auth), timeout)
            db = parts.path.lstrip("/") if parts.scheme != "unix" else ""
            if db and db != "0":
                await asyncio.wait_for(connection.send("SELECT", db), timeout)
        except (Reply, TimeoutError) as exc:
            connection.close()
            raise BusError(f"Redis refused the connection: {exc}") from exc
        return connection

    def send(self, *args: bytes | str | int) -> asyncio.Future[Any]:
        """Write one command now; a future of its reply (a Reply error is raised from it)."""
        protocol = self._protocol
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if protocol.lost is not None or protocol.transport is None or protocol.transport.is_closing():
            future.set_exception(protocol.lost or BusError("the connection to Redis is closed"))
            return future
        protocol.waiting.append(future)
        protocol.transport.write(_command(args))
        return future

    @property
    def closed(self) -> bool:
        """Whether the connection is gone."""
        transport = self._protocol.transport
        return self._protocol.lost is not None or transport is None or transport.is_closing()

    def close(self) -> None:
        """Close the connection; replies still awaited fail."""
        transport = self._protocol.transport
        if transport is not None:
            transport.close()
        self._protocol._fail(BusError("the connection to Redis was closed"))
