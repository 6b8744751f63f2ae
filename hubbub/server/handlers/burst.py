"""What a client is sent about a channel it is shown: topic, read marker and NAMES.

On JOIN (handlers/channels.py), and for each channel when another device of the user attaches
(devices.py). IRCv3 draft/read-marker: the marker comes after the JOIN, before the end of NAMES.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubbub.protocol import Message, numerics, pack
from hubbub.store import StoreError

from ..playback import time_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ..session import Session
    from ..world import Channel
    from .context import Context

log = logging.getLogger(__name__)

READ_MARKER = "draft/read-marker"
# Bytes kept free in a 353 line for the prefix, numerics and CRLF.
NAMES_LINE_BUDGET = 400


def send_topic(session: Session, channel: Channel[Session]) -> None:
    """RPL_TOPIC and RPL_TOPICWHOTIME."""
    session.reply(numerics.RPL_TOPIC, channel.name, channel.topic)
    session.reply(numerics.RPL_TOPICWHOTIME, channel.name, channel.topic_setter, str(int(channel.topic_time)))


def names_of(session: Session, channel: Channel[Session]) -> list[str]:
    """Member names as ``session`` sees them (prefixes, hostmasks, invisible users hidden)."""
    multi = "multi-prefix" in session.caps
    full = "userhost-in-names" in session.caps
    visible_all = session in channel.members
    out: list[str] = []
    for member in channel.members:
        if member.primary is not None:
            continue  # another device of a member already listed (devices.py)
        if not visible_all and member.invisible:
            continue
        name = member.hostmask if full else member.nick
        out.append(channel.prefix_of(member, multi) + name)
    return out


def send_names(session: Session, channel: Channel[Session], end: bool = True) -> None:
    """RPL_NAMREPLY lines (each inside the line limit) and, unless ``end`` is false, RPL_ENDOFNAMES."""
    for _ in names_replies(session, channel, end):
        pass


def names_replies(session: Session, channel: Channel[Session], end: bool = True) -> Iterator[None]:
    """:func:`send_names` a line at a time, for a reply paced by the asker (``Session.send_paced``)."""
    symbol = "@" if "s" in channel.modes else "="
    for chunk in pack(names_of(session, channel), NAMES_LINE_BUDGET - len(channel.name) - len(session.nick)):
        session.reply(numerics.RPL_NAMREPLY, symbol, channel.name, chunk)
        yield
    if end:
        session.reply(numerics.RPL_ENDOFNAMES, channel.name)


def stored_marker(ctx: Context, session: Session, key: str) -> int | None:
    """The marker of ``key`` (casefolded): the account's, or this connection's when not logged in."""
    store = ctx.accounts.store
    if store is None or session.account_id is None:
        return session.markers.get(key) if session.markers is not None else None
    return store.read_marker(session.account_id, key)


def keep_connection_marker(session: Session, key: str, time_ms: int, limit: int) -> int:
    """Move this connection's marker of ``key`` forward to ``time_ms``; the one kept is returned.

    At most ``limit`` targets are kept; a new one past that pushes out the oldest.
    """
    markers = session.markers
    if markers is None:
        markers = session.markers = {}
    kept = max(time_ms, markers.pop(key, time_ms))
    while len(markers) >= limit:
        del markers[next(iter(markers))]
    markers[key] = kept
    return kept


def markread(ctx: Context, session: Session, name: str, time_ms: int | None) -> Message:
    value = f"timestamp={time_text(time_ms)}" if time_ms is not None else "*"
    return Message.build("MARKREAD", name, value, source=ctx.name)


def send_marker(ctx: Context, session: Session, name: str) -> None:
    """Send ``session`` its marker for ``name`` (a channel or a nick), if it has the cap.

    draft/read-marker: "after the server sends a server JOIN command to the client for a
    corresponding channel, the server MUST send a MARKREAD command for that channel", logged in
    or not.
    """
    if READ_MARKER not in session.caps:
        return
    try:
        time_ms = stored_marker(ctx, session, ctx.world.fold(name))
    except StoreError:
        log.exception("cannot read the read marker of %s", name)
        return
    session.send(markread(ctx, session, name, time_ms))
