"""Doors: the listeners through which clients arrive (DESIGN.md principle 1).

A door differs from another only in how bytes arrive (plain TCP, TLS); everything after the
accepted socket is the same :class:`~hubbub.server.connection.Connection`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

log = logging.getLogger(__name__)

BACKLOG = 4096
"""Pending connections the kernel may queue per door (a registration storm must not be refused)."""


class Door:
    """One listening socket that hands each accepted connection to the server."""

    def __init__(
        self,
        accept: Callable[[], asyncio.Protocol],
        name: str,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.accept = accept  # makes the protocol of each accepted socket: a new Connection
        self.name = name
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self._listener: asyncio.base_events.Server | None = None

    async def open(self, *, start_serving: bool = True) -> None:
        """Bind and listen; ``self.port`` is then the real port (when 0 was asked for).

        With ``start_serving=False`` the port is taken but nobody is accepted before
        :meth:`start_serving` (the server binds first, then opens its store).
        """
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            self.accept,
            self.host,
            self.port,
            ssl=self.ssl_context,
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
            log.info("%s door listening on %s:%d", self.name, self.host, self.port)

    def close(self) -> None:
        """Stop accepting; established connections are not touched."""
        if self._listener is not None:
            self._listener.close()

    async def wait_closed(self) -> None:
        """Wait until the listener is closed."""
        if self._listener is not None:
            await self._listener.wait_closed()
