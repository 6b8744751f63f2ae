"""Channel membership: JOIN, PART, KICK, QUIT, NICK, NAMES, MODE, TOPIC, INVITE and RENAME."""

from __future__ import annotations

from datetime import UTC, datetime

from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import format_message

from ._events import (
    ChannelRenamed,
    Invited,
    Joined,
    Kicked,
    MembersChanged,
    ModeChanged,
    NickChanged,
    Parted,
    Quit,
    TopicChanged,
)
from ._history import _History
from ._presence import _Presence
from ._session import nick_of
from ._state import Channel, Member, User


class _Membership(_Presence, _History):
    """Keeps the channels we are in, their members, modes and topics."""

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
                self._ask_who_is_away(name)
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

    def _on_invite(self, msg: IRCMessage) -> None:
        nick = msg.param(0)
        self._emit(Invited(msg.param(1), nick, nick_of(msg.source), self.is_me(nick)))

    def _on_rename(self, msg: IRCMessage) -> None:
        # IRCv3 draft/channel-rename: "RENAME <old> <new> :<reason>"; a client "SHOULD update any
        # internal state that refers to the old channel name to the new name".
        old_name, new_name = msg.param(0), msg.param(1)
        old_key, new_key = self.casefold(old_name), self.casefold(new_name)
        channel = self.channels.get(old_key)
        if channel is None or not new_name or (new_key in self.channels and new_key != old_key):
            return
        del self.channels[old_key]
        channel.name = new_name
        self.channels[new_key] = channel
        if old_key != new_key:
            wanted = self._wanted.pop(old_key, None)
            if wanted is not None:
                self._wanted[new_key] = (new_name, wanted[1])
            self._log.rename(old_key, new_key)
            if old_key in self._names:
                self._names[new_key] = self._names.pop(old_key)
            for request in self._history_requests:
                if request.key == old_key:
                    request.key, request.target = new_key, new_name
        elif old_key in self._wanted:
            self._wanted[old_key] = (new_name, self._wanted[old_key][1])
        self._emit(ChannelRenamed(old_name, new_name, msg.param(2), nick_of(msg.source)))

    # -- commands -----------------------------------------------------------------------------
    def rename(self, channel: str, new_name: str, reason: str = "") -> bytes:
        """RENAME ``channel`` to ``new_name`` (draft/channel-rename; channel operators only)."""
        return format_message(IRCMessage.build("RENAME", channel, new_name, *([reason] if reason else [])))

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
