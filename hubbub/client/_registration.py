"""Registration: capability negotiation, SASL PLAIN, welcome, end of MOTD, nick in use, ISUPPORT."""

from __future__ import annotations

import base64

from hubbub.protocol import Message as IRCMessage

from ._events import CapabilitiesChanged, Error, NickInUse, Registered
from ._history import _History
from ._session import SERVER_BUFFER

# Numerics answering a nick change that failed.
NICK_ERRORS = frozenset({"431", "432", "433", "436"})
SASL_FAILURES = frozenset({"902", "904", "905", "906", "907"})


class _Registration(_History):
    """Negotiates capabilities and SASL, then joins the wanted channels once registered."""

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
                elif name not in self.caps_enabled:
                    self.caps_enabled.add(name)
                    if name == "draft/metadata-2" and self.registered:
                        self._subscribe_metadata()  # at registration otherwise: see _on_welcome
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

    def _on_sasl_numeric(self, msg: IRCMessage) -> None:
        if msg.command == "900":
            self.account = msg.param(2) or None
        elif msg.command == "903":
            self._sasl_done()
        elif msg.command in SASL_FAILURES:
            self._server_reply(msg)
            if msg.command != "907":
                self._emit(Error(f"SASL login failed: {msg.params[-1] if msg.params else ''}"))
            self._sasl_done()

    def _on_welcome(self, msg: IRCMessage) -> None:
        self.registered = True
        self._cap_negotiating = False
        self.nick = msg.param(0) or self.nick
        self._wanted_nick = self.nick
        last_word = msg.params[-1].rsplit(" ", 1)[-1] if msg.params else ""
        if "!" in last_word and "@" in last_word:
            self._self_user, _, self._self_host = last_word.split("!", 1)[1].partition("@")
        self._user(self.nick)
        if "draft/metadata-2" in self.caps_enabled:
            # METADATA is a registered client's command here (no before-connect), and the
            # subscription must precede the JOINs so that each brings its members' values.
            self._subscribe_metadata()
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
                if key != SERVER_BUFFER and not self.is_channel(key):
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
        reason = msg.params[-1] if len(msg.params) > 2 else ""
        self._emit(NickInUse(taken, fallback, msg.command, reason))

    def _on_isupport(self, msg: IRCMessage) -> None:
        self.isupport = self.isupport.updated(msg.params[1:-1])
