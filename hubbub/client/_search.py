"""Message search (soju.im/search): the SEARCH command and its ``soju.im/search`` batch."""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, datetime

from hubbub.protocol import Message as IRCMessage
from hubbub.protocol import escape_tag_value

from ._errors import ClientError
from ._events import LabeledResponse, Message, MessageKind
from ._history import _History
from ._session import SERVER_BUFFER, nick_of
from ._state import Batch
from ._text import is_action, is_ctcp, parse_action

SEARCH_CAP = "soju.im/search"
SEARCH_BATCH = "soju.im/search"
# Results of search batches kept until the request that asked for them collects them: a few,
# so results of a SEARCH sent raw (nobody collects them) cannot pile up.
_KEPT_RESULTS = 8


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Search(_History):
    """Builds SEARCH requests and turns each search batch into messages."""

    _searches: OrderedDict[str, tuple[Message, ...]] | None = None  # made at the first result

    @property
    def can_search(self) -> bool:
        """Whether the server offers search on this connection (soju.im/search, with batch)."""
        return SEARCH_CAP in self.caps_enabled and "batch" in self.caps_enabled

    def search_attributes(
        self,
        text: str,
        *,
        target: str | None = None,
        sender: str | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int | None = None,
    ) -> str:
        """The ``SEARCH`` parameter for these selectors (values escaped as tag values are).

        Raises :class:`ClientError` when the server does not offer search or ``text`` is blank.
        """
        if not self.can_search:
            raise ClientError("the server does not offer search")
        if not text.strip():
            raise ClientError("nothing to search for")
        attrs: list[tuple[str, str]] = [("text", text)]
        if target:
            attrs.append(("in", target))
        if sender:
            attrs.append(("from", sender))
        if after is not None:
            attrs.append(("after", _stamp(after)))
        if before is not None:
            attrs.append(("before", _stamp(before)))
        if limit is not None:
            attrs.append(("limit", str(max(1, limit))))
        return ";".join(f"{key}={escape_tag_value(value)}" for key, value in attrs)

    def _search_results(self) -> OrderedDict[str, tuple[Message, ...]]:
        results = self._searches
        if results is None:
            results = self._searches = OrderedDict()
        return results

    def take_search_results(self, lines: list[IRCMessage]) -> list[Message]:
        """The results of the search whose reply is ``lines`` (a request's reply lines), oldest first.

        Raises :class:`ClientError` with the server's description when it answered FAIL SEARCH.
        """
        for line in lines:
            if line.command == "FAIL" and line.param(0) == "SEARCH":
                raise ClientError(line.params[-1] if len(line.params) > 1 else "the search failed")
        for line in lines:
            if line.command == "BATCH" and line.param(1) == SEARCH_BATCH and line.param(0).startswith("+"):
                return list(self._search_results().pop(line.param(0)[1:], ()))
        return []

    def _end_batch(self, batch: Batch) -> None:
        if batch.kind != SEARCH_BATCH:
            super()._end_batch(batch)
            return
        found: list[Message] = []
        for item in batch.messages:
            # Only direct children: a multiline message is added once, already combined.
            if item.tags.get("batch") == batch.ref and item.command in ("PRIVMSG", "NOTICE"):
                message = self._search_result(item)
                if message is not None:
                    found.append(message)
        results = self._search_results()
        results[batch.ref] = tuple(found)
        while len(results) > _KEPT_RESULTS:
            results.popitem(last=False)
        label = batch.tags.get("label")
        if label:
            # labeled-response: a reply that is one batch carries the label on the batch itself.
            start = IRCMessage("BATCH", ("+" + batch.ref, SEARCH_BATCH), batch.source, dict(batch.tags))
            self._emit(LabeledResponse(label, (start, *batch.messages)))

    def _search_result(self, msg: IRCMessage) -> Message | None:
        """A found line as a :class:`Message`: like a history line, but never dropped as seen before."""
        sender = nick_of(msg.source) or SERVER_BUFFER
        text = msg.param(1)
        kind: MessageKind = "notice" if msg.command == "NOTICE" else "privmsg"
        if is_action(text):
            kind, text = "action", parse_action(text)
        elif is_ctcp(text):
            return None
        is_self = self.is_me(sender)
        return Message(
            target=self._buffer_of(msg, sender),
            sender=sender,
            text=text,
            time=self._time_of(msg),
            msgid=msg.tags.get("msgid"),
            kind=kind,
            is_self=is_self,
            is_mention=not is_self and self._mentions_me(text),
            tags={k: v for k, v in msg.tags.items() if k != "batch"},
            from_history=True,
        )
