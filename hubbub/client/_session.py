"""What one client session knows (nick, caps, channels, users) and the helpers every topic uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from hubbub.protocol import LineFramer, casefold, format_message
from hubbub.protocol import Message as IRCMessage

from ._config import ClientConfig
from ._dedup import MessageLog
from ._events import Event, ServerReply
from ._state import Batch, Channel, HistoryRequest, ISupport, Member, User

SERVER_BUFFER = "*"
"""The buffer of messages from the server itself rather than from a nick or a channel."""
# Numerics whose second parameter names a nick rather than a channel.
_NICK_TARGET_NUMERICS = frozenset({"301", "311", "312", "313", "317", "318", "319", "330", "401", "406"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def nick_of(source: str | None) -> str:
    """The nick (or server name) part of a message source ``nick!user@host``."""
    if not source:
        return ""
    return source.split("!", 1)[0].split("@", 1)[0]


class _Session:
    """The state of :class:`ClientProtocol` and the helpers its topic mixins share.

    Per-connection state is set in :meth:`_reset_connection`; what outlives a connection
    (wanted channels, the msgid log, the connection count) only in ``__init__``.
    """

    def __init__(self, config: ClientConfig, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.config = config
        self._clock = clock
        self.nick: str = config.nick
        """Our current nick (the requested one until the server confirms it)."""
        self.registered = False
        """Whether registration is complete (RPL_WELCOME seen)."""
        self.isupport = ISupport()
        """The server's ISUPPORT tokens so far."""
        self.caps_available: dict[str, str] = {}
        """Capabilities the server offers, with their values."""
        self.caps_enabled: set[str] = set()
        """Capabilities negotiated on this connection."""
        self.channels: dict[str, Channel] = {}
        """Channels we are in, keyed by casefolded name."""
        self.users: dict[str, User] = {}
        """Nicks we know about (ourselves and members of our channels), keyed by casefolded nick."""
        self.account: str | None = None
        """The account we are logged in to (SASL or RPL_LOGGEDIN), if any."""
        self.connections = 0
        """How many connections this machine has started (more than 1 after a reconnect)."""
        self._wanted_nick = config.nick
        self._wanted: dict[str, tuple[str, str | None]] = {}
        self._away_who: set[str] = set()  # channels whose after-join WHO is still answering
        for name in config.channels:
            self._wanted[self.casefold(name)] = (name, None)
        self._log = MessageLog(config.dedup_size)
        self._framer = LineFramer()
        self._out = bytearray()
        self._events: list[Event] = []
        self._reset_connection()

    def _reset_connection(self) -> None:
        self.registered = False
        self.isupport = ISupport()
        self.caps_available = {}
        self.caps_enabled = set()
        self.channels = {}
        self.users = {}
        self._framer = LineFramer()
        self._cap_ls_done = False
        self._cap_pending: set[str] = set()
        self._cap_negotiating = False
        self._sasl_active = False
        self._registered_sent = False
        self._names: dict[str, dict[str, Member]] = {}
        self._batches: dict[str, Batch] = {}
        self._history_requests: list[HistoryRequest] = []  # in the order asked
        self._fences: dict[str, list[IRCMessage]] = {}
        self._typing_sent: dict[str, datetime] = {}  # target -> when we last sent +typing=active
        self._label_counter = 0
        self._reply_label: str | None = None  # the request the message being handled answers
        self._batch_counter = 0
        self._self_user: str | None = None
        self._self_host: str | None = None

    # -- state --------------------------------------------------------------------------------
    def casefold(self, name: str) -> str:
        """Fold a nick or channel name with the server's CASEMAPPING."""
        return casefold(name, self.isupport.casemapping)

    def is_channel(self, name: str) -> bool:
        """Whether ``name`` is a channel name on this server (CHANTYPES)."""
        return bool(name) and name[0] in self.isupport.chantypes

    def channel(self, name: str) -> Channel | None:
        """The channel ``name`` if we are in it."""
        return self.channels.get(self.casefold(name))

    def is_me(self, nick: str) -> bool:
        """Whether ``nick`` is our own nick."""
        return self.casefold(nick) == self.casefold(self.nick)

    @property
    def wanted_channels(self) -> list[str]:
        """Channels we join, and rejoin after every reconnect, until parted or kicked."""
        return [name for name, _ in self._wanted.values()]

    def last_msgid(self, target: str) -> str | None:
        """The msgid of the newest message seen in buffer ``target`` (used to fill gaps)."""
        return self._log.last_msgid(self.casefold(target))

    # -- shared by every topic ----------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _send(self, command: str, *params: str, tags: Mapping[str, str] | None = None) -> None:
        self._out += format_message(IRCMessage.build(command, *params, tags=tags))

    def _subscribe_metadata(self) -> None:
        # draft/metadata-2: "METADATA * SUB <key1> [<key2> ...]" -- subscribed keys' values come
        # with each JOIN and whenever they change.
        if self.config.metadata_keys:
            self._send("METADATA", "*", "SUB", *self.config.metadata_keys)

    def _user(self, nick: str) -> User:
        key = self.casefold(nick)
        user = self.users.get(key)
        if user is None:
            user = self.users[key] = User(nick)
        return user

    def _note_source(self, source: str | None) -> User | None:
        if not source or "!" not in source:
            return None
        nick, _, rest = source.partition("!")
        user = self._user(nick)
        user.nick = nick
        user.user, _, host = rest.partition("@")
        user.host = host or user.host
        if self.is_me(nick):
            self._self_user, self._self_host = user.user, user.host
        return user

    def _server_reply(self, msg: IRCMessage) -> None:
        params = msg.params[1:] if msg.params else ()
        target: str | None = None
        if len(params) >= 2 and (self.is_channel(params[0]) or msg.command in _NICK_TARGET_NUMERICS):
            target = params[0]
        text = " ".join(params)
        self._emit(ServerReply(msg.command, text, tuple(params), target, self._reply_label))

    def _time_of(self, msg: IRCMessage) -> datetime:
        stamp = msg.tags.get("time")
        if stamp:
            try:
                value = datetime.fromisoformat(stamp)
            except ValueError:
                return self._clock()
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return self._clock()
