"""SEARCH (soju.im/search): the messages whose text matches, in the conversations one may read.

``SEARCH <attributes>``: attributes written as message tags are (``text=deploy\\sfailed;in=#ops``,
values escaped the same way): ``text`` (required: the words to find), ``in`` (a channel or a
nick; without it, every channel the client is in and all its direct conversations), ``from``
(the sender's nick at the time), ``after`` and ``before`` (server-time timestamps, inclusive) and
``limit``. The answer is a ``soju.im/search`` batch of the matching PRIVMSGs and NOTICEs as they
were relayed (msgid, time, account, tags), oldest first: the newest ``limit`` matches, or with
``after`` the first ones from that time on.

The privacy rules are CHATHISTORY's (docs/history.md): a channel only to those who may read its
history, and only the part of it since the channel was made; a direct conversation to its two
sides (identities, never nicks). The text index is read on the event loop, so a search has a
time budget (``search_timeout``) and, with flood control, a per-client rate (``search_burst``,
``search_rate``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.protocol import Message, is_channel_name, parse_tags
from hubbub.store import StoreError
from hubbub.store.search import MAX_TEXT, MAX_WORDS, SearchQuery, SearchTimeout

from .. import playback
from ..limits import TokenBucket
from .chathistory import BadReference, one_conversation, parse_timestamp

if TYPE_CHECKING:
    from ..session import Session
    from .context import Context

__all__ = ["ATTRIBUTES", "BATCH", "CAP", "handle_search"]

log = logging.getLogger(__name__)

CAP = "soju.im/search"
BATCH = "soju.im/search"
ATTRIBUTES = frozenset({"text", "in", "from", "after", "before", "limit"})


def _fail(session: Session, code: str, text: str, *context: str) -> None:
    session.fail("SEARCH", code, text, *context)


def handle_search(ctx: Context, session: Session, msg: Message) -> None:
    """SEARCH <attributes>: a soju.im/search batch of matching messages, or FAIL SEARCH."""
    settings = ctx.settings
    now = ctx.clock.monotonic()
    bucket = session.search_bucket
    if bucket is None:
        bucket = session.search_bucket = TokenBucket(settings.search_burst, settings.search_rate, now)
    # A rate limit like the others: off with flood control (tests, trusted bots) and for exempt clients.
    if settings.flood_control and not session.flood_exempt and not bucket.take(now):
        # soju.im/search names no code for a rate limit; as REGISTER does, the nearest standard one.
        wait = max(1, round(bucket.wait()))
        _fail(session, "TEMPORARILY_UNAVAILABLE", f"Too many searches; try again in {wait} s")
        return
    attrs = parse_tags(msg.params[0]) if msg.params else {}
    for key in attrs:
        if key not in ATTRIBUTES:
            _fail(session, "INVALID_PARAMS", f"Unknown search attribute {key!r}", key)
            return
    text = attrs.get("text", "")
    if not text.strip():
        _fail(session, "INVALID_PARAMS", "Give the text to search for (text=...)", "text")
        return
    if len(text) > MAX_TEXT or len(text.split()) > MAX_WORDS:
        _fail(
            session,
            "INVALID_PARAMS",
            f"Search text is limited to {MAX_TEXT} characters and {MAX_WORDS} words",
            "text",
        )
        return
    limit = settings.search_max
    if "limit" in attrs:
        raw = attrs["limit"]
        # isdigit() alone takes "²" and other digits int() refuses.
        if not (raw.isascii() and raw.isdigit()) or int(raw) <= 0:
            _fail(session, "INVALID_PARAMS", "The limit must be a positive number", "limit")
            return
        limit = min(int(raw), limit)
    bounds: dict[str, int] = {}
    for key in ("after", "before"):
        if key in attrs:
            try:
                bounds[key] = parse_timestamp(attrs[key])
            except BadReference:
                _fail(session, "INVALID_PARAMS", f"{key} takes a time like 2024-05-01T12:00:00.000Z", key)
                return
    source_nick = attrs.get("from") or None
    if source_nick is not None and (is_channel_name(source_nick) or not one_conversation(source_nick)):
        _fail(session, "INVALID_PARAMS", "from takes a nick", "from")
        return
    store = ctx.history.reading()
    if store is None:
        _fail(session, "INTERNAL_ERROR", "History is not available")
        return
    scopes: list[tuple[str, int]] = []
    place = attrs.get("in") or None
    if place is not None:
        if not one_conversation(place):
            _fail(session, "INVALID_PARAMS", "in takes one channel or nick", "in", place)
            return
        if is_channel_name(place):
            channel = ctx.world.find_channel(place)
            since = ctx.history.visible_since(session, channel.key_folded, channel) if channel else None
            if channel is None or since is None:
                # The same answer for a channel that does not exist and one that may not be
                # read: the reply tells a stranger nothing about it.
                _fail(session, "INVALID_PARAMS", f"You cannot search {place}", "in", place)
                return
            scopes.append((channel.key_folded, since))
        else:
            # A nick is whoever holds it now (or the account owning it when nobody does), as in
            # CHATHISTORY; naming nobody, there is nothing to find.
            direct = ctx.directs.dm_target(session, place)
            if direct is not None:
                scopes.append((direct, 0))
    else:
        for channel in session.channels.values():
            since = ctx.history.visible_since(session, channel.key_folded, channel)
            if since is not None:
                scopes.append((channel.key_folded, since))
        try:
            directs = store.direct_conversations(ctx.directs.dm_side(session))
        except StoreError as exc:
            log.warning("search: could not list direct conversations: %s", exc)
            _fail(session, "INTERNAL_ERROR", "The search could not be run")
            return
        scopes.extend((key, 0) for key in directs)
    query = SearchQuery(
        text,
        scopes,
        limit,
        after_ms=bounds.get("after"),
        before_ms=bounds.get("before"),
        source_nick=source_nick,
    )
    try:
        found = store.search(query, fold=ctx.world.fold, budget_s=settings.search_timeout)
    except SearchTimeout:
        _fail(session, "INTERNAL_ERROR", "The search took too long; narrow it with in, from, after or before")
        return
    except StoreError as exc:
        log.warning("search failed: %s", exc)
        _fail(session, "INTERNAL_ERROR", "The search could not be run")
        return
    batch = session.open_batch(BATCH)
    rows = [row[1:] for row in found]
    session.write_batch(batch, playback.page(rows, session.view, batch).encode())
    session.close_batch(batch)
