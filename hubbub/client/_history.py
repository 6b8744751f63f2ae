"""IRCv3 batches (chathistory, multiline, labeled-response) and CHATHISTORY requests."""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime

from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import format_message

from ._errors import ClientError
from ._events import HistoryBatch, LabeledResponse, Message, Reaction
from ._reactions import _Reactions
from ._state import Batch


class _History(_Reactions):
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
            swallows = kind in ("chathistory", "draft/multiline") or (
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
        if self._history_points:
            self._history_points = {p: t for p, t in self._history_points.items() if self.casefold(t) != key}
        requests = self._history_requests.get(key)
        before = requests.popleft() if requests else True
        messages: list[Message] = []
        reactions: list[Reaction] = []
        for item in batch.messages:
            # Only direct children: nested batches (multiline) are added once, already combined.
            if item.tags.get("batch") != batch.ref:
                continue
            if item.command in ("PRIVMSG", "NOTICE"):
                event = self._chat_event(item, from_history=True)
                if event is not None:
                    messages.append(event)
            elif item.command == "TAGMSG":
                reaction = self._reaction_event(item, from_history=True)
                if reaction is not None:
                    reactions.append(reaction)
        messages.sort(key=lambda m: m.time)
        self._emit(HistoryBatch(target, tuple(messages), before, tuple(reactions)))

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

    def history_around(self, target: str, msgid: str, limit: int | None = None) -> bytes:
        """CHATHISTORY AROUND ``target`` msgid=``msgid``: the messages on either side of one."""
        data = self._history("AROUND", target, True, f"msgid={msgid}", str(self._history_limit(limit)))
        self._history_points[f"msgid={msgid}"] = target
        return data

    def _fill_gap(self, key: str) -> None:
        msgid = self._log.last_msgid(key)
        if msgid is None:
            return
        channel = self.channels.get(key)
        target = channel.name if channel else (self.users[key].nick if key in self.users else key)
        self._out += self._history("AFTER", target, False, f"msgid={msgid}", str(self._history_limit(None)))
