"""What the client knows about the server and its channels: ISUPPORT, channels, members, users,
and the batches the server has open."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

from hubbub.protocol import Casemapping
from hubbub.protocol import Message as IRCMessage

_DEFAULT_PREFIX = ("ov", "@+")


def _parse_int(value: str | None, default: int | None) -> int | None:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class ISupport:
    """The server's RPL_ISUPPORT (005) tokens, with typed accessors for the ones the client uses.

    ``tokens`` maps each token to its value (``""`` for a token without one). A new 005 line
    makes a new object (:meth:`updated`); this one never changes.
    """

    tokens: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def updated(self, params: tuple[str, ...]) -> ISupport:
        """A copy with the tokens of one 005 line applied (``-TOKEN`` removes one)."""
        tokens = dict(self.tokens)
        for item in params:
            if item.startswith("-"):
                tokens.pop(item[1:].upper(), None)
                continue
            key, _, value = item.partition("=")
            if key:
                tokens[key.upper()] = _unescape_isupport(value)
        return ISupport(MappingProxyType(tokens))

    def get(self, token: str, default: str | None = None) -> str | None:
        """The raw value of ``token``, ``""`` when it has none, ``default`` when absent."""
        return self.tokens.get(token.upper(), default)

    @property
    def casemapping(self) -> Casemapping:
        """CASEMAPPING: ``"ascii"`` or ``"rfc1459"`` (the RFC default when not given)."""
        value = (self.tokens.get("CASEMAPPING") or "rfc1459").lower()
        return "ascii" if value == "ascii" else "rfc1459"

    @property
    def prefix(self) -> tuple[str, str]:
        """PREFIX as ``(modes, symbols)``, highest rank first: ``("ov", "@+")`` by default."""
        value = self.tokens.get("PREFIX")
        if value is None:
            return _DEFAULT_PREFIX
        if not value.startswith("(") or ")" not in value:
            return ("", "")
        modes, _, symbols = value[1:].partition(")")
        n = min(len(modes), len(symbols))
        return (modes[:n], symbols[:n])

    @property
    def chantypes(self) -> str:
        """CHANTYPES: the characters that start a channel name (``#&`` by default)."""
        value = self.tokens.get("CHANTYPES")
        return "#&" if value is None else value

    @property
    def chanmodes(self) -> tuple[str, str, str, str]:
        """CHANMODES as four groups: list modes, always-with-parameter, set-with-parameter, flags."""
        value = self.tokens.get("CHANMODES", "beI,k,l,imnpst")
        groups = [*value.split(","), "", "", ""][:4]
        return (groups[0], groups[1], groups[2], groups[3])

    @property
    def nicklen(self) -> int:
        """NICKLEN, or 30 when not given."""
        return _parse_int(self.tokens.get("NICKLEN"), 30) or 30

    @property
    def userlen(self) -> int:
        """USERLEN, or 10 when not given (the usual ident length)."""
        return _parse_int(self.tokens.get("USERLEN"), 10) or 10

    @property
    def linelen(self) -> int:
        """LINELEN: bytes in a line without tags, including CRLF; 512 unless the server says more."""
        return max(512, _parse_int(self.tokens.get("LINELEN"), 512) or 512)

    @property
    def chathistory(self) -> int | None:
        """CHATHISTORY: how many messages one request may return (0 = no limit); ``None`` if absent."""
        if "CHATHISTORY" not in self.tokens:
            return None
        return _parse_int(self.tokens.get("CHATHISTORY"), 0)

    @property
    def network(self) -> str | None:
        """NETWORK: the network's name, when the server gives one."""
        return self.tokens.get("NETWORK")

    @property
    def statusmsg(self) -> str:
        """STATUSMSG: prefixes that may come before a channel name in a message target."""
        return self.tokens.get("STATUSMSG", "")


def _unescape_isupport(value: str) -> str:
    # Modern IRC RPL_ISUPPORT: values escape bytes as \xHH (\x20 for a space, \x3D for '=').
    if "\\x" not in value:
        return value
    out: list[str] = []
    i = 0
    while i < len(value):
        if value.startswith("\\x", i) and i + 4 <= len(value):
            try:
                out.append(chr(int(value[i + 2 : i + 4], 16)))
                i += 4
                continue
            except ValueError:
                pass
        out.append(value[i])
        i += 1
    return "".join(out)


@dataclass(slots=True)
class User:
    """What we know about one nick: user and host, account, realname, away state."""

    nick: str
    user: str | None = None
    host: str | None = None
    account: str | None = None
    realname: str | None = None
    away: bool = False
    away_message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)  # draft/metadata-2 subscribed keys


@dataclass(slots=True)
class Member:
    """One nick's membership of a channel: the nick and its prefix symbols (``"@+"``), highest first."""

    nick: str
    prefixes: str = ""

    @property
    def prefix(self) -> str:
        """The highest prefix symbol, or ``""``: what a member list shows before the nick."""
        return self.prefixes[:1]


@dataclass(slots=True)
class Channel:
    """A channel we are in: its topic, modes and members (keyed by casefolded nick)."""

    name: str
    topic: str = ""
    topic_set_by: str | None = None
    topic_set_at: datetime | None = None
    modes: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    joined: bool = True
    metadata: dict[str, str] = field(default_factory=dict)  # draft/metadata-2 subscribed keys

    def member_list(self, prefix_symbols: str = "@+") -> list[Member]:
        """Members sorted by rank (order of ``prefix_symbols``), then case-insensitively by nick."""
        rank = {symbol: i for i, symbol in enumerate(prefix_symbols)}
        lowest = len(prefix_symbols)

        def key(m: Member) -> tuple[int, str]:
            return (rank.get(m.prefix, lowest) if m.prefix else lowest, m.nick.lower())

        return sorted(self.members.values(), key=key)


@dataclass(slots=True)
class HistoryRequest:
    """A CHATHISTORY request waiting for its batch (or its FAIL)."""

    key: str  # the target, casefolded
    target: str
    subcommand: str
    point: str  # the message reference asked from: "msgid=...", "timestamp=..." or "*"
    before: bool  # the messages go before what the buffer shows (BEFORE, LATEST)
    gap: bool = False  # the client's own gap fill after a reconnect (AFTER)
    fallback: bool = False  # the LATEST asked for when a gap fill failed


@dataclass(slots=True)
class Batch:
    """A batch the server has opened and not yet closed, with the lines collected so far."""

    ref: str
    kind: str
    params: tuple[str, ...]
    tags: Mapping[str, str]
    source: str | None
    parent: str | None
    messages: list[IRCMessage] = field(default_factory=list)
    # Lines of chathistory and multiline batches are not live events: they are read at the end.
    swallows: bool = False
