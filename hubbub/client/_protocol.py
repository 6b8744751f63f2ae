"""The sans-IO client state machine: bytes in, typed events out; methods return bytes to send."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from ._config import ClientConfig
from ._events import Event
from ._state import Channel, ISupport, User


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ClientProtocol:
    """One IRC client connection's protocol state, without any I/O (h11 style).

    Feed received bytes to :meth:`receive_data`, which returns the events they caused; call
    :meth:`data_to_send` after it for automatic answers (PONG, CAP, SASL, JOIN after
    registration). Commands such as :meth:`join` and :meth:`send_message` return the bytes to
    write. State that outlives one connection (the channels we want to be in, the last msgid
    seen per buffer, the msgids already shown) survives :meth:`connection_made` so that a
    reconnect can rejoin and fill the gap.
    """

    def __init__(self, config: ClientConfig, *, clock: Callable[[], datetime] = _utc_now) -> None:
        raise NotImplementedError

    # -- state -------------------------------------------------------------------------
    nick: str
    """Our current nick (the requested one until the server confirms it)."""
    registered: bool
    """Whether registration is complete (RPL_WELCOME seen)."""
    isupport: ISupport
    """The server's ISUPPORT tokens so far."""
    caps_available: dict[str, str]
    """Capabilities the server offers, with their values."""
    caps_enabled: set[str]
    """Capabilities negotiated on this connection."""
    channels: dict[str, Channel]
    """Channels we are in, keyed by casefolded name."""
    users: dict[str, User]
    """Nicks we know about (ourselves and members of our channels), keyed by casefolded nick."""

    def casefold(self, name: str) -> str:
        """Fold a nick or channel name with the server's CASEMAPPING."""
        raise NotImplementedError

    def is_channel(self, name: str) -> bool:
        """Whether ``name`` is a channel name on this server (CHANTYPES)."""
        raise NotImplementedError

    def channel(self, name: str) -> Channel | None:
        """The channel ``name`` if we are in it."""
        raise NotImplementedError

    # -- connection ----------------------------------------------------------------------
    def connection_made(self) -> bytes:
        """Start a new connection: reset per-connection state; return CAP LS 302, PASS, NICK, USER."""
        raise NotImplementedError

    def connection_lost(self) -> None:
        """Forget per-connection state (members, caps, batches); keep wanted channels and msgids."""
        raise NotImplementedError

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the server; return the events they caused (plus any queued ones)."""
        raise NotImplementedError

    def take_events(self) -> list[Event]:
        """Events queued by calls other than :meth:`receive_data` (own messages without echo-message)."""
        raise NotImplementedError

    def data_to_send(self) -> bytes:
        """Bytes the machine wants sent on its own account (PONG, CAP, SASL, rejoins)."""
        raise NotImplementedError

    # -- commands -----------------------------------------------------------------------------
    def send_message(self, target: str, text: str, *, kind: str = "privmsg") -> bytes:
        """PRIVMSG (or NOTICE, or ACTION) ``text`` to ``target``, split to fit 512-byte lines.

        Each line of a multi-line text is its own message unless the server offers
        draft/multiline, in which case the whole text goes as one batch.
        """
        raise NotImplementedError

    def join(self, channel: str, key: str | None = None) -> bytes:
        """JOIN ``channel``; it is rejoined after a reconnect until :meth:`part`."""
        raise NotImplementedError

    def part(self, channel: str, reason: str = "") -> bytes:
        """PART ``channel`` and stop rejoining it."""
        raise NotImplementedError

    def set_nick(self, nick: str) -> bytes:
        """NICK ``nick``."""
        raise NotImplementedError

    def set_topic(self, channel: str, topic: str) -> bytes:
        """TOPIC ``channel`` ``topic``."""
        raise NotImplementedError

    def set_away(self, message: str | None) -> bytes:
        """AWAY with ``message``, or back when ``message`` is ``None`` or empty."""
        raise NotImplementedError

    def whois(self, nick: str) -> bytes:
        """WHOIS ``nick`` (replies come as :class:`ServerReply` events)."""
        raise NotImplementedError

    def raw(self, line: str) -> bytes:
        """One raw line, checked to parse and to fit the limits."""
        raise NotImplementedError

    def request(self, *params: str) -> tuple[str, bytes]:
        """A command whose replies are collected into one :class:`LabeledResponse`.

        Returns the label and the bytes. With labeled-response the command carries the label;
        otherwise a ``PING`` with the label follows it and every reply line up to the
        matching ``PONG`` is collected (servers answer commands in order).
        """
        raise NotImplementedError

    def history_before(self, target: str, before: str | datetime, limit: int | None = None) -> bytes:
        """CHATHISTORY BEFORE ``target``: ``before`` is a msgid or a time."""
        raise NotImplementedError

    def history_latest(self, target: str, limit: int | None = None) -> bytes:
        """CHATHISTORY LATEST ``target`` *."""
        raise NotImplementedError

    def quit(self, reason: str = "") -> bytes:
        """QUIT with ``reason``."""
        raise NotImplementedError
