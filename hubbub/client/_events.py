"""Typed events produced by the client state machine and the asyncio driver.

Every event is a frozen dataclass. Names of channels and nicks are given as the server spelled
them; compare them with :meth:`ClientProtocol.casefold` (the server's CASEMAPPING).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from hubbub.protocol import Message as IRCMessage

from ._state import ISupport

TypingState = Literal["active", "paused", "done"]
"""A ``+typing`` value (IRCv3 typing client tag)."""

MessageKind = Literal["privmsg", "notice", "action"]
"""What a :class:`Message` is: a PRIVMSG, a NOTICE or a CTCP ACTION (``/me``)."""

_NO_TAGS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Event:
    """Base class of every client event."""


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """The TCP (or TLS) connection is open; registration has started."""


@dataclass(frozen=True, slots=True)
class Registered(Event):
    """Registration is complete (after the MOTD): ``nick`` is ours, ``isupport`` what the server offers."""

    nick: str
    isupport: ISupport


@dataclass(frozen=True, slots=True)
class NickInUse(Event):
    """The nick we asked for during registration is taken or refused.

    ``fallback`` is the nick the client tries next by itself (``nick_``), or ``None`` when
    automatic fallback is off (or the nick is refused rather than taken: ERR_ERRONEUSNICKNAME)
    and the application must call ``set_nick`` with another. ``code`` is the numeric (``433``
    taken, ``432`` not allowed ...) and ``reason`` the server's words.
    """

    nick: str
    fallback: str | None = None
    code: str = field(default="", compare=False)
    reason: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Disconnected(Event):
    """The connection ended; ``will_reconnect`` tells whether the client will try again."""

    reason: str
    will_reconnect: bool


@dataclass(frozen=True, slots=True)
class Reconnecting(Event):
    """The client will try to connect again after ``delay`` seconds (attempt number ``attempt``)."""

    delay: float
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class Message(Event):
    """A chat line for a buffer: PRIVMSG, NOTICE or ACTION.

    ``target`` is the buffer it belongs in: the channel for channel messages, the other
    person's nick for private ones (also for those we sent), or ``"*"`` for server notices
    before registration. ``sender`` is the nick (or server name) that sent it. ``time`` is the
    server's time when it gave one (server-time), else the local time of receipt, always
    timezone-aware. ``is_mention`` is true when our nick appears as a word in someone else's text.
    """

    target: str
    sender: str
    text: str
    time: datetime
    msgid: str | None = None
    kind: MessageKind = "privmsg"
    is_self: bool = False
    is_mention: bool = False
    tags: Mapping[str, str] = field(default_factory=lambda: _NO_TAGS)
    from_history: bool = False


@dataclass(frozen=True, slots=True)
class MessageRedacted(Event):
    """``by`` deleted the message ``msgid`` of buffer ``target`` (IRCv3 draft/message-redaction).

    ``target`` is the buffer as for :class:`Message` (the channel, or the other person's nick);
    clients should hide or replace the message's text. ``reason`` may be empty.
    """

    target: str
    msgid: str
    reason: str = ""
    by: str = ""


@dataclass(frozen=True, slots=True)
class Typing(Event):
    """``nick`` is typing in buffer ``target`` (``active``), has ``paused``, or is ``done``.

    The typing spec: receivers "SHOULD" treat ``active`` as over after 6 seconds without another,
    ``paused`` after 30, and any message from ``nick`` as ``done``. The library only reports.
    """

    target: str
    nick: str
    state: TypingState


@dataclass(frozen=True, slots=True)
class Joined(Event):
    """``nick`` joined ``channel``; ``is_self`` when it is us (the channel buffer now exists)."""

    channel: str
    nick: str
    is_self: bool = False
    account: str | None = None
    realname: str | None = None


@dataclass(frozen=True, slots=True)
class Parted(Event):
    """``nick`` left ``channel`` with an optional ``reason``."""

    channel: str
    nick: str
    reason: str = ""
    is_self: bool = False


@dataclass(frozen=True, slots=True)
class Kicked(Event):
    """``nick`` was kicked from ``channel`` by ``by``."""

    channel: str
    nick: str
    by: str
    reason: str = ""
    is_self: bool = False


@dataclass(frozen=True, slots=True)
class Quit(Event):
    """``nick`` quit the network; ``channels`` are the ones we shared with them."""

    nick: str
    reason: str = ""
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NickChanged(Event):
    """``old`` is now known as ``new``; ``channels`` are the ones we share (or all of ours if us)."""

    old: str
    new: str
    is_self: bool = False
    channels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TopicChanged(Event):
    """The topic of ``channel`` is ``topic`` (empty when cleared).

    ``set_by`` and ``set_at`` come from TOPIC or RPL_TOPICWHOTIME (333) when known.
    """

    channel: str
    topic: str
    set_by: str | None = None
    set_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChannelRenamed(Event):
    """``old`` is now called ``new`` (IRCv3 draft/channel-rename): its members, topic, modes and
    msgid memory moved with it, and it is rejoined under the new name after a reconnect.

    ``by`` is the nick of the operator who renamed it; ``reason`` may be empty.
    """

    old: str
    new: str
    reason: str = ""
    by: str = ""


@dataclass(frozen=True, slots=True)
class MembersChanged(Event):
    """The member list (or members' prefixes) of ``channel`` changed; read it from the state."""

    channel: str


@dataclass(frozen=True, slots=True)
class AwayChanged(Event):
    """``nick`` is now away with ``message``, or back (``away`` false)."""

    nick: str
    away: bool
    message: str = ""
    is_self: bool = False


@dataclass(frozen=True, slots=True)
class MetadataChanged(Event):
    """``target`` (a nick or a channel) has ``key`` set to ``value``, or removed (``None``).

    draft/metadata-2: the keys in ``ClientConfig.metadata_keys`` are subscribed to; their values
    are kept in ``User.metadata`` and ``Channel.metadata``. ``is_self`` when it is our own.
    """

    target: str
    key: str
    value: str | None
    is_self: bool = False


@dataclass(frozen=True, slots=True)
class ModeChanged(Event):
    """``setter`` changed the modes of ``target`` (a channel or our nick): ``modes`` and ``params``."""

    target: str
    setter: str
    modes: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Invited(Event):
    """``by`` invited ``nick`` (us, or someone else with invite-notify) to ``channel``."""

    channel: str
    nick: str
    by: str
    is_self: bool = True


@dataclass(frozen=True, slots=True)
class HistoryBatch(Event):
    """Messages of ``target`` from a ``chathistory`` batch, oldest first, already de-duplicated.

    ``before`` is true when they precede what the buffer shows (CHATHISTORY BEFORE or LATEST)
    and false when they fill a gap after it (CHATHISTORY AFTER, after a reconnect).
    """

    target: str
    messages: tuple[Message, ...]
    before: bool = True


@dataclass(frozen=True, slots=True)
class HistoryGap(Event):
    """The messages of ``target`` since the last one seen could not be fetched after a reconnect.

    The server refused the gap fill (``reason`` is its description: the message it was asked to
    continue from may be gone, as after a restart with another store); the client asked for the
    latest messages instead, which arrive as a :class:`HistoryBatch`. Messages sent while it was
    away may be missing.
    """

    target: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Sending(Event):
    """Progress of messages held back to stay within the server's flood limits.

    ``sent`` of ``total`` lines of text queued since the queue was last empty have gone out;
    ``target`` is where the message being sent now goes. Reported while the queue has to wait,
    after each message sent meanwhile, and once more with ``sent == total`` when it is empty.
    """

    target: str
    sent: int
    total: int


@dataclass(frozen=True, slots=True)
class NotSent(Event):
    """Messages to ``target`` that were queued and will never be sent: ``texts``, one a message.

    Reported when the client is closed, or gives up reconnecting, before their turn came;
    ``reason`` says which. A message is never dropped without this event.
    """

    target: str
    texts: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class ServerReply(Event):
    """A server line worth showing: an error numeric, a FAIL/WARN/NOTE standard reply, MOTD, WHOIS.

    ``command`` is the numeric or the command (``"FAIL"``); ``text`` is a readable summary;
    ``params`` the raw parameters after our nick (for numerics) or all of them.
    ``target`` is the buffer it concerns when one is named (a channel or nick), else ``None``.
    ``label`` names the request it answers (see :meth:`Client.request`), when it answers one: the
    labeled-response label, or without that capability the request still waiting for its fence.
    """

    command: str
    text: str
    params: tuple[str, ...] = ()
    target: str | None = None
    label: str | None = None


@dataclass(frozen=True, slots=True)
class CapabilitiesChanged(Event):
    """The set of enabled IRCv3 capabilities changed (ACK, DEL, or a new connection)."""

    enabled: frozenset[str]


@dataclass(frozen=True, slots=True)
class LabeledResponse(Event):
    """Every line the server sent in answer to one labelled request (see ``ClientProtocol.request``)."""

    label: str
    messages: tuple[IRCMessage, ...]


@dataclass(frozen=True, slots=True)
class Error(Event):
    """A fatal or unexpected problem: the server's ERROR line, an unparsable line, a failed login."""

    text: str
