"""Doors: the listeners through which clients arrive (DESIGN.md principle 1).

A door differs from another only in how bytes arrive (plain TCP, TLS); everything after the
accepted socket is the same :class:`~hubbub.server.connection.Connection`.

A plain door lets the loop accept and make a connection of each socket. A TLS door accepts the
sockets itself and hands each over before any handshake, so that a connection is counted against
the limits from its accept: a stalled handshake holds a descriptor and memory as much as a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import socket
import ssl
from collections.abc import Callable

from .limits import RefusalLog

log = logging.getLogger(__name__)

BACKLOG = 4096
"""Pending connections the kernel may queue per door (a registration storm must not be refused)."""

# accept() failures that concern one connection only: the peer left before it was accepted.
_PEER_GAVE_UP = (errno.ECONNABORTED, errno.EPROTO, errno.EINTR, errno.EAGAIN)
# Seconds a TLS door waits before accepting again after any other failure (out of descriptors).
ACCEPT_RETRY_DELAY = 0.1

AcceptTLS = Callable[[socket.socket, ssl.SSLContext], None]


class Door:
    """One listening address that hands each accepted connection to the server.

    ``accept`` makes the protocol of a plain socket (a new Connection); a TLS door (one with
    ``ssl_context``) gives each accepted socket to ``accept_tls`` instead, which counts it and
    runs its handshake.
    """

    def __init__(
        self,
        accept: Callable[[], asyncio.Protocol],
        name: str,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        accept_tls: AcceptTLS | None = None,
    ) -> None:
        if ssl_context is not None and accept_tls is None:
            raise ValueError("a TLS door needs accept_tls: it hands over sockets before their handshake")
        self.accept = accept
        self.accept_tls = accept_tls
        self.name = name
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._listener: asyncio.base_events.Server | None = None
        self._sockets: list[socket.socket] = []  # a TLS door's listening sockets
        self._accepting: list[asyncio.Task[None]] = []
        self._exhausted = RefusalLog()  # accept() failing for want of descriptors, logged seldom

    async def open(self, *, start_serving: bool = True) -> None:
        """Bind and listen; ``self.port`` is then the real port (when 0 was asked for).

        With ``start_serving=False`` the port is taken but nobody is accepted before
        :meth:`start_serving` (the server binds first, then opens its store).
        """
        if self.ssl_context is not None:
            self._sockets = await asyncio.get_running_loop().run_in_executor(
                None, _listen, self.host, self.port
            )
            address = self._sockets[0].getsockname()
        else:
            self._listener = await asyncio.get_running_loop().create_server(
                self.accept,
                self.host,
                self.port,
                reuse_address=True,
                backlog=BACKLOG,
                start_serving=False,
            )
            address = self._listener.sockets[0].getsockname()
        self.host, self.port = str(address[0]), int(address[1])
        if start_serving:
            await self.start_serving()

    async def start_serving(self) -> None:
        """Start accepting connections."""
        if self._listener is not None:
            await self._listener.start_serving()
        elif self._sockets and not self._accepting:
            loop = asyncio.get_running_loop()
            for sock in self._sockets:
                task = loop.create_task(self._accept_tls(sock))
                # The listening socket is closed once its accept is cancelled, not before: the
                # loop forgets the descriptor then, and a new socket may not take its number first.
                task.add_done_callback(functools.partial(_close_listener, sock))
                self._accepting.append(task)
        else:
            return
        log.info("%s door listening on %s:%d", self.name, self.host, self.port)

    async def _accept_tls(self, listener: socket.socket) -> None:
        """Accept sockets and hand each over before its handshake, as long as the door is open."""
        loop = asyncio.get_running_loop()
        assert self.ssl_context is not None and self.accept_tls is not None
        while True:
            try:
                sock, _ = await loop.sock_accept(listener)
            except OSError as exc:
                if exc.errno in _PEER_GAVE_UP:
                    continue
                # Out of descriptors (or worse): wait a little rather than spin, and say so, seldom.
                line = self._exhausted.note(exc.strerror or str(exc), "", loop.time())
                if line is not None:
                    log.warning("%s door failed to accept %s", self.name, line)
                await asyncio.sleep(ACCEPT_RETRY_DELAY)
                continue
            self.accept_tls(sock, self.ssl_context)

    def close(self) -> None:
        """Stop accepting; established connections are not touched."""
        if self._listener is not None:
            self._listener.close()
        for task in self._accepting:
            task.cancel()
        if not self._accepting:
            for sock in self._sockets:
                sock.close()

    async def wait_closed(self) -> None:
        """Wait until the listener is closed."""
        if self._listener is not None:
            await self._listener.wait_closed()
        for task in self._accepting:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._accepting = []


def _close_listener(sock: socket.socket, _task: asyncio.Task[None]) -> None:
    sock.close()


def _listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address ``host`` names (as the loop's create_server binds)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets
