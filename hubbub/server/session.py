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
from typing import TYPE_CHECKING, Protocol

from hubbub.protocol import Message, ProtocolError, check_client_line, numerics, parse, parse_loosely
from hubbub.store import new_connection_side

from . import caps as capmod
from .answering import Answering
from .client_state import NO_AUTH, AuthState, MultilineBatch
from .limits import TokenBucket
from .tls import certificate_fingerprint

if TYPE_CHECKING:
    from .clock import Clock, Deadlines
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

    def leaves_elsewhere(self, session: Session, reason: str, quit_message: str | None) -> bool:
        """Whether ``session`` is another node's user, whose node was just asked to disconnect
        it (it stays here until that node says it left)."""


class Session(Answering["Host"]):
    """One connected client, registered or not."""

    __slots__ = (
        "_identity",
        "_pinged_at",
        "_prereg_lines",
        "account",
        "account_id",
        "auth",
        "away",
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
        "markers",
        "markers_sent",
        "metadata",
        "metadata_subs",
        "monitoring",
        "multiline",
        "nick",
        "password_ok",
        "primary",
        "realname",
        "registered",
        "search_bucket",
        "server",
        "siblings",
        "typing_bucket",
        "umodes",
        "user",
        "view",
    )

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
        # What few clients use (away, direct messages, markers, MONITOR, metadata, a multiline
        # batch, typing notifications): None, or a shared empty value, until first used.
        self.away: str | None = None  # the away message, while away (AWAY)
        self._identity: str | None = None  # see identity
        # draft/read-marker: the DM senders whose marker this connection was sent, and while not
        # logged in, casefolded target -> time (ms), oldest first.
        self.markers_sent: set[str] | None = None
        self.markers: dict[str, int] | None = None
        self.monitoring: dict[str, str] | None = None  # MONITOR: casefolded nick -> nick as given
        self.multiline: MultilineBatch | None = None  # the draft/multiline batch being collected
        # draft/metadata-2: the keys subscribed to (a set once there are any), and this guest's
        # own values (an account's are kept for the account, see Accounts.metadata_of).
        self.metadata_subs: set[str] | frozenset[str] = NO_KEYS
        self.metadata: dict[str, str] | None = None
        self.typing_bucket: TokenBucket | None = None  # made at its first typing notification
        self.search_bucket: TokenBucket | None = None  # made at its first SEARCH
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

    # identity ---------------------------------------------------------------------------------

    @property
    def identity(self) -> str:
        """Who this connection is in direct conversations while not logged in.

        Its own, for as long as it is connected, whatever nicks it takes (DESIGN.md principle 9);
        made when first asked for, as most connections never have a direct conversation.
        """
        identity = self._identity
        if identity is None:
            identity = self._identity = new_connection_side()
        return identity

    @property
    def made_identity(self) -> str | None:
        """The :attr:`identity`, if it was ever asked for (it is not made by asking this)."""
        return self._identity

    def adopt_identity(self, side: str | None) -> None:
        """Be ``side`` in direct conversations: the mirror of another node's user is who it is there."""
        self._identity = side

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
        if self.gone or self.server.leaves_elsewhere(self, reason, quit_message):
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
