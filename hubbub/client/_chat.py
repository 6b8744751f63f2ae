"""Chat messages: PRIVMSG, NOTICE and CTCP in, :class:`Message` events out, and sending text."""

from __future__ import annotations

import re
from datetime import timedelta

from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import format_message

from ._events import Message, MessageKind, MessageRedacted, Typing, TypingState
from ._outgoing import build_chat_units
from ._session import SERVER_BUFFER, _Session, nick_of
from ._text import is_action, is_ctcp, parse_action

TYPING_INTERVAL = timedelta(seconds=3)
"""The typing spec: clients "SHOULD NOT send the active state more than once every 3 seconds"."""
_TYPING_TAGS = ("+typing", "+draft/typing")
_TYPING_STATES = frozenset({"active", "paused", "done"})


class _Chat(_Session):
    """Turns chat lines into :class:`Message` events (deduplicated by msgid) and text into lines."""

    def _buffer_of(self, msg: IRCMessage, sender: str) -> str:
        target = msg.param(0)
        bare = target.lstrip(self.isupport.statusmsg) if self.isupport.statusmsg else target
        if self.is_channel(bare):
            return bare
        if not msg.source or ("!" not in msg.source and not self.is_me(sender)):
            return SERVER_BUFFER
        return target if self.is_me(sender) else sender

    def _chat_event(self, msg: IRCMessage, *, from_history: bool) -> Message | None:
        sender = nick_of(msg.source) or SERVER_BUFFER
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

    def _on_tagmsg(self, msg: IRCMessage) -> None:
        # IRCv3 typing: a TAGMSG carrying "+typing=<active|paused|done>" (or the draft name).
        state = next((msg.tags[t] for t in _TYPING_TAGS if t in msg.tags), None)
        sender = nick_of(msg.source)
        if state not in _TYPING_STATES or not sender or self.is_me(sender):
            return
        self._note_source(msg.source)
        self._emit(Typing(self._buffer_of(msg, sender), sender, state))  # type: ignore[arg-type]

    def typing(self, target: str, state: TypingState = "active") -> bytes:
        """A TAGMSG telling ``target`` we are typing (``active``), ``paused`` or ``done``.

        Nothing (``b""``) without message-tags, for ``active`` within :data:`TYPING_INTERVAL` of
        the last one to ``target`` (the spec's throttle), and for ``paused``/``done`` when no
        ``active`` went out since the last message: there is nothing to take back.
        """
        if "message-tags" not in self.caps_enabled or state not in _TYPING_STATES:
            return b""
        key = self.casefold(target)
        now = self._clock()
        if state == "active":
            last = self._typing_sent.get(key)
            if last is not None and now - last < TYPING_INTERVAL:
                return b""
            self._typing_sent[key] = now
        elif self._typing_sent.pop(key, None) is None:
            return b""
        return format_message(IRCMessage.build("TAGMSG", target, tags={"+typing": state}))

    def _on_redact(self, msg: IRCMessage) -> None:
        # IRCv3 draft/message-redaction: "REDACT <target> <msgid> [<reason>]"; the target is the
        # one the redacting user named, so a private one is our nick and the buffer is theirs.
        msgid = msg.param(1)
        if not msgid:
            return
        sender = nick_of(msg.source)
        self._emit(MessageRedacted(self._buffer_of(msg, sender), msgid, msg.param(2), sender))

    def redact(self, target: str, msgid: str, reason: str | None = None) -> bytes:
        """REDACT the message ``msgid`` of ``target`` (draft/message-redaction), with ``reason``."""
        return format_message(IRCMessage.build("REDACT", target, msgid, *([reason] if reason else [])))

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

    def _own_prefix(self) -> str:
        user = self._self_user or ("~" + self.config.user[: self.isupport.userlen])
        # Without a known host, assume the longest the server could show (a 63-byte host name).
        host = self._self_host or "x" * 63
        return f"{self.nick}!{user}@{host}"

    def message_units(
        self, target: str, text: str, *, kind: MessageKind = "privmsg"
    ) -> list[tuple[bytes, str, int]]:
        """The messages that carry ``text`` to ``target``, each as the server will relay it.

        For each: its bytes (one PRIVMSG, or a whole draft/multiline batch when the server
        offers it), the text it shows, and how many pieces of text it carries. Lines are split
        to fit 512 bytes once the server puts our ``nick!user@host`` in front.
        """
        # The message ends the typing: the next keystroke announces itself at once.
        self._typing_sent.pop(self.casefold(target), None)
        multiline = (
            self.caps_available.get("draft/multiline") if "draft/multiline" in self.caps_enabled else None
        )
        self._batch_counter += 1
        units = build_chat_units(
            target,
            text,
            kind=kind,
            prefix=self._own_prefix(),
            linelen=self.isupport.linelen,
            multiline=multiline,
            batch_ref=f"ml{self.connections}x{self._batch_counter}",
        )
        return [(b"".join(format_message(m) for m in lines), shown, n) for lines, shown, n in units]

    def own_message(self, target: str, text: str, kind: MessageKind = "privmsg") -> Message | None:
        """The :class:`Message` our own ``text`` makes once sent, or ``None`` when the server
        will echo it to us itself (echo-message)."""
        if "echo-message" in self.caps_enabled:
            return None
        return Message(target, self.nick, text, self._clock(), None, kind, True, False)

    def send_message(self, target: str, text: str, *, kind: MessageKind = "privmsg") -> bytes:
        """PRIVMSG (or NOTICE, or ACTION) ``text`` to ``target``, split to fit 512-byte lines.

        Each line of a multi-line text is its own message unless the server offers
        draft/multiline, in which case the whole text goes as one batch. Without echo-message
        our own :class:`Message` events are queued at once (read them with :meth:`take_events`).
        """
        units = self.message_units(target, text, kind=kind)
        for _, shown, _ in units:
            own = self.own_message(target, shown, kind)
            if own is not None:
                self._emit(own)
        return b"".join(data for data, _, _ in units)
