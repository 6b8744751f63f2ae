"""The asyncio driver: a socket, reconnects with backoff, and an event stream over ClientProtocol."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from datetime import datetime

from hubbub.protocol import Message as IRCMessage

from ._config import ClientConfig, ReconnectPolicy
from ._events import Event
from ._protocol import ClientProtocol


class Client:
    """An IRC client on asyncio: connect, read events, send commands; reconnects by itself.

    ``tls`` is ``False`` for plain TCP, ``True`` for TLS with a default context, or an
    :class:`ssl.SSLContext`. With ``tls=True``, ``tls_verify=False`` accepts any certificate and
    ``ca_file`` names the CA bundle to trust. ``reconnect`` sets the backoff (see
    :class:`ReconnectPolicy`); ``ping_interval`` is how long a silent connection waits before it
    sends PING, and it is declared dead after as long again without an answer.
    """

    def __init__(
        self,
        host: str,
        port: int,
        config: ClientConfig,
        *,
        tls: bool | ssl.SSLContext = False,
        tls_verify: bool = True,
        ca_file: str | None = None,
        reconnect: ReconnectPolicy | None = None,
        connect_timeout: float = 10.0,
        ping_interval: float = 60.0,
    ) -> None:
        raise NotImplementedError

    @property
    def protocol(self) -> ClientProtocol:
        """The state machine: our nick, channels and members, ISUPPORT, capabilities."""
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        """Whether a registered connection is open right now."""
        raise NotImplementedError

    async def connect(self, timeout: float | None = None) -> None:
        """Connect and register; return once :class:`Registered` is seen.

        Raises :class:`ClientError` when the first connection fails or registration does not
        complete within ``timeout`` (the connect timeout by default). After that, dropped
        connections are retried in the background according to the reconnect policy.
        """
        raise NotImplementedError

    def events(self) -> AsyncIterator[Event]:
        """Iterate over events as they come; ends after :meth:`close` (or when reconnecting gives up)."""
        raise NotImplementedError

    async def next_event(self, timeout: float | None = None) -> Event:
        """The next event; raises :class:`TimeoutError` after ``timeout`` seconds."""
        raise NotImplementedError

    async def wait_for(self, kind: type[Event], timeout: float, **fields: object) -> Event:
        """Skip events until one of type ``kind`` whose attributes equal ``fields``; return it."""
        raise NotImplementedError

    async def send_message(self, target: str, text: str) -> None:
        """Send ``text`` to a channel or nick (split and batched as :meth:`ClientProtocol.send_message`)."""
        raise NotImplementedError

    async def send_notice(self, target: str, text: str) -> None:
        """Send ``text`` as a NOTICE."""
        raise NotImplementedError

    async def send_action(self, target: str, text: str) -> None:
        """Send ``text`` as a CTCP ACTION (``/me``)."""
        raise NotImplementedError

    async def join(self, channel: str, key: str | None = None) -> None:
        """Join ``channel`` (and rejoin it after reconnects)."""
        raise NotImplementedError

    async def part(self, channel: str, reason: str = "") -> None:
        """Leave ``channel``."""
        raise NotImplementedError

    async def set_nick(self, nick: str) -> None:
        """Change our nick."""
        raise NotImplementedError

    async def set_topic(self, channel: str, topic: str) -> None:
        """Set the topic of ``channel``."""
        raise NotImplementedError

    async def set_away(self, message: str | None) -> None:
        """Mark ourselves away with ``message``, or back with ``None``."""
        raise NotImplementedError

    async def whois(self, nick: str) -> None:
        """Ask about ``nick``; replies arrive as :class:`ServerReply` events."""
        raise NotImplementedError

    async def raw(self, line: str) -> None:
        """Send one raw IRC line."""
        raise NotImplementedError

    async def request(self, *params: str, timeout: float = 10.0) -> list[IRCMessage]:
        """Send a command and return the server's reply lines (labeled-response, or a PING fence)."""
        raise NotImplementedError

    async def history_before(self, target: str, before: str | datetime, limit: int | None = None) -> None:
        """Ask for messages of ``target`` before a msgid or time; they arrive as a :class:`HistoryBatch`."""
        raise NotImplementedError

    async def history_latest(self, target: str, limit: int | None = None) -> None:
        """Ask for the latest messages of ``target``; they arrive as a :class:`HistoryBatch`."""
        raise NotImplementedError

    async def close(self, reason: str = "") -> None:
        """QUIT, close the connection and stop reconnecting; the event stream ends."""
        raise NotImplementedError
