"""IRCv3 batches (chathistory, multiline, labeled-response) and CHATHISTORY requests."""

from __future__ import annotations

from datetime import UTC, datetime

from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import format_message

from ._chat import _Chat
from ._errors import ClientError
from ._events import HistoryBatch, HistoryGap, LabeledResponse, Message
from ._state import Batch, HistoryRequest


class _History(_Chat):
    """Collects batched lines, ends each batch by its kind, and asks for history to fill gaps."""

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
            # Stored lines (history, search results) and a multiline's parts are not live chat.
            swallows = kind in ("chathistory", "draft/multiline", "soju.im/search") or (
                parent is not None and self._swallowed(parent)
            )
            self._batches[ref[1:]] = Batch(
                ref[1:], kind, msg.params[2:], msg.tags, msg.source, parent, swallows=swallows
            )
        elif ref.startswith("-"):
            batch = self._batches.pop(ref[1:], None)
            if batch is not None:
                self._end_batch(batch)

    def _end_batch(self, batch: Batch) -> None:
        if batch.kind == "chathistory":
            self._end_history(batch)
        elif batch.kind == "draft/multiline":
            self._end_multiline(batch)
        elif batch.kind == "labeled-response":
            label = batch.tags.get("label")
            if label:
                self._emit(LabeledResponse(label, tuple(batch.messages)))

    def _end_history(self, batch: Batch) -> None:
        target = batch.params[0] if batch.params else ""
        key = self.casefold(target)
        request = next((r for r in self._history_requests if r.key == key), None)
        before = True
        if request is not None:
            self._history_requests.remove(request)
            before = request.before
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

    def _end_multiline(self, batch: Batch) -> None:
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

    # -- chathistory --------------------------------------------------------------------------
    def _history_limit(self, limit: int | None) -> int:
        wanted = limit or self.config.history_limit
        server = self.isupport.chathistory
        return min(wanted, server) if server else wanted

    def _history(
        self,
        subcommand: str,
        target: str,
        before: bool,
        point: str,
        limit: int,
        *,
        gap: bool = False,
        fallback: bool = False,
    ) -> bytes:
        if "draft/chathistory" not in self.caps_enabled or "batch" not in self.caps_enabled:
            raise ClientError("the server does not offer draft/chathistory")
        request = HistoryRequest(self.casefold(target), target, subcommand, point, before, gap, fallback)
        self._history_requests.append(request)
        return format_message(IRCMessage.build("CHATHISTORY", subcommand, target, point, str(limit)))

    def _history_failed(self, msg: IRCMessage) -> str | None:
        """A ``FAIL CHATHISTORY``: match it to its request; return the buffer it concerns, or
        ``None`` when it was the client's own gap fill, answered here (quietly) instead.

        Servers name the target in the context of some failures and the message reference in
        others (``FAIL CHATHISTORY INVALID_PARAMS AFTER msgid=... :Unknown message reference``),
        so the request is the oldest one that either names, else the oldest of that subcommand.
        """
        context = msg.params[2:-1]
        folded = {self.casefold(word) for word in context}
        pending = self._history_requests
        request = (
            next((r for r in pending if r.key in folded or r.point in context), None)
            or next((r for r in pending if context and r.subcommand == context[0].upper()), None)
            or (pending[0] if pending else None)
        )
        if request is None:
            return next((w for w in context if self.is_channel(w)), None)
        pending.remove(request)
        if request.fallback:
            return None  # HistoryGap said it already
        if not request.gap:
            return request.target
        # The message the gap fill started from is unknown here (a restart with another store):
        # the latest page instead, appended after what the buffer shows, and a word that some
        # messages may be missing.
        self._emit(HistoryGap(request.target, msg.params[-1] if msg.params else ""))
        self._out += self._history(
            "LATEST", request.target, False, "*", self._history_limit(None), fallback=True
        )
        return None

    def history_before(self, target: str, before: str | datetime, limit: int | None = None) -> bytes:
        """CHATHISTORY BEFORE ``target``: ``before`` is a msgid or a time."""
        if isinstance(before, datetime):
            stamp = before.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            point = f"timestamp={stamp}"
        else:
            point = f"msgid={before}"
        return self._history("BEFORE", target, True, point, self._history_limit(limit))

    def history_latest(self, target: str, limit: int | None = None) -> bytes:
        """CHATHISTORY LATEST ``target`` * (the newest messages)."""
        return self._history("LATEST", target, True, "*", self._history_limit(limit))

    def history_around(self, target: str, msgid: str, limit: int | None = None) -> bytes:
        """CHATHISTORY AROUND ``target``: the messages on both sides of ``msgid`` (and it)."""
        # Not "before": an AROUND page says nothing about whether older history is left.
        return self._history("AROUND", target, False, f"msgid={msgid}", self._history_limit(limit))

    def _fill_gap(self, key: str) -> None:
        msgid = self._log.last_msgid(key)
        if msgid is None:
            return
        channel = self.channels.get(key)
        target = channel.name if channel else (self.users[key].nick if key in self.users else key)
        self._out += self._history(
            "AFTER", target, False, f"msgid={msgid}", self._history_limit(None), gap=True
        )
