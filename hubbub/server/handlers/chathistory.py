"""CHATHISTORY (IRCv3 draft/chathistory): LATEST, BEFORE, AFTER, AROUND, BETWEEN, TARGETS."""

from __future__ import annotations

import calendar
import re
import time
from typing import TYPE_CHECKING

from hubbub.protocol import Message, is_channel_name, valid_channel_name, valid_nick
from hubbub.store import MessageRef, SQLiteStore, StoreError, dm_sides
from hubbub.store.sqlite import Row

if TYPE_CHECKING:
    from ..session import Session
    from ..world import Channel
    from .context import Context

_TIMESTAMP = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z$")
SUBCOMMANDS = ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN", "TARGETS")


class BadReference(Exception):
    """A message reference that is neither ``msgid=`` nor a valid ``timestamp=``."""


def parse_timestamp(text: str) -> int:
    """``YYYY-MM-DDThh:mm:ss.sssZ`` to milliseconds since the epoch."""
    m = _TIMESTAMP.match(text)
    if not m:
        raise BadReference(text)
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or "0").ljust(3, "0")[:3]
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (OverflowError, ValueError):
        raise BadReference(text) from None
    return seconds * 1000 + int(frac)


def parse_ref(text: str) -> MessageRef:
    """``msgid=ID`` or ``timestamp=TS`` to a :class:`MessageRef`."""
    kind, sep, value = text.partition("=")
    if not sep or not value:
        raise BadReference(text)
    if kind == "msgid":
        return MessageRef(msgid=value)
    if kind == "timestamp":
        return MessageRef(time_ms=parse_timestamp(value))
    raise BadReference(text)


def one_conversation(name: str) -> bool:
    """Whether ``name`` can name one conversation: a channel name or a nick, not a list or a mask.

    Only the characters are checked, not the length limits, which a REHASH may have lowered
    since the name was given.
    """
    if is_channel_name(name):
        return valid_channel_name(name, len(name))
    return valid_nick(name, len(name))


def _fail(session: Session, code: str, *context: str, text: str) -> None:
    session.fail("CHATHISTORY", code, text, *context)


def handle_chathistory(ctx: Context, session: Session, msg: Message) -> None:
    """CHATHISTORY <subcommand> <target> <reference(s)> <limit>."""
    sub = msg.params[0].upper()
    if sub not in SUBCOMMANDS:
        _fail(session, "UNKNOWN_COMMAND", msg.params[0], text="Unknown command")
        return
    needed = 4 if sub in ("TARGETS", "LATEST", "BEFORE", "AFTER", "AROUND") else 5
    if len(msg.params) < needed:
        _fail(session, "NEED_MORE_PARAMS", sub, text="Missing parameters")
        return
    store = ctx.history.reading()
    if store is None:
        _fail(session, "MESSAGE_ERROR", sub, msg.params[1], text="History is not available")
        return
    try:
        limit = int(msg.params[-1])
    except ValueError:
        limit = -1
    if limit <= 0:
        _fail(session, "INVALID_PARAMS", sub, msg.params[-1], text="Invalid limit")
        return
    limit = min(limit, ctx.settings.chathistory_max)
    if sub == "TARGETS":
        _targets(ctx, session, msg.params[1], msg.params[2], limit)
        return
    target_name = msg.params[1]
    if not one_conversation(target_name):
        _fail(session, "INVALID_TARGET", sub, target_name, text="Messages could not be retrieved")
        return
    channel: Channel[Session] | None = None
    key: str | None
    if is_channel_name(target_name):
        channel = ctx.world.find_channel(target_name)
        key = channel.key_folded if channel is not None else ""
    else:
        # A nick means whoever holds it now, or the account owning it when nobody does; None
        # when it names nobody: there is no conversation with such a peer to read.
        key = ctx.directs.dm_target(session, target_name)
    since = ctx.history.visible_since(session, key or "", channel) if key != "" else None
    if since is None:
        _fail(session, "INVALID_TARGET", sub, target_name, text="Messages could not be retrieved")
        return
    try:
        refs = [None if p == "*" and sub == "LATEST" else parse_ref(p) for p in msg.params[2 : needed - 1]]
    except BadReference as exc:
        _fail(session, "INVALID_PARAMS", sub, str(exc), text="Invalid message reference")
        return
    if key is None:
        # As an empty conversation answers: no messages, and no msgid can be found in it.
        if any(ref is not None and ref.msgid is not None for ref in refs):
            _fail(session, "INVALID_PARAMS", sub, msg.params[2], text="Unknown message reference")
            return
        ctx.history.send_page(session, [], target_name)
        return
    # A visible window that starts late (a re-created channel, a nick taken recently) moves any
    # timestamp reference that points before it up to its start.
    floor = MessageRef(time_ms=since - 1) if since > 0 else None
    try:
        rows = _query(store, sub, key, refs, limit, floor)
    except StoreError:
        _fail(session, "INVALID_PARAMS", sub, msg.params[2], text="Unknown message reference")
        return
    display = channel.name if channel is not None else target_name
    ctx.history.send_page(session, rows, display, since)


def _clamp(ref: MessageRef | None, floor: MessageRef | None) -> MessageRef | None:
    if floor is None:
        return ref
    if ref is None:
        return floor
    if ref.time_ms is not None and floor.time_ms is not None and ref.time_ms < floor.time_ms:
        return floor
    return ref


def _query(
    store: SQLiteStore,
    sub: str,
    key: str,
    refs: list[MessageRef | None],
    limit: int,
    floor: MessageRef | None,
) -> list[Row]:
    # The rows as kept: the page is written from them without decoding (playback.py).
    if sub == "LATEST":
        return store.latest_rows(key, limit, _clamp(refs[0], floor))
    ref = refs[0]
    assert ref is not None
    if sub == "BEFORE":
        return store.before_rows(key, ref, limit)
    if sub == "AFTER":
        clamped = _clamp(ref, floor)
        assert clamped is not None
        return store.after_rows(key, clamped, limit)
    if sub == "AROUND":
        return store.around_rows(key, ref, limit)
    end = refs[1]
    assert end is not None
    return store.between_rows(key, ref, end, limit)


def _targets(ctx: Context, session: Session, start_text: str, end_text: str, limit: int) -> None:
    store = ctx.history.reading()
    assert store is not None
    try:
        start = parse_ref(start_text)
        end = parse_ref(end_text)
    except BadReference as exc:
        _fail(session, "INVALID_PARAMS", "TARGETS", str(exc), text="Invalid timestamp")
        return
    if start.time_ms is None or end.time_ms is None:
        _fail(session, "INVALID_PARAMS", "TARGETS", start_text, text="TARGETS takes timestamps")
        return
    lo, hi = sorted((start.time_ms, end.time_ms))
    world = ctx.world
    directs = ctx.directs
    me = directs.dm_side(session)
    rows = store.targets(lo, hi, limit, channels=list(session.channels), participant=me)
    peers = directs.peer_names(me, [key for key, _last_ms in rows if dm_sides(key) is not None])
    batch = session.open_batch("draft/chathistory-targets")
    for key, last_ms in rows:
        if dm_sides(key) is not None:
            peer = peers.get(key)
            if peer is None:
                continue
            name = peer
        else:
            channel = world.channels.get(key)
            if channel is None or last_ms < channel.created_ms:
                continue
            name = channel.name
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(last_ms // 1000)) + f".{last_ms % 1000:03d}Z"
        # The spec's example: "CHATHISTORY TARGETS #channel 2020-...Z", a bare server-time
        # timestamp (the timestamp= prefix is for selectors the client sends), as Ergo sends it.
        session.send(Message.build("CHATHISTORY", "TARGETS", name, stamp, source=ctx.name))
    session.close_batch(batch)
