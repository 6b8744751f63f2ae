"""The sans-IO client state machine: bytes in, typed events out; methods return bytes to send.

:class:`ClientProtocol` gathers one mixin per topic (registration, membership, presence, chat,
batches and history, all built on the shared session state) and dispatches each received
command to its handler through one table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import ProtocolError, format_message, parse

from ._errors import ClientError
from ._events import Error, Event, LabeledResponse, ServerReply
from ._membership import _Membership
from ._registration import NICK_ERRORS, SASL_FAILURES, _Registration
from ._search import _Search

log = logging.getLogger(__name__)

# Numerics handled by the state machine and not shown as ServerReply.
_QUIET_NUMERICS = frozenset(
    {"005", "324", "329", "331", "332", "333", "353", "366", "770", "771", "900", "903", "908"}
)


class ClientProtocol(_Registration, _Membership, _Search):
    """One IRC client connection's protocol state, without any I/O (h11 style).

    Feed received bytes to :meth:`receive_data`, which returns the events they caused; call
    :meth:`data_to_send` after it for automatic answers (PONG, CAP, SASL, JOIN after
    registration). Commands such as :meth:`join` and :meth:`send_message` return the bytes to
    write. State that outlives one connection (the channels we want to be in, the last msgid
    seen per buffer, the msgids already shown) survives :meth:`connection_made` so that a
    reconnect can rejoin and fill the gap.
    """

    # -- connection ---------------------------------------------------------------------------
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
        self._reply_label = self._label_of(msg)
        try:
            handler = _HANDLERS.get(msg.command)
            if handler is not None:
                handler(self, msg)
            elif msg.command.isdigit():
                self._on_numeric(msg)
        finally:
            self._reply_label = None
        label = msg.tags.get("label")
        if label and batch is None and msg.command != "BATCH":
            self._emit(LabeledResponse(label, (msg,)))

    def _label_of(self, msg: IRCMessage) -> str | None:
        """The request ``msg`` answers: its label, its labeled-response batch's, or the oldest fence's."""
        label = msg.tags.get("label")
        if label:
            return label
        ref, seen = msg.tags.get("batch"), set()
        while ref is not None and ref in self._batches and ref not in seen:
            seen.add(ref)
            batch = self._batches[ref]
            if batch.kind == "labeled-response":
                return batch.tags.get("label")
            ref = batch.parent
        # Without labeled-response, servers answer commands in order: a reply before the fence's
        # PONG belongs to the oldest request still waiting.
        return (
            next(iter(self._fences), None)
            if msg.command.isdigit() or msg.command in ("FAIL", "WARN", "NOTE")
            else None
        )

    def take_events(self) -> list[Event]:
        """Events queued so far, including those of calls other than :meth:`receive_data`."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        """Bytes the machine wants sent on its own account (PONG, CAP, SASL, rejoins)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # -- PING, PONG, ERROR and the replies no topic owns --------------------------------------
    def _on_ping(self, msg: IRCMessage) -> None:
        self._send("PONG", *msg.params)

    def _on_pong(self, msg: IRCMessage) -> None:
        token = msg.params[-1] if msg.params else ""
        lines = self._fences.pop(token, None)
        if lines is not None:
            self._emit(LabeledResponse(token, tuple(lines)))

    def _on_error(self, msg: IRCMessage) -> None:
        self._emit(Error(msg.param(0) or "server closed the connection"))

    def _on_standard_reply(self, msg: IRCMessage) -> None:
        # IRCv3 standard-replies: <type> <command> <code> [<context>...] <description>
        text = (
            f"{msg.param(0)} {msg.param(1)}: {msg.params[-1]}"
            if len(msg.params) >= 3
            else " ".join(msg.params)
        )
        target: str | None
        if msg.command == "FAIL" and msg.param(0).upper() == "CHATHISTORY" and len(msg.params) >= 3:
            if not self._history_requests:
                target = next((w for w in msg.params[2:-1] if self.is_channel(w)), None)
            else:
                target = self._history_failed(msg)
                if target is None:
                    return
        else:
            # The buffer it concerns: the first channel named in the context, if any.
            target = next((w for w in msg.params[2:-1] if self.is_channel(w)), None)
        self._emit(ServerReply(msg.command, text, msg.params, target, self._reply_label))

    def _on_numeric(self, msg: IRCMessage) -> None:
        if msg.command not in _QUIET_NUMERICS:
            self._server_reply(msg)

    # -- commands -----------------------------------------------------------------------------
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
    "RENAME": ClientProtocol._on_rename,
    "REDACT": ClientProtocol._on_redact,
    "TAGMSG": ClientProtocol._on_tagmsg,
    "METADATA": ClientProtocol._on_metadata,
    "761": ClientProtocol._on_metadata,
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
    **dict.fromkeys(NICK_ERRORS, ClientProtocol._on_nick_error),
    **dict.fromkeys(("900", "903", *SASL_FAILURES), ClientProtocol._on_sasl_numeric),
}
