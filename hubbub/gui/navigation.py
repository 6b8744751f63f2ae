"""Getting around, without Tk: the quick switcher's matches, the next unread buffer, ban masks.

The window (:mod:`._nav`) asks these questions of the buffers :class:`.buffers.ChatState` keeps;
keeping the answers here lets the model tests check them without a display.
"""

from __future__ import annotations

from collections.abc import Sequence

from .buffers import Buffer, fold
from .events import ChannelEntry, Member

SERVER_LABEL = "server"  # what the server buffer is called in the switcher


def label(buf: Buffer) -> str:
    """The name a person types to find ``buf``."""
    return buf.name or SERVER_LABEL


def _tier(name: str, query: str) -> int | None:
    """How well ``query`` matches ``name`` (lower is better), or None when it does not.

    0: the whole name; 1: the start (``#` optional); 2: inside; 3: its letters in order (fuzzy).
    """
    if not query:
        return 2
    bare = name.lstrip("#&")
    if query in (name, bare):
        return 0
    if name.startswith(query) or bare.startswith(query):
        return 1
    if query in name:
        return 2
    pos = 0
    for ch in query:
        pos = name.find(ch, pos) + 1
        if not pos:
            return None
    return 3


def switcher_matches(buffers: Sequence[Buffer], query: str, current: str, limit: int = 50) -> list[Buffer]:
    """Buffers matching ``query`` (substring or letters in order), best first.

    An exact name first; then buffers with mentions, then unread ones, then by how well the name
    matches and in list order. With no query the buffer shown is left out: it is where you are.
    """
    q = fold(query.strip())
    here = fold(current)
    scored = []
    for i, buf in enumerate(buffers):
        if not q and buf.key == here:
            continue
        tier = _tier(fold(label(buf)), q)
        if tier is None:
            continue
        scored.append(((tier != 0, not buf.mentions, not buf.unread, tier, i), buf))
    scored.sort(key=lambda pair: pair[0])
    return [buf for _, buf in scored[:limit]]


def nick_matches(buffers: Sequence[Buffer], query: str, limit: int = 10) -> list[str]:
    """Members of our channels whose nick contains ``query`` and who have no conversation yet.

    The switcher offers them after the buffers: choosing one opens a conversation.
    """
    q = fold(query.strip())
    if not q:
        return []
    have = {b.key for b in buffers}
    found: dict[str, tuple[tuple[int, str], str]] = {}
    for buf in buffers:
        for key, member in buf.members.items():
            if key in have or key in found:
                continue
            tier = _tier(key, q)
            if tier is not None and tier < 3:  # letters in order find too many nicks
                found[key] = ((tier, key), member.nick)
    return [nick for _, nick in sorted(found.values())[:limit]]


def next_unread(buffers: Sequence[Buffer], current: str) -> Buffer | None:
    """The next buffer to read after ``current``: one with mentions first, then one with unread.

    Both searches go round the list from the buffer after ``current``.
    """
    keys = [b.key for b in buffers]
    start = keys.index(fold(current)) + 1 if fold(current) in keys else 0
    ring = [*buffers[start:], *buffers[:start]]
    ring = [b for b in ring if b.key != fold(current)]
    return next((b for b in ring if b.mentions), None) or next((b for b in ring if b.unread), None)


def ban_mask(member: Member) -> str:
    """A ban mask for ``member``: ``*!*@host`` when its host is known, else ``nick!*@*``."""
    if member.host:
        return f"*!*@{member.host}"
    return f"{member.nick}!*@*"


def filter_channels(entries: Sequence[ChannelEntry], text: str, min_users: int = 0) -> list[ChannelEntry]:
    """Channels whose name or topic contains ``text`` (any case) and with at least ``min_users``."""
    needle = text.strip().casefold()
    return [
        e
        for e in entries
        if e.users >= min_users
        and (not needle or needle in e.name.casefold() or needle in e.topic.casefold())
    ]


def sort_channels(entries: list[ChannelEntry], by: str, descending: bool) -> list[ChannelEntry]:
    """``entries`` ordered by ``members`` or ``name`` (ties by name)."""
    if by == "members":
        ordered = sorted(entries, key=lambda e: fold(e.name))
        return sorted(ordered, key=lambda e: e.users, reverse=descending)
    return sorted(entries, key=lambda e: fold(e.name), reverse=descending)
