"""Per-client state: who the client is, what it negotiated, and its timers.

A Session is one client's view of the server: its registration phase, nick, negotiated caps,
away state and channels. It is sans-IO: lines come in through :meth:`Session.handle_line`, which
parses them and hands each to the server's command dispatcher (hubbub.server.handlers.dispatch);
replies go out through the connection it was given, a :class:`~hubbub.server.outbox.Link`; time
and timers come from the server's clock. It knows the server only as a :class:`Host`, and so
imports nothing above the state layer (docs/architecture.md walks a message through it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, cast, overload

from hubbub.protocol import Message, ProtocolError, check_client_line, numerics, parse, parse_loosely
from hubbub.store import new_connection_side

from . import caps as capmod
from .answering import Answering
from .limits import TokenBucket
from .tls import certificate_fingerprint

if TYPE_CHECKING:
    from .clock import Clock, Deadlines, Timer
    from .config import Settings
    from .outbox import Link, Outboxes
    from .world import Channel, World

log = logging.getLogger(__name__)

# Lines an unregistered client may send before it is dropped (it has no flood bucket yet).
MAX_PRE_REGISTRATION_LINES = 100

# What most clients have: no user modes, no metadata subscriptions (one object for them all).
NO_MODES: frozenset[str] = frozenset()
NO_KEYS: frozenset[str] = frozenset()


def _plain_word(word: str) -> bool:
    """Whether ``word`` can be shown back as a command: ASCII letters and digits only."""
    return word.isascii() and word.isalnum()


class Host(Protocol):
    """What a session needs of the server it is on (:class:`hubbub.server.app.Server`)."""

    name: str
    settings: Settings
    clock: Clock
    deadlines: Deadlines[Session]  # every client's registration or ping deadline, on one timer
    world: World[Session]
    outboxes: Outboxes
    tasks: set[asyncio.Future[None]]  # commands finishing off the loop (Answering.run_async)

    def dispatch(self, session: Session, message: Message, line: bytes) -> None:
        """Run the command ``message`` (the client's ``line``) for ``session``."""

    def session_gone(self, session: Session, reason: str) -> None:
        """``session`` left the network: show its QUIT to its peers once."""


@dataclass(slots=True)
class AuthState:
    """Per-connection authentication state: TLS, certificate, SASL exchange, operator name."""

    tls: bool = False
    certfp: str | None = None
    mechanism: str | None = None
    buffer: str = ""
    pending: bool = False
    oper: str | None = None
    scram: object | None = None  # a SCRAM-SHA-256 exchange under way (handlers/login.py)


class _NoAuth(AuthState):
    """The state of every client that has not authenticated in any way: shared, so read only."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"the shared AuthState is read only: set {name} on Session.own_auth()")


# Made without __init__, whose assignments the class refuses.
NO_AUTH: AuthState = object.__new__(_NoAuth)
for _field in fields(AuthState):
    object.__setattr__(NO_AUTH, _field.name, _field.default)
del _field


@dataclass(slots=True)
class MultilineBatch:
    """A ``draft/multiline`` batch the client has opened and not closed yet (IRCv3 multiline).

    Its lines are collected here until ``BATCH -ref``; what it may hold is bounded by
    ``multiline_max_bytes`` and ``multiline_max_lines``, and how long by ``multiline_timeout``.
    A batch that broke a rule is ``failed``: its client was told, and its later lines are dropped
    as they come until it is closed.
    """

    ref: str
    target: str
    label: str | None  # the opening BATCH's label: the echo, or the failure, answers it
    tags: dict[str, str]  # client-only tags of the opening BATCH: they belong to the message
    command: str = ""
    lines: list[tuple[str, bool]] = field(default_factory=list)
    size: int = 0  # bytes of text, each joining line feed counted (max-bytes)
    failed: bool = False
    timer: Timer | None = None

    def drop(self) -> None:
        """Forget the lines and stop the timer."""
        self.lines = []
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Features:
    """What a client has once it uses a feature few clients use (away, direct messages ...).

    Each field is None (or empty) until used; :class:`Session` shows them as its own attributes.
    """

    __slots__ = (
        "away",
        "identity",
        "markers",
        "markers_sent",
        "metadata",
        "metadata_subs",
        "monitoring",
        "multiline",
        "typing_bucket",
    )

    def __init__(self) -> None:
        self.away: str | None = None  # the away message, while away
        self.identity: str | None = None  # in direct conversations, made when first asked for
        # draft/read-marker: DM senders already announced, and while not logged in, casefolded
        # target -> time (ms), oldest first
        self.markers_sent: set[str] | None = None
        self.markers: dict[str, int] | None = None
        self.monitoring: dict[str, str] | None = None  # MONITOR: casefolded nick -> nick as given
        self.multiline: MultilineBatch | None = None  # a draft/multiline batch being collected
        # draft/metadata-2: the keys this connection subscribed to (a set once it has any), and
        # its own values while it is not logged in (an account's are kept for the account, see
        # Accounts.metadata_of).
        self.metadata_subs: set[str] | frozenset[str] = NO_KEYS
        self.metadata: dict[str, str] | None = None
        self.typing_bucket: TokenBucket | None = None  # made at its first typing notification


T = TypeVar("T")


class Feature(Generic[T]):
    """A :class:`Session` attribute kept in its :class:`Features`, which is made only when such an
    attribute is first given a value other than ``empty`` (most sessions never have one)."""

    def __init__(self, empty: T, doc: str) -> None:
        self.empty = empty
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, session: None, owner: object) -> Feature[T]: ...

    @overload
    def __get__(self, session: Session, owner: object) -> T: ...

    def __get__(self, session: Session | None, owner: object) -> T | Feature[T]:
        if session is None:
            return self
        features = session._features
        return self.empty if features is None else cast(T, getattr(features, self.name))

    def __set__(self, session: Session, value: T) -> None:
        features = session._features
        if features is None:
            if value is self.empty:
                return
            features = session._features = Features()
        setattr(features, self.name, value)


class Session(Answering):
    """One connected client, registered or not."""

    __slots__ = (
        "__weakref__",
        "_features",
        "_pinged_at",
        "_prereg_lines",
        "account",
        "account_id",
        "auth",
        "cap_negotiating",
        "cap_version",
        "caps",
        "channels",
        "conn",
        "connected_at",
        "due_at",
        "flood_exempt",
        "gone",
        "host",
        "last_active",
        "nick",
        "password_ok",
        "primary",
        "realname",
        "registered",
        "server",
        "siblings",
        "umodes",
        "user",
        "view",
    )
    server: Host
    conn: Link

    def __init__(self, server: Host, conn: Link) -> None:
        self.server = server
        self.conn = conn
        clock = server.clock
        self.nick = "*"
        self.user = ""
        self.realname = ""
        self.host = conn.peer_ip or "unknown"
        if ":" in self.host:  # an IPv6 host must not start with ':' in a parameter
            self.host = self.host if not self.host.startswith(":") else "0" + self.host
        self.account: str | None = None
        self.account_id: str | None = None  # the account's immutable id, while logged in
        # Read here; changed through own_auth(), which gives the client its own at the first change.
        self.auth = NO_AUTH
        ssl_object = conn.tls_info()
        if ssl_object is not None:
            self.auth = AuthState(tls=True, certfp=certificate_fingerprint(ssl_object))
        # Most clients have none of the sets and maps below, or the same as many others: each is
        # a shared immutable value until it differs (caps, umodes: replaced, never changed in
        # place), or None until first used.
        self.umodes: frozenset[str] = NO_MODES  # user modes: i (invisible), B (bot), o (operator)
        self.registered = False
        self.gone = False
        self.caps: frozenset[str] = capmod.NO_CAPS
        self.view = 0
        self.cap_negotiating = False
        self.cap_version = 0
        self.password_ok = not server.settings.password
        self.channels: dict[str, Channel[Session]] = {}
        # What a client has once it uses a feature few use (away, direct messages, markers, MONITOR,
        # metadata, a multiline batch, typing notifications): the properties below read it, and
        # make it when set.
        self._features: Features | None = None
        # Multiple devices (see devices.py): the nick holder this connection is a sibling of, or
        # None when it holds its nick itself; a holder lists its siblings.
        self.primary: Session | None = None
        self.siblings: tuple[Session, ...] = ()
        self.connected_at = clock.now()
        self.last_active = self.connected_at
        self.flood_exempt = False
        # The reply buffer of the command being handled, while it is labelled or has a batch open.
        self.replies = None
        self._taken_replies = None  # the buffer run_async took from the dispatcher
        self._batch_seq = 0
        self._written = None
        self._prereg_lines = 0
        self._pinged_at: float | None = None  # when our unanswered PING went out
        # The one deadline a client has at a time, to register and then to show it is alive
        # (deadline_passed); the server's Deadlines keeps it.
        self.due_at: float | None = None
        server.deadlines.set(self, clock.monotonic() + server.settings.registration_timeout)

    def __repr__(self) -> str:
        return f"<Session {self.nick} {self.conn.peer_ip}:{self.conn.peer_port}>"

    # What few clients ever use, kept in one Features object made at the first value (Feature;
    # ``away`` is a property, as the World's Member protocol sets it).
    markers_sent: Feature[set[str] | None] = Feature(
        None, "draft/read-marker: the DM senders whose marker this connection was sent."
    )
    markers: Feature[dict[str, int] | None] = Feature(
        None, "draft/read-marker while not logged in: casefolded target -> time (ms), oldest first."
    )
    monitoring: Feature[dict[str, str] | None] = Feature(None, "MONITOR: casefolded nick -> nick as given.")
    multiline: Feature[MultilineBatch | None] = Feature(
        None, "The draft/multiline batch being collected, if any."
    )
    metadata_subs: Feature[set[str] | frozenset[str]] = Feature(
        NO_KEYS, "draft/metadata-2: the keys subscribed to (a set once there are any)."
    )
    metadata: Feature[dict[str, str] | None] = Feature(
        None, "draft/metadata-2: this guest's own values (see Accounts.metadata_of)."
    )
    typing_bucket: Feature[TokenBucket | None] = Feature(
        None, "The rate of typing notifications, made at the first one."
    )

    # identity ---------------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """Who this connection is in direct conversations while not logged in.

        Its own, for as long as it is connected, whatever nicks it takes (DESIGN.md principle 9);
        made when first asked for, as most connections never have a direct conversation.
        """
        features = self._features
        if features is None:
            features = self._features = Features()
        identity = features.identity
        if identity is None:
            identity = features.identity = new_connection_side()
        return identity

    @property
    def away(self) -> str | None:
        """The away message, while the client is away (AWAY)."""
        features = self._features
        return features.away if features is not None else None

    @away.setter
    def away(self, value: str | None) -> None:
        features = self._features
        if features is None:
            if value is None:
                return
            features = self._features = Features()
        features.away = value

    @property
    def hostmask(self) -> str:
        """``nick!user@host``, the source of this client's messages."""
        return f"{self.nick}!{self.user}@{self.host}"

    @property
    def devices(self) -> list[Session]:
        """Every connection of this user (multiple devices), the nick holder first."""
        holder = self.primary or self
        return [holder, *holder.siblings] if holder.siblings else [holder]

    @property
    def invisible(self) -> bool:
        """User mode +i."""
        return "i" in self.umodes

    @property
    def folded(self) -> str:
        """The casefolded nick, the key of this user in the World."""
        return self.server.world.fold(self.nick)

    def own_auth(self) -> AuthState:
        """This client's authentication state, to change (most clients share one they never change)."""
        auth = self.auth
        if auth is NO_AUTH:
            auth = self.auth = AuthState()
        return auth

    def has_cap(self, cap: str) -> bool:
        """Whether the client enabled ``cap``."""
        return cap in self.caps

    def set_caps(self, enable: Iterable[str], disable: Iterable[str] = ()) -> None:
        """Change the enabled caps and recompute the view."""
        self.caps = capmod.shared(self.caps.union(enable).difference(disable))
        self.view = capmod.view_of(self.caps)

    # input ------------------------------------------------------------------------------------

    def handle_line(self, raw: bytes) -> None:
        """Parse and dispatch one line; no exception escapes."""
        if self.gone:
            return
        if not self.registered:
            self._prereg_lines += 1
            if self._prereg_lines > MAX_PRE_REGISTRATION_LINES:
                self.disconnect("Too many commands before registration")
                return
        try:
            check_client_line(raw)
            message = parse(raw)
        except ProtocolError as exc:
            self._bad_line(exc, raw)
            return
        self.server.dispatch(self, message, raw)

    def _bad_line(self, exc: ProtocolError, raw: bytes) -> None:
        """Answer a line that cannot be run, so the client learns why; nothing else is done."""
        if not exc.numeric:
            return  # No command at all (only tags, only a source): Modern IRC ignores empty messages.
        # The refusal names the command and answers the label, when the line shows them
        # (IRCv3 utf8-only: "FAIL <command> INVALID_UTF8"; labeled-response).
        rough = parse_loosely(raw)
        command = rough.command if rough is not None and _plain_word(rough.command) else "*"
        label = rough.tags.get("label") if rough is not None and "labeled-response" in self.caps else None
        replies = self.begin_replies(label)
        try:
            if exc.numeric == "417":
                self.reply(numerics.ERR_INPUTTOOLONG)
            elif exc.numeric == "421":
                # A command nobody could type; answered as an unknown one (dispatch.py).
                if self.registered:
                    self.reply(numerics.ERR_UNKNOWNCOMMAND, "*")
                else:
                    self.reply(numerics.ERR_NOTREGISTERED)
            elif exc.numeric == "INVALID_UTF8":
                self.fail(command, "INVALID_UTF8", "Message rejected: not valid UTF-8")
            else:
                self.fail(command, "INVALID_CHARACTERS", "Message rejected: it holds a NUL or a CR")
        finally:
            self.end_replies(replies)

    def input_too_long(self) -> None:
        """The framer saw a line past the hard limit: there is no safe way to resync."""
        self.reply(numerics.ERR_INPUTTOOLONG)
        self.disconnect("Input line too long")

    def find_channel(self, name: str, *, silent: bool = False) -> Channel[Session] | None:
        """The channel called ``name``, or None after ERR_NOSUCHCHANNEL (unless ``silent``)."""
        channel = self.server.world.find_channel(name)
        if channel is None and not silent:
            self.reply(numerics.ERR_NOSUCHCHANNEL, name)
        return channel

    # lifecycle --------------------------------------------------------------------------------

    def registration_done(self) -> None:
        """Replace the registration deadline with the first ping check."""
        self.registered = True
        self._schedule_ping()

    def deadline_passed(self) -> None:
        """The client's deadline came (see ``clock.Deadlines``): to register, or to be heard from."""
        if self.gone:
            return
        if not self.registered:
            self.disconnect("Registration timed out")
            return
        self._ping_check()

    def _schedule_ping(self) -> None:
        if self.gone:
            return
        settings = self.server.settings
        now = self.server.clock.monotonic()
        idle = now - self.conn.last_seen
        limit = settings.ping_interval if self._pinged_at is None else settings.ping_timeout
        self.server.deadlines.set(self, now + max(limit - idle, 0.05))

    def _ping_check(self) -> None:
        settings = self.server.settings
        now = self.server.clock.monotonic()
        # Anything received since our PING proves the peer is alive. "Since" includes the same
        # instant: the PING went out only after ping_interval of silence, so input seen at that
        # time came after it.
        if self._pinged_at is not None and self.conn.last_seen >= self._pinged_at:
            self._pinged_at = None
        idle = now - self.conn.last_seen
        if idle >= settings.ping_timeout:
            self.disconnect(f"Ping timeout: {int(idle)} seconds")
            return
        if idle >= settings.ping_interval and self._pinged_at is None:
            self._pinged_at = now
            self.send(Message.build("PING", self.server.name, source=self.server.name))
        self._schedule_ping()

    def disconnect(self, reason: str, *, quit_message: str | None = None) -> None:
        """Leave the network: tell peers once, free the nick, close the socket with ``ERROR``."""
        if self.gone:
            return
        self.gone = True
        self.server.deadlines.cancel(self)
        if self.multiline is not None:
            # A batch left open at disconnect is dropped: half a message is never delivered.
            self.multiline.drop()
            self.multiline = None
        self.server.session_gone(self, quit_message if quit_message is not None else reason)
        if not self.conn.closed:
            self.replies = None
            self.conn.close_with_error(f"Closing Link: {self.host} ({reason})")
