"""The sans-IO client state machine: bytes in, typed events out; methods return bytes to send."""

from __future__ import annotations

import base64
import logging
import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hubbub.protocol import LineFramer, ProtocolError, casefold, format_message, parse
from hubbub.protocol import Message as IRCMessage

from ._config import ClientConfig
from ._dedup import MessageLog
from ._errors import ClientError
from ._events import (
    AwayChanged,
    CapabilitiesChanged,
    Error,
    Event,
    HistoryBatch,
    Invited,
    Joined,
    Kicked,
    LabeledResponse,
    MembersChanged,
    Message,
    MessageKind,
    ModeChanged,
    NickChanged,
    NickInUse,
    Parted,
    Quit,
    Registered,
    ServerReply,
    TopicChanged,
)
from ._outgoing import build_chat_lines
from ._state import Channel, ISupport, Member, User
from ._text import is_action, is_ctcp, parse_action

log = logging.getLogger(__name__)

_SERVER_BUFFER = "*"
# Numerics handled by the state machine and not shown as ServerReply.
# The token of the WHO a client sends after joining, to learn who is away already.
_AWAY_WHO_TOKEN = "877"
_QUIET_NUMERICS = frozenset({"005", "324", "329", "331", "332", "333", "353", "366", "900", "903", "908"})
# Numerics answering a nick change that failed.
_NICK_ERRORS = frozenset({"431", "432", "433", "436"})
_SASL_FAILURES = frozenset({"902", "904", "905", "906", "907"})
# Numerics whose second parameter names a nick rather than a channel.
_NICK_TARGET_NUMERICS = frozenset({"301", "311", "312", "313", "317", "318", "319", "330", "401", "406"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def nick_of(source: str | None) -> str:
    """The nick (or server name) part of a message source ``nick!user@host``."""
    if not source:
        return ""
    return source.split("!", 1)[0].split("@", 1)[0]


@dataclass(slots=True)
class _Batch:
    ref: str
    kind: str
    params: tuple[str, ...]
    tags: Mapping[str, str]
    source: str | None
    parent: str | None
    messages: list[IRCMessage] = field(default_factory=list)
    # Lines of chathistory and multiline batches are not live events: they are read at the end.
    swallows: bool = False


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
        self._batches: dict[str, _Batch] = {}
        self._history_requests: dict[str, deque[bool]] = {}
        self._fences: dict[str, list[IRCMessage]] = {}
        self._label_counter = 0
        self._batch_counter = 0
        self._self_user: str | None = None
        self._self_host: str | None = None

    # -- state -------------------------------------------------------------------------
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

    # -- connection ----------------------------------------------------------------------
    def connection_made(self) -> bytes:
        """Start a new connection: reset per-connection state; return CAP LS 302, PASS, NICK, USER."""
        self._reset_connection()
        self._out.clear()
        self.connections += 1
        self.nick = self._wanted_nick
        self._cap_negotiating = True
        lines = [IRCMessage.build("CAP", "LS", "302")]
        if self.config.password:
            lines.append(IRCMessage.build("PASS", self.config.password))
        lines.append(IRCMessage.build("NICK", self.nick))
        lines.append(IRCMessage.build("USER", self.config.user, "0", "*", self.config.real))
        return b"".join(format_message(m) for m in lines)

    def connection_lost(self) -> None:
        """Forget per-connection state (members, caps, batches); keep wanted channels and msgids."""
        self._reset_connection()
        self._out.clear()

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed bytes from the server; return the events they caused (plus any queued ones)."""
        try:
            lines = self._framer.receive_data(data)
        except ProtocolError as exc:
            self._emit(Error(f"server sent an over-long line: {exc.message}"))
            lines = []
        for line in lines:
            try:
                msg = parse(line)
            except ProtocolError as exc:
                log.debug("unparsable line %r: %s", line[:200], exc.message)
                continue
            self.receive_message(msg)
        return self.take_events()

    def receive_message(self, msg: IRCMessage) -> None:
        """Handle one parsed message from the server; its events are queued for :meth:`take_events`."""
        for fence in self._fences.values():
            if msg.command not in ("PING", "PONG"):
                fence.append(msg)
        ref = msg.tags.get("batch")
        batch = self._batches.get(ref) if ref else None
        if batch is not None:
            self._collect(ref or "", msg)
            if self._swallowed(ref or "") and msg.command != "BATCH":
                return
        handler = _HANDLERS.get(msg.command)
        if handler is not None:
            handler(self, msg)
        elif msg.command.isdigit():
            self._on_numeric(msg)
        label = msg.tags.get("label")
        if label and batch is None and msg.command != "BATCH":
            self._emit(LabeledResponse(label, (msg,)))

    def take_events(self) -> list[Event]:
        """Events queued so far, including those of calls other than :meth:`receive_data`."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        """Bytes the machine wants sent on its own account (PONG, CAP, SASL, rejoins)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _send(self, command: str, *params: str, tags: Mapping[str, str] | None = None) -> None:
        self._out += format_message(IRCMessage.build(command, *params, tags=tags))

    # -- batches ------------------------------------------------------------------------------
    def _collect(self, ref: str, msg: IRCMessage) -> None:
        seen: set[str] = set()
        current: str | None = ref
        while current is not None and current in self._batches and current not in seen:
            seen.add(current)
            batch = self._batches[current]
            batch.messages.append(msg)
            current = batch.parent

    def _swallowed(self, ref: str) -> bool:
        batch = self._batches.get(ref)
        return batch is not None and batch.swallows

    def _on_batch(self, msg: IRCMessage) -> None:
        ref = msg.param(0)
        if ref.startswith("+") and len(ref) > 1:
            parent = msg.tags.get("batch")
            kind = msg.param(1)
            swallows = kind in ("chathistory", "draft/multiline") or (
                parent is not None and self._swallowed(parent)
            )
            self._batches[ref[1:]] = _Batch(
                ref[1:], kind, msg.params[2:], msg.tags, msg.source, parent, swallows=swallows
            )
        elif ref.startswith("-"):
            batch = self._batches.pop(ref[1:], None)
            if batch is not None:
                self._end_batch(batch)

    def _end_batch(self, batch: _Batch) -> None:
        if batch.kind == "chathistory":
            self._end_history(batch)
        elif batch.kind == "draft/multiline":
            self._end_multiline(batch)
        elif batch.kind == "labeled-response":
            label = batch.tags.get("label")
            if label:
                self._emit(LabeledResponse(label, tuple(batch.messages)))

    def _end_history(self, batch: _Batch) -> None:
        target = batch.params[0] if batch.params else ""
        requests = self._history_requests.get(self.casefold(target))
        before = requests.popleft() if requests else True
        messages: list[Message] = []
        for item in batch.messages:
            # Only direct children: nested batches (multiline) are added once, already combined.
            if item.tags.get("batch") != batch.ref:
                continue
            if item.command in ("PRIVMSG", "NOTICE"):
                event = self._chat_event(item, from_history=True)
                if event is not None:
                    messages.append(event)
        messages.sort(key=lambda m: m.time)
        self._emit(HistoryBatch(target, tuple(messages), before))

    def _end_multiline(self, batch: _Batch) -> None:
        target = batch.params[0] if batch.params else ""
        parts: list[str] = []
        command = "PRIVMSG"
        source = batch.source
        for item in batch.messages:
            if item.command not in ("PRIVMSG", "NOTICE"):
                continue
            command = item.command
            source = item.source or source
            text = item.param(1)
            if parts and "draft/multiline-concat" not in item.tags:
                parts.append("\n")
            parts.append(text)
        tags = {k: v for k, v in batch.tags.items() if k != "batch"}
        combined = IRCMessage(command, (target, "".join(parts)), source, tags)
        parent = batch.tags.get("batch")
        if parent and parent in self._batches:
            self._collect(parent, combined.with_tags({**tags, "batch": parent}))
        else:
            self._on_chat(combined)

    # -- registration, capabilities, SASL -----------------------------------------------------
    def _on_cap(self, msg: IRCMessage) -> None:
        sub = msg.param(1).upper()
        more = len(msg.params) > 3 and msg.param(2) == "*"
        items = (msg.param(3) if more else msg.param(2)).split()
        if sub == "LS":
            for item in items:
                name, _, value = item.partition("=")
                self.caps_available[name] = value
            if not more and not self._cap_ls_done:
                self._cap_ls_done = True
                self._request_caps(list(self.caps_available))
        elif sub == "NEW":
            new: list[str] = []
            for item in items:
                name, _, value = item.partition("=")
                self.caps_available[name] = value
                new.append(name)
            self._request_caps(new)
        elif sub == "DEL":
            for name in items:
                self.caps_available.pop(name, None)
                self.caps_enabled.discard(name)
            self._emit(CapabilitiesChanged(frozenset(self.caps_enabled)))
        elif sub == "ACK":
            for item in items:
                name = item.lstrip("-~=")
                self._cap_pending.discard(name)
                if item.startswith("-"):
                    self.caps_enabled.discard(name)
                else:
                    self.caps_enabled.add(name)
            self._emit(CapabilitiesChanged(frozenset(self.caps_enabled)))
            if "sasl" in self.caps_enabled and not self.registered and self._wants_sasl():
                self._sasl_active = True
                self._send("AUTHENTICATE", "PLAIN")
            self._maybe_end_caps()
        elif sub == "NAK":
            for item in items:
                self._cap_pending.discard(item)
            self._maybe_end_caps()

    def _wants_sasl(self) -> bool:
        if not (self.config.sasl_username and self.config.sasl_password):
            return False
        mechanisms = self.caps_available.get("sasl", "")
        return not mechanisms or "PLAIN" in mechanisms.upper().split(",")

    def _request_caps(self, offered: list[str]) -> None:
        wanted = [
            name
            for name in offered
            if name in self.config.caps
            and name not in self.caps_enabled
            and (name != "sasl" or (self._wants_sasl() and not self.registered))
        ]
        if not wanted:
            self._maybe_end_caps()
            return
        self._cap_pending.update(wanted)
        # Keep each CAP REQ well inside 512 bytes; the server ACKs or NAKs each line whole.
        line: list[str] = []
        for name in wanted:
            if line and sum(len(n) + 1 for n in line) + len(name) > 400:
                self._send("CAP", "REQ", " ".join(line))
                line = []
            line.append(name)
        self._send("CAP", "REQ", " ".join(line))

    def _maybe_end_caps(self) -> None:
        if self._cap_negotiating and not self._cap_pending and not self._sasl_active and not self.registered:
            self._cap_negotiating = False
            self._send("CAP", "END")

    def _on_authenticate(self, msg: IRCMessage) -> None:
        if not self._sasl_active or msg.param(0) != "+":
            return
        user = self.config.sasl_username or ""
        secret = self.config.sasl_password or ""
        payload = base64.b64encode(f"{user}\0{user}\0{secret}".encode()).decode("ascii")
        # IRCv3 SASL: 400-byte chunks; a final chunk of exactly 400 is followed by "+".
        chunks = [payload[i : i + 400] for i in range(0, len(payload), 400)] or ["+"]
        for chunk in chunks:
            self._send("AUTHENTICATE", chunk)
        if len(chunks[-1]) == 400:
            self._send("AUTHENTICATE", "+")

    def _sasl_done(self) -> None:
        self._sasl_active = False
        self._maybe_end_caps()

    def _on_welcome(self, msg: IRCMessage) -> None:
        self.registered = True
        self._cap_negotiating = False
        self.nick = msg.param(0) or self.nick
        self._wanted_nick = self.nick
        last_word = msg.params[-1].rsplit(" ", 1)[-1] if msg.params else ""
        if "!" in last_word and "@" in last_word:
            self._self_user, _, self._self_host = last_word.split("!", 1)[1].partition("@")
        self._user(self.nick)
        self._server_reply(msg)

    def _on_end_of_motd(self, msg: IRCMessage) -> None:
        self._server_reply(msg)
        if self._registered_sent:
            return
        self._registered_sent = True
        self._emit(Registered(self.nick, self.isupport))
        for name, key in list(self._wanted.values()):
            self._send("JOIN", name, *([key] if key else []))
        if self.connections > 1 and "draft/chathistory" in self.caps_enabled:
            # Private buffers need no JOIN: fill their gaps now; channels do it on our JOIN.
            for key in self._log.keys():  # noqa: SIM118 (a MessageLog method, not a dict)
                if key != _SERVER_BUFFER and not self.is_channel(key):
                    self._fill_gap(key)

    def _on_nick_error(self, msg: IRCMessage) -> None:
        if self.registered:
            self._server_reply(msg)
            return
        taken = msg.param(1) or self.nick
        fallback: str | None = None
        if self.config.auto_fallback_nick and msg.command in ("433", "436"):
            fallback = (
                (taken + "_")[-self.isupport.nicklen :]
                if len(taken) >= self.isupport.nicklen
                else taken + "_"
            )
            self.nick = fallback
            self._send("NICK", fallback)
        self._emit(NickInUse(taken, fallback))

    # -- the rest of the commands -----------------------------------------------------------------
    def _on_ping(self, msg: IRCMessage) -> None:
        self._send("PONG", *msg.params)

    def _on_pong(self, msg: IRCMessage) -> None:
        token = msg.params[-1] if msg.params else ""
        lines = self._fences.pop(token, None)
        if lines is not None:
            self._emit(LabeledResponse(token, tuple(lines)))

    def _on_error(self, msg: IRCMessage) -> None:
        self._emit(Error(msg.param(0) or "server closed the connection"))

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

    def _on_join(self, msg: IRCMessage) -> None:
        nick = nick_of(msg.source)
        name = msg.param(0)
        user = self._note_source(msg.source) or self._user(nick)
        account: str | None = None
        realname: str | None = None
        if len(msg.params) >= 3:  # extended-join
            account = None if msg.param(1) == "*" else msg.param(1)
            realname = msg.param(2)
            user.account, user.realname = account, realname
        key = self.casefold(name)
        if self.is_me(nick):
            channel = self.channels[key] = Channel(name)
            channel.members[self.casefold(nick)] = Member(nick)
            if key not in self._wanted:
                self._wanted[key] = (name, None)
            self._emit(Joined(name, nick, True, account, realname))
            self._emit(MembersChanged(name))
            if "draft/chathistory" in self.caps_enabled:
                self._fill_gap(key)
            if "away-notify" in self.caps_enabled:
                # IRCv3 away-notify: a client learns who is away already with a WHO after joining;
                # from then on AWAY messages keep it current.
                if self.isupport.get("WHOX") is not None:
                    self._send("WHO", name, f"%tnf,{_AWAY_WHO_TOKEN}")
                else:
                    self._send("WHO", name)
                self._away_who.add(key)
            return
        channel_or_none = self.channels.get(key)
        if channel_or_none is None:
            return
        channel_or_none.members[self.casefold(nick)] = Member(nick)
        self._emit(Joined(channel_or_none.name, nick, False, account, realname))
        self._emit(MembersChanged(channel_or_none.name))

    def _leave(self, channel_name: str, nick: str) -> Channel | None:
        key = self.casefold(channel_name)
        channel = self.channels.get(key)
        if channel is None:
            return None
        if self.is_me(nick):
            del self.channels[key]
            self._wanted.pop(key, None)
        else:
            channel.members.pop(self.casefold(nick), None)
            self._forget_if_unseen(nick)
        return channel

    def _forget_if_unseen(self, nick: str) -> None:
        key = self.casefold(nick)
        if key != self.casefold(self.nick) and all(key not in c.members for c in self.channels.values()):
            self.users.pop(key, None)

    def _on_part(self, msg: IRCMessage) -> None:
        nick = nick_of(msg.source)
        for name in msg.param(0).split(","):
            channel = self._leave(name, nick)
            if channel is not None:
                self._emit(Parted(channel.name, nick, msg.param(1), self.is_me(nick)))
                self._emit(MembersChanged(channel.name))

    def _on_kick(self, msg: IRCMessage) -> None:
        by = nick_of(msg.source)
        nick = msg.param(1)
        channel = self._leave(msg.param(0), nick)
        if channel is not None:
            self._emit(Kicked(channel.name, nick, by, msg.param(2), self.is_me(nick)))
            self._emit(MembersChanged(channel.name))

    def _on_quit(self, msg: IRCMessage) -> None:
        nick = nick_of(msg.source)
        key = self.casefold(nick)
        shared: list[str] = []
        for channel in self.channels.values():
            if channel.members.pop(key, None) is not None:
                shared.append(channel.name)
        self.users.pop(key, None)
        self._emit(Quit(nick, msg.param(0), tuple(shared)))
        for name in shared:
            self._emit(MembersChanged(name))

    def _on_nick(self, msg: IRCMessage) -> None:
        old = nick_of(msg.source)
        new = msg.param(0)
        old_key, new_key = self.casefold(old), self.casefold(new)
        is_self = self.is_me(old)
        user = self.users.pop(old_key, None) or User(new)
        user.nick = new
        self.users[new_key] = user
        shared: list[str] = []
        for channel in self.channels.values():
            member = channel.members.pop(old_key, None)
            if member is not None:
                member.nick = new
                channel.members[new_key] = member
                shared.append(channel.name)
        if is_self:
            self.nick = new
            self._wanted_nick = new
            shared = [c.name for c in self.channels.values()]
        else:
            self._log.rename(old_key, new_key)
        self._emit(NickChanged(old, new, is_self, tuple(shared)))
        for name in shared:
            self._emit(MembersChanged(name))

    def _on_mode(self, msg: IRCMessage) -> None:
        target = msg.param(0)
        setter = nick_of(msg.source)
        modes = msg.param(1)
        args = msg.params[2:]
        channel = self.channel(target) if self.is_channel(target) else None
        if channel is not None and self._apply_channel_modes(channel, modes, args):
            self._emit(MembersChanged(channel.name))
        self._emit(ModeChanged(channel.name if channel else target, setter, modes, tuple(args)))

    def _apply_channel_modes(self, channel: Channel, modes: str, args: tuple[str, ...]) -> bool:
        prefix_modes, prefix_symbols = self.isupport.prefix
        list_modes, always_arg, set_arg, _flags = self.isupport.chanmodes
        adding = True
        members_changed = False
        queue = list(args)
        flags = set(channel.modes)
        for ch in modes:
            if ch in "+-":
                adding = ch == "+"
                continue
            takes_arg = (
                ch in prefix_modes or ch in list_modes or ch in always_arg or (ch in set_arg and adding)
            )
            arg = queue.pop(0) if takes_arg and queue else None
            if ch in prefix_modes and arg is not None:
                member = channel.members.get(self.casefold(arg))
                if member is not None:
                    symbol = prefix_symbols[prefix_modes.index(ch)]
                    held = set(member.prefixes)
                    if adding:
                        held.add(symbol)
                    else:
                        held.discard(symbol)
                    member.prefixes = "".join(s for s in prefix_symbols if s in held)
                    members_changed = True
            elif ch not in list_modes:
                if adding:
                    flags.add(ch)
                else:
                    flags.discard(ch)
        channel.modes = "".join(sorted(flags))
        return members_changed

    def _on_topic(self, msg: IRCMessage) -> None:
        channel = self.channel(msg.param(0))
        if channel is None:
            return
        channel.topic = msg.param(1)
        channel.topic_set_by = nick_of(msg.source)
        channel.topic_set_at = self._time_of(msg)
        self._emit(TopicChanged(channel.name, channel.topic, channel.topic_set_by, channel.topic_set_at))

    def _on_topic_reply(self, msg: IRCMessage) -> None:
        channel = self.channel(msg.param(1))
        if channel is None:
            self._server_reply(msg)
            return
        if msg.command == "331":
            channel.topic = ""
        elif msg.command == "332":
            channel.topic = msg.param(2)
        else:  # 333 RPL_TOPICWHOTIME
            channel.topic_set_by = nick_of(msg.param(2))
            try:
                channel.topic_set_at = datetime.fromtimestamp(int(msg.param(3)), UTC)
            except (ValueError, OverflowError, OSError):
                channel.topic_set_at = None
        self._emit(TopicChanged(channel.name, channel.topic, channel.topic_set_by, channel.topic_set_at))

    def _on_channel_modes(self, msg: IRCMessage) -> None:
        channel = self.channel(msg.param(1))
        if channel is not None:
            channel.modes = msg.param(2).lstrip("+")
            self._emit(ModeChanged(channel.name, "", msg.param(2), msg.params[3:]))

    def _on_names(self, msg: IRCMessage) -> None:
        name = msg.param(2)
        key = self.casefold(name)
        if key not in self.channels:
            self._server_reply(msg)
            return
        _, symbols = self.isupport.prefix
        pending = self._names.setdefault(key, {})
        for entry in msg.param(3).split():
            i = 0
            while i < len(entry) and entry[i] in symbols:
                i += 1
            prefixes, mask = entry[:i], entry[i:]
            if not mask:
                continue
            nick = nick_of(mask)
            if "!" in mask:
                self._note_source(mask)
            else:
                self._user(nick)
            ordered = "".join(s for s in symbols if s in prefixes)
            pending[self.casefold(nick)] = Member(nick, ordered)

    def _on_end_of_names(self, msg: IRCMessage) -> None:
        key = self.casefold(msg.param(1))
        members = self._names.pop(key, None)
        channel = self.channels.get(key)
        if channel is None:
            return
        if members is not None:
            channel.members = members
        self._emit(MembersChanged(channel.name))

    def _on_who_reply(self, msg: IRCMessage) -> None:
        # 352 <me> <channel> <user> <host> <server> <nick> <flags> :<hops> <real name>
        # 354 <me> <token> <nick> <flags> (the fields asked for after a join)
        if msg.command == "354":
            if msg.param(1) != _AWAY_WHO_TOKEN:
                self._server_reply(msg)
                return
            nick, flags = msg.param(2), msg.param(3)
        else:
            if self.casefold(msg.param(1)) not in self._away_who:
                self._server_reply(msg)
                return
            nick, flags = msg.param(5), msg.param(6)
        away = flags.startswith("G")
        user = self.users.get(self.casefold(nick))
        if user is not None and user.away != away:
            user.away = away
            self._emit(AwayChanged(nick, away, user.away_message, self.is_me(nick)))

    def _on_end_of_who(self, msg: IRCMessage) -> None:
        key = self.casefold(msg.param(1))
        if key in self._away_who:
            self._away_who.discard(key)
        else:
            self._server_reply(msg)

    def _on_away(self, msg: IRCMessage) -> None:
        nick = nick_of(msg.source)
        user = self._user(nick)
        user.away = bool(msg.params)
        user.away_message = msg.param(0)
        self._emit(AwayChanged(nick, user.away, user.away_message, self.is_me(nick)))

    def _on_away_reply(self, msg: IRCMessage) -> None:
        self._server_reply(msg)
        if msg.command == "301":
            nick = msg.param(1)
            user = self.users.get(self.casefold(nick))
            if user is not None and (not user.away or user.away_message != msg.param(2)):
                user.away, user.away_message = True, msg.param(2)
                self._emit(AwayChanged(nick, True, user.away_message))
            return
        me = self._user(self.nick)
        me.away = msg.command == "306"
        if not me.away:
            me.away_message = ""
        self._emit(AwayChanged(self.nick, me.away, me.away_message, True))

    def _on_account(self, msg: IRCMessage) -> None:
        user = self._user(nick_of(msg.source))
        user.account = None if msg.param(0) == "*" else msg.param(0)

    def _on_chghost(self, msg: IRCMessage) -> None:
        user = self._user(nick_of(msg.source))
        user.user, user.host = msg.param(0), msg.param(1)
        if self.is_me(user.nick):
            self._self_user, self._self_host = user.user, user.host

    def _on_setname(self, msg: IRCMessage) -> None:
        self._user(nick_of(msg.source)).realname = msg.param(0)

    def _on_invite(self, msg: IRCMessage) -> None:
        nick = msg.param(0)
        self._emit(Invited(msg.param(1), nick, nick_of(msg.source), self.is_me(nick)))

    def _on_standard_reply(self, msg: IRCMessage) -> None:
        # IRCv3 standard-replies: <type> <command> <code> [<context>...] <description>
        text = (
            f"{msg.param(0)} {msg.param(1)}: {msg.params[-1]}"
            if len(msg.params) >= 3
            else " ".join(msg.params)
        )
        target = None
        # FAIL CHATHISTORY <code> <subcommand> <target> <description>: a target only when there
        # are two context words before the description
        if msg.param(0) == "CHATHISTORY" and len(msg.params) >= 5:
            target = msg.param(3) if msg.param(3) != "*" else None
            requests = self._history_requests.get(self.casefold(target or ""))
            if requests:
                requests.popleft()
        self._emit(ServerReply(msg.command, text, msg.params, target))

    def _on_sasl_numeric(self, msg: IRCMessage) -> None:
        if msg.command == "900":
            self.account = msg.param(2) or None
        elif msg.command == "903":
            self._sasl_done()
        elif msg.command in _SASL_FAILURES:
            self._server_reply(msg)
            if msg.command != "907":
                self._emit(Error(f"SASL login failed: {msg.params[-1] if msg.params else ''}"))
            self._sasl_done()

    def _on_isupport(self, msg: IRCMessage) -> None:
        self.isupport = self.isupport.updated(msg.params[1:-1])

    def _on_numeric(self, msg: IRCMessage) -> None:
        if msg.command not in _QUIET_NUMERICS:
            self._server_reply(msg)

    def _server_reply(self, msg: IRCMessage) -> None:
        params = msg.params[1:] if msg.params else ()
        target: str | None = None
        if len(params) >= 2 and (self.is_channel(params[0]) or msg.command in _NICK_TARGET_NUMERICS):
            target = params[0]
        text = " ".join(params)
        self._emit(ServerReply(msg.command, text, tuple(params), target))

    # -- chat messages ---------------------------------------------------------------------
    def _time_of(self, msg: IRCMessage) -> datetime:
        stamp = msg.tags.get("time")
        if stamp:
            try:
                value = datetime.fromisoformat(stamp)
            except ValueError:
                return self._clock()
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return self._clock()

    def _buffer_of(self, msg: IRCMessage, sender: str) -> str:
        target = msg.param(0)
        bare = target.lstrip(self.isupport.statusmsg) if self.isupport.statusmsg else target
        if self.is_channel(bare):
            return bare
        if not msg.source or ("!" not in msg.source and not self.is_me(sender)):
            return _SERVER_BUFFER
        return target if self.is_me(sender) else sender

    def _chat_event(self, msg: IRCMessage, *, from_history: bool) -> Message | None:
        sender = nick_of(msg.source) or _SERVER_BUFFER
        text = msg.param(1)
        kind: MessageKind = "notice" if msg.command == "NOTICE" else "privmsg"
        if is_action(text):
            kind, text = "action", parse_action(text)
        elif is_ctcp(text):
            return None
        buffer = self._buffer_of(msg, sender)
        time = self._time_of(msg)
        msgid = msg.tags.get("msgid")
        if msgid and not self._log.first_sight(self.casefold(buffer), msgid, time):
            return None
        is_self = self.is_me(sender)
        return Message(
            target=buffer,
            sender=sender,
            text=text,
            time=time,
            msgid=msgid,
            kind=kind,
            is_self=is_self,
            is_mention=not is_self and self._mentions_me(text),
            tags=msg.tags,
            from_history=from_history,
        )

    def _mentions_me(self, text: str) -> bool:
        pattern = r"(?<![\w\[\]\\`^{|}-])" + re.escape(self.nick) + r"(?![\w\[\]\\`^{|}-])"
        return re.search(pattern, text, re.IGNORECASE) is not None

    def _on_chat(self, msg: IRCMessage) -> None:
        text = msg.param(1)
        self._note_source(msg.source)
        if msg.command == "PRIVMSG" and is_ctcp(text) and not is_action(text):
            self._answer_ctcp(nick_of(msg.source), text)
            return
        event = self._chat_event(msg, from_history=False)
        if event is not None:
            self._emit(event)

    def _answer_ctcp(self, nick: str, text: str) -> None:
        body = text.strip("\x01")
        command, _, arg = body.partition(" ")
        command = command.upper()
        if not nick or self.is_me(nick):
            return
        if command == "VERSION":
            self._send("NOTICE", nick, "\x01VERSION hubbub\x01")
        elif command == "PING":
            self._send("NOTICE", nick, f"\x01PING {arg}\x01"[:400])

    # -- commands -----------------------------------------------------------------------------
    def _own_prefix(self) -> str:
        user = self._self_user or ("~" + self.config.user[: self.isupport.userlen])
        # Without a known host, assume the longest the server could show (a 63-byte host name).
        host = self._self_host or "x" * 63
        return f"{self.nick}!{user}@{host}"

    def send_message(self, target: str, text: str, *, kind: MessageKind = "privmsg") -> bytes:
        """PRIVMSG (or NOTICE, or ACTION) ``text`` to ``target``, split to fit 512-byte lines.

        Each line of a multi-line text is its own message unless the server offers
        draft/multiline, in which case the whole text goes as one batch. Without echo-message
        our own :class:`Message` events are queued at once (read them with :meth:`take_events`).
        """
        multiline = (
            self.caps_available.get("draft/multiline") if "draft/multiline" in self.caps_enabled else None
        )
        self._batch_counter += 1
        lines, local_texts = build_chat_lines(
            target,
            text,
            kind=kind,
            prefix=self._own_prefix(),
            linelen=self.isupport.linelen,
            multiline=multiline,
            batch_ref=f"ml{self.connections}x{self._batch_counter}",
        )
        if "echo-message" not in self.caps_enabled:
            now = self._clock()
            for local in local_texts:
                self._emit(Message(target, self.nick, local, now, None, kind, True, False))
        return b"".join(format_message(m) for m in lines)

    def join(self, channel: str, key: str | None = None) -> bytes:
        """JOIN ``channel``; it is rejoined after a reconnect until :meth:`part`."""
        self._wanted[self.casefold(channel)] = (channel, key)
        return format_message(IRCMessage.build("JOIN", channel, *([key] if key else [])))

    def part(self, channel: str, reason: str = "") -> bytes:
        """PART ``channel`` and stop rejoining it."""
        self._wanted.pop(self.casefold(channel), None)
        return format_message(IRCMessage.build("PART", channel, *([reason] if reason else [])))

    def set_nick(self, nick: str) -> bytes:
        """NICK ``nick``; before registration it also becomes the nick we register with."""
        if not self.registered:
            self.nick = nick
            self._wanted_nick = nick
        return format_message(IRCMessage.build("NICK", nick))

    def set_topic(self, channel: str, topic: str) -> bytes:
        """TOPIC ``channel`` ``topic``."""
        return format_message(IRCMessage.build("TOPIC", channel, topic))

    def set_away(self, message: str | None) -> bytes:
        """AWAY with ``message``, or back when ``message`` is ``None`` or empty."""
        return format_message(IRCMessage.build("AWAY", *([message] if message else [])))

    def whois(self, nick: str) -> bytes:
        """WHOIS ``nick`` (replies come as :class:`ServerReply` events)."""
        return format_message(IRCMessage.build("WHOIS", nick))

    def raw(self, line: str) -> bytes:
        """One raw line, checked to parse and to fit 512 bytes; raises :class:`ClientError` if not."""
        try:
            msg = parse(line)
            data = format_message(msg)
        except ProtocolError as exc:
            raise ClientError(f"cannot send {line[:40]!r}: {exc.message}") from None
        body = format_message(msg, tags=False)
        if len(body) > self.isupport.linelen:
            raise ClientError(f"line is {len(body)} bytes, more than {self.isupport.linelen}")
        return data

    def request(self, *params: str) -> tuple[str, bytes]:
        """A command whose replies are collected into one :class:`LabeledResponse`.

        Returns the label and the bytes. With labeled-response the command carries the label;
        otherwise a ``PING`` with the label follows it and every reply line up to the
        matching ``PONG`` is collected (servers answer commands in order).
        """
        if not params:
            raise ClientError("request needs a command")
        self._label_counter += 1
        label = f"hb{self.connections}.{self._label_counter}"
        command = params[0].upper()
        if "labeled-response" in self.caps_enabled and "batch" in self.caps_enabled:
            msg = IRCMessage.build(command, *params[1:], tags={"label": label})
            return label, format_message(msg)
        self._fences[label] = []
        data = format_message(IRCMessage.build(command, *params[1:]))
        return label, data + format_message(IRCMessage.build("PING", label))

    def _history_limit(self, limit: int | None) -> int:
        wanted = limit or self.config.history_limit
        server = self.isupport.chathistory
        return min(wanted, server) if server else wanted

    def _history(self, subcommand: str, target: str, before: bool, *params: str) -> bytes:
        if "draft/chathistory" not in self.caps_enabled or "batch" not in self.caps_enabled:
            raise ClientError("the server does not offer draft/chathistory")
        self._history_requests.setdefault(self.casefold(target), deque()).append(before)
        return format_message(IRCMessage.build("CHATHISTORY", subcommand, target, *params))

    def history_before(self, target: str, before: str | datetime, limit: int | None = None) -> bytes:
        """CHATHISTORY BEFORE ``target``: ``before`` is a msgid or a time."""
        if isinstance(before, datetime):
            stamp = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            point = f"timestamp={stamp}"
        else:
            point = f"msgid={before}"
        return self._history("BEFORE", target, True, point, str(self._history_limit(limit)))

    def history_latest(self, target: str, limit: int | None = None) -> bytes:
        """CHATHISTORY LATEST ``target`` * (the newest messages)."""
        return self._history("LATEST", target, True, "*", str(self._history_limit(limit)))

    def _fill_gap(self, key: str) -> None:
        msgid = self._log.last_msgid(key)
        if msgid is None:
            return
        channel = self.channels.get(key)
        target = channel.name if channel else (self.users[key].nick if key in self.users else key)
        self._out += self._history("AFTER", target, False, f"msgid={msgid}", str(self._history_limit(None)))

    def quit(self, reason: str = "") -> bytes:
        """QUIT with ``reason``."""
        return format_message(IRCMessage.build("QUIT", *([reason] if reason else [])))


_HANDLERS: dict[str, Callable[[ClientProtocol, IRCMessage], None]] = {
    "CAP": ClientProtocol._on_cap,
    "AUTHENTICATE": ClientProtocol._on_authenticate,
    "BATCH": ClientProtocol._on_batch,
    "PING": ClientProtocol._on_ping,
    "PONG": ClientProtocol._on_pong,
    "ERROR": ClientProtocol._on_error,
    "JOIN": ClientProtocol._on_join,
    "PART": ClientProtocol._on_part,
    "KICK": ClientProtocol._on_kick,
    "QUIT": ClientProtocol._on_quit,
    "NICK": ClientProtocol._on_nick,
    "MODE": ClientProtocol._on_mode,
    "TOPIC": ClientProtocol._on_topic,
    "AWAY": ClientProtocol._on_away,
    "ACCOUNT": ClientProtocol._on_account,
    "CHGHOST": ClientProtocol._on_chghost,
    "SETNAME": ClientProtocol._on_setname,
    "INVITE": ClientProtocol._on_invite,
    "PRIVMSG": ClientProtocol._on_chat,
    "NOTICE": ClientProtocol._on_chat,
    "FAIL": ClientProtocol._on_standard_reply,
    "WARN": ClientProtocol._on_standard_reply,
    "NOTE": ClientProtocol._on_standard_reply,
    "001": ClientProtocol._on_welcome,
    "005": ClientProtocol._on_isupport,
    "376": ClientProtocol._on_end_of_motd,
    "422": ClientProtocol._on_end_of_motd,
    "301": ClientProtocol._on_away_reply,
    "305": ClientProtocol._on_away_reply,
    "306": ClientProtocol._on_away_reply,
    "324": ClientProtocol._on_channel_modes,
    "331": ClientProtocol._on_topic_reply,
    "332": ClientProtocol._on_topic_reply,
    "333": ClientProtocol._on_topic_reply,
    "353": ClientProtocol._on_names,
    "366": ClientProtocol._on_end_of_names,
    "352": ClientProtocol._on_who_reply,
    "354": ClientProtocol._on_who_reply,
    "315": ClientProtocol._on_end_of_who,
    **dict.fromkeys(_NICK_ERRORS, ClientProtocol._on_nick_error),
    **dict.fromkeys(("900", "903", *_SASL_FAILURES), ClientProtocol._on_sasl_numeric),
}
