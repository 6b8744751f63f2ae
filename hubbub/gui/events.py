"""The vocabulary between the window and the network: events in, requests out.

The window only ever sees these types; :mod:`._bridge` turns the client library's events into them
and carries out the requests, so adapting to a library change touches one module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

# --- events: network -> window -------------------------------------------------------------------

ConnectionState = Literal["connecting", "connected", "disconnected", "reconnecting", "failed"]


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """The connection moved to ``state``; ``detail`` says why (an error text, a server name)."""

    state: ConnectionState
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Registered:
    """Registration finished; we are ``nick`` on ``network``."""

    nick: str
    network: str = ""
    elist: str = ""  # the server's ELIST token: "U" means it filters LIST by member count


@dataclass(frozen=True, slots=True)
class ChatLine:
    """A PRIVMSG, CTCP ACTION or NOTICE, live or from history.

    ``target`` is the buffer it belongs to: the channel, or the other party of a private message.
    """

    target: str
    nick: str
    text: str
    time: datetime
    kind: Literal["message", "action", "notice"] = "message"
    own: bool = False
    msgid: str | None = None


@dataclass(frozen=True, slots=True)
class Typing:
    """``nick`` is typing in buffer ``target`` (``active``), has ``paused``, or is ``done``."""

    target: str
    nick: str
    state: Literal["active", "paused", "done"]


@dataclass(frozen=True, slots=True)
class MessageRedacted:
    """``by`` deleted the message ``msgid`` of buffer ``target`` (draft/message-redaction)."""

    target: str
    msgid: str
    reason: str = ""
    by: str = ""


@dataclass(frozen=True, slots=True)
class Joined:
    """``nick`` joined ``channel`` (``is_me`` for our own join)."""

    channel: str
    nick: str
    is_me: bool
    time: datetime


@dataclass(frozen=True, slots=True)
class Parted:
    """``nick`` left ``channel``."""

    channel: str
    nick: str
    reason: str
    is_me: bool
    time: datetime


@dataclass(frozen=True, slots=True)
class Kicked:
    """``by`` kicked ``nick`` out of ``channel``."""

    channel: str
    nick: str
    by: str
    reason: str
    is_me: bool
    time: datetime


@dataclass(frozen=True, slots=True)
class Quit:
    """``nick`` quit the network."""

    nick: str
    reason: str
    time: datetime


@dataclass(frozen=True, slots=True)
class NickChanged:
    """``old`` is now known as ``new``."""

    old: str
    new: str
    is_me: bool
    time: datetime


@dataclass(frozen=True, slots=True)
class TopicChanged:
    """The topic of ``channel``; ``setter`` is empty when only reported, not changed."""

    channel: str
    topic: str
    setter: str = ""
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChannelRenamed:
    """``old`` is now called ``new`` (draft/channel-rename); ``by`` renamed it, maybe with a ``reason``."""

    old: str
    new: str
    reason: str
    by: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Member:
    """One channel member: the nick, its prefix symbols (``@``, ``+``), whether away, and the
    display name it chose (draft/metadata-2 ``display-name``), if any."""

    nick: str
    prefix: str = ""
    away: bool = False
    display_name: str = ""
    host: str = ""  # where the member connects from, when known (a ban mask is made of it)


@dataclass(frozen=True, slots=True)
class MembersChanged:
    """The full member list of ``channel`` (after NAMES, a mode change, a join...)."""

    channel: str
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class AwayChanged:
    """``nick`` went away or came back."""

    nick: str
    away: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class HistoryLoaded:
    """Stored messages for ``target``, oldest first; ``exhausted`` when nothing older remains."""

    target: str
    lines: tuple[ChatLine, ...]
    older: bool
    exhausted: bool


ProblemKind = Literal["nick_in_use", "cannot_join", "banned", "kicked", "unknown_command", "error"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something went wrong that the user should see; ``target`` names a buffer when it concerns one."""

    kind: ProblemKind
    text: str
    target: str = ""


@dataclass(frozen=True, slots=True)
class SendProgress:
    """Messages held back to stay within the server's flood limits: ``sent`` of ``total`` lines
    have gone (to ``target`` now); ``sent == total`` when the queue has emptied."""

    target: str
    sent: int
    total: int


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """The first connection failed (refused, timed out, TLS, a nick refused): ``reason`` says why.

    Only with ``ConnectOptions.retry_first`` off (the connect form); the network side has stopped.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class ServerText:
    """Informational text from the server (MOTD, WHOIS replies, notices); ``target`` empty = server buffer."""

    text: str
    target: str = ""
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class ChannelEntry:
    """One channel of a LIST answer: its name, how many are in it, its topic."""

    name: str
    users: int
    topic: str = ""


@dataclass(frozen=True, slots=True)
class ChannelListed:
    """The answer to :class:`ListChannels`, whole; ``error`` says why there is none."""

    entries: tuple[ChannelEntry, ...]
    error: str = ""


@dataclass(frozen=True, slots=True)
class SearchResults:
    """What a search (``/search``) found, oldest first, or ``error`` when it could not run.

    Each line's ``target`` is the buffer it belongs to. ``scope`` is the buffer searched, or ""
    for everything.
    """

    text: str
    scope: str
    lines: tuple[ChatLine, ...] = ()
    error: str = ""


Event = (
    ConnectionChanged
    | Registered
    | ChatLine
    | MessageRedacted
    | Typing
    | Joined
    | Parted
    | Kicked
    | Quit
    | NickChanged
    | TopicChanged
    | ChannelRenamed
    | MembersChanged
    | AwayChanged
    | HistoryLoaded
    | Problem
    | ServerText
    | SendProgress
    | ConnectFailed
    | ChannelListed
    | SearchResults
)

# --- requests: window -> network -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendText:
    """Send a message (``action`` for /me) to ``target``; several lines go as one message each."""

    target: str
    lines: tuple[str, ...]
    action: bool = False


@dataclass(frozen=True, slots=True)
class JoinChannels:
    """Join channels, with keys where given."""

    channels: tuple[str, ...]
    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PartChannel:
    """Leave ``channel``."""

    channel: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ChangeNick:
    """Ask for another nickname."""

    nick: str


@dataclass(frozen=True, slots=True)
class SetTopic:
    """Set the topic of ``channel``, or ask for it when ``topic`` is None."""

    channel: str
    topic: str | None


@dataclass(frozen=True, slots=True)
class SetAway:
    """Mark ourselves away with ``message``, or back when it is empty."""

    message: str


@dataclass(frozen=True, slots=True)
class KickMember:
    """Kick ``nick`` out of ``channel``."""

    channel: str
    nick: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SendTyping:
    """Tell ``target`` we are typing (``active``) or stopped (``done``); the library throttles it."""

    target: str
    state: Literal["active", "done"] = "active"


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    """Delete the message ``msgid`` of ``target`` (REDACT): one's own, or as an operator."""

    target: str
    msgid: str


@dataclass(frozen=True, slots=True)
class RenameChannel:
    """Give ``channel`` the name ``new`` (draft/channel-rename; channel operators only)."""

    channel: str
    new: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SetMode:
    """MODE with these arguments (target first)."""

    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Whois:
    """Ask who ``nick`` is; the answer goes to buffer ``origin`` (where it was asked) when given."""

    nick: str
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class SendRaw:
    """A command the window does not know, sent as typed; replies go to buffer ``origin`` when given."""

    line: str
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class ListChannels:
    """Ask for the channel list (LIST with ``args``, e.g. ``>5`` where ELIST offers it)."""

    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadOlder:
    """Fetch up to ``limit`` messages of ``target`` older than ``before`` (a msgid or time)."""

    target: str
    before_msgid: str | None
    before_time: datetime | None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class QuitNetwork:
    """Say goodbye and stop reconnecting."""

    reason: str = ""


@dataclass(frozen=True, slots=True)
class SearchMessages:
    """Search the server's history for ``text`` in the buffer ``scope`` ("" for everywhere)."""

    text: str
    scope: str = ""


@dataclass(frozen=True, slots=True)
class LoadAround:
    """Load the stored messages of ``target`` around the message ``msgid`` (a search result)."""

    target: str
    msgid: str
    limit: int = 50


Request = (
    SendText
    | JoinChannels
    | PartChannel
    | ChangeNick
    | SetTopic
    | SetAway
    | KickMember
    | RenameChannel
    | DeleteMessage
    | SendTyping
    | SetMode
    | Whois
    | SendRaw
    | ListChannels
    | LoadOlder
    | SearchMessages
    | LoadAround
    | QuitNetwork
)


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """What the bridge needs to connect."""

    host: str
    port: int
    nick: str
    tls: bool = False
    password: str = ""
    channels: tuple[str, ...] = ()
    realname: str = "hubbub desktop"
    extra_caps: tuple[str, ...] = field(default_factory=tuple)
    # Pacing of what is sent (the server's flood control; hubbub's defaults), and whether a paste
    # goes as one draft/multiline message where the server offers it.
    send_burst: int = 5
    send_rate: float = 2.0
    multiline: bool = True
    connect_timeout: float = 10.0
    # A failed first connection is retried (the command line), or reported as ConnectFailed
    # and given up (the connect form, which the window shows again).
    retry_first: bool = True
