"""Presence of users: AWAY and away replies, the WHO after joining, ACCOUNT, CHGHOST, SETNAME,
and their metadata (draft/metadata-2)."""

from __future__ import annotations

from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import format_message

from ._events import AwayChanged, MetadataChanged
from ._session import _Session, nick_of

# The token of the WHO a client sends after joining, to learn who is away already.
_AWAY_WHO_TOKEN = "877"


class _Presence(_Session):
    """Keeps each known user's away state, account, user@host and real name current."""

    # -- metadata (draft/metadata-2) -------------------------------------------------------------
    def _on_metadata(self, msg: IRCMessage) -> None:
        # METADATA <target> <key> <visibility> [:<value>] (no value: the key was removed), or
        # RPL_KEYVALUE 761 <me> <target> <key> <visibility> :<value> answering a GET.
        params = msg.params[1:] if msg.command == "761" else msg.params
        if len(params) < 3:
            return
        target, key = params[0], params[1]
        value = params[3] if len(params) >= 4 else None
        if self.is_channel(target):
            channel = self.channel(target)
            if channel is None:
                return
            store = channel.metadata
            target = channel.name
        elif target == "*":
            return
        else:
            store = self._user(target).metadata
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value
        self._emit(MetadataChanged(target, key, value, self.is_me(target)))

    def _ask_who_is_away(self, channel: str) -> None:
        # IRCv3 away-notify: a client learns who is away already with a WHO after joining;
        # from then on AWAY messages keep it current.
        if self.isupport.get("WHOX") is not None:
            self._send("WHO", channel, f"%tnf,{_AWAY_WHO_TOKEN}")
        else:
            self._send("WHO", channel)
        self._away_who.add(self.casefold(channel))

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

    def set_away(self, message: str | None) -> bytes:
        """AWAY with ``message``, or back when ``message`` is ``None`` or empty."""
        return format_message(IRCMessage.build("AWAY", *([message] if message else [])))

    def whois(self, nick: str) -> bytes:
        """WHOIS ``nick`` (replies come as :class:`ServerReply` events)."""
        return format_message(IRCMessage.build("WHOIS", nick))
