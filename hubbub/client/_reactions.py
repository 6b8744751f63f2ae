"""Replies, reactions and read markers: the IRCv3 client tags and MARKREAD a modern chat window uses.

- reply client tag: ``+draft/reply=<msgid>`` on a PRIVMSG answers that message (``Message.reply_to``).
- react client tag: a TAGMSG with ``+draft/react=<text>`` and ``+draft/reply=<msgid>`` reacts to a
  message; ``+draft/unreact=<text>`` takes the reaction back (:class:`Reaction`).
- draft/read-marker: ``MARKREAD <target> [timestamp=<time>]`` sets or reports how far the account
  has read a buffer (:class:`ReadMarker`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import format_message

from ._chat import _Chat
from ._events import Reaction, ReadMarker, reply_of
from ._session import nick_of

REACT_TAGS = ("+draft/react", "+react")
UNREACT_TAGS = ("+draft/unreact", "+unreact")
READ_MARKER_CAP = "draft/read-marker"


def server_time(moment: datetime) -> str:
    """``moment`` as IRCv3 server-time writes it: UTC, milliseconds, a ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Reactions(_Chat):
    """Reactions in (live and from history) and out, and read markers both ways."""

    def _reaction_event(self, msg: IRCMessage, *, from_history: bool) -> Reaction | None:
        """The :class:`Reaction` a TAGMSG carries, or ``None`` (typing, or not aimed at a message)."""
        tags = msg.tags
        removed = False
        value = next((tags[t] for t in REACT_TAGS if tags.get(t)), None)
        if value is None:
            value = next((tags[t] for t in UNREACT_TAGS if tags.get(t)), None)
            removed = True
        target_msgid = reply_of(tags)
        sender = nick_of(msg.source)
        if value is None or not target_msgid or not sender:
            return None
        buffer = self._buffer_of(msg, sender)
        time = self._time_of(msg)
        msgid = tags.get("msgid")
        if msgid and not self._log.first_sight(self.casefold(buffer), msgid, time):
            return None
        return Reaction(
            target=buffer,
            sender=sender,
            msgid=target_msgid,
            reaction=value,
            removed=removed,
            is_self=self.is_me(sender),
            time=time,
            event_msgid=msgid,
            from_history=from_history,
        )

    def _on_tagmsg(self, msg: IRCMessage) -> None:
        super()._on_tagmsg(msg)  # typing
        event = self._reaction_event(msg, from_history=False)
        if event is not None:
            self._note_source(msg.source)
            self._emit(event)

    def react(self, target: str, msgid: str, reaction: str, *, remove: bool = False) -> bytes:
        """A TAGMSG reacting to ``msgid`` of ``target`` with ``reaction`` (or taking it back).

        Nothing (``b""``) without message-tags: the server would drop client-only tags anyway.
        Without echo-message our own :class:`Reaction` is queued at once (see ``take_events``).
        """
        if "message-tags" not in self.caps_enabled or not reaction or not msgid:
            return b""
        tag = "+draft/unreact" if remove else "+draft/react"
        if "echo-message" not in self.caps_enabled:
            self._emit(Reaction(target, self.nick, msgid, reaction, remove, True, self._clock()))
        return format_message(IRCMessage.build("TAGMSG", target, tags={tag: reaction, "+draft/reply": msgid}))

    # -- read markers ---------------------------------------------------------------------------
    def _on_markread(self, msg: IRCMessage) -> None:
        # draft/read-marker: "MARKREAD <target> {timestamp=YYYY-MM-DDThh:mm:ss.sssZ | *}"
        target = msg.param(0)
        value = msg.param(1)
        if not target or msg.command != "MARKREAD":
            return
        time: datetime | None = None
        if value.startswith("timestamp="):
            try:
                time = datetime.fromisoformat(value[len("timestamp=") :])
            except ValueError:
                return
            if time.tzinfo is None:
                time = time.replace(tzinfo=UTC)
        elif value != "*":
            return
        self._emit(ReadMarker(target, time))

    def mark_read(self, target: str, time: datetime | None = None) -> bytes:
        """MARKREAD: everything in ``target`` up to ``time`` is read; without ``time``, ask.

        Nothing (``b""``) unless the server enabled draft/read-marker. The server keeps the
        marker per account, moves it only forward and tells every connection of the account.
        """
        if READ_MARKER_CAP not in self.caps_enabled:
            return b""
        params = (target, f"timestamp={server_time(time)}") if time is not None else (target,)
        return format_message(IRCMessage.build("MARKREAD", *params))
