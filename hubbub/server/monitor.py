"""MONITOR bookkeeping: who watches which nick, and the notices sent when nicks come and go.

IRCv3 monitor: a client lists nicks and is told (730/731) when each comes online or goes
offline. IRCv3 extended-monitor: watchers with the cap also get the away, account, host and
realname changes of the nicks they watch, as if they shared a channel. The World keeps the
index from casefolded nick to watching sessions; each session keeps the nicks it watches.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hubbub.protocol import numerics, pack

if TYPE_CHECKING:
    from .session import Session
    from .world import World

# Bytes of targets per 730-733 line, so every line stays well inside 512 bytes.
LINE_BUDGET = 400


def chunks(items: Iterable[str], budget: int = LINE_BUDGET) -> list[str]:
    """Comma-joined groups of ``items``, each within ``budget`` bytes."""
    return pack(items, budget, ",")


def _tell(watchers: Iterable[Session], numeric: str, target: str) -> None:
    for watcher in watchers:
        if not watcher.gone:
            watcher.reply(numeric, target)


def came_online(world: World[Session], session: Session) -> None:
    """``session``'s nick is now in use: 730 to everyone watching it."""
    watchers = world.monitors.get(session.folded)
    if watchers:
        _tell(list(watchers), numerics.RPL_MONONLINE, session.hostmask)


def went_offline(world: World[Session], session: Session, nick: str) -> None:
    """``nick`` (held by ``session`` until now) is free: 731 to everyone watching it."""
    watchers = world.monitors.get(world.fold(nick))
    if watchers:
        _tell([w for w in watchers if w is not session], numerics.RPL_MONOFFLINE, nick)


def forget(world: World[Session], session: Session) -> None:
    """Drop every nick ``session`` watches (it is leaving)."""
    monitors = world.monitors
    if session.monitoring is None:
        return
    for folded in session.monitoring:
        watchers = monitors.get(folded)
        if watchers is not None:
            watchers.discard(session)
            if not watchers:
                del monitors[folded]
    session.monitoring = None


def extended_watchers(
    world: World[Session], session: Session, cap: str, exclude: Iterable[Session] = ()
) -> list[Session]:
    """Watchers of ``session``'s nick with extended-monitor and ``cap``, minus ``exclude``.

    Used to add them to the recipients of an AWAY, ACCOUNT, CHGHOST or SETNAME change.
    """
    watchers = world.monitors.get(session.folded)
    if not watchers:
        return []
    skip = set(exclude)
    skip.add(session)
    return [
        w for w in watchers if w not in skip and not w.gone and cap in w.caps and "extended-monitor" in w.caps
    ]


def with_watchers(
    world: World[Session], session: Session, cap: str, recipients: list[Session]
) -> list[Session]:
    """``recipients`` plus the extended-monitor watchers of ``session`` who have ``cap``."""
    return recipients + extended_watchers(world, session, cap, recipients)
